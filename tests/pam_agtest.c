/* pam_agtest.so - a controllable backend for the end-to-end tests.
 *
 * Stands where pam_unix or pam_sss would, so that a test can count the calls
 * that reached the backend and make it answer what a real backend may answer.
 * Arguments:
 *   passdb=FILE  "user:password" lines; a user not listed is PAM_USER_UNKNOWN
 *   ctl=FILE     if it exists, its first word forces the answer: "unavail"
 *                (PAM_AUTHINFO_UNAVAIL), "system_err", "service_err", "buf_err",
 *                "abort", "ignore" (PAM_IGNORE), "ok"; "delay=MS" anywhere in
 *                it sleeps first (a slow backend)
 *   log=FILE     one line "NAME USER" appended per call
 *   name=NAME    names this instance in the log (default "backend")
 *   code=CODE    second-factor mode: prompt for a code and compare to CODE
 * The password is taken from PAM_AUTHTOK (the stack's use_first_pass).
 */
#include "config.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <security/pam_modules.h>
#include <security/pam_ext.h>

struct agtest_args {
	const char *passdb, *ctl, *log, *name, *code;
};

static void parse_args(int argc, const char **argv, struct agtest_args *a)
{
	memset(a, 0, sizeof(*a));
	a->name = "backend";
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "passdb=", 7) == 0)
			a->passdb = argv[i] + 7;
		else if (strncmp(argv[i], "ctl=", 4) == 0)
			a->ctl = argv[i] + 4;
		else if (strncmp(argv[i], "log=", 4) == 0)
			a->log = argv[i] + 4;
		else if (strncmp(argv[i], "name=", 5) == 0)
			a->name = argv[i] + 5;
		else if (strncmp(argv[i], "code=", 5) == 0)
			a->code = argv[i] + 5;
	}
}

static void log_call(const struct agtest_args *a, const char *user)
{
	FILE *f;

	if (a->log == NULL)
		return;
	f = fopen(a->log, "a");
	if (f == NULL)
		return;
	fprintf(f, "%s %s\n", a->name, user);
	fclose(f);
}

/* Returns the forced PAM code from the ctl file, or -1 for none. */
static int forced_result(const struct agtest_args *a)
{
	char buf[128] = "";
	const char *d;
	FILE *f;
	size_t n;
	int rc = -1;

	if (a->ctl == NULL || (f = fopen(a->ctl, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	d = strstr(buf, "delay=");
	if (d != NULL) {
		long ms = strtol(d + 6, NULL, 10);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	if (strncmp(buf, "unavail", 7) == 0)
		rc = PAM_AUTHINFO_UNAVAIL;
	else if (strncmp(buf, "system_err", 10) == 0)
		rc = PAM_SYSTEM_ERR;
	else if (strncmp(buf, "service_err", 11) == 0)
		rc = PAM_SERVICE_ERR;
	else if (strncmp(buf, "buf_err", 7) == 0)
		rc = PAM_BUF_ERR;
	else if (strncmp(buf, "abort", 5) == 0)
		rc = PAM_ABORT;
	else if (strncmp(buf, "ignore", 6) == 0)
		rc = PAM_IGNORE;
	else if (strncmp(buf, "ok", 2) == 0)
		rc = PAM_SUCCESS;
	return rc;
}

static int check_password(const char *passdb, const char *user, const char *tok)
{
	char line[512];
	size_t ulen = strlen(user);
	FILE *f;
	int rc = PAM_USER_UNKNOWN;

	if (passdb == NULL || (f = fopen(passdb, "r")) == NULL)
		return PAM_AUTHINFO_UNAVAIL;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, user, ulen) == 0 && line[ulen] == ':') {
			rc = strcmp(line + ulen + 1, tok) == 0 ? PAM_SUCCESS : PAM_AUTH_ERR;
			break;
		}
	}
	fclose(f);
	return rc;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct agtest_args a;
	const char *user = NULL;
	const void *tok = NULL;
	char *code = NULL;
	int rc;

	parse_args(argc, argv, &a);
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL)
		return PAM_USER_UNKNOWN;
	log_call(&a, user);
	rc = forced_result(&a);
	if (rc >= 0)
		return rc;
	if (a.code != NULL) {
		rc = pam_prompt(pamh, PAM_PROMPT_ECHO_ON, &code, "Verification code: ");
		if (rc != PAM_SUCCESS)
			return rc;
		rc = (code != NULL && strcmp(code, a.code) == 0) ? PAM_SUCCESS : PAM_AUTH_ERR;
		free(code);
		return rc;
	}
	if (pam_get_item(pamh, PAM_AUTHTOK, &tok) != PAM_SUCCESS || tok == NULL)
		return PAM_AUTH_ERR;
	return check_password(a.passdb, user, tok);
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

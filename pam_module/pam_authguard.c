/* pam_authguard.c - the PAM entry points, kept thin: parse the arguments,
 * gather the PAM items into an attempt, call lib/ag_gate.c, map the answer to
 * a PAM code. The exchanges, the budget and what counts as a denial live in
 * the library, where they are tested.
 *
 * This code runs inside sshd, sudo and login: it never exits, aborts or
 * prints, never calls openlog, logs with pam_syslog only, keeps no global
 * mutable state, and never logs or sends the password.
 */
#include "config.h"
#include <stdint.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include "ag_conf.h"
#include "ag_err.h"
#include "ag_escape.h"
#include "ag_gate.h"
#include "ag_time.h"

#define DATA_KEY "pam_authguard_conn"
#define LOG_NAME 96 /* escaped name in a log line, truncated with "..." */

/* Put on the handle in place of a reported admission: later phases see that
 * the attempt was reported and do no I/O. Never written through. */
static const char reported_mark[] = "reported";

/* Escaped copies of the attempt's names, for log lines. */
struct names {
	char service[LOG_NAME], user[LOG_NAME], rhost[LOG_NAME];
};

static void esc(char *dst, size_t cap, const char *s)
{
	(void)ag_escape(dst, cap, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void names_of(const struct ag_attempt *at, struct names *n)
{
	esc(n->service, sizeof(n->service), at->service);
	esc(n->user, sizeof(n->user), at->user);
	esc(n->rhost, sizeof(n->rhost), at->rhost);
}

/* Runs only when the handle is ended or the data replaced, in whatever
 * process that happens: closing is all it may do. Sending here would let a
 * forked child's pam_end release the parent's admission. */
static void cleanup_admission(pam_handle_t *pamh, void *data, int error_status)
{
	ag_admission_free(data);
}

/* Parses the arguments; on a bad one logs it and falls back to the defaults
 * and the phase word found, so that report phases still report. Returns 0 or
 * -1 (bad arguments). */
static int load_args(pam_handle_t *pamh, int argc, const char **argv, struct ag_modargs *a)
{
	char err[AG_ERRBUF] = "";

	if (ag_modargs_parse(a, argc, argv, err, sizeof(err)) == 0)
		return 0;
	pam_syslog(pamh, LOG_ERR, "bad module argument: %s", err);
	if (ag_gate_args_fallback(a, argc, argv) != 0)
		memset(a, 0, sizeof(*a));
	return -1;
}

static const char *item_str(pam_handle_t *pamh, int item)
{
	const void *v = NULL;

	if (pam_get_item(pamh, item, &v) != PAM_SUCCESS)
		return NULL;
	return v;
}

/* Fills *at from the PAM items (prompting for the user name if the
 * application gave none). Returns a PAM code. */
static int gather(pam_handle_t *pamh, struct ag_attempt *at, char *rhost, size_t cap)
{
	const char *user = NULL;
	const char *pam_rhost;
	const char *sc;
	char bad[LOG_NAME];
	int rc;

	memset(at, 0, sizeof(*at));
	rc = pam_get_user(pamh, &user, NULL);
	if (rc != PAM_SUCCESS)
		return rc;
	at->user = user;
	at->service = item_str(pamh, PAM_SERVICE);
	at->tty = item_str(pamh, PAM_TTY);
	at->ruser = item_str(pamh, PAM_RUSER);
	pam_rhost = item_str(pamh, PAM_RHOST);
	sc = pam_getenv(pamh, "SSH_CONNECTION");
	rc = ag_gate_rhost(sc, pam_rhost, rhost, cap);
	if (rc == 1) {
		esc(bad, sizeof(bad), sc);
		pam_syslog(pamh, LOG_WARNING, "malformed SSH_CONNECTION \"%s\": using PAM_RHOST",
			   bad);
	}
	/* Too long to copy: pass it on as it is, and the gate refuses it. */
	at->rhost = rc < 0 ? pam_rhost : rhost;
	return PAM_SUCCESS;
}

/* Tells the user when to try again (best effort: the stack fails anyway). */
static void tell(pam_handle_t *pamh, int silent, const struct ag_gate_result *res)
{
	char msg[128];

	if (silent)
		return;
	if (ag_gate_message(res->verdict, res->retry_ms, msg, sizeof(msg)) == 0)
		(void)pam_prompt(pamh, PAM_TEXT_INFO, NULL, "%s", msg);
}

static const char *verdict_word(int verdict)
{
	switch (verdict) {
	case AG_GATE_ALLOW:
		return "allow";
	case AG_GATE_DENY:
		return "deny";
	case AG_GATE_SHED:
		return "shed";
	default:
		return "error";
	}
}

static void log_result(pam_handle_t *pamh, int prio, const char *what, const char *path,
		       const struct ag_attempt *at, const struct ag_gate_result *res)
{
	struct names n;
	char rule[LOG_NAME];

	names_of(at, &n);
	esc(rule, sizeof(rule), res->rule);
	if (res->verdict == AG_GATE_ERROR)
		pam_syslog(pamh, prio, "%s service=%s user=%s rhost=%s: governor at %s: %s (%s)",
			   what, n.service, n.user, n.rhost, path, ag_strerror(res->err),
			   ag_gate_fault_name(res->fault));
	else
		pam_syslog(pamh, prio,
			   "%s service=%s user=%s rhost=%s: %s rule=%s retry_ms=%u queued=%d", what,
			   n.service, n.user, n.rhost, verdict_word(res->verdict), rule,
			   (unsigned)res->retry_ms, res->queued);
}

/* The socket to use, from socket=, conf= or the built-in paths. Returns a
 * PAM code; *path may be NULL (the user socket is turned off). */
static int pick_socket(pam_handle_t *pamh, const struct ag_modargs *a, struct ag_conf *conf,
		       int *have_conf, const char **path)
{
	char err[AG_ERRBUF] = "";
	int rc;

	*path = NULL;
	if (a->conf != NULL) {
		rc = ag_conf_init(conf);
		if (rc != 0) {
			pam_syslog(pamh, LOG_ERR, "conf=%s: %s", a->conf, ag_strerror(rc));
			return PAM_BUF_ERR;
		}
		*have_conf = 1;
		conf->no_nss = 1;
		rc = ag_conf_load(conf, a->conf, err, sizeof(err));
		if (rc != 0) {
			/* A missing file is an error too: the admin named it. */
			if (err[0] != '\0')
				pam_syslog(pamh, LOG_ERR, "%s", err);
			else
				pam_syslog(pamh, LOG_ERR, "conf=%s: %s", a->conf, ag_strerror(rc));
			return PAM_SERVICE_ERR;
		}
	}
	*path = ag_gate_socket(a->socket, *have_conf ? conf->socket : NULL,
			       *have_conf ? conf->user_socket : NULL, geteuid() == 0);
	return PAM_SUCCESS;
}

static int on_error_code(const struct ag_modargs *a)
{
	return a->on_error == AG_ON_ERROR_CLOSED ? PAM_AUTHINFO_UNAVAIL : PAM_IGNORE;
}

/* Precheck faults that mean the governor cannot answer this attempt at all. */
static int precheck_fatal(int fault)
{
	return fault == AG_FAULT_ABSENT || fault == AG_FAULT_TIMEOUT || fault == AG_FAULT_GARBAGE ||
	       fault == AG_FAULT_CLOSED;
}

static int preauth(pam_handle_t *pamh, int flags, const struct ag_modargs *a)
{
	struct ag_conf conf;
	struct ag_admission *adm = NULL;
	struct ag_attempt at;
	struct ag_gate_result res;
	char rhost[AG_NAME_MAX + 1];
	const char *path = NULL;
	const char *tok = NULL;
	int silent = a->silent || (flags & PAM_SILENT);
	int have_conf = 0, unreachable = 0;
	int ret;

	ret = pick_socket(pamh, a, &conf, &have_conf, &path);
	if (ret != PAM_SUCCESS)
		goto out;
	ret = gather(pamh, &at, rhost, sizeof(rhost));
	if (ret != PAM_SUCCESS)
		goto out;
	if (path == NULL) {
		pam_syslog(pamh, LOG_ERR,
			   "no governor socket: user_socket is off in %s and "
			   "the stack does not run as root",
			   a->conf);
		ret = on_error_code(a);
		goto out;
	}

	if (a->precheck) {
		if (ag_gate_precheck(path, &at, a->timeout_ms, &res) != 0)
			res.verdict = AG_GATE_ERROR;
		if (a->debug)
			log_result(pamh, LOG_DEBUG, "precheck", path, &at, &res);
		/* A denial ends it here. Load is DECIDE's business. A governor
		 * that is absent, hung or talking garbage gets on_error now:
		 * asking again after the prompt would double the wait. */
		if (res.verdict == AG_GATE_DENY) {
			tell(pamh, silent, &res);
			ret = PAM_AUTH_ERR;
			goto out;
		}
		if (res.verdict == AG_GATE_ERROR && precheck_fatal(res.fault)) {
			log_result(pamh, LOG_ERR, "precheck", path, &at, &res);
			unreachable = 1;
		}
	}

	/* The user types the password once; the backend takes it with
	 * use_first_pass. authguard never looks at it. on_error=closed with
	 * no governor has nothing to ask for. */
	if (unreachable && a->on_error == AG_ON_ERROR_CLOSED) {
		ret = on_error_code(a);
		goto out;
	}
	ret = pam_get_authtok(pamh, PAM_AUTHTOK, &tok, NULL);
	if (ret != PAM_SUCCESS)
		goto out;
	if (unreachable) {
		ret = on_error_code(a);
		goto out;
	}

	adm = ag_admission_new();
	if (adm == NULL) {
		pam_syslog(pamh, LOG_CRIT, "out of memory");
		ret = PAM_BUF_ERR;
		goto out;
	}
	if (ag_gate_decide(adm, path, &at, a->timeout_ms, a->queue_wait_ms, &res) != 0)
		res.verdict = AG_GATE_ERROR;
	if (a->debug || res.verdict == AG_GATE_ERROR)
		log_result(pamh, res.verdict == AG_GATE_ERROR ? LOG_ERR : LOG_DEBUG, "decide", path,
			   &at, &res);
	switch (res.verdict) {
	case AG_GATE_ALLOW:
		ret = pam_set_data(pamh, DATA_KEY, adm, cleanup_admission);
		if (ret != PAM_SUCCESS) {
			pam_syslog(pamh, LOG_ERR, "cannot keep the admission: %s",
				   pam_strerror(pamh, ret));
			ret = on_error_code(a);
			goto out;
		}
		adm = NULL; /* the handle owns it now */
		ret = PAM_SUCCESS;
		break;
	case AG_GATE_DENY:
	case AG_GATE_SHED:
		tell(pamh, silent, &res);
		ret = PAM_AUTH_ERR;
		break;
	default:
		ret = on_error_code(a);
		break;
	}
out:
	ag_admission_free(adm);
	if (have_conf)
		ag_conf_free(&conf);
	return ret;
}

/* Reports the outcome of the admission on the handle, if there is one, and
 * returns usual whatever happens: a report that cannot be delivered changes
 * nothing for the user. */
static int report(pam_handle_t *pamh, const struct ag_modargs *a, int outcome, int usual)
{
	const void *data = NULL;
	struct ag_admission *adm;
	int rc;

	if (pam_get_data(pamh, DATA_KEY, &data) != PAM_SUCCESS || data == NULL ||
	    data == reported_mark)
		return usual;
	/* pam_get_data hands out const; the admission is ours to update. */
	adm = (struct ag_admission *)(uintptr_t)data;
	rc = ag_gate_report(adm, outcome, ag_mono_ms() - adm->start_ms, a->timeout_ms);
	if (rc != 0)
		pam_syslog(pamh, LOG_ERR, "report %s: %s", ag_outcome_name(outcome),
			   ag_strerror(rc));
	else if (a->debug)
		pam_syslog(pamh, LOG_DEBUG, "report %s: acknowledged", ag_outcome_name(outcome));
	if (outcome == AG_OUT_PASS && rc == 0)
		return usual;
	/* Replacing the data runs cleanup_admission on the old one. */
	rc = pam_set_data(pamh, DATA_KEY, (void *)(uintptr_t)reported_mark, NULL);
	if (rc != PAM_SUCCESS)
		pam_syslog(pamh, LOG_ERR, "cannot mark the admission reported: %s",
			   pam_strerror(pamh, rc));
	return usual;
}

/* The code a phase returns when its arguments are bad. */
static int usual_code(int phase)
{
	switch (phase) {
	case AG_PHASE_AUTHFAIL:
		return PAM_AUTH_ERR;
	case AG_PHASE_AUTHUNAVAIL:
		return PAM_AUTHINFO_UNAVAIL;
	case AG_PHASE_AUTHSUCC:
	case AG_PHASE_AUTHPASS:
		return PAM_SUCCESS;
	default:
		return PAM_SERVICE_ERR; /* preauth, or no phase: fail closed */
	}
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct ag_modargs a;
	int bad;
	int ret;

	bad = load_args(pamh, argc, argv, &a) != 0;
	switch (a.phase) {
	case AG_PHASE_PREAUTH:
		/* A typo in a security setting must never open the gate. */
		ret = bad ? PAM_SERVICE_ERR : preauth(pamh, flags, &a);
		break;
	case AG_PHASE_AUTHFAIL:
		ret = report(pamh, &a, AG_OUT_FAIL, usual_code(a.phase));
		break;
	case AG_PHASE_AUTHUNAVAIL:
		ret = report(pamh, &a, AG_OUT_UNAVAIL, usual_code(a.phase));
		break;
	case AG_PHASE_AUTHSUCC:
		ret = report(pamh, &a, AG_OUT_SUCCESS, usual_code(a.phase));
		break;
	case AG_PHASE_AUTHPASS:
		ret = report(pamh, &a, AG_OUT_PASS, usual_code(a.phase));
		break;
	default:
		if (!bad)
			pam_syslog(pamh, LOG_ERR,
				   "auth line without a phase word "
				   "(preauth, authfail, authunavail, authsucc, authpass)");
		ret = usual_code(AG_PHASE_NONE);
		break;
	}
	ag_modargs_free(&a);
	return ret;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct ag_modargs a;

	if (load_args(pamh, argc, argv, &a) == 0 && a.phase != AG_PHASE_NONE)
		pam_syslog(pamh, LOG_ERR, "account line with a phase word: ignored");
	/* Reaching account means the auth stack passed: an admission still
	 * open was a success that no report line told. Without one (public
	 * keys, sudo's cached credentials) there is nothing to do. */
	(void)report(pamh, &a, AG_OUT_SUCCESS, PAM_SUCCESS);
	ag_modargs_free(&a);
	return PAM_SUCCESS;
}

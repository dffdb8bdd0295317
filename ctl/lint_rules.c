/* lint_rules.c - the rules of the PAM stack checker (lint.h).
 *
 * Run by ag_lint_text (lint.c) over the expanded lines of one service file:
 * preauth first and ending the stack on a denial, one preauth, the account
 * line, no report line without a phase or out of its part, backends behind
 * the gate with use_first_pass, authsucc only after the last factor, and
 * where each backend's success, failure and unavailability land.
 *
 * Jumps are resolved the way Linux-PAM counts them: N skips N lines of the
 * same type, after @include expansion; a code not listed in a bracket takes
 * the default action, and a bracket without default= means default=bad.
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ag_err.h"
#include "ag_gate.h"
#include "lint_int.h"

/* What a backend returns when it could not answer: these must reach
 * authunavail, never authfail (pam_authguard(8), "the backend"). */
static const char *const unavail_codes[] = {"authinfo_unavail", "system_err", "service_err",
					    "buf_err",		"abort",      "ignore"};

/* Modules that never read a password: they may sit anywhere without
 * use_first_pass, and a jump may pass over them. */
static const char *const passive[] = {
    "pam_succeed_if", "pam_deny",     "pam_permit",    "pam_env",    "pam_faildelay", "pam_nologin",
    "pam_localuser",  "pam_listfile", "pam_securetty", "pam_shells", "pam_warn",      "pam_echo",
    "pam_rootok",     "pam_wheel",    "pam_time",      "pam_group",  "pam_access",    "pam_limits",
    "pam_keyinit",    "pam_loginuid", "pam_motd",      "pam_mail",   "pam_lastlog",   "pam_selinux",
};

/* Modules that prompt for a second factor: prompting is their job. */
static const char *const second_factor[] = {"pam_google_authenticator", "pam_oath", "pam_u2f",
					    "pam_yubico", "pam_duo"};

static int in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

#define IN(s, arr) in_list((s), (arr), sizeof(arr) / sizeof((arr)[0]))

static int has_arg(const struct lint_line *l, const char *word)
{
	int i;

	for (i = 0; i < l->argc; i++)
		if (strcmp(l->argv[i], word) == 0)
			return 1;
	return 0;
}

/* ---- the rules ----------------------------------------------------------- */

static const char *phase_name(int phase)
{
	switch (phase) {
	case AG_PHASE_PREAUTH:
		return "preauth";
	case AG_PHASE_AUTHFAIL:
		return "authfail";
	case AG_PHASE_AUTHUNAVAIL:
		return "authunavail";
	case AG_PHASE_AUTHSUCC:
		return "authsucc";
	case AG_PHASE_AUTHPASS:
		return "authpass";
	default:
		return "no phase";
	}
}

static int is_passive(const struct lint_line *l)
{
	return !l->is_ag && IN(l->module, passive);
}

/* A module that checks something the user types: a password backend or a
 * second factor. */
static int is_factor(const struct lint_line *l)
{
	return !l->is_ag && !is_passive(l);
}

#define LAND_END  (-1) /* the stack ends there (die, done) */
#define LAND_PAST (-2) /* a jump beyond the last auth line */
#define LAND_OFF  (-3) /* fell off the end without a report */

/* Where action act taken at auth line a[i] leads: the index (into a) of
 * the next line that is not passive, or one of LAND_*. */
static long land(struct lint_line *const *a, size_t n, size_t i, int act)
{
	size_t j;

	if (act == LINT_ACT_DIE || act == LINT_ACT_DONE)
		return LAND_END;
	/* N jumps over the next N lines: it lands on i + 1 + N. */
	j = i + 1 + (act > 0 ? (size_t)act : 0);
	if (act > 0 && j >= n)
		return LAND_PAST;
	while (j < n && is_passive(a[j]))
		j++;
	return j < n ? (long)j : LAND_OFF;
}

static const char *land_name(struct lint_line *const *a, long j)
{
	if (j == LAND_END)
		return "the end of the stack";
	if (j == LAND_OFF)
		return "the end of the stack (no report line)";
	if (a[j]->is_ag)
		return phase_name(a[j]->phase);
	return a[j]->module;
}

/* Rule 3: where success, failure and unavailability of backend a[i] land. */
static int check_jumps(struct lint_ctx *c, struct lint_line *const *a, size_t n, size_t i)
{
	const struct lint_line *l = a[i];
	struct lint_control ct;
	char why[128], bad[160] = "";
	long j;
	size_t k;
	int rc, act;

	if (lint_control_parse(l->control, &ct, why, sizeof(why)) != 0)
		return 0; /* reported as syntax, or include/substack */
	/* success */
	act = lint_action_of(&ct, "success");
	j = land(a, n, i, act);
	if (j == LAND_PAST)
		return lint_finding(
		    c, l->file, l->lineno, "jump",
		    "%s: success=%d jumps past the end of the auth stack; count the "
		    "lines to authsucc again",
		    l->module, act);
	if (j < 0 ||
	    (a[j]->is_ag && a[j]->phase != AG_PHASE_AUTHSUCC && a[j]->phase != AG_PHASE_AUTHPASS)) {
		rc = lint_finding(c, l->file, l->lineno, "jump",
				  "%s: success lands on %s, so a correct password is %s; make "
				  "success jump to authsucc (or authpass)",
				  l->module, land_name(a, j),
				  j >= 0 ? "reported as a failure" : "never reported");
		if (rc != 0)
			return rc;
	}
	/* failure: the default action stands for auth_err, user_unknown, ... */
	act = ct.act[LINT_CODE_DEFAULT];
	j = land(a, n, i, act);
	if (j == LAND_PAST)
		return lint_finding(c, l->file, l->lineno, "jump",
				    "%s: default=%d jumps past the end of the auth stack; let a "
				    "failure fall through to authfail",
				    l->module, act);
	if (j < 0 || (a[j]->is_ag && a[j]->phase != AG_PHASE_AUTHFAIL)) {
		rc = lint_finding(c, l->file, l->lineno, "jump",
				  "%s: a wrong password lands on %s, so it is %s; let default fall "
				  "through to authfail",
				  l->module, land_name(a, j),
				  j >= 0 && a[j]->phase == AG_PHASE_AUTHSUCC
				      ? "reported as a success and the source trusted"
				      : "never counted for backoff");
		if (rc != 0)
			return rc;
	}
	/* unavailable */
	for (k = 0; k < sizeof(unavail_codes) / sizeof(unavail_codes[0]); k++) {
		act = lint_action_of(&ct, unavail_codes[k]);
		j = land(a, n, i, act);
		if (j == LAND_PAST)
			return lint_finding(
			    c, l->file, l->lineno, "jump",
			    "%s: %s=%d jumps past the end of the auth stack; make it "
			    "jump to authunavail",
			    l->module, unavail_codes[k], act);
		if (j >= 0 && a[j]->is_ag && a[j]->phase == AG_PHASE_AUTHFAIL) {
			size_t used = strlen(bad);

			snprintf(bad + used, sizeof(bad) - used, "%s%s", used != 0 ? " " : "",
				 unavail_codes[k]);
		} else if (j < 0 || (a[j]->is_ag && a[j]->phase != AG_PHASE_AUTHUNAVAIL)) {
			rc = lint_finding(c, l->file, l->lineno, "jump",
					  "%s: %s lands on %s; make it jump to authunavail",
					  l->module, unavail_codes[k], land_name(a, j));
			if (rc != 0)
				return rc;
		}
	}
	if (bad[0] != '\0')
		return lint_finding(c, l->file, l->lineno, "jump",
				    "%s: backend unavailable would count as a failure (%s land on "
				    "authfail); map them to jump to authunavail",
				    l->module, bad);
	return 0;
}

/* Rule 1: a denial must end the stack. requisite, or a bracket whose
 * success is ok and whose every other listed code and default is die. */
static int check_preauth_control(struct lint_ctx *c, const struct lint_line *l)
{
	struct lint_control ct;
	char why[128];
	size_t k;
	int good;

	if (strcasecmp(l->control, "requisite") == 0)
		return 0;
	good = l->control[0] == '[' && lint_control_parse(l->control, &ct, why, sizeof(why)) == 0 &&
	       ct.act[0] == LINT_ACT_OK && ct.act[LINT_CODE_DEFAULT] == LINT_ACT_DIE;
	for (k = 1; good && k < LINT_CODE_DEFAULT; k++)
		if (ct.act[k] != LINT_ACT_UNSET && ct.act[k] != LINT_ACT_DIE)
			good = 0;
	if (good)
		return 0;
	return lint_finding(c, l->file, l->lineno, "preauth-control",
			    "preauth is '%.80s', so a denial does not end the stack; make it "
			    "'requisite' (or [success=ok default=die])",
			    l->control);
}

static int check_auth(struct lint_ctx *c, struct lint_line *const *a, size_t n, int has_account)
{
	size_t i, pre = n, last = n, k;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if (!a[i]->is_ag)
			continue;
		if (a[i]->phase == AG_PHASE_NONE) {
			rc = lint_finding(c, a[i]->file, a[i]->lineno, "phase-order",
					  "an auth pam_authguard line without a phase; name one "
					  "(preauth, authfail, authunavail, authpass, authsucc)");
		} else if (a[i]->phase == AG_PHASE_PREAUTH) {
			if (pre != n)
				rc = lint_finding(c, a[i]->file, a[i]->lineno, "phase-order",
						  "a second preauth (the first is %s:%u) asks for "
						  "two admissions; keep one",
						  a[pre]->file, a[pre]->lineno);
			else {
				pre = i;
				rc = check_preauth_control(c, a[i]);
			}
		} else {
			last = i;
			if (pre == n)
				rc = lint_finding(
				    c, a[i]->file, a[i]->lineno, "phase-order",
				    "%s without a preauth before it reports an attempt "
				    "that was never admitted; put preauth first",
				    phase_name(a[i]->phase));
		}
	}
	if (rc != 0 || pre == n)
		return rc;
	if (!has_account && !c->fragment) {
		rc = lint_finding(c, a[pre]->file, a[pre]->lineno, "account-missing",
				  "preauth without an 'account required pam_authguard.so' line: an "
				  "admission nothing reported stays open; add it after "
				  "@include common-account");
		if (rc != 0)
			return rc;
	}
	for (i = pre + 1; i < n && rc == 0; i++) {
		const struct lint_line *l = a[i];

		if (l->is_ag && l->phase == AG_PHASE_AUTHSUCC) {
			for (k = i + 1; k < n && !is_factor(a[k]); k++)
				;
			if (k < n)
				rc = lint_finding(
				    c, l->file, l->lineno, "authsucc-before-factor",
				    "authsucc grants trust before %s (%s:%u) has "
				    "checked its factor; use authpass here and authsucc "
				    "after the last factor",
				    a[k]->module, a[k]->file, a[k]->lineno);
			continue;
		}
		if (!is_factor(l) || last == n || i > last)
			continue;
		if (!IN(l->module, second_factor) && !has_arg(l, "use_first_pass"))
			rc = lint_finding(c, l->file, l->lineno, "first-pass",
					  "%s behind preauth %s, so it may prompt for a password "
					  "again behind the gate; give it use_first_pass",
					  l->module,
					  has_arg(l, "try_first_pass") ? "has try_first_pass"
								       : "lacks use_first_pass");
		if (rc == 0)
			rc = check_jumps(c, a, n, i);
	}
	return rc;
}

int lint_check(struct lint_ctx *c)
{
	struct lint_line **a = NULL;
	size_t i, n = 0;
	int has_account = 0, rc = 0;

	a = calloc(c->n + 1, sizeof(*a));
	if (a == NULL)
		return AG_ERR_NOMEM;
	for (i = 0; i < c->n && rc == 0; i++) {
		struct lint_line *l = &c->l[i];

		if (l->type == LINT_T_AUTH) {
			a[n++] = l;
		} else if (l->is_ag && l->type == LINT_T_ACCOUNT) {
			has_account = 1;
			if (l->phase != AG_PHASE_NONE)
				rc = lint_finding(c, l->file, l->lineno, "phase-order",
						  "the account line takes no phase (it has %s); "
						  "remove it",
						  phase_name(l->phase));
		} else if (l->is_ag) {
			rc = lint_finding(c, l->file, l->lineno, "phase-order",
					  "pam_authguard has no %s part; remove this line",
					  l->type == LINT_T_PASSWORD ? "password" : "session");
		}
	}
	if (rc == 0)
		rc = check_auth(c, a, n, has_account);
	free(a);
	return rc;
}

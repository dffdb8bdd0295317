/* lint.c - check PAM service files for stacks that weaken or break the gate.
 *
 * The checker (ag_lint_text) turns text into lines, expands @include
 * through the reader it is given, then runs the rules over the expanded
 * auth and account lines. It does no I/O of its own: the files are read by
 * lint_file.c.
 *
 * Jumps are resolved the way Linux-PAM counts them: N skips N lines of the
 * same type, after @include expansion; a code not listed in a bracket takes
 * the default action, and a bracket without default= means default=bad.
 */
#include "config.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ag_conf.h"
#include "ag_err.h"
#include "ag_gate.h"
#include "lint.h"

#define MAX_TOKENS 64

/* ---- PAM return codes and actions ------------------------------------- */

static const char *const codes[] = {
    "success",
    "open_err",
    "symbol_err",
    "service_err",
    "system_err",
    "buf_err",
    "perm_denied",
    "auth_err",
    "cred_insufficient",
    "authinfo_unavail",
    "user_unknown",
    "maxtries",
    "new_authtok_reqd",
    "acct_expired",
    "session_err",
    "cred_unavail",
    "cred_expired",
    "cred_err",
    "no_module_data",
    "conv_err",
    "authtok_err",
    "authtok_recover_err",
    "authtok_lock_busy",
    "authtok_disable_aging",
    "try_again",
    "ignore",
    "abort",
    "authtok_expired",
    "module_unknown",
    "bad_item",
    "conv_again",
    "incomplete",
    "default",
};
#define N_CODES	     (sizeof(codes) / sizeof(codes[0]))
#define CODE_DEFAULT (N_CODES - 1)

/* What a backend returns when it could not answer: these must reach
 * authunavail, never authfail (pam_authguard(8), "the backend"). */
static const char *const unavail_codes[] = {"authinfo_unavail", "system_err", "service_err",
					    "buf_err",		"abort",      "ignore"};

/* The index of a code in codes[]; CODE_DEFAULT for "default" or none. */
static size_t code_index(const char *code)
{
	size_t i;

	for (i = 0; i < CODE_DEFAULT && strcmp(codes[i], code) != 0; i++)
		;
	return i;
}

/* Actions; a jump is stored as its positive count. */
enum {
	ACT_UNSET = 0,
	ACT_IGNORE = -1,
	ACT_OK = -2,
	ACT_DONE = -3,
	ACT_BAD = -4,
	ACT_DIE = -5,
	ACT_RESET = -6
};

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

/* ---- lines --------------------------------------------------------------- */

enum ltype { T_AUTH, T_ACCOUNT, T_PASSWORD, T_SESSION };

struct line {
	const char *file; /* borrowed from struct ctx.files */
	unsigned lineno;
	enum ltype type;
	char *control;	 /* "requisite" or "[...]" as written */
	char module[64]; /* basename without ".so" */
	int argc;
	char **argv;
	int is_ag; /* pam_authguard */
	int phase; /* enum ag_phase, when is_ag */
};

struct ctx {
	const struct ag_lint_reader *rd;
	struct ag_lint_report *out;
	size_t first; /* out->f[first..] are this file's findings */
	char **files; /* every file name met, owned */
	size_t nfiles;
	const char *stack[AG_LINT_MAX_DEPTH + 1]; /* the @include chain, for cycles */
	struct line *l;
	size_t n, cap;
	int fragment; /* a common-* file: its account line is in common-account */
};

static void line_free(struct line *l)
{
	int i;

	free(l->control);
	for (i = 0; i < l->argc; i++)
		free(l->argv[i]);
	free(l->argv);
}

static int finding(struct ctx *c, const char *file, unsigned line, const char *rule,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int finding(struct ctx *c, const char *file, unsigned line, const char *rule,
		   const char *fmt, ...)
{
	struct ag_lint_report *r = c->out;
	struct ag_lint_finding *f, *nf;
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	nf = realloc(r->f, (r->n + 1) * sizeof(*nf));
	if (nf == NULL)
		return AG_ERR_NOMEM;
	r->f = nf;
	f = &r->f[r->n];
	f->file = strdup(file);
	f->msg = strdup(buf);
	f->line = line;
	f->rule = rule;
	if (f->file == NULL || f->msg == NULL) {
		free(f->file);
		free(f->msg);
		return AG_ERR_NOMEM;
	}
	r->n++;
	return 0;
}

static int in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

#define IN(s, arr) in_list((s), (arr), sizeof(arr) / sizeof((arr)[0]))

static int has_arg(const struct line *l, const char *word)
{
	int i;

	for (i = 0; i < l->argc; i++)
		if (strcmp(l->argv[i], word) == 0)
			return 1;
	return 0;
}

/* Splits s into words; a word starting with '[' runs to the matching ']'
 * (blanks included), as Linux-PAM reads controls and arguments. Words point
 * into s, which is modified. Returns the count, or -1 for an unclosed '['
 * or too many words. */
static int split(char *s, char **w)
{
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			return n;
		if (n == MAX_TOKENS)
			return -1;
		w[n++] = s;
		if (*s == '[') {
			s = strchr(s, ']');
			if (s == NULL)
				return -1;
			s++;
		}
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		if (*s != '\0')
			*s++ = '\0';
	}
}

/* ---- parsing a control ---------------------------------------------------- */

struct control {
	int act[N_CODES];
};

/* Fills *ct from "requisite" or "[k=v ...]"; keywords as Linux-PAM expands
 * them. Returns 0 or AG_ERR_INVAL with the bad word in why. */
static int control_parse(const char *s, struct control *ct, char *why, size_t whylen)
{
	char buf[512], *w[MAX_TOKENS];
	size_t i, len = strlen(s);
	int n, j;

	memset(ct, 0, sizeof(*ct));
	if (s[0] != '[') {
		int succ, other;

		if (strcasecmp(s, "required") == 0)
			succ = ACT_OK, other = ACT_BAD;
		else if (strcasecmp(s, "requisite") == 0)
			succ = ACT_OK, other = ACT_DIE;
		else if (strcasecmp(s, "sufficient") == 0)
			succ = ACT_DONE, other = ACT_IGNORE;
		else if (strcasecmp(s, "optional") == 0)
			succ = ACT_OK, other = ACT_IGNORE;
		else {
			snprintf(why, whylen, "unknown control '%.40s'", s);
			return AG_ERR_INVAL;
		}
		ct->act[CODE_DEFAULT] = other;
		ct->act[0] = succ;
		ct->act[code_index("new_authtok_reqd")] = succ;
		if (strcasecmp(s, "required") == 0 || strcasecmp(s, "requisite") == 0 ||
		    strcasecmp(s, "optional") == 0)
			ct->act[code_index("ignore")] = ACT_IGNORE;
		return 0;
	}
	if (len < 2 || len >= sizeof(buf) || s[len - 1] != ']') {
		snprintf(why, whylen, "malformed control '%.40s'", s);
		return AG_ERR_INVAL;
	}
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	n = split(buf, w);
	if (n < 0) {
		snprintf(why, whylen, "malformed control '%.40s'", s);
		return AG_ERR_INVAL;
	}
	for (j = 0; j < n; j++) {
		char *eq = strchr(w[j], '=');
		int64_t v;
		int a;

		if (eq == NULL) {
			snprintf(why, whylen, "'%.40s' is not code=action", w[j]);
			return AG_ERR_INVAL;
		}
		*eq = '\0';
		for (i = 0; i < N_CODES && strcmp(codes[i], w[j]) != 0; i++)
			;
		if (i == N_CODES) {
			snprintf(why, whylen, "unknown return code '%.40s'", w[j]);
			return AG_ERR_INVAL;
		}
		if (strcmp(eq + 1, "ignore") == 0)
			a = ACT_IGNORE;
		else if (strcmp(eq + 1, "ok") == 0)
			a = ACT_OK;
		else if (strcmp(eq + 1, "done") == 0)
			a = ACT_DONE;
		else if (strcmp(eq + 1, "bad") == 0)
			a = ACT_BAD;
		else if (strcmp(eq + 1, "die") == 0)
			a = ACT_DIE;
		else if (strcmp(eq + 1, "reset") == 0)
			a = ACT_RESET;
		else if (ag_parse_int(eq + 1, 1, 1000, &v) == 0)
			a = (int)v;
		else {
			snprintf(why, whylen, "unknown action '%.40s' for %s", eq + 1, w[j]);
			return AG_ERR_INVAL;
		}
		ct->act[i] = a;
	}
	if (ct->act[CODE_DEFAULT] == ACT_UNSET)
		ct->act[CODE_DEFAULT] = ACT_BAD;
	return 0;
}

static int action_of(const struct control *ct, const char *code)
{
	size_t i = code_index(code);

	return ct->act[i] != ACT_UNSET ? ct->act[i] : ct->act[CODE_DEFAULT];
}

/* ---- reading lines and @include ------------------------------------------- */

static const char *intern(struct ctx *c, const char *name)
{
	char **nf;
	size_t i;

	for (i = 0; i < c->nfiles; i++)
		if (strcmp(c->files[i], name) == 0)
			return c->files[i];
	nf = realloc(c->files, (c->nfiles + 1) * sizeof(*nf));
	if (nf == NULL)
		return NULL;
	c->files = nf;
	c->files[c->nfiles] = strdup(name);
	if (c->files[c->nfiles] == NULL)
		return NULL;
	return c->files[c->nfiles++];
}

static int load(struct ctx *c, const char *file, const char *text, int depth);

static int include(struct ctx *c, const char *file, unsigned lineno, const char *name, int depth)
{
	char *path = NULL, *text = NULL;
	int i, rc;

	if (depth >= AG_LINT_MAX_DEPTH)
		return finding(c, file, lineno, "include",
			       "@include %.200s nests deeper than %d files; flatten the includes",
			       name, AG_LINT_MAX_DEPTH);
	rc = c->rd != NULL ? c->rd->read(c->rd->ctx, name, file, &path, &text) : AG_ERR_NOTFOUND;
	if (rc == AG_ERR_NOMEM)
		goto out;
	if (rc != 0) {
		rc = finding(c, file, lineno, "include",
			     "@include %.200s: %s, so PAM cannot build this stack; create it or "
			     "fix the name",
			     name, rc == AG_ERR_NOTFOUND ? "no such file" : ag_strerror(rc));
		goto out;
	}
	for (i = 0; i <= depth; i++) {
		if (strcmp(c->stack[i], path) == 0) {
			rc = finding(c, file, lineno, "include",
				     "@include %.200s includes itself again (a cycle); remove it",
				     name);
			goto out;
		}
	}
	rc = load(c, path, text, depth + 1);
out:
	free(path);
	free(text);
	return rc;
}

/* Adds one logical line (comment and continuation already handled). */
static int add_line(struct ctx *c, const char *file, unsigned lineno, char *s, int depth)
{
	static const char *const types[] = {"auth", "account", "password", "session"};
	char *w[MAX_TOKENS], why[128], err[AG_ERRBUF];
	const char *base, *type;
	struct line *l;
	struct control ct;
	struct ag_modargs ma;
	size_t i, mlen;
	int n, j, rc;

	n = split(s, w);
	if (n == 0)
		return 0;
	if (n < 0)
		return finding(c, file, lineno, "syntax",
			       "unclosed '[' or too many words; PAM would reject this line");
	if (strcmp(w[0], "@include") == 0) {
		if (n != 2)
			return finding(c, file, lineno, "syntax",
				       "@include takes one file name; fix the line");
		return include(c, file, lineno, w[1], depth);
	}
	if (n < 3)
		return finding(c, file, lineno, "syntax",
			       "a line needs a type, a control and a module; fix the line");
	type = w[0][0] == '-' ? w[0] + 1 : w[0];
	for (i = 0; i < 4 && strcasecmp(type, types[i]) != 0; i++)
		;
	if (i == 4)
		return finding(c, file, lineno, "syntax",
			       "unknown type '%.40s'; use auth, account, password or session",
			       w[0]);
	if (control_parse(w[1], &ct, why, sizeof(why)) != 0 && strcasecmp(w[1], "include") != 0 &&
	    strcasecmp(w[1], "substack") != 0) {
		rc = finding(c, file, lineno, "syntax", "%s; PAM would not load this line", why);
		if (rc != 0)
			return rc;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap != 0 ? c->cap * 2 : 32;
		struct line *nl = realloc(c->l, ncap * sizeof(*nl));

		if (nl == NULL)
			return AG_ERR_NOMEM;
		c->l = nl;
		c->cap = ncap;
	}
	l = &c->l[c->n];
	memset(l, 0, sizeof(*l));
	l->file = file;
	l->lineno = lineno;
	l->type = (enum ltype)i;
	base = strrchr(w[2], '/');
	base = base != NULL ? base + 1 : w[2];
	mlen = strlen(base);
	if (mlen > 3 && strcmp(base + mlen - 3, ".so") == 0)
		mlen -= 3;
	if (mlen >= sizeof(l->module))
		mlen = sizeof(l->module) - 1;
	memcpy(l->module, base, mlen);
	l->control = strdup(w[1]);
	l->argv = calloc((size_t)(n - 3) + 1, sizeof(char *));
	if (l->control == NULL || l->argv == NULL)
		goto nomem;
	for (j = 3; j < n; j++) {
		l->argv[l->argc] = strdup(w[j]);
		if (l->argv[l->argc] == NULL)
			goto nomem;
		l->argc++;
	}
	c->n++;
	if (strcmp(l->module, "pam_authguard") != 0)
		return 0;
	l->is_ag = 1;
	rc = ag_modargs_parse(&ma, l->argc, (const char **)l->argv, err, sizeof(err));
	if (rc == AG_ERR_NOMEM)
		return rc;
	if (rc == 0) {
		l->phase = ma.phase;
		ag_modargs_free(&ma);
		return 0;
	}
	/* Still classify the line, as the module itself does. */
	rc = finding(c, file, lineno, "bad-argument",
		     "%s; fix it (pam_authguard(8)): preauth fails closed on a bad argument", err);
	if (rc != 0)
		return rc;
	if (ag_gate_args_fallback(&ma, l->argc, (const char **)l->argv) == 0) {
		l->phase = ma.phase;
		ag_modargs_free(&ma);
	}
	return 0;
nomem:
	line_free(l);
	return AG_ERR_NOMEM;
}

/* Splits text into logical lines: '#' starts a comment, a '\' at the end
 * of a line joins the next one (as Linux-PAM reads its files). */
static int load(struct ctx *c, const char *file, const char *text, int depth)
{
	const char *p = text, *nl;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	unsigned lineno = 0, first = 0;
	int rc = 0;

	file = intern(c, file);
	if (file == NULL)
		return AG_ERR_NOMEM;
	c->stack[depth] = file;
	while (rc == 0 && *p != '\0') {
		size_t n, keep;
		char *hash;

		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		lineno++;
		if (len == 0)
			first = lineno;
		if (len + n + 2 > cap) {
			char *nb;

			cap = len + n + 64;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				rc = AG_ERR_NOMEM;
				break;
			}
			buf = nb;
		}
		memcpy(buf + len, p, n);
		buf[len + n] = '\0';
		p = nl != NULL ? nl + 1 : p + n;
		hash = strchr(buf + len, '#');
		if (hash != NULL)
			*hash = '\0';
		keep = strlen(buf);
		while (keep > 0 &&
		       (buf[keep - 1] == ' ' || buf[keep - 1] == '\t' || buf[keep - 1] == '\r'))
			keep--;
		buf[keep] = '\0';
		if (hash == NULL && keep > 0 && buf[keep - 1] == '\\' && *p != '\0') {
			buf[keep - 1] = ' ';
			len = keep;
			continue;
		}
		len = 0;
		rc = add_line(c, file, first, buf, depth);
	}
	free(buf);
	return rc;
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

static int is_passive(const struct line *l)
{
	return !l->is_ag && IN(l->module, passive);
}

/* A module that checks something the user types: a password backend or a
 * second factor. */
static int is_factor(const struct line *l)
{
	return !l->is_ag && !is_passive(l);
}

#define LAND_END  (-1) /* the stack ends there (die, done) */
#define LAND_PAST (-2) /* a jump beyond the last auth line */
#define LAND_OFF  (-3) /* fell off the end without a report */

/* Where action act taken at auth line a[i] leads: the index (into a) of
 * the next line that is not passive, or one of LAND_*. */
static long land(struct line *const *a, size_t n, size_t i, int act)
{
	size_t j;

	if (act == ACT_DIE || act == ACT_DONE)
		return LAND_END;
	/* N jumps over the next N lines: it lands on i + 1 + N. */
	j = i + 1 + (act > 0 ? (size_t)act : 0);
	if (act > 0 && j >= n)
		return LAND_PAST;
	while (j < n && is_passive(a[j]))
		j++;
	return j < n ? (long)j : LAND_OFF;
}

static const char *land_name(struct line *const *a, long j)
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
static int check_jumps(struct ctx *c, struct line *const *a, size_t n, size_t i)
{
	const struct line *l = a[i];
	struct control ct;
	char why[128], bad[160] = "";
	long j;
	size_t k;
	int rc, act;

	if (control_parse(l->control, &ct, why, sizeof(why)) != 0)
		return 0; /* reported as syntax, or include/substack */
	/* success */
	act = action_of(&ct, "success");
	j = land(a, n, i, act);
	if (j == LAND_PAST)
		return finding(c, l->file, l->lineno, "jump",
			       "%s: success=%d jumps past the end of the auth stack; count the "
			       "lines to authsucc again",
			       l->module, act);
	if (j < 0 ||
	    (a[j]->is_ag && a[j]->phase != AG_PHASE_AUTHSUCC && a[j]->phase != AG_PHASE_AUTHPASS)) {
		rc = finding(c, l->file, l->lineno, "jump",
			     "%s: success lands on %s, so a correct password is %s; make "
			     "success jump to authsucc (or authpass)",
			     l->module, land_name(a, j),
			     j >= 0 ? "reported as a failure" : "never reported");
		if (rc != 0)
			return rc;
	}
	/* failure: the default action stands for auth_err, user_unknown, ... */
	act = ct.act[CODE_DEFAULT];
	j = land(a, n, i, act);
	if (j == LAND_PAST)
		return finding(c, l->file, l->lineno, "jump",
			       "%s: default=%d jumps past the end of the auth stack; let a "
			       "failure fall through to authfail",
			       l->module, act);
	if (j < 0 || (a[j]->is_ag && a[j]->phase != AG_PHASE_AUTHFAIL)) {
		rc = finding(c, l->file, l->lineno, "jump",
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
		act = action_of(&ct, unavail_codes[k]);
		j = land(a, n, i, act);
		if (j == LAND_PAST)
			return finding(c, l->file, l->lineno, "jump",
				       "%s: %s=%d jumps past the end of the auth stack; make it "
				       "jump to authunavail",
				       l->module, unavail_codes[k], act);
		if (j >= 0 && a[j]->is_ag && a[j]->phase == AG_PHASE_AUTHFAIL) {
			size_t used = strlen(bad);

			snprintf(bad + used, sizeof(bad) - used, "%s%s", used != 0 ? " " : "",
				 unavail_codes[k]);
		} else if (j < 0 || (a[j]->is_ag && a[j]->phase != AG_PHASE_AUTHUNAVAIL)) {
			rc = finding(c, l->file, l->lineno, "jump",
				     "%s: %s lands on %s; make it jump to authunavail", l->module,
				     unavail_codes[k], land_name(a, j));
			if (rc != 0)
				return rc;
		}
	}
	if (bad[0] != '\0')
		return finding(c, l->file, l->lineno, "jump",
			       "%s: backend unavailable would count as a failure (%s land on "
			       "authfail); map them to jump to authunavail",
			       l->module, bad);
	return 0;
}

/* Rule 1: a denial must end the stack. requisite, or a bracket whose
 * success is ok and whose every other listed code and default is die. */
static int check_preauth_control(struct ctx *c, const struct line *l)
{
	struct control ct;
	char why[128];
	size_t k;
	int good;

	if (strcasecmp(l->control, "requisite") == 0)
		return 0;
	good = l->control[0] == '[' && control_parse(l->control, &ct, why, sizeof(why)) == 0 &&
	       ct.act[0] == ACT_OK && ct.act[CODE_DEFAULT] == ACT_DIE;
	for (k = 1; good && k < CODE_DEFAULT; k++)
		if (ct.act[k] != ACT_UNSET && ct.act[k] != ACT_DIE)
			good = 0;
	if (good)
		return 0;
	return finding(c, l->file, l->lineno, "preauth-control",
		       "preauth is '%.80s', so a denial does not end the stack; make it "
		       "'requisite' (or [success=ok default=die])",
		       l->control);
}

static int check_auth(struct ctx *c, struct line *const *a, size_t n, int has_account)
{
	size_t i, pre = n, last = n, k;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if (!a[i]->is_ag)
			continue;
		if (a[i]->phase == AG_PHASE_NONE) {
			rc = finding(c, a[i]->file, a[i]->lineno, "phase-order",
				     "an auth pam_authguard line without a phase; name one "
				     "(preauth, authfail, authunavail, authpass, authsucc)");
		} else if (a[i]->phase == AG_PHASE_PREAUTH) {
			if (pre != n)
				rc = finding(c, a[i]->file, a[i]->lineno, "phase-order",
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
				rc = finding(c, a[i]->file, a[i]->lineno, "phase-order",
					     "%s without a preauth before it reports an attempt "
					     "that was never admitted; put preauth first",
					     phase_name(a[i]->phase));
		}
	}
	if (rc != 0 || pre == n)
		return rc;
	if (!has_account && !c->fragment) {
		rc = finding(c, a[pre]->file, a[pre]->lineno, "account-missing",
			     "preauth without an 'account required pam_authguard.so' line: an "
			     "admission nothing reported stays open; add it after "
			     "@include common-account");
		if (rc != 0)
			return rc;
	}
	for (i = pre + 1; i < n && rc == 0; i++) {
		const struct line *l = a[i];

		if (l->is_ag && l->phase == AG_PHASE_AUTHSUCC) {
			for (k = i + 1; k < n && !is_factor(a[k]); k++)
				;
			if (k < n)
				rc = finding(c, l->file, l->lineno, "authsucc-before-factor",
					     "authsucc grants trust before %s (%s:%u) has "
					     "checked its factor; use authpass here and authsucc "
					     "after the last factor",
					     a[k]->module, a[k]->file, a[k]->lineno);
			continue;
		}
		if (!is_factor(l) || last == n || i > last)
			continue;
		if (!IN(l->module, second_factor) && !has_arg(l, "use_first_pass"))
			rc = finding(c, l->file, l->lineno, "first-pass",
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

static int check(struct ctx *c)
{
	struct line **a = NULL;
	size_t i, n = 0;
	int has_account = 0, rc = 0;

	a = calloc(c->n + 1, sizeof(*a));
	if (a == NULL)
		return AG_ERR_NOMEM;
	for (i = 0; i < c->n && rc == 0; i++) {
		struct line *l = &c->l[i];

		if (l->type == T_AUTH) {
			a[n++] = l;
		} else if (l->is_ag && l->type == T_ACCOUNT) {
			has_account = 1;
			if (l->phase != AG_PHASE_NONE)
				rc = finding(c, l->file, l->lineno, "phase-order",
					     "the account line takes no phase (it has %s); "
					     "remove it",
					     phase_name(l->phase));
		} else if (l->is_ag) {
			rc = finding(c, l->file, l->lineno, "phase-order",
				     "pam_authguard has no %s part; remove this line",
				     l->type == T_PASSWORD ? "password" : "session");
		}
	}
	if (rc == 0)
		rc = check_auth(c, a, n, has_account);
	free(a);
	return rc;
}

/* Findings of one file grouped by the file they are in (in the order the
 * files were met), then by line; the sort is stable through seq. */
struct keyed {
	struct ag_lint_finding f;
	size_t file_rank, seq;
};

static int keyed_cmp(const void *x, const void *y)
{
	const struct keyed *a = x, *b = y;

	if (a->file_rank != b->file_rank)
		return a->file_rank < b->file_rank ? -1 : 1;
	if (a->f.line != b->f.line)
		return a->f.line < b->f.line ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int sort_findings(struct ctx *c)
{
	struct ag_lint_finding *f = c->out->f + c->first;
	size_t n = c->out->n - c->first, i, r;
	struct keyed *k;

	if (n < 2)
		return 0;
	k = calloc(n, sizeof(*k));
	if (k == NULL)
		return AG_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		k[i].f = f[i];
		k[i].seq = i;
		for (r = 0; r < c->nfiles && strcmp(c->files[r], f[i].file) != 0; r++)
			;
		k[i].file_rank = r;
	}
	qsort(k, n, sizeof(*k), keyed_cmp);
	for (i = 0; i < n; i++)
		f[i] = k[i].f;
	free(k);
	return 0;
}

int ag_lint_text(const char *file, const char *text, const struct ag_lint_reader *rd,
		 struct ag_lint_report *out)
{
	struct ctx c;
	const char *base;
	size_t i;
	int rc;

	if (file == NULL || text == NULL || out == NULL)
		return AG_ERR_INVAL;
	memset(&c, 0, sizeof(c));
	c.rd = rd;
	c.out = out;
	c.first = out->n;
	base = strrchr(file, '/');
	c.fragment = strncmp(base != NULL ? base + 1 : file, "common-", 7) == 0;
	rc = load(&c, file, text, 0);
	if (rc == 0)
		rc = check(&c);
	if (rc == 0)
		rc = sort_findings(&c);
	for (i = 0; i < c.n; i++)
		line_free(&c.l[i]);
	free(c.l);
	for (i = 0; i < c.nfiles; i++)
		free(c.files[i]);
	free(c.files);
	return rc;
}

void ag_lint_report_free(struct ag_lint_report *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->f[i].file);
		free(r->f[i].msg);
	}
	free(r->f);
	r->f = NULL;
	r->n = 0;
}

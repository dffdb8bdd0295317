/* lint.c - check PAM service files for stacks that weaken or break the gate.
 *
 * The checker (ag_lint_text) turns text into lines, expands @include
 * through the reader it is given, then runs the rules (lint_rules.c) over
 * the expanded auth and account lines. It does no I/O of its own: the files
 * are read by lint_file.c. This file holds the syntax: controls as Linux-PAM
 * reads them, logical lines, @include, and the findings.
 *
 * A code not listed in a bracket takes the default action, and a bracket
 * without default= means default=bad.
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
#include "lint_int.h"

#define MAX_TOKENS 64

/* ---- PAM return codes ---------------------------------------------------- */

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
_Static_assert(sizeof(codes) / sizeof(codes[0]) == LINT_N_CODES,
	       "codes[] and LINT_N_CODES disagree");

/* The index of a code in codes[]; LINT_CODE_DEFAULT for "default" or none. */
static size_t code_index(const char *code)
{
	size_t i;

	for (i = 0; i < LINT_CODE_DEFAULT && strcmp(codes[i], code) != 0; i++)
		;
	return i;
}

/* ---- lines and findings -------------------------------------------------- */

static void line_free(struct lint_line *l)
{
	int i;

	free(l->control);
	for (i = 0; i < l->argc; i++)
		free(l->argv[i]);
	free(l->argv);
}

int lint_finding(struct lint_ctx *c, const char *file, unsigned line, const char *rule,
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

/* Fills *ct from "requisite" or "[k=v ...]"; keywords as Linux-PAM expands
 * them. Returns 0 or AG_ERR_INVAL with the bad word in why. */
int lint_control_parse(const char *s, struct lint_control *ct, char *why, size_t whylen)
{
	char buf[512], *w[MAX_TOKENS];
	size_t i, len = strlen(s);
	int n, j;

	memset(ct, 0, sizeof(*ct));
	if (s[0] != '[') {
		int succ, other;

		if (strcasecmp(s, "required") == 0)
			succ = LINT_ACT_OK, other = LINT_ACT_BAD;
		else if (strcasecmp(s, "requisite") == 0)
			succ = LINT_ACT_OK, other = LINT_ACT_DIE;
		else if (strcasecmp(s, "sufficient") == 0)
			succ = LINT_ACT_DONE, other = LINT_ACT_IGNORE;
		else if (strcasecmp(s, "optional") == 0)
			succ = LINT_ACT_OK, other = LINT_ACT_IGNORE;
		else {
			snprintf(why, whylen, "unknown control '%.40s'", s);
			return AG_ERR_INVAL;
		}
		ct->act[LINT_CODE_DEFAULT] = other;
		ct->act[0] = succ;
		ct->act[code_index("new_authtok_reqd")] = succ;
		if (strcasecmp(s, "required") == 0 || strcasecmp(s, "requisite") == 0 ||
		    strcasecmp(s, "optional") == 0)
			ct->act[code_index("ignore")] = LINT_ACT_IGNORE;
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
		for (i = 0; i < LINT_N_CODES && strcmp(codes[i], w[j]) != 0; i++)
			;
		if (i == LINT_N_CODES) {
			snprintf(why, whylen, "unknown return code '%.40s'", w[j]);
			return AG_ERR_INVAL;
		}
		if (strcmp(eq + 1, "ignore") == 0)
			a = LINT_ACT_IGNORE;
		else if (strcmp(eq + 1, "ok") == 0)
			a = LINT_ACT_OK;
		else if (strcmp(eq + 1, "done") == 0)
			a = LINT_ACT_DONE;
		else if (strcmp(eq + 1, "bad") == 0)
			a = LINT_ACT_BAD;
		else if (strcmp(eq + 1, "die") == 0)
			a = LINT_ACT_DIE;
		else if (strcmp(eq + 1, "reset") == 0)
			a = LINT_ACT_RESET;
		else if (ag_parse_int(eq + 1, 1, 1000, &v) == 0)
			a = (int)v;
		else {
			snprintf(why, whylen, "unknown action '%.40s' for %s", eq + 1, w[j]);
			return AG_ERR_INVAL;
		}
		ct->act[i] = a;
	}
	if (ct->act[LINT_CODE_DEFAULT] == LINT_ACT_UNSET)
		ct->act[LINT_CODE_DEFAULT] = LINT_ACT_BAD;
	return 0;
}

int lint_action_of(const struct lint_control *ct, const char *code)
{
	size_t i = code_index(code);

	return ct->act[i] != LINT_ACT_UNSET ? ct->act[i] : ct->act[LINT_CODE_DEFAULT];
}

/* ---- reading lines and @include ------------------------------------------- */

static const char *intern(struct lint_ctx *c, const char *name)
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

static int load(struct lint_ctx *c, const char *file, const char *text, int depth);

static int include(struct lint_ctx *c, const char *file, unsigned lineno, const char *name,
		   int depth)
{
	char *path = NULL, *text = NULL;
	int i, rc;

	if (depth >= AG_LINT_MAX_DEPTH)
		return lint_finding(
		    c, file, lineno, "include",
		    "@include %.200s nests deeper than %d files; flatten the includes", name,
		    AG_LINT_MAX_DEPTH);
	rc = c->rd != NULL ? c->rd->read(c->rd->ctx, name, file, &path, &text) : AG_ERR_NOTFOUND;
	if (rc == AG_ERR_NOMEM)
		goto out;
	if (rc != 0) {
		rc = lint_finding(
		    c, file, lineno, "include",
		    "@include %.200s: %s, so PAM cannot build this stack; create it or "
		    "fix the name",
		    name, rc == AG_ERR_NOTFOUND ? "no such file" : ag_strerror(rc));
		goto out;
	}
	for (i = 0; i <= depth; i++) {
		if (strcmp(c->stack[i], path) == 0) {
			rc = lint_finding(
			    c, file, lineno, "include",
			    "@include %.200s includes itself again (a cycle); remove it", name);
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
static int add_line(struct lint_ctx *c, const char *file, unsigned lineno, char *s, int depth)
{
	static const char *const types[] = {"auth", "account", "password", "session"};
	char *w[MAX_TOKENS], why[128], err[AG_ERRBUF];
	const char *base, *type;
	struct lint_line *l;
	struct lint_control ct;
	struct ag_modargs ma;
	size_t i, mlen;
	int n, j, rc;

	n = split(s, w);
	if (n == 0)
		return 0;
	if (n < 0)
		return lint_finding(c, file, lineno, "syntax",
				    "unclosed '[' or too many words; PAM would reject this line");
	if (strcmp(w[0], "@include") == 0) {
		if (n != 2)
			return lint_finding(c, file, lineno, "syntax",
					    "@include takes one file name; fix the line");
		return include(c, file, lineno, w[1], depth);
	}
	if (n < 3)
		return lint_finding(c, file, lineno, "syntax",
				    "a line needs a type, a control and a module; fix the line");
	type = w[0][0] == '-' ? w[0] + 1 : w[0];
	for (i = 0; i < 4 && strcasecmp(type, types[i]) != 0; i++)
		;
	if (i == 4)
		return lint_finding(c, file, lineno, "syntax",
				    "unknown type '%.40s'; use auth, account, password or session",
				    w[0]);
	if (lint_control_parse(w[1], &ct, why, sizeof(why)) != 0 &&
	    strcasecmp(w[1], "include") != 0 && strcasecmp(w[1], "substack") != 0) {
		rc = lint_finding(c, file, lineno, "syntax", "%s; PAM would not load this line",
				  why);
		if (rc != 0)
			return rc;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap != 0 ? c->cap * 2 : 32;
		struct lint_line *nl = realloc(c->l, ncap * sizeof(*nl));

		if (nl == NULL)
			return AG_ERR_NOMEM;
		c->l = nl;
		c->cap = ncap;
	}
	l = &c->l[c->n];
	memset(l, 0, sizeof(*l));
	l->file = file;
	l->lineno = lineno;
	l->type = (enum lint_type)i;
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
	rc = lint_finding(c, file, lineno, "bad-argument",
			  "%s; fix it (pam_authguard(8)): preauth fails closed on a bad argument",
			  err);
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
static int load(struct lint_ctx *c, const char *file, const char *text, int depth)
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

/* ---- the entry points ---------------------------------------------------- */

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

static int sort_findings(struct lint_ctx *c)
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
	struct lint_ctx c;
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
		rc = lint_check(&c);
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

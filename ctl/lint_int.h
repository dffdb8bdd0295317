/* lint_int.h - internals of the PAM stack checker, shared by its files:
 * lint.c (controls, lines, @include expansion, findings and the entry
 * points of lint.h) and lint_rules.c (the rules run over the expanded
 * stack). Not for other callers: they use lint.h.
 *
 * Ownership: struct lint_ctx owns its lines and the names of the files met;
 * a line's file is borrowed from that list. Findings belong to the caller's
 * struct ag_lint_report.
 */
#ifndef CTL_LINT_INT_H
#define CTL_LINT_INT_H

#include <stddef.h>
#include "lint.h"

/* The PAM return codes a control may name (codes[] in lint.c), "default"
 * last. */
#define LINT_N_CODES	  33
#define LINT_CODE_DEFAULT (LINT_N_CODES - 1)

/* Actions; a jump is stored as its positive count. */
enum {
	LINT_ACT_UNSET = 0,
	LINT_ACT_IGNORE = -1,
	LINT_ACT_OK = -2,
	LINT_ACT_DONE = -3,
	LINT_ACT_BAD = -4,
	LINT_ACT_DIE = -5,
	LINT_ACT_RESET = -6
};

/* A parsed control: the action for each code in codes[] order, act[0] for
 * success, LINT_ACT_UNSET where the control names none (the default
 * applies). */
struct lint_control {
	int act[LINT_N_CODES];
};

enum lint_type { LINT_T_AUTH, LINT_T_ACCOUNT, LINT_T_PASSWORD, LINT_T_SESSION };

struct lint_line {
	const char *file; /* borrowed from struct lint_ctx.files */
	unsigned lineno;
	enum lint_type type;
	char *control;	 /* "requisite" or "[...]" as written */
	char module[64]; /* basename without ".so" */
	int argc;
	char **argv;
	int is_ag; /* pam_authguard */
	int phase; /* enum ag_phase, when is_ag */
};

struct lint_ctx {
	const struct ag_lint_reader *rd;
	struct ag_lint_report *out;
	size_t first; /* out->f[first..] are this file's findings */
	char **files; /* every file name met, owned */
	size_t nfiles;
	const char *stack[AG_LINT_MAX_DEPTH + 1]; /* the @include chain, for cycles */
	struct lint_line *l;
	size_t n, cap;
	int fragment; /* a common-* file: its account line is in common-account */
};

/* ---- lint.c ---- */

/* Appends to c->out a finding of rule (static) at file:line (file is
 * copied) with the message fmt formats. 0 or AG_ERR_NOMEM. */
int lint_finding(struct lint_ctx *c, const char *file, unsigned line, const char *rule,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6), warn_unused_result));

/* Fills *ct from "requisite" or "[k=v ...]"; keywords as Linux-PAM expands
 * them. Returns 0 or AG_ERR_INVAL with the bad word in why (whylen bytes,
 * always terminated). */
int lint_control_parse(const char *s, struct lint_control *ct, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* The action *ct takes for the return code named code: its own, or the
 * default when it names none. */
int lint_action_of(const struct lint_control *ct, const char *code);

/* ---- lint_rules.c ---- */

/* Runs the rules over the expanded lines c->l[0..c->n) and appends what
 * they find to c->out. 0 or AG_ERR_NOMEM. */
int lint_check(struct lint_ctx *c) __attribute__((warn_unused_result));

#endif

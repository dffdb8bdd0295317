/* lint.h - check PAM service files for stacks that weaken or break the gate.
 *
 * "authguardctl lint" reads a service file, expands its @include lines and
 * reports the mistakes that PAM itself accepts silently: a preauth that does
 * not end the stack, a backend that may prompt again behind the gate, jump
 * counts that land a wrong password anywhere but authfail, trust granted
 * before the last factor, a missing account line, bad module arguments, and
 * report lines out of order. The checker works on text: the only I/O is the
 * reader it is given for @include, so that tests feed it strings.
 */
#ifndef AG_LINT_H
#define AG_LINT_H

#include <stddef.h>

#define AG_LINT_MAX_DEPTH 8	    /* nested @include levels */
#define AG_LINT_MAX_FILE  (1 << 20) /* bytes read from one service file */

struct ag_lint_finding {
	char *file;	  /* the file the line is in (an included one, maybe) */
	unsigned line;	  /* 1-based; the first line of a continued line */
	const char *rule; /* static: "preauth-control", "first-pass", ... */
	char *msg;	  /* "what is wrong; what to do" */
};

struct ag_lint_report {
	struct ag_lint_finding *f; /* grouped by file (in order met), then by line */
	size_t n;
};

/* Reads the file an "@include NAME" line names, seen in file FROM. Sets
 * *path (the name to show in findings and to detect cycles with) and *text
 * (NUL-terminated), both malloc'ed and the caller's to free. Returns 0,
 * AG_ERR_NOTFOUND, or another AG_ERR_* code. */
struct ag_lint_reader {
	int (*read)(void *ctx, const char *name, const char *from, char **path, char **text);
	void *ctx;
};

/* Checks one service file: file names it in the findings, text is its
 * content. rd resolves @include (NULL: every @include is a finding).
 * Findings are appended to *out (which starts as {NULL, 0}). Returns 0 (check
 * out->n for problems) or AG_ERR_NOMEM. */
int ag_lint_text(const char *file, const char *text, const struct ag_lint_reader *rd,
		 struct ag_lint_report *out) __attribute__((warn_unused_result));

/* Frees what *r owns (NULL allowed) and clears it. */
void ag_lint_report_free(struct ag_lint_report *r);

/* lint_file.c: the file system side, for the CLI and the tests. */

/* Reads a whole file of at most AG_LINT_MAX_FILE bytes into *text (malloc'ed,
 * NUL-terminated; a NUL byte inside is AG_ERR_INVAL). 0, AG_ERR_NOTFOUND,
 * AG_ERR_TOOBIG, AG_ERR_INVAL, AG_ERR_NOMEM or AG_ERR_IO. */
int ag_lint_read_file(const char *path, char **text) __attribute__((warn_unused_result));

/* The reader the CLI uses: NAME as given when absolute, else in FROM's
 * directory, then in /etc/pam.d (what Linux-PAM does). ctx is unused. */
int ag_lint_fs_read(void *ctx, const char *name, const char *from, char **path, char **text)
    __attribute__((warn_unused_result));

/* Every regular file in dir whose content mentions pam_authguard, sorted
 * by name: *paths (malloc'ed array of malloc'ed strings, *n entries).
 * 0, AG_ERR_NOTFOUND (no such directory), AG_ERR_NOMEM or AG_ERR_IO. */
int ag_lint_discover(const char *dir, char ***paths, size_t *n) __attribute__((warn_unused_result));

#endif

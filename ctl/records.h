/* records.h - the governor's admin replies as records (records.c): parsed
 * from logfmt lines, printed for people or as one JSON object.
 */
#ifndef AG_CTL_RECORDS_H
#define AG_CTL_RECORDS_H

#include <stddef.h>

struct ctl_kv {
	char *key;
	char *val; /* unescaped; may hold NUL bytes */
	size_t vlen;
	char *raw; /* as received (escaped): printable */
};

struct ctl_rec {
	char *kind;
	struct ctl_kv *kv;
	size_t n;
};

struct ctl_recs {
	struct ctl_rec *r;
	size_t n;
};

/* Out of memory: a message and exit status 1. */
void ctl_die_nomem(void) __attribute__((noreturn));
/* realloc and strndup that never return NULL (they exit instead). */
void *ctl_xrealloc(void *p, size_t n);
char *ctl_xstrndup(const char *s, size_t n);

/* Parses text[0..len) (lines; empty lines skipped) into *rs, which the
 * caller frees with ctl_recs_free also on failure. 0, or AG_ERR_PROTO for a
 * line that is not "kind=NAME key=value ...". */
int ctl_recs_parse(const char *text, size_t len, struct ctl_recs *rs);
void ctl_recs_free(struct ctl_recs *rs);

/* The value of key in r (NULL when absent), unescaped. */
const char *ctl_rec_get(const struct ctl_rec *r, const char *key);

/* The first record of kind in rs, or NULL. */
const struct ctl_rec *ctl_recs_find(const struct ctl_recs *rs, const char *kind);

/* For people: a block per kind, in the order first seen; one record as
 * "key: value" lines, several as a table. Nothing a peer chose reaches the
 * terminal raw. */
void ctl_print_human(const struct ctl_recs *rs);

/* One JSON object: a member per kind; a record, or an array of them for the
 * kinds that repeat (step, entry, offender, state). always (may be NULL)
 * names a kind that appears as [] when the reply has none of it. */
void ctl_print_json(const struct ctl_recs *rs, const char *always);

#endif

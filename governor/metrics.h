/* metrics.h - the governor's counters in the Prometheus text format, for
 * the "metrics" admin command and GET /metrics on metrics_listen. */
#ifndef GOV_METRICS_H
#define GOV_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct gov;

#define GOV_METRICS_MAX 32768 /* the whole exposition, with room to spare */

/* Writes the exposition (format 0.0.4: HELP, TYPE, then samples, one per
 * line, each ending in '\n') into buf and its length into *len, cleared on
 * entry. No label carries a user name or an address. 0, or AG_ERR_TOOBIG
 * when cap is too small (buf then holds whole lines only). */
int gov_metrics_render(const struct gov *g, char *buf, size_t cap, size_t *len)
    __attribute__((warn_unused_result));

/* Opens the HTTP listener on g->conf->metrics_listen, if set: GET /metrics
 * answers the exposition, any other path 404. Called once at start; a
 * reload does not re-bind. 0, or an AG_ERR_* code after logging why. */
int gov_metrics_listen(struct gov *g) __attribute__((warn_unused_result));

/* Closes the listener and its connections; safe when none is open. */
void gov_metrics_close(struct gov *g);

/* ---- top offenders ---- */

#define GOV_TOP_SLOTS	256
#define GOV_TOP_BUCKETS 512 /* a power of two */
#define GOV_TOP_NAME	320 /* a user name or a source key, cut to fit */

struct gov_top_row {
	uint32_t hash; /* of name; 0 only for an unused row */
	int16_t next;  /* next row + 1 in its bucket, 0 at the end */
	uint64_t denials, failures;
	char name[GOV_TOP_NAME];
};

/* A bounded count of denials and reported failures per name (sources, or
 * users): when every row is taken, a new name replaces the row with the
 * smallest denials + failures, so that heavy hitters stay and a flood of
 * names churns one row. Counts of a name that entered late are lower
 * bounds. Zeroed = empty. */
struct gov_top {
	struct gov_top_row rows[GOV_TOP_SLOTS];
	int n;
	int16_t head[GOV_TOP_BUCKETS]; /* first row + 1 per hash bucket, 0 = none */
	int min, min_valid;            /* the row with the smallest count, if known */
};

/* Counts one denial (failure 0) or one reported failure (failure 1) for
 * name (NUL-terminated; NULL or "" is ignored). */
void gov_top_count(struct gov_top *t, const char *name, int failure);

/* Empties t. */
void gov_top_clear(struct gov_top *t);

#endif

/* top.h - the bounded offender tables behind "authguardctl top": denials
 * and reported failures per name (sources in one table, users in another),
 * in all and per minute for the last hour and per hour for the last day, so
 * that top can also answer "since D".
 */
#ifndef GOV_TOP_H
#define GOV_TOP_H

#include <stdint.h>

#define GOV_TOP_SLOTS	256
#define GOV_TOP_BUCKETS 512 /* a power of two */
#define GOV_TOP_NAME	320 /* a user name or a source key, cut to fit */
#define GOV_TOP_MINUTES 60  /* per-minute counts kept: the last hour */
#define GOV_TOP_HOURS	24  /* per-hour counts kept: the last day */
#define GOV_TOP_SINCE_MAX_MS (INT64_C(24) * 3600 * 1000)

struct gov_top_row {
	uint32_t hash; /* of name; 0 only for an unused row */
	int16_t next;  /* next row + 1 in its bucket, 0 at the end */
	uint64_t denials, failures;
	int64_t minute; /* the minute (monotonic ms / 60000) of the last count */
	uint32_t min_d[GOV_TOP_MINUTES], min_f[GOV_TOP_MINUTES]; /* by minute % 60 */
	uint32_t hour_d[GOV_TOP_HOURS], hour_f[GOV_TOP_HOURS];	 /* by hour % 24 */
	char name[GOV_TOP_NAME];
};

/* A bounded count of denials and reported failures per name: when every row
 * is taken, a new name replaces the row with the smallest denials +
 * failures, so that heavy hitters stay and a flood of names churns one row.
 * Counts of a name that entered late are lower bounds. Zeroed = empty. */
struct gov_top {
	struct gov_top_row rows[GOV_TOP_SLOTS];
	int n;
	int16_t head[GOV_TOP_BUCKETS]; /* first row + 1 per hash bucket, 0 = none */
	int min, min_valid;            /* the row with the smallest count, if known */
};

/* Counts one denial (failure 0) or one reported failure (failure 1) for
 * name (NUL-terminated; NULL or "" is ignored) at now_ms (monotonic). */
void gov_top_count(struct gov_top *t, const char *name, int failure, int64_t now_ms);

/* The row's denials and failures over the last since_ms before now_ms
 * (monotonic): since_ms <= 0 means in all; up to an hour it is counted in
 * whole minutes, up to GOV_TOP_SINCE_MAX_MS in whole hours, taking every
 * bucket the span touches (so at least since_ms, at most one bucket more).
 * Longer spans count in all. */
void gov_top_since(const struct gov_top_row *r, int64_t since_ms, int64_t now_ms,
		   uint64_t *denials, uint64_t *failures);

/* Empties t. */
void gov_top_clear(struct gov_top *t);

#endif

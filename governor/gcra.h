/* gcra.h - the generic cell rate algorithm (docs/design.md rule 3, FIELD.md),
 * as pure integer arithmetic.
 *
 * With count attempts per period and a burst b: T = period / count,
 * tau = T * b. On an attempt at now: tat = max(stored, now); new_tat = tat + T;
 * deny when new_tat - tau > now (retry = new_tat - tau - now, nothing stored),
 * else allow and store new_tat. From idle exactly b back-to-back attempts pass
 * and the next waits T.
 *
 * Representation: a TAT is kept exactly, as us + frac / count microseconds
 * (0 <= frac < count). T = period_ms * 1000 / count us is rarely a whole
 * number (7/min: 8571428 + 4/7 us); carrying the remainder in frac means a
 * stream held at the rate never drifts, however long it lasts. `now` comes in
 * whole ms; retry_ms is rounded up, so that an attempt made retry_ms later is
 * allowed.
 */
#ifndef GOV_GCRA_H
#define GOV_GCRA_H

#include <stdint.h>
#include "ag_conf.h"

/* Bounds that keep every intermediate value inside 64 bits. */
#define GOV_GCRA_COUNT_MAX  INT64_C(1000000000)
#define GOV_GCRA_PERIOD_MAX (INT64_C(366) * 86400 * 1000)

/* A stored theoretical arrival time; {0, 0} means none (idle). */
struct gov_tat {
	int64_t us;   /* whole microseconds since the epoch */
	int64_t frac; /* plus frac / count of a microsecond; a value outside
			 [0, count) (the rate changed) is read as 0 */
};

struct gov_gcra_res {
	int allowed;	    /* 1: allow (store tat), 0: deny */
	int64_t retry_ms;   /* when denied: ceil((new_tat - tau - now) / 1 ms) > 0; else 0 */
	int64_t tokens;	    /* attempts that would pass back to back from now, before this one */
	struct gov_tat tat; /* when allowed: the new TAT to store; else the stored one */
};

/* Applies one attempt at now_ms to the stored TAT (NULL = none). *out is
 * cleared first. A stored TAT beyond now + tau + T (left by a larger rate
 * before a reload, or a damaged state file) is read as now + tau: the key
 * waits at most one full burst under the new rate. Returns 0, or
 * AG_ERR_INVAL when count, period or burst is below 1 or the products would
 * not fit in 64 bits. */
int gov_gcra(const struct ag_rate *rate, int64_t burst, const struct gov_tat *stored,
	     int64_t now_ms, struct gov_gcra_res *out) __attribute__((warn_unused_result));

/* 1 if the rate and burst are usable by gov_gcra, else 0. */
int gov_gcra_valid(const struct ag_rate *rate, int64_t burst);

/* 1 if the stored TAT has passed (the key is idle at now_ms and may be
 * forgotten), else 0. */
int gov_gcra_idle(const struct gov_tat *tat, int64_t now_ms);

#endif

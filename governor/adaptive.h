/* adaptive.h - max_inflight = auto: the host's slot limit learnt from how
 * long the backend takes (adaptive.c).
 *
 * Pure bookkeeping, no I/O and no clock of its own (callers pass the
 * monotonic ms), so it is unit-tested on its own (tests/test_adaptive.c).
 *
 * Inputs: each report from the privileged socket gives the backend's time
 * (backend_ms) and whether the backend was unavailable (authunavail);
 * admissions and queueing say whether the limit is what holds attempts
 * back. Every tick (GOV_ADAPT_TICK_MS) with enough samples:
 *
 *   - the backend was unavailable, or the tick's median backend time is
 *     above GOV_ADAPT_TOLERANCE times the baseline: the limit shrinks by a
 *     tenth (at least 1);
 *   - else, if the limit was reached (an attempt waited for a slot, or the
 *     slots were all taken): it grows by sqrt(limit) while the median is
 *     within GOV_ADAPT_NEAR_PCT of the baseline, by 1 above that;
 *   - else it stays.
 * A tick with fewer than GOV_ADAPT_MIN_SAMPLES reports runs on (a slow
 * backend reports seldom), so the limit moves on evidence only, except
 * that an unavailable backend shrinks it at once, by a fifth.
 *
 * The baseline is the backend's time with nothing queued in front: the
 * smallest tick median seen since the last probe. A backend kept saturated
 * never shows it, so every GOV_ADAPT_PROBE_MS the limit is halved for one
 * tick (a probe): with at most as many attempts as workers, nothing queues,
 * and the probe's median is the new baseline. (The governor halves only
 * what clean and failing sources may use: trusted pairs keep every slot
 * through a probe; loop.c.) That is also how a backend
 * that became slower for good is learnt: within one probe period.
 *
 * Little's law is the reason for all of it: a backend with W workers and S
 * ms per check answers W/S per ms; every slot beyond W is a queue in front
 * of it and adds S/W to every attempt. Holding the median within 1.3 times
 * S keeps that queue at about a third of W on average. (1.5 let the flood
 * benchmark's backend queue reach W + 1; 1.3 kept it at W, with the same
 * backend throughput.)
 */
#ifndef GOV_ADAPTIVE_H
#define GOV_ADAPTIVE_H

#include <stdint.h>

#define GOV_ADAPT_TICK_MS     1000
#define GOV_ADAPT_PROBE_MS    10000
#define GOV_ADAPT_MIN_SAMPLES 4    /* a tick runs on until it has these */
#define GOV_ADAPT_TICKS_MAX   10   /* ... for at most this many ticks */
#define GOV_ADAPT_TOLERANCE_PCT 130
#define GOV_ADAPT_NEAR_PCT    110  /* below this, grow by sqrt(limit); else by 1 */
#define GOV_ADAPT_SAMPLES     256  /* kept per tick for the median; more are sampled */

struct gov_adaptive {
	int on;			/* max_inflight = auto */
	int64_t min, max;	/* the limit's bounds */
	int64_t limit;		/* what admit uses now */
	int64_t held;		/* the limit a probe halved, restored after it */
	int probing;		/* this tick is a probe */
	int64_t baseline_ms;	/* 0 until learnt */
	int64_t last_median_ms; /* the last tick's, for status */
	int64_t next_probe_ms;	/* monotonic */
	int64_t tick_start_ms;
	/* this tick */
	uint32_t samples[GOV_ADAPT_SAMPLES];
	int64_t nsamples, seen;
	int64_t unavail;
	int binding; /* the limit held an attempt back */
	/* counters for status and metrics */
	uint64_t shrinks, grows, probes;
};

/* Starts at min (the safe end: nothing queues while the baseline is learnt;
 * it grows within seconds under load). on = 0: a fixed limit, the calls
 * below do nothing and limit stays fixed_limit. */
void gov_adaptive_init(struct gov_adaptive *a, int on, int64_t fixed_limit, int64_t min,
		       int64_t max, int64_t now_ms);

/* A reload: new bounds (the limit is clamped into them) or a switch between
 * auto and fixed. */
void gov_adaptive_configure(struct gov_adaptive *a, int on, int64_t fixed_limit, int64_t min,
			    int64_t max, int64_t now_ms);

/* A report's backend time; unavail: the backend did not answer. */
void gov_adaptive_report(struct gov_adaptive *a, int64_t backend_ms, int unavail);

/* An attempt found no free slot for its class (it queued, or was shed). */
void gov_adaptive_binding(struct gov_adaptive *a);

/* Ends the tick when GOV_ADAPT_TICK_MS have passed; *changed is set when
 * the limit moved. rng: a random 32-bit value (the probe's jitter). */
void gov_adaptive_tick(struct gov_adaptive *a, int64_t now_ms, uint32_t rng, int *changed);

#endif

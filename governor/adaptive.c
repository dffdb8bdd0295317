/* adaptive.c - max_inflight = auto (see adaptive.h for the rule and why). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "adaptive.h"

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* floor(sqrt(n)) for n >= 0, without libm. */
static int64_t isqrt(int64_t n)
{
	int64_t r = 0;

	while ((r + 1) * (r + 1) <= n)
		r++;
	return r;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static int64_t median(struct gov_adaptive *a)
{
	qsort(a->samples, (size_t)a->nsamples, sizeof(a->samples[0]), cmp_u32);
	return a->samples[a->nsamples / 2];
}

static void tick_reset(struct gov_adaptive *a, int64_t now_ms)
{
	a->nsamples = a->seen = a->unavail = 0;
	a->binding = 0;
	a->tick_start_ms = now_ms;
}

void gov_adaptive_configure(struct gov_adaptive *a, int on, int64_t fixed_limit, int64_t min,
			    int64_t max, int64_t now_ms)
{
	int was = a->on;

	a->on = on;
	a->min = min < 1 ? 1 : min;
	a->max = max < a->min ? a->min : max;
	if (!on) {
		a->limit = fixed_limit < 1 ? 1 : fixed_limit;
		a->probing = 0;
		return;
	}
	if (!was) {
		a->limit = a->min;
		a->baseline_ms = 0;
		a->probing = 0;
		a->next_probe_ms = now_ms + GOV_ADAPT_PROBE_MS;
		tick_reset(a, now_ms);
	}
	a->limit = clamp64(a->limit, a->min, a->max);
	a->held = clamp64(a->held, a->min, a->max);
}

void gov_adaptive_init(struct gov_adaptive *a, int on, int64_t fixed_limit, int64_t min,
		       int64_t max, int64_t now_ms)
{
	memset(a, 0, sizeof(*a));
	gov_adaptive_configure(a, on, fixed_limit, min, max, now_ms);
}

void gov_adaptive_report(struct gov_adaptive *a, int64_t backend_ms, int unavail)
{
	uint64_t j;

	if (!a->on)
		return;
	if (unavail) {
		a->unavail++;
		return;
	}
	if (backend_ms < 0)
		return;
	if (backend_ms > UINT32_MAX)
		backend_ms = UINT32_MAX;
	a->seen++;
	if (a->nsamples < GOV_ADAPT_SAMPLES) {
		a->samples[a->nsamples++] = (uint32_t)backend_ms;
		return;
	}
	/* Beyond the array, every sample keeps an equal chance of being kept
	 * (reservoir sampling) with a multiplicative hash of the count as the
	 * draw: good enough for a median, and no state of its own. */
	j = ((uint64_t)a->seen * 0x9E3779B97F4A7C15ull) >> 32;
	j %= (uint64_t)a->seen;
	if (j < GOV_ADAPT_SAMPLES)
		a->samples[j] = (uint32_t)backend_ms;
}

void gov_adaptive_binding(struct gov_adaptive *a)
{
	a->binding = 1;
}

/* The end of a probe: its median is the baseline, the limit comes back. */
static void probe_end(struct gov_adaptive *a, int enough, int64_t med)
{
	if (enough && a->unavail == 0)
		a->baseline_ms = med;
	a->limit = a->held;
	a->probing = 0;
}

void gov_adaptive_tick(struct gov_adaptive *a, int64_t now_ms, uint32_t rng, int *changed)
{
	int64_t before = a->limit, med = 0, step;
	int enough;

	*changed = 0;
	/* 10% early is on time: the caller's timer has the same period. */
	if (!a->on || (now_ms - a->tick_start_ms) * 10 < GOV_ADAPT_TICK_MS * 9)
		return;
	enough = a->nsamples >= GOV_ADAPT_MIN_SAMPLES;
	/* A slow backend gives few reports a tick: the tick runs on (up to
	 * GOV_ADAPT_TICKS_MAX) until it has enough, so the limit only moves on
	 * evidence; an unavailable backend needs none. */
	if (!enough && a->unavail == 0 && !a->probing &&
	    now_ms - a->tick_start_ms < GOV_ADAPT_TICKS_MAX * GOV_ADAPT_TICK_MS)
		return;
	if (enough)
		med = median(a);
	a->last_median_ms = enough ? med : a->last_median_ms;
	if (a->probing) {
		probe_end(a, enough, med);
	} else if (a->unavail > 0) {
		step = a->limit / 5;
		a->limit -= step < 1 ? 1 : step;
		a->shrinks++;
	} else if (enough && a->baseline_ms > 0 &&
		   med * 100 > a->baseline_ms * GOV_ADAPT_TOLERANCE_PCT) {
		step = a->limit / 10;
		a->limit -= step < 1 ? 1 : step;
		a->shrinks++;
	} else if (enough && a->binding && a->baseline_ms > 0) {
		/* Far from the tolerance, by sqrt(limit); near it, by one: a
		 * tick's reports lag its limit by a backend time, and large
		 * steps there overshoot. */
		step = med * 100 <= a->baseline_ms * GOV_ADAPT_NEAR_PCT ? isqrt(a->limit) : 1;
		a->limit += step < 1 ? 1 : step;
		a->grows++;
	}
	/* The first tick with enough samples at the starting limit (min):
	 * nothing was queued, so its median is the baseline. */
	if (enough && a->baseline_ms == 0 && a->unavail == 0)
		a->baseline_ms = med;
	if (enough && med < a->baseline_ms)
		a->baseline_ms = med;
	a->limit = clamp64(a->limit, a->min, a->max);
	if (!a->probing && now_ms >= a->next_probe_ms) {
		/* Probe: half the slots for one tick, so that nothing queues at
		 * the backend and its own time shows. Jittered, so that a fleet
		 * does not probe in step. */
		a->held = a->limit;
		a->limit = a->limit / 2 < a->min ? a->min : a->limit / 2;
		a->probing = 1;
		a->probes++;
		a->next_probe_ms = now_ms + GOV_ADAPT_PROBE_MS + (int64_t)(rng % 2000);
	}
	*changed = a->limit != before;
	tick_reset(a, now_ms);
}

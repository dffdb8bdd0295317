/* gcra.c - GCRA in exact integer arithmetic (see gcra.h).
 *
 * Inside, times are offsets from now in units of 1/count us ("ticks"), so
 * T = period_ms * 1000 ticks and tau = burst * T ticks are whole numbers and
 * no rounding happens until retry_ms is reported.
 */
#include "config.h"
#include <string.h>
#include "ag_err.h"
#include "gcra.h"

struct gcra_par {
	int64_t n;   /* count: ticks per us */
	int64_t t;   /* emission interval in ticks (period in us) */
	int64_t tau; /* tolerance in ticks */
};

static int gcra_par(const struct ag_rate *rate, int64_t burst, struct gcra_par *p)
{
	int64_t room, need;

	if (rate == NULL || rate->count < 1 || rate->count > GOV_GCRA_COUNT_MAX ||
	    rate->period_ms < 1 || rate->period_ms > GOV_GCRA_PERIOD_MAX || burst < 1)
		return AG_ERR_INVAL;
	p->n = rate->count;
	p->t = rate->period_ms * 1000;
	/* Offsets reach tau + T + 2n, and retry rounding adds 1000n: all must fit. */
	if (__builtin_mul_overflow(burst + 1, p->t, &need) ||
	    __builtin_add_overflow(need, 1002 * p->n, &room))
		return AG_ERR_INVAL;
	p->tau = burst * p->t;
	return 0;
}

int gov_gcra_valid(const struct ag_rate *rate, int64_t burst)
{
	struct gcra_par p;

	return gcra_par(rate, burst, &p) == 0;
}

int gov_gcra_idle(const struct gov_tat *tat, int64_t now_ms)
{
	int64_t now_us = now_ms * 1000;

	if (tat->us < now_us)
		return 1;
	return tat->us == now_us && tat->frac <= 0;
}

/* How far the stored TAT lies ahead of now, in ticks; 0 when it has passed. */
static int64_t ahead_ticks(const struct gcra_par *p, const struct gov_tat *st, int64_t now_us)
{
	int64_t frac, diff;

	if (st == NULL || st->us < now_us)
		return 0;
	frac = (st->frac >= 0 && st->frac < p->n) ? st->frac : 0;
	diff = st->us - now_us;
	if (diff > p->tau / p->n + 1)
		return p->tau;
	return diff * p->n + frac;
}

int gov_gcra(const struct ag_rate *rate, int64_t burst, const struct gov_tat *stored,
	     int64_t now_ms, struct gov_gcra_res *out)
{
	struct gcra_par p;
	int64_t now_us, d, nd, unit;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = gcra_par(rate, burst, &p);
	if (rc != 0)
		return rc;
	if (now_ms < 0 || now_ms > INT64_MAX / 1000 - GOV_GCRA_PERIOD_MAX)
		return AG_ERR_INVAL;
	now_us = now_ms * 1000;
	if (stored != NULL)
		out->tat = *stored;
	d = ahead_ticks(&p, stored, now_us);
	out->tokens = d <= p.tau ? (p.tau - d) / p.t : 0;
	nd = d + p.t;
	if (nd > p.tau) {
		unit = p.n * 1000; /* ticks per ms */
		out->retry_ms = (nd - p.tau + unit - 1) / unit;
		return 0;
	}
	out->allowed = 1;
	out->tat.us = now_us + nd / p.n;
	out->tat.frac = nd % p.n;
	return 0;
}

/* backoff.c - exponential holds with jitter, capped (see backoff.h). */
#include "config.h"
#include "backoff.h"

int64_t gov_backoff_hold(int64_t n, int64_t nfree, int64_t base_ms, int64_t max_ms, int jitter_pm)
{
	int64_t e, hold, inc;

	if (nfree < 0)
		nfree = 0;
	if (n <= nfree || max_ms <= 0)
		return 0;
	if (base_ms < 1)
		base_ms = 1;
	e = n - nfree - 1; /* n > nfree, so e >= 0 and no overflow */
	if (e >= 62 || base_ms > (max_ms >> e))
		hold = max_ms;
	else
		hold = base_ms << e;
	if (jitter_pm > GOV_JITTER_MAX)
		jitter_pm = GOV_JITTER_MAX;
	if (jitter_pm < -GOV_JITTER_MAX)
		jitter_pm = -GOV_JITTER_MAX;
	/* hold <= max_ms; dividing first keeps the product in range for any max. */
	inc = (hold / 1000) * jitter_pm + (hold % 1000) * jitter_pm / 1000;
	if (inc > max_ms - hold)
		hold = max_ms;
	else
		hold += inc;
	return hold < 1 ? 1 : hold;
}

int64_t gov_backoff_forget_at(int64_t last_fail, int64_t hold_until, int64_t window_ms)
{
	int64_t t = last_fail > hold_until ? last_fail : hold_until;

	if (window_ms < 0)
		window_ms = 0;
	if (t > INT64_MAX - window_ms)
		return INT64_MAX;
	return t + window_ms;
}

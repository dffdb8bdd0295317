/* backoff.h - the growing holds of rule 2 (per pair) and of user_cap (per
 * user), as pure arithmetic on ms. */
#ifndef GOV_BACKOFF_H
#define GOV_BACKOFF_H

#include <stdint.h>

#define GOV_JITTER_MAX 200 /* permille either way */

/* The hold after the n-th consecutive failure when the first `nfree` cost
 * nothing: 0 when n <= nfree, else min(base * 2^(n - nfree - 1), max), then
 * scaled by (1000 + jitter_pm) / 1000 (jitter_pm clamped to +-GOV_JITTER_MAX)
 * and capped again at max, so that a hold never exceeds the configured max;
 * at least 1 ms. Saturates for any n (no overflow). With nfree = 3: failures
 * 4, 5, 6 hold base, 2 base, 4 base.
 * The user cap uses the same curve: gov_backoff_hold(ucfail,
 * user_max_failures, cap_hold_base, cap_hold_max, jitter). */
int64_t gov_backoff_hold(int64_t n, int64_t nfree, int64_t base_ms, int64_t max_ms, int jitter_pm);

/* When failures are forgotten: max(last_fail, hold_until) + window. */
int64_t gov_backoff_forget_at(int64_t last_fail, int64_t hold_until, int64_t window_ms);

#endif

/* test_gcra.c - GCRA arithmetic: the burst boundary, the steady rate,
 * recovery after idle, and no drift at rates whose interval is not a whole
 * number of microseconds. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "ag_err.h"
#include "gcra.h"

#define T0 INT64_C(1700000000000)

static const struct ag_rate per_min60 = {60, 60000}; /* T = 1000 ms */
static const struct ag_rate per_min7 = {7, 60000};   /* T = 8571.428... ms */

/* One attempt at now against *tat; stores the new TAT when allowed. */
static int attempt(const struct ag_rate *r, int64_t burst, struct gov_tat *tat, int64_t now,
		   int64_t *retry)
{
	struct gov_gcra_res res;

	assert_int_equal(gov_gcra(r, burst, tat, now, &res), 0);
	*retry = res.retry_ms;
	if (res.allowed) {
		assert_int_equal(res.retry_ms, 0);
		*tat = res.tat;
	} else {
		assert_true(res.retry_ms > 0);
		assert_int_equal(res.tat.us, tat->us);
	}
	return res.allowed;
}

static void test_burst_boundary(void **state)
{
	struct gov_tat tat = {0, 0};
	struct gov_gcra_res res;
	int64_t retry;
	int i;

	(void)state;
	for (i = 0; i < 20; i++) {
		assert_int_equal(gov_gcra(&per_min60, 20, &tat, T0, &res), 0);
		assert_int_equal(res.tokens, 20 - i);
		assert_true(res.allowed);
		assert_int_equal(res.tat.us, (T0 + 1000 * (i + 1)) * 1000);
		tat = res.tat;
	}
	assert_int_equal(gov_gcra(&per_min60, 20, &tat, T0, &res), 0);
	assert_false(res.allowed);
	assert_int_equal(res.tokens, 0);
	assert_int_equal(res.retry_ms, 1000);
	/* One ms early is still denied, by exactly one ms. */
	assert_false(attempt(&per_min60, 20, &tat, T0 + 999, &retry));
	assert_int_equal(retry, 1);
	assert_true(attempt(&per_min60, 20, &tat, T0 + 1000, &retry));
}

static void test_burst_one(void **state)
{
	struct gov_tat tat = {0, 0};
	int64_t retry;

	(void)state;
	assert_true(attempt(&per_min60, 1, &tat, T0, &retry));
	assert_false(attempt(&per_min60, 1, &tat, T0, &retry));
	assert_int_equal(retry, 1000);
	assert_false(attempt(&per_min60, 1, &tat, T0 + 999, &retry));
	assert_int_equal(retry, 1);
	assert_true(attempt(&per_min60, 1, &tat, T0 + 1000, &retry));
}

static void test_steady_rate(void **state)
{
	struct gov_tat tat = {0, 0};
	int64_t retry, now = T0;
	int i, allowed = 0;

	(void)state;
	for (i = 0; i < 20; i++)
		assert_true(attempt(&per_min60, 20, &tat, now, &retry));
	/* Drained: one per second from now on, attempts every 100 ms. */
	for (now = T0 + 100; now <= T0 + 60000; now += 100)
		allowed += attempt(&per_min60, 20, &tat, now, &retry);
	assert_int_equal(allowed, 60);
}

static void test_recovery_after_idle(void **state)
{
	struct gov_tat tat = {0, 0};
	struct gov_gcra_res res;
	int64_t retry;
	int i;

	(void)state;
	for (i = 0; i < 20; i++)
		assert_true(attempt(&per_min60, 20, &tat, T0, &retry));
	assert_false(gov_gcra_idle(&tat, T0 + 19999));
	assert_true(gov_gcra_idle(&tat, T0 + 20000));
	/* Half the burst back after half of tau. */
	assert_int_equal(gov_gcra(&per_min60, 20, &tat, T0 + 10000, &res), 0);
	assert_int_equal(res.tokens, 10);
	for (i = 0; i < 20; i++)
		assert_true(attempt(&per_min60, 20, &tat, T0 + 20000, &retry));
	assert_false(attempt(&per_min60, 20, &tat, T0 + 20000, &retry));
	assert_int_equal(retry, 1000);
}

/* 7/min, burst 2, held at the rate: once the burst is spent, the k-th
 * further attempt passes at exactly ceil(k * 60000 / 7) ms, for ten thousand
 * attempts (about a day). (With burst 1 there is no tolerance: an attempt
 * that comes a fraction of a ms late restarts the schedule from now.) */
static void test_odd_rate_no_drift(void **state)
{
	struct gov_tat tat = {0, 0};
	int64_t retry, k, at;

	(void)state;
	assert_true(attempt(&per_min7, 2, &tat, T0, &retry));
	assert_true(attempt(&per_min7, 2, &tat, T0, &retry));
	assert_false(attempt(&per_min7, 2, &tat, T0, &retry));
	assert_int_equal(retry, 8572);
	for (k = 1; k <= 10000; k++) {
		at = T0 + (k * 60000 + 6) / 7;
		assert_false(attempt(&per_min7, 2, &tat, at - 1, &retry));
		assert_int_equal(retry, 1);
		assert_true(attempt(&per_min7, 2, &tat, at, &retry));
	}
}

/* Held at the rate with a burst, the stored TAT is exact: N * T from the
 * start, in whole us plus sevenths. */
static void test_odd_rate_exact_tat(void **state)
{
	struct gov_tat tat = {0, 0};
	int64_t retry, now = T0, n = 0, ticks;

	(void)state;
	while (n < 5000) {
		if (attempt(&per_min7, 5, &tat, now, &retry))
			n++;
		else
			now += retry;
	}
	ticks = n * 60000 * 1000; /* n * T in 1/7 us */
	assert_int_equal(tat.us, T0 * 1000 + ticks / 7);
	assert_int_equal(tat.frac, ticks % 7);
	/* The first denied retry after the burst is ceil(T) = 8572 ms. */
	tat.us = 0;
	tat.frac = 0;
	for (n = 0; n < 5; n++)
		assert_true(attempt(&per_min7, 5, &tat, T0, &retry));
	assert_false(attempt(&per_min7, 5, &tat, T0, &retry));
	assert_int_equal(retry, 8572);
}

static void test_invalid(void **state)
{
	struct gov_gcra_res res;
	struct ag_rate zero = {0, 60000}, noperiod = {10, 0}, big = {10, 60000};

	(void)state;
	res.allowed = 7;
	assert_int_equal(gov_gcra(&zero, 1, NULL, T0, &res), AG_ERR_INVAL);
	assert_int_equal(res.allowed, 0);
	assert_int_equal(gov_gcra(&noperiod, 1, NULL, T0, &res), AG_ERR_INVAL);
	assert_int_equal(gov_gcra(&per_min60, 0, NULL, T0, &res), AG_ERR_INVAL);
	assert_int_equal(gov_gcra(NULL, 1, NULL, T0, &res), AG_ERR_INVAL);
	assert_int_equal(gov_gcra(&big, INT64_MAX / 1000, NULL, T0, &res), AG_ERR_INVAL);
	assert_int_equal(gov_gcra(&per_min60, 1, NULL, -1, &res), AG_ERR_INVAL);
	assert_false(gov_gcra_valid(&zero, 1));
	assert_true(gov_gcra_valid(&per_min60, 20));
	assert_int_equal(gov_gcra(&per_min60, 1, NULL, T0, &res), 0);
	assert_true(res.allowed);
}

/* A TAT far ahead (a larger rate before a reload, a damaged file) waits one
 * burst at most; a remainder out of range is read as 0. */
static void test_stale_tat(void **state)
{
	struct gov_tat tat = {(T0 + 3600000) * 1000, 0};
	struct gov_gcra_res res;

	(void)state;
	assert_int_equal(gov_gcra(&per_min60, 20, &tat, T0, &res), 0);
	assert_false(res.allowed);
	assert_int_equal(res.retry_ms, 1000);
	tat.us = T0 * 1000;
	tat.frac = 1000; /* not < 60 */
	assert_int_equal(gov_gcra(&per_min60, 1, &tat, T0, &res), 0);
	assert_true(res.allowed);
	assert_int_equal(res.tat.us, (T0 + 1000) * 1000);
	assert_int_equal(res.tat.frac, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_boundary),    cmocka_unit_test(test_burst_one),
	    cmocka_unit_test(test_steady_rate),	      cmocka_unit_test(test_recovery_after_idle),
	    cmocka_unit_test(test_odd_rate_no_drift), cmocka_unit_test(test_odd_rate_exact_tat),
	    cmocka_unit_test(test_invalid),	      cmocka_unit_test(test_stale_tat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

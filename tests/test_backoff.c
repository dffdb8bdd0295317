/* test_backoff.c - growing holds: 1, 2, 4 ... after the free failures, the
 * cap, jitter bounds, huge counts, the forget time. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "backoff.h"

#define BASE 1000
#define MAX  600000

static void test_free_failures_cost_nothing(void **state)
{
	(void)state;
	assert_int_equal(gov_backoff_hold(0, 3, BASE, MAX, 0), 0);
	assert_int_equal(gov_backoff_hold(3, 3, BASE, MAX, 0), 0);
	assert_int_equal(gov_backoff_hold(3, 3, BASE, MAX, 200), 0);
	assert_int_equal(gov_backoff_hold(-5, 3, BASE, MAX, 0), 0);
}

static void test_doubling(void **state)
{
	(void)state;
	assert_int_equal(gov_backoff_hold(4, 3, BASE, MAX, 0), 1000);
	assert_int_equal(gov_backoff_hold(5, 3, BASE, MAX, 0), 2000);
	assert_int_equal(gov_backoff_hold(6, 3, BASE, MAX, 0), 4000);
	assert_int_equal(gov_backoff_hold(13, 3, BASE, MAX, 0), 512000);
	/* free = 0: the first failure already holds. */
	assert_int_equal(gov_backoff_hold(1, 0, BASE, MAX, 0), 1000);
	assert_int_equal(gov_backoff_hold(1, -4, BASE, MAX, 0), 1000);
}

static void test_cap(void **state)
{
	(void)state;
	assert_int_equal(gov_backoff_hold(14, 3, BASE, MAX, 0), MAX);
	assert_int_equal(gov_backoff_hold(15, 3, BASE, MAX, 0), MAX);
	assert_int_equal(gov_backoff_hold(4, 3, 2 * MAX, MAX, 0), MAX);
	/* The user cap is the same curve past user_max_failures. */
	assert_int_equal(gov_backoff_hold(101, 100, 60000, 3600000, 0), 60000);
	assert_int_equal(gov_backoff_hold(102, 100, 60000, 3600000, 0), 120000);
	assert_int_equal(gov_backoff_hold(107, 100, 60000, 3600000, 0), 3600000);
}

static void test_jitter(void **state)
{
	(void)state;
	assert_int_equal(gov_backoff_hold(4, 3, BASE, MAX, 200), 1200);
	assert_int_equal(gov_backoff_hold(4, 3, BASE, MAX, -200), 800);
	assert_int_equal(gov_backoff_hold(4, 3, BASE, MAX, 1), 1001);
	assert_int_equal(gov_backoff_hold(5, 3, 1001, MAX, 7), 2016);
	/* Clamped to +-200 permille. */
	assert_int_equal(gov_backoff_hold(4, 3, BASE, MAX, 900), 1200);
	assert_int_equal(gov_backoff_hold(4, 3, BASE, MAX, -1000), 800);
	/* Capped after jitter: never above max, and jitter still lowers it. */
	assert_int_equal(gov_backoff_hold(20, 3, BASE, MAX, 200), MAX);
	assert_int_equal(gov_backoff_hold(20, 3, BASE, MAX, -200), 480000);
	assert_int_equal(gov_backoff_hold(13, 3, BASE, MAX, 200), MAX);
	/* Never below 1 ms. */
	assert_int_equal(gov_backoff_hold(4, 3, 1, MAX, -200), 1);
	assert_int_equal(gov_backoff_hold(4, 3, 0, MAX, 0), 1);
}

static void test_huge(void **state)
{
	(void)state;
	assert_int_equal(gov_backoff_hold(INT64_MAX, 3, BASE, MAX, 0), MAX);
	assert_int_equal(gov_backoff_hold(INT64_MAX, 0, BASE, MAX, -200), 480000);
	assert_int_equal(gov_backoff_hold(66, 3, BASE, MAX, 0), MAX);
	assert_int_equal(gov_backoff_hold(INT64_MAX, 3, BASE, INT64_MAX, 200), INT64_MAX);
	assert_int_equal(gov_backoff_hold(INT64_MAX, 3, BASE, INT64_MAX, -200),
			 INT64_C(7378697629483820646));
}

static void test_forget_at(void **state)
{
	(void)state;
	assert_int_equal(gov_backoff_forget_at(1000, 0, 900000), 901000);
	assert_int_equal(gov_backoff_forget_at(1000, 5000, 900000), 905000);
	assert_int_equal(gov_backoff_forget_at(7000, 5000, 900000), 907000);
	assert_int_equal(gov_backoff_forget_at(INT64_MAX - 10, 0, 900000), INT64_MAX);
	assert_int_equal(gov_backoff_forget_at(10, 0, -5), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_free_failures_cost_nothing),
	    cmocka_unit_test(test_doubling),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_jitter),
	    cmocka_unit_test(test_huge),
	    cmocka_unit_test(test_forget_at),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

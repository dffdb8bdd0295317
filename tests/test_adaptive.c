/* test_adaptive.c - max_inflight = auto against a model backend.
 *
 * The model is the one issue #5 describes: W workers, S ms per check, a FIFO
 * in front, kept full by a flood. With the limit at L, min(L, W) checks run
 * at once and the rest queue: every attempt spends about S * max(1, L / W)
 * ms at the backend (Little's law), and the backend answers W / S per ms. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "adaptive.h"

struct model {
	int64_t workers, check_ms;
	int64_t now;
};

/* One tick of a saturated backend at the current limit: its reports, the
 * limit held back an attempt, then the tick. Returns the median time. */
static int64_t run_tick(struct gov_adaptive *a, struct model *m)
{
	int64_t busy = a->limit < m->workers ? a->limit : m->workers;
	int64_t n = busy * GOV_ADAPT_TICK_MS / m->check_ms, i, t;
	int changed;

	t = m->check_ms * a->limit / m->workers;
	if (t < m->check_ms)
		t = m->check_ms;
	for (i = 0; i < n; i++)
		gov_adaptive_report(a, t + (i % 3) - 1, 0);
	gov_adaptive_binding(a);
	m->now += GOV_ADAPT_TICK_MS;
	gov_adaptive_tick(a, m->now, (uint32_t)i, &changed);
	return t;
}

static void run_ticks(struct gov_adaptive *a, struct model *m, int n)
{
	while (n-- > 0)
		(void)run_tick(a, m);
}

/* The limit, ignoring a probe in progress (the held limit then). */
static int64_t settled(const struct gov_adaptive *a)
{
	return a->probing ? a->held : a->limit;
}

static void test_fixed_never_moves(void **state)
{
	struct gov_adaptive a;
	struct model m = {4, 50, 0};

	(void)state;
	gov_adaptive_init(&a, 0, 16, 2, 64, 0);
	run_ticks(&a, &m, 60);
	assert_int_equal(a.limit, 16);
	assert_int_equal(a.baseline_ms, 0);
}

/* Issue #5's backend: 4 workers x 50 ms. From min, the limit grows and
 * settles between the workers and twice them; no tick's queue at the
 * backend is ever more than the workers. */
static void test_settles_between_w_and_2w(void **state)
{
	struct gov_adaptive a;
	struct model m = {4, 50, 0};
	int i;

	(void)state;
	gov_adaptive_init(&a, 1, 0, 2, 64, 0);
	assert_int_equal(a.limit, 2);
	run_ticks(&a, &m, 20);
	assert_true(a.baseline_ms >= 49 && a.baseline_ms <= 51);
	for (i = 0; i < 120; i++) {
		run_tick(&a, &m);
		assert_true(settled(&a) >= 4 && settled(&a) <= 8);
		assert_true(a.limit - m.workers <= m.workers);
	}
	assert_true(a.probes >= 10);
}

/* A bigger backend is found too (64 workers x 20 ms), within a minute. */
static void test_finds_a_big_backend(void **state)
{
	struct gov_adaptive a;
	struct model m = {64, 20, 0};

	(void)state;
	gov_adaptive_init(&a, 1, 0, 2, 1000, 0);
	run_ticks(&a, &m, 60);
	assert_true(settled(&a) >= 64 && settled(&a) <= 128);
}

/* The backend slows from 50 to 200 ms a check: within 10 ticks the limit
 * is no larger than twice the workers, and after the next probe the new
 * baseline lets it use the workers again. */
static void test_follows_a_slowdown(void **state)
{
	struct gov_adaptive a;
	struct model m = {4, 50, 0};
	int i, ok = 0;

	(void)state;
	gov_adaptive_init(&a, 1, 0, 2, 64, 0);
	run_ticks(&a, &m, 40);
	m.check_ms = 200;
	for (i = 0; i < 10; i++)
		run_tick(&a, &m);
	assert_true(settled(&a) <= 8);
	for (i = 0; i < 30; i++) {
		run_tick(&a, &m);
		ok += settled(&a) >= 4 && settled(&a) <= 8;
	}
	assert_true(a.baseline_ms >= 190);
	assert_true(ok >= 20);
}

/* authunavail shrinks at once, by a fifth, down to min, and no further. */
static void test_unavailable_shrinks(void **state)
{
	struct gov_adaptive a;
	int64_t now = 0;
	int changed, i;

	(void)state;
	gov_adaptive_init(&a, 1, 0, 3, 64, 0);
	a.limit = 40;
	a.next_probe_ms = INT64_MAX;
	gov_adaptive_report(&a, 0, 1);
	now += GOV_ADAPT_TICK_MS;
	gov_adaptive_tick(&a, now, 0, &changed);
	assert_true(changed);
	assert_int_equal(a.limit, 32);
	for (i = 0; i < 30; i++) {
		gov_adaptive_report(&a, 0, 1);
		now += GOV_ADAPT_TICK_MS;
		gov_adaptive_tick(&a, now, 0, &changed);
	}
	assert_int_equal(a.limit, 3);
}

/* No evidence, no growth: without reports the limit stays, however many
 * attempts wait; a slow backend's few reports add up over ticks. */
static void test_no_growth_without_reports(void **state)
{
	struct gov_adaptive a;
	int64_t now = 0;
	int changed, i;

	(void)state;
	gov_adaptive_init(&a, 1, 0, 2, 64, 0);
	for (i = 0; i < 30; i++) {
		gov_adaptive_binding(&a);
		now += GOV_ADAPT_TICK_MS;
		gov_adaptive_tick(&a, now, 0, &changed);
	}
	assert_int_equal(a.limit, 2);
	assert_int_equal(a.baseline_ms, 0);
	/* One report a tick (2 s checks): the third tick still waits, the
	 * fourth has four and learns the baseline. */
	gov_adaptive_init(&a, 1, 0, 2, 64, now);
	a.next_probe_ms = INT64_MAX;
	for (i = 0; i < 3; i++) {
		gov_adaptive_report(&a, 2000, 0);
		now += GOV_ADAPT_TICK_MS;
		gov_adaptive_tick(&a, now, 0, &changed);
		assert_int_equal(a.baseline_ms, 0);
	}
	gov_adaptive_report(&a, 2000, 0);
	now += GOV_ADAPT_TICK_MS;
	gov_adaptive_tick(&a, now, 0, &changed);
	assert_int_equal(a.baseline_ms, 2000);
}

/* A reload clamps the limit into new bounds, and auto -> fixed -> auto
 * starts again from min. */
static void test_reconfigure(void **state)
{
	struct gov_adaptive a;
	struct model m = {16, 50, 0};

	(void)state;
	gov_adaptive_init(&a, 1, 0, 2, 64, 0);
	run_ticks(&a, &m, 30);
	assert_true(settled(&a) > 10);
	gov_adaptive_configure(&a, 1, 0, 2, 10, m.now);
	assert_true(a.limit <= 10);
	gov_adaptive_configure(&a, 0, 7, 2, 10, m.now);
	assert_int_equal(a.limit, 7);
	gov_adaptive_configure(&a, 1, 0, 5, 10, m.now);
	assert_int_equal(a.limit, 5);
}

/* More reports than the sample array: the median still follows them. */
static void test_many_samples(void **state)
{
	struct gov_adaptive a;
	int changed, i;

	(void)state;
	gov_adaptive_init(&a, 1, 0, 2, 64, 0);
	for (i = 0; i < 100000; i++)
		gov_adaptive_report(&a, i % 100 < 90 ? 10 : 1000, 0);
	gov_adaptive_tick(&a, GOV_ADAPT_TICK_MS, 0, &changed);
	assert_int_equal(a.last_median_ms, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_never_moves),
		cmocka_unit_test(test_settles_between_w_and_2w),
		cmocka_unit_test(test_finds_a_big_backend),
		cmocka_unit_test(test_follows_a_slowdown),
		cmocka_unit_test(test_unavailable_shrinks),
		cmocka_unit_test(test_no_growth_without_reports),
		cmocka_unit_test(test_reconfigure),
		cmocka_unit_test(test_many_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

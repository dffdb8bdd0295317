/* test_top.c - the bounded offender tables behind authguardctl top
 * (governor/top.c): counts per name, heavy hitters kept when names
 * churn, the bucket index kept right across replacements. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "top.h"

static const struct gov_top_row *row_of(const struct gov_top *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->rows[i].name, name) == 0)
			return &t->rows[i];
	return NULL;
}

static void test_counts(void **state)
{
	struct gov_top *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	gov_top_count(t, "alice", 0, 0);
	gov_top_count(t, "alice", 0, 0);
	gov_top_count(t, "alice", 1, 0);
	gov_top_count(t, "bob", 0, 0);
	gov_top_count(t, "", 0, 0);
	gov_top_count(t, NULL, 0, 0);
	assert_int_equal(t->n, 2);
	assert_int_equal(row_of(t, "alice")->denials, 2);
	assert_int_equal(row_of(t, "alice")->failures, 1);
	assert_int_equal(row_of(t, "bob")->denials, 1);
	gov_top_clear(t);
	assert_int_equal(t->n, 0);
	assert_null(row_of(t, "alice"));
	free(t);
}

/* A flood of distinct names churns the smallest rows; names counted often
 * stay, with their exact counts, and every name is found again. */
static void test_heavy_hitters_survive_churn(void **state)
{
	struct gov_top *t = calloc(1, sizeof(*t));
	char name[32];

	assert_non_null(t);
	for (int round = 0; round < 50; round++) {
		for (int h = 0; h < 10; h++) {
			snprintf(name, sizeof(name), "heavy%d", h);
			gov_top_count(t, name, round % 2, 0);
		}
		for (int k = 0; k < 1000; k++) {
			snprintf(name, sizeof(name), "noise%d.%d", round, k);
			gov_top_count(t, name, 0, 0);
		}
	}
	assert_int_equal(t->n, GOV_TOP_SLOTS);
	for (int h = 0; h < 10; h++) {
		const struct gov_top_row *r;

		snprintf(name, sizeof(name), "heavy%d", h);
		r = row_of(t, name);
		assert_non_null(r);
		assert_int_equal(r->denials + r->failures, 50);
	}
	/* the index finds what the rows hold: counting a present name again
	 * must not add a row or lose one */
	gov_top_count(t, "heavy3", 0, 0);
	assert_int_equal(row_of(t, "heavy3")->denials, 26);
	for (int i = 0; i < t->n; i++) {
		int seen = 0;

		for (int j = 0; j < t->n; j++)
			seen += strcmp(t->rows[i].name, t->rows[j].name) == 0;
		assert_int_equal(seen, 1);
	}
	free(t);
}

#define MIN_MS (60 * 1000LL)
#define HOUR_MS (60 * MIN_MS)

static void since(const struct gov_top *t, const char *name, int64_t span, int64_t now,
		  uint64_t *d, uint64_t *f)
{
	const struct gov_top_row *r = row_of(t, name);

	assert_non_null(r);
	gov_top_since(r, span, now, d, f);
}

/* "top --since": minute buckets for an hour, hour buckets for a day. */
static void test_since(void **state)
{
	struct gov_top *t = calloc(1, sizeof(*t));
	int64_t t0 = 1000 * HOUR_MS; /* a monotonic clock far from zero */
	uint64_t d, f;

	assert_non_null(t);
	/* 3 denials 50 minutes ago, 2 failures 10 minutes ago, 1 denial now */
	for (int i = 0; i < 3; i++)
		gov_top_count(t, "src", 0, t0 - 50 * MIN_MS);
	gov_top_count(t, "src", 1, t0 - 10 * MIN_MS);
	gov_top_count(t, "src", 1, t0 - 10 * MIN_MS);
	gov_top_count(t, "src", 0, t0);

	since(t, "src", 0, t0, &d, &f); /* in all */
	assert_int_equal(d, 4);
	assert_int_equal(f, 2);
	since(t, "src", 1, t0, &d, &f); /* this minute */
	assert_int_equal(d, 1);
	assert_int_equal(f, 0);
	since(t, "src", 10 * MIN_MS, t0, &d, &f);
	assert_int_equal(d, 1);
	assert_int_equal(f, 2);
	since(t, "src", 9 * MIN_MS, t0, &d, &f);
	assert_int_equal(f, 0);
	since(t, "src", 60 * MIN_MS, t0, &d, &f);
	assert_int_equal(d, 4);
	assert_int_equal(f, 2);

	/* Two hours on, with no count in between: the minute buckets are
	 * stale and not read; the hour buckets still hold everything. */
	since(t, "src", 30 * MIN_MS, t0 + 2 * HOUR_MS, &d, &f);
	assert_int_equal(d + f, 0);
	since(t, "src", 3 * HOUR_MS, t0 + 2 * HOUR_MS, &d, &f);
	assert_int_equal(d, 4);
	assert_int_equal(f, 2);

	/* A count a day and more later zeroes what it passed over. */
	gov_top_count(t, "src", 0, t0 + 25 * HOUR_MS);
	since(t, "src", 24 * HOUR_MS, t0 + 25 * HOUR_MS, &d, &f);
	assert_int_equal(d, 1);
	assert_int_equal(f, 0);
	since(t, "src", 0, t0 + 25 * HOUR_MS, &d, &f);
	assert_int_equal(d, 5);

	/* Within the hour after a gap of 30 minutes: the buckets between are 0. */
	gov_top_count(t, "src", 1, t0 + 25 * HOUR_MS + 30 * MIN_MS);
	since(t, "src", 40 * MIN_MS, t0 + 25 * HOUR_MS + 30 * MIN_MS, &d, &f);
	assert_int_equal(d, 1);
	assert_int_equal(f, 1);
	since(t, "src", 20 * MIN_MS, t0 + 25 * HOUR_MS + 30 * MIN_MS, &d, &f);
	assert_int_equal(d, 0);
	assert_int_equal(f, 1);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_heavy_hitters_survive_churn),
		cmocka_unit_test(test_since),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_top.c - the bounded offender tables behind authguardctl top
 * (governor/metrics.c): counts per name, heavy hitters kept when names
 * churn, the bucket index kept right across replacements. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "metrics.h"

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
	gov_top_count(t, "alice", 0);
	gov_top_count(t, "alice", 0);
	gov_top_count(t, "alice", 1);
	gov_top_count(t, "bob", 0);
	gov_top_count(t, "", 0);
	gov_top_count(t, NULL, 0);
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
			gov_top_count(t, name, round % 2);
		}
		for (int k = 0; k < 1000; k++) {
			snprintf(name, sizeof(name), "noise%d.%d", round, k);
			gov_top_count(t, name, 0);
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
	gov_top_count(t, "heavy3", 0);
	assert_int_equal(row_of(t, "heavy3")->denials, 26);
	for (int i = 0; i < t->n; i++) {
		int seen = 0;

		for (int j = 0; j < t->n; j++)
			seen += strcmp(t->rows[i].name, t->rows[j].name) == 0;
		assert_int_equal(seen, 1);
	}
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_heavy_hitters_survive_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_store_trust.c - the memory store's bounds: eviction that spares
 * attempts in flight and trust, the trust table's per-user and global bounds
 * and expiry, and the reset scopes. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "store_fixture.h"

/* ---- bounds ---- */

static void test_eviction_spares_pinned_and_trust(void **state)
{
	struct fx *f = *state;
	struct gov_attempt home = att("alice", "192.0.2.1/32", "192.0.2.0/24");
	struct gov_attempt a = att("victim", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_attempt c;
	struct gov_decision d;
	char user[32], src[32];
	int i;

	f->conf.max_tracked = 8;
	gov_store_mem_reconf(&f->s, &f->conf);
	admit(f, &home, T0);
	report(f, &home, AG_OUT_SUCCESS, T0);
	admit(f, &a, T0); /* in flight: pinned */
	for (i = 0; i < 200; i++) {
		snprintf(user, sizeof(user), "r%d", i);
		snprintf(src, sizeof(src), "10.%d.%d.1/32", 100 + i / 250, i % 250);
		c = att(user, src, src);
		admit(f, &c, T0 + i);
		report(f, &c, AG_OUT_FAIL, T0 + i);
		assert_true(tracked(f) <= 8);
	}
	assert_int_equal(field(f, "victim", "10.0.0.1/32", NULL, T0, "pair", "inflight"), 1);
	assert_int_equal(trusted(f), 1);
	assert_int_equal(decide(f, &home, T0 + 500, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_TRUSTED);
	/* The pinned pair's report still lands. */
	report(f, &a, AG_OUT_FAIL, T0 + 500);
	assert_int_equal(failures(f, "victim", "10.0.0.1/32", T0 + 500), 1);
	assert_int_equal(field(f, "victim", "10.0.0.1/32", NULL, T0 + 500, "pair", "inflight"), 0);
}

static void test_full_of_pinned(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("a", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_attempt b = att("b", "10.0.0.2/32", "10.0.0.0/24");
	struct gov_decision d;

	f->conf.max_tracked = 1;
	gov_store_mem_reconf(&f->s, &f->conf);
	a.allowlisted = 1; /* needs the pair only */
	b.allowlisted = 1;
	admit(f, &a, T0);
	assert_int_equal(f->s.ops->decide(f->s.ctx, &b, T0, GOV_COMMIT, ALL_SLOTS, &d),
			 AG_ERR_FULL);
	assert_int_equal(d.verdict, 0);
	assert_int_equal(tracked(f), 1);
	report(f, &a, AG_OUT_UNAVAIL, T0);
	admit(f, &b, T0);
}

static void test_trust_per_user_lru(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", NULL, NULL);
	struct gov_decision d;
	const char *src[] = {"1.0.0.1/32", "1.0.0.2/32", "1.0.0.3/32", "1.0.0.4/32", "1.0.0.5/32"};
	int i;

	for (i = 0; i < 4; i++) {
		a.source = src[i];
		admit(f, &a, T0 + i);
		report(f, &a, AG_OUT_SUCCESS, T0 + i);
	}
	/* max_trusted_per_user = 3: the oldest (1) went. */
	assert_int_equal(trusted(f), 3);
	assert_int_equal(field(f, "alice", NULL, NULL, T0 + 9, "user", "trusted_sources"), 3);
	a.source = src[0];
	assert_int_equal(f->s.ops->decide(f->s.ctx, &a, T0 + 9, GOV_CHECK, ALL_SLOTS, &d), 0);
	assert_int_equal(d.trusted, 0);
	/* Using 2 again makes 3 the oldest. */
	a.source = src[1];
	admit(f, &a, T0 + 10);
	report(f, &a, AG_OUT_SUCCESS, T0 + 10);
	a.source = src[4];
	admit(f, &a, T0 + 11);
	report(f, &a, AG_OUT_SUCCESS, T0 + 11);
	for (i = 0; i < 5; i++) {
		a.source = src[i];
		/* Untrusted ones are out of user_rate tokens by now: any verdict. */
		assert_int_equal(f->s.ops->decide(f->s.ctx, &a, T0 + 12, GOV_CHECK, ALL_SLOTS, &d),
				 0);
		assert_int_equal(d.trusted, i == 1 || i == 3 || i == 4);
	}
	/* Another user's trust is its own. */
	a.user = "bob";
	admit(f, &a, T0 + 13);
	report(f, &a, AG_OUT_SUCCESS, T0 + 13);
	assert_int_equal(trusted(f), 4);
}

static void test_trust_global_bound(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att(NULL, "1.0.0.1/32", "1.0.0.0/24");
	struct gov_decision d;
	char user[16];
	int i;

	f->conf.max_trusted = 4;
	gov_store_mem_reconf(&f->s, &f->conf);
	for (i = 0; i < 6; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		a.user = user;
		admit(f, &a, T0 + i);
		report(f, &a, AG_OUT_SUCCESS, T0 + i);
	}
	assert_int_equal(trusted(f), 4);
	a.user = "u1";
	assert_int_equal(decide(f, &a, T0 + 9, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.trusted, 0);
	a.user = "u2";
	assert_int_equal(decide(f, &a, T0 + 9, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.trusted, 1);
	/* A reload lowering the bounds drops the oldest. */
	f->conf.max_trusted = 2;
	gov_store_mem_reconf(&f->s, &f->conf);
	assert_int_equal(trusted(f), 2);
	assert_int_equal(decide(f, &a, T0 + 9, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.trusted, 0);
	a.user = "u5";
	assert_int_equal(decide(f, &a, T0 + 9, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.trusted, 1);
}

static void test_trust_expiry(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "192.0.2.1/32", "192.0.2.0/24");
	struct gov_decision d;

	admit(f, &a, T0);
	report(f, &a, AG_OUT_SUCCESS, T0);
	assert_int_equal(decide(f, &a, T0 + 30 * DAY - 1, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.trusted, 1);
	assert_int_equal(decide(f, &a, T0 + 30 * DAY, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.trusted, 0);
	assert_int_equal(d.klass, AG_CLASS_CLEAN);
	/* Swept by later reports. */
	a.user = "bob";
	admit(f, &a, T0 + 30 * DAY);
	report(f, &a, AG_OUT_UNAVAIL, T0 + 30 * DAY);
	assert_int_equal(trusted(f), 0);
}

/* ---- reset ---- */

static void setup_two_users(struct fx *f)
{
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	int i;

	for (i = 0; i < 4; i++) {
		admit(f, &a, T0);
		report(f, &a, AG_OUT_FAIL, T0);
	}
	a.source = "192.0.2.1/32";
	a.agg = "192.0.2.0/24";
	admit(f, &a, T0);
	report(f, &a, AG_OUT_SUCCESS, T0);
	a = att("bob", "10.0.0.1/32", "10.0.0.0/24");
	for (i = 0; i < 4; i++) {
		admit(f, &a, T0);
		report(f, &a, AG_OUT_FAIL, T0);
	}
}

static void test_reset_user(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");

	setup_two_users(f);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_USER, "alice", NULL), 0);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0), 0);
	assert_true(described(f, "alice", NULL, NULL, T0, "kind=user user=alice stored=no"));
	assert_int_equal(trusted(f), 0);
	assert_int_equal(failures(f, "bob", "10.0.0.1/32", T0), 4);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_USER, "alice", NULL), AG_ERR_NOTFOUND);
	/* The source's rate and aggregate are not the user's. */
	assert_int_equal(field(f, NULL, "10.0.0.1/32", NULL, T0, "source", "tokens"), 12);
	admit(f, &a, T0);
}

static void test_reset_source(void **state)
{
	struct fx *f = *state;
	struct gov_decision d;
	struct gov_attempt a = att("carol", "10.0.0.9/32", "10.0.0.0/24");

	setup_two_users(f);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_SOURCE, NULL, "10.0.0.1/32"), 0);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0), 0);
	assert_int_equal(failures(f, "bob", "10.0.0.1/32", T0), 0);
	assert_int_equal(field(f, NULL, "10.0.0.1/32", NULL, T0, "source", "tokens"), 20);
	assert_int_equal(field(f, NULL, NULL, "10.0.0.0/24", T0, "agg", "failing"), 0);
	assert_int_equal(decide(f, &a, T0, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_CLEAN);
	/* Users and trust stay. */
	assert_int_equal(trusted(f), 1);
	assert_int_equal(field(f, "bob", NULL, NULL, T0, "user", "ucfail"), 4);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_SOURCE, NULL, "10.0.0.1/32"),
			 AG_ERR_NOTFOUND);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_SOURCE, NULL, NULL), AG_ERR_INVAL);
}

static void test_reset_pair_and_all(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");

	setup_two_users(f);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_PAIR, "alice", "10.0.0.1/32"), 0);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0), 0);
	assert_int_equal(failures(f, "bob", "10.0.0.1/32", T0), 4);
	assert_int_equal(trusted(f), 1);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_PAIR, "alice", "192.0.2.1/32"), 0);
	assert_int_equal(trusted(f), 0);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_PAIR, "alice", "10.0.0.1/32"),
			 AG_ERR_NOTFOUND);
	/* all: everything but the count of an attempt in flight. */
	admit(f, &a, T0);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_ALL, NULL, NULL), 0);
	assert_int_equal(tracked(f), 1);
	assert_int_equal(field(f, "alice", "10.0.0.1/32", NULL, T0, "pair", "inflight"), 1);
	/* Once it ends the entry tells nothing and is swept. */
	report(f, &a, AG_OUT_UNAVAIL, T0);
	assert_int_equal(tracked(f), 0);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_ALL, NULL, NULL), AG_ERR_NOTFOUND);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_eviction_spares_pinned_and_trust),
	    T(test_full_of_pinned),
	    T(test_trust_per_user_lru),
	    T(test_trust_global_bound),
	    T(test_trust_expiry),
	    T(test_reset_user),
	    T(test_reset_source),
	    T(test_reset_pair_and_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

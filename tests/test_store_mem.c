/* test_store_mem.c - the memory store's rules through its ops: every rule's
 * boundary by decide() and report() at injected times, classification, the
 * outcomes, and that checks and slot-less attempts change nothing. */
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

/* ---- rule 2: backoff ---- */

static void test_backoff_first_hold(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_decision d;
	int64_t now = T0;
	int i;

	f->conf.user_max_failures = 100;
	for (i = 0; i < 3; i++) {
		admit(f, &a, now);
		report(f, &a, AG_OUT_FAIL, now);
		now += 10;
	}
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", now), 3);
	/* The 4th attempt still goes through; its failure holds 1 s. */
	admit(f, &a, now);
	report(f, &a, AG_OUT_FAIL, now);
	assert_int_equal(field(f, "alice", "10.0.0.1/32", NULL, now, "pair", "hold_until_in"),
			 1000);
	denied(f, &a, now + 1, GOV_RULE_BACKOFF, 999);
	assert_int_equal(decide(f, &a, now + 999, GOV_CHECK, &d), AG_V_DENY);
	assert_int_equal(d.retry_ms, 1);
	assert_int_equal(d.steps[0].rule, GOV_RULE_BACKOFF);
	assert_int_equal(d.steps[0].verdict, AG_V_DENY);
	assert_string_equal(d.steps[0].detail, "failures=4 free=3 inflight=0 hold_until_in=1ms");
	admit(f, &a, now + 1000);
	/* The 5th failure holds 2 s, the 6th 4 s. */
	report(f, &a, AG_OUT_FAIL, now + 1000);
	denied(f, &a, now + 1000, GOV_RULE_BACKOFF, 2000);
	admit(f, &a, now + 3000);
	report(f, &a, AG_OUT_FAIL, now + 3000);
	denied(f, &a, now + 3000, GOV_RULE_BACKOFF, 4000);
	/* Other users behind the same address are not held. */
	a.user = "bob";
	admit(f, &a, now + 3000);
}

static void test_backoff_jitter(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	int i;

	for (i = 0; i < 4; i++) {
		admit(f, &a, T0);
		assert_int_equal(f->s.ops->report(f->s.ctx, &a, AG_OUT_FAIL, T0, -200, NULL), 0);
	}
	denied(f, &a, T0, GOV_RULE_BACKOFF, 800);
}

static void test_backoff_concurrency(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_decision d;

	admit(f, &a, T0);
	report(f, &a, AG_OUT_FAIL, T0);
	admit(f, &a, T0);
	report(f, &a, AG_OUT_FAIL, T0);
	/* failures=2, free=3: one in flight, the next waits 1 s. */
	admit(f, &a, T0);
	assert_int_equal(decide(f, &a, T0 + 5, GOV_COMMIT, &d), AG_V_DENY);
	assert_int_equal(d.rule, GOV_RULE_BACKOFF);
	assert_int_equal(d.retry_ms, 1000);
	assert_string_equal(d.steps[0].detail,
			    "failures=2 free=3 inflight=1 hold_until_in=0ms concurrent");
	report(f, &a, AG_OUT_UNAVAIL, T0 + 5);
	admit(f, &a, T0 + 5);
}

static void test_backoff_concurrency_fresh(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");

	/* No failures yet: three may be in flight at once, not four. */
	admit(f, &a, T0);
	admit(f, &a, T0);
	admit(f, &a, T0);
	denied(f, &a, T0, GOV_RULE_BACKOFF, 1000);
	assert_int_equal(field(f, "alice", "10.0.0.1/32", NULL, T0, "pair", "inflight"), 3);
}

static void test_success_clears(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	int i;

	for (i = 0; i < 5; i++) {
		admit(f, &a, T0 + 2000 * i);
		report(f, &a, AG_OUT_FAIL, T0 + 2000 * i);
	}
	denied(f, &a, T0 + 8000, GOV_RULE_BACKOFF, 2000);
	admit(f, &a, T0 + 10000);
	report(f, &a, AG_OUT_SUCCESS, T0 + 10000);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0 + 10000), 0);
	assert_int_equal(field(f, "alice", "10.0.0.1/32", NULL, T0 + 10000, "pair", "trusted"), 1);
	admit(f, &a, T0 + 10000);
	report(f, &a, AG_OUT_FAIL, T0 + 10000);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0 + 10000), 1);
}

static void test_window_forgets(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	int i;

	for (i = 0; i < 4; i++) {
		admit(f, &a, T0);
		report(f, &a, AG_OUT_FAIL, T0);
	}
	/* Forgotten failure_window after the end of the hold (T0 + 1 s). */
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0 + 1000 + WINDOW - 1), 4);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0 + 1000 + WINDOW), 0);
	admit(f, &a, T0 + 1000 + WINDOW - 1);
	report(f, &a, AG_OUT_FAIL, T0 + 1000 + WINDOW - 1);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0 + 1000 + WINDOW - 1), 5);
	/* Counted afresh once forgotten. */
	admit(f, &a, T0 + 10 * WINDOW);
	report(f, &a, AG_OUT_FAIL, T0 + 10 * WINDOW);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0 + 10 * WINDOW), 1);
	admit(f, &a, T0 + 10 * WINDOW);
}

/* ---- rule 3: source_rate ---- */

static void test_source_rate_burst(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("u", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_decision d;
	char user[16];
	int i;

	for (i = 0; i < 20; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		a.user = user;
		admit(f, &a, T0);
	}
	a.user = "late";
	assert_int_equal(decide(f, &a, T0, GOV_COMMIT, &d), AG_V_DENY);
	assert_int_equal(d.rule, GOV_RULE_SOURCE_RATE);
	assert_int_equal(d.retry_ms, 1000);
	assert_string_equal(d.steps[2].detail, "tokens=0 burst=20: next free in 1000ms");
	denied(f, &a, T0 + 999, GOV_RULE_SOURCE_RATE, 1);
	admit(f, &a, T0 + 1000);
	/* Another source is not affected. */
	a.source = "10.0.0.2/32";
	admit(f, &a, T0 + 1000);
}

static void test_source_rate_trusted_exempt(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_decision d;
	char user[16];
	int i;

	admit(f, &a, T0);
	report(f, &a, AG_OUT_SUCCESS, T0);
	for (i = 0; i < 19; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		a.user = user;
		admit(f, &a, T0);
	}
	denied(f, &a, T0, GOV_RULE_SOURCE_RATE, 1000);
	a.user = "alice";
	assert_int_equal(decide(f, &a, T0, GOV_COMMIT, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_TRUSTED);
	assert_int_equal(d.trusted, 1);
	assert_int_equal(d.steps[2].verdict, 0);
	assert_string_equal(d.steps[2].detail, "skipped: trusted pair");
	assert_string_equal(d.steps[3].detail, "skipped: trusted pair");
	/* An allow-listed attempt is exempt too, and clean. */
	a.user = "carol";
	a.allowlisted = 1;
	assert_int_equal(decide(f, &a, T0, GOV_COMMIT, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_CLEAN);
	assert_string_equal(d.steps[2].detail, "skipped: allowlisted");
}

/* ---- rule 4: user_rate, user_cap ---- */

static void test_user_rate_budgets(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("mallory", "10.0.9.66/32", "10.0.9.0/24");
	struct gov_decision d;
	char src[32];
	int i;

	/* One failure in 10.0.9.0/24 makes the whole netblock failing. */
	admit(f, &a, T0);
	report(f, &a, AG_OUT_FAIL, T0);
	a.user = "bob";
	for (i = 1; i <= 5; i++) {
		snprintf(src, sizeof(src), "10.0.9.%d/32", i);
		a.source = src;
		assert_int_equal(decide(f, &a, T0, GOV_COMMIT, &d), AG_V_ALLOW);
		assert_int_equal(d.klass, AG_CLASS_DIRTY);
	}
	a.source = "10.0.9.6/32";
	assert_int_equal(decide(f, &a, T0, GOV_COMMIT, &d), AG_V_DENY);
	assert_int_equal(d.rule, GOV_RULE_USER_RATE);
	assert_int_equal(d.retry_ms, 6000);
	assert_string_equal(d.steps[3].detail,
			    "budget=failing tokens=0 burst=5: next free in 6000ms");
	/* The failing sources have not touched the clean budget. */
	a = att("bob", "10.0.7.7/32", "10.0.7.0/24");
	assert_int_equal(decide(f, &a, T0, GOV_COMMIT, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_CLEAN);
	assert_string_equal(d.steps[3].detail, "budget=clean tokens=5 burst=5: next free in 0ms");
	assert_int_equal(field(f, "bob", NULL, NULL, T0, "user", "clean_tokens"), 4);
	assert_int_equal(field(f, "bob", NULL, NULL, T0, "user", "failing_tokens"), 0);
}

/* Failures of alice from fresh sources, 10 s apart (past user_rate's T). */
static int64_t fail_from_fresh(struct fx *f, int n, int64_t now)
{
	char src[32];
	struct gov_attempt a = att("alice", NULL, "10.1.0.0/24");
	int i;

	for (i = 0; i < n; i++) {
		snprintf(src, sizeof(src), "10.1.%d.1/32", i);
		a.source = src;
		admit(f, &a, now);
		report(f, &a, AG_OUT_FAIL, now);
		now += 10000;
	}
	return now;
}

static void test_user_cap(void **state)
{
	struct fx *f = *state;
	struct gov_attempt home = att("alice", "192.0.2.1/32", "192.0.2.0/24");
	struct gov_attempt a = att("alice", "10.9.9.9/32", "10.9.9.0/24");
	struct gov_decision d;
	int64_t now;

	admit(f, &home, T0);
	report(f, &home, AG_OUT_SUCCESS, T0);
	/* user_max_failures = 5: five failures cost nothing user-wide. */
	now = fail_from_fresh(f, 5, T0 + 10000);
	assert_int_equal(field(f, "alice", NULL, NULL, now, "user", "ucfail"), 5);
	admit(f, &a, now);
	report(f, &a, AG_OUT_UNAVAIL, now);
	/* The 6th holds untrusted sources for cap_hold_base. */
	now = fail_from_fresh(f, 1, now);
	a.source = "10.9.9.10/32";
	assert_int_equal(decide(f, &a, now, GOV_COMMIT, &d), AG_V_DENY);
	assert_int_equal(d.rule, GOV_RULE_USER_CAP);
	assert_int_equal(d.retry_ms, 50000);
	assert_string_equal(d.steps[1].detail, "ucfail=6 max=5 cap_until_in=50000ms");
	/* The trusted pair is unaffected; its success clears the cap. */
	assert_int_equal(decide(f, &home, now, GOV_COMMIT, &d), AG_V_ALLOW);
	assert_string_equal(d.steps[1].detail, "skipped: trusted pair");
	report(f, &home, AG_OUT_SUCCESS, now);
	assert_int_equal(field(f, "alice", NULL, NULL, now, "user", "ucfail"), 0);
	admit(f, &a, now);
}

static void test_user_cap_grows(void **state)
{
	struct fx *f = *state;
	struct gov_attempt home = att("alice", "192.0.2.1/32", "192.0.2.0/24");
	struct gov_attempt a = att("alice", "10.9.9.9/32", "10.9.9.0/24");
	int64_t now;

	admit(f, &home, T0);
	report(f, &home, AG_OUT_SUCCESS, T0);
	now = fail_from_fresh(f, 6, T0);
	/* ucfail 6 = max + 1: 60 s from the last failure, 10 s ago. */
	denied(f, &a, now, GOV_RULE_USER_CAP, 50000);
	denied(f, &a, now + 49999, GOV_RULE_USER_CAP, 1);
	/* Failures of the trusted pair do not count. */
	admit(f, &home, now);
	report(f, &home, AG_OUT_FAIL, now);
	assert_int_equal(field(f, "alice", NULL, NULL, now, "user", "ucfail"), 6);
	/* The next untrusted failure (level 2) holds 2 x 60 s. */
	now += 50000;
	admit(f, &a, now);
	report(f, &a, AG_OUT_FAIL, now);
	assert_int_equal(field(f, "alice", NULL, NULL, now, "user", "cap_level"), 2);
	denied(f, &a, now, GOV_RULE_USER_CAP, 120000);
}

/* The longest retry decides; on a tie the earliest rule. */
static void test_longest_retry_wins(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("u", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_decision d;
	char user[16];
	int i;

	f->conf.pair_free_failures = 1;
	for (i = 0; i < 19; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		a.user = user;
		admit(f, &a, T0);
	}
	a.user = "alice";
	admit(f, &a, T0); /* the 20th token, and alice in flight */
	assert_int_equal(decide(f, &a, T0, GOV_CHECK, &d), AG_V_DENY);
	assert_int_equal(d.steps[0].verdict, AG_V_DENY);
	assert_int_equal(d.steps[0].retry_ms, 1000);
	assert_int_equal(d.steps[2].verdict, AG_V_DENY);
	assert_int_equal(d.steps[2].retry_ms, 1000);
	assert_int_equal(d.rule, GOV_RULE_BACKOFF);
	assert_int_equal(d.nsteps, 4);
	/* Half a second later source_rate asks for less: still backoff. */
	assert_int_equal(decide(f, &a, T0 + 500, GOV_CHECK, &d), AG_V_DENY);
	assert_int_equal(d.rule, GOV_RULE_BACKOFF);
	assert_int_equal(d.steps[2].retry_ms, 500);
	/* A failure: hold 1 s from T0 + 500 (free = 1, failures 1 ... 2). */
	report(f, &a, AG_OUT_FAIL, T0 + 500);
	report(f, &a, AG_OUT_FAIL, T0 + 500);
	assert_int_equal(decide(f, &a, T0 + 500, GOV_CHECK, &d), AG_V_DENY);
	assert_int_equal(d.rule, GOV_RULE_BACKOFF);
	assert_int_equal(d.retry_ms, 1000);
}

/* ---- commit discipline ---- */

static void describe_all(struct fx *f, const struct gov_attempt *a, int64_t now, char *buf,
			 size_t cap)
{
	assert_int_equal(f->s.ops->describe(f->s.ctx, a->user, a->source, a->agg, now, buf, cap),
			 0);
}

static void test_noslot_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_decision d;
	char before[4096], after[4096];
	int i;

	admit(f, &a, T0);
	report(f, &a, AG_OUT_FAIL, T0);
	describe_all(f, &a, T0, before, sizeof(before));
	for (i = 0; i < 30; i++) {
		assert_int_equal(f->s.ops->decide(f->s.ctx, &a, T0, GOV_COMMIT,
						  ALL_SLOTS & ~(1u << AG_CLASS_DIRTY), &d),
				 0);
		assert_int_equal(d.verdict, GOV_NOSLOT);
		assert_int_equal(d.klass, AG_CLASS_DIRTY);
	}
	describe_all(f, &a, T0, after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(field(f, NULL, "10.0.0.1/32", NULL, T0, "source", "tokens"), 19);
	/* With the slot it is admitted. */
	assert_int_equal(f->s.ops->decide(f->s.ctx, &a, T0, GOV_COMMIT, 1u << AG_CLASS_DIRTY, &d),
			 0);
	assert_int_equal(d.verdict, AG_V_ALLOW);
}

static void test_check_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_attempt b = att("bob", "10.0.0.2/32", "10.0.0.0/24");
	struct gov_decision d;
	char before[4096], after[4096];
	int i;

	admit(f, &a, T0);
	report(f, &a, AG_OUT_FAIL, T0);
	describe_all(f, &a, T0, before, sizeof(before));
	for (i = 0; i < 30; i++) {
		assert_int_equal(decide(f, &a, T0, GOV_CHECK, &d), AG_V_ALLOW);
		assert_int_equal(decide(f, &b, T0, GOV_CHECK, &d), AG_V_ALLOW);
	}
	describe_all(f, &a, T0, after, sizeof(after));
	assert_string_equal(before, after);
	/* No entry for bob was created. */
	assert_int_equal(tracked(f), 4); /* P, S, A, U of alice */
	assert_int_equal(field(f, "bob", "10.0.0.2/32", NULL, T0, "pair", "inflight"), 0);
	assert_int_equal(f->s.ops->reset(f->s.ctx, GOV_RESET_USER, "bob", NULL), AG_ERR_NOTFOUND);
}

/* CHECK does not touch the LRU order: the entry it read is still the next
 * evicted; an admission does touch it. */
static struct gov_attempt local(const char *user)
{
	struct gov_attempt a = att(user, "uid:1", "uid:1");

	a.allowlisted = 1; /* the pair only: no S, no U */
	a.user_socket = 1;
	return a;
}

static void test_check_keeps_lru(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = local("a"), b = local("b"), c = local("c"), d = local("d");
	struct gov_attempt e = local("e");
	struct gov_decision dec;

	f->conf.max_tracked = 4;
	gov_store_mem_reconf(&f->s, &f->conf);
	admit(f, &a, T0);
	report(f, &a, AG_OUT_FAIL, T0);
	admit(f, &b, T0);
	report(f, &b, AG_OUT_FAIL, T0);
	admit(f, &c, T0);
	report(f, &c, AG_OUT_FAIL, T0);
	assert_int_equal(tracked(f), 4); /* P(a) P(b) A P(c), oldest first */
	assert_int_equal(decide(f, &a, T0, GOV_CHECK, &dec), AG_V_ALLOW);
	admit(f, &d, T0);
	assert_false(described(f, "a", "uid:1", NULL, T0, "stored=yes"));
	assert_true(described(f, "b", "uid:1", NULL, T0, "stored=yes"));
	/* An admission of b makes c the oldest pair. */
	admit(f, &b, T0);
	report(f, &b, AG_OUT_FAIL, T0);
	admit(f, &e, T0);
	assert_true(described(f, "b", "uid:1", NULL, T0, "stored=yes"));
	assert_false(described(f, "c", "uid:1", NULL, T0, "stored=yes"));
	assert_int_equal(tracked(f), 4);
}

/* ---- classes, user socket, outcomes ---- */

static void test_user_socket(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "uid:1000", "uid:1000");
	struct gov_decision d;
	int i;

	a.user_socket = 1;
	assert_int_equal(decide(f, &a, T0, GOV_COMMIT, &d), AG_V_ALLOW);
	assert_string_equal(d.steps[1].detail, "skipped: user socket");
	assert_string_equal(d.steps[3].detail, "skipped: user socket");
	assert_int_equal(d.steps[2].verdict, AG_V_ALLOW);
	report(f, &a, AG_OUT_SUCCESS, T0);
	assert_int_equal(trusted(f), 0);
	assert_int_equal(decide(f, &a, T0, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_CLEAN);
	assert_int_equal(d.trusted, 0);
	/* Its failures never reach the user: no ucfail, no cap. */
	for (i = 0; i < 9; i++) {
		admit(f, &a, T0 + i * 100000);
		report(f, &a, AG_OUT_FAIL, T0 + i * 100000);
	}
	assert_true(described(f, "alice", NULL, NULL, T0, "kind=user user=alice stored=no"));
	assert_int_equal(field(f, "alice", NULL, NULL, T0 + 800000, "user", "ucfail"), 0);
	/* A trusted pair is not trusted over the user socket. */
	a = att("alice", "192.0.2.1/32", "192.0.2.0/24");
	admit(f, &a, T0);
	report(f, &a, AG_OUT_SUCCESS, T0);
	a.user_socket = 1;
	assert_int_equal(decide(f, &a, T0, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.trusted, 0);
	assert_int_equal(d.klass, AG_CLASS_CLEAN);
}

static void test_outcomes(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("alice", "10.0.0.1/32", "10.0.0.0/24");
	struct gov_decision d;

	admit(f, &a, T0);
	report(f, &a, AG_OUT_UNAVAIL, T0);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0), 0);
	assert_int_equal(field(f, "alice", "10.0.0.1/32", NULL, T0, "pair", "inflight"), 0);
	assert_int_equal(decide(f, &a, T0, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_CLEAN);
	/* PASS changes nothing: still in flight. */
	admit(f, &a, T0);
	report(f, &a, AG_OUT_PASS, T0);
	assert_int_equal(field(f, "alice", "10.0.0.1/32", NULL, T0, "pair", "inflight"), 1);
	/* An abandoned attempt is a failure; the source turns failing. */
	report(f, &a, GOV_OUT_ABANDON, T0);
	assert_int_equal(failures(f, "alice", "10.0.0.1/32", T0), 1);
	assert_int_equal(field(f, "alice", NULL, NULL, T0, "user", "ucfail"), 1);
	assert_int_equal(decide(f, &a, T0, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_DIRTY);
	/* The netblock stays failing for failure_window. */
	a.user = "bob";
	a.source = "10.0.0.77/32";
	assert_int_equal(decide(f, &a, T0 + WINDOW - 1, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_DIRTY);
	assert_int_equal(decide(f, &a, T0 + WINDOW, GOV_CHECK, &d), AG_V_ALLOW);
	assert_int_equal(d.klass, AG_CLASS_CLEAN);
	assert_int_equal(f->s.ops->report(f->s.ctx, &a, 99, T0, 0, NULL), AG_ERR_INVAL);
}

static void test_bad_input(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att(NULL, "10.0.0.1/32", NULL);
	struct gov_decision d;
	char longname[400];

	d.verdict = 9;
	assert_int_equal(f->s.ops->decide(f->s.ctx, &a, T0, GOV_COMMIT, ALL_SLOTS, &d),
			 AG_ERR_INVAL);
	assert_int_equal(d.verdict, 0);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	a.user = longname;
	assert_int_equal(f->s.ops->decide(f->s.ctx, &a, T0, GOV_COMMIT, ALL_SLOTS, &d),
			 AG_ERR_INVAL);
	a.user = "alice";
	assert_int_equal(f->s.ops->decide(f->s.ctx, &a, T0, 7, ALL_SLOTS, &d), AG_ERR_INVAL);
	/* agg NULL: the source is its own aggregate. */
	assert_int_equal(f->s.ops->decide(f->s.ctx, &a, T0, GOV_COMMIT, ALL_SLOTS, &d), 0);
	assert_int_equal(d.verdict, AG_V_ALLOW);
	assert_int_equal(tracked(f), 3);
	assert_int_equal(f->s.ops->report(f->s.ctx, NULL, AG_OUT_FAIL, T0, 0, NULL), AG_ERR_INVAL);
}

static void test_describe(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("al ice=\x01", "10.0.0.1/32", "10.0.0.0/24");
	char buf[4096], tiny[16];
	int i;

	for (i = 0; i < 4; i++) {
		admit(f, &a, T0);
		report(f, &a, AG_OUT_FAIL, T0);
	}
	assert_int_equal(
	    f->s.ops->describe(f->s.ctx, a.user, a.source, a.agg, T0 + 500, buf, sizeof(buf)), 0);
	assert_string_equal(buf,
			    "kind=pair user=al\\x20ice\\x3d\\x01 source=10.0.0.1/32 stored=yes "
			    "failures=4 inflight=0 hold_until_in=500ms last_fail_ago=500ms "
			    "last_seen_ago=500ms trusted=0 last_success=-\n"
			    "kind=user user=al\\x20ice\\x3d\\x01 stored=yes ucfail=4 cap_level=0 "
			    "cap_until=- clean_tokens=4 failing_tokens=2 trusted_sources=0\n"
			    "kind=source source=10.0.0.1/32 stored=yes tokens=16\n"
			    "kind=agg agg=10.0.0.0/24 stored=yes last_fail_ago=500ms failing=1\n");
	assert_int_equal(f->s.ops->describe(f->s.ctx, a.user, NULL, NULL, T0, tiny, sizeof(tiny)),
			 AG_ERR_TOOBIG);
	assert_int_equal(f->s.ops->describe(f->s.ctx, NULL, NULL, NULL, T0, buf, sizeof(buf)),
			 AG_ERR_INVAL);
}

static void test_rule_names(void **state)
{
	(void)state;
	assert_string_equal(gov_rule_name(GOV_RULE_BACKOFF), "backoff");
	assert_string_equal(gov_rule_name(GOV_RULE_SOURCE_RATE), "source_rate");
	assert_string_equal(gov_rule_name(GOV_RULE_USER_RATE), "user_rate");
	assert_string_equal(gov_rule_name(GOV_RULE_USER_CAP), "user_cap");
	assert_string_equal(gov_rule_name(GOV_RULE_DENYLIST), "deny");
	assert_string_equal(gov_rule_name(GOV_RULE_SHED), "shed");
	assert_string_equal(gov_rule_name(-1), "none");
	assert_string_equal(gov_rule_name(GOV_RULE_COUNT), "none");
	gov_store_free(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_backoff_first_hold),
	    T(test_backoff_jitter),
	    T(test_backoff_concurrency),
	    T(test_backoff_concurrency_fresh),
	    T(test_success_clears),
	    T(test_window_forgets),
	    T(test_source_rate_burst),
	    T(test_source_rate_trusted_exempt),
	    T(test_user_rate_budgets),
	    T(test_user_cap),
	    T(test_user_cap_grows),
	    T(test_longest_retry_wins),
	    T(test_noslot_changes_nothing),
	    T(test_check_changes_nothing),
	    T(test_check_keeps_lru),
	    T(test_user_socket),
	    T(test_outcomes),
	    T(test_bad_input),
	    T(test_describe),
	    cmocka_unit_test(test_rule_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

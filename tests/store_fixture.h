/* store_fixture.h - the fixture and helpers shared by the memory store's
 * test programs (test_store_mem, test_store_trust): a store over limits set
 * by hand, attempts, and reading the state back through describe().
 * Include after <cmocka.h>. */
#ifndef TESTS_STORE_FIXTURE_H
#define TESTS_STORE_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ag_err.h"
#include "store.h"

#define T0	  INT64_C(1700000000000)
#define ALL_SLOTS 7u
#define WINDOW	  900000
#define DAY	  INT64_C(86400000)

struct fx {
	struct ag_conf conf;
	struct gov_store s;
};

static inline void set_limits(struct ag_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->pair_free_failures = 3;
	c->backoff_base_ms = 1000;
	c->backoff_max_ms = 600000;
	c->failure_window_ms = WINDOW;
	c->source_prefix_v4 = 32;
	c->source_prefix_v6 = 64;
	c->agg_prefix_v4 = 24;
	c->agg_prefix_v6 = 48;
	c->source_rate.count = 60;
	c->source_rate.period_ms = 60000;
	c->source_burst = 20;
	c->user_rate.count = 10; /* T = 6 s */
	c->user_rate.period_ms = 60000;
	c->user_burst = 5;
	c->user_max_failures = 5;
	c->cap_hold_base_ms = 60000;
	c->cap_hold_max_ms = 3600000;
	c->trust_ttl_ms = 30 * DAY;
	c->max_trusted_per_user = 3;
	c->max_tracked = 10000;
	c->max_trusted = 100;
}

static inline int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	set_limits(&f->conf);
	if (gov_store_mem_new(&f->conf, &f->s) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	gov_store_free(&f->s);
	free(f);
	return 0;
}

/* Sources "10.0.N.H/32" in aggregate "10.0.N.0/24". */
static inline struct gov_attempt att(const char *user, const char *source, const char *agg)
{
	struct gov_attempt a;

	memset(&a, 0, sizeof(a));
	a.user = user;
	a.source = source;
	a.agg = agg;
	return a;
}

static inline int decide(struct fx *f, const struct gov_attempt *a, int64_t now, int mode,
			 struct gov_decision *d)
{
	assert_int_equal(f->s.ops->decide(f->s.ctx, a, now, mode, ALL_SLOTS, d), 0);
	return d->verdict;
}

static inline void admit(struct fx *f, const struct gov_attempt *a, int64_t now)
{
	struct gov_decision d;

	assert_int_equal(decide(f, a, now, GOV_COMMIT, &d), AG_V_ALLOW);
	assert_int_equal(d.rule, GOV_RULE_NONE);
	assert_int_equal(d.retry_ms, 0);
}

static inline void report(struct fx *f, const struct gov_attempt *a, int outcome, int64_t now)
{
	assert_int_equal(f->s.ops->report(f->s.ctx, a, outcome, now, 0, NULL), 0);
}

static inline void denied(struct fx *f, const struct gov_attempt *a, int64_t now, int rule,
			  int64_t retry)
{
	struct gov_decision d;

	assert_int_equal(decide(f, a, now, GOV_COMMIT, &d), AG_V_DENY);
	assert_string_equal(gov_rule_name(d.rule), gov_rule_name(rule));
	assert_int_equal(d.retry_ms, retry);
}

/* The value of key in the describe line of kind (pair, user, source, agg);
 * -1 when absent. */
static inline int64_t field(struct fx *f, const char *user, const char *source, const char *agg,
			    int64_t now, const char *kind, const char *key)
{
	char buf[4096], pat[64], *line, *p;

	assert_int_equal(f->s.ops->describe(f->s.ctx, user, source, agg, now, buf, sizeof(buf)), 0);
	snprintf(pat, sizeof(pat), "kind=%s ", kind);
	line = strstr(buf, pat);
	assert_non_null(line);
	*strchrnul(line, '\n') = '\0';
	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	if (p == NULL)
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

/* 1 if the describe text holds needle. */
static inline int described(struct fx *f, const char *user, const char *source, const char *agg,
			    int64_t now, const char *needle)
{
	char buf[4096];

	assert_int_equal(f->s.ops->describe(f->s.ctx, user, source, agg, now, buf, sizeof(buf)), 0);
	return strstr(buf, needle) != NULL;
}

static inline int64_t failures(struct fx *f, const char *u, const char *s, int64_t now)
{
	return field(f, u, s, NULL, now, "pair", "failures");
}

static inline int64_t tracked(struct fx *f)
{
	int64_t t, tr;

	f->s.ops->counts(f->s.ctx, &t, &tr);
	return t;
}

static inline int64_t trusted(struct fx *f)
{
	int64_t t, tr;

	f->s.ops->counts(f->s.ctx, &t, &tr);
	return tr;
}

#endif

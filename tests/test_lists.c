/* test_lists.c - rule 1: v4 and v6 matching, deny wins, expiry, removal, the
 * bound, and reloads that replace config entries but keep runtime ones. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "ag_err.h"
#include "lists.h"

#define T0 INT64_C(1700000000000)

static int setup(void **state)
{
	struct gov_lists *l = NULL;

	if (gov_lists_new(&l) != 0)
		return -1;
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	gov_lists_free(*state);
	return 0;
}

static struct ag_cidr cidr(const char *s)
{
	struct ag_cidr c;

	assert_int_equal(ag_cidr_parse(s, &c), 0);
	return c;
}

static void add(struct gov_lists *l, int kind, const char *s, int64_t exp)
{
	struct ag_cidr c = cidr(s);

	assert_int_equal(gov_lists_add(l, kind, &c, exp, s), 0);
}

static int match(const struct gov_lists *l, const char *addr, int64_t now, char *which, size_t cap)
{
	struct ag_addr a;
	const struct gov_list_entry *e = NULL;
	int k;

	assert_int_equal(ag_addr_parse(addr, &a), 0);
	k = gov_lists_match(l, &a, now, &e);
	if (which != NULL) {
		which[0] = '\0';
		if (e != NULL)
			assert_int_equal(ag_cidr_format(&e->cidr, which, cap), 0);
	}
	assert_true((k == 0) == (e == NULL));
	return k;
}

static int count_cb(const struct gov_list_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static int count(const struct gov_lists *l, int64_t now)
{
	int n = 0;

	assert_int_equal(gov_lists_each(l, now, count_cb, &n), 0);
	return n;
}

static void test_v4(void **state)
{
	struct gov_lists *l = *state;
	char w[64];

	add(l, GOV_LIST_DENY, "203.0.113.0/24", 0);
	assert_int_equal(match(l, "203.0.113.9", T0, w, sizeof(w)), GOV_LIST_DENY);
	assert_string_equal(w, "203.0.113.0/24");
	assert_int_equal(match(l, "203.0.113.255", T0, NULL, 0), GOV_LIST_DENY);
	assert_int_equal(match(l, "203.0.114.0", T0, w, sizeof(w)), 0);
	assert_int_equal(match(l, "203.0.112.255", T0, NULL, 0), 0);
	/* A v4-mapped v6 address is the v4 address. */
	assert_int_equal(match(l, "::ffff:203.0.113.7", T0, NULL, 0), GOV_LIST_DENY);
	add(l, GOV_LIST_ALLOW, "192.0.2.7", 0);
	assert_int_equal(match(l, "192.0.2.7", T0, w, sizeof(w)), GOV_LIST_ALLOW);
	assert_string_equal(w, "192.0.2.7/32");
	assert_int_equal(match(l, "192.0.2.8", T0, NULL, 0), 0);
}

static void test_v6(void **state)
{
	struct gov_lists *l = *state;
	char w[64];

	add(l, GOV_LIST_ALLOW, "2001:db8::/32", 0);
	add(l, GOV_LIST_ALLOW, "2001:db8:1::/48", 0);
	assert_int_equal(match(l, "2001:db8:1::1", T0, w, sizeof(w)), GOV_LIST_ALLOW);
	assert_string_equal(w, "2001:db8:1::/48"); /* the most specific */
	assert_int_equal(match(l, "2001:db8:2::1", T0, w, sizeof(w)), GOV_LIST_ALLOW);
	assert_string_equal(w, "2001:db8::/32");
	assert_int_equal(match(l, "2001:db9::1", T0, NULL, 0), 0);
	/* Families never mix, even at /0. */
	add(l, GOV_LIST_DENY, "0.0.0.0/0", 0);
	assert_int_equal(match(l, "2001:db8:1::1", T0, NULL, 0), GOV_LIST_ALLOW);
	assert_int_equal(match(l, "198.51.100.1", T0, NULL, 0), GOV_LIST_DENY);
	add(l, GOV_LIST_DENY, "2001:db8:1:2::/64", 0);
	assert_int_equal(match(l, "2001:db8:1:2::99", T0, NULL, 0), GOV_LIST_DENY);
	assert_int_equal(match(l, "2001:db8:1:3::99", T0, NULL, 0), GOV_LIST_ALLOW);
}

static void test_deny_wins(void **state)
{
	struct gov_lists *l = *state;
	char w[64];

	add(l, GOV_LIST_ALLOW, "10.0.0.0/8", 0);
	add(l, GOV_LIST_DENY, "10.1.2.0/24", 0);
	add(l, GOV_LIST_ALLOW, "10.1.2.3/32", 0);
	assert_int_equal(match(l, "10.1.2.3", T0, w, sizeof(w)), GOV_LIST_DENY);
	assert_string_equal(w, "10.1.2.0/24");
	assert_int_equal(match(l, "10.1.3.3", T0, NULL, 0), GOV_LIST_ALLOW);
	/* The same cidr in both lists: deny. */
	add(l, GOV_LIST_DENY, "10.9.0.0/16", 0);
	add(l, GOV_LIST_ALLOW, "10.9.0.0/16", 0);
	assert_int_equal(match(l, "10.9.1.1", T0, NULL, 0), GOV_LIST_DENY);
}

static void test_expiry(void **state)
{
	struct gov_lists *l = *state;

	add(l, GOV_LIST_DENY, "198.51.100.0/24", T0 + 1000);
	add(l, GOV_LIST_ALLOW, "198.51.100.0/22", 0);
	assert_int_equal(match(l, "198.51.100.1", T0 + 999, NULL, 0), GOV_LIST_DENY);
	assert_int_equal(match(l, "198.51.100.1", T0 + 1000, NULL, 0), GOV_LIST_ALLOW);
	assert_int_equal(count(l, T0 + 999), 2);
	assert_int_equal(count(l, T0 + 1000), 1);
	gov_lists_expire(l, T0 + 999);
	assert_int_equal(count(l, T0), 2);
	gov_lists_expire(l, T0 + 1000);
	assert_int_equal(count(l, T0), 1);
	assert_int_equal(match(l, "198.51.100.1", T0, NULL, 0), GOV_LIST_ALLOW);
}

static void test_add_replaces(void **state)
{
	struct gov_lists *l = *state;
	struct ag_cidr c = cidr("10.1.2.3/24"); /* not masked: stored as 10.1.2.0/24 */
	char w[64];

	assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, &c, T0 + 10, "first"), 0);
	assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, &c, 0, NULL), 0);
	assert_int_equal(count(l, T0 + 20), 1);
	assert_int_equal(match(l, "10.1.2.200", T0 + 20, w, sizeof(w)), GOV_LIST_DENY);
	assert_string_equal(w, "10.1.2.0/24");
	assert_int_equal(gov_lists_add(l, 3, &c, 0, NULL), AG_ERR_INVAL);
	assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, NULL, 0, NULL), AG_ERR_INVAL);
	c.prefix = 33;
	assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, &c, 0, NULL), AG_ERR_INVAL);
}

static const char *first_comment(const struct gov_lists *l)
{
	const struct gov_list_entry *e = NULL;
	struct ag_addr a;

	assert_int_equal(ag_addr_parse("10.1.2.1", &a), 0);
	assert_int_equal(gov_lists_match(l, &a, T0, &e), GOV_LIST_DENY);
	return e->comment;
}

static void test_comment(void **state)
{
	struct gov_lists *l = *state;
	struct ag_cidr c = cidr("10.1.2.0/24");
	char longc[300];

	memset(longc, 'c', sizeof(longc) - 1);
	longc[sizeof(longc) - 1] = '\0';
	assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, &c, 0, "ticket 42"), 0);
	assert_string_equal(first_comment(l), "ticket 42");
	assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, &c, 0, longc), 0);
	assert_int_equal(strlen(first_comment(l)), GOV_LIST_COMMENT_MAX - 1);
}

static void test_remove(void **state)
{
	struct gov_lists *l = *state;
	struct ag_cidr c = cidr("10.1.2.77/24");
	struct ag_conf conf;
	struct ag_list_entry deny = {cidr("10.1.2.0/24"), 0};

	memset(&conf, 0, sizeof(conf));
	conf.deny = &deny;
	conf.n_deny = 1;
	assert_int_equal(gov_lists_set_conf(l, &conf), 0);
	add(l, GOV_LIST_ALLOW, "10.1.2.0/24", 0);
	add(l, GOV_LIST_DENY, "10.1.0.0/16", 0);
	assert_int_equal(count(l, T0), 3);
	/* Both kinds, both origins, exactly this cidr. */
	assert_int_equal(gov_lists_remove(l, &c), 0);
	assert_int_equal(count(l, T0), 1);
	assert_int_equal(gov_lists_remove(l, &c), AG_ERR_NOTFOUND);
	assert_int_equal(match(l, "10.1.2.1", T0, NULL, 0), GOV_LIST_DENY);
	c = cidr("10.1.0.0/16");
	assert_int_equal(gov_lists_remove(l, &c), 0);
	assert_int_equal(match(l, "10.1.2.1", T0, NULL, 0), 0);
	assert_int_equal(count(l, T0), 0);
}

static void test_bound(void **state)
{
	struct gov_lists *l = *state;
	struct ag_cidr c = cidr("10.0.0.0/32");
	uint32_t i;

	for (i = 0; i < GOV_LISTS_MAX; i++) {
		c.addr.b[2] = (uint8_t)(i >> 8);
		c.addr.b[3] = (uint8_t)i;
		c.addr.b[1] = (uint8_t)(i >> 16);
		assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, &c, 0, NULL), 0);
	}
	assert_int_equal(count(l, T0), GOV_LISTS_MAX);
	c = cidr("192.0.2.1/32");
	assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, &c, 0, NULL), AG_ERR_FULL);
	assert_int_equal(gov_lists_reserve(l, 1), AG_ERR_FULL);
	assert_int_equal(match(l, "10.0.255.255", T0, NULL, 0), GOV_LIST_DENY);
	assert_int_equal(match(l, "10.1.0.0", T0, NULL, 0), 0);
	/* Replacing an entry needs no room. */
	c = cidr("10.0.1.2/32");
	assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, &c, 5, NULL), 0);
	assert_int_equal(gov_lists_remove(l, &c), 0);
	c = cidr("192.0.2.1/32");
	assert_int_equal(gov_lists_add(l, GOV_LIST_DENY, &c, 0, NULL), 0);
}

struct seen {
	int conf, runtime;
};

static int origin_cb(const struct gov_list_entry *e, void *arg)
{
	struct seen *s = arg;

	if (e->origin == GOV_ORIGIN_CONF)
		s->conf++;
	else
		s->runtime++;
	return 0;
}

static int stop_cb(const struct gov_list_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	return 7;
}

static void test_conf_replacement(void **state)
{
	struct gov_lists *l = *state;
	struct ag_conf conf;
	struct ag_list_entry allow[2] = {{cidr("192.0.2.0/24"), 0}, {cidr("2001:db8::/32"), 0}};
	struct ag_list_entry deny[1] = {{cidr("198.51.100.0/24"), 0}};
	struct ag_list_entry allow2[1] = {{cidr("203.0.113.0/24"), 0}};
	struct seen s = {0, 0};

	memset(&conf, 0, sizeof(conf));
	conf.allow = allow;
	conf.n_allow = 2;
	conf.deny = deny;
	conf.n_deny = 1;
	assert_int_equal(gov_lists_set_conf(l, &conf), 0);
	add(l, GOV_LIST_DENY, "192.0.2.66", 0);
	assert_int_equal(match(l, "198.51.100.1", T0, NULL, 0), GOV_LIST_DENY);
	assert_int_equal(match(l, "192.0.2.66", T0, NULL, 0), GOV_LIST_DENY);
	/* Reload: the config entries are replaced, the runtime one stays. */
	conf.allow = allow2;
	conf.n_allow = 1;
	conf.n_deny = 0;
	assert_int_equal(gov_lists_set_conf(l, &conf), 0);
	assert_int_equal(gov_lists_each(l, T0, origin_cb, &s), 0);
	assert_int_equal(s.conf, 1);
	assert_int_equal(s.runtime, 1);
	assert_int_equal(match(l, "198.51.100.1", T0, NULL, 0), 0);
	assert_int_equal(match(l, "2001:db8::1", T0, NULL, 0), 0);
	assert_int_equal(match(l, "203.0.113.1", T0, NULL, 0), GOV_LIST_ALLOW);
	assert_int_equal(match(l, "192.0.2.66", T0, NULL, 0), GOV_LIST_DENY);
	assert_int_equal(gov_lists_each(l, T0, stop_cb, NULL), 7);
	/* A bad entry changes nothing. */
	allow2[0].cidr.prefix = 40;
	assert_int_equal(gov_lists_set_conf(l, &conf), AG_ERR_INVAL);
	assert_int_equal(match(l, "203.0.113.1", T0, NULL, 0), GOV_LIST_ALLOW);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_v4),	    T(test_v6),		  T(test_deny_wins),
	    T(test_expiry), T(test_add_replaces), T(test_comment),
	    T(test_remove), T(test_bound),	  T(test_conf_replacement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

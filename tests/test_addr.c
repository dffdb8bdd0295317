/* test_addr.c - addresses, netblocks and source keys (lib/ag_addr.c). */
#include "config.h"
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "ag_addr.h"
#include "ag_err.h"

static void expect_addr(const char *in, int family, const char *canonical)
{
	struct ag_addr a;
	char buf[64];

	if (ag_addr_parse(in, &a) != 0)
		fail_msg("'%s' refused", in);
	assert_int_equal(a.family, family);
	assert_int_equal(ag_addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, canonical);
}

static void test_addr_v4(void **state)
{
	struct ag_addr a;

	expect_addr("203.0.113.9", AF_INET, "203.0.113.9");
	expect_addr("0.0.0.0", AF_INET, "0.0.0.0");
	expect_addr("255.255.255.255", AF_INET, "255.255.255.255");
	assert_int_equal(ag_addr_parse("10.1.2.3", &a), 0);
	assert_int_equal(a.b[0], 10);
	assert_int_equal(a.b[3], 3);
	assert_int_equal(a.b[4], 0);
}

static void test_addr_v6(void **state)
{
	expect_addr("2001:db8::1", AF_INET6, "2001:db8::1");
	expect_addr("2001:DB8:0:0:0:0:0:1", AF_INET6, "2001:db8::1");
	expect_addr("::1", AF_INET6, "::1");
	expect_addr("::", AF_INET6, "::");
	expect_addr("fe80::1:2", AF_INET6, "fe80::1:2");
}

static void test_addr_mapped_folds(void **state)
{
	struct ag_addr a;

	expect_addr("::ffff:203.0.113.9", AF_INET, "203.0.113.9");
	expect_addr("::ffff:cb00:7109", AF_INET, "203.0.113.9");
	assert_int_equal(ag_addr_parse("::ffff:10.0.0.1", &a), 0);
	assert_int_equal(a.b[4], 0);
	assert_int_equal(a.b[15], 0);
	/* Not mapped: v4-compatible and NAT64 forms stay v6. */
	expect_addr("::10.0.0.1", AF_INET6, "::10.0.0.1");
	expect_addr("64:ff9b::10.0.0.1", AF_INET6, "64:ff9b::a00:1");
}

static void test_addr_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "1.2.3",
	    "1.2.3.4.5",
	    "01.2.3.4",
	    "256.1.1.1",
	    "1.2.3.-4",
	    "[::1]",
	    "1.2.3.4:22",
	    "[::1]:22",
	    "::g",
	    "fe80::1%eth0",
	    " 1.2.3.4",
	    "1.2.3.4 ",
	    "localhost",
	    "1.2.3.4/32",
	    "0x7f.0.0.1",
	    "2001:db8:::1",
	    "1:2:3:4:5:6:7:8:9",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct ag_addr a;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&a, 0x55, sizeof(a));
		if (ag_addr_parse(bad[i], &a) != AG_ERR_INVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(a.family, 0);
	}
	assert_int_equal(ag_addr_parse(NULL, &a), AG_ERR_INVAL);
	assert_int_equal(ag_addr_parse("1.2.3.4", NULL), AG_ERR_INVAL);
}

static void expect_cidr(const char *in, int family, const char *canonical)
{
	struct ag_cidr c;
	char buf[80];

	if (ag_cidr_parse(in, &c) != 0)
		fail_msg("'%s' refused", in);
	assert_int_equal(c.addr.family, family);
	assert_int_equal(ag_cidr_format(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, canonical);
}

static void test_cidr_parse_and_mask(void **state)
{
	expect_cidr("10.1.2.3/8", AF_INET, "10.0.0.0/8");
	expect_cidr("10.255.255.255/13", AF_INET, "10.248.0.0/13");
	expect_cidr("1.2.3.4", AF_INET, "1.2.3.4/32");
	expect_cidr("1.2.3.4/0", AF_INET, "0.0.0.0/0");
	expect_cidr("2001:db8::1/32", AF_INET6, "2001:db8::/32");
	expect_cidr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/65", AF_INET6,
		    "2001:db8:ffff:ffff:8000::/65");
	expect_cidr("::1", AF_INET6, "::1/128");
	expect_cidr("::/0", AF_INET6, "::/0");
	expect_cidr("::ffff:10.1.2.3/104", AF_INET, "10.0.0.0/8");
	expect_cidr("::ffff:10.1.2.3", AF_INET, "10.1.2.3/32");
	expect_cidr("::ffff:0:0/96", AF_INET, "0.0.0.0/0");
	/* Shorter than /96, the block holds more than mapped addresses. */
	expect_cidr("::ffff:0:0/64", AF_INET6, "::/64");
}

static void test_cidr_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "/8",
	    "10.0.0.0/",
	    "10.0.0.0/33",
	    "::/129",
	    "10.0.0.0/-1",
	    "10.0.0.0/+8",
	    "10.0.0.0/08",
	    "10.0.0.0/8/8",
	    "10.0.0.0/ 8",
	    "10.0.0.0/8 ",
	    "10.0.0.0/8x",
	    "10.0.0/8",
	    "[::1]/128",
	    "::g/64",
	    "10.0.0.0/1000",
	    "10.0.0.0/99999999999999999999",
	};
	struct ag_cidr c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ag_cidr_parse(bad[i], &c) != AG_ERR_INVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(c.addr.family, 0);
		assert_int_equal(c.prefix, 0);
	}
	assert_int_equal(ag_cidr_parse(NULL, &c), AG_ERR_INVAL);
	assert_int_equal(ag_cidr_parse("10.0.0.0/8", NULL), AG_ERR_INVAL);
}

static int contains(const char *cidr, const char *addr)
{
	struct ag_cidr c;
	struct ag_addr a;

	assert_int_equal(ag_cidr_parse(cidr, &c), 0);
	assert_int_equal(ag_addr_parse(addr, &a), 0);
	return ag_cidr_contains(&c, &a);
}

static void test_cidr_contains(void **state)
{
	struct ag_cidr c;
	struct ag_addr a;

	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	assert_true(contains("10.0.0.0/8", "10.255.1.2"));
	assert_false(contains("10.0.0.0/8", "11.0.0.0"));
	assert_true(contains("10.248.0.0/13", "10.255.255.255"));
	assert_false(contains("10.248.0.0/13", "10.247.255.255"));
	assert_true(contains("0.0.0.0/0", "192.0.2.1"));
	assert_true(contains("1.2.3.4", "1.2.3.4"));
	assert_false(contains("1.2.3.4", "1.2.3.5"));
	assert_true(contains("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(contains("2001:db8::/32", "2001:db9::1"));
	assert_true(contains("2001:db8:0:0:8000::/65", "2001:db8::ffff:0:0:1"));
	assert_false(contains("2001:db8:0:0:8000::/65", "2001:db8::7fff:0:0:1"));
	/* Across families: never, even at /0. */
	assert_false(contains("::/0", "10.0.0.1"));
	assert_false(contains("0.0.0.0/0", "2001:db8::1"));
	/* A mapped address is folded, so a v4 block holds it. */
	assert_true(contains("10.0.0.0/8", "::ffff:10.9.9.9"));
	assert_false(ag_cidr_contains(NULL, &a));
	assert_false(ag_cidr_contains(&c, NULL));
	c.addr.family = AF_INET;
	c.prefix = 40;
	a.family = AF_INET;
	assert_false(ag_cidr_contains(&c, &a));
}

static void test_addr_mask(void **state)
{
	struct ag_addr a;
	char buf[64];

	assert_int_equal(ag_addr_parse("255.255.255.255", &a), 0);
	ag_addr_mask(&a, 20);
	assert_int_equal(ag_addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "255.255.240.0");
	assert_int_equal(ag_addr_parse("255.255.255.255", &a), 0);
	ag_addr_mask(&a, 99);
	assert_int_equal(ag_addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "255.255.255.255");
	ag_addr_mask(&a, -3);
	assert_int_equal(ag_addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0.0.0.0");
	assert_int_equal(ag_addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &a), 0);
	ag_addr_mask(&a, 127);
	assert_int_equal(ag_addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	ag_addr_mask(NULL, 8);
}

static void test_format_round_trip_and_limits(void **state)
{
	static const char *const addrs[] = {
	    "192.0.2.1", "10.0.0.0",	  "2001:db8::",	    "2001:db8:1:2:3:4:5:6",
	    "::1",	 "fe80::a:b:c:d", "ff02::1:ff00:1",
	};
	struct ag_addr a, b;
	struct ag_cidr c;
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		assert_int_equal(ag_addr_parse(addrs[i], &a), 0);
		assert_int_equal(ag_addr_format(&a, buf, sizeof(buf)), 0);
		assert_string_equal(buf, addrs[i]);
		assert_int_equal(ag_addr_parse(buf, &b), 0);
		assert_memory_equal(&a, &b, sizeof(a));
	}
	assert_int_equal(ag_addr_parse("192.0.2.1", &a), 0);
	assert_int_equal(ag_addr_format(&a, buf, 9), AG_ERR_TOOBIG);
	assert_string_equal(buf, "");
	assert_int_equal(ag_addr_format(&a, buf, 10), 0);
	assert_string_equal(buf, "192.0.2.1");
	assert_int_equal(ag_cidr_parse("192.0.2.0/24", &c), 0);
	assert_int_equal(ag_cidr_format(&c, buf, 12), AG_ERR_TOOBIG);
	assert_string_equal(buf, "");
	assert_int_equal(ag_cidr_format(&c, buf, 13), 0);
	assert_string_equal(buf, "192.0.2.0/24");
	a.family = 99;
	assert_int_equal(ag_addr_format(&a, buf, sizeof(buf)), AG_ERR_INVAL);
	assert_int_equal(ag_addr_format(NULL, buf, sizeof(buf)), AG_ERR_INVAL);
}

static void expect_source(const char *rhost, const char *ruser, const char *tty, const char *key,
			  const char *agg, int is_addr)
{
	struct ag_source s;

	if (ag_source_from(rhost, ruser, tty, 32, 64, 24, 48, &s) != 0)
		fail_msg("rhost '%s' refused", rhost ? rhost : "(null)");
	assert_string_equal(s.key, key);
	assert_string_equal(s.agg, agg);
	assert_int_equal(s.is_addr, is_addr);
}

static void test_source_addresses(void **state)
{
	struct ag_source s;
	char buf[64];

	expect_source("203.0.113.9", "bob", NULL, "203.0.113.9/32", "203.0.113.0/24", 1);
	expect_source("2001:db8:1:2:3:4:5:6", NULL, NULL, "2001:db8:1:2::/64", "2001:db8:1::/48",
		      1);
	expect_source("::ffff:203.0.113.9", NULL, NULL, "203.0.113.9/32", "203.0.113.0/24", 1);
	/* sshd writes link-local peers with their zone. */
	expect_source("fe80::1:2:3:4%eth0", NULL, NULL, "fe80::/64", "fe80::/48", 1);
	assert_int_equal(ag_source_from("2001:db8::7", NULL, NULL, 32, 64, 24, 48, &s), 0);
	assert_int_equal(s.addr.family, AF_INET6);
	assert_int_equal(ag_addr_format(&s.addr, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2001:db8::7");
	/* Other prefixes. */
	assert_int_equal(ag_source_from("203.0.113.9", NULL, NULL, 28, 56, 16, 32, &s), 0);
	assert_string_equal(s.key, "203.0.113.0/28");
	assert_string_equal(s.agg, "203.0.0.0/16");
	assert_int_equal(ag_source_from("2001:db8:aaaa:bbbb::1", NULL, NULL, 28, 56, 16, 32, &s),
			 0);
	assert_string_equal(s.key, "2001:db8:aaaa:bb00::/56");
	assert_string_equal(s.agg, "2001:db8::/32");
}

static void test_source_names_and_local(void **state)
{
	char name[300];
	struct ag_source s;

	expect_source("bastion.example.com", "bob", "ssh", "host:bastion.example.com",
		      "host:bastion.example.com", 0);
	/* Not an address (a port, brackets): a name, taken as given. */
	expect_source("[::1]", NULL, NULL, "host:[::1]", "host:[::1]", 0);
	expect_source("fe80::1%", NULL, NULL, "host:fe80::1%", "host:fe80::1%", 0);
	expect_source(NULL, "alice", "/dev/pts/1", "local:alice", "local:alice", 0);
	expect_source("", "", "/dev/pts/1", "local:/dev/pts/1", "local:/dev/pts/1", 0);
	expect_source(NULL, NULL, NULL, "local:", "local:", 0);
	memset(name, 'a', 255);
	name[255] = '\0';
	assert_int_equal(ag_source_from(name, NULL, NULL, 32, 64, 24, 48, &s), 0);
	assert_int_equal(strlen(s.key), 5 + 255);
	name[255] = 'a';
	name[256] = '\0';
	assert_int_equal(ag_source_from(name, NULL, NULL, 32, 64, 24, 48, &s), AG_ERR_INVAL);
	assert_string_equal(s.key, "");
	assert_int_equal(ag_source_from(NULL, name, NULL, 32, 64, 24, 48, &s), AG_ERR_INVAL);
	assert_int_equal(ag_source_from(NULL, NULL, name, 32, 64, 24, 48, &s), AG_ERR_INVAL);
}

static void test_source_bad_arguments(void **state)
{
	struct ag_source s;

	assert_int_equal(ag_source_from("1.2.3.4", NULL, NULL, 33, 64, 24, 48, &s), AG_ERR_INVAL);
	assert_int_equal(ag_source_from("1.2.3.4", NULL, NULL, 32, 129, 24, 48, &s), AG_ERR_INVAL);
	assert_int_equal(ag_source_from("1.2.3.4", NULL, NULL, 32, 64, -1, 48, &s), AG_ERR_INVAL);
	assert_int_equal(ag_source_from("1.2.3.4", NULL, NULL, 32, 64, 24, 200, &s), AG_ERR_INVAL);
	assert_int_equal(ag_source_from("1.2.3.4", NULL, NULL, 32, 64, 24, 48, NULL), AG_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_v4),
	    cmocka_unit_test(test_addr_v6),
	    cmocka_unit_test(test_addr_mapped_folds),
	    cmocka_unit_test(test_addr_bad),
	    cmocka_unit_test(test_cidr_parse_and_mask),
	    cmocka_unit_test(test_cidr_bad),
	    cmocka_unit_test(test_cidr_contains),
	    cmocka_unit_test(test_addr_mask),
	    cmocka_unit_test(test_format_round_trip_and_limits),
	    cmocka_unit_test(test_source_addresses),
	    cmocka_unit_test(test_source_names_and_local),
	    cmocka_unit_test(test_source_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

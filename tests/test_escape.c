/* test_escape.c - escaping peer bytes for logs, and back. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "ag_escape.h"

#define BUF    2048
#define CANARY 0x5a

/* Fixture: an output buffer pre-filled with a canary, so that tests see any
 * byte written at or past cap. */
struct out {
	char b[BUF];
};

static int out_setup(void **state)
{
	struct out *o = malloc(sizeof(*o));

	if (o == NULL)
		return -1;
	memset(o->b, CANARY, sizeof(o->b));
	*state = o;
	return 0;
}

static int out_teardown(void **state)
{
	free(*state);
	return 0;
}

static void assert_untouched(const char *b, size_t from)
{
	size_t i;

	for (i = from; i < BUF; i++)
		assert_int_equal((unsigned char)b[i], CANARY);
}

static void test_plain(void **state)
{
	struct out *o = *state;
	const char *s = "alice.smith@EXAMPLE-1_~!#$%&'()*+,-./:;<>?@[]^`{|}";

	assert_int_equal(ag_escape(o->b, 100, s, strlen(s)), strlen(s));
	assert_string_equal(o->b, s);
	assert_untouched(o->b, strlen(s) + 1);
}

static void test_control(void **state)
{
	struct out *o = *state;
	const char s[] = "a\tb\nc\x01\x1f\x7f\x80\xff";
	const char *want = "a\\x09b\\x0ac\\x01\\x1f\\x7f\\x80\\xff";

	assert_int_equal(ag_escape(o->b, 100, s, sizeof(s) - 1), strlen(want));
	assert_string_equal(o->b, want);

	/* A NUL inside src is a byte like any other. */
	assert_int_equal(ag_escape(o->b, 100, "a\0b", 3), 6);
	assert_string_equal(o->b, "a\\x00b");
}

static void test_specials(void **state)
{
	struct out *o = *state;
	const char *s = "user=root \"x\"\\y";
	const char *want = "user\\x3droot\\x20\\x22x\\x22\\x5cy";
	size_t n = ag_escape(o->b, 100, s, strlen(s));

	assert_int_equal(n, strlen(want));
	assert_string_equal(o->b, want);
	/* Safe as an unquoted logfmt value. */
	assert_null(strpbrk(o->b, " =\""));
}

static void test_degenerate(void **state)
{
	struct out *o = *state;

	assert_int_equal(ag_escape(o->b, 10, NULL, 0), 0);
	assert_string_equal(o->b, "");
	assert_int_equal(ag_escape(o->b, 10, NULL, 5), 0);
	assert_string_equal(o->b, "");
	assert_int_equal(ag_escape(o->b, 10, "", 0), 0);
	assert_string_equal(o->b, "");
	memset(o->b, CANARY, BUF);
	assert_int_equal(ag_escape(o->b, 0, "abc", 3), 0);
	assert_untouched(o->b, 0);
	assert_int_equal(ag_escape(NULL, 10, "abc", 3), 0);
}

static void test_exact_fit(void **state)
{
	struct out *o = *state;

	/* "a\x20b" needs 6 bytes + NUL. */
	assert_int_equal(ag_escape(o->b, 7, "a b", 3), 6);
	assert_string_equal(o->b, "a\\x20b");
	memset(o->b, CANARY, BUF);
	/* One byte short: the escape is dropped whole, never cut. */
	assert_int_equal(ag_escape(o->b, 6, "a b", 3), 4);
	assert_string_equal(o->b, "a...");
	assert_untouched(o->b, 6);
	/* Four bytes: exactly "..." */
	assert_int_equal(ag_escape(o->b, 4, "abcd", 4), 3);
	assert_string_equal(o->b, "...");
	assert_int_equal(ag_escape(o->b, 5, "abcd", 4), 4);
	assert_string_equal(o->b, "abcd");
	assert_int_equal(ag_escape(o->b, 1, "abcd", 4), 0);
	assert_string_equal(o->b, "");
	assert_int_equal(ag_escape(o->b, 2, "abcd", 4), 1);
	assert_string_equal(o->b, ".");
}

/* For every cap from 1 to what the whole needs: terminated within cap,
 * nothing written past it, and when truncated, the longest whole-unit prefix
 * that leaves room for the dots. */
static void test_truncation_all_caps(void **state)
{
	struct out *o = *state;
	const char src[] = "ab c=\x01\xffxyz\\\"\tq";
	size_t len = sizeof(src) - 1;
	char full[256], pre[256];
	size_t full_len = ag_escape(full, sizeof(full), src, len);
	size_t cap;

	assert_int_equal(full_len, 2 + 4 + 1 + 4 + 4 + 4 + 3 + 4 + 4 + 4 + 1);
	for (cap = 1; cap <= full_len + 2; cap++) {
		size_t n, k, dots;

		memset(o->b, CANARY, BUF);
		n = ag_escape(o->b, cap, src, len);
		assert_true(n < cap);
		assert_int_equal(strlen(o->b), n);
		assert_untouched(o->b, cap);
		if (full_len < cap) {
			assert_string_equal(o->b, full);
			continue;
		}
		dots = cap - 1 < 3 ? cap - 1 : 3;
		assert_true(n >= dots);
		assert_memory_equal(o->b + n - dots, "...", dots);
		/* What precedes the dots is the escape of a prefix of src, and
		 * one more byte of src would not have fit. */
		for (k = 0; k <= len; k++) {
			size_t pl = ag_escape(pre, sizeof(pre), src, k);

			if (pl == n - dots && memcmp(pre, o->b, pl) == 0)
				break;
		}
		assert_true(k <= len);
		assert_true(ag_escape(pre, sizeof(pre), src, k + 1) > cap - 1 - dots);
	}
}

static void test_unescape_round_trip(void **state)
{
	struct out *o = *state;
	char src[256], back[257];
	size_t i, n;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (char)i;
	n = ag_escape(o->b, BUF, src, sizeof(src));
	assert_true(n < BUF);
	assert_int_equal(ag_unescape(back, sizeof(back), o->b), sizeof(src));
	assert_memory_equal(back, src, sizeof(src));
	assert_int_equal(back[sizeof(src)], '\0');

	assert_int_equal(ag_escape(o->b, BUF, "a b=c", 5), 11);
	assert_int_equal(ag_unescape(back, sizeof(back), o->b), 5);
	assert_string_equal(back, "a b=c");
}

static void test_unescape_invalid(void **state)
{
	char d[64];

	assert_int_equal(ag_unescape(d, sizeof(d), "\\x4A\\x6a"), 2);
	assert_string_equal(d, "Jj");
	assert_int_equal(ag_unescape(d, sizeof(d), "\\q"), 2);
	assert_string_equal(d, "\\q");
	assert_int_equal(ag_unescape(d, sizeof(d), "\\xzz"), 4);
	assert_string_equal(d, "\\xzz");
	assert_int_equal(ag_unescape(d, sizeof(d), "\\x4"), 3);
	assert_string_equal(d, "\\x4");
	assert_int_equal(ag_unescape(d, sizeof(d), "\\x4g"), 4);
	assert_string_equal(d, "\\x4g");
	assert_int_equal(ag_unescape(d, sizeof(d), "end\\"), 4);
	assert_string_equal(d, "end\\");
	assert_int_equal(ag_unescape(d, sizeof(d), "\\\\x41"), 2);
	assert_string_equal(d, "\\A");
}

static void test_unescape_bounds(void **state)
{
	struct out *o = *state;

	assert_int_equal(ag_unescape(o->b, 3, "abcdef"), 2);
	assert_string_equal(o->b, "ab");
	assert_untouched(o->b, 3);
	memset(o->b, CANARY, BUF);
	assert_int_equal(ag_unescape(o->b, 2, "\\x41\\x42"), 1);
	assert_string_equal(o->b, "A");
	assert_untouched(o->b, 2);
	assert_int_equal(ag_unescape(o->b, 1, "abc"), 0);
	assert_string_equal(o->b, "");
	assert_int_equal(ag_unescape(o->b, 8, NULL), 0);
	assert_string_equal(o->b, "");
	memset(o->b, CANARY, BUF);
	assert_int_equal(ag_unescape(o->b, 0, "abc"), 0);
	assert_untouched(o->b, 0);
	assert_int_equal(ag_unescape(NULL, 8, "abc"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain, out_setup, out_teardown),
	    cmocka_unit_test_setup_teardown(test_control, out_setup, out_teardown),
	    cmocka_unit_test_setup_teardown(test_specials, out_setup, out_teardown),
	    cmocka_unit_test_setup_teardown(test_degenerate, out_setup, out_teardown),
	    cmocka_unit_test_setup_teardown(test_exact_fit, out_setup, out_teardown),
	    cmocka_unit_test_setup_teardown(test_truncation_all_caps, out_setup, out_teardown),
	    cmocka_unit_test_setup_teardown(test_unescape_round_trip, out_setup, out_teardown),
	    cmocka_unit_test(test_unescape_invalid),
	    cmocka_unit_test_setup_teardown(test_unescape_bounds, out_setup, out_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

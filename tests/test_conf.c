/* test_conf.c - the option table, value parsers, authguard.conf and the PAM
 * module arguments (lib/ag_conf.c, lib/ag_modargs.c, lib/ag_parse.c). */
#include "config.h"
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "ag_conf.h"
#include "ag_err.h"

#define MS_S INT64_C(1000)
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)

/* ---- fixtures ------------------------------------------------------------ */

struct fx {
	char dir[64];
	char path[128];
	struct ag_conf c;
	char err[AG_ERRBUF];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_conf.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/t.conf", f->dir);
	if (ag_conf_init(&f->c) != 0) {
		rmdir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ag_conf_free(&f->c);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *out = fopen(path, "w");

	assert_non_null(out);
	assert_int_equal(fwrite(text, 1, len, out), len);
	assert_int_equal(fclose(out), 0);
}

/* Writes text as the fixture's file and loads it over the defaults. */
static int load_text(struct fx *f, const char *text)
{
	ag_conf_free(&f->c);
	assert_int_equal(ag_conf_init(&f->c), 0);
	write_text(f->path, text, strlen(text));
	return ag_conf_load(&f->c, f->path, f->err, sizeof(f->err));
}

/* The load fails with AG_ERR_CONFIG and a message "PATH:LINE: ..." that
 * contains want. */
static void expect_error_at(struct fx *f, const char *text, int line, const char *want)
{
	char prefix[160];
	int rc = load_text(f, text);

	if (rc != AG_ERR_CONFIG)
		fail_msg("loaded (%d) instead of failing at line %d: %s", rc, line, text);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", f->path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", f->path);
	if (strncmp(f->err, prefix, strlen(prefix)) != 0 || strstr(f->err, want) == NULL)
		fail_msg("error \"%s\", wanted prefix \"%s\" and \"%s\"", f->err, prefix, want);
}

/* ---- scalar parsers ------------------------------------------------------ */

static void test_parse_int(void **state)
{
	int64_t v = 7;

	assert_int_equal(ag_parse_int("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ag_parse_int("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(ag_parse_int("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(ag_parse_int("9223372036854775807", 0, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	v = 7;
	static const char *const bad[] = {
	    "", " 1", "1 ", "+1", "1x", "0x10", "-", "1.5", "9223372036854775808", "--1", "1e3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ag_parse_int(bad[i], INT64_MIN, INT64_MAX, &v) != AG_ERR_INVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(v, 7);
	}
	assert_int_equal(ag_parse_int("11", 0, 10, &v), AG_ERR_INVAL);
	assert_int_equal(ag_parse_int("-1", 0, 10, &v), AG_ERR_INVAL);
	assert_int_equal(ag_parse_int(NULL, 0, 10, &v), AG_ERR_INVAL);
	assert_int_equal(v, 7);
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int bare;
		int64_t ms; /* -1: refused */
	} cases[] = {
	    {"1500ms", 0, 1500},
	    {"2m", 0, 2 * MS_M},
	    {"1h30m", 0, 90 * MS_M},
	    {"0s", 0, 0},
	    {"0ms", 0, 0},
	    {"1d", 0, MS_D},
	    {"1d2h3m4s5ms", 0, MS_D + 2 * MS_H + 3 * MS_M + 4 * MS_S + 5},
	    {"1s500ms", 0, 1500},
	    {"90m", 0, 90 * MS_M},
	    {"9223372036854775807ms", 0, INT64_MAX},
	    {"250", 1, 250},
	    {"0", 1, 0},
	    {"1s", 1, MS_S},
	    {"250", 0, -1},
	    {"5x", 0, -1},
	    {"", 0, -1},
	    {"", 1, -1},
	    {"1h30", 0, -1},
	    {"1h30", 1, -1},
	    {"30m1h", 0, -1},
	    {"1m1m", 0, -1},
	    {"1ms1s", 0, -1},
	    {" 1s", 0, -1},
	    {"1s ", 0, -1},
	    {"1 s", 0, -1},
	    {"+1s", 0, -1},
	    {"-1s", 0, -1},
	    {"-1", 1, -1},
	    {"s", 0, -1},
	    {"1S", 0, -1},
	    {"1sec", 0, -1},
	    {"1.5s", 0, -1},
	    {"99999999999999999999s", 0, -1},
	    {"9223372036854775808ms", 0, -1},
	    {"106751991168d", 0, -1},
	    {"106751991167d23h59m59s999ms", 0, -1},
	};
	int64_t v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		v = -7;
		rc = ag_parse_duration(cases[i].s, cases[i].bare, 0, INT64_MAX, &v);
		if (cases[i].ms < 0) {
			if (rc != AG_ERR_INVAL || v != -7)
				fail_msg("'%s' (bare %d) accepted as %lld", cases[i].s,
					 cases[i].bare, (long long)v);
		} else if (rc != 0 || v != cases[i].ms) {
			fail_msg("'%s' (bare %d): rc %d, %lld ms", cases[i].s, cases[i].bare, rc,
				 (long long)v);
		}
	}
	assert_int_equal(ag_parse_duration("1s", 0, 1000, 1000, &v), 0);
	assert_int_equal(ag_parse_duration("999ms", 0, 1000, 2000, &v), AG_ERR_INVAL);
	assert_int_equal(ag_parse_duration("2001ms", 0, 1000, 2000, &v), AG_ERR_INVAL);
	assert_int_equal(ag_parse_duration(NULL, 0, 0, 10, &v), AG_ERR_INVAL);
}

static void test_parse_rate(void **state)
{
	struct ag_rate r = {7, 7};

	assert_int_equal(ag_parse_rate("60/min", &r), 0);
	assert_true(r.count == 60 && r.period_ms == MS_M);
	assert_int_equal(ag_parse_rate("60/m", &r), 0);
	assert_true(r.count == 60 && r.period_ms == MS_M);
	assert_int_equal(ag_parse_rate("10/s", &r), 0);
	assert_true(r.count == 10 && r.period_ms == MS_S);
	assert_int_equal(ag_parse_rate("5/h", &r), 0);
	assert_true(r.count == 5 && r.period_ms == MS_H);
	r.count = 7;
	static const char *const bad[] = {
	    "0/s",   "/s",    "60",   "60/", "60/mins", "60/M",	 " 60/s",
	    "60/s ", "-1/s",  "+1/s", "1/d", "1/ms",	"1.5/s", "99999999999999999999/s",
	    "60 /s", "60/ s", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ag_parse_rate(bad[i], &r) != AG_ERR_INVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(r.count, 7);
	}
}

static void test_parse_bool(void **state)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	static const char *const bad[] = {"Yes", "TRUE", "", "2", "y", "n", " yes", "yes ", "On"};
	int b;

	for (size_t i = 0; i < 4; i++) {
		b = 0;
		assert_int_equal(ag_parse_bool(yes[i], &b), 0);
		assert_int_equal(b, 1);
		assert_int_equal(ag_parse_bool(no[i], &b), 0);
		assert_int_equal(b, 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = 5;
		if (ag_parse_bool(bad[i], &b) != AG_ERR_INVAL || b != 5)
			fail_msg("'%s' accepted", bad[i]);
	}
}

static void test_format_duration(void **state)
{
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
	    {1500, "1500ms"},	{120000, "2m"},	    {5400000, "1h30m"},	  {0, "0s"},
	    {1, "1ms"},		{1000, "1s"},	    {MS_D, "1d"},	  {90061000, "1d1h1m1s"},
	    {60500, "60500ms"}, {30 * MS_D, "30d"}, {36 * MS_H, "1d12h"},
	};
	char buf[40];
	int64_t back;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ag_format_duration(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].s);
		assert_int_equal(ag_parse_duration(buf, 0, 0, INT64_MAX, &back), 0);
		assert_true(back == cases[i].ms);
	}
	ag_format_duration(INT64_MAX, buf, sizeof(buf));
	assert_int_equal(ag_parse_duration(buf, 0, 0, INT64_MAX, &back), 0);
	assert_true(back == INT64_MAX);
	ag_format_duration(5400000, buf, 4);
	assert_string_equal(buf, "1h3");
	ag_format_duration(5400000, buf, 1);
	assert_string_equal(buf, "");
	ag_format_duration(5400000, NULL, 10);
}

static void test_parse_utc(void **state)
{
	static const char *const good[] = {"2030-01-01T00:00:00Z", "2024-02-29T12:34:56Z",
					   "1970-01-01T00:00:01Z", "2000-02-29T23:59:59Z",
					   "9999-12-31T23:59:59Z"};
	static const char *const bad[] = {
	    "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",	 "2030-13-01T00:00:00Z",
	    "2030-00-01T00:00:00Z", "2030-01-00T00:00:00Z",	 "2030-04-31T00:00:00Z",
	    "2030-01-01T24:00:00Z", "2030-01-01T00:60:00Z",	 "2030-01-01T00:00:60Z",
	    "2030-01-01 00:00:00Z", "2030-01-01T00:00:00",	 "2030-01-01T00:00:00z",
	    "2030-1-01T00:00:00Z",  "2030-01-01T00:00:00Z ",	 " 2030-01-01T00:00:00Z",
	    "1969-12-31T23:59:59Z", "2030-01-01T00:00:00+00:00", "",
	    "2030-01-01",	    "203x-01-01T00:00:00Z",
	};
	int64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct tm tm;

		memset(&tm, 0, sizeof(tm));
		assert_int_equal(ag_parse_utc(good[i], &v), 0);
		assert_non_null(strptime(good[i], "%Y-%m-%dT%H:%M:%SZ", &tm));
		assert_true(v == (int64_t)timegm(&tm) * 1000);
	}
	assert_int_equal(ag_parse_utc("2030-01-01T00:00:00Z", &v), 0);
	assert_true(v == INT64_C(1893456000000));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		if (ag_parse_utc(bad[i], &v) != AG_ERR_INVAL || v != 7)
			fail_msg("'%s' accepted", bad[i]);
	}
}

static void test_parse_list_entry(void **state)
{
	struct ag_list_entry e;

	assert_int_equal(ag_parse_list_entry("10.1.0.0/16", &e), 0);
	assert_int_equal(e.cidr.prefix, 16);
	assert_int_equal(e.expires_ms, 0);
	assert_int_equal(ag_parse_list_entry("2001:db8::/32 until 2030-01-01T00:00:00Z", &e), 0);
	assert_int_equal(e.cidr.prefix, 32);
	assert_true(e.expires_ms == INT64_C(1893456000000));
	assert_int_equal(ag_parse_list_entry("192.0.2.1 \t until\t 2030-01-01T00:00:00Z", &e), 0);
	assert_int_equal(e.cidr.prefix, 32);
	static const char *const bad[] = {
	    "",
	    "10.0.0.0/33",
	    "10.0.0.0/8 until",
	    "10.0.0.0/8 until ",
	    "10.0.0.0/8 ",
	    "10.0.0.0/8 until 2030-01-01",
	    "10.0.0.0/8 until tomorrow",
	    "10.0.0.0/8 till 2030-01-01T00:00:00Z",
	    "10.0.0.0/8 untilx 2030-01-01T00:00:00Z",
	    "10.0.0.0/8 until2030-01-01T00:00:00Z",
	    "10.0.0.0/8 until 2030-01-01T00:00:00Z x",
	    "10.0.0.0/8 until 1970-01-01T00:00:00Z",
	    " 10.0.0.0/8",
	    "host.example.com",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ag_parse_list_entry(bad[i], &e) != AG_ERR_INVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(e.cidr.prefix, 0);
		assert_int_equal(e.expires_ms, 0);
	}
}

/* ---- the table ----------------------------------------------------------- */

static void test_table_sane(void **state)
{
	static const char *const sections[] = {"governor", "limits", "overload", "lists", "store"};
	size_t n, i, j;
	const struct ag_option *t = ag_options(&n);

	assert_non_null(t);
	assert_true(n > 50);
	for (i = 0; i < n; i++) {
		int known = 0;

		assert_non_null(t[i].key);
		assert_true(t[i].key[0] != '\0');
		if (t[i].help == NULL || t[i].help[0] == '\0')
			fail_msg("%s: no help", t[i].key);
		assert_true(t[i].scope == AG_SCOPE_CONF || t[i].scope == AG_SCOPE_PAM);
		if (t[i].type == AG_T_ENUM)
			assert_non_null(t[i].words);
		if (t[i].scope == AG_SCOPE_PAM) {
			assert_null(t[i].section);
			assert_true(t[i].type != AG_T_LIST && t[i].type != AG_T_GROUP);
		} else {
			assert_non_null(t[i].section);
			for (j = 0; j < sizeof(sections) / sizeof(sections[0]); j++)
				known |= strcmp(t[i].section, sections[j]) == 0;
			assert_true(known);
			assert_true(t[i].type != AG_T_FLAG && t[i].type != AG_T_MSEC);
			if (t[i].type != AG_T_LIST && t[i].defval == NULL)
				fail_msg("[%s] %s: no default", t[i].section, t[i].key);
		}
		assert_true(t[i].min <= t[i].max);
		assert_ptr_equal(ag_option_find(t[i].scope, t[i].section, t[i].key), &t[i]);
		for (j = 0; j < i; j++) {
			if (t[j].scope == t[i].scope && strcmp(t[j].key, t[i].key) == 0 &&
			    (t[i].section == NULL ||
			     (t[j].section != NULL && strcmp(t[j].section, t[i].section) == 0)))
				fail_msg("%s listed twice", t[i].key);
		}
	}
	assert_null(ag_option_find(AG_SCOPE_CONF, "governor", "nope"));
	assert_null(ag_option_find(AG_SCOPE_CONF, "limits", "socket"));
	assert_null(ag_option_find(AG_SCOPE_PAM, NULL, "max_clients"));
	assert_null(ag_option_find(AG_SCOPE_CONF, NULL, "socket"));
	assert_null(ag_option_find(AG_SCOPE_CONF, "governor", NULL));
	assert_int_equal(ag_options(NULL) == t, 1);
}

static void test_defaults(void **state)
{
	struct fx *f = *state;
	struct ag_conf *c = &f->c;

	assert_string_equal(c->socket, "/run/authguard/governor.sock");
	assert_string_equal(c->user_socket, "/run/authguard/user.sock");
	assert_string_equal(c->admin_group, "");
	assert_int_equal(c->has_admin_gid, 0);
	assert_int_equal(c->max_clients, 4096);
	assert_int_equal(c->client_idle_ms, 5000);
	assert_int_equal(c->max_queue, 1024);
	assert_int_equal(c->shed_margin_ms, 20);
	assert_int_equal(c->lease_ms, 60000);
	assert_int_equal(c->user_lease_ms, 10000);
	assert_int_equal(c->user_slots, 4);
	assert_int_equal(c->user_max_conns, 8);
	assert_int_equal(c->user_max_admissions, 2);
	assert_int_equal(c->log_burst, 20);
	assert_int_equal(c->log_interval_ms, 10000);
	assert_string_equal(c->state_file, "/var/lib/authguard/state");
	assert_int_equal(c->state_interval_ms, 60000);
	assert_int_equal(c->pair_free_failures, 3);
	assert_int_equal(c->backoff_base_ms, 1000);
	assert_int_equal(c->backoff_max_ms, 15 * MS_M);
	assert_int_equal(c->failure_window_ms, 15 * MS_M);
	assert_int_equal(c->source_prefix_v4, 32);
	assert_int_equal(c->source_prefix_v6, 64);
	assert_int_equal(c->agg_prefix_v4, 24);
	assert_int_equal(c->agg_prefix_v6, 48);
	assert_true(c->source_rate.count == 60 && c->source_rate.period_ms == MS_M);
	assert_int_equal(c->source_burst, 20);
	assert_true(c->user_rate.count == 10 && c->user_rate.period_ms == MS_M);
	assert_int_equal(c->user_burst, 5);
	assert_int_equal(c->user_max_failures, 100);
	assert_int_equal(c->cap_hold_base_ms, MS_M);
	assert_int_equal(c->cap_hold_max_ms, MS_H);
	assert_true(c->trust_ttl_ms == 30 * MS_D);
	assert_int_equal(c->max_trusted_per_user, 32);
	assert_int_equal(c->fold_case, 0);
	assert_int_equal(c->max_inflight, 16);
	assert_int_equal(c->trusted_reserve_pct, 25);
	assert_int_equal(c->clean_reserve_pct, 25);
	assert_int_equal(c->codel_target_ms, 5);
	assert_int_equal(c->codel_interval_ms, 100);
	assert_null(c->allow);
	assert_int_equal(c->n_allow + c->n_deny, 0);
	assert_int_equal(c->backend, AG_BACKEND_MEMORY);
	assert_int_equal(c->max_tracked, 1000000);
	assert_int_equal(c->max_trusted, 1000000);
	assert_int_equal(ag_conf_check(c, "x", f->err, sizeof(f->err)), 0);
}

/* Values of each type: some accepted, some refused as malformed, some
 * refused as out of range; derived from the option's bounds. */
#define CASE_LEN 4200 /* room for the longest path */

struct cases {
	char good[8][CASE_LEN];
	char bad[8][CASE_LEN];
	int ngood, nbad;
};

static void add(char (*arr)[CASE_LEN], int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add(char (*arr)[CASE_LEN], int *n, const char *fmt, ...)
{
	va_list ap;

	assert_true(*n < 8);
	va_start(ap, fmt);
	vsnprintf(arr[*n], CASE_LEN, fmt, ap);
	va_end(ap);
	(*n)++;
}

static void cases_for(const struct ag_option *o, struct cases *k)
{
	char d[40];
	const char *w;

	memset(k, 0, sizeof(*k));
	switch (o->type) {
	case AG_T_UINT:
		add(k->good, &k->ngood, "%lld", (long long)o->min);
		add(k->good, &k->ngood, "%lld", (long long)o->max);
		if (o->words != NULL) {
			add(k->good, &k->ngood, "%s", o->words);
			add(k->bad, &k->nbad, "%sx", o->words);
		}
		add(k->bad, &k->nbad, "abc");
		add(k->bad, &k->nbad, "%s", "");
		add(k->bad, &k->nbad, "1.5");
		add(k->bad, &k->nbad, "%lld", (long long)o->min - 1);
		add(k->bad, &k->nbad, "%lld", (long long)o->max + 1);
		break;
	case AG_T_DURATION:
		ag_format_duration(o->min, d, sizeof(d));
		add(k->good, &k->ngood, "%s", d);
		ag_format_duration(o->max, d, sizeof(d));
		add(k->good, &k->ngood, "%s", d);
		add(k->bad, &k->nbad, "5x");
		add(k->bad, &k->nbad, "10");
		add(k->bad, &k->nbad, "%s", "");
		if (o->min > 0) {
			ag_format_duration(o->min - 1, d, sizeof(d));
			add(k->bad, &k->nbad, "%s", d);
		}
		ag_format_duration(o->max + 1, d, sizeof(d));
		add(k->bad, &k->nbad, "%s", d);
		break;
	case AG_T_MSEC:
		add(k->good, &k->ngood, "%lld", (long long)o->min);
		add(k->good, &k->ngood, "%lldms", (long long)o->max);
		add(k->bad, &k->nbad, "abc");
		add(k->bad, &k->nbad, "%s", "");
		if (o->min > 0)
			add(k->bad, &k->nbad, "%lld", (long long)o->min - 1);
		add(k->bad, &k->nbad, "%lld", (long long)o->max + 1);
		break;
	case AG_T_RATE:
		add(k->good, &k->ngood, "%lld/h", (long long)o->min);
		add(k->good, &k->ngood, "%lld/h", (long long)o->max);
		add(k->good, &k->ngood, "1000/s");
		add(k->bad, &k->nbad, "abc");
		add(k->bad, &k->nbad, "0/s");
		add(k->bad, &k->nbad, "%lld/h", (long long)o->max + 1);
		add(k->bad, &k->nbad, "1001/s");
		break;
	case AG_T_PERCENT:
		add(k->good, &k->ngood, "%lld%%", (long long)o->min);
		add(k->good, &k->ngood, "%lld", (long long)o->max);
		add(k->bad, &k->nbad, "abc");
		add(k->bad, &k->nbad, "%%");
		add(k->bad, &k->nbad, "5%%%%");
		add(k->bad, &k->nbad, "%lld%%", (long long)o->max + 1);
		add(k->bad, &k->nbad, "%lld", (long long)o->min - 1);
		break;
	case AG_T_BOOL:
		add(k->good, &k->ngood, "yes");
		add(k->good, &k->ngood, "off");
		add(k->bad, &k->nbad, "maybe");
		add(k->bad, &k->nbad, "YES");
		break;
	case AG_T_ENUM:
		for (w = o->words; w != NULL; w = strchr(w, '|') ? strchr(w, '|') + 1 : NULL)
			add(k->good, &k->ngood, "%.*s", (int)strcspn(w, "|"), w);
		add(k->bad, &k->nbad, "bogus");
		add(k->bad, &k->nbad, "%s", "");
		break;
	case AG_T_STRING:
	case AG_T_PATH:
		if (o->check != NULL && strcmp(o->key, "redis") == 0) {
			add(k->good, &k->ngood, "redis://127.0.0.1:6379");
			add(k->good, &k->ngood, "redis://ag:s3cret@10.1.2.3:6380/2");
			add(k->good, &k->ngood, "redis://authguard:@[::1]:6379/0");
			add(k->good, &k->ngood, "unix:///run/redis/redis.sock?db=3");
			add(k->good, &k->ngood, "unix://authguard:@/run/redis/redis.sock");
			add(k->good, &k->ngood, "%s", "");
			add(k->bad, &k->nbad, "redis://localhost:6379");
			add(k->bad, &k->nbad, "redis://127.0.0.1");
			add(k->bad, &k->nbad, "redis://127.0.0.1:0");
			add(k->bad, &k->nbad, "redis://127.0.0.1:6379/x");
			add(k->bad, &k->nbad, "unix://run/redis.sock");
			add(k->bad, &k->nbad, "unix://authguard@/run/redis.sock");
			add(k->bad, &k->nbad, "unix:///run/redis.sock?db=");
			add(k->bad, &k->nbad, "redis://127.0.0.1:6379 ");
			break;
		}
		if (o->check != NULL && strcmp(o->key, "redis_sentinels") == 0) {
			add(k->good, &k->ngood, "127.0.0.1:26379");
			add(k->good, &k->ngood, "10.0.0.1:26379, 10.0.0.2:26379 ,[::1]:26380");
			add(k->good, &k->ngood, "%s", "");
			add(k->bad, &k->nbad, "sentinel1:26379");
			add(k->bad, &k->nbad, "127.0.0.1");
			add(k->bad, &k->nbad, "127.0.0.1:26379,");
			add(k->bad, &k->nbad, "ag:x@127.0.0.1:26379");
			add(k->bad, &k->nbad, "127.0.0.1:26379/0");
			add(k->bad, &k->nbad, "1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,1.1.1.1:4,1.1.1.1:5,"
					      "1.1.1.1:6,1.1.1.1:7,1.1.1.1:8,1.1.1.1:9");
			break;
		}
		if (o->check != NULL && strcmp(o->key, "redis_master_name") == 0) {
			add(k->good, &k->ngood, "mymaster");
			add(k->good, &k->ngood, "%s", "");
			add(k->bad, &k->nbad, "my master");
			add(k->bad, &k->nbad, "m{x}");
			break;
		}
		if (o->check != NULL && strcmp(o->key, "key_prefix") == 0) {
			add(k->good, &k->ngood, "ag:");
			add(k->good, &k->ngood, "fleet-1.auth_");
			add(k->bad, &k->nbad, "a b");
			add(k->bad, &k->nbad, "%s", "");
			add(k->bad, &k->nbad, "ag{x}");
			add(k->bad, &k->nbad, "%033d", 0);
			break;
		}
		if (o->check != NULL) { /* metrics_listen: a loopback IP:PORT or empty */
			add(k->good, &k->ngood, "127.0.0.1:9377");
			add(k->good, &k->ngood, "[::1]:9377");
			add(k->good, &k->ngood, "%s", "");
			add(k->bad, &k->nbad, "0.0.0.0:9377");
			add(k->bad, &k->nbad, "10.0.0.1:9377");
			add(k->bad, &k->nbad, "127.0.0.1:0");
			add(k->bad, &k->nbad, "/tmp/x");
			break;
		}
		add(k->good, &k->ngood, "/tmp/x");
		add(k->good, &k->ngood, "/%0*d", (int)o->max - 1, 0);
		if (o->type == AG_T_PATH)
			add(k->bad, &k->nbad, "relative/path");
		if (o->min > 0)
			add(k->bad, &k->nbad, "%s", "");
		else
			add(k->good, &k->ngood, "%s", "");
		add(k->bad, &k->nbad, "/%0*d", (int)o->max, 0);
		add(k->bad, &k->nbad, "/tmp/a\tb");
		break;
	case AG_T_GROUP:
		add(k->good, &k->ngood, "root");
		add(k->good, &k->ngood, "%s", "");
		add(k->bad, &k->nbad, "no-such-group-authguard");
		add(k->bad, &k->nbad, "root\x01");
		break;
	case AG_T_LIST:
		add(k->good, &k->ngood, "10.0.0.0/8");
		add(k->good, &k->ngood, "2001:db8::/32 until 2030-01-01T00:00:00Z");
		add(k->bad, &k->nbad, "10.0.0.0/33");
		add(k->bad, &k->nbad, "10.0.0.0/8 until tomorrow");
		add(k->bad, &k->nbad, "%s", "");
		break;
	case AG_T_FLAG:
		break;
	}
}

static void test_every_conf_key(void **state)
{
	struct fx *f = *state;
	size_t n, i;
	const struct ag_option *t = ag_options(&n);
	int tried = 0;

	for (i = 0; i < n; i++) {
		const struct ag_option *o = &t[i];
		struct cases k;
		struct ag_conf before;

		if (!(o->scope & AG_SCOPE_CONF))
			continue;
		if (o->defval != NULL &&
		    ag_conf_set(&f->c, o->section, o->key, o->defval, "t", f->err, sizeof(f->err)))
			fail_msg("[%s] %s: default '%s' refused: %s", o->section, o->key, o->defval,
				 f->err);
		cases_for(o, &k);
		assert_true(k.ngood >= 1 && k.nbad >= 2);
		for (int g = 0; g < k.ngood; g++) {
			if (ag_conf_set(&f->c, o->section, o->key, k.good[g], "t", f->err,
					sizeof(f->err)) != 0)
				fail_msg("[%s] %s: '%s' refused: %s", o->section, o->key, k.good[g],
					 f->err);
			tried++;
		}
		for (int b = 0; b < k.nbad; b++) {
			char want[120];

			memcpy(&before, &f->c, sizeof(before));
			if (ag_conf_set(&f->c, o->section, o->key, k.bad[b], "t:9", f->err,
					sizeof(f->err)) != AG_ERR_CONFIG)
				fail_msg("[%s] %s: '%s' accepted", o->section, o->key, k.bad[b]);
			snprintf(want, sizeof(want), "t:9: [%s] %s: ", o->section, o->key);
			if (strncmp(f->err, want, strlen(want)) != 0 ||
			    strstr(f->err, "(expected ") == NULL)
				fail_msg("[%s] %s: '%s': message \"%s\"", o->section, o->key,
					 k.bad[b], f->err);
			if (memcmp(&before, &f->c, sizeof(before)) != 0)
				fail_msg("[%s] %s: refused '%s' changed the conf", o->section,
					 o->key, k.bad[b]);
			tried++;
		}
	}
	assert_true(tried > 200);
}

static void test_set_stores_values(void **state)
{
	struct fx *f = *state;
	struct ag_conf *c = &f->c;

	assert_int_equal(ag_conf_set(c, "limits", "backoff_base", "1h30m", NULL, NULL, 0), 0);
	assert_int_equal(c->backoff_base_ms, 90 * MS_M);
	assert_int_equal(ag_conf_set(c, "limits", "source_rate", "5/s", NULL, NULL, 0), 0);
	assert_true(c->source_rate.count == 5 && c->source_rate.period_ms == MS_S);
	assert_int_equal(ag_conf_set(c, "limits", "fold_case", "on", NULL, NULL, 0), 0);
	assert_int_equal(c->fold_case, 1);
	assert_int_equal(ag_conf_set(c, "overload", "clean_reserve", "10%", NULL, NULL, 0), 0);
	assert_int_equal(c->clean_reserve_pct, 10);
	assert_int_equal(ag_conf_set(c, "governor", "user_socket", "", NULL, NULL, 0), 0);
	assert_string_equal(c->user_socket, "");
	assert_int_equal(ag_conf_set(c, "governor", "admin_group", "root", NULL, NULL, 0), 0);
	assert_int_equal(c->has_admin_gid, 1);
	assert_int_equal(c->admin_gid, 0);
	assert_string_equal(c->admin_group, "root");
	assert_int_equal(ag_conf_set(c, "governor", "admin_group", "", NULL, NULL, 0), 0);
	assert_int_equal(c->has_admin_gid, 0);
	/* The module loads without NSS: the name is kept, nothing resolved,
	 * and a group this host cannot resolve is not an error there. */
	c->no_nss = 1;
	assert_int_equal(
	    ag_conf_set(c, "governor", "admin_group", "no-such-group-here", NULL, NULL, 0), 0);
	assert_int_equal(c->has_admin_gid, 0);
	assert_string_equal(c->admin_group, "no-such-group-here");
	c->no_nss = 0;
	assert_int_equal(
	    ag_conf_set(c, "governor", "admin_group", "no-such-group-here", NULL, NULL, 0),
	    AG_ERR_CONFIG);
	assert_int_equal(
	    ag_conf_set(c, "limits", "max_clients", "100", NULL, f->err, sizeof(f->err)),
	    AG_ERR_CONFIG);
	assert_string_equal(f->err, "[limits] max_clients: unknown key (it belongs in [governor])");
	assert_int_equal(
	    ag_conf_set(c, "governor", "max_clients", "1", NULL, f->err, sizeof(f->err)),
	    AG_ERR_CONFIG);
	assert_string_equal(f->err, "[governor] max_clients: '1' is out of range "
				    "(expected an integer from 16 to 1000000)");
	/* Peer-controlled bytes are escaped in messages. */
	assert_int_equal(
	    ag_conf_set(c, "governor", "max_clients", "1\x1b[2J'", "w", f->err, sizeof(f->err)),
	    AG_ERR_CONFIG);
	assert_non_null(strstr(f->err, "bad value '1\\x1b[2J\\x27'"));
	assert_int_equal(ag_conf_set(NULL, "governor", "socket", "/x", NULL, NULL, 0),
			 AG_ERR_INVAL);
	assert_int_equal(ag_conf_set(c, NULL, "socket", "/x", NULL, NULL, 0), AG_ERR_INVAL);
	assert_int_equal(ag_conf_set(c, "governor", "socket", NULL, NULL, NULL, 0), AG_ERR_INVAL);
}

static void test_list_bound(void **state)
{
	struct fx *f = *state;
	char v[32];

	for (int i = 0; i < AG_LIST_MAX; i++) {
		snprintf(v, sizeof(v), "10.%d.%d.0/24", (i >> 8) & 255, i & 255);
		if (ag_conf_set(&f->c, "lists", "deny", v, NULL, f->err, sizeof(f->err)) != 0)
			fail_msg("entry %d refused: %s", i, f->err);
	}
	assert_int_equal(f->c.n_deny, AG_LIST_MAX);
	assert_int_equal(
	    ag_conf_set(&f->c, "lists", "deny", "1.2.3.4", "t:1", f->err, sizeof(f->err)),
	    AG_ERR_CONFIG);
	assert_non_null(strstr(f->err, "too many entries"));
	assert_int_equal(f->c.n_deny, AG_LIST_MAX);
	assert_int_equal(f->c.deny[AG_LIST_MAX - 1].cidr.addr.b[1], 255);
	assert_int_equal(f->c.n_allow, 0);
}

/* ---- files --------------------------------------------------------------- */

static void test_load_full_file(void **state)
{
	struct fx *f = *state;
	const char *text = "; authguard test config\n"
			   "# another comment\n"
			   "\n"
			   "[governor]\n"
			   "socket = /run/ag/gov.sock ; inline comment\n"
			   "user_socket =\n"
			   "max_clients=100\n"
			   "   \n"
			   "   ; an indented comment is fine\n"
			   "[limits]\n"
			   "backoff_base = 500ms\n"
			   "backoff_max = 1h30m\n"
			   "source_rate = 30/min\n"
			   "fold_case = yes\n"
			   "user_burst: 7\n"
			   "[overload]\n"
			   "trusted_reserve = 40%\n"
			   "clean_reserve = 59\n"
			   "[lists]\n"
			   "allow = 10.0.0.0/8\n"
			   "allow = 2001:db8::/32 until 2030-01-01T00:00:00Z\n"
			   "deny = 192.0.2.0/24\n"
			   "[store]\n"
			   "backend = memory\n"
			   "[limits]\n"
			   "user_rate = 2/s\n";

	if (load_text(f, text) != 0)
		fail_msg("%s", f->err);
	assert_string_equal(f->c.socket, "/run/ag/gov.sock");
	assert_string_equal(f->c.user_socket, "");
	assert_int_equal(f->c.max_clients, 100);
	assert_int_equal(f->c.backoff_base_ms, 500);
	assert_int_equal(f->c.backoff_max_ms, 90 * MS_M);
	assert_true(f->c.source_rate.count == 30 && f->c.source_rate.period_ms == MS_M);
	assert_true(f->c.user_rate.count == 2 && f->c.user_rate.period_ms == MS_S);
	assert_int_equal(f->c.fold_case, 1);
	assert_int_equal(f->c.user_burst, 7);
	assert_int_equal(f->c.trusted_reserve_pct, 40);
	assert_int_equal(f->c.clean_reserve_pct, 59);
	assert_int_equal(f->c.n_allow, 2);
	assert_int_equal(f->c.n_deny, 1);
	assert_int_equal(f->c.allow[0].cidr.prefix, 8);
	assert_int_equal(f->c.allow[0].expires_ms, 0);
	assert_true(f->c.allow[1].expires_ms == INT64_C(1893456000000));
	assert_int_equal(f->c.deny[0].cidr.prefix, 24);
	/* Untouched keys keep their defaults. */
	assert_int_equal(f->c.max_queue, 1024);
	assert_string_equal(f->err, "");
}

static void test_load_crlf_and_bom(void **state)
{
	struct fx *f = *state;

	if (load_text(f, "\xef\xbb\xbf[governor]\r\nmax_clients = 200\r\n\r\n[limits]\r\n"
			 "user_burst = 9\r\n") != 0)
		fail_msg("%s", f->err);
	assert_int_equal(f->c.max_clients, 200);
	assert_int_equal(f->c.user_burst, 9);
	if (load_text(f, "[governor]\nmax_clients = 300") != 0)
		fail_msg("no final newline: %s", f->err);
	assert_int_equal(f->c.max_clients, 300);
	assert_int_equal(load_text(f, ""), 0);
}

static void test_load_errors_name_the_line(void **state)
{
	struct fx *f = *state;
	char longline[400];

	expect_error_at(f, "; c\n\n[nosuch]\nx = 1\n", 3, "unknown section [nosuch]");
	expect_error_at(f, "[governor]\nbogus = 1\n", 2, "[governor] bogus: unknown key");
	expect_error_at(f, "[governor]\nbackoff_base = 1s\n", 2, "(it belongs in [limits])");
	expect_error_at(f, "[governor]\nsocket = /a\nmax_clients = 100\nsocket = /b\n", 4,
			"[governor] socket: set twice (first at line 2)");
	expect_error_at(f, "[limits]\nbackoff_base = 1s\n[governor]\n[limits]\nbackoff_base = 2s\n",
			5, "set twice");
	expect_error_at(f, "; one\n; two\n\n[limits]\n\n; three\nbackoff_base = 5x\n", 7,
			"[limits] backoff_base: bad value '5x' (expected a duration");
	expect_error_at(f, "[limits]\nbackoff_base = 2d\n", 2, "'2d' is out of range");
	expect_error_at(f, "[governor]\nsocket = /a\n  continued\n", 3, "indented line");
	expect_error_at(f, "[governor]\nsocket = /a\n\tcontinued\n", 3, "indented line");
	expect_error_at(f, "[governor]\nsocket = /a\n  [limits]\n", 3, "indented line");
	expect_error_at(f, "[governor]\nthis line has no equals sign\n", 2, "syntax error");
	expect_error_at(f, "[governor\nsocket = /a\n", 1, "section header without ']'");
	expect_error_at(f, "[governor] junk\n", 1, "text after the section header");
	expect_error_at(f, "socket = /a\n", 1, "key outside any section");
	expect_error_at(f, "[governor]\nmax_clients = 100 # not a comment\n", 2, "bad value");
	expect_error_at(f, "[governor]\nmax_clients = 100\n[Governor]\n", 3, "unknown section");
	expect_error_at(f, "[ governor ]\n", 1, "unknown section [ governor ]");
	expect_error_at(f, "[governor]\n=5\n", 2, "unknown key");
	/* A syntax error before a bad value: the first one is reported. */
	expect_error_at(f, "[governor]\nno equals\nmax_clients = 1\n", 2, "syntax error");
	expect_error_at(f, "[governor]\nmax_clients = 1\nno equals\n", 2, "out of range");
	/* Over-long line, whatever comes after it. */
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "[governor]\nsocket = /", 21);
	memcpy(longline + sizeof(longline) - 13, "\nx = 1\n[zz]\n", 13);
	expect_error_at(f, longline, 2, "line longer than");
}

static void test_load_line_length_limit(void **state)
{
	struct fx *f = *state;
	char text[512];
	const char *num;
	int fits = -1;

	/* The longest accepted line is the one the message names; one byte more
	 * is refused, never split into a second line. */
	for (int len = 150; len < 300; len++) {
		int n = snprintf(text, sizeof(text), "[governor]\nstate_file = /%0*d\n",
				 len - (int)strlen("state_file = /"), 0);

		assert_true(n > 0 && (size_t)n < sizeof(text));
		if (load_text(f, text) != 0)
			break;
		assert_int_equal(strlen(f->c.state_file), len - strlen("state_file = "));
		fits = len;
	}
	num = strstr(f->err, "t.conf:2: line longer than ");
	assert_non_null(num);
	assert_int_equal(atoi(num + strlen("t.conf:2: line longer than ")), fits);
	assert_true(fits >= 150);
}

static void test_load_nul_byte(void **state)
{
	struct fx *f = *state;
	static const char text[] = "[governor]\nsocket = /a\0b\n";
	char prefix[160];

	write_text(f->path, text, sizeof(text) - 1);
	assert_int_equal(ag_conf_load(&f->c, f->path, f->err, sizeof(f->err)), AG_ERR_CONFIG);
	snprintf(prefix, sizeof(prefix), "%s:2: NUL byte in line", f->path);
	assert_string_equal(f->err, prefix);
}

static void test_load_cross_checks(void **state)
{
	struct fx *f = *state;

	expect_error_at(f, "[overload]\ntrusted_reserve = 50%\nclean_reserve = 50%\n", 0,
			"trusted_reserve + clean_reserve must stay below 100%");
	expect_error_at(f, "[limits]\nbackoff_base = 2m\nbackoff_max = 1m\n", 0,
			"backoff_base must not exceed backoff_max");
	expect_error_at(f, "[limits]\ncap_hold_base = 2h\n", 0,
			"cap_hold_base must not exceed cap_hold_max");
	expect_error_at(f, "[limits]\nsource_prefix_v4 = 16\n", 0, "agg_prefix_v4/v6");
	expect_error_at(f, "[limits]\nagg_prefix_v6 = 96\n", 0, "agg_prefix_v4/v6");
	expect_error_at(f, "[overload]\ncodel_target = 200ms\n", 0,
			"codel_target must not exceed codel_interval");
	/* The boundaries themselves are fine. */
	if (load_text(f, "[overload]\ntrusted_reserve = 49%\nclean_reserve = 50%\n"
			 "codel_target = 100ms\n[limits]\nbackoff_base = 15m\ncap_hold_base = 1h\n"
			 "source_prefix_v4 = 24\nagg_prefix_v6 = 64\n") != 0)
		fail_msg("%s", f->err);
}

static void test_load_missing_and_not_regular(void **state)
{
	struct fx *f = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/absent.conf", f->dir);
	assert_int_equal(ag_conf_load(&f->c, path, f->err, sizeof(f->err)), AG_ERR_NOTFOUND);
	assert_non_null(strstr(f->err, path));
	assert_non_null(strstr(f->err, "not found"));
	assert_int_equal(ag_conf_load(&f->c, f->dir, f->err, sizeof(f->err)), AG_ERR_CONFIG);
	assert_non_null(strstr(f->err, "not a regular file"));
	assert_int_equal(ag_conf_load(&f->c, NULL, f->err, sizeof(f->err)), AG_ERR_INVAL);
	assert_int_equal(ag_conf_load(NULL, path, f->err, sizeof(f->err)), AG_ERR_INVAL);
	/* Defaults untouched. */
	assert_int_equal(f->c.max_clients, 4096);
}

static void test_load_fp(void **state)
{
	struct fx *f = *state;
	static char text[] = "[governor]\nmax_clients = 77\n[limits]\nbogus = 1\n";
	FILE *in = fmemopen(text, strlen(text), "r");

	assert_non_null(in);
	assert_int_equal(ag_conf_load_fp(&f->c, in, "mem", f->err, sizeof(f->err)), AG_ERR_CONFIG);
	fclose(in);
	assert_string_equal(f->err, "mem:4: [limits] bogus: unknown key");
	assert_int_equal(f->c.max_clients, 77);
	assert_int_equal(ag_conf_load_fp(&f->c, NULL, "mem", f->err, sizeof(f->err)), AG_ERR_INVAL);
}

static void test_load_tiny_errbuf(void **state)
{
	struct fx *f = *state;

	write_text(f->path, "[nosuch]\n", 9);
	assert_int_equal(ag_conf_load(&f->c, f->path, f->err, 8), AG_ERR_CONFIG);
	assert_int_equal(strlen(f->err), 7);
	assert_int_equal(ag_conf_load(&f->c, f->path, NULL, 0), AG_ERR_CONFIG);
}

/* The example with every ";key =" line uncommented loads and gives exactly
 * the built-in defaults (plus its list examples): it documents them right. */
static void expect_example_defaults(struct fx *f, const char *text)
{
	size_t n, i, len = strlen(text), o = 0;
	const struct ag_option *t = ag_options(&n);
	struct ag_conf d;
	char *open_text = calloc(1, len + 1);
	FILE *in;

	assert_non_null(open_text);
	for (i = 0; i < len; i++) {
		if (text[i] == ';' && (i == 0 || text[i - 1] == '\n') && text[i + 1] >= 'a' &&
		    text[i + 1] <= 'z')
			continue;
		open_text[o++] = text[i];
	}
	in = fmemopen(open_text, o, "r");
	assert_non_null(in);
	ag_conf_free(&f->c);
	assert_int_equal(ag_conf_init(&f->c), 0);
	if (ag_conf_load_fp(&f->c, in, "example", f->err, sizeof(f->err)) != 0)
		fail_msg("uncommented example: %s", f->err);
	fclose(in);
	free(open_text);
	assert_true(f->c.n_allow > 0 && f->c.n_deny > 0);
	assert_int_equal(ag_conf_init(&d), 0);
	for (i = 0; i < n; i++) {
		const char *a = (const char *)&f->c + t[i].offset;
		const char *b = (const char *)&d + t[i].offset;
		int same = 1;

		if (!(t[i].scope & AG_SCOPE_CONF))
			continue;
		switch (t[i].type) {
		case AG_T_STRING:
		case AG_T_PATH:
		case AG_T_GROUP:
			same = strcmp(*(char *const *)(const void *)a,
				      *(char *const *)(const void *)b) == 0;
			break;
		case AG_T_RATE:
			same = memcmp(a, b, sizeof(struct ag_rate)) == 0;
			break;
		case AG_T_BOOL:
		case AG_T_ENUM:
			same = memcmp(a, b, sizeof(int)) == 0;
			break;
		case AG_T_LIST:
			break;
		default:
			same = memcmp(a, b, sizeof(int64_t)) == 0;
			break;
		}
		if (!same)
			fail_msg("example's %s differs from the built-in default", t[i].key);
	}
	ag_conf_free(&d);
}

static void test_example_conf_loads(void **state)
{
	struct fx *f = *state;
	const char *src = getenv("AG_SRCDIR");
	char path[4096];
	size_t n, i;
	const struct ag_option *t = ag_options(&n);
	FILE *in;
	char *text;
	long len;

	if (src != NULL)
		snprintf(path, sizeof(path), "%s/etc/authguard.conf", src);
	else
		snprintf(path, sizeof(path), "../etc/authguard.conf");
	if (access(path, R_OK) != 0)
		skip();
	if (ag_conf_load(&f->c, path, f->err, sizeof(f->err)) != 0)
		fail_msg("%s", f->err);
	/* Everything is commented out: the defaults stand. */
	assert_int_equal(f->c.max_clients, 4096);
	assert_int_equal(f->c.n_allow + f->c.n_deny, 0);
	/* ... and every key is documented in it. */
	in = fopen(path, "r");
	assert_non_null(in);
	assert_int_equal(fseek(in, 0, SEEK_END), 0);
	len = ftell(in);
	assert_true(len > 0);
	rewind(in);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, in), (size_t)len);
	fclose(in);
	for (i = 0; i < n; i++) {
		char want[80];

		if (!(t[i].scope & AG_SCOPE_CONF))
			continue;
		snprintf(want, sizeof(want), "\n;%s =", t[i].key);
		if (strstr(text, want) == NULL)
			fail_msg("example config lacks ';%s ='", t[i].key);
	}
	expect_example_defaults(f, text);
	free(text);
}

/* ---- module arguments ---------------------------------------------------- */

static int parse_args(struct ag_modargs *a, char *err, size_t errlen, int argc, ...)
{
	const char *argv[16];
	va_list ap;

	assert_true(argc <= 16);
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, const char *);
	va_end(ap);
	return ag_modargs_parse(a, argc, argv, err, errlen);
}

static void test_modargs_defaults(void **state)
{
	struct ag_modargs a;
	char err[AG_ERRBUF];

	assert_int_equal(ag_modargs_parse(&a, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(a.phase, AG_PHASE_NONE);
	assert_null(a.socket);
	assert_null(a.conf);
	assert_int_equal(a.timeout_ms, 250);
	assert_int_equal(a.queue_wait_ms, 2000);
	assert_int_equal(a.on_error, AG_ON_ERROR_OPEN);
	assert_int_equal(a.precheck, 1);
	assert_int_equal(a.silent, 0);
	assert_int_equal(a.debug, 0);
	ag_modargs_free(&a);
	ag_modargs_free(NULL);
}

static void test_modargs_phases(void **state)
{
	static const struct {
		const char *word;
		int phase;
	} phases[] = {
	    {"preauth", AG_PHASE_PREAUTH},	   {"authfail", AG_PHASE_AUTHFAIL},
	    {"authunavail", AG_PHASE_AUTHUNAVAIL}, {"authsucc", AG_PHASE_AUTHSUCC},
	    {"authpass", AG_PHASE_AUTHPASS},
	};
	struct ag_modargs a;
	char err[AG_ERRBUF];

	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		assert_int_equal(parse_args(&a, err, sizeof(err), 2, "debug", phases[i].word), 0);
		assert_int_equal(a.phase, phases[i].phase);
		assert_int_equal(a.debug, 1);
		ag_modargs_free(&a);
	}
}

static void test_modargs_every_key(void **state)
{
	struct ag_modargs a;
	char err[AG_ERRBUF];

	assert_int_equal(parse_args(&a, err, sizeof(err), 9, "socket=/run/x.sock",
				    "conf=/etc/authguard/other.conf", "timeout=100", "queue_wait=0",
				    "on_error=closed", "silent", "debug", "noprecheck", "preauth"),
			 0);
	assert_string_equal(a.socket, "/run/x.sock");
	assert_string_equal(a.conf, "/etc/authguard/other.conf");
	assert_int_equal(a.timeout_ms, 100);
	assert_int_equal(a.queue_wait_ms, 0);
	assert_int_equal(a.on_error, AG_ON_ERROR_CLOSED);
	assert_int_equal(a.silent, 1);
	assert_int_equal(a.debug, 1);
	assert_int_equal(a.precheck, 0);
	assert_int_equal(a.phase, AG_PHASE_PREAUTH);
	ag_modargs_free(&a);
	assert_null(a.socket);
	assert_int_equal(parse_args(&a, err, sizeof(err), 4, "timeout=1s", "queue_wait=1m",
				    "precheck", "on_error=open"),
			 0);
	assert_int_equal(a.timeout_ms, 1000);
	assert_int_equal(a.queue_wait_ms, 60000);
	assert_int_equal(a.precheck, 1);
	assert_int_equal(a.on_error, AG_ON_ERROR_OPEN);
	ag_modargs_free(&a);
}

/* Every module key from the table: its good values pass, bad ones fail with
 * a message naming the argument. */
static void test_modargs_table_driven(void **state)
{
	size_t n, i;
	const struct ag_option *t = ag_options(&n);
	struct ag_modargs a;
	char err[AG_ERRBUF], arg[CASE_LEN + 40];
	int tried = 0;

	for (i = 0; i < n; i++) {
		struct cases k;

		if (!(t[i].scope & AG_SCOPE_PAM))
			continue;
		if (t[i].type == AG_T_FLAG) {
			assert_int_equal(parse_args(&a, err, sizeof(err), 1, t[i].key), 0);
			assert_int_equal(*(int *)(void *)((char *)&a + t[i].offset),
					 t[i].flag_value);
			ag_modargs_free(&a);
			snprintf(arg, sizeof(arg), "%s=1", t[i].key);
			assert_int_equal(parse_args(&a, err, sizeof(err), 1, arg), AG_ERR_CONFIG);
			assert_non_null(strstr(err, "takes no value"));
			tried += 2;
			continue;
		}
		assert_int_equal(parse_args(&a, err, sizeof(err), 1, t[i].key), AG_ERR_CONFIG);
		assert_non_null(strstr(err, "needs a value"));
		cases_for(&t[i], &k);
		for (int g = 0; g < k.ngood; g++) {
			snprintf(arg, sizeof(arg), "%s=%s", t[i].key, k.good[g]);
			if (parse_args(&a, err, sizeof(err), 1, arg) != 0)
				fail_msg("'%s' refused: %s", arg, err);
			ag_modargs_free(&a);
			tried++;
		}
		for (int b = 0; b < k.nbad; b++) {
			const char *other = strcmp(t[i].key, "conf") == 0 ? "socket=/s" : "conf=/c";
			char want[40];

			/* A string set by an earlier argument must not leak. */
			snprintf(arg, sizeof(arg), "%s=%s", t[i].key, k.bad[b]);
			if (parse_args(&a, err, sizeof(err), 2, other, arg) != AG_ERR_CONFIG)
				fail_msg("'%s' accepted", arg);
			assert_null(a.socket);
			assert_null(a.conf);
			ag_modargs_free(&a);
			/* The argument is named (escaped, possibly cut). */
			snprintf(want, sizeof(want), "argument '%.20s", arg);
			if (strchr(arg, '\t') == NULL && strncmp(err, want, strlen(want)) != 0)
				fail_msg("'%s': message \"%s\"", arg, err);
			tried++;
		}
	}
	assert_true(tried > 20);
}

static void expect_arg_error(const char *want, int argc, const char *a0, const char *a1,
			     const char *a2)
{
	struct ag_modargs a;
	char err[AG_ERRBUF];
	int rc = parse_args(&a, err, sizeof(err), argc, a0, a1, a2);

	if (rc != AG_ERR_CONFIG || strstr(err, want) == NULL)
		fail_msg("rc %d, \"%s\", wanted \"%s\"", rc, err, want);
	assert_null(a.socket);
	assert_null(a.conf);
	ag_modargs_free(&a);
}

static void test_modargs_errors(void **state)
{
	struct ag_modargs a;
	char err[AG_ERRBUF];
	const char *argv[2] = {"debug", NULL};

	expect_arg_error("argument 'timeout=abc': bad value 'abc' (expected a duration in ms", 1,
			 "timeout=abc", NULL, NULL);
	expect_arg_error("argument 'timeout=0': '0' is out of range", 1, "timeout=0", NULL, NULL);
	expect_arg_error("argument 'timeout=60001'", 1, "timeout=60001", NULL, NULL);
	expect_arg_error("argument 'bogus': unknown argument", 1, "bogus", NULL, NULL);
	expect_arg_error("argument 'bogus=1': unknown argument", 2, "preauth", "bogus=1", NULL);
	expect_arg_error("argument 'Preauth': unknown argument", 1, "Preauth", NULL, NULL);
	expect_arg_error("argument '': unknown argument", 1, "", NULL, NULL);
	expect_arg_error("argument '=1': unknown argument", 1, "=1", NULL, NULL);
	expect_arg_error("argument 'authfail': only one phase allowed ('preauth' given before)", 3,
			 "preauth", "debug", "authfail");
	expect_arg_error("only one phase", 2, "preauth", "preauth", NULL);
	expect_arg_error("argument 'timeout=2': timeout given twice (also 'timeout=1')", 3,
			 "timeout=1", "silent", "timeout=2");
	expect_arg_error("argument 'socket=/b': socket given twice", 3, "socket=/a", "conf=/c",
			 "socket=/b");
	expect_arg_error("argument 'debug': debug given twice", 2, "debug", "debug", NULL);
	expect_arg_error("argument 'noprecheck': conflicts with 'precheck'", 2, "precheck",
			 "noprecheck", NULL);
	expect_arg_error("argument 'socket=run/x': bad value", 1, "socket=run/x", NULL, NULL);
	expect_arg_error("argument 'conf=': bad value ''", 1, "conf=", NULL, NULL);
	expect_arg_error(
	    "argument 'on_error=maybe': bad value 'maybe' (expected one of open|closed)", 1,
	    "on_error=maybe", NULL, NULL);
	expect_arg_error("argument 'timeout=1\\x1b': bad value", 1, "timeout=1\x1b", NULL, NULL);
	assert_int_equal(ag_modargs_parse(&a, 2, argv, err, sizeof(err)), AG_ERR_INVAL);
	assert_null(a.socket);
	assert_int_equal(ag_modargs_parse(&a, -1, argv, err, sizeof(err)), AG_ERR_INVAL);
	assert_int_equal(ag_modargs_parse(&a, 1, NULL, err, sizeof(err)), AG_ERR_INVAL);
	assert_int_equal(ag_modargs_parse(NULL, 1, argv, err, sizeof(err)), AG_ERR_INVAL);
}

static void test_describe_and_quote(void **state)
{
	char buf[200];
	const struct ag_option *o = ag_option_find(AG_SCOPE_CONF, "limits", "backoff_base");

	assert_non_null(o);
	ag_option_describe(o, buf, sizeof(buf));
	assert_string_equal(buf,
			    "a duration such as 30s or 1h30m (units ms s m h d) from 1ms to 1d");
	ag_option_describe(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	ag_quote_value(buf, sizeof(buf), "a'b\\c\n", 6);
	assert_string_equal(buf, "a\\x27b\\x5cc\\x0a");
	memset(buf, 0, sizeof(buf));
	ag_quote_value(buf, sizeof(buf),
		       "0123456789012345678901234567890123456789012345678901234567890123", 64);
	assert_string_equal(buf, "012345678901234567890123456789012345678901234567...");
	ag_quote_value(buf, 4, "abcdef", 6);
	assert_int_equal(strlen(buf), 3);
	ag_quote_value(buf, sizeof(buf), NULL, 5);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_int),
	    cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_rate),
	    cmocka_unit_test(test_parse_bool),
	    cmocka_unit_test(test_format_duration),
	    cmocka_unit_test(test_parse_utc),
	    cmocka_unit_test(test_parse_list_entry),
	    cmocka_unit_test(test_table_sane),
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_conf_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_stores_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_full_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_crlf_and_bom, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_errors_name_the_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_line_length_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_nul_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_cross_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_missing_and_not_regular, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_fp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_tiny_errbuf, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_example_conf_loads, setup, teardown),
	    cmocka_unit_test(test_modargs_defaults),
	    cmocka_unit_test(test_modargs_phases),
	    cmocka_unit_test(test_modargs_every_key),
	    cmocka_unit_test(test_modargs_table_driven),
	    cmocka_unit_test(test_modargs_errors),
	    cmocka_unit_test(test_describe_and_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_statefile.c - the state file: a saved store and lists load back into
 * fresh ones and decide the same; a file cut short or damaged anywhere loads
 * nothing; what expired is dropped. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "ag_err.h"
#include "statefile.h"

#define T0	  INT64_C(1700000000000)
#define DAY	  INT64_C(86400000)
#define ALL_SLOTS 7u

struct fx {
	char dir[64], path[128];
	struct ag_conf conf;
	struct gov_store s, s2;
	struct gov_lists *l, *l2;
};

static void set_limits(struct ag_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->pair_free_failures = 3;
	c->backoff_base_ms = 1000;
	c->backoff_max_ms = 600000;
	c->failure_window_ms = 900000;
	c->agg_prefix_v4 = 24;
	c->agg_prefix_v6 = 48;
	c->source_rate.count = 60;
	c->source_rate.period_ms = 60000;
	c->source_burst = 20;
	c->user_rate.count = 7; /* T is not a whole number of us */
	c->user_rate.period_ms = 60000;
	c->user_burst = 5;
	c->user_max_failures = 5;
	c->cap_hold_base_ms = 60000;
	c->cap_hold_max_ms = 3600000;
	c->trust_ttl_ms = 30 * DAY;
	c->max_trusted_per_user = 4;
	c->max_tracked = 1000;
	c->max_trusted = 100;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_statefile.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state", f->dir);
	set_limits(&f->conf);
	if (gov_store_mem_new(&f->conf, &f->s) != 0 || gov_store_mem_new(&f->conf, &f->s2) != 0 ||
	    gov_lists_new(&f->l) != 0 || gov_lists_new(&f->l2) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char tmp[160];

	gov_store_free(&f->s);
	gov_store_free(&f->s2);
	gov_lists_free(f->l);
	gov_lists_free(f->l2);
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	unlink(tmp);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct gov_attempt att(const char *user, const char *source, const char *agg)
{
	struct gov_attempt a;

	memset(&a, 0, sizeof(a));
	a.user = user;
	a.source = source;
	a.agg = agg;
	return a;
}

static void run(struct gov_store *s, const struct gov_attempt *a, int outcome, int64_t now)
{
	struct gov_decision d;

	assert_int_equal(s->ops->decide(s->ctx, a, now, GOV_COMMIT, ALL_SLOTS, &d), 0);
	assert_int_equal(d.verdict, AG_V_ALLOW);
	if (outcome != 0)
		assert_int_equal(s->ops->report(s->ctx, a, outcome, now, 0, NULL), 0);
}

static const char *const users[] = {"alice", "bob", "we ird\x01=\\\"user", "carol"};
static const char *const sources[] = {"10.0.0.1/32", "192.0.2.1/32", "host:bad host",
				      "2001:db8::/64"};
static const char *const aggs[] = {"10.0.0.0/24", "192.0.2.0/24", "host:bad host", "2001:db8::/48"};

/* Failures with a hold, spent tokens of both budgets, trust, a user cap. */
static void populate(struct fx *f)
{
	struct gov_attempt a;
	struct ag_cidr c;
	char src[32];
	int i;

	a = att(users[0], sources[0], aggs[0]);
	for (i = 0; i < 4; i++)
		run(&f->s, &a, AG_OUT_FAIL, T0);
	a = att(users[0], sources[1], aggs[1]);
	run(&f->s, &a, AG_OUT_SUCCESS, T0);
	a = att(users[1], sources[1], aggs[1]);
	run(&f->s, &a, AG_OUT_UNAVAIL, T0);
	run(&f->s, &a, 0, T0); /* in flight at save: not saved */
	a = att(users[2], sources[2], aggs[2]);
	run(&f->s, &a, AG_OUT_FAIL, T0);
	run(&f->s, &a, AG_OUT_SUCCESS, T0);
	for (i = 0; i < 6; i++) {
		snprintf(src, sizeof(src), "10.7.%d.1/32", i);
		a = att(users[3], src, "10.7.0.0/24");
		run(&f->s, &a, AG_OUT_FAIL, T0 + i * 9000);
	}
	assert_int_equal(ag_cidr_parse("198.51.100.0/24", &c), 0);
	assert_int_equal(gov_lists_add(f->l, GOV_LIST_DENY, &c, 0, "ticket 42: \x01\xff weird"), 0);
	assert_int_equal(ag_cidr_parse("2001:db8:1::/48", &c), 0);
	assert_int_equal(gov_lists_add(f->l, GOV_LIST_ALLOW, &c, T0 + DAY, NULL), 0);
	assert_int_equal(ag_cidr_parse("203.0.113.0/24", &c), 0);
	assert_int_equal(gov_lists_add(f->l, GOV_LIST_ALLOW, &c, T0 + 1, "expired at load"), 0);
}

/* Removes " stored=..." and " last_seen...": whether an entry that tells
 * nothing any more is still held differs between a store that has not swept
 * it yet and one loaded from a file. */
static void drop_tokens(char *s)
{
	static const char *const names[] = {" stored=", " last_seen"};
	char *p, *end;
	size_t i;

	for (i = 0; i < 2; i++) {
		while ((p = strstr(s, names[i])) != NULL) {
			end = p + 1;
			while (*end != ' ' && *end != '\n' && *end != '\0')
				end++;
			memmove(p, end, strlen(end) + 1);
		}
	}
}

/* Every decision and description of the fixture's names at now, in one text. */
static void snapshot(struct gov_store *s, int64_t now, char *out, size_t cap)
{
	struct gov_decision d;
	struct gov_attempt a;
	size_t len = 0;
	int i, j, k;

	out[0] = '\0';
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 4; j++) {
			a = att(users[i], sources[j], aggs[j]);
			assert_int_equal(s->ops->decide(s->ctx, &a, now, GOV_CHECK, 0, &d), 0);
			len +=
			    (size_t)snprintf(out + len, cap - len, "%d %d %d %lld %d |", d.verdict,
					     d.rule, d.klass, (long long)d.retry_ms, d.trusted);
			for (k = 0; k < d.nsteps; k++)
				len += (size_t)snprintf(out + len, cap - len, " %s |",
							d.steps[k].detail);
			assert_int_equal(s->ops->describe(s->ctx, users[i], sources[j], aggs[j],
							  now, out + len, cap - len),
					 0);
			drop_tokens(out + len);
			len += strlen(out + len);
			assert_true(len < cap - 1000);
		}
	}
}

static int list_line(const struct gov_list_entry *e, void *arg)
{
	char c[64], *out = arg;

	assert_int_equal(ag_cidr_format(&e->cidr, c, sizeof(c)), 0);
	snprintf(out + strlen(out), 256, "%d %d %s %lld [%s]\n", e->kind, e->origin, c,
		 (long long)e->expires_ms, e->comment);
	return 0;
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	static char a[1 << 17], b[1 << 17];
	char la[2048] = "", lb[2048] = "";
	int64_t now, t1, t2, r1, r2;
	struct stat st;
	struct gov_attempt bob = att(users[1], sources[1], aggs[1]);

	populate(f);
	assert_int_equal(gov_state_save(f->path, &f->s, f->l, T0 + 50000), 0);
	/* bob's attempt in flight is not saved: end it in the original. */
	assert_int_equal(f->s.ops->report(f->s.ctx, &bob, AG_OUT_UNAVAIL, T0 + 50000, 0, NULL), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(gov_state_load(f->path, &f->s2, f->l2, T0 + 50000), 0);
	/* Same decisions and descriptions, now and later. */
	for (now = T0 + 50000; now < T0 + 2 * DAY; now += 700000) {
		snapshot(&f->s, now, a, sizeof(a));
		snapshot(&f->s2, now, b, sizeof(b));
		assert_string_equal(a, b);
	}
	f->s.ops->counts(f->s.ctx, &t1, &r1);
	f->s2.ops->counts(f->s2.ctx, &t2, &r2);
	assert_int_equal(r1, 2);
	assert_int_equal(r2, 2);
	/* Runtime list entries, comments byte for byte; the expired one dropped. */
	assert_int_equal(gov_lists_each(f->l, T0 + 50000, list_line, la), 0);
	assert_int_equal(gov_lists_each(f->l2, T0 + 50000, list_line, lb), 0);
	assert_string_equal(la, lb);
	assert_non_null(strstr(lb, "[ticket 42: \x01\xff weird]"));
}

static void test_same_decisions_after(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att(users[0], sources[0], aggs[0]);
	struct gov_decision d;

	populate(f);
	assert_int_equal(gov_state_save(f->path, &f->s, f->l, T0 + 500), 0);
	assert_int_equal(gov_state_load(f->path, &f->s2, f->l2, T0 + 500), 0);
	assert_int_equal(f->s2.ops->decide(f->s2.ctx, &a, T0 + 500, GOV_COMMIT, ALL_SLOTS, &d), 0);
	assert_int_equal(d.verdict, AG_V_DENY);
	assert_int_equal(d.rule, GOV_RULE_BACKOFF);
	assert_int_equal(d.retry_ms, 500);
	a = att(users[0], sources[1], aggs[1]);
	assert_int_equal(f->s2.ops->decide(f->s2.ctx, &a, T0 + 500, GOV_COMMIT, ALL_SLOTS, &d), 0);
	assert_int_equal(d.klass, AG_CLASS_TRUSTED);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = malloc(1 << 16);

	assert_non_null(fp);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 16, fp);
	assert_true(*len < (1 << 16));
	fclose(fp);
	return buf;
}

static void spit(const char *path, const char *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static int stop_count(const struct gov_list_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* Loads path into fresh store and lists; asserts nothing went in. */
static int load_fresh(struct fx *f, const char *path)
{
	struct gov_store s;
	struct gov_lists *l;
	int64_t t, r;
	int rc, n = 0;

	assert_int_equal(gov_store_mem_new(&f->conf, &s), 0);
	assert_int_equal(gov_lists_new(&l), 0);
	rc = gov_state_load(path, &s, l, T0 + 1000);
	if (rc != 0) {
		s.ops->counts(s.ctx, &t, &r);
		assert_int_equal(t, 0);
		assert_int_equal(r, 0);
		assert_int_equal(gov_lists_each(l, T0, stop_count, &n), 0);
		assert_int_equal(n, 0);
	}
	gov_store_free(&s);
	gov_lists_free(l);
	return rc;
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	char cut[160];
	size_t len, i;
	char *buf;

	populate(f);
	assert_int_equal(gov_state_save(f->path, &f->s, f->l, T0 + 1000), 0);
	buf = slurp(f->path, &len);
	snprintf(cut, sizeof(cut), "%s.cut", f->path);
	assert_int_equal(load_fresh(f, f->path), 0);
	for (i = 0; i < len; i++) {
		spit(cut, buf, i);
		assert_int_equal(load_fresh(f, cut), AG_ERR_PROTO);
	}
	unlink(cut);
	free(buf);
}

static void test_corrupt(void **state)
{
	struct fx *f = *state;
	static const char *const bad[][2] = {
	    {"authguard-state 1 ", "authguard-state 2 "},
	    {"authguard-state", "authguard-stat"},
	    {"\nS ", "\nS  "},
	    {"\nA ", "\nQ "},
	    {" 4 ", " 4x "},
	    {" 4 ", " -4 "},
	    {" 4 ", " 99999999999999999999 "},
	    {"\nend ", "\nend 1"},
	    {"\nstore memory\n", "\nstore memory extra\n"},
	    {"\nlist deny 198.51.100.0/24", "\nlist deny 198.51.100.0/33"},
	    {"\nlist deny", "\nlist block"},
	    {"\nT 616c696365", "\nT 616c69636"},
	    {"\nT 616c696365", "\nT 616c6963zz"},
	    {"\nT 616c696365", "\nT 00616c6963"},
	};
	char mod[160], *buf, *out, *p;
	size_t len, i, n;

	populate(f);
	assert_int_equal(gov_state_save(f->path, &f->s, f->l, T0 + 1000), 0);
	buf = slurp(f->path, &len);
	buf[len] = '\0';
	out = malloc(len + 8192);
	assert_non_null(out);
	snprintf(mod, sizeof(mod), "%s.mod", f->path);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = strstr(buf, bad[i][0]);
		assert_non_null(p);
		n = (size_t)(p - buf);
		memcpy(out, buf, n);
		strcpy(out + n, bad[i][1]);
		strcat(out, p + strlen(bad[i][0]));
		spit(mod, out, strlen(out));
		assert_int_equal(load_fresh(f, mod), AG_ERR_PROTO);
	}
	/* Anything after the end; a line twice; an overlong line. */
	memcpy(out, buf, len);
	strcpy(out + len, "S 41 1 0\n");
	spit(mod, out, strlen(out));
	assert_int_equal(load_fresh(f, mod), AG_ERR_PROTO);
	p = strstr(buf, "\nT ");
	n = (size_t)(strchr(p + 1, '\n') - p);
	memcpy(out, buf, (size_t)(p - buf) + 1);
	memcpy(out + (p - buf) + 1, p + 1, n);
	strcpy(out + (p - buf) + 1 + n, p + 1);
	spit(mod, out, strlen(out));
	assert_int_equal(load_fresh(f, mod), AG_ERR_PROTO);
	p = strstr(buf, "\nstore ");
	memcpy(out, buf, (size_t)(p - buf) + 1);
	n = (size_t)(p - buf) + 1;
	strcpy(out + n, "list deny 10.0.0.0/8 0 ");
	memset(out + strlen(out), 'a', 4200);
	strcpy(out + n + 23 + 4200, p);
	spit(mod, out, strlen(out));
	assert_int_equal(load_fresh(f, mod), AG_ERR_PROTO);
	/* The unmodified file still loads. */
	assert_int_equal(load_fresh(f, f->path), 0);
	unlink(mod);
	free(out);
	free(buf);
}

static void test_expired_dropped(void **state)
{
	struct fx *f = *state;
	int64_t t, r;
	int n = 0;

	populate(f);
	assert_int_equal(gov_state_save(f->path, &f->s, f->l, T0 + 1000), 0);
	/* A day on: failures, holds and rates are over; trust is not. */
	assert_int_equal(gov_state_load(f->path, &f->s2, f->l2, T0 + DAY), 0);
	f->s2.ops->counts(f->s2.ctx, &t, &r);
	assert_int_equal(t, 0);
	assert_int_equal(r, 2);
	assert_int_equal(gov_lists_each(f->l2, T0, stop_count, &n), 0);
	assert_int_equal(n, 1); /* the allow entry expired at T0 + DAY */
	/* A month on, trust too. */
	gov_store_free(&f->s2);
	assert_int_equal(gov_store_mem_new(&f->conf, &f->s2), 0);
	gov_lists_free(f->l2);
	assert_int_equal(gov_lists_new(&f->l2), 0);
	assert_int_equal(gov_state_load(f->path, &f->s2, f->l2, T0 + 31 * DAY), 0);
	f->s2.ops->counts(f->s2.ctx, &t, &r);
	assert_int_equal(t, 0);
	assert_int_equal(r, 0);
}

static void test_missing_and_busy(void **state)
{
	struct fx *f = *state;
	struct gov_attempt a = att("x", "10.0.0.1/32", NULL);
	char bad[160];

	assert_int_equal(gov_state_load(f->path, &f->s2, f->l2, T0), AG_ERR_NOTFOUND);
	populate(f);
	assert_int_equal(gov_state_save(f->path, &f->s, f->l, T0), 0);
	/* Only into an empty store. */
	run(&f->s2, &a, AG_OUT_FAIL, T0);
	assert_int_equal(gov_state_load(f->path, &f->s2, f->l2, T0), AG_ERR_INVAL);
	/* An unwritable place keeps the old file. */
	snprintf(bad, sizeof(bad), "%s/nodir/state", f->dir);
	assert_int_equal(gov_state_save(bad, &f->s, f->l, T0), AG_ERR_SYS);
	assert_int_equal(access(f->path, R_OK), 0);
}

/* A store that keeps its state elsewhere: its section is skipped, the lists
 * still load. */
static void test_other_store(void **state)
{
	struct fx *f = *state;
	static const struct gov_store_ops none = {.name = "redis"};
	struct gov_store other = {&none, NULL};
	int64_t t, r;
	int n = 0;

	populate(f);
	assert_int_equal(gov_state_save(f->path, &f->s, f->l, T0), 0);
	assert_int_equal(gov_state_load(f->path, &other, f->l2, T0), 0);
	assert_int_equal(gov_lists_each(f->l2, T0, stop_count, &n), 0);
	assert_int_equal(n, 3);
	/* And the memory store skips a section that is not its own. */
	assert_int_equal(gov_state_save(f->path, &other, f->l2, T0), 0);
	assert_int_equal(gov_state_load(f->path, &f->s2, f->l, T0), 0);
	f->s2.ops->counts(f->s2.ctx, &t, &r);
	assert_int_equal(t, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_round_trip),	 T(test_same_decisions_after), T(test_truncated),
	    T(test_corrupt),	 T(test_expired_dropped),      T(test_missing_and_busy),
	    T(test_other_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

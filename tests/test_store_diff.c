/* test_store_diff.c - the Redis store against the memory store: the same
 * random attempts, reports and clock (clock = local) through both, and
 * every decision must agree (verdict, rule, retry, class, trust).
 *
 * Runs a real redis-server on a Unix socket in a temporary directory; exits
 * 77 (skipped) when there is none. Not a unit test: it is not run under
 * valgrind (check-valgrind), the memory store's own tests are.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <sodium.h>

#include "ag_conf.h"
#include "ag_err.h"
#include "ag_fleetkey.h"
#include "store.h"
#include "store_redis.h"

#define STEPS	    4000
#define USERS	    4
#define SOURCES	    6
#define OPEN_MAX    8
#define T0	    INT64_C(1800000000000) /* 2027-01-15 */
#define WAIT_MS	    5000

struct answer {
	int got, rc;
	struct gov_decision d;
	int64_t cleared;
};

/* An admitted attempt not reported yet: its pair, when, and its ticket
 * (the Redis store counts it in flight by the ticket). */
struct open_adm {
	int u, s;
	int64_t t;
	char ticket[GOV_TICKET_LEN + 1];
};

/* Open admissions this old are reported (abandoned) first: Redis reaps a
 * lease at its end (pin_ms, the 60 s lease here), the memory store only on
 * report (the governor's lease timer abandons it); this test compares the
 * rules, not the two reapers. */
#define OPEN_AGE_MAX_MS 30000

static char dir[] = "/tmp/ag-diff-XXXXXX";
static pid_t redis_pid = -1;
static struct event_base *base;

static void cleanup(void)
{
	char cmd[128];

	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
		redis_pid = -1;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("not ok - ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	cleanup();
	exit(1);
}

static int start_redis(const char *sock)
{
	char cmd[512];
	int i;

	redis_pid = fork();
	if (redis_pid < 0)
		return -1;
	if (redis_pid == 0) {
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--logfile",
		       "/dev/null", (char *)NULL);
		_exit(127);
	}
	snprintf(cmd, sizeof(cmd), "redis-cli -s '%s' ping >/dev/null 2>&1", sock);
	for (i = 0; i < 100; i++) {
		if (system(cmd) == 0)
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

static void decided(void *arg, int rc, const struct gov_decision *d)
{
	struct answer *a = arg;

	a->got = 1;
	a->rc = rc;
	if (rc == 0 && d != NULL)
		a->d = *d;
}

static void reported(void *arg, int rc, int64_t cleared)
{
	struct answer *a = arg;

	a->got = 1;
	a->rc = rc;
	a->cleared = cleared;
}

/* Runs the loop until a has its answer. */
static void wait_answer(struct answer *a)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!a->got) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > WAIT_MS)
			die("no answer from the Redis store within %d ms", WAIT_MS);
		if (!a->got)
			usleep(200);
	}
}

static void set(struct ag_conf *c, const char *sec, const char *key, const char *val)
{
	char err[AG_ERRBUF];

	if (ag_conf_set(c, sec, key, val, "test", err, sizeof(err)) != 0)
		die("[%s] %s = %s: %s", sec, key, val, err);
}

static const char *const users[USERS] = {"alice", "bob", "root", "carol"};
static const char *const sources[SOURCES] = {"192.0.2.1/32",    "192.0.2.2/32",
					     "192.0.2.3/32",    "198.51.100.7/32",
					     "198.51.100.8/32", "203.0.113.9/32"};
static const char *const aggs[SOURCES] = {"192.0.2.0/24",    "192.0.2.0/24",
					  "192.0.2.0/24",    "198.51.100.0/24",
					  "198.51.100.0/24", "203.0.113.0/24"};

/* Exact agreement; with the negative cache on, a denial answered from it
 * may give a shorter retry than the store would (other rules came to deny
 * longer meanwhile), never a longer one, never another verdict. */
static int same(const struct gov_decision *m, const struct gov_decision *r, int cache)
{
	if (m->verdict != r->verdict || m->klass != r->klass || m->trusted != r->trusted)
		return 0;
	if (!cache)
		return m->rule == r->rule && m->retry_ms == r->retry_ms;
	return m->verdict != AG_V_DENY || (r->retry_ms > 0 && r->retry_ms <= m->retry_ms);
}

static void run(const char *sock, const char *keyf, int cache);

int main(void)
{
	char sock[128], keyf[128], err[AG_ERRBUF];

	if (sodium_init() < 0)
		die("sodium_init");
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("# no redis-server: skipped\n");
		return 77;
	}
	if (mkdtemp(dir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	snprintf(keyf, sizeof(keyf), "%s/fleet.key", dir);
	if (start_redis(sock) != 0)
		die("redis-server did not start");
	if (ag_fleetkey_generate(keyf, err, sizeof(err)) != 0)
		die("keygen: %s", err);
	run(sock, keyf, 0);
	run(sock, keyf, 1);
	cleanup();
	return 0;
}

/* Reports open[k] through both stores (then drops it): both must clear
 * the same failures. */
static void report_open(struct gov_store *mem, struct gov_store *rds, struct open_adm *open,
			int *nopen, int k, int outcome, int64_t now, int jitter, int step)
{
	struct gov_attempt at = {users[open[k].u], sources[open[k].s], aggs[open[k].s], 0, 0, 0,
				 open[k].ticket};
	struct answer rr = {0};
	int64_t cm = 0;
	int rc;

	rc = mem->ops->report(mem->ctx, &at, outcome, now, jitter, &cm);
	if (rc != 0)
		die("memory report: %s", ag_strerror(rc));
	if (gov_store_report(rds, &at, outcome, now, jitter, reported, &rr) != 0)
		die("redis report did not start");
	wait_answer(&rr);
	if (rr.rc != 0)
		die("redis report: %s", ag_strerror(rr.rc));
	if (rr.cleared != cm)
		die("step %d: report %d of %s %s: memory cleared %" PRId64 ", redis %" PRId64, step,
		    outcome, at.user, at.source, cm, rr.cleared);
	open[k] = open[--*nopen];
}

/* One pass: exact with the negative cache off, bounded with it on. */
static void run(const char *sock, const char *keyf, int cache)
{
	struct ag_conf conf;
	struct gov_store mem, rds;
	struct open_adm open[OPEN_MAX];
	char err[AG_ERRBUF], url[160];
	int64_t now = T0;
	int nopen = 0, i, k, rc, decisions = 0, denials = 0, reports = 0;
	int by_rule[GOV_RULE_COUNT] = {0};

	if (ag_conf_init(&conf) != 0)
		die("conf");
	snprintf(url, sizeof(url), "unix://%s", sock);
	set(&conf, "store", "backend", "redis");
	set(&conf, "store", "redis", url);
	set(&conf, "store", "hash_key_file", keyf);
	set(&conf, "store", "clock", "local");
	set(&conf, "store", "redis_timeout", "2s");
	set(&conf, "store", "negative_cache", cache ? "yes" : "no");
	/* Each pass on keys of its own. */
	set(&conf, "store", "key_prefix", cache ? "c:" : "x:");
	set(&conf, "limits", "pair_free_failures", "3");
	set(&conf, "limits", "backoff_base", "1s");
	set(&conf, "limits", "backoff_max", "1m");
	set(&conf, "limits", "failure_window", "5m");
	set(&conf, "limits", "source_rate", "6/min");
	set(&conf, "limits", "source_burst", "3");
	set(&conf, "limits", "user_rate", "20/min");
	set(&conf, "limits", "user_burst", "3");
	set(&conf, "limits", "user_max_failures", "5");
	set(&conf, "limits", "cap_hold_base", "1s");
	set(&conf, "limits", "cap_hold_max", "30s");
	set(&conf, "limits", "max_trusted_per_user", "3");

	base = event_base_new();
	if (base == NULL || gov_store_mem_new(&conf, &mem) != 0)
		die("the memory store");
	if (gov_store_redis_new(&conf, base, NULL, &rds, err, sizeof(err)) != 0)
		die("the Redis store: %s", err);
	/* Ready: the state says ok once the setup answered. */
	for (i = 0; i < 500 && strcmp(gov_store_state(&rds, NULL), "ok") != 0; i++) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(10 * 1000);
	}
	if (strcmp(gov_store_state(&rds, NULL), "ok") != 0)
		die("the Redis store never became ready");

	/* A fixed seed, so that a failure can be replayed; AG_DIFF_SEED for more. */
	srand(getenv("AG_DIFF_SEED") != NULL ? (unsigned)atoi(getenv("AG_DIFF_SEED")) : 12345u);
	for (i = 0; i < STEPS; i++) {
		int r = rand() % 100, u = rand() % USERS, s = rand() % SOURCES;
		struct gov_attempt at = {users[u], sources[s], aggs[s], 0, 0, 0, NULL};
		char ticket[GOV_TICKET_LEN + 1];
		struct gov_decision dm;
		struct answer ar = {0};
		int jitter = rand() % 401 - 200;

		/* Time moves on: mostly a little, sometimes past holds and windows. */
		/* At least 1 ms a step: Redis runs TTLs on its own clock, which this
		 * one must never fall behind. */
		now += 1 + (r < 90 ? rand() % 200 : r < 99 ? rand() % 10000 : rand() % 600000);
		for (k = 0; k < nopen;) {
			if (now - open[k].t < OPEN_AGE_MAX_MS) {
				k++;
				continue;
			}
			report_open(&mem, &rds, open, &nopen, k, GOV_OUT_ABANDON, now, jitter, i);
			reports++;
		}
		r = rand() % 100;
		if (r < 45 || nopen == 0) {
			int mode = r < 35 ? GOV_COMMIT : GOV_CHECK;
			unsigned mask = rand() % 10 == 0 ? (unsigned)(rand() % 8) : 7u;

			snprintf(ticket, sizeof(ticket), "%016x", (unsigned)i + 1);
			if (mode == GOV_COMMIT)
				at.ticket = ticket;

			rc = mem.ops->decide(mem.ctx, &at, now, mode, mask, &dm);
			if (rc != 0)
				die("memory decide: %s", ag_strerror(rc));
			if (gov_store_decide(&rds, &at, now, mode, mask, decided, &ar) != 0)
				die("redis decide did not start");
			wait_answer(&ar);
			if (ar.rc != 0)
				die("redis decide: %s", ag_strerror(ar.rc));
			if (!same(&dm, &ar.d, cache))
				die("cache %s, step %d: %s %s mode %d mask %u at +%" PRId64
				    " ms: memory verdict %d rule %d retry %" PRId64
				    " class %d trusted %d; redis verdict %d rule %d retry %" PRId64
				    " class %d trusted %d",
				    cache ? "on" : "off", i, at.user, at.source, mode, mask, now - T0, dm.verdict, dm.rule,
				    dm.retry_ms, dm.klass, dm.trusted, ar.d.verdict, ar.d.rule,
				    ar.d.retry_ms, ar.d.klass, ar.d.trusted);
			decisions++;
			denials += dm.verdict == AG_V_DENY;
			if (dm.verdict == AG_V_DENY && dm.rule > 0 && dm.rule < GOV_RULE_COUNT)
				by_rule[dm.rule]++;
			if (mode == GOV_COMMIT && dm.verdict == AG_V_ALLOW) {
				open[nopen].u = u;
				open[nopen].s = s;
				open[nopen].t = now;
				strcpy(open[nopen].ticket, ticket);
				nopen++;
				/* too many open: this one is abandoned at once */
				if (nopen == OPEN_MAX) {
					report_open(&mem, &rds, open, &nopen, nopen - 1,
						    GOV_OUT_ABANDON, now, jitter, i);
					reports++;
				}
			}
			continue;
		}
		/* Report one open admission. */
		if (nopen > 0) {
			r = rand() % 100;
			report_open(&mem, &rds, open, &nopen, rand() % nopen,
				    r < 70   ? AG_OUT_FAIL
				    : r < 85 ? AG_OUT_SUCCESS
				    : r < 90 ? AG_OUT_UNAVAIL
					     : GOV_OUT_ABANDON,
				    now, jitter, i);
			reports++;
		}
	}
	printf("ok - negative cache %s: %d decisions (%d denials) and %d reports agree over %" PRId64
	       " s\n",
	       cache ? "on" : "off", decisions, denials, reports, (now - T0) / 1000);
	for (i = 1; i < GOV_RULE_COUNT; i++)
		if (by_rule[i] > 0)
			printf("# denied by %s: %d\n", gov_rule_name(i), by_rule[i]);
	/* Every rule of the store must have been exercised for the agreement to mean much. */
	if (by_rule[GOV_RULE_BACKOFF] == 0 || by_rule[GOV_RULE_SOURCE_RATE] == 0 ||
	    by_rule[GOV_RULE_USER_RATE] == 0 || by_rule[GOV_RULE_USER_CAP] == 0)
		die("a rule never denied: the traffic does not exercise the store");
	gov_store_free(&rds);
	gov_store_free(&mem);
	event_base_free(base);
	ag_conf_free(&conf);
}

/* store_redis.c - the Redis store (see store_redis.h).
 *
 * A request is one EVALSHA with its own timer. Whichever comes first wins:
 * the reply, or the timer (redis_timeout), which has the attempt decided on
 * this host alone by the local memory store. A reply that comes after its
 * timer is dropped, except that a commit Redis made for an attempt already
 * decided here is taken back (report "unavail": no failure counted).
 *
 * The connection: connect (with a timer of its own: hiredis 0.14 has no
 * connect timeout), then AUTH, SELECT, SCRIPT LOAD, the fleet key's
 * fingerprint and a look at the server's persistence and eviction policy,
 * pipelined; the store is ready when the last of them answers. On any
 * failure, on redis_timeout_drops timeouts in a row, or when a reply is
 * garbage, the connection is dropped and tried again every second; in the
 * meantime every attempt is decided locally ("degraded").
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "ag_err.h"
#include "ag_fleetkey.h"
#include "ag_redis_url.h"
#include "ag_time.h"
#include "log.h"
#include "gcra.h"
#include "table.h"
#include "store_redis.h"

#define RDS_RETRY_MS	     1000 /* between connection attempts */
#define RDS_CONNECT_MS	     2000 /* a connection (and its setup) must be ready by then */
#define RDS_TIMEOUTS_TO_DROP 3	  /* commands past their budget in a row: reconnect */
#define RDS_KEY_MAX	     (32 + 1 + 2 * AG_FLEETKEY_HASH_LEN + 1)
#define RDS_ARGS	     16
#define RDS_DECIDE_REPLY     31
#define RDS_LOG_EVERY_MS     10000 /* one line per kind of trouble per 10 s */
#define RDS_NEG_MAX	     65536 /* pairs in the negative cache */
#define RDS_NEG_MAX_MS	     30000 /* a cached denial lasts at most this: a pair trusted
				      on another host meanwhile is held here no longer */

enum { RDS_DOWN = 0, RDS_CONNECTING, RDS_READY };
enum { RQ_DECIDE = 1, RQ_REPORT, RQ_TAKEBACK };

struct rds_req;

struct rds {
	const struct ag_conf *conf; /* borrowed */
	struct ag_conf local_conf;  /* conf's limits at 1/fleet_size: degraded mode */
	struct gov_store local;
	struct event_base *base;
	struct ag_redis_url url;
	char password[AG_REDIS_CRED_MAX];
	struct ag_fleetkey key;
	char fp[AG_FLEETKEY_FP_LEN + 1];
	char fp_key[RDS_KEY_MAX];
	char prefix[33]; /* key_prefix at start: a reload does not move the keys */
	redisAsyncContext *ac; /* NULL when not connected */
	int state;
	int refused;	       /* another fleet key is in Redis: never ready */
	int setup_failed;      /* a setup step failed on this connection */
	int64_t state_since;   /* wall ms */
	char sha[41];	       /* the script's SHA1 as Redis said it */
	struct event *retry;   /* reconnect */
	struct event *connect; /* connect + setup deadline */
	int64_t pending;       /* commands in flight */
	int timeouts;	       /* in a row */
	int closing;
	struct rds_req *reqs; /* in flight, for destroy */
	char confcsv[400];
	int64_t last_log_ms;
	struct gov_table *neg; /* the negative cache: pair -> struct neg */
	redisAsyncContext *sub; /* SUBSCRIBE PREFIXevents: other hosts' resets */
	struct event *sub_retry;
	uint64_t neg_hits;
};

/* A pair's backoff hold remembered until it ends (at most RDS_NEG_MAX_MS):
 * the same pair asking again before then is denied without asking Redis. */
struct neg {
	int64_t until;	 /* the hold's end (the request clock's ms) */
	int64_t expires; /* the entry's end: until, or sooner */
	int rule, klass;
};

struct rds_req {
	struct rds *r;
	struct rds_req *prev, *next;
	struct event *timer;
	int op;
	int answered; /* the governor has its answer (timer, or local) */
	int retried;  /* NOSCRIPT: sent again with EVAL */
	gov_store_decided ddone;
	gov_store_reported rdone;
	void *arg;
	struct gov_attempt at; /* points into the copies below */
	char user[AG_SOURCE_MAX + 64], source[AG_SOURCE_MAX], agg[AG_SOURCE_MAX];
	int has_agg;
	int64_t now;
	int64_t wait_ms; /* min(redis_timeout, the attempt's budget) */
	int mode, outcome, jitter;
	unsigned mask;
};

/* ---- small things ---- */

static void set_state(struct rds *r, int state, const char *why)
{
	if (r->state == state)
		return;
	if (state == RDS_READY)
		gov_log(LOG_NOTICE, "redis: ready (fleet key %s); decisions are fleet-wide", r->fp);
	else if (r->state == RDS_READY)
		gov_log(LOG_WARNING, "redis: %s; deciding on this host alone until it is back",
			why != NULL ? why : "connection lost");
	r->state = state;
	r->state_since = ag_wall_ms();
}

/* Trouble logged at most once per RDS_LOG_EVERY_MS. */
static void trouble(struct rds *r, const char *what, const char *detail)
{
	int64_t now = ag_mono_ms();

	if (r->last_log_ms != 0 && now - r->last_log_ms < RDS_LOG_EVERY_MS)
		return;
	r->last_log_ms = now;
	gov_log(LOG_WARNING, "redis: %s%s%s", what, detail != NULL ? ": " : "",
		detail != NULL ? detail : "");
}

static void req_unlink(struct rds_req *q)
{
	struct rds *r = q->r;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else if (r->reqs == q)
		r->reqs = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

static void req_free(struct rds_req *q)
{
	if (q->timer != NULL)
		event_free(q->timer);
	free(q);
}

static void arm(struct rds_req *q)
{
	struct timeval tv = {q->wait_ms / 1000, (q->wait_ms % 1000) * 1000};

	evtimer_add(q->timer, &tv);
}

/* ---- answering from this host ---- */

/* The governor's answer from the local store (degraded mode). */
static void answer_local(struct rds_req *q)
{
	struct rds *r = q->r;
	int rc;

	q->answered = 1;
	if (q->op == RQ_DECIDE) {
		rc = gov_store_decide(&r->local, &q->at, q->now, q->mode, q->mask, q->ddone,
				      q->arg);
		if (rc < 0)
			q->ddone(q->arg, rc, NULL);
	} else if (q->op == RQ_REPORT) {
		rc = gov_store_report(&r->local, &q->at, q->outcome, q->now, q->jitter, q->rdone,
				      q->arg);
		if (rc < 0 && q->rdone != NULL)
			q->rdone(q->arg, rc, 0);
	}
}

/* ---- sending ---- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void on_timeout(evutil_socket_t fd, short what, void *arg);

static void key(char *b, const struct rds *r, char kind, const char *h1, const char *h2)
{
	snprintf(b, RDS_KEY_MAX, "%s%c%s%s", r->prefix, kind, h1,
		 h2 != NULL ? h2 : "");
}

/* EVALSHA (or EVAL, after NOSCRIPT) of q. 0, or AG_ERR_* (nothing sent). */
static int send_req(struct rds *r, struct rds_req *q)
{
	char hu[AG_FLEETKEY_HASH_LEN + 1], hs[AG_FLEETKEY_HASH_LEN + 1];
	char ha[AG_FLEETKEY_HASH_LEN + 1];
	char kp[RDS_KEY_MAX], ks[RDS_KEY_MAX], ka[RDS_KEY_MAX], kusr[RDS_KEY_MAX];
	char kh[RDS_KEY_MAX], kg[RDS_KEY_MAX], now[24], flags[8], a6[24], a7[24];
	const char *argv[RDS_ARGS];
	size_t len[RDS_ARGS];
	int n = 0, i;

	ag_fleetkey_hash(&r->key, AG_FLEETKEY_D_USER, q->user, NULL, hu);
	ag_fleetkey_hash(&r->key, AG_FLEETKEY_D_SOURCE, q->source, NULL, hs);
	/* The pair's key is the user's hash then the source's, so that a reset
	 * of a user or a source finds its pairs by pattern (SCAN). */
	key(kp, r, 'P', hu, hs);
	key(ks, r, 'S', hs, NULL);
	if (q->has_agg) {
		ag_fleetkey_hash(&r->key, AG_FLEETKEY_D_AGG, q->agg, NULL, ha);
		key(ka, r, 'A', ha, NULL);
	} else {
		key(ka, r, 'A', hs, NULL);
	}
	key(kusr, r, 'U', hu, NULL);
	key(kh, r, 'H', hu, NULL);
	key(kg, r, 'G', "", NULL);
	if (r->conf->clock == AG_CLOCK_REDIS)
		snprintf(now, sizeof(now), "time");
	else
		snprintf(now, sizeof(now), "%" PRId64, q->now);
	snprintf(flags, sizeof(flags), "%d", (q->at.allowlisted ? 1 : 0) | (q->at.user_socket ? 2 : 0));
	if (q->op == RQ_DECIDE) {
		snprintf(a6, sizeof(a6), "%d", (q->mode & GOV_COMMIT) ? 1 : 0);
		snprintf(a7, sizeof(a7), "%u", q->mask & 7u);
	} else {
		snprintf(a6, sizeof(a6), "%d", q->outcome);
		snprintf(a7, sizeof(a7), "%d", q->jitter);
	}
	argv[n++] = q->retried ? "EVAL" : "EVALSHA";
	argv[n++] = q->retried ? gov_redis_script : r->sha;
	argv[n++] = "6";
	argv[n++] = kp;
	argv[n++] = ks;
	argv[n++] = ka;
	argv[n++] = kusr;
	argv[n++] = kh;
	argv[n++] = kg;
	argv[n++] = q->op == RQ_DECIDE ? "decide" : "report";
	argv[n++] = now;
	argv[n++] = r->confcsv;
	argv[n++] = flags;
	argv[n++] = hs;
	argv[n++] = a6;
	argv[n++] = a7;
	for (i = 0; i < n; i++)
		len[i] = strlen(argv[i]);
	if (r->ac == NULL ||
	    redisAsyncCommandArgv(r->ac, on_reply, q, n, argv, len) != REDIS_OK)
		return AG_ERR_IO;
	r->pending++;
	return 0;
}

/* ---- the negative cache ---- */

static size_t neg_key(const struct gov_attempt *at, char *k, size_t cap)
{
	size_t lu = strlen(at->user), ls = strlen(at->source);

	if (lu + ls + 1 > cap)
		return 0;
	memcpy(k, at->user, lu);
	k[lu] = '\0';
	memcpy(k + lu + 1, at->source, ls);
	return lu + 1 + ls;
}

/* 1 with *d filled when the pair has a cached denial at now (wall ms). */
static int neg_hit(struct rds *r, const struct gov_attempt *at, int64_t now, struct gov_decision *d)
{
	char k[2 * AG_SOURCE_MAX + 2];
	size_t kl = neg_key(at, k, sizeof(k));
	struct gov_tent *e;
	const struct neg *n;

	if (r->neg == NULL || !r->conf->negative_cache || kl == 0 ||
	    (e = gov_table_find(r->neg, k, kl)) == NULL)
		return 0;
	n = gov_tent_cval(e);
	if (n->expires <= now || n->until <= now) {
		gov_table_del(r->neg, e);
		return 0;
	}
	memset(d, 0, sizeof(*d));
	d->verdict = AG_V_DENY;
	d->rule = n->rule;
	d->retry_ms = n->until - now;
	d->klass = n->klass;
	r->neg_hits++;
	return 1;
}

static void neg_put(struct rds *r, const struct gov_attempt *at, const struct gov_decision *d,
		    int64_t now)
{
	char k[2 * AG_SOURCE_MAX + 2];
	size_t kl = neg_key(at, k, sizeof(k));
	struct gov_tent *e;
	struct neg *n;
	int64_t keep = d->retry_ms < RDS_NEG_MAX_MS ? d->retry_ms : RDS_NEG_MAX_MS;

	if (r->neg == NULL || !r->conf->negative_cache || kl == 0 || d->verdict != AG_V_DENY ||
	    keep <= 0 || d->trusted)
		return;
	e = gov_table_find(r->neg, k, kl);
	if (e == NULL && gov_table_insert(r->neg, k, kl, sizeof(*n), &e) != 0)
		return;
	n = gov_tent_val(e);
	n->until = now + d->retry_ms;
	n->expires = now + keep;
	n->rule = d->rule;
	n->klass = d->klass;
}

static void neg_drop(struct rds *r, const struct gov_attempt *at)
{
	char k[2 * AG_SOURCE_MAX + 2];
	size_t kl = neg_key(at, k, sizeof(k));
	struct gov_tent *e;

	if (r->neg != NULL && kl > 0 && (e = gov_table_find(r->neg, k, kl)) != NULL)
		gov_table_del(r->neg, e);
}

static void neg_flush(struct rds *r)
{
	struct gov_table_iter it;
	struct gov_tent *e;

	if (r->neg == NULL)
		return;
	gov_table_iter_init(r->neg, &it);
	while ((e = gov_table_iter_next(r->neg, &it)) != NULL)
		gov_table_del(r->neg, e);
}

/* A request for at: copies it, arms its timer, sends it. Not ready, too
 * many in flight, or a failure to send: answered here and now. */
static int start(struct rds *r, int op, const struct gov_attempt *at, int64_t now, int mode,
		 unsigned mask, int outcome, int jitter, gov_store_decided ddone,
		 gov_store_reported rdone, void *arg)
{
	struct rds_req *q;

	if (at == NULL || at->user == NULL || at->source == NULL ||
	    strlen(at->user) >= sizeof(q->user) || strlen(at->source) >= sizeof(q->source) ||
	    (at->agg != NULL && strlen(at->agg) >= sizeof(q->agg)))
		return AG_ERR_INVAL;
	if (op == RQ_DECIDE) {
		struct gov_decision d;

		/* A pair already held: no need to ask Redis again. */
		if (neg_hit(r, at, now, &d)) {
			ddone(arg, 0, &d);
			return 0;
		}
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return AG_ERR_NOMEM;
	q->r = r;
	q->op = op;
	q->ddone = ddone;
	q->rdone = rdone;
	q->arg = arg;
	strcpy(q->user, at->user);
	strcpy(q->source, at->source);
	q->has_agg = at->agg != NULL && at->agg[0] != '\0';
	if (q->has_agg)
		strcpy(q->agg, at->agg);
	q->at.user = q->user;
	q->at.source = q->source;
	q->at.agg = q->has_agg ? q->agg : NULL;
	q->at.allowlisted = at->allowlisted;
	q->at.user_socket = at->user_socket;
	q->now = now;
	q->mode = mode;
	q->mask = mask;
	q->outcome = outcome;
	q->jitter = jitter;
	if (r->state != RDS_READY || r->pending >= r->conf->redis_max_pending) {
		if (r->state == RDS_READY)
			trouble(r, "too many commands in flight", "deciding on this host");
		answer_local(q);
		req_free(q);
		return 0;
	}
	/* Never longer than what is left of the attempt's budget. */
	q->wait_ms = r->conf->redis_timeout_ms;
	if (at->budget_ms > 0 && at->budget_ms < q->wait_ms)
		q->wait_ms = at->budget_ms;
	q->timer = evtimer_new(r->base, on_timeout, q);
	if (q->timer == NULL || send_req(r, q) != 0) {
		answer_local(q);
		req_free(q);
		return 0;
	}
	arm(q);
	q->next = r->reqs;
	if (r->reqs != NULL)
		r->reqs->prev = q;
	r->reqs = q;
	return 0;
}

/* ---- answers ---- */

static void drop_connection(struct rds *r, const char *why);

/* The steps' details, as the memory store writes them (explain). */
static void details(struct gov_decision *d, const long long *v, const struct ag_conf *c)
{
	static const char *const skips[4] = {NULL, "skipped: trusted pair", "skipped: allowlisted",
					     "skipped: user socket"};
	int s;

	for (s = 0; s < 4; s++) {
		struct gov_step *st = &d->steps[s];
		long long skip = v[9 + 4 * s];

		if (skip > 0 && skip < 4) {
			snprintf(st->detail, sizeof(st->detail), "%s", skips[skip]);
			continue;
		}
		if (st->rule == GOV_RULE_BACKOFF)
			snprintf(st->detail, sizeof(st->detail),
				 "failures=%lld free=%lld inflight=%lld hold_until_in=%lldms%s", v[22],
				 (long long)c->pair_free_failures, v[23], v[24],
				 v[25] ? " concurrent" : "");
		else if (st->rule == GOV_RULE_USER_CAP)
			snprintf(st->detail, sizeof(st->detail),
				 "ucfail=%lld max=%lld cap_until_in=%lldms", v[26],
				 (long long)c->user_max_failures, v[27]);
		else if (st->rule == GOV_RULE_SOURCE_RATE)
			snprintf(st->detail, sizeof(st->detail),
				 "tokens=%lld burst=%lld: next free in %lldms", v[28],
				 (long long)c->source_burst, (long long)st->retry_ms);
		else if (st->rule == GOV_RULE_USER_RATE)
			snprintf(st->detail, sizeof(st->detail),
				 "budget=%s tokens=%lld burst=%lld: next free in %lldms",
				 v[29] ? "failing" : "clean", v[30], (long long)c->user_burst,
				 (long long)st->retry_ms);
	}
}

/* The decide reply: 31 integers (governor/redis/rules.lua). */
static int parse_decision(const redisReply *rep, struct gov_decision *d,
			  const struct ag_conf *conf, int terse, int *cacheable)
{
	static const int rules[4] = {GOV_RULE_BACKOFF, GOV_RULE_USER_CAP, GOV_RULE_SOURCE_RATE,
				     GOV_RULE_USER_RATE};
	long long v[RDS_DECIDE_REPLY];
	size_t i;
	int s;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != RDS_DECIDE_REPLY)
		return AG_ERR_PROTO;
	for (i = 0; i < RDS_DECIDE_REPLY; i++) {
		if (rep->element[i]->type != REDIS_REPLY_INTEGER)
			return AG_ERR_PROTO;
		v[i] = rep->element[i]->integer;
	}
	memset(d, 0, sizeof(*d));
	if ((v[0] != AG_V_ALLOW && v[0] != AG_V_DENY && v[0] != GOV_NOSLOT) || v[1] < 0 ||
	    v[1] >= GOV_RULE_COUNT || v[2] < 0 || v[3] < 0 || v[3] >= AG_CLASS_COUNT)
		return AG_ERR_PROTO;
	d->verdict = (int)v[0];
	d->rule = (int)v[1];
	d->retry_ms = v[2];
	d->klass = (int)v[3];
	d->trusted = v[4] != 0;
	d->nsteps = 4;
	for (s = 0; s < 4; s++) {
		d->steps[s].rule = v[6 + 4 * s] > 0 && v[6 + 4 * s] < GOV_RULE_COUNT
				       ? (int)v[6 + 4 * s]
				       : rules[s];
		d->steps[s].verdict = (int)v[7 + 4 * s];
		d->steps[s].retry_ms = v[8 + 4 * s];
	}
	if (!terse)
		details(d, v, conf);
	/* Only a pair's backoff hold is fixed until the pair's next report
	 * (which drops the entry): rate retries move with other pairs'
	 * attempts, a user cap with other pairs' outcomes, and a concurrency
	 * denial with this pair's reports. */
	*cacheable = d->verdict == AG_V_DENY && d->rule == GOV_RULE_BACKOFF && v[25] == 0;
	return 0;
}

/* A commit made for nobody (the attempt was decided here after the
 * timer): take it back, as an unavailable backend would. */
static void take_back(struct rds *r, const struct rds_req *late)
{
	struct rds_req *q;

	if (r->state != RDS_READY || r->pending >= r->conf->redis_max_pending)
		return;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return;
	*q = *late;
	q->prev = q->next = NULL;
	q->timer = NULL;
	q->at.user = q->user;
	q->at.source = q->source;
	q->at.agg = q->has_agg ? q->agg : NULL;
	q->op = RQ_TAKEBACK;
	q->outcome = AG_OUT_UNAVAIL;
	q->jitter = 0;
	q->answered = 1;
	q->retried = 0;
	q->ddone = NULL;
	q->rdone = NULL;
	if (send_req(r, q) != 0)
		free(q);
	else
		q->op = RQ_TAKEBACK;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds_req *q = privdata;
	struct rds *r = q->r;
	const redisReply *rep = reply;
	struct gov_decision d;
	int rc, cacheable = 0;

	r->pending--;
	if (q->timer != NULL)
		evtimer_del(q->timer);
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && !q->retried &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0 && !r->closing) {
		/* Redis lost the script (restart, SCRIPT FLUSH): EVAL loads it. */
		q->retried = 1;
		if (send_req(r, q) == 0) {
			if (q->timer != NULL && !q->answered)
				arm(q);
			return;
		}
	}
	req_unlink(q);
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		if (rep != NULL)
			trouble(r, "command failed", rep->str);
		if (!q->answered) {
			if (r->closing) {
				q->answered = 1;
				if (q->op == RQ_DECIDE)
					q->ddone(q->arg, AG_ERR_CLOSED, NULL);
				else if (q->rdone != NULL)
					q->rdone(q->arg, AG_ERR_CLOSED, 0);
			} else {
				answer_local(q);
			}
		}
		req_free(q);
		return;
	}
	r->timeouts = 0;
	if (q->op == RQ_DECIDE) {
		rc = parse_decision(rep, &d, r->conf, (q->mode & GOV_TERSE) != 0, &cacheable);
		if (rc < 0) {
			trouble(r, "a decide reply that does not parse", NULL);
			if (!q->answered)
				answer_local(q);
		} else if (q->answered) {
			if ((q->mode & GOV_COMMIT) && d.verdict == AG_V_ALLOW)
				take_back(r, q);
		} else {
			q->answered = 1;
			if (cacheable)
				neg_put(r, &q->at, &d, q->now);
			q->ddone(q->arg, 0, &d);
		}
	} else if (q->op == RQ_REPORT && !q->answered) {
		long long cleared = 0;

		if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
		    rep->element[0]->type == REDIS_REPLY_INTEGER)
			cleared = rep->element[0]->integer;
		q->answered = 1;
		if (q->rdone != NULL)
			q->rdone(q->arg, 0, cleared);
	}
	req_free(q);
	(void)ac;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct rds_req *q = arg;
	struct rds *r = q->r;

	if (q->answered)
		return;
	r->timeouts++;
	trouble(r, "a command took longer than redis_timeout", "decided on this host");
	answer_local(q);
	if (r->timeouts >= RDS_TIMEOUTS_TO_DROP)
		drop_connection(r, "commands past redis_timeout");
}

/* ---- the connection ---- */

static void connect_now(struct rds *r);

static void retry_later(struct rds *r)
{
	struct timeval tv = {RDS_RETRY_MS / 1000, (RDS_RETRY_MS % 1000) * 1000};

	if (!r->closing && !r->refused && r->retry != NULL)
		evtimer_add(r->retry, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	connect_now(arg);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	if (r == NULL)
		return;
	r->ac = NULL;
	evtimer_del(r->connect);
	set_state(r, RDS_DOWN, "connection lost");
	retry_later(r);
}

static void drop_connection(struct rds *r, const char *why)
{
	redisAsyncContext *ac = r->ac;

	set_state(r, RDS_DOWN, why);
	r->timeouts = 0;
	if (ac == NULL)
		return;
	/* Pending callbacks run now with no reply: their attempts are
	 * answered here (those not answered yet). on_disconnect follows. */
	redisAsyncDisconnect(ac);
}

static void on_connect_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct rds *r = arg;

	if (r->state != RDS_READY) {
		trouble(r, "not ready within 2 s", "retrying");
		if (r->ac != NULL)
			drop_connection(r, "connect timed out");
		else
			retry_later(r);
	}
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	if (r == NULL || status == REDIS_OK)
		return;
	trouble(r, "cannot connect", ac->errstr);
	/* hiredis frees ac after this callback. */
	r->ac = NULL;
	set_state(r, RDS_DOWN, "cannot connect");
	evtimer_del(r->connect);
	retry_later(r);
}

/* A setup step answered. privdata names it. */
static void on_setup(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds *r = ac->data;
	const redisReply *rep = reply;
	const char *step = privdata;

	if (r == NULL || rep == NULL)
		return;
	if (strcmp(step, "config") == 0) {
		/* CONFIG may be refused to an ACL user: then nothing is known. */
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
		    rep->element[1]->type == REDIS_REPLY_STRING) {
			const char *name = rep->element[0]->str, *v = rep->element[1]->str;

			if (strcmp(name, "maxmemory-policy") == 0 && strncmp(v, "allkeys-", 8) == 0)
				gov_log(LOG_WARNING,
					"redis: maxmemory-policy %s can evict holds under memory "
					"pressure; use noeviction",
					v);
			if (strcmp(name, "appendonly") == 0 && strcmp(v, "no") == 0)
				gov_log(LOG_WARNING,
					"redis: appendonly no: a Redis restart forgets every hold "
					"and trust; use appendonly yes");
		}
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		gov_log(LOG_ERR, "redis: %s failed: %s", step, rep->str);
		r->setup_failed = 1;
		return;
	}
	if (strcmp(step, "script") == 0) {
		if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
			r->setup_failed = 1;
			return;
		}
		memcpy(r->sha, rep->str, 40);
		r->sha[40] = '\0';
	} else if (strcmp(step, "fleet key") == 0) {
		/* SET NX then GET: the key in Redis is the first host's. */
		if (rep->type != REDIS_REPLY_STRING || strcmp(rep->str, r->fp) != 0) {
			gov_log(LOG_ERR,
				"redis: another fleet key is in use there (fingerprint %s, ours %s): "
				"refusing to join; copy the fleet's hash_key_file to this host",
				rep->type == REDIS_REPLY_STRING ? rep->str : "?", r->fp);
			r->refused = 1;
			r->setup_failed = 1;
			return;
		}
		if (!r->setup_failed) {
			evtimer_del(r->connect);
			r->timeouts = 0;
			set_state(r, RDS_READY, NULL);
		}
	}
}

/* Sends the setup, pipelined; the fleet key's GET comes last. */
static int setup(struct rds *r)
{
	redisAsyncContext *ac = r->ac;
	char db[16];
	int rc = REDIS_OK;

	r->setup_failed = 0;
	if (r->password[0] != '\0' && r->url.user[0] != '\0')
		rc = redisAsyncCommand(ac, on_setup, "AUTH", "AUTH %s %s", r->url.user,
				       r->password);
	else if (r->password[0] != '\0')
		rc = redisAsyncCommand(ac, on_setup, "AUTH", "AUTH %s", r->password);
	if (rc == REDIS_OK && r->url.db != 0) {
		snprintf(db, sizeof(db), "%d", r->url.db);
		rc = redisAsyncCommand(ac, on_setup, "SELECT", "SELECT %s", db);
	}
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "config", "CONFIG GET maxmemory-policy");
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "config", "CONFIG GET appendonly");
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "script", "SCRIPT LOAD %s", gov_redis_script);
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "set", "SET %s %s NX", r->fp_key, r->fp);
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "fleet key", "GET %s", r->fp_key);
	return rc == REDIS_OK ? 0 : AG_ERR_IO;
}

/* ---- the subscription: resets and list changes on other hosts ---- */

static void on_event(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds *r = privdata;
	const redisReply *rep = reply;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	/* (Re)subscribed: whatever was published meanwhile is lost, so the
	 * cache goes; a message: a reset or a list change somewhere. */
	if (strcmp(rep->element[0]->str, "subscribe") == 0 ||
	    strcmp(rep->element[0]->str, "message") == 0)
		neg_flush(r);
	(void)ac;
}

static void sub_later(struct rds *r)
{
	struct timeval tv = {RDS_RETRY_MS / 1000, (RDS_RETRY_MS % 1000) * 1000};

	if (!r->closing && !r->refused && r->sub_retry != NULL)
		evtimer_add(r->sub_retry, &tv);
}

static void on_sub_down(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	if (r == NULL)
		return;
	r->sub = NULL;
	neg_flush(r);
	sub_later(r);
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	if (r == NULL || status == REDIS_OK)
		return;
	r->sub = NULL;
	sub_later(r);
}

static void sub_now(struct rds *r)
{
	redisAsyncContext *ac;
	int rc = REDIS_OK;

	if (r->closing || r->refused || r->sub != NULL)
		return;
	ac = r->url.unix_socket ? redisAsyncConnectUnix(r->url.path)
				: redisAsyncConnect(r->url.host, (int)r->url.port);
	if (ac == NULL || ac->err) {
		if (ac != NULL)
			redisAsyncFree(ac);
		sub_later(r);
		return;
	}
	ac->data = r;
	if (redisLibeventAttach(ac, r->base) != REDIS_OK ||
	    redisAsyncSetConnectCallback(ac, on_sub_connect) != REDIS_OK ||
	    redisAsyncSetDisconnectCallback(ac, on_sub_down) != REDIS_OK) {
		ac->data = NULL;
		redisAsyncFree(ac);
		sub_later(r);
		return;
	}
	r->sub = ac;
	if (r->password[0] != '\0' && r->url.user[0] != '\0')
		rc = redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", r->url.user, r->password);
	else if (r->password[0] != '\0')
		rc = redisAsyncCommand(ac, NULL, NULL, "AUTH %s", r->password);
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_event, r, "SUBSCRIBE %sevents", r->prefix);
	if (rc != REDIS_OK)
		redisAsyncDisconnect(ac);
}

static void on_sub_retry(evutil_socket_t fd, short what, void *arg)
{
	sub_now(arg);
}

static void connect_now(struct rds *r)
{
	struct timeval tv = {RDS_CONNECT_MS / 1000, (RDS_CONNECT_MS % 1000) * 1000};
	redisAsyncContext *ac;

	if (r->closing || r->refused || r->ac != NULL)
		return;
	ac = r->url.unix_socket ? redisAsyncConnectUnix(r->url.path)
				: redisAsyncConnect(r->url.host, (int)r->url.port);
	if (ac == NULL || ac->err) {
		trouble(r, "cannot connect", ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		retry_later(r);
		return;
	}
	ac->data = r;
	if (redisLibeventAttach(ac, r->base) != REDIS_OK ||
	    redisAsyncSetConnectCallback(ac, on_connect) != REDIS_OK ||
	    redisAsyncSetDisconnectCallback(ac, on_disconnect) != REDIS_OK) {
		ac->data = NULL;
		redisAsyncFree(ac);
		retry_later(r);
		return;
	}
	r->ac = ac;
	r->state = RDS_CONNECTING;
	evtimer_add(r->connect, &tv);
	if (setup(r) != 0)
		drop_connection(r, "cannot send the setup");
}

/* ---- the store's operations ---- */

static int rds_decide(void *ctx, const struct gov_attempt *at, int64_t now, int mode,
		      unsigned slot_mask, gov_store_decided done, void *arg)
{
	return start(ctx, RQ_DECIDE, at, now, mode, slot_mask, 0, 0, done, NULL, arg);
}

static int rds_report(void *ctx, const struct gov_attempt *at, int outcome, int64_t now,
		      int jitter_pm, gov_store_reported done, void *arg)
{
	struct rds *r = ctx;

	/* The local store hears every outcome too, so that degraded mode
	 * starts from what this host saw. */
	(void)gov_store_report(&r->local, at, outcome, now, jitter_pm, NULL, NULL);
	/* Any outcome moves the pair's backoff: its cached hold is stale. */
	neg_drop(r, at);
	if (outcome == AG_OUT_PASS) {
		if (done != NULL)
			done(arg, 0, 0);
		return 0;
	}
	return start(r, RQ_REPORT, at, now, 0, 0, outcome, jitter_pm, NULL, done, arg);
}

/* ---- describe ---- */

struct rds_desc {
	struct rds *r;
	int has_user, has_source, has_agg;
	char user[AG_SOURCE_MAX + 64], source[AG_SOURCE_MAX], agg[AG_SOURCE_MAX];
	gov_store_described done;
	void *arg;
};

/* " name_in=Nms", " name_ago=Nms" or " name=-", as store_admin.c writes. */
static size_t put_when(char *b, size_t cap, const char *name, long long when, int64_t now)
{
	int n;

	if (when <= 0)
		n = snprintf(b, cap, " %s=-", name);
	else if (when >= now)
		n = snprintf(b, cap, " %s_in=%lldms", name, when - (long long)now);
	else
		n = snprintf(b, cap, " %s_ago=%lldms", name, (long long)now - when);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void on_describe(redisAsyncContext *ac, void *reply, void *privdata)
{
	static char text[4096];
	struct rds_desc *x = privdata;
	const redisReply *rep = reply;
	int64_t now = ag_wall_ms();
	long long v[20];
	size_t i, o = 0;
	int n;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 20) {
		x->done(x->arg, AG_ERR_IO, NULL);
		free(x);
		return;
	}
	for (i = 0; i < 20; i++)
		v[i] = rep->element[i]->type == REDIS_REPLY_INTEGER ? rep->element[i]->integer : 0;
	text[0] = '\0';
#define ADD(...)                                                                    \
	do {                                                                        \
		n = snprintf(text + o, sizeof(text) - o, __VA_ARGS__);              \
		o += n > 0 && (size_t)n < sizeof(text) - o ? (size_t)n : 0;         \
	} while (0)
	if (x->has_user && x->has_source) {
		ADD("kind=pair user=%s source=%s stored=%s failures=%lld inflight=%lld", x->user,
		    x->source, v[0] ? "yes" : "no", v[1], v[2]);
		o += put_when(text + o, sizeof(text) - o, "hold_until", v[3] > now ? v[3] : 0, now);
		o += put_when(text + o, sizeof(text) - o, "last_fail", v[4], now);
		o += put_when(text + o, sizeof(text) - o, "last_seen", v[5], now);
		ADD(" trusted=%lld", v[6]);
		o += put_when(text + o, sizeof(text) - o, "last_success", v[7], now);
		ADD("\n");
	}
	if (x->has_user) {
		ADD("kind=user user=%s stored=%s ucfail=%lld cap_level=%lld", x->user,
		    v[8] ? "yes" : "no", v[9], v[10]);
		o += put_when(text + o, sizeof(text) - o, "cap_until", v[11] > now ? v[11] : 0, now);
		ADD(" clean_tokens=%lld failing_tokens=%lld trusted_sources=%lld\n", v[12], v[13],
		    v[14]);
	}
	if (x->has_source)
		ADD("kind=source source=%s stored=%s tokens=%lld\n", x->source, v[15] ? "yes" : "no",
		    v[16]);
	if (x->has_agg) {
		ADD("kind=agg agg=%s stored=%s", x->agg, v[17] ? "yes" : "no");
		o += put_when(text + o, sizeof(text) - o, "last_fail", v[18], now);
		ADD(" failing=%lld\n", v[19]);
	}
#undef ADD
	x->done(x->arg, 0, text);
	free(x);
	(void)ac;
}

static int rds_describe_async(void *ctx, const char *user, const char *source, const char *agg,
			      int64_t now, gov_store_described done, void *arg)
{
	struct rds *r = ctx;
	char hu[AG_FLEETKEY_HASH_LEN + 1], hs[AG_FLEETKEY_HASH_LEN + 1];
	char ha[AG_FLEETKEY_HASH_LEN + 1], nowb[24];
	char kp[RDS_KEY_MAX], ks[RDS_KEY_MAX], ka[RDS_KEY_MAX], ku[RDS_KEY_MAX], kh[RDS_KEY_MAX];
	struct rds_desc *x;
	const char *argv[13];
	size_t len[13];
	int i;

	if ((user == NULL && source == NULL && agg == NULL) ||
	    (user != NULL && strlen(user) >= sizeof(x->user)) ||
	    (source != NULL && strlen(source) >= sizeof(x->source)) ||
	    (agg != NULL && strlen(agg) >= sizeof(x->agg)))
		return AG_ERR_INVAL;
	if (r->state != RDS_READY)
		return AG_ERR_CONNECT;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return AG_ERR_NOMEM;
	x->r = r;
	x->done = done;
	x->arg = arg;
	x->has_user = user != NULL;
	x->has_source = source != NULL;
	x->has_agg = agg != NULL;
	snprintf(x->user, sizeof(x->user), "%s", user != NULL ? user : "");
	snprintf(x->source, sizeof(x->source), "%s", source != NULL ? source : "");
	snprintf(x->agg, sizeof(x->agg), "%s", agg != NULL ? agg : "");
	/* A part not asked for still needs a key: one of a name never used. */
	ag_fleetkey_hash(&r->key, AG_FLEETKEY_D_USER, user != NULL ? user : "", NULL, hu);
	ag_fleetkey_hash(&r->key, AG_FLEETKEY_D_SOURCE, source != NULL ? source : "", NULL, hs);
	ag_fleetkey_hash(&r->key, AG_FLEETKEY_D_AGG, agg != NULL ? agg : "", NULL, ha);
	key(kp, r, 'P', hu, hs);
	key(ks, r, 'S', hs, NULL);
	key(ka, r, 'A', ha, NULL);
	key(ku, r, 'U', hu, NULL);
	key(kh, r, 'H', hu, NULL);
	if (r->conf->clock == AG_CLOCK_REDIS)
		snprintf(nowb, sizeof(nowb), "time");
	else
		snprintf(nowb, sizeof(nowb), "%" PRId64, now);
	argv[0] = "EVALSHA";
	argv[1] = r->sha;
	argv[2] = "5";
	argv[3] = kp;
	argv[4] = ks;
	argv[5] = ka;
	argv[6] = ku;
	argv[7] = kh;
	argv[8] = "describe";
	argv[9] = nowb;
	argv[10] = r->confcsv;
	argv[11] = "0";
	argv[12] = hs;
	for (i = 0; i < 13; i++)
		len[i] = strlen(argv[i]);
	if (r->ac == NULL || redisAsyncCommandArgv(r->ac, on_describe, x, 13, argv, len) != REDIS_OK) {
		free(x);
		return AG_ERR_IO;
	}
	return 0;
}

/* ---- reset, fleet-wide ---- */

#define RESET_BATCH 1000 /* SCAN COUNT, and keys per reset script call */

/* A reset in Redis: the keys known by name, then those found by SCAN (a
 * user's or a source's pairs, or every key of the prefix), one script call
 * per page. */
struct rds_reset {
	struct rds *r;
	char member[AG_FLEETKEY_HASH_LEN + 1]; /* reset pair: the source in H */
	char pattern[RDS_KEY_MAX + 32];	       /* SCAN MATCH; "" = no scan */
	char cursor[32];
	int scanning; /* SCAN has started: cursor "0" now means done */
	int64_t found;
	gov_store_resetted done;
	void *arg;
};

static void reset_scan(struct rds_reset *x);

static void reset_finish(struct rds_reset *x, int rc)
{
	if (rc == 0 && x->found == 0)
		rc = AG_ERR_NOTFOUND;
	x->done(x->arg, rc);
	free(x);
}

/* Runs the reset script on keys[0..n) (G added first). */
static int reset_call(struct rds *r, struct rds_reset *x, const char *const *keys, size_t n,
		      redisCallbackFn *cb)
{
	const char **argv = calloc(n + 10, sizeof(*argv));
	size_t *len = calloc(n + 10, sizeof(*len));
	char kg[RDS_KEY_MAX], nk[24], now[24];
	size_t a = 0, i;
	int rc = AG_ERR_NOMEM;

	if (argv != NULL && len != NULL) {
		key(kg, r, 'G', "", NULL);
		snprintf(nk, sizeof(nk), "%zu", n + 1);
		if (r->conf->clock == AG_CLOCK_REDIS)
			snprintf(now, sizeof(now), "time");
		else
			snprintf(now, sizeof(now), "%" PRId64, ag_wall_ms());
		argv[a++] = "EVALSHA";
		argv[a++] = r->sha;
		argv[a++] = nk;
		argv[a++] = kg;
		for (i = 0; i < n; i++)
			argv[a++] = keys[i];
		argv[a++] = "reset";
		argv[a++] = now;
		argv[a++] = r->confcsv;
		argv[a++] = "0";
		argv[a++] = x->member;
		for (i = 0; i < a; i++)
			len[i] = strlen(argv[i]);
		rc = r->ac != NULL && redisAsyncCommandArgv(r->ac, cb, x, (int)a, argv, len) == REDIS_OK
			 ? 0
			 : AG_ERR_IO;
	}
	free(argv);
	free(len);
	return rc;
}

/* A page's reset answered: count, then the next page (or the end). */
static void on_reset_page(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds_reset *x = privdata;
	const redisReply *rep = reply;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER) {
		trouble(x->r, "reset failed", rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str : NULL);
		reset_finish(x, AG_ERR_IO);
		return;
	}
	x->found += rep->element[0]->integer;
	if (x->pattern[0] == '\0' || (x->scanning && strcmp(x->cursor, "0") == 0)) {
		/* Other hosts forget their cached holds (a subscriber flushes). */
		if (x->r->ac != NULL)
			(void)redisAsyncCommand(x->r->ac, NULL, NULL, "PUBLISH %sevents flush",
						x->r->prefix);
		reset_finish(x, 0);
		return;
	}
	reset_scan(x);
	(void)ac;
}

static void on_scan(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds_reset *x = privdata;
	struct rds *r = x->r;
	const redisReply *rep = reply, *keys;
	const char **batch;
	size_t i, n = 0;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[1]->type != REDIS_REPLY_ARRAY || rep->element[0]->len >= sizeof(x->cursor)) {
		trouble(r, "reset: SCAN failed", NULL);
		reset_finish(x, AG_ERR_IO);
		return;
	}
	memcpy(x->cursor, rep->element[0]->str, rep->element[0]->len);
	x->cursor[rep->element[0]->len] = '\0';
	keys = rep->element[1];
	batch = calloc(keys->elements + 1, sizeof(*batch));
	if (batch == NULL) {
		reset_finish(x, AG_ERR_NOMEM);
		return;
	}
	for (i = 0; i < keys->elements; i++)
		if (keys->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(keys->element[i]->str, r->fp_key) != 0)
			batch[n++] = keys->element[i]->str;
	/* An empty page: the script counts nothing, and the scan goes on. */
	if (reset_call(r, x, batch, n, on_reset_page) != 0)
		reset_finish(x, AG_ERR_IO);
	free(batch);
	(void)ac;
}

static void reset_scan(struct rds_reset *x)
{
	struct rds *r = x->r;

	x->scanning = 1;
	if (r->ac == NULL ||
	    redisAsyncCommand(r->ac, on_scan, x, "SCAN %s MATCH %s COUNT %d", x->cursor,
			      x->pattern, RESET_BATCH) != REDIS_OK)
		reset_finish(x, AG_ERR_IO);
}

static int rds_reset_async(void *ctx, int scope, const char *user, const char *source,
			   const char *agg, gov_store_resetted done, void *arg)
{
	struct rds *r = ctx;
	char hu[AG_FLEETKEY_HASH_LEN + 1], hs[AG_FLEETKEY_HASH_LEN + 1];
	char ha[AG_FLEETKEY_HASH_LEN + 1], k1[RDS_KEY_MAX], k2[RDS_KEY_MAX];
	const char *named[2];
	size_t n = 0;
	struct rds_reset *x;

	if ((scope == GOV_RESET_USER && user == NULL) ||
	    (scope == GOV_RESET_SOURCE && source == NULL) ||
	    (scope == GOV_RESET_PAIR && (user == NULL || source == NULL)) ||
	    scope < GOV_RESET_USER || scope > GOV_RESET_ALL)
		return AG_ERR_INVAL;
	/* This host's own memory first: its cache and its degraded-mode state. */
	neg_flush(r);
	(void)r->local.ops->reset(r->local.ctx, scope, user, source);
	if (r->state != RDS_READY) {
		done(arg, AG_ERR_CONNECT);
		return 0;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return AG_ERR_NOMEM;
	x->r = r;
	x->done = done;
	x->arg = arg;
	strcpy(x->cursor, "0");
	if (user != NULL)
		ag_fleetkey_hash(&r->key, AG_FLEETKEY_D_USER, user, NULL, hu);
	if (source != NULL)
		ag_fleetkey_hash(&r->key, AG_FLEETKEY_D_SOURCE, source, NULL, hs);
	switch (scope) {
	case GOV_RESET_USER: /* the user, its trust, then its pairs */
		key(k1, r, 'U', hu, NULL);
		key(k2, r, 'H', hu, NULL);
		named[n++] = k1;
		named[n++] = k2;
		snprintf(x->pattern, sizeof(x->pattern), "%sP%s*", r->prefix, hu);
		break;
	case GOV_RESET_SOURCE: /* its rate, its aggregate, then its pairs */
		key(k1, r, 'S', hs, NULL);
		if (agg != NULL) {
			ag_fleetkey_hash(&r->key, AG_FLEETKEY_D_AGG, agg, NULL, ha);
			key(k2, r, 'A', ha, NULL);
		} else {
			key(k2, r, 'A', hs, NULL);
		}
		named[n++] = k1;
		named[n++] = k2;
		snprintf(x->pattern, sizeof(x->pattern), "%sP%.*s%s", r->prefix,
			 AG_FLEETKEY_HASH_LEN, "??????????????????????????????????", hs);
		break;
	case GOV_RESET_PAIR: /* the pair and its trust: no scan */
		key(k1, r, 'P', hu, hs);
		key(k2, r, 'H', hu, NULL);
		named[n++] = k1;
		named[n++] = k2;
		strcpy(x->member, hs);
		break;
	default: /* all: every key of the prefix */
		snprintf(x->pattern, sizeof(x->pattern), "%s*", r->prefix);
		break;
	}
	if (reset_call(r, x, named, n, on_reset_page) != 0) {
		free(x);
		done(arg, AG_ERR_IO);
	}
	return 0;
}

static int rds_reset(void *ctx, int scope, const char *user, const char *source)
{
	struct rds *r = ctx;

	/* Only this host's local state: a fleet-wide reset is not built yet. */
	neg_flush(r);
	return r->local.ops->reset(r->local.ctx, scope, user, source);
}

static void rds_flush(void *ctx)
{
	struct rds *r = ctx;

	neg_flush(r);
	/* The lists are this host's: other hosts' caches are theirs to keep. */
}

static void rds_counts(void *ctx, int64_t *tracked, int64_t *trusted)
{
	struct rds *r = ctx;

	r->local.ops->counts(r->local.ctx, tracked, trusted);
}

static const char *rds_state(void *ctx, int64_t *since_ms)
{
	struct rds *r = ctx;

	if (since_ms != NULL)
		*since_ms = r->state_since;
	return r->state == RDS_READY ? "ok" : "degraded";
}

static void rds_destroy(void *ctx)
{
	struct rds *r = ctx;

	if (r == NULL)
		return;
	r->closing = 1;
	if (r->ac != NULL) {
		redisAsyncContext *ac = r->ac;

		r->ac = NULL;
		/* Every pending callback runs now, answering AG_ERR_CLOSED. */
		redisAsyncFree(ac);
	}
	if (r->sub != NULL) {
		redisAsyncContext *ac = r->sub;

		r->sub = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	if (r->sub_retry != NULL)
		event_free(r->sub_retry);
	if (r->retry != NULL)
		event_free(r->retry);
	if (r->connect != NULL)
		event_free(r->connect);
	gov_store_free(&r->local);
	gov_table_free(r->neg);
	ag_fleetkey_wipe(&r->key);
	sodium_memzero(r->password, sizeof(r->password));
	ag_redis_url_wipe(&r->url);
	free(r);
}

static const struct gov_store_ops redis_ops = {
    .name = "redis",
    .decide_async = rds_decide,
    .report_async = rds_report,
    .reset = rds_reset,
    .reset_async = rds_reset_async,
    .describe_async = rds_describe_async,
    .counts = rds_counts,
    .state = rds_state,
    .flush = rds_flush,
    .destroy = rds_destroy,
};

/* ---- setting up ---- */

/* The limits at 1/fleet_size: a host alone must not let the fleet's whole
 * budget through on its own. */
static void local_limits(struct rds *r, const struct ag_conf *c)
{
	int64_t n = c->fleet_size > 0 ? c->fleet_size : 1;

	r->local_conf = *c;
	/* Only numbers are read from it: no string of the real conf. */
	r->local_conf.socket = r->local_conf.user_socket = NULL;
	r->local_conf.admin_group = r->local_conf.state_file = NULL;
	r->local_conf.metrics_listen = r->local_conf.redis = NULL;
	r->local_conf.redis_password_file = r->local_conf.key_prefix = NULL;
	r->local_conf.hash_key_file = NULL;
	r->local_conf.allow = r->local_conf.deny = NULL;
	r->local_conf.source_rate.period_ms = c->source_rate.period_ms * n;
	r->local_conf.user_rate.period_ms = c->user_rate.period_ms * n;
	r->local_conf.source_burst = c->source_burst / n > 0 ? c->source_burst / n : 1;
	r->local_conf.user_burst = c->user_burst / n > 0 ? c->user_burst / n : 1;
	/* Rates too slow for exact arithmetic stay as they were. */
	if (!gov_gcra_valid(&r->local_conf.source_rate, r->local_conf.source_burst) ||
	    !gov_gcra_valid(&r->local_conf.user_rate, r->local_conf.user_burst)) {
		r->local_conf.source_rate = c->source_rate;
		r->local_conf.user_rate = c->user_rate;
		r->local_conf.source_burst = c->source_burst;
		r->local_conf.user_burst = c->user_burst;
	}
}

static void conf_csv(struct rds *r, const struct ag_conf *c)
{
	/* pin: an attempt in flight keeps its pair at least its lease. */
	snprintf(r->confcsv, sizeof(r->confcsv),
		 "%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
		 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
		 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
		 c->pair_free_failures, c->backoff_base_ms, c->backoff_max_ms, c->failure_window_ms,
		 c->source_rate.count, c->source_rate.period_ms, c->source_burst, c->user_rate.count,
		 c->user_rate.period_ms, c->user_burst, c->user_max_failures, c->cap_hold_base_ms,
		 c->cap_hold_max_ms, c->trust_ttl_ms, c->max_trusted_per_user, c->max_trusted,
		 c->lease_ms > c->user_lease_ms ? c->lease_ms : c->user_lease_ms);
}

/* The password: the file's first line, without its newline. */
static int read_password(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "redis_password_file %s: %s", path, strerror(errno));
		return AG_ERR_CONFIG;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		snprintf(err, errlen,
			 "redis_password_file %s: must be a regular file, mode 0600 or 0400", path);
		rc = AG_ERR_PERM;
		goto out;
	}
	n = read(fd, out, cap - 1);
	if (n <= 0) {
		snprintf(err, errlen, "redis_password_file %s: empty or unreadable", path);
		rc = AG_ERR_CONFIG;
		goto out;
	}
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (out[0] == '\0') {
		snprintf(err, errlen, "redis_password_file %s: the first line is empty", path);
		rc = AG_ERR_CONFIG;
	}
out:
	close(fd);
	return rc;
}

int gov_store_redis_new(const struct ag_conf *conf, struct event_base *base, struct gov_store *out,
			char *err, size_t errlen)
{
	struct rds *r;
	char why[160];
	int rc;

	memset(out, 0, sizeof(*out));
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return AG_ERR_NOMEM;
	r->conf = conf;
	r->base = base;
	r->state_since = ag_wall_ms();
	rc = ag_redis_url_parse(conf->redis, &r->url, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "[store] redis: %s", why);
		goto fail;
	}
	if (r->url.password[0] != '\0')
		memcpy(r->password, r->url.password, sizeof(r->password));
	if (conf->redis_password_file != NULL && conf->redis_password_file[0] != '\0') {
		rc = read_password(conf->redis_password_file, r->password, sizeof(r->password), err,
				   errlen);
		if (rc < 0)
			goto fail;
	}
	rc = ag_fleetkey_load(conf->hash_key_file, &r->key, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "hash_key_file: %s", why);
		goto fail;
	}
	ag_fleetkey_fingerprint(&r->key, r->fp);
	snprintf(r->prefix, sizeof(r->prefix), "%s", conf->key_prefix);
	snprintf(r->fp_key, sizeof(r->fp_key), "%sfleetkey", r->prefix);
	local_limits(r, conf);
	conf_csv(r, conf);
	rc = gov_store_mem_new(&r->local_conf, &r->local);
	if (rc < 0) {
		snprintf(err, errlen, "the local store: %s", ag_strerror(rc));
		goto fail;
	}
	rc = gov_table_new(RDS_NEG_MAX, &r->neg);
	if (rc < 0) {
		snprintf(err, errlen, "the negative cache: %s", ag_strerror(rc));
		goto fail;
	}
	r->retry = evtimer_new(base, on_retry, r);
	r->connect = evtimer_new(base, on_connect_deadline, r);
	r->sub_retry = evtimer_new(base, on_sub_retry, r);
	if (r->retry == NULL || r->connect == NULL || r->sub_retry == NULL) {
		rc = AG_ERR_NOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	out->ops = &redis_ops;
	out->ctx = r;
	connect_now(r);
	sub_now(r);
	return 0;
fail:
	rds_destroy(r);
	return rc;
}

void gov_store_redis_reconf(struct gov_store *s, const struct ag_conf *conf)
{
	struct rds *r;

	if (s == NULL || s->ops != &redis_ops)
		return;
	r = s->ctx;
	r->conf = conf;
	local_limits(r, conf);
	conf_csv(r, conf);
	gov_store_mem_reconf(&r->local, &r->local_conf);
}

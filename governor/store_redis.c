/* store_redis.c - the Redis store (see store_redis.h): requests, their
 * answers, the store's operations, and setting it up. The connections are
 * rds_conn.c, the negative cache rds_neg.c, describe and reset rds_admin.c.
 *
 * A request is one FCALL with its own timer. Whichever comes first wins:
 * the reply, or the timer (redis_timeout), which has the attempt decided on
 * this host alone by the local memory store. A reply that comes after its
 * timer is dropped, except that a commit Redis made for an attempt already
 * decided here is taken back (report "unavail": no failure counted).
 * RDS_TIMEOUTS_TO_DROP timeouts in a row drop the connection (rds_conn.c);
 * until it is back every attempt is decided locally ("degraded").
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
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "ag_err.h"
#include "ag_fleetkey.h"
#include "ag_redis_url.h"
#include "ag_time.h"
#include "gcra.h"
#include "log.h"
#include "rds.h"
#include "store_redis.h"

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
	/* What is decided here alone goes to Redis after the outage. */
	if (r->outage_since == 0)
		r->outage_since = q->now > 0 ? q->now : ag_wall_ms();
	if (q->op == RQ_DECIDE) {
		rc = gov_store_decide(&r->local, &q->at, q->now, q->mode, q->mask, q->ddone,
				      q->arg);
		if (rc < 0)
			q->ddone(q->arg, rc, NULL);
	} else if (q->op == RQ_REPORT) {
		/* rds_report gave the local store every outcome already. */
		if (q->rdone != NULL)
			q->rdone(q->arg, 0, 0);
	}
}

/* ---- sending ---- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void on_timeout(evutil_socket_t fd, short what, void *arg);

void rds_key(char *b, const struct rds *r, char kind, const char *h1, const char *h2)
{
	/* Copies, not snprintf: seven keys per request made printf a tenth
	 * of the governor's own CPU. Cut at RDS_KEY_MAX as snprintf would. */
	const char *parts[3] = {r->prefix, h1, h2 != NULL ? h2 : ""};
	size_t n = 0, len;
	int i;

	for (i = 0; i < 3 && n < RDS_KEY_MAX - 1; i++) {
		len = strlen(parts[i]);
		if (len > RDS_KEY_MAX - 1 - n)
			len = RDS_KEY_MAX - 1 - n;
		memcpy(b + n, parts[i], len);
		n += len;
		if (i == 0 && n < RDS_KEY_MAX - 1)
			b[n++] = kind;
	}
	b[n] = '\0';
}

void rds_keys(struct rds *r, const char *user, const char *source, const char *agg,
	      struct rds_keys *k)
{
	char ha[AG_FLEETKEY_HASH_LEN + 1];

	rds_hash(r, AG_FLEETKEY_D_USER, user != NULL ? user : "", k->hu);
	rds_hash(r, AG_FLEETKEY_D_SOURCE, source != NULL ? source : "", k->hs);
	/* The pair's key is the user's hash then the source's, so that a reset
	 * of a user or a source finds its pairs by pattern (SCAN). */
	rds_key(k->p, r, 'P', k->hu, k->hs);
	rds_key(k->s, r, 'S', k->hs, NULL);
	if (agg != NULL && agg[0] != '\0') {
		rds_hash(r, AG_FLEETKEY_D_AGG, agg, ha);
		rds_key(k->a, r, 'A', ha, NULL);
	} else {
		rds_key(k->a, r, 'A', k->hs, NULL);
	}
	rds_key(k->u, r, 'U', k->hu, NULL);
	rds_key(k->h, r, 'H', k->hu, NULL);
	rds_key(k->g, r, 'G', "", NULL);
	rds_key(k->f, r, 'F', "", NULL);
}

/* FCALL of q. 0, or AG_ERR_* (nothing sent). */
static int send_req(struct rds *r, struct rds_req *q)
{
	char now[24], flags[8], a6[24], a7[24];
	const char *argv[RDS_ARGS];
	size_t len[RDS_ARGS];
	struct rds_keys k;
	int n = 0, i;

	rds_keys(r, q->user, q->source, q->has_agg ? q->agg : NULL, &k);
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
	argv[n++] = "FCALL";
	argv[n++] = r->fn;
	argv[n++] = "7";
	argv[n++] = k.p;
	argv[n++] = k.s;
	argv[n++] = k.a;
	argv[n++] = k.u;
	argv[n++] = k.h;
	argv[n++] = k.g;
	argv[n++] = k.f;
	argv[n++] = q->op == RQ_DECIDE ? "decide" : "report";
	argv[n++] = now;
	argv[n++] = r->confcsv;
	argv[n++] = flags;
	argv[n++] = k.hs;
	argv[n++] = a6;
	argv[n++] = a7;
	argv[n++] = q->ticket;
	argv[n++] = r->fleetcsv;
	for (i = 0; i < n; i++)
		len[i] = strlen(argv[i]);
	if (r->ac == NULL ||
	    redisAsyncCommandArgv(r->ac, on_reply, q, n, argv, len) != REDIS_OK)
		return AG_ERR_IO;
	r->pending++;
	return 0;
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

		/* A pair already held: no need to ask Redis again. Not for
		 * explain (not terse): it wants every rule's figures. */
		if ((mode & GOV_TERSE) && rds_neg_hit(r, at, now, &d)) {
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
	if (at->ticket != NULL && strlen(at->ticket) == GOV_TICKET_LEN)
		strcpy(q->ticket, at->ticket);
	q->at.ticket = q->ticket[0] != '\0' ? q->ticket : NULL;
	q->now = now;
	q->mode = mode;
	q->mask = mask;
	q->outcome = outcome;
	q->jitter = jitter;
	if (r->state != RDS_READY || r->pending >= r->conf->redis_max_pending) {
		if (r->state == RDS_READY)
			rds_trouble(r, "too many commands in flight", "deciding on this host");
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

/* The decide reply's 31 integers, joined by ',' (governor/redis/rules.lua):
 * each an optional '-' and 1..18 digits, nothing else. 0 or AG_ERR_PROTO. */
static int decide_ints(const char *s, size_t len, long long *v)
{
	const char *end = s + len;
	size_t i, nd;
	int neg;

	for (i = 0; i < RDS_DECIDE_REPLY; i++) {
		neg = s < end && *s == '-';
		s += neg;
		v[i] = 0;
		for (nd = 0; s < end && *s >= '0' && *s <= '9' && nd < 18; nd++)
			v[i] = v[i] * 10 + (*s++ - '0');
		if (nd == 0)
			return AG_ERR_PROTO;
		v[i] = neg ? -v[i] : v[i];
		if (i + 1 < RDS_DECIDE_REPLY && (s >= end || *s++ != ','))
			return AG_ERR_PROTO;
	}
	return s == end ? 0 : AG_ERR_PROTO;
}

static int parse_decision(const redisReply *rep, struct gov_decision *d,
			  const struct ag_conf *conf, int terse, int *cacheable)
{
	static const int rules[4] = {GOV_RULE_BACKOFF, GOV_RULE_USER_CAP, GOV_RULE_SOURCE_RATE,
				     GOV_RULE_USER_RATE};
	long long v[RDS_DECIDE_REPLY];
	int s;

	if (rep->type != REDIS_REPLY_STRING || decide_ints(rep->str, rep->len, v) != 0)
		return AG_ERR_PROTO;
	memset(d, 0, sizeof(*d));
	if ((v[0] != AG_V_ALLOW && v[0] != AG_V_DENY && v[0] != GOV_NOSLOT &&
	     v[0] != RDS_V_FLEET) || v[1] < 0 ||
	    v[1] >= GOV_RULE_COUNT || v[2] < 0 || v[3] < 0 || v[3] >= AG_CLASS_COUNT)
		return AG_ERR_PROTO;
	/* The fleet's slots are taken: no slot, like the host's, but the one
	 * that frees it may be on another host (the governor polls). */
	d->fleet_full = v[0] == RDS_V_FLEET;
	d->verdict = d->fleet_full ? GOV_NOSLOT : (int)v[0];
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

	if (r->closing || (r->state != RDS_READY && r->ntb >= RDS_TAKEBACK_MAX))
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
	/* Redis away: keep it for when it is back (a bounded queue). */
	if (r->state != RDS_READY || r->pending >= r->conf->redis_max_pending ||
	    send_req(r, q) != 0) {
		q->next = r->tb;
		r->tb = q;
		r->ntb++;
	}
}

void rds_take_back_flush(struct rds *r)
{
	struct rds_req *q;

	while ((q = r->tb) != NULL && r->state == RDS_READY) {
		r->tb = q->next;
		r->ntb--;
		q->next = NULL;
		if (send_req(r, q) != 0)
			free(q);
	}
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds_req *q = privdata;
	struct rds *r = q->r;
	const redisReply *rep = reply;
	struct gov_decision d;
	int rc, cacheable = 0;

	r->pending--;
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && !q->retried &&
	    strstr(rep->str, "Function not found") != NULL && !r->closing) {
		/* Redis lost the library (FUNCTION FLUSH, a restart without
		 * persistence): load it and ask again on the same connection,
		 * which runs them in order. The timer keeps running: the wait
		 * stays within the budget. */
		q->retried = 1;
		if (rds_lib_load(r) == 0 && send_req(r, q) == 0)
			return;
	}
	if (q->timer != NULL)
		evtimer_del(q->timer);
	req_unlink(q);
	/* No reply (the connection was dropped): Redis may have made the
	 * commit; take it back when it is back, or its pair stays "in flight". */
	if (rep == NULL && q->op == RQ_DECIDE && (q->mode & GOV_COMMIT) && !r->closing)
		take_back(r, q);
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		if (rep != NULL && !rds_readonly(r, ac, rep))
			rds_trouble(r, "command failed", rep->str);
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
			rds_trouble(r, "a decide reply that does not parse", NULL);
			if (!q->answered)
				answer_local(q);
		} else if (q->answered) {
			if ((q->mode & GOV_COMMIT) && d.verdict == AG_V_ALLOW)
				take_back(r, q);
		} else {
			q->answered = 1;
			if (cacheable)
				rds_neg_put(r, &q->at, &d, q->now);
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
	rds_trouble(r, "a command took longer than redis_timeout", "decided on this host");
	answer_local(q);
	if (r->timeouts >= RDS_TIMEOUTS_TO_DROP)
		rds_conn_drop(r, "commands past redis_timeout");
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
	rds_neg_drop(r, at);
	if (outcome == AG_OUT_PASS) {
		if (done != NULL)
			done(arg, 0, 0);
		return 0;
	}
	return start(r, RQ_REPORT, at, now, 0, 0, outcome, jitter_pm, NULL, done, arg);
}

static int rds_reset(void *ctx, int scope, const char *user, const char *source)
{
	struct rds *r = ctx;

	/* Only this host's local state: a fleet-wide reset is not built yet. */
	rds_neg_flush(r);
	return r->local.ops->reset(r->local.ctx, scope, user, source);
}

static void rds_flush(void *ctx)
{
	struct rds *r = ctx;

	rds_neg_flush(r);
	/* The lists are this host's: other hosts' caches are theirs to keep. */
}

/* What Redis holds is the fleet's, and counting it would mean a scan:
 * -1, "not counted here" (status shows "-", metrics 0). */
static void rds_counts(void *ctx, int64_t *tracked, int64_t *trusted)
{
	(void)ctx;
	if (tracked != NULL)
		*tracked = -1;
	if (trusted != NULL)
		*trusted = -1;
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
	rds_conn_free(r);
	rds_merge_free(r);
	while (r->tb != NULL) {
		struct rds_req *q = r->tb;

		r->tb = q->next;
		free(q);
	}
	gov_store_free(&r->local);
	gov_table_free(r->neg);
	rds_hash_free(r);
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
    .reset_async = rds_admin_reset,
    .describe_async = rds_admin_describe,
    .list_add = rds_lists_add,
    .list_remove = rds_lists_remove,
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
	int64_t tr, cr;

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
	/* fleet_max_inflight's ceiling per class, the host's reserves applied
	 * the same way (admit.c: shares rounded down). */
	tr = c->fleet_max_inflight * c->trusted_reserve_pct / 100;
	cr = c->fleet_max_inflight * c->clean_reserve_pct / 100;
	if (cr > c->fleet_max_inflight - tr)
		cr = c->fleet_max_inflight - tr;
	snprintf(r->fleetcsv, sizeof(r->fleetcsv), "%" PRId64 ",%" PRId64 ",%" PRId64,
		 c->fleet_max_inflight, c->fleet_max_inflight - tr, c->fleet_max_inflight - tr - cr);
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

int gov_store_redis_check(const struct ag_conf *conf, char fp[AG_FLEETKEY_FP_LEN + 1], char *err,
			  size_t errlen)
{
	char password[AG_REDIS_CRED_MAX], why[160];
	struct ag_fleetkey k;
	int rc = 0;

	fp[0] = '\0';
	if (conf->redis_password_file != NULL && conf->redis_password_file[0] != '\0')
		rc = read_password(conf->redis_password_file, password, sizeof(password), err, errlen);
	sodium_memzero(password, sizeof(password));
	if (rc < 0)
		return rc;
	rc = ag_fleetkey_load(conf->hash_key_file, &k, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "hash_key_file: %s", why);
		return rc;
	}
	ag_fleetkey_fingerprint(&k, fp);
	ag_fleetkey_wipe(&k);
	return 0;
}

int gov_store_redis_new(const struct ag_conf *conf, struct event_base *base,
			struct gov_lists *lists, struct gov_store *out, char *err, size_t errlen)
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
	r->lists = lists;
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
	rc = rds_hash_init(r);
	if (rc < 0) {
		snprintf(err, errlen, "the hash cache: %s", ag_strerror(rc));
		goto fail;
	}
	if (rds_conn_init(r) != 0) {
		rc = AG_ERR_NOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	out->ops = &redis_ops;
	out->ctx = r;
	rds_conn_start(r);
	rds_sub_start(r);
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

void gov_store_redis_on_free(struct gov_store *s, void (*fn)(void *arg), void *arg)
{
	struct rds *r;

	if (s == NULL || s->ops != &redis_ops)
		return;
	r = s->ctx;
	r->on_free = fn;
	r->on_free_arg = arg;
}

/* rds_admin.c - the Redis store's describe (show, explain) and its
 * fleet-wide reset: the keys known by name, then those SCAN finds by
 * pattern, one reset script call per page, then PUBLISH so that every
 * governor drops its cached holds.
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

/* ---- describe ---- */

struct rds_desc {
	struct rds *r;
	int has_user, has_source, has_agg;
	char user[AG_SOURCE_MAX + 64], source[AG_SOURCE_MAX], agg[AG_SOURCE_MAX];
	gov_store_described done;
	void *arg;
};

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
		(void)rds_readonly(x->r, ac, rep); /* a failover: reconnect */
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
		o += gov_store_when(text + o, sizeof(text) - o, "hold_until", v[3] > now ? v[3] : 0, now);
		o += gov_store_when(text + o, sizeof(text) - o, "last_fail", v[4], now);
		o += gov_store_when(text + o, sizeof(text) - o, "last_seen", v[5], now);
		ADD(" trusted=%lld", v[6]);
		o += gov_store_when(text + o, sizeof(text) - o, "last_success", v[7], now);
		ADD("\n");
	}
	if (x->has_user) {
		ADD("kind=user user=%s stored=%s ucfail=%lld cap_level=%lld", x->user,
		    v[8] ? "yes" : "no", v[9], v[10]);
		o += gov_store_when(text + o, sizeof(text) - o, "cap_until", v[11] > now ? v[11] : 0, now);
		ADD(" clean_tokens=%lld failing_tokens=%lld trusted_sources=%lld\n", v[12], v[13],
		    v[14]);
	}
	if (x->has_source)
		ADD("kind=source source=%s stored=%s tokens=%lld\n", x->source, v[15] ? "yes" : "no",
		    v[16]);
	if (x->has_agg) {
		ADD("kind=agg agg=%s stored=%s", x->agg, v[17] ? "yes" : "no");
		o += gov_store_when(text + o, sizeof(text) - o, "last_fail", v[18], now);
		ADD(" failing=%lld\n", v[19]);
	}
#undef ADD
	x->done(x->arg, 0, text);
	free(x);
	(void)ac;
}

int rds_admin_describe(void *ctx, const char *user, const char *source, const char *agg,
			      int64_t now, gov_store_described done, void *arg)
{
	struct rds *r = ctx;
	struct rds_keys k;
	char nowb[24];
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
	rds_keys(r, user, source, agg, &k);
	if (r->conf->clock == AG_CLOCK_REDIS)
		snprintf(nowb, sizeof(nowb), "time");
	else
		snprintf(nowb, sizeof(nowb), "%" PRId64, now);
	argv[0] = "FCALL";
	argv[1] = r->fn;
	argv[2] = "5";
	argv[3] = k.p;
	argv[4] = k.s;
	argv[5] = k.a;
	argv[6] = k.u;
	argv[7] = k.h;
	argv[8] = "describe";
	argv[9] = nowb;
	argv[10] = r->confcsv;
	argv[11] = "0";
	argv[12] = k.hs;
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
	char kg[RDS_KEY_MAX], kf[RDS_KEY_MAX], nk[24], now[24];
	size_t a = 0, i;
	int rc = AG_ERR_NOMEM;

	if (argv != NULL && len != NULL) {
		rds_key(kg, r, 'G', "", NULL);
		snprintf(nk, sizeof(nk), "%zu", n + 1);
		if (r->conf->clock == AG_CLOCK_REDIS)
			snprintf(now, sizeof(now), "time");
		else
			snprintf(now, sizeof(now), "%" PRId64, ag_wall_ms());
		argv[a++] = "FCALL";
		argv[a++] = r->fn;
		argv[a++] = nk;
		argv[a++] = kg;
		for (i = 0; i < n; i++)
			argv[a++] = keys[i];
		argv[a++] = "reset";
		argv[a++] = now;
		argv[a++] = r->confcsv;
		argv[a++] = "0";
		argv[a++] = x->member;
		/* attempts in flight (tickets) and their tombstones are kept */
		rds_key(kf, r, 'F', "", NULL);
		argv[a++] = kf;
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
		if (!rds_readonly(x->r, ac, rep))
			rds_trouble(x->r, "reset failed",
				    rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str : NULL);
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

/* Keys a reset never clears: the fleet key's fingerprint and the fleet's
 * lists (reset all clears rule state, as in the memory store, not lists). */
static int kept(const struct rds *r, const char *k)
{
	size_t pl = strlen(r->prefix);

	return strcmp(k, r->fp_key) == 0 ||
	       (strncmp(k, r->prefix, pl) == 0 &&
		(strcmp(k + pl, "lists") == 0 || strcmp(k + pl, "lists:gen") == 0));
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
		rds_trouble(r, "reset: SCAN failed", NULL);
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
		    !kept(r, keys->element[i]->str))
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

int rds_admin_reset(void *ctx, int scope, const char *user, const char *source,
			   const char *agg, gov_store_resetted done, void *arg)
{
	struct rds *r = ctx;
	struct rds_keys k;
	const char *named[2];
	size_t n = 0;
	struct rds_reset *x;

	if ((scope == GOV_RESET_USER && user == NULL) ||
	    (scope == GOV_RESET_SOURCE && source == NULL) ||
	    (scope == GOV_RESET_PAIR && (user == NULL || source == NULL)) ||
	    scope < GOV_RESET_USER || scope > GOV_RESET_ALL)
		return AG_ERR_INVAL;
	/* This host's own memory first: its cache and its degraded-mode state. */
	rds_neg_flush(r);
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
	rds_keys(r, user, source, agg, &k);
	switch (scope) {
	case GOV_RESET_USER: /* the user, its trust, then its pairs */
		named[n++] = k.u;
		named[n++] = k.h;
		snprintf(x->pattern, sizeof(x->pattern), "%sP%s*", r->prefix, k.hu);
		break;
	case GOV_RESET_SOURCE: /* its rate, its aggregate, then its pairs */
		named[n++] = k.s;
		named[n++] = k.a;
		snprintf(x->pattern, sizeof(x->pattern), "%sP%.*s%s", r->prefix,
			 AG_FLEETKEY_HASH_LEN, "??????????????????????????????????", k.hs);
		break;
	case GOV_RESET_PAIR: /* the pair and its trust: no scan */
		named[n++] = k.p;
		named[n++] = k.h;
		strcpy(x->member, k.hs);
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

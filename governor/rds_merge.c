/* rds_merge.c - after an outage, what this host learnt alone goes to Redis.
 *
 * While Redis is away the governor decides with its local memory store,
 * which counts failures, sets backoff holds and user caps that the rest of
 * the fleet cannot see. When Redis is ready again, every pair, user and
 * netblock of that store with a failure since the outage began, or a hold
 * or cap still running, is merged into Redis (rules.lua "merge": the larger
 * of each count and time), so that a hold set on this host during the
 * outage holds on every host once it is over. At most RDS_MERGE_MAX
 * entries, RDS_MERGE_BATCH commands in flight at a time; a connection lost
 * meanwhile leaves the rest for the next return (the outage's start is kept
 * until a merge completes).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "ag_err.h"
#include "ag_time.h"
#include "log.h"
#include "rds.h"

struct merge_item {
	char kind;
	char a[AG_SOURCE_MAX + 64], b[AG_SOURCE_MAX];
	int64_t count, until, last;
};

struct merge {
	struct merge_item *items;
	int64_t n, next, pending, failed;
	int64_t since;
};

static void collect(void *arg, const struct gov_mem_fact *f)
{
	struct merge *m = arg;
	struct merge_item *it = &m->items[m->n];

	if (strlen(f->a) >= sizeof(it->a) || (f->b != NULL && strlen(f->b) >= sizeof(it->b)))
		return;
	it->kind = f->kind;
	strcpy(it->a, f->a);
	strcpy(it->b, f->b != NULL ? f->b : "");
	it->count = f->count;
	it->until = f->until;
	it->last = f->last;
	m->n++;
}

static void merge_free(struct rds *r)
{
	if (r->merge != NULL) {
		free(r->merge->items);
		free(r->merge);
		r->merge = NULL;
	}
}

static void send_batch(struct rds *r);

static void on_merged(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds *r = privdata;
	const redisReply *rep = reply;
	struct merge *m = r->merge;

	(void)ac;
	r->pending--;
	if (m == NULL)
		return;
	m->pending--;
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
		m->failed++;
	if (m->pending > 0)
		return;
	if (r->closing) {
		merge_free(r);
		return;
	}
	if (m->failed > 0 || r->state != RDS_READY) {
		/* Kept for the next return: the outage's start stays. */
		gov_log(LOG_WARNING,
			"redis: merging what this host learnt alone stopped after %" PRId64
			" of %" PRId64 " entries; trying again when Redis is back",
			m->next, m->n);
		merge_free(r);
		return;
	}
	if (m->next < m->n) {
		send_batch(r);
		return;
	}
	gov_log(LOG_NOTICE,
		"redis: merged %" PRId64 " entries this host learnt alone (holds, caps, failures) "
		"into Redis",
		m->n);
	r->outage_since = 0;
	merge_free(r);
}

/* FCALL merge of one item. 0, or AG_ERR_IO. */
static int send_one(struct rds *r, const struct merge_item *it)
{
	char now[24], count[24], until[24], last[24], kind[2] = {it->kind, '\0'};
	const char *argv[RDS_ARGS];
	size_t len[RDS_ARGS];
	struct rds_keys k;
	int n = 0, i;

	if (it->kind == 'A')
		rds_keys(r, NULL, NULL, it->a, &k);
	else
		rds_keys(r, it->a, it->kind == 'P' ? it->b : NULL, NULL, &k);
	if (r->conf->clock == AG_CLOCK_REDIS)
		snprintf(now, sizeof(now), "time");
	else
		snprintf(now, sizeof(now), "%" PRId64, ag_wall_ms());
	snprintf(count, sizeof(count), "%" PRId64, it->count);
	snprintf(until, sizeof(until), "%" PRId64, it->until);
	snprintf(last, sizeof(last), "%" PRId64, it->last);
	argv[n++] = "FCALL";
	argv[n++] = r->fn;
	argv[n++] = "5";
	argv[n++] = k.p;
	argv[n++] = k.s;
	argv[n++] = k.a;
	argv[n++] = k.u;
	argv[n++] = k.h;
	argv[n++] = "merge";
	argv[n++] = now;
	argv[n++] = r->confcsv;
	argv[n++] = "0";
	argv[n++] = k.hs;
	argv[n++] = kind;
	argv[n++] = count;
	argv[n++] = until;
	argv[n++] = last;
	for (i = 0; i < n; i++)
		len[i] = strlen(argv[i]);
	if (r->ac == NULL ||
	    redisAsyncCommandArgv(r->ac, on_merged, r, n, argv, len) != REDIS_OK)
		return AG_ERR_IO;
	r->pending++;
	return 0;
}

static void send_batch(struct rds *r)
{
	struct merge *m = r->merge;

	while (m->next < m->n && m->pending < RDS_MERGE_BATCH) {
		if (send_one(r, &m->items[m->next]) != 0) {
			if (m->pending == 0)
				merge_free(r);
			return;
		}
		m->next++;
		m->pending++;
	}
}

void rds_merge_start(struct rds *r)
{
	struct merge *m;

	if (r->outage_since == 0 || r->merge != NULL || r->state != RDS_READY)
		return;
	m = calloc(1, sizeof(*m));
	if (m != NULL)
		m->items = calloc(RDS_MERGE_MAX, sizeof(*m->items));
	if (m == NULL || m->items == NULL) {
		free(m);
		return;
	}
	m->since = r->outage_since;
	r->merge = m;
	(void)gov_store_mem_facts(&r->local, m->since, ag_wall_ms(), RDS_MERGE_MAX, collect, m);
	if (m->n == 0) {
		r->outage_since = 0;
		merge_free(r);
		return;
	}
	send_batch(r);
}

void rds_merge_free(struct rds *r)
{
	merge_free(r);
}

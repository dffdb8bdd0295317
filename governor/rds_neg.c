/* rds_neg.c - the Redis store's negative cache: a pair under a backoff
 * hold is answered on this host until the hold ends (an entry lives
 * RDS_NEG_MAX_MS at most; any report of the pair drops it), so that a flood
 * from a held pair costs Redis nothing. Only backoff holds are cached (see
 * parse_decision in store_redis.c for why).
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
int rds_neg_hit(struct rds *r, const struct gov_attempt *at, int64_t now, struct gov_decision *d)
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

void rds_neg_put(struct rds *r, const struct gov_attempt *at, const struct gov_decision *d,
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

void rds_neg_drop(struct rds *r, const struct gov_attempt *at)
{
	char k[2 * AG_SOURCE_MAX + 2];
	size_t kl = neg_key(at, k, sizeof(k));
	struct gov_tent *e;

	if (r->neg != NULL && kl > 0 && (e = gov_table_find(r->neg, k, kl)) != NULL)
		gov_table_del(r->neg, e);
}

void rds_neg_flush(struct rds *r)
{
	struct gov_table_iter it;
	struct gov_tent *e;

	if (r->neg == NULL)
		return;
	gov_table_iter_init(r->neg, &it);
	while ((e = gov_table_iter_next(r->neg, &it)) != NULL)
		gov_table_del(r->neg, e);
}

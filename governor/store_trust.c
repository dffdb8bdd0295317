/* store_trust.c - the memory store's trust table (see store_mem.h).
 *
 * Only successes write it, so random names or addresses churning the main
 * table never evict trust. Every user with trust has a head entry listing its
 * trusted sources newest first; the head is pinned once per member, which
 * keeps it off the table's LRU list, so the LRU list holds trusted pairs only
 * and its old end is the oldest success overall.
 */
#include "config.h"
#include <string.h>
#include "ag_err.h"
#include "store_mem.h"

static struct mem_trust *tval(struct gov_tent *e)
{
	return gov_tent_val(e);
}

static struct mem_thead *hval(struct gov_tent *e)
{
	return gov_tent_val(e);
}

static int is_pair(const struct gov_tent *e)
{
	return gov_tent_key(e, NULL)[0] == 'T';
}

size_t gov_mem_trust_table_max(int64_t max_trusted)
{
	if (max_trusted < 0)
		max_trusted = 0;
	return 2 * (size_t)max_trusted + 2;
}

static int trust_expired(const struct ag_conf *c, int64_t last_ok, int64_t now)
{
	return now - last_ok >= c->trust_ttl_ms;
}

int gov_mem_trusted(const struct gov_mem *m, const char *user, const char *source, int64_t now,
		    int64_t *last_ok)
{
	char key[MEM_KEY_MAX];
	const struct gov_tent *e;
	const struct mem_trust *t;
	size_t klen;

	if (last_ok != NULL)
		*last_ok = 0;
	if (gov_mem_key('T', user, source, key, &klen) != 0)
		return 0;
	e = gov_table_find(m->trust, key, klen);
	if (e == NULL)
		return 0;
	t = gov_tent_cval(e);
	if (last_ok != NULL)
		*last_ok = t->last_ok;
	return !trust_expired(m->conf, t->last_ok, now);
}

static void list_unlink(struct gov_tent *e)
{
	struct mem_trust *t = tval(e);
	struct mem_thead *h = hval(t->head);

	if (t->uprev != NULL)
		tval(t->uprev)->unext = t->unext;
	else
		h->first = t->unext;
	if (t->unext != NULL)
		tval(t->unext)->uprev = t->uprev;
	else
		h->last = t->uprev;
	t->uprev = t->unext = NULL;
}

static void list_push_front(struct gov_tent *he, struct gov_tent *e)
{
	struct mem_thead *h = hval(he);
	struct mem_trust *t = tval(e);

	t->uprev = NULL;
	t->unext = h->first;
	if (h->first != NULL)
		tval(h->first)->uprev = e;
	h->first = e;
	if (h->last == NULL)
		h->last = e;
}

/* Removes a trusted pair, and its user's head with its last member. */
static void drop_pair(struct gov_mem *m, struct gov_tent *e)
{
	struct gov_tent *he = tval(e)->head;
	struct mem_thead *h = hval(he);

	list_unlink(e);
	h->count--;
	gov_table_del(m->trust, e);
	m->ntrusted--;
	gov_table_unpin(m->trust, he);
	if (h->count <= 0)
		gov_table_del(m->trust, he);
}

static int trust_enabled(const struct ag_conf *c)
{
	return c->max_trusted > 0 && c->max_trusted_per_user > 0;
}

static int add_pair(struct gov_mem *m, const char *user, const char *key, size_t klen, int64_t when)
{
	char hkey[MEM_KEY_MAX];
	struct gov_tent *he = NULL, *e = NULL, *old;
	size_t hlen;
	int created = 0, rc;

	while (m->ntrusted >= m->conf->max_trusted && (old = gov_table_lru(m->trust)) != NULL &&
	       is_pair(old))
		drop_pair(m, old);
	rc = gov_mem_key('H', user, NULL, hkey, &hlen);
	if (rc != 0)
		goto out;
	he = gov_table_find(m->trust, hkey, hlen);
	if (he == NULL) {
		rc = gov_table_insert(m->trust, hkey, hlen, sizeof(struct mem_thead), &he);
		if (rc != 0)
			goto out;
		created = 1;
	}
	rc = gov_table_insert(m->trust, key, klen, sizeof(struct mem_trust), &e);
	if (rc != 0)
		goto out;
	tval(e)->last_ok = when;
	tval(e)->head = he;
	list_push_front(he, e);
	hval(he)->count++;
	gov_table_pin(m->trust, he);
	m->ntrusted++;
	if (hval(he)->count > m->conf->max_trusted_per_user)
		drop_pair(m, hval(he)->last);
out:
	if (rc != 0 && created)
		gov_table_del(m->trust, he);
	return rc;
}

int gov_mem_trust_put(struct gov_mem *m, const char *user, const char *source, int64_t when)
{
	char key[MEM_KEY_MAX];
	struct gov_tent *e;
	size_t klen;
	int rc;

	rc = gov_mem_key('T', user, source, key, &klen);
	if (rc != 0 || !trust_enabled(m->conf))
		return rc;
	e = gov_table_find(m->trust, key, klen);
	if (e == NULL)
		return add_pair(m, user, key, klen, when);
	tval(e)->last_ok = when;
	gov_table_touch(m->trust, e);
	list_unlink(e);
	list_push_front(tval(e)->head, e);
	return 0;
}

static int64_t drop_user(struct gov_mem *m, const char *user)
{
	char key[MEM_KEY_MAX];
	struct gov_tent *he;
	int64_t n, i;
	size_t klen;

	if (gov_mem_key('H', user, NULL, key, &klen) != 0)
		return 0;
	he = gov_table_find(m->trust, key, klen);
	if (he == NULL)
		return 0;
	/* The head goes with its last member: count first, touch it no more. */
	n = hval(he)->count;
	for (i = 0; i < n; i++)
		drop_pair(m, hval(he)->first);
	return n;
}

int64_t gov_mem_trust_drop(struct gov_mem *m, const char *user, const char *source)
{
	char key[MEM_KEY_MAX];
	struct gov_table_iter it;
	struct gov_tent *e;
	size_t klen;
	int64_t n;

	if (user == NULL) {
		n = m->ntrusted;
		gov_table_iter_init(m->trust, &it);
		while ((e = gov_table_iter_next(m->trust, &it)) != NULL)
			gov_table_del(m->trust, e);
		m->ntrusted = 0;
		return n;
	}
	if (source == NULL)
		return drop_user(m, user);
	if (gov_mem_key('T', user, source, key, &klen) != 0)
		return 0;
	e = gov_table_find(m->trust, key, klen);
	if (e == NULL)
		return 0;
	drop_pair(m, e);
	return 1;
}

int gov_mem_trust_each(const struct gov_mem *m, const char *user, int64_t now, int max,
		       gov_mem_trust_fn fn, void *arg)
{
	char key[MEM_KEY_MAX];
	const struct gov_tent *he, *e;
	const struct mem_trust *t;
	const char *k;
	size_t klen, ulen;
	int n = 0;

	if (gov_mem_key('H', user, NULL, key, &klen) != 0)
		return 0;
	he = gov_table_find(m->trust, key, klen);
	if (he == NULL)
		return 0;
	ulen = klen - 1;
	for (e = ((const struct mem_thead *)gov_tent_cval(he))->first; e != NULL && n < max;
	     e = t->unext) {
		t = gov_tent_cval(e);
		if (trust_expired(m->conf, t->last_ok, now))
			continue;
		/* 'T' user \0 source: the source is what follows the user. */
		k = gov_tent_key(e, &klen);
		if (klen < ulen + 2)
			continue;
		memcpy(key, k + ulen + 2, klen - ulen - 2);
		key[klen - ulen - 2] = '\0';
		fn(key, t->last_ok, arg);
		n++;
	}
	return n;
}

int64_t gov_mem_trust_count(const struct gov_mem *m, const char *user)
{
	char key[MEM_KEY_MAX];
	const struct gov_tent *he;
	size_t klen;

	if (gov_mem_key('H', user, NULL, key, &klen) != 0)
		return 0;
	he = gov_table_find(m->trust, key, klen);
	return he == NULL ? 0 : ((const struct mem_thead *)gov_tent_cval(he))->count;
}

void gov_mem_trust_sweep(struct gov_mem *m, int64_t now, int n)
{
	struct gov_tent *e;

	while (n-- > 0 && (e = gov_table_lru(m->trust)) != NULL && is_pair(e) &&
	       trust_expired(m->conf, tval(e)->last_ok, now))
		drop_pair(m, e);
}

void gov_mem_trust_bound(struct gov_mem *m)
{
	const struct ag_conf *c = m->conf;
	struct gov_tent *e, *newer;

	if (!trust_enabled(c)) {
		(void)gov_mem_trust_drop(m, NULL, NULL);
	} else {
		/* Oldest first, so each user loses its oldest: the global order
		 * and every user's order are both by last success. */
		for (e = gov_table_lru(m->trust); e != NULL; e = newer) {
			newer = gov_table_newer(e);
			if (is_pair(e) && (m->ntrusted > c->max_trusted ||
					   hval(tval(e)->head)->count > c->max_trusted_per_user))
				drop_pair(m, e);
		}
	}
	gov_table_set_max(m->trust, gov_mem_trust_table_max(c->max_trusted));
}

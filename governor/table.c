/* table.c - bounded SipHash table with LRU eviction and pins (see table.h). */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "ag_err.h"
#include "table.h"

#define MIN_BUCKETS 64

struct gov_tent {
	struct gov_tent *hnext;		/* bucket chain */
	struct gov_tent *lprev, *lnext; /* LRU list; both NULL while pinned */
	uint64_t hash;
	uint32_t pins;
	uint16_t klen;
	uint16_t vsize;	 /* rounded up to 8: the key follows the value */
	uint64_t data[]; /* value, then key */
};

struct gov_table {
	struct gov_tent **buckets;
	size_t nbuckets; /* power of two */
	size_t count, max;
	size_t bytes; /* entries' allocations */
	struct gov_tent *mru, *lru;
	unsigned char key[crypto_shorthash_KEYBYTES];
};

static uint64_t hash_key(const struct gov_table *t, const void *key, size_t klen)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, key, klen, t->key);
	memcpy(&v, h, sizeof(v));
	return v;
}

static size_t ent_size(const struct gov_tent *e)
{
	return sizeof(*e) + e->vsize + e->klen;
}

void *gov_tent_val(struct gov_tent *e)
{
	return e->data;
}

const void *gov_tent_cval(const struct gov_tent *e)
{
	return e->data;
}

const char *gov_tent_key(const struct gov_tent *e, size_t *klen)
{
	if (klen != NULL)
		*klen = e->klen;
	return (const char *)e->data + e->vsize;
}

uint32_t gov_tent_pins(const struct gov_tent *e)
{
	return e->pins;
}

int gov_table_new(size_t max, struct gov_table **out)
{
	struct gov_table *t = NULL;
	int rc = 0;

	*out = NULL;
	if (max < 1)
		return AG_ERR_INVAL;
	if (sodium_init() < 0)
		return AG_ERR_NOMEM;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		rc = AG_ERR_NOMEM;
		goto out;
	}
	t->nbuckets = MIN_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (t->buckets == NULL) {
		rc = AG_ERR_NOMEM;
		goto out;
	}
	t->max = max;
	randombytes_buf(t->key, sizeof(t->key));
	*out = t;
	t = NULL;
out:
	gov_table_free(t);
	return rc;
}

void gov_table_free(struct gov_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++) {
		struct gov_tent *e = t->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	free(t->buckets);
	sodium_memzero(t->key, sizeof(t->key));
	free(t);
}

size_t gov_table_count(const struct gov_table *t)
{
	return t->count;
}

size_t gov_table_max(const struct gov_table *t)
{
	return t->max;
}

size_t gov_table_bytes(const struct gov_table *t)
{
	return sizeof(*t) + t->bytes + t->nbuckets * sizeof(*t->buckets);
}

static void lru_unlink(struct gov_table *t, struct gov_tent *e)
{
	if (e->lprev != NULL)
		e->lprev->lnext = e->lnext;
	else if (t->mru == e)
		t->mru = e->lnext;
	if (e->lnext != NULL)
		e->lnext->lprev = e->lprev;
	else if (t->lru == e)
		t->lru = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_push_mru(struct gov_table *t, struct gov_tent *e)
{
	e->lprev = NULL;
	e->lnext = t->mru;
	if (t->mru != NULL)
		t->mru->lprev = e;
	t->mru = e;
	if (t->lru == NULL)
		t->lru = e;
}

static struct gov_tent *find_hashed(const struct gov_table *t, const void *key, size_t klen,
				    uint64_t h)
{
	struct gov_tent *e;

	for (e = t->buckets[h & (t->nbuckets - 1)]; e != NULL; e = e->hnext) {
		if (e->hash == h && e->klen == klen &&
		    memcmp(gov_tent_key(e, NULL), key, klen) == 0)
			return e;
	}
	return NULL;
}

struct gov_tent *gov_table_find(const struct gov_table *t, const void *key, size_t klen)
{
	if (klen == 0 || klen > GOV_TABLE_KEY_MAX)
		return NULL;
	return find_hashed(t, key, klen, hash_key(t, key, klen));
}

/* Doubles the buckets while entries outnumber them, never past the bound's
 * power of two. Failing to grow only lengthens chains. */
static void maybe_grow(struct gov_table *t)
{
	struct gov_tent **nb;
	size_t n, i;

	if (t->count < t->nbuckets || t->nbuckets >= t->max || t->nbuckets > SIZE_MAX / 4)
		return;
	n = t->nbuckets * 2;
	nb = calloc(n, sizeof(*nb));
	if (nb == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++) {
		struct gov_tent *e = t->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

static void unchain(struct gov_table *t, struct gov_tent *e)
{
	struct gov_tent **pp = &t->buckets[e->hash & (t->nbuckets - 1)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
}

void gov_table_del(struct gov_table *t, struct gov_tent *e)
{
	if (e == NULL)
		return;
	unchain(t, e);
	if (e->pins == 0)
		lru_unlink(t, e);
	t->count--;
	t->bytes -= ent_size(e);
	free(e);
}

static int evict_one(struct gov_table *t)
{
	if (t->lru == NULL)
		return AG_ERR_FULL;
	gov_table_del(t, t->lru);
	return 0;
}

void gov_table_set_max(struct gov_table *t, size_t max)
{
	t->max = max < 1 ? 1 : max;
	while (t->count > t->max && evict_one(t) == 0)
		;
}

int gov_table_insert(struct gov_table *t, const void *key, size_t klen, size_t vsize,
		     struct gov_tent **out)
{
	struct gov_tent *e;
	size_t vs = (vsize + 7) & ~(size_t)7;
	uint64_t h;
	int rc;

	*out = NULL;
	if (klen == 0 || klen > GOV_TABLE_KEY_MAX || vsize > GOV_TABLE_VAL_MAX)
		return AG_ERR_INVAL;
	/* One SipHash per insert: the key is checked and chained with it. */
	h = hash_key(t, key, klen);
	if (find_hashed(t, key, klen, h) != NULL)
		return AG_ERR_INVAL;
	while (t->count >= t->max) {
		rc = evict_one(t);
		if (rc != 0)
			return rc;
	}
	e = calloc(1, sizeof(*e) + vs + klen);
	if (e == NULL)
		return AG_ERR_NOMEM;
	e->hash = h;
	e->klen = (uint16_t)klen;
	e->vsize = (uint16_t)vs;
	memcpy((char *)e->data + vs, key, klen);
	t->count++;
	t->bytes += ent_size(e);
	maybe_grow(t);
	e->hnext = t->buckets[h & (t->nbuckets - 1)];
	t->buckets[h & (t->nbuckets - 1)] = e;
	lru_push_mru(t, e);
	*out = e;
	return 0;
}

void gov_table_touch(struct gov_table *t, struct gov_tent *e)
{
	if (e->pins > 0 || t->mru == e)
		return;
	lru_unlink(t, e);
	lru_push_mru(t, e);
}

void gov_table_pin(struct gov_table *t, struct gov_tent *e)
{
	if (e->pins == 0)
		lru_unlink(t, e);
	if (e->pins < UINT32_MAX)
		e->pins++;
}

void gov_table_unpin(struct gov_table *t, struct gov_tent *e)
{
	if (e->pins == 0)
		return;
	if (--e->pins == 0)
		lru_push_mru(t, e);
}

struct gov_tent *gov_table_lru(const struct gov_table *t)
{
	return t->lru;
}

struct gov_tent *gov_table_newer(const struct gov_tent *e)
{
	return e->lprev;
}

static struct gov_tent *first_from(const struct gov_table *t, size_t *bucket)
{
	for (; *bucket < t->nbuckets; (*bucket)++) {
		if (t->buckets[*bucket] != NULL)
			return t->buckets[*bucket];
	}
	return NULL;
}

void gov_table_iter_init(const struct gov_table *t, struct gov_table_iter *it)
{
	it->bucket = 0;
	it->next = first_from(t, &it->bucket);
}

struct gov_tent *gov_table_iter_next(const struct gov_table *t, struct gov_table_iter *it)
{
	struct gov_tent *e = it->next;

	if (e == NULL)
		return NULL;
	if (e->hnext != NULL) {
		it->next = e->hnext;
	} else {
		it->bucket++;
		it->next = first_from(t, &it->bucket);
	}
	return e;
}

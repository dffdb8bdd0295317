/* lists.c - rule 1: allow and deny CIDR lists (see lists.h).
 *
 * Entries sit in a slot array (freed slots are reused) and in a hash of
 * (family, prefix, masked address) chained through the slots. For each family
 * a count per prefix length says which lengths are in use, so matching an
 * address costs one hash probe per distinct prefix length present (at most 33
 * for v4, 129 for v6), whatever the number of entries; adding and removing
 * cost O(1) amortised, a reload O(entries).
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sodium.h>
#include "ag_err.h"
#include "lists.h"

#define NONE	    UINT32_MAX
#define MIN_SLOTS   16
#define MIN_BUCKETS 64

struct slot {
	struct gov_list_entry e; /* e.kind == 0: free */
	uint32_t hnext;		 /* chain, or the free list */
};

struct gov_lists {
	struct slot *slots;
	uint32_t cap, hi; /* allocated, ever used */
	uint32_t n;	  /* in use */
	uint32_t free_head;
	uint32_t *buckets;
	uint32_t nbuckets; /* power of two */
	uint32_t nplen[2][129];
	unsigned char key[crypto_shorthash_KEYBYTES];
};

static int fam(int family)
{
	return family == AF_INET ? 0 : 1;
}

static int addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static int cidr_ok(const struct ag_cidr *c)
{
	if (c->addr.family == AF_INET)
		return c->prefix >= 0 && c->prefix <= 32;
	return c->addr.family == AF_INET6 && c->prefix >= 0 && c->prefix <= 128;
}

/* The cidr with the bits below its prefix (and past the family's length) zeroed. */
static void norm(const struct ag_cidr *in, struct ag_cidr *out)
{
	int i, len = addr_len(in->addr.family);

	memset(out, 0, sizeof(*out));
	out->addr.family = in->addr.family;
	out->prefix = in->prefix;
	for (i = 0; i < len; i++) {
		int keep = in->prefix - 8 * i;

		if (keep >= 8)
			out->addr.b[i] = in->addr.b[i];
		else if (keep > 0)
			out->addr.b[i] = (uint8_t)(in->addr.b[i] & (0xff << (8 - keep)));
	}
}

static int same(const struct ag_cidr *a, const struct ag_cidr *b)
{
	return a->addr.family == b->addr.family && a->prefix == b->prefix &&
	       memcmp(a->addr.b, b->addr.b, (size_t)addr_len(a->addr.family)) == 0;
}

static uint32_t hash(const struct gov_lists *l, const struct ag_cidr *c)
{
	unsigned char buf[18], h[crypto_shorthash_BYTES];
	uint32_t v;

	buf[0] = (unsigned char)fam(c->addr.family);
	buf[1] = (unsigned char)c->prefix;
	memcpy(buf + 2, c->addr.b, 16);
	crypto_shorthash(h, buf, sizeof(buf), l->key);
	memcpy(&v, h, sizeof(v));
	return v & (l->nbuckets - 1);
}

static int expired(const struct gov_list_entry *e, int64_t now)
{
	return e->expires_ms != 0 && now >= e->expires_ms;
}

int gov_lists_new(struct gov_lists **out)
{
	struct gov_lists *l = NULL;
	int rc = AG_ERR_NOMEM;

	*out = NULL;
	if (sodium_init() < 0)
		goto out;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		goto out;
	l->nbuckets = MIN_BUCKETS;
	l->buckets = malloc(l->nbuckets * sizeof(*l->buckets));
	if (l->buckets == NULL)
		goto out;
	memset(l->buckets, 0xff, l->nbuckets * sizeof(*l->buckets));
	l->free_head = NONE;
	randombytes_buf(l->key, sizeof(l->key));
	*out = l;
	l = NULL;
	rc = 0;
out:
	gov_lists_free(l);
	return rc;
}

void gov_lists_free(struct gov_lists *l)
{
	if (l == NULL)
		return;
	free(l->slots);
	free(l->buckets);
	free(l);
}

/* Room for `more` new entries without allocating later. */
static int reserve(struct gov_lists *l, uint32_t more)
{
	uint32_t need = l->hi + more, cap = l->cap < MIN_SLOTS ? MIN_SLOTS : l->cap;
	struct slot *s;

	if (need <= l->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	s = realloc(l->slots, (size_t)cap * sizeof(*s));
	if (s == NULL)
		return AG_ERR_NOMEM;
	l->slots = s;
	l->cap = cap;
	return 0;
}

/* Keeps at least two buckets per entry; failing to grow only lengthens chains. */
static void maybe_grow(struct gov_lists *l)
{
	uint32_t nb = l->nbuckets * 2, i, *b;

	if (l->n * 2 <= l->nbuckets || l->nbuckets >= 4 * GOV_LISTS_MAX)
		return;
	b = malloc((size_t)nb * sizeof(*b));
	if (b == NULL)
		return;
	memset(b, 0xff, (size_t)nb * sizeof(*b));
	free(l->buckets);
	l->buckets = b;
	l->nbuckets = nb;
	for (i = 0; i < l->hi; i++) {
		uint32_t h;

		if (l->slots[i].e.kind == 0)
			continue;
		h = hash(l, &l->slots[i].e.cidr);
		l->slots[i].hnext = l->buckets[h];
		l->buckets[h] = i;
	}
}

/* Adds an entry; reserve() must have made room. */
static void link_new(struct gov_lists *l, int kind, int origin, const struct ag_cidr *c,
		     int64_t expires_ms, const char *comment)
{
	struct gov_list_entry *e;
	uint32_t i, h;

	if (l->free_head != NONE) {
		i = l->free_head;
		l->free_head = l->slots[i].hnext;
	} else {
		i = l->hi++;
	}
	e = &l->slots[i].e;
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->origin = origin;
	e->cidr = *c;
	e->expires_ms = expires_ms;
	if (comment != NULL)
		snprintf(e->comment, sizeof(e->comment), "%s", comment);
	l->n++;
	l->nplen[fam(c->addr.family)][c->prefix]++;
	h = hash(l, c);
	l->slots[i].hnext = l->buckets[h];
	l->buckets[h] = i;
	maybe_grow(l);
}

static void unlink_slot(struct gov_lists *l, uint32_t i)
{
	struct gov_list_entry *e = &l->slots[i].e;
	uint32_t *pp = &l->buckets[hash(l, &e->cidr)];

	while (*pp != NONE && *pp != i)
		pp = &l->slots[*pp].hnext;
	if (*pp == i)
		*pp = l->slots[i].hnext;
	l->nplen[fam(e->cidr.addr.family)][e->cidr.prefix]--;
	l->n--;
	e->kind = 0;
	l->slots[i].hnext = l->free_head;
	l->free_head = i;
}

int gov_lists_reserve(struct gov_lists *l, size_t n)
{
	if (n > GOV_LISTS_MAX || l->n + n > GOV_LISTS_MAX)
		return AG_ERR_FULL;
	return reserve(l, (uint32_t)n);
}

int gov_lists_set_conf(struct gov_lists *l, const struct ag_conf *conf)
{
	size_t i, n_new = conf->n_allow + conf->n_deny;
	uint32_t n_old = 0, s;
	struct ag_cidr c;
	int rc;

	for (i = 0; i < n_new; i++) {
		const struct ag_list_entry *le =
		    i < conf->n_allow ? &conf->allow[i] : &conf->deny[i - conf->n_allow];

		if (!cidr_ok(&le->cidr))
			return AG_ERR_INVAL;
	}
	for (s = 0; s < l->hi; s++)
		n_old += l->slots[s].e.kind != 0 && l->slots[s].e.origin == GOV_ORIGIN_CONF;
	if (n_new > GOV_LISTS_MAX || l->n - n_old + n_new > GOV_LISTS_MAX)
		return AG_ERR_FULL;
	/* Everything that can fail happens before the first change. */
	rc = reserve(l, (uint32_t)n_new);
	if (rc != 0)
		return rc;
	for (s = 0; s < l->hi; s++) {
		if (l->slots[s].e.kind != 0 && l->slots[s].e.origin == GOV_ORIGIN_CONF)
			unlink_slot(l, s);
	}
	for (i = 0; i < n_new; i++) {
		int allow = i < conf->n_allow;
		const struct ag_list_entry *le =
		    allow ? &conf->allow[i] : &conf->deny[i - conf->n_allow];

		norm(&le->cidr, &c);
		link_new(l, allow ? GOV_LIST_ALLOW : GOV_LIST_DENY, GOV_ORIGIN_CONF, &c,
			 le->expires_ms, NULL);
	}
	return 0;
}

int gov_lists_set_runtime(struct gov_lists *l, const struct gov_list_entry *e, size_t n)
{
	uint32_t n_old = 0, s;
	struct ag_cidr c;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		if ((e[i].kind != GOV_LIST_ALLOW && e[i].kind != GOV_LIST_DENY) ||
		    !cidr_ok(&e[i].cidr) || e[i].expires_ms < 0)
			return AG_ERR_INVAL;
	for (s = 0; s < l->hi; s++)
		n_old += l->slots[s].e.kind != 0 && l->slots[s].e.origin == GOV_ORIGIN_RUNTIME;
	if (n > GOV_LISTS_MAX || l->n - n_old + n > GOV_LISTS_MAX)
		return AG_ERR_FULL;
	/* Everything that can fail happens before the first change. */
	rc = reserve(l, (uint32_t)n);
	if (rc != 0)
		return rc;
	for (s = 0; s < l->hi; s++) {
		if (l->slots[s].e.kind != 0 && l->slots[s].e.origin == GOV_ORIGIN_RUNTIME)
			unlink_slot(l, s);
	}
	for (i = 0; i < n; i++) {
		norm(&e[i].cidr, &c);
		link_new(l, e[i].kind, GOV_ORIGIN_RUNTIME, &c, e[i].expires_ms,
			 e[i].comment[0] != '\0' ? e[i].comment : NULL);
	}
	return 0;
}

int gov_lists_add(struct gov_lists *l, int kind, const struct ag_cidr *cidr, int64_t expires_ms,
		  const char *comment)
{
	struct gov_list_entry *e;
	struct ag_cidr c;
	uint32_t i;
	int rc;

	if ((kind != GOV_LIST_ALLOW && kind != GOV_LIST_DENY) || cidr == NULL || !cidr_ok(cidr) ||
	    expires_ms < 0)
		return AG_ERR_INVAL;
	norm(cidr, &c);
	for (i = l->buckets[hash(l, &c)]; i != NONE; i = l->slots[i].hnext) {
		e = &l->slots[i].e;
		if (e->kind == kind && e->origin == GOV_ORIGIN_RUNTIME && same(&e->cidr, &c)) {
			e->expires_ms = expires_ms;
			snprintf(e->comment, sizeof(e->comment), "%s",
				 comment != NULL ? comment : "");
			return 0;
		}
	}
	if (l->n >= GOV_LISTS_MAX)
		return AG_ERR_FULL;
	rc = reserve(l, 1);
	if (rc != 0)
		return rc;
	link_new(l, kind, GOV_ORIGIN_RUNTIME, &c, expires_ms, comment);
	return 0;
}

int gov_lists_remove(struct gov_lists *l, const struct ag_cidr *cidr)
{
	struct ag_cidr c;
	uint32_t i, next;
	int found = 0;

	if (cidr == NULL || !cidr_ok(cidr))
		return AG_ERR_INVAL;
	norm(cidr, &c);
	for (i = l->buckets[hash(l, &c)]; i != NONE; i = next) {
		next = l->slots[i].hnext;
		if (same(&l->slots[i].e.cidr, &c)) {
			unlink_slot(l, i);
			found = 1;
		}
	}
	return found ? 0 : AG_ERR_NOTFOUND;
}

int gov_lists_match(const struct gov_lists *l, const struct ag_addr *a, int64_t now,
		    const struct gov_list_entry **match)
{
	const struct gov_list_entry *allow = NULL, *e;
	struct ag_cidr probe, c;
	int f, p, bits;
	uint32_t i;

	if (match != NULL)
		*match = NULL;
	if (a == NULL || (a->family != AF_INET && a->family != AF_INET6))
		return 0;
	f = fam(a->family);
	bits = 8 * addr_len(a->family);
	probe.addr = *a;
	/* Longest prefix first: the allow entry reported is the most specific. */
	for (p = bits; p >= 0; p--) {
		if (l->nplen[f][p] == 0)
			continue;
		probe.prefix = p;
		norm(&probe, &c);
		for (i = l->buckets[hash(l, &c)]; i != NONE; i = l->slots[i].hnext) {
			e = &l->slots[i].e;
			if (!same(&e->cidr, &c) || expired(e, now))
				continue;
			if (e->kind == GOV_LIST_DENY) {
				if (match != NULL)
					*match = e;
				return GOV_LIST_DENY;
			}
			if (allow == NULL)
				allow = e;
		}
	}
	if (allow == NULL)
		return 0;
	if (match != NULL)
		*match = allow;
	return GOV_LIST_ALLOW;
}

int gov_lists_each(const struct gov_lists *l, int64_t now,
		   int (*fn)(const struct gov_list_entry *e, void *arg), void *arg)
{
	uint32_t i;
	int rc;

	for (i = 0; i < l->hi; i++) {
		const struct gov_list_entry *e = &l->slots[i].e;

		if (e->kind == 0 || expired(e, now))
			continue;
		rc = fn(e, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void gov_lists_expire(struct gov_lists *l, int64_t now)
{
	uint32_t i;

	for (i = 0; i < l->hi; i++) {
		if (l->slots[i].e.kind != 0 && expired(&l->slots[i].e, now))
			unlink_slot(l, i);
	}
}

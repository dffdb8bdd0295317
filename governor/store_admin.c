/* store_admin.c - the memory store's reset, describe, save and load (see
 * store_mem.h for the tables and docs/design.md "Memory store" for the file
 * section).
 */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "ag_addr.h"
#include "ag_err.h"
#include "ag_escape.h"
#include "stateio.h"
#include "store_mem.h"

#define ESC_MAX	  (4 * MEM_PART_MAX + 1)
#define COUNT_MAX INT64_C(1000000000000000)

/* ---- reset ---- */

static int part_is(const char *p, size_t len, const char *s)
{
	return p != NULL && s != NULL && strlen(s) == len && memcmp(p, s, len) == 0;
}

/* Forgets a pair's failures; an attempt in flight keeps the entry. */
static void clear_pair(struct gov_table *t, struct gov_tent *e)
{
	struct mem_pair *p = gov_tent_val(e);

	p->failures = 0;
	p->hold_until = 0;
	p->last_fail = 0;
	if (p->inflight == 0)
		gov_table_del(t, e);
}

/* "ADDR/P" of the aggregate netblock holding the source netblock "ADDR/P". */
static int derive_agg(const struct ag_conf *c, const char *source, char *buf, size_t cap)
{
	struct ag_cidr cidr;
	int prefix, rc;

	rc = ag_cidr_parse(source, &cidr);
	if (rc != 0 || strchr(source, '/') == NULL)
		return AG_ERR_INVAL;
	prefix = (int)(cidr.addr.family == AF_INET ? c->agg_prefix_v4 : c->agg_prefix_v6);
	if (prefix > cidr.prefix)
		prefix = cidr.prefix;
	cidr.prefix = prefix;
	ag_addr_mask(&cidr.addr, prefix);
	return ag_cidr_format(&cidr, buf, cap);
}

static int matches(const struct gov_mem_kparts *k, int scope, const char *user, const char *source,
		   const char *agg)
{
	switch (scope) {
	case GOV_RESET_USER:
		return (k->kind == 'P' || k->kind == 'U') && part_is(k->a, k->alen, user);
	case GOV_RESET_SOURCE:
		if (k->kind == 'P')
			return part_is(k->b, k->blen, source);
		if (k->kind == 'A')
			return part_is(k->a, k->alen, source) ||
			       (agg[0] != '\0' && part_is(k->a, k->alen, agg));
		return k->kind == 'S' && part_is(k->a, k->alen, source);
	case GOV_RESET_PAIR:
		return k->kind == 'P' && part_is(k->a, k->alen, user) &&
		       part_is(k->b, k->blen, source);
	default:
		return 1;
	}
}

int gov_mem_reset(void *ctx, int scope, const char *user, const char *source)
{
	struct gov_mem *m = ctx;
	char agg[AG_SOURCE_MAX] = "";
	struct gov_table_iter it;
	struct gov_tent *e;
	struct gov_mem_kparts k;
	int64_t found = 0;

	if ((scope == GOV_RESET_USER && user == NULL) ||
	    (scope == GOV_RESET_SOURCE && source == NULL) ||
	    (scope == GOV_RESET_PAIR && (user == NULL || source == NULL)) ||
	    scope < GOV_RESET_USER || scope > GOV_RESET_ALL)
		return AG_ERR_INVAL;
	if (scope == GOV_RESET_SOURCE && derive_agg(m->conf, source, agg, sizeof(agg)) != 0)
		agg[0] = '\0';
	gov_table_iter_init(m->main, &it);
	while ((e = gov_table_iter_next(m->main, &it)) != NULL) {
		gov_mem_key_parts(e, &k);
		if (!matches(&k, scope, user, source, agg))
			continue;
		found++;
		if (k.kind == 'P')
			clear_pair(m->main, e);
		else
			gov_table_del(m->main, e);
	}
	if (scope == GOV_RESET_ALL)
		found += gov_mem_trust_drop(m, NULL, NULL);
	else if (scope == GOV_RESET_USER)
		found += gov_mem_trust_drop(m, user, NULL);
	else if (scope == GOV_RESET_PAIR)
		found += gov_mem_trust_drop(m, user, source);
	return found > 0 ? 0 : AG_ERR_NOTFOUND;
}

/* ---- describe ---- */

struct text {
	char *buf;
	size_t cap, len;
	int full;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->full = 1;
		t->buf[t->len] = '\0';
		return;
	}
	t->len += (size_t)n;
}

static const char *esc(char *dst, const char *s)
{
	ag_escape(dst, ESC_MAX, s, strlen(s));
	return dst;
}

/* " NAME_in=Xms" for a time ahead, " NAME_ago=Xms" for one behind, "=-" for none. */
static void put_time(struct text *t, const char *name, int64_t when, int64_t now)
{
	char b[96];

	gov_store_when(b, sizeof(b), name, when, now);
	put(t, "%s", b);
}

static int64_t tokens(const struct ag_rate *r, int64_t burst, const struct gov_tat *tat,
		      int64_t now)
{
	struct gov_gcra_res res;

	return gov_gcra(r, burst, tat, now, &res) == 0 ? res.tokens : -1;
}

static void describe_pair(const struct gov_mem *m, const char *user, const char *source,
			  int64_t now, struct text *t)
{
	char e1[ESC_MAX], e2[ESC_MAX];
	const struct mem_pair *sp = gov_mem_peek(m->main, 'P', user, source);
	struct mem_pair p = {0};
	int64_t last_ok;
	int trusted = gov_mem_trusted(m, user, source, now, &last_ok);

	if (sp != NULL)
		p = *sp;
	gov_mem_pair_now(m->conf, &p, now);
	put(t, "kind=pair user=%s source=%s stored=%s failures=%d inflight=%d", esc(e1, user),
	    esc(e2, source), sp != NULL ? "yes" : "no", (int)p.failures, (int)p.inflight);
	put_time(t, "hold_until", p.hold_until > now ? p.hold_until : 0, now);
	put_time(t, "last_fail", p.last_fail, now);
	put_time(t, "last_seen", p.last_seen, now);
	put(t, " trusted=%d", trusted);
	put_time(t, "last_success", last_ok, now);
	put(t, "\n");
}

static void describe_user(const struct gov_mem *m, const char *user, int64_t now, struct text *t)
{
	const struct ag_conf *c = m->conf;
	char e1[ESC_MAX];
	const struct mem_user *su = gov_mem_peek(m->main, 'U', user, NULL);
	struct mem_user u = {0};
	int64_t level;

	if (su != NULL)
		u = *su;
	gov_mem_user_now(c, &u, now);
	level = u.ucfail > c->user_max_failures ? u.ucfail - c->user_max_failures : 0;
	put(t, "kind=user user=%s stored=%s ucfail=%lld cap_level=%lld", esc(e1, user),
	    su != NULL ? "yes" : "no", (long long)u.ucfail, (long long)level);
	put_time(t, "cap_until", u.cap_until > now ? u.cap_until : 0, now);
	put(t, " clean_tokens=%lld failing_tokens=%lld trusted_sources=%lld\n",
	    (long long)tokens(&c->user_rate, c->user_burst, &u.clean, now),
	    (long long)tokens(&c->user_rate, c->user_burst, &u.failing, now),
	    (long long)gov_mem_trust_count(m, user));
}

struct trusted_out {
	struct text *t;
	const char *user;
	int64_t now, ttl;
};

static void put_trusted(const char *source, int64_t last_ok, void *arg)
{
	struct trusted_out *o = arg;
	char e1[ESC_MAX], e2[ESC_MAX];

	put(o->t, "kind=trusted user=%s source=%s", esc(e1, o->user), esc(e2, source));
	put_time(o->t, "last_success", last_ok, o->now);
	put_time(o->t, "expires", last_ok + o->ttl, o->now);
	put(o->t, "\n");
}

/* The user's trusted sources, newest first, at most MEM_DESCRIBE_TRUSTED. */
static void describe_trusted(const struct gov_mem *m, const char *user, int64_t now,
			     struct text *t)
{
	struct trusted_out o = {t, user, now, m->conf->trust_ttl_ms};

	(void)gov_mem_trust_each(m, user, now, MEM_DESCRIBE_TRUSTED, put_trusted, &o);
}

static void describe_source(const struct gov_mem *m, const char *source, int64_t now,
			    struct text *t)
{
	const struct ag_conf *c = m->conf;
	char e1[ESC_MAX];
	const struct mem_src *ss = gov_mem_peek(m->main, 'S', source, NULL);
	struct mem_src s = {0};

	if (ss != NULL)
		s = *ss;
	put(t, "kind=source source=%s stored=%s tokens=%lld\n", esc(e1, source),
	    ss != NULL ? "yes" : "no",
	    (long long)tokens(&c->source_rate, c->source_burst, &s.tat, now));
}

static void describe_agg(const struct gov_mem *m, const char *agg, int64_t now, struct text *t)
{
	char e1[ESC_MAX];
	const struct mem_agg *a = gov_mem_peek(m->main, 'A', agg, NULL);

	put(t, "kind=agg agg=%s stored=%s", esc(e1, agg), a != NULL ? "yes" : "no");
	put_time(t, "last_fail", a != NULL ? a->last_fail : 0, now);
	put(t, " failing=%d\n",
	    a != NULL && a->last_fail > 0 && now - a->last_fail < m->conf->failure_window_ms);
}

int gov_mem_describe(void *ctx, const char *user, const char *source, const char *agg, int64_t now,
		     char *buf, size_t cap)
{
	const struct gov_mem *m = ctx;
	struct text t = {buf, cap, 0, 0};

	if (buf == NULL || cap == 0)
		return AG_ERR_INVAL;
	buf[0] = '\0';
	if ((user == NULL && source == NULL && agg == NULL) ||
	    (user != NULL && strlen(user) > MEM_PART_MAX) ||
	    (source != NULL && strlen(source) > MEM_PART_MAX) ||
	    (agg != NULL && strlen(agg) > MEM_PART_MAX))
		return AG_ERR_INVAL;
	if (user != NULL && source != NULL)
		describe_pair(m, user, source, now, &t);
	if (user != NULL)
		describe_user(m, user, now, &t);
	if (user != NULL && source == NULL)
		describe_trusted(m, user, now, &t);
	if (source != NULL)
		describe_source(m, source, now, &t);
	if (agg != NULL)
		describe_agg(m, agg, now, &t);
	return t.full ? AG_ERR_TOOBIG : 0;
}

int64_t gov_store_mem_facts(struct gov_store *s, int64_t since, int64_t now, int64_t max,
			    gov_mem_fact_fn fn, void *arg)
{
	struct gov_mem *m = s->ctx;
	struct gov_table_iter it;
	struct gov_tent *e;
	struct gov_mem_kparts k;
	struct gov_mem_fact f;
	char a[MEM_PART_MAX + 1], b[MEM_PART_MAX + 1];
	int64_t n = 0;

	gov_table_iter_init(m->main, &it);
	while (n < max && (e = gov_table_iter_next(m->main, &it)) != NULL) {
		gov_mem_key_parts(e, &k);
		memset(&f, 0, sizeof(f));
		if (k.kind == 'P') {
			const struct mem_pair *p = gov_tent_cval(e);

			f.count = p->failures;
			f.until = p->hold_until;
			f.last = p->last_fail;
		} else if (k.kind == 'U') {
			const struct mem_user *u = gov_tent_cval(e);

			f.count = u->ucfail;
			f.until = u->cap_until;
			f.last = u->last_ufail;
		} else if (k.kind == 'A') {
			f.last = ((const struct mem_agg *)gov_tent_cval(e))->last_fail;
		} else {
			continue;
		}
		if (f.last < since && f.until <= now)
			continue;
		if (k.alen > MEM_PART_MAX || k.blen > MEM_PART_MAX)
			continue;
		memcpy(a, k.a, k.alen);
		a[k.alen] = '\0';
		f.kind = k.kind;
		f.a = a;
		if (k.kind == 'P') {
			memcpy(b, k.b, k.blen);
			b[k.blen] = '\0';
			f.b = b;
		}
		fn(arg, &f);
		n++;
	}
	return n;
}

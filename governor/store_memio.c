/* store_memio.c - the memory store's section of the state file.
 *
 * One line per entry, names in hex (stateio.h), times in wall-clock ms:
 *   P USER SOURCE FAILURES HOLD_UNTIL LAST_FAIL LAST_SEEN
 *   S SOURCE TAT_US TAT_FRAC
 *   A AGG LAST_FAIL
 *   U USER CLEAN_US CLEAN_FRAC FAILING_US FAILING_FRAC UCFAIL LAST_UFAIL CAP_UNTIL
 *   T USER SOURCE LAST_SUCCESS
 *   end N                      (N: the number of entry lines above)
 * Main entries come oldest first, so that loading rebuilds the LRU order and
 * a smaller max_tracked keeps the newest; then trust, oldest success first.
 * Attempts in flight are not saved: admissions do not survive a restart.
 * Loading parses into fresh tables and swaps them in only once "end N" has
 * been read and checked, so a file that does not parse loads nothing.
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ag_err.h"
#include "backoff.h"
#include "stateio.h"
#include "store_mem.h"

#define TAT_MAX	   (MEM_TIME_MAX * 1000)
#define UCFAIL_MAX INT64_C(1000000000000000)

/* ---- save ---- */

static int put_name(FILE *f, const char *p, size_t len)
{
	if (fputc(' ', f) == EOF)
		return AG_ERR_IO;
	return gov_sio_put_hex(f, p, len);
}

static int save_main(FILE *f, const struct ag_conf *c, const struct gov_tent *e, int64_t now,
		     int64_t *n)
{
	struct gov_mem_kparts k;
	const struct mem_user *u;
	const struct mem_src *s;
	struct mem_pair p;
	int rc;

	gov_mem_key_parts(e, &k);
	if (k.kind == 'P') {
		p = *(const struct mem_pair *)gov_tent_cval(e);
		p.inflight = 0;
		gov_mem_pair_now(c, &p, now);
		if (now >= gov_backoff_forget_at(p.last_fail, p.hold_until, c->failure_window_ms) ||
		    p.last_fail == 0)
			return 0;
	} else if (gov_mem_expired(c, e, now)) {
		return 0;
	}
	if (fputc(k.kind, f) == EOF)
		return AG_ERR_IO;
	rc = put_name(f, k.a, k.alen);
	if (rc == 0 && k.b != NULL)
		rc = put_name(f, k.b, k.blen);
	if (rc != 0)
		return rc;
	(*n)++;
	switch (k.kind) {
	case 'P':
		rc = fprintf(f, " %d %lld %lld %lld\n", (int)p.failures, (long long)p.hold_until,
			     (long long)p.last_fail, (long long)p.last_seen);
		break;
	case 'S':
		s = gov_tent_cval(e);
		rc = fprintf(f, " %lld %lld\n", (long long)s->tat.us, (long long)s->tat.frac);
		break;
	case 'A':
		rc = fprintf(f, " %lld\n",
			     (long long)((const struct mem_agg *)gov_tent_cval(e))->last_fail);
		break;
	default:
		u = gov_tent_cval(e);
		rc = fprintf(f, " %lld %lld %lld %lld %lld %lld %lld\n", (long long)u->clean.us,
			     (long long)u->clean.frac, (long long)u->failing.us,
			     (long long)u->failing.frac, (long long)u->ucfail,
			     (long long)u->last_ufail, (long long)u->cap_until);
		break;
	}
	return rc < 0 ? AG_ERR_IO : 0;
}

static int save_trust(FILE *f, const struct gov_mem *m, int64_t now, int64_t *n)
{
	const struct gov_tent *e;
	const struct mem_trust *t;
	struct gov_mem_kparts k;
	int rc = 0;

	for (e = gov_table_lru(m->trust); e != NULL && rc == 0; e = gov_table_newer(e)) {
		gov_mem_key_parts(e, &k);
		t = gov_tent_cval(e);
		if (k.kind != 'T' || now - t->last_ok >= m->conf->trust_ttl_ms)
			continue;
		if (fputc('T', f) == EOF)
			return AG_ERR_IO;
		rc = put_name(f, k.a, k.alen);
		if (rc == 0)
			rc = put_name(f, k.b, k.blen);
		if (rc == 0 && fprintf(f, " %lld\n", (long long)t->last_ok) < 0)
			rc = AG_ERR_IO;
		(*n)++;
	}
	return rc;
}

int gov_mem_save(void *ctx, FILE *f, int64_t now)
{
	struct gov_mem *m = ctx;
	struct gov_table_iter it;
	const struct gov_tent *e;
	int64_t n = 0;
	int rc = 0;

	for (e = gov_table_lru(m->main); e != NULL && rc == 0; e = gov_table_newer(e))
		rc = save_main(f, m->conf, e, now, &n);
	/* Pinned entries (attempts in flight) are off the LRU list: the newest. */
	gov_table_iter_init(m->main, &it);
	while (rc == 0 && (e = gov_table_iter_next(m->main, &it)) != NULL) {
		if (gov_tent_pins(e) > 0)
			rc = save_main(f, m->conf, e, now, &n);
	}
	if (rc == 0)
		rc = save_trust(f, m, now, &n);
	if (rc == 0 && fprintf(f, "end %lld\n", (long long)n) < 0)
		rc = AG_ERR_IO;
	if (rc == 0 && ferror(f))
		rc = AG_ERR_IO;
	return rc;
}

/* ---- load ---- */

struct line {
	char *tok[GOV_STATE_TOK_MAX];
	int n;
	char a[MEM_PART_MAX + 1], b[MEM_PART_MAX + 1];
	int64_t v[8];
};

/* Checks the token count, decodes nnames names and the numbers after them
 * against [lo[i], hi[i]]. */
static int parse_fields(struct line *l, int nnames, int nnums, const int64_t *lo, const int64_t *hi)
{
	int i, rc;

	if (l->n != 1 + nnames + nnums)
		return AG_ERR_PROTO;
	rc = gov_sio_unhex(l->tok[1], l->a, sizeof(l->a));
	if (rc == 0 && nnames == 2)
		rc = gov_sio_unhex(l->tok[2], l->b, sizeof(l->b));
	for (i = 0; rc == 0 && i < nnums; i++)
		rc = gov_sio_int(l->tok[1 + nnames + i], lo[i], hi[i], &l->v[i]);
	return rc;
}

/* Inserts a parsed main entry unless it has expired by now. */
static int load_insert(struct gov_mem *m, char kind, const struct line *l, const void *val,
		       size_t vsize, int64_t now)
{
	char key[MEM_KEY_MAX];
	struct gov_tent *e;
	size_t klen;
	int rc;

	rc = gov_mem_key(kind, l->a, kind == 'P' ? l->b : NULL, key, &klen);
	if (rc != 0)
		return AG_ERR_PROTO;
	if (gov_table_find(m->main, key, klen) != NULL)
		return AG_ERR_PROTO; /* twice in one file */
	rc = gov_table_insert(m->main, key, klen, vsize, &e);
	if (rc != 0)
		return rc;
	memcpy(gov_tent_val(e), val, vsize);
	if (gov_mem_expired(m->conf, e, now))
		gov_table_del(m->main, e);
	return 0;
}

static int load_line(struct gov_mem *m, struct line *l, int64_t now)
{
	static const int64_t z[8] = {0};
	static const int64_t p_hi[] = {INT32_MAX, MEM_TIME_MAX, MEM_TIME_MAX, MEM_TIME_MAX};
	static const int64_t s_hi[] = {TAT_MAX, GOV_GCRA_COUNT_MAX};
	static const int64_t a_hi[] = {MEM_TIME_MAX};
	static const int64_t u_hi[] = {
	    TAT_MAX,	GOV_GCRA_COUNT_MAX, TAT_MAX,	 GOV_GCRA_COUNT_MAX,
	    UCFAIL_MAX, MEM_TIME_MAX,	    MEM_TIME_MAX};
	const char *k = l->tok[0];
	struct mem_pair p = {0};
	struct mem_src s = {{0, 0}};
	struct mem_agg a = {0};
	struct mem_user u = {{0, 0}, {0, 0}, 0, 0, 0};
	int rc;

	if (strcmp(k, "P") == 0) {
		rc = parse_fields(l, 2, 4, z, p_hi);
		if (rc != 0)
			return rc;
		p.failures = (int32_t)l->v[0];
		p.hold_until = l->v[1];
		p.last_fail = l->v[2];
		p.last_seen = l->v[3];
		return load_insert(m, 'P', l, &p, sizeof(p), now);
	}
	if (strcmp(k, "S") == 0) {
		rc = parse_fields(l, 1, 2, z, s_hi);
		s.tat.us = l->v[0];
		s.tat.frac = l->v[1];
		return rc != 0 ? rc : load_insert(m, 'S', l, &s, sizeof(s), now);
	}
	if (strcmp(k, "A") == 0) {
		rc = parse_fields(l, 1, 1, z, a_hi);
		a.last_fail = l->v[0];
		return rc != 0 ? rc : load_insert(m, 'A', l, &a, sizeof(a), now);
	}
	if (strcmp(k, "U") == 0) {
		rc = parse_fields(l, 1, 7, z, u_hi);
		u.clean.us = l->v[0];
		u.clean.frac = l->v[1];
		u.failing.us = l->v[2];
		u.failing.frac = l->v[3];
		u.ucfail = l->v[4];
		u.last_ufail = l->v[5];
		u.cap_until = l->v[6];
		return rc != 0 ? rc : load_insert(m, 'U', l, &u, sizeof(u), now);
	}
	if (strcmp(k, "T") == 0) {
		rc = parse_fields(l, 2, 1, z, a_hi);
		if (rc != 0 || now - l->v[0] >= m->conf->trust_ttl_ms)
			return rc;
		if (gov_mem_peek(m->trust, 'T', l->a, l->b) != NULL)
			return AG_ERR_PROTO; /* twice in one file */
		rc = gov_mem_trust_put(m, l->a, l->b, l->v[0]);
		return rc == AG_ERR_INVAL ? AG_ERR_PROTO : rc;
	}
	return AG_ERR_PROTO;
}

/* Reads entry lines into m up to "end N", which must count them. */
static int load_lines(struct gov_mem *m, FILE *f, int64_t now)
{
	char buf[GOV_STATE_LINE_MAX];
	struct line *l;
	int64_t n = 0, want;
	int rc;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return AG_ERR_NOMEM;
	for (;;) {
		rc = gov_sio_getline(f, buf, sizeof(buf));
		if (rc == AG_ERR_NOTFOUND)
			rc = AG_ERR_PROTO; /* cut short before "end" */
		if (rc == 0)
			rc = gov_sio_split(buf, l->tok, GOV_STATE_TOK_MAX, &l->n);
		if (rc != 0)
			break;
		if (strcmp(l->tok[0], "end") == 0) {
			if (l->n != 2 || gov_sio_int(l->tok[1], 0, INT64_MAX, &want) != 0 ||
			    want != n)
				rc = AG_ERR_PROTO;
			break;
		}
		rc = load_line(m, l, now);
		if (rc != 0)
			break;
		n++;
	}
	free(l);
	return rc;
}

int gov_mem_load(void *ctx, FILE *f, int64_t now)
{
	struct gov_mem *m = ctx, fresh = {0};
	struct gov_table *t;
	int rc;

	if (gov_table_count(m->main) != 0 || gov_table_count(m->trust) != 0)
		return AG_ERR_INVAL;
	fresh.conf = m->conf;
	rc = gov_table_new(gov_table_max(m->main), &fresh.main);
	if (rc == 0)
		rc = gov_table_new(gov_table_max(m->trust), &fresh.trust);
	if (rc == 0)
		rc = load_lines(&fresh, f, now);
	if (rc == 0) {
		t = m->main;
		m->main = fresh.main;
		fresh.main = t;
		t = m->trust;
		m->trust = fresh.trust;
		fresh.trust = t;
		m->ntrusted = fresh.ntrusted;
	}
	gov_table_free(fresh.main);
	gov_table_free(fresh.trust);
	return rc;
}

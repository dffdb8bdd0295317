/* store_mem.c - the memory store: rules 2-4 and the trust/clean
 * classification of docs/design.md, over the tables of store_mem.h.
 *
 * decide() first builds a read-only view of the attempt's entries as they
 * stand at now (forgotten failures forgotten), runs every rule on it for
 * explain, and only in GOV_COMMIT mode, allowed, with a slot, writes the view
 * back. report() applies an outcome. Nothing else changes the tables but the
 * sweeps, which drop entries that tell nothing any more.
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ag_err.h"
#include "backoff.h"
#include "store_mem.h"

#define CONCURRENT_RETRY_MS 1000 /* design.md rule 2: concurrent attempts wait 1 s */
#define SWEEP_MAIN	    2	 /* expired entries dropped per admission or report */
#define SWEEP_TRUST	    1

/* The attempt's stored state at now, as the rules see it. */
struct view {
	struct mem_pair pair;
	struct mem_src src;
	struct mem_agg agg;
	struct mem_user user;
	int trusted, klass, failing;
	const char *skip_rates; /* why rules 3-4 do not apply, or NULL */
	const char *skip_user;	/* why user_rate and user_cap do not apply, or NULL */
	struct gov_gcra_res src_res, user_res;
	/* The entries read, or NULL: commit writes back to these rather than
	 * hashing the same keys again. */
	struct gov_tent *pair_e, *src_e, *user_e;
	int terse; /* GOV_TERSE: no detail strings */
};

/* An entry taken for writing: pinned so that inserting the next cannot
 * evict it. */
struct held {
	struct gov_tent *e;
	int created;
};

int gov_mem_key(char kind, const char *a, const char *b, char *buf, size_t *len)
{
	size_t la, lb, n;

	*len = 0;
	if (a == NULL)
		return AG_ERR_INVAL;
	la = strnlen(a, MEM_PART_MAX + 1);
	if (la > MEM_PART_MAX)
		return AG_ERR_INVAL;
	buf[0] = kind;
	memcpy(buf + 1, a, la);
	n = 1 + la;
	if (b != NULL) {
		lb = strnlen(b, MEM_PART_MAX + 1);
		if (lb > MEM_PART_MAX)
			return AG_ERR_INVAL;
		buf[n++] = '\0';
		memcpy(buf + n, b, lb);
		n += lb;
	}
	*len = n;
	return 0;
}

void gov_mem_key_parts(const struct gov_tent *e, struct gov_mem_kparts *k)
{
	size_t klen;
	const char *key = gov_tent_key(e, &klen);

	k->kind = key[0];
	k->a = key + 1;
	k->alen = strnlen(k->a, klen - 1);
	k->b = k->alen + 2 <= klen ? k->a + k->alen + 1 : NULL;
	k->blen = k->b != NULL ? klen - 2 - k->alen : 0;
}

void gov_mem_pair_now(const struct ag_conf *c, struct mem_pair *p, int64_t now)
{
	if ((p->failures > 0 || p->hold_until > 0) &&
	    now >= gov_backoff_forget_at(p->last_fail, p->hold_until, c->failure_window_ms)) {
		p->failures = 0;
		p->hold_until = 0;
	}
}

void gov_mem_user_now(const struct ag_conf *c, struct mem_user *u, int64_t now)
{
	if ((u->ucfail > 0 || u->cap_until > 0) &&
	    now >= gov_backoff_forget_at(u->last_ufail, u->cap_until, c->failure_window_ms)) {
		u->ucfail = 0;
		u->cap_until = 0;
	}
}

static int64_t later(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int64_t pair_expiry(const struct ag_conf *c, const struct mem_pair *p)
{
	if (p->inflight > 0)
		return INT64_MAX;
	if (p->failures > 0 || p->hold_until > 0 || p->last_fail > 0)
		return gov_backoff_forget_at(p->last_fail, p->hold_until, c->failure_window_ms);
	return 0;
}

static int64_t user_expiry(const struct ag_conf *c, const struct mem_user *u)
{
	int64_t t = later(u->clean.us, u->failing.us) / 1000 + 1;

	if (u->ucfail > 0 || u->cap_until > 0)
		t = later(t,
			  gov_backoff_forget_at(u->last_ufail, u->cap_until, c->failure_window_ms));
	return t;
}

int gov_mem_expired(const struct ag_conf *c, const struct gov_tent *e, int64_t now)
{
	const void *v = gov_tent_cval(e);
	const struct mem_src *s = v;
	const struct mem_agg *a = v;

	switch (gov_tent_key(e, NULL)[0]) {
	case 'P':
		return now >= pair_expiry(c, v);
	case 'S':
		return gov_gcra_idle(&s->tat, now);
	case 'A':
		return now >= gov_backoff_forget_at(a->last_fail, 0, c->failure_window_ms);
	case 'U':
		return now >= user_expiry(c, v);
	default:
		return 1;
	}
}

void gov_mem_sweep(struct gov_mem *m, int64_t now, int n)
{
	struct gov_tent *e;

	while (n-- > 0 && (e = gov_table_lru(m->main)) != NULL && gov_mem_expired(m->conf, e, now))
		gov_table_del(m->main, e);
}

const void *gov_mem_peek(const struct gov_table *t, char kind, const char *a, const char *b)
{
	char key[MEM_KEY_MAX];
	const struct gov_tent *e;
	size_t klen;

	if (gov_mem_key(kind, a, b, key, &klen) != 0)
		return NULL;
	e = gov_table_find(t, key, klen);
	return e == NULL ? NULL : gov_tent_cval(e);
}

static struct gov_tent *find(const struct gov_table *t, char kind, const char *a, const char *b)
{
	char key[MEM_KEY_MAX];
	size_t klen;

	if (gov_mem_key(kind, a, b, key, &klen) != 0)
		return NULL;
	return gov_table_find(t, key, klen);
}

static int recent(int64_t t, int64_t now, int64_t window)
{
	return t > 0 && now - t < window;
}

static const char *agg_of(const struct gov_attempt *at)
{
	return at->agg != NULL ? at->agg : at->source;
}

static void load_view(const struct gov_mem *m, const struct gov_attempt *at, int64_t now,
		      struct view *v)
{
	const struct ag_conf *c = m->conf;
	const void *p;

	memset(v, 0, sizeof(*v));
	if ((v->pair_e = find(m->main, 'P', at->user, at->source)) != NULL)
		memcpy(&v->pair, gov_tent_cval(v->pair_e), sizeof(v->pair));
	if ((v->src_e = find(m->main, 'S', at->source, NULL)) != NULL)
		memcpy(&v->src, gov_tent_cval(v->src_e), sizeof(v->src));
	if ((p = gov_mem_peek(m->main, 'A', agg_of(at), NULL)) != NULL)
		memcpy(&v->agg, p, sizeof(v->agg));
	if ((v->user_e = find(m->main, 'U', at->user, NULL)) != NULL)
		memcpy(&v->user, gov_tent_cval(v->user_e), sizeof(v->user));
	gov_mem_pair_now(c, &v->pair, now);
	gov_mem_user_now(c, &v->user, now);
	v->trusted = !at->user_socket && gov_mem_trusted(m, at->user, at->source, now, NULL);
	v->failing = recent(v->pair.last_fail, now, c->failure_window_ms) ||
		     recent(v->agg.last_fail, now, c->failure_window_ms);
	if (v->trusted)
		v->klass = AG_CLASS_TRUSTED;
	else if (at->allowlisted || !v->failing)
		v->klass = AG_CLASS_CLEAN;
	else
		v->klass = AG_CLASS_DIRTY;
	if (v->trusted)
		v->skip_rates = "skipped: trusted pair";
	else if (at->allowlisted)
		v->skip_rates = "skipped: allowlisted";
	v->skip_user = v->skip_rates;
	if (v->skip_user == NULL && at->user_socket)
		v->skip_user = "skipped: user socket";
}

static void step_set(struct gov_step *s, int rule, int64_t retry)
{
	s->rule = rule;
	s->verdict = retry > 0 ? AG_V_DENY : AG_V_ALLOW;
	s->retry_ms = retry;
}

static void step_skip(const struct view *v, struct gov_step *s, int rule, const char *why)
{
	s->rule = rule;
	s->verdict = 0;
	if (!v->terse)
		snprintf(s->detail, sizeof(s->detail), "%s", why);
}

static int64_t until(int64_t t, int64_t now)
{
	return t > now ? t - now : 0;
}

static void rule_backoff(const struct ag_conf *c, const struct view *v, int64_t now,
			 struct gov_step *s)
{
	const struct mem_pair *p = &v->pair;
	int64_t retry = until(p->hold_until, now);
	int concurrent =
	    p->inflight > 0 && (int64_t)p->failures + p->inflight >= c->pair_free_failures;

	if (concurrent && retry < CONCURRENT_RETRY_MS)
		retry = CONCURRENT_RETRY_MS;
	step_set(s, GOV_RULE_BACKOFF, retry);
	if (v->terse)
		return;
	snprintf(s->detail, sizeof(s->detail),
		 "failures=%d free=%lld inflight=%d hold_until_in=%lldms%s", (int)p->failures,
		 (long long)c->pair_free_failures, (int)p->inflight,
		 (long long)until(p->hold_until, now), concurrent ? " concurrent" : "");
}

static void rule_user_cap(const struct ag_conf *c, const struct view *v, int64_t now,
			  struct gov_step *s)
{
	const struct mem_user *u = &v->user;

	if (v->skip_user != NULL) {
		step_skip(v, s, GOV_RULE_USER_CAP, v->skip_user);
		return;
	}
	step_set(s, GOV_RULE_USER_CAP, until(u->cap_until, now));
	if (v->terse)
		return;
	snprintf(s->detail, sizeof(s->detail), "ucfail=%lld max=%lld cap_until_in=%lldms",
		 (long long)u->ucfail, (long long)c->user_max_failures,
		 (long long)until(u->cap_until, now));
}

static int rule_rate(const struct ag_rate *rate, int64_t burst, const struct gov_tat *tat,
		     int64_t now, int rule, const char *budget, int terse, struct gov_gcra_res *res,
		     struct gov_step *s)
{
	char pre[24] = "";
	int rc = gov_gcra(rate, burst, tat, now, res);

	if (rc != 0)
		return rc;
	step_set(s, rule, res->allowed ? 0 : res->retry_ms);
	if (terse)
		return 0;
	if (budget != NULL)
		snprintf(pre, sizeof(pre), "budget=%s ", budget);
	snprintf(s->detail, sizeof(s->detail), "%stokens=%lld burst=%lld: next free in %lldms", pre,
		 (long long)res->tokens, (long long)burst, (long long)res->retry_ms);
	return 0;
}

/* Rules 2, user_cap, 3, 4 into out->steps; the denial with the longest retry
 * (the earliest on a tie) decides. */
static int run_rules(const struct gov_mem *m, struct view *v, int64_t now, struct gov_decision *out)
{
	const struct ag_conf *c = m->conf;
	struct gov_step *s = out->steps;
	int rc = 0, i;

	rule_backoff(c, v, now, &s[0]);
	rule_user_cap(c, v, now, &s[1]);
	if (v->skip_rates != NULL)
		step_skip(v, &s[2], GOV_RULE_SOURCE_RATE, v->skip_rates);
	else
		rc = rule_rate(&c->source_rate, c->source_burst, &v->src.tat, now,
			       GOV_RULE_SOURCE_RATE, NULL, v->terse, &v->src_res, &s[2]);
	if (rc != 0)
		return rc;
	if (v->skip_user != NULL)
		step_skip(v, &s[3], GOV_RULE_USER_RATE, v->skip_user);
	else
		rc = rule_rate(&c->user_rate, c->user_burst,
			       v->failing ? &v->user.failing : &v->user.clean, now,
			       GOV_RULE_USER_RATE, v->failing ? "failing" : "clean", v->terse,
			       &v->user_res, &s[3]);
	if (rc != 0)
		return rc;
	out->nsteps = 4;
	for (i = 0; i < out->nsteps; i++) {
		if (s[i].verdict == AG_V_DENY && s[i].retry_ms > out->retry_ms) {
			out->retry_ms = s[i].retry_ms;
			out->rule = s[i].rule;
		}
	}
	return 0;
}

/* Takes the entry kind+a[+b] for writing (creating it zeroed): touched and
 * pinned. */
static int take(struct gov_table *t, char kind, const char *a, const char *b, size_t vsize,
		struct held *h)
{
	char key[MEM_KEY_MAX];
	size_t klen;
	int rc;

	h->e = NULL;
	h->created = 0;
	rc = gov_mem_key(kind, a, b, key, &klen);
	if (rc != 0)
		return rc;
	h->e = gov_table_find(t, key, klen);
	if (h->e == NULL) {
		rc = gov_table_insert(t, key, klen, vsize, &h->e);
		if (rc != 0)
			return rc;
		h->created = 1;
	} else {
		gov_table_touch(t, h->e);
	}
	gov_table_pin(t, h->e);
	return 0;
}

/* Unpins what take() pinned, newest first; undo also deletes what it created. */
static void release(struct gov_table *t, struct held *h, int n, int undo)
{
	while (n-- > 0) {
		if (h[n].e == NULL)
			continue;
		gov_table_unpin(t, h[n].e);
		if (undo && h[n].created)
			gov_table_del(t, h[n].e);
	}
}

/* Takes for writing the entry load_view found (e), else a new one: pinned.
 * The view's entries are all pinned before the first insert, whose eviction
 * could otherwise take one of them. */
static void hold_found(struct gov_table *t, struct gov_tent *e, struct held *h)
{
	h->e = e;
	h->created = 0;
	if (e != NULL)
		gov_table_pin(t, e);
}

static int hold_new(struct gov_table *t, char kind, const char *a, const char *b, size_t vsize,
		    struct held *h)
{
	return h->e != NULL ? 0 : take(t, kind, a, b, vsize, h);
}

/* Admits: spends the tokens the rules checked, counts the attempt in flight
 * on its pair (the pin stays until the report). All or nothing. */
static int commit(struct gov_mem *m, const struct gov_attempt *at, struct view *v, int64_t now)
{
	struct held h[3];
	struct mem_pair *p;
	struct mem_user *u;
	int n = 0, rc;

	if (v->pair.inflight >= INT32_MAX)
		return AG_ERR_FULL;
	hold_found(m->main, v->pair_e, &h[n++]);
	if (v->skip_rates == NULL)
		hold_found(m->main, v->src_e, &h[n++]);
	if (v->skip_user == NULL)
		hold_found(m->main, v->user_e, &h[n++]);
	rc = hold_new(m->main, 'P', at->user, at->source, sizeof(struct mem_pair), &h[0]);
	if (rc == 0 && v->skip_rates == NULL)
		rc = hold_new(m->main, 'S', at->source, NULL, sizeof(struct mem_src), &h[1]);
	if (rc == 0 && v->skip_user == NULL)
		rc = hold_new(m->main, 'U', at->user, NULL, sizeof(struct mem_user), &h[n - 1]);
	if (rc != 0) {
		release(m->main, h, n, 1);
		return rc;
	}
	p = gov_tent_val(h[0].e);
	*p = v->pair;
	p->inflight++;
	p->last_seen = now;
	n = 1;
	if (v->skip_rates == NULL)
		((struct mem_src *)gov_tent_val(h[n++].e))->tat = v->src_res.tat;
	if (v->skip_user == NULL) {
		u = gov_tent_val(h[n++].e);
		*u = v->user;
		*(v->failing ? &u->failing : &u->clean) = v->user_res.tat;
	}
	/* h[0]'s pin is the attempt's: it stays until the report. */
	release(m->main, h + 1, n - 1, 0);
	gov_mem_sweep(m, now, SWEEP_MAIN);
	return 0;
}

/* What gov_mem_key accepts, checked once rather than by building keys. */
static int part_ok(const char *s)
{
	return s != NULL && strnlen(s, MEM_PART_MAX + 1) <= MEM_PART_MAX;
}

static int attempt_ok(const struct gov_attempt *at)
{
	return at != NULL && part_ok(at->user) && part_ok(at->source) && part_ok(agg_of(at));
}

static int mem_decide(void *ctx, const struct gov_attempt *at, int64_t now, int mode,
		      unsigned slot_mask, struct gov_decision *out)
{
	struct gov_mem *m = ctx;
	int terse = (mode & GOV_TERSE) != 0;
	struct view v;
	int rc;

	memset(out, 0, sizeof(*out));
	mode &= ~GOV_TERSE;
	if (!attempt_ok(at) || (mode != GOV_CHECK && mode != GOV_COMMIT))
		return AG_ERR_INVAL;
	load_view(m, at, now, &v);
	v.terse = terse;
	rc = run_rules(m, &v, now, out);
	if (rc != 0)
		goto out;
	out->klass = v.klass;
	out->trusted = v.trusted;
	if (out->rule != GOV_RULE_NONE) {
		out->verdict = AG_V_DENY;
		goto out;
	}
	out->verdict = AG_V_ALLOW;
	if (mode == GOV_CHECK)
		goto out;
	if (!(slot_mask & (1u << v.klass))) {
		out->verdict = GOV_NOSLOT;
		goto out;
	}
	rc = commit(m, at, &v, now);
out:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* The attempt is over: one pin and one in flight less. */
static void end_attempt(struct gov_table *t, struct gov_tent *e)
{
	struct mem_pair *p = gov_tent_val(e);

	if (p->inflight > 0) {
		p->inflight--;
		gov_table_unpin(t, e);
	}
}

/* Most logins succeed: their pair tells nothing afterwards, so free it now
 * rather than when it reaches the old end. */
static void drop_if_idle(struct gov_mem *m, struct gov_tent *e, int64_t now)
{
	if (gov_tent_pins(e) == 0 && gov_mem_expired(m->conf, e, now))
		gov_table_del(m->main, e);
}

static int report_success(struct gov_mem *m, const struct gov_attempt *at, int64_t now,
			  int64_t *cleared)
{
	struct gov_tent *e = find(m->main, 'P', at->user, at->source);
	struct mem_pair *p;
	struct mem_user *u;

	if (e != NULL) {
		end_attempt(m->main, e);
		p = gov_tent_val(e);
		gov_mem_pair_now(m->conf, p, now);
		*cleared = p->failures;
		p->failures = 0;
		p->hold_until = 0;
		p->last_seen = now;
		drop_if_idle(m, e, now);
	}
	if (at->user_socket)
		return 0;
	e = find(m->main, 'U', at->user, NULL);
	if (e != NULL) {
		u = gov_tent_val(e);
		u->ucfail = 0;
		u->cap_until = 0;
		u->last_ufail = 0;
	}
	return gov_mem_trust_put(m, at->user, at->source, now);
}

static void count_failure(const struct ag_conf *c, struct mem_pair *p, int64_t now, int jitter)
{
	int64_t hold;

	gov_mem_pair_now(c, p, now);
	if (p->failures < INT32_MAX)
		p->failures++;
	p->last_fail = now;
	p->last_seen = now;
	hold = gov_backoff_hold(p->failures, c->pair_free_failures, c->backoff_base_ms,
				c->backoff_max_ms, jitter);
	if (hold > 0)
		p->hold_until = later(p->hold_until, now + hold);
}

static void count_user_failure(const struct ag_conf *c, struct mem_user *u, int64_t now, int jitter)
{
	int64_t hold;

	gov_mem_user_now(c, u, now);
	if (u->ucfail < INT64_MAX)
		u->ucfail++;
	u->last_ufail = now;
	hold = gov_backoff_hold(u->ucfail, c->user_max_failures, c->cap_hold_base_ms,
				c->cap_hold_max_ms, jitter);
	if (hold > 0)
		u->cap_until = later(u->cap_until, now + hold);
}

static int report_failure(struct gov_mem *m, const struct gov_attempt *at, int64_t now, int jitter)
{
	int user_counts = !at->user_socket && !gov_mem_trusted(m, at->user, at->source, now, NULL);
	struct gov_tent *e;
	struct held h[3];
	int n = 0, rc;

	rc = take(m->main, 'P', at->user, at->source, sizeof(struct mem_pair), &h[n++]);
	if (rc == 0)
		rc = take(m->main, 'A', agg_of(at), NULL, sizeof(struct mem_agg), &h[n++]);
	if (rc == 0 && user_counts)
		rc = take(m->main, 'U', at->user, NULL, sizeof(struct mem_user), &h[n++]);
	if (rc != 0) {
		/* Out of room or memory: still end the attempt, or its pin leaks. */
		release(m->main, h, n, 1);
		e = find(m->main, 'P', at->user, at->source);
		if (e != NULL)
			end_attempt(m->main, e);
		return rc;
	}
	end_attempt(m->main, h[0].e);
	count_failure(m->conf, gov_tent_val(h[0].e), now, jitter);
	((struct mem_agg *)gov_tent_val(h[1].e))->last_fail = now;
	if (user_counts)
		count_user_failure(m->conf, gov_tent_val(h[2].e), now, jitter);
	release(m->main, h, n, 0);
	return 0;
}

static int mem_report(void *ctx, const struct gov_attempt *at, int outcome, int64_t now,
		      int jitter_pm, int64_t *cleared)
{
	struct gov_mem *m = ctx;
	struct gov_tent *e;
	int64_t none;
	int rc = 0;

	if (cleared == NULL)
		cleared = &none;
	*cleared = 0;
	if (!attempt_ok(at))
		return AG_ERR_INVAL;
	switch (outcome) {
	case AG_OUT_PASS:
		return 0;
	case AG_OUT_UNAVAIL:
		e = find(m->main, 'P', at->user, at->source);
		if (e != NULL) {
			end_attempt(m->main, e);
			drop_if_idle(m, e, now);
		}
		break;
	case AG_OUT_SUCCESS:
		rc = report_success(m, at, now, cleared);
		break;
	case AG_OUT_FAIL:
	case GOV_OUT_ABANDON:
		rc = report_failure(m, at, now, jitter_pm);
		break;
	default:
		return AG_ERR_INVAL;
	}
	gov_mem_sweep(m, now, SWEEP_MAIN);
	gov_mem_trust_sweep(m, now, SWEEP_TRUST);
	return rc;
}

static void mem_counts(void *ctx, int64_t *tracked, int64_t *trusted)
{
	struct gov_mem *m = ctx;

	if (tracked != NULL)
		*tracked = (int64_t)gov_table_count(m->main);
	if (trusted != NULL)
		*trusted = m->ntrusted;
}

static void mem_destroy(void *ctx)
{
	struct gov_mem *m = ctx;

	if (m == NULL)
		return;
	gov_table_free(m->main);
	gov_table_free(m->trust);
	free(m);
}

static const struct gov_store_ops mem_ops = {
    .name = "memory",
    .decide = mem_decide,
    .report = mem_report,
    .reset = gov_mem_reset,
    .describe = gov_mem_describe,
    .save = gov_mem_save,
    .load = gov_mem_load,
    .counts = mem_counts,
    .destroy = mem_destroy,
};

static size_t tracked_max(const struct ag_conf *c)
{
	return c->max_tracked < 1 ? 1 : (size_t)c->max_tracked;
}

int gov_store_mem_new(const struct ag_conf *conf, struct gov_store *out)
{
	struct gov_mem *m = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (conf == NULL || conf->max_tracked < 1 || conf->max_trusted < 0 ||
	    !gov_gcra_valid(&conf->source_rate, conf->source_burst) ||
	    !gov_gcra_valid(&conf->user_rate, conf->user_burst))
		return AG_ERR_INVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return AG_ERR_NOMEM;
	m->conf = conf;
	rc = gov_table_new(tracked_max(conf), &m->main);
	if (rc == 0)
		rc = gov_table_new(gov_mem_trust_table_max(conf->max_trusted), &m->trust);
	if (rc != 0)
		goto out;
	out->ops = &mem_ops;
	out->ctx = m;
	m = NULL;
out:
	mem_destroy(m);
	return rc;
}

void gov_store_mem_reconf(struct gov_store *s, const struct ag_conf *conf)
{
	struct gov_mem *m;

	if (s == NULL || s->ops != &mem_ops || conf == NULL)
		return;
	m = s->ctx;
	m->conf = conf;
	gov_table_set_max(m->main, tracked_max(conf));
	gov_mem_trust_bound(m);
}

/* admit.c - rule 5: host slots with class reserves, class queues, CoDel.
 *
 * Queues are intrusive doubly linked lists in enqueue order (head oldest).
 * Because a waiter's expiry depends on its own deadline, no queue is ordered
 * by expiry; all waiters therefore also sit in one pointer-based binary
 * min-heap (complete tree; position p has children 2p and 2p+1, reached from
 * the root by the bits of p). Nothing here allocates.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "ag_err.h"
#include "admit.h"

static int class_ok(int k)
{
	return k >= 0 && k < AG_CLASS_COUNT;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* floor(limit * pct / 100) without overflowing for any int64 limit. */
static int64_t pct_of(int64_t limit, int64_t pct)
{
	return (limit / 100) * pct + (limit % 100) * pct / 100;
}

void gov_admit_configure(struct gov_admit *a, int64_t limit, int64_t trusted_reserve_pct,
			 int64_t clean_reserve_pct, int64_t max_queue, int64_t codel_target_ms,
			 int64_t codel_interval_ms)
{
	int64_t tpct = clamp64(trusted_reserve_pct, 0, 100);
	int64_t cpct = clamp64(clean_reserve_pct, 0, 100);

	a->limit = limit < 1 ? 1 : limit;
	a->tr_slots = pct_of(a->limit, tpct);
	a->cr_slots = pct_of(a->limit, cpct);
	if (a->cr_slots > a->limit - a->tr_slots)
		a->cr_slots = a->limit - a->tr_slots;
	a->max_queue = clamp64(max_queue, 0, GOV_ADMIT_QUEUE_MAX);
	a->codel_target_ms = codel_target_ms < 0 ? 0 : codel_target_ms;
	a->codel_interval_ms = codel_interval_ms < 0 ? 0 : codel_interval_ms;
}

void gov_admit_init(struct gov_admit *a, int64_t limit, int64_t trusted_reserve_pct,
		    int64_t clean_reserve_pct, int64_t max_queue, int64_t codel_target_ms,
		    int64_t codel_interval_ms)
{
	int k;

	memset(a, 0, sizeof(*a));
	for (k = 0; k < AG_CLASS_COUNT; k++)
		a->q[k].nonempty_since = -1;
	gov_admit_configure(a, limit, trusted_reserve_pct, clean_reserve_pct, max_queue,
			    codel_target_ms, codel_interval_ms);
}

int64_t gov_admit_ceiling(const struct gov_admit *a, int k)
{
	switch (k) {
	case AG_CLASS_TRUSTED:
		return a->limit;
	case AG_CLASS_CLEAN:
		return a->limit - a->tr_slots;
	case AG_CLASS_DIRTY:
		return a->limit - a->tr_slots - a->cr_slots;
	default:
		return 0;
	}
}

unsigned gov_admit_slot_mask(const struct gov_admit *a)
{
	unsigned mask = 0;
	int k;

	for (k = 0; k < AG_CLASS_COUNT; k++)
		if (a->inflight < gov_admit_ceiling(a, k))
			mask |= 1u << k;
	return mask;
}

int gov_admit_acquire(struct gov_admit *a, int k)
{
	if (!class_ok(k))
		return AG_ERR_INVAL;
	if (a->inflight >= gov_admit_ceiling(a, k))
		return AG_ERR_FULL;
	a->inflight++;
	a->inflight_class[k]++;
	return 0;
}

void gov_admit_release(struct gov_admit *a, int k)
{
	/* A double release is a caller bug; it must not open extra slots. */
	if (!class_ok(k) || a->inflight_class[k] <= 0)
		return;
	a->inflight_class[k]--;
	a->inflight--;
}

int gov_admit_stands(const struct gov_admit *a, int k, int64_t now)
{
	const struct gov_queue *q;

	if (!class_ok(k))
		return 0;
	q = &a->q[k];
	return q->len > 0 && q->nonempty_since >= 0 &&
	       now - q->nonempty_since >= a->codel_interval_ms;
}

/* ---- expiry heap ---------------------------------------------------------- */

/* Earlier expiry first; among equals, the one queued first. */
static int heap_before(const struct gov_waiter *x, const struct gov_waiter *y)
{
	if (x->expire_ms != y->expire_ms)
		return x->expire_ms < y->expire_ms;
	return x->seq < y->seq;
}

/* The node at position pos (>= 1), following the bits of pos below its top bit. */
static struct gov_waiter *heap_at(const struct gov_admit *a, uint64_t pos)
{
	struct gov_waiter *x = a->hroot;
	int bit = 63 - __builtin_clzll(pos);

	while (--bit >= 0 && x)
		x = ((pos >> bit) & 1) ? x->hright : x->hleft;
	return x;
}

/* Exchanges c with its parent: nodes move, not contents, because the caller
 * holds pointers to its waiters. */
static void heap_swap_up(struct gov_admit *a, struct gov_waiter *c)
{
	struct gov_waiter *p = c->hparent, *g = p->hparent;
	struct gov_waiter *cl = c->hleft, *cr = c->hright;

	if (p->hleft == c) {
		c->hleft = p;
		c->hright = p->hright;
		if (c->hright)
			c->hright->hparent = c;
	} else {
		c->hright = p;
		c->hleft = p->hleft;
		if (c->hleft)
			c->hleft->hparent = c;
	}
	p->hleft = cl;
	p->hright = cr;
	if (cl)
		cl->hparent = p;
	if (cr)
		cr->hparent = p;
	p->hparent = c;
	c->hparent = g;
	if (!g)
		a->hroot = c;
	else if (g->hleft == p)
		g->hleft = c;
	else
		g->hright = c;
}

static void heap_sift_up(struct gov_admit *a, struct gov_waiter *w)
{
	while (w->hparent && heap_before(w, w->hparent))
		heap_swap_up(a, w);
}

static void heap_sift_down(struct gov_admit *a, struct gov_waiter *w)
{
	for (;;) {
		struct gov_waiter *m = w->hleft;

		if (w->hright && (!m || heap_before(w->hright, m)))
			m = w->hright;
		if (!m || !heap_before(m, w))
			break;
		heap_swap_up(a, m);
	}
}

/* Adds w at position pos = new heap size. */
static void heap_insert(struct gov_admit *a, struct gov_waiter *w, uint64_t pos)
{
	struct gov_waiter *p;

	w->hleft = w->hright = NULL;
	if (pos == 1) {
		w->hparent = NULL;
		a->hroot = w;
		return;
	}
	p = heap_at(a, pos >> 1);
	w->hparent = p;
	if (pos & 1)
		p->hright = w;
	else
		p->hleft = w;
	heap_sift_up(a, w);
}

/* Removes w from a heap of n nodes: the last node takes its place, then
 * moves up or down as its key requires. */
static void heap_delete(struct gov_admit *a, struct gov_waiter *w, uint64_t n)
{
	struct gov_waiter *last = heap_at(a, n);

	if (n <= 1 || !last) {
		a->hroot = NULL;
		goto out;
	}
	/* Detach the last node first, so that w's child pointers are current
	 * when it is w's own child. */
	if (last->hparent->hright == last)
		last->hparent->hright = NULL;
	else
		last->hparent->hleft = NULL;
	if (last == w)
		goto out;
	last->hparent = w->hparent;
	last->hleft = w->hleft;
	last->hright = w->hright;
	if (last->hleft)
		last->hleft->hparent = last;
	if (last->hright)
		last->hright->hparent = last;
	if (!w->hparent)
		a->hroot = last;
	else if (w->hparent->hleft == w)
		w->hparent->hleft = last;
	else
		w->hparent->hright = last;
	heap_sift_down(a, last);
	heap_sift_up(a, last);
out:
	w->hparent = w->hleft = w->hright = NULL;
}

/* ---- queues ---------------------------------------------------------------- */

/* Random early drop for the failing class: p = 0 while its queue holds less
 * than a quarter of max_queue, then (4 len - max) / (3 max), reaching 1 at
 * max_queue. Drop when rnd / 2^32 < p. max_queue <= 2^30 keeps both sides
 * below 2^64. */
static int red_drop(const struct gov_admit *a, int64_t len, uint32_t rnd)
{
	int64_t num = 4 * len - a->max_queue;
	uint64_t den = 3 * (uint64_t)a->max_queue;

	if (num <= 0)
		return 0;
	return (uint64_t)rnd * den < ((uint64_t)num << 32);
}

int gov_admit_enqueue(struct gov_admit *a, struct gov_waiter *w, int64_t now, int64_t deadline,
		      uint32_t rnd)
{
	struct gov_queue *q;
	int64_t bound;

	w->prev = w->next = NULL;
	w->hparent = w->hleft = w->hright = NULL;
	w->seq = 0;
	if (!class_ok(w->klass))
		return AG_ERR_INVAL;
	q = &a->q[w->klass];
	if (a->queued >= a->max_queue)
		return AG_ERR_FULL;
	if (w->klass == AG_CLASS_DIRTY && red_drop(a, q->len, rnd))
		return AG_ERR_FULL;

	bound =
	    now + (gov_admit_stands(a, w->klass, now) ? a->codel_target_ms : a->codel_interval_ms);
	w->enq_ms = now;
	w->expire_ms = deadline < bound ? deadline : bound;
	w->seq = ++a->next_seq;

	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	if (q->len == 0)
		q->nonempty_since = now;
	q->len++;

	a->queued++;
	heap_insert(a, w, (uint64_t)a->queued);
	return 0;
}

void gov_admit_remove(struct gov_admit *a, struct gov_waiter *w, int64_t now)
{
	struct gov_queue *q;

	if (!w || w->seq == 0 || !class_ok(w->klass))
		return;
	q = &a->q[w->klass];
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->prev = w->next = NULL;
	if (--q->len <= 0) {
		q->len = 0;
		q->nonempty_since = -1;
	}

	heap_delete(a, w, (uint64_t)a->queued);
	a->queued--;
	w->seq = 0;
}

struct gov_waiter *gov_admit_next(struct gov_admit *a, int64_t now)
{
	int k;

	/* Ceilings shrink from trusted to failing, so the first class that
	 * has both a waiter and a slot is the one to serve. */
	for (k = 0; k < AG_CLASS_COUNT; k++) {
		const struct gov_queue *q = &a->q[k];

		if (q->len > 0 && a->inflight < gov_admit_ceiling(a, k))
			return gov_admit_stands(a, k, now) ? q->tail : q->head;
	}
	return NULL;
}

struct gov_waiter *gov_admit_first_expiry(const struct gov_admit *a)
{
	return a->hroot;
}

struct gov_waiter *gov_admit_pop_expired(struct gov_admit *a, int64_t now)
{
	struct gov_waiter *w = a->hroot;

	if (!w || w->expire_ms > now)
		return NULL;
	gov_admit_remove(a, w, now);
	return w;
}

/* ---- invariants --------------------------------------------------------------- */

static int heap_check(const struct gov_waiter *x, const struct gov_waiter *parent, uint64_t pos,
		      uint64_t n, uint64_t *count)
{
	int rc;

	if (!x)
		return 0;
	/* pos > n means the tree is not complete (and bounds the recursion). */
	if (pos > n || x->hparent != parent || x->seq == 0 || ++*count > n)
		return AG_ERR_INVAL;
	if (parent && heap_before(x, parent))
		return AG_ERR_INVAL;
	rc = heap_check(x->hleft, x, 2 * pos, n, count);
	if (rc == 0)
		rc = heap_check(x->hright, x, 2 * pos + 1, n, count);
	return rc;
}

static int queue_check(const struct gov_admit *a, int k)
{
	const struct gov_queue *q = &a->q[k];
	const struct gov_waiter *x, *prev = NULL;
	int64_t n = 0;

	for (x = q->head; x; prev = x, x = x->next) {
		if (++n > q->len || x->prev != prev || x->klass != k || x->seq == 0)
			return AG_ERR_INVAL;
		if (prev && (x->seq <= prev->seq || x->enq_ms < prev->enq_ms))
			return AG_ERR_INVAL;
	}
	if (n != q->len || q->tail != prev)
		return AG_ERR_INVAL;
	if ((q->len == 0) != (q->nonempty_since < 0))
		return AG_ERR_INVAL;
	if (q->head && q->head->enq_ms < q->nonempty_since)
		return AG_ERR_INVAL;
	return 0;
}

int gov_admit_validate(const struct gov_admit *a)
{
	int64_t sum_inflight = 0, sum_queued = 0;
	uint64_t count = 0;
	int k, rc;

	for (k = 0; k < AG_CLASS_COUNT; k++) {
		if (a->inflight_class[k] < 0)
			return AG_ERR_INVAL;
		sum_inflight += a->inflight_class[k];
		rc = queue_check(a, k);
		if (rc != 0)
			return rc;
		sum_queued += a->q[k].len;
	}
	if (sum_inflight != a->inflight || sum_queued != a->queued || a->queued < 0)
		return AG_ERR_INVAL;
	if (a->tr_slots < 0 || a->cr_slots < 0 || a->tr_slots + a->cr_slots > a->limit ||
	    a->limit < 1)
		return AG_ERR_INVAL;
	rc = heap_check(a->hroot, NULL, 1, (uint64_t)a->queued, &count);
	if (rc != 0)
		return rc;
	return count == (uint64_t)a->queued ? 0 : AG_ERR_INVAL;
}

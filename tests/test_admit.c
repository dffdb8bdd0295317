/* test_admit.c - rule 5 bookkeeping: reserves, slots, queues, CoDel, RED. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ag_err.h"
#include "admit.h"

#define NW 4096

struct fixture {
	struct gov_admit a;
	struct gov_waiter *w; /* NW waiters, zeroed */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->w = calloc(NW, sizeof(*f->w));
	if (!f->w) {
		free(f);
		return -1;
	}
	/* limit 16, reserves 25% + 25%, queue 100, CoDel 5 ms / 100 ms */
	gov_admit_init(&f->a, 16, 25, 25, 100, 5, 100);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->w);
	free(f);
	return 0;
}

static struct gov_waiter *waiter(struct fixture *f, int i, int klass)
{
	f->w[i].klass = klass;
	f->w[i].owner = &f->w[i];
	return &f->w[i];
}

static void fill(struct gov_admit *a, int k, int n)
{
	int i;

	for (i = 0; i < n; i++)
		assert_int_equal(gov_admit_acquire(a, k), 0);
}

static void test_reserves_16(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;

	assert_int_equal(a->tr_slots, 4);
	assert_int_equal(a->cr_slots, 4);
	assert_int_equal(gov_admit_ceiling(a, AG_CLASS_TRUSTED), 16);
	assert_int_equal(gov_admit_ceiling(a, AG_CLASS_CLEAN), 12);
	assert_int_equal(gov_admit_ceiling(a, AG_CLASS_DIRTY), 8);

	/* the failing class gets 8 slots, and not one more */
	fill(a, AG_CLASS_DIRTY, 8);
	assert_int_equal(gov_admit_acquire(a, AG_CLASS_DIRTY), AG_ERR_FULL);
	/* clean may go on to 12 in total */
	fill(a, AG_CLASS_CLEAN, 4);
	assert_int_equal(gov_admit_acquire(a, AG_CLASS_CLEAN), AG_ERR_FULL);
	/* trusted to 16 */
	fill(a, AG_CLASS_TRUSTED, 4);
	assert_int_equal(gov_admit_acquire(a, AG_CLASS_TRUSTED), AG_ERR_FULL);
	assert_int_equal(a->inflight, 16);
	assert_int_equal(gov_admit_validate(a), 0);
}

static void test_reserves_rounding(void **state)
{
	struct gov_admit a;

	(void)state;
	gov_admit_init(&a, 1, 25, 25, 10, 5, 100);
	assert_int_equal(a.tr_slots, 0);
	assert_int_equal(a.cr_slots, 0);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_DIRTY), 1);
	assert_int_equal(gov_admit_acquire(&a, AG_CLASS_DIRTY), 0);
	assert_int_equal(gov_admit_acquire(&a, AG_CLASS_TRUSTED), AG_ERR_FULL);

	/* 3 x 25% = 0.75, rounded down: no reserve at all */
	gov_admit_init(&a, 3, 25, 25, 10, 5, 100);
	assert_int_equal(a.tr_slots, 0);
	assert_int_equal(a.cr_slots, 0);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_DIRTY), 3);

	gov_admit_init(&a, 4, 25, 25, 10, 5, 100);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_TRUSTED), 4);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_CLEAN), 3);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_DIRTY), 2);

	/* 10 x 33% = 3.3 -> 3 each */
	gov_admit_init(&a, 10, 33, 33, 10, 5, 100);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_CLEAN), 7);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_DIRTY), 4);

	/* nonsense is clamped: the trusted ceiling stays at least 1, none negative */
	gov_admit_init(&a, 0, 100, 100, -5, -1, -1);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_TRUSTED), 1);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_CLEAN), 0);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_DIRTY), 0);
	assert_int_equal(a.max_queue, 0);
	assert_int_equal(gov_admit_slot_mask(&a), 1u << AG_CLASS_TRUSTED);
	assert_int_equal(gov_admit_validate(&a), 0);

	/* reserves over the whole limit: clean's is cut to what is left */
	gov_admit_init(&a, 10, 60, 60, 10, 5, 100);
	assert_int_equal(a.tr_slots, 6);
	assert_int_equal(a.cr_slots, 4);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_CLEAN), 4);
	assert_int_equal(gov_admit_ceiling(&a, AG_CLASS_DIRTY), 0);

	/* huge limits do not overflow the percentage */
	gov_admit_init(&a, INT64_MAX, 50, 50, INT64_MAX, 5, 100);
	assert_true(a.tr_slots + a.cr_slots <= a.limit);
	assert_int_equal(a.max_queue, GOV_ADMIT_QUEUE_MAX);
}

static void test_acquire_release(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;

	assert_int_equal(gov_admit_acquire(a, AG_CLASS_CLEAN), 0);
	assert_int_equal(gov_admit_acquire(a, AG_CLASS_CLEAN), 0);
	assert_int_equal(gov_admit_acquire(a, AG_CLASS_TRUSTED), 0);
	assert_int_equal(a->inflight, 3);
	assert_int_equal(a->inflight_class[AG_CLASS_CLEAN], 2);
	assert_int_equal(a->inflight_class[AG_CLASS_TRUSTED], 1);
	assert_int_equal(a->inflight_class[AG_CLASS_DIRTY], 0);

	gov_admit_release(a, AG_CLASS_CLEAN);
	assert_int_equal(a->inflight, 2);
	assert_int_equal(a->inflight_class[AG_CLASS_CLEAN], 1);

	/* releasing what was never taken opens nothing */
	gov_admit_release(a, AG_CLASS_DIRTY);
	gov_admit_release(a, -1);
	gov_admit_release(a, AG_CLASS_COUNT);
	assert_int_equal(a->inflight, 2);
	assert_int_equal(a->inflight_class[AG_CLASS_DIRTY], 0);

	assert_int_equal(gov_admit_acquire(a, AG_CLASS_COUNT), AG_ERR_INVAL);
	assert_int_equal(gov_admit_acquire(a, -1), AG_ERR_INVAL);
	assert_int_equal(a->inflight, 2);

	gov_admit_release(a, AG_CLASS_CLEAN);
	gov_admit_release(a, AG_CLASS_TRUSTED);
	assert_int_equal(a->inflight, 0);
	assert_int_equal(gov_admit_validate(a), 0);
}

static void test_slot_mask(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	const unsigned all = 7u;

	assert_int_equal(gov_admit_slot_mask(a), all);
	fill(a, AG_CLASS_DIRTY, 7);
	assert_int_equal(gov_admit_slot_mask(a), all);
	fill(a, AG_CLASS_DIRTY, 1);
	assert_int_equal(gov_admit_slot_mask(a), (1u << AG_CLASS_TRUSTED) | (1u << AG_CLASS_CLEAN));
	fill(a, AG_CLASS_CLEAN, 4);
	assert_int_equal(gov_admit_slot_mask(a), 1u << AG_CLASS_TRUSTED);
	fill(a, AG_CLASS_TRUSTED, 4);
	assert_int_equal(gov_admit_slot_mask(a), 0u);
	/* a trusted release reopens what the total allows, whoever held it */
	gov_admit_release(a, AG_CLASS_TRUSTED);
	assert_int_equal(gov_admit_slot_mask(a), 1u << AG_CLASS_TRUSTED);
	gov_admit_release(a, AG_CLASS_DIRTY);
	gov_admit_release(a, AG_CLASS_DIRTY);
	gov_admit_release(a, AG_CLASS_DIRTY);
	gov_admit_release(a, AG_CLASS_DIRTY);
	assert_int_equal(gov_admit_slot_mask(a), (1u << AG_CLASS_TRUSTED) | (1u << AG_CLASS_CLEAN));
	assert_int_equal(a->inflight, 11);
	gov_admit_release(a, AG_CLASS_DIRTY);
	gov_admit_release(a, AG_CLASS_DIRTY);
	gov_admit_release(a, AG_CLASS_DIRTY);
	assert_int_equal(gov_admit_slot_mask(a), (1u << AG_CLASS_TRUSTED) | (1u << AG_CLASS_CLEAN));
	gov_admit_release(a, AG_CLASS_CLEAN);
	assert_int_equal(a->inflight, 7);
	assert_int_equal(gov_admit_slot_mask(a), all);
}

static void test_fifo_then_lifo(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *w1 = waiter(f, 1, AG_CLASS_CLEAN);
	struct gov_waiter *w2 = waiter(f, 2, AG_CLASS_CLEAN);
	struct gov_waiter *w3 = waiter(f, 3, AG_CLASS_CLEAN);
	struct gov_waiter *w4 = waiter(f, 4, AG_CLASS_CLEAN);

	fill(a, AG_CLASS_CLEAN, 12);
	assert_int_equal(gov_admit_enqueue(a, w1, 1000, 10000, 0), 0);
	assert_int_equal(gov_admit_enqueue(a, w2, 1010, 10000, 0), 0);
	assert_int_equal(gov_admit_enqueue(a, w3, 1020, 10000, 0), 0);
	assert_int_equal(a->q[AG_CLASS_CLEAN].nonempty_since, 1000);
	/* no slot: nobody is served */
	assert_null(gov_admit_next(a, 1050));
	gov_admit_release(a, AG_CLASS_CLEAN);

	/* not standing yet (99 ms): oldest first */
	assert_false(gov_admit_stands(a, AG_CLASS_CLEAN, 1099));
	assert_ptr_equal(gov_admit_next(a, 1099), w1);
	/* not empty for codel_interval: newest first */
	assert_true(gov_admit_stands(a, AG_CLASS_CLEAN, 1100));
	assert_ptr_equal(gov_admit_next(a, 1100), w3);
	gov_admit_remove(a, w3, 1100);
	assert_ptr_equal(gov_admit_next(a, 1100), w2);
	/* it keeps standing while waiters come and go */
	assert_int_equal(gov_admit_enqueue(a, w4, 1101, 10000, 0), 0);
	assert_ptr_equal(gov_admit_next(a, 1101), w4);
	gov_admit_remove(a, w4, 1101);
	gov_admit_remove(a, w2, 1101);
	gov_admit_remove(a, w1, 1101);

	/* emptied: the next waiter starts a new, non-standing period */
	assert_int_equal(a->q[AG_CLASS_CLEAN].nonempty_since, -1);
	assert_int_equal(gov_admit_enqueue(a, w1, 1200, 10000, 0), 0);
	assert_int_equal(gov_admit_enqueue(a, w2, 1250, 10000, 0), 0);
	assert_false(gov_admit_stands(a, AG_CLASS_CLEAN, 1250));
	assert_ptr_equal(gov_admit_next(a, 1250), w1);
	assert_int_equal(gov_admit_validate(a), 0);
}

static void test_codel_bound(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *w1 = waiter(f, 1, AG_CLASS_DIRTY);
	struct gov_waiter *w2 = waiter(f, 2, AG_CLASS_DIRTY);
	struct gov_waiter *w3 = waiter(f, 3, AG_CLASS_TRUSTED);

	/* a queue that does not stand: a waiter may wait codel_interval */
	assert_int_equal(gov_admit_enqueue(a, w1, 500, 100000, 0), 0);
	assert_int_equal(w1->enq_ms, 500);
	assert_int_equal(w1->expire_ms, 600);
	/* once it stands, codel_target */
	assert_int_equal(gov_admit_enqueue(a, w2, 600, 100000, 0), 0);
	assert_int_equal(w2->expire_ms, 605);
	/* standing is per class: the trusted queue is still empty */
	assert_int_equal(gov_admit_enqueue(a, w3, 600, 100000, 0), 0);
	assert_int_equal(w3->expire_ms, 700);
	/* the bound of a waiter already queued is not recomputed */
	assert_int_equal(w1->expire_ms, 600);

	/* reconfiguring changes the bounds of later waiters only */
	gov_admit_configure(a, 16, 25, 25, 100, 20, 300);
	gov_admit_remove(a, w2, 601);
	assert_int_equal(gov_admit_enqueue(a, w2, 700, 100000, 0), 0);
	assert_false(gov_admit_stands(a, AG_CLASS_DIRTY, 700));
	assert_int_equal(w2->expire_ms, 1000);
	assert_int_equal(w1->expire_ms, 600);
	assert_int_equal(gov_admit_validate(a), 0);
}

static void test_deadline_bound(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *w1 = waiter(f, 1, AG_CLASS_CLEAN);
	struct gov_waiter *w2 = waiter(f, 2, AG_CLASS_CLEAN);

	assert_int_equal(gov_admit_enqueue(a, w1, 1000, 1030, 0), 0);
	assert_int_equal(w1->expire_ms, 1030);
	/* a deadline already past: queued, and expired at once */
	assert_int_equal(gov_admit_enqueue(a, w2, 1000, 990, 0), 0);
	assert_int_equal(w2->expire_ms, 990);
	assert_ptr_equal(gov_admit_first_expiry(a), w2);
	assert_ptr_equal(gov_admit_pop_expired(a, 1000), w2);
	assert_null(gov_admit_pop_expired(a, 1000));
	assert_ptr_equal(gov_admit_first_expiry(a), w1);
	assert_null(gov_admit_pop_expired(a, 1029));
	assert_ptr_equal(gov_admit_pop_expired(a, 1030), w1);
	assert_int_equal(a->queued, 0);
	assert_null(gov_admit_first_expiry(a));
	assert_int_equal(gov_admit_validate(a), 0);
}

static void test_max_queue(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *extra;
	int i;

	for (i = 0; i < 100; i++)
		assert_int_equal(gov_admit_enqueue(a, waiter(f, i, i % 2), 10, 1000, 0), 0);
	assert_int_equal(a->queued, 100);
	/* full for every class, and RED does not matter */
	extra = waiter(f, 100, AG_CLASS_TRUSTED);
	assert_int_equal(gov_admit_enqueue(a, extra, 11, 1000, 0), AG_ERR_FULL);
	assert_int_equal(extra->seq, 0);
	extra->klass = AG_CLASS_DIRTY;
	assert_int_equal(gov_admit_enqueue(a, extra, 11, 1000, UINT32_MAX), AG_ERR_FULL);
	assert_int_equal(a->queued, 100);
	/* removing a refused waiter does nothing */
	gov_admit_remove(a, extra, 11);
	assert_int_equal(a->queued, 100);
	assert_int_equal(gov_admit_validate(a), 0);

	gov_admit_remove(a, &f->w[50], 12);
	extra->klass = AG_CLASS_TRUSTED;
	assert_int_equal(gov_admit_enqueue(a, extra, 12, 1000, 0), 0);

	/* an unknown class is refused */
	f->w[200].klass = AG_CLASS_COUNT;
	assert_int_equal(gov_admit_enqueue(a, &f->w[200], 12, 1000, 0), AG_ERR_INVAL);
	assert_int_equal(gov_admit_validate(a), 0);
}

/* Fills the failing queue to n waiters (rnd = UINT32_MAX always passes below 100%). */
static void fill_dirty(struct fixture *f, int n)
{
	int i;

	for (i = 0; i < n; i++)
		assert_int_equal(
		    gov_admit_enqueue(&f->a, waiter(f, i, AG_CLASS_DIRTY), 10, 10000, UINT32_MAX),
		    0);
	assert_int_equal(f->a.q[AG_CLASS_DIRTY].len, n);
}

static void test_red(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *x = waiter(f, 1000, AG_CLASS_DIRTY);

	/* 0% filled: p = 0, even rnd = 0 passes */
	assert_int_equal(gov_admit_enqueue(a, x, 10, 10000, 0), 0);
	gov_admit_remove(a, x, 10);

	/* 25% filled: still p = 0 */
	fill_dirty(f, 25);
	assert_int_equal(gov_admit_enqueue(a, x, 10, 10000, 0), 0);
	gov_admit_remove(a, x, 10);

	/* 50% filled: p = (200 - 100) / 300 = 1/3, i.e. rnd < 2^32 / 3 drops */
	while (a->q[AG_CLASS_DIRTY].len < 50)
		assert_int_equal(gov_admit_enqueue(a, waiter(f, (int)a->queued, AG_CLASS_DIRTY), 10,
						   10000, UINT32_MAX),
				 0);
	assert_int_equal(gov_admit_enqueue(a, x, 10, 10000, 0), AG_ERR_FULL);
	assert_int_equal(gov_admit_enqueue(a, x, 10, 10000, 1431655765u), AG_ERR_FULL);
	assert_int_equal(gov_admit_enqueue(a, x, 10, 10000, 1431655766u), 0);
	gov_admit_remove(a, x, 10);
	assert_int_equal(gov_admit_enqueue(a, x, 10, 10000, UINT32_MAX), 0);
	gov_admit_remove(a, x, 10);

	/* other classes never see RED, whatever the fill */
	x->klass = AG_CLASS_CLEAN;
	assert_int_equal(gov_admit_enqueue(a, x, 10, 10000, 0), 0);
	gov_admit_remove(a, x, 10);
	x->klass = AG_CLASS_DIRTY;

	/* 99%: p = 296/300, rnd near the top still passes, most do not */
	while (a->q[AG_CLASS_DIRTY].len < 99)
		assert_int_equal(gov_admit_enqueue(a, waiter(f, (int)a->queued, AG_CLASS_DIRTY), 10,
						   10000, UINT32_MAX),
				 0);
	assert_int_equal(gov_admit_enqueue(a, x, 10, 10000, 4200000000u), AG_ERR_FULL);
	assert_int_equal(gov_admit_enqueue(a, x, 10, 10000, UINT32_MAX), 0);
	/* 100%: nothing passes */
	assert_int_equal(a->q[AG_CLASS_DIRTY].len, 100);
	assert_int_equal(
	    gov_admit_enqueue(a, waiter(f, 2000, AG_CLASS_DIRTY), 10, 10000, UINT32_MAX),
	    AG_ERR_FULL);
	assert_int_equal(gov_admit_validate(a), 0);
}

static void test_red_counts_own_class(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	int i;

	/* 90 clean waiters fill 90% of the queue, but the failing class holds none */
	for (i = 0; i < 90; i++)
		assert_int_equal(gov_admit_enqueue(a, waiter(f, i, AG_CLASS_CLEAN), 10, 1000, 0),
				 0);
	assert_int_equal(gov_admit_enqueue(a, waiter(f, 90, AG_CLASS_DIRTY), 10, 1000, 0), 0);
}

static void test_next_priority(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *d = waiter(f, 1, AG_CLASS_DIRTY);
	struct gov_waiter *c = waiter(f, 2, AG_CLASS_CLEAN);
	struct gov_waiter *t = waiter(f, 3, AG_CLASS_TRUSTED);

	fill(a, AG_CLASS_CLEAN, 12);
	assert_int_equal(gov_admit_enqueue(a, d, 10, 1000, 0), 0);
	assert_int_equal(gov_admit_enqueue(a, c, 11, 1000, 0), 0);
	assert_int_equal(gov_admit_enqueue(a, t, 12, 1000, 0), 0);
	/* 12 in flight: only trusted has a slot, and goes first */
	assert_ptr_equal(gov_admit_next(a, 20), t);
	gov_admit_remove(a, t, 20);
	/* clean at its ceiling (12): nobody else */
	assert_null(gov_admit_next(a, 20));
	gov_admit_release(a, AG_CLASS_CLEAN);
	assert_ptr_equal(gov_admit_next(a, 20), c);
	/* with room for everyone, clean still precedes failing */
	gov_admit_release(a, AG_CLASS_CLEAN);
	gov_admit_release(a, AG_CLASS_CLEAN);
	gov_admit_release(a, AG_CLASS_CLEAN);
	gov_admit_release(a, AG_CLASS_CLEAN);
	gov_admit_release(a, AG_CLASS_CLEAN);
	assert_ptr_equal(gov_admit_next(a, 20), c);
	gov_admit_remove(a, c, 20);
	/* 6 in flight < 8: the failing waiter */
	assert_ptr_equal(gov_admit_next(a, 20), d);
	assert_int_equal(gov_admit_acquire(a, AG_CLASS_DIRTY), 0);
	assert_int_equal(gov_admit_acquire(a, AG_CLASS_DIRTY), 0);
	/* 8 in flight: failing at its ceiling */
	assert_null(gov_admit_next(a, 20));
	assert_int_equal(gov_admit_validate(a), 0);
}

static void expect_order(struct gov_admit *a, int k, struct gov_waiter **want, int n)
{
	struct gov_waiter *x = a->q[k].head;
	int i;

	for (i = 0; i < n; i++, x = x->next)
		assert_ptr_equal(x, want[i]);
	assert_null(x);
	assert_int_equal(a->q[k].len, n);
	if (n > 0) {
		assert_ptr_equal(a->q[k].tail, want[n - 1]);
		assert_null(a->q[k].head->prev);
	} else {
		assert_null(a->q[k].head);
		assert_null(a->q[k].tail);
	}
	assert_int_equal(gov_admit_validate(a), 0);
}

static void test_remove(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *w[5];
	int i;

	for (i = 0; i < 5; i++) {
		w[i] = waiter(f, i, AG_CLASS_TRUSTED);
		assert_int_equal(gov_admit_enqueue(a, w[i], 10 + i, 1000 - i, 0), 0);
	}
	/* middle */
	gov_admit_remove(a, w[2], 20);
	expect_order(a, AG_CLASS_TRUSTED, (struct gov_waiter *[]){w[0], w[1], w[3], w[4]}, 4);
	assert_int_equal(w[2]->seq, 0);
	/* head */
	gov_admit_remove(a, w[0], 20);
	expect_order(a, AG_CLASS_TRUSTED, (struct gov_waiter *[]){w[1], w[3], w[4]}, 3);
	/* tail */
	gov_admit_remove(a, w[4], 20);
	expect_order(a, AG_CLASS_TRUSTED, (struct gov_waiter *[]){w[1], w[3]}, 2);
	/* twice: harmless */
	gov_admit_remove(a, w[4], 20);
	gov_admit_remove(a, NULL, 20);
	expect_order(a, AG_CLASS_TRUSTED, (struct gov_waiter *[]){w[1], w[3]}, 2);
	assert_int_equal(a->queued, 2);
	gov_admit_remove(a, w[3], 20);
	gov_admit_remove(a, w[1], 20);
	expect_order(a, AG_CLASS_TRUSTED, NULL, 0);
	assert_int_equal(a->q[AG_CLASS_TRUSTED].nonempty_since, -1);
	assert_null(gov_admit_first_expiry(a));
}

static void test_pop_expired_order(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *w1 = waiter(f, 1, AG_CLASS_CLEAN);
	struct gov_waiter *w2 = waiter(f, 2, AG_CLASS_DIRTY);
	struct gov_waiter *w3 = waiter(f, 3, AG_CLASS_TRUSTED);
	struct gov_waiter *w4 = waiter(f, 4, AG_CLASS_CLEAN);
	struct gov_waiter *w5 = waiter(f, 5, AG_CLASS_DIRTY);

	assert_int_equal(gov_admit_enqueue(a, w1, 0, 50, 0), 0);
	assert_int_equal(gov_admit_enqueue(a, w2, 0, 20, 0), 0);
	assert_int_equal(gov_admit_enqueue(a, w3, 0, 100000, 0), 0); /* CoDel: 100 */
	assert_int_equal(gov_admit_enqueue(a, w4, 1, 20, 0), 0);     /* ties with w2 */
	assert_int_equal(gov_admit_enqueue(a, w5, 2, 70, 0), 0);
	assert_ptr_equal(gov_admit_first_expiry(a), w2);
	assert_null(gov_admit_pop_expired(a, 19));
	assert_ptr_equal(gov_admit_pop_expired(a, 20), w2);
	assert_ptr_equal(gov_admit_pop_expired(a, 20), w4);
	assert_null(gov_admit_pop_expired(a, 20));
	assert_int_equal(gov_admit_validate(a), 0);
	assert_ptr_equal(gov_admit_first_expiry(a), w1);
	assert_ptr_equal(gov_admit_pop_expired(a, 1000), w1);
	assert_ptr_equal(gov_admit_pop_expired(a, 1000), w5);
	assert_ptr_equal(gov_admit_pop_expired(a, 1000), w3);
	assert_null(gov_admit_pop_expired(a, 1000));
	assert_int_equal(a->queued, 0);
	assert_int_equal(gov_admit_validate(a), 0);
}

static void test_reconfigure_keeps_counts(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *w1 = waiter(f, 1, AG_CLASS_CLEAN);
	struct gov_waiter *w2 = waiter(f, 2, AG_CLASS_DIRTY);

	fill(a, AG_CLASS_DIRTY, 6);
	fill(a, AG_CLASS_TRUSTED, 4);
	assert_int_equal(gov_admit_enqueue(a, w1, 10, 1000, 0), 0);
	assert_int_equal(gov_admit_enqueue(a, w2, 11, 1000, 0), 0);

	/* a lower limit than in flight: nothing revoked, nothing admitted */
	gov_admit_configure(a, 8, 25, 25, 1, 5, 100);
	assert_int_equal(a->limit, 8);
	assert_int_equal(a->inflight, 10);
	assert_int_equal(a->inflight_class[AG_CLASS_DIRTY], 6);
	assert_int_equal(a->inflight_class[AG_CLASS_TRUSTED], 4);
	assert_int_equal(a->queued, 2);
	assert_ptr_equal(a->q[AG_CLASS_CLEAN].head, w1);
	assert_ptr_equal(a->q[AG_CLASS_DIRTY].head, w2);
	assert_int_equal(gov_admit_slot_mask(a), 0u);
	assert_int_equal(gov_admit_acquire(a, AG_CLASS_TRUSTED), AG_ERR_FULL);
	assert_null(gov_admit_next(a, 20));
	/* the queue is over its new max: kept, but nobody joins */
	assert_int_equal(gov_admit_enqueue(a, waiter(f, 3, AG_CLASS_TRUSTED), 20, 1000, 0),
			 AG_ERR_FULL);
	assert_int_equal(gov_admit_validate(a), 0);

	/* releases bring it under the new ceilings: trusted 8, clean 6, failing 4 */
	gov_admit_release(a, AG_CLASS_DIRTY);
	gov_admit_release(a, AG_CLASS_DIRTY);
	gov_admit_release(a, AG_CLASS_DIRTY);
	assert_int_equal(gov_admit_slot_mask(a), 1u << AG_CLASS_TRUSTED);
	gov_admit_release(a, AG_CLASS_DIRTY);
	assert_int_equal(gov_admit_slot_mask(a), 1u << AG_CLASS_TRUSTED);
	assert_null(gov_admit_next(a, 20));
	gov_admit_release(a, AG_CLASS_DIRTY);
	assert_int_equal(a->inflight, 5);
	assert_int_equal(gov_admit_slot_mask(a), (1u << AG_CLASS_TRUSTED) | (1u << AG_CLASS_CLEAN));
	assert_ptr_equal(gov_admit_next(a, 20), w1);
	assert_int_equal(gov_admit_validate(a), 0);
}

/* xorshift64: deterministic, for the stress test. */
static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_heap_stress(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	const int n = 512;
	uint64_t s = 0x9e3779b97f4a7c15ull;
	int64_t now = 0;
	int op, i;

	gov_admit_init(a, 4, 25, 25, n, 5, 100);
	for (op = 0; op < 20000; op++) {
		uint64_t r = rng(&s);
		struct gov_waiter *first = NULL, *got;

		now += (int64_t)(r % 3);
		i = (int)((r >> 8) % (uint64_t)n);
		if ((r >> 40) % 8 < 5) {
			if (f->w[i].seq == 0) {
				f->w[i].klass = (int)((r >> 20) % AG_CLASS_COUNT);
				assert_int_equal(gov_admit_enqueue(a, &f->w[i], now,
								   now + (int64_t)((r >> 24) % 150),
								   UINT32_MAX),
						 0);
			}
		} else if ((r >> 40) % 8 < 7) {
			gov_admit_remove(a, &f->w[i], now);
		} else {
			got = gov_admit_pop_expired(a, now);
			if (got)
				assert_true(got->expire_ms <= now);
		}
		/* the heap root is the brute-force earliest */
		for (i = 0; i < n; i++)
			if (f->w[i].seq &&
			    (!first || f->w[i].expire_ms < first->expire_ms ||
			     (f->w[i].expire_ms == first->expire_ms && f->w[i].seq < first->seq)))
				first = &f->w[i];
		assert_ptr_equal(gov_admit_first_expiry(a), first);
		if (op % 64 == 0)
			assert_int_equal(gov_admit_validate(a), 0);
	}
	assert_int_equal(gov_admit_validate(a), 0);
	assert_true(a->queued > 0);
	while (gov_admit_pop_expired(a, INT64_MAX))
		;
	assert_int_equal(a->queued, 0);
	assert_int_equal(gov_admit_validate(a), 0);
}

static void test_validate_catches(void **state)
{
	struct fixture *f = *state;
	struct gov_admit *a = &f->a;
	struct gov_waiter *w1 = waiter(f, 1, AG_CLASS_CLEAN);
	struct gov_waiter *w2 = waiter(f, 2, AG_CLASS_CLEAN);

	assert_int_equal(gov_admit_enqueue(a, w1, 10, 50, 0), 0);
	assert_int_equal(gov_admit_enqueue(a, w2, 10, 40, 0), 0);
	assert_int_equal(gov_admit_validate(a), 0);
	/* break the heap order behind its back */
	w2->expire_ms = 60;
	assert_int_equal(gov_admit_validate(a), AG_ERR_INVAL);
	w2->expire_ms = 40;
	a->inflight = 3;
	assert_int_equal(gov_admit_validate(a), AG_ERR_INVAL);
	a->inflight = 0;
	a->q[AG_CLASS_CLEAN].len = 3;
	assert_int_equal(gov_admit_validate(a), AG_ERR_INVAL);
	a->q[AG_CLASS_CLEAN].len = 2;
	assert_int_equal(gov_admit_validate(a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reserves_16, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reserves_rounding, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_acquire_release, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slot_mask, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_then_lifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_codel_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_red, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_red_counts_own_class, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_next_priority, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_expired_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconfigure_keeps_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_heap_stress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validate_catches, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

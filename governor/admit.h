/* admit.h - rule 5, load shedding: host slots, three class queues, CoDel.
 *
 * Pure bookkeeping with no I/O, no allocation and no clock of its own (callers
 * pass the monotonic `now` in ms, never decreasing), so it is unit-tested on
 * its own.
 *
 * Slots: at most `limit` admitted, unreported attempts. trusted_reserve and
 * clean_reserve (percent of limit, rounded down) are kept back: a failing
 * source may use limit - tr - cr slots, a clean one limit - tr, a trusted pair
 * all. These are ceilings on the total in flight: class k takes a slot while
 * inflight < ceiling(k). Each class has a queue; a class's queue is FIFO until
 * it stands (not empty for codel_interval), then served newest first. A waiter
 * may wait codel_target while its queue stands, codel_interval otherwise, and
 * never past its own deadline. Random early drop applies to the failing class
 * only, as its queue fills.
 *
 * A waiter's expire_ms is fixed when it joins: waiters queued before their
 * queue started to stand keep the longer bound (they are served last under
 * LIFO anyway). All queued waiters also sit in one intrusive min-heap ordered
 * by (expire_ms, enqueue order), so the earliest expiry is found in O(1) and
 * every queue operation costs O(log queued) at worst.
 */
#ifndef GOV_ADMIT_H
#define GOV_ADMIT_H

#include <stdint.h>
#include "ag_wire.h"

/* Owned by the caller (usually embedded in its connection); must stay put
 * while queued. The fields below `owner` are admit.c's own. */
struct gov_waiter {
	struct gov_waiter *prev, *next; /* intrusive list; owned by the caller */
	int klass;
	int64_t enq_ms;	   /* when it joined */
	int64_t expire_ms; /* when it must be told "shed": min(deadline - margin, CoDel bound) */
	void *owner;	   /* caller's (the client connection) */
	struct gov_waiter *hparent, *hleft, *hright; /* expiry heap links */
	uint64_t seq;				     /* enqueue order; 0 when not queued */
};

struct gov_queue {
	struct gov_waiter *head, *tail; /* head is the oldest */
	int64_t len;
	int64_t nonempty_since; /* ms; -1 when empty */
};

struct gov_admit {
	int64_t limit;		    /* current max_inflight */
	int64_t tr_slots, cr_slots; /* reserves in slots */
	int64_t inflight;
	int64_t inflight_class[AG_CLASS_COUNT];
	int64_t max_queue, queued;
	int64_t codel_target_ms, codel_interval_ms;
	struct gov_queue q[AG_CLASS_COUNT];
	struct gov_waiter *hroot; /* expiry heap: earliest expire_ms */
	uint64_t next_seq;
};

/* Hard bound on max_queue (larger values are clamped), which keeps the random
 * early drop arithmetic inside 64 bits. */
#define GOV_ADMIT_QUEUE_MAX (INT64_C(1) << 30)

/* Sets limits (keeps counts and queues, so it also serves a reload). A limit
 * below inflight revokes nothing: new admissions wait until enough are
 * released. Bounds of waiters already queued are not changed. Percentages
 * are clamped to 0..100 and max_queue to 0..GOV_ADMIT_QUEUE_MAX; a limit
 * below 1 is taken as 1 (the trusted ceiling is the whole limit); reserves
 * adding up to more than the limit are cut, clean first, so that no ceiling
 * is negative. */
void gov_admit_configure(struct gov_admit *a, int64_t limit, int64_t trusted_reserve_pct,
			 int64_t clean_reserve_pct, int64_t max_queue, int64_t codel_target_ms,
			 int64_t codel_interval_ms);

/* Zeroes everything, then configures. */
void gov_admit_init(struct gov_admit *a, int64_t limit, int64_t trusted_reserve_pct,
		    int64_t clean_reserve_pct, int64_t max_queue, int64_t codel_target_ms,
		    int64_t codel_interval_ms);

/* The most slots (in total, all classes) that class k may see in flight:
 * limit, limit - tr, limit - tr - cr; 0 for an unknown class. */
int64_t gov_admit_ceiling(const struct gov_admit *a, int k);

/* Bit (1u << class) set for each class that may take a slot now. */
unsigned gov_admit_slot_mask(const struct gov_admit *a);

/* Takes a slot for an admitted attempt of class k (call after the store
 * admitted it with this mask). AG_ERR_FULL if the class has no slot,
 * AG_ERR_INVAL for an unknown class. */
int gov_admit_acquire(struct gov_admit *a, int k) __attribute__((warn_unused_result));

/* Gives a slot back (exactly once per acquire). An unknown class, or a class
 * with nothing in flight, is ignored (counts never go negative). */
void gov_admit_release(struct gov_admit *a, int k);

/* Queues w (class w->klass, w not queued) at now with deadline (ms, after
 * the margin). Returns 0, or AG_ERR_FULL when the queues hold max_queue
 * waiters or random early drop picked it (rnd is a uniform random 32-bit
 * number from the caller): the caller answers "shed"; AG_ERR_INVAL for an
 * unknown class. Sets w->enq_ms and w->expire_ms (which may be <= now when
 * the deadline has passed: pop_expired then returns it at once). */
int gov_admit_enqueue(struct gov_admit *a, struct gov_waiter *w, int64_t now, int64_t deadline,
		      uint32_t rnd) __attribute__((warn_unused_result));

/* Removes w from its queue (it was served, expired, or its client left).
 * A waiter that is not queued (w->seq == 0) is left alone, so removing twice
 * is harmless. */
void gov_admit_remove(struct gov_admit *a, struct gov_waiter *w, int64_t now);

/* The waiter to serve next, highest class first among classes with a free
 * slot, FIFO or LIFO as its queue stands; NULL if none. Does not remove it.
 * Call gov_admit_pop_expired first: this does not skip expired waiters. */
struct gov_waiter *gov_admit_next(struct gov_admit *a, int64_t now);

/* The waiter whose expire_ms is earliest (for the caller's timer); NULL if
 * none. O(1). */
struct gov_waiter *gov_admit_first_expiry(const struct gov_admit *a);

/* Removes and returns one waiter with expire_ms <= now, earliest first (ties
 * in enqueue order); NULL when none has expired. The caller answers "shed"
 * to each, calling this until NULL. O(log queued) each. */
struct gov_waiter *gov_admit_pop_expired(struct gov_admit *a, int64_t now);

/* 1 when class k's queue stands at now (not empty for codel_interval). */
int gov_admit_stands(const struct gov_admit *a, int k, int64_t now);

/* Checks every invariant (counts, list links, heap shape and order) by
 * walking everything: O(queued), for tests and debugging. 0 or AG_ERR_INVAL. */
int gov_admit_validate(const struct gov_admit *a) __attribute__((warn_unused_result));

#endif

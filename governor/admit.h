/* admit.h - rule 5, load shedding: host slots, three class queues, CoDel.
 *
 * Pure bookkeeping with no I/O and no clock of its own (callers pass the
 * monotonic `now` in ms), so it is unit-tested on its own.
 *
 * Slots: at most `limit` admitted, unreported attempts. trusted_reserve and
 * clean_reserve (percent of limit, rounded down) are kept back: a failing
 * source may use limit - tr - cr slots, a clean one limit - tr, a trusted pair
 * all. Each class has a queue; a class's queue is FIFO until it stands (not
 * empty for codel_interval), then served newest first. A waiter may wait
 * codel_target while its queue stands, codel_interval otherwise, and never
 * past its own deadline. Random early drop applies to the failing class only,
 * as its queue fills.
 */
#ifndef GOV_ADMIT_H
#define GOV_ADMIT_H

#include <stdint.h>
#include "ag_wire.h"

struct gov_waiter {
	struct gov_waiter *prev, *next; /* intrusive list; owned by the caller */
	int klass;
	int64_t enq_ms;       /* when it joined */
	int64_t expire_ms;    /* when it must be told "shed": min(deadline - margin, CoDel bound) */
	void *owner;          /* caller's (the client connection) */
};

struct gov_queue {
	struct gov_waiter *head, *tail;
	int64_t len;
	int64_t nonempty_since;   /* ms; -1 when empty */
};

struct gov_admit {
	int64_t limit;               /* current max_inflight */
	int64_t tr_slots, cr_slots;  /* reserves in slots */
	int64_t inflight;
	int64_t inflight_class[AG_CLASS_COUNT];
	int64_t max_queue, queued;
	int64_t codel_target_ms, codel_interval_ms;
	struct gov_queue q[AG_CLASS_COUNT];
};

/* Sets limits (keeps counts and queues, so it also serves a reload). */
void gov_admit_configure(struct gov_admit *a, int64_t limit, int64_t trusted_reserve_pct,
                         int64_t clean_reserve_pct, int64_t max_queue,
                         int64_t codel_target_ms, int64_t codel_interval_ms);

/* Zeroes everything, then configures. */
void gov_admit_init(struct gov_admit *a, int64_t limit, int64_t trusted_reserve_pct,
                    int64_t clean_reserve_pct, int64_t max_queue,
                    int64_t codel_target_ms, int64_t codel_interval_ms);

/* Bit (1u << class) set for each class that may take a slot now. */
unsigned gov_admit_slot_mask(const struct gov_admit *a);

/* Takes a slot for an admitted attempt of class k (call after the store
 * admitted it with this mask). AG_ERR_FULL if the class has no slot. */
int gov_admit_acquire(struct gov_admit *a, int k) __attribute__((warn_unused_result));

/* Gives a slot back (exactly once per acquire). */
void gov_admit_release(struct gov_admit *a, int k);

/* Queues w (class w->klass) at now with deadline (ms, after the margin).
 * Returns 0, or AG_ERR_FULL when the queues hold max_queue waiters or random
 * early drop picked it (rnd is a uniform random 32-bit number from the
 * caller): the caller answers "shed". Sets w->enq_ms and w->expire_ms. */
int gov_admit_enqueue(struct gov_admit *a, struct gov_waiter *w, int64_t now,
                      int64_t deadline, uint32_t rnd) __attribute__((warn_unused_result));

/* Removes w from its queue (it was served, expired, or its client left). */
void gov_admit_remove(struct gov_admit *a, struct gov_waiter *w, int64_t now);

/* The waiter to serve next, highest class first among classes with a free
 * slot, FIFO or LIFO as its queue stands; NULL if none. Does not remove it. */
struct gov_waiter *gov_admit_next(struct gov_admit *a, int64_t now);

/* The waiter whose expire_ms is earliest (for the caller's timer); NULL if none. */
struct gov_waiter *gov_admit_first_expiry(const struct gov_admit *a);

#endif

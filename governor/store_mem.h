/* store_mem.h - internals of the memory store, shared by its files:
 * store_mem.c (decide, report), store_trust.c (the trust table) and
 * store_admin.c (reset, describe, save, load). Not for other callers: they
 * use struct gov_store_ops.
 *
 * Two tables (table.h):
 * - main, bounded by max_tracked, keys "<kind><name>[\0<name>]":
 *   'P' user\0source  struct mem_pair  (rule 2; pinned once per attempt in flight)
 *   'S' source        struct mem_src   (rule 3)
 *   'A' aggregate     struct mem_agg   (the "clean" test)
 *   'U' user          struct mem_user  (rule 4: budgets, ucfail, cap)
 * - trust, written only by successes, keys:
 *   'T' user\0source  struct mem_trust (last success; on the user's list)
 *   'H' user          struct mem_thead (the user's trusted sources, newest
 *                     first; pinned once per member so it is never evicted)
 *   At most max_trusted 'T' entries and max_trusted_per_user per user, the
 *   least recently successful dropped first.
 */
#ifndef GOV_STORE_MEM_H
#define GOV_STORE_MEM_H

#include <stdint.h>
#include "ag_conf.h"
#include "gcra.h"
#include "store.h"
#include "table.h"

#define MEM_PART_MAX 300		      /* user or source, bytes */
#define MEM_KEY_MAX  (2 + 2 * MEM_PART_MAX)   /* kind + part + NUL + part */
#define MEM_DESCRIBE_TRUSTED 32 /* trusted sources listed for one user */
#define MEM_TIME_MAX INT64_C(100000000000000) /* ms; about year 5138 */

struct mem_pair {
	int64_t hold_until; /* ms; 0 = none */
	int64_t last_fail;  /* ms of the last failure; 0 = none */
	int64_t last_seen;  /* ms of the last admission or report */
	int32_t failures;   /* consecutive */
	int32_t inflight;   /* admitted, unreported; equals the entry's pins */
};

struct mem_src {
	struct gov_tat tat;
};

struct mem_agg {
	int64_t last_fail;
};

struct mem_user {
	struct gov_tat clean, failing; /* the two user_rate budgets */
	int64_t last_ufail;	       /* last untrusted failure */
	int64_t cap_until;
	int64_t ucfail; /* consecutive untrusted failures */
};

struct mem_trust {
	int64_t last_ok;
	struct gov_tent *head;		/* the user's 'H' entry */
	struct gov_tent *uprev, *unext; /* the user's list, newest first */
};

struct mem_thead {
	struct gov_tent *first, *last;
	int64_t count;
};

struct gov_mem {
	const struct ag_conf *conf; /* borrowed */
	struct gov_table *main;
	struct gov_table *trust;
	int64_t ntrusted; /* 'T' entries */
};

/* Builds the key kind + a [+ '\0' + b] into buf (MEM_KEY_MAX). 0 or
 * AG_ERR_INVAL (NULL or over MEM_PART_MAX). */
int gov_mem_key(char kind, const char *a, const char *b, char *buf, size_t *len)
    __attribute__((warn_unused_result));

/* The parts of an entry's key: kind, then a (alen bytes), then for pairs b
 * (NULL otherwise); borrowed from the entry, not NUL-terminated. */
struct gov_mem_kparts {
	char kind;
	const char *a, *b;
	size_t alen, blen;
};
void gov_mem_key_parts(const struct gov_tent *e, struct gov_mem_kparts *k);

/* The value of the entry kind + a [+ b], or NULL. Changes nothing. */
const void *gov_mem_peek(const struct gov_table *t, char kind, const char *a, const char *b);

/* The value as the rules see it at now: failures (and a hold) forgotten
 * failure_window after max(last_fail, hold_until); ucfail and the cap
 * likewise after max(last_ufail, cap_until). */
void gov_mem_pair_now(const struct ag_conf *c, struct mem_pair *p, int64_t now);
void gov_mem_user_now(const struct ag_conf *c, struct mem_user *u, int64_t now);

/* 1 when a main entry tells nothing any more at now (it may be dropped). */
int gov_mem_expired(const struct ag_conf *c, const struct gov_tent *e, int64_t now);

/* Drops up to n expired entries from the old end of the main table. */
void gov_mem_sweep(struct gov_mem *m, int64_t now, int n);

/* ---- store_trust.c ---- */

/* 1 if (user, source) succeeded within trust_ttl of now, else 0; *last_ok
 * (may be NULL) gets the time of that success. Changes nothing. */
int gov_mem_trusted(const struct gov_mem *m, const char *user, const char *source, int64_t now,
		    int64_t *last_ok);

/* Records a success of (user, source) at when: the pair becomes the user's
 * and the table's newest; the user's oldest beyond max_trusted_per_user and
 * the table's oldest beyond max_trusted are dropped. 0, AG_ERR_INVAL or
 * AG_ERR_NOMEM. */
int gov_mem_trust_put(struct gov_mem *m, const char *user, const char *source, int64_t when)
    __attribute__((warn_unused_result));

/* Drops one user's trust (source NULL: all of it), or everything (user NULL).
 * Returns how many trusted pairs were dropped. */
int64_t gov_mem_trust_drop(struct gov_mem *m, const char *user, const char *source);

/* Trusted sources of a user (expired ones included until swept). */
int64_t gov_mem_trust_count(const struct gov_mem *m, const char *user);

/* Calls fn for up to max of user's unexpired trusted sources, the most
 * recent success first, with the source key (NUL-terminated, valid during
 * the call) and its last success. Returns how many it called fn for. */
typedef void (*gov_mem_trust_fn)(const char *source, int64_t last_ok, void *arg);
int gov_mem_trust_each(const struct gov_mem *m, const char *user, int64_t now, int max,
		       gov_mem_trust_fn fn, void *arg);

/* Drops up to n expired trusted pairs from the old end. */
void gov_mem_trust_sweep(struct gov_mem *m, int64_t now, int n);

/* Enforces max_trusted and max_trusted_per_user (a reload lowered them),
 * dropping the oldest; sizes the trust table's bound. */
void gov_mem_trust_bound(struct gov_mem *m);

/* The trust table's bound for max_trusted pairs: a head per user at most. */
size_t gov_mem_trust_table_max(int64_t max_trusted);

/* ---- store_admin.c (reset, describe), store_memio.c (save, load) ---- */

/* The ops of the same names (struct gov_store_ops in store.h). */
int gov_mem_reset(void *ctx, int scope, const char *user, const char *source);
int gov_mem_describe(void *ctx, const char *user, const char *source, const char *agg, int64_t now,
		     char *buf, size_t cap);
int gov_mem_save(void *ctx, FILE *f, int64_t now);
int gov_mem_load(void *ctx, FILE *f, int64_t now);

#endif

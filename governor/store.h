/* store.h - where the decision rules' state lives, behind one interface.
 *
 * The store does not offer get/set: it applies rules 2-4 (backoff, source_rate,
 * user_rate/user_cap) and the trust/clean classification atomically, so that
 * the Redis store can do the same in one Lua script and a differential test can
 * hold both equal. Rule 1 (lists) and rule 5 (host slots, queues) stay in the
 * governor; the store is told which classes have a free host slot.
 *
 * Time: `now` is wall-clock ms (ag_wall_ms, or Redis TIME, or an injected test
 * clock) because holds and trust must survive a restart.
 */
#ifndef GOV_STORE_H
#define GOV_STORE_H

#include <stdint.h>
#include <stdio.h>
#include "ag_conf.h"
#include "ag_wire.h"

struct ag_cidr;

enum gov_rule {
	GOV_RULE_NONE = 0,
	GOV_RULE_DENYLIST,    /* "deny" */
	GOV_RULE_ALLOWLIST,   /* "allow" */
	GOV_RULE_BACKOFF,     /* "backoff" */
	GOV_RULE_SOURCE_RATE, /* "source_rate" */
	GOV_RULE_USER_RATE,   /* "user_rate" */
	GOV_RULE_USER_CAP,    /* "user_cap": user-wide hold for untrusted sources */
	GOV_RULE_SHED,        /* "shed" */
	GOV_RULE_COUNT,
};

/* "deny", "allow", "backoff", "source_rate", "user_rate", "user_cap", "shed",
 * "none"; never NULL. */
const char *gov_rule_name(int rule);

/* A normalised attempt as the rules see it. Strings are borrowed. */
struct gov_attempt {
	const char *user;      /* folded to lower case when fold_case */
	const char *source;    /* ag_source.key */
	const char *agg;       /* ag_source.agg */
	int allowlisted;       /* rule 1 matched an allow entry: skip rules 3-4, class clean */
	int user_socket;       /* came on the user socket: never creates trust, never
	                          touches user-wide state (user_rate, user_cap) */
	int64_t budget_ms;     /* what is left of the attempt's budget; 0 = none. A
	                          store that waits (Redis) waits no longer than this */
	const char *ticket;    /* a commit's id, the same in its report or take-back
	                          (GOV_TICKET_LEN hex digits); NULL = none. The Redis
	                          store counts an attempt in flight by it, so that
	                          nothing counts it out twice; memory ignores it */
};
#define GOV_TICKET_LEN 16

#define GOV_NOSLOT 4           /* verdict: allowed by the rules, but no host slot for its class
                                  (fleet_full set: the fleet's slots, fleet_max_inflight) */
#define GOV_MAX_STEPS 8
#define GOV_DETAIL_MAX 120

/* One rule's verdict, for explain. */
struct gov_step {
	int rule;                     /* enum gov_rule */
	int verdict;                  /* AG_V_ALLOW or AG_V_DENY; 0 = skipped */
	int64_t retry_ms;
	char detail[GOV_DETAIL_MAX];  /* "failures=4 hold_until=...", "skipped: trusted" */
};

struct gov_decision {
	int verdict;       /* AG_V_ALLOW, AG_V_DENY or GOV_NOSLOT */
	int rule;          /* the rule that denied; GOV_RULE_NONE when allowed */
	int64_t retry_ms;  /* > 0 when denied */
	int klass;         /* enum ag_class the attempt belongs to */
	int trusted;       /* the (user, source) pair is trusted */
	int fleet_full;    /* GOV_NOSLOT because the fleet's slots are taken */
	int nsteps;
	struct gov_step steps[GOV_MAX_STEPS];
};

enum gov_decide_mode {
	GOV_CHECK = 0,   /* explain / precheck: change nothing */
	GOV_COMMIT = 1,  /* admit if allowed and a slot is free: spend tokens, count a provisional failure */
};

/* Or'ed into the mode by PRECHECK and DECIDE: steps[].detail is left empty
 * (rule, verdict and retry_ms are still set). Only explain shows the detail,
 * and formatting it cost more than the rules themselves. */
#define GOV_TERSE 0x100

/* Internal outcome: the connection closed, or the lease ran out, without a report. */
#define GOV_OUT_ABANDON 5

/* Answers of a store that answers later (Redis). rc < 0: the store failed
 * (no decision; the report was not recorded). d is valid during the call. */
typedef void (*gov_store_decided)(void *arg, int rc, const struct gov_decision *d);
typedef void (*gov_store_reported)(void *arg, int rc, int64_t cleared);
/* text: the describe lines (valid during the call); rc < 0: none. */
typedef void (*gov_store_described)(void *arg, int rc, const char *text);
/* rc: 0 (cleared), AG_ERR_NOTFOUND (nothing to clear) or another error. */
typedef void (*gov_store_resetted)(void *arg, int rc);

enum gov_reset_scope { GOV_RESET_USER = 1, GOV_RESET_SOURCE, GOV_RESET_PAIR, GOV_RESET_ALL };

struct gov_store_ops {
	const char *name;
	/* Applies rules 2-4 to *at at time now. In GOV_COMMIT mode, when every
	 * rule allows and bit (1u << klass) of slot_mask is set, spends the rate
	 * tokens and counts a provisional failure on the pair (verdict ALLOW);
	 * when the rules allow but the class has no slot, verdict GOV_NOSLOT and
	 * nothing changes; a denial changes nothing. GOV_CHECK never changes
	 * anything. mode may carry GOV_TERSE. *out is cleared first. Returns 0
	 * or an AG_ERR_* code (the store failed: no decision). */
	int (*decide)(void *ctx, const struct gov_attempt *at, int64_t now, int mode,
	              unsigned slot_mask, struct gov_decision *out);
	/* Applies the outcome (enum ag_outcome or GOV_OUT_ABANDON) of an attempt
	 * that decide() admitted. jitter_pm in [-200, 200] (permille) is applied to
	 * a new backoff or cap hold. AG_OUT_PASS changes nothing in the store.
	 * *cleared (may be NULL) gets, for a success, the pair's failures it
	 * cleared (the governor logs a success after failures), else 0. */
	int (*report)(void *ctx, const struct gov_attempt *at, int outcome, int64_t now, int jitter_pm,
	              int64_t *cleared);
	/* An asynchronous store (Redis) sets these two and leaves decide and
	 * report NULL. Same rules as decide and report, but the answer comes
	 * through done, exactly once, from the event loop after the call has
	 * returned; also when the store is destroyed first (rc AG_ERR_CLOSED).
	 * The attempt's strings are copied. Returns 0, or an AG_ERR_* code when
	 * nothing was started (done is then never called). done may be NULL
	 * for report_async. */
	int (*decide_async)(void *ctx, const struct gov_attempt *at, int64_t now, int mode,
			    unsigned slot_mask, gov_store_decided done, void *arg);
	int (*report_async)(void *ctx, const struct gov_attempt *at, int outcome, int64_t now,
			    int jitter_pm, gov_store_reported done, void *arg);
	/* describe for a store that answers later; done is called once,
	 * possibly before it returns. 0 or an AG_ERR_* code (done not called). */
	int (*describe_async)(void *ctx, const char *user, const char *source, const char *agg,
			      int64_t now, gov_store_described done, void *arg);
	/* reset for a store that answers later: the same scopes, agg being
	 * the source's aggregate netblock (may be NULL); done is called once,
	 * possibly before it returns. Returns 0 or an AG_ERR_* code (nothing
	 * started, done not called). */
	int (*reset_async)(void *ctx, int scope, const char *user, const char *source,
			   const char *agg, gov_store_resetted done, void *arg);
	/* Clears state: a user (failures, rates, cap, trust), a source (rate,
	 * failures of its pairs and aggregate), a pair (backoff, trust), or all.
	 * AG_ERR_NOTFOUND when there was nothing to clear. */
	int (*reset)(void *ctx, int scope, const char *user, const char *source);
	/* Writes a human-readable key=value description of what is stored for a
	 * user, a source or a pair into buf (for explain/show). */
	int (*describe)(void *ctx, const char *user, const char *source, const char *agg,
	                int64_t now, char *buf, size_t cap);
	/* Writes the store's entries to f / reads them back (statefile.c owns the
	 * file, its header and its atomic replacement); NULL when the store keeps
	 * its state elsewhere (Redis). load drops entries expired by now. The
	 * section ends with a line "end N" (N: the lines before it); load reads
	 * through that line and no further, into an empty store (else
	 * AG_ERR_INVAL), all or nothing: AG_ERR_PROTO when the section does not
	 * parse, and then nothing was loaded. Attempts in flight are not saved. */
	int (*save)(void *ctx, FILE *f, int64_t now);
	int (*load)(void *ctx, FILE *f, int64_t now);
	/* Counts for status: tracked entries, trusted pairs. */
	void (*counts)(void *ctx, int64_t *tracked, int64_t *trusted);
	/* The store's health as a fixed word ("ok", "degraded", "down") for
	 * status and metrics, and since when (wall ms; 0 = since start). NULL
	 * for a store that cannot fail (memory): always "ok". */
	const char *(*state)(void *ctx, int64_t *since_ms);
	/* Shares a runtime list change with the other hosts (the Redis store;
	 * NULL for a store of one host). 0, or AG_ERR_CONNECT when it could
	 * not (the change holds on this host only). */
	int (*list_add)(void *ctx, int kind, const struct ag_cidr *cidr, int64_t expires_ms,
			const char *comment);
	int (*list_remove)(void *ctx, const struct ag_cidr *cidr);
	/* Forgets what the store remembers of its own answers (the Redis
	 * store's negative cache): the lists changed. NULL when nothing is. */
	void (*flush)(void *ctx);
	void (*destroy)(void *ctx);
};

struct gov_store {
	const struct gov_store_ops *ops;
	void *ctx;
};

/* Creates the memory store from the [limits] and [store] options (the conf
 * is borrowed and must outlive the store; on reload call gov_store_mem_reconf). */
int gov_store_mem_new(const struct ag_conf *conf, struct gov_store *out)
	__attribute__((warn_unused_result));
void gov_store_mem_reconf(struct gov_store *s, const struct ag_conf *conf);

/* What a memory store learnt that another store should know: a pair's
 * failures and hold, a user's untrusted failures and cap, a netblock's last
 * failure. kind 'P' (a = user, b = source), 'U' (a = user) or 'A'
 * (a = aggregate netblock); count, until (ms, 0 = none) and last (the last
 * failure, ms). */
struct gov_mem_fact {
	char kind;
	const char *a, *b;
	int64_t count, until, last;
};
typedef void (*gov_mem_fact_fn)(void *arg, const struct gov_mem_fact *f);

/* Calls fn for each entry of the memory store s with a failure at or after
 * since, or a hold or cap still running at now; at most max of them.
 * Returns how many. (The Redis store merges what its degraded-mode store
 * learnt back into Redis with it.) */
int64_t gov_store_mem_facts(struct gov_store *s, int64_t since, int64_t now, int64_t max,
			    gov_mem_fact_fn fn, void *arg);

/* The store's state word ("ok" when it has no state op) and since when
 * (wall ms, 0 = since start). */
const char *gov_store_state(const struct gov_store *s, int64_t *since_ms);

/* decide (or decide_async) for every kind of store: done is called once,
 * inline for a store that answers at once, later for one that does not.
 * Returns 0, or an AG_ERR_* code when nothing was started (done is not
 * called). Callers make this their last step: done may have run, and freed
 * what arg points to, by the time it returns. */
int gov_store_decide(struct gov_store *s, const struct gov_attempt *at, int64_t now, int mode,
		     unsigned slot_mask, gov_store_decided done, void *arg);

/* report (or report_async) likewise; done may be NULL. */
int gov_store_report(struct gov_store *s, const struct gov_attempt *at, int outcome, int64_t now,
		     int jitter_pm, gov_store_reported done, void *arg);

/* describe (or describe_async) likewise. */
int gov_store_describe(struct gov_store *s, const char *user, const char *source, const char *agg,
		       int64_t now, gov_store_described done, void *arg);

/* reset (or reset_async) likewise. */
int gov_store_reset(struct gov_store *s, int scope, const char *user, const char *source,
		    const char *agg, gov_store_resetted done, void *arg);

/* 1 when the store answers later (decide_async). */
int gov_store_is_async(const struct gov_store *s);

/* A time field of a describe line, as every store writes it: " NAME=-"
 * (when <= 0), " NAME_in=Nms" or " NAME_ago=Nms" relative to now. Returns
 * the length written ("" and 0 when it does not fit cap). */
size_t gov_store_when(char *b, size_t cap, const char *name, int64_t when, int64_t now);

/* Calls destroy; NULL-safe. */
void gov_store_free(struct gov_store *s);

#endif

/* rds.h - the Redis store's parts (internal to store_redis.c, rds_conn.c,
 * rds_sentinel.c, rds_neg.c and rds_admin.c): its context, a request, and
 * what each file offers the others.
 */
#ifndef GOV_RDS_H
#define GOV_RDS_H

#include <stdint.h>
#include <hiredis/async.h>
#include "ag_conf.h"
#include "ag_fleetkey.h"
#include "ag_redis_url.h"
#include "store.h"
#include "table.h"

struct event;
struct event_base;
struct rds_hcache;

#define RDS_RETRY_MS	     1000 /* between connection attempts */
#define RDS_CONNECT_MS	     2000 /* a connection (and its setup) must be ready by then */
#define RDS_TIMEOUTS_TO_DROP 3	  /* commands past their budget in a row: reconnect */
#define RDS_KEY_MAX	     (32 + 1 + 2 * AG_FLEETKEY_HASH_LEN + 1)
#define RDS_ARGS	     20
#define RDS_V_FLEET	     5 /* decide's verdict: fleet_max_inflight reached */
#define RDS_DECIDE_REPLY     31
#define RDS_LOG_EVERY_MS     10000 /* one line per kind of trouble per 10 s */
#define RDS_TAKEBACK_MAX     1024 /* commits waiting to be taken back */
#define RDS_MERGE_MAX	     4096 /* entries merged into Redis after an outage */
#define RDS_MERGE_BATCH	     256  /* ... commands in flight at a time */
#define RDS_TAKEBACK_DELAY_MS 3000 /* ... sent this long after the store is ready */
#define RDS_NEG_MAX	     65536 /* pairs in the negative cache */
#define RDS_NEG_MAX_MS	     30000 /* a cached denial lasts at most this: a pair trusted
				      on another host meanwhile is held here no longer */
#define RDS_SENTINELS_MAX    8	  /* as many as [store] redis_sentinels takes */
#define RDS_SENTINEL_MS	     500  /* one Sentinel's answer (connect included) */
#define RDS_MASTER_NAME_MAX  65	  /* redis_master_name, with its NUL */

enum { RDS_DOWN = 0, RDS_CONNECTING, RDS_READY };
enum { RQ_DECIDE = 1, RQ_REPORT, RQ_TAKEBACK };

struct rds_req;

/* A TCP address: an IP literal (never a host name: hiredis 0.14 would
 * resolve it with a blocking call) and a port. */
struct rds_addr {
	char host[AG_REDIS_HOST_MAX];
	unsigned port;
};

struct rds {
	const struct ag_conf *conf; /* borrowed */
	struct ag_conf local_conf;  /* conf's limits at 1/fleet_size: degraded mode */
	struct gov_store local;
	struct event_base *base;
	struct ag_redis_url url;
	char password[AG_REDIS_CRED_MAX];
	struct ag_fleetkey key;
	char fp[AG_FLEETKEY_FP_LEN + 1];
	char fp_key[RDS_KEY_MAX];
	char prefix[33]; /* key_prefix at start: a reload does not move the keys */
	struct rds_hcache *hc; /* names' hashes (rds_hash.c) */
	redisAsyncContext *ac; /* NULL when not connected */
	int state;
	int refused;	       /* another fleet key is in Redis: never ready */
	int setup_failed;      /* a setup step failed on this connection */
	int64_t state_since;   /* wall ms */
	char fn[32];	       /* the rules' function: authguard_ + 16 hex of their digest */
	char *lib;	       /* the library FUNCTION LOAD sends (rds_lib_init) */
	struct event *retry;   /* reconnect */
	struct event *connect; /* connect + setup deadline */
	int64_t pending;       /* commands in flight */
	int timeouts;	       /* in a row */
	int closing;
	struct rds_req *reqs; /* in flight, for destroy */
	char confcsv[400];
	char fleetcsv[72]; /* fleet_max_inflight's ceilings: trusted, clean, failing */
	int64_t last_log_ms;
	struct gov_table *neg; /* the negative cache: pair -> struct neg */
	redisAsyncContext *sub; /* SUBSCRIBE PREFIXevents: other hosts' resets */
	struct gov_lists *lists; /* the governor's, for the fleet's runtime entries */
	struct rds_req *tb;	 /* commits to take back once Redis is back */
	int64_t outage_since;	 /* wall ms of the first attempt decided here alone
				    since the last complete merge; 0 = none */
	struct merge *merge;	 /* rds_merge.c: in progress, or NULL */
	void (*on_free)(void *arg); /* a fleet slot was released somewhere */
	void *on_free_arg;
	int ntb;
	struct event *tb_timer; /* sends them RDS_TAKEBACK_DELAY_MS after ready */
	struct event *sub_retry;
	uint64_t neg_hits;
	/* Where the main and event connections go: the URL's address (its
	 * Unix socket when master.host is ""), then what the Sentinels say. */
	struct rds_addr master;
	/* Sentinel (rds_sentinel.c); nsent 0: none, the URL's Redis is it. */
	struct rds_addr sent[RDS_SENTINELS_MAX];
	int nsent;
	char master_name[RDS_MASTER_NAME_MAX];
	int master_named;	 /* a Sentinel has named the master once */
	int asked;		 /* this connection attempt's asking is done */
	int ask_then_connect;	 /* rds_conn_start waits for the answer */
	redisAsyncContext *sq;	 /* asking Sentinel sq_at, NULL when not */
	int sq_at;
	int sq_tried;		 /* Sentinels asked in this round */
	struct event *sq_timer;	 /* its deadline (RDS_SENTINEL_MS) */
	redisAsyncContext *ss;	 /* subscribed to +switch-master at Sentinel ss_at */
	int ss_at;
	int ss_ok;		 /* ... and the subscription is confirmed */
	struct event *ss_timer;	 /* its deadline, then its retry */
	int64_t sent_log_ms;	 /* the Sentinels' trouble, logged apart (see rds_trouble) */
};

/* A pair's backoff hold remembered until it ends (at most RDS_NEG_MAX_MS):
 * the same pair asking again before then is denied without asking Redis. */
struct neg {
	int64_t until;	 /* the hold's end (the request clock's ms) */
	int64_t expires; /* the entry's end: until, or sooner */
	int rule, klass;
};

struct rds_req {
	struct rds *r;
	struct rds_req *prev, *next;
	struct event *timer;
	int op;
	int answered; /* the governor has its answer (timer, or local) */
	int retried;  /* "Function not found": loaded and sent again */
	gov_store_decided ddone;
	gov_store_reported rdone;
	void *arg;
	struct gov_attempt at; /* points into the copies below */
	char user[AG_SOURCE_MAX + 64], source[AG_SOURCE_MAX], agg[AG_SOURCE_MAX];
	int has_agg;
	int64_t now;
	int64_t wait_ms; /* min(redis_timeout, the attempt's budget) */
	int mode, outcome, jitter;
	unsigned mask;
	char ticket[GOV_TICKET_LEN + 1]; /* "" = none */
};

/* ---- rds_hash.c: names' keyed hashes, cached ---- */

/* The cache: 0 or AG_ERR_NOMEM. rds_hash_free wipes and frees it (NULL
 * allowed). */
int rds_hash_init(struct rds *r);
void rds_hash_free(struct rds *r);
/* out = ag_fleetkey_hash(fleet key, domain, name), from the cache when
 * it has it. */
void rds_hash(struct rds *r, char domain, const char *name, char out[AG_FLEETKEY_HASH_LEN + 1]);

/* ---- rds_ev.c: hiredis on the loop ---- */

/* Attaches ac to base (rds_ev.c says how it differs from hiredis's own
 * adapter). REDIS_OK, or REDIS_ERR (out of memory, or already attached). */
int rds_ev_attach(redisAsyncContext *ac, struct event_base *base);
/* A connection on base, connecting without a blocking call: to host:port
 * (an IP address), or to the Unix socket path when host is "". *out gets
 * it, with data and the callbacks (down may be NULL). 0, or AG_ERR_NOMEM or
 * AG_ERR_CONNECT with why (whylen bytes) saying what failed. */
int rds_open(struct event_base *base, const char *host, unsigned port, const char *path,
	     void *data, redisConnectCallback *up, redisDisconnectCallback *down,
	     redisAsyncContext **out, char *why, size_t whylen);

/* ---- rds_conn.c: the connections ---- */

/* The state changes, logged once per change. */
void rds_set_state(struct rds *r, int state, const char *why);
/* A kind of trouble, logged at most once per RDS_LOG_EVERY_MS. */
void rds_trouble(struct rds *r, const char *what, const char *detail);
/* Names and builds the rules' library, reads the Sentinels
 * (rds_sentinel_init), creates the timers. 0, AG_ERR_NOMEM or
 * AG_ERR_CONFIG. */
int rds_conn_init(struct rds *r);
/* Sends FUNCTION LOAD of the rules on the main connection (after Redis
 * said "Function not found"). 0, or AG_ERR_IO. */
int rds_lib_load(struct rds *r);
/* Connects to the master (setup pipelined; ready when it all answered),
 * asking the Sentinels first when there are some, or retries later. */
void rds_conn_start(struct rds *r);
/* Drops the connection: pending commands are answered locally; a new one
 * is tried after RDS_RETRY_MS. */
void rds_conn_drop(struct rds *r, const char *why);
/* Subscribes to PREFIXevents on a connection of its own. */
void rds_sub_start(struct rds *r);
/* Closes the PREFIXevents connection (the master moved); a new one is
 * made after RDS_RETRY_MS, to the master's new address. */
void rds_sub_drop(struct rds *r);
/* Closes the connections (pending callbacks run: AG_ERR_CLOSED), the
 * Sentinels' too, and frees the timers. */
void rds_conn_free(struct rds *r);

/* ---- rds_sentinel.c: finding and following the master ---- */

/* Parses conf->redis_sentinels and redis_master_name, takes the URL's
 * address as the master's, creates the timers. 0, AG_ERR_CONFIG (logged:
 * an entry ag_conf let through but that does not parse) or AG_ERR_NOMEM. */
int rds_sentinel_init(struct rds *r) __attribute__((warn_unused_result));
/* Subscribes to +switch-master at one Sentinel (none configured: nothing). */
void rds_sentinel_start(struct rds *r);
/* Asks the Sentinels in turn for the master's address; when one answers
 * (or none does: the last known address stays), sets r->asked and calls
 * rds_conn_start. Never blocks. */
void rds_sentinel_ask(struct rds *r);
/* 1 when rep is a -READONLY error (the Redis behind ac became a replica: a
 * failover), after dropping the main connection if ac is it; else 0. */
int rds_readonly(struct rds *r, const redisAsyncContext *ac, const redisReply *rep);
/* Closes the Sentinel connections (no callback runs) and frees the timers. */
void rds_sentinel_free(struct rds *r);

/* ---- store_redis.c ---- */

/* Sends the commits queued to be taken back (on ready). */
void rds_take_back_flush(struct rds *r);

/* A key: PREFIX, kind, then one or two hashes (h2 may be NULL). */
void rds_key(char *b, const struct rds *r, char kind, const char *h1, const char *h2);

/* An attempt's keys, as the script takes them (KEYS P S A U H G), and the
 * hashes they are made of. */
struct rds_keys {
	char hu[AG_FLEETKEY_HASH_LEN + 1], hs[AG_FLEETKEY_HASH_LEN + 1];
	char p[RDS_KEY_MAX], s[RDS_KEY_MAX], a[RDS_KEY_MAX], u[RDS_KEY_MAX], h[RDS_KEY_MAX];
	char g[RDS_KEY_MAX];
	char f[RDS_KEY_MAX]; /* attempts in flight: tickets (rules.lua) */
};

/* The keys of (user, source, agg): a NULL user or source hashes as "" (a
 * name never used: the script still needs a key), a NULL or empty agg makes
 * the source its own aggregate. */
void rds_keys(struct rds *r, const char *user, const char *source, const char *agg,
	      struct rds_keys *k);

/* ---- rds_neg.c: the negative cache ---- */

/* 1 with *d filled when the pair has a cached hold at now. */
int rds_neg_hit(struct rds *r, const struct gov_attempt *at, int64_t now, struct gov_decision *d);
/* Remembers a denial (the caller checked it may be cached). */
void rds_neg_put(struct rds *r, const struct gov_attempt *at, const struct gov_decision *d,
		 int64_t now);
void rds_neg_drop(struct rds *r, const struct gov_attempt *at);
void rds_neg_flush(struct rds *r);

/* ---- rds_lists.c: the fleet's allow and deny lists ---- */

struct ag_cidr;
struct gov_lists;
int rds_lists_add(void *ctx, int kind, const struct ag_cidr *cidr, int64_t expires_ms,
		  const char *comment);
int rds_lists_remove(void *ctx, const struct ag_cidr *cidr);
/* Reads the fleet's entries into the governor's lists (on ready, and when
 * another governor announces a change). */
void rds_lists_pull(struct rds *r);

/* ---- rds_admin.c: describe and reset, in Redis ---- */

int rds_admin_describe(void *ctx, const char *user, const char *source, const char *agg,
		       int64_t now, gov_store_described done, void *arg);
int rds_admin_reset(void *ctx, int scope, const char *user, const char *source, const char *agg,
		    gov_store_resetted done, void *arg);

/* ---- rds_merge.c: what this host learnt alone, into Redis ---- */

/* Redis is ready after an outage (outage_since set): merges the local
 * store's holds, caps and failures since then (rules.lua "merge"). */
void rds_merge_start(struct rds *r);
/* Drops a merge in progress (the store is closing). */
void rds_merge_free(struct rds *r);

#endif

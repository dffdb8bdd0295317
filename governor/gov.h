/* gov.h - the governor's context: one struct passed to every part of the
 * daemon (no globals but a pointer for the signal callbacks).
 *
 * Ownership: struct gov owns its conf (replaced whole on reload), the event
 * base, both listeners, every client connection (and through them every
 * admission and queued request), the store and the lists.
 */
#ifndef GOV_GOV_H
#define GOV_GOV_H

#include <stdint.h>
#include <sys/types.h>
#include "ag_conf.h"
#include "adaptive.h"
#include "admit.h"
#include "lists.h"
#include "metrics.h"
#include "top.h"
#include "store.h"

struct event;
struct event_base;
struct gov_http;
struct gov;
struct gov_client;

#define GOV_IDENT	"authguard-governor"
#define GOV_BACKLOG	4096 /* the kernel caps it at net.core.somaxconn */
#define GOV_FLEET_POLL_MS 50 /* fleet_max_inflight reached: ask again this often */
#define GOV_LAT_BUCKETS 32 /* bucket i holds latencies in [2^i, 2^(i+1)) us; 0 holds 0 too */
#define GOV_UID_BUCKETS 256
#define GOV_CORK_MAX	16384 /* replies gathered for one send (client.c) */
#define GOV_STORE_OPS	3     /* enum gov_store_op */

/* One listening socket. */
struct gov_listener {
	struct gov *g;
	int fd;			 /* -1 when closed */
	int user_socket;	 /* 1: the unprivileged socket */
	char *path;		 /* owned; the file we created, removed on exit */
	struct event *ev;	 /* EV_READ|EV_PERSIST on fd */
	struct event *ev_resume; /* re-enables ev after running out of fds */
};

/* Per-uid usage of the user socket. Entries live while either count is > 0. */
struct gov_uid {
	struct gov_uid *next;
	uid_t uid;
	int64_t conns;
	int64_t admissions;
};

/* Counters shown by "status"; they only grow. */
struct gov_stats {
	uint64_t allowed, shed, queued, proto_errors, abandoned;
	uint64_t fleet_full;		   /* NOSLOT for fleet_max_inflight (Redis) */
	uint64_t refused;		   /* connections refused at max_clients */
	uint64_t refused_logged;	   /* refused as of the last summary line */
	int64_t proto_window_ms;	   /* start of the window for protocol-error lines */
	uint64_t proto_in_window;	   /* protocol errors in that window */
	uint64_t denied[GOV_RULE_COUNT];   /* by enum gov_rule */
	uint64_t reports[AG_OUT_PASS + 1]; /* by enum ag_outcome */
	uint64_t lat[GOV_LAT_BUCKETS];	   /* DECIDE receipt to final verdict, us */
	uint64_t lat_n;
	uint64_t lat_sum_us; /* sum of the recorded latencies, us */
	uint64_t allowed_by[AG_CLASS_COUNT];		     /* admissions by class */
	uint64_t queued_by[AG_CLASS_COUNT];		     /* QUEUED answers by class */
	uint64_t reports_by[AG_CLASS_COUNT][AG_OUT_PASS + 1]; /* outcomes by the admission's class */
	uint64_t abandoned_by[AG_CLASS_COUNT];
	uint64_t store_errors[GOV_STORE_OPS]; /* by enum gov_store_op */
};

/* What the store was asked when it failed (the store_errors counters). */
enum gov_store_op { GOV_STORE_DECIDE = 0, GOV_STORE_PRECHECK, GOV_STORE_REPORT };

/* Final DECIDE verdicts (allowed, denied, shed) at the end of each second of
 * the last minute, for "requests/s over the last minute" (loop.c). */
#define GOV_RATE_SECONDS 60
struct gov_rate {
	uint64_t total[GOV_RATE_SECONDS + 1]; /* ring, one sample a second */
	int next;			      /* where the next sample goes */
	int n;				      /* samples taken, up to the ring's size */
};

/* Replies to the client whose input is being handled, gathered so that a
 * batch of pipelined requests costs one send and one wake-up of the peer
 * (client.c). */
struct gov_cork {
	struct gov_client *c; /* the corked client; NULL: none */
	size_t len;
	int64_t recv_us;   /* when the batch's frames were read */
	uint64_t answered; /* DECIDEs of the batch answered: latency taken at the send */
	uint8_t buf[GOV_CORK_MAX];
};

struct gov {
	struct ag_conf *conf; /* owned; replaced on reload */
	char *conf_path;      /* owned */
	int foreground;

	struct event_base *base;
	struct gov_listener lis[2]; /* [0] privileged, [1] user socket (fd -1 when off) */

	/* Client connections, least recently active first. Closed clients stay
	 * in the list, marked dead, until the reaper frees them, so that loops
	 * over the list survive a close in the middle. */
	struct gov_client *head, *tail;
	int64_t nclients;	 /* live (not dead) clients */
	struct gov_client *reap; /* dead clients waiting to be freed */
	struct event *ev_reap;

	struct gov_uid *uids[GOV_UID_BUCKETS];

	struct gov_admit admit;	 /* rule 5, privileged socket */
	struct gov_adaptive adapt; /* its limit: fixed, or learnt (max_inflight = auto) */
	int64_t user_inflight;	 /* slots taken from the user socket's pool (user_slots) */
	struct event *ev_expire; /* earliest queued waiter's expire_ms */
	/* fleet_max_inflight reached: the queues wait (serve does nothing)
	 * until a "free" message (a release on any host), or ev_fleet
	 * (GOV_FLEET_POLL_MS) asks again. */
	int fleet_full;
	struct event *ev_fleet;
	int serving;		 /* gov_attempt_serve is running (no re-entry) */
	int64_t deciding;	 /* waiters taken from a queue whose store answer is awaited */

	struct gov_store store;
	struct gov_lists *lists;

	struct event *ev_house;	   /* 1 s housekeeping */
	struct event *ev_state;	   /* every state_interval */
	struct event *ev_watchdog; /* systemd watchdog, when enabled */
	struct event *ev_sig[3];   /* SIGHUP, SIGTERM, SIGINT */
	int64_t state_interval_ms; /* what ev_state is armed with */

	struct gov_stats stats;
	struct gov_rate rate;
	struct gov_top top_src, top_user; /* denials and failures since start or reset all */
	struct gov_cork cork;
	int64_t start_mono_ms;
	int64_t start_wall_ms; /* for authguard_start_time_seconds */
	struct gov_http *http; /* GET /metrics on metrics_listen (metrics_http.c); NULL when off */
	int stopping;	       /* SIGTERM seen: admissions are dropped without a report */
	pid_t saver;	       /* the child writing the periodic state save, 0 if none */
};

/* ---- loop.c ---- */

/* Sets up *g (zeroed by the caller) around conf (ownership passes to g, also
 * on failure): event base, store, lists, saved state, both sockets, timers and
 * signals. conf_path is copied (for reloads). Returns 0, or an AG_ERR_* code
 * after logging why; gov_free() is still needed. */
int gov_init(struct gov *g, struct ag_conf *conf, const char *conf_path, int foreground)
    __attribute__((warn_unused_result));

/* Runs the event loop until SIGTERM/SIGINT, then answers waiters, saves the
 * state and removes the sockets. Returns 0 or an AG_ERR_* code. */
int gov_run(struct gov *g) __attribute__((warn_unused_result));

/* Frees everything *g owns; NULL and a half-initialised g are fine. */
void gov_free(struct gov *g);

/* Reads the config file again, as on SIGHUP; a bad file changes nothing.
 * Returns 0 (taken) or an AG_ERR_* code (AG_ERR_CONFIG, AG_ERR_NOTFOUND,
 * AG_ERR_NOMEM) with why in err (file:line where known; never NULL). */
int gov_reload(struct gov *g, char *err, size_t errlen);

/* Arms t to fire after ms milliseconds (>= 0). */
void gov_timer_ms(struct event *t, int64_t ms);

/* Final DECIDE verdicts given so far: allowed + denied + shed. */
uint64_t gov_stats_decisions(const struct gov *g);

/* Final DECIDE verdicts per second over the last minute (or since start,
 * when the governor is younger), in thousandths; 0 before the first second. */
int64_t gov_stats_rate_milli(const struct gov *g);

/* Records n DECIDE latencies of us each in the histogram. */
void gov_stats_latency(struct gov *g, int64_t us, uint64_t n);

/* The latency (us, bucket upper bound) below which permille/1000 of the
 * recorded DECIDEs fall; 0 when none was recorded. */
int64_t gov_stats_quantile(const struct gov *g, int permille);

/* ---- listen.c ---- */

/* Opens a listening socket at path (user_socket: mode 0666, else 0600),
 * creating its parent directory (0755) if missing and removing a stale
 * socket; refuses (AG_ERR_BUSY) when a live governor answers there. Logs why
 * it failed. The listener is not yet added to the loop. */
int gov_listen_open(struct gov *g, struct gov_listener *l, const char *path, int user_socket)
    __attribute__((warn_unused_result));

/* Starts accepting on an open listener. 0 or AG_ERR_NOMEM. */
int gov_listen_start(struct gov_listener *l) __attribute__((warn_unused_result));

/* Stops accepting and closes the socket; with unlink_path, removes its file.
 * Safe on a closed listener. */
void gov_listen_close(struct gov_listener *l, int unlink_path);

/* Sets the socket file's mtime to now: the heartbeat the module reads when
 * an answer is late (AG_HEARTBEAT_MS). Safe on a closed listener. */
void gov_listen_heartbeat(struct gov_listener *l);

/* ---- per-uid counts (client.c) ---- */

/* The entry for uid, created when create is set; NULL when absent (or out of
 * memory). */
struct gov_uid *gov_uid_get(struct gov *g, uid_t uid, int create);

/* Frees the entry of uid if both counts are zero. */
void gov_uid_put(struct gov *g, uid_t uid);

#endif

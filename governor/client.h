/* client.h - one connection to the governor, its admissions and its queued
 * request; the handlers that client.c dispatches to (attempt.c, admin.c).
 *
 * A connection is PAM traffic (DECIDE, PRECHECK, REPORT) or admin traffic
 * (ADMIN), never both. An admission belongs to the connection that obtained
 * it; closing the connection releases it as abandoned.
 */
#ifndef GOV_CLIENT_H
#define GOV_CLIENT_H

#include <stdint.h>
#include <sys/types.h>
#include "ag_addr.h"
#include "ag_wire.h"
#include "admit.h"
#include "gov.h"

/* Replies a client may leave unread. Frames are not taken from a client
 * while replies wait, so a pipelining client that reads stays under it: at
 * most a batch's replies (GOV_CORK_MAX) plus one request's (an admin reply:
 * 16 KB of text and its frame headers) plus a late verdict. */
#define GOV_OUT_MAX	      (GOV_CORK_MAX + 6 * AG_FRAME_MAX)
#define GOV_CLIENT_ADM_MAX    8 /* admissions one connection may hold */
#define GOV_USER_MAX	      (AG_NAME_MAX + 1)
#define GOV_BUDGET_DEFAULT_MS 250 /* a request that states no budget: the module's default */

enum gov_client_kind { GOV_KIND_NONE = 0, GOV_KIND_PAM, GOV_KIND_ADMIN };

/* What the peer is, from SO_PEERCRED / SO_PEERGROUPS at accept. */
struct gov_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups; /* owned; may be NULL */
	int ngroups;
	int groups_read; /* groups were asked for (gov_peer_load_groups) */
};

/* When a request is handled. The clocks are read once per event (a read
 * from the socket, a timer), not per frame: at tens of thousands of
 * requests a second the reads show in a profile. */
struct gov_when {
	int64_t recv_us; /* monotonic: the frame was read; its budget starts here */
	int64_t now_us;	 /* monotonic, read for the event that handles it */
	int64_t wall_ms; /* wall clock (the store's time), read with now_us */
};

/* Fills *t with the clocks read now and recv_us (0: now). */
void gov_when_now(struct gov_when *t, int64_t recv_us);

/* An attempt as the rules see it, copied out of the frame. */
struct gov_norm {
	char user[GOV_USER_MAX]; /* folded; "uid:N" on the user socket */
	char service[AG_NAME_MAX + 1];
	struct ag_source src;
	int user_socket;
};

/* An admitted attempt. */
struct gov_admission {
	struct gov_admission *prev, *next; /* the client's list */
	struct gov_client *client;
	uint8_t id[AG_ID_LEN];
	int klass;
	int allowlisted;
	int user_socket;
	int slot_held;	/* counts in admit (or the user pool) until released */
	int lease_over; /* the lease ran out: slotless, kept until report or close */
	struct event *lease_ev;
	char user[GOV_USER_MAX];
	char source[AG_SOURCE_MAX];
	char agg[AG_SOURCE_MAX];
	char ticket[GOV_TICKET_LEN + 1]; /* the commit's (store.h) */
};

/* A DECIDE waiting for a slot. */
struct gov_pending {
	struct gov_waiter w; /* w.owner is the client */
	int active;
	int64_t recv_us;     /* receipt, for the latency histogram */
	int64_t deadline_ms; /* monotonic */
	struct gov_norm n;
};

/* A DECIDE or PRECHECK whose store answer is awaited (attempt.c). It
 * outlives its client: when the client closes first, client is set to
 * NULL and the answer is only cleaned up after (a committed attempt is
 * taken back from the store). */
struct gov_op {
	struct gov *g;
	struct gov_client *client; /* NULL once the client has gone */
	int precheck;		   /* 1: PRECHECK, 0: DECIDE */
	int fresh;		   /* a DECIDE just read (not a waiter taken from a queue) */
	int later;		   /* the store did not answer inline: resume the client */
	int dequeued;		   /* counted in gov->deciding */
	int allowlisted;
	int64_t deadline_ms;
	struct gov_when t;
	struct gov_norm n;
	struct gov_admission *a; /* DECIDE: allocated before the store commits */
	char ticket[GOV_TICKET_LEN + 1]; /* DECIDE: its commit's, also after a is gone */
};

struct gov_client {
	struct gov_client *prev, *next; /* gov's list, least recently active first */
	struct gov_client *reap_next;
	struct gov *g;
	int fd;
	int user_socket;
	int dead;
	int kind; /* enum gov_client_kind */
	struct gov_peer peer;
	int64_t last_active_ms; /* monotonic */
	struct event *ev_read, *ev_write;
	int reading;		  /* ev_read is added */
	size_t inoff, inlen;	  /* unhandled input is in[inoff .. inlen) */
	int64_t partial_since_ms; /* when the first bytes of the pending frame came */
	/* Frames wait in `in` while the client is blocked (a queued DECIDE, or
	 * replies it has not read); held_us: read by then, for their budgets. */
	int held;
	int64_t held_us;
	uint8_t in[AG_FRAME_MAX];
	uint8_t *out; /* grown up to GOV_OUT_MAX when replies do not go out at once */
	size_t outoff, outlen, outcap;
	struct gov_admission *adm;
	int nadm;
	struct gov_pending pending;
	struct gov_op *op; /* the store answer awaited; NULL when none */
};

/* ---- client.c ---- */

/* Takes a freshly accepted fd (ownership passes, also on failure) and the
 * peer's credentials (peer->groups too). Applies max_clients (evicting the
 * oldest idle client, else refusing with ERROR "shed") and, on the user
 * socket, user_max_conns. */
void gov_client_accept(struct gov *g, int fd, int user_socket, struct gov_peer *peer);

/* Encodes and sends m, buffering what the socket does not take. A client
 * whose unread replies pass GOV_OUT_MAX, or whose socket fails, is closed.
 * Returns 0, AG_ERR_CLOSED (client closed, now or before) or an encoding
 * error (a bug: logged, client closed). */
int gov_client_send(struct gov_client *c, const struct ag_msg *m);

/* Sends ERROR code/text; the connection stays open. */
void gov_client_error(struct gov_client *c, int code, const char *text);

/* Counts a protocol error, sends ERROR code/text if possible and closes. */
void gov_client_fail(struct gov_client *c, int code, const char *text);

/* Records the latency of a DECIDE read at recv_us whose final answer (a
 * verdict) is being sent to c now. */
void gov_client_answered(struct gov_client *c, int64_t recv_us);

/* Call when c's queued DECIDE got its verdict: requests c pipelined behind
 * it are handled from the loop, in order. Does nothing for a dead client or
 * one still blocked. */
void gov_client_resume(struct gov_client *c);

/* Closes the connection: removes its queued request, abandons its
 * admissions, closes the fd. The memory is freed later by the reaper, so
 * c stays readable (c->dead set) until control returns to the loop. Safe
 * to call twice. why is for the debug log (may be NULL). */
void gov_client_close(struct gov_client *c, const char *why);

/* Closes every client idle (no queued request, no admission still within
 * its lease) for client_idle, and every client that has left a frame
 * unfinished for client_idle; logs how many connections max_clients refused
 * since the last call. O(clients): call once a second. */
void gov_client_sweep(struct gov *g, int64_t now_ms);

/* Closes every client (shutdown). */
void gov_client_close_all(struct gov *g);

/* Frees the dead clients now (also run from g->ev_reap). */
void gov_client_reap(struct gov *g);

/* 1 if the peer is root or in admin_group (its groups: call
 * gov_peer_load_groups first). */
int gov_peer_is_admin(const struct gov *g, const struct gov_peer *p);

/* ---- listen.c ---- */

/* Reads the supplementary groups of the peer on fd (SO_PEERGROUPS) into
 * p->groups, once; none known (an error) leaves only uid and gid to decide. */
void gov_peer_load_groups(int fd, struct gov_peer *p);

/* ---- attempt.c ---- */

/* The handlers: each replies (VERDICT, QUEUED, ACK or ERROR) and returns 0,
 * or sends ERROR itself, and returns an AG_ERR_* code when the connection must
 * be closed. t says when the frame was read and what time it is. m borrows
 * c->in. */
int gov_attempt_decide(struct gov *g, struct gov_client *c, const struct ag_msg *m,
		       const struct gov_when *t) __attribute__((warn_unused_result));
int gov_attempt_precheck(struct gov *g, struct gov_client *c, const struct ag_msg *m,
			 const struct gov_when *t) __attribute__((warn_unused_result));
int gov_attempt_report(struct gov *g, struct gov_client *c, const struct ag_msg *m,
		       const struct gov_when *t) __attribute__((warn_unused_result));

/* Normalises an attempt: user copied (folded with fold_case), source key
 * from rhost/ruser/tty (each may be NULL). With user_socket, what the peer
 * claims is ignored: user "uid:N" and source "local:uid:N". Returns 0,
 * AG_ERR_INVAL (an rhost ag_source_from refuses, an empty user) or
 * AG_ERR_TOOBIG. */
int gov_attempt_normalise(const struct gov *g, const char *user, const char *rhost,
			  const char *ruser, const char *tty, int user_socket, uid_t uid,
			  struct gov_norm *out) __attribute__((warn_unused_result));


/* Serves queued waiters while slots are free (rules re-checked). */
void gov_attempt_serve(struct gov *g);

/* fleet_max_inflight: the queues may ask the store again (the poll timer,
 * or another host's release). */
void gov_attempt_fleet_poll(struct gov *g);

/* Answers "shed" to every waiter past its expire_ms and re-arms the expiry
 * timer; with all set, to every waiter (shutdown). */
void gov_attempt_expire(struct gov *g, int all);

/* Removes c's queued request, if any (connection closing). */
void gov_attempt_unqueue(struct gov *g, struct gov_client *c);

/* Detaches c's awaited store answer (connection closing): when it comes,
 * a committed attempt is taken back and nothing is sent. */
void gov_attempt_orphan(struct gov *g, struct gov_client *c);

/* Releases and frees an admission without a report (connection closed):
 * GOV_OUT_ABANDON goes to the store unless the governor is stopping. */
void gov_admission_abandon(struct gov *g, struct gov_admission *a);

/* ---- admin.c ---- */

/* ADMIN: status, explain, reset. Same contract as the attempt handlers. */
int gov_admin_handle(struct gov *g, struct gov_client *c, const struct ag_msg *m,
		     const struct gov_when *t) __attribute__((warn_unused_result));

#endif

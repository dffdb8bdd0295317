/* client.c - connections: bounded buffers, frames, who may send what, idle
 * drop, eviction, and closing with everything the connection held. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/event.h>

#include "ag_err.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "client.h"
#include "gov.h"
#include "log.h"

#define READS_PER_WAKEUP   16  /* so that one chatty client cannot starve the others */
#define GOV_EVICT_QUIET_MS 250 /* a client quiet for less is not evicted at max_clients */

typedef int (*gov_handler)(struct gov *g, struct gov_client *c, const struct ag_msg *m,
			   const struct gov_when *t);

/* Who may send what, and on which socket. */
static const struct {
	uint8_t type;
	unsigned char on_priv, on_user;
	int kind;
	gov_handler fn;
} dispatch[] = {
    {AG_MSG_DECIDE, 1, 1, GOV_KIND_PAM, gov_attempt_decide},
    {AG_MSG_PRECHECK, 1, 1, GOV_KIND_PAM, gov_attempt_precheck},
    {AG_MSG_REPORT, 1, 1, GOV_KIND_PAM, gov_attempt_report},
    {AG_MSG_ADMIN, 1, 0, GOV_KIND_ADMIN, gov_admin_handle},
};

/* ---- per-uid counts ---- */

struct gov_uid *gov_uid_get(struct gov *g, uid_t uid, int create)
{
	struct gov_uid **slot = &g->uids[uid % GOV_UID_BUCKETS];
	struct gov_uid *u;

	for (u = *slot; u != NULL; u = u->next)
		if (u->uid == uid)
			return u;
	if (!create)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	u->uid = uid;
	u->next = *slot;
	*slot = u;
	return u;
}

void gov_uid_put(struct gov *g, uid_t uid)
{
	struct gov_uid **pp = &g->uids[uid % GOV_UID_BUCKETS];
	struct gov_uid *u;

	for (; (u = *pp) != NULL; pp = &u->next) {
		if (u->uid != uid)
			continue;
		if (u->conns <= 0 && u->admissions <= 0) {
			*pp = u->next;
			free(u);
		}
		return;
	}
}

int gov_peer_is_admin(const struct gov *g, const struct gov_peer *p)
{
	int i;

	if (p->uid == 0)
		return 1;
	if (!g->conf->has_admin_gid)
		return 0;
	if (p->gid == g->conf->admin_gid)
		return 1;
	for (i = 0; i < p->ngroups; i++)
		if (p->groups[i] == g->conf->admin_gid)
			return 1;
	return 0;
}

/* ---- the client list ---- */

static void list_unlink(struct gov *g, struct gov_client *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		g->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		g->tail = c->prev;
	c->prev = c->next = NULL;
}

static void list_append(struct gov *g, struct gov_client *c)
{
	c->prev = g->tail;
	c->next = NULL;
	if (g->tail != NULL)
		g->tail->next = c;
	else
		g->head = c;
	g->tail = c;
}

void gov_when_now(struct gov_when *t, int64_t recv_us)
{
	t->now_us = ag_mono_us();
	t->wall_ms = ag_wall_ms();
	t->recv_us = recv_us != 0 ? recv_us : t->now_us;
}

/* Marks c active at now_ms and moves it to the tail (most recent). */
static void touch(struct gov *g, struct gov_client *c, int64_t now_ms)
{
	c->last_active_ms = now_ms;
	if (g->tail != c) {
		list_unlink(g, c);
		list_append(g, c);
	}
}

/* Idle means nothing would be lost by closing it: no queued request and no
 * admission. */
static int client_idle(const struct gov_client *c)
{
	/* Any admission keeps its connection: past its lease the admission
	 * holds no slot, but its report still counts and closing would count
	 * it as a failure (after authpass, the next factor may take long). */
	return !c->dead && !c->pending.active && c->op == NULL && c->adm == NULL;
}

/* ---- output ---- */

/* Blocked: frames it sent are not handled yet, because a DECIDE of its waits
 * in a queue (its answers must keep their order) or because replies wait for
 * it to read them (what it sends must not grow them without bound). */
static int blocked(const struct gov_client *c)
{
	return c->pending.active || c->op != NULL || c->outoff < c->outlen;
}

/* Writes as much of p[0..len) as the socket takes now, never waiting.
 * Returns the bytes written (0..len), or -1 when the connection failed. */
static ssize_t send_now(int fd, const uint8_t *p, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, p + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return (ssize_t)off;
}

/* Watches for reading again and has the loop handle the frames held. */
static void wake(struct gov_client *c)
{
	if (!c->reading) {
		if (event_add(c->ev_read, NULL) != 0) {
			gov_client_close(c, "cannot watch for reading");
			return;
		}
		c->reading = 1;
	}
	if (c->held)
		event_active(c->ev_read, EV_READ, 0);
}

void gov_client_resume(struct gov_client *c)
{
	if (!c->dead && (c->held || !c->reading) && !blocked(c))
		wake(c);
}

static void flush_out(struct gov_client *c)
{
	ssize_t n = send_now(c->fd, c->out + c->outoff, c->outlen - c->outoff);

	if (n < 0) {
		gov_client_close(c, "write failed");
		return;
	}
	c->outoff += (size_t)n;
	if (c->outoff == c->outlen) {
		c->outoff = c->outlen = 0;
		event_del(c->ev_write);
		gov_client_resume(c);
	} else if (event_add(c->ev_write, NULL) != 0) {
		gov_client_close(c, "cannot watch for writing");
	}
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
	flush_out(arg);
}

/* Sends buf, keeping what the socket does not take (after what already
 * waits). 0 or AG_ERR_CLOSED. */
static int out_put(struct gov_client *c, const uint8_t *buf, size_t len)
{
	size_t off = 0, want, cap;
	ssize_t n;
	uint8_t *p;

	if (c->outlen == 0) {
		/* Nothing waits before it: straight to the socket. */
		n = send_now(c->fd, buf, len);
		if (n < 0) {
			gov_client_close(c, "write failed");
			return AG_ERR_CLOSED;
		}
		off = (size_t)n;
	}
	if (off == len)
		return 0;
	/* Keep what did not go out; a client that lets replies pile up is not
	 * reading them and is closed. */
	want = c->outlen - c->outoff + (len - off);
	if (want > GOV_OUT_MAX) {
		gov_client_close(c, "not reading its replies");
		return AG_ERR_CLOSED;
	}
	if (c->outoff > 0) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	if (want > c->outcap) {
		/* Grown as needed: most clients that lag do so by a frame or two. */
		for (cap = c->outcap > 0 ? c->outcap : AG_FRAME_MAX; cap < want; cap *= 2)
			;
		if (cap > GOV_OUT_MAX)
			cap = GOV_OUT_MAX;
		p = realloc(c->out, cap);
		if (p == NULL) {
			gov_client_close(c, "out of memory");
			return AG_ERR_CLOSED;
		}
		c->out = p;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, buf + off, len - off);
	c->outlen += len - off;
	if (event_add(c->ev_write, NULL) != 0) {
		gov_client_close(c, "cannot watch for writing");
		return AG_ERR_CLOSED;
	}
	return 0;
}

/* From here on, replies to c are gathered in g->cork; frames of the batch
 * were read at recv_us. */
static void cork(struct gov_client *c, int64_t recv_us)
{
	struct gov_cork *k = &c->g->cork;

	k->c = c;
	k->len = 0;
	k->recv_us = recv_us;
	k->answered = 0;
}

/* Sends what was gathered, in one send, and takes the latency of the
 * batch's DECIDEs now that their verdicts leave. The cork stays on. */
static void cork_flush(struct gov *g)
{
	struct gov_cork *k = &g->cork;
	size_t len = k->len;

	if (k->answered > 0) {
		gov_stats_latency(g, ag_mono_us() - k->recv_us, k->answered);
		k->answered = 0;
	}
	if (len == 0 || k->c == NULL)
		return;
	k->len = 0;
	(void)out_put(k->c, k->buf, len);
}

static void uncork(struct gov *g)
{
	cork_flush(g);
	g->cork.c = NULL;
}

void gov_client_answered(struct gov_client *c, int64_t recv_us)
{
	struct gov_cork *k = &c->g->cork;

	if (k->c == c && k->recv_us == recv_us)
		k->answered++;
	else
		gov_stats_latency(c->g, ag_mono_us() - recv_us, 1);
}

int gov_client_send(struct gov_client *c, const struct ag_msg *m)
{
	struct gov_cork *k = &c->g->cork;
	uint8_t buf[AG_FRAME_MAX];
	size_t len = 0;
	int rc;

	if (c->dead)
		return AG_ERR_CLOSED;
	rc = ag_wire_encode(m, buf, sizeof(buf), &len);
	if (rc < 0) {
		gov_log(LOG_ERR, "cannot encode a reply of type %u: %s", m->type, ag_strerror(rc));
		gov_client_close(c, "reply not encodable");
		return rc;
	}
	if (k->c == c && k->len + len > sizeof(k->buf))
		cork_flush(c->g);
	if (c->dead)
		return AG_ERR_CLOSED;
	/* Behind replies already waiting, a reply must wait too. */
	if (k->c == c && c->outlen == 0) {
		memcpy(k->buf + k->len, buf, len);
		k->len += len;
		return 0;
	}
	return out_put(c, buf, len);
}

void gov_client_error(struct gov_client *c, int code, const char *text)
{
	struct ag_msg m;

	ag_msg_init(&m, AG_MSG_ERROR);
	ag_msg_set_u32(&m, AG_F_CODE, (uint32_t)code);
	ag_msg_set_str(&m, AG_F_TEXT, text);
	(void)gov_client_send(c, &m);
}

/* One line per bad client up to log_burst per log_interval, then one line
 * saying how many more there were: anyone can reach the user socket, and
 * garbage must not buy a log line per connection. */
static void log_proto_error(struct gov *g, const struct gov_client *c, const char *text)
{
	struct gov_stats *st = &g->stats;
	int64_t now = ag_mono_ms();

	if (now - st->proto_window_ms >= g->conf->log_interval_ms) {
		if (st->proto_in_window > (uint64_t)g->conf->log_burst)
			gov_log(LOG_NOTICE, "protocol errors: %llu more clients closed in %lld ms",
				(unsigned long long)(st->proto_in_window -
						     (uint64_t)g->conf->log_burst),
				(long long)(now - st->proto_window_ms));
		st->proto_window_ms = now;
		st->proto_in_window = 0;
	}
	if (++st->proto_in_window <= (uint64_t)g->conf->log_burst)
		gov_log(LOG_NOTICE, "closing client pid %ld uid %ld: %s", (long)c->peer.pid,
			(long)c->peer.uid, text);
}

void gov_client_fail(struct gov_client *c, int code, const char *text)
{
	c->g->stats.proto_errors++;
	log_proto_error(c->g, c, text);
	gov_client_error(c, code, text);
	gov_client_close(c, NULL);
}

/* ---- input ---- */

/* Routes one decoded frame through the table. */
static void dispatch_msg(struct gov_client *c, const struct ag_msg *m, const struct gov_when *t)
{
	size_t i;
	int rc;

	for (i = 0; i < sizeof(dispatch) / sizeof(dispatch[0]); i++)
		if (dispatch[i].type == m->type)
			break;
	if (i == sizeof(dispatch) / sizeof(dispatch[0])) {
		gov_client_fail(c, AG_ERR_PROTO, "message type not accepted by the governor");
		return;
	}
	if (!(c->user_socket ? dispatch[i].on_user : dispatch[i].on_priv)) {
		gov_client_fail(c, AG_ERR_PERM, "message type not accepted on this socket");
		return;
	}
	if (c->kind != GOV_KIND_NONE && c->kind != dispatch[i].kind) {
		gov_client_fail(c, AG_ERR_PERM, "admin and PAM requests on one connection");
		return;
	}
	c->kind = dispatch[i].kind;
	rc = dispatch[i].fn(c->g, c, m, t);
	if (rc < 0)
		gov_client_close(c, "handler refused the connection");
}

/* Decodes and dispatches the whole frames in c->in, in order, until c is
 * blocked; what is left waits (c->held). */
static void drain_frames(struct gov_client *c, const struct gov_when *t)
{
	struct ag_msg m;
	size_t used;
	int rc;

	while (!c->dead && c->inoff < c->inlen) {
		if (blocked(c)) {
			if (!c->held) {
				c->held = 1;
				c->held_us = t->recv_us;
			}
			return;
		}
		used = 0;
		rc = ag_wire_decode(c->in + c->inoff, c->inlen - c->inoff, &m, &used);
		if (rc == AG_ERR_AGAIN) {
			if (c->inoff == 0 && c->inlen == sizeof(c->in))
				gov_client_fail(c, AG_ERR_TOOBIG, "frame too large");
			return;
		}
		if (rc < 0) {
			gov_client_fail(c, rc,
					rc == AG_ERR_VERSION ? "unsupported protocol version"
							     : "malformed frame");
			return;
		}
		if (used == 0 || used > c->inlen - c->inoff) {
			gov_client_fail(c, AG_ERR_PROTO, "malformed frame");
			return;
		}
		dispatch_msg(c, &m, t);
		/* m borrowed c->in: the bytes are let go only now. */
		c->inoff += used;
		/* What is left is the start of the next frame. */
		c->partial_since_ms = t->now_us / 1000;
	}
	if (c->inoff == c->inlen)
		c->inoff = c->inlen = 0;
}

/* Handles frames held while c was blocked, as read at c->held_us. */
static void drain_held(struct gov_client *c)
{
	struct gov_when t;

	if (!c->held || blocked(c))
		return;
	c->held = 0;
	gov_when_now(&t, c->held_us);
	cork(c, t.recv_us);
	drain_frames(c, &t);
	uncork(c->g);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gov_client *c = arg;
	struct gov_when t;
	size_t room;
	ssize_t n;
	int i;

	drain_held(c);
	for (i = 0; i < READS_PER_WAKEUP && !c->dead; i++) {
		if (c->inoff > 0) {
			memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
			c->inlen -= c->inoff;
			c->inoff = 0;
		}
		if (c->inlen == sizeof(c->in))
			break; /* blocked and full: see below */
		room = sizeof(c->in) - c->inlen;
		n = recv(c->fd, c->in + c->inlen, room, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			gov_client_close(c, n == 0 ? "peer closed" : "read failed");
			return;
		}
		gov_when_now(&t, 0);
		if (c->inlen == 0)
			c->partial_since_ms = t.now_us / 1000;
		c->inlen += (size_t)n;
		touch(c->g, c, t.now_us / 1000);
		/* The replies to what this read brought leave in one send, before
		 * the next read: a client that waits for them is answered now. */
		cork(c, t.recv_us);
		drain_frames(c, &t);
		uncork(c->g);
		/* A short read emptied the socket: asking again would only
		 * return EAGAIN (a system call per request). The loop's
		 * level-triggered readiness brings whatever comes next. */
		if ((size_t)n < room)
			break;
	}
	/* A blocked client's frames stay unread in its socket once the buffer
	 * is full: it is woken (gov_client_resume) when it is no longer
	 * blocked. */
	if (!c->dead && c->reading && c->inlen == sizeof(c->in) && c->inoff == 0 && blocked(c)) {
		event_del(c->ev_read);
		c->reading = 0;
	}
}

/* ---- accept, close ---- */

/* Sends one ERROR on a socket that has no client yet, then closes it. */
static void refuse_fd(int fd, int code, const char *text)
{
	uint8_t buf[AG_FRAME_MAX];
	struct ag_msg m;
	size_t len = 0;

	ag_msg_init(&m, AG_MSG_ERROR);
	ag_msg_set_u32(&m, AG_F_CODE, (uint32_t)code);
	ag_msg_set_str(&m, AG_F_TEXT, text);
	if (ag_wire_encode(&m, buf, sizeof(buf), &len) == 0)
		(void)!send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* At max_clients: closes the least recently active idle client without an
 * admission. One active within GOV_EVICT_QUIET_MS is spared (it is likely
 * about to send its request), so that under a flood of connections new
 * ones are refused rather than evicting each other. 1 if one was evicted. */
static int evict_one(struct gov *g)
{
	struct gov_client *c;
	int64_t now = ag_mono_ms();

	for (c = g->head; c != NULL; c = c->next) {
		if (c->dead)
			continue;
		if (now - c->last_active_ms < GOV_EVICT_QUIET_MS)
			break; /* the rest are more recent still */
		if (client_idle(c) && c->adm == NULL) {
			gov_client_close(c, "evicted at max_clients");
			return 1;
		}
	}
	return 0;
}

void gov_client_accept(struct gov *g, int fd, int user_socket, struct gov_peer *peer)
{
	struct gov_client *c = NULL, *fresh;
	struct gov_uid *u = NULL;
	char text[96];

	if (g->nclients >= g->conf->max_clients && !evict_one(g)) {
		/* Logged as a summary once a second (gov_client_sweep): a flood of
		 * connections must not become a flood of log lines. */
		g->stats.refused++;
		refuse_fd(fd, AG_ERR_BUSY, "shed");
		goto out;
	}
	if (user_socket) {
		u = gov_uid_get(g, peer->uid, 1);
		if (u == NULL) {
			refuse_fd(fd, AG_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (u->conns >= g->conf->user_max_conns) {
			snprintf(text, sizeof(text), "too many connections for uid %ld",
				 (long)peer->uid);
			refuse_fd(fd, AG_ERR_BUSY, text);
			goto out;
		}
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		refuse_fd(fd, AG_ERR_NOMEM, "out of memory");
		goto out;
	}
	c->g = g;
	c->fd = fd;
	c->user_socket = user_socket;
	c->peer = *peer;
	peer->groups = NULL;
	c->ev_read = event_new(g->base, fd, EV_READ | EV_PERSIST, read_cb, c);
	c->ev_write = event_new(g->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	if (c->ev_read == NULL || c->ev_write == NULL || event_add(c->ev_read, NULL) != 0) {
		refuse_fd(fd, AG_ERR_NOMEM, "out of memory");
		goto out;
	}
	c->reading = 1;
	if (u != NULL)
		u->conns++;
	g->nclients++;
	c->last_active_ms = ag_mono_ms();
	list_append(g, c);
	fresh = c;
	c = NULL;
	u = NULL;
	/* A module sends its request right after connecting, so it is most
	 * often here already: reading it now saves a turn of the loop (a
	 * wake-up costs more than a decision on a VM). read_cb may close the
	 * client; nothing below touches it. */
	read_cb(fd, EV_READ, fresh);
out:
	if (c != NULL) {
		/* refuse_fd closed the fd */
		if (c->ev_read != NULL)
			event_free(c->ev_read);
		if (c->ev_write != NULL)
			event_free(c->ev_write);
		free(c->peer.groups);
		free(c);
	}
	if (u != NULL)
		gov_uid_put(g, peer->uid); /* frees it only when it counts nothing */
	free(peer->groups);
	peer->groups = NULL;
}

void gov_client_close(struct gov_client *c, const char *why)
{
	struct gov *g;
	int released = 0;

	if (c == NULL || c->dead)
		return;
	g = c->g;
	c->dead = 1;
	if (why != NULL)
		gov_log(LOG_DEBUG, "client pid %ld uid %ld closed: %s", (long)c->peer.pid,
			(long)c->peer.uid, why);
	if (c->pending.active)
		gov_attempt_unqueue(g, c);
	if (c->op != NULL)
		gov_attempt_orphan(g, c);
	while (c->adm != NULL) {
		released |= c->adm->slot_held;
		gov_admission_abandon(g, c->adm);
	}
	/* Last replies (an ERROR before closing) get one chance to leave:
	 * those waiting, else those gathered for this batch. */
	if (c->outoff < c->outlen)
		(void)!send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (g->cork.c == c) {
		if (g->cork.len > 0)
			(void)!send(c->fd, g->cork.buf, g->cork.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		g->cork.len = 0;
		uncork(g);
	}
	event_free(c->ev_read);
	event_free(c->ev_write);
	c->ev_read = c->ev_write = NULL;
	close(c->fd);
	c->fd = -1;
	g->nclients--;
	if (c->user_socket) {
		struct gov_uid *u = gov_uid_get(g, c->peer.uid, 0);

		if (u != NULL)
			u->conns--;
		gov_uid_put(g, c->peer.uid);
	}
	c->reap_next = g->reap;
	g->reap = c;
	if (g->ev_reap != NULL)
		event_active(g->ev_reap, 0, 0);
	if (released)
		gov_attempt_serve(g);
}

void gov_client_reap(struct gov *g)
{
	struct gov_client *c;

	while ((c = g->reap) != NULL) {
		g->reap = c->reap_next;
		list_unlink(g, c);
		free(c->peer.groups);
		free(c->out);
		free(c);
	}
}

void gov_client_sweep(struct gov *g, int64_t now_ms)
{
	struct gov_client *c, *next;

	if (g->stats.refused != g->stats.refused_logged) {
		gov_log(LOG_WARNING, "max_clients (%lld) reached: %llu connections refused",
			(long long)g->conf->max_clients,
			(unsigned long long)(g->stats.refused - g->stats.refused_logged));
		g->stats.refused_logged = g->stats.refused;
	}
	for (c = g->head; c != NULL; c = next) {
		next = c->next;
		if (c->dead)
			continue;
		/* Never wait past the idle limit for the rest of a frame, even
		 * from a client that trickles bytes or holds an admission. Frames
		 * held behind a queued DECIDE are not late: the queue bounds
		 * that wait. */
		if (c->inlen > c->inoff && !c->pending.active && c->op == NULL &&
		    now_ms - c->partial_since_ms >= g->conf->client_idle_ms)
			gov_client_fail(c, AG_ERR_TIMEOUT, "frame not completed in time");
		else if (now_ms - c->last_active_ms >= g->conf->client_idle_ms && client_idle(c))
			gov_client_close(c, "idle");
	}
}

void gov_client_close_all(struct gov *g)
{
	struct gov_client *c;

	for (c = g->head; c != NULL; c = c->next)
		gov_client_close(c, "shutting down");
}

/* ag-load.c - load generator for authguard-governor.
 *
 * Worker threads each own an epoll loop and a share of the connections, all
 * non-blocking, so that the generator is not what limits the rate. Frames go
 * through the library's codec (ag_wire); the one blocking connection, used to
 * learn the governor's pid (SO_PEERCRED), goes through ag_client.
 *
 * Modes:
 *   cycles     what the module does per login: connect, [PRECHECK,] DECIDE
 *              (waiting through QUEUED), on allow REPORT fail|success and
 *              wait for ACK, close.
 *   decisions  persistent connections, PRECHECK back to back: rules 1-4 with
 *              no state change and no slot, the decision path alone.
 *   pairs      persistent connections, DECIDE then (on allow) REPORT + ACK.
 * With -p DEPTH (decisions, pairs) each connection keeps DEPTH requests
 * outstanding: the governor answers them in order, so an answer belongs to
 * the connection's oldest unanswered request.
 * Closed loop (-r 0): every connection starts its next attempt as soon as the
 * last ends. Open loop (-r RATE): attempt i is due at start + i / RATE; its
 * latency counts from that due time even when every connection is busy and it
 * starts late, so a slow governor cannot hide its backlog (no coordinated
 * omission). Attempts still due at the end are reported as "missed".
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ag_client.h"
#include "ag_conf.h"
#include "ag_err.h"
#include "ag_escape.h"
#include "ag_time.h"
#include "ag_wire.h"

#define NS		 INT64_C(1000000000)
#define MAX_THREADS	 64
#define MAX_RULES	 12 /* deny rules counted by name; more go to "other" */
#define RULE_LEN	 40
#define EXTRA_TIMEOUT_NS (3 * NS)	/* on top of the budget, before an attempt times out */
#define SCAN_NS		 (20 * 1000000) /* how often timeouts are looked for */
#define ADDR_SPACE	 131072		/* 198.18.0.0/15 */
#define SERVICE		 "ag-load"

/* ---- latency histogram: log-linear buckets, ~0.8% precision, bounded ---- */

#define H_SUB_BITS 7
#define H_SUB	   (1 << H_SUB_BITS)
#define H_BUCKETS  (58 * H_SUB) /* every uint64_t value */

struct hist {
	uint64_t b[H_BUCKETS];
	uint64_t n, max;
};

static int hist_index(uint64_t v)
{
	int e;

	if (v < H_SUB)
		return (int)v;
	e = 63 - __builtin_clzll(v);
	return (e - H_SUB_BITS + 1) * H_SUB + (int)(v >> (e - H_SUB_BITS)) - H_SUB;
}

/* The highest value that falls in bucket i. */
static uint64_t hist_high(int i)
{
	int g = i / H_SUB;
	uint64_t m = (uint64_t)(i % H_SUB) + H_SUB;

	if (g == 0)
		return (uint64_t)i;
	return (m << (g - 1)) + (UINT64_C(1) << (g - 1)) - 1;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

static void hist_merge(struct hist *to, const struct hist *from)
{
	int i;

	for (i = 0; i < H_BUCKETS; i++)
		to->b[i] += from->b[i];
	to->n += from->n;
	if (from->max > to->max)
		to->max = from->max;
}

/* The value at percentile p (0 < p <= 100): the highest value of the bucket
 * holding the ceil(p% of n)-th sample, never above the largest seen. */
static uint64_t hist_pct(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;
	int i;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)(p / 100.0 * (double)h->n);
	if ((double)rank < p / 100.0 * (double)h->n)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return hist_high(i) < h->max ? hist_high(i) : h->max;
	}
	return h->max;
}

/* ---- options and results ---------------------------------------------------- */

enum mode { M_CYCLES, M_DECISIONS, M_PAIRS };

struct opts {
	const char *sock;
	int mode;
	int64_t conns, rate, secs, users, addrs, failpct, threads, budget, depth, hold;
	int json, precheck;
};

struct rule_count {
	char name[RULE_LEN]; /* escaped */
	uint64_t n;
};

struct stats {
	uint64_t started, done, allow, deny, shed, queued, busy, connfail, errors, timeouts, missed;
	uint64_t precheck_deny;
	int nrules;
	struct rule_count rules[MAX_RULES];
	struct hist lat; /* start (due time) to the end of the attempt */
	struct hist dec; /* start (due time) to the verdict */
	int64_t last_ns;
};

static void count_rule(struct stats *s, const char *name, uint64_t n)
{
	int i;

	for (i = 0; i < s->nrules; i++)
		if (strcmp(s->rules[i].name, name) == 0)
			break;
	if (i == s->nrules) {
		if (s->nrules == MAX_RULES)
			i = MAX_RULES - 1;
		else
			s->nrules++;
		snprintf(s->rules[i].name, RULE_LEN, "%s", s->nrules == MAX_RULES ? "other" : name);
	}
	s->rules[i].n += n;
}

static void stats_merge(struct stats *to, const struct stats *from)
{
	int i;

	to->started += from->started;
	to->done += from->done;
	to->allow += from->allow;
	to->deny += from->deny;
	to->shed += from->shed;
	to->queued += from->queued;
	to->busy += from->busy;
	to->connfail += from->connfail;
	to->errors += from->errors;
	to->timeouts += from->timeouts;
	to->missed += from->missed;
	to->precheck_deny += from->precheck_deny;
	for (i = 0; i < from->nrules; i++)
		count_rule(to, from->rules[i].name, from->rules[i].n);
	hist_merge(&to->lat, &from->lat);
	hist_merge(&to->dec, &from->dec);
	if (from->last_ns > to->last_ns)
		to->last_ns = from->last_ns;
}

/* ---- arithmetic shared with the self-test ------------------------------------ */

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* When attempt i of an open loop at rate/s is due, exactly and without overflow. */
static int64_t due_ns(int64_t start, uint64_t i, int64_t rate)
{
	return start + (int64_t)(i / (uint64_t)rate) * NS +
	       (int64_t)((i % (uint64_t)rate) * (uint64_t)NS / (uint64_t)rate);
}

/* How many attempts are due before end (i with due_ns(i) < end). */
static uint64_t due_before(int64_t start, int64_t end, int64_t rate)
{
	uint64_t n;

	if (end <= start)
		return 0;
	/* ceil((end - start) * rate / NS), split to stay in 64 bits */
	n = (uint64_t)((end - start) / NS) * (uint64_t)rate +
	    ((uint64_t)((end - start) % NS) * (uint64_t)rate + (uint64_t)NS - 1) / (uint64_t)NS;
	return n;
}

/* The k-th address of 198.18.0.0/15. */
static void addr_name(char *buf, size_t cap, uint32_t k)
{
	k %= ADDR_SPACE;
	snprintf(buf, cap, "198.%u.%u.%u", 18 + (k >> 16), (k >> 8) & 255, k & 255);
}

/* utime + stime (clock ticks) from the text of /proc/PID/stat. The command
 * name may hold spaces and parentheses, so fields count from the last ')'. */
static int stat_ticks(const char *text, uint64_t *ticks)
{
	const char *p = strrchr(text, ')');
	uint64_t v[2] = {0, 0};
	char *end;
	int field;

	*ticks = 0;
	if (p == NULL)
		return AG_ERR_PROTO;
	p++;
	/* after ')': field 3 (state) ... field 14 utime, 15 stime */
	for (field = 3; field <= 15; field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return AG_ERR_PROTO;
		if (field >= 14) {
			if (*p < '0' || *p > '9')
				return AG_ERR_PROTO;
			errno = 0;
			v[field - 14] = strtoull(p, &end, 10);
			if (errno != 0 || (*end != ' ' && *end != '\0' && *end != '\n'))
				return AG_ERR_PROTO;
			p = end;
		} else {
			while (*p != ' ' && *p != '\0')
				p++;
		}
	}
	*ticks = v[0] + v[1];
	return 0;
}

/* CPU seconds used so far by process pid; -1 when it cannot be read. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], text[1024];
	uint64_t ticks;
	size_t n;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	if (stat_ticks(text, &ticks) != 0)
		return -1;
	return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- connections and attempts ---------------------------------------------------- */

enum slot_state {
	S_FREE,	    /* no attempt */
	S_PRECHECK, /* waiting for the PRECHECK verdict */
	S_DECIDE,   /* waiting for the DECIDE verdict (maybe after QUEUED) */
	S_REPORT,   /* waiting for ACK */
	S_HOLD,	    /* admitted, "at the backend" for --hold ms before its REPORT */
};

#define REQ_MAX 512 /* bytes of one request: a few short fields */

/* One attempt in flight (at most DEPTH per connection, -p). */
struct slot {
	int conn; /* index of its connection, fixed */
	int state;
	int64_t t0, deadline;
	int64_t hold_until;	 /* S_HOLD: when to report */
	uint8_t id[AG_ID_LEN]; /* S_HOLD: the admission */
	char user[24], rhost[24];
};

/* One connection. Requests are pipelined: the governor answers them in
 * order, so an answer belongs to the oldest request not yet answered, the
 * head of q (a QUEUED leaves it there until its verdict). */
struct conn {
	int fd;
	int want_out;	/* EPOLLOUT registered */
	int connecting; /* connect in progress (EINPROGRESS) */
	int dirty;	/* on the worker's list of connections to flush */
	size_t olen, ooff, ilen;
	uint8_t *out;		  /* depth * REQ_MAX */
	uint8_t in[AG_FRAME_MAX]; /* frames are decoded as soon as whole */
	int *q;			  /* slots awaiting an answer, oldest first; depth */
	int qhead, qlen;
};

struct worker {
	pthread_t th;
	int id, nthreads;
	const struct opts *o;
	int ep;
	int coarse; /* no epoll_pwait2: waits in whole ms */
	struct slot *slots;
	int nslots, active;
	struct conn *conns;
	int nconns, depth;
	int *free_stack, nfree; /* slots without an attempt */
	int *dirty, ndirty;	/* connections with requests to send */
	uint64_t rng, next_i;	/* open loop: this worker's i-th attempt */
	int64_t start, end;
	struct stats st;
};

static uint64_t rnd(struct worker *w)
{
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * UINT64_C(2685821657736338717);
}

static int persistent(const struct worker *w)
{
	return w->o->mode != M_CYCLES;
}

static void conn_close(struct worker *w, struct conn *x)
{
	if (x->fd >= 0)
		close(x->fd); /* also leaves the epoll set */
	x->fd = -1;
	x->want_out = x->connecting = 0;
	x->ilen = x->olen = x->ooff = 0;
	x->qhead = x->qlen = 0;
}

static void set_out(struct worker *w, struct conn *x, int on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0)};

	ev.data.u32 = (uint32_t)(x - w->conns);
	if (x->want_out != on && epoll_ctl(w->ep, EPOLL_CTL_MOD, x->fd, &ev) == 0)
		x->want_out = on;
}

/* Ends the attempt on s, which is no longer in its connection's queue.
 * failed: the caller has counted why and no latency is recorded. */
static void finish(struct worker *w, struct slot *s, int failed)
{
	int64_t now = mono_ns();

	if (!failed) {
		w->st.done++;
		hist_add(&w->st.lat, (uint64_t)(now - s->t0));
	}
	w->st.last_ns = now;
	s->state = S_FREE;
	w->active--;
	w->free_stack[w->nfree++] = (int)(s - w->slots);
	if (!persistent(w) && !failed)
		conn_close(w, &w->conns[s->conn]);
}

/* The connection failed: closed, and every attempt waiting on it ends,
 * each counted in *why. */
static void conn_abort(struct worker *w, struct conn *x, uint64_t *why)
{
	int q[64], n = x->qlen, i;

	for (i = 0; i < n; i++)
		q[i] = x->q[(x->qhead + i) % w->depth];
	conn_close(w, x);
	for (i = 0; i < n; i++) {
		(*why)++;
		finish(w, &w->slots[q[i]], 1);
	}
}

static int flush_out(struct worker *w, struct conn *x)
{
	while (x->ooff < x->olen) {
		ssize_t n = send(x->fd, x->out + x->ooff, x->olen - x->ooff, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_out(w, x, 1);
			return 0;
		}
		if (n <= 0)
			return AG_ERR_IO;
		x->ooff += (size_t)n;
	}
	x->olen = x->ooff = 0;
	set_out(w, x, 0);
	return 0;
}

/* Sends every connection's new requests, one send each: pipelined requests
 * leave together. */
static void flush_dirty(struct worker *w)
{
	int i;

	for (i = 0; i < w->ndirty; i++) {
		struct conn *x = &w->conns[w->dirty[i]];

		x->dirty = 0;
		if (x->fd >= 0 && !x->connecting && flush_out(w, x) != 0)
			conn_abort(w, x, &w->st.errors);
	}
	w->ndirty = 0;
}

/* Queues m as s's next request on its connection (sent by flush_dirty). */
static int send_msg(struct worker *w, struct slot *s, const struct ag_msg *m)
{
	struct conn *x = &w->conns[s->conn];
	size_t len = 0;
	int rc;

	if (x->ooff > 0 && x->ooff == x->olen)
		x->olen = x->ooff = 0;
	if (x->qlen == w->depth)
		return AG_ERR_FULL; /* cannot happen: a slot per place in the queue */
	rc = ag_wire_encode(m, x->out + x->olen, (size_t)w->depth * REQ_MAX - x->olen, &len);
	if (rc != 0)
		return rc;
	x->olen += len;
	x->q[(x->qhead + x->qlen++) % w->depth] = (int)(s - w->slots);
	if (!x->dirty) {
		x->dirty = 1;
		w->dirty[w->ndirty++] = (int)(x - w->conns);
	}
	return 0;
}

static int send_request(struct worker *w, struct slot *s, int type)
{
	struct ag_msg m;

	ag_msg_init(&m, (uint8_t)type);
	ag_msg_set_str(&m, AG_F_SERVICE, SERVICE);
	ag_msg_set_str(&m, AG_F_USER, s->user);
	ag_msg_set_str(&m, AG_F_RHOST, s->rhost);
	ag_msg_set_u32(&m, AG_F_BUDGET, (uint32_t)w->o->budget);
	s->state = type == AG_MSG_PRECHECK ? S_PRECHECK : S_DECIDE;
	return send_msg(w, s, &m);
}

static int send_report(struct worker *w, struct slot *s, const uint8_t *id)
{
	struct ag_msg m;
	int fail = (int64_t)(rnd(w) % 100) < w->o->failpct;

	ag_msg_init(&m, AG_MSG_REPORT);
	memcpy(m.id, id, AG_ID_LEN);
	m.present |= 1u << AG_F_ID;
	ag_msg_set_u32(&m, AG_F_OUTCOME, fail ? AG_OUT_FAIL : AG_OUT_SUCCESS);
	ag_msg_set_u32(&m, AG_F_BACKEND_MS, (uint32_t)w->o->hold);
	s->state = S_REPORT;
	return send_msg(w, s, &m);
}

static int conn_connect(struct worker *w, struct conn *x)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN};
	int pending = 0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", w->o->sock);
	x->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0)
		return AG_ERR_SYS;
	ev.data.u32 = (uint32_t)(x - w->conns);
	if (connect(x->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		/* A Unix socket answers at once; EAGAIN is a full backlog. */
		int err = errno == EAGAIN ? AG_ERR_BUSY : AG_ERR_CONNECT;

		pending = errno == EINPROGRESS;
		if (!pending) {
			conn_close(w, x);
			return err;
		}
	}
	if (pending)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, x->fd, &ev) != 0) {
		conn_close(w, x);
		return AG_ERR_SYS;
	}
	x->want_out = x->connecting = pending;
	return 0;
}

static void start(struct worker *w, int idx, int64_t t0)
{
	struct slot *s = &w->slots[idx];
	struct conn *x = &w->conns[s->conn];
	int type = w->o->mode == M_DECISIONS || (w->o->mode == M_CYCLES && w->o->precheck)
		       ? AG_MSG_PRECHECK
		       : AG_MSG_DECIDE;
	int rc;

	w->st.started++;
	w->active++;
	s->t0 = t0;
	s->deadline = mono_ns() + w->o->budget * 1000000 + EXTRA_TIMEOUT_NS;
	snprintf(s->user, sizeof(s->user), "u%llu",
		 (unsigned long long)(rnd(w) % (uint64_t)w->o->users));
	addr_name(s->rhost, sizeof(s->rhost), (uint32_t)(rnd(w) % (uint64_t)w->o->addrs));
	if (x->fd < 0) {
		rc = conn_connect(w, x);
		if (rc != 0) {
			if (rc == AG_ERR_BUSY)
				w->st.busy++;
			else
				w->st.connfail++;
			finish(w, s, 1);
			return;
		}
	}
	if (send_request(w, s, type) != 0) {
		w->st.errors++;
		finish(w, s, 1);
	}
}

/* Handles one decoded answer to the head of x's queue. 0, or -1 when the
 * connection was aborted. */
static int answer(struct worker *w, struct conn *x, const struct ag_msg *m)
{
	struct slot *s = &w->slots[x->q[x->qhead]];
	char rule[RULE_LEN];

	if (m->type == AG_MSG_QUEUED && s->state == S_DECIDE) {
		w->st.queued++;
		return 0; /* the verdict follows, still for s */
	}
	if (m->type == AG_MSG_ERROR && AG_HAS(m, AG_F_CODE) && m->code == AG_ERR_BUSY) {
		conn_abort(w, x, &w->st.busy); /* max_clients reached */
		return -1;
	}
	if (!(m->type == AG_MSG_ACK && s->state == S_REPORT) &&
	    (m->type != AG_MSG_VERDICT || (s->state != S_PRECHECK && s->state != S_DECIDE))) {
		conn_abort(w, x, &w->st.errors); /* ERROR, or an answer out of turn */
		return -1;
	}
	/* s's request is answered; a next one of s goes to the end of the queue. */
	x->qhead = (x->qhead + 1) % w->depth;
	x->qlen--;
	if (m->type == AG_MSG_ACK) {
		finish(w, s, 0);
		return 0;
	}
	if (s->state == S_DECIDE || w->o->mode == M_DECISIONS)
		hist_add(&w->st.dec, (uint64_t)(mono_ns() - s->t0));
	switch (m->verdict) {
	case AG_V_ALLOW:
		if (s->state == S_PRECHECK && w->o->mode != M_DECISIONS) {
			if (send_request(w, s, AG_MSG_DECIDE) != 0)
				goto io_error;
			return 0;
		}
		w->st.allow++;
		if (s->state == S_DECIDE && w->o->hold > 0 && AG_HAS(m, AG_F_ID)) {
			/* The backend "works" for --hold ms: the slot stays taken. */
			memcpy(s->id, m->id, AG_ID_LEN);
			s->hold_until = mono_ns() + w->o->hold * 1000000;
			s->state = S_HOLD;
			return 0;
		}
		if (s->state == S_DECIDE) {
			if (!AG_HAS(m, AG_F_ID) || send_report(w, s, m->id) != 0)
				goto io_error;
			return 0;
		}
		finish(w, s, 0);
		return 0;
	case AG_V_DENY:
		w->st.deny++;
		if (s->state == S_PRECHECK && w->o->mode != M_DECISIONS)
			w->st.precheck_deny++;
		ag_escape(rule, sizeof(rule), m->rule.ptr, m->rule.len);
		count_rule(&w->st, rule, 1);
		finish(w, s, 0);
		return 0;
	default:
		w->st.shed++;
		finish(w, s, 0);
		return 0;
	}
io_error:
	w->st.errors++;
	finish(w, s, 1);
	conn_abort(w, x, &w->st.errors);
	return -1;
}

static void readable(struct worker *w, struct conn *x)
{
	struct ag_msg m;
	size_t used, off = 0;
	ssize_t n;
	int rc;

	n = recv(x->fd, x->in + x->ilen, sizeof(x->in) - x->ilen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || x->qlen == 0) {
		/* closed, reset, or talking out of turn on an idle connection */
		conn_abort(w, x, &w->st.errors);
		return;
	}
	x->ilen += (size_t)n;
	while (off < x->ilen) {
		rc = ag_wire_decode(x->in + off, x->ilen - off, &m, &used);
		if (rc == AG_ERR_AGAIN)
			break;
		if (rc != 0 || ag_wire_sender(m.type) != AG_FROM_GOVERNOR || x->qlen == 0) {
			conn_abort(w, x, &w->st.errors);
			return;
		}
		if (answer(w, x, &m) != 0 || x->fd < 0)
			return; /* closed: the buffer went with it */
		off += used;	/* m borrowed x->in until here */
	}
	memmove(x->in, x->in + off, x->ilen - off);
	x->ilen -= off;
}

static void writable(struct worker *w, struct conn *x)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (x->connecting) {
		if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
			conn_abort(w, x, &w->st.connfail);
			return;
		}
		x->connecting = 0;
	}
	if (flush_out(w, x) != 0)
		conn_abort(w, x, &w->st.errors);
}

static void scan_timeouts(struct worker *w, int64_t now)
{
	int i;

	/* Held admissions whose time is up report now (--hold: to SCAN_NS). */
	for (i = 0; i < w->nslots; i++) {
		struct slot *s = &w->slots[i];

		if (s->state != S_HOLD || now < s->hold_until)
			continue;
		s->deadline = now + w->o->budget * 1000000 + EXTRA_TIMEOUT_NS;
		if (send_report(w, s, s->id) != 0) {
			w->st.errors++;
			finish(w, s, 1);
			conn_abort(w, &w->conns[s->conn], &w->st.errors);
		}
	}
	for (i = 0; i < w->nconns; i++) {
		struct conn *x = &w->conns[i];

		/* The oldest request is the first to time out. */
		if (x->qlen > 0 && now > w->slots[x->q[x->qhead]].deadline)
			conn_abort(w, x, &w->st.timeouts);
	}
}

/* Open loop: starts every attempt that is due while a slot is free. Returns
 * when the next one is due, or 0 when none can start (no free slot: a slot
 * that frees wakes the loop; or the run is over). */
static int64_t start_due(struct worker *w, int64_t now)
{
	int64_t next;

	for (;;) {
		next = due_ns(w->start, w->next_i * (uint64_t)w->nthreads + (uint64_t)w->id,
			      w->o->rate);
		if (next >= w->end || w->nfree == 0)
			return 0;
		if (next > now)
			return next;
		start(w, w->free_stack[--w->nfree], next);
		w->next_i++;
	}
}

/* Closed loop: starts an attempt on every free slot, once: one that fails at
 * once (connect refused) goes back to the free list and waits for the next
 * round instead of spinning here. */
static void start_all(struct worker *w)
{
	int n = w->nfree;

	while (n-- > 0 && w->nfree > 0)
		start(w, w->free_stack[--w->nfree], mono_ns());
}

/* Waits for events at most wait_ns. epoll_pwait2 wakes to the µs for the
 * open-loop schedule; without it, whole ms, late starts show as latency. */
static int wait_events(struct worker *w, struct epoll_event *evs, int max, int64_t wait_ns)
{
	struct timespec ts = {.tv_sec = wait_ns / NS, .tv_nsec = wait_ns % NS};
	int n;

	if (!w->coarse) {
		n = epoll_pwait2(w->ep, evs, max, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		w->coarse = 1;
	}
	return epoll_wait(w->ep, evs, max, (int)((wait_ns + 999999) / 1000000));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	int64_t now, next, last_scan = 0;
	int i, n;

	/* The default 50 µs of timer slack would show in open-loop latencies. */
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
	for (i = w->nslots - 1; i >= 0; i--)
		w->free_stack[w->nfree++] = i;
	for (;;) {
		now = mono_ns();
		next = 0;
		if (now < w->end) {
			if (w->o->rate > 0)
				next = start_due(w, now);
			else
				start_all(w);
		} else if (w->active == 0) {
			break;
		}
		if (now - last_scan >= SCAN_NS) {
			scan_timeouts(w, now);
			last_scan = now;
		}
		flush_dirty(w);
		n = wait_events(w, evs, 256,
				next > now && next - now < SCAN_NS ? next - now : SCAN_NS);
		for (i = 0; i < n; i++) {
			struct conn *x = &w->conns[evs[i].data.u32];

			/* A connection closed earlier in this batch is not reopened
			 * before the next round, so a stale event finds it closed. */
			if ((evs[i].events & EPOLLOUT) && x->fd >= 0)
				writable(w, x);
			if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && x->fd >= 0)
				readable(w, x);
		}
	}
	if (w->o->rate > 0) {
		uint64_t due = due_before(w->start, w->end, w->o->rate);
		uint64_t mine = due / (uint64_t)w->nthreads +
				((uint64_t)w->id < due % (uint64_t)w->nthreads ? 1 : 0);

		w->st.missed = mine > w->next_i ? mine - w->next_i : 0;
	}
	return NULL;
}

/* ---- main ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: ag-load -s SOCKET [-m cycles|decisions|pairs] [-c CONNS] [-r RATE]\n"
		   "               [-d SECONDS] [-u USERS] [-a ADDRS] [-f FAILPCT] [-t THREADS]\n"
		   "               [-b BUDGET_MS] [-p DEPTH] [-H MS] [--precheck] [--json]\n"
		   "       ag-load --self-test\n"
		   "  -m  cycles: connect, DECIDE, REPORT, close per attempt (default);\n"
		   "      decisions: PRECHECK back to back on persistent connections;\n"
		   "      pairs: DECIDE + REPORT back to back on persistent connections\n"
		   "  -c  connections (default 50)\n"
		   "  -p  requests kept outstanding per connection, pipelined; decisions and\n"
		   "      pairs only (default 1). CONNS x DEPTH is the concurrency cap\n"
		   "  -r  attempts per second, open loop; 0 = closed loop (default 0)\n"
		   "  -d  seconds (default 10)   -u users (default 1000)\n"
		   "  -a  source addresses in 198.18.0.0/15 (default 1000, at most 131072)\n"
		   "  -f  percent of allowed attempts reported as failures (default 30)\n"
		   "  -t  worker threads (default 2)   -b budget sent in DECIDE (default 2000)\n"
		   "  --precheck  cycles send PRECHECK before DECIDE, as the module does\n"
		   "  -H, --hold MS  keep each admission MS ms before its REPORT (a backend's time;\n"
		   "      reported as backend_ms); default 0\n");
}

/* The numeric options: flag, bounds, where the value goes. */
static const struct num_opt {
	int flag;
	int64_t min, max;
	size_t off;
} num_opts[] = {
    {'c', 1, 100000, offsetof(struct opts, conns)},
    {'r', 0, 10000000, offsetof(struct opts, rate)},
    {'d', 1, 86400, offsetof(struct opts, secs)},
    {'u', 1, 100000000, offsetof(struct opts, users)},
    {'a', 1, ADDR_SPACE, offsetof(struct opts, addrs)},
    {'f', 0, 100, offsetof(struct opts, failpct)},
    {'t', 1, MAX_THREADS, offsetof(struct opts, threads)},
    {'b', 0, AG_BUDGET_MAX, offsetof(struct opts, budget)},
    {'p', 1, 64, offsetof(struct opts, depth)},
    {'H', 0, 60000, offsetof(struct opts, hold)},
};

/* AG_ERR_INVAL (with a message) for an unknown flag or a bad value. */
static int num_opt(int flag, const char *arg, struct opts *o)
{
	size_t i;
	int64_t v;

	for (i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++) {
		const struct num_opt *n = &num_opts[i];

		if (n->flag != flag)
			continue;
		if (ag_parse_int(arg, n->min, n->max, &v) != 0) {
			fprintf(stderr, "ag-load: -%c: '%s' is not an integer in %lld..%lld\n",
				flag, arg, (long long)n->min, (long long)n->max);
			return AG_ERR_INVAL;
		}
		memcpy((char *)o + n->off, &v, sizeof(v));
		return 0;
	}
	return AG_ERR_INVAL; /* getopt has said why */
}

static int parse_opts(int argc, char **argv, struct opts *o, int *self_test)
{
	static const struct option lopts[] = {
	    {"json", no_argument, NULL, 'J'},
	    {"precheck", no_argument, NULL, 'P'},
	    {"self-test", no_argument, NULL, 'T'},
	    {"hold", required_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, rc = 0;

	*o = (struct opts){.mode = M_CYCLES,
			   .conns = 50,
			   .secs = 10,
			   .users = 1000,
			   .addrs = 1000,
			   .failpct = 30,
			   .threads = 2,
			   .budget = 2000,
			   .depth = 1};
	*self_test = 0;
	while (rc == 0 &&
	       (c = getopt_long(argc, argv, "s:m:c:r:d:u:a:f:t:b:p:H:h", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->sock = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "cycles") == 0)
				o->mode = M_CYCLES;
			else if (strcmp(optarg, "decisions") == 0)
				o->mode = M_DECISIONS;
			else if (strcmp(optarg, "pairs") == 0)
				o->mode = M_PAIRS;
			else {
				fprintf(stderr,
					"ag-load: -m: '%s' is not cycles, decisions or pairs\n",
					optarg);
				rc = AG_ERR_INVAL;
			}
			break;
		case 'J':
			o->json = 1;
			break;
		case 'P':
			o->precheck = 1;
			break;
		case 'T':
			*self_test = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			rc = num_opt(c, optarg, o);
			break;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "ag-load: unexpected argument '%s'\n", argv[optind]);
		rc = AG_ERR_INVAL;
	}
	if (rc == 0 && !*self_test && o->sock == NULL) {
		fprintf(stderr, "ag-load: -s SOCKET is required\n");
		rc = AG_ERR_INVAL;
	}
	if (rc == 0 && o->sock != NULL &&
	    strlen(o->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "ag-load: -s: socket path too long\n");
		rc = AG_ERR_INVAL;
	}
	if (rc == 0 && o->depth > 1 && o->mode == M_CYCLES) {
		/* A cycle is one attempt per connection, as the module does. */
		fprintf(stderr, "ag-load: -p: pipelining needs -m decisions or pairs\n");
		rc = AG_ERR_INVAL;
	}
	if (o->threads > o->conns)
		o->threads = o->conns;
	return rc;
}

/* The governor's pid, from the credentials of one connection; 0 if unknown. */
static int governor_pid(const char *sock, pid_t *pid)
{
	struct ag_conn *c = malloc(sizeof(*c));
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int rc;

	*pid = 0;
	if (c == NULL)
		return AG_ERR_NOMEM;
	ag_conn_init(c);
	rc = ag_conn_open(c, sock, ag_mono_ms() + 2000);
	if (rc != 0)
		goto out;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
		*pid = cr.pid;
out:
	ag_conn_close(c);
	free(c);
	return rc;
}

static int raise_fd_limit(int64_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return AG_ERR_SYS;
	if ((int64_t)rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			return AG_ERR_SYS;
	}
	return (int64_t)rl.rlim_cur >= need ? 0 : AG_ERR_FULL;
}

static const char *mode_name(int m)
{
	return m == M_CYCLES ? "cycles" : m == M_DECISIONS ? "decisions" : "pairs";
}

/* Prints an ag_escape'd string as a JSON string (its backslashes doubled). */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void print_lat(const char *name, const struct hist *h, int json)
{
	static const double p[] = {50, 90, 99, 99.9};
	static const char *pn[] = {"p50", "p90", "p99", "p99_9"};
	int i;

	if (json) {
		printf("\"%s\":{\"count\":%llu", name, (unsigned long long)h->n);
		for (i = 0; i < 4; i++)
			printf(",\"%s\":%.1f", pn[i], (double)hist_pct(h, p[i]) / 1000.0);
		printf(",\"max\":%.1f}", (double)h->max / 1000.0);
		return;
	}
	printf("latency %-8s us: n=%llu", name, (unsigned long long)h->n);
	for (i = 0; i < 4; i++)
		printf(" %s=%.1f", pn[i], (double)hist_pct(h, p[i]) / 1000.0);
	printf(" max=%.1f\n", (double)h->max / 1000.0);
}

struct report {
	const struct opts *o;
	const struct stats *st;
	double wall_s, self_cpu, gov_cpu;
	pid_t gov_pid;
};

static void print_report(const struct report *r)
{
	const struct stats *st = r->st;
	double tput = r->wall_s > 0 ? (double)st->done / r->wall_s : 0;
	double pct = r->gov_cpu >= 0 && r->wall_s > 0 ? 100.0 * r->gov_cpu / r->wall_s : -1;
	int i;

	if (r->o->json) {
		printf(
		    "{\"mode\":\"%s\",\"conns\":%lld,\"depth\":%lld,\"threads\":%lld,\"rate\":%lld,"
		    "\"duration_s\":%.3f,\"started\":%llu,\"completed\":%llu,\"allow\":%llu,"
		    "\"deny\":%llu,\"precheck_deny\":%llu,\"shed\":%llu,\"queued\":%llu,"
		    "\"busy\":%llu,\"connect_failed\":%llu,\"errors\":%llu,\"timeouts\":%llu,"
		    "\"missed\":%llu,\"throughput_per_s\":%.1f,\"deny_rules\":{",
		    mode_name(r->o->mode), (long long)r->o->conns, (long long)r->o->depth,
		    (long long)r->o->threads, (long long)r->o->rate, r->wall_s,
		    (unsigned long long)st->started, (unsigned long long)st->done,
		    (unsigned long long)st->allow, (unsigned long long)st->deny,
		    (unsigned long long)st->precheck_deny, (unsigned long long)st->shed,
		    (unsigned long long)st->queued, (unsigned long long)st->busy,
		    (unsigned long long)st->connfail, (unsigned long long)st->errors,
		    (unsigned long long)st->timeouts, (unsigned long long)st->missed, tput);
		for (i = 0; i < st->nrules; i++) {
			if (i > 0)
				putchar(',');
			json_str(st->rules[i].name);
			printf(":%llu", (unsigned long long)st->rules[i].n);
		}
		printf("},\"latency_us\":{");
		print_lat("attempt", &st->lat, 1);
		printf(",");
		print_lat("verdict", &st->dec, 1);
		printf("},\"cpu\":{\"generator_s\":%.3f,\"governor_pid\":%ld,\"governor_s\":%.3f,"
		       "\"governor_pct_of_core\":%.1f}}\n",
		       r->self_cpu, (long)r->gov_pid, r->gov_cpu, pct);
		return;
	}
	printf("mode=%s conns=%lld depth=%lld threads=%lld rate=%lld%s duration_s=%.3f\n",
	       mode_name(r->o->mode), (long long)r->o->conns, (long long)r->o->depth,
	       (long long)r->o->threads, (long long)r->o->rate,
	       r->o->rate ? " (open loop)" : " (closed loop)", r->wall_s);
	printf("attempts: started=%llu completed=%llu allow=%llu deny=%llu shed=%llu queued=%llu\n",
	       (unsigned long long)st->started, (unsigned long long)st->done,
	       (unsigned long long)st->allow, (unsigned long long)st->deny,
	       (unsigned long long)st->shed, (unsigned long long)st->queued);
	printf("problems: busy=%llu connect_failed=%llu errors=%llu timeouts=%llu missed=%llu\n",
	       (unsigned long long)st->busy, (unsigned long long)st->connfail,
	       (unsigned long long)st->errors, (unsigned long long)st->timeouts,
	       (unsigned long long)st->missed);
	printf("deny rules:");
	for (i = 0; i < st->nrules; i++)
		printf(" %s=%llu", st->rules[i].name, (unsigned long long)st->rules[i].n);
	printf("%s\nthroughput: %.1f attempts/s\n", st->nrules ? "" : " none", tput);
	print_lat("attempt", &st->lat, 0);
	print_lat("verdict", &st->dec, 0);
	printf("cpu: ag-load %.2f s", r->self_cpu);
	if (r->gov_cpu >= 0)
		printf("; governor (pid %ld) %.2f s = %.1f%% of one core\n", (long)r->gov_pid,
		       r->gov_cpu, pct);
	else
		printf("; governor unknown (no pid or /proc/PID/stat unreadable)\n");
}

static int self_test(void);

static int run(const struct opts *o)
{
	struct worker *w = calloc((size_t)o->threads, sizeof(*w));
	struct stats *total = calloc(1, sizeof(*total));
	struct report r = {.o = o, .st = total};
	double gov0, self0;
	int64_t start, per, rest, t;
	int rc = 0, started = 0;

	if (w == NULL || total == NULL) {
		rc = AG_ERR_NOMEM;
		goto out;
	}
	rc = governor_pid(o->sock, &r.gov_pid);
	if (rc != 0) {
		fprintf(stderr, "ag-load: cannot connect to %s: %s\n", o->sock, ag_strerror(rc));
		goto out;
	}
	if (raise_fd_limit(o->conns + 4 * o->threads + 16) != 0) {
		fprintf(stderr, "ag-load: not enough file descriptors for %lld connections\n",
			(long long)o->conns);
		rc = AG_ERR_FULL;
		goto out;
	}
	per = o->conns / o->threads;
	rest = o->conns % o->threads;
	for (t = 0; t < o->threads; t++) {
		struct worker *x = &w[t];
		int i;

		x->id = (int)t;
		x->nthreads = (int)o->threads;
		x->o = o;
		x->nconns = (int)(per + (t < rest ? 1 : 0));
		x->depth = (int)o->depth;
		x->nslots = x->nconns * x->depth;
		x->slots = calloc((size_t)x->nslots, sizeof(*x->slots));
		x->conns = calloc((size_t)x->nconns, sizeof(*x->conns));
		x->free_stack = calloc((size_t)x->nslots, sizeof(int));
		x->dirty = calloc((size_t)x->nconns, sizeof(int));
		x->ep = epoll_create1(EPOLL_CLOEXEC);
		x->rng = (uint64_t)mono_ns() ^ ((uint64_t)(t + 1) * UINT64_C(0x9e3779b97f4a7c15));
		if (x->rng == 0)
			x->rng = 1;
		if (x->slots == NULL || x->conns == NULL || x->free_stack == NULL ||
		    x->dirty == NULL || x->ep < 0) {
			rc = AG_ERR_SYS;
			goto out;
		}
		for (i = 0; i < x->nconns; i++)
			x->conns[i].fd = -1;
		for (i = 0; i < x->nconns; i++) {
			x->conns[i].out = malloc((size_t)x->depth * REQ_MAX);
			x->conns[i].q = calloc((size_t)x->depth, sizeof(int));
			if (x->conns[i].out == NULL || x->conns[i].q == NULL) {
				rc = AG_ERR_NOMEM;
				goto out;
			}
		}
		/* A connection's slots are its places in the pipeline. */
		for (i = 0; i < x->nslots; i++)
			x->slots[i].conn = i / x->depth;
	}
	gov0 = proc_cpu_s(r.gov_pid);
	self0 = self_cpu_s();
	start = mono_ns() + 10000000; /* 10 ms for the threads to start */
	for (t = 0; t < o->threads; t++) {
		w[t].start = start;
		w[t].end = start + o->secs * NS;
		if (pthread_create(&w[t].th, NULL, worker_main, &w[t]) != 0) {
			fprintf(stderr, "ag-load: cannot start a thread\n");
			rc = AG_ERR_SYS;
			break;
		}
		started++;
	}
	for (t = 0; t < started; t++) {
		pthread_join(w[t].th, NULL);
		stats_merge(total, &w[t].st);
	}
	if (rc != 0)
		goto out;
	r.self_cpu = self_cpu_s() - self0;
	r.gov_cpu = gov0 >= 0 ? proc_cpu_s(r.gov_pid) - gov0 : -1;
	if (r.gov_cpu < 0)
		r.gov_cpu = -1;
	r.wall_s = (double)((total->last_ns > w[0].end ? total->last_ns : w[0].end) - start) / 1e9;
	print_report(&r);
out:
	for (t = 0; w != NULL && t < o->threads; t++) {
		int i;

		for (i = 0; w[t].conns != NULL && i < w[t].nconns; i++) {
			if (w[t].conns[i].fd >= 0)
				close(w[t].conns[i].fd);
			free(w[t].conns[i].out);
			free(w[t].conns[i].q);
		}
		if (w[t].ep > 0)
			close(w[t].ep);
		free(w[t].slots);
		free(w[t].conns);
		free(w[t].free_stack);
		free(w[t].dirty);
	}
	free(w);
	free(total);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	int st;

	if (parse_opts(argc, argv, &o, &st) != 0) {
		fprintf(stderr, "ag-load: try ag-load --help\n");
		return 2;
	}
	if (st)
		return self_test() == 0 ? 0 : 1;
	return run(&o) == 0 ? 0 : 1;
}

/* ---- self-test: the arithmetic, checked without a governor ---------------------- */

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "self-test: %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)

static int self_test(void)
{
	static struct hist h;
	uint64_t v, ticks;
	char buf[32];
	int fails = 0, i;

	/* buckets: exact below 128, contiguous, each value within its bucket */
	CHECK(hist_index(0) == 0 && hist_index(127) == 127 && hist_index(128) == 128);
	CHECK(hist_index(255) == 255 && hist_index(256) == 256 && hist_index(257) == 256);
	CHECK(hist_high(256) == 257 && hist_high(255) == 255);
	for (v = 1; v < (UINT64_C(1) << 62); v = v * 3 + 1) {
		int k = hist_index(v);

		CHECK(k < H_BUCKETS && v <= hist_high(k) && (k == 0 || v > hist_high(k - 1)));
		CHECK((double)(hist_high(k) - v) <= (double)v / H_SUB);
	}
	CHECK(hist_index(UINT64_MAX) < H_BUCKETS);
	/* percentiles of 1..1000 (ns) */
	for (v = 1; v <= 1000; v++)
		hist_add(&h, v);
	CHECK(h.n == 1000 && h.max == 1000);
	CHECK(hist_pct(&h, 50) >= 500 && hist_pct(&h, 50) <= 504);
	CHECK(hist_pct(&h, 99) >= 990 && hist_pct(&h, 99) <= 997);
	CHECK(hist_pct(&h, 99.9) >= 999 && hist_pct(&h, 99.9) <= 1000);
	CHECK(hist_pct(&h, 100) == 1000);
	/* open-loop schedule: exact, monotonic, no overflow over a long run */
	CHECK(due_ns(0, 0, 1000) == 0 && due_ns(0, 1, 1000) == 1000000);
	CHECK(due_ns(5, 3, 3) == 5 + NS && due_ns(0, 1, 3) == 333333333);
	CHECK(due_ns(0, UINT64_C(3600) * 10000000, 10000000) == 3600 * NS);
	CHECK(due_before(0, NS, 1000) == 1000 && due_before(0, NS + 1, 1000) == 1001);
	CHECK(due_before(0, 1, 1000) == 1 && due_before(10, 10, 5) == 0);
	for (i = 0; i < 2000; i++)
		CHECK(due_ns(0, (uint64_t)i, 7) < due_ns(0, (uint64_t)i + 1, 7));
	/* due_before counts exactly the i with due_ns(i) < end */
	for (i = 1; i < 50; i++) {
		int64_t end = (int64_t)i * 37000001;
		uint64_t n = due_before(0, end, 77);

		CHECK(due_ns(0, n - 1, 77) < end && due_ns(0, n, 77) >= end);
	}
	/* sources */
	addr_name(buf, sizeof(buf), 0);
	CHECK(strcmp(buf, "198.18.0.0") == 0);
	addr_name(buf, sizeof(buf), 65536 + 258);
	CHECK(strcmp(buf, "198.19.1.2") == 0);
	addr_name(buf, sizeof(buf), ADDR_SPACE - 1);
	CHECK(strcmp(buf, "198.19.255.255") == 0);
	/* /proc/PID/stat */
	CHECK(stat_ticks("42 (a b) c)) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0\n", &ticks) == 0);
	CHECK(ticks == 175);
	CHECK(stat_ticks("42 (x) S 1 2 3 4 5 6 7 8 9 10 -1 25\n", &ticks) != 0);
	CHECK(stat_ticks("42 (x) S 1 2", &ticks) != 0 && ticks == 0);
	CHECK(stat_ticks("no paren", &ticks) != 0);
	CHECK(proc_cpu_s(getpid()) >= 0);
	printf("self-test: %s\n", fails ? "FAILED" : "ok");
	return fails;
}

/* attempt.c - DECIDE, PRECHECK and REPORT: normalising an attempt, rule 1,
 * the store, admissions and their leases, the class queues. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <sodium.h>

#include "ag_err.h"
#include "ag_escape.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "client.h"
#include "gov.h"
#include "log.h"
#include "rand.h"

#define ALL_CLASSES ((1u << AG_CLASS_COUNT) - 1)
#define JITTER_PM   200

static void report_error(void *arg, int rc, int64_t cleared);

/* ---- normalising ---- */

/* Copies an optional string field; *out is NULL when the field is absent. */
static int opt_field(const struct ag_msg *m, int field, struct ag_str s, char *buf, size_t cap,
		     const char **out)
{
	int rc;

	*out = NULL;
	if (!AG_HAS(m, field))
		return 0;
	rc = ag_str_copy(buf, cap, s);
	if (rc < 0)
		return rc;
	*out = buf;
	return 0;
}

int gov_attempt_normalise(const struct gov *g, const char *user, const char *rhost,
			  const char *ruser, const char *tty, int user_socket, uid_t uid,
			  struct gov_norm *out)
{
	const struct ag_conf *cf = g->conf;
	size_t i, len;
	int rc;

	memset(out, 0, sizeof(*out));
	out->user_socket = user_socket;
	if (user_socket) {
		/* Whatever name or origin the peer claims, the kernel says who it
		 * is: a local user must not spend the budgets of a remote source
		 * or mark its netblock failing, so the source is the uid too. */
		snprintf(out->user, sizeof(out->user), "uid:%lu", (unsigned long)uid);
		rhost = NULL;
		ruser = out->user;
		tty = NULL;
	} else {
		len = user != NULL ? strlen(user) : 0;
		if (len == 0)
			return AG_ERR_INVAL;
		if (len >= sizeof(out->user))
			return AG_ERR_TOOBIG;
		memcpy(out->user, user, len + 1);
		if (cf->fold_case)
			for (i = 0; i < len; i++)
				if (out->user[i] >= 'A' && out->user[i] <= 'Z')
					out->user[i] = (char)(out->user[i] - 'A' + 'a');
	}
	rc = ag_source_from(rhost != NULL && rhost[0] != '\0' ? rhost : NULL, ruser, tty,
			    (int)cf->source_prefix_v4, (int)cf->source_prefix_v6,
			    (int)cf->agg_prefix_v4, (int)cf->agg_prefix_v6, &out->src);
	return rc < 0 ? AG_ERR_INVAL : 0;
}

/* Normalises the attempt carried by m; on failure answers ERROR and returns
 * the code (the connection stays open). */
static int norm_msg(struct gov *g, struct gov_client *c, const struct ag_msg *m, struct gov_norm *n)
{
	char user[AG_NAME_MAX + 1], rhost[AG_NAME_MAX + 1], ruser[AG_NAME_MAX + 1];
	char tty[AG_NAME_MAX + 1], esc[96];
	const char *pu, *ph, *pr, *pt, *ps;
	char text[160];
	int rc;

	rc = opt_field(m, AG_F_USER, m->user, user, sizeof(user), &pu);
	if (rc == 0)
		rc = opt_field(m, AG_F_RHOST, m->rhost, rhost, sizeof(rhost), &ph);
	if (rc == 0)
		rc = opt_field(m, AG_F_RUSER, m->ruser, ruser, sizeof(ruser), &pr);
	if (rc == 0)
		rc = opt_field(m, AG_F_TTY, m->tty, tty, sizeof(tty), &pt);
	if (rc == 0)
		rc = gov_attempt_normalise(g, pu, ph, pr, pt, c->user_socket, c->peer.uid, n);
	if (rc == 0)
		rc = opt_field(m, AG_F_SERVICE, m->service, n->service, sizeof(n->service), &ps);
	if (rc < 0) {
		if (AG_HAS(m, AG_F_RHOST))
			ag_escape(esc, sizeof(esc), m->rhost.ptr, m->rhost.len);
		else
			strcpy(esc, "-");
		snprintf(text, sizeof(text), "invalid attempt (user or rhost %s)", esc);
		gov_client_error(c, AG_ERR_INVAL, text);
		return AG_ERR_INVAL;
	}
	return 0;
}

/* fleet_max_inflight reached: the queues wait until a "free" message (a
 * release on any host, this one's included) or the next poll; asking Redis
 * for each waiter in turn would only spin. */
static void fleet_full(struct gov *g)
{
	g->stats.fleet_full++;
	if (!g->fleet_full && g->ev_fleet != NULL)
		gov_timer_ms(g->ev_fleet, GOV_FLEET_POLL_MS);
	g->fleet_full = 1;
}

void gov_attempt_fleet_poll(struct gov *g)
{
	g->fleet_full = 0;
	gov_attempt_serve(g);
}

/* A commit's ticket: 64 random bits in hex (store.h). */
static void new_ticket(char out[GOV_TICKET_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[GOV_TICKET_LEN / 2];
	size_t i;

	gov_rand_buf(b, sizeof(b));
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[GOV_TICKET_LEN] = '\0';
}

/* Rule 1 here, rules 2-4 in the store; done(op, ...) is called once, now
 * or later (gov_store_decide). 0, or an AG_ERR_* code when the store could
 * not be asked (done is not called). */
static int judge(struct gov *g, struct gov_op *op, int mode, unsigned slot_mask,
		 gov_store_decided done)
{
	const struct gov_list_entry *e = NULL;
	struct gov_decision d;
	struct gov_attempt at;
	int64_t now = op->t.wall_ms;
	int kind = 0;

	op->allowlisted = 0;
	if (op->n.src.is_addr)
		kind = gov_lists_match(g->lists, &op->n.src.addr, now, &e);
	if (kind == GOV_LIST_DENY) {
		memset(&d, 0, sizeof(d));
		d.verdict = AG_V_DENY;
		d.rule = GOV_RULE_DENYLIST;
		d.retry_ms = e != NULL && e->expires_ms > now ? e->expires_ms - now : 0;
		d.klass = AG_CLASS_DIRTY;
		done(op, 0, &d);
		return 0;
	}
	op->allowlisted = kind == GOV_LIST_ALLOW;
	at.user = op->n.user;
	at.source = op->n.src.key;
	at.agg = op->n.src.agg;
	at.allowlisted = op->allowlisted;
	at.user_socket = op->n.user_socket;
	at.budget_ms = op->deadline_ms > 0 ? op->deadline_ms - ag_mono_ms() : 0;
	if (op->deadline_ms > 0 && at.budget_ms < 1)
		at.budget_ms = 1;
	at.ticket = op->ticket[0] != '\0' ? op->ticket : NULL;
	return gov_store_decide(&g->store, &at, now, mode, slot_mask, done, op);
}

/* ---- answers ---- */

static uint32_t clamp_u32(int64_t v)
{
	return v < 0 ? 0 : v > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void answer_shed(struct gov *g, struct gov_client *c, int64_t recv_us, int is_decide)
{
	struct ag_msg m;

	ag_msg_init(&m, AG_MSG_VERDICT);
	ag_msg_set_u32(&m, AG_F_VERDICT, AG_V_SHED);
	ag_msg_set_str(&m, AG_F_RULE, gov_rule_name(GOV_RULE_SHED));
	g->stats.shed++;
	if (is_decide)
		gov_client_answered(c, recv_us);
	(void)gov_client_send(c, &m);
}

/* now_ms: monotonic, for the denial log's rate limit. */
static void answer_deny(struct gov *g, struct gov_client *c, const struct gov_norm *n,
			const struct gov_decision *d, int64_t recv_us, int64_t now_ms,
			int is_decide)
{
	struct ag_msg m;
	int rule = d->rule > GOV_RULE_NONE && d->rule < GOV_RULE_COUNT ? d->rule : GOV_RULE_NONE;

	ag_msg_init(&m, AG_MSG_VERDICT);
	ag_msg_set_u32(&m, AG_F_VERDICT, AG_V_DENY);
	ag_msg_set_str(&m, AG_F_RULE, gov_rule_name(rule));
	ag_msg_set_u32(&m, AG_F_RETRY_MS, clamp_u32(d->retry_ms));
	g->stats.denied[rule]++;
	gov_top_count(&g->top_src, n->src.key, 0, now_ms);
	gov_top_count(&g->top_user, n->user, 0, now_ms);
	if (is_decide)
		gov_client_answered(c, recv_us);
	gov_log_denial(gov_rule_name(rule), n->user, n->src.key, d->retry_ms, n->service, now_ms);
	(void)gov_client_send(c, &m);
}

static void rearm_expiry(struct gov *g)
{
	struct gov_waiter *w = gov_admit_first_expiry(&g->admit);

	if (g->ev_expire == NULL)
		return;
	if (w == NULL)
		evtimer_del(g->ev_expire);
	else
		gov_timer_ms(g->ev_expire, w->expire_ms - ag_mono_ms());
}

/* ---- admissions ---- */

static void release_slot(struct gov *g, struct gov_admission *a)
{
	if (!a->slot_held)
		return;
	a->slot_held = 0;
	if (a->user_socket)
		g->user_inflight--;
	else
		gov_admit_release(&g->admit, a->klass);
}

static void lease_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gov_admission *a = arg;
	struct gov *g = a->client->g;
	int held = a->slot_held;

	/* The lease only frees the slot: a report that comes later on the same
	 * connection still counts, and closing the connection still abandons. */
	a->lease_over = 1;
	release_slot(g, a);
	if (held) {
		char u[96], s[96];

		ag_escape(u, sizeof(u), a->user, strlen(a->user));
		ag_escape(s, sizeof(s), a->source, strlen(a->source));
		gov_log(LOG_NOTICE, "lease ran out: user=%s source=%s pid=%ld", u, s,
			(long)a->client->peer.pid);
		if (!a->user_socket)
			gov_attempt_serve(g);
	}
}

/* An admission not yet linked to anything: allocated before the store
 * commits, so that running out of memory cannot strand a committed attempt. */
static struct gov_admission *admission_new(struct gov *g, struct gov_client *c)
{
	struct gov_admission *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->client = c;
	a->lease_ev = evtimer_new(g->base, lease_cb, a);
	if (a->lease_ev == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

/* Unlinks (if linked) and frees; the slot must already be released. */
static void admission_free(struct gov *g, struct gov_admission *a)
{
	struct gov_client *c = a->client;
	struct gov_uid *u;

	if (a->prev != NULL || c->adm == a) {
		if (a->prev != NULL)
			a->prev->next = a->next;
		else
			c->adm = a->next;
		if (a->next != NULL)
			a->next->prev = a->prev;
		c->nadm--;
		if (a->user_socket && (u = gov_uid_get(g, c->peer.uid, 0)) != NULL) {
			u->admissions--;
			gov_uid_put(g, c->peer.uid);
		}
	}
	event_free(a->lease_ev);
	sodium_memzero(a->id, sizeof(a->id));
	free(a);
}

static void attempt_of(const struct gov_admission *a, struct gov_attempt *at)
{
	at->user = a->user;
	at->source = a->source;
	at->agg = a->agg;
	at->allowlisted = a->allowlisted;
	at->user_socket = a->user_socket;
	at->budget_ms = 0;
	at->ticket = a->ticket[0] != '\0' ? a->ticket : NULL;
}

void gov_admission_abandon(struct gov *g, struct gov_admission *a)
{
	struct gov_attempt at;
	int rc;

	if (!g->stopping) {
		attempt_of(a, &at);
		rc = gov_store_report(&g->store, &at, GOV_OUT_ABANDON, ag_wall_ms(),
				      (int)gov_rand_uniform(2 * JITTER_PM + 1) - JITTER_PM,
				      report_error, g);
		if (rc < 0)
			report_error(g, rc, 0);
		g->stats.abandoned++;
		g->stats.abandoned_by[a->klass]++;
	}
	release_slot(g, a);
	admission_free(g, a);
}

/* Links the admitted attempt to c, takes its slot, starts its lease and
 * answers allow. AG_ERR_FULL, with nothing done, when the class has no slot
 * after all: a store that answers later was given a mask that has since
 * gone stale. */
static int admit(struct gov *g, struct gov_client *c, struct gov_admission *a,
		 const struct gov_norm *n, const struct gov_decision *d, int allowlisted,
		 int64_t recv_us)
{
	int klass = d->klass >= 0 && d->klass < AG_CLASS_COUNT ? d->klass : AG_CLASS_DIRTY;
	struct gov_uid *u;
	struct ag_msg m;

	if (c->user_socket) {
		if (g->user_inflight >= g->conf->user_slots)
			return AG_ERR_FULL;
		g->user_inflight++;
		/* The entry exists: the connection counts in it. */
		u = gov_uid_get(g, c->peer.uid, 0);
		if (u != NULL)
			u->admissions++;
	} else if (gov_admit_acquire(&g->admit, klass) != 0) {
		return AG_ERR_FULL;
	} else if (g->admit.inflight >= g->admit.limit) {
		gov_adaptive_binding(&g->adapt); /* the last slot went */
	}
	a->slot_held = 1;
	memcpy(a->user, n->user, sizeof(a->user));
	memcpy(a->source, n->src.key, sizeof(a->source));
	memcpy(a->agg, n->src.agg, sizeof(a->agg));
	a->klass = klass;
	a->allowlisted = allowlisted;
	a->user_socket = c->user_socket;
	gov_rand_buf(a->id, sizeof(a->id));
	a->next = c->adm;
	if (c->adm != NULL)
		c->adm->prev = a;
	c->adm = a;
	c->nadm++;
	gov_timer_ms(a->lease_ev, a->user_socket ? g->conf->user_lease_ms : g->conf->lease_ms);

	ag_msg_init(&m, AG_MSG_VERDICT);
	ag_msg_set_u32(&m, AG_F_VERDICT, AG_V_ALLOW);
	m.present |= 1u << AG_F_ID;
	memcpy(m.id, a->id, sizeof(m.id));
	ag_msg_set_u32(&m, AG_F_CLASS, (uint32_t)a->klass);
	g->stats.allowed++;
	g->stats.allowed_by[a->klass]++;
	gov_client_answered(c, recv_us);
	(void)gov_client_send(c, &m);
	return 0;
}

/* ---- DECIDE ---- */

static unsigned slot_mask(struct gov *g, const struct gov_client *c)
{
	const struct gov_uid *u;

	if (!c->user_socket)
		return gov_admit_slot_mask(&g->admit);
	if (g->user_inflight >= g->conf->user_slots)
		return 0;
	u = gov_uid_get(g, c->peer.uid, 0);
	if (u != NULL && u->admissions >= g->conf->user_max_admissions)
		return 0;
	return ALL_CLASSES;
}

/* Joins the class queue; announce: send QUEUED (not when re-queued after a
 * dequeue, the module already waits). */
static void enqueue(struct gov *g, struct gov_client *c, const struct gov_norm *n,
		    const struct gov_decision *d, int64_t recv_us, int64_t deadline_ms,
		    int announce)
{
	struct gov_pending *p = &c->pending;
	struct ag_msg m;
	int64_t now = ag_mono_ms();

	if (n != &p->n)
		p->n = *n;
	p->recv_us = recv_us;
	p->deadline_ms = deadline_ms;
	memset(&p->w, 0, sizeof(p->w));
	p->w.klass = d->klass >= 0 && d->klass < AG_CLASS_COUNT ? d->klass : AG_CLASS_DIRTY;
	p->w.owner = c;
	if (gov_admit_enqueue(&g->admit, &p->w, now, deadline_ms - g->conf->shed_margin_ms,
			      gov_rand_u32()) < 0) {
		answer_shed(g, c, recv_us, 1);
		return;
	}
	if (p->w.expire_ms <= now) {
		/* Its budget cannot cover a wait: say so now rather than QUEUED. */
		gov_admit_remove(&g->admit, &p->w, now);
		answer_shed(g, c, recv_us, 1);
		return;
	}
	p->active = 1;
	rearm_expiry(g);
	if (!announce)
		return;
	g->stats.queued++;
	g->stats.queued_by[p->w.klass]++;
	ag_msg_init(&m, AG_MSG_QUEUED);
	ag_msg_set_u32(&m, AG_F_CLASS, (uint32_t)p->w.klass);
	(void)gov_client_send(c, &m);
}

/* ---- asking the store ---- */

/* An admission allocated for an op whose client may be gone: unlinked. */
static void admission_drop(struct gov_admission *a)
{
	if (a == NULL)
		return;
	event_free(a->lease_ev);
	sodium_memzero(a->id, sizeof(a->id));
	free(a);
}

static void op_free(struct gov *g, struct gov_op *op)
{
	if (op->dequeued)
		g->deciding--;
	admission_drop(op->a);
	free(op);
}

static void store_failed(struct gov *g, struct gov_client *c, int op, int rc)
{
	g->stats.store_errors[op]++;
	gov_log(LOG_ERR, "store: %s failed: %s", op == GOV_STORE_PRECHECK ? "precheck" : "decide",
		ag_strerror(rc));
	gov_client_error(c, rc, "store failed");
}

static void attempt_norm(const struct gov_norm *n, int allowlisted, struct gov_attempt *at)
{
	at->user = n->user;
	at->source = n->src.key;
	at->agg = n->src.agg;
	at->allowlisted = allowlisted;
	at->user_socket = n->user_socket;
	at->budget_ms = 0;
	at->ticket = NULL;
}

static void report_error(void *arg, int rc, int64_t cleared)
{
	struct gov *g = arg;

	if (rc < 0) {
		g->stats.store_errors[GOV_STORE_REPORT]++;
		gov_log(LOG_ERR, "store: report not recorded: %s", ag_strerror(rc));
	}
}

/* Takes back an attempt the store committed but that got no slot, or whose
 * client went away before the answer: its provisional failure is dropped
 * (as for an unavailable backend); the tokens it spent stay spent. */
static void take_back(struct gov *g, const struct gov_op *op)
{
	struct gov_attempt at;
	int rc;

	attempt_norm(&op->n, op->allowlisted, &at);
	at.ticket = op->ticket[0] != '\0' ? op->ticket : NULL;
	rc = gov_store_report(&g->store, &at, AG_OUT_UNAVAIL, ag_wall_ms(), 0, report_error, g);
	if (rc < 0)
		report_error(g, rc, 0);
}

/* Starts asking the store for op; c waits (blocked) until the answer. On a
 * failure to start, answers ERROR and frees op. */
static void op_start(struct gov *g, struct gov_client *c, struct gov_op *op, int mode,
		     unsigned mask, gov_store_decided done)
{
	int rc;

	c->op = op;
	rc = judge(g, op, mode, mask, done);
	if (rc < 0) {
		c->op = NULL;
		store_failed(g, c, op->precheck ? GOV_STORE_PRECHECK : GOV_STORE_DECIDE, rc);
		op_free(g, op);
		return;
	}
	/* Answered inline, done has freed op and cleared c->op. */
	if (c->op != NULL)
		op->later = 1;
}

/* Detaches op from its client: done() checks op->client. */
void gov_attempt_orphan(struct gov *g, struct gov_client *c)
{
	if (c->op == NULL)
		return;
	c->op->client = NULL;
	c->op = NULL;
}

/* The answer of the store to a DECIDE, and the answer to the module. */
static void decide_done(void *arg, int rc, const struct gov_decision *d)
{
	struct gov_op *op = arg;
	struct gov *g = op->g;
	struct gov_client *c = op->client;
	int64_t recv_us = op->t.recv_us;
	int later = op->later, dequeued = op->dequeued;
	struct gov_admission *a = op->a;

	if (c == NULL) {
		if (rc == 0 && d->verdict == AG_V_ALLOW)
			take_back(g, op);
		op_free(g, op);
		if (dequeued)
			gov_attempt_serve(g);
		return;
	}
	c->op = NULL;
	op->a = NULL;
	if (rc < 0) {
		admission_free(g, a);
		store_failed(g, c, GOV_STORE_DECIDE, rc);
	} else if (d->verdict == AG_V_ALLOW &&
		   admit(g, c, a, &op->n, d, op->allowlisted, recv_us) == 0) {
		/* admitted */
	} else {
		admission_free(g, a);
		if (d->verdict == AG_V_ALLOW)
			take_back(g, op); /* no slot after all: wait like any other */
		if (d->verdict == AG_V_DENY)
			answer_deny(g, c, &op->n, d, recv_us, ag_mono_ms(), 1);
		else if (c->user_socket) /* the user socket never queues */
			answer_shed(g, c, recv_us, 1);
		else {
			/* No slot: the limit is what holds this one back. */
			if (d->verdict == GOV_NOSLOT && d->fleet_full)
				fleet_full(g);
			else
				gov_adaptive_binding(&g->adapt);
			enqueue(g, c, &op->n, d, recv_us, op->deadline_ms, op->fresh);
		}
	}
	op_free(g, op);
	if (later)
		gov_client_resume(c);
	if (later && dequeued)
		gov_attempt_serve(g);
}

/* The whole decision for one DECIDE (fresh, or a waiter taken from its
 * queue); the answer comes with decide_done. */
static void decide(struct gov *g, struct gov_client *c, const struct gov_norm *n,
		   const struct gov_when *t, int64_t deadline_ms, int fresh)
{
	struct gov_op *op;

	if (t->now_us / 1000 > deadline_ms) {
		answer_shed(g, c, t->recv_us, 1);
		return;
	}
	if (c->nadm >= GOV_CLIENT_ADM_MAX) {
		gov_client_error(c, AG_ERR_FULL, "too many open admissions on this connection");
		return;
	}
	op = calloc(1, sizeof(*op));
	if (op != NULL)
		op->a = admission_new(g, c);
	if (op == NULL || op->a == NULL) {
		free(op);
		gov_client_error(c, AG_ERR_NOMEM, "out of memory");
		return;
	}
	op->g = g;
	op->client = c;
	op->fresh = fresh;
	op->deadline_ms = deadline_ms;
	op->t = *t;
	op->n = *n;
	new_ticket(op->ticket);
	memcpy(op->a->ticket, op->ticket, sizeof(op->ticket));
	if (!fresh && gov_store_is_async(&g->store)) {
		/* A waiter's slot stays free until the answer: count it, so
		 * that serve does not hand the same slot to the next one. */
		op->dequeued = 1;
		g->deciding++;
	}
	op_start(g, c, op, GOV_COMMIT | GOV_TERSE, slot_mask(g, c), decide_done);
}

static int64_t deadline_of(const struct ag_msg *m, int64_t recv_us)
{
	int64_t budget = AG_HAS(m, AG_F_BUDGET) ? (int64_t)m->budget_ms : GOV_BUDGET_DEFAULT_MS;

	return recv_us / 1000 + budget;
}

int gov_attempt_decide(struct gov *g, struct gov_client *c, const struct ag_msg *m,
		       const struct gov_when *t)
{
	struct gov_norm n;

	if (norm_msg(g, c, m, &n) < 0)
		return 0;
	decide(g, c, &n, t, deadline_of(m, t->recv_us), 1);
	return 0;
}

static void precheck_done(void *arg, int rc, const struct gov_decision *d)
{
	struct gov_op *op = arg;
	struct gov *g = op->g;
	struct gov_client *c = op->client;
	int later = op->later;
	struct ag_msg r;

	if (c == NULL) {
		op_free(g, op);
		return;
	}
	c->op = NULL;
	if (rc < 0) {
		store_failed(g, c, GOV_STORE_PRECHECK, rc);
	} else if (d->verdict == AG_V_DENY) {
		answer_deny(g, c, &op->n, d, op->t.recv_us, ag_mono_ms(), 0);
	} else {
		ag_msg_init(&r, AG_MSG_VERDICT);
		ag_msg_set_u32(&r, AG_F_VERDICT, AG_V_ALLOW);
		(void)gov_client_send(c, &r);
	}
	op_free(g, op);
	if (later)
		gov_client_resume(c);
}

int gov_attempt_precheck(struct gov *g, struct gov_client *c, const struct ag_msg *m,
			 const struct gov_when *t)
{
	struct gov_op *op;
	struct gov_norm n;

	if (norm_msg(g, c, m, &n) < 0)
		return 0;
	if (t->now_us / 1000 > deadline_of(m, t->recv_us)) {
		answer_shed(g, c, t->recv_us, 0);
		return 0;
	}
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		gov_client_error(c, AG_ERR_NOMEM, "out of memory");
		return 0;
	}
	op->g = g;
	op->client = c;
	op->precheck = 1;
	op->deadline_ms = deadline_of(m, t->recv_us);
	op->t = *t;
	op->n = n;
	/* Only the rules: a full host is not a reason to skip the password. */
	op_start(g, c, op, GOV_CHECK | GOV_TERSE, ALL_CLASSES, precheck_done);
	return 0;
}

/* ---- REPORT ---- */

/* What a report's answer needs to log a success after failures. */
struct report_log {
	struct gov *g;
	char user[GOV_USER_MAX];
	char source[AG_SOURCE_MAX];
};

/* A success after failures always gets its own line, burst or not: it is
 * what an operator looks for after "why was I denied?". */
static void report_logged(void *arg, int rc, int64_t cleared)
{
	struct report_log *l = arg;
	char u[AG_NAME_MAX * 4 + 1], s[AG_SOURCE_MAX * 4 + 1];

	report_error(l->g, rc, cleared);
	if (rc == 0 && cleared > 0) {
		ag_escape(u, sizeof(u), l->user, strlen(l->user));
		ag_escape(s, sizeof(s), l->source, strlen(l->source));
		gov_log(LOG_NOTICE, "success after failures user=%s source=%s failures=%lld", u,
			s, (long long)cleared);
	}
	free(l);
}

/* Sends the outcome of a to the store; the answer is only logged. */
static void report_store(struct gov *g, const struct gov_admission *a, int outcome, int64_t now)
{
	struct report_log *l = malloc(sizeof(*l));
	struct gov_attempt at;
	int rc;

	attempt_of(a, &at);
	if (l != NULL) {
		l->g = g;
		memcpy(l->user, a->user, sizeof(l->user));
		memcpy(l->source, a->source, sizeof(l->source));
	}
	rc = gov_store_report(&g->store, &at, outcome, now,
			      (int)gov_rand_uniform(2 * JITTER_PM + 1) - JITTER_PM,
			      l != NULL ? report_logged : report_error, l != NULL ? (void *)l : g);
	if (rc < 0) {
		free(l);
		report_error(g, rc, 0);
	}
}

static struct gov_admission *find_admission(struct gov_client *c, const uint8_t *id)
{
	struct gov_admission *a;

	for (a = c->adm; a != NULL; a = a->next)
		if (sodium_memcmp(a->id, id, AG_ID_LEN) == 0)
			return a;
	return NULL;
}

int gov_attempt_report(struct gov *g, struct gov_client *c, const struct ag_msg *m,
		       const struct gov_when *t)
{
	struct gov_admission *a;
	struct ag_msg r;
	int held, user;

	if (!AG_HAS(m, AG_F_ID) || !AG_HAS(m, AG_F_OUTCOME) || m->outcome < AG_OUT_SUCCESS ||
	    m->outcome > AG_OUT_PASS) {
		gov_client_fail(c, AG_ERR_PROTO, "REPORT needs an id and an outcome");
		return AG_ERR_PROTO;
	}
	a = find_admission(c, m->id);
	if (a == NULL) {
		gov_client_error(c, AG_ERR_NOTFOUND, "no such admission on this connection");
		return 0;
	}
	g->stats.reports[m->outcome]++;
	g->stats.reports_by[a->klass][m->outcome]++;
	if (m->outcome == AG_OUT_FAIL) {
		gov_top_count(&g->top_src, a->source, 1, t->now_us / 1000);
		gov_top_count(&g->top_user, a->user, 1, t->now_us / 1000);
	}
	held = a->slot_held;
	user = a->user_socket;
	/* max_inflight = auto learns from the privileged socket only: a
	 * screen locker's times say nothing of the backend's load. */
	if (!user && (AG_HAS(m, AG_F_BACKEND_MS) || m->outcome == AG_OUT_UNAVAIL))
		gov_adaptive_report(&g->adapt, AG_HAS(m, AG_F_BACKEND_MS) ? (int64_t)m->backend_ms : -1,
				    m->outcome == AG_OUT_UNAVAIL);
	release_slot(g, a);
	if (m->outcome == AG_OUT_PASS) {
		/* The admission stays open for the final outcome, however long
		 * the next factor takes; only the slot had a lease. */
		evtimer_del(a->lease_ev);
	} else {
		report_store(g, a, m->outcome, t->wall_ms);
		admission_free(g, a);
	}
	ag_msg_init(&r, AG_MSG_ACK);
	(void)gov_client_send(c, &r);
	/* With the fleet full, the release reaches every host's waiters alike
	 * through Redis ("free"), this one's too: no head start here. */
	if (held && !user)
		gov_attempt_serve(g);
	return 0;
}

/* ---- the queues ---- */

/* Answers "shed" to every waiter whose time is up (all: every waiter). */
static void shed_expired(struct gov *g, int all)
{
	struct gov_waiter *w;
	struct gov_client *c;
	int64_t now = ag_mono_ms();

	for (;;) {
		if (all) {
			w = gov_admit_first_expiry(&g->admit);
			if (w != NULL)
				gov_admit_remove(&g->admit, w, now);
		} else {
			w = gov_admit_pop_expired(&g->admit, now);
		}
		if (w == NULL)
			break;
		c = w->owner;
		c->pending.active = 0;
		answer_shed(g, c, c->pending.recv_us, 1);
		gov_client_resume(c);
	}
}

void gov_attempt_serve(struct gov *g)
{
	struct gov_waiter *w;
	struct gov_client *c;
	struct gov_when t;
	int64_t bound;

	if (g->serving || g->stopping || g->fleet_full)
		return;
	g->serving = 1;
	/* A waiter re-queued in a class without a slot is not returned again;
	 * the bound only guards against a store that disagrees with the mask. */
	bound = g->admit.queued + 1;
	while (bound-- > 0) {
		/* next does not skip waiters whose time is up. */
		shed_expired(g, 0);
		/* Waiters whose store answer is awaited will take slots. */
		if (g->deciding > 0 && g->admit.inflight + g->deciding >= g->admit.limit)
			break;
		w = gov_admit_next(&g->admit, ag_mono_ms());
		if (w == NULL)
			break;
		c = w->owner;
		gov_admit_remove(&g->admit, w, ag_mono_ms());
		c->pending.active = 0;
		/* Rules 1-4 are checked again: state may have changed while it waited. */
		gov_when_now(&t, c->pending.recv_us);
		decide(g, c, &c->pending.n, &t, c->pending.deadline_ms, 0);
		gov_client_resume(c);
	}
	g->serving = 0;
	rearm_expiry(g);
}

void gov_attempt_expire(struct gov *g, int all)
{
	shed_expired(g, all);
	rearm_expiry(g);
}

void gov_attempt_unqueue(struct gov *g, struct gov_client *c)
{
	if (!c->pending.active)
		return;
	gov_admit_remove(&g->admit, &c->pending.w, ag_mono_ms());
	c->pending.active = 0;
	rearm_expiry(g);
}

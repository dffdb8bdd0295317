/* admin_show.c - the admin commands that reveal names and addresses:
 * explain (every rule's verdict, changing nothing), show (what the store
 * holds for a user, a source or a pair) and top (the worst offenders).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ag_err.h"
#include "ag_escape.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "admin.h"
#include "client.h"
#include "gov.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"

#define DESCRIBE_MAX 8192

/* ---- explain ---- */

static const char *step_verdict(int v)
{
	return v == AG_V_ALLOW ? "allow" : v == AG_V_DENY ? "deny" : "skip";
}

static void put_step(struct gov_reply *r, const char *rule, int verdict, int64_t retry_ms,
		     const char *detail)
{
	gov_reply_put(r, "kind=step rule=%s verdict=%s", rule, step_verdict(verdict));
	gov_reply_i64(r, "retry_ms", retry_ms);
	gov_reply_str(r, "detail", detail);
	gov_reply_put(r, "\n");
}

/* The rule 1 steps: the deny list, then the allow list. */
static void list_steps(struct gov *g, struct gov_reply *r, const struct gov_norm *n, int *denied,
		       int64_t *retry_ms)
{
	const struct gov_list_entry *e = NULL;
	char cidr[64], detail[GOV_DETAIL_MAX];
	int64_t now = ag_wall_ms();
	int kind;

	*denied = 0;
	*retry_ms = 0;
	if (!n->src.is_addr) {
		put_step(r, "deny", 0, 0, "source is not an address");
		put_step(r, "allow", 0, 0, "source is not an address");
		return;
	}
	kind = gov_lists_match(g->lists, &n->src.addr, now, &e);
	if (e == NULL || ag_cidr_format(&e->cidr, cidr, sizeof(cidr)) < 0)
		strcpy(cidr, "?");
	if (kind == GOV_LIST_DENY) {
		*denied = 1;
		*retry_ms = e != NULL && e->expires_ms > now ? e->expires_ms - now : 0;
		snprintf(detail, sizeof(detail), "entry %s %s", cidr,
			 *retry_ms > 0 ? "until it expires" : "permanent");
		put_step(r, "deny", AG_V_DENY, *retry_ms, detail);
		put_step(r, "allow", 0, 0, "deny wins");
		return;
	}
	put_step(r, "deny", AG_V_ALLOW, 0, "no entry");
	if (kind == GOV_LIST_ALLOW) {
		snprintf(detail, sizeof(detail), "entry %s: rules 3-4 skipped, class clean", cidr);
		put_step(r, "allow", AG_V_ALLOW, 0, detail);
	} else {
		put_step(r, "allow", 0, 0, "no entry");
	}
}

/* The store's description (lines of "kind=X key=value ..."), one
 * "kind=state" record per line (the store's "kind=X" becomes "scope=X"),
 * with anything that could break a record replaced. Returns 1 when the
 * store holds something (a stored entry or trust), else 0. */
static int put_state_text(struct gov_reply *r, const char *text)
{
	static char desc[DESCRIBE_MAX];
	char *line, *save = NULL, *p;
	int found = 0;

	snprintf(desc, sizeof(desc), "%s", text != NULL ? text : "");
	for (line = strtok_r(desc, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		for (p = line; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		if (strstr(line, " stored=yes") != NULL || strstr(line, " trusted=1") != NULL ||
		    (strstr(line, " trusted_sources=") != NULL &&
		     strstr(line, " trusted_sources=0") == NULL))
			found = 1;
		/* The store may name its own record kind: keep one "kind" key. */
		if (strncmp(line, "kind=", 5) == 0)
			gov_reply_put(r, "kind=state scope=%s\n", line + 5);
		else if (line[0] != '\0')
			gov_reply_put(r, "kind=state %s\n", line);
	}
	return found;
}

/* An explain whose store answer is awaited. op comes first: the client
 * waits on it like on a DECIDE, and a closing client detaches it
 * (gov_attempt_orphan sets op.client to NULL). */
struct explain {
	struct gov_op op;
	struct gov_reply steps; /* rule 1's steps, then the store's */
	struct gov_reply out;	/* the whole answer */
	unsigned mask;		/* slots free when it was asked */
	int list_denied;
	int64_t list_retry;
};

/* The store's steps (GOV_CHECK: nothing changes), then the shed step.
 * *free_slot: the attempt's class has a slot now. */
static void store_steps(struct gov *g, struct explain *x, const struct gov_decision *d,
			int *free_slot)
{
	char detail[GOV_DETAIL_MAX];
	int i;

	for (i = 0; i < d->nsteps && i < GOV_MAX_STEPS; i++)
		put_step(&x->steps, gov_rule_name(d->steps[i].rule), d->steps[i].verdict,
			 d->steps[i].retry_ms, d->steps[i].detail[0] != '\0' ? d->steps[i].detail : "-");
	*free_slot = d->klass >= 0 && d->klass < AG_CLASS_COUNT && ((x->mask >> d->klass) & 1u);
	snprintf(detail, sizeof(detail),
		 "class=%s inflight=%" PRId64 " limit=%" PRId64 " queued=%" PRId64 "%s",
		 ag_class_name(d->klass), g->admit.inflight, g->admit.limit, g->admit.queued,
		 *free_slot ? "" : ": would queue");
	put_step(&x->steps, "shed", *free_slot ? AG_V_ALLOW : AG_V_DENY, 0, detail);
}

/* " until=2026-11-24T05:43:12Z": when a denial ends (UTC, to the second,
 * rounded up); "never" for a permanent deny entry; "-" when allowed. */
static void put_until(struct gov_reply *r, int deny, int64_t retry_ms)
{
	int64_t end = ag_wall_ms() + retry_ms + 999;
	time_t t = (time_t)(end / 1000);
	struct tm tm;
	char b[32];

	if (!deny)
		strcpy(b, "-");
	else if (retry_ms <= 0)
		strcpy(b, "never");
	else if (gmtime_r(&t, &tm) == NULL || strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strcpy(b, "?");
	gov_reply_str(r, "until", b);
}

/* The state part of an explain came (or could not): send it all. */
static void explain_state(void *arg, int rc, const char *text)
{
	struct explain *x = arg;
	struct gov_client *c = x->op.client;

	if (c == NULL) {
		free(x);
		return;
	}
	c->op = NULL;
	if (rc == 0)
		(void)put_state_text(&x->out, text);
	gov_reply_send(c, &x->out);
	if (x->op.later)
		gov_client_resume(c);
	free(x);
}

static void explain_done(void *arg, int rc, const struct gov_decision *dp)
{
	struct explain *x = arg;
	struct gov *g = x->op.g;
	struct gov_client *c = x->op.client;
	const struct gov_norm *n = &x->op.n;
	struct gov_reply *out = &x->out;
	struct gov_decision d;
	int64_t retry;
	int deny, rule, free_slot = 0, later;

	if (c == NULL) {
		free(x);
		return;
	}
	if (rc < 0 || dp == NULL) {
		c->op = NULL;
		gov_client_error(c, rc < 0 ? rc : AG_ERR_INVAL, "explain: the store failed");
		if (x->op.later)
			gov_client_resume(c);
		free(x);
		return;
	}
	d = *dp;
	store_steps(g, x, &d, &free_slot);
	/* Deny wins over the store, as in a DECIDE. */
	deny = x->list_denied || d.verdict == AG_V_DENY;
	rule = x->list_denied ? GOV_RULE_DENYLIST : deny ? d.rule : GOV_RULE_NONE;
	retry = x->list_denied ? x->list_retry : deny ? d.retry_ms : 0;

	gov_reply_put(out, "kind=decision");
	gov_reply_str(out, "user", n->user);
	gov_reply_str(out, "source", n->src.key);
	gov_reply_put(out, " verdict=%s rule=%s", deny ? "deny" : "allow", gov_rule_name(rule));
	gov_reply_i64(out, "retry_ms", retry);
	put_until(out, deny, retry);
	gov_reply_put(out, " class=%s trusted=%s slot_free=%s\n", ag_class_name(d.klass),
		      d.trusted ? "yes" : "no", free_slot ? "yes" : "no");
	gov_reply_put(out, "%s", x->steps.buf);
	/* Then what the store holds for them: the client keeps waiting. The
	 * store may answer inline (then x is gone when this returns). */
	later = x->op.later;
	if (gov_store_describe(&g->store, n->user, n->src.key,
			       n->src.agg[0] != '\0' ? n->src.agg : NULL, ag_wall_ms(), explain_state,
			       x) < 0) {
		c->op = NULL;
		gov_reply_send(c, out);
		if (later)
			gov_client_resume(c);
		free(x);
	}
}

void gov_admin_explain(struct gov *g, struct gov_client *c, const char *user, const char *addr)
{
	struct explain *x = calloc(1, sizeof(*x));
	struct gov_attempt at;
	int rc;

	if (x == NULL) {
		gov_client_error(c, AG_ERR_NOMEM, "explain: out of memory");
		return;
	}
	if (gov_admin_norm(g, user, addr, &x->op.n) < 0) {
		free(x);
		gov_client_error(c, AG_ERR_INVAL, "explain: invalid user or address");
		return;
	}
	x->op.g = g;
	x->op.client = c;
	list_steps(g, &x->steps, &x->op.n, &x->list_denied, &x->list_retry);
	if (!x->list_denied && x->op.n.src.is_addr)
		x->op.allowlisted = gov_lists_match(g->lists, &x->op.n.src.addr, ag_wall_ms(),
						    NULL) == GOV_LIST_ALLOW;
	x->mask = gov_admit_slot_mask(&g->admit);
	at.user = x->op.n.user;
	at.source = x->op.n.src.key;
	at.agg = x->op.n.src.agg;
	at.allowlisted = x->op.allowlisted;
	at.user_socket = 0;
	at.budget_ms = 0;
	at.ticket = NULL;
	/* The client waits for the answer like a DECIDE does. */
	c->op = &x->op;
	rc = gov_store_decide(&g->store, &at, ag_wall_ms(), GOV_CHECK, x->mask, explain_done, x);
	if (rc < 0) {
		c->op = NULL;
		free(x);
		gov_client_error(c, rc, "explain: the store failed");
		return;
	}
	if (c->op != NULL) /* answered later */
		x->op.later = 1;
}

/* ---- show ---- */

/* A show whose store answer is awaited; op first (see struct explain). */
struct show {
	struct gov_op op;
	char what[8];
	char arg[AG_NAME_MAX + 1]; /* the last argument, for "nothing stored" */
};

static void show_done(void *arg, int rc, const char *text)
{
	static struct gov_reply r;
	struct show *x = arg;
	struct gov_client *c = x->op.client;
	char esc[96], msg[200];

	if (c == NULL) {
		free(x);
		return;
	}
	c->op = NULL;
	memset(&r, 0, sizeof(r));
	if (rc < 0) {
		gov_client_error(c, rc, rc == AG_ERR_CONNECT
					    ? "show: Redis is not reachable (the store is degraded)"
					    : "show: the store could not describe it");
	} else if (put_state_text(&r, text) == 0) {
		ag_escape(esc, sizeof(esc), x->arg, strlen(x->arg));
		snprintf(msg, sizeof(msg), "nothing stored for %s %s", x->what, esc);
		gov_client_error(c, AG_ERR_NOTFOUND, msg);
	} else {
		gov_reply_send(c, &r);
	}
	if (x->op.later)
		gov_client_resume(c);
	free(x);
}

void gov_admin_show(struct gov *g, struct gov_client *c, int nargs, char args[][AG_NAME_MAX + 1])
{
	const char *what = nargs > 0 ? args[0] : "";
	const char *user = NULL, *source = NULL, *agg = NULL;
	struct show *x;
	int rc;

	if (!((strcmp(what, "user") == 0 && nargs == 2) ||
	      (strcmp(what, "source") == 0 && nargs == 2) ||
	      (strcmp(what, "pair") == 0 && nargs == 3))) {
		gov_client_error(c, AG_ERR_INVAL,
				 "usage: show user NAME | source ADDR | pair NAME ADDR");
		return;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL) {
		gov_client_error(c, AG_ERR_NOMEM, "show: out of memory");
		return;
	}
	snprintf(x->what, sizeof(x->what), "%s", what);
	snprintf(x->arg, sizeof(x->arg), "%s", args[nargs - 1]);
	if (strcmp(what, "user") == 0)
		rc = gov_admin_norm(g, args[1], NULL, &x->op.n);
	else if (strcmp(what, "source") == 0)
		rc = gov_admin_norm(g, "-", args[1], &x->op.n);
	else
		rc = gov_admin_norm(g, args[1], args[2], &x->op.n);
	if (rc < 0) {
		free(x);
		gov_client_error(c, AG_ERR_INVAL, "show: invalid user or address");
		return;
	}
	x->op.g = g;
	x->op.client = c;
	if (strcmp(what, "source") != 0)
		user = x->op.n.user;
	if (strcmp(what, "user") != 0) {
		source = x->op.n.src.key;
		agg = x->op.n.src.agg[0] != '\0' ? x->op.n.src.agg : NULL;
	}
	c->op = &x->op;
	rc = gov_store_describe(&g->store, user, source, agg, ag_wall_ms(), show_done, x);
	if (rc < 0) {
		show_done(x, rc, NULL); /* answers and frees */
		return;
	}
	if (c->op != NULL)
		x->op.later = 1;
}

/* ---- top ---- */

#define TOP_DEFAULT 10
#define TOP_MAX	    100

struct top_pick {
	const struct gov_top_row *row;
	int user; /* 1: from the users' table */
	uint64_t denials, failures; /* in the span asked for */
};

static int top_by_failures; /* the sort key of the current do_top: single-threaded */

static int top_cmp(const void *a, const void *b)
{
	const struct top_pick *x = a, *y = b;
	uint64_t kx = top_by_failures ? x->failures : x->denials;
	uint64_t ky = top_by_failures ? y->failures : y->denials;
	uint64_t ox = top_by_failures ? x->denials : x->failures;
	uint64_t oy = top_by_failures ? y->denials : y->failures;

	if (kx != ky)
		return kx > ky ? -1 : 1;
	if (ox != oy)
		return ox > oy ? -1 : 1;
	return strcmp(x->row->name, y->row->name);
}

/* Adds t's rows with something in the span to picks. */
static size_t top_pick_rows(const struct gov_top *t, int user, int64_t since_ms, int64_t now,
			    struct top_pick *picks, size_t n)
{
	struct top_pick p;
	int j;

	for (j = 0; j < t->n; j++) {
		p.row = &t->rows[j];
		p.user = user;
		gov_top_since(p.row, since_ms, now, &p.denials, &p.failures);
		if (p.denials + p.failures > 0)
			picks[n++] = p;
	}
	return n;
}

/* A user is held under a user_cap hold; a source by an unexpired deny entry. */
static int top_held(struct gov *g, const struct top_pick *p)
{
	char desc[DESCRIBE_MAX];
	struct ag_cidr cidr;

	if (p->user) {
		if (g->store.ops->describe == NULL ||
		    g->store.ops->describe(g->store.ctx, p->row->name, NULL, NULL, ag_wall_ms(),
					   desc, sizeof(desc)) < 0)
			return 0;
		desc[sizeof(desc) - 1] = '\0';
		return strstr(desc, " cap_until_in=") != NULL;
	}
	return ag_cidr_parse(p->row->name, &cidr) == 0 &&
	       gov_lists_match(g->lists, &cidr.addr, ag_wall_ms(), NULL) == GOV_LIST_DENY;
}

/* top [N [denials|failures [SINCE_MS]]] */
void gov_admin_top(struct gov *g, struct gov_client *c, int nargs, char args[][AG_NAME_MAX + 1])
{
	static struct top_pick picks[2 * GOV_TOP_SLOTS];
	static struct gov_reply r;
	int64_t want = TOP_DEFAULT, since = 0, now = ag_mono_ms();
	size_t n = 0, i;

	memset(&r, 0, sizeof(r));
	if (nargs > 3 || (nargs >= 1 && ag_parse_int(args[0], 1, TOP_MAX, &want) < 0) ||
	    (nargs >= 2 && strcmp(args[1], "denials") != 0 && strcmp(args[1], "failures") != 0) ||
	    (nargs == 3 && ag_parse_int(args[2], 1, GOV_TOP_SINCE_MAX_MS, &since) < 0)) {
		gov_client_error(c, AG_ERR_INVAL,
				 "usage: top [N (1-100) [denials|failures [SINCE_MS (up to a day)]]]");
		return;
	}
	top_by_failures = nargs >= 2 && strcmp(args[1], "failures") == 0;
	n = top_pick_rows(&g->top_src, 0, since, now, picks, n);
	n = top_pick_rows(&g->top_user, 1, since, now, picks, n);
	qsort(picks, n, sizeof(picks[0]), top_cmp);
	for (i = 0; i < n && i < (size_t)want; i++) {
		gov_reply_put(&r, "kind=offender scope=%s", picks[i].user ? "user" : "source");
		gov_reply_str(&r, "name", picks[i].row->name);
		gov_reply_u64(&r, "denials", picks[i].denials);
		gov_reply_u64(&r, "failures", picks[i].failures);
		gov_reply_put(&r, " held=%s\n", top_held(g, &picks[i]) ? "yes" : "no");
	}
	gov_reply_put(&r, "kind=top by=%s", top_by_failures ? "failures" : "denials");
	if (since > 0)
		gov_reply_i64(&r, "since_ms", since);
	else
		gov_reply_put(&r, " since=start");
	gov_reply_u64(&r, "shown", i);
	gov_reply_u64(&r, "offenders", n);
	gov_reply_put(&r, "\n");
	gov_reply_send(c, &r);
}

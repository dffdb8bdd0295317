/* admin.c - ADMIN requests on the privileged socket: status, metrics,
 * explain, reset, show, allow/deny/unlist/lists, reload, top.
 *
 * Replies are logfmt records ("kind=NAME key=value ...\n", values escaped)
 * in REPLY frames; a record is never split across frames, and every frame
 * but the last carries MORE=1.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ag_err.h"
#include "ag_escape.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "client.h"
#include "gov.h"
#include "log.h"
#include "metrics.h"

#define REPLY_MAX    (4 * AG_TEXT_MAX)
#define DESCRIBE_MAX 2048

struct reply {
	char buf[REPLY_MAX];
	size_t len;
	int full;
};

static void put(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, sizeof(r->buf) - r->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(r->buf) - r->len) {
		r->full = 1;
		r->buf[r->len] = '\0';
		return;
	}
	r->len += (size_t)n;
}

/* " key=value" with the value escaped. */
static void put_str(struct reply *r, const char *key, const char *val)
{
	char esc[2 * AG_NAME_MAX];

	ag_escape(esc, sizeof(esc), val, strlen(val));
	put(r, " %s=%s", key, esc);
}

static void put_u64(struct reply *r, const char *key, uint64_t v)
{
	put(r, " %s=%" PRIu64, key, v);
}

static void put_i64(struct reply *r, const char *key, int64_t v)
{
	put(r, " %s=%" PRId64, key, v);
}

/* Sends text[0..len) as REPLY frames, cutting only between records. */
static void send_text(struct gov_client *c, const char *text, size_t len)
{
	char chunk[AG_TEXT_MAX + 1];
	size_t off = 0, end, next, rec;
	struct ag_msg m;

	do {
		/* Take whole records while they fit. */
		end = off;
		while (end < len) {
			const char *nl = memchr(text + end, '\n', len - end);

			next = nl != NULL ? (size_t)(nl - text) + 1 : len;
			if (next - off > AG_TEXT_MAX)
				break;
			end = next;
		}
		if (end == off && off < len) {
			/* One record longer than a frame: it cannot be sent whole. */
			rec = AG_TEXT_MAX - 1;
			memcpy(chunk, text + off, rec);
			chunk[rec] = '\n';
			end = off + rec + 1;
			while (end < len && text[end - 1] != '\n')
				end++;
			rec++;
		} else {
			rec = end - off;
			memcpy(chunk, text + off, rec);
		}
		chunk[rec] = '\0';
		ag_msg_init(&m, AG_MSG_REPLY);
		ag_msg_set_str(&m, AG_F_TEXT, chunk);
		ag_msg_set_u32(&m, AG_F_MORE, end < len);
		if (gov_client_send(c, &m) < 0)
			return;
		off = end;
	} while (off < len);
}

/* Sends r as REPLY frames. */
static void send_reply(struct gov_client *c, struct reply *r)
{
	if (r->full)
		gov_log(LOG_WARNING, "admin reply truncated at %zu bytes", r->len);
	send_text(c, r->buf, r->len);
}

/* ---- metrics ---- */

static void do_metrics(struct gov *g, struct gov_client *c)
{
	static char text[GOV_METRICS_MAX]; /* single-threaded loop */
	size_t len = 0;

	if (gov_metrics_render(g, text, sizeof(text), &len) < 0) {
		gov_log(LOG_ERR, "metrics: exposition larger than %d bytes", GOV_METRICS_MAX);
		gov_client_error(c, AG_ERR_TOOBIG, "metrics: exposition too large");
		return;
	}
	send_text(c, text, len);
}

/* ---- status ---- */

static void do_status(struct gov *g, struct gov_client *c)
{
	static struct reply r; /* the loop is single-threaded; keeps 16 KiB off the stack */
	const struct gov_stats *st = &g->stats;
	int64_t tracked = 0, trusted = 0;
	uint64_t denied = 0;
	int i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < GOV_RULE_COUNT; i++)
		denied += st->denied[i];
	if (g->store.ops->counts != NULL)
		g->store.ops->counts(g->store.ctx, &tracked, &trusted);
	put(&r, "kind=status");
	put_str(&r, "version", PACKAGE_VERSION);
	put_i64(&r, "uptime_s", (ag_mono_ms() - g->start_mono_ms) / 1000);
	put_str(&r, "store", g->store.ops->name != NULL ? g->store.ops->name : "?");
	put_i64(&r, "clients", g->nclients);
	put_i64(&r, "inflight", g->admit.inflight);
	put_i64(&r, "limit", g->admit.limit);
	put_i64(&r, "queued_trusted", g->admit.q[AG_CLASS_TRUSTED].len);
	put_i64(&r, "queued_clean", g->admit.q[AG_CLASS_CLEAN].len);
	put_i64(&r, "queued_failing", g->admit.q[AG_CLASS_DIRTY].len);
	put_u64(&r, "allowed", st->allowed);
	put_u64(&r, "denied", denied);
	put_u64(&r, "shed", st->shed);
	put_u64(&r, "denied_backoff", st->denied[GOV_RULE_BACKOFF]);
	put_u64(&r, "denied_source_rate", st->denied[GOV_RULE_SOURCE_RATE]);
	put_u64(&r, "denied_user_rate", st->denied[GOV_RULE_USER_RATE]);
	put_u64(&r, "denied_user_cap", st->denied[GOV_RULE_USER_CAP]);
	put_u64(&r, "denied_deny", st->denied[GOV_RULE_DENYLIST]);
	put_u64(&r, "reports_success", st->reports[AG_OUT_SUCCESS]);
	put_u64(&r, "reports_fail", st->reports[AG_OUT_FAIL]);
	put_u64(&r, "reports_unavail", st->reports[AG_OUT_UNAVAIL]);
	put_u64(&r, "abandoned", st->abandoned);
	put_u64(&r, "proto_errors", st->proto_errors);
	put_i64(&r, "tracked", tracked);
	put_i64(&r, "trusted", trusted);
	put_i64(&r, "p50_us", gov_stats_quantile(g, 500));
	put_i64(&r, "p99_us", gov_stats_quantile(g, 990));
	put_u64(&r, "log_dropped", gov_log_dropped());
	put_u64(&r, "queued_total", st->queued);
	put_u64(&r, "refused", st->refused);
	put_i64(&r, "user_inflight", g->user_inflight);
	put_i64(&r, "user_slots", g->conf->user_slots);
	put(&r, "\n");
	send_reply(c, &r);
}

/* ---- explain ---- */

static const char *step_verdict(int v)
{
	return v == AG_V_ALLOW ? "allow" : v == AG_V_DENY ? "deny" : "skip";
}

static void put_step(struct reply *r, const char *rule, int verdict, int64_t retry_ms,
		     const char *detail)
{
	put(r, "kind=step rule=%s verdict=%s", rule, step_verdict(verdict));
	put_i64(r, "retry_ms", retry_ms);
	put_str(r, "detail", detail);
	put(r, "\n");
}

/* The rule 1 steps: the deny list, then the allow list. */
static void list_steps(struct gov *g, struct reply *r, const struct gov_norm *n, int *denied,
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

/* The store's description of user, source and agg (any may be NULL), one
 * "kind=state" record per line (a leading "kind=X" of the store's becomes
 * "scope=X"), with anything that could break a record replaced. Returns 1
 * when the store holds something for them (a stored entry or trust), 0 when
 * not, or an AG_ERR_* code (then an error record was written). */
static int put_state(struct gov *g, struct reply *r, const char *user, const char *source,
		     const char *agg)
{
	char desc[DESCRIBE_MAX], *line, *save = NULL, *p;
	int rc, found = 0;

	desc[0] = '\0';
	if (g->store.ops->describe == NULL)
		return AG_ERR_INVAL;
	rc = g->store.ops->describe(g->store.ctx, user, source, agg, ag_wall_ms(), desc,
				    sizeof(desc));
	if (rc < 0) {
		put(r, "kind=state");
		put_str(r, "error", ag_strerror(rc));
		put(r, "\n");
		return rc;
	}
	desc[sizeof(desc) - 1] = '\0';
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
			put(r, "kind=state scope=%s\n", line + 5);
		else if (line[0] != '\0')
			put(r, "kind=state %s\n", line);
	}
	return found;
}

/* Normalises an admin-given attempt as a DECIDE would. src (may be NULL) is
 * an address or host name as PAM_RHOST would be, or a source key as stored
 * ("host:NAME", "local:NAME"), taken as it is. */
static int admin_norm(const struct gov *g, const char *user, const char *src, struct gov_norm *n)
{
	int is_key =
	    src != NULL && (strncmp(src, "host:", 5) == 0 || strncmp(src, "local:", 6) == 0);
	int rc;

	rc = gov_attempt_normalise(g, user, is_key ? NULL : src, NULL, NULL, 0, 0, n);
	if (rc < 0 || !is_key)
		return rc;
	if (strlen(src) >= sizeof(n->src.key))
		return AG_ERR_TOOBIG;
	memset(&n->src, 0, sizeof(n->src));
	strcpy(n->src.key, src);
	strcpy(n->src.agg, src);
	return 0;
}

/* The store's steps (GOV_CHECK: nothing changes), then the shed step.
 * *free_slot: the attempt's class has a slot now. */
static int store_steps(struct gov *g, struct reply *r, const struct gov_norm *n, int allowlisted,
		       struct gov_decision *d, int *free_slot)
{
	unsigned mask = gov_admit_slot_mask(&g->admit);
	char detail[GOV_DETAIL_MAX];
	struct gov_attempt at;
	int i, rc;

	at.user = n->user;
	at.source = n->src.key;
	at.agg = n->src.agg;
	at.allowlisted = allowlisted;
	at.user_socket = 0;
	rc = g->store.ops->decide(g->store.ctx, &at, ag_wall_ms(), GOV_CHECK, mask, d);
	if (rc < 0)
		return rc;
	for (i = 0; i < d->nsteps && i < GOV_MAX_STEPS; i++) {
		d->steps[i].detail[GOV_DETAIL_MAX - 1] = '\0';
		put_step(r, gov_rule_name(d->steps[i].rule), d->steps[i].verdict,
			 d->steps[i].retry_ms, d->steps[i].detail);
	}
	*free_slot = d->klass >= 0 && d->klass < AG_CLASS_COUNT && ((mask >> d->klass) & 1u);
	snprintf(detail, sizeof(detail),
		 "class=%s inflight=%" PRId64 " limit=%" PRId64 " queued=%" PRId64 "%s",
		 ag_class_name(d->klass), g->admit.inflight, g->admit.limit, g->admit.queued,
		 *free_slot ? "" : ": would queue");
	put_step(r, "shed", *free_slot ? AG_V_ALLOW : AG_V_DENY, 0, detail);
	return 0;
}

static void do_explain(struct gov *g, struct gov_client *c, const char *user, const char *addr)
{
	static struct reply steps, out;
	struct gov_decision d;
	struct gov_norm n;
	int64_t list_retry, retry;
	int list_denied, allowlisted = 0, deny, rule, free_slot = 0, rc;

	memset(&steps, 0, sizeof(steps));
	memset(&out, 0, sizeof(out));
	if (admin_norm(g, user, addr, &n) < 0) {
		gov_client_error(c, AG_ERR_INVAL, "explain: invalid user or address");
		return;
	}
	list_steps(g, &steps, &n, &list_denied, &list_retry);
	if (!list_denied && n.src.is_addr)
		allowlisted =
		    gov_lists_match(g->lists, &n.src.addr, ag_wall_ms(), NULL) == GOV_LIST_ALLOW;
	rc = store_steps(g, &steps, &n, allowlisted, &d, &free_slot);
	if (rc < 0) {
		gov_client_error(c, rc, "explain: store failed");
		return;
	}
	/* Deny wins over the store, as in a DECIDE. */
	deny = list_denied || d.verdict == AG_V_DENY;
	rule = list_denied ? GOV_RULE_DENYLIST : deny ? d.rule : GOV_RULE_NONE;
	retry = list_denied ? list_retry : deny ? d.retry_ms : 0;

	put(&out, "kind=decision");
	put_str(&out, "user", n.user);
	put_str(&out, "source", n.src.key);
	put(&out, " verdict=%s rule=%s", deny ? "deny" : "allow", gov_rule_name(rule));
	put_i64(&out, "retry_ms", retry);
	put(&out, " class=%s trusted=%s slot_free=%s\n", ag_class_name(d.klass),
	    d.trusted ? "yes" : "no", free_slot ? "yes" : "no");
	put(&out, "%s", steps.buf);
	(void)put_state(g, &out, n.user, n.src.key, n.src.agg);
	send_reply(c, &out);
}

/* ---- reset ---- */

static const char *const scope_names[] = {"", "user", "source", "pair", "all"};

static void do_reset(struct gov *g, struct gov_client *c, int nargs, char args[][AG_NAME_MAX + 1])
{
	static struct reply r;
	const char *user = NULL, *source = NULL, *scope_name = nargs > 0 ? args[0] : "";
	const char *name_arg, *src_arg;
	char eu[96], es[96], text[160];
	struct gov_norm n;
	int scope = 0, rc;

	memset(&r, 0, sizeof(r));
	if (strcmp(scope_name, "user") == 0 && nargs == 2)
		scope = GOV_RESET_USER;
	else if (strcmp(scope_name, "source") == 0 && nargs == 2)
		scope = GOV_RESET_SOURCE;
	else if (strcmp(scope_name, "pair") == 0 && nargs == 3)
		scope = GOV_RESET_PAIR;
	else if (strcmp(scope_name, "all") == 0 && nargs == 1)
		scope = GOV_RESET_ALL;
	if (scope == 0) {
		gov_client_error(c, AG_ERR_INVAL,
				 "usage: reset user NAME | source ADDR | pair NAME ADDR | all");
		return;
	}
	scope_name = scope_names[scope];
	if (scope != GOV_RESET_ALL) {
		/* For a source alone any user name does: only the source is used. */
		name_arg = scope == GOV_RESET_SOURCE ? "-" : args[1];
		src_arg = scope == GOV_RESET_PAIR     ? args[2]
			  : scope == GOV_RESET_SOURCE ? args[1]
						      : NULL;
		if (admin_norm(g, name_arg, src_arg, &n) < 0) {
			gov_client_error(c, AG_ERR_INVAL, "reset: invalid user or address");
			return;
		}
	}
	if (scope == GOV_RESET_USER || scope == GOV_RESET_PAIR)
		user = n.user;
	if (scope == GOV_RESET_SOURCE || scope == GOV_RESET_PAIR)
		source = n.src.key;
	rc = g->store.ops->reset(g->store.ctx, scope, user, source);
	if (scope == GOV_RESET_ALL) {
		gov_top_clear(&g->top_src);
		gov_top_clear(&g->top_user);
	}
	ag_escape(eu, sizeof(eu), user != NULL ? user : "-", strlen(user != NULL ? user : "-"));
	ag_escape(es, sizeof(es), source != NULL ? source : "-",
		  strlen(source != NULL ? source : "-"));
	gov_log(LOG_NOTICE, "admin reset %s user=%s source=%s by uid %ld pid %ld: %s", scope_name,
		eu, es, (long)c->peer.uid, (long)c->peer.pid,
		rc == 0 ? "cleared" : ag_strerror(rc));
	if (rc < 0) {
		snprintf(text, sizeof(text), "reset %s: %s", scope_name,
			 rc == AG_ERR_NOTFOUND ? "nothing stored" : ag_strerror(rc));
		gov_client_error(c, rc, text);
		return;
	}
	put(&r, "kind=reset scope=%s", scope_name);
	if (user != NULL)
		put_str(&r, "user", user);
	if (source != NULL)
		put_str(&r, "source", source);
	put(&r, " cleared=yes\n");
	send_reply(c, &r);
}

/* ---- show ---- */

static void do_show(struct gov *g, struct gov_client *c, int nargs, char args[][AG_NAME_MAX + 1])
{
	static struct reply r;
	const char *what = nargs > 0 ? args[0] : "";
	const char *user = NULL, *source = NULL, *agg = NULL;
	char esc[96], text[200];
	struct gov_norm n;
	int rc;

	memset(&r, 0, sizeof(r));
	if (strcmp(what, "user") == 0 && nargs == 2) {
		what = "user";
		rc = admin_norm(g, args[1], NULL, &n);
	} else if (strcmp(what, "source") == 0 && nargs == 2) {
		what = "source";
		rc = admin_norm(g, "-", args[1], &n);
	} else if (strcmp(what, "pair") == 0 && nargs == 3) {
		what = "pair";
		rc = admin_norm(g, args[1], args[2], &n);
	} else {
		gov_client_error(c, AG_ERR_INVAL,
				 "usage: show user NAME | source ADDR | pair NAME ADDR");
		return;
	}
	if (rc < 0) {
		gov_client_error(c, AG_ERR_INVAL, "show: invalid user or address");
		return;
	}
	if (strcmp(what, "source") != 0)
		user = n.user;
	if (strcmp(what, "user") != 0) {
		source = n.src.key;
		agg = n.src.agg[0] != '\0' ? n.src.agg : NULL;
	}
	rc = put_state(g, &r, user, source, agg);
	if (rc < 0) {
		gov_client_error(c, rc, "show: the store could not describe it");
		return;
	}
	if (rc == 0) {
		ag_escape(esc, sizeof(esc), args[nargs - 1], strlen(args[nargs - 1]));
		snprintf(text, sizeof(text), "nothing stored for %s %s", what, esc);
		gov_client_error(c, AG_ERR_NOTFOUND, text);
		return;
	}
	send_reply(c, &r);
}

/* ---- lists ---- */

#define TTL_MAX_MS     (10LL * 366 * 24 * 3600 * 1000) /* ten years */
#define LISTS_TEXT_MAX (32 * AG_TEXT_MAX)	       /* what a client's buffers take at once */

static const char *list_name(int kind)
{
	return kind == GOV_LIST_DENY ? "deny" : "allow";
}

/* One "kind=entry ..." record for e at wall time now. */
static void put_entry(struct reply *r, const struct gov_list_entry *e, int64_t now)
{
	char cidr[64];

	if (ag_cidr_format(&e->cidr, cidr, sizeof(cidr)) < 0)
		strcpy(cidr, "?");
	put(r, "kind=entry list=%s cidr=%s", list_name(e->kind), cidr);
	if (e->expires_ms == 0)
		put(r, " expires_in_ms=never");
	else
		put_i64(r, "expires_in_ms", e->expires_ms > now ? e->expires_ms - now : 0);
	put(r, " origin=%s", e->origin == GOV_ORIGIN_CONF ? "conf" : "runtime");
	put_str(r, "comment", e->comment);
	put(r, "\n");
}

/* allow|deny CIDR TTL_MS [COMMENT] */
static void do_list_add(struct gov *g, struct gov_client *c, int kind, int nargs,
			char args[][AG_NAME_MAX + 1])
{
	static struct reply r;
	struct gov_list_entry e;
	char esc[2 * GOV_LIST_COMMENT_MAX], text[200];
	int64_t ttl, now = ag_wall_ms();
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	if (nargs < 2 || nargs > 3) {
		snprintf(text, sizeof(text), "usage: %s CIDR TTL_MS [COMMENT]", list_name(kind));
		gov_client_error(c, AG_ERR_INVAL, text);
		return;
	}
	if (ag_cidr_parse(args[0], &e.cidr) < 0) {
		gov_client_error(c, AG_ERR_INVAL, "invalid CIDR");
		return;
	}
	if (ag_parse_int(args[1], 0, TTL_MAX_MS, &ttl) < 0) {
		gov_client_error(c, AG_ERR_INVAL, "invalid ttl: milliseconds, 0 to ten years");
		return;
	}
	if (nargs == 3 && strlen(args[2]) >= sizeof(e.comment)) {
		snprintf(text, sizeof(text), "comment longer than %d bytes",
			 GOV_LIST_COMMENT_MAX - 1);
		gov_client_error(c, AG_ERR_INVAL, text);
		return;
	}
	e.kind = kind;
	e.origin = GOV_ORIGIN_RUNTIME;
	e.expires_ms = ttl > 0 ? now + ttl : 0;
	if (nargs == 3)
		strcpy(e.comment, args[2]);
	rc = gov_lists_add(g->lists, kind, &e.cidr, e.expires_ms, nargs == 3 ? args[2] : NULL);
	ag_escape(esc, sizeof(esc), e.comment, strlen(e.comment));
	if (ag_cidr_format(&e.cidr, text, sizeof(text)) < 0)
		strcpy(text, "?");
	gov_log(LOG_NOTICE, "admin %s %s ttl_ms=%" PRId64 " comment=%s by uid %ld pid %ld: %s",
		list_name(kind), text, ttl, esc, (long)c->peer.uid, (long)c->peer.pid,
		rc == 0 ? "added" : ag_strerror(rc));
	if (rc < 0) {
		snprintf(text, sizeof(text), "%s: %s", list_name(kind),
			 rc == AG_ERR_FULL ? "the lists are full" : ag_strerror(rc));
		gov_client_error(c, rc, text);
		return;
	}
	put_entry(&r, &e, now);
	send_reply(c, &r);
}

static void do_unlist(struct gov *g, struct gov_client *c, const char *arg)
{
	static struct reply r;
	struct ag_cidr cidr;
	char text[200], cs[64];
	int rc;

	memset(&r, 0, sizeof(r));
	if (ag_cidr_parse(arg, &cidr) < 0 || ag_cidr_format(&cidr, cs, sizeof(cs)) < 0) {
		gov_client_error(c, AG_ERR_INVAL, "invalid CIDR");
		return;
	}
	rc = gov_lists_remove(g->lists, &cidr);
	gov_log(LOG_NOTICE, "admin unlist %s by uid %ld pid %ld: %s", cs, (long)c->peer.uid,
		(long)c->peer.pid, rc == 0 ? "removed" : ag_strerror(rc));
	if (rc < 0) {
		snprintf(text, sizeof(text), "%s %s",
			 rc == AG_ERR_NOTFOUND ? "no list entry for" : ag_strerror(rc), cs);
		gov_client_error(c, rc, text);
		return;
	}
	put(&r, "kind=unlist cidr=%s removed=yes\n", cs);
	send_reply(c, &r);
}

struct lists_out {
	char *text;
	size_t len, cap;
	int64_t now, total, shown;
};

static int list_one(const struct gov_list_entry *e, void *arg)
{
	static struct reply line;
	struct lists_out *o = arg;

	memset(&line, 0, sizeof(line));
	put_entry(&line, e, o->now);
	o->total++;
	if (!line.full && o->len + line.len <= o->cap) {
		memcpy(o->text + o->len, line.buf, line.len);
		o->len += line.len;
		o->shown++;
	}
	return 0;
}

static void do_lists(struct gov *g, struct gov_client *c)
{
	struct lists_out o = {NULL, 0, LISTS_TEXT_MAX, ag_wall_ms(), 0, 0};
	int n;

	o.text = malloc(LISTS_TEXT_MAX + 128);
	if (o.text == NULL) {
		gov_client_error(c, AG_ERR_NOMEM, "lists: out of memory");
		return;
	}
	(void)gov_lists_each(g->lists, o.now, list_one, &o);
	/* Room for the summary was kept past cap. */
	n = snprintf(o.text + o.len, 128,
		     "kind=lists entries=%" PRId64 " shown=%" PRId64 " truncated=%s\n", o.total,
		     o.shown, o.shown < o.total ? "yes" : "no");
	if (n > 0 && n < 128)
		o.len += (size_t)n;
	send_text(c, o.text, o.len);
	free(o.text);
}

/* ---- reload ---- */

static void do_reload(struct gov *g, struct gov_client *c)
{
	static struct reply r;
	char err[AG_ERRBUF], text[AG_ERRBUF + 16];
	int rc;

	memset(&r, 0, sizeof(r));
	gov_log(LOG_NOTICE, "admin reload by uid %ld pid %ld", (long)c->peer.uid,
		(long)c->peer.pid);
	rc = gov_reload(g, err, sizeof(err));
	if (rc < 0) {
		snprintf(text, sizeof(text), "reload: %s", err);
		gov_client_error(c, AG_ERR_CONFIG, text);
		return;
	}
	put(&r, "kind=reload taken=yes\n");
	send_reply(c, &r);
}

/* ---- top ---- */

#define TOP_DEFAULT 10
#define TOP_MAX	    100

struct top_pick {
	const struct gov_top_row *row;
	int user; /* 1: from the users' table */
};

static int top_by_failures; /* the sort key of the current do_top: single-threaded */

static int top_cmp(const void *a, const void *b)
{
	const struct gov_top_row *x = ((const struct top_pick *)a)->row;
	const struct gov_top_row *y = ((const struct top_pick *)b)->row;
	uint64_t kx = top_by_failures ? x->failures : x->denials;
	uint64_t ky = top_by_failures ? y->failures : y->denials;
	uint64_t ox = top_by_failures ? x->denials : x->failures;
	uint64_t oy = top_by_failures ? y->denials : y->failures;

	if (kx != ky)
		return kx > ky ? -1 : 1;
	if (ox != oy)
		return ox > oy ? -1 : 1;
	return strcmp(x->name, y->name);
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

/* top [N [denials|failures]] */
static void do_top(struct gov *g, struct gov_client *c, int nargs, char args[][AG_NAME_MAX + 1])
{
	static struct top_pick picks[2 * GOV_TOP_SLOTS];
	static struct reply r;
	int64_t want = TOP_DEFAULT;
	size_t n = 0, i;
	int j;

	memset(&r, 0, sizeof(r));
	if (nargs > 2 || (nargs >= 1 && ag_parse_int(args[0], 1, TOP_MAX, &want) < 0) ||
	    (nargs == 2 && strcmp(args[1], "denials") != 0 && strcmp(args[1], "failures") != 0)) {
		gov_client_error(c, AG_ERR_INVAL, "usage: top [N (1-100) [denials|failures]]");
		return;
	}
	top_by_failures = nargs == 2 && strcmp(args[1], "failures") == 0;
	for (j = 0; j < g->top_src.n; j++)
		picks[n++] = (struct top_pick){&g->top_src.rows[j], 0};
	for (j = 0; j < g->top_user.n; j++)
		picks[n++] = (struct top_pick){&g->top_user.rows[j], 1};
	qsort(picks, n, sizeof(picks[0]), top_cmp);
	for (i = 0; i < n && i < (size_t)want; i++) {
		put(&r, "kind=offender scope=%s", picks[i].user ? "user" : "source");
		put_str(&r, "name", picks[i].row->name);
		put_u64(&r, "denials", picks[i].row->denials);
		put_u64(&r, "failures", picks[i].row->failures);
		put(&r, " held=%s\n", top_held(g, &picks[i]) ? "yes" : "no");
	}
	send_reply(c, &r);
}

/* ---- dispatch ---- */

/* Root, or a member of admin_group; else ERROR and a log line. */
static int may_change(struct gov *g, struct gov_client *c, const char *cmd)
{
	char text[200];

	if (g->conf->has_admin_gid)
		gov_peer_load_groups(c->fd, &c->peer);
	if (gov_peer_is_admin(g, &c->peer))
		return 1;
	if (g->conf->admin_group != NULL && g->conf->admin_group[0] != '\0')
		snprintf(text, sizeof(text), "permission denied: need root or group %s",
			 g->conf->admin_group);
	else
		snprintf(text, sizeof(text), "permission denied: need root");
	gov_log(LOG_WARNING, "admin %s refused for uid %ld pid %ld", cmd, (long)c->peer.uid,
		(long)c->peer.pid);
	gov_client_error(c, AG_ERR_PERM, text);
	return 0;
}

int gov_admin_handle(struct gov *g, struct gov_client *c, const struct ag_msg *m,
		     const struct gov_when *t)
{
	char cmd[AG_NAME_MAX + 1], args[AG_ADMIN_ARGS][AG_NAME_MAX + 1];
	int nargs = 0, i;

	if (!AG_HAS(m, AG_F_CMD) || ag_str_copy(cmd, sizeof(cmd), m->cmd) < 0) {
		gov_client_error(c, AG_ERR_INVAL, "missing command");
		return 0;
	}
	/* Arguments are positional: the first absent one ends them. */
	for (i = 0; i < AG_ADMIN_ARGS && AG_HAS(m, AG_F_ARG0 + i); i++) {
		if (ag_str_copy(args[i], sizeof(args[i]), m->arg[i]) < 0) {
			gov_client_error(c, AG_ERR_INVAL, "argument too long");
			return 0;
		}
		nargs++;
	}
	for (; i < AG_ADMIN_ARGS; i++) {
		if (AG_HAS(m, AG_F_ARG0 + i)) {
			gov_client_error(c, AG_ERR_INVAL, "arguments must be consecutive");
			return 0;
		}
	}
	if (strcmp(cmd, "status") == 0 && nargs == 0) {
		do_status(g, c);
	} else if (strcmp(cmd, "metrics") == 0 && nargs == 0) {
		do_metrics(g, c);
	} else if (strcmp(cmd, "explain") == 0) {
		if (nargs != 2)
			gov_client_error(c, AG_ERR_INVAL, "usage: explain USER ADDR");
		else if (may_change(g, c, cmd))
			do_explain(g, c, args[0], args[1]);
	} else if (strcmp(cmd, "reset") == 0) {
		if (may_change(g, c, cmd))
			do_reset(g, c, nargs, args);
	} else if (strcmp(cmd, "show") == 0) {
		if (may_change(g, c, cmd))
			do_show(g, c, nargs, args);
	} else if (strcmp(cmd, "allow") == 0 || strcmp(cmd, "deny") == 0) {
		if (may_change(g, c, cmd))
			do_list_add(g, c, cmd[0] == 'a' ? GOV_LIST_ALLOW : GOV_LIST_DENY, nargs,
				    args);
	} else if (strcmp(cmd, "unlist") == 0) {
		if (nargs != 1)
			gov_client_error(c, AG_ERR_INVAL, "usage: unlist CIDR");
		else if (may_change(g, c, cmd))
			do_unlist(g, c, args[0]);
	} else if (strcmp(cmd, "lists") == 0 && nargs == 0) {
		if (may_change(g, c, cmd))
			do_lists(g, c);
	} else if (strcmp(cmd, "top") == 0) {
		if (may_change(g, c, cmd))
			do_top(g, c, nargs, args);
	} else if (strcmp(cmd, "reload") == 0 && nargs == 0) {
		if (may_change(g, c, cmd))
			do_reload(g, c);
	} else {
		char esc[64], text[200];

		ag_escape(esc, sizeof(esc), cmd, strlen(cmd));
		snprintf(text, sizeof(text),
			 "unknown command %s (status, metrics, explain, reset, show, allow, deny, "
			 "unlist, lists, reload, top)",
			 esc);
		gov_client_error(c, AG_ERR_INVAL, text);
	}
	return 0;
}

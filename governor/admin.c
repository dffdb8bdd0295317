/* admin.c - ADMIN requests on the privileged socket: who may ask what,
 * the dispatch, and the aggregate commands (status, metrics) and the state
 * changes (reset, reload). Explain, show and top are in admin_show.c, the
 * allow/deny lists in admin_lists.c; replies are built with reply.h.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	gov_reply_text(c, text, len);
}

/* ---- status ---- */

static void do_status(struct gov *g, struct gov_client *c)
{
	static struct gov_reply r; /* the loop is single-threaded; keeps 16 KiB off the stack */
	const struct gov_stats *st = &g->stats;
	int64_t tracked = 0, trusted = 0, rate, state_since = 0;
	uint64_t denied = 0;
	const char *state;
	int i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < GOV_RULE_COUNT; i++)
		denied += st->denied[i];
	if (g->store.ops->counts != NULL)
		g->store.ops->counts(g->store.ctx, &tracked, &trusted);
	rate = gov_stats_rate_milli(g);
	state = gov_store_state(&g->store, &state_since);
	gov_reply_put(&r, "kind=status");
	gov_reply_str(&r, "version", PACKAGE_VERSION);
	gov_reply_i64(&r, "started_ms", g->start_wall_ms);
	gov_reply_i64(&r, "uptime_s", (ag_mono_ms() - g->start_mono_ms) / 1000);
	gov_reply_str(&r, "store", g->store.ops->name != NULL ? g->store.ops->name : "?");
	gov_reply_str(&r, "store_state", state);
	gov_reply_i64(&r, "store_state_since_ms",
		      state_since > 0 ? state_since : g->start_wall_ms);
	gov_reply_u64(&r, "store_errors",
		      st->store_errors[GOV_STORE_DECIDE] + st->store_errors[GOV_STORE_PRECHECK] +
			  st->store_errors[GOV_STORE_REPORT]);
	gov_reply_put(&r, " requests_per_s=%" PRId64 ".%03" PRId64, rate / 1000, rate % 1000);
	gov_reply_i64(&r, "rate_window_s", g->rate.n > 1 ? g->rate.n - 1 : 0);
	gov_reply_u64(&r, "requests", gov_stats_decisions(g));
	gov_reply_i64(&r, "clients", g->nclients);
	gov_reply_i64(&r, "inflight", g->admit.inflight);
	gov_reply_i64(&r, "inflight_trusted", g->admit.inflight_class[AG_CLASS_TRUSTED]);
	gov_reply_i64(&r, "inflight_clean", g->admit.inflight_class[AG_CLASS_CLEAN]);
	gov_reply_i64(&r, "inflight_failing", g->admit.inflight_class[AG_CLASS_DIRTY]);
	gov_reply_i64(&r, "limit", g->admit.limit);
	gov_reply_i64(&r, "fleet_max_inflight", g->conf->fleet_max_inflight);
	gov_reply_u64(&r, "fleet_full", g->stats.fleet_full);
	/* max_inflight = auto: how the limit was learnt (adaptive.h). */
	gov_reply_str(&r, "limit_mode", g->adapt.on ? "auto" : "fixed");
	gov_reply_i64(&r, "limit_min", g->adapt.on ? g->adapt.min : g->admit.limit);
	gov_reply_i64(&r, "limit_max", g->adapt.on ? g->adapt.max : g->admit.limit);
	gov_reply_i64(&r, "limit_probing", g->adapt.probing);
	gov_reply_i64(&r, "backend_baseline_ms", g->adapt.baseline_ms);
	gov_reply_i64(&r, "backend_median_ms", g->adapt.last_median_ms);
	gov_reply_i64(&r, "queued_trusted", g->admit.q[AG_CLASS_TRUSTED].len);
	gov_reply_i64(&r, "queued_clean", g->admit.q[AG_CLASS_CLEAN].len);
	gov_reply_i64(&r, "queued_failing", g->admit.q[AG_CLASS_DIRTY].len);
	gov_reply_u64(&r, "allowed", st->allowed);
	gov_reply_u64(&r, "denied", denied);
	gov_reply_u64(&r, "shed", st->shed);
	gov_reply_u64(&r, "denied_backoff", st->denied[GOV_RULE_BACKOFF]);
	gov_reply_u64(&r, "denied_source_rate", st->denied[GOV_RULE_SOURCE_RATE]);
	gov_reply_u64(&r, "denied_user_rate", st->denied[GOV_RULE_USER_RATE]);
	gov_reply_u64(&r, "denied_user_cap", st->denied[GOV_RULE_USER_CAP]);
	gov_reply_u64(&r, "denied_deny", st->denied[GOV_RULE_DENYLIST]);
	gov_reply_u64(&r, "reports_success", st->reports[AG_OUT_SUCCESS]);
	gov_reply_u64(&r, "reports_fail", st->reports[AG_OUT_FAIL]);
	gov_reply_u64(&r, "reports_unavail", st->reports[AG_OUT_UNAVAIL]);
	gov_reply_u64(&r, "abandoned", st->abandoned);
	gov_reply_u64(&r, "proto_errors", st->proto_errors);
	gov_reply_i64(&r, "tracked", tracked);
	gov_reply_i64(&r, "trusted", trusted);
	gov_reply_i64(&r, "p50_us", gov_stats_quantile(g, 500));
	gov_reply_i64(&r, "p99_us", gov_stats_quantile(g, 990));
	gov_reply_u64(&r, "log_dropped", gov_log_dropped());
	gov_reply_u64(&r, "queued_total", st->queued);
	gov_reply_u64(&r, "refused", st->refused);
	gov_reply_i64(&r, "user_inflight", g->user_inflight);
	gov_reply_i64(&r, "user_slots", g->conf->user_slots);
	gov_reply_put(&r, "\n");
	gov_reply_send(c, &r);
}

/* Normalises an admin-given attempt as a DECIDE would. src (may be NULL) is
 * an address or host name as PAM_RHOST would be, or a source key as stored
 * ("host:NAME", "local:NAME"), taken as it is. */
int gov_admin_norm(const struct gov *g, const char *user, const char *src, struct gov_norm *n)
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

/* ---- reset ---- */

static const char *const scope_names[] = {"", "user", "source", "pair", "all"};

/* A reset whose store answer is awaited (the Redis store scans for keys).
 * op comes first: the client waits on it, a closing client detaches it. */
struct reset {
	struct gov_op op;
	int scope;
	int has_user, has_source;
	long uid, pid; /* who asked, for the log line */
};

static void reset_done(void *arg, int rc)
{
	static struct gov_reply r;
	struct reset *x = arg;
	struct gov_client *c = x->op.client;
	const char *scope_name = scope_names[x->scope];
	const char *user = x->has_user ? x->op.n.user : "-";
	const char *source = x->has_source ? x->op.n.src.key : "-";
	char eu[96], es[96], text[160];

	ag_escape(eu, sizeof(eu), user, strlen(user));
	ag_escape(es, sizeof(es), source, strlen(source));
	gov_log(LOG_NOTICE, "admin reset %s user=%s source=%s by uid %ld pid %ld: %s", scope_name,
		eu, es, x->uid, x->pid,
		rc == 0 ? "cleared" : ag_strerror(rc));
	if (c == NULL) {
		free(x);
		return;
	}
	c->op = NULL;
	memset(&r, 0, sizeof(r));
	if (rc < 0) {
		snprintf(text, sizeof(text), "reset %s: %s", scope_name,
			 rc == AG_ERR_NOTFOUND ? "nothing stored" : ag_strerror(rc));
		gov_client_error(c, rc, text);
	} else {
		gov_reply_put(&r, "kind=reset scope=%s", scope_name);
		if (x->has_user)
			gov_reply_str(&r, "user", user);
		if (x->has_source)
			gov_reply_str(&r, "source", source);
		gov_reply_put(&r, " cleared=yes\n");
		gov_reply_send(c, &r);
	}
	if (x->op.later)
		gov_client_resume(c);
	free(x);
}

static void do_reset(struct gov *g, struct gov_client *c, int nargs, char args[][AG_NAME_MAX + 1])
{
	const char *scope_name = nargs > 0 ? args[0] : "";
	const char *name_arg, *src_arg;
	struct reset *x;
	int scope = 0, rc;

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
	x = calloc(1, sizeof(*x));
	if (x == NULL) {
		gov_client_error(c, AG_ERR_NOMEM, "reset: out of memory");
		return;
	}
	x->op.g = g;
	x->op.client = c;
	x->scope = scope;
	x->uid = (long)c->peer.uid;
	x->pid = (long)c->peer.pid;
	if (scope != GOV_RESET_ALL) {
		/* For a source alone any user name does: only the source is used. */
		name_arg = scope == GOV_RESET_SOURCE ? "-" : args[1];
		src_arg = scope == GOV_RESET_PAIR     ? args[2]
			  : scope == GOV_RESET_SOURCE ? args[1]
						      : NULL;
		if (gov_admin_norm(g, name_arg, src_arg, &x->op.n) < 0) {
			free(x);
			gov_client_error(c, AG_ERR_INVAL, "reset: invalid user or address");
			return;
		}
	}
	x->has_user = scope == GOV_RESET_USER || scope == GOV_RESET_PAIR;
	x->has_source = scope == GOV_RESET_SOURCE || scope == GOV_RESET_PAIR;
	if (scope == GOV_RESET_ALL) {
		gov_top_clear(&g->top_src);
		gov_top_clear(&g->top_user);
	}
	c->op = &x->op;
	rc = gov_store_reset(&g->store, scope, x->has_user ? x->op.n.user : NULL,
			     x->has_source ? x->op.n.src.key : NULL,
			     x->has_source && x->op.n.src.agg[0] != '\0' ? x->op.n.src.agg : NULL,
			     reset_done, x);
	if (rc < 0) {
		c->op = NULL;
		reset_done(x, rc); /* answers and frees */
		return;
	}
	if (c->op != NULL) /* answered later */
		x->op.later = 1;
}

/* ---- reload ---- */

static void do_reload(struct gov *g, struct gov_client *c)
{
	static struct gov_reply r;
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
	gov_reply_put(&r, "kind=reload taken=yes\n");
	gov_reply_send(c, &r);
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
			gov_admin_explain(g, c, args[0], args[1]);
	} else if (strcmp(cmd, "reset") == 0) {
		if (may_change(g, c, cmd))
			do_reset(g, c, nargs, args);
	} else if (strcmp(cmd, "show") == 0) {
		if (may_change(g, c, cmd))
			gov_admin_show(g, c, nargs, args);
	} else if (strcmp(cmd, "allow") == 0 || strcmp(cmd, "deny") == 0) {
		if (may_change(g, c, cmd))
			gov_admin_list_add(g, c, cmd[0] == 'a' ? GOV_LIST_ALLOW : GOV_LIST_DENY, nargs,
				    args);
	} else if (strcmp(cmd, "unlist") == 0) {
		if (nargs != 1)
			gov_client_error(c, AG_ERR_INVAL, "usage: unlist CIDR");
		else if (may_change(g, c, cmd))
			gov_admin_unlist(g, c, args[0]);
	} else if (strcmp(cmd, "lists") == 0 && nargs == 0) {
		if (may_change(g, c, cmd))
			gov_admin_lists(g, c);
	} else if (strcmp(cmd, "top") == 0) {
		if (may_change(g, c, cmd))
			gov_admin_top(g, c, nargs, args);
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

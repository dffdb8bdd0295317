/* metrics.c - the governor's state in the Prometheus text exposition format
 * (version 0.0.4), for the "metrics" admin command and, when metrics_listen
 * is set, for GET /metrics over HTTP on a loopback address.
 *
 * Labels only ever carry fixed words (verdicts, rule names, outcomes,
 * classes, the store's name): never a user name or an address. The HTTP
 * listener that serves it is metrics_http.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ag_err.h"
#include "ag_time.h"
#include "gov.h"
#include "log.h"
#include "metrics.h"

#define HTTP_TIMEOUT_S	 5
#define HTTP_HEADERS_MAX 8192 /* request line and headers of a scrape */
#define HTTP_BODY_MAX	 1024 /* a GET has none */

struct out {
	char *buf;
	size_t cap, len;
	int full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = 1;
		return;
	}
	o->len += (size_t)n;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{labels} v; labels (may be NULL) is 'key="word"', fixed text only. */
static void sample(struct out *o, const char *name, const char *labels, uint64_t v)
{
	if (labels != NULL)
		put(o, "%s{%s} %" PRIu64 "\n", name, labels, v);
	else
		put(o, "%s %" PRIu64 "\n", name, v);
}

static void sample_i64(struct out *o, const char *name, const char *labels, int64_t v)
{
	sample(o, name, labels, v > 0 ? (uint64_t)v : 0);
}

/* A count of us (or ms with scale 1000) as exact decimal seconds. */
static void fmt_seconds(char *b, size_t cap, uint64_t n, uint64_t per_s, int digits)
{
	uint64_t whole = n / per_s, frac = n % per_s;
	size_t len;

	if (frac == 0) {
		snprintf(b, cap, "%" PRIu64, whole);
		return;
	}
	snprintf(b, cap, "%" PRIu64 ".%0*" PRIu64, whole, digits, frac);
	len = strlen(b);
	while (len > 0 && b[len - 1] == '0')
		b[--len] = '\0';
}

/* name v, v a count of ms written as seconds. */
static void sample_sec(struct out *o, const char *name, int64_t ms)
{
	char b[32];

	fmt_seconds(b, sizeof(b), ms > 0 ? (uint64_t)ms : 0, 1000, 3);
	put(o, "%s %s\n", name, b);
}

static void counters(struct out *o, const struct gov *g)
{
	static const char *const outcomes[] = {
	    [AG_OUT_SUCCESS] = "success",
	    [AG_OUT_FAIL] = "fail",
	    [AG_OUT_UNAVAIL] = "unavail",
	    [AG_OUT_PASS] = "pass",
	};
	static const char *const classes[AG_CLASS_COUNT] = {
	    [AG_CLASS_TRUSTED] = "trusted",
	    [AG_CLASS_CLEAN] = "clean",
	    [AG_CLASS_DIRTY] = "failing",
	};
	static const char *const store_ops[GOV_STORE_OPS] = {
	    [GOV_STORE_DECIDE] = "decide",
	    [GOV_STORE_PRECHECK] = "precheck",
	    [GOV_STORE_REPORT] = "report",
	};
	const struct gov_stats *st = &g->stats;
	uint64_t denied = 0;
	char lab[80];
	int i, k;

	for (i = 0; i < GOV_RULE_COUNT; i++)
		denied += st->denied[i];
	head(o, "authguard_decisions_total", "counter", "Final verdicts given to DECIDE requests.");
	sample(o, "authguard_decisions_total", "verdict=\"allow\"", st->allowed);
	sample(o, "authguard_decisions_total", "verdict=\"deny\"", denied);
	sample(o, "authguard_decisions_total", "verdict=\"shed\"", st->shed);

	head(o, "authguard_denials_total", "counter", "Denials by the rule that denied.");
	for (i = 0; i < GOV_RULE_COUNT; i++) {
		snprintf(lab, sizeof(lab), "rule=\"%s\"", gov_rule_name(i));
		sample(o, "authguard_denials_total", lab, st->denied[i]);
	}

	head(o, "authguard_reports_total", "counter",
	     "Outcomes reported by the PAM module; abandon: released without a report.");
	for (i = AG_OUT_SUCCESS; i <= AG_OUT_PASS; i++) {
		snprintf(lab, sizeof(lab), "outcome=\"%s\"", outcomes[i]);
		sample(o, "authguard_reports_total", lab, st->reports[i]);
	}
	sample(o, "authguard_reports_total", "outcome=\"abandon\"", st->abandoned);

	head(o, "authguard_class_reports_total", "counter",
	     "Outcomes reported, by the class the attempt was admitted in.");
	for (k = 0; k < AG_CLASS_COUNT; k++) {
		for (i = AG_OUT_SUCCESS; i <= AG_OUT_PASS; i++) {
			snprintf(lab, sizeof(lab), "class=\"%s\",outcome=\"%s\"", classes[k],
				 outcomes[i]);
			sample(o, "authguard_class_reports_total", lab, st->reports_by[k][i]);
		}
		snprintf(lab, sizeof(lab), "class=\"%s\",outcome=\"abandon\"", classes[k]);
		sample(o, "authguard_class_reports_total", lab, st->abandoned_by[k]);
	}
	head(o, "authguard_admissions_total", "counter", "Attempts admitted, by class.");
	for (k = 0; k < AG_CLASS_COUNT; k++) {
		snprintf(lab, sizeof(lab), "class=\"%s\"", classes[k]);
		sample(o, "authguard_admissions_total", lab, st->allowed_by[k]);
	}
	head(o, "authguard_queued_total", "counter", "Attempts told to wait for a slot, by class.");
	for (k = 0; k < AG_CLASS_COUNT; k++) {
		snprintf(lab, sizeof(lab), "class=\"%s\"", classes[k]);
		sample(o, "authguard_queued_total", lab, st->queued_by[k]);
	}
	head(o, "authguard_store_errors_total", "counter",
	     "Store operations that failed, by operation (no decision, or a report lost).");
	for (k = 0; k < GOV_STORE_OPS; k++) {
		snprintf(lab, sizeof(lab), "op=\"%s\"", store_ops[k]);
		sample(o, "authguard_store_errors_total", lab, st->store_errors[k]);
	}

	head(o, "authguard_protocol_errors_total", "counter",
	     "Requests refused as malformed or out of place.");
	sample(o, "authguard_protocol_errors_total", NULL, st->proto_errors);
	head(o, "authguard_clients_refused_total", "counter",
	     "Connections refused at max_clients.");
	sample(o, "authguard_clients_refused_total", NULL, st->refused);
	head(o, "authguard_metrics_http_refused_total", "counter",
	     "Scrape connections closed at accept: 16 were open already.");
	sample(o, "authguard_metrics_http_refused_total", NULL, gov_metrics_http_refused(g));
	head(o, "authguard_log_dropped_total", "counter", "Log lines dropped by the log budget.");
	sample(o, "authguard_log_dropped_total", NULL, gov_log_dropped());
}

static void gauges(struct out *o, const struct gov *g)
{
	const char *store =
	    g->store.ops != NULL && g->store.ops->name != NULL ? g->store.ops->name : "unknown";
	static const char *const states[3] = {"ok", "degraded", "down"};
	const char *state = gov_store_state(&g->store, NULL);
	int64_t tracked = 0, trusted = 0;
	char lab[80], secs[32];
	int k;

	if (g->store.ops != NULL && g->store.ops->counts != NULL)
		g->store.ops->counts(g->store.ctx, &tracked, &trusted);
	head(o, "authguard_inflight", "gauge", "Admissions holding a slot of max_inflight.");
	sample_i64(o, "authguard_inflight", NULL, g->admit.inflight);
	head(o, "authguard_inflight_limit", "gauge", "Slots of max_inflight (learnt when auto).");
	sample_i64(o, "authguard_inflight_limit", NULL, g->admit.limit);
	head(o, "authguard_backend_median_seconds", "gauge",
	     "max_inflight = auto: the backend's median time in the last tick.");
	sample_sec(o, "authguard_backend_median_seconds", g->adapt.last_median_ms);
	head(o, "authguard_backend_baseline_seconds", "gauge",
	     "max_inflight = auto: the backend's time with nothing queued, as learnt.");
	sample_sec(o, "authguard_backend_baseline_seconds", g->adapt.baseline_ms);
	head(o, "authguard_fleet_full_total", "counter",
	     "Attempts that found fleet_max_inflight's slots taken and waited.");
	sample(o, "authguard_fleet_full_total", NULL, g->stats.fleet_full);
	head(o, "authguard_limit_changes_total", "counter",
	     "max_inflight = auto: the limit's moves, by direction.");
	sample(o, "authguard_limit_changes_total", "direction=\"down\"", g->adapt.shrinks);
	sample(o, "authguard_limit_changes_total", "direction=\"up\"", g->adapt.grows);
	sample(o, "authguard_limit_changes_total", "direction=\"probe\"", g->adapt.probes);
	head(o, "authguard_queued", "gauge", "Attempts waiting for a slot, by class.");
	sample_i64(o, "authguard_queued", "class=\"trusted\"", g->admit.q[AG_CLASS_TRUSTED].len);
	sample_i64(o, "authguard_queued", "class=\"clean\"", g->admit.q[AG_CLASS_CLEAN].len);
	sample_i64(o, "authguard_queued", "class=\"failing\"", g->admit.q[AG_CLASS_DIRTY].len);
	head(o, "authguard_clients", "gauge", "Open client connections.");
	sample_i64(o, "authguard_clients", NULL, g->nclients);
	head(o, "authguard_tracked_entries", "gauge",
	     "Pairs, sources and users the memory store tracks (0 with Redis: not counted).");
	sample_i64(o, "authguard_tracked_entries", NULL, tracked);
	head(o, "authguard_trusted_pairs", "gauge",
	     "Trusted (user, source) pairs the memory store keeps (0 with Redis: not counted).");
	sample_i64(o, "authguard_trusted_pairs", NULL, trusted);
	head(o, "authguard_inflight_class", "gauge", "Admissions holding a slot, by class.");
	sample_i64(o, "authguard_inflight_class", "class=\"trusted\"",
		   g->admit.inflight_class[AG_CLASS_TRUSTED]);
	sample_i64(o, "authguard_inflight_class", "class=\"clean\"",
		   g->admit.inflight_class[AG_CLASS_CLEAN]);
	sample_i64(o, "authguard_inflight_class", "class=\"failing\"",
		   g->admit.inflight_class[AG_CLASS_DIRTY]);
	head(o, "authguard_store_up", "gauge", "1 when the store answers (state ok or degraded).");
	/* The store's name is one of ours ("memory"), never a peer's text. */
	snprintf(lab, sizeof(lab), "store=\"%s\"", store);
	sample(o, "authguard_store_up", lab, strcmp(state, "down") != 0);
	head(o, "authguard_store_state", "gauge",
	     "1 for the store's current state: ok, degraded (answering from the host's own "
	     "limits) or down.");
	for (k = 0; k < 3; k++) {
		snprintf(lab, sizeof(lab), "store=\"%s\",state=\"%s\"", store, states[k]);
		sample(o, "authguard_store_state", lab, strcmp(state, states[k]) == 0);
	}
	head(o, "authguard_up", "gauge", "1 while the governor runs.");
	sample(o, "authguard_up", NULL, 1);
	head(o, "authguard_start_time_seconds", "gauge",
	     "Start of the governor, seconds since the epoch.");
	fmt_seconds(secs, sizeof(secs), (uint64_t)(g->start_wall_ms > 0 ? g->start_wall_ms : 0),
		    1000, 3);
	put(o, "authguard_start_time_seconds %s\n", secs);
}

/* Bucket b of the histogram holds latencies below 2^(b+1) us; the last one
 * has no upper bound and shows only in +Inf. */
static void histogram(struct out *o, const struct gov *g)
{
	const char *name = "authguard_decision_seconds";
	const struct gov_stats *st = &g->stats;
	uint64_t cum = 0;
	char le[32];
	int b;

	head(o, name, "histogram", "DECIDE receipt to final verdict.");
	for (b = 0; b < GOV_LAT_BUCKETS - 1; b++) {
		cum += st->lat[b];
		fmt_seconds(le, sizeof(le), (uint64_t)2 << b, 1000000, 6);
		put(o, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, le, cum);
	}
	put(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, st->lat_n);
	fmt_seconds(le, sizeof(le), st->lat_sum_us, 1000000, 6);
	put(o, "%s_sum %s\n", name, le);
	put(o, "%s_count %" PRIu64 "\n", name, st->lat_n);
}

int gov_metrics_render(const struct gov *g, char *buf, size_t cap, size_t *len)
{
	struct out o = {.buf = buf, .cap = cap};

	if (len != NULL)
		*len = 0;
	if (g == NULL || buf == NULL || cap == 0 || len == NULL)
		return AG_ERR_INVAL;
	buf[0] = '\0';
	counters(&o, g);
	gauges(&o, g);
	histogram(&o, g);
	if (o.full) {
		/* Keep whole lines only. */
		while (o.len > 0 && buf[o.len - 1] != '\n')
			o.len--;
		buf[o.len] = '\0';
		*len = o.len;
		return AG_ERR_TOOBIG;
	}
	*len = o.len;
	return 0;
}

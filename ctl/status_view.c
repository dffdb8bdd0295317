/* status_view.c - "authguardctl status" for people: the status record
 * (admin.c's kind=status) as a few labelled lines, times and rates in the
 * units an operator reads. --json prints the record itself (records.c).
 */
#include "config.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ag_conf.h"
#include "records.h"
#include "status_view.h"

/* The value of key as an integer; 0 when absent or not a number. */
static int64_t num(const struct ctl_rec *r, const char *key)
{
	const char *v = ctl_rec_get(r, key);
	int64_t n = 0;

	if (v == NULL || ag_parse_int(v, INT64_MIN, INT64_MAX, &n) != 0)
		return 0;
	return n;
}

/* The value of key as text a terminal may show; "?" when absent or odd. */
static const char *word(const struct ctl_rec *r, const char *key)
{
	const char *v = ctl_rec_get(r, key);
	const unsigned char *p;

	if (v == NULL || v[0] == '\0')
		return "?";
	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			return "?";
	return v;
}

/* "3d 4h", "2h 5m", "4m 10s", "12s". */
static void span(char *b, size_t cap, int64_t s)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(b, cap, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(b, cap, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(b, cap, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
	else
		snprintf(b, cap, "%" PRId64 "s", s);
}

/* Wall ms as local time "2026-11-24 05:40:12 UTC"; "?" when it cannot. */
static void when(char *b, size_t cap, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || localtime_r(&t, &tm) == NULL || strftime(b, cap, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(b, cap, "?");
}

/* Microseconds as "15 us" or "1.2 ms". */
static void micros(char *b, size_t cap, int64_t us)
{
	if (us < 1000)
		snprintf(b, cap, "%" PRId64 " us", us);
	else
		snprintf(b, cap, "%" PRId64 ".%" PRId64 " ms", us / 1000, us % 1000 / 100);
}

/* The rate "21.444" as "21.4": one decimal is what a person reads. */
static void rate(char *b, size_t cap, const char *v)
{
	const char *dot = strchr(v, '.');
	size_t n = dot != NULL && dot[1] != '\0' ? (size_t)(dot - v) + 2 : strlen(v);

	snprintf(b, cap, "%.*s", (int)n, v);
}

int ctl_status_print(const struct ctl_recs *rs)
{
	const struct ctl_rec *r = ctl_recs_find(rs, "status");
	char up[32], since[64], state_since[64], p50[32], p99[32], rps[32];
	int64_t started, state_ms;

	if (r == NULL)
		return -1;
	started = num(r, "started_ms");
	state_ms = num(r, "store_state_since_ms");
	span(up, sizeof(up), num(r, "uptime_s"));
	when(since, sizeof(since), started);
	when(state_since, sizeof(state_since), state_ms);
	micros(p50, sizeof(p50), num(r, "p50_us"));
	micros(p99, sizeof(p99), num(r, "p99_us"));
	rate(rps, sizeof(rps), word(r, "requests_per_s"));

	printf("authguard-governor %s, up since %s (%s)\n", word(r, "version"), since, up);
	printf("store:      %s, %s since %s; %" PRId64 " errors\n", word(r, "store"),
	       word(r, "store_state"), state_ms <= started ? "start" : state_since,
	       num(r, "store_errors"));
	printf("requests:   %s/s over the last %" PRId64 " s; %" PRId64 " decisions in all\n",
	       rps, num(r, "rate_window_s"), num(r, "requests"));
	printf("verdicts:   allowed %" PRId64 ", denied %" PRId64 ", shed %" PRId64 "\n",
	       num(r, "allowed"), num(r, "denied"), num(r, "shed"));
	printf("denied by:  backoff %" PRId64 ", source_rate %" PRId64 ", user_rate %" PRId64
	       ", user_cap %" PRId64 ", deny list %" PRId64 "\n",
	       num(r, "denied_backoff"), num(r, "denied_source_rate"), num(r, "denied_user_rate"),
	       num(r, "denied_user_cap"), num(r, "denied_deny"));
	printf("in-flight:  %" PRId64 " of %" PRId64 " (trusted %" PRId64 ", clean %" PRId64
	       ", failing %" PRId64 "); user socket %" PRId64 " of %" PRId64 "\n",
	       num(r, "inflight"), num(r, "limit"), num(r, "inflight_trusted"),
	       num(r, "inflight_clean"), num(r, "inflight_failing"), num(r, "user_inflight"),
	       num(r, "user_slots"));
	if (strcmp(word(r, "limit_mode"), "auto") == 0)
		printf("limit:      learnt (max_inflight = auto) %" PRId64 " in %" PRId64 "..%" PRId64
		       "%s; backend median %" PRId64 " ms, baseline %" PRId64 " ms\n",
		       num(r, "limit"), num(r, "limit_min"), num(r, "limit_max"),
		       num(r, "limit_probing") ? " (probing: strangers' share halved for a second)" : "",
		       num(r, "backend_median_ms"), num(r, "backend_baseline_ms"));
	if (num(r, "fleet_max_inflight") > 0)
		printf("fleet:      at most %" PRId64 " in flight on all hosts; %" PRId64
		       " attempts found them taken and waited\n",
		       num(r, "fleet_max_inflight"), num(r, "fleet_full"));
	printf("queued:     trusted %" PRId64 ", clean %" PRId64 ", failing %" PRId64
	       "; %" PRId64 " queued in all\n",
	       num(r, "queued_trusted"), num(r, "queued_clean"), num(r, "queued_failing"),
	       num(r, "queued_total"));
	printf("latency:    p50 %s, p99 %s (receipt to verdict)\n", p50, p99);
	printf("reports:    success %" PRId64 ", fail %" PRId64 ", unavail %" PRId64
	       ", abandoned %" PRId64 "\n",
	       num(r, "reports_success"), num(r, "reports_fail"), num(r, "reports_unavail"),
	       num(r, "abandoned"));
	if (num(r, "tracked") < 0)
		printf("tracked:    in the %s store, not counted here\n", word(r, "store"));
	else
		printf("tracked:    %" PRId64 " entries, %" PRId64 " trusted pairs\n",
		       num(r, "tracked"), num(r, "trusted"));
	printf("clients:    %" PRId64 " open, %" PRId64 " refused at max_clients; %" PRId64
	       " protocol errors; %" PRId64 " log lines dropped\n",
	       num(r, "clients"), num(r, "refused"), num(r, "proto_errors"),
	       num(r, "log_dropped"));
	return 0;
}

/* flood_report.c - the flood driver's report: per class and window, the
 * attempts, success rate and latency of pam_authenticate; the backend's
 * counters (its own JSON, passed through); the CPU of each process as a
 * percentage of one core; and how many seconds every core was busy. Text for
 * people, --json for bench/flood.sh. */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE; standalone builds pass -D_GNU_SOURCE */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "flood.h"

static const char *const class_name[FL_NCLASS] = { "trusted", "fresh", "botnet" };

struct window {
	const char *name;
	uint32_t from, to;
};

/* The windows of the run: all of it, and with a slowdown, before it, the
 * FL_ADAPT_S seconds after it, and the rest. Returns how many. */
static int windows(const struct fl_result *r, struct window w[4])
{
	uint32_t s = (uint32_t)r->o->slow_at_s * 1000, a = s + FL_ADAPT_S * 1000;

	w[0] = (struct window){ "all", 0, UINT32_MAX };
	if (r->o->slow_at_s <= 0)
		return 1;
	w[1] = (struct window){ "before", 0, s };
	w[2] = (struct window){ "adapt", s, a };
	w[3] = (struct window){ "after", a, UINT32_MAX };
	return 4;
}

static double cpu_pct(const struct fl_result *r, size_t i)
{
	int64_t ms = r->cpu1.mono_ms - r->cpu0.mono_ms;
	long hz = sysconf(_SC_CLK_TCK);

	if (ms <= 0 || hz <= 0 || r->cpu1.proc[i] < r->cpu0.proc[i])
		return 0;
	return 100.0 * (double)(r->cpu1.proc[i] - r->cpu0.proc[i]) / (double)hz / (ms / 1000.0);
}

static double machine_pct(const struct fl_result *r)
{
	unsigned long long t = r->cpu1.total - r->cpu0.total;

	return t ? 100.0 * (double)(r->cpu1.busy - r->cpu0.busy) / (double)t : 0;
}

/* The number after "KEY": in our backend's flat JSON, or -1. */
static double json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	if (json == NULL)
		return -1;
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(json, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s != NULL && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

void fl_report_text(const struct fl_result *r)
{
	const struct fl_opts *o = r->o;
	struct window w[4];
	int nw = windows(r, w);
	const char *b = r->backend_json;

	printf("flood: %s (service %s, %ld s)\n", o->label ? o->label : "-", o->service,
	       o->duration_s);
	printf("  botnet %ld clients over %ld addresses, %ld%% real names, pause %ld ms; "
	       "trusted %ld users at %.1f/s; fresh %ld users at %.1f/s\n",
	       o->bots, o->bot_addrs, o->bot_real_pct, o->bot_pause_ms, o->trusted_users,
	       o->trusted_rate, o->fresh_users, o->fresh_rate);
	if (o->slow_at_s > 0)
		printf("  backend slowed to %ld ms per check at %ld s\n", o->slow_ms, o->slow_at_s);
	if (r->warmup_failures)
		printf("  warning: %ld trusted first logins failed before the flood\n",
		       r->warmup_failures);
	printf("%-8s %-7s %9s %8s %9s %9s %9s %9s %8s %8s %7s %8s %6s\n", "class", "window",
	       "attempts", "ok%", "p50 ms", "p99 ms", "max ms", "auth_err", "unavail", "unknown",
	       "other", "denied", ">tmo");
	for (int c = 0; c < FL_NCLASS; c++)
		for (int i = 0; i < nw; i++) {
			struct fl_figures f;

			fl_figures(&r->samples[c], w[i].from, w[i].to, o->client_timeout_ms, &f);
			printf("%-8s %-7s %9llu %8.2f %9.1f %9.1f %9.1f %9llu %8llu %8llu %7llu "
			       "%8llu %6llu\n",
			       class_name[c], w[i].name, (unsigned long long)f.attempts, f.success_pct,
			       f.p50_ms, f.p99_ms, f.max_ms,
			       (unsigned long long)f.by_outcome[FL_AUTH_ERR],
			       (unsigned long long)f.by_outcome[FL_UNAVAIL],
			       (unsigned long long)f.by_outcome[FL_UNKNOWN],
			       (unsigned long long)f.by_outcome[FL_OTHER], (unsigned long long)f.told,
			       (unsigned long long)f.over_timeout);
		}
	if (b != NULL)
		printf("backend: %.0f calls (%.0f ok, %.0f wrong password, %.0f unknown user), "
		       "%.0f wasted (deadline passed %.0f, client gone %.0f), %.0f late; "
		       "largest queue %.0f, busy workers %.0f of %.0f; queue wait p50 %.0f ms, "
		       "p99 %.0f ms\n",
		       json_num(b, "calls"), json_num(b, "successes"), json_num(b, "failures"),
		       json_num(b, "unknown_users"), json_num(b, "wasted"),
		       json_num(b, "wasted_deadline"), json_num(b, "wasted_closed"),
		       json_num(b, "late"), json_num(b, "max_queue"), json_num(b, "max_busy"),
		       json_num(b, "workers"), json_num(b, "queue_wait_p50_ms"),
		       json_num(b, "queue_wait_p99_ms"));
	printf("cpu (%% of one core):");
	for (size_t i = 0; i < o->ncpu; i++)
		printf(" %s %.1f,", o->cpu_name[i], cpu_pct(r, i));
	printf(" flood %.1f; machine %.0f%% busy (%ld cores); saturated (>= 95%%) %d of %d s\n",
	       cpu_pct(r, o->ncpu), machine_pct(r), sysconf(_SC_NPROCESSORS_ONLN),
	       r->load->saturated, r->load->seconds);
}

static void json_figures(const struct fl_figures *f)
{
	printf("{\"attempts\": %llu, \"successes\": %llu, \"success_pct\": %.3f, "
	       "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, \"auth_err\": %llu, "
	       "\"unavail\": %llu, \"unknown\": %llu, \"other\": %llu, \"denied\": %llu, "
	       "\"over_timeout\": %llu}",
	       (unsigned long long)f->attempts, (unsigned long long)f->by_outcome[FL_OK],
	       f->success_pct, f->p50_ms, f->p99_ms, f->max_ms,
	       (unsigned long long)f->by_outcome[FL_AUTH_ERR],
	       (unsigned long long)f->by_outcome[FL_UNAVAIL],
	       (unsigned long long)f->by_outcome[FL_UNKNOWN],
	       (unsigned long long)f->by_outcome[FL_OTHER], (unsigned long long)f->told,
	       (unsigned long long)f->over_timeout);
}

void fl_report_json(const struct fl_result *r)
{
	const struct fl_opts *o = r->o;
	struct window w[4];
	int nw = windows(r, w);

	printf("{\"label\": ");
	json_str(o->label ? o->label : "");
	printf(", \"service\": ");
	json_str(o->service);
	printf(", \"params\": {\"duration_s\": %ld, \"bots\": %ld, \"bot_addrs\": %ld, "
	       "\"bot_real_pct\": %ld, \"bot_pause_ms\": %ld, \"trusted_users\": %ld, "
	       "\"trusted_rate\": %.2f, \"fresh_users\": %ld, \"fresh_rate\": %.2f, "
	       "\"client_timeout_ms\": %ld, \"slow_at_s\": %ld, \"slow_ms\": %ld, \"seed\": %lu}",
	       o->duration_s, o->bots, o->bot_addrs, o->bot_real_pct, o->bot_pause_ms,
	       o->trusted_users, o->trusted_rate, o->fresh_users, o->fresh_rate,
	       o->client_timeout_ms, o->slow_at_s, o->slow_ms, o->seed);
	printf(",\n \"start_epoch_ms\": %lld, \"end_ms\": %u, \"warmup_failures\": %ld, "
	       "\"classes\": {",
	       (long long)r->start_epoch_ms, r->end_ms, r->warmup_failures);
	for (int c = 0; c < FL_NCLASS; c++) {
		printf("%s\n  \"%s\": {", c ? "," : "", class_name[c]);
		for (int i = 0; i < nw; i++) {
			struct fl_figures f;

			fl_figures(&r->samples[c], w[i].from, w[i].to, o->client_timeout_ms, &f);
			printf("%s\"%s\": ", i ? ", " : "", w[i].name);
			json_figures(&f);
		}
		printf("}");
	}
	printf("},\n \"cpu_pct\": {");
	for (size_t i = 0; i < o->ncpu; i++) {
		json_str(o->cpu_name[i]);
		printf(": %.1f, ", cpu_pct(r, i));
	}
	printf("\"flood\": %.1f}, \"machine_busy_pct\": %.1f, \"cores\": %ld, "
	       "\"saturated_s\": %d, \"seconds\": %d, \"busy_series\": [",
	       cpu_pct(r, o->ncpu), machine_pct(r), sysconf(_SC_NPROCESSORS_ONLN), r->load->saturated,
	       r->load->seconds);
	for (int i = 0; i < r->load->seconds && i < 3600; i++)
		printf("%s%.0f", i ? "," : "", r->load->busy_pct[i]);
	printf("],\n \"backend\": %s}\n", r->backend_json ? r->backend_json : "null");
}

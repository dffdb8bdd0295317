/* loop.c - the event loop: start-up, timers, signals (reload, stop), the
 * systemd handshake and watchdog, persistence, the latency histogram. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <event2/event.h>
#include <sodium.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "ag_err.h"
#include "ag_time.h"
#include "client.h"
#include "gov.h"
#include "log.h"
#include "metrics.h"
#include "store_redis.h"
#include "statefile.h"

#define HOUSEKEEPING_MS 1000

static const int stop_signals[3] = {SIGHUP, SIGTERM, SIGINT};

void gov_timer_ms(struct event *t, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (evtimer_add(t, &tv) != 0)
		gov_log(LOG_ERR, "cannot arm a timer");
}

static void notify(const char *state)
{
#ifdef HAVE_SYSTEMD
	(void)sd_notify(0, state);
#else
	(void)state;
#endif
}

/* ---- latency histogram ---- */

void gov_stats_latency(struct gov *g, int64_t us, uint64_t n)
{
	int b = 0;

	while (b < GOV_LAT_BUCKETS - 1 && us >= ((int64_t)2 << b))
		b++;
	g->stats.lat[b] += n;
	g->stats.lat_n += n;
	g->stats.lat_sum_us += (uint64_t)(us > 0 ? us : 0) * n;
}

int64_t gov_stats_quantile(const struct gov *g, int permille)
{
	uint64_t want, seen = 0;
	int b;

	if (g->stats.lat_n == 0)
		return 0;
	/* The rank of the quantile, rounded up, at least 1. */
	want = (g->stats.lat_n * (uint64_t)permille + 999) / 1000;
	if (want == 0)
		want = 1;
	for (b = 0; b < GOV_LAT_BUCKETS; b++) {
		seen += g->stats.lat[b];
		if (seen >= want)
			break;
	}
	return ((int64_t)2 << (b < GOV_LAT_BUCKETS ? b : GOV_LAT_BUCKETS - 1)) - 1;
}

/* ---- persistence ---- */

static void save_state(struct gov *g)
{
	int rc;

	if (g->conf->state_file == NULL || g->conf->state_file[0] == '\0')
		return;
	rc = gov_state_save(g->conf->state_file, &g->store, g->lists, ag_wall_ms());
	if (rc < 0)
		gov_log(LOG_ERR, "cannot save state to %s: %s", g->conf->state_file,
			ag_strerror(rc));
}

static void load_state(struct gov *g)
{
	const char *path = g->conf->state_file;
	int rc;

	if (path == NULL || path[0] == '\0')
		return;
	rc = gov_state_load(path, &g->store, g->lists, ag_wall_ms());
	if (rc == 0)
		gov_log(LOG_INFO, "state loaded from %s", path);
	else if (rc == AG_ERR_NOTFOUND)
		gov_log(LOG_INFO, "no state file at %s: starting empty", path);
	else
		gov_log(LOG_ERR, "state file %s not loaded (%s): starting empty", path,
			ag_strerror(rc));
}

/* Collects the saving child, if it has finished; logs its failure. */
static void reap_saver(struct gov *g, int wait)
{
	int status;
	pid_t r;

	if (g->saver <= 0)
		return;
	do
		r = waitpid(g->saver, &status, wait ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return;
	if (r == g->saver && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		gov_log(LOG_ERR, "cannot save state to %s (the saving process failed)",
			g->conf->state_file);
	g->saver = 0;
}

/* The periodic save runs in a forked child on a copy-on-write snapshot, so
 * that writing a large store (and its fsync) never stalls the decisions.
 * One save at a time; the final save at stop is done in place. */
static void save_state_async(struct gov *g)
{
	pid_t pid;

	if (g->conf->state_file == NULL || g->conf->state_file[0] == '\0')
		return;
	reap_saver(g, 0);
	if (g->saver > 0) {
		gov_log(LOG_WARNING, "state save still running; skipping this one");
		return;
	}
	pid = fork();
	if (pid < 0) {
		gov_log(LOG_ERR, "cannot fork to save state: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		/* A stop signal ends the child at once: the half-written
		 * temporary file is never renamed over the last good one. */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		_exit(gov_state_save(g->conf->state_file, &g->store, g->lists, ag_wall_ms()) < 0);
	}
	g->saver = pid;
}

/* (Re-)arms the state timer when the interval is new. */
static void arm_state_timer(struct gov *g)
{
	struct timeval tv;

	if (g->state_interval_ms == g->conf->state_interval_ms)
		return;
	g->state_interval_ms = g->conf->state_interval_ms;
	evtimer_del(g->ev_state);
	if (g->state_interval_ms <= 0)
		return;
	tv.tv_sec = (time_t)(g->state_interval_ms / 1000);
	tv.tv_usec = (suseconds_t)(g->state_interval_ms % 1000) * 1000;
	if (event_add(g->ev_state, &tv) != 0)
		gov_log(LOG_ERR, "cannot arm the state timer");
}

/* ---- timers ---- */

uint64_t gov_stats_decisions(const struct gov *g)
{
	uint64_t n = g->stats.allowed + g->stats.shed;
	int i;

	for (i = 0; i < GOV_RULE_COUNT; i++)
		n += g->stats.denied[i];
	return n;
}

/* One sample a second, from the housekeeping timer. */
static void rate_sample(struct gov *g)
{
	struct gov_rate *r = &g->rate;

	r->total[r->next] = gov_stats_decisions(g);
	r->next = (r->next + 1) % (GOV_RATE_SECONDS + 1);
	if (r->n < GOV_RATE_SECONDS + 1)
		r->n++;
}

int64_t gov_stats_rate_milli(const struct gov *g)
{
	const struct gov_rate *r = &g->rate;
	int newest, oldest;

	if (r->n < 2)
		return 0;
	newest = (r->next + GOV_RATE_SECONDS) % (GOV_RATE_SECONDS + 1);
	oldest = (r->next + GOV_RATE_SECONDS + 1 - r->n) % (GOV_RATE_SECONDS + 1);
	return (int64_t)((r->total[newest] - r->total[oldest]) * 1000 / (uint64_t)(r->n - 1));
}

static void state_cb(evutil_socket_t fd, short what, void *arg)
{
	save_state_async(arg);
}

/* max_inflight = auto: a new limit takes effect at once; a larger one may
 * serve waiters now. */
static void adapt_tick(struct gov *g, int64_t now)
{
	const struct ag_conf *c = g->conf;
	int changed = 0;

	int64_t limit, tr;

	gov_adaptive_tick(&g->adapt, now, randombytes_random(), &changed);
	if (!changed)
		return;
	/* A probe halves what strangers may use (clean and failing sources);
	 * trusted pairs keep every slot, so that a probe never queues them
	 * behind attempts admitted before it. They are few: the probe still
	 * sees a backend with nothing queued. */
	limit = g->adapt.probing ? g->adapt.held : g->adapt.limit;
	tr = c->trusted_reserve_pct;
	if (g->adapt.probing && tr < 50)
		tr = 50;
	gov_admit_configure(&g->admit, limit, tr, c->clean_reserve_pct, c->max_queue,
			    c->codel_target_ms, c->codel_interval_ms);
	gov_attempt_serve(g);
}

static void house_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gov *g = arg;
	int64_t now = ag_mono_ms();

	rate_sample(g);
	gov_listen_heartbeat(&g->lis[0]);
	gov_listen_heartbeat(&g->lis[1]);
	adapt_tick(g, now);
	gov_client_sweep(g, now);
	reap_saver(g, 0);
	gov_log_tick(now);
	gov_lists_expire(g->lists, ag_wall_ms());
}

static void expire_cb(evutil_socket_t fd, short what, void *arg)
{
	gov_attempt_expire(arg, 0);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	gov_client_reap(arg);
}

/* ---- reload ---- */

static int same_path(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

int gov_reload(struct gov *g, char *err, size_t errlen)
{
	struct ag_conf *nc = calloc(1, sizeof(*nc));
	struct ag_conf *old = g->conf;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (err == NULL || errlen == 0)
		return AG_ERR_INVAL;
	if (nc == NULL) {
		gov_log(LOG_ERR, "reload: out of memory; keeping the current configuration");
		snprintf(err, errlen, "out of memory");
		return AG_ERR_NOMEM;
	}
	rc = ag_conf_init(nc);
	/* No NSS lookup on the event loop: admin_group keeps the gid resolved
	 * at start, and a new group needs a restart. */
	nc->no_nss = 1;
	if (rc == 0)
		rc = ag_conf_load(nc, g->conf_path, err, errlen);
	if (rc == 0 && !same_path(nc->admin_group, old->admin_group)) {
		snprintf(err, errlen, "admin_group changed: restart the governor to apply it");
		rc = AG_ERR_CONFIG;
	}
	if (rc < 0) {
		if (rc == AG_ERR_NOTFOUND)
			snprintf(err, errlen, "%s not found", g->conf_path);
		else if (err[0] == '\0')
			snprintf(err, errlen, "%s", ag_strerror(rc));
		gov_log(LOG_ERR, "reload: %s; keeping the current configuration", err);
		ag_conf_free(nc);
		free(nc);
		return rc;
	}
	if (!same_path(nc->socket, old->socket) || !same_path(nc->user_socket, old->user_socket))
		gov_log(LOG_WARNING, "reload: a new socket path takes effect only after a restart");
	if (!same_path(nc->metrics_listen, gov_metrics_addr(g)))
		gov_log(LOG_WARNING,
			"reload: a new metrics_listen takes effect only after a restart");
	nc->has_admin_gid = old->has_admin_gid;
	nc->admin_gid = old->admin_gid;
	g->conf = nc;
	gov_adaptive_configure(&g->adapt, nc->max_inflight == 0, nc->max_inflight,
			       nc->max_inflight_min, nc->max_inflight_max, ag_mono_ms());
	gov_admit_configure(&g->admit, g->adapt.limit, nc->trusted_reserve_pct,
			    nc->clean_reserve_pct, nc->max_queue, nc->codel_target_ms,
			    nc->codel_interval_ms);
	if (nc->backend != old->backend) {
		gov_log(LOG_WARNING, "reload: a new [store] backend takes effect only after a restart");
		nc->backend = old->backend;
	}
	if (nc->backend == AG_BACKEND_REDIS)
		gov_store_redis_reconf(&g->store, nc);
	else
		gov_store_mem_reconf(&g->store, nc);
	rc = gov_lists_set_conf(g->lists, nc);
	if (g->store.ops->flush != NULL)
		g->store.ops->flush(g->store.ctx);
	if (rc < 0)
		gov_log(LOG_ERR, "reload: lists not replaced: %s", ag_strerror(rc));
	gov_log_limits(nc->log_burst, nc->log_interval_ms);
	arm_state_timer(g);
	/* The store and lists now point at nc; only then may the old one go. */
	ag_conf_free(old);
	free(old);
	gov_log(LOG_NOTICE, "configuration reloaded from %s", g->conf_path);
	/* A larger limit may let waiters through now. */
	gov_attempt_serve(g);
	return 0;
}

/* ---- stop ---- */

static void stop(struct gov *g)
{
	int i;

	notify("STOPPING=1");
	gov_log(LOG_NOTICE, "stopping");
	for (i = 0; i < 2; i++)
		gov_listen_close(&g->lis[i], 1);
	/* Waiters hear "shed" now; admissions in flight are not waited for, and
	 * a restart is not held against their users (no abandon). Stopping is
	 * set first so that no slot freed meanwhile admits anyone. */
	g->stopping = 1;
	gov_attempt_expire(g, 1);
	gov_client_close_all(g);
	/* A periodic save still running would write the same temporary file. */
	if (g->saver > 0)
		kill(g->saver, SIGKILL);
	reap_saver(g, 1);
	save_state(g);
	event_base_loopbreak(g->base);
}

static void fleet_cb(evutil_socket_t fd, short what, void *arg)
{
	gov_attempt_fleet_poll(arg);
}

/* Another host (or this one) released a slot of the full fleet. */
static void fleet_free(void *arg)
{
	struct gov *g = arg;

	if (g->fleet_full)
		gov_attempt_fleet_poll(g);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct gov *g = arg;

	if (sig == SIGHUP) {
		char err[AG_ERRBUF];

		(void)gov_reload(g, err, sizeof(err));
	} else if (!g->stopping) {
		stop(g);
	}
}

/* ---- set-up ---- */

static int add_events(struct gov *g)
{
	struct timeval house = {HOUSEKEEPING_MS / 1000, (HOUSEKEEPING_MS % 1000) * 1000};
	int i;

	g->ev_reap = event_new(g->base, -1, 0, reap_cb, g);
	g->ev_expire = evtimer_new(g->base, expire_cb, g);
	g->ev_fleet = evtimer_new(g->base, fleet_cb, g);
	g->ev_house = event_new(g->base, -1, EV_PERSIST, house_cb, g);
	g->ev_state = event_new(g->base, -1, EV_PERSIST, state_cb, g);
	if (g->ev_reap == NULL || g->ev_expire == NULL || g->ev_house == NULL ||
	    g->ev_fleet == NULL || g->ev_state == NULL || event_add(g->ev_house, &house) != 0)
		return AG_ERR_NOMEM;
	rate_sample(g); /* the zero the first second's rate is measured from */
	for (i = 0; i < 3; i++) {
		g->ev_sig[i] = evsignal_new(g->base, stop_signals[i], signal_cb, g);
		if (g->ev_sig[i] == NULL || event_add(g->ev_sig[i], NULL) != 0)
			return AG_ERR_NOMEM;
	}
	g->state_interval_ms = -1;
	arm_state_timer(g);
	return 0;
}

#ifdef HAVE_SYSTEMD
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	notify("WATCHDOG=1");
}
#endif

/* Pings systemd at half the interval it gives, so that a stalled loop is
 * restarted. */
static int add_watchdog(struct gov *g)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;
	struct timeval tv;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	g->ev_watchdog = event_new(g->base, -1, EV_PERSIST, watchdog_cb, g);
	if (g->ev_watchdog == NULL || event_add(g->ev_watchdog, &tv) != 0)
		return AG_ERR_NOMEM;
	gov_log(LOG_INFO, "systemd watchdog every %llu ms", (unsigned long long)(usec / 1000));
#endif
	return 0;
}

int gov_init(struct gov *g, struct ag_conf *conf, const char *conf_path, int foreground)
{
	const struct ag_conf *cf = conf;
	char err[AG_ERRBUF];
	int rc;

	g->conf = conf;
	g->foreground = foreground;
	g->lis[0].fd = g->lis[1].fd = -1;
	g->start_mono_ms = ag_mono_ms();
	g->start_wall_ms = ag_wall_ms();
	g->conf_path = strdup(conf_path);
	g->base = event_base_new();
	if (g->conf_path == NULL || g->base == NULL) {
		rc = AG_ERR_NOMEM;
		goto out;
	}
	gov_adaptive_init(&g->adapt, cf->max_inflight == 0, cf->max_inflight, cf->max_inflight_min,
			  cf->max_inflight_max, ag_mono_ms());
	gov_admit_init(&g->admit, g->adapt.limit, cf->trusted_reserve_pct, cf->clean_reserve_pct,
		       cf->max_queue, cf->codel_target_ms, cf->codel_interval_ms);
	rc = gov_lists_new(&g->lists);
	if (rc == 0 && cf->backend == AG_BACKEND_REDIS) {
		rc = gov_store_redis_new(cf, g->base, g->lists, &g->store, err, sizeof(err));
		if (rc < 0)
			gov_log(LOG_ERR, "redis store: %s", err);
		else
			gov_store_redis_on_free(&g->store, fleet_free, g);
	} else if (rc == 0) {
		rc = gov_store_mem_new(cf, &g->store);
	}
	if (rc < 0)
		goto out;
	/* Saved runtime entries go into empty lists; the config's come after. */
	load_state(g);
	rc = gov_lists_set_conf(g->lists, cf);
	if (rc < 0) {
		gov_log(LOG_ERR, "lists: %s", ag_strerror(rc));
		goto out;
	}
	rc = add_events(g);
	if (rc == 0)
		rc = add_watchdog(g);
	if (rc < 0)
		goto out;
	rc = gov_listen_open(g, &g->lis[0], cf->socket, 0);
	if (rc == 0 && cf->user_socket != NULL && cf->user_socket[0] != '\0')
		rc = gov_listen_open(g, &g->lis[1], cf->user_socket, 1);
	if (rc < 0)
		goto out;
	rc = gov_listen_start(&g->lis[0]);
	if (rc == 0 && g->lis[1].fd >= 0)
		rc = gov_listen_start(&g->lis[1]);
	if (rc == 0)
		rc = gov_metrics_listen(g);
out:
	if (rc == AG_ERR_NOMEM)
		gov_log(LOG_ERR, "start-up: out of memory");
	return rc;
}

int gov_run(struct gov *g)
{
	char lim[48];

	if (g->adapt.on)
		snprintf(lim, sizeof(lim), "auto, %lld..%lld", (long long)g->adapt.min,
			 (long long)g->adapt.max);
	else
		snprintf(lim, sizeof(lim), "%lld", (long long)g->conf->max_inflight);
	gov_log(LOG_NOTICE, "listening on %s%s%s (store %s, max_inflight %s)", g->lis[0].path,
		g->lis[1].fd >= 0 ? " and " : "", g->lis[1].fd >= 0 ? g->lis[1].path : "",
		g->store.ops->name, lim);
	notify("READY=1");
	if (event_base_dispatch(g->base) < 0) {
		gov_log(LOG_ERR, "event loop failed");
		return AG_ERR_SYS;
	}
	return 0;
}

void gov_free(struct gov *g)
{
	struct gov_uid *u;
	int i;

	if (g == NULL)
		return;
	g->stopping = 1;
	if (g->saver > 0)
		kill(g->saver, SIGKILL);
	reap_saver(g, 1);
	for (i = 0; i < 2; i++)
		gov_listen_close(&g->lis[i], 1);
	gov_metrics_close(g);
	gov_client_close_all(g);
	gov_client_reap(g);
	for (i = 0; i < GOV_UID_BUCKETS; i++) {
		while ((u = g->uids[i]) != NULL) {
			g->uids[i] = u->next;
			free(u);
		}
	}
	if (g->ev_reap != NULL)
		event_free(g->ev_reap);
	if (g->ev_expire != NULL)
		event_free(g->ev_expire);
	if (g->ev_fleet != NULL)
		event_free(g->ev_fleet);
	if (g->ev_house != NULL)
		event_free(g->ev_house);
	if (g->ev_state != NULL)
		event_free(g->ev_state);
	if (g->ev_watchdog != NULL)
		event_free(g->ev_watchdog);
	for (i = 0; i < 3; i++)
		if (g->ev_sig[i] != NULL)
			event_free(g->ev_sig[i]);
	g->ev_reap = g->ev_expire = g->ev_house = g->ev_state = g->ev_watchdog = NULL;
	g->ev_fleet = NULL;
	if (g->store.ops != NULL)
		gov_store_free(&g->store);
	gov_lists_free(g->lists);
	g->lists = NULL;
	if (g->base != NULL)
		event_base_free(g->base);
	g->base = NULL;
	if (g->conf != NULL) {
		ag_conf_free(g->conf);
		free(g->conf);
	}
	g->conf = NULL;
	free(g->conf_path);
	g->conf_path = NULL;
}

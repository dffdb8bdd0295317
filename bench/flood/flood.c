/* flood.c - the flood benchmark's driver: a real PAM stack under pam_wrapper,
 * driven at once by a botnet, trusted legitimate users and fresh legitimate
 * users, against the simulated backend (bench/flood/backend.c).
 *
 *   flood --service NAME --pam-dir DIR [options]      run, report
 *   flood --init-accounts FILE [--init-passwd FILE --init-group FILE]
 *                                                      write the users, exit
 *
 * Classes (see flood_login.c for names and addresses):
 *   botnet   --bots clients in a closed loop, each attempt from one of
 *            --bot-addrs addresses, a real (trusted) user's name in
 *            --bot-real percent of attempts, else a random one; always a
 *            wrong password; --bot-pause ms between a client's attempts.
 *   trusted  --trusted-users users, each always from its own address and
 *            logged in once before the flood; --trusted-rate logins/s in
 *            all, open loop (each login starts at its due time).
 *   fresh    --fresh-users users the botnet never names, each login from a
 *            new address; --fresh-rate logins/s, open loop.
 * Every legitimate login is one attempt with the right password; its latency
 * is the wall time of pam_authenticate. --backend-ctl lets the driver clear
 * the backend's counters after the warm-up, slow it (--slow-at, --slow-ms)
 * and fetch its counters at the end. Each failed legitimate login (the first
 * 200) is described on stderr, with the first message the stack sent.
 *
 * pam_wrapper: unless PAM_WRAPPER is set, the driver re-executes itself with
 * LD_PRELOAD=libpam_wrapper.so (and libnss_wrapper.so when NSS_WRAPPER_PASSWD
 * is set) and PAM_WRAPPER_SERVICE_DIR=--pam-dir, as tests/e2e_util.c does. */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE; standalone builds pass -D_GNU_SOURCE */
#endif
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "flood.h"
#include "flood_opt.h"

static const char me[] = "flood"; /* for messages */

#define FL_MAX_THREADS 4096
#define FL_WARMUP_THREADS 8
#define FL_MAX_LOGGED 200 /* failed legitimate logins described on stderr */

struct run {
	const struct fl_opts *o;
	struct fl_samples samples[FL_NCLASS];
	int64_t start_ms; /* CLOCK_MONOTONIC */
	atomic_int stop;
	atomic_long next[FL_NCLASS]; /* the next open-loop login of a class */
	atomic_long warm_next, warm_failures;
	atomic_long logged; /* failed legitimate logins written to stderr */
};

struct worker {
	struct run *run;
	enum fl_class cls;
	uint64_t rng;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until(int64_t t_ms)
{
	int64_t d = t_ms - mono_ms();

	if (d > 0) {
		struct timespec ts = { d / 1000, (d % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: flood --service NAME --pam-dir DIR [--duration S] [--bots N]\n"
	        "             [--bot-addrs N] [--bot-real PCT] [--bot-pause MS]\n"
	        "             [--trusted-users N] [--trusted-rate R] [--fresh-users N]\n"
	        "             [--fresh-rate R] [--legit-threads N] [--client-timeout MS]\n"
	        "             [--backend-ctl SOCKET] [--slow-at S --slow-ms MS]\n"
	        "             [--cpu NAME=PID]... [--label TEXT] [--seed N] [--json]\n"
	        "       flood --init-accounts FILE [--init-passwd FILE] [--init-group FILE]\n"
	        "             [--trusted-users N] [--fresh-users N]\n");
}

static int rate(const char *name, const char *s, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= 10000)) {
		fprintf(stderr, "flood: %s: bad value '%s' (expected 0..10000 per second)\n", name,
		        s);
		return -1;
	}
	*out = v;
	return 0;
}

/* NAME=PID. The name is copied: argv is passed on unchanged at the re-exec. */
static int cpu_arg(struct fl_opts *o, const char *s)
{
	const char *eq = strchr(s, '=');

	if (eq == NULL || eq == s || o->ncpu == FL_MAX_CPU) {
		fprintf(stderr, "flood: --cpu: expected NAME=PID (at most %d): '%s'\n", FL_MAX_CPU,
		        s);
		return -1;
	}
	if (fl_num(me, "--cpu", eq + 1, 1, 1L << 30, &o->cpu_pid[o->ncpu]) != 0)
		return -1;
	o->cpu_name[o->ncpu] = strndup(s, (size_t)(eq - s));
	if (o->cpu_name[o->ncpu] == NULL) {
		fprintf(stderr, "flood: out of memory\n");
		return -1;
	}
	o->ncpu++;
	return 0;
}

struct init_files {
	const char *accounts, *passwd, *group;
};

static int parse_opts(int argc, char **argv, struct fl_opts *o, struct init_files *init)
{
	static const struct option lo[] = {
		{ "service", required_argument, NULL, 'S' },
		{ "pam-dir", required_argument, NULL, 'P' },
		{ "duration", required_argument, NULL, 'd' },
		{ "bots", required_argument, NULL, 'b' },
		{ "bot-addrs", required_argument, NULL, 'a' },
		{ "bot-real", required_argument, NULL, 'R' },
		{ "bot-pause", required_argument, NULL, 'p' },
		{ "trusted-users", required_argument, NULL, 'T' },
		{ "trusted-rate", required_argument, NULL, 't' },
		{ "fresh-users", required_argument, NULL, 'F' },
		{ "fresh-rate", required_argument, NULL, 'f' },
		{ "legit-threads", required_argument, NULL, 'L' },
		{ "client-timeout", required_argument, NULL, 'C' },
		{ "backend-ctl", required_argument, NULL, 'B' },
		{ "slow-at", required_argument, NULL, 'w' },
		{ "slow-ms", required_argument, NULL, 'm' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "label", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "init-accounts", required_argument, NULL, '1' },
		{ "init-passwd", required_argument, NULL, '2' },
		{ "init-group", required_argument, NULL, '3' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long seed = 1;
	int c, rc = 0;

	memset(o, 0, sizeof(*o));
	memset(init, 0, sizeof(*init));
	o->duration_s = 30;
	o->bots = 200;
	o->bot_addrs = 500;
	o->bot_real_pct = 50;
	o->trusted_users = 100;
	o->trusted_rate = 5;
	o->fresh_users = 2000;
	o->fresh_rate = 2;
	o->legit_threads = 64;
	o->client_timeout_ms = 2000;
	o->slow_ms = 200;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'S': o->service = optarg; break;
		case 'P': o->pam_dir = optarg; break;
		case 'B': o->backend_ctl = optarg; break;
		case 'l': o->label = optarg; break;
		case 'j': o->json = 1; break;
		case '1': init->accounts = optarg; break;
		case '2': init->passwd = optarg; break;
		case '3': init->group = optarg; break;
		case 'd': rc = fl_num(me, "--duration", optarg, 1, 3600, &o->duration_s); break;
		case 'b': rc = fl_num(me, "--bots", optarg, 0, FL_MAX_THREADS, &o->bots); break;
		case 'a': rc = fl_num(me, "--bot-addrs", optarg, 1, 65536, &o->bot_addrs); break;
		case 'R': rc = fl_num(me, "--bot-real", optarg, 0, 100, &o->bot_real_pct); break;
		case 'p': rc = fl_num(me, "--bot-pause", optarg, 0, 60000, &o->bot_pause_ms); break;
		case 'T': rc = fl_num(me, "--trusted-users", optarg, 1, 3 * 254, &o->trusted_users); break;
		case 'F': rc = fl_num(me, "--fresh-users", optarg, 1, 99999, &o->fresh_users); break;
		case 't': rc = rate("--trusted-rate", optarg, &o->trusted_rate); break;
		case 'f': rc = rate("--fresh-rate", optarg, &o->fresh_rate); break;
		case 'L': rc = fl_num(me, "--legit-threads", optarg, 1, 1024, &o->legit_threads); break;
		case 'C': rc = fl_num(me, "--client-timeout", optarg, 1, 600000, &o->client_timeout_ms); break;
		case 'w': rc = fl_num(me, "--slow-at", optarg, 1, 3600, &o->slow_at_s); break;
		case 'm': rc = fl_num(me, "--slow-ms", optarg, 0, 60000, &o->slow_ms); break;
		case 's': rc = fl_num(me, "--seed", optarg, 1, 1L << 31, &seed); break;
		case 'c': rc = cpu_arg(o, optarg); break;
		case 'h': usage(stdout); exit(0);
		default: rc = -1; break;
		}
	}
	o->seed = (unsigned long)seed;
	if (rc == 0 && optind != argc) {
		usage(stderr);
		rc = -1;
	}
	if (rc == 0 && init->accounts == NULL && (o->service == NULL || o->pam_dir == NULL)) {
		usage(stderr);
		rc = -1;
	}
	if (rc == 0 && o->slow_at_s >= o->duration_s) {
		fprintf(stderr, "flood: --slow-at must fall within --duration\n");
		rc = -1;
	}
	return rc;
}

/* ---- the backend's control socket --------------------------------------- */

/* Sends CMD to the control socket at PATH; returns its answer (malloc'd,
 * trailing newline removed) or NULL after saying why. */
static char *backend_ask(const char *path, const char *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = -1, ok = 0;
	ssize_t n;

	if (strlen(path) >= sizeof(sa.sun_path))
		goto out;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd) ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1)
		goto out;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);

			if (nb == NULL)
				goto out;
			buf = nb;
			cap += 65536;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	while (len > 0 && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	ok = len > 0 && strncmp(buf, "error", 5) != 0;
out:
	if (fd >= 0)
		close(fd);
	if (!ok) {
		fprintf(stderr, "flood: backend control %s: \"%s\" failed\n", path, cmd);
		free(buf);
		buf = NULL;
	}
	return buf;
}

/* ---- the clients -------------------------------------------------------- */

static uint32_t since_start(const struct run *r, int64_t t)
{
	return t <= r->start_ms ? 0 : (uint32_t)(t - r->start_ms);
}

static void *bot_thread(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	const struct fl_opts *o = r->o;
	char user[64], pass[64], addr[32];

	while (!atomic_load(&r->stop)) {
		struct fl_sample s;
		uint64_t x = fl_rand(&w->rng);

		fl_bot_addr((long)(x % (uint64_t)o->bot_addrs), addr, sizeof(addr));
		if ((long)((x >> 32) % 100) < o->bot_real_pct)
			fl_trusted_user((long)((x >> 16) % (uint64_t)o->trusted_users), user,
			                sizeof(user));
		else
			fl_random_user(&w->rng, user, sizeof(user));
		snprintf(pass, sizeof(pass), "guess-%08llx", (unsigned long long)fl_rand(&w->rng));
		s.t_ms = since_start(r, mono_ms());
		fl_login(o->service, user, pass, addr, &s, NULL, 0);
		fl_samples_add(&r->samples[FL_BOT], &s);
		if (o->bot_pause_ms > 0)
			sleep_until(mono_ms() + o->bot_pause_ms);
	}
	return NULL;
}

/* Open loop: login i of the class is due at start + i / rate. */
static void *legit_thread(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	const struct fl_opts *o = r->o;
	double rt = w->cls == FL_TRUSTED ? o->trusted_rate : o->fresh_rate;
	char user[64], pass[96], addr[32], msg[256];

	if (rt <= 0)
		return NULL;
	for (;;) {
		long i = atomic_fetch_add(&r->next[w->cls], 1);
		int64_t due = r->start_ms + (int64_t)((double)i * 1000.0 / rt);
		struct fl_sample s;

		if (due >= r->start_ms + o->duration_s * 1000 || atomic_load(&r->stop))
			break;
		if (w->cls == FL_TRUSTED) {
			long u = i % o->trusted_users;

			fl_trusted_user(u, user, sizeof(user));
			if (fl_trusted_addr(u, addr, sizeof(addr)) != 0)
				break;
		} else {
			fl_fresh_user(i % o->fresh_users, user, sizeof(user));
			fl_fresh_addr(i, addr, sizeof(addr));
		}
		fl_password(user, pass, sizeof(pass));
		sleep_until(due);
		s.t_ms = since_start(r, due);
		fl_login(o->service, user, pass, addr, &s, msg, sizeof(msg));
		fl_samples_add(&r->samples[w->cls], &s);
		if (s.outcome != FL_OK && atomic_fetch_add(&r->logged, 1) < FL_MAX_LOGGED)
			fprintf(stderr, "flood: %s %s from %s at %.1f s: %s after %.1f ms: \"%s\"\n",
			        w->cls == FL_TRUSTED ? "trusted" : "fresh", user, addr, s.t_ms / 1000.0,
			        fl_outcome_name(s.outcome), s.lat_us / 1000.0, msg);
	}
	return NULL;
}

/* Each trusted user logs in once from its address, before the flood. */
static void *warmup_thread(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	char user[64], pass[96], addr[32];
	long i;

	while ((i = atomic_fetch_add(&r->warm_next, 1)) < r->o->trusted_users) {
		struct fl_sample s;

		fl_trusted_user(i, user, sizeof(user));
		fl_password(user, pass, sizeof(pass));
		if (fl_trusted_addr(i, addr, sizeof(addr)) != 0)
			break;
		fl_login(r->o->service, user, pass, addr, &s, NULL, 0);
		if (s.outcome != FL_OK)
			atomic_fetch_add(&r->warm_failures, 1);
	}
	return NULL;
}

/* Starts N threads running FN for class CLS into T[*nt...]. Returns 0 or -1. */
static int spawn(struct run *r, void *(*fn)(void *), enum fl_class cls, long n, pthread_t *t,
                 struct worker *w, size_t *nt)
{
	for (long i = 0; i < n; i++) {
		struct worker *x = &w[*nt];

		x->run = r;
		x->cls = cls;
		x->rng = (r->o->seed * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)(*nt + 1) << 20) ^ 1;
		if (pthread_create(&t[*nt], NULL, fn, x) != 0) {
			fprintf(stderr, "flood: cannot start thread %zu\n", *nt);
			return -1;
		}
		(*nt)++;
	}
	return 0;
}

static void join_all(pthread_t *t, size_t *nt)
{
	for (size_t i = 0; i < *nt; i++)
		pthread_join(t[i], NULL);
	*nt = 0;
}

/* ---- main --------------------------------------------------------------- */

/* Re-executes this program under pam_wrapper unless it runs under it.
 * Returns only on failure. */
static int reexec(const struct fl_opts *o, char **argv)
{
	char preload[256];

	snprintf(preload, sizeof(preload), "libpam_wrapper.so%s",
	         getenv("NSS_WRAPPER_PASSWD") != NULL ? " libnss_wrapper.so" : "");
	if (setenv("PAM_WRAPPER", "1", 1) != 0 ||
	    setenv("PAM_WRAPPER_SERVICE_DIR", o->pam_dir, 1) != 0 ||
	    setenv("LD_PRELOAD", preload, 1) != 0)
		return 1;
	execv("/proc/self/exe", argv);
	fprintf(stderr, "flood: re-exec under pam_wrapper failed: %s\n", strerror(errno));
	return 1;
}

static int run_flood(struct run *r, struct fl_result *res)
{
	const struct fl_opts *o = r->o;
	static pthread_t t[FL_MAX_THREADS + 2 * 1024 + 1];
	static struct worker w[FL_MAX_THREADS + 2 * 1024 + 1];
	static struct fl_load load;
	pthread_t lt;
	size_t nt = 0;
	int rc = 1, slowed = 0;
	char *ans;

	pthread_mutex_init(&load.mu, NULL);
	r->start_ms = mono_ms();
	if (spawn(r, warmup_thread, FL_TRUSTED, FL_WARMUP_THREADS, t, w, &nt) != 0)
		goto out;
	join_all(t, &nt);
	res->warmup_failures = atomic_load(&r->warm_failures);
	if (o->backend_ctl != NULL) {
		if ((ans = backend_ask(o->backend_ctl, "reset")) == NULL)
			goto out;
		free(ans);
	}

	r->start_ms = mono_ms();
	res->start_epoch_ms = epoch_ms();
	fl_cpu_snap(o, &res->cpu0);
	if (pthread_create(&lt, NULL, fl_load_thread, &load) != 0)
		goto out;
	res->load = &load;
	if (spawn(r, bot_thread, FL_BOT, o->bots, t, w, &nt) != 0 ||
	    spawn(r, legit_thread, FL_TRUSTED, o->legit_threads, t, w, &nt) != 0 ||
	    spawn(r, legit_thread, FL_FRESH, o->legit_threads / 2 + 1, t, w, &nt) != 0) {
		atomic_store(&r->stop, 1);
		goto stop;
	}
	if (o->slow_at_s > 0) {
		char cmd[32];

		sleep_until(r->start_ms + o->slow_at_s * 1000);
		snprintf(cmd, sizeof(cmd), "delay %ld", o->slow_ms);
		if (o->backend_ctl != NULL && (ans = backend_ask(o->backend_ctl, cmd)) != NULL) {
			slowed = 1;
			free(ans);
		}
	}
	sleep_until(r->start_ms + o->duration_s * 1000);
	atomic_store(&r->stop, 1);
	fl_cpu_snap(o, &res->cpu1);
	res->end_ms = since_start(r, mono_ms());
	rc = (o->slow_at_s > 0 && !slowed) ? 1 : 0;
stop:
	fl_load_stop();
	pthread_join(lt, NULL);
	join_all(t, &nt);
	if (o->backend_ctl != NULL)
		res->backend_json = backend_ask(o->backend_ctl, "stats");
out:
	return rc;
}

int main(int argc, char **argv)
{
	static struct run r;
	struct fl_result res;
	struct init_files init;
	struct fl_opts o;
	int rc = 1;

	memset(&res, 0, sizeof(res));
	if (parse_opts(argc, argv, &o, &init) != 0)
		return 2;
	if (init.accounts != NULL)
		return fl_write_files(&o, init.accounts, init.passwd, init.group) == 0 ? 0 : 1;
	if (getenv("PAM_WRAPPER") == NULL)
		return reexec(&o, argv);
	signal(SIGPIPE, SIG_IGN);
	r.o = &o;
	for (int c = 0; c < FL_NCLASS; c++)
		fl_samples_init(&r.samples[c]);
	res.o = &o;
	res.samples = r.samples;
	rc = run_flood(&r, &res);
	if (res.load != NULL) {
		if (o.json)
			fl_report_json(&res);
		else
			fl_report_text(&res);
	}
	free(res.backend_json);
	for (int c = 0; c < FL_NCLASS; c++)
		fl_samples_free(&r.samples[c]);
	return rc;
}

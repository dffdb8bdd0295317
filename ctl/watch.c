/* watch.c - "authguardctl watch": a live view of the governor.
 *
 * Each interval: ADMIN "status" (one record of counters and gauges) and
 * ADMIN "top" (offender records; a governor that answers ERROR gets no such
 * section), over a fresh connection bounded by 2 s. Rates are the counter
 * deltas between two answers divided by the time between them. The frame is
 * built as lines first, then written in one go: on a terminal with clear
 * screen + home, cut to the window's width and height; elsewhere plain, one
 * frame after another. Signals only set flags; the one exit path of
 * watch_main restores the terminal.
 */
#include "config.h"
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "ag_client.h"
#include "ag_conf.h"
#include "ag_err.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "admin_req.h"
#include "records.h"
#include "watch.h"

#define PROG	    "authguardctl"
#define EXCHANGE_MS 2000
#define MAX_FRAMES  64 /* REPLY frames read for one request */
#define TOP_N	    5
#define NAME_W	    40 /* offender names are cut to this */
#define LINES_MAX   48 /* lines in a frame */
#define LINE_W	    256

enum { WATCH_EXIT_OK = 0, WATCH_EXIT_FAIL = 1, WATCH_EXIT_USAGE = 2 };
enum { WAKE_TICK, WAKE_QUIT, WAKE_RESIZE };

static volatile sig_atomic_t quit_flag;
static volatile sig_atomic_t winch_flag;

/* ---- what the governor says ----------------------------------------------- */

#define NRULES 5
static const char *const rule_name[NRULES] = {"backoff", "source_rate", "user_rate", "user_cap",
					      "deny"};

struct status {
	int64_t allowed, denied, shed, rule[NRULES];
	int64_t inflight, limit, clients, q_trusted, q_clean, q_failing, p50_us, p99_us;
};

/* The status keys shown, all required: a governor without one is not ours. */
static const struct {
	const char *key;
	size_t off;
} status_keys[] = {
    {"allowed", offsetof(struct status, allowed)},
    {"denied", offsetof(struct status, denied)},
    {"shed", offsetof(struct status, shed)},
    {"denied_backoff", offsetof(struct status, rule[0])},
    {"denied_source_rate", offsetof(struct status, rule[1])},
    {"denied_user_rate", offsetof(struct status, rule[2])},
    {"denied_user_cap", offsetof(struct status, rule[3])},
    {"denied_deny", offsetof(struct status, rule[4])},
    {"inflight", offsetof(struct status, inflight)},
    {"limit", offsetof(struct status, limit)},
    {"clients", offsetof(struct status, clients)},
    {"queued_trusted", offsetof(struct status, q_trusted)},
    {"queued_clean", offsetof(struct status, q_clean)},
    {"queued_failing", offsetof(struct status, q_failing)},
    {"p50_us", offsetof(struct status, p50_us)},
    {"p99_us", offsetof(struct status, p99_us)},
};
#define NKEYS (sizeof(status_keys) / sizeof(status_keys[0]))

struct offender {
	char scope[8];	       /* "source" or "user" */
	char name[NAME_W + 1]; /* printable: anything else shown as '?' */
	int64_t denials, failures;
	int held;
};

struct sample {
	int ok;	       /* status answered */
	int rc;	       /* when not: the AG_ERR_* code */
	int64_t at_ms; /* ag_mono_ms() when it answered */
	struct status st;
	int has_top; /* the governor answered "top" */
	struct offender top[TOP_N];
	size_t ntop;
};

/* Copies s[0..len) with anything outside printable ASCII as '?', cut to
 * cap - 1 bytes: nothing a peer sent reaches the terminal raw. */
static void printable(char *dst, size_t cap, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < cap; i++)
		dst[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
	dst[i] = '\0';
}

/* The status record's values into *st; AG_ERR_PROTO when one is missing
 * or not a count (a governor without one is not ours). */
static int status_from(const struct ctl_rec *r, struct status *st)
{
	const char *v;
	size_t k;

	if (r == NULL)
		return AG_ERR_PROTO;
	for (k = 0; k < NKEYS; k++) {
		v = ctl_rec_get(r, status_keys[k].key);
		if (v == NULL ||
		    ag_parse_int(v, 0, INT64_MAX,
				 (int64_t *)(void *)((char *)st + status_keys[k].off)) != 0)
			return AG_ERR_PROTO;
	}
	return 0;
}

static int offender_from(const struct ctl_rec *r, struct offender *o)
{
	const char *scope = ctl_rec_get(r, "scope"), *name = ctl_rec_get(r, "name");
	const char *held = ctl_rec_get(r, "held"), *d = ctl_rec_get(r, "denials");
	const char *f = ctl_rec_get(r, "failures");

	memset(o, 0, sizeof(*o));
	if (scope == NULL || name == NULL || held == NULL || d == NULL || f == NULL ||
	    (strcmp(scope, "source") != 0 && strcmp(scope, "user") != 0) ||
	    (strcmp(held, "yes") != 0 && strcmp(held, "no") != 0) ||
	    ag_parse_int(d, 0, INT64_MAX, &o->denials) != 0 ||
	    ag_parse_int(f, 0, INT64_MAX, &o->failures) != 0)
		return AG_ERR_PROTO;
	strcpy(o->scope, scope);
	printable(o->name, sizeof(o->name), name, strlen(name));
	o->held = strcmp(held, "yes") == 0;
	return 0;
}

/* One reply's text, bounded by what MAX_FRAMES frames can carry. */
struct reply_text {
	char buf[MAX_FRAMES * AG_TEXT_MAX];
	size_t len;
};

static int gather(void *arg, const char *text, size_t len)
{
	struct reply_text *t = arg;

	if (len > sizeof(t->buf) - t->len)
		return AG_ERR_TOOBIG;
	memcpy(t->buf + t->len, text, len);
	t->len += len;
	return 0;
}

/* Sends ADMIN cmd and parses the reply into *rs (the caller frees it).
 * Returns 0 with *code 0 (answered) or the code of an ERROR reply, or an
 * AG_ERR_* code for a governor we could not talk to or a reply that does
 * not parse. */
static int ask(const char *path, const char *cmd, struct ctl_recs *rs, int32_t *code)
{
	static struct reply_text t; /* 256 KiB: off the stack */
	char *argv[1] = {(char *)(uintptr_t)cmd};
	int rc;

	t.len = 0;
	memset(rs, 0, sizeof(*rs));
	rc = ctl_admin_request(path, 1, argv, EXCHANGE_MS, MAX_FRAMES, gather, &t, code, NULL, 0);
	if (rc == 0 && *code == 0)
		rc = ctl_recs_parse(t.buf, t.len, rs);
	return rc;
}

/* The offender records of a "top" reply, the first TOP_N. */
static int top_from(const struct ctl_recs *rs, struct sample *s)
{
	size_t i;

	for (i = 0; i < rs->n && s->ntop < TOP_N; i++) {
		if (strcmp(rs->r[i].kind, "offender") != 0)
			continue;
		if (offender_from(&rs->r[i], &s->top[s->ntop]) != 0)
			return AG_ERR_PROTO;
		s->ntop++;
	}
	return 0;
}

/* Fills *s (cleared on entry) from the governor. Returns 0 (s->ok: status
 * answered), an AG_ERR_* code (also in s->rc), or, with *refused set, the
 * code of the governor's ERROR reply to status. */
static int sample_take(const char *path, struct sample *s, int32_t *refused)
{
	struct ctl_recs rs = {NULL, 0};
	int32_t code = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = ask(path, "status", &rs, refused);
	if (rc == 0 && *refused != 0)
		rc = *refused;
	if (rc == 0)
		rc = status_from(ctl_recs_find(&rs, "status"), &s->st);
	ctl_recs_free(&rs);
	if (rc != 0) {
		s->rc = rc;
		return rc;
	}
	s->ok = 1;
	s->at_ms = ag_mono_ms();
	/* "top" is optional: any failure just leaves the section out. */
	s->has_top = ask(path, "top", &rs, &code) == 0 && code == 0 && top_from(&rs, s) == 0;
	ctl_recs_free(&rs);
	if (!s->has_top)
		s->ntop = 0;
	return 0;
}

/* ---- the frame ------------------------------------------------------------ */

struct frame {
	char line[LINES_MAX][LINE_W];
	size_t n;
};

static void add(struct frame *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct frame *f, const char *fmt, ...)
{
	va_list ap;

	if (f->n == LINES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(f->line[f->n++], LINE_W, fmt, ap);
	va_end(ap);
}

/* A per-second rate of a counter, or "-" when there is no earlier answer
 * (or the counter went back: the governor restarted). */
static const char *rate(char *buf, size_t cap, int64_t now, int64_t before, int64_t dt_ms)
{
	if (dt_ms <= 0 || now < before)
		return "-";
	snprintf(buf, cap, "%.1f", (double)(now - before) * 1000.0 / (double)dt_ms);
	return buf;
}

static const char *micros(char *buf, size_t cap, int64_t us)
{
	if (us >= 10000)
		snprintf(buf, cap, "%.1f ms", (double)us / 1000.0);
	else
		snprintf(buf, cap, "%lld us", (long long)us);
	return buf;
}

static void build(struct frame *f, const char *path, int64_t interval_ms, int keys,
		  const struct sample *prev, const struct sample *cur)
{
	const struct status *st = &cur->st, *ps = &prev->st;
	int64_t dt = prev->ok && cur->ok ? cur->at_ms - prev->at_ms : 0;
	char sock[128], clock[16], a[32], b[32], c[32], d[32];
	time_t t = time(NULL);
	struct tm tm;
	size_t i;

	f->n = 0;
	printable(sock, sizeof(sock), path, strlen(path));
	if (localtime_r(&t, &tm) == NULL || strftime(clock, sizeof(clock), "%H:%M:%S", &tm) == 0)
		strcpy(clock, "?");
	/* The socket last: a long path is what the width cuts. */
	add(f, "authguard watch  every %lld ms  %s%s  %s", (long long)interval_ms, clock,
	    keys ? "  q quits" : "", sock);
	add(f, "%s", "");
	if (!cur->ok) {
		add(f, "governor not reachable, retrying (%s)", ag_strerror(cur->rc));
		return;
	}
	if (dt > 0 && st->allowed >= ps->allowed && st->denied >= ps->denied &&
	    st->shed >= ps->shed)
		rate(a, sizeof(a), st->allowed + st->denied + st->shed,
		     ps->allowed + ps->denied + ps->shed, dt);
	else
		strcpy(a, "-");
	add(f, "requests/s: %s  (allowed %s, denied %s, shed %s per s)", a,
	    rate(b, sizeof(b), st->allowed, ps->allowed, dt),
	    rate(c, sizeof(c), st->denied, ps->denied, dt),
	    rate(d, sizeof(d), st->shed, ps->shed, dt));
	add(f, "in-flight: %lld / %lld limit   clients: %lld", (long long)st->inflight,
	    (long long)st->limit, (long long)st->clients);
	add(f, "queued: trusted %lld, clean %lld, failing %lld", (long long)st->q_trusted,
	    (long long)st->q_clean, (long long)st->q_failing);
	add(f, "latency: p50 %s, p99 %s", micros(a, sizeof(a), st->p50_us),
	    micros(b, sizeof(b), st->p99_us));
	add(f, "%s", "");
	add(f, "denials by rule   %10s %12s", "per s", "total");
	for (i = 0; i < NRULES; i++)
		add(f, "  %-15s %10s %12lld", rule_name[i],
		    rate(a, sizeof(a), st->rule[i], ps->rule[i], dt), (long long)st->rule[i]);
	if (!cur->has_top)
		return;
	add(f, "%s", "");
	add(f, "top offenders");
	add(f, "  %-6s %-*s %8s %8s %4s", "scope", NAME_W, "name", "denials", "failures", "held");
	for (i = 0; i < cur->ntop; i++)
		add(f, "  %-6s %-*s %8lld %8lld %4s", cur->top[i].scope, NAME_W, cur->top[i].name,
		    (long long)cur->top[i].denials, (long long)cur->top[i].failures,
		    cur->top[i].held ? "yes" : "no");
	if (cur->ntop == 0)
		add(f, "  (none)");
}

/* Writes the frame: on a terminal, over the screen and cut to it; else plain
 * with a blank line after. Returns 0 or -1 when stdout fails. */
static int draw(const struct frame *f, int term)
{
	struct winsize ws;
	size_t i, rows = LINES_MAX, cols = LINE_W;

	if (term) {
		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
			rows = ws.ws_row;
			cols = ws.ws_col;
		} else {
			rows = 24;
			cols = 80;
		}
		fputs("\033[H\033[2J", stdout);
	}
	for (i = 0; i < f->n && i < rows; i++) {
		size_t len = strlen(f->line[i]);

		fwrite(f->line[i], 1, term && len > cols ? cols : len, stdout);
		/* No newline after the last row: it would scroll the top off. */
		if (!term || (i + 1 < f->n && i + 1 < rows))
			fputs("\n", stdout);
	}
	if (!term)
		fputs("\n", stdout);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

/* ---- the terminal and the clock ------------------------------------------- */

struct tty {
	int keys; /* stdin is a terminal we read keys from */
	int raw;  /* saved holds the mode to restore */
	struct termios saved;
	sigset_t waitmask; /* the mask to wait with: our signals unblocked */
};

static void on_quit(int sig)
{
	(void)sig;
	quit_flag = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	winch_flag = 1;
}

/* Signals only set flags and stay blocked except while waiting in ppoll,
 * so that none is lost between a check and the wait. */
static void signals_setup(struct tty *t)
{
	static const int quits[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa;
	sigset_t block;
	size_t i;

	sigemptyset(&block);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_quit;
	for (i = 0; i < sizeof(quits) / sizeof(quits[0]); i++) {
		sigaction(quits[i], &sa, NULL);
		sigaddset(&block, quits[i]);
	}
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	sigaddset(&block, SIGWINCH);
	sa.sa_handler = SIG_IGN; /* a closed stdout is an error from fflush, not a death */
	sigaction(SIGPIPE, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, &t->waitmask);
}

/* No echo, no line buffering: 'q' arrives at once. Signals keep working. */
static void tty_raw(struct tty *t)
{
	struct termios r;

	t->keys = isatty(STDIN_FILENO);
	if (!t->keys || tcgetattr(STDIN_FILENO, &t->saved) != 0)
		return;
	r = t->saved;
	r.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	r.c_cc[VMIN] = 1;
	r.c_cc[VTIME] = 0;
	t->raw = tcsetattr(STDIN_FILENO, TCSANOW, &r) == 0;
}

static void tty_restore(struct tty *t)
{
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
	t->raw = 0;
}

/* Waits until deadline (ag_mono_ms) for a key or a signal. */
static int wait_until(struct tty *t, int64_t deadline)
{
	struct pollfd p = {STDIN_FILENO, POLLIN, 0};
	struct timespec ts;
	char buf[64];
	ssize_t n, i;
	int64_t now;
	int rc;

	for (;;) {
		if (quit_flag)
			return WAKE_QUIT;
		if (winch_flag) {
			winch_flag = 0;
			return WAKE_RESIZE;
		}
		now = ag_mono_ms();
		if (now >= deadline)
			return WAKE_TICK;
		ts.tv_sec = (deadline - now) / 1000;
		ts.tv_nsec = (deadline - now) % 1000 * 1000000;
		rc = ppoll(&p, t->keys ? 1 : 0, &ts, &t->waitmask);
		if (rc <= 0 || !t->keys)
			continue; /* EINTR: look at the flags; 0: the time */
		if ((p.revents & POLLIN) == 0) {
			t->keys = 0; /* hung up: no more keys, keep watching */
			continue;
		}
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n == 0)
			t->keys = 0;
		for (i = 0; i < n; i++)
			if (buf[i] == 'q' || buf[i] == 'Q' || buf[i] == 3 /* ^C without ISIG */)
				return WAKE_QUIT;
	}
}

/* ---- the command ------------------------------------------------------------ */

int watch_requested(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			return i + 1 < argc && strcmp(argv[i + 1], "watch") == 0;
		if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0 ||
		    strcmp(a, "--interval") == 0 || strcmp(a, "--count") == 0) {
			i++;
			continue;
		}
		if (a[0] == '-' && a[1] != '\0')
			continue;
		return strcmp(a, "watch") == 0;
	}
	return 0;
}

static void watch_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: " PROG " [-s SOCKET] watch [--interval MS] [--count N]\n"
	    "\n"
	    "A live view of the governor, redrawn every interval: requests/s, denials\n"
	    "by rule, in-flight against the limit, queues, clients, decision latency\n"
	    "and the top offenders. q or Ctrl-C quits.\n"
	    "\n"
	    "  -s, --socket SOCKET   the governor's privileged socket (default " AG_DEFAULT_SOCKET
	    ")\n"
	    "      --interval MS     refresh period, 100 to 60000 ms, or a duration\n"
	    "                        such as 2s (default 1000)\n"
	    "      --count N         exit after N frames\n"
	    "  -h, --help            show this help\n");
}

static int watch_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int watch_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": watch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" PROG " watch --help'.\n", stderr);
	return WATCH_EXIT_USAGE;
}

struct watch_opts {
	const char *path;
	int64_t interval_ms;
	int64_t count; /* 0: until asked to stop */
};

/* Parses the whole command line into *o. Returns -1 to go on, or an exit
 * status. */
static int parse_opts(int argc, char **argv, struct watch_opts *o)
{
	enum { OPT_INTERVAL = 256, OPT_COUNT };
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"interval", required_argument, NULL, OPT_INTERVAL},
	    {"count", required_argument, NULL, OPT_COUNT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	o->path = AG_DEFAULT_SOCKET;
	o->interval_ms = WATCH_INTERVAL_MS;
	o->count = 0;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			o->path = optarg;
			break;
		case OPT_INTERVAL:
			if (ag_parse_duration(optarg, 1, WATCH_INTERVAL_MIN_MS,
					      WATCH_INTERVAL_MAX_MS, &o->interval_ms) != 0)
				return watch_usage_error("--interval '%s': not a duration from %d "
							 "to %d ms",
							 optarg, WATCH_INTERVAL_MIN_MS,
							 WATCH_INTERVAL_MAX_MS);
			break;
		case OPT_COUNT:
			if (ag_parse_int(optarg, 1, INT64_MAX, &o->count) != 0)
				return watch_usage_error(
				    "--count '%s': not a number of frames >= 1", optarg);
			break;
		case 'h':
			watch_usage(stdout);
			return WATCH_EXIT_OK;
		case ':':
			return watch_usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				return watch_usage_error("unknown option '-%c'", optopt);
			return watch_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (o->path[0] == '\0' || strlen(o->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return watch_usage_error("the socket path is empty or too long");
	if (argc - optind != 1 || strcmp(argv[optind], "watch") != 0)
		return watch_usage_error("watch takes no arguments");
	return -1;
}

int watch_main(int argc, char **argv, watch_unreachable_fn unreachable)
{
	struct watch_opts o;
	struct tty t;
	struct frame f;
	struct sample prev, cur;
	int64_t frames = 0, next;
	int32_t refused = 0;
	int term, ret, wake;

	ret = parse_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;
	if (sample_take(o.path, &cur, &refused) != 0) {
		if (refused == 0)
			return unreachable(o.path, cur.rc);
		fprintf(stderr, PROG ": watch: the governor refused status: %s\n",
			ag_strerror(refused));
		return WATCH_EXIT_FAIL;
	}
	memset(&prev, 0, sizeof(prev));
	memset(&t, 0, sizeof(t));
	term = isatty(STDOUT_FILENO);
	signals_setup(&t);
	tty_raw(&t);
	if (term)
		fputs("\033[?25l", stdout); /* no cursor blinking over the numbers */
	ret = WATCH_EXIT_OK;
	next = ag_mono_ms();
	for (;;) {
		build(&f, o.path, o.interval_ms, t.keys, &prev, &cur);
		if (draw(&f, term) != 0) {
			ret = WATCH_EXIT_FAIL;
			goto out;
		}
		if (o.count != 0 && ++frames >= o.count)
			goto out;
		next += o.interval_ms;
		while ((wake = wait_until(&t, next)) == WAKE_RESIZE)
			if (draw(&f, term) != 0) {
				ret = WATCH_EXIT_FAIL;
				goto out;
			}
		if (wake == WAKE_QUIT)
			goto out;
		if (ag_mono_ms() > next + o.interval_ms)
			next = ag_mono_ms(); /* fell behind (a slow governor): no catch-up burst */
		if (cur.ok)
			prev = cur;
		(void)sample_take(o.path, &cur, &refused);
	}
out:
	tty_restore(&t);
	if (term) {
		fputs("\033[?25h\n", stdout);
		if (fflush(stdout) != 0)
			ret = WATCH_EXIT_FAIL;
	}
	return ret;
}

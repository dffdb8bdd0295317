/* log.c - the governor's log: non-blocking syslog datagrams, denial summaries.
 *
 * glibc's syslog() may block (a stream /dev/log, a full socket buffer) and
 * reconnects behind our back, so the datagrams are built and sent here.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ag_err.h"
#include "ag_escape.h"
#include "ag_time.h"
#include "log.h"

#define IDENT_MAX      64
#define RETRY_MS       1000 /* reconnect to syslog at most this often */
#define RULE_MAX       32   /* escaped rule name */
#define RULES	       8    /* rules summarised per interval; more share the last */
#define SRC_RAW	       72   /* escaped source before ',' is expanded */
#define SRC_MAX	       (SRC_RAW * 4)
#define FIELD_MAX      200 /* escaped user, source, service in a denial line */
#define DEFAULT_SOCKET "/dev/log"

struct top {
	char src[SRC_MAX];
	int64_t n;   /* upper bound: counted since it entered, plus err */
	int64_t err; /* count inherited from the source it evicted */
};

struct rule_sum {
	char rule[RULE_MAX];
	int64_t count;
	int ntop;
	int approx; /* a source was evicted: listed counts are lower bounds */
	struct top top[GOV_LOG_TOP];
};

static struct {
	char ident[IDENT_MAX];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int foreground;
	int level;	     /* lines less urgent than this are dropped */
	int fd;		     /* syslog socket, -1 when not connected */
	int64_t next_try_ms; /* monotonic: no reconnect before */
	uint64_t dropped;
	int64_t burst, interval_ms;
	int64_t win_start; /* monotonic ms the denial window began; -1 none */
	int64_t win_count; /* denials seen in the window */
	int nrules;
	struct rule_sum rules[RULES];
} L = {
    .ident = "authguard-governor",
    .path = DEFAULT_SOCKET,
    .level = LOG_INFO,
    .fd = -1,
    .burst = 20,
    .interval_ms = 10000,
    .win_start = -1,
};

/* ---- output ---------------------------------------------------------------- */

/* stderr may be the journal's stream socket: send() with MSG_DONTWAIT keeps
 * it from blocking us without touching the shared file's flags. A pipe or a
 * terminal gets a plain write (foreground use). */
static void write_stderr(const char *buf, size_t len)
{
	ssize_t n = send(STDERR_FILENO, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0 && errno == ENOTSOCK)
		n = write(STDERR_FILENO, buf, len);
	if (n < 0 || (size_t)n != len)
		L.dropped++;
}

static void disconnect(void)
{
	if (L.fd >= 0)
		close(L.fd);
	L.fd = -1;
}

static int connect_syslog(void)
{
	struct sockaddr_un sa;
	int fd;

	disconnect();
	L.next_try_ms = ag_mono_ms() + RETRY_MS;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, L.path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return AG_ERR_SYS;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return AG_ERR_SYS;
	}
	L.fd = fd;
	return 0;
}

/* "Mmm dd hh:mm:ss" in local time, as RFC 3164 has it; not strftime's %b,
 * which follows the locale. */
static void stamp(char *buf, size_t cap)
{
	static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = time(NULL);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || tm.tm_mon < 0 || tm.tm_mon > 11) {
		snprintf(buf, cap, "Jan  1 00:00:00");
		return;
	}
	snprintf(buf, cap, "%s %2d %02d:%02d:%02d", mon[tm.tm_mon], tm.tm_mday % 100,
		 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
}

/* Appends s to buf (size cap) at *len; when it does not fit, the text ends
 * in "..." at the cap. Keeps buf NUL-terminated. */
static void append(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (*len + n < cap) {
		memcpy(buf + *len, s, n + 1);
		*len += n;
		return;
	}
	memcpy(buf + *len, s, cap - 1 - *len);
	*len = cap - 1;
	buf[*len] = '\0';
	if (cap > 4)
		memcpy(buf + cap - 4, "...", 3);
}

static void emit(int prio, const char *msg)
{
	char line[GOV_LOG_LINE_MAX];
	char head[IDENT_MAX + 64];
	char ts[32];
	size_t len = 0;

	if (!L.foreground && L.fd < 0 && ag_mono_ms() >= L.next_try_ms)
		(void)connect_syslog();
	if (L.foreground || L.fd < 0) {
		/* Keep one byte for the newline whatever the cut. */
		snprintf(head, sizeof(head), "%s: ", L.ident);
		append(line, sizeof(line) - 1, &len, head);
		append(line, sizeof(line) - 1, &len, msg);
		line[len++] = '\n';
		write_stderr(line, len);
		return;
	}
	stamp(ts, sizeof(ts));
	snprintf(head, sizeof(head), "<%d>%s %s[%ld]: ", LOG_AUTHPRIV | (prio & LOG_PRIMASK), ts,
		 L.ident, (long)getpid());
	append(line, sizeof(line), &len, head);
	append(line, sizeof(line), &len, msg);
	if (send(L.fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
		return;
	L.dropped++;
	/* A full buffer (EAGAIN, ENOBUFS) is syslog being slow: drop and go
	 * on. Anything else means the socket is dead (syslog restarted). */
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != EINTR)
		disconnect();
}

static void vlog(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void vlog(int prio, const char *fmt, va_list ap)
{
	char msg[GOV_LOG_LINE_MAX];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t i;

	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 3);
	/* One entry per line: a stray control byte must not split or forge one. */
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	emit(prio, msg);
}

void gov_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if ((prio & LOG_PRIMASK) > L.level)
		return;
	va_start(ap, fmt);
	vlog(prio, fmt, ap);
	va_end(ap);
}

/* ---- open / close ------------------------------------------------------------ */

static void end_window(void);

int gov_log_open(const char *ident, int foreground)
{
	if (ident != NULL)
		snprintf(L.ident, sizeof(L.ident), "%s", ident);
	L.foreground = foreground != 0;
	disconnect();
	if (L.foreground)
		return 0;
	return connect_syslog();
}

void gov_log_close(void)
{
	end_window();
	disconnect();
	/* Nothing would reconnect a closed log but a new open. */
	L.foreground = 1;
}

void gov_log_set_level(int max_prio)
{
	L.level = max_prio < LOG_EMERG ? LOG_EMERG : max_prio > LOG_DEBUG ? LOG_DEBUG : max_prio;
}

void gov_log_set_socket(const char *path)
{
	snprintf(L.path, sizeof(L.path), "%s", path != NULL ? path : DEFAULT_SOCKET);
}

uint64_t gov_log_dropped(void)
{
	return L.dropped;
}

/* ---- denials ---------------------------------------------------------------- */

void gov_log_limits(int64_t burst, int64_t interval_ms)
{
	L.burst = burst < 0 ? 0 : burst;
	L.interval_ms = interval_ms;
}

/* Escapes src for the top list, where ',' separates entries. */
static void escape_item(char *dst, size_t cap, const char *src)
{
	char tmp[SRC_RAW];
	size_t i, o = 0;

	ag_escape(tmp, sizeof(tmp), src, strlen(src));
	for (i = 0; tmp[i] != '\0'; i++) {
		if (tmp[i] == ',') {
			if (o + 4 >= cap)
				break;
			memcpy(dst + o, "\\x2c", 4);
			o += 4;
		} else {
			if (o + 1 >= cap)
				break;
			dst[o++] = tmp[i];
		}
	}
	dst[o] = '\0';
}

static struct rule_sum *rule_slot(const char *rule)
{
	int i;

	for (i = 0; i < L.nrules; i++)
		if (strcmp(L.rules[i].rule, rule) == 0)
			return &L.rules[i];
	if (L.nrules == RULES) {
		/* Only a new rule name could get here: fold it into the last. */
		snprintf(L.rules[RULES - 1].rule, RULE_MAX, "other");
		return &L.rules[RULES - 1];
	}
	memset(&L.rules[L.nrules], 0, sizeof(L.rules[0]));
	snprintf(L.rules[L.nrules].rule, RULE_MAX, "%s", rule);
	return &L.rules[L.nrules++];
}

/* Space-saving count of a suppressed denial's source. */
static void suppress(const char *rule, const char *source)
{
	struct rule_sum *r = rule_slot(rule);
	char src[SRC_MAX];
	int i, min = 0;

	r->count++;
	escape_item(src, sizeof(src), source);
	for (i = 0; i < r->ntop; i++) {
		if (strcmp(r->top[i].src, src) == 0) {
			r->top[i].n++;
			return;
		}
		if (r->top[i].n < r->top[min].n)
			min = i;
	}
	if (r->ntop < GOV_LOG_TOP) {
		i = r->ntop++;
		r->top[i].n = 1;
		r->top[i].err = 0;
	} else {
		/* Space-saving: any source above count / GOV_LOG_TOP stays in. */
		i = min;
		r->top[i].err = r->top[i].n;
		r->top[i].n++;
		r->approx = 1;
	}
	memcpy(r->top[i].src, src, sizeof(src));
}

/* By the count surely seen, highest first. */
static int top_cmp(const void *x, const void *y)
{
	const struct top *a = x, *b = y;
	int64_t na = a->n - a->err, nb = b->n - b->err;

	if (na != nb)
		return na > nb ? -1 : 1;
	return strcmp(a->src, b->src);
}

static void summary_line(struct rule_sum *r)
{
	char msg[GOV_LOG_LINE_MAX - 128];
	char item[SRC_MAX + 32];
	size_t len;
	int i;

	qsort(r->top, (size_t)r->ntop, sizeof(r->top[0]), top_cmp);
	len =
	    (size_t)snprintf(msg, sizeof(msg),
			     "denials suppressed rule=%s count=%lld interval_ms=%lld top=", r->rule,
			     (long long)r->count, (long long)L.interval_ms);
	if (len >= sizeof(msg))
		len = sizeof(msg) - 1;
	/* Whole entries only: a cut "src:n" would show a wrong count. */
	for (i = 0; i < r->ntop; i++) {
		int n = snprintf(item, sizeof(item), "%s%s:%lld", i > 0 ? "," : "", r->top[i].src,
				 (long long)(r->top[i].n - r->top[i].err));

		if (n < 0 || len + (size_t)n + sizeof(" approx=1") > sizeof(msg))
			break;
		memcpy(msg + len, item, (size_t)n + 1);
		len += (size_t)n;
	}
	if (r->approx)
		memcpy(msg + len, " approx=1", sizeof(" approx=1"));
	gov_log(LOG_NOTICE, "%s", msg);
}

static void flush_summaries(void)
{
	int i;

	for (i = 0; i < L.nrules; i++)
		if (L.rules[i].count > 0)
			summary_line(&L.rules[i]);
	L.nrules = 0;
}

static void end_window(void)
{
	flush_summaries();
	L.win_start = -1;
	L.win_count = 0;
}

void gov_log_tick(int64_t now)
{
	if (L.win_start >= 0 &&
	    (L.interval_ms <= 0 || now - L.win_start >= L.interval_ms || now < L.win_start))
		end_window();
}

void gov_log_denial(const char *rule, const char *user, const char *source, int64_t retry_ms,
		    const char *service, int64_t now)
{
	char r[RULE_MAX], u[FIELD_MAX], s[FIELD_MAX], svc[FIELD_MAX];

	rule = rule != NULL ? rule : "";
	user = user != NULL ? user : "";
	source = source != NULL ? source : "";
	service = service != NULL ? service : "";
	ag_escape(r, sizeof(r), rule, strlen(rule));
	if (L.interval_ms > 0) {
		gov_log_tick(now);
		if (L.win_start < 0) {
			L.win_start = now;
			L.win_count = 0;
		}
		if (++L.win_count > L.burst) {
			suppress(r, source);
			return;
		}
	}
	ag_escape(u, sizeof(u), user, strlen(user));
	ag_escape(s, sizeof(s), source, strlen(source));
	ag_escape(svc, sizeof(svc), service, strlen(service));
	gov_log(LOG_NOTICE, "denied rule=%s user=%s source=%s retry_ms=%lld service=%s", r, u, s,
		(long long)retry_ms, svc);
}

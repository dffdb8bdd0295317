/* backend.c - flood-backend: a simulated auth backend that collapses the way
 * real ones do under a flood. One thread accepts connections and reads
 * requests (bench/flood/flood_wire.h) into an unbounded FIFO; N workers each
 * spend S ms per check (backend_work.c), whether or not the client is still
 * waiting.
 *
 *   flood-backend -s SOCKET -a ACCOUNTS [-c CTL_SOCKET] [-w WORKERS]
 *                 [-d DELAY_MS] [--slow-ms MS] [--sample-ms MS] [--stats FILE]
 *
 * Control socket: one command per connection, one answer, then close:
 *   "stats"      the counters as one JSON line
 *   "reset"      clears the counters ("ok")
 *   "delay MS"   each check from now on takes MS ("ok")
 * Signals: SIGUSR1 sets the delay to --slow-ms; SIGUSR2 writes the stats to
 * --stats; SIGTERM or SIGINT writes them and exits (to stdout without
 * --stats). */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE; standalone builds pass -D_GNU_SOURCE */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include "backend.h"
#include "flood_opt.h"

static const char me[] = "flood-backend"; /* for messages */

#define CTL_LINE 64

enum kind { K_LISTEN, K_CTL_LISTEN, K_SIGNAL, K_TIMER, K_CLIENT, K_CTL };

/* What an epoll event points at: a fixed fd, or a connection being read. */
struct watch {
	enum kind kind;
	int fd;
	size_t len;
	unsigned char buf[FW_REQ_MAX];
};

struct opts {
	const char *socket, *ctl, *accounts, *stats;
	long workers, delay_ms, slow_ms, sample_ms;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: flood-backend -s SOCKET -a ACCOUNTS [-c CTL_SOCKET] [-w WORKERS]\n"
	           "                     [-d DELAY_MS] [--slow-ms MS] [--sample-ms MS] "
	           "[--stats FILE]\n");
}

/* Parses the number in S for option NAME into *out, within [MIN, MAX].
 * Returns 0, or -1 after saying what is wrong. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "accounts", required_argument, NULL, 'a' },
		{ "workers", required_argument, NULL, 'w' },
		{ "delay", required_argument, NULL, 'd' },
		{ "slow-ms", required_argument, NULL, 'S' },
		{ "sample-ms", required_argument, NULL, 'i' },
		{ "stats", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;

	memset(o, 0, sizeof(*o));
	o->workers = 4;
	o->delay_ms = 50;
	o->slow_ms = -1;
	o->sample_ms = 100;
	while (rc == 0 && (c = getopt_long(argc, argv, "s:c:a:w:d:h", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->socket = optarg; break;
		case 'c': o->ctl = optarg; break;
		case 'a': o->accounts = optarg; break;
		case 'o': o->stats = optarg; break;
		case 'w': rc = fl_num(me, "--workers", optarg, 1, 1024, &o->workers); break;
		case 'd': rc = fl_num(me, "--delay", optarg, 0, 60000, &o->delay_ms); break;
		case 'S': rc = fl_num(me, "--slow-ms", optarg, 0, 60000, &o->slow_ms); break;
		case 'i': rc = fl_num(me, "--sample-ms", optarg, 10, 60000, &o->sample_ms); break;
		case 'h': usage(stdout); exit(0);
		default: rc = -1; break;
		}
	}
	if (rc == 0 && (optind != argc || o->socket == NULL || o->accounts == NULL)) {
		usage(stderr);
		rc = -1;
	}
	return rc;
}

/* A listening Unix socket at PATH (an old socket file is replaced). Returns
 * the fd, or -1 after saying why. */
static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "flood-backend: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0) {
		fprintf(stderr, "flood-backend: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int watch_add(int ep, struct watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	return epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev);
}

static void watch_close(int ep, struct watch *w)
{
	(void)epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	free(w);
}

/* Accepts every pending connection on L as KIND. */
static void accept_all(struct backend *b, int ep, struct watch *l, enum kind kind)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct watch *w;

		if (fd < 0)
			return; /* EAGAIN, or EMFILE: the client retries or times out */
		w = calloc(1, sizeof(*w));
		if (w == NULL) {
			close(fd);
			continue;
		}
		w->kind = kind;
		w->fd = fd;
		if (watch_add(ep, w) != 0) {
			close(fd);
			free(w);
			continue;
		}
		if (kind == K_CLIENT)
			bk_count_accept(b);
	}
}

static void write_stats(struct backend *b, const char *path)
{
	char tmp[4096];
	FILE *f;

	if (path == NULL) {
		bk_stats_json(b, stdout);
		fflush(stdout);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL) {
		fprintf(stderr, "flood-backend: %s: %s\n", tmp, strerror(errno));
		return;
	}
	bk_stats_json(b, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		fprintf(stderr, "flood-backend: %s: %s\n", path, strerror(errno));
}

/* Reads more of a client's request; queues it once whole. */
static void client_read(struct backend *b, int ep, struct watch *w)
{
	struct fw_req req;
	size_t used;
	ssize_t n;
	int rc;

	n = recv(w->fd, w->buf + w->len, sizeof(w->buf) - w->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		watch_close(ep, w); /* gone before its request was whole */
		return;
	}
	w->len += (size_t)n;
	rc = fw_decode(w->buf, w->len, &req, &used);
	if (rc == FW_ERR_AGAIN)
		return;
	(void)epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, NULL);
	if (rc != 0 || bk_push(b, w->fd, &req) != 0) {
		bk_count_proto_error(b);
		close(w->fd);
	}
	memset(&req, 0, sizeof(req));
	free(w);
}

/* Answers one control command. */
static void ctl_read(struct backend *b, int ep, struct watch *w)
{
	char *nl, *line = (char *)w->buf;
	long ms;
	ssize_t n;
	FILE *f;

	n = recv(w->fd, w->buf + w->len, CTL_LINE - 1 - w->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		watch_close(ep, w);
		return;
	}
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	nl = strchr(line, '\n');
	if (nl == NULL && w->len < CTL_LINE - 1)
		return;
	if (nl != NULL)
		*nl = '\0';
	/* The answer is written blocking: the caller is our own driver. */
	(void)fcntl(w->fd, F_SETFL, 0);
	f = fdopen(dup(w->fd), "w");
	if (f == NULL) {
		watch_close(ep, w);
		return;
	}
	if (strcmp(line, "stats") == 0) {
		bk_stats_json(b, f);
	} else if (strcmp(line, "reset") == 0) {
		bk_reset(b);
		fprintf(f, "ok\n");
	} else if (strncmp(line, "delay ", 6) == 0 && fl_num(me, "delay", line + 6, 0, 60000, &ms) == 0) {
		atomic_store(&b->delay_ms, ms);
		fprintf(f, "ok\n");
	} else {
		fprintf(f, "error: unknown command\n");
	}
	fclose(f);
	watch_close(ep, w);
}

/* Handles a signal; returns 1 when the backend should stop. */
static int on_signal(struct backend *b, const struct opts *o, int fd)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	switch (si.ssi_signo) {
	case SIGUSR1:
		if (o->slow_ms >= 0)
			atomic_store(&b->delay_ms, o->slow_ms);
		else
			fprintf(stderr, "flood-backend: SIGUSR1 without --slow-ms: ignored\n");
		return 0;
	case SIGUSR2:
		write_stats(b, o->stats);
		return 0;
	default:
		write_stats(b, o->stats);
		return 1;
	}
}

static int run(struct backend *b, const struct opts *o, int ep)
{
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "flood-backend: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;
			uint64_t ticks;

			switch (w->kind) {
			case K_LISTEN: accept_all(b, ep, w, K_CLIENT); break;
			case K_CTL_LISTEN: accept_all(b, ep, w, K_CTL); break;
			case K_CLIENT: client_read(b, ep, w); break;
			case K_CTL: ctl_read(b, ep, w); break;
			case K_TIMER:
				if (read(w->fd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks))
					bk_sample(b);
				break;
			case K_SIGNAL:
				if (on_signal(b, o, w->fd))
					return 0;
				break;
			}
		}
	}
}

int main(int argc, char **argv)
{
	static struct backend b; /* large: the series */
	struct bk_accounts accounts = { 0 };
	struct watch lw = { .kind = K_LISTEN, .fd = -1 }, cw = { .kind = K_CTL_LISTEN, .fd = -1 };
	struct watch sw = { .kind = K_SIGNAL, .fd = -1 }, tw = { .kind = K_TIMER, .fd = -1 };
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	struct opts o;
	sigset_t set;
	int ep = -1, rc = 1;

	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	if (bk_accounts_load(o.accounts, &accounts) != 0)
		goto out;
	/* Before the workers start, so that they inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (bk_start(&b, (int)o.workers, o.delay_ms, o.sample_ms, &accounts) != 0) {
		fprintf(stderr, "flood-backend: cannot start the workers\n");
		goto out;
	}
	its.it_interval.tv_sec = o.sample_ms / 1000;
	its.it_interval.tv_nsec = (o.sample_ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	ep = epoll_create1(EPOLL_CLOEXEC);
	lw.fd = listen_on(o.socket);
	cw.fd = o.ctl != NULL ? listen_on(o.ctl) : -1;
	sw.fd = signalfd(-1, &set, SFD_CLOEXEC);
	tw.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (ep < 0 || lw.fd < 0 || (o.ctl != NULL && cw.fd < 0) || sw.fd < 0 || tw.fd < 0 ||
	    timerfd_settime(tw.fd, 0, &its, NULL) != 0 || watch_add(ep, &lw) != 0 ||
	    (cw.fd >= 0 && watch_add(ep, &cw) != 0) || watch_add(ep, &sw) != 0 ||
	    watch_add(ep, &tw) != 0) {
		fprintf(stderr, "flood-backend: cannot set up: %s\n", strerror(errno));
		goto out;
	}
	rc = run(&b, &o, ep);
out:
	if (lw.fd >= 0)
		(void)unlink(o.socket);
	if (cw.fd >= 0)
		(void)unlink(o.ctl);
	/* The workers may be asleep in a check: the process ends without
	 * joining them. */
	fflush(stdout);
	_exit(rc);
}

/* test_pipeline.c - pipelined requests against a real authguard-governor
 * (AG_BUILDDIR/authguard-governor on a temporary socket): answers come in
 * request order, also across reads; a queued DECIDE holds back what follows
 * it on its connection and nothing else; a client that sends without
 * reading is slowed down, never dropped.
 *
 * The governor allows one attempt at a time, with no reserves and long
 * CoDel waits, so that a second DECIDE is queued and stays queued; requests
 * from 203.0.113.0/24 are on the deny list, so that allow and deny answers
 * tell the requests apart.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "ag_err.h"
#include "ag_wire.h"

#define WAIT_MS 5000 /* for any answer the governor owes us */

struct gov_proc {
	char dir[64];
	char sock[128], conf[128], log[128];
	pid_t pid;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int conn_open(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int gov_setup(void **state)
{
	static struct gov_proc p;
	const char *bd = getenv("AG_BUILDDIR");
	char gov[512];
	long until;
	FILE *f;
	int fd;

	snprintf(gov, sizeof(gov), "%s/authguard-governor", bd != NULL ? bd : ".");
	if (access(gov, X_OK) != 0) {
		fprintf(stderr, "no governor at %s\n", gov);
		return -1;
	}
	snprintf(p.dir, sizeof(p.dir), "/tmp/ag-pipe.XXXXXX");
	if (mkdtemp(p.dir) == NULL)
		return -1;
	snprintf(p.sock, sizeof(p.sock), "%s/gov.sock", p.dir);
	snprintf(p.conf, sizeof(p.conf), "%s/gov.conf", p.dir);
	snprintf(p.log, sizeof(p.log), "%s/gov.log", p.dir);
	f = fopen(p.conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"[governor]\nsocket = %s\nuser_socket =\nstate_file =\n"
		"[overload]\nmax_inflight = 1\ntrusted_reserve = 0%%\nclean_reserve = 0%%\n"
		"codel_target = 10s\ncodel_interval = 10s\n"
		"[lists]\ndeny = 203.0.113.0/24\n",
		p.sock);
	if (fclose(f) != 0)
		return -1;
	p.pid = fork();
	if (p.pid < 0)
		return -1;
	if (p.pid == 0) {
		fd = open(p.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execl(gov, gov, "-f", "-c", p.conf, (char *)NULL);
		_exit(127);
	}
	for (until = now_ms() + WAIT_MS; now_ms() < until; usleep(20000)) {
		fd = conn_open(p.sock);
		if (fd >= 0) {
			close(fd);
			*state = &p;
			return 0;
		}
	}
	kill(p.pid, SIGKILL);
	waitpid(p.pid, NULL, 0);
	return -1;
}

static int gov_teardown(void **state)
{
	struct gov_proc *p = *state;
	char cmd[160];
	int st = 0, i;

	kill(p->pid, SIGTERM);
	for (i = 0; i < 50 && waitpid(p->pid, &st, WNOHANG) == 0; i++)
		usleep(100000);
	if (i == 50) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", p->dir);
	return 0;
}

/* ---- requests ---- */

struct batch {
	uint8_t *buf;
	size_t len, cap;
};

static void batch_add(struct batch *b, const struct ag_msg *m)
{
	size_t len = 0;

	if (b->cap - b->len < AG_FRAME_MAX) {
		b->cap = b->cap * 2 + AG_FRAME_MAX;
		b->buf = realloc(b->buf, b->cap);
		assert_non_null(b->buf);
	}
	assert_int_equal(ag_wire_encode(m, b->buf + b->len, b->cap - b->len, &len), 0);
	b->len += len;
}

static void add_attempt(struct batch *b, int type, const char *user, const char *rhost,
			uint32_t budget)
{
	struct ag_msg m;

	ag_msg_init(&m, (uint8_t)type);
	ag_msg_set_str(&m, AG_F_SERVICE, "pipe");
	ag_msg_set_str(&m, AG_F_USER, user);
	ag_msg_set_str(&m, AG_F_RHOST, rhost);
	ag_msg_set_u32(&m, AG_F_BUDGET, budget);
	batch_add(b, &m);
}

static void add_report(struct batch *b, const uint8_t *id, int outcome)
{
	struct ag_msg m;

	ag_msg_init(&m, AG_MSG_REPORT);
	memcpy(m.id, id, AG_ID_LEN);
	m.present |= 1u << AG_F_ID;
	ag_msg_set_u32(&m, AG_F_OUTCOME, (uint32_t)outcome);
	batch_add(b, &m);
}

/* Even i: allowed; odd i: from the deny list. */
static void add_alternating(struct batch *b, int n)
{
	char rhost[32];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(rhost, sizeof(rhost), "%s.%d", i % 2 ? "203.0.113" : "192.0.2",
			 i % 250 + 1);
		add_attempt(b, AG_MSG_PRECHECK, "alice", rhost, 2000);
	}
}

static void write_all(int fd, const struct batch *b)
{
	size_t off = 0;
	ssize_t n;

	while (off < b->len) {
		n = send(fd, b->buf + off, b->len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		off += (size_t)n;
	}
}

/* ---- answers ---- */

struct reader {
	int fd;
	uint8_t buf[2 * AG_FRAME_MAX];
	size_t len;
};

struct answer {
	uint8_t type;
	uint8_t verdict;
	int32_t code;
	char rule[32];
	int has_id;
	uint8_t id[AG_ID_LEN];
};

/* Takes one whole frame out of r's buffer. 1 if there was one. */
static int take(struct reader *r, struct answer *a)
{
	struct ag_msg m;
	size_t used = 0;
	int rc = ag_wire_decode(r->buf, r->len, &m, &used);

	if (rc == AG_ERR_AGAIN)
		return 0;
	assert_int_equal(rc, 0);
	memset(a, 0, sizeof(*a));
	a->type = m.type;
	a->verdict = m.verdict;
	a->code = (int32_t)m.code;
	if (AG_HAS(&m, AG_F_RULE))
		assert_int_equal(ag_str_copy(a->rule, sizeof(a->rule), m.rule), 0);
	a->has_id = AG_HAS(&m, AG_F_ID);
	memcpy(a->id, m.id, AG_ID_LEN);
	memmove(r->buf, r->buf + used, r->len - used);
	r->len -= used;
	return 1;
}

/* The next answer within ms: 0, AG_ERR_TIMEOUT or AG_ERR_CLOSED. */
static int next_answer(struct reader *r, struct answer *a, int ms)
{
	long until = now_ms() + ms;
	struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
	ssize_t n;

	while (!take(r, a)) {
		long left = until - now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
			return AG_ERR_TIMEOUT;
		n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return AG_ERR_CLOSED;
		r->len += (size_t)n;
	}
	return 0;
}

static void expect_verdict(struct reader *r, int verdict, const char *rule)
{
	struct answer a;

	assert_int_equal(next_answer(r, &a, WAIT_MS), 0);
	assert_int_equal(a.type, AG_MSG_VERDICT);
	assert_int_equal(a.verdict, verdict);
	if (rule != NULL)
		assert_string_equal(a.rule, rule);
}

/* The answers to add_alternating(n), in order. */
static void expect_alternating(struct reader *r, int n)
{
	int i;

	for (i = 0; i < n; i++)
		expect_verdict(r, i % 2 ? AG_V_DENY : AG_V_ALLOW, i % 2 ? "deny" : NULL);
}

/* ---- tests ---- */

/* One write carrying requests of every kind: each answer in its place. */
static void test_order(void **state)
{
	struct gov_proc *p = *state;
	static const uint8_t bogus[AG_ID_LEN] = {1, 2, 3};
	struct batch b = {0};
	struct reader r = {0};
	struct answer a;

	r.fd = conn_open(p->sock);
	assert_true(r.fd >= 0);
	add_attempt(&b, AG_MSG_PRECHECK, "alice", "192.0.2.1", 2000);
	add_attempt(&b, AG_MSG_PRECHECK, "alice", "203.0.113.7", 2000);
	add_report(&b, bogus, AG_OUT_FAIL);
	add_attempt(&b, AG_MSG_PRECHECK, "bob", "192.0.2.2", 2000);
	write_all(r.fd, &b);
	expect_verdict(&r, AG_V_ALLOW, NULL);
	expect_verdict(&r, AG_V_DENY, "deny");
	assert_int_equal(next_answer(&r, &a, WAIT_MS), 0);
	assert_int_equal(a.type, AG_MSG_ERROR);
	assert_int_equal(a.code, AG_ERR_NOTFOUND);
	expect_verdict(&r, AG_V_ALLOW, NULL);

	/* More than the governor reads at once: frames cut across reads. */
	b.len = 0;
	add_alternating(&b, 601);
	assert_true(b.len > 3 * AG_FRAME_MAX);
	write_all(r.fd, &b);
	expect_alternating(&r, 601);
	assert_int_equal(next_answer(&r, &a, 100), AG_ERR_TIMEOUT);
	close(r.fd);
	free(b.buf);
}

/* A queued DECIDE holds back the requests after it, on its connection
 * only; its verdict comes first, then theirs, in order. */
static void test_queued_blocks(void **state)
{
	struct gov_proc *p = *state;
	struct reader ra = {0}, rb = {0}, rc = {0};
	struct batch b = {0};
	struct answer a, held;

	ra.fd = conn_open(p->sock);
	rb.fd = conn_open(p->sock);
	rc.fd = conn_open(p->sock);
	assert_true(ra.fd >= 0 && rb.fd >= 0 && rc.fd >= 0);
	/* A takes the only slot. */
	add_attempt(&b, AG_MSG_DECIDE, "carol", "192.0.2.10", 5000);
	write_all(ra.fd, &b);
	assert_int_equal(next_answer(&ra, &held, WAIT_MS), 0);
	assert_int_equal(held.type, AG_MSG_VERDICT);
	assert_int_equal(held.verdict, AG_V_ALLOW);
	assert_true(held.has_id);

	/* B: a DECIDE that must wait, then two PRECHECKs behind it. */
	b.len = 0;
	add_attempt(&b, AG_MSG_DECIDE, "dave", "192.0.2.11", 5000);
	add_attempt(&b, AG_MSG_PRECHECK, "dave", "203.0.113.9", 5000);
	add_attempt(&b, AG_MSG_PRECHECK, "dave", "192.0.2.12", 5000);
	write_all(rb.fd, &b);
	assert_int_equal(next_answer(&rb, &a, WAIT_MS), 0);
	assert_int_equal(a.type, AG_MSG_QUEUED);
	assert_int_equal(next_answer(&rb, &a, 300), AG_ERR_TIMEOUT);

	/* C is not held back by B. */
	b.len = 0;
	add_attempt(&b, AG_MSG_PRECHECK, "erin", "192.0.2.13", 5000);
	write_all(rc.fd, &b);
	expect_verdict(&rc, AG_V_ALLOW, NULL);

	/* A's report frees the slot: B's DECIDE is admitted, then the rest. */
	b.len = 0;
	add_report(&b, held.id, AG_OUT_SUCCESS);
	write_all(ra.fd, &b);
	assert_int_equal(next_answer(&ra, &a, WAIT_MS), 0);
	assert_int_equal(a.type, AG_MSG_ACK);
	assert_int_equal(next_answer(&rb, &a, WAIT_MS), 0);
	assert_int_equal(a.type, AG_MSG_VERDICT);
	assert_int_equal(a.verdict, AG_V_ALLOW);
	assert_true(a.has_id);
	expect_verdict(&rb, AG_V_DENY, "deny");
	expect_verdict(&rb, AG_V_ALLOW, NULL);

	/* B reports; the slot is free again for the next test. */
	b.len = 0;
	add_report(&b, a.id, AG_OUT_SUCCESS);
	write_all(rb.fd, &b);
	assert_int_equal(next_answer(&rb, &a, WAIT_MS), 0);
	assert_int_equal(a.type, AG_MSG_ACK);
	close(ra.fd);
	close(rb.fd);
	close(rc.fd);
	free(b.buf);
}

/* A client that writes far more than the socket buffers hold before it
 * reads a single answer: the governor stops reading it rather than closing
 * it or losing answers, and every answer arrives, in order. */
static void test_backpressure(void **state)
{
	struct gov_proc *p = *state;
	struct reader r = {0};
	struct batch b = {0};
	struct answer a;
	size_t off = 0;
	ssize_t n;
	int got = 0, stalled = 0, total = 20001;

	r.fd = conn_open(p->sock);
	assert_true(r.fd >= 0);
	add_alternating(&b, total);
	/* Write without reading until the governor stops taking requests. */
	while (off < b.len) {
		n = send(r.fd, b.buf + off, b.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = r.fd, .events = POLLOUT};

			if (poll(&pfd, 1, 300) == 0) {
				stalled = 1;
				break;
			}
			continue;
		}
		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_true(stalled);
	/* Then read and write until everything is answered. */
	while (got < total) {
		struct pollfd pfd = {.fd = r.fd, .events = POLLIN | (off < b.len ? POLLOUT : 0)};

		assert_true(poll(&pfd, 1, WAIT_MS) > 0);
		if ((pfd.revents & POLLOUT) && off < b.len) {
			n = send(r.fd, b.buf + off, b.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				off += (size_t)n;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(r.fd, r.buf + r.len, sizeof(r.buf) - r.len, MSG_DONTWAIT);
		assert_true(n > 0);
		r.len += (size_t)n;
		while (got < total && take(&r, &a)) {
			assert_int_equal(a.type, AG_MSG_VERDICT);
			assert_int_equal(a.verdict, got % 2 ? AG_V_DENY : AG_V_ALLOW);
			got++;
		}
	}
	assert_int_equal(off, b.len);
	assert_int_equal(next_answer(&r, &a, 100), AG_ERR_TIMEOUT);
	close(r.fd);
	free(b.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_queued_blocks),
	    cmocka_unit_test(test_backpressure),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, gov_setup, gov_teardown);
}

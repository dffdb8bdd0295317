/* test_client.c - lib/ag_client.c against a fake governor.
 *
 * The fake governor is a listening Unix socket in a temporary directory,
 * served by a thread that plays a script (receive a frame, send a message,
 * send raw bytes, send byte by byte, sleep, close) on one connection, then
 * waits (bounded) for the client to close. The thread never calls cmocka; the
 * test asserts on what it recorded after joining it.
 */
#include "config.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "ag_client.h"
#include "ag_err.h"
#include "ag_time.h"
#include "ag_wire.h"

/* ---- the fake governor -------------------------------------------------- */

enum act_kind { A_RECV = 1, A_SEND, A_RAW, A_BYTEWISE, A_SLEEP, A_CLOSE };

struct act {
	int kind;
	struct ag_msg msg; /* A_SEND, A_BYTEWISE */
	uint8_t raw[64];   /* A_RAW */
	size_t rawlen;
	int ms; /* A_SLEEP */
};

struct seen {
	uint8_t type;
	uint32_t present, budget_ms, backend_ms;
	uint8_t outcome;
	uint8_t id[AG_ID_LEN];
	char user[AG_NAME_MAX + 1], service[AG_NAME_MAX + 1], rhost[AG_NAME_MAX + 1];
	char cmd[AG_NAME_MAX + 1];
};

#define MAX_ACTS 16
#define MAX_SEEN 8

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	pthread_t th;
	int running;
	struct act acts[MAX_ACTS];
	int nacts;
	struct seen seen[MAX_SEEN];
	int nseen;
	int accepted, eof;
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one client frame (bounded: 5 s) and records it. */
static int fake_recv(struct fake *f, int fd)
{
	uint8_t buf[AG_FRAME_MAX];
	size_t len = 0, used = 0;
	struct ag_msg m;
	struct pollfd p = {fd, POLLIN, 0};
	struct seen *s;

	for (;;) {
		int rc = ag_wire_decode(buf, len, &m, &used);
		ssize_t n;

		if (rc == 0)
			break;
		if (rc != AG_ERR_AGAIN || len == sizeof(buf) || poll(&p, 1, 5000) <= 0)
			return -1;
		/* One byte at a time: never read past the frame. */
		n = recv(fd, buf + len, 1, 0);
		if (n <= 0)
			return -1;
		len += (size_t)n;
	}
	if (f->nseen >= MAX_SEEN)
		return -1;
	s = &f->seen[f->nseen++];
	memset(s, 0, sizeof(*s));
	s->type = m.type;
	s->present = m.present;
	s->budget_ms = m.budget_ms;
	s->backend_ms = m.backend_ms;
	s->outcome = m.outcome;
	memcpy(s->id, m.id, AG_ID_LEN);
	/* Every string fits: the decoder bounds them by AG_NAME_MAX. */
	if (ag_str_copy(s->user, sizeof(s->user), m.user) != 0 ||
	    ag_str_copy(s->service, sizeof(s->service), m.service) != 0 ||
	    ag_str_copy(s->rhost, sizeof(s->rhost), m.rhost) != 0 ||
	    ag_str_copy(s->cmd, sizeof(s->cmd), m.cmd) != 0)
		return -1;
	return 0;
}

static int fake_send(int fd, const struct ag_msg *m, int bytewise)
{
	uint8_t buf[AG_FRAME_MAX];
	size_t len = 0, i;

	if (ag_wire_encode(m, buf, sizeof(buf), &len) != 0)
		return -1;
	if (!bytewise)
		return write_all(fd, buf, len);
	for (i = 0; i < len; i++) {
		if (write_all(fd, buf + i, 1) != 0)
			return -1;
		sleep_ms(2);
	}
	return 0;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p = {f->lfd, POLLIN, 0};
	uint8_t junk[256];
	int fd, i;

	if (poll(&p, 1, 5000) <= 0)
		return NULL;
	fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	f->accepted = 1;
	for (i = 0; i < f->nacts; i++) {
		struct act *a = &f->acts[i];
		int rc = 0;

		switch (a->kind) {
		case A_RECV:
			rc = fake_recv(f, fd);
			break;
		case A_SEND:
			rc = fake_send(fd, &a->msg, 0);
			break;
		case A_BYTEWISE:
			rc = fake_send(fd, &a->msg, 1);
			break;
		case A_RAW:
			rc = write_all(fd, a->raw, a->rawlen);
			break;
		case A_SLEEP:
			sleep_ms(a->ms);
			break;
		case A_CLOSE:
			close(fd);
			return NULL;
		}
		if (rc != 0)
			break;
	}
	/* Wait for the client to hang up (bounded) so that "no answer" means
	 * exactly that. */
	p.fd = fd;
	while (poll(&p, 1, 5000) > 0) {
		ssize_t n = recv(fd, junk, sizeof(junk), 0);

		if (n <= 0) {
			f->eof = 1;
			break;
		}
	}
	close(fd);
	return NULL;
}

static struct act *add(struct fake *f, int kind)
{
	struct act *a;

	assert_true(f->nacts < MAX_ACTS);
	a = &f->acts[f->nacts++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

static void add_raw(struct fake *f, const void *bytes, size_t len)
{
	struct act *a = add(f, A_RAW);

	assert_true(len <= sizeof(a->raw));
	memcpy(a->raw, bytes, len);
	a->rawlen = len;
}

static struct ag_msg *add_verdict(struct fake *f, int kind, int verdict)
{
	struct act *a = add(f, kind);

	ag_msg_init(&a->msg, AG_MSG_VERDICT);
	ag_msg_set_u32(&a->msg, AG_F_VERDICT, (uint32_t)verdict);
	return &a->msg;
}

static void fake_start(struct fake *f)
{
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	f->running = 1;
}

static void fake_join(struct fake *f)
{
	if (f->running)
		assert_int_equal(pthread_join(f->th, NULL), 0);
	f->running = 0;
}

static int listen_at(const char *path, int backlog)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/agtest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/gov.sock", f->dir);
	f->lfd = listen_at(f->path, 8);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	fake_join(f);
	if (f->lfd >= 0)
		close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static void decide_msg(struct ag_msg *m, const char *user)
{
	ag_msg_init(m, AG_MSG_DECIDE);
	ag_msg_set_str(m, AG_F_SERVICE, "sshd");
	ag_msg_set_str(m, AG_F_USER, user);
	ag_msg_set_str(m, AG_F_RHOST, "203.0.113.9");
	ag_msg_set_u32(m, AG_F_BUDGET, 2250);
}

/* Connects, sends a DECIDE, receives one answer. */
static int exchange(struct fake *f, struct ag_conn *c, struct ag_msg *ans, int64_t timeout_ms)
{
	struct ag_msg rq;
	int64_t deadline = ag_mono_ms() + timeout_ms;
	int rc;

	decide_msg(&rq, "alice");
	ag_conn_init(c);
	rc = ag_conn_open(c, f->path, deadline);
	assert_int_equal(rc, 0);
	rc = ag_conn_send(c, &rq, deadline);
	if (rc != 0)
		return rc;
	return ag_conn_recv(c, ans, deadline);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_answer(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	struct ag_msg ans;
	struct ag_msg *v;
	char rule[AG_NAME_MAX + 1];

	add(f, A_RECV);
	v = add_verdict(f, A_SEND, AG_V_ALLOW);
	memset(v->id, 0xab, AG_ID_LEN);
	v->present |= 1u << AG_F_ID;
	ag_msg_set_str(v, AG_F_RULE, "ok");
	fake_start(f);

	assert_int_equal(exchange(f, &c, &ans, 2000), 0);
	assert_int_equal(ans.type, AG_MSG_VERDICT);
	assert_int_equal(ans.verdict, AG_V_ALLOW);
	assert_true(AG_HAS(&ans, AG_F_ID));
	assert_int_equal(ans.id[0], 0xab);
	assert_int_equal(ag_str_copy(rule, sizeof(rule), ans.rule), 0);
	assert_string_equal(rule, "ok");
	ag_conn_close(&c);
	assert_int_equal(c.fd, -1);
	fake_join(f);

	assert_int_equal(f->nseen, 1);
	assert_int_equal(f->seen[0].type, AG_MSG_DECIDE);
	assert_string_equal(f->seen[0].user, "alice");
	assert_string_equal(f->seen[0].service, "sshd");
	assert_string_equal(f->seen[0].rhost, "203.0.113.9");
	assert_int_equal(f->seen[0].budget_ms, 2250);
	assert_true(f->eof);
}

static void test_never_answers(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	struct ag_msg ans;
	int64_t t0, elapsed;

	add(f, A_RECV);
	fake_start(f);
	t0 = ag_mono_ms();
	assert_int_equal(exchange(f, &c, &ans, 300), AG_ERR_TIMEOUT);
	elapsed = ag_mono_ms() - t0;
	assert_true(elapsed >= 300);
	assert_true(elapsed < 300 + 1000);
	assert_int_equal(ans.type, 0);
	ag_conn_close(&c);
	fake_join(f);
	assert_int_equal(f->nseen, 1);
}

static void test_closes_at_once(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	struct ag_msg rq, ans;
	int64_t deadline = ag_mono_ms() + 2000;
	int rc;

	add(f, A_CLOSE);
	fake_start(f);
	ag_conn_init(&c);
	assert_int_equal(ag_conn_open(&c, f->path, deadline), 0);
	fake_join(f); /* the governor has closed by now */
	decide_msg(&rq, "alice");
	rc = ag_conn_send(&c, &rq, deadline);
	/* The frame may still fit the socket buffer before the reset is seen. */
	assert_true(rc == 0 || rc == AG_ERR_CLOSED);
	assert_int_equal(ag_conn_recv(&c, &ans, deadline), AG_ERR_CLOSED);
	ag_conn_close(&c);
}

static void test_half_frame_then_close(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	struct ag_msg ans;
	const uint8_t half[] = {AG_WIRE_VERSION, AG_MSG_VERDICT, 0, 4, AG_F_VERDICT};

	add(f, A_RECV);
	add_raw(f, half, sizeof(half));
	add(f, A_CLOSE);
	fake_start(f);
	assert_int_equal(exchange(f, &c, &ans, 2000), AG_ERR_CLOSED);
	ag_conn_close(&c);
}

static void garbage_case(struct fake *f, const uint8_t *bytes, size_t len, int want)
{
	struct ag_conn c;
	struct ag_msg ans;

	add(f, A_RECV);
	add_raw(f, bytes, len);
	fake_start(f);
	assert_int_equal(exchange(f, &c, &ans, 2000), want);
	assert_int_equal(ans.type, 0);
	ag_conn_close(&c);
	fake_join(f);
}

static void test_garbage_version(void **state)
{
	const uint8_t b[] = {2, AG_MSG_ACK, 0, 0};

	garbage_case(*state, b, sizeof(b), AG_ERR_VERSION);
}

static void test_garbage_toobig(void **state)
{
	const uint8_t b[] = {AG_WIRE_VERSION, AG_MSG_REPLY, 0xff, 0xff};

	garbage_case(*state, b, sizeof(b), AG_ERR_TOOBIG);
}

static void test_garbage_type(void **state)
{
	const uint8_t b[] = {AG_WIRE_VERSION, 99, 0, 0};

	garbage_case(*state, b, sizeof(b), AG_ERR_PROTO);
}

static void test_garbage_missing_field(void **state)
{
	/* A VERDICT without its verdict. */
	const uint8_t b[] = {AG_WIRE_VERSION, AG_MSG_VERDICT, 0, 0};

	garbage_case(*state, b, sizeof(b), AG_ERR_PROTO);
}

static void test_client_only_type(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	struct ag_msg ans;
	struct act *a;

	add(f, A_RECV);
	a = add(f, A_SEND);
	decide_msg(&a->msg, "mallory");
	fake_start(f);
	assert_int_equal(exchange(f, &c, &ans, 2000), AG_ERR_PROTO);
	assert_int_equal(ans.type, 0);
	ag_conn_close(&c);
}

static void test_bytewise(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	struct ag_msg ans;
	struct ag_msg *v;
	char rule[AG_NAME_MAX + 1];

	add(f, A_RECV);
	v = add_verdict(f, A_BYTEWISE, AG_V_DENY);
	ag_msg_set_str(v, AG_F_RULE, "backoff");
	ag_msg_set_u32(v, AG_F_RETRY_MS, 4000);
	fake_start(f);
	assert_int_equal(exchange(f, &c, &ans, 5000), 0);
	assert_int_equal(ans.type, AG_MSG_VERDICT);
	assert_int_equal(ans.verdict, AG_V_DENY);
	assert_int_equal(ans.retry_ms, 4000);
	assert_int_equal(ag_str_copy(rule, sizeof(rule), ans.rule), 0);
	assert_string_equal(rule, "backoff");
	ag_conn_close(&c);
}

static void test_two_frames_one_write(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	struct ag_msg q, v, ans;
	uint8_t buf[64];
	size_t l1 = 0, l2 = 0;
	char rule[AG_NAME_MAX + 1];

	ag_msg_init(&q, AG_MSG_QUEUED);
	ag_msg_set_u32(&q, AG_F_CLASS, AG_CLASS_CLEAN);
	ag_msg_init(&v, AG_MSG_VERDICT);
	ag_msg_set_u32(&v, AG_F_VERDICT, AG_V_SHED);
	ag_msg_set_str(&v, AG_F_RULE, "shed");
	assert_int_equal(ag_wire_encode(&q, buf, sizeof(buf), &l1), 0);
	assert_int_equal(ag_wire_encode(&v, buf + l1, sizeof(buf) - l1, &l2), 0);
	add(f, A_RECV);
	add_raw(f, buf, l1 + l2);
	fake_start(f);

	assert_int_equal(exchange(f, &c, &ans, 2000), 0);
	assert_int_equal(ans.type, AG_MSG_QUEUED);
	assert_int_equal(ans.klass, AG_CLASS_CLEAN);
	assert_int_equal(ag_conn_recv(&c, &ans, ag_mono_ms() + 2000), 0);
	assert_int_equal(ans.type, AG_MSG_VERDICT);
	assert_int_equal(ans.verdict, AG_V_SHED);
	assert_int_equal(ag_str_copy(rule, sizeof(rule), ans.rule), 0);
	assert_string_equal(rule, "shed");
	/* Both frames consumed: nothing more arrives. */
	assert_int_equal(ag_conn_recv(&c, &ans, ag_mono_ms() + 100), AG_ERR_TIMEOUT);
	ag_conn_close(&c);
}

static void test_buffered_frame_after_deadline(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	struct ag_msg rq, ans;
	int64_t deadline = ag_mono_ms() + 2000;

	add(f, A_RECV);
	add_verdict(f, A_SEND, AG_V_DENY);
	fake_start(f);
	decide_msg(&rq, "alice");
	ag_conn_init(&c);
	assert_int_equal(ag_conn_open(&c, f->path, deadline), 0);
	assert_int_equal(ag_conn_send(&c, &rq, deadline), 0);
	sleep_ms(200);
	/* The answer has arrived: it is returned although the deadline has
	 * passed. */
	assert_int_equal(ag_conn_recv(&c, &ans, ag_mono_ms() - 1), 0);
	assert_int_equal(ans.type, AG_MSG_VERDICT);
	assert_int_equal(ans.verdict, AG_V_DENY);
	/* Nothing more: an expired deadline times out at once. */
	assert_int_equal(ag_conn_recv(&c, &ans, ag_mono_ms() - 1), AG_ERR_TIMEOUT);
	ag_conn_close(&c);
}

static void test_no_socket(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	char path[200];

	ag_conn_init(&c);
	snprintf(path, sizeof(path), "%s/absent.sock", f->dir);
	assert_int_equal(ag_conn_open(&c, path, ag_mono_ms() + 1000), AG_ERR_CONNECT);
	assert_int_equal(c.fd, -1);
	/* A path through a regular file: ENOTDIR. */
	assert_int_equal(ag_conn_open(&c, "/etc/passwd/x.sock", ag_mono_ms() + 1000),
			 AG_ERR_CONNECT);
	assert_int_equal(c.fd, -1);
}

static void test_refused(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;

	/* A socket file nobody listens on any more: ECONNREFUSED. */
	close(f->lfd);
	f->lfd = -1;
	ag_conn_init(&c);
	assert_int_equal(ag_conn_open(&c, f->path, ag_mono_ms() + 1000), AG_ERR_CONNECT);
	assert_int_equal(c.fd, -1);
}

static void test_backlog_full(void **state)
{
	struct fake *f = *state;
	struct sockaddr_un sa;
	char path[200];
	int fds[64];
	int n = 0, lfd, full = 0;
	struct ag_conn c;

	snprintf(path, sizeof(path), "%s/full.sock", f->dir);
	lfd = listen_at(path, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	/* Fill the backlog without accepting; Linux answers EAGAIN to a
	 * non-blocking connect once it is full. */
	while (n < 64) {
		fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fds[n] >= 0);
		if (connect(fds[n], (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			assert_int_equal(errno, EAGAIN);
			full = 1;
			close(fds[n]);
			break;
		}
		n++;
	}
	assert_true(full);
	ag_conn_init(&c);
	assert_int_equal(ag_conn_open(&c, path, ag_mono_ms() + 1000), AG_ERR_BUSY);
	assert_int_equal(c.fd, -1);
	while (n > 0)
		close(fds[--n]);
	close(lfd);
	unlink(path);
}

static void test_bad_args(void **state)
{
	struct ag_conn c;
	struct ag_msg m;
	char longp[200];

	(void)state;
	ag_conn_init(&c);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(ag_conn_open(&c, longp, ag_mono_ms() + 100), AG_ERR_INVAL);
	assert_int_equal(ag_conn_open(&c, "", ag_mono_ms() + 100), AG_ERR_INVAL);
	assert_int_equal(ag_conn_open(&c, NULL, ag_mono_ms() + 100), AG_ERR_INVAL);
	assert_int_equal(ag_conn_open(NULL, "/x", ag_mono_ms() + 100), AG_ERR_INVAL);
	decide_msg(&m, "alice");
	assert_int_equal(ag_conn_send(&c, &m, ag_mono_ms() + 100), AG_ERR_CLOSED);
	assert_int_equal(ag_conn_recv(&c, &m, ag_mono_ms() + 100), AG_ERR_CLOSED);
	assert_int_equal(m.type, 0);
	ag_conn_close(&c);
	ag_conn_close(&c);
	ag_conn_close(NULL);
}

static void test_send_invalid_message(void **state)
{
	struct fake *f = *state;
	struct ag_conn c;
	struct ag_msg m;

	fake_start(f);
	ag_conn_init(&c);
	assert_int_equal(ag_conn_open(&c, f->path, ag_mono_ms() + 1000), 0);
	/* A DECIDE without its user breaks the schema: never sent. */
	ag_msg_init(&m, AG_MSG_DECIDE);
	ag_msg_set_u32(&m, AG_F_BUDGET, 100);
	assert_int_equal(ag_conn_send(&c, &m, ag_mono_ms() + 1000), AG_ERR_INVAL);
	ag_conn_close(&c);
	fake_join(f);
	assert_int_equal(f->nseen, 0);
	assert_true(f->eof);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_never_answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_closes_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_frame_then_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_toobig, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_missing_field, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_only_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bytewise, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_frames_one_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffered_frame_after_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backlog_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_invalid_message, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

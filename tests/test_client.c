/* test_client.c - lib/ag_client.c against a fake governor (tests/fake_gov.c). */
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

#include "fake_gov.h"

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

	fake_add(f, A_RECV);
	v = fake_add_verdict(f, A_SEND, AG_V_ALLOW);
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

	fake_add(f, A_RECV);
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

	fake_add(f, A_CLOSE);
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

	fake_add(f, A_RECV);
	fake_add_raw(f, half, sizeof(half));
	fake_add(f, A_CLOSE);
	fake_start(f);
	assert_int_equal(exchange(f, &c, &ans, 2000), AG_ERR_CLOSED);
	ag_conn_close(&c);
}

static void garbage_case(struct fake *f, const uint8_t *bytes, size_t len, int want)
{
	struct ag_conn c;
	struct ag_msg ans;

	fake_add(f, A_RECV);
	fake_add_raw(f, bytes, len);
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

	fake_add(f, A_RECV);
	a = fake_add(f, A_SEND);
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

	fake_add(f, A_RECV);
	v = fake_add_verdict(f, A_BYTEWISE, AG_V_DENY);
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
	fake_add(f, A_RECV);
	fake_add_raw(f, buf, l1 + l2);
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

	fake_add(f, A_RECV);
	fake_add_verdict(f, A_SEND, AG_V_DENY);
	fake_start(f);
	decide_msg(&rq, "alice");
	ag_conn_init(&c);
	assert_int_equal(ag_conn_open(&c, f->path, deadline), 0);
	assert_int_equal(ag_conn_send(&c, &rq, deadline), 0);
	fake_sleep_ms(200);
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
	lfd = fake_listen_at(path, 0);
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
	    cmocka_unit_test_setup_teardown(test_answer, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_never_answers, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_closes_at_once, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_half_frame_then_close, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_version, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_toobig, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_type, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_missing_field, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_client_only_type, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_bytewise, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_two_frames_one_write, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_buffered_frame_after_deadline, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_no_socket, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_refused, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_backlog_full, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_args, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_send_invalid_message, fake_setup, fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

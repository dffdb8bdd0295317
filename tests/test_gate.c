/* test_gate.c - lib/ag_gate.c: the exchanges against a fake governor, and
 * the pure helpers (client address, user-facing text, socket choice, argument
 * fallback).
 * The fake governor is tests/fake_gov.c.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
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
#include "ag_conf.h"
#include "ag_err.h"
#include "ag_gate.h"
#include "ag_time.h"
#include "ag_wire.h"

#include "fake_gov.h"

/* ---- helpers -------------------------------------------------------------- */

static const struct ag_attempt alice = {"sshd", "alice", "203.0.113.9", "ssh", NULL};

static struct ag_msg *add_allow(struct fake *f, uint8_t idbyte)
{
	struct ag_msg *v = fake_add_verdict(f, A_SEND, AG_V_ALLOW);

	memset(v->id, idbyte, AG_ID_LEN);
	v->present |= 1u << AG_F_ID;
	ag_msg_set_u32(v, AG_F_CLASS, AG_CLASS_CLEAN);
	return v;
}

static void add_simple(struct fake *f, uint8_t type)
{
	struct act *a = fake_add(f, A_SEND);

	ag_msg_init(&a->msg, type);
}

static void add_error(struct fake *f, int code)
{
	struct act *a = fake_add(f, A_SEND);

	ag_msg_init(&a->msg, AG_MSG_ERROR);
	ag_msg_set_u32(&a->msg, AG_F_CODE, (uint32_t)code);
	ag_msg_set_str(&a->msg, AG_F_TEXT, "no");
}

/* Listens with a full backlog at DIR/full.sock; returns the fds to close. */
static int fill_backlog(struct fake *f, char *path, size_t cap, int *fds, int max)
{
	struct sockaddr_un sa;
	int n = 0;

	snprintf(path, cap, "%s/full.sock", f->dir);
	fds[n++] = fake_listen_at(path, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	while (n < max) {
		fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fds[n] >= 0);
		if (connect(fds[n], (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			assert_int_equal(errno, EAGAIN);
			close(fds[n]);
			return n;
		}
		n++;
	}
	fail_msg("backlog never filled");
	return n;
}

static void close_all(int *fds, int n, const char *path)
{
	while (n > 0)
		close(fds[--n]);
	unlink(path);
}

/* ---- PRECHECK --------------------------------------------------------------- */

static void test_precheck_allow(void **state)
{
	struct fake *f = *state;
	struct ag_gate_result r;

	fake_add(f, A_RECV);
	fake_add_verdict(f, A_SEND, AG_V_ALLOW); /* no id: nothing was admitted */
	fake_start(f);
	assert_int_equal(ag_gate_precheck(f->path, &alice, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ALLOW);
	assert_int_equal(r.fault, AG_FAULT_NONE);
	fake_join(f);
	assert_int_equal(f->nseen, 1);
	assert_int_equal(f->seen[0].type, AG_MSG_PRECHECK);
	assert_string_equal(f->seen[0].user, "alice");
	assert_string_equal(f->seen[0].rhost, "203.0.113.9");
	assert_int_equal(f->seen[0].budget_ms, 1000);
	assert_true(f->eof); /* closed after the verdict */
}

static void test_precheck_deny(void **state)
{
	struct fake *f = *state;
	struct ag_gate_result r;
	struct ag_msg *v;

	fake_add(f, A_RECV);
	v = fake_add_verdict(f, A_SEND, AG_V_DENY);
	ag_msg_set_str(v, AG_F_RULE, "backoff");
	ag_msg_set_u32(v, AG_F_RETRY_MS, 8000);
	fake_start(f);
	assert_int_equal(ag_gate_precheck(f->path, &alice, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_DENY);
	assert_string_equal(r.rule, "backoff");
	assert_int_equal(r.retry_ms, 8000);
}

static void test_precheck_absent(void **state)
{
	struct fake *f = *state;
	struct ag_gate_result r;
	char path[200];

	snprintf(path, sizeof(path), "%s/absent.sock", f->dir);
	assert_int_equal(ag_gate_precheck(path, &alice, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_ABSENT);
	assert_int_equal(r.err, AG_ERR_CONNECT);
}

static void test_precheck_backlog_full(void **state)
{
	struct fake *f = *state;
	struct ag_gate_result r;
	char path[200];
	int fds[64];
	int n = fill_backlog(f, path, sizeof(path), fds, 64);

	/* Only DECIDE sheds; a precheck that cannot get through is an error
	 * the module ignores. */
	assert_int_equal(ag_gate_precheck(path, &alice, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_BUSY);
	assert_int_equal(r.err, AG_ERR_BUSY);
	close_all(fds, n, path);
}

static void test_precheck_null(void **state)
{
	struct ag_gate_result r;

	(void)state;
	assert_int_equal(ag_gate_precheck(NULL, &alice, 100, &r), AG_ERR_INVAL);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(ag_gate_precheck("/x", NULL, 100, &r), AG_ERR_INVAL);
	assert_int_equal(ag_gate_precheck("/x", &alice, 100, NULL), AG_ERR_INVAL);
}

/* ---- DECIDE and REPORT ------------------------------------------------------- */

static void test_decide_allow_report_fail(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_allow(f, 0x5a);
	fake_add(f, A_RECV);
	add_simple(f, AG_MSG_ACK);
	fake_start(f);

	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 2000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ALLOW);
	assert_int_equal(r.klass, AG_CLASS_CLEAN);
	assert_int_equal(r.queued, 0);
	assert_int_equal(r.id[0], 0x5a);
	assert_int_equal(adm->id[15], 0x5a);
	assert_true(adm->conn.fd >= 0);
	assert_true(adm->start_ms > 0);

	assert_int_equal(ag_gate_report(adm, AG_OUT_FAIL, 42, 1000), 0);
	assert_int_equal(adm->conn.fd, -1);
	fake_join(f);
	assert_int_equal(f->nseen, 2);
	assert_int_equal(f->seen[0].type, AG_MSG_DECIDE);
	assert_int_equal(f->seen[0].budget_ms, 2250);
	assert_string_equal(f->seen[0].service, "sshd");
	assert_int_equal(f->seen[1].type, AG_MSG_REPORT);
	assert_int_equal(f->seen[1].outcome, AG_OUT_FAIL);
	assert_int_equal(f->seen[1].backend_ms, 42);
	assert_int_equal(f->seen[1].id[7], 0x5a);
	assert_true(f->eof);
	/* A closed admission cannot report again. */
	assert_int_equal(ag_gate_report(adm, AG_OUT_FAIL, 1, 100), AG_ERR_CLOSED);
	ag_admission_free(adm);
}

static void test_report_pass_then_success(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_allow(f, 1);
	fake_add(f, A_RECV);
	add_simple(f, AG_MSG_ACK);
	fake_add(f, A_RECV);
	add_simple(f, AG_MSG_ACK);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 0, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ALLOW);
	assert_int_equal(ag_gate_report(adm, AG_OUT_PASS, 10, 1000), 0);
	assert_true(adm->conn.fd >= 0); /* the final report follows */
	assert_int_equal(ag_gate_report(adm, AG_OUT_SUCCESS, 20, 1000), 0);
	assert_int_equal(adm->conn.fd, -1);
	fake_join(f);
	assert_int_equal(f->nseen, 3);
	assert_int_equal(f->seen[1].outcome, AG_OUT_PASS);
	assert_int_equal(f->seen[2].outcome, AG_OUT_SUCCESS);
	assert_int_equal(f->seen[2].backend_ms, 20);
	ag_admission_free(adm);
}

static void test_report_refused(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_allow(f, 1);
	fake_add(f, A_RECV);
	add_error(f, AG_ERR_NOTFOUND);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 0, &r), 0);
	assert_int_equal(ag_gate_report(adm, AG_OUT_PASS, 10, 1000), AG_ERR_NOTFOUND);
	assert_int_equal(adm->conn.fd, -1); /* closed on error, even for pass */
	ag_admission_free(adm);
}

static void test_report_garbage_and_bad_outcome(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_allow(f, 1);
	fake_add(f, A_RECV);
	add_simple(f, AG_MSG_QUEUED); /* not an ACK */
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 0, &r), 0);
	assert_int_equal(ag_gate_report(adm, AG_OUT_SUCCESS, 10, 1000), AG_ERR_PROTO);
	assert_int_equal(adm->conn.fd, -1);
	ag_admission_free(adm);
	assert_int_equal(ag_gate_report(NULL, AG_OUT_SUCCESS, 0, 100), AG_ERR_INVAL);
}

static void test_report_timeout(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	int64_t t0, elapsed;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_allow(f, 1);
	fake_add(f, A_RECV);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 0, &r), 0);
	t0 = ag_mono_ms();
	assert_int_equal(ag_gate_report(adm, AG_OUT_SUCCESS, 10, 300), AG_ERR_TIMEOUT);
	elapsed = ag_mono_ms() - t0;
	assert_true(elapsed >= 300 && elapsed < 300 + 1000);
	assert_int_equal(adm->conn.fd, -1);
	ag_admission_free(adm);
}

static void test_decide_allow_without_id(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	fake_add_verdict(f, A_SEND, AG_V_ALLOW);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 0, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_GARBAGE);
	assert_int_equal(r.err, AG_ERR_PROTO);
	assert_int_equal(adm->conn.fd, -1);
	ag_admission_free(adm);
}

static void test_decide_deny(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	struct ag_msg *v;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	v = fake_add_verdict(f, A_SEND, AG_V_DENY);
	ag_msg_set_str(v, AG_F_RULE, "source_rate");
	ag_msg_set_u32(v, AG_F_RETRY_MS, 2500);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 2000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_DENY);
	assert_string_equal(r.rule, "source_rate");
	assert_int_equal(r.retry_ms, 2500);
	assert_int_equal(adm->conn.fd, -1);
	fake_join(f);
	assert_true(f->eof);
	ag_admission_free(adm);
}

static void test_decide_verdict_shed(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	fake_add_verdict(f, A_SEND, AG_V_SHED);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 2000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_SHED);
	assert_int_equal(adm->conn.fd, -1);
	ag_admission_free(adm);
}

static void test_decide_queued_then_allow(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	struct act *a;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_simple(f, AG_MSG_QUEUED);
	/* Longer than timeout, shorter than queue_wait: the verdict counts. */
	a = fake_add(f, A_SLEEP);
	a->ms = 400;
	add_allow(f, 9);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 200, 3000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ALLOW);
	assert_int_equal(r.queued, 1);
	assert_int_equal(r.id[0], 9);
	assert_true(adm->conn.fd >= 0);
	ag_admission_free(adm);
}

static void test_decide_queued_then_nothing(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	int64_t t0, elapsed;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_simple(f, AG_MSG_QUEUED);
	fake_start(f);
	t0 = ag_mono_ms();
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 200, 500, &r), 0);
	elapsed = ag_mono_ms() - t0;
	/* Running out of queue_wait is a denial, never an error. */
	assert_int_equal(r.verdict, AG_GATE_SHED);
	assert_int_equal(r.queued, 1);
	assert_int_equal(r.err, AG_ERR_TIMEOUT);
	assert_true(elapsed >= 500);
	assert_true(elapsed < 200 + 500 + 1000);
	assert_int_equal(adm->conn.fd, -1);
	fake_join(f);
	assert_true(f->eof); /* leaving the queue is closing the connection */
	ag_admission_free(adm);
}

/* The governor sheds a queued attempt shed_margin before the budget the
 * module sent (timeout + queue_wait) ends; the module must still be
 * listening then, so that the answer is the governor's, not its own guess. */
static void test_decide_queued_shed_by_governor(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	struct act *a;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_simple(f, AG_MSG_QUEUED);
	a = fake_add(f, A_SLEEP);
	a->ms = 200 + 300 - 40; /* past queue_wait alone, inside the whole budget */
	fake_add_verdict(f, A_SEND, AG_V_SHED);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 200, 300, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_SHED);
	assert_int_equal(r.queued, 1);
	assert_int_equal(r.err, 0); /* the governor said so; we did not time out */
	ag_admission_free(adm);
}

static void test_decide_queued_twice(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_simple(f, AG_MSG_QUEUED);
	add_simple(f, AG_MSG_QUEUED);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_GARBAGE);
	ag_admission_free(adm);
}

static void test_decide_absent(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	char path[200];

	assert_non_null(adm);
	snprintf(path, sizeof(path), "%s/absent.sock", f->dir);
	assert_int_equal(ag_gate_decide(adm, path, &alice, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_ABSENT);
	assert_int_equal(r.err, AG_ERR_CONNECT);
	assert_int_equal(adm->conn.fd, -1);
	ag_admission_free(adm);
}

static void test_decide_backlog_full(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	char path[200];
	int fds[64];
	int n = fill_backlog(f, path, sizeof(path), fds, 64);

	assert_non_null(adm);
	/* Alive but overloaded: a denial, never on_error. */
	assert_int_equal(ag_gate_decide(adm, path, &alice, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_SHED);
	assert_int_equal(r.err, AG_ERR_BUSY);
	assert_int_equal(adm->conn.fd, -1);
	ag_admission_free(adm);
	close_all(fds, n, path);
}

/* The socket's heartbeat (mtime, AG_HEARTBEAT_MS) as of age_ms ago. */
static void heartbeat_age(const char *path, long age_ms)
{
	struct timespec t[2];

	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= age_ms / 1000 + 1;
	t[1] = t[0];
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* No answer and a stale heartbeat: hung, an error (on_error applies). */
static void test_decide_timeout(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	int64_t t0, elapsed;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	fake_start(f);
	heartbeat_age(f->path, AG_HEARTBEAT_STALE_MS);
	t0 = ag_mono_ms();
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 300, 5000, &r), 0);
	elapsed = ag_mono_ms() - t0;
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_TIMEOUT);
	/* Without QUEUED only timeout applies, not queue_wait. */
	assert_true(elapsed >= 300 && elapsed < 300 + 1000);
	assert_int_equal(adm->conn.fd, -1);
	ag_admission_free(adm);
}

/* No answer but a fresh heartbeat: busy, a denial whatever on_error says
 * (shed at DECIDE; at PRECHECK an error marked busy, not fatal). */
static void test_timeout_alive_is_load(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	fake_add(f, A_RECV);
	fake_start(f);
	assert_int_equal(ag_gate_precheck(f->path, &alice, 200, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_BUSY);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 200, 5000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_SHED);
	assert_int_equal(r.fault, AG_FAULT_BUSY);
	assert_int_equal(adm->conn.fd, -1);
	ag_admission_free(adm);
}

static void test_decide_garbage(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	const uint8_t junk[] = "SSH-2.0-OpenSSH_9.2\r\n";

	assert_non_null(adm);
	fake_add(f, A_RECV);
	fake_add_raw(f, junk, sizeof(junk) - 1);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_GARBAGE);
	assert_int_equal(r.err, AG_ERR_VERSION);
	ag_admission_free(adm);
}

static void test_decide_closed(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	fake_add(f, A_CLOSE);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_CLOSED);
	ag_admission_free(adm);
}

static void test_decide_error_reply(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_error(f, AG_ERR_PERM);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_REFUSED);
	assert_int_equal(r.err, AG_ERR_PERM);
	ag_admission_free(adm);
}

static void test_decide_unexpected_ack(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	add_simple(f, AG_MSG_ACK);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	assert_int_equal(r.fault, AG_FAULT_GARBAGE);
	ag_admission_free(adm);
}

static void test_decide_invalid_attempt(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;
	struct ag_attempt at = {"sshd", "", NULL, NULL, NULL};
	struct pollfd p = {f->lfd, POLLIN, 0};
	char longname[AG_NAME_MAX + 2];

	assert_non_null(adm);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	/* Refused before connecting, as a denial: nobody knocked. */
	assert_int_equal(ag_gate_decide(adm, f->path, &at, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_DENY);
	assert_string_equal(r.rule, AG_GATE_RULE_INVALID);
	assert_int_equal(r.err, AG_ERR_INVAL);
	at.user = NULL;
	assert_int_equal(ag_gate_precheck(f->path, &at, 250, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_DENY);
	at.user = longname;
	assert_int_equal(ag_gate_decide(adm, f->path, &at, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_DENY);
	at.user = "alice";
	at.rhost = longname;
	assert_int_equal(ag_gate_decide(adm, f->path, &at, 250, 1000, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_DENY);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(adm->conn.fd, -1);
	/* Exactly AG_NAME_MAX is fine. */
	longname[AG_NAME_MAX] = '\0';
	fake_add(f, A_RECV);
	fake_add_verdict(f, A_SEND, AG_V_DENY);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &at, 1000, 0, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_DENY);
	assert_string_equal(r.rule, "");
	fake_join(f);
	assert_int_equal(strlen(f->seen[0].rhost), AG_NAME_MAX);
	ag_admission_free(adm);
}

static void test_decide_budget_capped(void **state)
{
	struct fake *f = *state;
	struct ag_admission *adm = ag_admission_new();
	struct ag_gate_result r;

	assert_non_null(adm);
	fake_add(f, A_RECV);
	fake_add_verdict(f, A_SEND, AG_V_DENY);
	fake_start(f);
	assert_int_equal(ag_gate_decide(adm, f->path, &alice, 250, AG_BUDGET_MAX, &r), 0);
	assert_int_equal(r.verdict, AG_GATE_DENY);
	fake_join(f);
	assert_int_equal(f->seen[0].budget_ms, AG_BUDGET_MAX);
	ag_admission_free(adm);
}

static void test_decide_null(void **state)
{
	struct ag_gate_result r;

	(void)state;
	assert_int_equal(ag_gate_decide(NULL, "/x", &alice, 1, 1, &r), AG_ERR_INVAL);
	assert_int_equal(r.verdict, AG_GATE_ERROR);
	ag_admission_free(NULL);
}

/* ---- the client address ------------------------------------------------------ */

static void test_rhost(void **state)
{
	static const char *bad[] = {
	    "",
	    "garbage",
	    "203.0.113.9",
	    "203.0.113.9 52144 192.0.2.1",
	    "203.0.113.9 52144 192.0.2.1 22 extra",
	    "203.0.113.9  52144 192.0.2.1 22",
	    " 203.0.113.9 52144 192.0.2.1 22",
	    "203.0.113.9 52144 192.0.2.1 22 ",
	    "evil.example 52144 192.0.2.1 22",
	    "203.0.113.9 65536 192.0.2.1 22",
	    "203.0.113.9 -1 192.0.2.1 22",
	    "203.0.113.9 52144 192.0.2.1 x",
	    "203.0.113.9%eth0 52144 192.0.2.1 22",
	    "fe80::1% 52144 fe80::2 22",
	    "fe80::1%a/b 52144 fe80::2 22",
	    "203.0.113.9\t52144 192.0.2.1 22",
	};
	char out[AG_NAME_MAX + 1];
	char small[8];
	size_t i;

	(void)state;
	assert_int_equal(
	    ag_gate_rhost("203.0.113.9 52144 192.0.2.1 22", "evil.example", out, sizeof(out)), 0);
	assert_string_equal(out, "203.0.113.9");
	assert_int_equal(ag_gate_rhost("2001:db8::7 40000 2001:db8::1 22", NULL, out, sizeof(out)),
			 0);
	assert_string_equal(out, "2001:db8::7");
	assert_int_equal(
	    ag_gate_rhost("fe80::1%eth0 40000 fe80::2%eth0 22", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "fe80::1%eth0");
	assert_int_equal(
	    ag_gate_rhost("::ffff:203.0.113.9 1 ::ffff:192.0.2.1 22", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "::ffff:203.0.113.9");

	/* Malformed: fall back to PAM_RHOST and say so. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ag_gate_rhost(bad[i], "198.51.100.7", out, sizeof(out)), 1);
		assert_string_equal(out, "198.51.100.7");
	}
	assert_int_equal(ag_gate_rhost("junk", NULL, out, sizeof(out)), 1);
	assert_string_equal(out, "");

	/* Absent: PAM_RHOST as it is, or nothing. */
	assert_int_equal(ag_gate_rhost(NULL, "host.example", out, sizeof(out)), 0);
	assert_string_equal(out, "host.example");
	assert_int_equal(ag_gate_rhost(NULL, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "");

	/* Does not fit. */
	assert_int_equal(ag_gate_rhost(NULL, "host.example", small, sizeof(small)), AG_ERR_TOOBIG);
	assert_string_equal(small, "");
	assert_int_equal(ag_gate_rhost(NULL, NULL, NULL, 1), AG_ERR_INVAL);
	assert_int_equal(ag_gate_rhost(NULL, NULL, out, 0), AG_ERR_INVAL);
}

/* ---- the message ------------------------------------------------------------- */

static void check_msg(int verdict, uint32_t ms, const char *want)
{
	char buf[128];

	assert_int_equal(ag_gate_message(verdict, ms, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_message(void **state)
{
	char buf[16];

	(void)state;
	check_msg(AG_GATE_DENY, 1, "Too many attempts. Try again in 1 second.");
	check_msg(AG_GATE_DENY, 1000, "Too many attempts. Try again in 1 second.");
	check_msg(AG_GATE_DENY, 1001, "Too many attempts. Try again in 2 seconds.");
	check_msg(AG_GATE_DENY, 4000, "Too many attempts. Try again in 4 seconds.");
	check_msg(AG_GATE_DENY, 120000, "Too many attempts. Try again in 120 seconds.");
	check_msg(AG_GATE_DENY, 120001, "Too many attempts. Try again in 3 minutes.");
	check_msg(AG_GATE_DENY, 600000, "Too many attempts. Try again in 10 minutes.");
	check_msg(AG_GATE_DENY, 600001, "Too many attempts. Try again in 11 minutes.");
	check_msg(AG_GATE_DENY, UINT32_MAX, "Too many attempts. Try again in 71583 minutes.");
	check_msg(AG_GATE_DENY, 0, "Too many attempts. Try again later.");
	check_msg(AG_GATE_SHED, 1500, "Too many attempts. Try again in 2 seconds.");
	assert_int_equal(ag_gate_message(AG_GATE_ALLOW, 1, buf, sizeof(buf)), AG_ERR_INVAL);
	assert_int_equal(ag_gate_message(AG_GATE_DENY, 1, buf, sizeof(buf)), AG_ERR_TOOBIG);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(ag_gate_message(AG_GATE_DENY, 1, NULL, 10), AG_ERR_INVAL);
}

/* ---- configuration helpers ------------------------------------------------- */

static void test_socket_choice(void **state)
{
	(void)state;
	assert_string_equal(ag_gate_socket("/s", "/c", "/u", 1), "/s");
	assert_string_equal(ag_gate_socket("/s", "/c", "/u", 0), "/s");
	assert_string_equal(ag_gate_socket(NULL, "/c", "/u", 1), "/c");
	assert_string_equal(ag_gate_socket(NULL, "/c", "/u", 0), "/u");
	assert_string_equal(ag_gate_socket(NULL, NULL, NULL, 1), AG_DEFAULT_SOCKET);
	assert_string_equal(ag_gate_socket(NULL, NULL, NULL, 0), AG_DEFAULT_USER_SOCKET);
	assert_null(ag_gate_socket(NULL, "/c", "", 0)); /* user socket off */
	assert_string_equal(ag_gate_socket(NULL, "/c", "", 1), "/c");
}

static void test_args_fallback(void **state)
{
	struct ag_modargs a, defaults;
	char err[AG_ERRBUF];
	const char *none[1] = {NULL};
	const char *typo[] = {"authfail", "timeout=abc"};
	const char *typo_first[] = {"tmeout=100", "authsucc", "debug"};
	const char *two[] = {"authfail", "authsucc"};
	const char *nophase[] = {"bogus"};

	(void)state;
	assert_int_equal(ag_modargs_parse(&defaults, 0, none, err, sizeof(err)), 0);
	assert_int_not_equal(ag_modargs_parse(&a, 2, typo, err, sizeof(err)), 0);
	ag_modargs_free(&a);

	assert_int_equal(ag_gate_args_fallback(&a, 2, typo), 0);
	assert_int_equal(a.phase, AG_PHASE_AUTHFAIL);
	assert_int_equal(a.timeout_ms, defaults.timeout_ms);
	ag_modargs_free(&a);
	assert_int_equal(ag_gate_args_fallback(&a, 3, typo_first), 0);
	assert_int_equal(a.phase, AG_PHASE_AUTHSUCC);
	ag_modargs_free(&a);
	assert_int_equal(ag_gate_args_fallback(&a, 2, two), 0);
	assert_int_equal(a.phase, AG_PHASE_NONE);
	ag_modargs_free(&a);
	assert_int_equal(ag_gate_args_fallback(&a, 1, nophase), 0);
	assert_int_equal(a.phase, AG_PHASE_NONE);
	assert_int_equal(a.on_error, defaults.on_error);
	ag_modargs_free(&a);
	ag_modargs_free(&defaults);
	assert_int_equal(ag_gate_args_fallback(NULL, 0, none), AG_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_precheck_allow, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_precheck_deny, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_precheck_absent, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_precheck_backlog_full, fake_setup, fake_teardown),
	    cmocka_unit_test(test_precheck_null),
	    cmocka_unit_test_setup_teardown(test_decide_allow_report_fail, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_report_pass_then_success, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_report_refused, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_report_garbage_and_bad_outcome, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_report_timeout, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_allow_without_id, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_deny, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_verdict_shed, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_queued_then_allow, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_queued_then_nothing, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_queued_shed_by_governor, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_queued_twice, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_absent, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_backlog_full, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_timeout, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_alive_is_load, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_garbage, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_closed, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_error_reply, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_unexpected_ack, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_invalid_attempt, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_decide_budget_capped, fake_setup, fake_teardown),
	    cmocka_unit_test(test_decide_null),
	    cmocka_unit_test(test_rhost),
	    cmocka_unit_test(test_message),
	    cmocka_unit_test(test_socket_choice),
	    cmocka_unit_test(test_args_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

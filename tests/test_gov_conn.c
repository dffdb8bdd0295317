/* test_gov_conn.c - the governor's handling of connections, over the wire
 * protocol, against a real authguard-governor on temporary sockets (the
 * fixtures of e2e_util.c, without PAM): idle drop, leases, abandons,
 * eviction at max_clients, who may send what where, the user socket's caps,
 * queued waiters that go away, stale sockets, periodic state saves, garbage.
 * Each test says what it guards; timing bounds are the contract's bounds
 * with slack, never speed. */
#include "config.h"
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "ag_client.h"
#include "ag_err.h"
#include "ag_gate.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "e2e_util.h"

static struct e2e E;
static off_t log_mark; /* size of the governor log when this test's governor started */

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

static int gov_up(const char *extra)
{
	e2e_reset_files(&E);
	log_mark = file_size(E.govlog);
	return e2e_gov_start(&E, extra);
}

static int teardown_gov(void **state)
{
	e2e_gov_stop(&E);
	return 0;
}

static int64_t in_ms(int64_t ms)
{
	return ag_mono_ms() + ms;
}

static long long st(const char *key)
{
	return e2e_status(&E, key);
}

/* Polls the status until key equals want or ms pass; returns the last value. */
static long long wait_status(const char *key, long long want, int ms)
{
	int64_t end = in_ms(ms);
	long long v;

	while ((v = st(key)) != want && ag_mono_ms() < end)
		usleep(20 * 1000);
	return v;
}

static void open_conn(struct ag_conn *c, const char *path)
{
	ag_conn_init(c);
	assert_int_equal(ag_conn_open(c, path, in_ms(1000)), 0);
}

/* Sends DECIDE or PRECHECK for user (rhost may be NULL). */
static int send_attempt(struct ag_conn *c, uint8_t type, const char *user, const char *rhost,
			uint32_t budget_ms)
{
	struct ag_msg m;

	ag_msg_init(&m, type);
	ag_msg_set_str(&m, AG_F_SERVICE, "test");
	ag_msg_set_str(&m, AG_F_USER, user);
	ag_msg_set_str(&m, AG_F_RHOST, rhost);
	ag_msg_set_u32(&m, AG_F_BUDGET, budget_ms);
	return ag_conn_send(c, &m, in_ms(1000));
}

static int send_admin(struct ag_conn *c, const char *cmd)
{
	struct ag_msg m;

	ag_msg_init(&m, AG_MSG_ADMIN);
	ag_msg_set_str(&m, AG_F_CMD, cmd);
	return ag_conn_send(c, &m, in_ms(1000));
}

/* Reads until the peer closes, skipping at most one ERROR frame before the
 * close (a governor may say why it closes). Returns the last recv code. */
static int recv_until_closed(struct ag_conn *c, int64_t deadline)
{
	struct ag_msg m;
	int rc, errors = 0;

	while ((rc = ag_conn_recv(c, &m, deadline)) == 0 && m.type == AG_MSG_ERROR && errors++ == 0)
		;
	return rc;
}

/* An admission taken as the module takes one; NULL unless allowed. */
static struct ag_admission *take(const char *path, const char *user, const char *rhost)
{
	struct ag_attempt at = {.service = "test", .user = user, .rhost = rhost};
	struct ag_gate_result res;
	struct ag_admission *adm = ag_admission_new();

	if (adm == NULL)
		return NULL;
	if (ag_gate_decide(adm, path, &at, 1000, 0, &res) != 0 || res.verdict != AG_GATE_ALLOW) {
		ag_admission_free(adm);
		return NULL;
	}
	return adm;
}

/* Runs fn(arg) in a child with uid and gid and no supplementary groups;
 * returns its exit status, or -1 when it did not exit. 100: could not
 * change identity. */
static int as_user(uid_t uid, gid_t gid, int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
			_exit(100);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void need_root(void)
{
	if (geteuid() != 0)
		skip(); /* changing uid needs root; not a way to hide a failure */
}

/* ---- 1. idle drop ---------------------------------------------------------- */

static int setup_idle(void **state)
{
	return gov_up("client_idle = 300ms\n");
}

/* Guards the idle drop: a connection that sends nothing and holds no
 * admission is closed after client_idle (300 ms; the sweep may add its
 * period), so that silent peers cannot keep max_clients full. */
static void test_idle_connection_closed(void **state)
{
	struct ag_conn c;
	int64_t t0;

	open_conn(&c, E.sock);
	t0 = ag_mono_ms();
	assert_int_equal(recv_until_closed(&c, t0 + 300 + 1500), AG_ERR_CLOSED);
	/* not before client_idle (50 ms of slack for the accept) */
	assert_true(ag_mono_ms() - t0 >= 300 - 50);
	ag_conn_close(&c);
}

/* ---- 2. an admission keeps its connection ------------------------------------ */

static int setup_lease_idle(void **state)
{
	return gov_up("client_idle = 300ms\nlease = 1s\n");
}

/* Guards design.md "Admissions": a lease that ends frees the slot, and a
 * report that arrives later on the same connection still counts. So the idle
 * drop must never close a connection that holds an admission, not even once
 * its lease ran out: a slow success would become an abandon (a failure). */
static void test_admission_never_idle_dropped(void **state)
{
	struct ag_admission *a = take(E.sock, "alice", "203.0.113.1");

	assert_non_null(a);
	usleep(2500 * 1000);
	assert_int_equal(ag_gate_report(a, AG_OUT_SUCCESS, 2500, 1000), 0);
	ag_admission_free(a);
	assert_int_equal(st("abandoned"), 0);
	assert_int_equal(st("reports_success"), 1);
}

/* ---- 3. the lease frees the slot ---------------------------------------------- */

static int setup_lease_one_slot(void **state)
{
	return gov_up("lease = 1s\n[overload]\nmax_inflight = 1\ntrusted_reserve = 0%\n"
		      "clean_reserve = 0%\n");
}

/* Guards the lease: an admission that is never reported gives its slot back
 * after `lease` (1 s), and its late report still counts. */
static void test_lease_frees_slot(void **state)
{
	struct ag_admission *first, *third = NULL;
	struct ag_conn c;
	struct ag_msg m;
	int64_t t_first;

	first = take(E.sock, "alice", "203.0.113.1");
	assert_non_null(first);
	t_first = ag_mono_ms();
	/* No slot: the first answer, at once, is QUEUED or shed, never allow. */
	open_conn(&c, E.sock);
	assert_int_equal(send_attempt(&c, AG_MSG_DECIDE, "bob", "203.0.113.2", 2000), 0);
	assert_int_equal(ag_conn_recv(&c, &m, in_ms(500)), 0);
	assert_true(m.type == AG_MSG_QUEUED ||
		    (m.type == AG_MSG_VERDICT && m.verdict == AG_V_SHED));
	ag_conn_close(&c);
	/* After the lease (1 s; 700 ms of slack) a new attempt gets the slot. */
	if (t_first + 1200 > ag_mono_ms())
		usleep((useconds_t)(t_first + 1200 - ag_mono_ms()) * 1000);
	while (third == NULL && ag_mono_ms() < t_first + 1000 + 700) {
		third = take(E.sock, "carol", "203.0.113.3");
		if (third == NULL)
			usleep(100 * 1000);
	}
	assert_non_null(third);
	/* The late report of the first admission is taken and counted. */
	assert_int_equal(ag_gate_report(first, AG_OUT_FAIL, 1200, 1000), 0);
	ag_admission_free(first);
	assert_int_equal(st("reports_fail"), 1);
	assert_int_equal(st("abandoned"), 0);
	assert_int_equal(ag_gate_report(third, AG_OUT_SUCCESS, 1, 1000), 0);
	ag_admission_free(third);
}

/* ---- 4. PASS, then the final report after the lease ------------------------------- */

static int setup_lease(void **state)
{
	return gov_up("lease = 1s\n");
}

/* Guards the authpass path (two-factor stacks): PASS frees the slot and keeps
 * the admission for the final report, which may come after the lease (the
 * user was typing a code) and must count as the outcome, not as an abandon. */
static void test_final_report_after_pass_and_lease(void **state)
{
	struct ag_admission *a = take(E.sock, "alice", "203.0.113.1");

	assert_non_null(a);
	assert_int_equal(ag_gate_report(a, AG_OUT_PASS, 10, 1000), 0);
	assert_true(a->conn.fd >= 0);
	usleep(1500 * 1000);
	assert_int_equal(ag_gate_report(a, AG_OUT_SUCCESS, 1500, 1000), 0);
	ag_admission_free(a);
	assert_int_equal(st("reports_success"), 1);
	assert_int_equal(st("abandoned"), 0);
	assert_int_equal(st("inflight"), 0);
}

/* ---- 5. abandons count --------------------------------------------------------- */

static int setup_long_backoff(void **state)
{
	return gov_up("[limits]\nbackoff_base = 20s\n");
}

/* Guards design.md "Admissions": closing a connection with an unreported
 * admission counts as a failure of its pair, so that killing the client in
 * mid-attempt cannot be used to guess for free. With pair_free_failures 3,
 * the 4th abandon starts a hold (backoff_base 20 s). */
static void test_abandon_counts_as_failure(void **state)
{
	struct ag_attempt at = {.service = "test", .user = "mallory", .rhost = "198.51.100.5"};
	struct ag_gate_result res;
	struct ag_admission *a;

	for (int i = 1; i <= 4; i++) {
		a = take(E.sock, "mallory", "198.51.100.5");
		assert_non_null(a);
		ag_admission_free(a); /* closes without a report */
		assert_int_equal(wait_status("abandoned", i, 2000), i);
	}
	assert_int_equal(st("inflight"), 0);
	a = ag_admission_new();
	assert_non_null(a);
	assert_int_equal(ag_gate_decide(a, E.sock, &at, 1000, 0, &res), 0);
	ag_admission_free(a);
	assert_int_equal(res.verdict, AG_GATE_DENY);
	assert_string_equal(res.rule, "backoff");
	/* the hold, not the 1 s "attempts in flight" retry */
	assert_true(res.retry_ms > 1000);
}

/* ---- 6. eviction at max_clients ---------------------------------------------------- */

static int setup_max_clients(void **state)
{
	return gov_up("max_clients = 16\n");
}

/* Guards eviction at max_clients: idle connections without an admission make
 * room for a new one (the least recently active is closed), so that silent
 * peers cannot lock logins out. */
static void test_idle_clients_evicted_at_limit(void **state)
{
	struct ag_conn c[16];
	struct ag_admission *a;
	int closed = 0;

	for (int i = 0; i < 16; i++)
		open_conn(&c[i], E.sock);
	usleep(300 * 1000);
	a = take(E.sock, "alice", "203.0.113.9");
	assert_non_null(a);
	usleep(200 * 1000);
	for (int i = 0; i < 16; i++) {
		struct pollfd p = {.fd = c[i].fd, .events = POLLIN};

		if (poll(&p, 1, 0) == 1 && recv_until_closed(&c[i], in_ms(200)) == AG_ERR_CLOSED)
			closed++;
		ag_conn_close(&c[i]);
	}
	/* one new connection needs one place */
	assert_int_equal(closed, 1);
	assert_int_equal(ag_gate_report(a, AG_OUT_SUCCESS, 1, 1000), 0);
	ag_admission_free(a);
}

/* ---- 7. PAM and admin traffic do not mix ---------------------------------------- */

static int setup_default(void **state)
{
	return gov_up(NULL);
}

static int refused_code(int code)
{
	/* protocol.md: a refused peer gets AG_ERR_PERM; a request out of
	 * sequence AG_ERR_PROTO. Either is a refusal. */
	return code == AG_ERR_PERM || code == AG_ERR_PROTO;
}

/* Guards design.md "Who may connect": admin requests are refused on a
 * connection that carried PAM traffic, and PAM messages on one that carried
 * admin requests; the governor goes on serving everyone else. */
static void test_admin_and_pam_do_not_mix(void **state)
{
	struct ag_attempt at = {.service = "test", .user = "alice", .rhost = "203.0.113.1"};
	struct ag_gate_result res;
	struct ag_conn c;
	struct ag_msg m;

	open_conn(&c, E.sock);
	assert_int_equal(send_attempt(&c, AG_MSG_PRECHECK, "alice", "203.0.113.1", 1000), 0);
	assert_int_equal(ag_conn_recv(&c, &m, in_ms(1000)), 0);
	assert_int_equal(m.type, AG_MSG_VERDICT);
	assert_int_equal(send_admin(&c, "status"), 0);
	assert_int_equal(ag_conn_recv(&c, &m, in_ms(1000)), 0);
	assert_int_equal(m.type, AG_MSG_ERROR);
	assert_true(refused_code(m.code));
	ag_conn_close(&c);

	open_conn(&c, E.sock);
	assert_int_equal(send_admin(&c, "status"), 0);
	do {
		assert_int_equal(ag_conn_recv(&c, &m, in_ms(1000)), 0);
		assert_int_equal(m.type, AG_MSG_REPLY);
	} while (AG_HAS(&m, AG_F_MORE) && m.more);
	assert_int_equal(send_attempt(&c, AG_MSG_PRECHECK, "alice", "203.0.113.1", 1000), 0);
	assert_int_equal(ag_conn_recv(&c, &m, in_ms(1000)), 0);
	assert_int_equal(m.type, AG_MSG_ERROR);
	assert_true(refused_code(m.code));
	ag_conn_close(&c);

	/* nothing else broke */
	assert_true(st("uptime_s") >= 0);
	assert_int_equal(ag_gate_precheck(E.sock, &at, 1000, &res), 0);
	assert_int_equal(res.verdict, AG_GATE_ALLOW);
}

/* ---- 8. admin requests from non-admins ------------------------------------------- */

static int child_connect_priv(void *arg)
{
	struct ag_conn c;
	int rc;

	ag_conn_init(&c);
	rc = ag_conn_open(&c, E.sock, in_ms(1000));
	ag_conn_close(&c);
	return rc == AG_ERR_PERM || rc == AG_ERR_CONNECT ? 0 : 1;
}

/* 0: both refused with AG_ERR_PERM; 1: reset not refused; 2: explain not
 * refused; 3: no answer at all. */
static int child_admin_priv(void *arg)
{
	static const char *const reset_args[] = {"all"};
	static const char *const explain_args[] = {"mallory", "198.51.100.5"};
	char text[4096];
	int code;

	if (e2e_admin(E.sock, "reset", reset_args, 1, text, sizeof(text), &code) != 0)
		return 3;
	if (code != AG_ERR_PERM)
		return 1;
	if (e2e_admin(E.sock, "explain", explain_args, 2, text, sizeof(text), &code) != 0)
		return 3;
	if (code != AG_ERR_PERM)
		return 2;
	return 0;
}

/* 0: ADMIN refused on the user socket with AG_ERR_PERM; 1: answered; 2: another
 * code; 3: no answer at all. */
static int child_admin_user_socket(void *arg)
{
	char text[4096];
	int code;

	if (e2e_admin(E.usock, "status", NULL, 0, text, sizeof(text), &code) != 0)
		return 3;
	return code == 0 ? 1 : code == AG_ERR_PERM ? 0 : 2;
}

/* Guards who may ask (design.md "Who may connect", governor/admin.c): with
 * no admin_group the privileged socket is root's alone; a non-admin who
 * reaches it anyway (a socket mode loosened by hand) still cannot reset or
 * explain, and nothing is reset; ADMIN on the user socket is refused. */
static void test_admin_refused_for_non_admin(void **state)
{
	static const char *const explain_args[] = {"mallory", "198.51.100.5"};
	struct ag_admission *a;
	char text[4096];
	int code;

	need_root();
	/* a failure on a pair, so that a reset would show */
	a = take(E.sock, "mallory", "198.51.100.5");
	assert_non_null(a);
	assert_int_equal(ag_gate_report(a, AG_OUT_FAIL, 1, 1000), 0);
	ag_admission_free(a);

	assert_int_equal(as_user(65534, 65534, child_connect_priv, NULL), 0);
	assert_int_equal(chmod(E.sock, 0666), 0);
	assert_int_equal(as_user(65534, 65534, child_admin_priv, NULL), 0);
	assert_int_equal(as_user(65534, 65534, child_admin_user_socket, NULL), 0);

	assert_int_equal(e2e_admin(E.sock, "explain", explain_args, 2, text, sizeof(text), &code),
			 0);
	assert_int_equal(code, 0);
	assert_non_null(strstr(text, "failures=1"));
}

/* ---- 9. the user socket's caps --------------------------------------------------- */

/* Opens 10 connections to the user socket, then sends PRECHECK on each;
 * returns how many got a VERDICT. */
static int child_ten_conns(void *arg)
{
	struct ag_conn c[10];
	struct ag_msg m;
	int served = 0;

	for (int i = 0; i < 10; i++) {
		ag_conn_init(&c[i]);
		(void)!ag_conn_open(&c[i], E.usock, in_ms(1000));
	}
	usleep(100 * 1000);
	for (int i = 0; i < 10; i++) {
		if (c[i].fd < 0)
			continue;
		/* a refused connection may already be closed: read its answer anyway */
		(void)send_attempt(&c[i], AG_MSG_PRECHECK, "alice", NULL, 1000);
		if (ag_conn_recv(&c[i], &m, in_ms(1000)) == 0 && m.type == AG_MSG_VERDICT)
			served++;
	}
	for (int i = 0; i < 10; i++)
		ag_conn_close(&c[i]);
	return served;
}

/* Guards design.md "What the user socket costs": at most user_max_conns (8)
 * connections per uid, so that one local user cannot take max_clients. */
static void test_user_socket_conn_cap(void **state)
{
	need_root();
	assert_int_equal(as_user(65534, 65534, child_ten_conns, NULL), 8);
}

static int setup_user_one_slot(void **state)
{
	return gov_up("user_slots = 1\nuser_max_admissions = 2\n");
}

struct holder_pipes {
	int ready[2], done[2];
};

/* Takes one admission on the user socket, says so, holds it until told. */
static int child_hold_user_slot(void *arg)
{
	struct holder_pipes *p = arg;
	struct ag_admission *a = take(E.usock, "alice", NULL);
	char ch = a != NULL ? 'y' : 'n';

	if (write(p->ready[1], &ch, 1) != 1)
		return 2;
	if (read(p->done[0], &ch, 1) != 1)
		return 3;
	if (a != NULL && ag_gate_report(a, AG_OUT_SUCCESS, 1, 1000) != 0)
		return 4;
	ag_admission_free(a);
	return a != NULL ? 0 : 1;
}

/* 0: the first answer was VERDICT shed; 1 QUEUED; 2 allow; 3 deny or other;
 * 4 no answer. */
static int child_decide_user_socket(void *arg)
{
	struct ag_conn c;
	struct ag_msg m;
	int rc;

	ag_conn_init(&c);
	if (ag_conn_open(&c, E.usock, in_ms(1000)) != 0 ||
	    send_attempt(&c, AG_MSG_DECIDE, "bob", NULL, 2000) != 0)
		return 4;
	rc = ag_conn_recv(&c, &m, in_ms(1000));
	ag_conn_close(&c);
	if (rc != 0)
		return 4;
	if (m.type == AG_MSG_QUEUED)
		return 1;
	if (m.type != AG_MSG_VERDICT)
		return 3;
	return m.verdict == AG_V_SHED ? 0 : m.verdict == AG_V_ALLOW ? 2 : 3;
}

/* Guards design.md "What the user socket costs": its small pool (user_slots)
 * never queues; a second uid finding it full is shed at once, even with a
 * budget that would allow a wait. */
static void test_user_socket_never_queues(void **state)
{
	struct holder_pipes p;
	int status;
	pid_t holder;
	char ch = 0;

	need_root();
	assert_int_equal(pipe(p.ready), 0);
	assert_int_equal(pipe(p.done), 0);
	holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
			_exit(100);
		_exit(child_hold_user_slot(&p));
	}
	assert_int_equal(read(p.ready[0], &ch, 1), 1);
	assert_int_equal(ch, 'y');
	assert_int_equal(as_user(65533, 65533, child_decide_user_socket, NULL), 0);
	assert_int_equal(write(p.done[1], "x", 1), 1);
	assert_int_equal(waitpid(holder, &status, 0), holder);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (int i = 0; i < 2; i++) {
		close(p.ready[i]);
		close(p.done[i]);
	}
}

/* ---- 10. a waiter that goes away ---------------------------------------------- */

static int setup_one_slot(void **state)
{
	return gov_up("[overload]\nmax_inflight = 1\ntrusted_reserve = 0%\nclean_reserve = 0%\n"
		      "codel_target = 5s\ncodel_interval = 5s\n");
}

static long long queued_now(void)
{
	return st("queued_trusted") + st("queued_clean") + st("queued_failing");
}

/* Guards: a queued DECIDE whose connection closes leaves its queue at once,
 * so that the slot freed next goes to a live attempt (not to a dead
 * connection until its lease) and the queue does not count it. */
static void test_closed_waiter_dropped(void **state)
{
	struct ag_attempt at = {.service = "test", .user = "carol", .rhost = "203.0.113.3"};
	struct ag_admission *holder, *fresh;
	struct ag_gate_result res;
	struct ag_conn c;
	struct ag_msg m;

	holder = take(E.sock, "alice", "203.0.113.1");
	assert_non_null(holder);
	open_conn(&c, E.sock);
	assert_int_equal(send_attempt(&c, AG_MSG_DECIDE, "bob", "203.0.113.2", 3000), 0);
	assert_int_equal(ag_conn_recv(&c, &m, in_ms(1000)), 0);
	assert_int_equal(m.type, AG_MSG_QUEUED);
	assert_int_equal(queued_now(), 1);
	ag_conn_close(&c);
	usleep(100 * 1000);
	assert_int_equal(ag_gate_report(holder, AG_OUT_SUCCESS, 1, 1000), 0);
	ag_admission_free(holder);
	assert_int_equal(queued_now(), 0);
	assert_int_equal(st("inflight"), 0);
	fresh = ag_admission_new();
	assert_non_null(fresh);
	assert_int_equal(ag_gate_decide(fresh, E.sock, &at, 1000, 0, &res), 0);
	assert_int_equal(res.verdict, AG_GATE_ALLOW);
	assert_int_equal(res.queued, 0);
	assert_int_equal(ag_gate_report(fresh, AG_OUT_SUCCESS, 1, 1000), 0);
	ag_admission_free(fresh);
}

/* ---- 11. a stale socket file ------------------------------------------------------ */

static int setup_stopped(void **state)
{
	e2e_reset_files(&E);
	log_mark = file_size(E.govlog);
	return 0;
}

/* Binds a Unix socket at path and closes it: a file nobody listens on. */
static void make_stale(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat sb;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
}

/* Guards start-up after a crash: socket files nobody listens on (left by a
 * killed governor) are replaced, not a reason to refuse to start. */
static void test_stale_socket_replaced(void **state)
{
	struct ag_attempt at = {.service = "test", .user = "alice", .rhost = "203.0.113.1"};
	struct ag_gate_result res;

	make_stale(E.sock);
	make_stale(E.usock);
	assert_int_equal(e2e_gov_start(&E, NULL), 0);
	assert_true(st("uptime_s") >= 0);
	assert_int_equal(ag_gate_precheck(E.sock, &at, 1000, &res), 0);
	assert_int_equal(res.verdict, AG_GATE_ALLOW);
	assert_int_equal(ag_gate_precheck(E.usock, &at, 1000, &res), 0);
	assert_int_equal(res.verdict, AG_GATE_ALLOW);
}

/* ---- 12. periodic state saves -------------------------------------------------- */

static int setup_state_interval(void **state)
{
	return gov_up("state_interval = 1s\n");
}

/* Whether the state file holds needle, within ms. */
static int state_has(const char *needle, int ms)
{
	int64_t end = in_ms(ms);
	char buf[65536];

	do {
		FILE *f = fopen(E.state, "r");

		if (f != NULL) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);

			fclose(f);
			buf[n] = '\0';
			if (n > 0 && strstr(buf, needle) != NULL)
				return 1;
		}
		usleep(50 * 1000);
	} while (ag_mono_ms() < end);
	return 0;
}

static void fail_once(const char *user, const char *rhost)
{
	struct ag_admission *a = take(E.sock, user, rhost);

	assert_non_null(a);
	assert_int_equal(ag_gate_report(a, AG_OUT_FAIL, 1, 1000), 0);
	ag_admission_free(a);
}

/* Guards periodic persistence: the state is written every state_interval
 * while the governor runs (no SIGTERM), so that a crash loses at most that
 * much; and again after the first time. Names are stored as hex. */
static void test_state_written_periodically(void **state)
{
	int status;

	fail_once("mallory", "198.51.100.5");
	assert_true(state_has("6d616c6c6f7279", 3000)); /* "mallory" */
	assert_int_equal(waitpid(E.gov, &status, WNOHANG), 0);
	fail_once("eve", "198.51.100.6");
	assert_true(state_has("657665", 3000)); /* "eve" */
	assert_int_equal(waitpid(E.gov, &status, WNOHANG), 0);
}

/* ---- 13. garbage ------------------------------------------------------------ */

static int log_lines_since_mark(void)
{
	FILE *f = fopen(E.govlog, "r");
	int c, n = 0;

	if (f == NULL)
		return 0;
	if (fseeko(f, log_mark, SEEK_SET) == 0)
		while ((c = fgetc(f)) != EOF)
			n += c == '\n';
	fclose(f);
	return n;
}

/* Guards protocol.md "Garbage": a frame that does not decode gets ERROR and
 * the connection is closed; the governor keeps answering; and a flood of
 * garbage cannot flood the log (under 50 lines for 200 bad connections, the
 * governor's own start-up lines included). */
static void test_garbage_closed_and_log_bounded(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} junk[] = {
	    {"\x02\x01\x00\x00", 4},		 /* another version */
	    {"\x01\x7f\x00\x00", 4},		 /* unknown type */
	    {"\x01\x01\x10\x00", 4},		 /* payload over the limit */
	    {"\x01\x01\x00\x03\x63\x00\x00", 7}, /* unknown tag */
	    {"\x01\x10\x00\x00", 4},		 /* a governor-only type */
	};
	struct ag_attempt at = {.service = "test", .user = "alice", .rhost = "203.0.113.1"};
	struct ag_gate_result res;
	int errors = 0, closed = 0, lines;

	for (int i = 0; i < 200; i++) {
		const size_t k = (size_t)i % (sizeof(junk) / sizeof(junk[0]));
		struct ag_conn c;
		struct ag_msg m;

		open_conn(&c, E.sock);
		assert_int_equal(send(c.fd, junk[k].bytes, junk[k].len, MSG_NOSIGNAL),
				 (ssize_t)junk[k].len);
		if (ag_conn_recv(&c, &m, in_ms(1000)) == 0 && m.type == AG_MSG_ERROR && m.code < 0)
			errors++;
		if (ag_conn_recv(&c, &m, in_ms(1000)) == AG_ERR_CLOSED)
			closed++;
		ag_conn_close(&c);
	}
	assert_int_equal(errors, 200);
	assert_int_equal(closed, 200);
	assert_true(st("uptime_s") >= 0);
	assert_int_equal(ag_gate_precheck(E.sock, &at, 1000, &res), 0);
	assert_int_equal(res.verdict, AG_GATE_ALLOW);
	lines = log_lines_since_mark();
	print_message("governor log lines for 200 bad connections: %d\n", lines);
	assert_true(lines < 50);
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown_gov)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_idle_connection_closed, setup_idle),
	    T(test_admission_never_idle_dropped, setup_lease_idle),
	    T(test_lease_frees_slot, setup_lease_one_slot),
	    T(test_final_report_after_pass_and_lease, setup_lease),
	    T(test_abandon_counts_as_failure, setup_long_backoff),
	    T(test_idle_clients_evicted_at_limit, setup_max_clients),
	    T(test_admin_and_pam_do_not_mix, setup_default),
	    T(test_admin_refused_for_non_admin, setup_default),
	    T(test_user_socket_conn_cap, setup_default),
	    T(test_user_socket_never_queues, setup_user_one_slot),
	    T(test_closed_waiter_dropped, setup_one_slot),
	    T(test_stale_socket_replaced, setup_stopped),
	    T(test_state_written_periodically, setup_state_interval),
	    T(test_garbage_closed_and_log_bounded, setup_default),
	};
	int rc = e2e_init_dir(&E);

	if (rc != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (rc == 0)
		e2e_remove_dir(&E);
	else
		fprintf(stderr, "governor log kept: %s\n", E.govlog);
	return rc;
}

/* test_pam_e2e.c - end to end: the shipped PAM stacks (etc/pam.d) run through
 * pam_wrapper + libpamtest against a real governor on temporary sockets.
 * The backend is tests/pam_agtest.so (it logs each call, so a test can prove
 * that a denied attempt never reached it) or pam_wrapper's pam_matrix. */
#include "config.h"
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <security/pam_appl.h>
#include "e2e_util.h"
#include "ag_err.h"
#include "ag_gate.h"
#include "ag_client.h"

static struct e2e E;

/* Governor settings per test: the defaults but a long backoff base, so that a
 * hold cannot end while a test looks at it. */
#define BASE_LIMITS "[limits]\nbackoff_base = 20s\n"

static int gov_up(const char *extra)
{
	e2e_reset_files(&E);
	return e2e_gov_start(&E, extra);
}

static int setup_default(void **state)
{
	return gov_up(BASE_LIMITS);
}

static int teardown_gov(void **state)
{
	e2e_gov_stop(&E);
	return 0;
}

/* 1 if the governor's log (shared by the whole run) contains text. */
static int log_has(const char *text)
{
	char buf[1 << 16];
	FILE *f = fopen(E.govlog, "r");
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(buf, sizeof(buf), f) != NULL)
		found = strstr(buf, text) != NULL;
	fclose(f);
	return found;
}

static void login(const char *svc, const char *user, const char *pw, const char *rhost,
                  struct e2e_login *r)
{
	e2e_login(&E, svc, user, pw, rhost, NULL, NULL, r);
}

/* Fails `n` logins of user from rhost with a wrong password. */
static void fail_n(const char *svc, const char *user, const char *rhost, int n)
{
	struct e2e_login r;

	for (int i = 0; i < n; i++) {
		login(svc, user, "wrong", rhost, &r);
		assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	}
}

static void test_allowed_login(void **state)
{
	struct e2e_login r;

	login("sshd", "alice", "correct horse", "203.0.113.9", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(r.acct_rv, PAM_SUCCESS);
	assert_int_equal(r.prompts, 1);
	assert_int_equal(e2e_backend_calls(&E), 1);
}

static void test_denied_never_reaches_backend(void **state)
{
	struct e2e_login r;

	/* Three free failures, the fourth attempt still reaches the backend and
	 * its failure starts the hold; the fifth is denied before the backend. */
	fail_n("sshd", "mallory", "198.51.100.7", 4);
	assert_int_equal(e2e_backend_calls(&E), 4);
	login("sshd", "mallory", "nope", "198.51.100.7", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	assert_int_equal(e2e_backend_calls(&E), 4);
	/* precheck: a held user is not asked to type a password in vain */
	assert_int_equal(r.prompts, 0);
	assert_non_null(strstr(r.info, "Too many attempts"));
	/* the same user from another address is not held by this pair */
	login("sshd", "mallory", "nope", "198.51.100.8", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(e2e_backend_calls(&E), 5);
}

static void test_noprecheck_prompts_but_denies(void **state)
{
	struct e2e_login r;

	fail_n("sshd", "mallory", "198.51.100.7", 4);
	login("sshd-noprecheck", "mallory", "nope", "198.51.100.7", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	assert_int_equal(r.prompts, 1);
	assert_int_equal(e2e_backend_calls(&E), 4);
}

static void test_silent_says_nothing(void **state)
{
	struct e2e_login r;

	fail_n("sshd", "mallory", "198.51.100.7", 4);
	login("sshd-silent", "mallory", "nope", "198.51.100.7", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	assert_string_equal(r.info, "");
}

static int setup_short_backoff(void **state)
{
	return gov_up("[limits]\nbackoff_base = 400ms\nbackoff_max = 10s\n");
}

static void test_backoff_grows_and_clears(void **state)
{
	struct e2e_login r;

	fail_n("sshd", "bob", "203.0.113.20", 4); /* hold 1: 400ms +-20% */
	login("sshd", "bob", "hunter2", "203.0.113.20", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	usleep(700 * 1000);
	fail_n("sshd", "bob", "203.0.113.20", 1); /* hold 2: 800ms +-20% */
	usleep(500 * 1000);
	login("sshd", "bob", "hunter2", "203.0.113.20", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR); /* still inside the doubled hold */
	usleep(1000 * 1000);
	login("sshd", "bob", "hunter2", "203.0.113.20", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	/* a success after failures always gets its own log line */
	assert_true(log_has("success after failures user=bob source=203.0.113.20/32 failures=5"));
	/* the success cleared the failures: three free failures again */
	fail_n("sshd", "bob", "203.0.113.20", 3);
	login("sshd", "bob", "hunter2", "203.0.113.20", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
}

static int setup_attack(void **state)
{
	return gov_up("[limits]\nbackoff_base = 20s\nuser_max_failures = 10\n"
	              "cap_hold_base = 1m\n");
}

static void test_trusted_pair_survives_attack(void **state)
{
	struct e2e_login r;
	char addr[64];
	int denied = 0, calls_before;

	login("sshd", "alice", "correct horse", "192.0.2.10", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	/* 30 addresses hammer alice with wrong passwords, 3 attempts each */
	calls_before = e2e_backend_calls(&E);
	for (int a = 1; a <= 30; a++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", a);
		for (int i = 0; i < 3; i++) {
			login("sshd", "alice", "guess", addr, &r);
			assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
		}
	}
	denied = 90 - (e2e_backend_calls(&E) - calls_before);
	/* user_rate's failing budget (burst 5) stops most of them */
	assert_true(denied >= 60);
	/* alice from her usual address gets in */
	login("sshd", "alice", "correct horse", "192.0.2.10", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(r.acct_rv, PAM_SUCCESS);
	/* and so does alice from a new, clean address: the failing sources
	 * could not drain the clean budget */
	login("sshd", "alice", "correct horse", "198.51.100.99", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
}

static int setup_user_cap(void **state)
{
	return gov_up("[limits]\nbackoff_base = 20s\nuser_max_failures = 4\n"
	              "user_rate = 1000/min\nuser_burst = 1000\n");
}

/* After user_max_failures untrusted failures, a user-wide hold stops
 * untrusted sources, even with the right password; trusted pairs go on. */
static void test_user_cap_spares_trusted(void **state)
{
	struct e2e_login r;
	char addr[64];

	login("sshd", "alice", "correct horse", "192.0.2.10", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	for (int a = 1; a <= 5; a++) { /* five /24s: no backoff, no source limit */
		snprintf(addr, sizeof(addr), "203.0.%d.1", a);
		login("sshd", "alice", "guess", addr, &r);
		assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	}
	assert_int_equal(e2e_backend_calls(&E), 6);
	login("sshd", "alice", "correct horse", "198.51.100.99", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	assert_int_equal(e2e_backend_calls(&E), 6);
	assert_non_null(strstr(r.info, "Too many attempts"));
	login("sshd", "alice", "correct horse", "192.0.2.10", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	/* that success cleared the cap */
	login("sshd", "alice", "correct horse", "198.51.100.99", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
}

/* Rates out of the way, so that only failure counting is looked at. */
static int setup_loose_rates(void **state)
{
	return gov_up("[limits]\nbackoff_base = 20s\nuser_rate = 1000/min\nuser_burst = 1000\n"
	              "source_rate = 1000/min\nsource_burst = 1000\n");
}

static void test_unavailable_backend_not_counted(void **state)
{
	struct e2e_login r;

	assert_int_equal(e2e_write(E.ctl, "unavail\n"), 0);
	for (int i = 0; i < 6; i++) {
		login("sshd", "bob", "hunter2", "203.0.113.50", &r);
		assert_int_equal(r.auth_rv, PAM_AUTHINFO_UNAVAIL);
	}
	assert_int_equal(e2e_write(E.ctl, "system_err\n"), 0);
	for (int i = 0; i < 4; i++) {
		login("sshd", "bob", "hunter2", "203.0.113.50", &r);
		assert_int_not_equal(r.auth_rv, PAM_SUCCESS);
	}
	assert_int_equal(e2e_backend_calls(&E), 10);
	unlink(E.ctl);
	login("sshd", "bob", "hunter2", "203.0.113.50", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(e2e_backend_calls(&E), 11);
}

static void test_governor_down_open(void **state)
{
	struct e2e_login r;

	e2e_gov_stop(&E);
	login("sshd-open", "alice", "correct horse", "203.0.113.9", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(r.acct_rv, PAM_SUCCESS);
	/* timeout=300: an absent governor costs at most that (700 ms of slack) */
	assert_true(r.elapsed_ms < 300 + 700);
	login("sshd-open", "alice", "wrong", "203.0.113.9", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
}

static void test_governor_down_closed(void **state)
{
	struct e2e_login r;

	e2e_gov_stop(&E);
	login("sshd-closed", "alice", "correct horse", "203.0.113.9", &r);
	assert_int_equal(r.auth_rv, PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(e2e_backend_calls(&E), 0);
	assert_true(r.elapsed_ms < 300 + 700);
}

/* Hung: paused, and its heartbeat older than AG_HEARTBEAT_STALE_MS. */
static void test_governor_hung_open(void **state)
{
	struct e2e_login r;

	e2e_gov_pause(&E, 1);
	e2e_gov_heartbeat_age(&E, 10000);
	login("sshd-open", "alice", "correct horse", "203.0.113.9", &r);
	e2e_gov_pause(&E, 0);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	/* timeout=300: the precheck times out once and on_error applies at
	 * once, without a DECIDE after the prompt (700 ms of slack) */
	assert_true(r.elapsed_ms >= 250);
	assert_true(r.elapsed_ms < 300 + 700);
}

static void test_governor_hung_closed(void **state)
{
	struct e2e_login r;

	e2e_gov_pause(&E, 1);
	e2e_gov_heartbeat_age(&E, 10000);
	login("sshd-closed", "alice", "correct horse", "203.0.113.9", &r);
	e2e_gov_pause(&E, 0);
	assert_int_equal(r.auth_rv, PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(e2e_backend_calls(&E), 0);
	assert_true(r.elapsed_ms < 300 + 700);
}

/* Busy, not hung: no answer in time, but its heartbeat is fresh (a flood
 * starving it of CPU looks like this). Even with on_error=open that is a
 * denial and the backend is not called: opening the gate there would let
 * the flood through when it is largest. Precheck and decide each wait
 * their timeout (300 ms; 700 ms of slack). */
static void test_governor_busy_denies(void **state)
{
	struct e2e_login r;

	e2e_gov_pause(&E, 1);
	e2e_gov_heartbeat_age(&E, 0);
	login("sshd-open", "alice", "correct horse", "203.0.113.9", &r);
	e2e_gov_pause(&E, 0);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	assert_int_equal(e2e_backend_calls(&E), 0);
	assert_true(r.elapsed_ms >= 2 * 250);
	assert_true(r.elapsed_ms < 2 * 300 + 700);
}

static void test_bad_argument_fails_closed(void **state)
{
	struct e2e_login r;

	login("sshd-badarg", "alice", "correct horse", "203.0.113.9", &r);
	assert_int_equal(r.auth_rv, PAM_SERVICE_ERR);
	assert_int_equal(e2e_backend_calls(&E), 0);
}

/* Takes an admission over the protocol, as a module would, and keeps it. */
static struct ag_admission *hold_slot(const char *user, const char *rhost)
{
	struct ag_attempt at = { .service = "test", .user = user, .rhost = rhost };
	struct ag_gate_result res;
	struct ag_admission *adm = ag_admission_new();

	if (adm == NULL)
		return NULL;
	if (ag_gate_decide(adm, E.sock, &at, 1000, 0, &res) != 0 || res.verdict != AG_GATE_ALLOW) {
		ag_admission_free(adm);
		return NULL;
	}
	return adm;
}

static int setup_client_limit(void **state)
{
	return gov_up("max_clients = 16\n[overload]\nmax_inflight = 64\n");
}

static void test_client_limit_sheds(void **state)
{
	struct ag_admission *held[16];
	struct e2e_login r;
	char user[32], addr[32];

	for (int i = 0; i < 16; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		snprintf(addr, sizeof(addr), "203.0.113.%d", 100 + i);
		held[i] = hold_slot(user, addr);
		assert_non_null(held[i]);
	}
	login("sshd", "alice", "correct horse", "192.0.2.1", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	assert_int_equal(e2e_backend_calls(&E), 0);
	for (int i = 0; i < 16; i++)
		ag_admission_free(held[i]);
	usleep(200 * 1000);
	login("sshd", "alice", "correct horse", "192.0.2.1", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
}

static int setup_reserves(void **state)
{
	/* 4 slots: 1 kept for trusted pairs, 1 for clean sources, so failing
	 * sources may hold 2, clean 3, trusted all 4. Queue waits are short. */
	return gov_up("[limits]\nbackoff_base = 20s\n[overload]\nmax_inflight = 4\n"
	              "trusted_reserve = 25%\nclean_reserve = 25%\ncodel_target = 50ms\n"
	              "codel_interval = 50ms\n");
}

/* Attackers from failing sources hold every slot they may while alice logs
 * in: the reserves keep a slot for a clean source and one for her trusted
 * pair, and the failing class is held to its share. */
static void test_reserves_under_concurrent_attack(void **state)
{
	struct ag_admission *held[3] = { NULL, NULL, NULL };
	struct ag_admission *extra;
	struct e2e_login r;

	login("sshd", "alice", "correct horse", "192.0.2.10", &r); /* trusted from now */
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	fail_n("sshd", "mallory", "203.0.113.1", 1); /* 203.0.113.0/24 is failing now */
	held[0] = hold_slot("eve", "203.0.113.2");
	held[1] = hold_slot("trudy", "203.0.113.3");
	assert_non_null(held[0]);
	assert_non_null(held[1]);
	/* a third failing-class attempt finds no slot of its class */
	extra = hold_slot("oscar", "203.0.113.4");
	assert_null(extra);
	/* a clean source still gets the clean reserve */
	held[2] = hold_slot("bob", "198.51.100.50");
	assert_non_null(held[2]);
	/* and alice's trusted pair the last slot, with her password checked */
	login("sshd", "alice", "correct horse", "192.0.2.10", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	for (int i = 0; i < 3; i++)
		ag_admission_free(held[i]);
}

static int setup_one_slot(void **state)
{
	e2e_reset_files(&E);
	assert_int_equal(e2e_write(E.ctl, "ok delay=300\n"), 0);
	return e2e_gov_start(&E, "[limits]\nsource_burst = 2\nsource_rate = 1/h\n"
	                         "[overload]\nmax_inflight = 1\ntrusted_reserve = 0%\n"
	                         "clean_reserve = 0%\ncodel_target = 5s\ncodel_interval = 5s\n");
}

/* Two attempts from one source queue behind a held slot; the source budget
 * has one token left. The first one served spends it; the second is checked
 * again when it leaves the queue and is denied by source_rate. */
static void test_queued_attempts_rechecked(void **state)
{
	struct ag_admission *holder;
	pid_t kids[2];
	int ok = 0, denied = 0;

	unlink(E.calls);
	holder = hold_slot("holder", "198.51.100.20");
	assert_non_null(holder);
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct e2e_login r;

			e2e_login(&E, "sshd", i == 0 ? "bob" : "carol", i == 0 ? "hunter2" : "s3cret",
			          "198.51.100.20", NULL, NULL, &r);
			_exit(r.auth_rv == PAM_SUCCESS ? 0 : 1);
		}
		usleep(100 * 1000);
	}
	usleep(200 * 1000);
	assert_int_equal(ag_gate_report(holder, AG_OUT_FAIL, 10, 1000), 0);
	ag_admission_free(holder);
	for (int i = 0; i < 2; i++) {
		int status;

		assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
		else
			denied++;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(denied, 1);
	assert_int_equal(e2e_backend_calls(&E), 1);
}

static void test_two_backend_stack(void **state)
{
	struct e2e_login r;

	login("two-backend", "dave", "directory-pw", "203.0.113.30", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(r.prompts, 1); /* one password for both backends */
	assert_int_equal(e2e_backend_calls(&E), 2); /* unix: unknown, then sss */
	login("two-backend", "alice", "correct horse", "203.0.113.30", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(e2e_backend_calls(&E), 3); /* unix only */
	/* wrong directory password: a failure, counted; held after 3 free */
	fail_n("two-backend", "dave", "203.0.113.31", 4);
	login("two-backend", "dave", "directory-pw", "203.0.113.31", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	assert_int_equal(e2e_backend_calls(&E), 3 + 8);
}

static void test_two_factor_stack(void **state)
{
	struct e2e_login r;

	e2e_login(&E, "two-factor", "alice", "correct horse", "203.0.113.40", NULL, "123456", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(r.acct_rv, PAM_SUCCESS);
	assert_int_equal(r.prompts, 2);
	/* the right password with a wrong code is a failure of the pair */
	for (int i = 0; i < 4; i++) {
		e2e_login(&E, "two-factor", "bob", "hunter2", "203.0.113.41", NULL, "000000", &r);
		assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	}
	e2e_login(&E, "two-factor", "bob", "hunter2", "203.0.113.41", NULL, "123456", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	assert_int_equal(r.prompts, 0);
}

static void test_ssh_connection_is_the_source(void **state)
{
	struct e2e_login r;

	for (int i = 0; i < 4; i++) {
		e2e_login(&E, "sshd", "carol", "x", "proxy.example", "198.51.100.77 52222 10.0.0.1 22",
		          NULL, &r);
		assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	}
	login("sshd", "carol", "s3cret", "198.51.100.77", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR); /* held: same source */
	login("sshd", "carol", "s3cret", "proxy.example", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
}

static void test_sudo_and_login_stacks(void **state)
{
	struct e2e_login r;

	login("sudo", "alice", "correct horse", NULL, &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	login("login", "bob", "hunter2", NULL, &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	fail_n("sudo", "carol", NULL, 4);
	login("sudo", "carol", "s3cret", NULL, &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
}

/* pam_wrapper's pam_matrix as the backend. It always prompts on its own (it
 * ignores the PAM_AUTHTOK preauth read, unlike pam_unix use_first_pass), so
 * the user is asked twice; the gate works the same. */
static void test_pam_matrix_backend(void **state)
{
	struct e2e_login r;

	login("sshd-matrix", "alice", "correct horse", "203.0.113.60", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(r.prompts, 2);
	fail_n("sshd-matrix", "alice", "203.0.113.61", 4);
	login("sshd-matrix", "alice", "correct horse", "203.0.113.61", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
}

static void test_state_survives_restart(void **state)
{
	struct e2e_login r;

	fail_n("sshd", "mallory", "198.51.100.9", 4);
	assert_int_equal(e2e_gov_stop(&E), 0);
	assert_int_equal(access(E.state, F_OK), 0);
	assert_int_equal(e2e_gov_start(&E, BASE_LIMITS), 0);
	login("sshd", "mallory", "nope", "198.51.100.9", &r);
	assert_int_equal(r.auth_rv, PAM_AUTH_ERR);
	assert_int_equal(e2e_backend_calls(&E), 4);
}

static int setup_user_socket(void **state)
{
	return gov_up(BASE_LIMITS "[governor]\nuser_slots = 4\nuser_max_admissions = 2\n");
}

/* An unprivileged peer on the user socket is its own uid, whatever name it
 * claims, and cannot take more than its share of the user pool. */
static void test_user_socket_is_uid(void **state)
{
	struct e2e_login r;
	int status;
	pid_t kid = fork();

	assert_true(kid >= 0);
	if (kid == 0) {
		struct ag_admission *c[4];
		int allowed = 0;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(10);
		for (int i = 0; i < 4; i++) {
			struct ag_attempt at = { .service = "locker", .user = "alice" };
			struct ag_gate_result res;

			c[i] = ag_admission_new();
			if (c[i] != NULL && ag_gate_decide(c[i], E.usock, &at, 1000, 0, &res) == 0 &&
			    res.verdict == AG_GATE_ALLOW)
				allowed++;
		}
		/* report failures for "alice": they must land on uid:65534 */
		for (int i = 0; i < 4; i++)
			if (c[i] != NULL && c[i]->conn.fd >= 0 &&
			    ag_gate_report(c[i], AG_OUT_FAIL, 1, 1000) != 0)
				_exit(30);
		_exit(allowed == 2 ? 0 : 20 + allowed);
	}
	assert_int_equal(waitpid(kid, &status, 0), kid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* alice on the privileged socket is untouched by what uid 65534 did */
	fail_n("sshd", "alice", NULL, 3);
	login("sshd", "alice", "correct horse", NULL, &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
}

/* ---- the account phase, retries, setcred ---------------------------------- */

/* Guards pam_sm_acct_mgmt: on a stack without report lines, reaching account
 * means the auth stack passed, and account reports the open admission as a
 * success. Without that the admission would be abandoned at pam_end (a
 * failure of the pair). */
static void test_account_reports_success(void **state)
{
	struct e2e_login r;

	login("acct-only", "alice", "correct horse", "203.0.113.70", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(r.acct_rv, PAM_SUCCESS);
	assert_int_equal(e2e_status(&E, "reports_success"), 1);
	assert_int_equal(e2e_status(&E, "abandoned"), 0);
	assert_int_equal(e2e_status(&E, "inflight"), 0);
}

/* A listening socket at path that never accepts: whoever connects can be
 * seen, and would wait for an answer that never comes. */
static int silent_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Guards: on the usual stacks authsucc has reported, so the account phase
 * finds the admission reported and does no I/O at all: after the governor
 * went away (a silent socket in its place) account still says PAM_SUCCESS,
 * nothing connects, and it does not wait for the module's timeout (250 ms). */
static void test_account_no_io_after_report(void **state)
{
	struct e2e_pam *p = e2e_pam_open(&E, "sshd", "alice", "correct horse", "203.0.113.71");
	long start;
	int fd, rv, peer;

	assert_non_null(p);
	assert_int_equal(e2e_pam_run(p, E2E_AUTH), PAM_SUCCESS);
	assert_int_equal(e2e_status(&E, "reports_success"), 1);
	e2e_gov_stop(&E);
	fd = silent_listener(E.sock);
	assert_true(fd >= 0);
	start = e2e_now_ms();
	rv = e2e_pam_run(p, E2E_ACCT);
	assert_true(e2e_now_ms() - start < 250);
	peer = accept(fd, NULL, NULL);
	if (peer >= 0)
		close(peer);
	close(fd);
	unlink(E.sock);
	e2e_pam_close(p);
	assert_int_equal(rv, PAM_SUCCESS);
	assert_int_equal(peer, -1); /* nobody connected */
}

/* Guards retries on one handle (sshd and sudo call pam_authenticate again on
 * the same handle after a wrong password): the second preauth puts a new
 * admission where the first was (PAM_DATA_REPLACE); both attempts are
 * reported as failures, and no admission stays open or is abandoned. */
static void test_retry_on_one_handle(void **state)
{
	struct e2e_pam *p = e2e_pam_open(&E, "sshd", "bob", "wrong", "203.0.113.72");

	assert_non_null(p);
	assert_int_equal(e2e_pam_run(p, E2E_AUTH), PAM_AUTH_ERR);
	assert_int_equal(e2e_pam_run(p, E2E_AUTH), PAM_AUTH_ERR);
	assert_int_equal(e2e_backend_calls(&E), 2);
	/* before pam_end, which would close whatever is left */
	assert_int_equal(e2e_status(&E, "reports_fail"), 2);
	assert_int_equal(e2e_status(&E, "inflight"), 0);
	e2e_pam_close(p);
	usleep(100 * 1000);
	assert_int_equal(e2e_status(&E, "abandoned"), 0);
	assert_int_equal(e2e_status(&E, "reports_fail"), 2);
}

/* Guards pam_sm_setcred: applications call pam_setcred after a successful
 * authenticate; pam_authguard sets nothing and must answer PAM_SUCCESS, on
 * the shipped stack and on one where it is the only module (there an
 * error, or even PAM_IGNORE, would fail the login). */
static void test_setcred_succeeds(void **state)
{
	struct e2e_pam *p = e2e_pam_open(&E, "sshd", "alice", "correct horse", "203.0.113.73");
	int auth, cred, acct;

	assert_non_null(p);
	auth = e2e_pam_run(p, E2E_AUTH);
	cred = e2e_pam_run(p, E2E_SETCRED);
	acct = e2e_pam_run(p, E2E_ACCT);
	e2e_pam_close(p);
	assert_int_equal(auth, PAM_SUCCESS);
	assert_int_equal(cred, PAM_SUCCESS);
	assert_int_equal(acct, PAM_SUCCESS);
	p = e2e_pam_open(&E, "authguard-only", "alice", NULL, "203.0.113.73");
	assert_non_null(p);
	cred = e2e_pam_run(p, E2E_SETCRED);
	e2e_pam_close(p);
	assert_int_equal(cred, PAM_SUCCESS);
}

/* Guards: the shipped stacks send every backend error other than a wrong
 * password (service_err, buf_err, abort, ignore) to authunavail, which never
 * counts against the user: six of each, more than pair_free_failures + 1,
 * leave the pair free. */
static void test_other_backend_errors_not_counted(void **state)
{
	static const char *const words[] = { "service_err\n", "buf_err\n", "abort\n", "ignore\n" };
	struct e2e_login r;

	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		assert_int_equal(e2e_write(E.ctl, words[w]), 0);
		for (int i = 0; i < 6; i++) {
			login("sshd", "bob", "hunter2", "203.0.113.51", &r);
			if (r.auth_rv == PAM_SUCCESS)
				fail_msg("%s attempt %d got in", words[w], i + 1);
		}
	}
	assert_int_equal(e2e_backend_calls(&E), 24);
	unlink(E.ctl);
	login("sshd", "bob", "hunter2", "203.0.113.51", &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
	assert_int_equal(e2e_backend_calls(&E), 25);
	assert_int_equal(e2e_status(&E, "reports_fail"), 0);
	assert_int_equal(e2e_status(&E, "reports_unavail"), 24);
	assert_int_equal(e2e_status(&E, "abandoned"), 0);
}

/* Guards the user socket through the real module (a screen locker runs as
 * the user, stack "locker"): the right password gets in, and what an
 * unprivileged user does there lands on its uid, never on root's pairs. */
static void test_locker_as_user(void **state)
{
	struct e2e_login r;
	int status;
	pid_t kid;

	if (geteuid() != 0)
		skip(); /* changing uid needs root */
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
			_exit(10);
		login("locker", "alice", "correct horse", NULL, &r);
		if (r.auth_rv != PAM_SUCCESS)
			_exit(r.auth_rv == -1 ? 11 : 12);
		for (int i = 0; i < 5; i++) {
			login("locker", "alice", "wrong", NULL, &r);
			if (r.auth_rv == PAM_SUCCESS)
				_exit(13);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(kid, &status, 0), kid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(e2e_status(&E, "reports_success"), 1);
	/* alice on the privileged socket still has her three free failures */
	fail_n("sshd", "alice", NULL, 3);
	login("sshd", "alice", "correct horse", NULL, &r);
	assert_int_equal(r.auth_rv, PAM_SUCCESS);
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown_gov)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_allowed_login, setup_default),
		T(test_denied_never_reaches_backend, setup_default),
		T(test_noprecheck_prompts_but_denies, setup_default),
		T(test_silent_says_nothing, setup_default),
		T(test_backoff_grows_and_clears, setup_short_backoff),
		T(test_trusted_pair_survives_attack, setup_attack),
		T(test_user_cap_spares_trusted, setup_user_cap),
		T(test_unavailable_backend_not_counted, setup_loose_rates),
		T(test_governor_down_open, setup_default),
		T(test_governor_down_closed, setup_default),
		T(test_governor_hung_open, setup_default),
		T(test_governor_hung_closed, setup_default),
		T(test_governor_busy_denies, setup_default),
		T(test_bad_argument_fails_closed, setup_default),
		T(test_client_limit_sheds, setup_client_limit),
		T(test_queued_attempts_rechecked, setup_one_slot),
		T(test_reserves_under_concurrent_attack, setup_reserves),
		T(test_two_backend_stack, setup_default),
		T(test_two_factor_stack, setup_default),
		T(test_ssh_connection_is_the_source, setup_default),
		T(test_sudo_and_login_stacks, setup_default),
		T(test_pam_matrix_backend, setup_default),
		T(test_state_survives_restart, setup_default),
		T(test_user_socket_is_uid, setup_user_socket),
		T(test_account_reports_success, setup_default),
		T(test_account_no_io_after_report, setup_default),
		T(test_retry_on_one_handle, setup_default),
		T(test_setcred_succeeds, setup_default),
		T(test_other_backend_errors_not_counted, setup_loose_rates),
		T(test_locker_as_user, setup_default),
	};
	int rc = e2e_init(&E, argv);

	(void)argc;
	if (rc != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

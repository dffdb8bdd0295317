/* test_log.c - the governor's log: line format, escaping, denial summaries,
 * syslog datagrams that never block. stderr is a pipe the test reads. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "ag_err.h"
#include "ag_escape.h"
#include "log.h"

#define OUT_MAX 65536

struct fixture {
	int saved_stderr;
	int rd;	      /* read end of the pipe on fd 2 */
	char dir[64]; /* for syslog sockets */
	char sock[96];
	int syslog_fd; /* our fake syslog, -1 */
	char out[OUT_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int p[2];

	if (!f)
		return -1;
	f->syslog_fd = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_log.XXXXXX");
	if (!mkdtemp(f->dir) || pipe2(p, O_CLOEXEC) != 0)
		goto fail;
	snprintf(f->sock, sizeof(f->sock), "%s/log", f->dir);
	fflush(stderr);
	f->saved_stderr = dup(STDERR_FILENO);
	if (f->saved_stderr < 0 || dup2(p[1], STDERR_FILENO) < 0)
		goto fail;
	close(p[1]);
	f->rd = p[0];
	if (fcntl(f->rd, F_SETFL, O_NONBLOCK) != 0)
		goto fail;
	gov_log_set_socket(NULL);
	gov_log_set_level(LOG_INFO);
	if (gov_log_open("test", 1) != 0)
		goto fail;
	gov_log_limits(3, 1000);
	*state = f;
	return 0;
fail:
	free(f);
	return -1;
}

static const char *drain(struct fixture *f);

static int teardown(void **state)
{
	struct fixture *f = *state;

	gov_log_close();
	/* cmocka reports failures on stderr: hand them to the real one */
	drain(f);
	dup2(f->saved_stderr, STDERR_FILENO);
	if (f->out[0] != '\0' && write(STDERR_FILENO, f->out, strlen(f->out)) < 0)
		f->out[0] = '\0';
	close(f->saved_stderr);
	close(f->rd);
	if (f->syslog_fd >= 0)
		close(f->syslog_fd);
	unlink(f->sock);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Everything written to stderr since the last call, NUL-terminated. */
static const char *drain(struct fixture *f)
{
	size_t len = 0;
	ssize_t n;

	while (len < OUT_MAX - 1 && (n = read(f->rd, f->out + len, OUT_MAX - 1 - len)) > 0)
		len += (size_t)n;
	f->out[len] = '\0';
	return f->out;
}

static int count_lines(const char *s, const char *prefix)
{
	int n = 0;

	while (*s) {
		if (strncmp(s, prefix, strlen(prefix)) == 0)
			n++;
		s = strchr(s, '\n');
		if (!s)
			break;
		s++;
	}
	return n;
}

static int count_sub(const char *s, const char *sub)
{
	int n = 0;

	while ((s = strstr(s, sub)) != NULL) {
		n++;
		s += strlen(sub);
	}
	return n;
}

static void bind_syslog(struct fixture *f)
{
	struct sockaddr_un sa;

	if (f->syslog_fd >= 0)
		close(f->syslog_fd);
	unlink(f->sock);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	f->syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(f->syslog_fd >= 0);
	assert_int_equal(bind(f->syslog_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void test_foreground_line(void **state)
{
	struct fixture *f = *state;

	gov_log(LOG_INFO, "hello %d", 42);
	assert_string_equal(drain(f), "test: hello 42\n");
	/* a stray newline cannot start a forged line */
	gov_log(LOG_ERR, "a\nb\rc");
	assert_string_equal(drain(f), "test: a?b?c\n");
}

static void test_level(void **state)
{
	struct fixture *f = *state;

	gov_log(LOG_DEBUG, "not by default");
	gov_log(LOG_INFO, "info");
	assert_string_equal(drain(f), "test: info\n");
	gov_log_set_level(LOG_DEBUG);
	gov_log(LOG_DEBUG, "debug");
	assert_string_equal(drain(f), "test: debug\n");
	gov_log_set_level(LOG_WARNING);
	gov_log(LOG_NOTICE, "notice");
	gov_log(LOG_ERR, "err");
	assert_string_equal(drain(f), "test: err\n");
}

static void test_line_capped(void **state)
{
	struct fixture *f = *state;
	char big[5000];
	const char *out;
	size_t len;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	gov_log(LOG_INFO, "%s", big);
	out = drain(f);
	len = strlen(out);
	assert_true(len <= GOV_LOG_LINE_MAX);
	assert_true(len > GOV_LOG_LINE_MAX - 16);
	assert_string_equal(out + len - 4, "...\n");
	assert_int_equal(count_lines(out, "test: xxx"), 1);
}

static void test_denial_escaped(void **state)
{
	struct fixture *f = *state;
	const char *user = "bad user\nx=1";
	char esc[128], want[512];
	const char *out;

	ag_escape(esc, sizeof(esc), user, strlen(user));
	snprintf(want, sizeof(want),
		 "test: denied rule=backoff user=%s source=198.51.100.7/32 retry_ms=1500 "
		 "service=sshd\n",
		 esc);
	gov_log_denial("backoff", user, "198.51.100.7/32", 1500, "sshd", 0);
	out = drain(f);
	assert_string_equal(out, want);
	/* the escaped user holds neither the space, the newline nor the '=' */
	assert_null(strstr(out, "bad user"));
	assert_null(strstr(out, "x=1"));
	assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);

	/* NULL strings do not crash and stay well formed */
	gov_log_denial("shed", NULL, NULL, 0, NULL, 1);
	assert_string_equal(drain(f), "test: denied rule=shed user= source= retry_ms=0 service=\n");
}

static void deny(const char *rule, const char *src, int64_t now)
{
	gov_log_denial(rule, "root", src, 1000, "sshd", now);
}

static void test_burst_summary(void **state)
{
	struct fixture *f = *state;
	const char *out;
	int i;

	deny("backoff", "A", 0);
	deny("backoff", "B", 1);
	deny("backoff", "A", 2);
	assert_int_equal(count_lines(drain(f), "test: denied "), 3);
	/* past the burst of 3: nothing more, one by one */
	for (i = 0; i < 4; i++)
		deny("backoff", "A", 10 + i);
	deny("backoff", "B", 20);
	deny("backoff", "C", 21);
	deny("backoff", "B", 22);
	deny("source_rate", "D", 23);
	deny("source_rate", "D", 24);
	assert_string_equal(drain(f), "");
	/* the window is not over yet */
	gov_log_tick(999);
	assert_string_equal(drain(f), "");
	gov_log_tick(1000);
	out = drain(f);
	assert_string_equal(out, "test: denials suppressed rule=backoff count=7 interval_ms=1000 "
				 "top=A:4,B:2,C:1\n"
				 "test: denials suppressed rule=source_rate count=2 "
				 "interval_ms=1000 top=D:2\n");
	/* flushed once only */
	gov_log_tick(5000);
	assert_string_equal(drain(f), "");

	/* a new window: the burst is available again */
	deny("backoff", "A", 6000);
	assert_int_equal(count_lines(drain(f), "test: denied rule=backoff"), 1);
}

static void test_summary_on_next_denial(void **state)
{
	struct fixture *f = *state;
	const char *out;
	int i;

	for (i = 0; i < 5; i++)
		deny("user_rate", "E", i);
	assert_int_equal(count_lines(drain(f), "test: denied "), 3);
	/* no tick: the next denial after the window ends it */
	deny("user_rate", "F", 1500);
	out = drain(f);
	assert_string_equal(out, "test: denials suppressed rule=user_rate count=2 interval_ms=1000 "
				 "top=E:2\n"
				 "test: denied rule=user_rate user=root source=F retry_ms=1000 "
				 "service=sshd\n");
}

static void test_top_bounded(void **state)
{
	struct fixture *f = *state;
	char src[32];
	const char *out, *top;
	int i, commas = 0;

	/* space-saving keeps any source above total / GOV_LOG_TOP: 500 of 1500 */
	gov_log_limits(0, 1000);
	for (i = 0; i < 500; i++)
		deny("source_rate", "203.0.113.9/32", 0);
	for (i = 0; i < 1000; i++) {
		snprintf(src, sizeof(src), "198.18.%d.%d/32", i / 256, i % 256);
		deny("source_rate", src, 0);
	}
	gov_log_tick(1000);
	out = drain(f);
	assert_int_equal(count_lines(out, "test: denials suppressed rule=source_rate count=1500 "),
			 1);
	top = strstr(out, "top=203.0.113.9/32:500,");
	assert_non_null(top);
	for (; *top && *top != ' '; top++)
		commas += *top == ',';
	assert_int_equal(commas, GOV_LOG_TOP - 1);
	/* the others came once each: what the list says is what was seen, not
	 * what the sources they evicted had */
	assert_int_equal(count_sub(out, ":1,") + count_sub(out, ":1 "), GOV_LOG_TOP - 1);
	assert_non_null(strstr(out, " approx=1\n"));
}

static void test_top_escaped(void **state)
{
	struct fixture *f = *state;

	gov_log_limits(0, 1000);
	deny("backoff", "host:a,b:999", 0);
	deny("backoff", "host:x y", 0);
	deny("backoff", "host:x y", 0);
	gov_log_tick(1000);
	assert_string_equal(drain(f),
			    "test: denials suppressed rule=backoff count=3 interval_ms=1000 "
			    "top=host:x\\x20y:2,host:a\\x2cb:999:1\n");
}

static void test_limits_off(void **state)
{
	struct fixture *f = *state;
	int i;

	gov_log_limits(2, 0);
	for (i = 0; i < 10; i++)
		deny("backoff", "A", i);
	assert_int_equal(count_lines(drain(f), "test: denied "), 10);
	gov_log_tick(100000);
	assert_string_equal(drain(f), "");
}

static void test_close_flushes(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 4; i++)
		deny("backoff", "A", i);
	assert_int_equal(count_lines(drain(f), "test: denied "), 3);
	gov_log_close();
	assert_string_equal(drain(f),
			    "test: denials suppressed rule=backoff count=1 interval_ms=1000 "
			    "top=A:1\n");
}

static void test_syslog_datagram(void **state)
{
	struct fixture *f = *state;
	char buf[2048], want[64];
	ssize_t n;

	bind_syslog(f);
	gov_log_set_socket(f->sock);
	assert_int_equal(gov_log_open("tsys", 0), 0);
	gov_log(LOG_WARNING, "hi there");
	n = recv(f->syslog_fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	/* <PRI>Mmm dd hh:mm:ss ident[pid]: msg, authpriv.warning = 10 * 8 + 4 */
	assert_memory_equal(buf, "<84>", 4);
	assert_true(buf[4] >= 'A' && buf[4] <= 'Z');
	assert_true(buf[7] == ' ' && buf[10] == ' ' && buf[13] == ':' && buf[16] == ':');
	assert_true(buf[19] == ' ');
	snprintf(want, sizeof(want), "tsys[%ld]: hi there", (long)getpid());
	assert_string_equal(buf + 20, want);
	/* nothing on stderr */
	assert_string_equal(drain(f), "");

	/* long lines are capped in the datagram too */
	memset(buf, 'y', 1500);
	buf[1500] = '\0';
	gov_log(LOG_INFO, "%s", buf);
	n = recv(f->syslog_fd, buf, sizeof(buf), 0);
	assert_int_equal(n, GOV_LOG_LINE_MAX - 1);
	assert_memory_equal(buf + n - 3, "...", 3);
}

static void test_syslog_never_blocks(void **state)
{
	struct fixture *f = *state;
	uint64_t before = gov_log_dropped();
	char buf[2048];
	int i;

	bind_syslog(f);
	gov_log_set_socket(f->sock);
	assert_int_equal(gov_log_open("tsys", 0), 0);
	/* nobody reads: the socket fills, then lines are counted as dropped */
	for (i = 0; i < 5000 && gov_log_dropped() == before; i++)
		gov_log(LOG_INFO, "filler %d", i);
	assert_true(gov_log_dropped() > before);
	assert_string_equal(drain(f), "");

	/* syslog goes away: the line is dropped, the next goes to stderr */
	close(f->syslog_fd);
	f->syslog_fd = -1;
	unlink(f->sock);
	before = gov_log_dropped();
	gov_log(LOG_INFO, "into the void");
	assert_int_equal(gov_log_dropped(), before + 1);
	gov_log(LOG_INFO, "to stderr");
	assert_string_equal(drain(f), "tsys: to stderr\n");

	/* it comes back: reconnected lazily (at most once a second) */
	bind_syslog(f);
	usleep(1100 * 1000);
	gov_log(LOG_INFO, "back");
	assert_true(recv(f->syslog_fd, buf, sizeof(buf), 0) > 0);
	assert_string_equal(drain(f), "");
}

static void test_open_without_syslog(void **state)
{
	struct fixture *f = *state;

	gov_log_set_socket("/nonexistent/authguard/log");
	assert_int_equal(gov_log_open("tnone", 0), AG_ERR_SYS);
	gov_log(LOG_ERR, "fallback");
	assert_string_equal(drain(f), "tnone: fallback\n");
	gov_log_set_socket(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_foreground_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_level, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_line_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_denial_escaped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_burst_summary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_summary_on_next_denial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_top_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_top_escaped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_flushes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_syslog_datagram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_syslog_never_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_without_syslog, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

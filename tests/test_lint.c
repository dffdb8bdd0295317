/* test_lint.c - the PAM stack checker (ctl/lint.c): each rule flags a broken
 * stack, and the shipped stacks (read from $AG_SRCDIR/etc/pam.d) are clean. */
#include "config.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "ag_err.h"
#include "lint.h"

#define PRE "auth requisite pam_authguard.so preauth\n"
#define UNIX                                                                                       \
	"auth [success=2 authinfo_unavail=1 system_err=1 service_err=1 buf_err=1 abort=1 "         \
	"ignore=1 default=bad] pam_unix.so use_first_pass\n"
#define FAIL "auth [default=die] pam_authguard.so authfail\n"
#define UNAV "auth [default=die] pam_authguard.so authunavail\n"
#define SUCC "auth required pam_authguard.so authsucc\n"
#define ACCT "account required pam_authguard.so\n"
#define GOOD PRE UNIX FAIL UNAV SUCC ACCT

/* ---- an injected reader: a table of named texts -------------------------- */

struct file {
	const char *name, *text;
};

static int table_read(void *ctx, const char *name, const char *from, char **path, char **text)
{
	const struct file *f;

	(void)from;
	for (f = ctx; f->name != NULL; f++) {
		if (strcmp(f->name, name) == 0) {
			*path = strdup(name);
			*text = strdup(f->text);
			if (*path == NULL || *text == NULL) {
				free(*path);
				free(*text);
				return AG_ERR_NOMEM;
			}
			return 0;
		}
	}
	return AG_ERR_NOTFOUND;
}

static struct ag_lint_report lint_with(const char *text, const struct file *files)
{
	struct ag_lint_reader rd = {table_read, (void *)files};
	struct ag_lint_report r = {NULL, 0};

	assert_int_equal(ag_lint_text("svc", text, &rd, &r), 0);
	return r;
}

static struct ag_lint_report lint(const char *text)
{
	static const struct file none[] = {{NULL, NULL}};

	return lint_with(text, none);
}

/* Whether r holds a finding of rule at file:line whose message contains
 * word (NULL: any). */
static int has(const struct ag_lint_report *r, const char *file, unsigned line, const char *rule,
	       const char *word)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->f[i].file, file) == 0 && r->f[i].line == line &&
		    strcmp(r->f[i].rule, rule) == 0 &&
		    (word == NULL || strstr(r->f[i].msg, word) != NULL))
			return 1;
	return 0;
}

static void print(const struct ag_lint_report *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		print_message("%s:%u: [%s] %s\n", r->f[i].file, r->f[i].line, r->f[i].rule,
			      r->f[i].msg);
}

static void expect_only(const char *text, unsigned line, const char *rule, const char *word)
{
	struct ag_lint_report r = lint(text);

	if (r.n != 1 || !has(&r, "svc", line, rule, word))
		print(&r);
	assert_int_equal(r.n, 1);
	assert_true(has(&r, "svc", line, rule, word));
	ag_lint_report_free(&r);
}

static void expect_clean(const char *text)
{
	struct ag_lint_report r = lint(text);

	print(&r);
	assert_int_equal(r.n, 0);
	ag_lint_report_free(&r);
}

/* ---- the rules ----------------------------------------------------------- */

static void good_minimal(void **state)
{
	(void)state;
	expect_clean(GOOD);
	/* comments, continuation lines and the bracket form of requisite */
	expect_clean(
	    "# c\nauth [success=ok default=die] pam_authguard.so preauth # why\n"
	    "auth [success=2 authinfo_unavail=1 system_err=1 \\\n service_err=1 buf_err=1 "
	    "abort=1 ignore=1 default=bad] /lib/security/pam_unix.so use_first_pass\n" FAIL UNAV
		SUCC ACCT);
}

static void preauth_control(void **state)
{
	(void)state;
	expect_only("auth required pam_authguard.so preauth\n" UNIX FAIL UNAV SUCC ACCT, 1,
		    "preauth-control", "requisite");
	expect_only("auth sufficient pam_authguard.so preauth\n" UNIX FAIL UNAV SUCC ACCT, 1,
		    "preauth-control", NULL);
	/* success not listed: default=die would end a granted attempt too */
	expect_only("auth [default=die] pam_authguard.so preauth\n" UNIX FAIL UNAV SUCC ACCT, 1,
		    "preauth-control", NULL);
	/* a denial that goes on to the backend */
	expect_only(
	    "auth [success=ok auth_err=bad default=die] pam_authguard.so preauth\n" UNIX FAIL UNAV
		SUCC ACCT,
	    1, "preauth-control", NULL);
	expect_only(
	    "auth [success=done default=die] pam_authguard.so preauth\n" UNIX FAIL UNAV SUCC ACCT,
	    1, "preauth-control", NULL);
}

static void first_pass(void **state)
{
	struct ag_lint_report r;

	(void)state;
	r = lint(PRE
		 "auth [success=2 authinfo_unavail=1 system_err=1 service_err=1 buf_err=1 "
		 "abort=1 ignore=1 default=bad] pam_sss.so try_first_pass\n" FAIL UNAV SUCC ACCT);
	assert_int_equal(r.n, 1);
	assert_true(has(&r, "svc", 2, "first-pass", "try_first_pass"));
	ag_lint_report_free(&r);
	r = lint(PRE "auth [success=2 authinfo_unavail=1 system_err=1 service_err=1 buf_err=1 "
		     "abort=1 ignore=1 default=bad] pam_ldap.so\n" FAIL UNAV SUCC ACCT);
	assert_int_equal(r.n, 1);
	assert_true(has(&r, "svc", 2, "first-pass", "lacks use_first_pass"));
	ag_lint_report_free(&r);
	/* a second factor prompts by design; a passive module reads nothing */
	expect_clean(PRE UNIX FAIL UNAV
		     "auth required pam_authguard.so authpass\n"
		     "auth [success=2 authinfo_unavail=1 system_err=1 service_err=1 buf_err=1 "
		     "abort=1 ignore=1 default=bad] pam_u2f.so\n" FAIL UNAV SUCC ACCT);
}

static void jumps(void **state)
{
	struct ag_lint_report r;

	(void)state;
	/* success=1: lands on authunavail */
	expect_only(PRE
		    "auth [success=1 authinfo_unavail=1 system_err=1 service_err=1 "
		    "buf_err=1 abort=1 ignore=1 default=bad] pam_unix.so use_first_pass\n" FAIL UNAV
			SUCC ACCT,
		    2, "jump", "success lands on authunavail");
	/* required: success falls onto authfail */
	r = lint(PRE "auth required pam_unix.so use_first_pass\n" FAIL UNAV SUCC ACCT);
	assert_true(has(&r, "svc", 2, "jump", "success lands on authfail"));
	ag_lint_report_free(&r);
	/* a wrong password that dies before authfail is never counted */
	expect_only(
	    PRE "auth [success=2 authinfo_unavail=1 system_err=1 service_err=1 buf_err=1 "
		"abort=1 ignore=1 default=die] pam_unix.so use_first_pass\n" FAIL UNAV SUCC ACCT,
	    2, "jump", "never counted");
	/* default=2 sends a wrong password to authsucc */
	expect_only(PRE
		    "auth [success=2 authinfo_unavail=1 system_err=1 service_err=1 buf_err=1 "
		    "abort=1 ignore=1 default=2] pam_unix.so use_first_pass\n" FAIL UNAV SUCC ACCT,
		    2, "jump", "reported as a success");
	/* only authinfo_unavail mapped: the rest count as failures */
	expect_only(PRE "auth [success=2 authinfo_unavail=1 default=bad] pam_unix.so "
			"use_first_pass\n" FAIL UNAV SUCC ACCT,
		    2, "jump", "backend unavailable would count as a failure");
	/* past the end */
	expect_only(
	    PRE "auth [success=3 authinfo_unavail=1 system_err=1 service_err=1 buf_err=1 "
		"abort=1 ignore=1 default=bad] pam_unix.so use_first_pass\n" FAIL UNAV SUCC ACCT,
	    2, "jump", "past the end");
	/* a passive line between shifts the count */
	r = lint(PRE UNIX "auth optional pam_faildelay.so delay=1\n" FAIL UNAV SUCC ACCT);
	assert_true(has(&r, "svc", 2, "jump", "success lands on authunavail"));
	assert_true(has(&r, "svc", 2, "jump", "would count as a failure"));
	ag_lint_report_free(&r);
	/* ... and landing on one passes through it, as PAM does */
	expect_clean(PRE UNIX FAIL UNAV "auth optional pam_faildelay.so delay=1\n" SUCC ACCT);
	/* two backends: the first's success=2 lands on authunavail */
	expect_only(PRE
		    "auth [success=2 default=ignore] pam_unix.so use_first_pass\n"
		    "auth [success=2 authinfo_unavail=1 system_err=1 service_err=1 buf_err=1 "
		    "abort=1 ignore=1 default=bad] pam_sss.so use_first_pass\n" FAIL UNAV SUCC ACCT,
		    2, "jump", "success lands on authunavail");
}

static void authsucc_before_factor(void **state)
{
	(void)state;
	expect_only(
	    PRE UNIX FAIL UNAV SUCC
	    "auth [success=2 authinfo_unavail=1 system_err=1 service_err=1 buf_err=1 "
	    "abort=1 ignore=1 default=bad] pam_google_authenticator.so\n" FAIL UNAV SUCC ACCT,
	    5, "authsucc-before-factor", "authpass");
	/* a passive module after authsucc is fine (login's pam_group) */
	expect_clean(GOOD "auth optional pam_group.so\n");
}

static void account_missing(void **state)
{
	struct ag_lint_reader rd = {table_read, NULL};
	struct ag_lint_report r = {NULL, 0};
	static const struct file none[] = {{NULL, NULL}};

	(void)state;
	expect_only(PRE UNIX FAIL UNAV SUCC "account required pam_unix.so\n", 1, "account-missing",
		    NULL);
	/* a common-* fragment leaves the account line to common-account */
	rd.ctx = (void *)none;
	assert_int_equal(ag_lint_text("/etc/pam.d/common-auth", PRE UNIX FAIL UNAV SUCC, &rd, &r),
			 0);
	assert_int_equal(r.n, 0);
	ag_lint_report_free(&r);
	/* no preauth at all (common-account itself): nothing to say */
	expect_clean(ACCT);
}

static void bad_argument(void **state)
{
	(void)state;
	expect_only(PRE UNIX FAIL UNAV "auth required pam_authguard.so authsucc timeout=abc\n" ACCT,
		    5, "bad-argument", "timeout");
	expect_only(
	    "auth requisite pam_authguard.so preauth on_eror=closed\n" UNIX FAIL UNAV SUCC ACCT, 1,
	    "bad-argument", "unknown");
	expect_only(GOOD "account required pam_authguard.so silent=1\n", 7, "bad-argument", NULL);
}

static void phase_order(void **state)
{
	struct ag_lint_report r;

	(void)state;
	r = lint(FAIL PRE UNIX FAIL UNAV SUCC ACCT);
	assert_true(has(&r, "svc", 1, "phase-order", "without a preauth"));
	ag_lint_report_free(&r);
	expect_only(PRE PRE UNIX FAIL UNAV SUCC ACCT, 2, "phase-order", "second preauth");
	r = lint(FAIL UNAV SUCC);
	assert_int_equal(r.n, 3);
	assert_true(has(&r, "svc", 3, "phase-order", "authsucc without a preauth"));
	ag_lint_report_free(&r);
	expect_only(GOOD "auth required pam_authguard.so\n", 7, "phase-order", "without a phase");
}

static void includes(void **state)
{
	static const struct file ok[] = {{"stack", PRE UNIX FAIL UNAV SUCC}, {NULL, NULL}};
	static const struct file cyc[] = {
	    {"a", "@include b\n"}, {"b", "@include a\n"}, {NULL, NULL}};
	static const struct file deep[] = {{"d", "@include d2\n"},
					   {"d2", "@include d3\n"},
					   {"d3", "@include d4\n"},
					   {"d4", "@include d5\n"},
					   {"d5", "@include d6\n"},
					   {"d6", "@include d7\n"},
					   {"d7", "@include d8\n"},
					   {"d8", "@include d9\n"},
					   {"d9", "\n"},
					   {NULL, NULL}};
	static const struct file shifted[] = {
	    {"stack", PRE UNIX FAIL "auth optional pam_unix.so use_first_pass\n" UNAV SUCC},
	    {NULL, NULL}};
	struct ag_lint_report r;

	(void)state;
	r = lint_with("@include stack\n" ACCT, ok);
	assert_int_equal(r.n, 0);
	ag_lint_report_free(&r);
	/* the finding names the included file and its line */
	r = lint_with("@include stack\n" ACCT, shifted);
	assert_true(has(&r, "stack", 2, "jump", "success lands on"));
	ag_lint_report_free(&r);
	r = lint_with("@include a\n", cyc);
	assert_int_equal(r.n, 1);
	assert_true(has(&r, "b", 1, "include", "cycle"));
	ag_lint_report_free(&r);
	r = lint_with("@include d\n", deep);
	assert_int_equal(r.n, 1);
	assert_true(has(&r, "d8", 1, "include", "deeper"));
	ag_lint_report_free(&r);
	r = lint_with(GOOD "@include nowhere\n", ok);
	assert_int_equal(r.n, 1);
	assert_true(has(&r, "svc", 7, "include", "no such file"));
	ag_lint_report_free(&r);
}

static void syntax(void **state)
{
	(void)state;
	expect_only(GOOD "auth [success=2 default=bda] pam_permit.so\n", 7, "syntax", "bda");
	expect_only(GOOD "oauth required pam_permit.so\n", 7, "syntax", "type");
}

/* ---- the shipped stacks ---------------------------------------------------- */

/* Includes from the source tree when there (none are), else empty: the
 * common-* files of the host are not what is under test. */
static int empty_read(void *ctx, const char *name, const char *from, char **path, char **text)
{
	(void)ctx;
	(void)from;
	*path = strdup(name);
	*text = strdup("");
	if (*path == NULL || *text == NULL) {
		free(*path);
		free(*text);
		return AG_ERR_NOMEM;
	}
	return 0;
}

static void shipped_clean(void **state)
{
	static const char *const shipped[] = {
	    "sshd", "sudo", "login", "common-auth", "examples/two-backend", "examples/two-factor"};
	struct ag_lint_reader rd = {empty_read, NULL};
	const char *src = getenv("AG_SRCDIR");
	char path[4096], *text;
	size_t i;

	(void)state;
	assert_non_null(src);
	for (i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		struct ag_lint_report r = {NULL, 0};

		snprintf(path, sizeof(path), "%s/etc/pam.d/%s", src, shipped[i]);
		assert_int_equal(ag_lint_read_file(path, &text), 0);
		assert_int_equal(ag_lint_text(path, text, &rd, &r), 0);
		print(&r);
		assert_int_equal(r.n, 0);
		free(text);
		ag_lint_report_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(good_minimal),
	    cmocka_unit_test(preauth_control),
	    cmocka_unit_test(first_pass),
	    cmocka_unit_test(jumps),
	    cmocka_unit_test(authsucc_before_factor),
	    cmocka_unit_test(account_missing),
	    cmocka_unit_test(bad_argument),
	    cmocka_unit_test(phase_order),
	    cmocka_unit_test(includes),
	    cmocka_unit_test(syntax),
	    cmocka_unit_test(shipped_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

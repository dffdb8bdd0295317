/* e2e_util.c - fixtures for the end-to-end tests (see e2e_util.h). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <security/pam_appl.h>
#include <libpamtest.h>
#include "ag_client.h"
#include "ag_err.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "e2e_util.h"

#ifndef PAMTEST_MODDIR
#define PAMTEST_MODDIR "/usr/lib/x86_64-linux-gnu/pam_wrapper"
#endif

long e2e_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int e2e_write(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (f == NULL)
		return -1;
	if (fputs(content, f) < 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static void paths(struct e2e *e)
{
	snprintf(e->sock, sizeof(e->sock), "%s/gov.sock", e->dir);
	snprintf(e->usock, sizeof(e->usock), "%s/user.sock", e->dir);
	snprintf(e->conf, sizeof(e->conf), "%s/authguard.conf", e->dir);
	snprintf(e->state, sizeof(e->state), "%s/state", e->dir);
	snprintf(e->govlog, sizeof(e->govlog), "%s/governor.log", e->dir);
	snprintf(e->passdb, sizeof(e->passdb), "%s/passdb", e->dir);
	snprintf(e->calls, sizeof(e->calls), "%s/calls", e->dir);
	snprintf(e->ctl, sizeof(e->ctl), "%s/backend.ctl", e->dir);
	snprintf(e->pamdir, sizeof(e->pamdir), "%s/pam.d", e->dir);
}

/* Rewrites one line of a shipped stack for the test: module names become the
 * built module and the test backends; lines for modules the test does not
 * have (pam_nologin, @include, session ...) are dropped. */
static void rewrite_line(const struct e2e *e, const char *line, const char *agargs,
                         const char *backend, FILE *out)
{
	const char *build = getenv("AG_BUILDDIR");
	char mod[E2E_PATH * 4], word[64];
	const char *p;

	if (strncmp(line, "auth", 4) != 0 && strncmp(line, "account", 7) != 0)
		return;
	if ((p = strstr(line, "pam_authguard.so")) != NULL) {
		snprintf(mod, sizeof(mod), "%s/pam_module/.libs/pam_authguard.so socket=%s %s", build,
		         e->sock, agargs);
		fprintf(out, "%.*s%s%s", (int)(p - line), line, mod, p + strlen("pam_authguard.so"));
		return;
	}
	if ((p = strstr(line, "pam_unix.so")) != NULL) {
		if (strcmp(backend, "matrix") == 0)
			snprintf(mod, sizeof(mod), "%s/pam_matrix.so passdb=%s.matrix", PAMTEST_MODDIR,
			         e->passdb);
		else
			snprintf(mod, sizeof(mod),
			         "%s/tests/.libs/pam_agtest.so name=unix passdb=%s log=%s ctl=%s",
			         build, e->passdb, e->calls, e->ctl);
		snprintf(word, sizeof(word), "pam_unix.so");
	} else if ((p = strstr(line, "pam_sss.so")) != NULL) {
		snprintf(mod, sizeof(mod), "%s/tests/.libs/pam_agtest.so name=sss passdb=%s.sss log=%s",
		         build, e->passdb, e->calls);
		snprintf(word, sizeof(word), "pam_sss.so");
	} else if ((p = strstr(line, "pam_google_authenticator.so")) != NULL) {
		snprintf(mod, sizeof(mod), "%s/tests/.libs/pam_agtest.so name=otp code=123456 log=%s",
		         build, e->calls);
		snprintf(word, sizeof(word), "pam_google_authenticator.so");
	} else {
		return;
	}
	fprintf(out, "%.*s%s%s", (int)(p - line), line, mod, p + strlen(word));
}

/* Writes pam.d/NAME from the shipped stack at etc/pam.d/SHIPPED. */
static int write_stack(const struct e2e *e, const char *name, const char *shipped,
                       const char *agargs, const char *backend)
{
	char src[E2E_PATH * 2], dst[E2E_PATH * 2], line[1024];
	FILE *in, *out;

	snprintf(src, sizeof(src), "%s/etc/pam.d/%s", getenv("AG_SRCDIR"), shipped);
	snprintf(dst, sizeof(dst), "%s/%s", e->pamdir, name);
	in = fopen(src, "r");
	if (in == NULL)
		return -1;
	out = fopen(dst, "w");
	if (out == NULL) {
		fclose(in);
		return -1;
	}
	while (fgets(line, sizeof(line), in) != NULL)
		rewrite_line(e, line, agargs, backend, out);
	fclose(in);
	return fclose(out) == 0 ? 0 : -1;
}

static int write_fixtures(struct e2e *e)
{
	static const struct {
		const char *name, *shipped, *args, *backend;
	} stacks[] = {
		{ "sshd", "sshd", "", "agtest" },
		{ "sshd-open", "sshd", "timeout=300 queue_wait=300", "agtest" },
		{ "sshd-closed", "sshd", "timeout=300 queue_wait=300 on_error=closed", "agtest" },
		{ "sshd-silent", "sshd", "silent", "agtest" },
		{ "sshd-noprecheck", "sshd", "noprecheck", "agtest" },
		{ "sshd-badarg", "sshd", "timeout=abc", "agtest" },
		{ "sshd-matrix", "sshd", "", "matrix" },
		{ "sudo", "sudo", "", "agtest" },
		{ "login", "login", "", "agtest" },
		{ "two-backend", "examples/two-backend", "", "agtest" },
		{ "two-factor", "examples/two-factor", "", "agtest" },
	};
	char path[E2E_PATH * 2];

	if (mkdir(e->pamdir, 0755) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(stacks) / sizeof(stacks[0]); i++)
		if (write_stack(e, stacks[i].name, stacks[i].shipped, stacks[i].args,
		                stacks[i].backend) != 0)
			return -1;
	/* The user-socket stack: what a screen locker running as the user has. */
	snprintf(path, sizeof(path), "%s/locker", e->pamdir);
	{
		char buf[4096];

		snprintf(buf, sizeof(buf),
		         "auth requisite %s/pam_module/.libs/pam_authguard.so preauth socket=%s\n"
		         "auth [success=2 authinfo_unavail=1 default=bad] "
		         "%s/tests/.libs/pam_agtest.so name=unix passdb=%s log=%s\n"
		         "auth [default=die] %s/pam_module/.libs/pam_authguard.so authfail socket=%s\n"
		         "auth [default=die] %s/pam_module/.libs/pam_authguard.so authunavail "
		         "socket=%s\n"
		         "auth required %s/pam_module/.libs/pam_authguard.so authsucc socket=%s\n",
		         getenv("AG_BUILDDIR"), e->usock, getenv("AG_BUILDDIR"), e->passdb, e->calls,
		         getenv("AG_BUILDDIR"), e->usock, getenv("AG_BUILDDIR"), e->usock,
		         getenv("AG_BUILDDIR"), e->usock);
		if (e2e_write(path, buf) != 0)
			return -1;
	}
	/* No report lines: only the account phase can tell the governor that
	 * the login succeeded. */
	snprintf(path, sizeof(path), "%s/acct-only", e->pamdir);
	{
		char buf[4096];

		snprintf(buf, sizeof(buf),
		         "auth requisite %s/pam_module/.libs/pam_authguard.so preauth socket=%s\n"
		         "auth required %s/tests/.libs/pam_agtest.so name=unix passdb=%s log=%s "
		         "ctl=%s\n"
		         "account required %s/pam_module/.libs/pam_authguard.so socket=%s\n",
		         getenv("AG_BUILDDIR"), e->sock, getenv("AG_BUILDDIR"), e->passdb, e->calls,
		         e->ctl, getenv("AG_BUILDDIR"), e->sock);
		if (e2e_write(path, buf) != 0)
			return -1;
	}
	/* pam_authguard alone: what it answers is what the stack answers. */
	snprintf(path, sizeof(path), "%s/authguard-only", e->pamdir);
	{
		char buf[2048];

		snprintf(buf, sizeof(buf),
		         "auth required %s/pam_module/.libs/pam_authguard.so authsucc socket=%s\n"
		         "account required %s/pam_module/.libs/pam_authguard.so socket=%s\n",
		         getenv("AG_BUILDDIR"), e->sock, getenv("AG_BUILDDIR"), e->sock);
		if (e2e_write(path, buf) != 0)
			return -1;
	}
	/* pam_wrapper wants a fallback service; nothing should use it. */
	snprintf(path, sizeof(path), "%s/other", e->pamdir);
	if (e2e_write(path, "auth required pam_deny.so\naccount required pam_deny.so\n") != 0)
		return -1;
	if (e2e_write(e->passdb, "alice:correct horse\nbob:hunter2\ncarol:s3cret\nroot:toor\n"
	                         "mallory:nope\n") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s.sss", e->passdb);
	if (e2e_write(path, "dave:directory-pw\n") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s.matrix", e->passdb);
	if (e2e_write(path, "alice:correct horse:sshd-matrix\n") != 0)
		return -1;
	return 0;
}

int e2e_init(struct e2e *e, char **argv)
{
	const char *build = getenv("AG_BUILDDIR"), *src = getenv("AG_SRCDIR");
	const char *dir = getenv("AG_E2E_DIR");

	memset(e, 0, sizeof(*e));
	if (build == NULL || src == NULL) {
		fprintf(stderr, "AG_BUILDDIR / AG_SRCDIR not set: run through make check\n");
		return 77;
	}
	if (dir != NULL && getenv("PAM_WRAPPER") != NULL) {
		snprintf(e->dir, sizeof(e->dir), "%s", dir);
		paths(e);
		return 0;
	}
	snprintf(e->dir, sizeof(e->dir), "/tmp/ag-e2e.XXXXXX");
	if (mkdtemp(e->dir) == NULL || chmod(e->dir, 0755) != 0)
		return 1;
	paths(e);
	if (write_fixtures(e) != 0) {
		fprintf(stderr, "cannot write the PAM fixtures in %s\n", e->dir);
		return 1;
	}
	setenv("AG_E2E_DIR", e->dir, 1);
	setenv("PAM_WRAPPER", "1", 1);
	setenv("PAM_WRAPPER_SERVICE_DIR", e->pamdir, 1);
	setenv("LD_PRELOAD", "libpam_wrapper.so", 1);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "re-exec under pam_wrapper failed: %s\n", strerror(errno));
	return 1;
}

int e2e_init_dir(struct e2e *e)
{
	memset(e, 0, sizeof(*e));
	if (getenv("AG_BUILDDIR") == NULL || getenv("AG_SRCDIR") == NULL) {
		fprintf(stderr, "AG_BUILDDIR / AG_SRCDIR not set: run through make check\n");
		return 77;
	}
	snprintf(e->dir, sizeof(e->dir), "/tmp/ag-e2e.XXXXXX");
	if (mkdtemp(e->dir) == NULL || chmod(e->dir, 0755) != 0)
		return 1;
	paths(e);
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

void e2e_remove_dir(const struct e2e *e)
{
	if (e->dir[0] != '\0')
		(void)nftw(e->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int socket_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, ok;

	if (len >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int e2e_gov_start(struct e2e *e, const char *extra)
{
	char conf[8192], bin[E2E_PATH * 2];
	long start;
	pid_t pid;

	snprintf(conf, sizeof(conf),
	         "[governor]\nsocket = %s\nuser_socket = %s\nstate_file = %s\n%s\n", e->sock,
	         e->usock, e->state, extra != NULL ? extra : "");
	if (e2e_write(e->conf, conf) != 0)
		return -1;
	snprintf(bin, sizeof(bin), "%s/authguard-governor", getenv("AG_BUILDDIR"));
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(e->govlog, O_WRONLY | O_CREAT | O_APPEND, 0644);

		unsetenv("LD_PRELOAD");
		unsetenv("PAM_WRAPPER");
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execl(bin, bin, "-f", "-c", e->conf, (char *)NULL);
		_exit(127);
	}
	e->gov = pid;
	start = e2e_now_ms();
	while (e2e_now_ms() - start < 5000) {
		int status;

		if (socket_answers(e->sock))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			e->gov = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

int e2e_gov_stop(struct e2e *e)
{
	long start = e2e_now_ms();
	int status;

	if (e->gov <= 0)
		return -1;
	kill(e->gov, SIGCONT);
	kill(e->gov, SIGTERM);
	while (e2e_now_ms() - start < 5000) {
		if (waitpid(e->gov, &status, WNOHANG) == e->gov) {
			e->gov = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	kill(e->gov, SIGKILL);
	waitpid(e->gov, &status, 0);
	e->gov = 0;
	return -1;
}

void e2e_gov_pause(struct e2e *e, int paused)
{
	if (e->gov > 0)
		kill(e->gov, paused ? SIGSTOP : SIGCONT);
}

void e2e_gov_heartbeat_age(struct e2e *e, long age_ms)
{
	struct timespec t[2];

	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= age_ms / 1000;
	t[0].tv_nsec -= (age_ms % 1000) * 1000000L;
	if (t[0].tv_nsec < 0) {
		t[0].tv_sec--;
		t[0].tv_nsec += 1000000000L;
	}
	t[1] = t[0];
	(void)utimensat(AT_FDCWD, e->sock, t, 0);
}

void e2e_reset_files(struct e2e *e)
{
	unlink(e->state);
	unlink(e->calls);
	unlink(e->ctl);
}

struct conv_data {
	const char *password, *code;
	struct e2e_login *out;
};

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *arg)
{
	struct conv_data *d = arg;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		const char *answer = NULL;

		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			answer = d->password;
			d->out->prompts++;
			break;
		case PAM_PROMPT_ECHO_ON:
			answer = d->code;
			d->out->prompts++;
			break;
		case PAM_TEXT_INFO:
		case PAM_ERROR_MSG: {
			size_t len = strlen(d->out->info);

			snprintf(d->out->info + len, sizeof(d->out->info) - len, "%s\n", msg[i]->msg);
			break;
		}
		default:
			break;
		}
		if (answer != NULL && (r[i].resp = strdup(answer)) == NULL) {
			for (int j = 0; j < i; j++)
				free(r[j].resp);
			free(r);
			return PAM_BUF_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

void e2e_login(const struct e2e *e, const char *service, const char *user, const char *password,
               const char *rhost, const char *ssh_connection, const char *code,
               struct e2e_login *out)
{
	struct conv_data d = { password, code, out };
	struct pam_conv pc = { conv, &d };
	struct pam_testcase tests[] = {
		pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
		pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
	};
	pam_handle_t *ph = NULL;
	long start = e2e_now_ms();
	char env[256];

	memset(out, 0, sizeof(*out));
	out->acct_rv = -1;
	if (pam_start(service, user, &pc, &ph) != PAM_SUCCESS) {
		out->auth_rv = -1;
		return;
	}
	if (rhost != NULL)
		pam_set_item(ph, PAM_RHOST, rhost);
	if (ssh_connection != NULL) {
		snprintf(env, sizeof(env), "SSH_CONNECTION=%s", ssh_connection);
		pam_putenv(ph, env);
	}
	/* Debian's libpamtest.h misplaces a parenthesis in run_pamtest_conv;
	 * call the function behind the macro. The handle is ours, so PAM_RHOST
	 * and the PAM environment are set before authenticate. */
	(void)_pamtest_conv(service, user, conv, &d, tests, sizeof(tests) / sizeof(tests[0]), ph);
	out->auth_rv = tests[0].op_rv;
	if (out->auth_rv == PAM_SUCCESS)
		out->acct_rv = tests[1].op_rv;
	out->elapsed_ms = e2e_now_ms() - start;
}

int e2e_backend_calls(const struct e2e *e)
{
	FILE *f = fopen(e->calls, "r");
	int c, n = 0;

	if (f == NULL)
		return 0;
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

int e2e_ctl(const struct e2e *e, const char *args, char *out, size_t cap)
{
	char cmd[E2E_PATH * 3];
	size_t len = 0, n;
	FILE *p;
	int status;

	snprintf(cmd, sizeof(cmd), "env -u LD_PRELOAD %s/authguardctl -s %s %s",
	         getenv("AG_BUILDDIR"), e->sock, args);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	while (len + 1 < cap && (n = fread(out + len, 1, cap - len - 1, p)) > 0)
		len += n;
	out[len] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int e2e_admin(const char *path, const char *cmd, const char *const *args, int nargs, char *text,
              size_t cap, int *code)
{
	int64_t deadline = ag_mono_ms() + 2000;
	size_t len = 0;
	struct ag_conn c;
	struct ag_msg m;
	int rc;

	*code = 0;
	if (cap > 0)
		text[0] = '\0';
	ag_conn_init(&c);
	ag_msg_init(&m, AG_MSG_ADMIN);
	ag_msg_set_str(&m, AG_F_CMD, cmd);
	for (int i = 0; i < nargs && i < AG_ADMIN_ARGS; i++)
		ag_msg_set_str(&m, AG_F_ARG0 + i, args[i]);
	rc = ag_conn_open(&c, path, deadline);
	if (rc == 0)
		rc = ag_conn_send(&c, &m, deadline);
	while (rc == 0) {
		rc = ag_conn_recv(&c, &m, deadline);
		if (rc != 0)
			break;
		if (m.type == AG_MSG_ERROR) {
			*code = AG_HAS(&m, AG_F_CODE) ? m.code : AG_ERR_PROTO;
			break;
		}
		if (m.type != AG_MSG_REPLY) {
			rc = AG_ERR_PROTO;
			break;
		}
		if (AG_HAS(&m, AG_F_TEXT) && len + 1 < cap) {
			size_t n = m.text.len < cap - len - 1 ? m.text.len : cap - len - 1;

			memcpy(text + len, m.text.ptr, n);
			len += n;
			text[len] = '\0';
		}
		if (!AG_HAS(&m, AG_F_MORE) || m.more == 0)
			break;
	}
	ag_conn_close(&c);
	return rc;
}

long long e2e_status(const struct e2e *e, const char *key)
{
	char text[16384], *p, *end;
	size_t klen = strlen(key);
	long long v;
	int code;

	if (e2e_admin(e->sock, "status", NULL, 0, text, sizeof(text), &code) != 0 || code != 0)
		return -1;
	/* logfmt: the key starts the line or follows a space. */
	for (p = text; (p = strstr(p, key)) != NULL; p += klen) {
		if ((p != text && p[-1] != ' ' && p[-1] != '\n') || p[klen] != '=')
			continue;
		errno = 0;
		v = strtoll(p + klen + 1, &end, 10);
		if (errno != 0 || end == p + klen + 1)
			return -1;
		return v;
	}
	return -1;
}

struct e2e_pam {
	pam_handle_t *ph;
	struct pam_conv pc;
	struct conv_data d;
	struct e2e_login out;
	int last;
};

struct e2e_pam *e2e_pam_open(const struct e2e *e, const char *service, const char *user,
                             const char *password, const char *rhost)
{
	struct e2e_pam *p = calloc(1, sizeof(*p));

	(void)e;
	if (p == NULL)
		return NULL;
	p->d.password = password;
	p->d.out = &p->out;
	p->pc.conv = conv;
	p->pc.appdata_ptr = &p->d;
	p->last = PAM_SUCCESS;
	if (pam_start(service, user, &p->pc, &p->ph) != PAM_SUCCESS) {
		free(p);
		return NULL;
	}
	if (rhost != NULL)
		pam_set_item(p->ph, PAM_RHOST, rhost);
	return p;
}

int e2e_pam_run(struct e2e_pam *p, int op)
{
	switch (op) {
	case E2E_AUTH:
		p->last = pam_authenticate(p->ph, 0);
		break;
	case E2E_SETCRED:
		p->last = pam_setcred(p->ph, PAM_ESTABLISH_CRED);
		break;
	case E2E_ACCT:
		p->last = pam_acct_mgmt(p->ph, 0);
		break;
	default:
		return PAM_SYSTEM_ERR;
	}
	return p->last;
}

void e2e_pam_close(struct e2e_pam *p)
{
	if (p == NULL)
		return;
	pam_end(p->ph, p->last);
	free(p);
}

/* fake_gov.c - the fake governor of the client and gate unit tests (see
 * fake_gov.h). */
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
#include "ag_err.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "fake_gov.h"

void fake_sleep_ms(int ms)
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
		fake_sleep_ms(2);
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
			fake_sleep_ms(a->ms);
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

struct act *fake_add(struct fake *f, int kind)
{
	struct act *a;

	assert_true(f->nacts < MAX_ACTS);
	a = &f->acts[f->nacts++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

void fake_add_raw(struct fake *f, const void *bytes, size_t len)
{
	struct act *a = fake_add(f, A_RAW);

	assert_true(len <= sizeof(a->raw));
	memcpy(a->raw, bytes, len);
	a->rawlen = len;
}

struct ag_msg *fake_add_verdict(struct fake *f, int kind, int verdict)
{
	struct act *a = fake_add(f, kind);

	ag_msg_init(&a->msg, AG_MSG_VERDICT);
	ag_msg_set_u32(&a->msg, AG_F_VERDICT, (uint32_t)verdict);
	return &a->msg;
}

void fake_start(struct fake *f)
{
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	f->running = 1;
}

void fake_join(struct fake *f)
{
	if (f->running)
		assert_int_equal(pthread_join(f->th, NULL), 0);
	f->running = 0;
}

int fake_listen_at(const char *path, int backlog)
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

int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/agtest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/gov.sock", f->dir);
	f->lfd = fake_listen_at(f->path, 8);
	*state = f;
	return 0;
}

int fake_teardown(void **state)
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

/* ag_client.c - the client side of the governor protocol.
 *
 * Every wait is a poll() bounded by what is left until an absolute deadline on
 * the monotonic clock, so that no caller (sshd, sudo, the CLI) can hang here
 * whatever the governor does. Nothing here raises a signal or logs.
 */
#include "config.h"
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "ag_client.h"
#include "ag_err.h"
#include "ag_time.h"

void ag_conn_init(struct ag_conn *c)
{
	if (c == NULL)
		return;
	c->fd = -1;
	c->rlen = 0;
	c->pending = 0;
}

void ag_conn_close(struct ag_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		(void)close(c->fd);
	ag_conn_init(c);
}

/* Waits until fd is ready for events or the deadline passes. Returns 0 when
 * ready (or in error: the caller's next call finds out which),
 * AG_ERR_TIMEOUT, AG_ERR_SYS. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	struct pollfd p;
	int64_t left;
	int n;

	for (;;) {
		left = deadline_ms - ag_mono_ms();
		if (left <= 0)
			return AG_ERR_TIMEOUT;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return AG_ERR_SYS;
		}
		if (n == 0)
			continue; /* poll rounds; the loop re-reads the clock */
		if (p.revents & POLLNVAL)
			return AG_ERR_SYS;
		return 0;
	}
}

/* What a failed connect means to the caller. */
static int connect_error(int err)
{
	switch (err) {
	case ENOENT:
	case ECONNREFUSED:
	case ENOTDIR:
		return AG_ERR_CONNECT;
	case EAGAIN:
		/* A Unix socket's listen backlog is full: the governor is alive
		 * but not accepting fast enough. */
		return AG_ERR_BUSY;
	case EACCES:
	case EPERM:
		return AG_ERR_PERM;
	case ETIMEDOUT:
		return AG_ERR_TIMEOUT;
	default:
		return AG_ERR_SYS;
	}
}

/* Finishes a connect that is in progress. */
static int connect_finish(int fd, int64_t deadline_ms)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	int rc;

	rc = wait_fd(fd, POLLOUT, deadline_ms);
	if (rc != 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		return AG_ERR_SYS;
	return soerr == 0 ? 0 : connect_error(soerr);
}

int ag_conn_open(struct ag_conn *c, const char *path, int64_t deadline_ms)
{
	struct sockaddr_un sa;
	size_t plen;
	int fd = -1;
	int rc;

	if (c == NULL)
		return AG_ERR_INVAL;
	/* Never leak a descriptor the caller forgot to close. */
	ag_conn_close(c);
	if (path == NULL)
		return AG_ERR_INVAL;
	plen = strlen(path);
	if (plen == 0 || plen >= sizeof(sa.sun_path))
		return AG_ERR_INVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = AG_ERR_SYS;
		goto out;
	}
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
		/* EINTR leaves the connect going on asynchronously, as
		 * EINPROGRESS does. */
		if (errno == EINPROGRESS || errno == EINTR)
			rc = connect_finish(fd, deadline_ms);
		else
			rc = connect_error(errno);
		if (rc != 0)
			goto out;
	}
	c->fd = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		(void)close(fd);
	return rc;
}

int ag_conn_send(struct ag_conn *c, const struct ag_msg *m, int64_t deadline_ms)
{
	uint8_t buf[AG_FRAME_MAX];
	size_t len = 0, off = 0;
	ssize_t n;
	int rc;

	if (c == NULL || m == NULL)
		return AG_ERR_INVAL;
	if (c->fd < 0)
		return AG_ERR_CLOSED;
	rc = ag_wire_encode(m, buf, sizeof(buf), &len);
	if (rc != 0)
		return rc;
	while (off < len) {
		n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			rc = wait_fd(c->fd, POLLOUT, deadline_ms);
			if (rc != 0)
				return rc;
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN))
			return AG_ERR_CLOSED;
		return AG_ERR_IO;
	}
	return 0;
}

/* Drops the frame handed out by the previous ag_conn_recv, whose strings the
 * caller has stopped using by now. */
static void drop_pending(struct ag_conn *c)
{
	if (c->pending == 0)
		return;
	if (c->pending >= c->rlen) {
		c->rlen = 0;
	} else {
		memmove(c->rbuf, c->rbuf + c->pending, c->rlen - c->pending);
		c->rlen -= c->pending;
	}
	c->pending = 0;
}

/* Reads whatever is available into rbuf, waiting until the deadline for at
 * least one byte. */
static int fill(struct ag_conn *c, int64_t deadline_ms)
{
	ssize_t n;
	int rc;

	for (;;) {
		n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		if (n > 0) {
			c->rlen += (size_t)n;
			return 0;
		}
		if (n == 0)
			return AG_ERR_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			rc = wait_fd(c->fd, POLLIN, deadline_ms);
			if (rc != 0)
				return rc;
			continue;
		}
		if (errno == ECONNRESET)
			return AG_ERR_CLOSED;
		return AG_ERR_IO;
	}
}

int ag_conn_recv(struct ag_conn *c, struct ag_msg *out, int64_t deadline_ms)
{
	size_t used = 0;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (c == NULL || out == NULL)
		return AG_ERR_INVAL;
	if (c->fd < 0)
		return AG_ERR_CLOSED;
	drop_pending(c);
	for (;;) {
		if (c->rlen > 0) {
			rc = ag_wire_decode(c->rbuf, c->rlen, out, &used);
			if (rc == 0)
				break;
			if (rc != AG_ERR_AGAIN)
				goto fail;
			/* rbuf holds AG_FRAME_MAX bytes, so a full buffer that
			 * still lacks a frame means the decoder's limit and ours
			 * disagree: garbage either way. */
			if (c->rlen == sizeof(c->rbuf)) {
				rc = AG_ERR_TOOBIG;
				goto fail;
			}
		}
		rc = fill(c, deadline_ms);
		if (rc != 0)
			goto fail;
	}
	if (ag_wire_sender(out->type) != AG_FROM_GOVERNOR) {
		rc = AG_ERR_PROTO;
		goto fail;
	}
	c->pending = used;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return rc;
}

/* ag_client.h - the client side of the governor protocol (module, CLI, bench).
 *
 * Every call takes an absolute deadline on the monotonic clock (ag_mono_ms)
 * and never blocks past it: non-blocking connect, send with MSG_NOSIGNAL and
 * receive under poll(). fds are close-on-exec. No global state.
 */
#ifndef AG_CLIENT_H
#define AG_CLIENT_H

#include <stdint.h>
#include <stddef.h>
#include "ag_wire.h"

struct ag_conn {
	int fd;                       /* -1 when closed */
	size_t rlen;                  /* bytes buffered in rbuf */
	uint8_t rbuf[AG_FRAME_MAX];   /* partial frames; decoded messages borrow it */
	size_t pending;               /* size of the last decoded frame, dropped on the next recv */
};

/* Initialises *c as closed. */
void ag_conn_init(struct ag_conn *c);

/* Connects to the Unix socket at path (c closed first if it was open).
 * Returns 0, AG_ERR_CONNECT when nobody listens there (no file, refused, a
 * path component not a directory), AG_ERR_BUSY when the listen backlog is
 * full (EAGAIN: the governor is alive but shedding), AG_ERR_PERM (EACCES:
 * the socket is not ours to use), AG_ERR_TIMEOUT, AG_ERR_SYS, AG_ERR_INVAL
 * (NULL, empty path or one too long for sun_path). */
int ag_conn_open(struct ag_conn *c, const char *path, int64_t deadline_ms)
	__attribute__((warn_unused_result));

/* Sends one message. 0, AG_ERR_TIMEOUT, AG_ERR_CLOSED (also when c is not
 * open), AG_ERR_IO, AG_ERR_SYS, or an encoding error (AG_ERR_INVAL,
 * AG_ERR_TOOBIG). */
int ag_conn_send(struct ag_conn *c, const struct ag_msg *m, int64_t deadline_ms)
	__attribute__((warn_unused_result));

/* Receives one message into *out (cleared on entry); its strings borrow
 * c->rbuf until the next call. A frame already buffered is returned even when
 * the deadline has passed. 0, AG_ERR_TIMEOUT, AG_ERR_CLOSED (EOF, reset, or c
 * not open), AG_ERR_IO, AG_ERR_SYS, or a decode error (AG_ERR_PROTO,
 * AG_ERR_VERSION, AG_ERR_TOOBIG: garbage from the peer; close the
 * connection). A message of a type only clients send is AG_ERR_PROTO. */
int ag_conn_recv(struct ag_conn *c, struct ag_msg *out, int64_t deadline_ms)
	__attribute__((warn_unused_result));

/* Closes the fd (if open). Safe to call twice, and on NULL. */
void ag_conn_close(struct ag_conn *c);

#endif

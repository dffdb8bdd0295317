/*
 * hiredis on the governor's libevent loop, with fewer system calls than
 * hiredis's own adapter (adapters/libevent.h), which re-arms its read event
 * after every reply and waits for a write event before every command: four
 * epoll_ctl calls and an extra turn of the loop per round trip.
 *
 * Here the read event is persistent, and a command is written at the end
 * of the loop's turn that issued it (one write(2) for all the commands of
 * that turn), through an event made active by hand. Only a write that
 * would block, and the connect itself, wait for the socket's write event.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <hiredis/async.h>

#include "ag_err.h"
#include "rds.h"

struct rds_ev {
	redisAsyncContext *ac;
	struct event *rev;   /* readable: persistent */
	struct event *wev;   /* writable: for a connect or a full socket */
	struct event *flush; /* no fd: activated to write at the turn's end */
	int reading;
	int flushing; /* in hiredis's write, where addWrite means "blocked" */
	int dead;     /* hiredis freed the context during our own call */
};

/* Also for a half-made one (rds_ev_attach): libevent's event_free takes
 * no NULL. */
static void ev_free(struct rds_ev *e)
{
	if (e->rev != NULL)
		event_free(e->rev);
	if (e->wev != NULL)
		event_free(e->wev);
	if (e->flush != NULL)
		event_free(e->flush);
	free(e);
}

/* hiredis's write; e may be freed inside it (cleanup marks it dead). */
static void write_now(struct rds_ev *e)
{
	e->flushing = 1;
	redisAsyncHandleWrite(e->ac);
	e->flushing = 0;
	if (e->dead)
		ev_free(e);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct rds_ev *e = arg;

	redisAsyncHandleRead(e->ac);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	write_now(arg);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	write_now(arg);
}

static void add_read(void *p)
{
	struct rds_ev *e = p;

	if (!e->reading && event_add(e->rev, NULL) == 0)
		e->reading = 1;
}

static void del_read(void *p)
{
	struct rds_ev *e = p;

	event_del(e->rev);
	e->reading = 0;
}

static void add_write(void *p)
{
	struct rds_ev *e = p;

	/* A connect in progress, or a write that left bytes behind: wait for
	 * the socket. Otherwise write once this turn of the loop is done. */
	if (e->flushing || !(e->ac->c.flags & REDIS_CONNECTED))
		event_add(e->wev, NULL);
	else if (!event_pending(e->flush, EV_WRITE, NULL))
		event_active(e->flush, EV_WRITE, 0);
}

static void del_write(void *p)
{
	struct rds_ev *e = p;

	event_del(e->wev);
}

static void cleanup(void *p)
{
	struct rds_ev *e = p;

	event_del(e->rev);
	event_del(e->wev);
	event_del(e->flush);
	if (e->flushing)
		e->dead = 1;
	else
		ev_free(e);
}

int rds_ev_attach(redisAsyncContext *ac, struct event_base *base)
{
	struct rds_ev *e;
	int fd = ac->c.fd;

	if (ac->ev.data != NULL)
		return REDIS_ERR;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return REDIS_ERR;
	e->ac = ac;
	e->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, e);
	e->wev = event_new(base, fd, EV_WRITE, on_write, e);
	e->flush = event_new(base, -1, 0, on_flush, e);
	if (e->rev == NULL || e->wev == NULL || e->flush == NULL) {
		ev_free(e);
		return REDIS_ERR;
	}
	ac->ev.data = e;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	/* As hiredis's adapter: read, and wait for the connect to finish. */
	add_read(e);
	event_add(e->wev, NULL);
	return REDIS_OK;
}

int rds_open(struct event_base *base, const char *host, unsigned port, const char *path,
	     void *data, redisConnectCallback *up, redisDisconnectCallback *down,
	     redisAsyncContext **out, char *why, size_t whylen)
{
	redisAsyncContext *ac = host[0] == '\0' ? redisAsyncConnectUnix(path)
						: redisAsyncConnect(host, (int)port);
	int rc = AG_ERR_NOMEM;

	*out = NULL;
	snprintf(why, whylen, "out of memory");
	if (ac == NULL)
		goto out;
	if (ac->err) {
		snprintf(why, whylen, "%s", ac->errstr);
		rc = AG_ERR_CONNECT;
		goto out;
	}
	if (rds_ev_attach(ac, base) != REDIS_OK || redisAsyncSetConnectCallback(ac, up) != REDIS_OK ||
	    (down != NULL && redisAsyncSetDisconnectCallback(ac, down) != REDIS_OK))
		goto out;
	ac->data = data;
	*out = ac;
	ac = NULL;
	rc = 0;
out:
	if (ac != NULL)
		redisAsyncFree(ac);
	return rc;
}

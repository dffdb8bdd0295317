/* metrics_http.c - GET /metrics over HTTP on a loopback address, for a
 * Prometheus scraper (metrics_listen; off by default).
 *
 * Bounded in every direction: at most HTTP_CONN_MAX connections at once (a
 * connection past that is closed as it is accepted, and counted), a request
 * head of at most HTTP_HEAD_MAX bytes, HTTP_DEADLINE_S for the whole
 * exchange however slowly the peer trickles, one request per connection
 * (Connection: close). libevent 2.1's evhttp bounds headers and idle time but
 * not the number of connections (evhttp_set_max_connections came with 2.2),
 * so a local process could spend the governor's descriptors through it; the
 * one page we serve is simple enough to answer on bufferevents.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "ag_conf.h"
#include "ag_err.h"
#include "gov.h"
#include "log.h"
#include "metrics.h"

#define HTTP_CONN_MAX	 16
#define HTTP_HEAD_MAX	 8192 /* request line and headers */
#define HTTP_LINE_MAX	 1024 /* the request line */
#define HTTP_DEADLINE_S	 5
#define HTTP_BACKLOG	 16
#define HTTP_RETRY_MS	 1000 /* after accept failed (out of descriptors) */

struct http_conn {
	struct gov_http *h;
	struct bufferevent *bev;
	struct event *deadline;
	struct http_conn *prev, *next;
};

struct gov_http {
	struct gov *g;
	struct evconnlistener *lis;
	struct event *resume;
	struct http_conn *conns;
	int n;
	uint64_t refused;
	char *addr; /* the metrics_listen it was opened on */
};

static void conn_free(struct http_conn *c)
{
	struct gov_http *h = c->h;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	h->n--;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->deadline != NULL)
		event_free(c->deadline);
	free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(arg);
}

/* After the answer: discard what the peer still sends until it closes. */
static void on_drain(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	evbuffer_drain(in, evbuffer_get_length(in));
}

/* The answer is out. Closing now with unread input would reset the
 * connection and could destroy the answer in flight (a 431 after a big
 * head), so half-close and let the peer close; the deadline bounds it. */
static void on_sent(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	if (shutdown(bufferevent_getfd(bev), SHUT_WR) != 0) {
		conn_free(c);
		return;
	}
	bufferevent_setcb(bev, on_drain, NULL, on_event, c);
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_enable(bev, EV_READ);
}

/* Queues the response and closes once it is sent. body may be NULL (HEAD,
 * or an error whose reason is the body). */
static void respond(struct http_conn *c, int code, const char *reason, const char *type,
		    const char *body, size_t len, int head_only)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const char *text = body;

	if (text == NULL) {
		text = reason;
		len = strlen(reason);
		type = "text/plain; charset=utf-8";
	}
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, on_sent, on_event, c);
	if (evbuffer_add_printf(out,
				"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
				"%sConnection: close\r\n\r\n",
				code, reason, type, len,
				code == 405 ? "Allow: GET, HEAD\r\n" : "") < 0 ||
	    (!head_only && evbuffer_add(out, text, len) != 0)) {
		conn_free(c);
		return;
	}
	bufferevent_enable(c->bev, EV_WRITE);
}

/* "METHOD TARGET HTTP/1.x": 0 and the parts, or -1. */
static int request_line(char *line, char **method, char **target)
{
	char *sp1 = strchr(line, ' '), *sp2;

	if (sp1 == NULL)
		return -1;
	*sp1 = '\0';
	sp2 = strchr(sp1 + 1, ' ');
	if (sp2 == NULL)
		return -1;
	*sp2 = '\0';
	if (strcmp(sp2 + 1, "HTTP/1.0") != 0 && strcmp(sp2 + 1, "HTTP/1.1") != 0)
		return -1;
	*method = line;
	*target = sp1 + 1;
	return **method != '\0' && **target == '/' ? 0 : -1;
}

static void answer(struct http_conn *c, char *line)
{
	static char text[GOV_METRICS_MAX]; /* single-threaded loop */
	char *method, *target;
	size_t len = 0, plen;
	int head;

	if (request_line(line, &method, &target) != 0) {
		respond(c, 400, "Bad Request", NULL, NULL, 0, 0);
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond(c, 405, "Method Not Allowed", NULL, NULL, 0, 0);
		return;
	}
	/* /metrics, with or without a query (a scraper's params are ignored). */
	plen = strcspn(target, "?");
	if (plen != strlen("/metrics") || strncmp(target, "/metrics", plen) != 0) {
		respond(c, 404, "Not Found", NULL, NULL, 0, head);
		return;
	}
	if (gov_metrics_render(c->h->g, text, sizeof(text), &len) < 0) {
		gov_log(LOG_ERR, "metrics: exposition larger than %d bytes", GOV_METRICS_MAX);
		respond(c, 500, "Internal Server Error", NULL, NULL, 0, head);
		return;
	}
	respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text, len, head);
}

/* Waits for the whole head (a blank line), then answers from its first line. */
static void on_read(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	size_t n;
	char *line;

	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0)
		end = evbuffer_search(in, "\n\n", 2, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > HTTP_HEAD_MAX)
			respond(c, 431, "Request Header Fields Too Large", NULL, NULL, 0, 0);
		return;
	}
	if ((size_t)end.pos > HTTP_HEAD_MAX) {
		respond(c, 431, "Request Header Fields Too Large", NULL, NULL, 0, 0);
		return;
	}
	line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	if (line == NULL || n > HTTP_LINE_MAX) {
		free(line);
		respond(c, 400, "Bad Request", NULL, NULL, 0, 0);
		return;
	}
	answer(c, line);
	free(line);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct gov_http *h = arg;
	struct timeval dl = {HTTP_DEADLINE_S, 0};
	struct http_conn *c;

	if (h->n >= HTTP_CONN_MAX) {
		h->refused++;
		evutil_closesocket(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->h = h;
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
	h->n++;
	c->bev = bufferevent_socket_new(h->g->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(h->g->base, on_deadline, c);
	if (c->bev == NULL || c->deadline == NULL || evtimer_add(c->deadline, &dl) != 0) {
		if (c->bev == NULL)
			evutil_closesocket(fd);
		conn_free(c);
		return;
	}
	bufferevent_setwatermark(c->bev, EV_READ, 0, HTTP_HEAD_MAX + 1);
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct gov_http *h = arg;

	evconnlistener_enable(h->lis);
}

/* accept failed (EMFILE, ENFILE, ENOMEM): pause rather than spin. */
static void on_accept_error(struct evconnlistener *lis, void *arg)
{
	struct gov_http *h = arg;
	int e = EVUTIL_SOCKET_ERROR();

	if (e == EINTR || e == EAGAIN || e == ECONNABORTED)
		return;
	gov_log(LOG_WARNING, "metrics: accept: %s; pausing 1 s", strerror(e));
	evconnlistener_disable(lis);
	gov_timer_ms(h->resume, HTTP_RETRY_MS);
}

uint64_t gov_metrics_http_refused(const struct gov *g)
{
	return g->http != NULL ? g->http->refused : 0;
}

int gov_metrics_listen(struct gov *g)
{
	const char *spec = g->conf->metrics_listen;
	char host[64];
	struct sockaddr_storage ss;
	struct gov_http *h;
	unsigned port = 0;
	int sslen = (int)sizeof(ss), e;

	if (spec == NULL || spec[0] == '\0')
		return 0;
	/* The config loader checked it; a conf built otherwise is checked here. */
	if (ag_parse_loopback(spec, host, sizeof(host), &port) < 0 ||
	    evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) != 0) {
		gov_log(LOG_ERR, "metrics_listen must be a loopback address and port");
		return AG_ERR_CONFIG;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return AG_ERR_NOMEM;
	g->http = h;
	h->g = g;
	h->addr = strdup(spec);
	h->resume = evtimer_new(g->base, on_resume, h);
	if (h->addr == NULL || h->resume == NULL)
		return AG_ERR_NOMEM;
	errno = 0;
	h->lis = evconnlistener_new_bind(g->base, on_accept, h,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					     LEV_OPT_CLOSE_ON_EXEC,
					 HTTP_BACKLOG, (struct sockaddr *)&ss, sslen);
	if (h->lis == NULL) {
		e = errno;
		gov_log(LOG_ERR, "cannot serve metrics on %s: %s", spec,
			e != 0 ? strerror(e) : "bind failed");
		return AG_ERR_SYS;
	}
	evconnlistener_set_error_cb(h->lis, on_accept_error);
	gov_log(LOG_NOTICE, "metrics at http://%s/metrics", spec);
	return 0;
}

const char *gov_metrics_addr(const struct gov *g)
{
	return g->http != NULL ? g->http->addr : NULL;
}

void gov_metrics_close(struct gov *g)
{
	struct gov_http *h;

	if (g == NULL || g->http == NULL)
		return;
	h = g->http;
	while (h->conns != NULL)
		conn_free(h->conns);
	if (h->lis != NULL)
		evconnlistener_free(h->lis);
	if (h->resume != NULL)
		event_free(h->resume);
	free(h->addr);
	free(h);
	g->http = NULL;
}

/* rds_sentinel.c - the Redis store's Sentinels (see rds.h and
 * docs/design.md, "Sentinel"): which Redis is the master, and following it
 * when it moves, without a restart.
 *
 * Before each attempt to connect, the Sentinels are asked in turn, the one
 * we are subscribed to first (SENTINEL get-master-addr-by-name, at most
 * RDS_SENTINEL_MS each: hiredis 0.14 has no timeout of its own); the first
 * usable answer is where the connections go. When none answers, the last
 * known address stays (at first the URL's). One more connection stays
 * subscribed to a Sentinel's +switch-master: a message naming our master
 * moves the address and drops the connections, which reconnect there. Two
 * signals catch a move missed while not subscribed: the setup's ROLE
 * (rds_conn.c) refuses a replica, and a -READONLY reply to a command drops
 * the connection (rds_readonly); either way the next attempt asks again.
 * The Sentinels are asked again whenever the subscription is (re)made.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "ag_err.h"
#include "ag_escape.h"
#include "ag_redis_url.h"
#include "ag_time.h"
#include "log.h"
#include "rds.h"

#define ADDR_TEXT (AG_REDIS_HOST_MAX + 8) /* "[" host "]:" port */

/* Trouble with the Sentinels, at most once per RDS_LOG_EVERY_MS: as
 * rds_trouble, but counted apart, so that it never hides the trouble with
 * Redis itself (a replica refused, a password) that follows it. */
static void sent_trouble(struct rds *r, const char *what, const char *detail)
{
	int64_t now = ag_mono_ms();

	if (r->sent_log_ms != 0 && now - r->sent_log_ms < RDS_LOG_EVERY_MS)
		return;
	r->sent_log_ms = now;
	gov_log(LOG_WARNING, "redis: %s: %s", what, detail);
}

/* ---- addresses ---- */

static void addr_text(char *b, size_t cap, const struct rds_addr *a)
{
	if (strchr(a->host, ':') != NULL)
		snprintf(b, cap, "[%s]:%u", a->host, a->port);
	else
		snprintf(b, cap, "%s:%u", a->host, a->port);
}

/* "redis://" url parsed as [store] redis would be, into *out. 0 or
 * AG_ERR_CONFIG. */
static int addr_parse_url(const char *url, struct rds_addr *out)
{
	struct ag_redis_url u;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ag_redis_url_parse(url, &u, NULL, 0);
	if (rc == 0 && (u.unix_socket || u.user[0] != '\0' || u.password[0] != '\0' || u.db != 0))
		rc = AG_ERR_CONFIG;
	if (rc == 0) {
		memcpy(out->host, u.host, sizeof(out->host));
		out->port = u.port;
	}
	ag_redis_url_wipe(&u);
	return rc;
}

/* A Sentinel's host and port (not NUL-terminated: pieces of a reply):
 * an IP literal, never a name (resolving it would block the loop), and a
 * port. 0 or AG_ERR_PROTO. */
static int addr_of(const char *host, size_t hl, const char *port, size_t pl, struct rds_addr *out)
{
	char url[AG_REDIS_HOST_MAX + 24];

	memset(out, 0, sizeof(*out));
	/* Only what an IP literal and a port are made of: no '@', '/' or '['
	 * that would make the URL mean something else. */
	if (hl == 0 || hl >= AG_REDIS_HOST_MAX || pl == 0 || pl > 5 ||
	    strspn(host, "0123456789abcdefABCDEF.:") < hl || strspn(port, "0123456789") < pl)
		return AG_ERR_PROTO;
	if (memchr(host, ':', hl) != NULL)
		snprintf(url, sizeof(url), "redis://[%.*s]:%.*s", (int)hl, host, (int)pl, port);
	else
		snprintf(url, sizeof(url), "redis://%.*s:%.*s", (int)hl, host, (int)pl, port);
	return addr_parse_url(url, out) == 0 ? 0 : AG_ERR_PROTO;
}

/* conf->redis_sentinels, with the parser the config check uses. 0 or
 * AG_ERR_CONFIG (logged). */
static int sentinels_parse(struct rds *r, const char *s)
{
	struct ag_redis_url u[AG_REDIS_HOSTS_MAX];
	char why[128];
	size_t n = 0, i;
	int rc;

	_Static_assert(RDS_SENTINELS_MAX >= AG_REDIS_HOSTS_MAX, "Sentinel slots");
	rc = ag_redis_hosts_parse(s, u, &n, why, sizeof(why));
	r->nsent = 0;
	for (i = 0; rc == 0 && i < n; i++) {
		memcpy(r->sent[i].host, u[i].host, sizeof(r->sent[i].host));
		r->sent[i].port = u[i].port;
		r->nsent++;
	}
	for (i = 0; i < n; i++)
		ag_redis_url_wipe(&u[i]);
	if (rc != 0)
		gov_log(LOG_ERR, "[store] redis_sentinels: %s", why);
	return rc;
}

/* The master is at *a, as Sentinel `from` says. Logged once per change
 * (and at the first answer, so that the log says where it went). 1 when
 * it moved. */
static int master_is(struct rds *r, const struct rds_addr *a, const struct rds_addr *from)
{
	char m[ADDR_TEXT], s[ADDR_TEXT];
	int moved = strcmp(r->master.host, a->host) != 0 || r->master.port != a->port;

	if (moved || !r->master_named) {
		addr_text(m, sizeof(m), a);
		addr_text(s, sizeof(s), from);
		gov_log(LOG_NOTICE, "redis: master %s is now %s (Sentinel %s)", r->master_name, m,
			s);
	}
	r->master = *a;
	r->master_named = 1;
	return moved;
}

/* The master moved: the connections still on the old address go, and
 * reconnect to the new one (after RDS_RETRY_MS, asking again). */
static void moved_away(struct rds *r)
{
	if (r->ac != NULL)
		rds_conn_drop(r, "failover: the Sentinels name another master");
	rds_sub_drop(r);
}

/* A connection to Sentinel i on the loop, connecting; NULL on failure. */
static redisAsyncContext *sentinel_ctx(struct rds *r, int i, redisConnectCallback *up,
				       redisDisconnectCallback *down)
{
	redisAsyncContext *ac = NULL;
	char why[128];

	(void)rds_open(r->base, r->sent[i].host, r->sent[i].port, "", r, up, down, &ac, why,
		       sizeof(why));
	return ac;
}

/* Frees *acp (no callback of ours runs for it: data is cleared first). */
static void ctx_close(redisAsyncContext **acp)
{
	redisAsyncContext *ac = *acp;

	*acp = NULL;
	if (ac != NULL) {
		ac->data = NULL;
		redisAsyncFree(ac);
	}
}

/* ---- asking: SENTINEL get-master-addr-by-name ---- */

static void ask_next(struct rds *r);

/* The asking is over; moved: a Sentinel named another master than the
 * one in use. */
static void ask_done(struct rds *r, int moved)
{
	evtimer_del(r->sq_timer);
	if (moved)
		moved_away(r);
	if (r->ask_then_connect) {
		r->ask_then_connect = 0;
		r->asked = 1;
		rds_conn_start(r);
	}
}

static void on_answer(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds *r = ac->data;
	const redisReply *rep = reply;
	struct rds_addr a;
	char who[ADDR_TEXT];
	int moved;

	if (r == NULL || ac != r->sq)
		return;
	if (rep == NULL) {
		/* hiredis is freeing it (the Sentinel went away): forget it. */
		r->sq = NULL;
		ask_next(r);
		return;
	}
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_STRING &&
	    rep->element[1]->type == REDIS_REPLY_STRING &&
	    addr_of(rep->element[0]->str, rep->element[0]->len, rep->element[1]->str,
		    rep->element[1]->len, &a) == 0) {
		ctx_close(&r->sq); /* in its callback: hiredis frees it on return */
		moved = master_is(r, &a, &r->sent[r->sq_at]);
		ask_done(r, moved);
		return;
	}
	/* Nil: the Sentinel does not know the name (a configuration error, so
	 * worth a line); anything else is not an answer either. */
	addr_text(who, sizeof(who), &r->sent[r->sq_at]);
	if (rep->type == REDIS_REPLY_NIL)
		sent_trouble(r, "a Sentinel does not know redis_master_name", who);
	else
		sent_trouble(r, "a Sentinel's answer is not IP and port", who);
	ctx_close(&r->sq);
	ask_next(r);
}

static void on_ask_connect(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	/* hiredis frees ac after this callback: only forget it. */
	if (r == NULL || status == REDIS_OK || ac != r->sq)
		return;
	r->sq = NULL;
	ask_next(r);
}

static void on_ask_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct rds *r = arg;

	ctx_close(&r->sq);
	ask_next(r);
	(void)fd;
	(void)what;
}

/* Asks the next Sentinel not asked yet in this round; none left: the
 * last known address stays. */
static void ask_next(struct rds *r)
{
	struct timeval tv = {RDS_SENTINEL_MS / 1000, (RDS_SENTINEL_MS % 1000) * 1000};
	redisAsyncContext *ac;
	char m[ADDR_TEXT + 16];

	while (!r->closing && r->sq_tried < r->nsent) {
		r->sq_at = (r->ss_at + r->sq_tried) % r->nsent;
		r->sq_tried++;
		ac = sentinel_ctx(r, r->sq_at, on_ask_connect, NULL);
		if (ac == NULL)
			continue;
		if (redisAsyncCommand(ac, on_answer, NULL, "SENTINEL get-master-addr-by-name %s",
				      r->master_name) != REDIS_OK) {
			ctx_close(&ac);
			continue;
		}
		r->sq = ac;
		evtimer_add(r->sq_timer, &tv);
		return;
	}
	if (r->closing)
		return;
	if (r->master.host[0] != '\0')
		addr_text(m, sizeof(m), &r->master);
	else
		snprintf(m, sizeof(m), "the URL's socket");
	sent_trouble(r, "no Sentinel named the master; trying the last known address", m);
	ask_done(r, 0);
}

/* A round of asking, unless one is under way. */
static void ask_round(struct rds *r)
{
	if (r->sq != NULL || r->closing || r->nsent == 0)
		return;
	r->sq_tried = 0;
	ask_next(r);
}

void rds_sentinel_ask(struct rds *r)
{
	r->ask_then_connect = 1;
	ask_round(r);
}

/* ---- following: SUBSCRIBE +switch-master ---- */

/* The next word of s[0..len) from *pos (words are split by one space):
 * its start and length, or NULL past the end. */
static const char *word(const char *s, size_t len, size_t *pos, size_t *wl)
{
	const char *w = s + *pos, *sp;

	if (*pos >= len)
		return NULL;
	sp = memchr(w, ' ', len - *pos);
	*wl = sp != NULL ? (size_t)(sp - w) : len - *pos;
	*pos += *wl + 1;
	return w;
}

/* "+switch-master NAME OLD-IP OLD-PORT NEW-IP NEW-PORT": 0 with the new
 * address when it is ours, 1 for another master, AG_ERR_PROTO. */
static int switch_parse(const struct rds *r, const char *s, size_t len, struct rds_addr *a)
{
	const char *w[5];
	size_t wl[5], pos = 0;
	int i;

	for (i = 0; i < 5; i++)
		if ((w[i] = word(s, len, &pos, &wl[i])) == NULL)
			return AG_ERR_PROTO;
	/* The fifth word ends the message (no space after it). */
	if (pos != len + 1)
		return AG_ERR_PROTO;
	if (wl[0] != strlen(r->master_name) || memcmp(w[0], r->master_name, wl[0]) != 0)
		return 1;
	return addr_of(w[3], wl[3], w[4], wl[4], a);
}

static void on_switch(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds *r = ac->data;
	const redisReply *rep = reply, *kind;
	struct rds_addr a;
	char text[96];
	int rc;

	if (r == NULL || ac != r->ss || rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 3 || rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	kind = rep->element[0];
	if (strcmp(kind->str, "subscribe") == 0) {
		/* Subscribed: a switch announced before now was missed, so ask. */
		r->ss_ok = 1;
		evtimer_del(r->ss_timer);
		ask_round(r);
		return;
	}
	if (strcmp(kind->str, "message") != 0 || rep->element[2]->type != REDIS_REPLY_STRING)
		return;
	rc = switch_parse(r, rep->element[2]->str, rep->element[2]->len, &a);
	if (rc < 0) {
		ag_escape(text, sizeof(text), rep->element[2]->str, rep->element[2]->len);
		sent_trouble(r, "a +switch-master message that does not parse", text);
		return;
	}
	if (rc == 0 && master_is(r, &a, &r->sent[r->ss_at]))
		moved_away(r);
}

/* The subscription is lost (or was never made): the next Sentinel, later. */
static void ss_lost(struct rds *r)
{
	struct timeval tv = {RDS_RETRY_MS / 1000, (RDS_RETRY_MS % 1000) * 1000};

	r->ss_ok = 0;
	r->ss_at = (r->ss_at + 1) % r->nsent;
	if (!r->closing)
		evtimer_add(r->ss_timer, &tv);
}

static void on_ss_connect(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	/* hiredis frees ac after this callback: only forget it. */
	if (r == NULL || status == REDIS_OK || ac != r->ss)
		return;
	r->ss = NULL;
	ss_lost(r);
}

static void on_ss_down(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	if (r == NULL || ac != r->ss)
		return;
	r->ss = NULL;
	ss_lost(r);
	(void)status;
}

static void ss_open(struct rds *r)
{
	struct timeval tv = {RDS_CONNECT_MS / 1000, (RDS_CONNECT_MS % 1000) * 1000};
	redisAsyncContext *ac;

	r->ss_ok = 0;
	ac = sentinel_ctx(r, r->ss_at, on_ss_connect, on_ss_down);
	if (ac != NULL &&
	    redisAsyncCommand(ac, on_switch, NULL, "SUBSCRIBE +switch-master") != REDIS_OK)
		ctx_close(&ac);
	if (ac == NULL) {
		ss_lost(r);
		return;
	}
	/* A Sentinel that vanishes without a word is noticed (TCP keepalive):
	 * nothing else is ever sent on this connection. */
	(void)redisEnableKeepAlive(&ac->c);
	r->ss = ac;
	/* Not subscribed by then: the next Sentinel (on_ss_timer). */
	evtimer_add(r->ss_timer, &tv);
}

static void on_ss_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rds *r = arg;

	if (r->ss != NULL && !r->ss_ok) {
		ctx_close(&r->ss);
		ss_lost(r);
		return;
	}
	if (r->ss == NULL && !r->closing)
		ss_open(r);
	(void)fd;
	(void)what;
}

void rds_sentinel_start(struct rds *r)
{
	if (r->nsent == 0 || r->closing || r->ss != NULL || r->ss_timer == NULL ||
	    evtimer_pending(r->ss_timer, NULL))
		return;
	ss_open(r);
}

/* ---- -READONLY ---- */

int rds_readonly(struct rds *r, const redisAsyncContext *ac, const redisReply *rep)
{
	if (rep == NULL || rep->type != REDIS_REPLY_ERROR || rep->str == NULL ||
	    strncmp(rep->str, "READONLY", 8) != 0)
		return 0;
	/* The Redis we write to is a replica now: a failover happened while
	 * we did not hear of it. Reconnecting asks the Sentinels again. */
	if (ac != NULL && ac == r->ac)
		rds_conn_drop(r, "Redis is a replica now (READONLY)");
	return 1;
}

/* ---- setting up ---- */

int rds_sentinel_init(struct rds *r)
{
	const struct ag_conf *c = r->conf;
	int rc;

	/* Until a Sentinel answers (and whenever none does), the URL's Redis. */
	memset(&r->master, 0, sizeof(r->master));
	if (!r->url.unix_socket) {
		memcpy(r->master.host, r->url.host, sizeof(r->master.host));
		r->master.port = r->url.port;
	}
	r->nsent = 0;
	if (c->redis_sentinels == NULL || c->redis_sentinels[0] == '\0')
		return 0;
	rc = sentinels_parse(r, c->redis_sentinels);
	if (rc < 0)
		return rc;
	if (c->redis_master_name == NULL || c->redis_master_name[0] == '\0' ||
	    strlen(c->redis_master_name) >= sizeof(r->master_name)) {
		gov_log(LOG_ERR,
			"[store] redis_sentinels needs redis_master_name (1 to %d characters)",
			RDS_MASTER_NAME_MAX - 1);
		return AG_ERR_CONFIG;
	}
	snprintf(r->master_name, sizeof(r->master_name), "%s", c->redis_master_name);
	r->sq_timer = evtimer_new(r->base, on_ask_deadline, r);
	r->ss_timer = evtimer_new(r->base, on_ss_timer, r);
	return r->sq_timer != NULL && r->ss_timer != NULL ? 0 : AG_ERR_NOMEM;
}

void rds_sentinel_free(struct rds *r)
{
	ctx_close(&r->sq);
	ctx_close(&r->ss);
	if (r->sq_timer != NULL)
		event_free(r->sq_timer);
	if (r->ss_timer != NULL)
		event_free(r->ss_timer);
	r->sq_timer = r->ss_timer = NULL;
}

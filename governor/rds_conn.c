/* rds_conn.c - the Redis store's connections (see store_redis.h).
 *
 * The main connection: connect (with a deadline of its own: hiredis 0.14
 * has no connect timeout), then AUTH, SELECT, ROLE (a master, or nothing
 * is written there), CONFIG GET (warnings), FUNCTION LOAD (the rules) and
 * the fleet key's fingerprint, pipelined; the store is ready when the last
 * of them answers. On any failure it is dropped and tried again every
 * second. With Sentinels, each attempt asks them first where the master is
 * (rds_sentinel.c). The subscription (PREFIXevents) has a connection of its
 * own: a message, a (re)subscription or its loss flushes the negative cache.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "ag_err.h"
#include "ag_escape.h"
#include "ag_fleetkey.h"
#include "ag_redis_url.h"
#include "ag_time.h"
#include "gcra.h"
#include "log.h"
#include "rds.h"
#include "store_redis.h"

/* ---- small things ---- */

void rds_set_state(struct rds *r, int state, const char *why)
{
	if (r->state == state)
		return;
	if (state == RDS_READY)
		gov_log(LOG_NOTICE, "redis: ready (fleet key %s); decisions are fleet-wide", r->fp);
	else if (r->state == RDS_READY)
		gov_log(LOG_WARNING, "redis: %s; deciding on this host alone until it is back",
			why != NULL ? why : "connection lost");
	r->state = state;
	r->state_since = ag_wall_ms();
	/* Back after deciding alone: the fleet learns what this host did. */
	if (state == RDS_READY)
		rds_merge_start(r);
}

/* Trouble logged at most once per RDS_LOG_EVERY_MS. */
void rds_trouble(struct rds *r, const char *what, const char *detail)
{
	int64_t now = ag_mono_ms();

	if (r->last_log_ms != 0 && now - r->last_log_ms < RDS_LOG_EVERY_MS)
		return;
	r->last_log_ms = now;
	gov_log(LOG_WARNING, "redis: %s%s%s", what, detail != NULL ? ": " : "",
		detail != NULL ? detail : "");
}

/* ---- the connection ---- */


/* A new hiredis connection to the master on the loop with these
 * callbacks, connecting (no blocking call: an IP address, or the URL's
 * Unix socket until a Sentinel names a master); NULL after logging. */
static redisAsyncContext *open_ctx(struct rds *r, redisConnectCallback *up,
				   redisDisconnectCallback *down)
{
	redisAsyncContext *ac = NULL;
	char why[128];

	if (rds_open(r->base, r->master.host, r->master.port, r->url.path, r, up, down, &ac, why,
		     sizeof(why)) != 0)
		rds_trouble(r, "cannot connect", why);
	return ac;
}

/* AUTH, as the URL's ACL user (if any) with the password, when there is
 * one; cb (may be NULL) hears the answer as the "AUTH" setup step. */
static int send_auth(struct rds *r, redisAsyncContext *ac, redisCallbackFn *cb)
{
	if (r->password[0] == '\0')
		return REDIS_OK;
	if (r->url.user[0] != '\0')
		return redisAsyncCommand(ac, cb, "AUTH", "AUTH %s %s", r->url.user, r->password);
	return redisAsyncCommand(ac, cb, "AUTH", "AUTH %s", r->password);
}

static void retry_later(struct rds *r)
{
	struct timeval tv = {RDS_RETRY_MS / 1000, (RDS_RETRY_MS % 1000) * 1000};

	if (!r->closing && !r->refused && r->retry != NULL)
		evtimer_add(r->retry, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	rds_conn_start(arg);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	if (r == NULL)
		return;
	r->ac = NULL;
	if (r->closing) /* the governor stops: nothing to say */
		return;
	evtimer_del(r->connect);
	rds_set_state(r, RDS_DOWN, "connection lost");
	retry_later(r);
}

void rds_conn_drop(struct rds *r, const char *why)
{
	redisAsyncContext *ac = r->ac;

	rds_set_state(r, RDS_DOWN, why);
	r->timeouts = 0;
	if (ac == NULL)
		return;
	/* Not redisAsyncDisconnect: it waits for the pending replies, which a
	 * hung Redis never sends. Freeing runs the pending callbacks now with
	 * no reply (their attempts are answered here; commits that may have
	 * been made are queued to be taken back), then on_disconnect. */
	r->ac = NULL;
	redisAsyncFree(ac);
	retry_later(r);
}

static void on_connect_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct rds *r = arg;

	if (r->state != RDS_READY) {
		if (!r->refused)
			rds_trouble(r, "not ready within 2 s", "retrying");
		if (r->ac != NULL)
			rds_conn_drop(r, "connect timed out");
		else
			retry_later(r);
	}
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	if (r == NULL || status == REDIS_OK)
		return;
	rds_trouble(r, "cannot connect", ac->errstr);
	/* hiredis frees ac after this callback. */
	r->ac = NULL;
	rds_set_state(r, RDS_DOWN, "cannot connect");
	evtimer_del(r->connect);
	retry_later(r);
}

/* A setup step answered. privdata names it. */
static void on_setup(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds *r = ac->data;
	const redisReply *rep = reply;
	const char *step = privdata;

	if (r == NULL || rep == NULL)
		return;
	if (strcmp(step, "role") == 0 && rep->type != REDIS_REPLY_ERROR) {
		/* A replica (an old master back after a failover, or a Sentinel
		 * not yet told): nothing can be written there. Dropped now, so
		 * that the next attempt asks the Sentinels again. */
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    strcmp(rep->element[0]->str, "master") != 0) {
			char role[32] = "?";

			if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
			    rep->element[0]->type == REDIS_REPLY_STRING)
				ag_escape(role, sizeof(role), rep->element[0]->str,
					  rep->element[0]->len);
			rds_trouble(r, "Redis is not a master; ROLE says", role);
			r->setup_failed = 1;
			if (ac == r->ac)
				rds_conn_drop(r, "Redis is not a master");
		}
		return;
	}
	if (strcmp(step, "config") == 0) {
		/* CONFIG may be refused to an ACL user: then nothing is known. */
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
		    rep->element[1]->type == REDIS_REPLY_STRING) {
			const char *name = rep->element[0]->str, *v = rep->element[1]->str;

			if (strcmp(name, "maxmemory-policy") == 0 && strncmp(v, "allkeys-", 8) == 0)
				gov_log(LOG_WARNING,
					"redis: maxmemory-policy %s can evict holds under memory "
					"pressure; use noeviction",
					v);
			if (strcmp(name, "appendonly") == 0 && strcmp(v, "no") == 0)
				gov_log(LOG_WARNING,
					"redis: appendonly no: a Redis restart forgets every hold "
					"and trust; use appendonly yes");
		}
		return;
	}
	/* Another governor of this version loaded the library first. */
	if (rep->type == REDIS_REPLY_ERROR && strcmp(step, "script") == 0 &&
	    strstr(rep->str, "already exists") != NULL)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		/* Once per RDS_LOG_EVERY_MS: a wrong password would log every retry. */
		if (!r->setup_failed) {
			char what[32];

			snprintf(what, sizeof(what), "%s failed", step);
			rds_trouble(r, what, rep->str);
		}
		r->setup_failed = 1;
		return;
	}
	if (strcmp(step, "script") == 0) {
		if (rep->type != REDIS_REPLY_STRING || strcmp(rep->str, r->fn) != 0)
			r->setup_failed = 1;
	} else if (strcmp(step, "fleet key") == 0) {
		/* SET NX then GET: the key in Redis is the first host's. */
		if (rep->type != REDIS_REPLY_STRING || strcmp(rep->str, r->fp) != 0) {
			gov_log(LOG_ERR,
				"redis: another fleet key is in use there (fingerprint %s, ours %s): "
				"refusing to join; copy the fleet's hash_key_file to this host",
				rep->type == REDIS_REPLY_STRING ? rep->str : "?", r->fp);
			r->refused = 1;
			r->setup_failed = 1;
			return;
		}
		if (!r->setup_failed) {
			evtimer_del(r->connect);
			r->timeouts = 0;
			rds_set_state(r, RDS_READY, NULL);
			rds_lists_pull(r);
			/* Commits from the dropped connection may still run: a paused
			 * or stalled Redis executes what it had read once it resumes,
			 * after this connection's setup perhaps. Taking them back
			 * first would undo nothing (the script never goes below 0). */
			if (r->ntb > 0) {
				struct timeval tv = {RDS_TAKEBACK_DELAY_MS / 1000,
						     (RDS_TAKEBACK_DELAY_MS % 1000) * 1000};

				evtimer_add(r->tb_timer, &tv);
			}
		}
	}
}

/* Sends the setup, pipelined; the fleet key's GET comes last. */
static int setup(struct rds *r)
{
	redisAsyncContext *ac = r->ac;
	char db[16];
	int rc = REDIS_OK;

	r->setup_failed = 0;
	rc = send_auth(r, ac, on_setup);
	if (rc == REDIS_OK && r->url.db != 0) {
		snprintf(db, sizeof(db), "%d", r->url.db);
		rc = redisAsyncCommand(ac, on_setup, "SELECT", "SELECT %s", db);
	}
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "role", "ROLE");
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "config", "CONFIG GET maxmemory-policy");
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "config", "CONFIG GET appendonly");
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "script", "FUNCTION LOAD %s", r->lib);
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "set", "SET %s %s NX", r->fp_key, r->fp);
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, on_setup, "fleet key", "GET %s", r->fp_key);
	return rc == REDIS_OK ? 0 : AG_ERR_IO;
}

/* ---- the subscription: resets and list changes on other hosts ---- */

static void on_event(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds *r = privdata;
	const redisReply *rep = reply;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	/* A fleet slot was released (rules.lua): waiters may ask again. It
	 * says nothing about holds: the cache stays. */
	if (strcmp(rep->element[0]->str, "message") == 0 &&
	    rep->element[2]->type == REDIS_REPLY_STRING &&
	    strcmp(rep->element[2]->str, "free") == 0) {
		if (r->on_free != NULL)
			r->on_free(r->on_free_arg);
		return;
	}
	/* (Re)subscribed: whatever was published meanwhile is lost, so the
	 * cache goes; a message: a reset or a list change somewhere. */
	if (strcmp(rep->element[0]->str, "subscribe") == 0 ||
	    strcmp(rep->element[0]->str, "message") == 0)
		rds_neg_flush(r);
	/* Another governor changed the lists (or this subscription is new and
	 * may have missed it): read them again. */
	if (r->state == RDS_READY &&
	    (strcmp(rep->element[0]->str, "subscribe") == 0 ||
	     (rep->element[2]->type == REDIS_REPLY_STRING && strcmp(rep->element[2]->str, "lists") == 0)))
		rds_lists_pull(r);
	(void)ac;
}

static void sub_later(struct rds *r)
{
	struct timeval tv = {RDS_RETRY_MS / 1000, (RDS_RETRY_MS % 1000) * 1000};

	if (!r->closing && !r->refused && r->sub_retry != NULL)
		evtimer_add(r->sub_retry, &tv);
}

static void on_sub_down(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	if (r == NULL)
		return;
	r->sub = NULL;
	rds_neg_flush(r);
	sub_later(r);
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
	struct rds *r = ac->data;

	if (r == NULL || status == REDIS_OK)
		return;
	r->sub = NULL;
	sub_later(r);
}

void rds_sub_start(struct rds *r)
{
	redisAsyncContext *ac;

	if (r->closing || r->refused || r->sub != NULL)
		return;
	ac = open_ctx(r, on_sub_connect, on_sub_down);
	if (ac == NULL) {
		sub_later(r);
		return;
	}
	r->sub = ac;
	if (send_auth(r, ac, NULL) != REDIS_OK ||
	    redisAsyncCommand(ac, on_event, r, "SUBSCRIBE %sevents", r->prefix) != REDIS_OK)
		redisAsyncDisconnect(ac);
}

void rds_sub_drop(struct rds *r)
{
	redisAsyncContext *ac = r->sub;

	if (ac == NULL)
		return;
	r->sub = NULL;
	ac->data = NULL; /* no on_sub_down: its work is done here */
	redisAsyncFree(ac);
	rds_neg_flush(r);
	sub_later(r);
}

static void on_sub_retry(evutil_socket_t fd, short what, void *arg)
{
	rds_sub_start(arg);
}

void rds_conn_start(struct rds *r)
{
	struct timeval tv = {RDS_CONNECT_MS / 1000, (RDS_CONNECT_MS % 1000) * 1000};
	redisAsyncContext *ac;

	if (r->closing || r->refused || r->ac != NULL)
		return;
	rds_sentinel_start(r);
	/* With Sentinels, ask them first: rds_sentinel_ask comes back here
	 * with r->asked set once one answered, or none did. */
	if (r->nsent > 0 && !r->asked) {
		rds_sentinel_ask(r);
		return;
	}
	r->asked = 0;
	ac = open_ctx(r, on_connect, on_disconnect);
	if (ac == NULL) {
		retry_later(r);
		return;
	}
	r->ac = ac;
	r->state = RDS_CONNECTING;
	evtimer_add(r->connect, &tv);
	if (setup(r) != 0)
		rds_conn_drop(r, "cannot send the setup");
}

static void on_take_back(evutil_socket_t fd, short what, void *arg)
{
	rds_take_back_flush(arg);
}

/* The library: its name is the rules' digest, so that governors of one
 * version share it and an upgrade loads its own beside the old one (a
 * FUNCTION LOAD never replaces another version's rules under it). */
static int lib_init(struct rds *r)
{
	static const char head[] = "#!lua name=%s\nlocal FN = '%s'\n";
	unsigned char d[8];
	size_t i, n;

	crypto_generichash(d, sizeof(d), (const unsigned char *)gov_redis_script,
			   strlen(gov_redis_script), NULL, 0);
	n = (size_t)snprintf(r->fn, sizeof(r->fn), "authguard_");
	for (i = 0; i < sizeof(d); i++)
		n += (size_t)snprintf(r->fn + n, sizeof(r->fn) - n, "%02x", d[i]);
	n = sizeof(head) + 2 * strlen(r->fn) + strlen(gov_redis_script);
	r->lib = malloc(n);
	if (r->lib == NULL)
		return AG_ERR_NOMEM;
	snprintf(r->lib, n, head, r->fn, r->fn);
	strcat(r->lib, gov_redis_script);
	return 0;
}

int rds_lib_load(struct rds *r)
{
	/* The reply is not needed: "already exists" is success, and an FCALL
	 * sent after it on the connection says whether it worked. */
	return r->ac != NULL &&
			       redisAsyncCommand(r->ac, NULL, NULL, "FUNCTION LOAD %s", r->lib) == REDIS_OK
		   ? 0
		   : AG_ERR_IO;
}

int rds_conn_init(struct rds *r)
{
	int rc;

	if (lib_init(r) != 0)
		return AG_ERR_NOMEM;
	rc = rds_sentinel_init(r);
	if (rc < 0)
		return rc;
	r->retry = evtimer_new(r->base, on_retry, r);
	r->connect = evtimer_new(r->base, on_connect_deadline, r);
	r->sub_retry = evtimer_new(r->base, on_sub_retry, r);
	r->tb_timer = evtimer_new(r->base, on_take_back, r);
	return r->retry != NULL && r->connect != NULL && r->sub_retry != NULL &&
		       r->tb_timer != NULL
		   ? 0
		   : AG_ERR_NOMEM;
}

void rds_conn_free(struct rds *r)
{
	redisAsyncContext *ac;

	if (r->ac != NULL) {
		ac = r->ac;
		r->ac = NULL;
		/* Every pending callback runs now, answering AG_ERR_CLOSED. */
		redisAsyncFree(ac);
	}
	if (r->sub != NULL) {
		ac = r->sub;
		r->sub = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	rds_sentinel_free(r);
	if (r->sub_retry != NULL)
		event_free(r->sub_retry);
	if (r->retry != NULL)
		event_free(r->retry);
	if (r->connect != NULL)
		event_free(r->connect);
	if (r->tb_timer != NULL)
		event_free(r->tb_timer);
	r->sub_retry = r->retry = r->connect = r->tb_timer = NULL;
	free(r->lib);
	r->lib = NULL;
}

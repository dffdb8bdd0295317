/* admin_lists.c - the admin commands on the allow and deny lists:
 * allow, deny, unlist and lists.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ag_err.h"
#include "ag_escape.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "admin.h"
#include "client.h"
#include "gov.h"
#include "log.h"
#include "reply.h"

/* ---- lists ---- */

#define TTL_MAX_MS     (10LL * 366 * 24 * 3600 * 1000) /* ten years */
#define LISTS_TEXT_MAX (32 * AG_TEXT_MAX)	       /* what a client's buffers take at once */

static const char *list_name(int kind)
{
	return kind == GOV_LIST_DENY ? "deny" : "allow";
}

/* One "kind=entry ..." record for e at wall time now. */
static void put_entry(struct gov_reply *r, const struct gov_list_entry *e, int64_t now)
{
	char cidr[64];

	if (ag_cidr_format(&e->cidr, cidr, sizeof(cidr)) < 0)
		strcpy(cidr, "?");
	gov_reply_put(r, "kind=entry list=%s cidr=%s", list_name(e->kind), cidr);
	if (e->expires_ms == 0)
		gov_reply_put(r, " expires_in_ms=never");
	else
		gov_reply_i64(r, "expires_in_ms", e->expires_ms > now ? e->expires_ms - now : 0);
	gov_reply_put(r, " origin=%s", e->origin == GOV_ORIGIN_CONF ? "conf" : "runtime");
	gov_reply_str(r, "comment", e->comment);
	gov_reply_put(r, "\n");
}

/* allow|deny CIDR TTL_MS [COMMENT] */
void gov_admin_list_add(struct gov *g, struct gov_client *c, int kind, int nargs,
			char args[][AG_NAME_MAX + 1])
{
	static struct gov_reply r;
	struct gov_list_entry e;
	const char *shared = NULL; /* the Redis store: whether the fleet has it */
	char esc[2 * GOV_LIST_COMMENT_MAX], text[200];
	int64_t ttl, now = ag_wall_ms();
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	if (nargs < 2 || nargs > 3) {
		snprintf(text, sizeof(text), "usage: %s CIDR TTL_MS [COMMENT]", list_name(kind));
		gov_client_error(c, AG_ERR_INVAL, text);
		return;
	}
	if (ag_cidr_parse(args[0], &e.cidr) < 0) {
		gov_client_error(c, AG_ERR_INVAL, "invalid CIDR");
		return;
	}
	if (ag_parse_int(args[1], 0, TTL_MAX_MS, &ttl) < 0) {
		gov_client_error(c, AG_ERR_INVAL, "invalid ttl: milliseconds, 0 to ten years");
		return;
	}
	if (nargs == 3 && strlen(args[2]) >= sizeof(e.comment)) {
		snprintf(text, sizeof(text), "comment longer than %d bytes",
			 GOV_LIST_COMMENT_MAX - 1);
		gov_client_error(c, AG_ERR_INVAL, text);
		return;
	}
	e.kind = kind;
	e.origin = GOV_ORIGIN_RUNTIME;
	e.expires_ms = ttl > 0 ? now + ttl : 0;
	if (nargs == 3)
		strcpy(e.comment, args[2]);
	rc = gov_lists_add(g->lists, kind, &e.cidr, e.expires_ms, nargs == 3 ? args[2] : NULL);
	if (rc == 0 && g->store.ops->flush != NULL)
		g->store.ops->flush(g->store.ctx); /* cached denials may no longer hold */
	if (rc == 0 && g->store.ops->list_add != NULL)
		shared = g->store.ops->list_add(g->store.ctx, kind, &e.cidr, e.expires_ms,
						nargs == 3 ? args[2] : NULL) == 0
			     ? "yes"
			     : "no";
	ag_escape(esc, sizeof(esc), e.comment, strlen(e.comment));
	if (ag_cidr_format(&e.cidr, text, sizeof(text)) < 0)
		strcpy(text, "?");
	gov_log(LOG_NOTICE, "admin %s %s ttl_ms=%" PRId64 " comment=%s by uid %ld pid %ld: %s",
		list_name(kind), text, ttl, esc, (long)c->peer.uid, (long)c->peer.pid,
		rc == 0 ? "added" : ag_strerror(rc));
	if (rc < 0) {
		snprintf(text, sizeof(text), "%s: %s", list_name(kind),
			 rc == AG_ERR_FULL ? "the lists are full" : ag_strerror(rc));
		gov_client_error(c, rc, text);
		return;
	}
	put_entry(&r, &e, now);
	if (shared != NULL) {
		gov_reply_put(&r, "kind=fleet shared=%s", shared);
		if (strcmp(shared, "no") == 0)
			gov_reply_str(&r, "note", "Redis unreachable: on this host only");
		gov_reply_put(&r, "\n");
	}
	gov_reply_send(c, &r);
}

void gov_admin_unlist(struct gov *g, struct gov_client *c, const char *arg)
{
	static struct gov_reply r;
	struct ag_cidr cidr;
	char text[200], cs[64];
	int rc;

	memset(&r, 0, sizeof(r));
	if (ag_cidr_parse(arg, &cidr) < 0 || ag_cidr_format(&cidr, cs, sizeof(cs)) < 0) {
		gov_client_error(c, AG_ERR_INVAL, "invalid CIDR");
		return;
	}
	rc = gov_lists_remove(g->lists, &cidr);
	if (rc == 0 && g->store.ops->flush != NULL)
		g->store.ops->flush(g->store.ctx);
	if (rc == 0 && g->store.ops->list_remove != NULL &&
	    g->store.ops->list_remove(g->store.ctx, &cidr) != 0)
		gov_log(LOG_WARNING, "unlist %s: Redis unreachable, removed on this host only", cs);
	gov_log(LOG_NOTICE, "admin unlist %s by uid %ld pid %ld: %s", cs, (long)c->peer.uid,
		(long)c->peer.pid, rc == 0 ? "removed" : ag_strerror(rc));
	if (rc < 0) {
		snprintf(text, sizeof(text), "%s %s",
			 rc == AG_ERR_NOTFOUND ? "no list entry for" : ag_strerror(rc), cs);
		gov_client_error(c, rc, text);
		return;
	}
	gov_reply_put(&r, "kind=unlist cidr=%s removed=yes\n", cs);
	gov_reply_send(c, &r);
}

struct lists_out {
	char *text;
	size_t len, cap;
	int64_t now, total, shown;
};

static int list_one(const struct gov_list_entry *e, void *arg)
{
	static struct gov_reply line;
	struct lists_out *o = arg;

	memset(&line, 0, sizeof(line));
	put_entry(&line, e, o->now);
	o->total++;
	if (!line.full && o->len + line.len <= o->cap) {
		memcpy(o->text + o->len, line.buf, line.len);
		o->len += line.len;
		o->shown++;
	}
	return 0;
}

void gov_admin_lists(struct gov *g, struct gov_client *c)
{
	struct lists_out o = {NULL, 0, LISTS_TEXT_MAX, ag_wall_ms(), 0, 0};
	int n;

	o.text = malloc(LISTS_TEXT_MAX + 128);
	if (o.text == NULL) {
		gov_client_error(c, AG_ERR_NOMEM, "lists: out of memory");
		return;
	}
	(void)gov_lists_each(g->lists, o.now, list_one, &o);
	/* Room for the summary was kept past cap. */
	n = snprintf(o.text + o.len, 128,
		     "kind=lists entries=%" PRId64 " shown=%" PRId64 " truncated=%s\n", o.total,
		     o.shown, o.shown < o.total ? "yes" : "no");
	if (n > 0 && n < 128)
		o.len += (size_t)n;
	gov_reply_text(c, o.text, o.len);
	free(o.text);
}

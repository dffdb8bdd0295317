/* rds_lists.c - the allow and deny lists a fleet shares through the Redis
 * store: the runtime entries (authguardctl allow, deny, unlist) of every
 * governor, so that an address denied on one host is denied on all.
 *
 * One hash, PREFIXlists: a field per (kind, CIDR), named by a keyed hash of
 * them, holding the entry sealed with the fleet key (ag_fleetkey_seal,
 * label "list"): Redis sees neither the addresses nor the comments. A
 * change is one HSET or HDEL, an INCR of PREFIXlists:gen and a PUBLISH on
 * PREFIXevents "lists"; every governor then reads the whole hash again and
 * replaces its runtime entries with it. Entries from authguard.conf stay
 * each host's own. The first governor to find no PREFIXlists:gen seeds the
 * hash with its own runtime entries (from its state file).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "ag_err.h"
#include "ag_fleetkey.h"
#include "ag_time.h"
#include "lists.h"
#include "log.h"
#include "rds.h"
#include "stateio.h"

#define LIST_LINE_MAX 512 /* "deny CIDR EXPIRES COMMENT_HEX" */
#define LIST_LABEL    "list"

static void field_of(struct rds *r, int kind, const struct ag_cidr *c,
		     char out[AG_FLEETKEY_HASH_LEN + 1])
{
	char cs[64];

	if (ag_cidr_format(c, cs, sizeof(cs)) < 0)
		cs[0] = '\0';
	ag_fleetkey_hash(&r->key, 'l', kind == GOV_LIST_DENY ? "deny" : "allow", cs, out);
}

/* "allow|deny CIDR EXPIRES_MS COMMENT_HEX", as the state file writes a list
 * line (governor/statefile.c; "-" for no comment). */
static int line_of(const struct gov_list_entry *e, char *b, size_t cap)
{
	char cs[64], hex[2 * GOV_LIST_COMMENT_MAX + 1];
	size_t cl = strlen(e->comment);
	int n;

	if (ag_cidr_format(&e->cidr, cs, sizeof(cs)) < 0)
		return AG_ERR_INVAL;
	if (cl == 0)
		strcpy(hex, "-");
	else
		sodium_bin2hex(hex, sizeof(hex), (const unsigned char *)e->comment, cl);
	n = snprintf(b, cap, "%s %s %" PRId64 " %s", e->kind == GOV_LIST_DENY ? "deny" : "allow",
		     cs, e->expires_ms, hex);
	return n > 0 && (size_t)n < cap ? 0 : AG_ERR_TOOBIG;
}

/* The state file's parsers read it back (governor/stateio.c). */
static int parse_line(char *s, struct gov_list_entry *e)
{
	char *tok[4];
	int n;

	memset(e, 0, sizeof(*e));
	if (gov_sio_split(s, tok, 4, &n) != 0 || n != 4)
		return AG_ERR_PROTO;
	e->kind = strcmp(tok[0], "deny") == 0	 ? GOV_LIST_DENY
		  : strcmp(tok[0], "allow") == 0 ? GOV_LIST_ALLOW
						 : 0;
	if (e->kind == 0 || ag_cidr_parse(tok[1], &e->cidr) != 0 ||
	    gov_sio_int(tok[2], 0, INT64_MAX, &e->expires_ms) != 0 ||
	    gov_sio_unhex(tok[3], e->comment, sizeof(e->comment)) != 0)
		return AG_ERR_PROTO;
	e->origin = GOV_ORIGIN_RUNTIME;
	return 0;
}

static void on_list_write(redisAsyncContext *ac, void *reply, void *privdata)
{
	const redisReply *rep = reply;

	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		rds_trouble(ac->data, "a list change was not stored", rep->str);
}

/* HSET of one entry (no gen, no PUBLISH). */
static int hset_entry(struct rds *r, const struct gov_list_entry *e)
{
	char line[LIST_LINE_MAX], field[AG_FLEETKEY_HASH_LEN + 1], hkey[RDS_KEY_MAX];
	uint8_t box[LIST_LINE_MAX + AG_FLEETKEY_SEAL_OVERHEAD];
	char hexbox[2 * sizeof(box) + 1];
	const char *argv[4];
	size_t len[4], blen = 0;
	int rc;

	rc = line_of(e, line, sizeof(line));
	if (rc == 0)
		rc = ag_fleetkey_seal(&r->key, LIST_LABEL, line, strlen(line), box, sizeof(box), &blen);
	if (rc < 0)
		return rc;
	/* Hex: a value redis-cli shows and a shell reads without surprises. */
	sodium_bin2hex(hexbox, sizeof(hexbox), box, blen);
	field_of(r, e->kind, &e->cidr, field);
	snprintf(hkey, sizeof(hkey), "%slists", r->prefix);
	argv[0] = "HSET";
	argv[1] = hkey;
	argv[2] = field;
	argv[3] = hexbox;
	len[0] = 4;
	len[1] = strlen(hkey);
	len[2] = strlen(field);
	len[3] = strlen(hexbox);
	return redisAsyncCommandArgv(r->ac, on_list_write, NULL, 4, argv, len) == REDIS_OK ? 0
											    : AG_ERR_IO;
}

/* INCR the generation and tell every governor. */
static int announce(struct rds *r)
{
	if (redisAsyncCommand(r->ac, on_list_write, NULL, "INCR %slists:gen", r->prefix) !=
		REDIS_OK ||
	    redisAsyncCommand(r->ac, NULL, NULL, "PUBLISH %sevents lists", r->prefix) != REDIS_OK)
		return AG_ERR_IO;
	return 0;
}

int rds_lists_add(void *ctx, int kind, const struct ag_cidr *cidr, int64_t expires_ms,
		  const char *comment)
{
	struct rds *r = ctx;
	struct gov_list_entry e;
	int rc;

	if (r->state != RDS_READY || r->ac == NULL)
		return AG_ERR_CONNECT;
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.cidr = *cidr;
	e.expires_ms = expires_ms;
	snprintf(e.comment, sizeof(e.comment), "%s", comment != NULL ? comment : "");
	rc = hset_entry(r, &e);
	return rc < 0 ? rc : announce(r);
}

int rds_lists_remove(void *ctx, const struct ag_cidr *cidr)
{
	struct rds *r = ctx;
	char fa[AG_FLEETKEY_HASH_LEN + 1], fd[AG_FLEETKEY_HASH_LEN + 1];

	if (r->state != RDS_READY || r->ac == NULL)
		return AG_ERR_CONNECT;
	field_of(r, GOV_LIST_ALLOW, cidr, fa);
	field_of(r, GOV_LIST_DENY, cidr, fd);
	if (redisAsyncCommand(r->ac, on_list_write, NULL, "HDEL %slists %s %s", r->prefix, fa, fd) !=
	    REDIS_OK)
		return AG_ERR_IO;
	return announce(r);
}

/* ---- reading them ---- */

static int push_one(const struct gov_list_entry *e, void *arg)
{
	struct rds *r = arg;

	if (e->origin == GOV_ORIGIN_RUNTIME)
		(void)hset_entry(r, e);
	return 0;
}

static void on_gen(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rds *r = ac->data;
	const redisReply *rep = reply;

	/* No generation yet: this governor's runtime entries seed the fleet's. */
	if (r != NULL && rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0 &&
	    r->lists != NULL && r->ac != NULL) {
		(void)gov_lists_each(r->lists, ag_wall_ms(), push_one, r);
		(void)announce(r);
		gov_log(LOG_NOTICE, "redis: the fleet's lists start from this host's entries");
	}
}

static void on_lists(redisAsyncContext *ac, void *reply, void *privdata)
{
	static struct gov_list_entry e[GOV_LISTS_MAX / 16];
	struct rds *r = ac->data;
	const redisReply *rep = reply;
	static uint8_t box[LIST_LINE_MAX + AG_FLEETKEY_SEAL_OVERHEAD];
	char line[LIST_LINE_MAX];
	int64_t now = ag_wall_ms();
	size_t i, n = 0, ln, bl;
	int rc, bad = 0;

	if (r == NULL || r->lists == NULL || rep == NULL || rep->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *v = rep->element[i + 1];

		if (v->type != REDIS_REPLY_STRING || n == sizeof(e) / sizeof(e[0]) ||
		    sodium_hex2bin(box, sizeof(box), v->str, v->len, NULL, &bl, NULL) != 0 ||
		    ag_fleetkey_open(&r->key, LIST_LABEL, box, bl, line, sizeof(line) - 1, &ln) != 0) {
			bad++;
			continue;
		}
		line[ln] = '\0';
		if (parse_line(line, &e[n]) != 0) {
			bad++;
			continue;
		}
		if (e[n].expires_ms == 0 || e[n].expires_ms > now)
			n++;
	}
	if (bad > 0)
		rds_trouble(r, "list entries that do not open with the fleet key", "skipped");
	rc = gov_lists_set_runtime(r->lists, e, n);
	if (rc < 0)
		gov_log(LOG_ERR, "redis: the fleet's lists could not be taken: %s", ag_strerror(rc));
}

void rds_lists_pull(struct rds *r)
{
	if (r->ac == NULL || r->lists == NULL)
		return;
	(void)redisAsyncCommand(r->ac, on_gen, NULL, "EXISTS %slists:gen", r->prefix);
	(void)redisAsyncCommand(r->ac, on_lists, NULL, "HGETALL %slists", r->prefix);
}

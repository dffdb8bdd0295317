/* ag_conf.c - the option table and authguard.conf.
 *
 * Every key is spelled, bounded, defaulted and documented once, in table[];
 * the config file, the module arguments (ag_modargs.c) and the defaults all
 * go through ag_option_set() (ag_parse.c), so a default is checked by the
 * same code as a user's value. The file is read with inih, one line at a
 * time, so that every message names FILE:LINE.
 */
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "ag_conf.h"
#include "ag_err.h"
#include "ag_redis_url.h"

#define MS_S INT64_C(1000)
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)

#define SUN_PATH_MAX   107 /* sun_path holds 108 bytes with the NUL */
#define FILE_PATH_MAX  4095
#define GROUP_NAME_MAX 255
#define CONF_MAX_LINES 1000000
#define LISTEN_MAX     64 /* "127.255.255.255:65535", "[::1]:65535" */

#define C_OPT(sec, k, t, field, lo, hi, def, h)                                                    \
	{                                                                                          \
		.section = sec, .key = k, .type = t, .scope = AG_SCOPE_CONF,                       \
		.offset = offsetof(struct ag_conf, field), .min = lo, .max = hi, .defval = def,    \
		.help = h                                                                          \
	}
#define M_OPT(k, t, field, lo, hi, def, h)                                                         \
	{                                                                                          \
		.section = NULL, .key = k, .type = t, .scope = AG_SCOPE_PAM,                       \
		.offset = offsetof(struct ag_modargs, field), .min = lo, .max = hi, .defval = def, \
		.help = h                                                                          \
	}
#define C_ENUM(sec, k, field, w, def, h)                                                           \
	{                                                                                          \
		.section = sec, .key = k, .type = AG_T_ENUM, .scope = AG_SCOPE_CONF,               \
		.offset = offsetof(struct ag_conf, field), .words = w, .defval = def, .help = h    \
	}
#define M_ENUM(k, field, w, def, h)                                                                \
	{                                                                                          \
		.section = NULL, .key = k, .type = AG_T_ENUM, .scope = AG_SCOPE_PAM,               \
		.offset = offsetof(struct ag_modargs, field), .words = w, .defval = def, .help = h \
	}
#define M_FLAG(k, field, val, def, h)                                                              \
	{                                                                                          \
		.section = NULL, .key = k, .type = AG_T_FLAG, .scope = AG_SCOPE_PAM,               \
		.offset = offsetof(struct ag_modargs, field), .defval = def, .flag_value = val,    \
		.help = h                                                                          \
	}

static int check_loopback(const char *value, char *why, size_t whylen);
static int check_redis_url(const char *value, char *why, size_t whylen);
static int check_key_prefix(const char *value, char *why, size_t whylen);
static int check_sentinels(const char *value, char *why, size_t whylen);
static int check_master_name(const char *value, char *why, size_t whylen);

static const struct ag_option table[] = {
    /* [governor] */
    C_OPT("governor", "socket", AG_T_PATH, socket, 1, SUN_PATH_MAX, AG_DEFAULT_SOCKET,
	  "privileged socket for the PAM module and authguardctl"),
    C_OPT("governor", "user_socket", AG_T_PATH, user_socket, 0, SUN_PATH_MAX,
	  AG_DEFAULT_USER_SOCKET, "unprivileged socket for screen lockers; empty = off"),
    C_OPT("governor", "admin_group", AG_T_GROUP, admin_group, 0, GROUP_NAME_MAX, "",
	  "group allowed to change state with authguardctl; empty = root only"),
    C_OPT("governor", "max_clients", AG_T_UINT, max_clients, 16, 1000000, "4096",
	  "connections held open at most"),
    C_OPT("governor", "client_idle", AG_T_DURATION, client_idle_ms, 100, MS_H, "5s",
	  "close a connection idle for this long without an admission"),
    C_OPT("governor", "max_queue", AG_T_UINT, max_queue, 0, 1000000, "1024",
	  "attempts waiting for a slot, all classes together"),
    C_OPT("governor", "shed_margin", AG_T_DURATION, shed_margin_ms, 0, 10 * MS_S, "20ms",
	  "shed a queued attempt this long before its client gives up"),
    C_OPT("governor", "lease", AG_T_DURATION, lease_ms, MS_S, MS_H, "60s",
	  "an unreported admission gives its slot back after this (its report still counts)"),
    C_OPT("governor", "user_lease", AG_T_DURATION, user_lease_ms, MS_S, 10 * MS_M, "10s",
	  "lease of admissions made over the user socket"),
    C_OPT("governor", "user_slots", AG_T_UINT, user_slots, 1, 1024, "4",
	  "slots for the user socket, apart from max_inflight"),
    C_OPT("governor", "user_max_conns", AG_T_UINT, user_max_conns, 1, 1024, "8",
	  "user socket connections per uid"),
    C_OPT("governor", "user_max_admissions", AG_T_UINT, user_max_admissions, 1, 1024, "2",
	  "open admissions per uid on the user socket"),
    C_OPT("governor", "log_burst", AG_T_UINT, log_burst, 1, 100000, "20",
	  "denials logged one by one per log_interval before summarising"),
    C_OPT("governor", "log_interval", AG_T_DURATION, log_interval_ms, MS_S, MS_H, "10s",
	  "period of the denial log budget and summaries"),
    C_OPT("governor", "state_file", AG_T_PATH, state_file, 0, FILE_PATH_MAX,
	  "/var/lib/authguard/state", "where state is saved across restarts; empty = off"),
    C_OPT("governor", "state_interval", AG_T_DURATION, state_interval_ms, MS_S, MS_D, "60s",
	  "how often the state file is written"),
    {.section = "governor",
     .key = "metrics_listen",
     .type = AG_T_STRING,
     .scope = AG_SCOPE_CONF,
     .offset = offsetof(struct ag_conf, metrics_listen),
     .min = 0,
     .max = LISTEN_MAX,
     .defval = "",
     .help = "loopback IP:PORT serving Prometheus metrics at GET /metrics; empty = off",
     .check = check_loopback,
     .expect = "127.0.0.0/8 or [::1] with a port, e.g. 127.0.0.1:9377, or empty for off"},
    /* [limits] */
    C_OPT("limits", "pair_free_failures", AG_T_UINT, pair_free_failures, 0, 1000, "3",
	  "failures of a (user, source) pair before backoff starts"),
    C_OPT("limits", "backoff_base", AG_T_DURATION, backoff_base_ms, 1, MS_D, "1s",
	  "first backoff hold; doubles with each further failure"),
    C_OPT("limits", "backoff_max", AG_T_DURATION, backoff_max_ms, 1, 30 * MS_D, "15m",
	  "longest backoff hold"),
    C_OPT("limits", "failure_window", AG_T_DURATION, failure_window_ms, MS_S, 30 * MS_D, "15m",
	  "failures are forgotten this long after the last one or the hold"),
    C_OPT("limits", "source_prefix_v4", AG_T_UINT, source_prefix_v4, 8, 32, "32",
	  "v4 netblock that counts as one source"),
    C_OPT("limits", "source_prefix_v6", AG_T_UINT, source_prefix_v6, 16, 128, "64",
	  "v6 netblock that counts as one source"),
    C_OPT("limits", "agg_prefix_v4", AG_T_UINT, agg_prefix_v4, 8, 32, "24",
	  "v4 netblock whose failures make a source not clean"),
    C_OPT("limits", "agg_prefix_v6", AG_T_UINT, agg_prefix_v6, 16, 128, "48",
	  "v6 netblock whose failures make a source not clean"),
    C_OPT("limits", "source_rate", AG_T_RATE, source_rate, 1, 1000000, "60/min",
	  "attempts per source netblock (untrusted, not allow-listed)"),
    C_OPT("limits", "source_burst", AG_T_UINT, source_burst, 1, 100000, "20",
	  "back-to-back attempts a source may make at once"),
    C_OPT("limits", "user_rate", AG_T_RATE, user_rate, 1, 1000000, "10/min",
	  "attempts per user from untrusted sources (clean and failing budgets each)"),
    C_OPT("limits", "user_burst", AG_T_UINT, user_burst, 1, 100000, "5",
	  "back-to-back attempts in each per-user budget"),
    C_OPT("limits", "user_max_failures", AG_T_UINT, user_max_failures, 1, 1000000, "100",
	  "consecutive untrusted failures of a user before user-wide holds"),
    C_OPT("limits", "cap_hold_base", AG_T_DURATION, cap_hold_base_ms, MS_S, MS_D, "1m",
	  "first user-wide hold past user_max_failures; doubles after"),
    C_OPT("limits", "cap_hold_max", AG_T_DURATION, cap_hold_max_ms, MS_S, 30 * MS_D, "1h",
	  "longest user-wide hold"),
    C_OPT("limits", "trust_ttl", AG_T_DURATION, trust_ttl_ms, MS_M, 3650 * MS_D, "30d",
	  "a pair stays trusted this long after its last success"),
    C_OPT("limits", "max_trusted_per_user", AG_T_UINT, max_trusted_per_user, 1, 4096, "32",
	  "trusted sources kept per user, least recently used dropped"),
    C_OPT("limits", "fold_case", AG_T_BOOL, fold_case, 0, 1, "no",
	  "fold user names to lower case (directories that ignore case)"),
    /* [overload] */
    {.section = "overload",
     .key = "max_inflight",
     .type = AG_T_UINT,
     .scope = AG_SCOPE_CONF,
     .offset = offsetof(struct ag_conf, max_inflight),
     .min = 1,
     .max = 100000,
     .defval = "16",
     .words = "auto",
     .help = "attempts at the auth backend at once (host slots); auto: learnt from backend "
	     "times"},
    C_OPT("overload", "max_inflight_min", AG_T_UINT, max_inflight_min, 1, 100000, "4",
	  "max_inflight = auto: the learnt limit's floor"),
    C_OPT("overload", "max_inflight_max", AG_T_UINT, max_inflight_max, 1, 100000, "64",
	  "max_inflight = auto: the learnt limit's ceiling"),
    C_OPT("overload", "trusted_reserve", AG_T_PERCENT, trusted_reserve_pct, 0, 99, "25%",
	  "share of the slots only trusted pairs may use"),
    C_OPT("overload", "clean_reserve", AG_T_PERCENT, clean_reserve_pct, 0, 99, "25%",
	  "share of the slots only trusted and clean sources may use"),
    C_OPT("overload", "codel_target", AG_T_DURATION, codel_target_ms, 1, 10 * MS_S, "5ms",
	  "wait allowed in a queue that has stood for codel_interval"),
    C_OPT("overload", "codel_interval", AG_T_DURATION, codel_interval_ms, 1, 60 * MS_S, "100ms",
	  "wait allowed otherwise; a queue not empty this long stands"),
    /* [lists] */
    C_OPT("lists", "allow", AG_T_LIST, allow, 0, AG_LIST_MAX, NULL,
	  "CIDR [until YYYY-MM-DDTHH:MM:SSZ] exempt from rate limits; repeatable"),
    C_OPT("lists", "deny", AG_T_LIST, deny, 0, AG_LIST_MAX, NULL,
	  "CIDR [until YYYY-MM-DDTHH:MM:SSZ] always denied; wins over allow; repeatable"),
    /* [store] */
    C_ENUM("store", "backend", backend, "memory|redis", "memory",
	   "where rule state lives: this host's memory, or a Redis shared by a fleet"),
    C_OPT("store", "max_tracked", AG_T_UINT, max_tracked, 1000, 100000000, "1000000",
	  "pairs, sources and users tracked at most (oldest evicted)"),
    C_OPT("store", "max_trusted", AG_T_UINT, max_trusted, 1000, 100000000, "1000000",
	  "trusted pairs kept at most"),
    {.section = "store",
     .key = "redis",
     .type = AG_T_STRING,
     .scope = AG_SCOPE_CONF,
     .offset = offsetof(struct ag_conf, redis),
     .min = 0,
     .max = 512,
     .defval = "",
     .help = "where Redis is (backend = redis); an IP address, never a host name",
     .check = check_redis_url,
     .expect = "redis://IP:PORT[/DB], redis://[IPv6]:PORT[/DB] or unix://[USER:@]/PATH[?db=N]"},
    C_OPT("store", "redis_password_file", AG_T_PATH, redis_password_file, 0, FILE_PATH_MAX, "",
	  "file holding the Redis password (AUTH; with redis://USER:@..., the ACL user's)"),
    C_OPT("store", "redis_timeout", AG_T_DURATION, redis_timeout_ms, 1, 10 * MS_S, "50ms",
	  "one Redis command's budget; past it the attempt is decided on this host alone"),
    C_OPT("store", "redis_max_pending", AG_T_UINT, redis_max_pending, 16, 1000000, "4096",
	  "Redis commands in flight at most; past it, decided on this host alone"),
    {.section = "store",
     .key = "key_prefix",
     .type = AG_T_STRING,
     .scope = AG_SCOPE_CONF,
     .offset = offsetof(struct ag_conf, key_prefix),
     .min = 1,
     .max = 32,
     .defval = "ag:",
     .help = "prefix of every Redis key (a Redis ACL user can be limited to it)",
     .check = check_key_prefix,
     .expect = "1 to 32 of A-Z a-z 0-9 : _ . -"},
    C_OPT("store", "fleet_size", AG_T_UINT, fleet_size, 1, 100000, "1",
	  "hosts sharing the Redis; in degraded mode each host takes 1/fleet_size of the rates"),
    C_OPT("store", "fleet_max_inflight", AG_T_UINT, fleet_max_inflight, 0, 1000000, "0",
	  "attempts at the backend from all hosts together (leases in Redis); 0 = off"),
    C_OPT("store", "hash_key_file", AG_T_PATH, hash_key_file, 0, FILE_PATH_MAX, "",
	  "the fleet key that hashes every name before it reaches Redis (mode 0600)"),
    C_ENUM("store", "clock", clock, "redis|local", "redis",
	   "time for the rules: Redis TIME (no clock sync needed), or this host's clock"),
    C_OPT("store", "negative_cache", AG_T_BOOL, negative_cache, 0, 1, "yes",
	  "answer a pair under a backoff hold from this host, without asking Redis"),
    {.section = "store",
     .key = "redis_sentinels",
     .type = AG_T_STRING,
     .scope = AG_SCOPE_CONF,
     .offset = offsetof(struct ag_conf, redis_sentinels),
     .min = 0,
     .max = 512,
     .defval = "",
     .help = "Redis Sentinels that name the master (redis is where to start); empty = none",
     .check = check_sentinels,
     .expect = "IP:PORT or [IPv6]:PORT, comma-separated, at most 8"},
    {.section = "store",
     .key = "redis_master_name",
     .type = AG_T_STRING,
     .scope = AG_SCOPE_CONF,
     .offset = offsetof(struct ag_conf, redis_master_name),
     .min = 0,
     .max = 64,
     .defval = "",
     .help = "the master's name at the Sentinels (with redis_sentinels)",
     .check = check_master_name,
     .expect = "1 to 64 of A-Z a-z 0-9 : _ . -"},
    /* module arguments */
    M_FLAG("preauth", phase, AG_PHASE_PREAUTH, NULL,
	   "auth: before the backend; asks the governor (precheck, decide)"),
    M_FLAG("authfail", phase, AG_PHASE_AUTHFAIL, NULL, "auth: after a backend failure"),
    M_FLAG("authunavail", phase, AG_PHASE_AUTHUNAVAIL, NULL,
	   "auth: after the backend could not decide"),
    M_FLAG("authsucc", phase, AG_PHASE_AUTHSUCC, NULL, "auth: after a backend success"),
    M_FLAG("authpass", phase, AG_PHASE_AUTHPASS, NULL,
	   "auth: a factor passed and more follow; releases the slot"),
    M_OPT("socket", AG_T_PATH, socket, 1, SUN_PATH_MAX, NULL,
	  "governor socket; default by euid, from conf or built in"),
    M_OPT("conf", AG_T_PATH, conf, 1, FILE_PATH_MAX, NULL, "config file to read the socket from"),
    M_OPT("timeout", AG_T_MSEC, timeout_ms, 1, 60000, "250",
	  "wait for any answer from the governor, in ms"),
    M_OPT("queue_wait", AG_T_MSEC, queue_wait_ms, 0, 600000, "2000",
	  "extra wait for a slot once queued, in ms"),
    M_ENUM("on_error", on_error, "open|closed", "open",
	   "governor unreachable: let attempts through (open) or refuse them"),
    M_FLAG("silent", silent, 1, NULL, "tell the user nothing about denials"),
    M_FLAG("debug", debug, 1, NULL, "log each exchange with pam_syslog"),
    M_FLAG("precheck", precheck, 1, "yes", "ask before the password prompt (default)"),
    M_FLAG("noprecheck", precheck, 0, NULL, "do not ask before the password prompt"),
};

#define N_OPTIONS (sizeof(table) / sizeof(table[0]))

_Static_assert(N_OPTIONS <= AG_OPTIONS_MAX, "raise AG_OPTIONS_MAX in ag_conf.h");

/* ---- loopback listening addresses ---------------------------------------- */

int ag_parse_loopback(const char *s, char *host, size_t hostcap, unsigned *port)
{
	char addr[INET6_ADDRSTRLEN];
	const char *colon, *start, *stop;
	struct in6_addr a6;
	struct in_addr a4;
	int64_t p;
	int v6;

	if (host != NULL && hostcap > 0)
		host[0] = '\0';
	if (port != NULL)
		*port = 0;
	if (s == NULL || s[0] == '\0')
		return AG_ERR_INVAL;
	v6 = s[0] == '[';
	if (v6) {
		start = s + 1;
		stop = strchr(start, ']');
		if (stop == NULL || stop[1] != ':')
			return AG_ERR_INVAL;
		colon = stop + 1;
	} else {
		start = s;
		colon = strrchr(s, ':');
		if (colon == NULL)
			return AG_ERR_INVAL;
		stop = colon;
	}
	if (stop == start || (size_t)(stop - start) >= sizeof(addr))
		return AG_ERR_INVAL;
	memcpy(addr, start, (size_t)(stop - start));
	addr[stop - start] = '\0';
	/* Digits only: ag_parse_int alone would take a sign. */
	if (colon[1] < '0' || colon[1] > '9' || ag_parse_int(colon + 1, 1, 65535, &p) != 0)
		return AG_ERR_INVAL;
	if (v6) {
		if (inet_pton(AF_INET6, addr, &a6) != 1 ||
		    memcmp(&a6, &in6addr_loopback, sizeof(a6)) != 0)
			return AG_ERR_INVAL;
	} else {
		/* inet_pton takes only the dotted quad, not "127.1" or octal. */
		if (inet_pton(AF_INET, addr, &a4) != 1 || (ntohl(a4.s_addr) >> 24) != 127)
			return AG_ERR_INVAL;
	}
	if (host != NULL) {
		if (hostcap <= strlen(addr))
			return AG_ERR_INVAL;
		strcpy(host, addr);
	}
	if (port != NULL)
		*port = (unsigned)p;
	return 0;
}

/* Empty is off; anything else must be a loopback address and port, so that
 * the metrics are never served beyond the host by a slip of the pen. */
static int check_loopback(const char *value, char *why, size_t whylen)
{
	char q[AG_QUOTE_BUF];

	if (value == NULL || value[0] == '\0' || ag_parse_loopback(value, NULL, 0, NULL) == 0)
		return 0;
	ag_quote_value(q, sizeof(q), value, strlen(value));
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "'%s' is not a loopback address and port", q);
	return AG_ERR_CONFIG;
}

/* Empty is fine (backend = memory; ag_conf_check wants it for redis). */
static int check_redis_url(const char *value, char *why, size_t whylen)
{
	struct ag_redis_url u;
	int rc;

	if (value == NULL || value[0] == '\0')
		return 0;
	rc = ag_redis_url_parse(value, &u, why, whylen);
	ag_redis_url_wipe(&u);
	return rc;
}

static int check_key_prefix(const char *value, char *why, size_t whylen)
{
	const char *p;

	for (p = value; p != NULL && *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(":_.-", *p) == NULL)
			break;
	if (value != NULL && value[0] != '\0' && *p == '\0')
		return 0;
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "a character outside A-Z a-z 0-9 : _ . - (or empty)");
	return AG_ERR_CONFIG;
}

/* Empty (no Sentinels), or as a key prefix. */
static int check_master_name(const char *value, char *why, size_t whylen)
{
	return value == NULL || value[0] == '\0' ? 0 : check_key_prefix(value, why, whylen);
}

/* Up to 8 IP:PORT (or [IPv6]:PORT), comma-separated: one parser for this
 * check and the governor (ag_redis_hosts_parse). */
static int check_sentinels(const char *value, char *why, size_t whylen)
{
	struct ag_redis_url u[AG_REDIS_HOSTS_MAX];
	size_t n = 0, i;
	int rc = ag_redis_hosts_parse(value, u, &n, why, whylen);

	for (i = 0; i < n; i++)
		ag_redis_url_wipe(&u[i]);
	return rc;
}

static const char *const sections[] = {"governor", "limits", "overload", "lists", "store"};

const struct ag_option *ag_options(size_t *n)
{
	if (n != NULL)
		*n = N_OPTIONS;
	return table;
}

static int same_section(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

const struct ag_option *ag_option_find(unsigned scope, const char *section, const char *key)
{
	size_t i;

	if (key == NULL)
		return NULL;
	for (i = 0; i < N_OPTIONS; i++) {
		if ((table[i].scope & scope) && same_section(table[i].section, section) &&
		    strcmp(table[i].key, key) == 0)
			return &table[i];
	}
	return NULL;
}

static int known_section(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (strlen(sections[i]) == len && memcmp(sections[i], name, len) == 0)
			return 1;
	}
	return 0;
}

void ag_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A default that fails is a bug in table[], which the tests catch. */
int ag_option_defaults(void *base, unsigned scope)
{
	size_t i;
	int rc;

	for (i = 0; i < N_OPTIONS; i++) {
		if (!(table[i].scope & scope) || table[i].defval == NULL)
			continue;
		rc = ag_option_set(&table[i], base, table[i].defval, NULL, 0);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ag_conf_init(struct ag_conf *c)
{
	int rc;

	if (c == NULL)
		return AG_ERR_INVAL;
	memset(c, 0, sizeof(*c));
	rc = ag_option_defaults(c, AG_SCOPE_CONF);
	if (rc != 0)
		ag_conf_free(c);
	return rc;
}

void ag_conf_free(struct ag_conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < N_OPTIONS; i++) {
		const struct ag_option *o = &table[i];

		if (!(o->scope & AG_SCOPE_CONF))
			continue;
		if (o->type == AG_T_STRING || o->type == AG_T_PATH || o->type == AG_T_GROUP)
			free(*(char **)(void *)((char *)c + o->offset));
	}
	free(c->allow);
	free(c->deny);
	memset(c, 0, sizeof(*c));
}

static const char *or_empty(const char *s)
{
	return s != NULL ? s : "";
}

int ag_conf_set(struct ag_conf *c, const char *section, const char *key, const char *value,
		const char *where, char *err, size_t errlen)
{
	const struct ag_option *o;
	char qs[AG_QUOTE_BUF], qk[AG_QUOTE_BUF], expect[160], why[AG_QUOTE_BUF + 40];
	const char *sep = where != NULL ? ": " : "";
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (c == NULL || section == NULL || key == NULL || value == NULL)
		return AG_ERR_INVAL;
	ag_quote_value(qs, sizeof(qs), section, strlen(section));
	ag_quote_value(qk, sizeof(qk), key, strlen(key));
	if (section[0] == '\0') {
		ag_fail(err, errlen, "%s%s%s: key outside any section (expected a [section] first)",
			or_empty(where), sep, qk);
		return AG_ERR_CONFIG;
	}
	if (!known_section(section, strlen(section))) {
		ag_fail(err, errlen,
			"%s%sunknown section [%s] (expected governor, limits, overload, lists or "
			"store)",
			or_empty(where), sep, qs);
		return AG_ERR_CONFIG;
	}
	o = ag_option_find(AG_SCOPE_CONF, section, key);
	if (o == NULL) {
		size_t i;

		for (i = 0; i < N_OPTIONS; i++) {
			if ((table[i].scope & AG_SCOPE_CONF) && strcmp(table[i].key, key) == 0)
				break;
		}
		if (i < N_OPTIONS)
			ag_fail(err, errlen, "%s%s[%s] %s: unknown key (it belongs in [%s])",
				or_empty(where), sep, qs, qk, table[i].section);
		else
			ag_fail(err, errlen, "%s%s[%s] %s: unknown key", or_empty(where), sep, qs,
				qk);
		return AG_ERR_CONFIG;
	}
	/* A value with its own check (metrics_listen) is checked before it is
	 * stored, so that a refused value changes nothing. */
	if (o->check != NULL && o->check(value, why, sizeof(why)) != 0) {
		ag_fail(err, errlen, "%s%s[%s] %s: %s (expected %s)", or_empty(where), sep, qs, qk,
			why, o->expect);
		return AG_ERR_CONFIG;
	}
	rc = ag_option_set(o, c, value, why, sizeof(why));
	if (rc == AG_ERR_CONFIG) {
		ag_option_describe(o, expect, sizeof(expect));
		ag_fail(err, errlen, "%s%s[%s] %s: %s (expected %s)", or_empty(where), sep, qs, qk,
			why, expect);
	} else if (rc != 0) {
		ag_fail(err, errlen, "%s%s[%s] %s: %s", or_empty(where), sep, qs, qk,
			ag_strerror(rc));
	}
	return rc;
}

int ag_conf_check(const struct ag_conf *c, const char *where, char *err, size_t errlen)
{
	const char *w = or_empty(where), *sep = where != NULL ? ": " : "";
	char why[AG_QUOTE_BUF + 40];
	size_t i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (c == NULL)
		return AG_ERR_INVAL;
	for (i = 0; i < N_OPTIONS; i++) {
		const struct ag_option *o = &table[i];
		const char *v;

		if (o->check == NULL || !(o->scope & AG_SCOPE_CONF) || o->type != AG_T_STRING)
			continue;
		v = *(char *const *)(const void *)((const char *)c + o->offset);
		if (o->check(or_empty(v), why, sizeof(why)) != 0) {
			ag_fail(err, errlen, "%s%s[%s] %s: %s (expected %s)", w, sep, o->section,
				o->key, why, o->expect);
			return AG_ERR_CONFIG;
		}
	}
	if (c->trusted_reserve_pct + c->clean_reserve_pct >= 100) {
		ag_fail(err, errlen,
			"%s%s[overload] trusted_reserve + clean_reserve must stay below 100%% "
			"(now %lld%% + %lld%%)",
			w, sep, (long long)c->trusted_reserve_pct, (long long)c->clean_reserve_pct);
		return AG_ERR_CONFIG;
	}
	if (c->backoff_base_ms > c->backoff_max_ms) {
		ag_fail(err, errlen, "%s%s[limits] backoff_base must not exceed backoff_max", w,
			sep);
		return AG_ERR_CONFIG;
	}
	if (c->cap_hold_base_ms > c->cap_hold_max_ms) {
		ag_fail(err, errlen, "%s%s[limits] cap_hold_base must not exceed cap_hold_max", w,
			sep);
		return AG_ERR_CONFIG;
	}
	if (c->agg_prefix_v4 > c->source_prefix_v4 || c->agg_prefix_v6 > c->source_prefix_v6) {
		ag_fail(err, errlen,
			"%s%s[limits] agg_prefix_v4/v6 must not be longer than source_prefix_v4/v6 "
			"(the aggregate contains the source)",
			w, sep);
		return AG_ERR_CONFIG;
	}
	if (c->backend == AG_BACKEND_REDIS &&
	    (c->redis == NULL || c->redis[0] == '\0' || c->hash_key_file == NULL ||
	     c->hash_key_file[0] == '\0')) {
		ag_fail(err, errlen,
			"%s%s[store] backend = redis needs redis (its address) and hash_key_file "
			"(make one with authguard-governor --keygen FILE, the same on every host)",
			w, sep);
		return AG_ERR_CONFIG;
	}
	if (c->fleet_max_inflight > 0 && c->backend != AG_BACKEND_REDIS) {
		ag_fail(err, errlen,
			"%s%s[store] fleet_max_inflight needs backend = redis (the fleet's "
			"slots live there)",
			w, sep);
		return AG_ERR_CONFIG;
	}
	if (c->max_inflight_min > c->max_inflight_max) {
		ag_fail(err, errlen,
			"%s%s[overload] max_inflight_min must not exceed max_inflight_max", w, sep);
		return AG_ERR_CONFIG;
	}
	if ((c->redis_sentinels != NULL && c->redis_sentinels[0] != '\0') !=
	    (c->redis_master_name != NULL && c->redis_master_name[0] != '\0')) {
		ag_fail(err, errlen,
			"%s%s[store] redis_sentinels and redis_master_name go together", w, sep);
		return AG_ERR_CONFIG;
	}
	if (c->codel_target_ms > c->codel_interval_ms) {
		ag_fail(err, errlen, "%s%s[overload] codel_target must not exceed codel_interval",
			w, sep);
		return AG_ERR_CONFIG;
	}
	return 0;
}

/* ---- the file ------------------------------------------------------------ */

struct load_ctx {
	FILE *f;
	const char *name;
	struct ag_conf *c;
	unsigned lineno;
	unsigned err_line; /* first error found by the reader or the handler */
	int err_code;
	char *err;
	size_t errlen;
	unsigned seen[N_OPTIONS]; /* line where each key was set */
};

static void load_fail(struct load_ctx *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void load_fail(struct load_ctx *x, int code, const char *fmt, ...)
{
	char msg[AG_ERRBUF];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->err_line = x->lineno;
	x->err_code = code;
	ag_fail(x->err, x->errlen, "%s:%u: %s", x->name, x->lineno, msg);
}

/* Rejects what inih would take in a surprising way, before it sees it: an
 * indented line (inih appends it to the previous value) and a section header
 * that is unknown or followed by anything but a comment. */
static void check_line(struct load_ctx *x, const char *line)
{
	const char *p = line, *close;

	if (x->lineno == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	if (isspace((unsigned char)*p)) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '\0' && *p != ';' && *p != '#')
			load_fail(x, AG_ERR_CONFIG,
				  "indented line (it would continue the previous value; "
				  "remove the leading blanks)");
		return;
	}
	if (*p != '[')
		return;
	close = strchr(p, ']');
	if (close == NULL) {
		load_fail(x, AG_ERR_CONFIG, "section header without ']'");
		return;
	}
	if (!known_section(p + 1, (size_t)(close - p - 1))) {
		char q[AG_QUOTE_BUF];

		ag_quote_value(q, sizeof(q), p + 1, (size_t)(close - p - 1));
		load_fail(
		    x, AG_ERR_CONFIG,
		    "unknown section [%s] (expected governor, limits, overload, lists or store)",
		    q);
		return;
	}
	for (p = close + 1; isspace((unsigned char)*p); p++)
		;
	if (*p != '\0' && *p != ';' && *p != '#')
		load_fail(x, AG_ERR_CONFIG, "text after the section header");
}

/* inih's reader: one physical line per call, so that x->lineno is the line
 * inih is working on when it calls the handler or reports a syntax error.
 * Too long lines are refused rather than split, NUL bytes rather than cut. */
static char *read_line(char *str, int num, void *stream)
{
	struct load_ctx *x = stream;
	size_t len = 0, room;
	int ch;

	if (x->err_line != 0 || num < 3)
		return NULL;
	room = (size_t)num - 2;
	ch = getc(x->f);
	if (ch == EOF) {
		if (ferror(x->f))
			load_fail(x, AG_ERR_IO, "read error");
		return NULL;
	}
	if (++x->lineno > CONF_MAX_LINES) {
		load_fail(x, AG_ERR_CONFIG, "file longer than %d lines", CONF_MAX_LINES);
		return NULL;
	}
	while (ch != EOF && ch != '\n') {
		if (ch == '\0') {
			load_fail(x, AG_ERR_CONFIG, "NUL byte in line");
			return NULL;
		}
		if (len >= room) {
			load_fail(x, AG_ERR_CONFIG, "line longer than %zu bytes", room);
			return NULL;
		}
		str[len++] = (char)ch;
		ch = getc(x->f);
	}
	if (ch == EOF && ferror(x->f)) {
		load_fail(x, AG_ERR_IO, "read error");
		return NULL;
	}
	str[len] = '\0';
	check_line(x, str);
	if (x->err_line != 0)
		return NULL;
	str[len++] = '\n';
	str[len] = '\0';
	return str;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct load_ctx *x = user;
	const struct ag_option *o;
	char where[AG_ERRBUF];
	int rc;

	if (x->err_line != 0)
		return 0;
	snprintf(where, sizeof(where), "%s:%u", x->name, x->lineno);
	o = ag_option_find(AG_SCOPE_CONF, section, key);
	if (o != NULL && o->type != AG_T_LIST && x->seen[o - table] != 0) {
		x->err_line = x->lineno;
		x->err_code = AG_ERR_CONFIG;
		ag_fail(x->err, x->errlen, "%s: [%s] %s: set twice (first at line %u)", where,
			o->section, o->key, x->seen[o - table]);
		return 0;
	}
	rc = ag_conf_set(x->c, section, key, value, where, x->err, x->errlen);
	if (rc != 0) {
		x->err_line = x->lineno;
		x->err_code = rc;
		return 0;
	}
	if (o != NULL)
		x->seen[o - table] = x->lineno;
	return 1;
}

int ag_conf_load_fp(struct ag_conf *c, FILE *f, const char *name, char *err, size_t errlen)
{
	struct load_ctx x;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (c == NULL || f == NULL)
		return AG_ERR_INVAL;
	memset(&x, 0, sizeof(x));
	x.f = f;
	x.name = name != NULL ? name : "(config)";
	x.c = c;
	x.err = err;
	x.errlen = errlen;
	r = ini_parse_stream(read_line, &x, on_entry, &x);
	if (r == -2) {
		ag_fail(err, errlen, "%s: %s", x.name, ag_strerror(AG_ERR_NOMEM));
		return AG_ERR_NOMEM;
	}
	/* inih reports the first line it could not parse, having gone on past
	 * it; a handler or reader error found earlier takes precedence. */
	if (r > 0 && (x.err_line == 0 || (unsigned)r < x.err_line)) {
		ag_fail(
		    err, errlen,
		    "%s:%d: syntax error (expected \"[section]\", \"key = value\" or a comment)",
		    x.name, r);
		return AG_ERR_CONFIG;
	}
	if (x.err_line != 0)
		return x.err_code;
	return ag_conf_check(c, x.name, err, errlen);
}

int ag_conf_load(struct ag_conf *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = NULL;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (c == NULL || path == NULL)
		return AG_ERR_INVAL;
	f = fopen(path, "re");
	if (f == NULL) {
		int e = errno;

		ag_fail(err, errlen, "%s: %s", path,
			e == ENOENT ? "not found (no such file)" : strerror(e));
		rc = e == ENOENT		   ? AG_ERR_NOTFOUND
		     : (e == EACCES || e == EPERM) ? AG_ERR_PERM
						   : AG_ERR_IO;
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		ag_fail(err, errlen, "%s: not a regular file", path);
		rc = AG_ERR_CONFIG;
		goto out;
	}
	rc = ag_conf_load_fp(c, f, path, err, errlen);
out:
	if (f != NULL)
		fclose(f);
	return rc;
}

/* ag_conf.h - the option table and the configuration it fills.
 *
 * One table (ag_options) spells, documents and validates every key of the
 * config file (authguard.conf, INI), of the PAM module's arguments, and the
 * values the CLI accepts. Parsing is strict: a bad value is an error that
 * names where it came from, never a silent default.
 */
#ifndef AG_CONF_H
#define AG_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "ag_addr.h"

#define AG_ERRBUF 256

enum ag_opt_type {
	AG_T_STRING,   /* free text */
	AG_T_PATH,     /* absolute path */
	AG_T_GROUP,    /* group name, resolved to admin_gid when set (conf only) */
	AG_T_UINT,     /* decimal integer in [min, max] */
	AG_T_DURATION, /* integer + unit ms|s|m|h|d (unit required), stored in ms */
	AG_T_MSEC,     /* as DURATION, but a bare integer means ms (module args) */
	AG_T_RATE,     /* N/s, N/min (or N/m), N/h; at most one per ms */
	AG_T_PERCENT,  /* integer 0..100 with optional trailing % */
	AG_T_BOOL,     /* yes|no|true|false|on|off|1|0 */
	AG_T_ENUM,     /* one of the words in ag_option.words */
	AG_T_FLAG,     /* module argument without a value: sets the int to 1 (or 0, see flag_value) */
	AG_T_LIST,     /* [lists] allow/deny: "CIDR [until YYYY-MM-DDTHH:MM:SSZ]", repeatable */
};

enum ag_opt_scope {
	AG_SCOPE_CONF = 1,   /* authguard.conf: struct ag_conf */
	AG_SCOPE_PAM = 2,    /* module argument: struct ag_modargs */
};

struct ag_rate {
	int64_t count;     /* attempts ... */
	int64_t period_ms; /* ... per this period */
};

struct ag_option {
	const char *section;  /* INI section (AG_SCOPE_CONF), NULL for module-only */
	const char *key;
	enum ag_opt_type type;
	unsigned scope;
	size_t offset;        /* into struct ag_conf or struct ag_modargs (by scope) */
	int64_t min, max;     /* bounds: ms for durations, count for rates, length in
	                         bytes for strings (min 0: empty allowed), entries for
	                         lists */
	const char *defval;   /* default, as text, parsed by the same code; NULL = unset;
	                         AG_T_FLAG: non-NULL = in effect by default */
	const char *words;    /* AG_T_ENUM: "open|closed"; value stored is the index.
	                         AG_T_UINT (min >= 1): one word accepted instead of a
	                         number, stored as 0 ("auto") */
	int flag_value;       /* AG_T_FLAG: value stored */
	const char *help;     /* one line, used by docs and --help */
	/* Optional check of a value beyond its type, run by the file loader
	 * (naming FILE:LINE) and by ag_conf_check; 0 or AG_ERR_CONFIG with
	 * why filled in. */
	int (*check)(const char *value, char *why, size_t whylen);
	const char *expect;   /* with check: what a good value looks like */
};

enum ag_backend { AG_BACKEND_MEMORY = 0, AG_BACKEND_REDIS = 1 };

struct ag_list_entry {
	struct ag_cidr cidr;
	int64_t expires_ms;   /* wall clock ms since the epoch; 0 = never */
};

struct ag_conf {
	/* [governor] */
	char *socket;             /* privileged socket */
	char *user_socket;        /* unprivileged socket; "" = off */
	char *admin_group;        /* "" = root only */
	gid_t admin_gid;          /* resolved at load */
	int has_admin_gid;
	int64_t max_clients, client_idle_ms, max_queue, shed_margin_ms, lease_ms;
	int64_t user_lease_ms, user_slots, user_max_conns, user_max_admissions;
	int64_t log_burst, log_interval_ms;
	char *state_file;         /* "" = off */
	int64_t state_interval_ms;
	char *metrics_listen;     /* loopback IP:PORT for GET /metrics; "" = off */
	/* [limits] */
	int64_t pair_free_failures, backoff_base_ms, backoff_max_ms, failure_window_ms;
	int64_t source_prefix_v4, source_prefix_v6, agg_prefix_v4, agg_prefix_v6;
	struct ag_rate source_rate, user_rate;
	int64_t source_burst, user_burst;
	int64_t user_max_failures, cap_hold_base_ms, cap_hold_max_ms;
	int64_t trust_ttl_ms, max_trusted_per_user;
	int fold_case;
	/* [overload] */
	int64_t max_inflight;	   /* 0: auto (learnt between _min and _max) */
	int64_t max_inflight_min, max_inflight_max;
	int64_t trusted_reserve_pct, clean_reserve_pct;
	int64_t codel_target_ms, codel_interval_ms;
	/* [lists] */
	struct ag_list_entry *allow, *deny;
	size_t n_allow, n_deny;
	/* [store] */
	int backend;              /* enum ag_backend */
	/* Not an option: set by the caller after ag_conf_init to load without
	 * any NSS lookup (admin_group is kept as a name, unresolved). The
	 * module sets it: a group lookup through sssd or LDAP has no place in
	 * the login path. */
	int no_nss;
	int64_t max_tracked, max_trusted;
	char *redis;               /* redis://IP:PORT[/DB] or unix:///PATH[?db=N] */
	char *redis_password_file; /* "" = none (or in the URL) */
	int64_t redis_timeout_ms;  /* one command's budget */
	int64_t redis_max_pending; /* commands in flight at most */
	char *key_prefix;          /* every key starts with it */
	int64_t fleet_size;        /* hosts sharing the Redis: degraded mode's share */
	int64_t fleet_max_inflight; /* attempts in flight on all hosts together; 0 = off */
	char *hash_key_file;       /* the fleet key (authguard-governor --keygen) */
	int clock;                 /* enum ag_clock */
	int negative_cache;        /* remember backoff holds on the host */
	char *redis_sentinels;     /* "IP:PORT, IP:PORT": Sentinels to ask; "" = none */
	char *redis_master_name;   /* the master's name at the Sentinels */
};

enum ag_clock { AG_CLOCK_REDIS = 0, AG_CLOCK_LOCAL = 1 };

enum ag_phase {
	AG_PHASE_NONE = 0,   /* account phase (no phase word) */
	AG_PHASE_PREAUTH,
	AG_PHASE_AUTHFAIL,
	AG_PHASE_AUTHUNAVAIL,
	AG_PHASE_AUTHSUCC,
	AG_PHASE_AUTHPASS,   /* a factor passed, more follow: release the slot */
};
enum ag_on_error { AG_ON_ERROR_OPEN = 0, AG_ON_ERROR_CLOSED = 1 };

struct ag_modargs {
	int phase;             /* enum ag_phase */
	char *socket;          /* NULL: by euid, from conf or the built-in paths */
	char *conf;            /* NULL: none read */
	int64_t timeout_ms;    /* wait for any answer */
	int64_t queue_wait_ms; /* budget for finding a slot once queued */
	int on_error;          /* enum ag_on_error */
	int silent, debug, precheck;
};

#define AG_LIST_MAX 65536 /* entries in each of [lists] allow and deny */

#define AG_DEFAULT_CONF SYSCONFDIR "/authguard/authguard.conf"
#define AG_DEFAULT_SOCKET "/run/authguard/governor.sock"
#define AG_DEFAULT_USER_SOCKET "/run/authguard/user.sock"

/* Entries in the option table at most (checked when ag_conf.c is built), so
 * that other files may size arrays indexed by option. */
#define AG_OPTIONS_MAX 128

/* The option table; *n gets its length. Static, never NULL. */
const struct ag_option *ag_options(size_t *n);

/* Finds an option by section (NULL = module scope) and key; NULL if none. */
const struct ag_option *ag_option_find(unsigned scope, const char *section, const char *key);

/* Sets every option of scope (AG_SCOPE_CONF or AG_SCOPE_PAM) that has a
 * default in base (a struct ag_conf or a struct ag_modargs), through
 * ag_option_set. 0 or the first error; what was set before it stays set. */
int ag_option_defaults(void *base, unsigned scope) __attribute__((warn_unused_result));

/* Formats a message into err (nothing when err is NULL or errlen 0), for the
 * err/errlen pair the functions below take. */
void ag_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fills *c with the defaults from the table. Returns 0 or AG_ERR_NOMEM. */
int ag_conf_init(struct ag_conf *c) __attribute__((warn_unused_result));

/* Reads an INI file over *c (which holds defaults). A missing file is
 * AG_ERR_NOTFOUND (callers decide whether defaults are fine). Any bad section,
 * key or value is AG_ERR_CONFIG with "FILE:LINE: message" in err. Also checks
 * cross-option constraints (reserves sum < 100, base <= max, ...) and resolves
 * admin_group. On error *c is left in a state ag_conf_free() accepts. */
int ag_conf_load(struct ag_conf *c, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* As ag_conf_load, from an open stream (not closed); name is used in the
 * messages in place of the path. */
int ag_conf_load_fp(struct ag_conf *c, FILE *f, const char *name, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The cross-option checks ag_conf_load runs after reading (reserves sum
 * < 100, backoff_base <= backoff_max, cap_hold_base <= cap_hold_max,
 * codel_target <= codel_interval, agg prefixes <= source prefixes), for
 * callers that change *c with ag_conf_set. where (may be NULL) prefixes the
 * message. 0 or AG_ERR_CONFIG. */
int ag_conf_check(const struct ag_conf *c, const char *where, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Sets one key from text, as a config line would ("where" names the origin
 * for the message, e.g. "file:12"; may be NULL). A list key appends one
 * entry. Does not detect duplicates (ag_conf_load does) nor run the
 * cross-option checks (ag_conf_check). 0, AG_ERR_NOMEM, or AG_ERR_CONFIG
 * with "WHERE: [section] key: what is wrong (expected ...)" in err. */
int ag_conf_set(struct ag_conf *c, const char *section, const char *key, const char *value,
                const char *where, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees what *c owns (NULL allowed); *c must be re-initialised before reuse. */
void ag_conf_free(struct ag_conf *c);

/* Parses PAM module arguments (phase word first or anywhere, then key=value
 * and flags). Defaults applied first (*a is cleared on entry). Unknown words,
 * bad values, two phases, a key given twice, conflicting flags (precheck and
 * noprecheck): AG_ERR_CONFIG with a message naming the argument, and *a
 * holds no allocation. NULL argv[i]: AG_ERR_INVAL. Free with ag_modargs_free. */
int ag_modargs_parse(struct ag_modargs *a, int argc, const char **argv, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Frees the strings *a owns (NULL allowed) and clears it. */
void ag_modargs_free(struct ag_modargs *a);

/* Strict scalar parsers shared by the table, the CLI and the tests. Each
 * returns 0 or AG_ERR_INVAL (out untouched) for anything but the whole
 * string being a valid value in range: no blanks, no '+', no overflow.
 * int: decimal, '-' allowed. duration: groups N<unit> with units ms|s|m|h|d
 * going strictly down ("1h30m", "90m"; not "30m1h", "1m1m"), never negative;
 * with bare_ms a lone integer is ms. rate: N/s, N/min, N/m or N/h with
 * N >= 1. bool: yes|no|true|false|on|off|1|0, lower case. */
int ag_parse_int(const char *s, int64_t min, int64_t max, int64_t *out) __attribute__((warn_unused_result));
int ag_parse_duration(const char *s, int bare_ms, int64_t min, int64_t max, int64_t *out_ms)
	__attribute__((warn_unused_result));
int ag_parse_rate(const char *s, struct ag_rate *out) __attribute__((warn_unused_result));
int ag_parse_bool(const char *s, int *out) __attribute__((warn_unused_result));

/* Parses value as option o and stores it at o->offset in base: a struct
 * ag_conf for AG_SCOPE_CONF options, a struct ag_modargs for AG_SCOPE_PAM
 * ones. Strings are copied (the old one freed); a list value is appended;
 * a group is resolved (getgrnam_r) into admin_gid. 0, AG_ERR_NOMEM,
 * AG_ERR_INVAL (NULL), or AG_ERR_CONFIG with what is wrong in why
 * ("bad value 'x'", "'0' is out of range", "unknown group 'x'"; the value
 * escaped and cut as ag_quote_value does). */
int ag_option_set(const struct ag_option *o, void *base, const char *value, char *why,
                  size_t whylen) __attribute__((warn_unused_result));

/* Writes what a value of o must look like, for messages and --help
 * ("an integer from 1 to 1024", "a duration such as 30s ... from 1s to 1h"). */
void ag_option_describe(const struct ag_option *o, char *buf, size_t cap);

#define AG_QUOTE_BUF 200

/* Copies at most 48 bytes of s[0..len) (s may be NULL) into dst, always
 * terminated, for echoing a value in a message: bytes outside printable
 * ASCII, the quote and the backslash as \xHH, "..." when cut. AG_QUOTE_BUF
 * always suffices. */
void ag_quote_value(char *dst, size_t cap, const char *s, size_t len);

/* Wall-clock time "YYYY-MM-DDTHH:MM:SSZ" (UTC, exactly that form, years
 * 1970..9999) to ms since the epoch. 0 or AG_ERR_INVAL (out untouched). */
int ag_parse_utc(const char *s, int64_t *out_ms) __attribute__((warn_unused_result));

/* A [lists] value: "CIDR" or "CIDR until YYYY-MM-DDTHH:MM:SSZ" (blanks between
 * the words). *out is cleared on entry; expires_ms 0 = never. 0 or
 * AG_ERR_INVAL. */
int ag_parse_list_entry(const char *s, struct ag_list_entry *out)
	__attribute__((warn_unused_result));

/* A listening address on the loopback only: "A.B.C.D:PORT" with A.B.C.D in
 * 127.0.0.0/8, or "[::1]:PORT"; PORT 1..65535, decimal. host (hostcap >= 46)
 * gets the address without brackets, *port the port; either may be NULL.
 * 0 or AG_ERR_INVAL (anything else, the empty string included). */
int ag_parse_loopback(const char *s, char *host, size_t hostcap, unsigned *port)
	__attribute__((warn_unused_result));

/* Formats a duration in ms the way the config takes it: "0s"; "<N>ms" when
 * not whole seconds ("1500ms"); otherwise its d/h/m/s parts, largest first
 * ("2m", "1h30m", "1d12h"). Truncates to fit cap (buf always terminated when
 * cap > 0). */
void ag_format_duration(int64_t ms, char *buf, size_t cap);

#endif

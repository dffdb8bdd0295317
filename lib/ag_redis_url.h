/* ag_redis_url.h - the [store] redis address: where the governor finds
 * Redis, parsed strictly (ag_redis_url.c).
 *
 *   redis://[USER:PASSWORD@]IP:PORT[/DB]   IPv4 or [IPv6] literal
 *   unix://[USER:PASSWORD@]/PATH[?db=DB]
 *
 * Host names are refused: hiredis 0.14 resolves them with a blocking call
 * on the event loop. A password belongs in redis_password_file rather than
 * here (the config file is often world-readable).
 */
#ifndef AG_REDIS_URL_H
#define AG_REDIS_URL_H

#include <stddef.h>

#define AG_REDIS_HOST_MAX 46  /* INET6_ADDRSTRLEN */
#define AG_REDIS_PATH_MAX 108 /* sun_path, with its NUL */
#define AG_REDIS_CRED_MAX 128 /* user or password */
#define AG_REDIS_DB_MAX	  10000
#define AG_REDIS_HOSTS_MAX 8 /* ag_redis_hosts_parse: [store] redis_sentinels */

struct ag_redis_url {
	int unix_socket; /* 1: path, else host and port */
	char host[AG_REDIS_HOST_MAX];
	unsigned port;
	char path[AG_REDIS_PATH_MAX];
	char user[AG_REDIS_CRED_MAX];	  /* "" when none */
	char password[AG_REDIS_CRED_MAX]; /* "" when none */
	int db;
};

/* Parses s into *out (cleared first). 0, or AG_ERR_CONFIG with why (may be
 * NULL) saying what is wrong. */
int ag_redis_url_parse(const char *s, struct ag_redis_url *out, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* Wipes the password (sodium_memzero). */
void ag_redis_url_wipe(struct ag_redis_url *u);

/* A list of up to AG_REDIS_HOSTS_MAX "IP:PORT" or "[IPv6]:PORT",
 * comma-separated, spaces allowed around the commas (redis_sentinels):
 * each parsed as redis://IP:PORT would be, nothing more (no credentials, no
 * database). "" is an empty list. *n gets how many; 0, or AG_ERR_CONFIG with
 * why filled in (out then holds nothing usable). */
int ag_redis_hosts_parse(const char *s, struct ag_redis_url out[AG_REDIS_HOSTS_MAX], size_t *n,
			 char *why, size_t whylen);

#endif

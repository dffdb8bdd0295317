/* ag_redis_url.c - the [store] redis address (see ag_redis_url.h). */
#include "config.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "ag_err.h"
#include "ag_redis_url.h"

static int fail(char *why, size_t whylen, const char *msg)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", msg);
	return AG_ERR_CONFIG;
}

/* A decimal in [lo, hi] that is all of s[0..len). */
static int number(const char *s, size_t len, long lo, long hi, long *out)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 6 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* USER:PASSWORD (or :PASSWORD, the default user) before '@'. */
static int credentials(const char *s, size_t len, struct ag_redis_url *u)
{
	const char *colon = memchr(s, ':', len);
	size_t ul, pl;

	if (colon == NULL)
		return -1;
	ul = (size_t)(colon - s);
	pl = len - ul - 1;
	/* USER:@ names the ACL user only: the password is in redis_password_file. */
	if (ul >= sizeof(u->user) || pl >= sizeof(u->password) || (ul == 0 && pl == 0))
		return -1;
	memcpy(u->user, s, ul);
	memcpy(u->password, colon + 1, pl);
	return 0;
}

static int parse_tcp(const char *s, struct ag_redis_url *u, char *why, size_t whylen)
{
	const char *at = strrchr(s, '@'), *hp = at != NULL ? at + 1 : s;
	const char *slash = strchr(hp, '/'), *end = slash != NULL ? slash : hp + strlen(hp);
	const char *colon;
	unsigned char buf[16];
	size_t hl;
	long v;

	if (at != NULL && credentials(s, (size_t)(at - s), u) != 0)
		return fail(why, whylen, "credentials must be USER:PASSWORD@ (better: redis_password_file)");
	if (*hp == '[') {
		const char *rb = memchr(hp, ']', (size_t)(end - hp));

		if (rb == NULL || rb[1] != ':')
			return fail(why, whylen, "an IPv6 address goes in brackets, then :PORT");
		hl = (size_t)(rb - hp - 1);
		if (hl == 0 || hl >= sizeof(u->host))
			return fail(why, whylen, "bad IPv6 address");
		memcpy(u->host, hp + 1, hl);
		if (inet_pton(AF_INET6, u->host, buf) != 1)
			return fail(why, whylen, "bad IPv6 address");
		colon = rb + 1;
	} else {
		colon = memchr(hp, ':', (size_t)(end - hp));
		if (colon == NULL)
			return fail(why, whylen, "the port is missing (IP:PORT)");
		hl = (size_t)(colon - hp);
		if (hl == 0 || hl >= sizeof(u->host))
			return fail(why, whylen, "the address is missing");
		memcpy(u->host, hp, hl);
		if (inet_pton(AF_INET, u->host, buf) != 1)
			return fail(why, whylen,
				    "not an IP address: a host name would be resolved with a "
				    "blocking call; give its address");
	}
	if (number(colon + 1, (size_t)(end - colon - 1), 1, 65535, &v) != 0)
		return fail(why, whylen, "the port must be 1 to 65535");
	u->port = (unsigned)v;
	if (slash != NULL) {
		if (number(slash + 1, strlen(slash + 1), 0, AG_REDIS_DB_MAX, &v) != 0)
			return fail(why, whylen, "the database after / must be a number 0 to 10000");
		u->db = (int)v;
	}
	return 0;
}

static int parse_unix(const char *s, struct ag_redis_url *u, char *why, size_t whylen)
{
	const char *at = s[0] != '/' ? strstr(s, "@/") : NULL;
	const char *q;
	size_t pl;
	long v;

	/* unix://USER:@/PATH names an ACL user, as redis:// does. */
	if (at != NULL) {
		if (credentials(s, (size_t)(at - s), u) != 0)
			return fail(why, whylen, "credentials must be USER:PASSWORD@ (better: redis_password_file)");
		s = at + 1;
	}
	q = strchr(s, '?');
	pl = q != NULL ? (size_t)(q - s) : strlen(s);
	if (pl == 0 || s[0] != '/')
		return fail(why, whylen, "unix:// needs an absolute path (unix:///run/redis/redis.sock)");
	if (pl >= sizeof(u->path))
		return fail(why, whylen, "the socket path is longer than 107 bytes");
	memcpy(u->path, s, pl);
	if (q != NULL) {
		if (strncmp(q, "?db=", 4) != 0 ||
		    number(q + 4, strlen(q + 4), 0, AG_REDIS_DB_MAX, &v) != 0)
			return fail(why, whylen, "after the path only ?db=N (0 to 10000)");
		u->db = (int)v;
	}
	u->unix_socket = 1;
	return 0;
}

int ag_redis_url_parse(const char *s, struct ag_redis_url *out, char *why, size_t whylen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (s == NULL || s[0] == '\0')
		return fail(why, whylen, "empty");
	if (strpbrk(s, " \t\r\n") != NULL)
		return fail(why, whylen, "no spaces allowed");
	if (strncmp(s, "redis://", 8) == 0)
		rc = parse_tcp(s + 8, out, why, whylen);
	else if (strncmp(s, "unix://", 7) == 0)
		rc = parse_unix(s + 7, out, why, whylen);
	else
		rc = fail(why, whylen, "must start with redis:// or unix://");
	if (rc != 0)
		ag_redis_url_wipe(out);
	return rc;
}

int ag_redis_hosts_parse(const char *s, struct ag_redis_url out[AG_REDIS_HOSTS_MAX], size_t *n,
			 char *why, size_t whylen)
{
	char one[80], url[96];
	const char *p = s != NULL && s[0] != '\0' ? s : NULL, *end;
	size_t len;
	int rc = 0;

	*n = 0;
	/* Every piece between commas is an entry: "a," has an empty one. */
	while (rc == 0 && p != NULL) {
		while (*p == ' ' || *p == '\t')
			p++;
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(one) || *n >= AG_REDIS_HOSTS_MAX) {
			rc = fail(why, whylen,
				  len == 0		    ? "an empty entry"
				  : *n >= AG_REDIS_HOSTS_MAX ? "more than 8 entries"
							    : "an entry too long");
			break;
		}
		memcpy(one, p, len);
		one[len] = '\0';
		if (strchr(one, '@') != NULL || strchr(one, '/') != NULL) {
			snprintf(why, whylen, "'%s' is not IP:PORT", one);
			rc = AG_ERR_CONFIG;
			break;
		}
		snprintf(url, sizeof(url), "redis://%s", one);
		rc = ag_redis_url_parse(url, &out[*n], why, whylen);
		if (rc == 0)
			(*n)++;
		p = end != NULL ? end + 1 : NULL;
	}
	return rc == 0 ? 0 : AG_ERR_CONFIG;
}

void ag_redis_url_wipe(struct ag_redis_url *u)
{
	if (u != NULL)
		sodium_memzero(u->password, sizeof(u->password));
}

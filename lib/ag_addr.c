/* ag_addr.c - IP addresses, netblocks and the source key of an attempt. */
#include "config.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "ag_addr.h"
#include "ag_err.h"

/* Longest text any numeric address can take ("ffff:...:255.255.255.255"). */
#define ADDR_TEXT_MAX 64
#define NAME_MAX_LEN  255

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int family_bits(int family)
{
	if (family == AF_INET)
		return 32;
	if (family == AF_INET6)
		return 128;
	return -1;
}

/* inet_pton without folding: the family follows from the presence of ':'.
 * glibc's inet_pton already refuses ports, brackets, zones, short forms
 * ("1.2.3") and leading zeros in v4. */
static int parse_raw(const char *s, struct ag_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (strlen(s) >= ADDR_TEXT_MAX)
		return AG_ERR_INVAL;
	if (strchr(s, ':') != NULL) {
		if (inet_pton(AF_INET6, s, out->b) != 1)
			return AG_ERR_INVAL;
		out->family = AF_INET6;
		return 0;
	}
	if (inet_pton(AF_INET, s, out->b) != 1)
		return AG_ERR_INVAL;
	out->family = AF_INET;
	return 0;
}

static int is_v4_mapped(const struct ag_addr *a)
{
	return a->family == AF_INET6 && memcmp(a->b, v4_mapped_prefix, 12) == 0;
}

static void fold_v4_mapped(struct ag_addr *a)
{
	memmove(a->b, a->b + 12, 4);
	memset(a->b + 4, 0, sizeof(a->b) - 4);
	a->family = AF_INET;
}

int ag_addr_parse(const char *s, struct ag_addr *out)
{
	int rc;

	if (out == NULL)
		return AG_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return AG_ERR_INVAL;
	rc = parse_raw(s, out);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	if (is_v4_mapped(out))
		fold_v4_mapped(out);
	return 0;
}

void ag_addr_mask(struct ag_addr *a, int prefix)
{
	int bits, i;

	if (a == NULL)
		return;
	bits = family_bits(a->family);
	if (bits < 0)
		return;
	if (prefix < 0)
		prefix = 0;
	if (prefix > bits)
		prefix = bits;
	for (i = 0; i < 16; i++) {
		int keep = prefix - i * 8;

		if (keep >= 8)
			continue;
		if (keep <= 0)
			a->b[i] = 0;
		else
			a->b[i] &= (uint8_t)(0xff << (8 - keep));
	}
}

/* The prefix length after "/": digits only, no leading zero (so "/024" and
 * "/+8" are refused), within the family's width. */
static int parse_prefix(const char *s, int bits, int *out)
{
	char *end = NULL;
	long v;

	if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 3)
		return AG_ERR_INVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > bits)
		return AG_ERR_INVAL;
	*out = (int)v;
	return 0;
}

int ag_cidr_parse(const char *s, struct ag_cidr *out)
{
	char text[ADDR_TEXT_MAX];
	const char *slash;
	size_t len;
	int prefix, rc;

	if (out == NULL)
		return AG_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return AG_ERR_INVAL;
	slash = strchr(s, '/');
	len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (len >= sizeof(text))
		return AG_ERR_INVAL;
	memcpy(text, s, len);
	text[len] = '\0';
	rc = parse_raw(text, &out->addr);
	if (rc != 0)
		goto fail;
	prefix = family_bits(out->addr.family);
	if (slash != NULL) {
		rc = parse_prefix(slash + 1, prefix, &prefix);
		if (rc != 0)
			goto fail;
	}
	/* A mapped block at /96 or longer is a v4 block; a shorter one also
	 * covers non-mapped v6 and stays v6 (it then matches no folded address). */
	if (is_v4_mapped(&out->addr) && prefix >= 96) {
		fold_v4_mapped(&out->addr);
		prefix -= 96;
	}
	ag_addr_mask(&out->addr, prefix);
	out->prefix = prefix;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return rc;
}

int ag_cidr_contains(const struct ag_cidr *c, const struct ag_addr *a)
{
	struct ag_addr m;
	int bits;

	if (c == NULL || a == NULL || c->addr.family != a->family)
		return 0;
	bits = family_bits(a->family);
	if (bits < 0 || c->prefix < 0 || c->prefix > bits)
		return 0;
	m = *a;
	ag_addr_mask(&m, c->prefix);
	return memcmp(m.b, c->addr.b, (size_t)bits / 8) == 0;
}

int ag_addr_format(const struct ag_addr *a, char *buf, size_t cap)
{
	char text[ADDR_TEXT_MAX];
	size_t len;

	if (buf != NULL && cap > 0)
		buf[0] = '\0';
	if (a == NULL || buf == NULL || family_bits(a->family) < 0)
		return AG_ERR_INVAL;
	if (inet_ntop(a->family, a->b, text, sizeof(text)) == NULL)
		return AG_ERR_INVAL;
	len = strlen(text);
	if (len >= cap)
		return AG_ERR_TOOBIG;
	memcpy(buf, text, len + 1);
	return 0;
}

int ag_cidr_format(const struct ag_cidr *c, char *buf, size_t cap)
{
	char text[ADDR_TEXT_MAX];
	int rc, n;

	if (buf != NULL && cap > 0)
		buf[0] = '\0';
	if (c == NULL || buf == NULL)
		return AG_ERR_INVAL;
	rc = ag_addr_format(&c->addr, text, sizeof(text));
	if (rc != 0)
		return rc;
	n = snprintf(buf, cap, "%s/%d", text, c->prefix);
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			buf[0] = '\0';
		return AG_ERR_TOOBIG;
	}
	return 0;
}

/* "ADDR/P" of a's netblock at prefix, into buf (AG_SOURCE_MAX). */
static int netblock_key(const struct ag_addr *a, int prefix, char *buf, size_t cap)
{
	struct ag_cidr c;

	c.addr = *a;
	c.prefix = prefix;
	ag_addr_mask(&c.addr, prefix);
	return ag_cidr_format(&c, buf, cap);
}

/* An address as sshd puts it in PAM_RHOST (the first field of
 * SSH_CONNECTION): numeric, and for a link-local v6 peer possibly with a
 * "%zone" that ag_addr_parse refuses. The zone names our interface, not the
 * peer, so it is dropped. */
static int rhost_addr(const char *rhost, struct ag_addr *out)
{
	char text[ADDR_TEXT_MAX];
	const char *pct;
	size_t len;

	if (ag_addr_parse(rhost, out) == 0)
		return 0;
	pct = strchr(rhost, '%');
	if (pct == NULL || strchr(rhost, ':') == NULL || pct[1] == '\0')
		return AG_ERR_INVAL;
	len = (size_t)(pct - rhost);
	if (len >= sizeof(text))
		return AG_ERR_INVAL;
	memcpy(text, rhost, len);
	text[len] = '\0';
	return ag_addr_parse(text, out);
}

static int named_key(const char *kind, const char *name, struct ag_source *out)
{
	int n;

	if (strlen(name) > NAME_MAX_LEN)
		return AG_ERR_INVAL;
	n = snprintf(out->key, sizeof(out->key), "%s:%s", kind, name);
	if (n < 0 || (size_t)n >= sizeof(out->key))
		return AG_ERR_TOOBIG;
	memcpy(out->agg, out->key, (size_t)n + 1);
	return 0;
}

int ag_source_from(const char *rhost, const char *ruser, const char *tty, int prefix4, int prefix6,
		   int agg4, int agg6, struct ag_source *out)
{
	struct ag_addr a;
	int rc;

	if (out == NULL)
		return AG_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	if (prefix4 < 0 || prefix4 > 32 || agg4 < 0 || agg4 > 32 || prefix6 < 0 || prefix6 > 128 ||
	    agg6 < 0 || agg6 > 128)
		return AG_ERR_INVAL;
	if (rhost == NULL || rhost[0] == '\0') {
		if (ruser != NULL && ruser[0] != '\0')
			rc = named_key("local", ruser, out);
		else if (tty != NULL && tty[0] != '\0')
			rc = named_key("local", tty, out);
		else
			rc = named_key("local", "", out);
		goto out;
	}
	if (rhost_addr(rhost, &a) != 0) {
		rc = named_key("host", rhost, out);
		goto out;
	}
	rc = netblock_key(&a, a.family == AF_INET ? prefix4 : prefix6, out->key, sizeof(out->key));
	if (rc != 0)
		goto out;
	rc = netblock_key(&a, a.family == AF_INET ? agg4 : agg6, out->agg, sizeof(out->agg));
	if (rc != 0)
		goto out;
	out->is_addr = 1;
	out->addr = a;
out:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

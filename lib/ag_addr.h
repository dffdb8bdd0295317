/* ag_addr.h - IP addresses, netblocks and the source key of an attempt. */
#ifndef AG_ADDR_H
#define AG_ADDR_H

#include <stddef.h>
#include <stdint.h>

struct ag_addr {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t b[16];     /* network order; AF_INET uses b[0..3] */
};

struct ag_cidr {
	struct ag_addr addr;  /* masked to prefix */
	int prefix;           /* 0..32 or 0..128 */
};

/* Parses a numeric v4 or v6 address (no port, no brackets, no scope, no
 * blanks; v4 only as four decimal parts without leading zeros); a v4-mapped
 * v6 address (::ffff:a.b.c.d) is folded to v4. *out is cleared on entry.
 * 0 or AG_ERR_INVAL (also for NULL). */
int ag_addr_parse(const char *s, struct ag_addr *out) __attribute__((warn_unused_result));

/* Parses "ADDR/PREFIX" or a bare ADDR (host prefix); PREFIX is decimal
 * without sign or leading zero, 0..32 (v4) or 0..128 (v6); bits below the
 * prefix are masked off. A v4-mapped block at /96 or longer is folded to v4
 * ("::ffff:10.0.0.0/104" is 10.0.0.0/8); a shorter one stays v6. *out is
 * cleared on entry. 0 or AG_ERR_INVAL. */
int ag_cidr_parse(const char *s, struct ag_cidr *out) __attribute__((warn_unused_result));

/* 1 if a is inside c (same family), else 0 (also for NULL). */
int ag_cidr_contains(const struct ag_cidr *c, const struct ag_addr *a);

/* Zeroes the bits of *a below prefix (clamped to 0..family width). */
void ag_addr_mask(struct ag_addr *a, int prefix);

/* Writes the address as text ("203.0.113.9", "2001:db8::1"). 0, AG_ERR_TOOBIG
 * (buf too small; buf is then "") or AG_ERR_INVAL (NULL, unknown family). */
int ag_addr_format(const struct ag_addr *a, char *buf, size_t cap) __attribute__((warn_unused_result));

/* Writes "ADDR/PREFIX". 0, AG_ERR_TOOBIG or AG_ERR_INVAL, as ag_addr_format. */
int ag_cidr_format(const struct ag_cidr *c, char *buf, size_t cap) __attribute__((warn_unused_result));

#define AG_SOURCE_MAX 300

/* The source of an attempt, as the rules key it (docs/design.md):
 * - rhost an address: its netblock at prefix4/prefix6 -> key "ADDR/P",
 *   aggregate netblock at agg4/agg6 -> agg "ADDR/P", is_addr = 1;
 * - rhost a host name: key "host:NAME", agg the same;
 * - no rhost: key "local:RUSER" (or "local:TTY", or "local:"), agg the same.
 * Names are taken byte for byte (callers escape them for logs). */
struct ag_source {
	char key[AG_SOURCE_MAX];
	char agg[AG_SOURCE_MAX];
	int is_addr;
	struct ag_addr addr;  /* the full address when is_addr */
};

/* Fills *out (cleared on entry) from PAM_RHOST, PAM_RUSER and PAM_TTY (each
 * may be NULL). rhost is taken as sshd gives it, i.e. the first field of
 * SSH_CONNECTION: a numeric v4 or v6 address (v4-mapped folded to v4; a
 * "%zone" after a link-local v6 address is dropped); anything else is a host
 * name. Prefixes must lie in 0..32 (v4) and 0..128 (v6). Returns 0, or
 * AG_ERR_INVAL for a bad prefix or a name (host, ruser, tty) over 255 bytes,
 * leaving *out cleared. */
int ag_source_from(const char *rhost, const char *ruser, const char *tty,
                   int prefix4, int prefix6, int agg4, int agg6, struct ag_source *out)
	__attribute__((warn_unused_result));

#endif

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

/* Parses a numeric v4 or v6 address (no port, no brackets, no scope);
 * a v4-mapped v6 address (::ffff:a.b.c.d) is folded to v4. 0 or AG_ERR_INVAL. */
int ag_addr_parse(const char *s, struct ag_addr *out) __attribute__((warn_unused_result));

/* Parses "ADDR/PREFIX" or a bare ADDR (host prefix); bits below the prefix
 * are masked off. 0 or AG_ERR_INVAL. */
int ag_cidr_parse(const char *s, struct ag_cidr *out) __attribute__((warn_unused_result));

/* 1 if a is inside c (same family), else 0. */
int ag_cidr_contains(const struct ag_cidr *c, const struct ag_addr *a);

/* Zeroes the bits of *a below prefix. */
void ag_addr_mask(struct ag_addr *a, int prefix);

/* Writes the address as text ("203.0.113.9", "2001:db8::1"). 0 or AG_ERR_TOOBIG. */
int ag_addr_format(const struct ag_addr *a, char *buf, size_t cap) __attribute__((warn_unused_result));

/* Writes "ADDR/PREFIX". 0 or AG_ERR_TOOBIG. */
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

int ag_source_from(const char *rhost, const char *ruser, const char *tty,
                   int prefix4, int prefix6, int agg4, int agg6, struct ag_source *out)
	__attribute__((warn_unused_result));

#endif

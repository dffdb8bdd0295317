/* lists.h - rule 1: allow and deny lists of CIDRs, v4 and v6, with expiry.
 *
 * Entries come from the config ([lists], replaced on reload) or from the CLI
 * at run time (kept across reloads, saved in the state file). Deny wins over
 * allow. Bounded: at most GOV_LISTS_MAX entries.
 */
#ifndef GOV_LISTS_H
#define GOV_LISTS_H

#include <stddef.h>
#include <stdint.h>
#include "ag_addr.h"
#include "ag_conf.h"

#define GOV_LISTS_MAX 65536
#define GOV_LIST_COMMENT_MAX 128

enum gov_list_kind { GOV_LIST_ALLOW = 1, GOV_LIST_DENY = 2 };
enum gov_list_origin { GOV_ORIGIN_CONF = 1, GOV_ORIGIN_RUNTIME = 2 };

struct gov_list_entry {
	int kind;                /* enum gov_list_kind */
	int origin;              /* enum gov_list_origin */
	struct ag_cidr cidr;
	int64_t expires_ms;      /* wall clock; 0 = never */
	char comment[GOV_LIST_COMMENT_MAX];
};

struct gov_lists;

/* Creates empty lists. 0 or AG_ERR_NOMEM. */
int gov_lists_new(struct gov_lists **out) __attribute__((warn_unused_result));
void gov_lists_free(struct gov_lists *l);

/* Replaces the config-origin entries with conf->allow / conf->deny (reload). */
int gov_lists_set_conf(struct gov_lists *l, const struct ag_conf *conf)
	__attribute__((warn_unused_result));

/* Replaces every runtime entry with e[0..n) (a fleet's lists, from the
 * Redis store); all or nothing. 0, AG_ERR_INVAL, AG_ERR_FULL or
 * AG_ERR_NOMEM. At most one entry per kind and cidr is expected. */
int gov_lists_set_runtime(struct gov_lists *l, const struct gov_list_entry *e, size_t n)
	__attribute__((warn_unused_result));

/* Adds (or replaces, same kind and cidr) a runtime entry. comment may be
 * NULL. AG_ERR_FULL at the bound. */
int gov_lists_add(struct gov_lists *l, int kind, const struct ag_cidr *cidr, int64_t expires_ms,
                  const char *comment) __attribute__((warn_unused_result));

/* Makes room for n more entries, so that the next n gov_lists_add calls
 * cannot fail for want of memory or room (the state file uses it to load all
 * or nothing). 0, AG_ERR_FULL (over GOV_LISTS_MAX) or AG_ERR_NOMEM. */
int gov_lists_reserve(struct gov_lists *l, size_t n) __attribute__((warn_unused_result));

/* Removes every entry (either kind, any origin) with exactly this cidr.
 * AG_ERR_NOTFOUND if none. */
int gov_lists_remove(struct gov_lists *l, const struct ag_cidr *cidr)
	__attribute__((warn_unused_result));

/* Rule 1 for an address at wall time now: GOV_LIST_DENY if an unexpired deny
 * entry contains it, else GOV_LIST_ALLOW if an allow entry does, else 0.
 * *match (may be NULL) gets the matching entry (borrowed, valid until the
 * next change). */
int gov_lists_match(const struct gov_lists *l, const struct ag_addr *a, int64_t now,
                    const struct gov_list_entry **match);

/* Iterates the unexpired entries: calls fn for each; stops early if fn
 * returns nonzero and returns that value. */
int gov_lists_each(const struct gov_lists *l, int64_t now,
                   int (*fn)(const struct gov_list_entry *e, void *arg), void *arg);

/* Drops expired entries. */
void gov_lists_expire(struct gov_lists *l, int64_t now);

#endif

/* table.h - a bounded hash table of byte-string keys with an LRU order.
 *
 * Keys are hashed with SipHash-2-4 (libsodium crypto_shorthash) under a random
 * key drawn per table, so names chosen by an attacker cannot be made to
 * collide. Chains hang off a power-of-two bucket array that doubles while the
 * entries outnumber the buckets, up to the table's bound.
 *
 * Each entry is one allocation holding a fixed header, its value (vsize bytes,
 * chosen at insert, 8-byte aligned, zeroed) and its key. Entries never move:
 * a pointer to one stays valid until that entry is deleted or evicted.
 *
 * At most `max` entries. Inserting into a full table evicts the least recently
 * used entry that is not pinned. A pinned entry (pins > 0: an attempt is in
 * flight) leaves the LRU list until its last unpin puts it back as the most
 * recently used, so eviction is O(1). Only gov_table_touch, insert and unpin
 * change the LRU order; gov_table_find never does.
 *
 * Memory: 40 bytes of header + value + key per entry (plus the allocator's
 * own overhead, 8-16 bytes), and 8 bytes per bucket (about one per entry).
 */
#ifndef GOV_TABLE_H
#define GOV_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define GOV_TABLE_KEY_MAX 1024
#define GOV_TABLE_VAL_MAX 1024

struct gov_table;
struct gov_tent;

/* An iteration over every entry (pinned or not) in no particular order; the
 * entry just returned may be deleted before asking for the next, but no other
 * entry may be deleted and nothing inserted while it runs. */
struct gov_table_iter {
	size_t bucket;
	struct gov_tent *next;
};

/* Creates an empty table bounded to max (>= 1) entries. 0, AG_ERR_INVAL or
 * AG_ERR_NOMEM (also when libsodium cannot initialise). */
int gov_table_new(size_t max, struct gov_table **out) __attribute__((warn_unused_result));

/* Frees the table and every entry; NULL allowed. */
void gov_table_free(struct gov_table *t);

/* Changes the bound (>= 1), evicting unpinned entries, oldest first, while
 * the table holds more. Pinned entries are kept even above the bound. */
void gov_table_set_max(struct gov_table *t, size_t max);

/* Entries held / the bound. */
size_t gov_table_count(const struct gov_table *t);
size_t gov_table_max(const struct gov_table *t);

/* Bytes allocated for entries and buckets (without allocator overhead). */
size_t gov_table_bytes(const struct gov_table *t);

/* The entry with this key, or NULL. Changes nothing, not even the LRU order. */
struct gov_tent *gov_table_find(const struct gov_table *t, const void *key, size_t klen);

/* Inserts a new entry (the key must not be present) with a zeroed value of
 * vsize bytes, as the most recently used; evicts the least recently used
 * unpinned entry when the table is full. *out (borrowed) gets the entry.
 * 0, AG_ERR_INVAL (key present, empty or over GOV_TABLE_KEY_MAX, vsize over
 * GOV_TABLE_VAL_MAX), AG_ERR_FULL (full and every entry pinned) or
 * AG_ERR_NOMEM. */
int gov_table_insert(struct gov_table *t, const void *key, size_t klen, size_t vsize,
		     struct gov_tent **out) __attribute__((warn_unused_result));

/* Makes e the most recently used (no-op while pinned). */
void gov_table_touch(struct gov_table *t, struct gov_tent *e);

/* Removes and frees e (pinned or not). */
void gov_table_del(struct gov_table *t, struct gov_tent *e);

/* Pins e (counted): it cannot be evicted until as many unpins. Unpinning an
 * unpinned entry does nothing. */
void gov_table_pin(struct gov_table *t, struct gov_tent *e);
void gov_table_unpin(struct gov_table *t, struct gov_tent *e);

/* The least recently used unpinned entry (the next to be evicted), or NULL;
 * then gov_table_newer walks towards the most recently used. */
struct gov_tent *gov_table_lru(const struct gov_table *t);
struct gov_tent *gov_table_newer(const struct gov_tent *e);

/* Iteration; see struct gov_table_iter. */
void gov_table_iter_init(const struct gov_table *t, struct gov_table_iter *it);
struct gov_tent *gov_table_iter_next(const struct gov_table *t, struct gov_table_iter *it);

/* The entry's value (vsize bytes, 8-byte aligned), key and pin count. */
void *gov_tent_val(struct gov_tent *e);
const void *gov_tent_cval(const struct gov_tent *e);
const char *gov_tent_key(const struct gov_tent *e, size_t *klen);
uint32_t gov_tent_pins(const struct gov_tent *e);

#endif

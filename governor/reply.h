/* reply.h - admin replies: logfmt records ("kind=NAME key=value ...\n",
 * values escaped with ag_escape) gathered in a bounded buffer and sent as
 * REPLY frames; a record is never split across frames, and every frame but
 * the last carries MORE=1.
 */
#ifndef GOV_REPLY_H
#define GOV_REPLY_H

#include <stddef.h>
#include <stdint.h>
#include "ag_wire.h"

struct gov_client;

#define GOV_REPLY_MAX (4 * AG_TEXT_MAX)

/* A reply being built; zeroed = empty. Past its size it stops growing and
 * sets full (gov_reply_send logs the truncation). */
struct gov_reply {
	char buf[GOV_REPLY_MAX];
	size_t len;
	int full;
};

/* Appends printf-formatted text. */
void gov_reply_put(struct gov_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends " key=value" with the value escaped. */
void gov_reply_str(struct gov_reply *r, const char *key, const char *val);
void gov_reply_u64(struct gov_reply *r, const char *key, uint64_t v);
void gov_reply_i64(struct gov_reply *r, const char *key, int64_t v);

/* Sends text[0..len) as REPLY frames, cutting only between records. */
void gov_reply_text(struct gov_client *c, const char *text, size_t len);

/* Sends r as REPLY frames. */
void gov_reply_send(struct gov_client *c, struct gov_reply *r);

#endif

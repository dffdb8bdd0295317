/* reply.c - admin replies: logfmt records built in a bounded buffer and
 * sent as REPLY frames, cut only between records. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ag_escape.h"
#include "ag_wire.h"
#include "client.h"
#include "log.h"
#include "reply.h"

void gov_reply_put(struct gov_reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, sizeof(r->buf) - r->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(r->buf) - r->len) {
		r->full = 1;
		r->buf[r->len] = '\0';
		return;
	}
	r->len += (size_t)n;
}

void gov_reply_str(struct gov_reply *r, const char *key, const char *val)
{
	char esc[2 * AG_NAME_MAX];

	ag_escape(esc, sizeof(esc), val, strlen(val));
	gov_reply_put(r, " %s=%s", key, esc);
}

void gov_reply_u64(struct gov_reply *r, const char *key, uint64_t v)
{
	gov_reply_put(r, " %s=%" PRIu64, key, v);
}

void gov_reply_i64(struct gov_reply *r, const char *key, int64_t v)
{
	gov_reply_put(r, " %s=%" PRId64, key, v);
}

void gov_reply_text(struct gov_client *c, const char *text, size_t len)
{
	char chunk[AG_TEXT_MAX + 1];
	size_t off = 0, end, next, rec;
	struct ag_msg m;

	do {
		/* Take whole records while they fit. */
		end = off;
		while (end < len) {
			const char *nl = memchr(text + end, '\n', len - end);

			next = nl != NULL ? (size_t)(nl - text) + 1 : len;
			if (next - off > AG_TEXT_MAX)
				break;
			end = next;
		}
		if (end == off && off < len) {
			/* One record longer than a frame: it cannot be sent whole. */
			rec = AG_TEXT_MAX - 1;
			memcpy(chunk, text + off, rec);
			chunk[rec] = '\n';
			end = off + rec + 1;
			while (end < len && text[end - 1] != '\n')
				end++;
			rec++;
		} else {
			rec = end - off;
			memcpy(chunk, text + off, rec);
		}
		chunk[rec] = '\0';
		ag_msg_init(&m, AG_MSG_REPLY);
		ag_msg_set_str(&m, AG_F_TEXT, chunk);
		ag_msg_set_u32(&m, AG_F_MORE, end < len);
		if (gov_client_send(c, &m) < 0)
			return;
		off = end;
	} while (off < len);
}

void gov_reply_send(struct gov_client *c, struct gov_reply *r)
{
	if (r->full)
		gov_log(LOG_WARNING, "admin reply truncated at %zu bytes", r->len);
	gov_reply_text(c, r->buf, r->len);
}

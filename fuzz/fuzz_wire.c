/* fuzz_wire.c - libFuzzer target for the wire codec.
 *
 * Decodes arbitrary bytes frame after frame. Every message the decoder
 * accepts must re-encode (to a frame of the same size, as the encoding is
 * canonical), decode again to an equal message, and encode again to the same
 * bytes. Any difference aborts. Built by `make fuzz`.
 */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ag_err.h"
#include "ag_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static int str_equal(struct ag_str a, struct ag_str b)
{
	/* memcmp must not see NULL, even for zero bytes. */
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int msg_equal(const struct ag_msg *a, const struct ag_msg *b)
{
	int i;

	if (a->type != b->type || a->present != b->present)
		return 0;
	if (!str_equal(a->service, b->service) || !str_equal(a->user, b->user) ||
	    !str_equal(a->rhost, b->rhost) || !str_equal(a->tty, b->tty) ||
	    !str_equal(a->ruser, b->ruser) || !str_equal(a->rule, b->rule) ||
	    !str_equal(a->cmd, b->cmd) || !str_equal(a->text, b->text))
		return 0;
	for (i = 0; i < AG_ADMIN_ARGS; i++)
		if (!str_equal(a->arg[i], b->arg[i]))
			return 0;
	return a->budget_ms == b->budget_ms && a->backend_ms == b->backend_ms &&
	       a->retry_ms == b->retry_ms && a->flags == b->flags && a->code == b->code &&
	       a->outcome == b->outcome && a->verdict == b->verdict && a->klass == b->klass &&
	       a->more == b->more && memcmp(a->id, b->id, AG_ID_LEN) == 0;
}

/* Strings that were accepted hold no NUL: a copy has the same length. */
static void check_str(struct ag_str s)
{
	static char copy[AG_TEXT_MAX + 1];

	CHECK(ag_str_copy(copy, sizeof(copy), s) == 0);
	CHECK(strlen(copy) == s.len);
}

static void check_message(const struct ag_msg *m1, size_t used)
{
	static uint8_t enc1[AG_FRAME_MAX], enc2[AG_FRAME_MAX];
	struct ag_msg m2;
	size_t len1, len2, used2;
	int i;

	CHECK(ag_wire_sender(m1->type) != 0);
	check_str(m1->service);
	check_str(m1->user);
	check_str(m1->rhost);
	check_str(m1->tty);
	check_str(m1->ruser);
	check_str(m1->rule);
	check_str(m1->cmd);
	check_str(m1->text);
	for (i = 0; i < AG_ADMIN_ARGS; i++)
		check_str(m1->arg[i]);

	CHECK(ag_wire_encode(m1, enc1, sizeof(enc1), &len1) == 0);
	CHECK(len1 == used);
	CHECK(ag_wire_encode(m1, enc2, len1 - 1, &len2) == AG_ERR_TOOBIG);
	CHECK(ag_wire_decode(enc1, len1, &m2, &used2) == 0);
	CHECK(used2 == len1);
	CHECK(msg_equal(m1, &m2));
	CHECK(ag_wire_encode(&m2, enc2, sizeof(enc2), &len2) == 0);
	CHECK(len2 == len1 && memcmp(enc1, enc2, len1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		struct ag_msg m;
		size_t used = 99, left = size - pos, frame;
		int rc = ag_wire_decode(data + pos, left, &m, &used);

		if (rc == 0) {
			CHECK(used >= AG_FRAME_HDR && used <= left && used <= AG_FRAME_MAX);
			check_message(&m, used);
			pos += used;
			continue;
		}
		CHECK(used == 0 && m.present == 0);
		CHECK(rc == AG_ERR_AGAIN || rc == AG_ERR_PROTO || rc == AG_ERR_VERSION ||
		      rc == AG_ERR_TOOBIG);
		if (rc != AG_ERR_PROTO || left < AG_FRAME_HDR)
			break;
		/* A malformed frame whose header was sound: go on with the next
		 * one, so that one input exercises several. */
		frame = AG_FRAME_HDR + ((size_t)data[pos + 2] << 8 | data[pos + 3]);
		if (frame > left)
			break;
		pos += frame;
	}
	return 0;
}

/* test_wire.c - the wire codec: schema, limits, framing, round trips. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "ag_err.h"
#include "ag_wire.h"

/* A hand-made frame, so that tests can build what the encoder refuses to. */
struct fb {
	uint8_t b[2 * AG_FRAME_MAX];
	size_t n;
};

static void fb_start(struct fb *f, uint8_t type)
{
	memset(f, 0, sizeof(*f));
	f->b[0] = AG_WIRE_VERSION;
	f->b[1] = type;
	f->n = AG_FRAME_HDR;
}

static void fb_field(struct fb *f, uint8_t tag, const void *v, size_t len)
{
	f->b[f->n++] = tag;
	f->b[f->n++] = (uint8_t)(len >> 8);
	f->b[f->n++] = (uint8_t)len;
	if (len > 0)
		memcpy(f->b + f->n, v, len);
	f->n += len;
	/* The header's length follows what was added. */
	f->b[2] = (uint8_t)((f->n - AG_FRAME_HDR) >> 8);
	f->b[3] = (uint8_t)(f->n - AG_FRAME_HDR);
}

static void fb_str(struct fb *f, uint8_t tag, const char *s)
{
	fb_field(f, tag, s, strlen(s));
}

static void fb_u8(struct fb *f, uint8_t tag, uint8_t v)
{
	fb_field(f, tag, &v, 1);
}

static void fb_u32(struct fb *f, uint8_t tag, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	fb_field(f, tag, b, 4);
}

/* A valid DECIDE to start malformed variants from. */
static void fb_decide(struct fb *f)
{
	fb_start(f, AG_MSG_DECIDE);
	fb_str(f, AG_F_USER, "alice");
	fb_u32(f, AG_F_BUDGET, 250);
}

/* Decodes f and returns the status; checks the out-parameters on error. */
static int fb_decode(const struct fb *f, struct ag_msg *m)
{
	size_t consumed = 99;
	int rc = ag_wire_decode(f->b, f->n, m, &consumed);

	if (rc != 0) {
		assert_int_equal(consumed, 0);
		assert_int_equal(m->present, 0);
	} else {
		assert_int_equal(consumed, f->n);
	}
	return rc;
}

static void assert_str(struct ag_str s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.ptr, want, s.len);
}

static const uint8_t test_id[AG_ID_LEN] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
					   0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0xfe, 0xff};

/* Fixture: a buffer holding an encoded frame. */
struct enc {
	uint8_t buf[AG_FRAME_MAX];
	size_t len;
	struct ag_msg in, out;
};

static int enc_setup(void **state)
{
	struct enc *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return -1;
	*state = e;
	return 0;
}

static int enc_teardown(void **state)
{
	free(*state);
	return 0;
}

/* Encodes e->in, decodes it into e->out and checks type, presence, size. */
static void round_trip(struct enc *e)
{
	size_t consumed = 0;

	assert_int_equal(ag_wire_encode(&e->in, e->buf, sizeof(e->buf), &e->len), 0);
	assert_true(e->len >= AG_FRAME_HDR);
	assert_int_equal(e->buf[0], AG_WIRE_VERSION);
	assert_int_equal(e->buf[1], e->in.type);
	assert_int_equal((size_t)(e->buf[2] << 8 | e->buf[3]), e->len - AG_FRAME_HDR);
	assert_int_equal(ag_wire_decode(e->buf, e->len, &e->out, &consumed), 0);
	assert_int_equal(consumed, e->len);
	assert_int_equal(e->out.type, e->in.type);
	assert_int_equal(e->out.present, e->in.present);
}

/* Tags of the encoded frame must come in increasing order. */
static void assert_tag_order(const uint8_t *b, size_t len)
{
	size_t pos = AG_FRAME_HDR;
	int last = 0;

	while (pos < len) {
		assert_true(b[pos] > last);
		last = b[pos];
		pos += 3 + (size_t)(b[pos + 1] << 8 | b[pos + 2]);
	}
	assert_int_equal(pos, len);
}

static void build_full_decide(struct ag_msg *m, uint8_t type)
{
	ag_msg_init(m, type);
	ag_msg_set_str(m, AG_F_SERVICE, "sshd");
	ag_msg_set_str(m, AG_F_USER, "alice");
	ag_msg_set_str(m, AG_F_RHOST, "2001:db8::7");
	ag_msg_set_str(m, AG_F_TTY, "ssh");
	ag_msg_set_str(m, AG_F_RUSER, "");
	ag_msg_set_u32(m, AG_F_BUDGET, AG_BUDGET_MAX);
	ag_msg_set_u32(m, AG_F_FLAGS, 0xdeadbeef);
}

static void test_round_trip_decide_precheck(void **state)
{
	struct enc *e = *state;
	static const uint8_t types[] = {AG_MSG_DECIDE, AG_MSG_PRECHECK};
	size_t i;

	for (i = 0; i < sizeof(types); i++) {
		build_full_decide(&e->in, types[i]);
		round_trip(e);
		assert_tag_order(e->buf, e->len);
		assert_str(e->out.service, "sshd");
		assert_str(e->out.user, "alice");
		assert_str(e->out.rhost, "2001:db8::7");
		assert_str(e->out.tty, "ssh");
		assert_str(e->out.ruser, "");
		assert_true(AG_HAS(&e->out, AG_F_RUSER));
		assert_int_equal(e->out.budget_ms, AG_BUDGET_MAX);
		assert_int_equal(e->out.flags, 0xdeadbeef);
		/* Borrowed strings point into the buffer. */
		assert_true((const uint8_t *)e->out.user.ptr > e->buf);
		assert_true((const uint8_t *)e->out.user.ptr < e->buf + e->len);
	}
}

static void test_round_trip_report(void **state)
{
	struct enc *e = *state;
	int o;

	for (o = AG_OUT_SUCCESS; o <= AG_OUT_PASS; o++) {
		ag_msg_init(&e->in, AG_MSG_REPORT);
		memcpy(e->in.id, test_id, AG_ID_LEN);
		e->in.present |= 1u << AG_F_ID;
		ag_msg_set_u32(&e->in, AG_F_OUTCOME, (uint32_t)o);
		ag_msg_set_u32(&e->in, AG_F_BACKEND_MS, UINT32_MAX);
		round_trip(e);
		assert_memory_equal(e->out.id, test_id, AG_ID_LEN);
		assert_int_equal(e->out.outcome, o);
		assert_int_equal(e->out.backend_ms, UINT32_MAX);
	}
}

static void test_round_trip_admin(void **state)
{
	struct enc *e = *state;

	ag_msg_init(&e->in, AG_MSG_ADMIN);
	ag_msg_set_str(&e->in, AG_F_CMD, "reset");
	ag_msg_set_str(&e->in, AG_F_ARG0, "pair");
	ag_msg_set_str(&e->in, AG_F_ARG1, "bob");
	ag_msg_set_str(&e->in, AG_F_ARG2, "198.51.100.4");
	ag_msg_set_str(&e->in, AG_F_ARG3, "x");
	round_trip(e);
	assert_tag_order(e->buf, e->len);
	assert_str(e->out.cmd, "reset");
	assert_str(e->out.arg[0], "pair");
	assert_str(e->out.arg[1], "bob");
	assert_str(e->out.arg[2], "198.51.100.4");
	assert_str(e->out.arg[3], "x");
}

static void test_round_trip_verdict(void **state)
{
	struct enc *e = *state;
	int v;

	for (v = AG_V_ALLOW; v <= AG_V_SHED; v++) {
		ag_msg_init(&e->in, AG_MSG_VERDICT);
		ag_msg_set_u32(&e->in, AG_F_VERDICT, (uint32_t)v);
		ag_msg_set_str(&e->in, AG_F_RULE, "backoff");
		ag_msg_set_u32(&e->in, AG_F_RETRY_MS, 1000);
		memcpy(e->in.id, test_id, AG_ID_LEN);
		e->in.present |= 1u << AG_F_ID;
		ag_msg_set_u32(&e->in, AG_F_CLASS, AG_CLASS_DIRTY);
		ag_msg_set_str(&e->in, AG_F_TEXT, "held for 1s");
		round_trip(e);
		assert_tag_order(e->buf, e->len);
		assert_int_equal(e->out.verdict, v);
		assert_str(e->out.rule, "backoff");
		assert_int_equal(e->out.retry_ms, 1000);
		assert_memory_equal(e->out.id, test_id, AG_ID_LEN);
		assert_int_equal(e->out.klass, AG_CLASS_DIRTY);
		assert_str(e->out.text, "held for 1s");
	}
}

static void test_round_trip_queued_ack(void **state)
{
	struct enc *e = *state;
	static const uint8_t ack[] = {AG_WIRE_VERSION, AG_MSG_ACK, 0, 0};

	ag_msg_init(&e->in, AG_MSG_QUEUED);
	ag_msg_set_u32(&e->in, AG_F_CLASS, AG_CLASS_TRUSTED);
	round_trip(e);
	assert_true(AG_HAS(&e->out, AG_F_CLASS));
	assert_int_equal(e->out.klass, AG_CLASS_TRUSTED);

	ag_msg_init(&e->in, AG_MSG_QUEUED);
	round_trip(e);
	assert_int_equal(e->len, AG_FRAME_HDR);

	ag_msg_init(&e->in, AG_MSG_ACK);
	round_trip(e);
	assert_int_equal(e->len, sizeof(ack));
	assert_memory_equal(e->buf, ack, sizeof(ack));
}

static void test_round_trip_reply_error(void **state)
{
	struct enc *e = *state;
	static const uint8_t err[] = {
	    AG_WIRE_VERSION, AG_MSG_ERROR, 0, 7, AG_F_CODE, 0, 4, 0xff, 0xff, 0xff, 0xef};
	char *big = malloc(AG_TEXT_MAX + 1);

	assert_non_null(big);
	memset(big, 'k', AG_TEXT_MAX);
	big[AG_TEXT_MAX] = '\0';
	ag_msg_init(&e->in, AG_MSG_REPLY);
	ag_msg_set_str(&e->in, AG_F_TEXT, big);
	ag_msg_set_u32(&e->in, AG_F_MORE, 1);
	round_trip(e);
	assert_int_equal(e->out.text.len, AG_TEXT_MAX);
	assert_memory_equal(e->out.text.ptr, big, AG_TEXT_MAX);
	assert_int_equal(e->out.more, 1);
	free(big);

	/* CODE is an int32 in two's complement: exact bytes. */
	ag_msg_init(&e->in, AG_MSG_ERROR);
	ag_msg_set_u32(&e->in, AG_F_CODE, (uint32_t)AG_ERR_BUSY);
	round_trip(e);
	assert_int_equal(e->len, sizeof(err));
	assert_memory_equal(e->buf, err, sizeof(err));
	assert_int_equal(e->out.code, AG_ERR_BUSY);

	ag_msg_init(&e->in, AG_MSG_ERROR);
	ag_msg_set_u32(&e->in, AG_F_CODE, (uint32_t)AG_ERR_PROTO);
	ag_msg_set_str(&e->in, AG_F_TEXT, "bad frame");
	round_trip(e);
	assert_int_equal(e->out.code, AG_ERR_PROTO);
	assert_str(e->out.text, "bad frame");
}

/* Every proper prefix of a valid frame asks for more bytes. The prefix is
 * copied to a buffer of its exact size so that valgrind sees any over-read. */
static void check_prefixes(const uint8_t *frame, size_t len)
{
	size_t k;

	for (k = 0; k < len; k++) {
		uint8_t *p = malloc(k > 0 ? k : 1);
		struct ag_msg m;
		size_t consumed = 99;

		assert_non_null(p);
		memcpy(p, frame, k);
		assert_int_equal(ag_wire_decode(p, k, &m, &consumed), AG_ERR_AGAIN);
		assert_int_equal(consumed, 0);
		free(p);
	}
}

static void test_truncation(void **state)
{
	struct enc *e = *state;
	size_t consumed = 99;

	build_full_decide(&e->in, AG_MSG_DECIDE);
	round_trip(e);
	check_prefixes(e->buf, e->len);

	ag_msg_init(&e->in, AG_MSG_VERDICT);
	ag_msg_set_u32(&e->in, AG_F_VERDICT, AG_V_ALLOW);
	e->in.present |= 1u << AG_F_ID;
	ag_msg_set_u32(&e->in, AG_F_CLASS, AG_CLASS_CLEAN);
	round_trip(e);
	check_prefixes(e->buf, e->len);

	ag_msg_init(&e->in, AG_MSG_ACK);
	round_trip(e);
	check_prefixes(e->buf, e->len);
	assert_int_equal(ag_wire_decode(NULL, 0, &e->out, &consumed), AG_ERR_AGAIN);
	assert_int_equal(consumed, 0);
}

static void test_toobig(void **state)
{
	uint8_t h[AG_FRAME_HDR] = {AG_WIRE_VERSION, AG_MSG_REPLY, 0, 0};
	size_t plen = AG_FRAME_MAX - AG_FRAME_HDR;
	struct ag_msg m;
	size_t consumed = 99;

	/* Largest legal declared length: wait for the payload. */
	h[2] = (uint8_t)(plen >> 8);
	h[3] = (uint8_t)plen;
	assert_int_equal(ag_wire_decode(h, sizeof(h), &m, &consumed), AG_ERR_AGAIN);
	/* One more is refused from the header alone. */
	plen++;
	h[2] = (uint8_t)(plen >> 8);
	h[3] = (uint8_t)plen;
	assert_int_equal(ag_wire_decode(h, sizeof(h), &m, &consumed), AG_ERR_TOOBIG);
	assert_int_equal(consumed, 0);
	h[2] = 0xff;
	h[3] = 0xff;
	assert_int_equal(ag_wire_decode(h, sizeof(h), &m, &consumed), AG_ERR_TOOBIG);
}

static void test_version(void **state)
{
	struct fb f;
	struct ag_msg m;
	size_t consumed = 99;
	static const uint8_t bad[] = {0, AG_WIRE_VERSION + 1, 0xff};
	size_t i;

	for (i = 0; i < sizeof(bad); i++) {
		fb_decide(&f);
		f.b[0] = bad[i];
		assert_int_equal(fb_decode(&f, &m), AG_ERR_VERSION);
		/* Judged from the first byte, before the rest arrives. */
		assert_int_equal(ag_wire_decode(f.b, 1, &m, &consumed), AG_ERR_VERSION);
		assert_int_equal(consumed, 0);
	}
}

static void test_unknown_type(void **state)
{
	struct fb f;
	struct ag_msg m;
	static const uint8_t bad[] = {0, 5, 15, 21, 255};
	size_t i;

	for (i = 0; i < sizeof(bad); i++) {
		fb_decide(&f);
		f.b[1] = bad[i];
		assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
	}
}

static void test_unknown_tag(void **state)
{
	struct fb f;
	struct ag_msg m;
	static const uint8_t bad[] = {0, AG_F_MAX + 1, 255};
	size_t i;

	fb_decide(&f);
	assert_int_equal(fb_decode(&f, &m), 0);
	for (i = 0; i < sizeof(bad); i++) {
		fb_decide(&f);
		fb_str(&f, bad[i], "x");
		assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
	}
}

static void test_duplicate_tag(void **state)
{
	struct fb f;
	struct ag_msg m;

	fb_decide(&f);
	fb_str(&f, AG_F_USER, "mallory");
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_decide(&f);
	fb_str(&f, AG_F_SERVICE, "a");
	fb_str(&f, AG_F_SERVICE, "a");
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
}

static void test_field_not_allowed(void **state)
{
	struct fb f;
	struct ag_msg m;

	fb_decide(&f);
	fb_field(&f, AG_F_ID, test_id, AG_ID_LEN);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_ACK);
	fb_str(&f, AG_F_TEXT, "hi");
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_VERDICT);
	fb_u8(&f, AG_F_VERDICT, AG_V_ALLOW);
	fb_str(&f, AG_F_USER, "alice");
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_REPORT);
	fb_field(&f, AG_F_ID, test_id, AG_ID_LEN);
	fb_u8(&f, AG_F_OUTCOME, AG_OUT_FAIL);
	assert_int_equal(fb_decode(&f, &m), 0);
	fb_u32(&f, AG_F_BUDGET, 5);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
}

static void test_missing_required(void **state)
{
	struct fb f;
	struct ag_msg m;

	fb_start(&f, AG_MSG_DECIDE);
	fb_str(&f, AG_F_USER, "alice");
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_PRECHECK);
	fb_u32(&f, AG_F_BUDGET, 250);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_REPORT);
	fb_u8(&f, AG_F_OUTCOME, AG_OUT_FAIL);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_ADMIN);
	fb_str(&f, AG_F_ARG0, "x");
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_VERDICT);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_ERROR);
	fb_str(&f, AG_F_TEXT, "no code");
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
}

static void test_int_widths(void **state)
{
	struct fb f;
	struct ag_msg m;
	static const uint8_t zeros[AG_ID_LEN + 1];
	static const size_t u32_bad[] = {0, 1, 3, 5, 8};
	static const size_t u8_bad[] = {0, 2, 4};
	static const size_t id_bad[] = {0, 4, 15, 17};
	size_t i;

	for (i = 0; i < sizeof(u32_bad) / sizeof(u32_bad[0]); i++) {
		fb_start(&f, AG_MSG_DECIDE);
		fb_str(&f, AG_F_USER, "alice");
		fb_field(&f, AG_F_BUDGET, zeros, u32_bad[i]);
		assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
	}
	for (i = 0; i < sizeof(u8_bad) / sizeof(u8_bad[0]); i++) {
		fb_start(&f, AG_MSG_REPLY);
		fb_field(&f, AG_F_MORE, zeros, u8_bad[i]);
		assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
	}
	for (i = 0; i < sizeof(id_bad) / sizeof(id_bad[0]); i++) {
		fb_start(&f, AG_MSG_REPORT);
		fb_field(&f, AG_F_ID, zeros, id_bad[i]);
		fb_u8(&f, AG_F_OUTCOME, AG_OUT_FAIL);
		assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
	}
}

/* One u8 field in a message of the given type (plus what it requires). */
static int decode_u8(uint8_t type, uint8_t tag, uint8_t v)
{
	struct fb f;
	struct ag_msg m;

	fb_start(&f, type);
	if (type == AG_MSG_REPORT)
		fb_field(&f, AG_F_ID, test_id, AG_ID_LEN);
	fb_u8(&f, tag, v);
	return fb_decode(&f, &m);
}

static void test_enum_range(void **state)
{
	struct fb f;
	struct ag_msg m;

	assert_int_equal(decode_u8(AG_MSG_VERDICT, AG_F_VERDICT, 0), AG_ERR_PROTO);
	assert_int_equal(decode_u8(AG_MSG_VERDICT, AG_F_VERDICT, 1), 0);
	assert_int_equal(decode_u8(AG_MSG_VERDICT, AG_F_VERDICT, 3), 0);
	assert_int_equal(decode_u8(AG_MSG_VERDICT, AG_F_VERDICT, 4), AG_ERR_PROTO);
	assert_int_equal(decode_u8(AG_MSG_REPORT, AG_F_OUTCOME, 0), AG_ERR_PROTO);
	assert_int_equal(decode_u8(AG_MSG_REPORT, AG_F_OUTCOME, 1), 0);
	assert_int_equal(decode_u8(AG_MSG_REPORT, AG_F_OUTCOME, 4), 0);
	assert_int_equal(decode_u8(AG_MSG_REPORT, AG_F_OUTCOME, 5), AG_ERR_PROTO);
	assert_int_equal(decode_u8(AG_MSG_QUEUED, AG_F_CLASS, 0), 0);
	assert_int_equal(decode_u8(AG_MSG_QUEUED, AG_F_CLASS, 2), 0);
	assert_int_equal(decode_u8(AG_MSG_QUEUED, AG_F_CLASS, 3), AG_ERR_PROTO);
	assert_int_equal(decode_u8(AG_MSG_QUEUED, AG_F_CLASS, 255), AG_ERR_PROTO);
	assert_int_equal(decode_u8(AG_MSG_REPLY, AG_F_MORE, 0), 0);
	assert_int_equal(decode_u8(AG_MSG_REPLY, AG_F_MORE, 1), 0);
	assert_int_equal(decode_u8(AG_MSG_REPLY, AG_F_MORE, 2), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_DECIDE);
	fb_str(&f, AG_F_USER, "alice");
	fb_u32(&f, AG_F_BUDGET, AG_BUDGET_MAX);
	assert_int_equal(fb_decode(&f, &m), 0);
	assert_int_equal(m.budget_ms, AG_BUDGET_MAX);
	fb_start(&f, AG_MSG_DECIDE);
	fb_str(&f, AG_F_USER, "alice");
	fb_u32(&f, AG_F_BUDGET, AG_BUDGET_MAX + 1);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
}

static void test_string_nul(void **state)
{
	struct fb f;
	struct ag_msg m;

	fb_start(&f, AG_MSG_DECIDE);
	fb_field(&f, AG_F_USER, "ali\0ce", 6);
	fb_u32(&f, AG_F_BUDGET, 250);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_decide(&f);
	fb_field(&f, AG_F_RHOST, "\0", 1);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
}

static void test_string_limits(void **state)
{
	struct fb f;
	struct ag_msg m;
	char s[AG_TEXT_MAX + 2];

	memset(s, 'u', sizeof(s));
	fb_start(&f, AG_MSG_DECIDE);
	fb_field(&f, AG_F_USER, s, AG_NAME_MAX);
	fb_u32(&f, AG_F_BUDGET, 250);
	assert_int_equal(fb_decode(&f, &m), 0);
	assert_int_equal(m.user.len, AG_NAME_MAX);

	fb_start(&f, AG_MSG_DECIDE);
	fb_field(&f, AG_F_USER, s, AG_NAME_MAX + 1);
	fb_u32(&f, AG_F_BUDGET, 250);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_ADMIN);
	fb_str(&f, AG_F_CMD, "status");
	fb_field(&f, AG_F_ARG3, s, AG_NAME_MAX + 1);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_ERROR);
	fb_u32(&f, AG_F_CODE, 0);
	fb_field(&f, AG_F_TEXT, s, AG_TEXT_MAX);
	assert_int_equal(fb_decode(&f, &m), 0);
	fb_start(&f, AG_MSG_ERROR);
	fb_u32(&f, AG_F_CODE, 0);
	fb_field(&f, AG_F_TEXT, s, AG_TEXT_MAX + 1);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
}

static void test_empty_strings(void **state)
{
	struct fb f;
	struct ag_msg m;

	fb_start(&f, AG_MSG_DECIDE);
	fb_str(&f, AG_F_USER, "");
	fb_u32(&f, AG_F_BUDGET, 250);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	fb_start(&f, AG_MSG_ADMIN);
	fb_str(&f, AG_F_CMD, "");
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	/* Other strings may be empty. */
	fb_decide(&f);
	fb_str(&f, AG_F_SERVICE, "");
	assert_int_equal(fb_decode(&f, &m), 0);
	assert_true(AG_HAS(&m, AG_F_SERVICE));
	assert_int_equal(m.service.len, 0);
}

static void test_length_past_payload(void **state)
{
	struct fb f;
	struct ag_msg m;

	/* The last field (BUDGET, after USER "alice") claims 5 bytes where 4
	 * remain. */
	fb_decide(&f);
	assert_int_equal(f.b[AG_FRAME_HDR + 3 + 5], AG_F_BUDGET);
	f.b[AG_FRAME_HDR + 3 + 5 + 2] = 5;
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	/* A field header cut short by the end of the payload. */
	fb_decide(&f);
	f.b[f.n++] = AG_F_SERVICE;
	f.b[f.n++] = 0;
	f.b[3] = (uint8_t)(f.n - AG_FRAME_HDR);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
	f.n--;
	f.b[3] = (uint8_t)(f.n - AG_FRAME_HDR);
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);

	/* The largest field length ever: far past any payload. */
	fb_decide(&f);
	f.b[AG_FRAME_HDR + 1] = 0xff;
	f.b[AG_FRAME_HDR + 2] = 0xff;
	assert_int_equal(fb_decode(&f, &m), AG_ERR_PROTO);
}

static void test_back_to_back(void **state)
{
	struct enc *e = *state;
	uint8_t *buf = e->buf;
	size_t n1, n2, n3, pos = 0, consumed;

	build_full_decide(&e->in, AG_MSG_DECIDE);
	assert_int_equal(ag_wire_encode(&e->in, buf, AG_FRAME_MAX, &n1), 0);
	ag_msg_init(&e->in, AG_MSG_ADMIN);
	ag_msg_set_str(&e->in, AG_F_CMD, "status");
	assert_int_equal(ag_wire_encode(&e->in, buf + n1, AG_FRAME_MAX - n1, &n2), 0);
	ag_msg_init(&e->in, AG_MSG_ACK);
	assert_int_equal(ag_wire_encode(&e->in, buf + n1 + n2, AG_FRAME_MAX - n1 - n2, &n3), 0);

	/* All three frames and the first 2 bytes of a fourth. */
	buf[n1 + n2 + n3] = AG_WIRE_VERSION;
	buf[n1 + n2 + n3 + 1] = AG_MSG_ACK;

	assert_int_equal(ag_wire_decode(buf, n1 + n2 + n3 + 2, &e->out, &consumed), 0);
	assert_int_equal(consumed, n1);
	assert_int_equal(e->out.type, AG_MSG_DECIDE);
	assert_str(e->out.user, "alice");
	pos += consumed;
	assert_int_equal(ag_wire_decode(buf + pos, n2 + n3 + 2, &e->out, &consumed), 0);
	assert_int_equal(consumed, n2);
	assert_int_equal(e->out.type, AG_MSG_ADMIN);
	assert_str(e->out.cmd, "status");
	assert_true((const uint8_t *)e->out.cmd.ptr > buf + n1);
	pos += consumed;
	assert_int_equal(ag_wire_decode(buf + pos, n3 + 2, &e->out, &consumed), 0);
	assert_int_equal(consumed, n3);
	assert_int_equal(e->out.type, AG_MSG_ACK);
	pos += consumed;
	assert_int_equal(ag_wire_decode(buf + pos, 2, &e->out, &consumed), AG_ERR_AGAIN);
	assert_int_equal(consumed, 0);
}

static int encode_rc(const struct ag_msg *m)
{
	uint8_t buf[AG_FRAME_MAX];
	size_t len = 99;
	int rc = ag_wire_encode(m, buf, sizeof(buf), &len);

	if (rc != 0)
		assert_int_equal(len, 0);
	return rc;
}

static void test_encode_schema(void **state)
{
	struct ag_msg m;
	char s[AG_NAME_MAX + 2];

	ag_msg_init(&m, 5);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	build_full_decide(&m, AG_MSG_DECIDE);
	assert_int_equal(encode_rc(&m), 0);
	ag_msg_set_str(&m, AG_F_USER, NULL);
	assert_false(AG_HAS(&m, AG_F_USER));
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	build_full_decide(&m, AG_MSG_DECIDE);
	ag_msg_set_str(&m, AG_F_TEXT, "not here");
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	build_full_decide(&m, AG_MSG_DECIDE);
	ag_msg_set_str(&m, AG_F_USER, "");
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	memset(s, 'u', sizeof(s));
	s[AG_NAME_MAX] = '\0';
	ag_msg_set_str(&m, AG_F_USER, s);
	assert_int_equal(encode_rc(&m), 0);
	s[AG_NAME_MAX] = 'u';
	s[AG_NAME_MAX + 1] = '\0';
	ag_msg_set_str(&m, AG_F_USER, s);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	/* A string with a NUL inside, built by hand. */
	build_full_decide(&m, AG_MSG_DECIDE);
	m.user.ptr = "ali\0ce";
	m.user.len = 6;
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);
	m.user.ptr = NULL;
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	build_full_decide(&m, AG_MSG_DECIDE);
	ag_msg_set_u32(&m, AG_F_BUDGET, AG_BUDGET_MAX + 1);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	ag_msg_init(&m, AG_MSG_VERDICT);
	ag_msg_set_u32(&m, AG_F_VERDICT, 4);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);
	/* 257 must not wrap to a valid 1. */
	ag_msg_set_u32(&m, AG_F_VERDICT, 257);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);
	ag_msg_set_u32(&m, AG_F_VERDICT, AG_V_DENY);
	assert_int_equal(encode_rc(&m), 0);
	ag_msg_set_u32(&m, AG_F_CLASS, 3);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	ag_msg_init(&m, AG_MSG_REPLY);
	ag_msg_set_u32(&m, AG_F_MORE, 2);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);
}

static void test_encode_wrong_setter(void **state)
{
	struct ag_msg m;

	ag_msg_init(&m, AG_MSG_REPLY);
	ag_msg_set_u32(&m, AG_F_TEXT, 1);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	build_full_decide(&m, AG_MSG_DECIDE);
	ag_msg_set_str(&m, AG_F_BUDGET, "250");
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	build_full_decide(&m, AG_MSG_DECIDE);
	ag_msg_set_str(&m, 0, "x");
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	build_full_decide(&m, AG_MSG_DECIDE);
	ag_msg_set_u32(&m, AG_F_MAX + 1, 1);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	ag_msg_init(&m, AG_MSG_REPORT);
	ag_msg_set_u32(&m, AG_F_ID, 1);
	ag_msg_set_u32(&m, AG_F_OUTCOME, AG_OUT_FAIL);
	assert_int_equal(encode_rc(&m), AG_ERR_INVAL);

	/* NULL message: no crash, nothing to do. */
	ag_msg_set_str(NULL, AG_F_USER, "x");
	ag_msg_set_u32(NULL, AG_F_BUDGET, 1);
	ag_msg_init(NULL, AG_MSG_ACK);
}

static void test_encode_capacity(void **state)
{
	struct enc *e = *state;
	size_t need, len = 99;
	char *big = malloc(AG_TEXT_MAX + 1);

	build_full_decide(&e->in, AG_MSG_DECIDE);
	assert_int_equal(ag_wire_encode(&e->in, e->buf, sizeof(e->buf), &need), 0);
	memset(e->buf, 0xaa, sizeof(e->buf));
	assert_int_equal(ag_wire_encode(&e->in, e->buf, need - 1, &len), AG_ERR_TOOBIG);
	assert_int_equal(len, 0);
	/* Nothing written on failure. */
	assert_int_equal(e->buf[0], 0xaa);
	assert_int_equal(ag_wire_encode(&e->in, e->buf, need, &len), 0);
	assert_int_equal(len, need);
	assert_int_equal(ag_wire_encode(&e->in, e->buf, 0, &len), AG_ERR_TOOBIG);

	/* Every field within its limit, but too much for one frame. */
	assert_non_null(big);
	memset(big, 't', AG_TEXT_MAX);
	big[AG_TEXT_MAX] = '\0';
	ag_msg_init(&e->in, AG_MSG_VERDICT);
	ag_msg_set_u32(&e->in, AG_F_VERDICT, AG_V_DENY);
	ag_msg_set_str(&e->in, AG_F_TEXT, big);
	assert_int_equal(ag_wire_encode(&e->in, e->buf, sizeof(e->buf), &len), 0);
	/* The rule must not share big, whose TEXT may not hold a NUL. */
	ag_msg_set_str(&e->in, AG_F_RULE, big + AG_TEXT_MAX - AG_NAME_MAX);
	assert_int_equal(ag_wire_encode(&e->in, e->buf, sizeof(e->buf), &len), AG_ERR_TOOBIG);
	free(big);
	ag_msg_init(&e->in, AG_MSG_ACK);

	assert_int_equal(ag_wire_encode(NULL, e->buf, sizeof(e->buf), &len), AG_ERR_INVAL);
	assert_int_equal(ag_wire_encode(&e->in, e->buf, sizeof(e->buf), NULL), AG_ERR_INVAL);
}

static void test_decode_null_args(void **state)
{
	struct fb f;
	struct ag_msg m;
	size_t consumed = 99;

	fb_decide(&f);
	assert_int_equal(ag_wire_decode(f.b, f.n, NULL, &consumed), AG_ERR_INVAL);
	assert_int_equal(consumed, 0);
	assert_int_equal(ag_wire_decode(f.b, f.n, &m, NULL), AG_ERR_INVAL);
	assert_int_equal(ag_wire_decode(NULL, 4, &m, &consumed), AG_ERR_INVAL);
}

static void test_sender(void **state)
{
	static const uint8_t client[] = {AG_MSG_DECIDE, AG_MSG_PRECHECK, AG_MSG_REPORT,
					 AG_MSG_ADMIN};
	static const uint8_t gov[] = {AG_MSG_VERDICT, AG_MSG_QUEUED, AG_MSG_ACK, AG_MSG_REPLY,
				      AG_MSG_ERROR};
	static const uint8_t none[] = {0, 5, 15, 21, 255};
	size_t i;

	for (i = 0; i < sizeof(client); i++)
		assert_int_equal(ag_wire_sender(client[i]), AG_FROM_CLIENT);
	for (i = 0; i < sizeof(gov); i++)
		assert_int_equal(ag_wire_sender(gov[i]), AG_FROM_GOVERNOR);
	for (i = 0; i < sizeof(none); i++)
		assert_int_equal(ag_wire_sender(none[i]), 0);
}

static void test_names(void **state)
{
	assert_string_equal(ag_verdict_name(AG_V_ALLOW), "allow");
	assert_string_equal(ag_verdict_name(AG_V_DENY), "deny");
	assert_string_equal(ag_verdict_name(AG_V_SHED), "shed");
	assert_string_equal(ag_verdict_name(0), "?");
	assert_string_equal(ag_verdict_name(4), "?");
	assert_string_equal(ag_outcome_name(AG_OUT_SUCCESS), "success");
	assert_string_equal(ag_outcome_name(AG_OUT_FAIL), "fail");
	assert_string_equal(ag_outcome_name(AG_OUT_UNAVAIL), "unavail");
	assert_string_equal(ag_outcome_name(AG_OUT_PASS), "pass");
	assert_string_equal(ag_outcome_name(5), "?");
	assert_string_equal(ag_class_name(AG_CLASS_TRUSTED), "trusted");
	assert_string_equal(ag_class_name(AG_CLASS_CLEAN), "clean");
	assert_string_equal(ag_class_name(AG_CLASS_DIRTY), "failing");
	assert_string_equal(ag_class_name(AG_CLASS_COUNT), "?");
	assert_string_equal(ag_class_name(-1), "?");
}

static void test_str_copy(void **state)
{
	char dst[6];
	struct ag_str s = {"hello", 5};
	struct ag_str empty = {NULL, 0};

	assert_int_equal(ag_str_copy(dst, sizeof(dst), s), 0);
	assert_string_equal(dst, "hello");
	memset(dst, 'z', sizeof(dst));
	assert_int_equal(ag_str_copy(dst, 5, s), AG_ERR_TOOBIG);
	assert_int_equal(dst[0], '\0');
	assert_int_equal(dst[1], 'z');
	assert_int_equal(ag_str_copy(dst, 1, empty), 0);
	assert_string_equal(dst, "");
	assert_int_equal(ag_str_copy(dst, 0, s), AG_ERR_INVAL);
	assert_int_equal(ag_str_copy(NULL, 6, s), AG_ERR_INVAL);
	s.ptr = NULL;
	assert_int_equal(ag_str_copy(dst, sizeof(dst), s), AG_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip_decide_precheck, enc_setup,
					    enc_teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip_report, enc_setup, enc_teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip_admin, enc_setup, enc_teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip_verdict, enc_setup, enc_teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip_queued_ack, enc_setup, enc_teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip_reply_error, enc_setup, enc_teardown),
	    cmocka_unit_test_setup_teardown(test_truncation, enc_setup, enc_teardown),
	    cmocka_unit_test(test_toobig),
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_unknown_type),
	    cmocka_unit_test(test_unknown_tag),
	    cmocka_unit_test(test_duplicate_tag),
	    cmocka_unit_test(test_field_not_allowed),
	    cmocka_unit_test(test_missing_required),
	    cmocka_unit_test(test_int_widths),
	    cmocka_unit_test(test_enum_range),
	    cmocka_unit_test(test_string_nul),
	    cmocka_unit_test(test_string_limits),
	    cmocka_unit_test(test_empty_strings),
	    cmocka_unit_test(test_length_past_payload),
	    cmocka_unit_test_setup_teardown(test_back_to_back, enc_setup, enc_teardown),
	    cmocka_unit_test(test_encode_schema),
	    cmocka_unit_test(test_encode_wrong_setter),
	    cmocka_unit_test_setup_teardown(test_encode_capacity, enc_setup, enc_teardown),
	    cmocka_unit_test(test_decode_null_args),
	    cmocka_unit_test(test_sender),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_str_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

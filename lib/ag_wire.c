/* ag_wire.c - the bounded wire codec: bytes in, message out; no I/O.
 *
 * Both directions are driven by the two tables below: what each field is
 * (kind, limits, where it lives in struct ag_msg) and what each message type
 * requires, allows, and who sends it. The decoder never reads past len and
 * never trusts a length before checking it against what remains.
 */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "ag_err.h"
#include "ag_wire.h"

#define FIELD_HDR 3 /* u8 tag, u16 length */
#define BIT(f)	  (1u << (f))
/* Bit 0 is no tag: a setter called with the wrong tag sets it so that the
 * next encode fails instead of silently dropping the value. */
#define POISON BIT(0)

enum kind { K_NONE = 0, K_STR, K_U8, K_U32, K_ID };

struct field_spec {
	enum kind kind;
	uint32_t min; /* K_STR: shortest length; K_U8/K_U32: smallest value */
	uint32_t max; /* K_STR: longest length; K_U8/K_U32: largest value */
	size_t off;   /* offset of the member in struct ag_msg */
};

#define OFF(m) offsetof(struct ag_msg, m)

static const struct field_spec fields[AG_F_MAX + 1] = {
    [AG_F_SERVICE] = {K_STR, 0, AG_NAME_MAX, OFF(service)},
    [AG_F_USER] = {K_STR, 1, AG_NAME_MAX, OFF(user)},
    [AG_F_RHOST] = {K_STR, 0, AG_NAME_MAX, OFF(rhost)},
    [AG_F_TTY] = {K_STR, 0, AG_NAME_MAX, OFF(tty)},
    [AG_F_RUSER] = {K_STR, 0, AG_NAME_MAX, OFF(ruser)},
    [AG_F_BUDGET] = {K_U32, 0, AG_BUDGET_MAX, OFF(budget_ms)},
    [AG_F_ID] = {K_ID, AG_ID_LEN, AG_ID_LEN, OFF(id)},
    [AG_F_OUTCOME] = {K_U8, AG_OUT_SUCCESS, AG_OUT_PASS, OFF(outcome)},
    [AG_F_BACKEND_MS] = {K_U32, 0, UINT32_MAX, OFF(backend_ms)},
    [AG_F_VERDICT] = {K_U8, AG_V_ALLOW, AG_V_SHED, OFF(verdict)},
    [AG_F_RULE] = {K_STR, 0, AG_NAME_MAX, OFF(rule)},
    [AG_F_RETRY_MS] = {K_U32, 0, UINT32_MAX, OFF(retry_ms)},
    [AG_F_CLASS] = {K_U8, AG_CLASS_TRUSTED, AG_CLASS_DIRTY, OFF(klass)},
    [AG_F_CMD] = {K_STR, 1, AG_NAME_MAX, OFF(cmd)},
    [AG_F_ARG0] = {K_STR, 0, AG_NAME_MAX, OFF(arg[0])},
    [AG_F_ARG1] = {K_STR, 0, AG_NAME_MAX, OFF(arg[1])},
    [AG_F_ARG2] = {K_STR, 0, AG_NAME_MAX, OFF(arg[2])},
    [AG_F_ARG3] = {K_STR, 0, AG_NAME_MAX, OFF(arg[3])},
    [AG_F_TEXT] = {K_STR, 0, AG_TEXT_MAX, OFF(text)},
    /* int32 carried as u32; int32_t and uint32_t may alias (C11 6.5p7). */
    [AG_F_CODE] = {K_U32, 0, UINT32_MAX, OFF(code)},
    [AG_F_MORE] = {K_U8, 0, 1, OFF(more)},
    [AG_F_FLAGS] = {K_U32, 0, UINT32_MAX, OFF(flags)},
};

struct type_spec {
	int sender;	   /* 0: no such type */
	uint32_t required; /* a subset of allowed */
	uint32_t allowed;
};

#define REQ_ATTEMPT (BIT(AG_F_USER) | BIT(AG_F_BUDGET))
#define OPT_ATTEMPT                                                                                \
	(BIT(AG_F_SERVICE) | BIT(AG_F_RHOST) | BIT(AG_F_TTY) | BIT(AG_F_RUSER) | BIT(AG_F_FLAGS))
#define REQ_REPORT (BIT(AG_F_ID) | BIT(AG_F_OUTCOME))
#define OPT_ARGS   (BIT(AG_F_ARG0) | BIT(AG_F_ARG1) | BIT(AG_F_ARG2) | BIT(AG_F_ARG3))
#define OPT_VERDICT                                                                                \
	(BIT(AG_F_RULE) | BIT(AG_F_RETRY_MS) | BIT(AG_F_ID) | BIT(AG_F_CLASS) | BIT(AG_F_TEXT))

#define TYPE_MAX AG_MSG_ERROR

static const struct type_spec types[TYPE_MAX + 1] = {
    [AG_MSG_DECIDE] = {AG_FROM_CLIENT, REQ_ATTEMPT, REQ_ATTEMPT | OPT_ATTEMPT},
    [AG_MSG_PRECHECK] = {AG_FROM_CLIENT, REQ_ATTEMPT, REQ_ATTEMPT | OPT_ATTEMPT},
    [AG_MSG_REPORT] = {AG_FROM_CLIENT, REQ_REPORT, REQ_REPORT | BIT(AG_F_BACKEND_MS)},
    [AG_MSG_ADMIN] = {AG_FROM_CLIENT, BIT(AG_F_CMD), BIT(AG_F_CMD) | OPT_ARGS},
    [AG_MSG_VERDICT] = {AG_FROM_GOVERNOR, BIT(AG_F_VERDICT), BIT(AG_F_VERDICT) | OPT_VERDICT},
    [AG_MSG_QUEUED] = {AG_FROM_GOVERNOR, 0, BIT(AG_F_CLASS)},
    [AG_MSG_ACK] = {AG_FROM_GOVERNOR, 0, 0},
    [AG_MSG_REPLY] = {AG_FROM_GOVERNOR, 0, BIT(AG_F_TEXT) | BIT(AG_F_MORE)},
    [AG_MSG_ERROR] = {AG_FROM_GOVERNOR, BIT(AG_F_CODE), BIT(AG_F_CODE) | BIT(AG_F_TEXT)},
};

static const struct type_spec *type_lookup(uint8_t type)
{
	if (type > TYPE_MAX || types[type].sender == 0)
		return NULL;
	return &types[type];
}

/* The offsets come from offsetof, so the members are aligned; the casts
 * through void * say so to -Wcast-align. */
static struct ag_str *str_at(struct ag_msg *m, const struct field_spec *f)
{
	return (struct ag_str *)(void *)((char *)m + f->off);
}

static const struct ag_str *cstr_at(const struct ag_msg *m, const struct field_spec *f)
{
	return (const struct ag_str *)(const void *)((const char *)m + f->off);
}

static uint32_t *u32_at(struct ag_msg *m, const struct field_spec *f)
{
	return (uint32_t *)(void *)((char *)m + f->off);
}

static uint32_t cu32_at(const struct ag_msg *m, const struct field_spec *f)
{
	return *(const uint32_t *)(const void *)((const char *)m + f->off);
}

static uint8_t *u8_at(struct ag_msg *m, const struct field_spec *f)
{
	return (uint8_t *)m + f->off;
}

static const uint8_t *cu8_at(const struct ag_msg *m, const struct field_spec *f)
{
	return (const uint8_t *)m + f->off;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Checks one string value against its limits; shared by both directions. */
static int str_ok(const struct field_spec *f, const char *p, size_t len)
{
	if (len < f->min || len > f->max)
		return 0;
	if (len > 0 && (p == NULL || memchr(p, '\0', len) != NULL))
		return 0;
	return 1;
}

/* Checks the value of field f in *m against its limits; 0 and its length
 * on the wire in *len, or AG_ERR_INVAL. */
static int value_len(const struct ag_msg *m, const struct field_spec *f, size_t *len)
{
	const struct ag_str *s;
	uint32_t v;

	*len = 0;
	switch (f->kind) {
	case K_STR:
		s = cstr_at(m, f);
		if (!str_ok(f, s->ptr, s->len))
			return AG_ERR_INVAL;
		*len = s->len;
		return 0;
	case K_U8:
		v = *cu8_at(m, f);
		*len = 1;
		break;
	case K_U32:
		v = cu32_at(m, f);
		*len = 4;
		break;
	case K_ID:
		*len = AG_ID_LEN;
		return 0;
	default:
		return AG_ERR_INVAL;
	}
	if (v < f->min || v > f->max) {
		*len = 0;
		return AG_ERR_INVAL;
	}
	return 0;
}

/* Decodes the value of field f (flen bytes at p) into *out. */
static int decode_value(const struct field_spec *f, const uint8_t *p, size_t flen,
			struct ag_msg *out)
{
	struct ag_str *s;
	uint32_t v;

	switch (f->kind) {
	case K_STR:
		if (!str_ok(f, (const char *)p, flen))
			return AG_ERR_PROTO;
		s = str_at(out, f);
		s->ptr = (const char *)p;
		s->len = (uint16_t)flen;
		return 0;
	case K_U8:
		if (flen != 1 || p[0] < f->min || p[0] > f->max)
			return AG_ERR_PROTO;
		*u8_at(out, f) = p[0];
		return 0;
	case K_U32:
		if (flen != 4)
			return AG_ERR_PROTO;
		v = get_be32(p);
		if (v < f->min || v > f->max)
			return AG_ERR_PROTO;
		*u32_at(out, f) = v;
		return 0;
	case K_ID:
		if (flen != AG_ID_LEN)
			return AG_ERR_PROTO;
		memcpy(u8_at(out, f), p, AG_ID_LEN);
		return 0;
	default:
		return AG_ERR_PROTO;
	}
}

/* Decodes the payload p[0..plen) of a message of type spec t into *out. */
static int decode_fields(const struct type_spec *t, const uint8_t *p, size_t plen,
			 struct ag_msg *out)
{
	size_t pos = 0;
	int rc;

	while (pos < plen) {
		uint8_t tag;
		size_t flen;

		if (plen - pos < FIELD_HDR)
			return AG_ERR_PROTO;
		tag = p[pos];
		flen = get_be16(p + pos + 1);
		pos += FIELD_HDR;
		if (flen > plen - pos)
			return AG_ERR_PROTO;
		if (tag == 0 || tag > AG_F_MAX || fields[tag].kind == K_NONE)
			return AG_ERR_PROTO;
		if (!(t->allowed & BIT(tag)) || (out->present & BIT(tag)))
			return AG_ERR_PROTO;
		rc = decode_value(&fields[tag], p + pos, flen, out);
		if (rc != 0)
			return rc;
		out->present |= BIT(tag);
		pos += flen;
	}
	if ((out->present & t->required) != t->required)
		return AG_ERR_PROTO;
	return 0;
}

int ag_wire_decode(const uint8_t *buf, size_t len, struct ag_msg *out, size_t *consumed)
{
	const struct type_spec *t;
	size_t frame;
	int rc;

	if (consumed != NULL)
		*consumed = 0;
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL || consumed == NULL || (buf == NULL && len > 0))
		return AG_ERR_INVAL;
	/* Judge the header as soon as it is there, so that a peer sending
	 * garbage is refused before we wait for a payload it announced. */
	if (len >= 1 && buf[0] != AG_WIRE_VERSION)
		return AG_ERR_VERSION;
	if (len < AG_FRAME_HDR)
		return AG_ERR_AGAIN;
	frame = AG_FRAME_HDR + (size_t)get_be16(buf + 2);
	if (frame > AG_FRAME_MAX)
		return AG_ERR_TOOBIG;
	t = type_lookup(buf[1]);
	if (t == NULL)
		return AG_ERR_PROTO;
	if (len < frame)
		return AG_ERR_AGAIN;

	out->type = buf[1];
	rc = decode_fields(t, buf + AG_FRAME_HDR, frame - AG_FRAME_HDR, out);
	if (rc != 0) {
		/* No half-decoded message with pointers into garbage. */
		memset(out, 0, sizeof(*out));
		return rc;
	}
	*consumed = frame;
	return 0;
}

/* Checks *msg against the schema; on success sets *total to its frame size. */
static int encode_check(const struct ag_msg *msg, size_t *total)
{
	const struct type_spec *t;
	size_t sum = AG_FRAME_HDR;
	int tag;

	*total = 0;
	t = type_lookup(msg->type);
	if (t == NULL)
		return AG_ERR_INVAL;
	if ((msg->present & ~t->allowed) != 0 || (msg->present & t->required) != t->required)
		return AG_ERR_INVAL;
	for (tag = 1; tag <= AG_F_MAX; tag++) {
		size_t vlen;
		int rc;

		if (!(msg->present & BIT(tag)))
			continue;
		rc = value_len(msg, &fields[tag], &vlen);
		if (rc != 0)
			return rc;
		sum += FIELD_HDR + vlen;
	}
	if (sum > AG_FRAME_MAX)
		return AG_ERR_TOOBIG;
	*total = sum;
	return 0;
}

/* Writes the value of field f at p (room checked by encode_check); returns its length. */
static size_t encode_value(const struct ag_msg *msg, const struct field_spec *f, uint8_t *p)
{
	const struct ag_str *s;

	switch (f->kind) {
	case K_STR:
		s = cstr_at(msg, f);
		if (s->len > 0)
			memcpy(p, s->ptr, s->len);
		return s->len;
	case K_U8:
		p[0] = *cu8_at(msg, f);
		return 1;
	case K_U32:
		put_be32(p, cu32_at(msg, f));
		return 4;
	case K_ID:
		memcpy(p, cu8_at(msg, f), AG_ID_LEN);
		return AG_ID_LEN;
	default:
		return 0;
	}
}

int ag_wire_encode(const struct ag_msg *msg, uint8_t *buf, size_t cap, size_t *len)
{
	size_t total, pos;
	int tag, rc;

	if (len != NULL)
		*len = 0;
	if (msg == NULL || len == NULL || (buf == NULL && cap > 0))
		return AG_ERR_INVAL;
	rc = encode_check(msg, &total);
	if (rc != 0)
		return rc;
	if (total > cap)
		return AG_ERR_TOOBIG;

	buf[0] = AG_WIRE_VERSION;
	buf[1] = msg->type;
	put_be16(buf + 2, (uint16_t)(total - AG_FRAME_HDR));
	pos = AG_FRAME_HDR;
	for (tag = 1; tag <= AG_F_MAX; tag++) {
		size_t vlen;

		if (!(msg->present & BIT(tag)))
			continue;
		buf[pos] = (uint8_t)tag;
		vlen = encode_value(msg, &fields[tag], buf + pos + FIELD_HDR);
		put_be16(buf + pos + 1, (uint16_t)vlen);
		pos += FIELD_HDR + vlen;
	}
	*len = pos;
	return 0;
}

int ag_wire_sender(uint8_t type)
{
	const struct type_spec *t = type_lookup(type);

	return t != NULL ? t->sender : 0;
}

void ag_msg_init(struct ag_msg *m, uint8_t type)
{
	if (m == NULL)
		return;
	memset(m, 0, sizeof(*m));
	m->type = type;
}

static const struct field_spec *field_lookup(int field)
{
	if (field <= 0 || field > AG_F_MAX || fields[field].kind == K_NONE)
		return NULL;
	return &fields[field];
}

void ag_msg_set_str(struct ag_msg *m, int field, const char *s)
{
	const struct field_spec *f = field_lookup(field);
	struct ag_str *dst;

	if (m == NULL)
		return;
	if (f == NULL || f->kind != K_STR) {
		m->present |= POISON;
		return;
	}
	dst = str_at(m, f);
	if (s == NULL) {
		dst->ptr = NULL;
		dst->len = 0;
		m->present &= ~BIT(field);
		return;
	}
	/* Every limit is far below UINT16_MAX, so a clamped length still
	 * fails the encoder's check instead of wrapping into a short one. */
	dst->ptr = s;
	dst->len = (uint16_t)strnlen(s, UINT16_MAX);
	m->present |= BIT(field);
}

void ag_msg_set_u32(struct ag_msg *m, int field, uint32_t v)
{
	const struct field_spec *f = field_lookup(field);

	if (m == NULL)
		return;
	if (f == NULL || (f->kind != K_U8 && f->kind != K_U32)) {
		m->present |= POISON;
		return;
	}
	if (f->kind == K_U8)
		/* Clamped, not wrapped: 256 must not become a valid 0. */
		*u8_at(m, f) = v > UINT8_MAX ? UINT8_MAX : (uint8_t)v;
	else
		*u32_at(m, f) = v;
	m->present |= BIT(field);
}

int ag_str_copy(char *dst, size_t cap, struct ag_str s)
{
	if (dst == NULL || cap == 0)
		return AG_ERR_INVAL;
	dst[0] = '\0';
	if (s.ptr == NULL && s.len > 0)
		return AG_ERR_INVAL;
	if ((size_t)s.len >= cap)
		return AG_ERR_TOOBIG;
	if (s.len > 0)
		memcpy(dst, s.ptr, s.len);
	dst[s.len] = '\0';
	return 0;
}

const char *ag_verdict_name(int v)
{
	switch (v) {
	case AG_V_ALLOW:
		return "allow";
	case AG_V_DENY:
		return "deny";
	case AG_V_SHED:
		return "shed";
	default:
		return "?";
	}
}

const char *ag_outcome_name(int o)
{
	switch (o) {
	case AG_OUT_SUCCESS:
		return "success";
	case AG_OUT_FAIL:
		return "fail";
	case AG_OUT_UNAVAIL:
		return "unavail";
	case AG_OUT_PASS:
		return "pass";
	default:
		return "?";
	}
}

const char *ag_class_name(int c)
{
	switch (c) {
	case AG_CLASS_TRUSTED:
		return "trusted";
	case AG_CLASS_CLEAN:
		return "clean";
	case AG_CLASS_DIRTY:
		return "failing";
	default:
		return "?";
	}
}

/* ag_wire.h - the bounded wire codec (no I/O).
 *
 * Frame: 4-byte header { u8 version, u8 type, u16 payload length (big
 * endian) } then the payload, at most AG_FRAME_MAX bytes in all. The payload
 * is a sequence of fields { u8 tag, u16 length (BE), value }. Integers are
 * big endian of their exact width; strings are length-counted, never
 * NUL-terminated on the wire, and may not contain NUL. A table
 * (ag_wire_schema) says for each message type which fields are required and
 * which are allowed, and which peer may send it. See docs/protocol.md.
 */
#ifndef AG_WIRE_H
#define AG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define AG_WIRE_VERSION 1
#define AG_FRAME_HDR 4
#define AG_FRAME_MAX 4096
#define AG_NAME_MAX 256   /* service, user, rhost, tty, ruser, rule, cmd, arg */
#define AG_TEXT_MAX 4000  /* text field of a reply */
#define AG_ID_LEN 16      /* admission id: random 128 bits */
#define AG_ADMIN_ARGS 4
#define AG_BUDGET_MAX 600000 /* largest BUDGET (ms) a frame may carry */
/* The governor sets its sockets' mtime every AG_HEARTBEAT_MS while its loop
 * runs; a module that got no answer in time finds the socket touched within
 * AG_HEARTBEAT_STALE_MS and knows the governor is busy, not hung: load, a
 * denial, never on_error (docs/protocol.md, "Heartbeat"). */
#define AG_HEARTBEAT_MS	      1000
#define AG_HEARTBEAT_STALE_MS 3000

enum ag_msg_type {
	AG_MSG_DECIDE = 1,   /* module -> governor: may this attempt reach the backend? takes a slot */
	AG_MSG_PRECHECK = 2, /* module -> governor: would it be denied anyway? takes nothing */
	AG_MSG_REPORT = 3,   /* module -> governor: how the admitted attempt went */
	AG_MSG_ADMIN = 4,    /* ctl -> governor: command and arguments */
	AG_MSG_VERDICT = 16, /* governor -> module: allow / deny / shed */
	AG_MSG_QUEUED = 17,  /* governor -> module: waiting for a slot, verdict follows */
	AG_MSG_ACK = 18,     /* governor -> module: report taken */
	AG_MSG_REPLY = 19,   /* governor -> ctl: text of key=value lines, may be several frames */
	AG_MSG_ERROR = 20,   /* governor -> any: request refused; code and text */
};

/* Field tags; bit (1u << tag) in ag_msg.present. */
enum ag_field {
	AG_F_SERVICE = 1,    /* str */
	AG_F_USER = 2,       /* str */
	AG_F_RHOST = 3,      /* str: client address or host name */
	AG_F_TTY = 4,        /* str */
	AG_F_RUSER = 5,      /* str */
	AG_F_BUDGET = 6,     /* u32 ms: what is left of the caller's budget */
	AG_F_ID = 7,         /* 16 bytes: admission id */
	AG_F_OUTCOME = 8,    /* u8 enum ag_outcome */
	AG_F_BACKEND_MS = 9, /* u32: how long the backend took */
	AG_F_VERDICT = 10,   /* u8 enum ag_verdict_kind */
	AG_F_RULE = 11,      /* str: rule that decided */
	AG_F_RETRY_MS = 12,  /* u32 */
	AG_F_CLASS = 13,     /* u8 enum ag_class */
	AG_F_CMD = 14,       /* str: admin command */
	AG_F_ARG0 = 15,      /* str: admin arguments 0..3 */
	AG_F_ARG1 = 16,
	AG_F_ARG2 = 17,
	AG_F_ARG3 = 18,
	AG_F_TEXT = 19,      /* str up to AG_TEXT_MAX */
	AG_F_CODE = 20,      /* u32 holding an int32 AG_ERR_* code */
	AG_F_MORE = 21,      /* u8 0/1: another REPLY frame follows */
	AG_F_FLAGS = 22,     /* u32 request flags (AG_RQ_*) */
	AG_F_MAX = 22,
};

enum ag_verdict_kind { AG_V_ALLOW = 1, AG_V_DENY = 2, AG_V_SHED = 3 };
enum ag_outcome {
	AG_OUT_SUCCESS = 1,  /* authentication succeeded (last factor) */
	AG_OUT_FAIL = 2,     /* wrong password / factor */
	AG_OUT_UNAVAIL = 3,  /* backend unavailable: never counted against the user */
	AG_OUT_PASS = 4,     /* first factor passed: release the slot, final outcome follows */
};
enum ag_class { AG_CLASS_TRUSTED = 0, AG_CLASS_CLEAN = 1, AG_CLASS_DIRTY = 2, AG_CLASS_COUNT = 3 };

/* A borrowed byte string: points into the decoded buffer, not NUL-terminated. */
struct ag_str {
	const char *ptr;
	uint16_t len;
};

struct ag_msg {
	uint8_t type;
	uint32_t present;           /* bit (1u << tag) per field present */
	struct ag_str service, user, rhost, tty, ruser, rule, cmd, text;
	struct ag_str arg[AG_ADMIN_ARGS];
	uint32_t budget_ms, backend_ms, retry_ms, flags;
	int32_t code;
	uint8_t outcome, verdict, klass, more;
	uint8_t id[AG_ID_LEN];
};

#define AG_HAS(m, f) (((m)->present >> (f)) & 1u)

/* Who may send a message type: checked by the receiver. */
enum ag_sender { AG_FROM_CLIENT = 1, AG_FROM_GOVERNOR = 2 };

/* Decodes one frame from buf[0..len). On success returns 0, fills *out
 * (strings borrow buf, which must outlive *out) and sets *consumed to the
 * frame size. On any error *consumed is 0 and *out is cleared. Returns
 * AG_ERR_AGAIN when buf holds only part of a frame, AG_ERR_VERSION on another
 * version (judged from the first byte), AG_ERR_TOOBIG for a declared length
 * over the limit (judged from the header alone, as is an unknown type),
 * AG_ERR_INVAL for NULL out/consumed, AG_ERR_PROTO for anything malformed:
 * unknown type or tag, a field not allowed for the type or given twice, a
 * required field missing, a wrong integer width, a string over its limit or
 * containing NUL, an enum value out of range. */
int ag_wire_decode(const uint8_t *buf, size_t len, struct ag_msg *out, size_t *consumed)
	__attribute__((warn_unused_result));

/* Encodes *msg (its type and the fields marked present) into buf[0..cap).
 * Checks the message against the same schema as the decoder. Returns 0 and
 * sets *len, AG_ERR_TOOBIG if it does not fit, AG_ERR_INVAL if the message
 * breaks the schema. */
int ag_wire_encode(const struct ag_msg *msg, uint8_t *buf, size_t cap, size_t *len)
	__attribute__((warn_unused_result));

/* Which peer may send the type: AG_FROM_CLIENT, AG_FROM_GOVERNOR, or 0 for
 * an unknown type. */
int ag_wire_sender(uint8_t type);

/* Clears *m and sets its type. */
void ag_msg_init(struct ag_msg *m, uint8_t type);

/* Setters for building messages; m may be NULL (no-op). s may be NULL
 * (field left absent). The string is borrowed, not copied, and must outlive
 * the encode; its length is not checked here but by ag_wire_encode. set_u32
 * takes u32 and u8 fields (CODE: an int32 cast to u32). A tag of the wrong
 * kind or an unknown tag makes the next ag_wire_encode fail (AG_ERR_INVAL). */
void ag_msg_set_str(struct ag_msg *m, int field, const char *s);
void ag_msg_set_u32(struct ag_msg *m, int field, uint32_t v);

/* Copies an ag_str into dst (size cap, cap >= 1) as a NUL-terminated string.
 * Returns AG_ERR_TOOBIG (dst untouched but for a NUL) if it does not fit. */
int ag_str_copy(char *dst, size_t cap, struct ag_str s) __attribute__((warn_unused_result));

/* Names for logs and the CLI: "allow", "deny", "shed"; "success" ...;
 * "trusted", "clean", "failing". Never NULL ("?" for unknown). */
const char *ag_verdict_name(int v);
const char *ag_outcome_name(int o);
const char *ag_class_name(int c);

#endif

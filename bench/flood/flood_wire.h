/* flood_wire.h - the request and the answer between pam_floodbackend.so and
 * the simulated backend (bench/flood/backend.c). Both ends run on one machine,
 * so integers are in host byte order.
 *
 * One request per connection:
 *   magic "FLD1" (4 bytes), user length (u16), password length (u16),
 *   the client's deadline (i64, CLOCK_REALTIME ms), then the user and the
 *   password bytes (not NUL-terminated).
 * One answer byte: FW_OK, FW_BAD (wrong password) or FW_UNKNOWN (no such
 * user); then the backend closes the connection.
 */
#ifndef FLOOD_WIRE_H
#define FLOOD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define FW_MAGIC "FLD1"
#define FW_HDR 16
#define FW_USER_MAX 256
#define FW_PASS_MAX 512
#define FW_REQ_MAX (FW_HDR + FW_USER_MAX + FW_PASS_MAX)

#define FW_OK 'S'
#define FW_BAD 'F'
#define FW_UNKNOWN 'U'

/* Error codes of fw_encode / fw_decode. */
#define FW_ERR_AGAIN (-1) /* decode: not a whole request yet */
#define FW_ERR_PROTO (-2) /* decode: bad magic or a length past its maximum */
#define FW_ERR_SPACE (-3) /* encode: a field too long, or the buffer too small */

struct fw_req {
	char user[FW_USER_MAX + 1]; /* NUL-terminated copies */
	char pass[FW_PASS_MAX + 1];
	int64_t deadline_ms;
};

/* Writes a request for USER, PASS and DEADLINE_MS into BUF (CAP bytes).
 * Returns 0 and its length in *len, or FW_ERR_SPACE. */
int fw_encode(const char *user, const char *pass, int64_t deadline_ms, unsigned char *buf,
              size_t cap, size_t *len) __attribute__((warn_unused_result));

/* Decodes one request from the LEN bytes at BUF into *out (cleared first).
 * Returns 0 and the bytes used in *used, FW_ERR_AGAIN when more bytes are
 * needed, or FW_ERR_PROTO. A user or password holding a NUL is FW_ERR_PROTO. */
int fw_decode(const unsigned char *buf, size_t len, struct fw_req *out, size_t *used)
	__attribute__((warn_unused_result));

#endif

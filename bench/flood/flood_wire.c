/* flood_wire.c - encoder and decoder of the flood backend's request (see
 * flood_wire.h). Bytes in, request out: no I/O. */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE; standalone builds pass -D_GNU_SOURCE */
#endif
#include <string.h>
#include "flood_wire.h"

int fw_encode(const char *user, const char *pass, int64_t deadline_ms, unsigned char *buf,
              size_t cap, size_t *len)
{
	size_t ulen = strlen(user), plen = strlen(pass);
	uint16_t u16;

	*len = 0;
	if (ulen > FW_USER_MAX || plen > FW_PASS_MAX || cap < FW_HDR + ulen + plen)
		return FW_ERR_SPACE;
	memcpy(buf, FW_MAGIC, 4);
	u16 = (uint16_t)ulen;
	memcpy(buf + 4, &u16, 2);
	u16 = (uint16_t)plen;
	memcpy(buf + 6, &u16, 2);
	memcpy(buf + 8, &deadline_ms, 8);
	memcpy(buf + FW_HDR, user, ulen);
	memcpy(buf + FW_HDR + ulen, pass, plen);
	*len = FW_HDR + ulen + plen;
	return 0;
}

int fw_decode(const unsigned char *buf, size_t len, struct fw_req *out, size_t *used)
{
	uint16_t ulen, plen;

	memset(out, 0, sizeof(*out));
	*used = 0;
	if (len >= 4 && memcmp(buf, FW_MAGIC, 4) != 0)
		return FW_ERR_PROTO;
	if (len < FW_HDR)
		return FW_ERR_AGAIN;
	memcpy(&ulen, buf + 4, 2);
	memcpy(&plen, buf + 6, 2);
	if (ulen > FW_USER_MAX || plen > FW_PASS_MAX)
		return FW_ERR_PROTO;
	if (len < (size_t)FW_HDR + ulen + plen)
		return FW_ERR_AGAIN;
	if (memchr(buf + FW_HDR, '\0', (size_t)ulen + plen) != NULL)
		return FW_ERR_PROTO;
	memcpy(&out->deadline_ms, buf + 8, 8);
	memcpy(out->user, buf + FW_HDR, ulen);
	memcpy(out->pass, buf + FW_HDR + ulen, plen);
	*used = (size_t)FW_HDR + ulen + plen;
	return 0;
}

/* ag_escape.c - make peer-supplied bytes safe for a log line, and back.
 *
 * The escaped form never holds a space, '=', '"', a backslash that is not an
 * escape, or a control byte, so it can stand as a logfmt value unquoted.
 */
#include "config.h"
#include <stddef.h>
#include <string.h>
#include "ag_escape.h"

#define ESC_LEN	     4 /* "\xHH" */
#define ELLIPSIS     "..."
#define ELLIPSIS_LEN 3

static int passes(unsigned char c)
{
	return c >= 0x21 && c < 0x7f && c != '\\' && c != '"' && c != '=';
}

/* Writes the escaped form of c at dst (room for ESC_LEN); returns its width. */
static size_t put_unit(char *dst, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (passes(c)) {
		dst[0] = (char)c;
		return 1;
	}
	dst[0] = '\\';
	dst[1] = 'x';
	dst[2] = hex[c >> 4];
	dst[3] = hex[c & 0xf];
	return ESC_LEN;
}

/* How many bytes of src fit in room once escaped. */
static size_t fitting(const unsigned char *src, size_t len, size_t room)
{
	size_t i, w = 0;

	for (i = 0; i < len; i++) {
		size_t u = passes(src[i]) ? 1 : ESC_LEN;

		if (w + u > room)
			break;
		w += u;
	}
	return i;
}

size_t ag_escape(char *dst, size_t cap, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n, i, out = 0;

	if (dst == NULL || cap == 0)
		return 0;
	if (src == NULL)
		len = 0;
	n = fitting(s, len, cap - 1);
	if (n < len) {
		/* Make room for the ellipsis by dropping whole units only, so that
		 * the output never ends in half an escape. */
		size_t room = cap - 1 > ELLIPSIS_LEN ? cap - 1 - ELLIPSIS_LEN : 0;
		size_t dots = cap - 1 < ELLIPSIS_LEN ? cap - 1 : ELLIPSIS_LEN;

		n = fitting(s, len, room);
		for (i = 0; i < n; i++)
			out += put_unit(dst + out, s[i]);
		memcpy(dst + out, ELLIPSIS, dots);
		out += dots;
	} else {
		for (i = 0; i < n; i++)
			out += put_unit(dst + out, s[i]);
	}
	dst[out] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t ag_unescape(char *dst, size_t cap, const char *src)
{
	size_t out = 0;

	if (dst == NULL || cap == 0)
		return 0;
	if (src == NULL)
		src = "";
	while (*src != '\0' && out < cap - 1) {
		int hi, lo;

		/* src[2] is only read when src[1] is 'x', so never past the NUL. */
		if (src[0] == '\\' && src[1] == 'x' && (hi = hexval(src[2])) >= 0 &&
		    (lo = hexval(src[3])) >= 0) {
			dst[out++] = (char)(hi << 4 | lo);
			src += ESC_LEN;
		} else {
			dst[out++] = *src++;
		}
	}
	dst[out] = '\0';
	return out;
}

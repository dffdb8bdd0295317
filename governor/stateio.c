/* stateio.c - strict line codec of the state file (see stateio.h). */
#include "config.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ag_err.h"
#include "stateio.h"

int gov_sio_getline(FILE *f, char *buf, size_t cap)
{
	size_t len = 0;
	int c;

	buf[0] = '\0';
	if (cap < 2)
		return AG_ERR_INVAL;
	while ((c = getc(f)) != EOF) {
		if (c == '\n') {
			buf[len] = '\0';
			return 0;
		}
		if (c == '\0' || len + 2 > cap)
			return AG_ERR_PROTO;
		buf[len++] = (char)c;
	}
	if (ferror(f))
		return AG_ERR_IO;
	/* A last line without its newline is a file cut short. */
	return len == 0 ? AG_ERR_NOTFOUND : AG_ERR_PROTO;
}

int gov_sio_split(char *line, char **tok, int max, int *n)
{
	char *p = line;

	*n = 0;
	for (;;) {
		char *sp = strchr(p, ' ');

		if (*p == ' ' || *p == '\0' || *n >= max)
			return AG_ERR_PROTO;
		tok[(*n)++] = p;
		if (sp == NULL)
			return 0;
		*sp = '\0';
		p = sp + 1;
	}
}

int gov_sio_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (s[0] != '-' && (s[0] < '0' || s[0] > '9'))
		return AG_ERR_PROTO;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return AG_ERR_PROTO;
	*out = (int64_t)v;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int gov_sio_unhex(const char *s, char *out, size_t cap)
{
	size_t len = strlen(s), i;

	if (cap < 1)
		return AG_ERR_PROTO;
	out[0] = '\0';
	if (strcmp(s, "-") == 0)
		return 0;
	if (len % 2 != 0 || len / 2 + 1 > cap)
		return AG_ERR_PROTO;
	for (i = 0; i < len / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0 || (hi | lo) == 0) {
			out[0] = '\0';
			return AG_ERR_PROTO;
		}
		out[i] = (char)(hi << 4 | lo);
	}
	out[len / 2] = '\0';
	return 0;
}

int gov_sio_put_hex(FILE *f, const void *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = p;
	size_t i;

	if (len == 0)
		return fputc('-', f) == EOF ? AG_ERR_IO : 0;
	for (i = 0; i < len; i++) {
		if (fputc(hex[b[i] >> 4], f) == EOF || fputc(hex[b[i] & 0xf], f) == EOF)
			return AG_ERR_IO;
	}
	return 0;
}

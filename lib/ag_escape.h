/* ag_escape.h - make peer-supplied bytes safe for a log line. */
#ifndef AG_ESCAPE_H
#define AG_ESCAPE_H

#include <stddef.h>

/* Writes src[0..len) into dst (size cap >= 1, always NUL-terminated) with
 * bytes outside printable ASCII, '\\', '"' and '=' and space written as \xHH
 * (lower-case hex). Truncates (ending in "...") when it does not fit, never
 * inside an escape; with cap < 4 only as many dots as fit. Returns
 * strlen(dst). dst NULL or cap 0: returns 0. src may be NULL when len is 0. */
size_t ag_escape(char *dst, size_t cap, const char *src, size_t len);

/* Reverses ag_escape: writes src (NUL-terminated) into dst (size cap >= 1,
 * always NUL-terminated) with every \xHH (either case of hex digit) turned
 * back into its byte; a backslash not starting a valid escape is copied
 * literally. Truncates when it does not fit. Returns the number of bytes
 * written before the terminating NUL (a \x00 in src yields an embedded NUL,
 * so use the length, not strlen). dst NULL or cap 0: returns 0; src NULL is
 * taken as "". */
size_t ag_unescape(char *dst, size_t cap, const char *src);

#endif

/* ag_escape.h - make peer-supplied bytes safe for a log line. */
#ifndef AG_ESCAPE_H
#define AG_ESCAPE_H

#include <stddef.h>

/* Writes src[0..len) into dst (size cap >= 1, always NUL-terminated) with
 * bytes outside printable ASCII, '\\', '"' and '=' and space written as \xHH.
 * Truncates (ending in "...") when it does not fit. Returns strlen(dst). */
size_t ag_escape(char *dst, size_t cap, const char *src, size_t len);

#endif

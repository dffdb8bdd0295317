/* stateio.h - the line codec of the state file, shared by statefile.c and the
 * stores' save/load.
 *
 * A line is tokens separated by single spaces, ending in '\n', at most
 * GOV_STATE_LINE_MAX bytes. Numbers are decimal (strict: no sign but '-',
 * no spaces, no leading '+', range checked). Names are lower-case hex of their
 * bytes, "-" when empty, so that any byte but NUL round-trips.
 */
#ifndef GOV_STATEIO_H
#define GOV_STATEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GOV_STATE_LINE_MAX 4096
#define GOV_STATE_TOK_MAX  16

/* Reads one line into buf (cap >= 2) without its '\n'. 0; AG_ERR_NOTFOUND
 * at end of file before any byte; AG_ERR_PROTO for a line longer than cap - 2,
 * a NUL byte, or a last line without '\n'; AG_ERR_IO on a read error. */
int gov_sio_getline(FILE *f, char *buf, size_t cap) __attribute__((warn_unused_result));

/* Splits line in place at single spaces into tok[0..*n), at most max tokens.
 * AG_ERR_PROTO for an empty line or token, or more than max tokens. */
int gov_sio_split(char *line, char **tok, int max, int *n) __attribute__((warn_unused_result));

/* Parses a whole decimal token in [min, max]. 0 or AG_ERR_PROTO (*out untouched). */
int gov_sio_int(const char *s, int64_t min, int64_t max, int64_t *out)
    __attribute__((warn_unused_result));

/* Decodes a hex name ("-" = empty) into out (cap bytes with its NUL).
 * 0 or AG_ERR_PROTO (odd length, not hex, a NUL byte, does not fit). */
int gov_sio_unhex(const char *s, char *out, size_t cap) __attribute__((warn_unused_result));

/* Writes p[0..len) as hex ("-" when len is 0). 0 or AG_ERR_IO. */
int gov_sio_put_hex(FILE *f, const void *p, size_t len) __attribute__((warn_unused_result));

#endif

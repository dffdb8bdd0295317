/* admin_req.h - one admin request from the CLI to the governor. */
#ifndef CTL_ADMIN_REQ_H
#define CTL_ADMIN_REQ_H

#include <stddef.h>
#include <stdint.h>

/* Sends ADMIN with argv[0] as the command and argv[1..argc-1] as its
 * arguments (at most AG_ADMIN_ARGS) to the governor at path, and hands the
 * text of each REPLY frame, in order, to on_text (a record never spans
 * frames). Everything is bounded by timeout_ms and max_frames.
 * Returns 0 when the governor answered: *code is then 0, or the code of its
 * ERROR reply with its text copied raw into err (size errcap >= 1, always
 * terminated; NULL/0 allowed). Returns an AG_ERR_* code when the governor
 * could not be talked to (unreachable, timeout, garbage, a reply that never
 * ends), or the nonzero value on_text returned. */
int ctl_admin_request(const char *path, int argc, char **argv, int64_t timeout_ms,
                      int max_frames, int (*on_text)(void *ctx, const char *text, size_t len),
                      void *ctx, int32_t *code, char *err, size_t errcap)
	__attribute__((warn_unused_result));

#endif

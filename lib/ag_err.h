/* ag_err.h - error codes shared by the module, the governor and the CLI.
 *
 * Every function returns 0 (AG_OK) on success or one of these negative codes.
 * A code is passed on unchanged by callers; ag_strerror() names it.
 */
#ifndef AG_ERR_H
#define AG_ERR_H

enum ag_err {
	AG_OK = 0,
	AG_ERR_NOMEM = -1,    /* allocation failed */
	AG_ERR_INVAL = -2,    /* bad argument or value */
	AG_ERR_PROTO = -3,    /* malformed frame or message */
	AG_ERR_TOOBIG = -4,   /* over a hard size limit */
	AG_ERR_AGAIN = -5,    /* incomplete: more bytes needed */
	AG_ERR_VERSION = -6,  /* peer speaks another protocol version */
	AG_ERR_IO = -7,       /* read/write failed */
	AG_ERR_TIMEOUT = -8,  /* deadline passed */
	AG_ERR_CONNECT = -9,  /* governor absent: no socket, refused */
	AG_ERR_CLOSED = -10,  /* peer closed the connection */
	AG_ERR_PERM = -11,    /* not allowed for this peer */
	AG_ERR_NOTFOUND = -12,/* no such entry */
	AG_ERR_FULL = -13,    /* a bounded table or queue is full */
	AG_ERR_CONFIG = -14,  /* configuration error */
	AG_ERR_STORE = -15,   /* the store failed */
	AG_ERR_SYS = -16,     /* a system call failed (see errno in the log) */
	AG_ERR_BUSY = -17,    /* governor shedding load (backlog full) */
	AG_ERR_EXISTS = -18,  /* already exists: not overwritten */
};

/* Returns a static, human-readable name for an AG_* code (never NULL). */
const char *ag_strerror(int err);

#endif

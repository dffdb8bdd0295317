/* ag_err.c - names of error codes. */
#include "config.h"
#include "ag_err.h"

const char *ag_strerror(int err)
{
	switch (err) {
	case AG_OK: return "success";
	case AG_ERR_NOMEM: return "out of memory";
	case AG_ERR_INVAL: return "invalid argument or value";
	case AG_ERR_PROTO: return "protocol error";
	case AG_ERR_TOOBIG: return "too large";
	case AG_ERR_AGAIN: return "incomplete, more data needed";
	case AG_ERR_VERSION: return "protocol version mismatch";
	case AG_ERR_IO: return "input/output error";
	case AG_ERR_TIMEOUT: return "timed out";
	case AG_ERR_CONNECT: return "governor not reachable";
	case AG_ERR_CLOSED: return "connection closed by peer";
	case AG_ERR_PERM: return "permission denied";
	case AG_ERR_NOTFOUND: return "not found";
	case AG_ERR_FULL: return "table or queue full";
	case AG_ERR_CONFIG: return "configuration error";
	case AG_ERR_STORE: return "store error";
	case AG_ERR_SYS: return "system error";
	case AG_ERR_BUSY: return "governor busy";
	case AG_ERR_EXISTS: return "already exists";
	default: return "unknown error";
	}
}

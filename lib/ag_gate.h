/* ag_gate.h - the module's logic, free of PAM so that it is unit-tested.
 *
 * pam_authguard.c gathers PAM items into a struct ag_attempt, calls these and
 * maps the result to a PAM code; everything in between (the exchange with the
 * governor, the budget, what counts as a denial and what as an error, the
 * client address, the user-facing text) lives here. No global state, no
 * output, no logging: results come back in structs.
 */
#ifndef AG_GATE_H
#define AG_GATE_H

#include <stddef.h>
#include <stdint.h>
#include "ag_client.h"
#include "ag_conf.h"
#include "ag_wire.h"

/* One login attempt as the module sees it. All strings borrowed; any but
 * user may be NULL (an empty string is sent as absent). An attempt with no
 * user or a name over AG_NAME_MAX bytes is refused before any I/O: verdict
 * DENY, rule AG_GATE_RULE_INVALID, err AG_ERR_INVAL (a denial, not an error,
 * because whoever logs in chooses the names). */
struct ag_attempt {
	const char *service;
	const char *user;
	const char *rhost; /* see ag_gate_rhost() */
	const char *tty;
	const char *ruser;
};

enum ag_gate_verdict {
	AG_GATE_ALLOW = 1, /* go on to the backend */
	AG_GATE_DENY = 2,  /* a rule says no (rule, retry_ms) */
	AG_GATE_SHED = 3,  /* no capacity now: a denial too, never on_error */
	AG_GATE_ERROR = 4, /* no usable answer: the caller applies on_error */
};

/* Why a result is AG_GATE_ERROR (or why a shed came without a VERDICT). */
enum ag_gate_fault {
	AG_FAULT_NONE = 0,
	AG_FAULT_ABSENT = 1,  /* nobody listens at the socket (connect failed) */
	AG_FAULT_TIMEOUT = 2, /* no answer in time */
	AG_FAULT_GARBAGE = 3, /* an answer we cannot use: malformed, unexpected, allow without ID */
	AG_FAULT_CLOSED = 4,  /* the governor closed the connection before answering */
	AG_FAULT_REFUSED = 5, /* the governor answered ERROR (err holds its code) */
	AG_FAULT_LOCAL = 6,   /* our side: bad request, permission on the socket, system error */
	AG_FAULT_BUSY = 7,    /* listen backlog full, or no answer in time from a
	                         governor whose heartbeat is fresh (an ERROR only
	                         for PRECHECK) */
};

#define AG_GATE_RULE_MAX (AG_NAME_MAX + 1)
#define AG_GATE_RULE_INVALID "invalid"  /* rule of an attempt refused before asking */

struct ag_gate_result {
	int verdict;                  /* enum ag_gate_verdict */
	char rule[AG_GATE_RULE_MAX];  /* rule that decided, copied ("" if none) */
	uint32_t retry_ms;            /* deny/shed: when to try again (0: not given) */
	uint8_t id[AG_ID_LEN];        /* allow: admission id */
	int klass;                    /* enum ag_class, -1 when not given */
	int queued;                   /* 1 if the governor queued the attempt first */
	int err;                      /* AG_ERR_* behind an error (or a shed without VERDICT) */
	int fault;                    /* enum ag_gate_fault */
};

/* An admission held by the module between preauth and the report: the open
 * connection (the admission belongs to it), its id and when the backend
 * started. Lives on the heap, on the PAM handle. */
struct ag_admission {
	struct ag_conn conn;
	uint8_t id[AG_ID_LEN];
	int64_t start_ms; /* ag_mono_ms() when the backend (or the next factor) started */
};

/* Allocates an admission with a closed connection; NULL when out of memory.
 * Free with ag_admission_free(). */
struct ag_admission *ag_admission_new(void);

/* Closes the connection (without sending anything: a forked child must not
 * release its parent's admission) and frees. NULL allowed. */
void ag_admission_free(struct ag_admission *a);

/* PRECHECK: would the attempt be denied anyway (rules 1-4, nothing taken)?
 * Opens a connection to path, waits at most timeout_ms for one VERDICT and
 * closes. *res is cleared on entry and always filled: verdict ALLOW, DENY
 * (also for an invalid attempt), SHED (a VERDICT shed) or ERROR (fault, err;
 * a full backlog is an ERROR here, err AG_ERR_BUSY: only DECIDE sheds).
 * Returns 0, or AG_ERR_INVAL for NULL arguments (then res, if given, says
 * ERROR). */
int ag_gate_precheck(const char *path, const struct ag_attempt *at, int64_t timeout_ms,
                     struct ag_gate_result *res) __attribute__((warn_unused_result));

/* DECIDE: may the attempt reach the backend? Opens a connection to path in
 * adm->conn (adm is overwritten: it must not hold an open connection), sends
 * BUDGET = timeout_ms + queue_wait_ms (capped at AG_BUDGET_MAX) and waits
 * timeout_ms for the first answer; after QUEUED, queue_wait_ms more for the
 * VERDICT. *res is cleared on entry and always filled:
 * - ALLOW: the VERDICT carried an ID (copied to res->id and adm->id);
 *   adm->conn stays open, adm->start_ms is now. Close it with
 *   ag_gate_report() or ag_admission_free().
 * - DENY (VERDICT deny, or an invalid attempt), SHED (VERDICT shed, a full
 *   listen backlog, or no VERDICT within queue_wait_ms after QUEUED: err
 *   AG_ERR_TIMEOUT).
 * - ERROR: fault and err say why (absent, timeout, garbage, ...).
 * adm->conn is closed unless ALLOW. Returns 0, or AG_ERR_INVAL for NULL
 * arguments. */
int ag_gate_decide(struct ag_admission *adm, const char *path, const struct ag_attempt *at,
                   int64_t timeout_ms, int64_t queue_wait_ms, struct ag_gate_result *res)
	__attribute__((warn_unused_result));

/* REPORT: sends the outcome (enum ag_outcome) of the admitted attempt and
 * waits at most timeout_ms for ACK. Closes adm->conn afterwards, except after
 * a successful AG_OUT_PASS report, which keeps it (and the admission) for the
 * final report and restarts adm->start_ms. Returns 0, AG_ERR_CLOSED when the
 * connection is not open, the governor's ERROR code, AG_ERR_PROTO for any
 * other answer, or an ag_conn_* error. The connection is closed on error. */
int ag_gate_report(struct ag_admission *adm, int outcome, int64_t backend_ms, int64_t timeout_ms)
	__attribute__((warn_unused_result));

/* The client address of an attempt: the first field of sshd's SSH_CONNECTION
 * ("CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT", checked strictly: four
 * fields separated by single spaces, numeric addresses (a link-local v6
 * client may carry %ZONE), ports 0..65535) when it is well formed, else
 * pam_rhost, else "". Either input may be NULL. Writes out (cap >= 1, always
 * NUL-terminated). Returns 0, 1 when SSH_CONNECTION was present but
 * malformed (out then holds pam_rhost; the caller may log it), AG_ERR_TOOBIG
 * when the chosen value does not fit (out ""), AG_ERR_INVAL for NULL out or
 * cap 0. */
int ag_gate_rhost(const char *ssh_connection, const char *pam_rhost, char *out, size_t cap)
	__attribute__((warn_unused_result));

/* The text shown to the user for a denial (verdict AG_GATE_DENY or
 * AG_GATE_SHED: the same words, pam_authguard(8)) that says when to try again
 * and nothing else, so that it never reveals whether the account exists:
 * "Too many attempts. Try again in N seconds." (N rounded up; "1 second";
 * minutes, rounded up, when more than 120 s), "Too many attempts. Try again
 * later." without a retry. Writes buf (always NUL-terminated when cap >= 1).
 * Returns 0, AG_ERR_TOOBIG (truncated), AG_ERR_INVAL (NULL, cap 0, another
 * verdict). */
int ag_gate_message(int verdict, uint32_t retry_ms, char *buf, size_t cap)
	__attribute__((warn_unused_result));

/* The socket the module talks to: arg_socket (socket=) when set; else the
 * privileged socket (conf_socket, or AG_DEFAULT_SOCKET when NULL) when
 * privileged (euid 0), the user socket otherwise (conf_user_socket, or
 * AG_DEFAULT_USER_SOCKET when NULL). NULL when the user socket is turned off
 * (conf_user_socket ""). Returns a borrowed string. */
const char *ag_gate_socket(const char *arg_socket, const char *conf_socket,
                           const char *conf_user_socket, int privileged);

/* After ag_modargs_parse() failed: fills *a with the defaults and the phase
 * named in argv (each word tried alone with ag_modargs_parse, so spelled by
 * the option table; AG_PHASE_NONE if none or several), so that the report
 * phases keep their usual PAM code and still report. *a is cleared first;
 * free it with ag_modargs_free(). Returns 0, or the error of parsing no
 * arguments at all. */
int ag_gate_args_fallback(struct ag_modargs *a, int argc, const char **argv)
	__attribute__((warn_unused_result));

/* A short static name for a fault ("governor absent", ...), never NULL. */
const char *ag_gate_fault_name(int fault);

#endif

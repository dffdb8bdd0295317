/* ag_gate.c - the module's exchanges with the governor and the pure helpers
 * around them (client address, user-facing text, socket choice).
 *
 * The rule that matters most here: only a usable VERDICT, a full backlog, a
 * queue that ran out, no answer in time from a governor whose heartbeat is
 * fresh, or names the wire cannot carry are denials; anything else is an
 * error, for which the caller applies on_error. A governor that
 * is overloaded must never look like one that is down, or on_error=open would
 * open the gate under attack.
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include "ag_addr.h"
#include "ag_err.h"
#include "ag_gate.h"
#include "ag_time.h"

struct ag_admission *ag_admission_new(void)
{
	struct ag_admission *a = calloc(1, sizeof(*a));

	if (a != NULL)
		ag_conn_init(&a->conn);
	return a;
}

void ag_admission_free(struct ag_admission *a)
{
	if (a == NULL)
		return;
	ag_conn_close(&a->conn);
	explicit_bzero(a->id, sizeof(a->id));
	free(a);
}

const char *ag_gate_fault_name(int fault)
{
	switch (fault) {
	case AG_FAULT_NONE:
		return "none";
	case AG_FAULT_ABSENT:
		return "governor absent";
	case AG_FAULT_TIMEOUT:
		return "no answer in time";
	case AG_FAULT_GARBAGE:
		return "unusable answer";
	case AG_FAULT_CLOSED:
		return "connection closed by the governor";
	case AG_FAULT_REFUSED:
		return "request refused by the governor";
	case AG_FAULT_LOCAL:
		return "local error";
	case AG_FAULT_BUSY:
		return "governor busy";
	default:
		return "?";
	}
}

static void result_clear(struct ag_gate_result *res)
{
	memset(res, 0, sizeof(*res));
	res->klass = -1;
}

static int fault_of(int err)
{
	switch (err) {
	case AG_ERR_CONNECT:
		return AG_FAULT_ABSENT;
	case AG_ERR_TIMEOUT:
		return AG_FAULT_TIMEOUT;
	case AG_ERR_PROTO:
	case AG_ERR_VERSION:
	case AG_ERR_TOOBIG:
		return AG_FAULT_GARBAGE;
	case AG_ERR_CLOSED:
		return AG_FAULT_CLOSED;
	case AG_ERR_BUSY:
		return AG_FAULT_BUSY;
	default:
		return AG_FAULT_LOCAL;
	}
}

static void set_error(struct ag_gate_result *res, int err, int fault)
{
	res->verdict = AG_GATE_ERROR;
	res->err = err;
	res->fault = fault;
}

/* Whether the governor at path touched its socket within
 * AG_HEARTBEAT_STALE_MS (it does every AG_HEARTBEAT_MS while its loop
 * runs): alive, however late its answer. */
static int governor_alive(const char *path)
{
	struct stat st;
	struct timespec now;
	int64_t age;

	if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    clock_gettime(CLOCK_REALTIME, &now) != 0)
		return 0;
	age = ((int64_t)now.tv_sec - (int64_t)st.st_mtim.tv_sec) * 1000 +
	      ((int64_t)now.tv_nsec - (int64_t)st.st_mtim.tv_nsec) / 1000000;
	return age <= AG_HEARTBEAT_STALE_MS;
}

/* An exchange that failed with rc. No answer in time from a governor whose
 * heartbeat is fresh is load (a flood starves it of CPU, its queue is
 * long): a denial, like a full backlog. Were it an error, on_error=open
 * would wave the flood through to the backend exactly when it is largest.
 * Only a stale heartbeat means hung, and gets on_error. */
static void set_failure(struct ag_gate_result *res, int rc, const char *path)
{
	if (rc == AG_ERR_TIMEOUT && governor_alive(path)) {
		res->verdict = AG_GATE_SHED;
		res->err = rc;
		res->fault = AG_FAULT_BUSY;
		return;
	}
	set_error(res, rc, fault_of(rc));
}

/* The code an ERROR message carries; one that is not an error code makes the
 * message garbage. */
static int governor_code(const struct ag_msg *m)
{
	if (!AG_HAS(m, AG_F_CODE) || m->code >= 0)
		return AG_ERR_PROTO;
	return m->code;
}

static const char *or_absent(const char *s)
{
	return (s != NULL && s[0] != '\0') ? s : NULL;
}

static int64_t clamp_ms(int64_t ms)
{
	if (ms < 0)
		return 0;
	return ms > AG_BUDGET_MAX ? AG_BUDGET_MAX : ms;
}

static int name_ok(const char *s, int required)
{
	size_t len = s != NULL ? strlen(s) : 0;

	return len <= AG_NAME_MAX && (!required || len > 0);
}

/* Names are chosen by whoever logs in. One the wire cannot carry is refused
 * as a denial: as an error, on_error=open would wave it through unthrottled. */
static int attempt_refused(const struct ag_attempt *at, struct ag_gate_result *res)
{
	if (name_ok(at->user, 1) && name_ok(at->service, 0) && name_ok(at->rhost, 0) &&
	    name_ok(at->tty, 0) && name_ok(at->ruser, 0))
		return 0;
	res->verdict = AG_GATE_DENY;
	res->err = AG_ERR_INVAL;
	snprintf(res->rule, sizeof(res->rule), "%s", AG_GATE_RULE_INVALID);
	return 1;
}

/* Opens, sends the request and receives the first answer. */
static int first_exchange(struct ag_conn *c, const char *path, uint8_t type,
			  const struct ag_attempt *at, int64_t budget_ms, int64_t deadline_ms,
			  struct ag_msg *ans)
{
	struct ag_msg rq;
	int rc;

	ag_msg_init(&rq, type);
	ag_msg_set_str(&rq, AG_F_SERVICE, or_absent(at->service));
	ag_msg_set_str(&rq, AG_F_USER, at->user);
	ag_msg_set_str(&rq, AG_F_RHOST, or_absent(at->rhost));
	ag_msg_set_str(&rq, AG_F_TTY, or_absent(at->tty));
	ag_msg_set_str(&rq, AG_F_RUSER, or_absent(at->ruser));
	ag_msg_set_u32(&rq, AG_F_BUDGET, (uint32_t)clamp_ms(budget_ms));
	rc = ag_conn_open(c, path, deadline_ms);
	if (rc != 0)
		return rc;
	rc = ag_conn_send(c, &rq, deadline_ms);
	if (rc == AG_ERR_CLOSED || rc == AG_ERR_IO) {
		/* A governor at its client limit answers "shed" and closes
		 * before reading us; that answer is still in our buffer. */
		if (ag_conn_recv(c, ans, deadline_ms) == 0)
			return 0;
	}
	if (rc != 0)
		return rc;
	return ag_conn_recv(c, ans, deadline_ms);
}

/* Copies what a VERDICT says into *res. Returns 0 or AG_ERR_PROTO. */
static int take_verdict(const struct ag_msg *m, int need_id, struct ag_gate_result *res)
{
	if (AG_HAS(m, AG_F_RULE) && ag_str_copy(res->rule, sizeof(res->rule), m->rule) != 0)
		return AG_ERR_PROTO;
	if (AG_HAS(m, AG_F_RETRY_MS))
		res->retry_ms = m->retry_ms;
	if (AG_HAS(m, AG_F_CLASS))
		res->klass = m->klass;
	switch (m->verdict) {
	case AG_V_ALLOW:
		/* An admission without an id could never be reported. */
		if (need_id && !AG_HAS(m, AG_F_ID))
			return AG_ERR_PROTO;
		if (AG_HAS(m, AG_F_ID))
			memcpy(res->id, m->id, AG_ID_LEN);
		res->verdict = AG_GATE_ALLOW;
		return 0;
	case AG_V_DENY:
		res->verdict = AG_GATE_DENY;
		return 0;
	case AG_V_SHED:
		res->verdict = AG_GATE_SHED;
		return 0;
	default:
		return AG_ERR_PROTO;
	}
}

/* Fills *res from a final answer (VERDICT or ERROR). */
static void take_answer(const struct ag_msg *m, int need_id, struct ag_gate_result *res)
{
	int rc;

	if (m->type == AG_MSG_ERROR) {
		rc = governor_code(m);
		if (rc == AG_ERR_BUSY) {
			/* "shed" at the client limit: load, a denial like a
			 * full backlog, never on_error. */
			res->verdict = AG_GATE_SHED;
			res->err = rc;
			res->fault = AG_FAULT_BUSY;
			return;
		}
		set_error(res, rc, rc == AG_ERR_PROTO ? AG_FAULT_GARBAGE : AG_FAULT_REFUSED);
		return;
	}
	if (m->type != AG_MSG_VERDICT) {
		set_error(res, AG_ERR_PROTO, AG_FAULT_GARBAGE);
		return;
	}
	rc = take_verdict(m, need_id, res);
	if (rc != 0) {
		res->rule[0] = '\0';
		res->retry_ms = 0;
		memset(res->id, 0, sizeof(res->id));
		set_error(res, rc, AG_FAULT_GARBAGE);
	}
}

int ag_gate_precheck(const char *path, const struct ag_attempt *at, int64_t timeout_ms,
		     struct ag_gate_result *res)
{
	struct ag_conn c;
	struct ag_msg m;
	int64_t deadline;
	int rc;

	if (res != NULL)
		result_clear(res);
	if (path == NULL || at == NULL || res == NULL) {
		if (res != NULL)
			set_error(res, AG_ERR_INVAL, AG_FAULT_LOCAL);
		return AG_ERR_INVAL;
	}
	ag_conn_init(&c);
	if (attempt_refused(at, res))
		return 0;
	timeout_ms = clamp_ms(timeout_ms);
	deadline = ag_mono_ms() + timeout_ms;
	rc = first_exchange(&c, path, AG_MSG_PRECHECK, at, timeout_ms, deadline, &m);
	if (rc != 0) {
		set_failure(res, rc, path);
		/* Load at PRECHECK is DECIDE's business, as a full backlog is. */
		if (res->verdict == AG_GATE_SHED)
			set_error(res, rc, AG_FAULT_BUSY);
	} else
		take_answer(&m, 0, res);
	ag_conn_close(&c);
	return 0;
}

int ag_gate_decide(struct ag_admission *adm, const char *path, const struct ag_attempt *at,
		   int64_t timeout_ms, int64_t queue_wait_ms, struct ag_gate_result *res)
{
	struct ag_msg m;
	int64_t deadline, start;
	int rc;

	if (res != NULL)
		result_clear(res);
	if (adm != NULL)
		ag_conn_init(&adm->conn);
	if (adm == NULL || path == NULL || at == NULL || res == NULL) {
		if (res != NULL)
			set_error(res, AG_ERR_INVAL, AG_FAULT_LOCAL);
		return AG_ERR_INVAL;
	}
	if (attempt_refused(at, res))
		return 0;
	timeout_ms = clamp_ms(timeout_ms);
	queue_wait_ms = clamp_ms(queue_wait_ms);
	start = ag_mono_ms();
	deadline = start + timeout_ms;
	rc = first_exchange(&adm->conn, path, AG_MSG_DECIDE, at, timeout_ms + queue_wait_ms,
			    deadline, &m);
	if (rc == AG_ERR_BUSY) {
		/* The governor is alive but cannot even accept: load, not a
		 * fault, so a denial whatever on_error says. */
		res->verdict = AG_GATE_SHED;
		res->err = rc;
		res->fault = AG_FAULT_BUSY;
		goto out;
	}
	if (rc != 0) {
		set_failure(res, rc, path);
		goto out;
	}
	if (m.type == AG_MSG_QUEUED) {
		res->queued = 1;
		if (AG_HAS(&m, AG_F_CLASS))
			res->klass = m.klass;
		/* The budget we sent ends at start + timeout + queue_wait; the
		 * governor sheds shed_margin before that, so its answer comes
		 * while we still listen. */
		deadline = start + timeout_ms + queue_wait_ms;
		rc = ag_conn_recv(&adm->conn, &m, deadline);
		if (rc == AG_ERR_TIMEOUT) {
			/* Waited our share for a slot: the governor sheds such
			 * an attempt itself, we only got there first. */
			res->verdict = AG_GATE_SHED;
			res->err = rc;
			goto out;
		}
		if (rc != 0) {
			set_error(res, rc, fault_of(rc));
			goto out;
		}
	}
	take_answer(&m, 1, res);
	if (res->verdict == AG_GATE_ALLOW) {
		memcpy(adm->id, res->id, AG_ID_LEN);
		adm->start_ms = ag_mono_ms();
	}
out:
	if (res->verdict != AG_GATE_ALLOW)
		ag_conn_close(&adm->conn);
	return 0;
}

int ag_gate_report(struct ag_admission *adm, int outcome, int64_t backend_ms, int64_t timeout_ms)
{
	struct ag_msg m;
	int64_t deadline;
	int rc;

	if (adm == NULL)
		return AG_ERR_INVAL;
	if (adm->conn.fd < 0)
		return AG_ERR_CLOSED;
	if (outcome < AG_OUT_SUCCESS || outcome > AG_OUT_PASS) {
		rc = AG_ERR_INVAL;
		goto out;
	}
	if (backend_ms < 0)
		backend_ms = 0;
	if (backend_ms > UINT32_MAX)
		backend_ms = UINT32_MAX;
	ag_msg_init(&m, AG_MSG_REPORT);
	memcpy(m.id, adm->id, AG_ID_LEN);
	m.present |= 1u << AG_F_ID;
	ag_msg_set_u32(&m, AG_F_OUTCOME, (uint32_t)outcome);
	ag_msg_set_u32(&m, AG_F_BACKEND_MS, (uint32_t)backend_ms);
	deadline = ag_mono_ms() + clamp_ms(timeout_ms);
	rc = ag_conn_send(&adm->conn, &m, deadline);
	if (rc != 0)
		goto out;
	rc = ag_conn_recv(&adm->conn, &m, deadline);
	if (rc != 0)
		goto out;
	if (m.type == AG_MSG_ERROR)
		rc = governor_code(&m);
	else if (m.type != AG_MSG_ACK)
		rc = AG_ERR_PROTO;
out:
	if (rc != 0 || outcome != AG_OUT_PASS)
		ag_conn_close(&adm->conn);
	else
		adm->start_ms = ag_mono_ms();
	return rc;
}

/* ---- the client address ------------------------------------------------ */

/* Copies s[0..len) into buf as a string; 0, or -1 when it does not fit or is
 * empty. */
static int field_copy(char *buf, size_t cap, const char *s, size_t len)
{
	if (len == 0 || len >= cap)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

static int is_zone_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.' || ch == '-';
}

/* A numeric address; with zone_ok, a v6 one may carry "%ZONE" as sshd prints
 * a link-local peer. */
static int valid_addr(const char *s, size_t len, int zone_ok)
{
	char buf[80];
	struct ag_addr a;
	char *pct;
	size_t i;

	if (field_copy(buf, sizeof(buf), s, len) != 0)
		return 0;
	pct = strchr(buf, '%');
	if (pct != NULL) {
		if (!zone_ok || pct[1] == '\0')
			return 0;
		for (i = 1; pct[i] != '\0'; i++)
			if (!is_zone_char(pct[i]))
				return 0;
		*pct = '\0';
	}
	if (ag_addr_parse(buf, &a) != 0)
		return 0;
	/* A zone only makes sense on v6; v4-mapped folds to v4 and has none. */
	return pct == NULL || a.family != AF_INET;
}

static int valid_port(const char *s, size_t len)
{
	char buf[8];
	int64_t v;

	if (field_copy(buf, sizeof(buf), s, len) != 0)
		return 0;
	return ag_parse_int(buf, 0, 65535, &v) == 0;
}

/* Checks SSH_CONNECTION and returns the length of its first field, 0 when it
 * is malformed. */
static size_t ssh_client_field(const char *sc)
{
	const char *f[4];
	size_t len[4];
	const char *p = sc;
	int n;

	for (n = 0; n < 4; n++) {
		const char *sp = strchr(p, ' ');

		f[n] = p;
		len[n] = sp != NULL ? (size_t)(sp - p) : strlen(p);
		if (len[n] == 0)
			return 0;
		if (n < 3) {
			if (sp == NULL)
				return 0;
			p = sp + 1;
		} else if (sp != NULL) {
			return 0;
		}
	}
	if (!valid_addr(f[0], len[0], 1) || !valid_port(f[1], len[1]) ||
	    !valid_addr(f[2], len[2], 1) || !valid_port(f[3], len[3]))
		return 0;
	return len[0];
}

int ag_gate_rhost(const char *ssh_connection, const char *pam_rhost, char *out, size_t cap)
{
	const char *src = "";
	size_t len = 0;
	int rc = 0;

	if (out == NULL || cap == 0)
		return AG_ERR_INVAL;
	out[0] = '\0';
	if (ssh_connection != NULL) {
		len = ssh_client_field(ssh_connection);
		if (len > 0)
			src = ssh_connection;
		else
			rc = 1;
	}
	if (len == 0 && pam_rhost != NULL) {
		src = pam_rhost;
		len = strlen(pam_rhost);
	}
	if (len >= cap)
		return AG_ERR_TOOBIG;
	memcpy(out, src, len);
	out[len] = '\0';
	return rc;
}

/* ---- what the user is told --------------------------------------------- */

int ag_gate_message(int verdict, uint32_t retry_ms, char *buf, size_t cap)
{
	uint64_t secs, mins;
	int n;

	if (buf == NULL || cap == 0)
		return AG_ERR_INVAL;
	buf[0] = '\0';
	if (verdict != AG_GATE_DENY && verdict != AG_GATE_SHED)
		return AG_ERR_INVAL;
	secs = ((uint64_t)retry_ms + 999) / 1000;
	mins = ((uint64_t)retry_ms + 59999) / 60000;
	/* Shed or denied, the user hears the same: nothing here may tell
	 * an existing account from a made-up one. */
	if (retry_ms == 0)
		n = snprintf(buf, cap, "Too many attempts. Try again later.");
	else if (secs > 120)
		n = snprintf(buf, cap, "Too many attempts. Try again in %llu minutes.",
			     (unsigned long long)mins);
	else
		n = snprintf(buf, cap, "Too many attempts. Try again in %llu second%s.",
			     (unsigned long long)secs, secs == 1 ? "" : "s");
	if (n < 0)
		return AG_ERR_INVAL;
	return (size_t)n >= cap ? AG_ERR_TOOBIG : 0;
}

/* ---- configuration helpers --------------------------------------------- */

const char *ag_gate_socket(const char *arg_socket, const char *conf_socket,
			   const char *conf_user_socket, int privileged)
{
	if (arg_socket != NULL && arg_socket[0] != '\0')
		return arg_socket;
	if (privileged)
		return (conf_socket != NULL && conf_socket[0] != '\0') ? conf_socket
								       : AG_DEFAULT_SOCKET;
	if (conf_user_socket == NULL)
		return AG_DEFAULT_USER_SOCKET;
	return conf_user_socket[0] != '\0' ? conf_user_socket : NULL;
}

int ag_gate_args_fallback(struct ag_modargs *a, int argc, const char **argv)
{
	const char *none[1] = {NULL};
	struct ag_modargs one;
	char err[AG_ERRBUF];
	int phase = AG_PHASE_NONE;
	int several = 0;
	int i, rc;

	if (a == NULL)
		return AG_ERR_INVAL;
	memset(a, 0, sizeof(*a));
	rc = ag_modargs_parse(a, 0, none, err, sizeof(err));
	if (rc != 0)
		return rc;
	for (i = 0; argv != NULL && i < argc; i++) {
		if (argv[i] == NULL)
			continue;
		memset(&one, 0, sizeof(one));
		if (ag_modargs_parse(&one, 1, &argv[i], err, sizeof(err)) == 0 &&
		    one.phase != AG_PHASE_NONE) {
			if (phase != AG_PHASE_NONE && phase != one.phase)
				several = 1;
			phase = one.phase;
		}
		ag_modargs_free(&one);
	}
	a->phase = several ? AG_PHASE_NONE : phase;
	return 0;
}

/* log.h - the governor's log: never blocks the event loop.
 *
 * syslog (LOG_AUTHPRIV) by writing RFC 3164 datagrams ("<PRI>Mmm dd hh:mm:ss
 * ident[pid]: msg") to /dev/log with MSG_DONTWAIT (what cannot be sent is
 * counted as dropped; a vanished or restarted syslog is reconnected lazily, at
 * most once a second, with lines going to stderr meanwhile), or "ident: msg"
 * lines on stderr in the foreground. Lines are capped at GOV_LOG_LINE_MAX bytes
 * (a cut line ends in "..."); control bytes in a message become '?'.
 *
 * Denials are rate-limited: past log_burst denials in log_interval, one summary
 * per rule and interval with counts and the top offenders:
 *   denials suppressed rule=R count=N interval_ms=M top=SRC:N,SRC:N,...
 * The top list is bounded (GOV_LOG_TOP sources per rule, space-saving: a new
 * source evicts the least counted one, and any source with more than
 * count / GOV_LOG_TOP denials is sure to be listed). Listed counts are those
 * seen since the source entered the list: exact unless "approx=1" is appended
 * (an eviction happened), then lower bounds. Sources in the list are escaped
 * and also have ',' written as \x2c.
 *
 * One governor process, one log: the state is global, not thread-safe.
 */
#ifndef GOV_LOG_H
#define GOV_LOG_H

#include <stdint.h>
#include <syslog.h>

#define GOV_LOG_LINE_MAX 1024 /* bytes in a datagram or a stderr line, '\n' included */
#define GOV_LOG_TOP	 8    /* top offenders remembered per rule and interval */

/* Opens the log (ident copied, cut at 63 bytes; NULL keeps the current one).
 * foreground: write to stderr. Returns 0 or AG_ERR_SYS (then logging falls
 * back to stderr until the syslog socket can be reached). May be called again
 * to reopen. */
int gov_log_open(const char *ident, int foreground);

/* Writes any pending denial summary, closes the syslog socket; later lines go
 * to stderr. */
void gov_log_close(void);

/* Drops lines less urgent than max_prio (LOG_ERR ... LOG_DEBUG) before they
 * are formatted. The default is LOG_INFO: LOG_DEBUG lines need this call. */
void gov_log_set_level(int max_prio);

/* Uses path instead of /dev/log for syslog (tests, containers); copied, NULL
 * restores /dev/log. Takes effect at the next open or reconnect. */
void gov_log_set_socket(const char *path);

/* Sets the denial burst limits (from the config; on reload too). burst < 0
 * counts as 0 (summaries only); interval_ms <= 0 turns the limit off (every
 * denial logged). */
void gov_log_limits(int64_t burst, int64_t interval_ms);

/* One line at priority prio (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
 * LOG_DEBUG). The caller escapes peer strings (ag_escape). */
void gov_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A denial, rate-limited: user and source raw (escaped here; NULL taken as
 * ""), rule name, retry in ms. now is monotonic ms. Logged at LOG_NOTICE:
 *   denied rule=R user=U source=S retry_ms=N service=X */
void gov_log_denial(const char *rule, const char *user, const char *source, int64_t retry_ms,
		    const char *service, int64_t now);

/* Flushes a pending summary if its interval has ended (call from a timer). */
void gov_log_tick(int64_t now);

/* Datagrams that could not be written to the log socket. */
uint64_t gov_log_dropped(void);

#endif

/* log.h - the governor's log: never blocks the event loop.
 *
 * syslog (LOG_AUTHPRIV) by writing datagrams to /dev/log with MSG_DONTWAIT
 * (what cannot be sent is counted as dropped), or stderr in the foreground.
 * Denials are rate-limited: past log_burst denials in log_interval, one summary
 * per rule and interval with counts and the top offenders.
 */
#ifndef GOV_LOG_H
#define GOV_LOG_H

#include <stdint.h>
#include <syslog.h>

/* Opens the log. foreground: write to stderr. Returns 0 or AG_ERR_SYS (then
 * logging falls back to stderr). */
int gov_log_open(const char *ident, int foreground);
void gov_log_close(void);

/* Sets the denial burst limits (from the config; on reload too). */
void gov_log_limits(int64_t burst, int64_t interval_ms);

/* One line at priority prio (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
 * LOG_DEBUG). The caller escapes peer strings (ag_escape). */
void gov_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A denial, rate-limited: user and source raw (escaped here), rule name,
 * retry in ms. now is monotonic ms. */
void gov_log_denial(const char *rule, const char *user, const char *source, int64_t retry_ms,
                    const char *service, int64_t now);

/* Flushes a pending summary if its interval has ended (call from a timer). */
void gov_log_tick(int64_t now);

/* Datagrams that could not be written to the log socket. */
uint64_t gov_log_dropped(void);

#endif

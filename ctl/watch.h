/* watch.h - "authguardctl watch": a live view of the governor.
 *
 * Polls the governor's admin "status" (and "top", when it answers it) every
 * interval and draws requests/s, denials by rule, in-flight against the
 * limit, the queues, clients, the decision latency and the top offenders.
 * On a terminal: ANSI clear-and-redraw sized to the window, keys read in
 * no-echo mode ('q' quits); otherwise one plain frame per interval.
 */
#ifndef AG_WATCH_H
#define AG_WATCH_H

#define WATCH_INTERVAL_MS     1000
#define WATCH_INTERVAL_MIN_MS 100
#define WATCH_INTERVAL_MAX_MS 60000

/* Prints a governor we cannot talk to (path, AG_ERR_* code) the way the CLI
 * does everywhere, and returns the exit status to use. */
typedef int (*watch_unreachable_fn)(const char *path, int rc);

/* 1 if the command word of the authguardctl command line argv[0..argc) is
 * "watch" (knowing which options take a value), else 0. */
int watch_requested(int argc, char **argv);

/* Runs "authguardctl [-s SOCKET] watch [--interval MS] [--count N]" with the
 * whole command line; the options are parsed here. Returns the exit status:
 * 0 on q, Ctrl-C, SIGTERM or after N frames; 2 usage; 3 (through
 * unreachable, which must not be NULL) when the governor cannot be reached at
 * start; 1 when it refuses or stdout fails. The terminal is restored on every
 * path. */
int watch_main(int argc, char **argv, watch_unreachable_fn unreachable);

#endif

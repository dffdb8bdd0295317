/* metrics.h - the governor's counters in the Prometheus text format, for
 * the "metrics" admin command and GET /metrics on metrics_listen. */
#ifndef GOV_METRICS_H
#define GOV_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct gov;

#define GOV_METRICS_MAX 32768 /* the whole exposition, with room to spare */

/* Writes the exposition (format 0.0.4: HELP, TYPE, then samples, one per
 * line, each ending in '\n') into buf and its length into *len, cleared on
 * entry. No label carries a user name or an address. 0, or AG_ERR_TOOBIG
 * when cap is too small (buf then holds whole lines only). */
int gov_metrics_render(const struct gov *g, char *buf, size_t cap, size_t *len)
    __attribute__((warn_unused_result));

/* Opens the HTTP listener (metrics_http.c) on g->conf->metrics_listen, if
 * set: GET or HEAD /metrics answers the exposition, any other path 404,
 * any other method 405; at most 16 connections, a 8 KiB request head and 5 s
 * for the whole exchange. Called once at start; a
 * reload does not re-bind. 0, or an AG_ERR_* code after logging why. */
int gov_metrics_listen(struct gov *g) __attribute__((warn_unused_result));

/* Closes the listener and its connections; safe when none is open. */
void gov_metrics_close(struct gov *g);

/* The metrics_listen the listener was opened on, or NULL when none. */
const char *gov_metrics_addr(const struct gov *g);

/* Connections closed at accept because HTTP_CONN_MAX were open. */
uint64_t gov_metrics_http_refused(const struct gov *g);

#endif

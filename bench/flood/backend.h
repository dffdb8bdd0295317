/* backend.h - the simulated auth backend of the flood benchmark: accounts
 * (backend_accounts.c), the unbounded FIFO, its workers and the counters
 * (backend_work.c); the socket loop is backend.c. */
#ifndef FLOOD_BACKEND_H
#define FLOOD_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include "flood_wire.h"

/* Queue waits are counted in 1 ms buckets up to this, the rest in the last. */
#define BK_WAIT_BUCKETS 10001
/* Queue-length samples kept at most (an hour at 100 ms). */
#define BK_SERIES_MAX 36000

struct bk_account {
	char *user, *pass;
};

struct bk_accounts {
	struct bk_account *v; /* sorted by user */
	size_t n;
};

/* One request waiting for a worker; owns the client's fd. */
struct bk_item {
	int fd;
	int64_t enq_us; /* CLOCK_MONOTONIC */
	struct fw_req req;
	struct bk_item *next;
};

struct bk_counters {
	uint64_t accepted, calls, successes, failures, unknown;
	uint64_t wasted;          /* checks made for a client that had given up */
	uint64_t wasted_deadline; /* ... its deadline had passed */
	uint64_t wasted_closed;   /* ... its deadline had not, its connection was closed */
	uint64_t late;            /* the client gave up while its check ran */
	uint64_t proto_errors;
	uint64_t max_queue, max_busy;
	uint64_t wait_ms[BK_WAIT_BUCKETS]; /* queue wait of each call */
	int64_t since_us;                  /* of the last reset */
	uint32_t series[BK_SERIES_MAX];    /* queue length every sample_ms */
	size_t nseries;
};

struct backend {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct bk_item *head, *tail;
	uint64_t qlen, busy;
	struct bk_counters c; /* under mu */
	atomic_long delay_ms;
	long sample_ms;
	int workers;
	const struct bk_accounts *accounts;
};

/* Loads "user:password" lines from PATH into *out (cleared first); blank
 * lines and lines starting with '#' are skipped. Returns 0, or -1 after
 * printing file:line of the fault to stderr. Free with bk_accounts_free. */
int bk_accounts_load(const char *path, struct bk_accounts *out) __attribute__((warn_unused_result));

/* Returns FW_OK, FW_BAD or FW_UNKNOWN for USER and PASS. */
char bk_accounts_check(const struct bk_accounts *a, const char *user, const char *pass);

/* Frees what bk_accounts_load allocated; NULL and a cleared struct are fine. */
void bk_accounts_free(struct bk_accounts *a);

/* Initialises *b and starts its WORKERS threads, each check sleeping
 * DELAY_MS. ACCOUNTS is borrowed for the process's life. Returns 0 or -errno. */
int bk_start(struct backend *b, int workers, long delay_ms, long sample_ms,
             const struct bk_accounts *accounts) __attribute__((warn_unused_result));

/* Queues the request read from FD; the queue takes the fd (closed by the
 * worker). Returns 0, or -ENOMEM (FD is then left to the caller). */
int bk_push(struct backend *b, int fd, const struct fw_req *req)
	__attribute__((warn_unused_result));

/* Counts a connection accepted, a malformed request. */
void bk_count_accept(struct backend *b);
void bk_count_proto_error(struct backend *b);

/* Records the queue length now (called every sample_ms by the loop). */
void bk_sample(struct backend *b);

/* Clears the counters and the series; the queue itself is left as it is. */
void bk_reset(struct backend *b);

/* Writes the counters as one JSON object (and a newline) to F. */
void bk_stats_json(struct backend *b, FILE *f);

#endif

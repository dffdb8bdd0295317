/* backend_work.c - the simulated backend's unbounded FIFO, its workers and
 * its counters.
 *
 * A worker takes the oldest request and checks it, sleeping delay_ms, even
 * when the client has already given up (its deadline passed, or its
 * connection closed): that is how a backend with clients that time out
 * collapses, and such a check is counted as wasted. */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE; standalone builds pass -D_GNU_SOURCE */
#endif
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include "backend.h"

static int64_t now_us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Whether the client on FD has closed its end (it stopped waiting). */
static int peer_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (poll(&p, 1, 0) <= 0)
		return 0;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Takes the oldest request, waiting for one. Called with b->mu held. */
static struct bk_item *take(struct backend *b)
{
	struct bk_item *it;

	while (b->head == NULL)
		pthread_cond_wait(&b->cv, &b->mu);
	it = b->head;
	b->head = it->next;
	if (b->head == NULL)
		b->tail = NULL;
	b->qlen--;
	b->busy++;
	if (b->busy > b->c.max_busy)
		b->c.max_busy = b->busy;
	return it;
}

static void *worker(void *arg)
{
	struct backend *b = arg;

	for (;;) {
		struct bk_item *it;
		int64_t wait_ms, now_real;
		int gone_deadline, gone_closed, late;
		char answer;

		pthread_mutex_lock(&b->mu);
		it = take(b);
		pthread_mutex_unlock(&b->mu);

		now_real = now_us(CLOCK_REALTIME) / 1000;
		gone_deadline = now_real >= it->req.deadline_ms;
		gone_closed = !gone_deadline && peer_closed(it->fd);
		wait_ms = (now_us(CLOCK_MONOTONIC) - it->enq_us) / 1000;
		sleep_ms(atomic_load(&b->delay_ms));
		answer = bk_accounts_check(b->accounts, it->req.user, it->req.pass);
		late = !gone_deadline && !gone_closed &&
		       now_us(CLOCK_REALTIME) / 1000 >= it->req.deadline_ms;
		/* A client that left makes this fail with EPIPE: nothing to do. */
		(void)send(it->fd, &answer, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(it->fd);

		pthread_mutex_lock(&b->mu);
		b->busy--;
		b->c.calls++;
		if (answer == FW_OK)
			b->c.successes++;
		else if (answer == FW_BAD)
			b->c.failures++;
		else
			b->c.unknown++;
		b->c.wasted += (uint64_t)(gone_deadline || gone_closed);
		b->c.wasted_deadline += (uint64_t)gone_deadline;
		b->c.wasted_closed += (uint64_t)gone_closed;
		b->c.late += (uint64_t)late;
		b->c.wait_ms[wait_ms < BK_WAIT_BUCKETS ? wait_ms : BK_WAIT_BUCKETS - 1]++;
		pthread_mutex_unlock(&b->mu);
		memset(it->req.pass, 0, sizeof(it->req.pass));
		free(it);
	}
	return NULL;
}

int bk_start(struct backend *b, int workers, long delay_ms, long sample_ms,
             const struct bk_accounts *accounts)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	atomic_store(&b->delay_ms, delay_ms);
	b->sample_ms = sample_ms;
	b->workers = workers;
	b->accounts = accounts;
	b->c.since_us = now_us(CLOCK_MONOTONIC);
	for (int i = 0; i < workers; i++) {
		pthread_t t;
		int rc = pthread_create(&t, NULL, worker, b);

		if (rc != 0)
			return -rc;
		pthread_detach(t);
	}
	return 0;
}

int bk_push(struct backend *b, int fd, const struct fw_req *req)
{
	struct bk_item *it = malloc(sizeof(*it));

	if (it == NULL)
		return -ENOMEM;
	it->fd = fd;
	it->enq_us = now_us(CLOCK_MONOTONIC);
	it->req = *req;
	it->next = NULL;
	pthread_mutex_lock(&b->mu);
	if (b->tail != NULL)
		b->tail->next = it;
	else
		b->head = it;
	b->tail = it;
	b->qlen++;
	if (b->qlen > b->c.max_queue)
		b->c.max_queue = b->qlen;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

void bk_count_accept(struct backend *b)
{
	pthread_mutex_lock(&b->mu);
	b->c.accepted++;
	pthread_mutex_unlock(&b->mu);
}

void bk_count_proto_error(struct backend *b)
{
	pthread_mutex_lock(&b->mu);
	b->c.proto_errors++;
	pthread_mutex_unlock(&b->mu);
}

void bk_sample(struct backend *b)
{
	pthread_mutex_lock(&b->mu);
	if (b->c.nseries < BK_SERIES_MAX)
		b->c.series[b->c.nseries++] = (uint32_t)b->qlen;
	pthread_mutex_unlock(&b->mu);
}

void bk_reset(struct backend *b)
{
	pthread_mutex_lock(&b->mu);
	memset(&b->c, 0, sizeof(b->c));
	b->c.since_us = now_us(CLOCK_MONOTONIC);
	b->c.max_queue = b->qlen;
	b->c.max_busy = b->busy;
	pthread_mutex_unlock(&b->mu);
}

/* The queue wait (ms) below which a fraction Q of the calls waited. */
static long wait_pct(const struct bk_counters *c, double q)
{
	uint64_t want, seen = 0;

	if (c->calls == 0)
		return 0;
	want = (uint64_t)(q * (double)c->calls);
	if (want < 1)
		want = 1;
	for (long i = 0; i < BK_WAIT_BUCKETS; i++) {
		seen += c->wait_ms[i];
		if (seen >= want)
			return i;
	}
	return BK_WAIT_BUCKETS - 1;
}

void bk_stats_json(struct backend *b, FILE *f)
{
	struct bk_counters *c;

	/* A copy: the series alone is 144 KB, and printing may block. */
	c = malloc(sizeof(*c));
	if (c == NULL) {
		fprintf(f, "{\"error\": \"out of memory\"}\n");
		return;
	}
	pthread_mutex_lock(&b->mu);
	*c = b->c;
	uint64_t qlen = b->qlen, busy = b->busy;
	pthread_mutex_unlock(&b->mu);

	fprintf(f,
	        "{\"workers\": %d, \"delay_ms\": %ld, \"elapsed_ms\": %lld, \"accepted\": %llu, "
	        "\"calls\": %llu, \"successes\": %llu, \"failures\": %llu, \"unknown_users\": %llu, "
	        "\"wasted\": %llu, \"wasted_deadline\": %llu, \"wasted_closed\": %llu, "
	        "\"late\": %llu, \"proto_errors\": %llu, \"max_queue\": %llu, \"max_busy\": %llu, "
	        "\"queue_now\": %llu, \"busy_now\": %llu, \"queue_wait_p50_ms\": %ld, "
	        "\"queue_wait_p99_ms\": %ld, \"sample_ms\": %ld, \"queue_series\": [",
	        b->workers, atomic_load(&b->delay_ms),
	        (long long)((now_us(CLOCK_MONOTONIC) - c->since_us) / 1000),
	        (unsigned long long)c->accepted, (unsigned long long)c->calls,
	        (unsigned long long)c->successes, (unsigned long long)c->failures,
	        (unsigned long long)c->unknown, (unsigned long long)c->wasted,
	        (unsigned long long)c->wasted_deadline, (unsigned long long)c->wasted_closed,
	        (unsigned long long)c->late, (unsigned long long)c->proto_errors,
	        (unsigned long long)c->max_queue, (unsigned long long)c->max_busy,
	        (unsigned long long)qlen, (unsigned long long)busy, wait_pct(c, 0.50),
	        wait_pct(c, 0.99), b->sample_ms);
	for (size_t i = 0; i < c->nseries; i++)
		fprintf(f, "%s%u", i ? "," : "", c->series[i]);
	fprintf(f, "]}\n");
	free(c);
}

/* flood_stats.c - the flood driver's samples (one per login, so that any
 * window of the run can be summed up afterwards), their percentiles, and
 * CPU time read from /proc: per process (utime + stime of /proc/PID/stat)
 * and for the machine (/proc/stat), once a second to tell when every core
 * was busy. */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE; standalone builds pass -D_GNU_SOURCE */
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "flood.h"

/* A second with the cores at least this busy counts as saturated. */
#define FL_SATURATED_PCT 95.0

static atomic_int load_stop;

void fl_samples_init(struct fl_samples *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
}

void fl_samples_add(struct fl_samples *s, const struct fl_sample *x)
{
	pthread_mutex_lock(&s->mu);
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 4096;
		struct fl_sample *nv = realloc(s->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			fprintf(stderr, "flood: out of memory\n");
			abort();
		}
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = *x;
	pthread_mutex_unlock(&s->mu);
}

void fl_samples_free(struct fl_samples *s)
{
	if (s == NULL)
		return;
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int by_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return (a > b) - (a < b);
}

/* The nearest-rank percentile Q of the N sorted values V, in ms. */
static double pct_ms(const uint32_t *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1] / 1000.0;
}

void fl_figures(struct fl_samples *s, uint32_t from_ms, uint32_t to_ms, long timeout_ms,
                struct fl_figures *out)
{
	uint32_t *lat;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->mu);
	lat = malloc((s->n ? s->n : 1) * sizeof(*lat));
	if (lat == NULL) {
		fprintf(stderr, "flood: out of memory\n");
		abort();
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct fl_sample *x = &s->v[i];

		if (x->t_ms < from_ms || x->t_ms >= to_ms)
			continue;
		out->attempts++;
		out->by_outcome[x->outcome < FL_NOUTCOME ? x->outcome : FL_OTHER]++;
		out->told += x->told;
		out->over_timeout += (uint64_t)x->lat_us > (uint64_t)timeout_ms * 1000;
		lat[n++] = x->lat_us;
	}
	pthread_mutex_unlock(&s->mu);
	qsort(lat, n, sizeof(*lat), by_u32);
	out->success_pct = out->attempts ? 100.0 * out->by_outcome[FL_OK] / out->attempts : 0;
	out->p50_ms = pct_ms(lat, n, 0.50);
	out->p99_ms = pct_ms(lat, n, 0.99);
	out->max_ms = n ? lat[n - 1] / 1000.0 : 0;
	free(lat);
}

/* utime + stime of PID in clock ticks, or 0 when it cannot be read. */
static unsigned long long proc_ticks(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	/* After ") ": state(3) ... utime is field 14, stime field 15. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return ut + st;
}

int fl_machine_ticks(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	*busy = *total = 0;
	if (f == NULL)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	for (int i = 0; i < 8; i++)
		*total += v[i];
	*busy = *total - v[3] - v[4]; /* idle, iowait */
	return 0;
}

void fl_cpu_snap(const struct fl_opts *o, struct fl_cpu_snap *out)
{
	struct timespec ts;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < o->ncpu; i++)
		out->proc[i] = proc_ticks(o->cpu_pid[i]);
	out->proc[o->ncpu] = proc_ticks((long)getpid());
	if (fl_machine_ticks(&out->busy, &out->total) != 0)
		out->busy = out->total = 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	out->mono_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fl_load_stop(void)
{
	atomic_store(&load_stop, 1);
}

void *fl_load_thread(void *arg)
{
	struct fl_load *l = arg;
	unsigned long long b0, t0, b1, t1;

	if (fl_machine_ticks(&b0, &t0) != 0)
		return NULL;
	while (!atomic_load(&load_stop)) {
		struct timespec ts = { 1, 0 };
		double pct;

		nanosleep(&ts, NULL);
		if (fl_machine_ticks(&b1, &t1) != 0 || t1 <= t0)
			continue;
		pct = 100.0 * (double)(b1 - b0) / (double)(t1 - t0);
		pthread_mutex_lock(&l->mu);
		if (l->seconds < (int)(sizeof(l->busy_pct) / sizeof(l->busy_pct[0])))
			l->busy_pct[l->seconds] = pct;
		l->seconds++;
		l->saturated += pct >= FL_SATURATED_PCT;
		pthread_mutex_unlock(&l->mu);
		b0 = b1;
		t0 = t1;
	}
	return NULL;
}

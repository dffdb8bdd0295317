/* top.c - the offender tables behind "authguardctl top" (see top.h).
 *
 * Each row keeps its totals and two rings of buckets: per minute for the
 * last hour and per hour for the last day. The rings move on lazily, when
 * the row is counted; a query reads only the buckets its row still holds.
 */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "top.h"

#define MINUTE_MS INT64_C(60000)

static uint32_t top_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h != 0 ? h : 1;
}

/* Moves the row's buckets on to minute m (>= its last), zeroing those
 * that the time in between passed over. */
static void advance(struct gov_top_row *r, int64_t m)
{
	int64_t x, h, last_h = r->minute / 60;

	if (m <= r->minute)
		return;
	for (x = r->minute + 1; x <= m && x <= r->minute + GOV_TOP_MINUTES; x++) {
		r->min_d[x % GOV_TOP_MINUTES] = 0;
		r->min_f[x % GOV_TOP_MINUTES] = 0;
	}
	for (h = last_h + 1; h <= m / 60 && h <= last_h + GOV_TOP_HOURS; h++) {
		r->hour_d[h % GOV_TOP_HOURS] = 0;
		r->hour_f[h % GOV_TOP_HOURS] = 0;
	}
	r->minute = m;
}

/* The row holding name, or -1. */
static int top_find(const struct gov_top *t, uint32_t h, const char *name)
{
	int i;

	for (i = t->head[h & (GOV_TOP_BUCKETS - 1)] - 1; i >= 0; i = t->rows[i].next - 1)
		if (t->rows[i].hash == h && strncmp(t->rows[i].name, name, GOV_TOP_NAME - 1) == 0)
			return i;
	return -1;
}

/* Takes row r out of its bucket. */
static void top_unlink(struct gov_top *t, int r)
{
	int16_t *p = &t->head[t->rows[r].hash & (GOV_TOP_BUCKETS - 1)];

	while (*p - 1 != r)
		p = &t->rows[*p - 1].next;
	*p = t->rows[r].next;
}

/* The row with the smallest count (scanned only when the cached one grew). */
static int top_min(struct gov_top *t)
{
	int i;

	if (!t->min_valid) {
		t->min = 0;
		for (i = 1; i < t->n; i++)
			if (t->rows[i].denials + t->rows[i].failures <
			    t->rows[t->min].denials + t->rows[t->min].failures)
				t->min = i;
		t->min_valid = 1;
	}
	return t->min;
}

/* Called on every denial, so a flood must not cost a scan per call: a known
 * name is found through its bucket, and a new one replaces the cached
 * minimum, which it then is itself (its count, 1, is no more than any
 * other's), so a flood of new names churns one row without scanning. */
void gov_top_count(struct gov_top *t, const char *name, int failure, int64_t now_ms)
{
	struct gov_top_row *row;
	uint32_t h;
	int i;

	if (name == NULL || name[0] == '\0')
		return;
	h = top_hash(name);
	i = top_find(t, h, name);
	if (i < 0) {
		if (t->n < GOV_TOP_SLOTS) {
			i = t->n++;
		} else {
			i = top_min(t);
			top_unlink(t, i);
		}
		row = &t->rows[i];
		memset(row, 0, sizeof(*row));
		row->hash = h;
		snprintf(row->name, sizeof(row->name), "%s", name);
		row->next = t->head[h & (GOV_TOP_BUCKETS - 1)];
		t->head[h & (GOV_TOP_BUCKETS - 1)] = (int16_t)(i + 1);
		t->min = i;
		t->min_valid = 1;
	} else if (i == t->min) {
		t->min_valid = 0;
	}
	row = &t->rows[i];
	advance(row, now_ms / MINUTE_MS);
	if (failure) {
		row->failures++;
		row->min_f[row->minute % GOV_TOP_MINUTES]++;
		row->hour_f[row->minute / 60 % GOV_TOP_HOURS]++;
	} else {
		row->denials++;
		row->min_d[row->minute % GOV_TOP_MINUTES]++;
		row->hour_d[row->minute / 60 % GOV_TOP_HOURS]++;
	}
}

void gov_top_since(const struct gov_top_row *r, int64_t since_ms, int64_t now_ms,
		   uint64_t *denials, uint64_t *failures)
{
	int64_t now_min = now_ms / MINUTE_MS, x, first, last_hour;

	*denials = *failures = 0;
	if (since_ms <= 0 || since_ms > GOV_TOP_SINCE_MAX_MS) {
		*denials = r->denials;
		*failures = r->failures;
		return;
	}
	if (r->hash == 0)
		return;
	if (since_ms <= GOV_TOP_MINUTES * MINUTE_MS) {
		/* Buckets from the one holding now - since to now's, those the
		 * row still has: within the hour before its last count. */
		first = (now_ms - since_ms) / MINUTE_MS;
		for (x = first; x <= now_min; x++) {
			if (x > r->minute || x <= r->minute - GOV_TOP_MINUTES)
				continue;
			*denials += r->min_d[x % GOV_TOP_MINUTES];
			*failures += r->min_f[x % GOV_TOP_MINUTES];
		}
		return;
	}
	first = (now_ms - since_ms) / (60 * MINUTE_MS);
	last_hour = r->minute / 60;
	for (x = first; x <= now_min / 60; x++) {
		if (x > last_hour || x <= last_hour - GOV_TOP_HOURS)
			continue;
		*denials += r->hour_d[x % GOV_TOP_HOURS];
		*failures += r->hour_f[x % GOV_TOP_HOURS];
	}
}

void gov_top_clear(struct gov_top *t)
{
	memset(t, 0, sizeof(*t));
}

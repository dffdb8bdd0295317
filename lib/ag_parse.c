/* ag_parse.c - strict parsers for the values of the option table: integers,
 * durations, rates, booleans, timestamps and list entries; and
 * ag_option_set, which parses a value as an option's type and stores it. */
#include "config.h"
#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ag_addr.h"
#include "ag_conf.h"
#include "ag_err.h"

#define MS_PER_S INT64_C(1000)
#define MS_PER_M (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_M)
#define MS_PER_D (24 * MS_PER_H)

#define GETGR_BUF_MAX (1024 * 1024)
#define QUOTE_MAX     48 /* bytes of a value echoed in a message */

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Reads the run of digits at s as a non-negative number. strtoull alone would
 * accept blanks, signs and "0x"; insisting on a digit first rules them out. */
static int digits(const char *s, uint64_t *out, const char **end)
{
	char *e = NULL;
	unsigned long long v;

	*out = 0;
	*end = s;
	if (!is_digit(*s))
		return AG_ERR_INVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno != 0 || e == s)
		return AG_ERR_INVAL;
	*out = v;
	*end = e;
	return 0;
}

int ag_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;
	const char *p = s;

	if (s == NULL || out == NULL)
		return AG_ERR_INVAL;
	if (*p == '-')
		p++;
	if (!is_digit(*p))
		return AG_ERR_INVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return AG_ERR_INVAL;
	if (v < min || v > max)
		return AG_ERR_INVAL;
	*out = v;
	return 0;
}

/* Unit at s: its size in ms, its rank (larger units rank higher, so that a
 * compound must go down strictly: "1h30m" but not "30m1h" or "1m1m") and
 * its length. 0 if s does not start with a unit. */
static int unit_at(const char *s, int64_t *ms, int *rank, size_t *len)
{
	/* "ms" before "m", so that the longer unit wins. */
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", MS_PER_S}, {"m", MS_PER_M}, {"h", MS_PER_H}, {"d", MS_PER_D}};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t l = strlen(units[i].name);

		if (strncmp(s, units[i].name, l) == 0) {
			*ms = units[i].ms;
			*rank = (int)i + 1;
			*len = l;
			return 1;
		}
	}
	return 0;
}

int ag_parse_duration(const char *s, int bare_ms, int64_t min, int64_t max, int64_t *out_ms)
{
	const char *p = s;
	int64_t total = 0;
	int last_rank = 6;

	if (s == NULL || out_ms == NULL || *s == '\0')
		return AG_ERR_INVAL;
	while (*p != '\0') {
		uint64_t n;
		const char *e;
		int64_t unit, part;
		int rank;
		size_t ulen;

		if (digits(p, &n, &e) != 0 || n > INT64_MAX)
			return AG_ERR_INVAL;
		if (*e == '\0' && p == s && bare_ms) {
			total = (int64_t)n;
			p = e;
			break;
		}
		if (!unit_at(e, &unit, &rank, &ulen) || rank >= last_rank)
			return AG_ERR_INVAL;
		if (__builtin_mul_overflow((int64_t)n, unit, &part) ||
		    __builtin_add_overflow(total, part, &total))
			return AG_ERR_INVAL;
		last_rank = rank;
		p = e + ulen;
	}
	if (total < min || total > max)
		return AG_ERR_INVAL;
	*out_ms = total;
	return 0;
}

int ag_parse_rate(const char *s, struct ag_rate *out)
{
	static const struct {
		const char *name;
		int64_t ms;
	} periods[] = {
	    {"s", MS_PER_S},
	    {"m", MS_PER_M},
	    {"min", MS_PER_M},
	    {"h", MS_PER_H},
	};
	uint64_t n;
	const char *e;
	size_t i;

	if (s == NULL || out == NULL)
		return AG_ERR_INVAL;
	if (digits(s, &n, &e) != 0 || n < 1 || n > INT64_MAX || *e != '/')
		return AG_ERR_INVAL;
	for (i = 0; i < sizeof(periods) / sizeof(periods[0]); i++) {
		if (strcmp(e + 1, periods[i].name) == 0) {
			out->count = (int64_t)n;
			out->period_ms = periods[i].ms;
			return 0;
		}
	}
	return AG_ERR_INVAL;
}

int ag_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t i;

	if (s == NULL || out == NULL)
		return AG_ERR_INVAL;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return AG_ERR_INVAL;
}

/* Two or four digits at s as a number; -1 if any is not a digit. */
static int fixed_digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[m - 1] + (m == 2 && leap);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar, counted
 * here rather than with timegm() so that no time zone state is involved. */
static int64_t days_since_epoch(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int ag_parse_utc(const char *s, int64_t *out_ms)
{
	int y, mo, d, h, mi, sec;

	if (s == NULL || out_ms == NULL || strlen(s) != 20)
		return AG_ERR_INVAL;
	if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
	    s[19] != 'Z')
		return AG_ERR_INVAL;
	y = fixed_digits(s, 4);
	mo = fixed_digits(s + 5, 2);
	d = fixed_digits(s + 8, 2);
	h = fixed_digits(s + 11, 2);
	mi = fixed_digits(s + 14, 2);
	sec = fixed_digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 59)
		return AG_ERR_INVAL;
	if (d > days_in_month(y, mo))
		return AG_ERR_INVAL;
	*out_ms =
	    ((days_since_epoch(y, mo, d) * 24 + h) * 60 + mi) * 60 * MS_PER_S + sec * MS_PER_S;
	return 0;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

int ag_parse_list_entry(const char *s, struct ag_list_entry *out)
{
	char cidr[128];
	const char *p;
	size_t len;
	int rc;

	if (out == NULL)
		return AG_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return AG_ERR_INVAL;
	for (p = s; *p != '\0' && !is_blank(*p); p++)
		;
	len = (size_t)(p - s);
	if (len == 0 || len >= sizeof(cidr))
		return AG_ERR_INVAL;
	memcpy(cidr, s, len);
	cidr[len] = '\0';
	rc = ag_cidr_parse(cidr, &out->cidr);
	if (rc != 0)
		goto out;
	if (*p == '\0')
		goto out;
	while (is_blank(*p))
		p++;
	rc = AG_ERR_INVAL;
	if (strncmp(p, "until", 5) != 0 || !is_blank(p[5]))
		goto out;
	p += 5;
	while (is_blank(*p))
		p++;
	rc = ag_parse_utc(p, &out->expires_ms);
	/* 0 means "never" in an entry; the epoch itself is no useful expiry. */
	if (rc == 0 && out->expires_ms == 0)
		rc = AG_ERR_INVAL;
out:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

void ag_format_duration(int64_t ms, char *buf, size_t cap)
{
	static const struct {
		int64_t ms;
		const char *name;
	} units[] = {{MS_PER_D, "d"}, {MS_PER_H, "h"}, {MS_PER_M, "m"}, {MS_PER_S, "s"}};
	size_t used = 0, i;

	if (buf == NULL || cap == 0)
		return;
	buf[0] = '\0';
	if (ms < 0) {
		snprintf(buf, cap, "%lldms", (long long)ms);
		return;
	}
	if (ms == 0) {
		snprintf(buf, cap, "0s");
		return;
	}
	/* Milliseconds only when whole seconds cannot express the value: "1500ms"
	 * reads better than "1s500ms". Above that, the largest units first. */
	if (ms % MS_PER_S != 0) {
		snprintf(buf, cap, "%lldms", (long long)ms);
		return;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]) && used < cap; i++) {
		int64_t n = ms / units[i].ms;
		int w;

		if (n == 0)
			continue;
		ms -= n * units[i].ms;
		w = snprintf(buf + used, cap - used, "%lld%s", (long long)n, units[i].name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* ---- option values ------------------------------------------------------- */

/* Values can come from anywhere the CLI or a PAM stack takes them, so what a
 * message echoes is bounded and escaped. */
void ag_quote_value(char *dst, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (dst == NULL || cap == 0)
		return;
	if (s == NULL)
		len = 0;
	for (i = 0; i < len && i < QUOTE_MAX && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\') {
			dst[o++] = (char)ch;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	if (i < len && o + 4 <= cap) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

void ag_option_describe(const struct ag_option *o, char *buf, size_t cap)
{
	char lo[32], hi[32];

	if (buf == NULL || cap == 0)
		return;
	buf[0] = '\0';
	if (o == NULL)
		return;
	ag_format_duration(o->min, lo, sizeof(lo));
	ag_format_duration(o->max, hi, sizeof(hi));
	switch (o->type) {
	case AG_T_STRING:
		snprintf(buf, cap, "text of at most %lld bytes", (long long)o->max);
		break;
	case AG_T_PATH:
		snprintf(buf, cap, "an absolute path of at most %lld bytes%s", (long long)o->max,
			 o->min == 0 ? ", or empty for off" : "");
		break;
	case AG_T_GROUP:
		snprintf(buf, cap, "an existing group name, or empty for root only");
		break;
	case AG_T_UINT:
		snprintf(buf, cap, "an integer from %lld to %lld%s%s", (long long)o->min,
			 (long long)o->max, o->words != NULL ? ", or " : "",
			 o->words != NULL ? o->words : "");
		break;
	case AG_T_DURATION:
		snprintf(buf, cap,
			 "a duration such as 30s or 1h30m (units ms s m h d) from %s to %s", lo,
			 hi);
		break;
	case AG_T_MSEC:
		snprintf(buf, cap, "a duration in ms (or with a unit ms s m h d) from %lld to %lld",
			 (long long)o->min, (long long)o->max);
		break;
	case AG_T_RATE:
		snprintf(buf, cap, "N/s, N/min or N/h with N from %lld to %lld, at most one per ms",
			 (long long)o->min, (long long)o->max);
		break;
	case AG_T_PERCENT:
		snprintf(buf, cap, "a percentage from %lld%% to %lld%%", (long long)o->min,
			 (long long)o->max);
		break;
	case AG_T_BOOL:
		snprintf(buf, cap, "yes, no, true, false, on, off, 1 or 0");
		break;
	case AG_T_ENUM:
		snprintf(buf, cap, "one of %s", o->words);
		break;
	case AG_T_FLAG:
		snprintf(buf, cap, "no value");
		break;
	case AG_T_LIST:
		snprintf(buf, cap, "CIDR or \"CIDR until YYYY-MM-DDTHH:MM:SSZ\"");
		break;
	}
}

enum { PROB_SYNTAX = 1, PROB_RANGE, PROB_OTHER };

struct problem {
	int kind;
	char what[AG_QUOTE_BUF + 40];
};

static int problem(struct problem *p, int kind, const char *value)
{
	char q[AG_QUOTE_BUF];

	ag_quote_value(q, sizeof(q), value, strlen(value));
	p->kind = kind;
	if (kind == PROB_RANGE)
		snprintf(p->what, sizeof(p->what), "'%s' is out of range", q);
	else
		snprintf(p->what, sizeof(p->what), "bad value '%s'", q);
	return AG_ERR_CONFIG;
}

static int set_string(char **slot, const struct ag_option *o, const char *v, struct problem *p)
{
	size_t len = strlen(v), i;
	char *copy;

	for (i = 0; i < len; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return problem(p, PROB_SYNTAX, v);
	}
	if (o->type == AG_T_PATH && len > 0 && v[0] != '/')
		return problem(p, PROB_SYNTAX, v);
	if ((int64_t)len < o->min)
		return problem(p, PROB_SYNTAX, v);
	if ((int64_t)len > o->max) {
		p->kind = PROB_RANGE;
		snprintf(p->what, sizeof(p->what), "value too long (%zu bytes)", len);
		return AG_ERR_CONFIG;
	}
	copy = strdup(v);
	if (copy == NULL)
		return AG_ERR_NOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

/* Resolves the admin group now, so that a typo fails the load with its line
 * rather than locking every admin out later. */
static int set_group(struct ag_conf *c, const struct ag_option *o, const char *v, struct problem *p)
{
	struct group gr, *found = NULL;
	char *buf = NULL, *name = NULL;
	long hint = sysconf(_SC_GETGR_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 4096;
	int rc, e = 0;

	/* Into a fresh string first, so that a refused value changes nothing. */
	rc = set_string(&name, o, v, p);
	if (rc != 0)
		goto out;
	while (v[0] != '\0' && !c->no_nss) {
		char *nb = realloc(buf, size);

		if (nb == NULL) {
			rc = AG_ERR_NOMEM;
			goto out;
		}
		buf = nb;
		e = getgrnam_r(v, &gr, buf, size, &found);
		if (e != ERANGE || size >= GETGR_BUF_MAX)
			break;
		size *= 2;
	}
	if (v[0] != '\0' && found == NULL && !c->no_nss) {
		char q[AG_QUOTE_BUF];

		ag_quote_value(q, sizeof(q), v, strlen(v));
		p->kind = PROB_OTHER;
		if (e == 0 || e == ENOENT || e == ESRCH)
			snprintf(p->what, sizeof(p->what), "unknown group '%s'", q);
		else
			snprintf(p->what, sizeof(p->what), "cannot look up group '%s': %s", q,
				 strerror(e));
		rc = AG_ERR_CONFIG;
		goto out;
	}
	free(c->admin_group);
	c->admin_group = name;
	name = NULL;
	c->has_admin_gid = found != NULL;
	c->admin_gid = found != NULL ? gr.gr_gid : 0;
out:
	free(name);
	free(buf);
	return rc;
}

static int set_rate(struct ag_rate *slot, const struct ag_option *o, const char *v,
		    struct problem *p)
{
	struct ag_rate r;

	if (ag_parse_rate(v, &r) != 0)
		return problem(p, PROB_SYNTAX, v);
	/* Below one per ms the emission interval would round to 0 ms. */
	if (r.count < o->min || r.count > o->max || r.count > r.period_ms)
		return problem(p, PROB_RANGE, v);
	*slot = r;
	return 0;
}

static int set_percent(int64_t *slot, const struct ag_option *o, const char *v, struct problem *p)
{
	char num[24];
	size_t len = strlen(v);
	int64_t n;

	if (len > 0 && v[len - 1] == '%')
		len--;
	if (len == 0 || len >= sizeof(num))
		return problem(p, PROB_SYNTAX, v);
	memcpy(num, v, len);
	num[len] = '\0';
	if (ag_parse_int(num, INT64_MIN, INT64_MAX, &n) != 0)
		return problem(p, PROB_SYNTAX, v);
	if (n < o->min || n > o->max)
		return problem(p, PROB_RANGE, v);
	*slot = n;
	return 0;
}

static int set_enum(int *slot, const struct ag_option *o, const char *v, struct problem *p)
{
	const char *w = o->words;
	size_t len = strlen(v);
	int idx = 0;

	while (w != NULL && *w != '\0') {
		const char *bar = strchr(w, '|');
		size_t wl = bar != NULL ? (size_t)(bar - w) : strlen(w);

		if (wl == len && memcmp(w, v, len) == 0) {
			*slot = idx;
			return 0;
		}
		idx++;
		w = bar != NULL ? bar + 1 : NULL;
	}
	return problem(p, PROB_SYNTAX, v);
}

/* The array and count an AG_T_LIST option appends to. */
static void list_slot(struct ag_conf *c, const struct ag_option *o, struct ag_list_entry ***arr,
		      size_t **n)
{
	if (o->offset == offsetof(struct ag_conf, allow)) {
		*arr = &c->allow;
		*n = &c->n_allow;
	} else {
		*arr = &c->deny;
		*n = &c->n_deny;
	}
}

static int append_list(struct ag_conf *c, const struct ag_option *o, const char *v,
		       struct problem *p)
{
	struct ag_list_entry e, **arr, *grown;
	size_t *n, cap;

	if (ag_parse_list_entry(v, &e) != 0)
		return problem(p, PROB_SYNTAX, v);
	list_slot(c, o, &arr, &n);
	if ((int64_t)*n >= o->max) {
		p->kind = PROB_OTHER;
		snprintf(p->what, sizeof(p->what), "too many entries (at most %lld)",
			 (long long)o->max);
		return AG_ERR_CONFIG;
	}
	/* The capacity follows from the count (8, then the next power of two),
	 * so it need not be stored: grow when the count reaches it. */
	cap = 0;
	if (*n == 0)
		cap = 8;
	else if (*n >= 8 && (*n & (*n - 1)) == 0)
		cap = *n * 2;
	if (cap != 0) {
		grown = realloc(*arr, cap * sizeof(**arr));
		if (grown == NULL)
			return AG_ERR_NOMEM;
		*arr = grown;
	}
	(*arr)[(*n)++] = e;
	return 0;
}

static int set_value(void *base, const struct ag_option *o, const char *v, struct problem *p)
{
	char *slot = (char *)base + o->offset;
	int64_t n;
	int b;

	switch (o->type) {
	case AG_T_STRING:
	case AG_T_PATH:
		return set_string((char **)(void *)slot, o, v, p);
	case AG_T_GROUP:
		if (o->scope != AG_SCOPE_CONF)
			return AG_ERR_INVAL;
		return set_group(base, o, v, p);
	case AG_T_UINT:
		/* The one word an integer option may take instead (max_inflight
		 * = auto) stores 0, which min >= 1 keeps from any number. */
		if (o->words != NULL && strcmp(v, o->words) == 0) {
			*(int64_t *)(void *)slot = 0;
			return 0;
		}
		if (ag_parse_int(v, INT64_MIN, INT64_MAX, &n) != 0)
			return problem(p, PROB_SYNTAX, v);
		if (n < o->min || n > o->max)
			return problem(p, PROB_RANGE, v);
		*(int64_t *)(void *)slot = n;
		return 0;
	case AG_T_DURATION:
	case AG_T_MSEC:
		if (ag_parse_duration(v, o->type == AG_T_MSEC, 0, INT64_MAX, &n) != 0)
			return problem(p, PROB_SYNTAX, v);
		if (n < o->min || n > o->max)
			return problem(p, PROB_RANGE, v);
		*(int64_t *)(void *)slot = n;
		return 0;
	case AG_T_RATE:
		return set_rate((struct ag_rate *)(void *)slot, o, v, p);
	case AG_T_PERCENT:
		return set_percent((int64_t *)(void *)slot, o, v, p);
	case AG_T_BOOL:
		if (ag_parse_bool(v, &b) != 0)
			return problem(p, PROB_SYNTAX, v);
		*(int *)(void *)slot = b;
		return 0;
	case AG_T_ENUM:
		return set_enum((int *)(void *)slot, o, v, p);
	case AG_T_FLAG:
		*(int *)(void *)slot = o->flag_value;
		return 0;
	case AG_T_LIST:
		if (o->scope != AG_SCOPE_CONF)
			return AG_ERR_INVAL;
		return append_list(base, o, v, p);
	}
	return AG_ERR_INVAL;
}

int ag_option_set(const struct ag_option *o, void *base, const char *value, char *why,
		  size_t whylen)
{
	struct problem p;
	int rc;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (o == NULL || base == NULL || value == NULL)
		return AG_ERR_INVAL;
	p.kind = 0;
	p.what[0] = '\0';
	rc = set_value(base, o, value, &p);
	if (rc == AG_ERR_CONFIG && why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", p.what);
	return rc;
}

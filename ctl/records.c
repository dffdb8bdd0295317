/* records.c - the governor's admin replies as records: logfmt lines
 * ("kind=NAME key=value ...", values escaped with ag_escape) parsed into
 * key/value records, printed for people (a block per kind: one record as
 * "key: value" lines, several as a table; status has a view of its own in
 * status_view.c) or as one JSON object.
 */
#include "config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ag_err.h"
#include "ag_escape.h"
#include "records.h"

/* Kinds that may repeat: always a JSON array. */
static const char *const repeating[] = {"step", "entry", "offender", "state"};

void ctl_die_nomem(void)
{
	fprintf(stderr, "authguardctl: out of memory\n");
	exit(1); /* EXIT_REFUSED */
}

void *ctl_xrealloc(void *p, size_t n)
{
	p = realloc(p, n != 0 ? n : 1);
	if (p == NULL)
		ctl_die_nomem();
	return p;
}

char *ctl_xstrndup(const char *s, size_t n)
{
	char *d = ctl_xrealloc(NULL, n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}


/* ---- parsing ------------------------------------------------------------- */

static void rec_free(struct ctl_rec *r)
{
	size_t j;

	for (j = 0; j < r->n; j++) {
		free(r->kv[j].key);
		free(r->kv[j].val);
		free(r->kv[j].raw);
	}
	free(r->kv);
	free(r->kind);
}

void ctl_recs_free(struct ctl_recs *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		rec_free(&rs->r[i]);
	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
}

static char *unescaped(const char *s, size_t len, size_t *outlen)
{
	char *raw = ctl_xstrndup(s, len);
	char *d = ctl_xrealloc(NULL, len + 1);

	/* Unescaping never lengthens: len + 1 always fits. */
	*outlen = ag_unescape(d, len + 1, raw);
	free(raw);
	return d;
}

/* Parses one line into *r. 0, or AG_ERR_PROTO for a line that is not
 * "kind=NAME key=value ...". */
static int parse_line(const char *line, size_t len, struct ctl_rec *r)
{
	size_t i = 0, klen;

	memset(r, 0, sizeof(*r));
	while (i < len) {
		size_t start, end;
		const char *eq;
		struct ctl_kv *kv;

		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && line[i] != ' ')
			i++;
		end = i;
		eq = memchr(line + start, '=', end - start);
		if (eq == NULL || eq == line + start)
			return AG_ERR_PROTO;
		klen = (size_t)(eq - (line + start));
		if (r->kind == NULL) {
			if (klen != 4 || memcmp(line + start, "kind", 4) != 0 ||
			    eq + 1 == line + end)
				return AG_ERR_PROTO;
			r->kind = unescaped(eq + 1, (size_t)(line + end - (eq + 1)), &klen);
			if (strlen(r->kind) != klen)
				return AG_ERR_PROTO;
			continue;
		}
		r->kv = ctl_xrealloc(r->kv, (r->n + 1) * sizeof(*r->kv));
		kv = &r->kv[r->n++];
		kv->key = unescaped(line + start, klen, &klen);
		kv->raw = ctl_xstrndup(eq + 1, (size_t)(line + end - (eq + 1)));
		kv->val = unescaped(kv->raw, strlen(kv->raw), &kv->vlen);
		if (strlen(kv->key) != klen)
			return AG_ERR_PROTO;
	}
	return r->kind != NULL ? 0 : AG_ERR_PROTO;
}

int ctl_recs_parse(const char *text, size_t len, struct ctl_recs *rs)
{
	size_t i = 0;
	int rc;

	memset(rs, 0, sizeof(*rs));
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		struct ctl_rec r;

		if (end > i) {
			rc = parse_line(text + i, end - i, &r);
			if (rc != 0) {
				rec_free(&r);
				return rc;
			}
			rs->r = ctl_xrealloc(rs->r, (rs->n + 1) * sizeof(*rs->r));
			rs->r[rs->n++] = r;
		}
		i = end + 1;
	}
	return 0;
}

/* ---- output --------------------------------------------------------------- */

/* For people, records are shown in groups: by kind, and the store's state
 * records (explain, show) by what they describe (their scope: pair, user,
 * trusted, source, agg), since each has fields of its own. */
static const char *group_of(const struct ctl_rec *r)
{
	const char *scope;

	if (strcmp(r->kind, "state") == 0 && (scope = ctl_rec_get(r, "scope")) != NULL &&
	    scope[0] != '\0')
		return scope;
	return r->kind;
}

static size_t count_kind(const struct ctl_recs *rs, const char *kind)
{
	size_t i, n = 0;

	for (i = 0; i < rs->n; i++)
		n += strcmp(rs->r[i].kind, kind) == 0;
	return n;
}

static size_t count_group(const struct ctl_recs *rs, const char *group)
{
	size_t i, n = 0;

	for (i = 0; i < rs->n; i++)
		n += strcmp(group_of(&rs->r[i]), group) == 0;
	return n;
}

/* 1 if kind was already printed (an earlier record has it). */
static int seen_before(const struct ctl_recs *rs, size_t upto, const char *kind)
{
	size_t i;

	for (i = 0; i < upto; i++)
		if (strcmp(rs->r[i].kind, kind) == 0)
			return 1;
	return 0;
}

static int group_seen(const struct ctl_recs *rs, size_t upto, const char *group)
{
	size_t i;

	for (i = 0; i < upto; i++)
		if (strcmp(group_of(&rs->r[i]), group) == 0)
			return 1;
	return 0;
}

/* What a person sees: the value itself when it is printable ASCII, else the
 * escaped form, so that nothing a peer chose reaches the terminal raw. */
static const char *shown(const struct ctl_kv *kv)
{
	size_t i;

	for (i = 0; i < kv->vlen; i++) {
		unsigned char ch = (unsigned char)kv->val[i];

		if (ch < 0x20 || ch > 0x7e)
			return kv->raw;
	}
	return kv->val;
}

static const char *shown_name(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			return "?";
	return s;
}

/* The scope of a record shown in its scope's group is the group's name. */
static int hidden(const struct ctl_rec *r, const char *key)
{
	return strcmp(key, "scope") == 0 && group_of(r) != r->kind;
}

static void print_single(const struct ctl_rec *r, const char *group)
{
	size_t j, w = 0;

	for (j = 0; j < r->n; j++)
		if (!hidden(r, r->kv[j].key) && strlen(r->kv[j].key) > w)
			w = strlen(r->kv[j].key);
	printf("%s:\n", shown_name(group));
	for (j = 0; j < r->n; j++)
		if (!hidden(r, r->kv[j].key))
			printf("  %s:%*s %s\n", shown_name(r->kv[j].key),
			       (int)(w - strlen(r->kv[j].key)), "", shown(&r->kv[j]));
}

/* A table: one column per key (in the order first seen), one row per record. */
static void print_table(const struct ctl_recs *rs, const char *group)
{
	const char **cols = NULL;
	size_t *width = NULL;
	size_t ncols = 0, i, j, c;

	for (i = 0; i < rs->n; i++) {
		if (strcmp(group_of(&rs->r[i]), group) != 0)
			continue;
		for (j = 0; j < rs->r[i].n; j++) {
			const char *k = rs->r[i].kv[j].key;

			if (hidden(&rs->r[i], k))
				continue;
			for (c = 0; c < ncols && strcmp(cols[c], k) != 0; c++)
				;
			if (c == ncols) {
				cols = ctl_xrealloc(cols, (ncols + 1) * sizeof(*cols));
				width = ctl_xrealloc(width, (ncols + 1) * sizeof(*width));
				cols[ncols] = k;
				width[ncols] = strlen(shown_name(k));
				ncols++;
			}
			if (strlen(shown(&rs->r[i].kv[j])) > width[c])
				width[c] = strlen(shown(&rs->r[i].kv[j]));
		}
	}
	printf("%s:\n ", shown_name(group));
	for (c = 0; c < ncols; c++)
		printf(" %-*s", c + 1 < ncols ? (int)width[c] + 1 : 0, shown_name(cols[c]));
	printf("\n");
	for (i = 0; i < rs->n; i++) {
		if (strcmp(group_of(&rs->r[i]), group) != 0)
			continue;
		printf(" ");
		for (c = 0; c < ncols; c++) {
			const char *v = "-";

			for (j = 0; j < rs->r[i].n; j++)
				if (strcmp(rs->r[i].kv[j].key, cols[c]) == 0)
					v = shown(&rs->r[i].kv[j]);
			printf(" %-*s", c + 1 < ncols ? (int)width[c] + 1 : 0, v);
		}
		printf("\n");
	}
	free(cols);
	free(width);
}

void ctl_print_human(const struct ctl_recs *rs)
{
	size_t i;
	int first = 1;

	for (i = 0; i < rs->n; i++) {
		const char *group = group_of(&rs->r[i]);

		if (group_seen(rs, i, group))
			continue;
		if (!first)
			printf("\n");
		first = 0;
		if (count_group(rs, group) == 1)
			print_single(&rs->r[i], group);
		else
			print_table(rs, group);
	}
}

/* Length of the valid UTF-8 sequence at s (at most left bytes), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Writes s[0..len) as a JSON string; bytes that are not UTF-8 become U+FFFD. */
static void json_str(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	putchar('"');
	while (i < len) {
		unsigned char ch = p[i];

		if (ch == '"' || ch == '\\') {
			printf("\\%c", ch);
			i++;
		} else if (ch < 0x20 || ch == 0x7f) {
			printf("\\u%04x", ch);
			i++;
		} else if ((n = utf8_len(p + i, len - i)) > 0) {
			fwrite(p + i, 1, n, stdout);
			i += n;
		} else {
			fputs("\\ufffd", stdout);
			i++;
		}
	}
	putchar('"');
}

/* A JSON number as the governor writes them: -?(0|[1-9][0-9]*)(.[0-9]+)?;
 * leading zeros would not be valid JSON. */
static int is_number(const char *s, size_t len)
{
	size_t i = 0, start;

	if (i < len && s[i] == '-')
		i++;
	if (i == len || (s[i] == '0' && i + 1 < len && s[i + 1] != '.'))
		return 0;
	for (start = i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		;
	if (i == start)
		return 0;
	if (i == len)
		return 1;
	if (s[i] != '.' || ++i == len)
		return 0;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static void json_rec(const struct ctl_rec *r)
{
	size_t j;

	putchar('{');
	for (j = 0; j < r->n; j++) {
		if (j > 0)
			fputs(", ", stdout);
		json_str(r->kv[j].key, strlen(r->kv[j].key));
		fputs(": ", stdout);
		if (is_number(r->kv[j].val, r->kv[j].vlen))
			fwrite(r->kv[j].val, 1, r->kv[j].vlen, stdout);
		else
			json_str(r->kv[j].val, r->kv[j].vlen);
	}
	putchar('}');
}

static int is_repeating(const char *kind)
{
	size_t i;

	for (i = 0; i < sizeof(repeating) / sizeof(repeating[0]); i++)
		if (strcmp(kind, repeating[i]) == 0)
			return 1;
	return 0;
}

void ctl_print_json(const struct ctl_recs *rs, const char *always)
{
	size_t i, j;
	int first = 1;

	putchar('{');
	/* A kind the command always answers with, even when there is none of
	 * it (lists: entry, top: offender): an empty array, not a missing key. */
	if (always != NULL && count_kind(rs, always) == 0) {
		fputs("\n  ", stdout);
		json_str(always, strlen(always));
		fputs(": []", stdout);
		first = 0;
	}
	for (i = 0; i < rs->n; i++) {
		const char *kind = rs->r[i].kind;
		/* A kind that should occur once but came twice is kept whole
		 * as an array rather than as duplicate keys. */
		int array = is_repeating(kind) || count_kind(rs, kind) > 1;

		if (seen_before(rs, i, kind))
			continue;
		fputs(first ? "\n  " : ",\n  ", stdout);
		first = 0;
		json_str(kind, strlen(kind));
		fputs(": ", stdout);
		if (!array) {
			json_rec(&rs->r[i]);
			continue;
		}
		fputs("[", stdout);
		for (j = i; j < rs->n; j++) {
			if (strcmp(rs->r[j].kind, kind) != 0)
				continue;
			fputs(j == i ? "\n    " : ",\n    ", stdout);
			json_rec(&rs->r[j]);
		}
		fputs("\n  ]", stdout);
	}
	fputs(first ? "}\n" : "\n}\n", stdout);
}

const char *ctl_rec_get(const struct ctl_rec *r, const char *key)
{
	size_t j;

	for (j = 0; j < r->n; j++)
		if (strcmp(r->kv[j].key, key) == 0)
			return r->kv[j].val;
	return NULL;
}

const struct ctl_rec *ctl_recs_find(const struct ctl_recs *rs, const char *kind)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].kind, kind) == 0)
			return &rs->r[i];
	return NULL;
}

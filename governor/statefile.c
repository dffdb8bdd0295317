/* statefile.c - saving and loading the state file (see statefile.h).
 *
 * Format (text, one record per line, stateio.h's codec):
 *   authguard-state 1 SAVED_AT_MS
 *   list allow|deny CIDR EXPIRES_MS COMMENT_HEX      (runtime entries only)
 *   store NAME                                        (struct gov_store_ops.name)
 *   ... the store's own lines, ending in "end N" ...
 * and nothing after. A store that keeps its state elsewhere writes "end 0".
 *
 * Loading is all or nothing: the header and list lines are parsed into a
 * buffer and room is reserved in the lists; the store's load parses its
 * section into fresh tables it swaps in only at a valid "end N"; if anything
 * follows, the store is reset again; only then are the list entries added,
 * which cannot fail after the reservation.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ag_err.h"
#include "stateio.h"
#include "statefile.h"

#define MAGIC	      "authguard-state"
#define STATE_VERSION 1
#define CIDR_TEXT_MAX 64

/* ---- save ---- */

static int put_list_entry(const struct gov_list_entry *e, void *arg)
{
	FILE *f = arg;
	char cidr[CIDR_TEXT_MAX];
	int rc;

	if (e->origin != GOV_ORIGIN_RUNTIME)
		return 0;
	rc = ag_cidr_format(&e->cidr, cidr, sizeof(cidr));
	if (rc != 0)
		return rc;
	if (fprintf(f, "list %s %s %lld ", e->kind == GOV_LIST_DENY ? "deny" : "allow", cidr,
		    (long long)e->expires_ms) < 0)
		return AG_ERR_IO;
	rc = gov_sio_put_hex(f, e->comment, strnlen(e->comment, sizeof(e->comment)));
	if (rc == 0 && fputc('\n', f) == EOF)
		rc = AG_ERR_IO;
	return rc;
}

static int write_all(FILE *f, struct gov_store *s, const struct gov_lists *l, int64_t now)
{
	const char *name = s->ops != NULL && s->ops->name != NULL ? s->ops->name : "none";
	int rc;

	if (fprintf(f, "%s %d %lld\n", MAGIC, STATE_VERSION, (long long)now) < 0)
		return AG_ERR_IO;
	rc = l != NULL ? gov_lists_each(l, now, put_list_entry, f) : 0;
	if (rc != 0)
		return rc;
	if (fprintf(f, "store %s\n", name) < 0)
		return AG_ERR_IO;
	if (s->ops != NULL && s->ops->save != NULL)
		rc = s->ops->save(s->ctx, f, now);
	else if (fputs("end 0\n", f) == EOF)
		rc = AG_ERR_IO;
	if (rc == 0 && (fflush(f) != 0 || ferror(f)))
		rc = AG_ERR_IO;
	if (rc == 0 && fsync(fileno(f)) != 0)
		rc = AG_ERR_IO;
	return rc;
}

/* Makes the rename durable; failing here loses nothing already written. */
static void sync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t len = slash == NULL ? 1 : (slash == path ? 1 : (size_t)(slash - path));
	int fd;

	if (len >= sizeof(dir))
		return;
	memcpy(dir, slash == NULL ? "." : path, len);
	dir[len] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

int gov_state_save(const char *path, struct gov_store *s, const struct gov_lists *l, int64_t now)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, rc = 0;

	if (path == NULL || path[0] == '\0' || s == NULL)
		return AG_ERR_INVAL;
	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		return AG_ERR_NOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0) {
		rc = AG_ERR_SYS;
		goto out;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		rc = AG_ERR_SYS;
		goto out;
	}
	fd = -1;
	rc = write_all(f, s, l, now);
	if (fclose(f) != 0 && rc == 0)
		rc = AG_ERR_IO;
	f = NULL;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = AG_ERR_SYS;
	if (rc == 0)
		sync_dir(path);
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* ---- load ---- */

struct pending {
	struct gov_list_entry *e;
	size_t n, cap;
};

static int parse_list(char **tok, int n, int64_t now, struct pending *p)
{
	struct gov_list_entry e;
	struct gov_list_entry *grown;
	int64_t exp;

	memset(&e, 0, sizeof(e));
	if (n != 5)
		return AG_ERR_PROTO;
	if (strcmp(tok[1], "allow") == 0)
		e.kind = GOV_LIST_ALLOW;
	else if (strcmp(tok[1], "deny") == 0)
		e.kind = GOV_LIST_DENY;
	else
		return AG_ERR_PROTO;
	if (ag_cidr_parse(tok[2], &e.cidr) != 0 || gov_sio_int(tok[3], 0, INT64_MAX, &exp) != 0 ||
	    gov_sio_unhex(tok[4], e.comment, sizeof(e.comment)) != 0)
		return AG_ERR_PROTO;
	e.origin = GOV_ORIGIN_RUNTIME;
	e.expires_ms = exp;
	if (exp != 0 && now >= exp)
		return 0;
	if (p->n >= GOV_LISTS_MAX)
		return AG_ERR_PROTO;
	if (p->n == p->cap) {
		size_t cap = p->cap == 0 ? 64 : 2 * p->cap;

		grown = realloc(p->e, cap * sizeof(*grown));
		if (grown == NULL)
			return AG_ERR_NOMEM;
		p->e = grown;
		p->cap = cap;
	}
	p->e[p->n++] = e;
	return 0;
}

/* Reads the header and the list lines, up to and including "store NAME". */
static int read_head(FILE *f, int64_t now, struct pending *p, char *name, size_t cap)
{
	char buf[GOV_STATE_LINE_MAX], *tok[GOV_STATE_TOK_MAX];
	int64_t v;
	int n, rc;

	rc = gov_sio_getline(f, buf, sizeof(buf));
	if (rc == 0)
		rc = gov_sio_split(buf, tok, GOV_STATE_TOK_MAX, &n);
	if (rc != 0 || n != 3 || strcmp(tok[0], MAGIC) != 0 ||
	    gov_sio_int(tok[1], STATE_VERSION, STATE_VERSION, &v) != 0 ||
	    gov_sio_int(tok[2], 0, INT64_MAX, &v) != 0)
		return rc == AG_ERR_IO || rc == AG_ERR_NOMEM ? rc : AG_ERR_PROTO;
	for (;;) {
		rc = gov_sio_getline(f, buf, sizeof(buf));
		if (rc == AG_ERR_NOTFOUND)
			return AG_ERR_PROTO;
		if (rc == 0)
			rc = gov_sio_split(buf, tok, GOV_STATE_TOK_MAX, &n);
		if (rc != 0)
			return rc;
		if (strcmp(tok[0], "list") == 0) {
			rc = parse_list(tok, n, now, p);
			if (rc != 0)
				return rc;
			continue;
		}
		if (strcmp(tok[0], "store") != 0 || n != 2 || strlen(tok[1]) >= cap)
			return AG_ERR_PROTO;
		strcpy(name, tok[1]);
		return 0;
	}
}

/* Passes over a section this store does not read, checking its "end N". */
static int skip_section(FILE *f)
{
	char buf[GOV_STATE_LINE_MAX], *tok[GOV_STATE_TOK_MAX];
	int64_t lines = 0, want;
	int n, rc;

	for (;;) {
		rc = gov_sio_getline(f, buf, sizeof(buf));
		if (rc == AG_ERR_NOTFOUND)
			return AG_ERR_PROTO;
		if (rc == 0)
			rc = gov_sio_split(buf, tok, GOV_STATE_TOK_MAX, &n);
		if (rc != 0)
			return rc;
		if (strcmp(tok[0], "end") == 0)
			break;
		lines++;
	}
	if (n != 2 || gov_sio_int(tok[1], 0, INT64_MAX, &want) != 0 || want != lines)
		return AG_ERR_PROTO;
	return 0;
}

static int at_eof(FILE *f)
{
	char buf[GOV_STATE_LINE_MAX];
	int rc = gov_sio_getline(f, buf, sizeof(buf));

	return rc == AG_ERR_NOTFOUND ? 0 : (rc == AG_ERR_IO ? rc : AG_ERR_PROTO);
}

static int load_body(FILE *f, struct gov_store *s, struct gov_lists *l, int64_t now,
		     struct pending *p)
{
	char name[64];
	int mine = 0, rc;
	size_t i;

	rc = read_head(f, now, p, name, sizeof(name));
	if (rc == 0 && l != NULL)
		rc = gov_lists_reserve(l, p->n);
	if (rc != 0)
		return rc;
	mine = s->ops != NULL && s->ops->load != NULL && s->ops->name != NULL &&
	       strcmp(name, s->ops->name) == 0;
	rc = mine ? s->ops->load(s->ctx, f, now) : skip_section(f);
	if (rc != 0)
		return rc; /* a failed store load took nothing */
	rc = at_eof(f);
	if (rc != 0) {
		/* The store took its section whole: take it back. */
		if (mine && s->ops->reset != NULL)
			(void)s->ops->reset(s->ctx, GOV_RESET_ALL, NULL, NULL);
		return rc;
	}
	for (i = 0; l != NULL && i < p->n; i++) {
		rc = gov_lists_add(l, p->e[i].kind, &p->e[i].cidr, p->e[i].expires_ms,
				   p->e[i].comment);
		if (rc != 0)
			return rc; /* cannot happen after gov_lists_reserve */
	}
	return 0;
}

int gov_state_load(const char *path, struct gov_store *s, struct gov_lists *l, int64_t now)
{
	struct pending p = {NULL, 0, 0};
	FILE *f;
	int rc;

	if (path == NULL || s == NULL)
		return AG_ERR_INVAL;
	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? AG_ERR_NOTFOUND : AG_ERR_SYS;
	rc = load_body(f, s, l, now, &p);
	fclose(f);
	free(p.e);
	return rc;
}

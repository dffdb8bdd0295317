/* backend_accounts.c - the simulated backend's accounts: "user:password"
 * lines read once at start-up, looked up with bsearch. */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE; standalone builds pass -D_GNU_SOURCE */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"

static int by_user(const void *x, const void *y)
{
	const struct bk_account *a = x, *b = y;

	return strcmp(a->user, b->user);
}

void bk_accounts_free(struct bk_accounts *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].user);
		free(a->v[i].pass);
	}
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* Adds USER and PASS to *a, growing it. Returns 0 or -ENOMEM. */
static int add(struct bk_accounts *a, size_t *cap, const char *user, const char *pass)
{
	if (a->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct bk_account *nv = realloc(a->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		a->v = nv;
		*cap = ncap;
	}
	a->v[a->n].user = strdup(user);
	a->v[a->n].pass = strdup(pass);
	if (a->v[a->n].user == NULL || a->v[a->n].pass == NULL) {
		free(a->v[a->n].user);
		free(a->v[a->n].pass);
		return -ENOMEM;
	}
	a->n++;
	return 0;
}

int bk_accounts_load(const char *path, struct bk_accounts *out)
{
	char line[FW_USER_MAX + FW_PASS_MAX + 4];
	size_t cap = 0, lineno = 0;
	FILE *f;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "backend: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strcspn(line, "\n");
		char *colon;

		lineno++;
		if (line[len] != '\n' && !feof(f)) {
			fprintf(stderr, "backend: %s:%zu: line too long\n", path, lineno);
			goto out;
		}
		line[len] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		if (colon == NULL || colon == line || colon - line > FW_USER_MAX ||
		    strlen(colon + 1) > FW_PASS_MAX) {
			fprintf(stderr, "backend: %s:%zu: expected user:password\n", path, lineno);
			goto out;
		}
		*colon = '\0';
		if (add(out, &cap, line, colon + 1) != 0) {
			fprintf(stderr, "backend: out of memory\n");
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "backend: %s: read error\n", path);
		goto out;
	}
	qsort(out->v, out->n, sizeof(*out->v), by_user);
	for (size_t i = 1; i < out->n; i++)
		if (strcmp(out->v[i - 1].user, out->v[i].user) == 0) {
			fprintf(stderr, "backend: %s: user %s listed twice\n", path, out->v[i].user);
			goto out;
		}
	rc = 0;
out:
	fclose(f);
	if (rc != 0)
		bk_accounts_free(out);
	return rc;
}

char bk_accounts_check(const struct bk_accounts *a, const char *user, const char *pass)
{
	struct bk_account key = { (char *)(uintptr_t)user, NULL };
	const struct bk_account *hit;

	hit = a->n ? bsearch(&key, a->v, a->n, sizeof(*a->v), by_user) : NULL;
	if (hit == NULL)
		return FW_UNKNOWN;
	return strcmp(hit->pass, pass) == 0 ? FW_OK : FW_BAD;
}

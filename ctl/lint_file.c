/* lint_file.c - the files "authguardctl lint" reads: a service file, the
 * target of an @include, and the services in /etc/pam.d that use the
 * module. Kept apart from lint.c so that the checker stays I/O-free.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ag_err.h"
#include "lint.h"

#define PAM_DIR "/etc/pam.d"

int ag_lint_read_file(const char *path, char **text)
{
	FILE *f;
	char *buf = NULL;
	size_t len;
	int rc = 0;

	*text = NULL;
	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT || errno == ENOTDIR ? AG_ERR_NOTFOUND : AG_ERR_IO;
	buf = malloc(AG_LINT_MAX_FILE + 1);
	if (buf == NULL) {
		rc = AG_ERR_NOMEM;
		goto out;
	}
	len = fread(buf, 1, AG_LINT_MAX_FILE + 1, f);
	if (ferror(f)) {
		rc = AG_ERR_IO;
		goto out;
	}
	if (len > AG_LINT_MAX_FILE) {
		rc = AG_ERR_TOOBIG;
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		rc = AG_ERR_INVAL;
		goto out;
	}
	buf[len] = '\0';
	*text = buf;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int try_path(const char *dir, size_t dlen, const char *name, char **path, char **text)
{
	char *p = malloc(dlen + strlen(name) + 2);
	int rc;

	if (p == NULL)
		return AG_ERR_NOMEM;
	if (dlen > 0)
		sprintf(p, "%.*s/%s", (int)dlen, dir, name);
	else
		strcpy(p, name);
	rc = ag_lint_read_file(p, text);
	if (rc != 0) {
		free(p);
		return rc;
	}
	*path = p;
	return 0;
}

int ag_lint_fs_read(void *ctx, const char *name, const char *from, char **path, char **text)
{
	const char *slash = strrchr(from, '/');
	int rc;

	(void)ctx;
	*path = NULL;
	*text = NULL;
	if (name[0] == '/')
		return try_path("", 0, name, path, text);
	rc = slash != NULL ? try_path(from, (size_t)(slash - from), name, path, text)
			   : try_path(".", 1, name, path, text);
	if (rc == AG_ERR_NOTFOUND)
		rc = try_path(PAM_DIR, strlen(PAM_DIR), name, path, text);
	return rc;
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

int ag_lint_discover(const char *dir, char ***paths, size_t *n)
{
	DIR *d;
	struct dirent *e;
	char **v = NULL, *text = NULL, *p = NULL;
	size_t k = 0, i;
	int rc = 0;

	*paths = NULL;
	*n = 0;
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? AG_ERR_NOTFOUND : AG_ERR_IO;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char **nv;

		if (e->d_name[0] == '.')
			continue;
		p = malloc(strlen(dir) + strlen(e->d_name) + 2);
		if (p == NULL) {
			rc = AG_ERR_NOMEM;
			goto out;
		}
		sprintf(p, "%s/%s", dir, e->d_name);
		/* Directories, sockets and unreadable files are no service files. */
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || ag_lint_read_file(p, &text) != 0 ||
		    strstr(text, "pam_authguard") == NULL) {
			free(text);
			text = NULL;
			free(p);
			p = NULL;
			continue;
		}
		free(text);
		text = NULL;
		nv = realloc(v, (k + 1) * sizeof(*nv));
		if (nv == NULL) {
			rc = AG_ERR_NOMEM;
			goto out;
		}
		v = nv;
		v[k++] = p;
		p = NULL;
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), name_cmp);
out:
	free(p);
	closedir(d);
	if (rc != 0) {
		for (i = 0; i < k; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	*paths = v;
	*n = k;
	return 0;
}

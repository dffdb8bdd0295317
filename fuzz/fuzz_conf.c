/* fuzz_conf.c - libFuzzer target: the input as an authguard.conf, and the
 * same bytes split on spaces as PAM module arguments. Checks, beyond "no
 * crash", that every refusal explains itself and every acceptance passes the
 * cross-option checks. */
#include "config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ag_conf.h"
#include "ag_err.h"

#define FUZZ_MAX_INPUT 65536
#define FUZZ_MAX_ARGS  64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_file(const uint8_t *data, size_t size)
{
	struct ag_conf c;
	char err[AG_ERRBUF];
	FILE *f;
	int rc;

	if (ag_conf_init(&c) != 0)
		abort();
	f = fmemopen((void *)(uintptr_t)data, size, "r");
	if (f != NULL) {
		rc = ag_conf_load_fp(&c, f, "fuzz", err, sizeof(err));
		fclose(f);
		if (rc != 0 && err[0] == '\0')
			abort();
		if (rc == 0 && ag_conf_check(&c, NULL, err, sizeof(err)) != 0)
			abort();
		if (c.n_allow > AG_LIST_MAX || c.n_deny > AG_LIST_MAX)
			abort();
	}
	ag_conf_free(&c);
}

static void fuzz_args(const uint8_t *data, size_t size)
{
	const char *argv[FUZZ_MAX_ARGS];
	struct ag_modargs a;
	char err[AG_ERRBUF];
	char *copy = malloc(size + 1), *p, *save = NULL;
	int argc = 0, rc;

	if (copy == NULL)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = strtok_r(copy, " ", &save); p != NULL && argc < FUZZ_MAX_ARGS;
	     p = strtok_r(NULL, " ", &save))
		argv[argc++] = p;
	rc = ag_modargs_parse(&a, argc, argv, err, sizeof(err));
	if (rc != 0 && (err[0] == '\0' || a.socket != NULL || a.conf != NULL))
		abort();
	if (rc == 0 && (a.timeout_ms < 1 || a.timeout_ms > 60000 || a.queue_wait_ms < 0 ||
			a.queue_wait_ms > 600000 || (a.socket != NULL && a.socket[0] != '/')))
		abort();
	ag_modargs_free(&a);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	fuzz_file(data, size);
	fuzz_args(data, size);
	return 0;
}

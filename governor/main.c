/* main.c - authguard-governor: options, configuration, then the loop.
 *
 * Never daemonizes: systemd runs it (Type=notify). Without -f it logs to
 * syslog, with -f to stderr.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "ag_conf.h"
#include "ag_err.h"
#include "gov.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: " GOV_IDENT " [-c FILE] [-d] [-f] [-t] [-h]\n"
		   "  -c FILE  configuration file (default " AG_DEFAULT_CONF ")\n"
		   "  -d       log debug lines too (every connection: busy hosts log a lot)\n"
		   "  -f       stay in the foreground and log to stderr\n"
		   "  -t       check the configuration and exit\n"
		   "  -h       show this help\n");
}

/* Loads path over the defaults into *c. A missing file leaves the defaults
 * (*missing set); any other error is printed as "FILE:LINE: ...". */
static int load_conf(struct ag_conf *c, const char *path, int *missing)
{
	char err[AG_ERRBUF] = "";
	int rc;

	*missing = 0;
	rc = ag_conf_init(c);
	if (rc < 0) {
		fprintf(stderr, GOV_IDENT ": %s\n", ag_strerror(rc));
		return rc;
	}
	rc = ag_conf_load(c, path, err, sizeof(err));
	if (rc == AG_ERR_NOTFOUND) {
		/* The load may have left *c half-filled: start again from the
		 * defaults. */
		ag_conf_free(c);
		*missing = 1;
		rc = ag_conf_init(c);
		if (rc < 0)
			fprintf(stderr, GOV_IDENT ": %s\n", ag_strerror(rc));
		return rc;
	}
	if (rc < 0)
		fprintf(stderr, GOV_IDENT ": %s\n", err[0] != '\0' ? err : ag_strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = AG_DEFAULT_CONF;
	struct ag_conf *conf = NULL;
	static struct gov g; /* one context; static only to keep it off the stack */
	int opt, foreground = 0, check = 0, debug = 0, missing = 0, status = 1, rc;

	while ((opt = getopt(argc, argv, "c:dfth")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			check = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fprintf(stderr, GOV_IDENT ": libsodium failed to initialise\n");
		return 1;
	}
	conf = calloc(1, sizeof(*conf));
	if (conf == NULL) {
		fprintf(stderr, GOV_IDENT ": out of memory\n");
		return 1;
	}
	if (load_conf(conf, path, &missing) < 0)
		goto out;
	if (check) {
		if (missing)
			fprintf(stderr, GOV_IDENT ": %s not found: built-in defaults\n", path);
		printf("config OK\n");
		status = 0;
		goto out;
	}
	if (gov_log_open(GOV_IDENT, foreground) < 0)
		fprintf(stderr, GOV_IDENT ": cannot reach syslog, logging to stderr\n");
	gov_log_limits(conf->log_burst, conf->log_interval_ms);
	if (debug)
		gov_log_set_level(LOG_DEBUG);
	if (missing)
		gov_log(LOG_NOTICE, "%s not found: using built-in defaults", path);
	rc = gov_init(&g, conf, path, foreground);
	conf = NULL; /* g owns it now */
	if (rc < 0 && !foreground)
		fprintf(stderr, GOV_IDENT ": start-up failed: %s (see the log)\n", ag_strerror(rc));
	if (rc == 0)
		rc = gov_run(&g);
	status = rc == 0 ? 0 : 1;
	gov_free(&g);
	gov_log_close();
out:
	if (conf != NULL) {
		ag_conf_free(conf);
		free(conf);
	}
	return status;
}

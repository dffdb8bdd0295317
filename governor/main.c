/* main.c - authguard-governor: options, configuration, then the loop.
 *
 * Never daemonizes: systemd runs it (Type=notify). Without -f it logs to
 * syslog, with -f to stderr.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "ag_conf.h"
#include "ag_err.h"
#include "ag_fleetkey.h"
#include "gov.h"
#include "log.h"
#include "store_redis.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: " GOV_IDENT " [-c FILE] [-d] [-f] [-t] [-h]\n"
		   "       " GOV_IDENT " --keygen FILE\n"
		   "  -c FILE  configuration file (default " AG_DEFAULT_CONF ")\n"
		   "  -d       log debug lines too (every connection: busy hosts log a lot)\n"
		   "  -f       stay in the foreground and log to stderr\n"
		   "  -t       check the configuration (and the Redis store's fleet key) and exit\n"
		   "  --keygen FILE\n"
		   "           make a new fleet key for [store] hash_key_file (mode 0600; never\n"
		   "           overwrites) and print its fingerprint; copy it to every host\n"
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

/* --keygen FILE */
static int keygen(const char *path)
{
	char err[AG_ERRBUF] = "", fp[AG_FLEETKEY_FP_LEN + 1];
	struct ag_fleetkey k;
	int rc;

	rc = ag_fleetkey_generate(path, err, sizeof(err));
	if (rc == 0)
		rc = ag_fleetkey_load(path, &k, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, GOV_IDENT ": --keygen: %s\n", err[0] != '\0' ? err : ag_strerror(rc));
		return 1;
	}
	ag_fleetkey_fingerprint(&k, fp);
	ag_fleetkey_wipe(&k);
	printf("wrote %s (fingerprint %s): set [store] hash_key_file to it and copy it, "
	       "mode 0600, to every host that shares the Redis\n",
	       path, fp);
	return 0;
}

/* -t with backend = redis: the password file and the fleet key must load. */
static int check_redis(const struct ag_conf *c)
{
	char err[AG_ERRBUF] = "", fp[AG_FLEETKEY_FP_LEN + 1];
	int rc;

	if (c->backend != AG_BACKEND_REDIS)
		return 0;
	rc = gov_store_redis_check(c, fp, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, GOV_IDENT ": [store] %s\n", err[0] != '\0' ? err : ag_strerror(rc));
		return rc;
	}
	printf("fleet key %s: fingerprint %s\n", c->hash_key_file, fp);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"keygen", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *keyfile = NULL;
	const char *path = AG_DEFAULT_CONF;
	struct ag_conf *conf = NULL;
	static struct gov g; /* one context; static only to keep it off the stack */
	int opt, foreground = 0, check = 0, debug = 0, missing = 0, status = 1, rc;

	while ((opt = getopt_long(argc, argv, "c:dfth", longopts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			keyfile = optarg;
			break;
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
	if (keyfile != NULL)
		return keygen(keyfile);
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
		if (check_redis(conf) < 0)
			goto out;
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

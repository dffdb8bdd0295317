/* authguardctl.c - show and steer the governor.
 *
 * Sends one ADMIN request over the privileged socket and prints the REPLY
 * frames that come back: lines of logfmt records ("kind=NAME key=value ...",
 * values escaped with ag_escape), as text for people or as one JSON object.
 * Every wait is bounded (2 s for the whole exchange, at most 1024 frames).
 * Exit codes: 0 ok, 1 refused or not found (lint: a problem found), 2 usage,
 * 3 governor unreachable. "lint" reads PAM files only (ctl/lint.c).
 */
#include "config.h"
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include "ag_client.h"
#include "ag_conf.h"
#include "ag_err.h"
#include "ag_escape.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "admin_req.h"
#include "lint.h"
#include "records.h"
#include "status_view.h"
#include "watch.h"

#define PROG	   "authguardctl"
#define TIMEOUT_MS 2000
#define MAX_FRAMES 1024
#define TOP_SINCE_MAX_MS (24LL * 3600 * 1000) /* the governor keeps a day of counts */

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

struct reply {
	char *text; /* REPLY texts, concatenated */
	size_t len;
	int32_t code; /* ERROR: its code, else 0 */
	char errtext[AG_TEXT_MAX + 1];
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: " PROG " [-s SOCKET] [--json] COMMAND\n"
	    "\n"
	    "Commands:\n"
	    "  status                  the governor's state, load and limits\n"
	    "  metrics                 the same counters in Prometheus text format\n"
	    "  explain USER ADDR       how an attempt by USER from ADDR would be decided\n"
	    "  reset user USER         forget USER's failures and holds\n"
	    "  reset source ADDR       forget what is held against ADDR\n"
	    "  reset pair USER ADDR    forget the failures of USER from ADDR\n"
	    "  reset all               forget all failures and holds\n"
	    "  show user USER          what is stored for USER (failures, cap, trusted sources)\n"
	    "  show source ADDR        what is stored for ADDR\n"
	    "  show pair USER ADDR     what is stored for USER from ADDR\n"
	    "  allow CIDR [--ttl D] [--comment TEXT]\n"
	    "                          add CIDR to the allow list (D: 30m, 1h, 7d; none: never\n"
	    "                          expires)\n"
	    "  deny CIDR [--ttl D] [--comment TEXT]\n"
	    "                          add CIDR to the deny list\n"
	    "  unlist CIDR             remove CIDR from both lists\n"
	    "  lists                   the allow and deny entries\n"
	    "  reload                  read the configuration again, as on SIGHUP\n"
	    "  top [N] [--by denials|failures] [--since D]\n"
	    "                          the N (default 10) sources and users with the most\n"
	    "                          denials (or failures) since start or reset all, or\n"
	    "                          over the last D (up to 24h: 15m, 2h)\n"
	    "  watch [--interval MS] [--count N]\n"
	    "                          a live view of the governor (q quits)\n"
	    "  lint [FILE...]          check PAM service files (default: those in /etc/pam.d\n"
	    "                          that mention pam_authguard); exit 1 on any problem\n"
	    "\n"
	    "Options:\n"
	    "  -s, --socket SOCKET     the governor's privileged socket (default " AG_DEFAULT_SOCKET
	    ")\n"
	    "      --json              print one JSON object\n"
	    "      --ttl D             allow/deny: the entry expires after D (units required)\n"
	    "      --comment TEXT      allow/deny: a note kept with the entry (< 128 bytes)\n"
	    "      --by KEY            top: sort by denials (default) or failures\n"
	    "      --since D           top: count over the last D only (up to 24h)\n"
	    "  -h, --help              show this help\n"
	    "\n"
	    "Exit status: 0 ok, 1 refused or not found (lint: a problem found), 2 usage,\n"
	    "3 governor unreachable.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" PROG " --help'.\n", stderr);
	return EXIT_USAGE;
}

/* ---- the command line --------------------------------------------------- */

/* allow/deny and top options, taken wherever they stand on the command line. */
struct list_opts {
	const char *ttl;     /* NULL: never expires */
	const char *comment; /* NULL: none */
	const char *by;	     /* top: "denials" or "failures"; NULL: denials */
	const char *since;   /* top: a duration; NULL: since start */
};

/* Checks the words after the options against the grammar. */
static int check_command(int argc, char **argv, const struct list_opts *lo)
{
	const char *cmd;
	int i, is_list;

	if (argc == 0)
		return usage_error("no command given");
	for (i = 0; i < argc; i++) {
		if (argv[i][0] == '\0')
			return usage_error("empty argument");
		if (strlen(argv[i]) > AG_NAME_MAX)
			return usage_error("argument %d is longer than %d bytes", i + 1,
					   AG_NAME_MAX);
	}
	cmd = argv[0];
	is_list = strcmp(cmd, "allow") == 0 || strcmp(cmd, "deny") == 0;
	if (!is_list && (lo->ttl != NULL || lo->comment != NULL))
		return usage_error("--ttl and --comment go with allow and deny only");
	if (strcmp(cmd, "top") != 0 && (lo->by != NULL || lo->since != NULL))
		return usage_error("--by and --since go with top only");
	if (strcmp(cmd, "top") == 0) {
		int64_t n;

		if (argc > 2 || (argc == 2 && ag_parse_int(argv[1], 1, 100, &n) != 0))
			return usage_error(
			    "usage: top [N] [--by denials|failures] [--since D] (N: 1 to 100)");
		if (lo->by != NULL && strcmp(lo->by, "denials") != 0 &&
		    strcmp(lo->by, "failures") != 0)
			return usage_error("--by takes denials or failures");
		return 0;
	}
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "metrics") == 0 ||
	    strcmp(cmd, "lists") == 0 || strcmp(cmd, "reload") == 0) {
		if (argc != 1)
			return usage_error("%s takes no arguments", cmd);
		return 0;
	}
	if (strcmp(cmd, "explain") == 0) {
		if (argc != 3)
			return usage_error("usage: explain USER ADDR");
		return 0;
	}
	if (is_list) {
		if (argc != 2)
			return usage_error("usage: %s CIDR [--ttl D] [--comment TEXT]", cmd);
		if (lo->comment != NULL && strlen(lo->comment) >= 128)
			return usage_error("the comment is longer than 127 bytes");
		return 0;
	}
	if (strcmp(cmd, "unlist") == 0) {
		if (argc != 2)
			return usage_error("usage: unlist CIDR");
		return 0;
	}
	if (strcmp(cmd, "show") == 0) {
		if (argc == 3 && (strcmp(argv[1], "user") == 0 || strcmp(argv[1], "source") == 0))
			return 0;
		if (argc == 4 && strcmp(argv[1], "pair") == 0)
			return 0;
		return usage_error(
		    "usage: show user USER | show source ADDR | show pair USER ADDR");
	}
	if (strcmp(cmd, "reset") != 0)
		return usage_error("unknown command '%s'", cmd);
	if (argc < 2)
		return usage_error("reset what? user USER, source ADDR, pair USER ADDR or all");
	if (strcmp(argv[1], "user") == 0 && argc == 3)
		return 0;
	if (strcmp(argv[1], "source") == 0 && argc == 3)
		return 0;
	if (strcmp(argv[1], "pair") == 0 && argc == 4)
		return 0;
	if (strcmp(argv[1], "all") == 0 && argc == 2)
		return 0;
	return usage_error("usage: reset user USER | reset source ADDR | reset pair USER ADDR | "
			   "reset all");
}

/* The ADMIN words for allow/deny: CMD CIDR TTL_MS [COMMENT]. ttl_buf holds
 * the ttl in ms as decimal. 0 or EXIT_USAGE. */
static int list_words(char **argv, const struct list_opts *lo, char *ttl_buf, size_t cap,
		      char **words, int *nwords)
{
	int64_t ms = 0;

	if (lo->ttl != NULL &&
	    ag_parse_duration(lo->ttl, 0, 1, 10LL * 366 * 24 * 3600 * 1000, &ms) != 0)
		return usage_error("--ttl '%s': a duration with units (30s, 15m, 1h, 7d), up to "
				   "ten years",
				   lo->ttl);
	snprintf(ttl_buf, cap, "%lld", (long long)ms);
	words[0] = argv[0];
	words[1] = argv[1];
	words[2] = ttl_buf;
	*nwords = 3;
	if (lo->comment != NULL)
		words[(*nwords)++] = (char *)lo->comment;
	return 0;
}

/* The ADMIN words for top: top N BY [SINCE_MS]. since_buf holds the span in
 * ms as decimal. 0 or EXIT_USAGE. */
static int top_words(char **argv, int argc, const struct list_opts *lo, char *since_buf,
		     size_t cap, char **words, int *nwords)
{
	int64_t ms = 0;

	if (lo->since != NULL && ag_parse_duration(lo->since, 0, 1, TOP_SINCE_MAX_MS, &ms) != 0)
		return usage_error("--since '%s': a duration with units (30s, 15m, 1h), up to 24h; "
				   "without --since, top counts since the governor started",
				   lo->since);
	words[0] = argv[0];
	words[1] = argc > 1 ? argv[1] : (char *)"10";
	words[2] = (char *)(lo->by != NULL ? lo->by : "denials");
	*nwords = 3;
	if (lo->since != NULL) {
		snprintf(since_buf, cap, "%lld", (long long)ms);
		words[(*nwords)++] = since_buf;
	}
	return 0;
}

/* ---- lint: no governor involved ------------------------------------------ */

/* Lints files (none: discover them in /etc/pam.d). Findings go to stdout, one
 * line each; a file we cannot read is a problem too. */
static int lint_command(int argc, char **argv)
{
	struct ag_lint_report r = {NULL, 0};
	char **found = NULL, *text = NULL;
	size_t n = 0, i;
	int ret = EXIT_OK, rc = 0;

	if (argc == 0) {
		rc = ag_lint_discover("/etc/pam.d", &found, &n);
		if (rc != 0 && rc != AG_ERR_NOTFOUND) {
			fprintf(stderr, PROG ": lint: /etc/pam.d: %s\n", ag_strerror(rc));
			return EXIT_REFUSED;
		}
		if (n == 0)
			fprintf(stderr,
				PROG ": lint: no file in /etc/pam.d mentions pam_authguard\n");
		argv = found;
		argc = (int)n;
	}
	for (i = 0; i < (size_t)argc; i++) {
		rc = ag_lint_read_file(argv[i], &text);
		if (rc == 0)
			rc = ag_lint_text(argv[i], text,
					  &(struct ag_lint_reader){ag_lint_fs_read, NULL}, &r);
		free(text);
		text = NULL;
		if (rc == AG_ERR_NOMEM)
			ctl_die_nomem();
		if (rc != 0) {
			fprintf(stderr, PROG ": lint: %s: %s\n", argv[i], ag_strerror(rc));
			ret = EXIT_REFUSED;
		}
	}
	for (i = 0; i < r.n; i++)
		printf("%s:%u: [%s] %s\n", r.f[i].file, r.f[i].line, r.f[i].rule, r.f[i].msg);
	if (r.n != 0)
		ret = EXIT_REFUSED;
	if (fflush(stdout) != 0)
		ret = EXIT_REFUSED;
	ag_lint_report_free(&r);
	for (i = 0; i < n; i++)
		free(found[i]);
	free(found);
	return ret;
}

/* ---- the exchange ------------------------------------------------------- */

/* Copies a message for a person: printable ASCII and spaces as they are,
 * anything else as \xHH, so that nothing a peer sent reaches the terminal
 * raw. Truncates to fit cap (>= 1). */
static void readable(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)src[i];
		int plain = ch >= 0x20 && ch <= 0x7e && ch != '\\';

		if (o + (plain ? 1 : 4) >= cap)
			break;
		if (plain) {
			dst[o++] = (char)ch;
			continue;
		}
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[ch >> 4];
		dst[o++] = hex[ch & 15];
	}
	dst[o] = '\0';
}

/* Appends one REPLY frame's text to the reply. */
static int gather(void *ctx, const char *text, size_t len)
{
	struct reply *rp = ctx;

	rp->text = ctl_xrealloc(rp->text, rp->len + len + 1);
	memcpy(rp->text + rp->len, text, len);
	rp->len += len;
	rp->text[rp->len] = '\0';
	return 0;
}

/* Sends the request and gathers the reply. Returns 0 (reply or ERROR in
 * *rp) or an AG_ERR_* code for a governor we could not talk to. */
static int exchange(const char *path, int argc, char **argv, struct reply *rp)
{
	char raw[AG_TEXT_MAX + 1];
	int rc;

	memset(rp, 0, sizeof(*rp));
	rc = ctl_admin_request(path, argc, argv, TIMEOUT_MS, MAX_FRAMES, gather, rp, &rp->code,
			       raw, sizeof(raw));
	if (rc == 0 && rp->code != 0)
		readable(rp->errtext, sizeof(rp->errtext), raw, strlen(raw));
	return rc;
}

/* ---- errors: the one place that maps them to exit codes -------------------- */

static int unreachable(const char *path, int rc)
{
	const char *what = "cannot reach the governor at";
	const char *hint;

	switch (rc) {
	case AG_ERR_CONNECT:
		hint = "is authguard-governor running? try -s PATH";
		break;
	case AG_ERR_PERM:
		hint = "run as root, or as a member of the governor's admin_group";
		break;
	case AG_ERR_BUSY:
		hint = "its listen queue is full; try again in a moment";
		break;
	case AG_ERR_TIMEOUT:
		hint = "no answer within 2 s; is it hung? see: systemctl status authguard-governor";
		break;
	case AG_ERR_PROTO:
	case AG_ERR_VERSION:
	case AG_ERR_TOOBIG:
		what = "unusable reply from the governor at";
		hint = "is this authguard's socket, and are authguardctl and the governor the "
		       "same version?";
		break;
	case AG_ERR_CLOSED:
		hint = "it closed the connection; see its log";
		break;
	default:
		hint = "see the governor's log";
		break;
	}
	fprintf(stderr, PROG ": %s %s: %s (%s)\n", what, path, ag_strerror(rc), hint);
	return EXIT_UNREACHABLE;
}

static int refused(const struct reply *rp)
{
	const char *text = rp->errtext[0] != '\0' ? rp->errtext : ag_strerror(rp->code);

	switch (rp->code) {
	case AG_ERR_PERM:
		if (strstr(text, "not accepted on this socket") != NULL)
			fprintf(stderr,
				PROG ": refused by the governor: %s (that is the user socket; "
				     "authguardctl talks to the privileged one: -s %s)\n",
				text, AG_DEFAULT_SOCKET);
		else
			fprintf(stderr,
				PROG ": refused by the governor: %s (run as root, or as a member "
				     "of the governor's admin_group)\n",
				text);
		break;
	case AG_ERR_NOTFOUND:
		fprintf(stderr,
			PROG ": not found: %s (nothing is held for it; check the name "
			     "and address)\n",
			text);
		break;
	default:
		fprintf(stderr, PROG ": the governor could not do it: %s: %s (see its log)\n",
			ag_strerror(rp->code), text);
		break;
	}
	return EXIT_REFUSED;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"ttl", required_argument, NULL, 't'},
	    {"comment", required_argument, NULL, 'C'},
	    {"by", required_argument, NULL, 'b'},
	    {"since", required_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = AG_DEFAULT_SOCKET;
	struct reply rp;
	struct ctl_recs rs = {NULL, 0};
	struct list_opts lo = {NULL, NULL, NULL, NULL};
	char ttl_buf[32], *words[AG_ADMIN_ARGS + 1];
	int json = 0, nwords = 0;
	int opt, rc, ret;

	/* watch has options of its own: it parses the whole line (ctl/watch.c). */
	if (watch_requested(argc, argv))
		return watch_main(argc, argv, unreachable);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 't':
			lo.ttl = optarg;
			break;
		case 'C':
			lo.comment = optarg;
			break;
		case 'b':
			lo.by = optarg;
			break;
		case 'S':
			lo.since = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (path[0] == '\0' || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return usage_error("the socket path is empty or too long");
	if (optind < argc && strcmp(argv[optind], "lint") == 0) {
		if (json || lo.ttl != NULL || lo.comment != NULL || lo.by != NULL || lo.since != NULL)
			return usage_error("lint takes no options: it prints FILE:LINE: [rule] "
					   "message lines");
		return lint_command(argc - optind - 1, argv + optind + 1);
	}
	if (json && optind < argc && strcmp(argv[optind], "metrics") == 0)
		return usage_error("metrics is Prometheus text: --json does not apply");
	ret = check_command(argc - optind, argv + optind, &lo);
	if (ret != 0)
		return ret;
	if (strcmp(argv[optind], "allow") == 0 || strcmp(argv[optind], "deny") == 0) {
		ret = list_words(argv + optind, &lo, ttl_buf, sizeof(ttl_buf), words, &nwords);
		if (ret != 0)
			return ret;
		rc = exchange(path, nwords, words, &rp);
	} else if (lo.by != NULL || lo.since != NULL) {
		/* top [N] [--by X] [--since D]: ADMIN top N X [MS]. */
		ret = top_words(argv + optind, argc - optind, &lo, ttl_buf, sizeof(ttl_buf), words,
				&nwords);
		if (ret != 0)
			return ret;
		rc = exchange(path, nwords, words, &rp);
	} else {
		rc = exchange(path, argc - optind, argv + optind, &rp);
	}
	if (rc != 0) {
		ret = unreachable(path, rc);
		goto out;
	}
	if (rp.code != 0) {
		ret = refused(&rp);
		goto out;
	}
	if (strcmp(argv[optind], "metrics") == 0) {
		/* Prometheus text already: printed as the governor wrote it. */
		if (rp.text != NULL && fwrite(rp.text, 1, rp.len, stdout) != rp.len)
			ret = EXIT_REFUSED;
		else
			ret = fflush(stdout) == 0 ? EXIT_OK : EXIT_REFUSED;
		goto out;
	}
	rc = ctl_recs_parse(rp.text != NULL ? rp.text : "", rp.len, &rs);
	if (rc != 0) {
		ret = unreachable(path, rc);
		goto out;
	}
	if (json)
		ctl_print_json(&rs, strcmp(argv[optind], "lists") == 0 ? "entry"
				    : strcmp(argv[optind], "top") == 0 ? "offender"
								       : NULL);
	else if (strcmp(argv[optind], "status") != 0 || ctl_status_print(&rs) != 0)
		ctl_print_human(&rs);
	ret = fflush(stdout) == 0 ? EXIT_OK : EXIT_REFUSED;
out:
	ctl_recs_free(&rs);
	free(rp.text);
	return ret;
}

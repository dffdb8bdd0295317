/* mkconfman.c - writes authguard.conf(5) from the option table, so that the
 * manual lists exactly the keys, defaults and bounds the parser accepts.
 * Built and run by make; the page it writes is not kept in git. */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "ag_conf.h"

static const char *sections[] = { "governor", "limits", "overload", "lists", "store" };
static const char *intro[] = {
	"Sockets, clients, queues, leases, logging and the state file.",
	"The decision rules: backoff per (user, source), the source and user rates, "
	"the user cap, trust.",
	"Load shedding: the host's slots for admitted attempts and the class queues.",
	"Allow and deny lists of CIDRs, v4 and v6, each entry \"CIDR\" or "
	"\"CIDR until YYYY-MM-DDTHH:MM:SSZ\"; the key may be repeated. Deny wins; "
	"allow skips the source and user rates (never the backoff).",
	"Where the rules' state lives.",
};

/* roff-escapes s: a backslash and a leading dot or quote would be commands. */
static void put(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

int main(void)
{
	size_t n, i, k;
	const struct ag_option *opts = ag_options(&n);
	char buf[256];

	puts(".TH AUTHGUARD.CONF 5 \"2026-11-24\" \"authguard " PACKAGE_VERSION "\" "
	     "\"File Formats\"");
	puts(".SH NAME\nauthguard.conf \\- authguard-governor configuration");
	puts(".SH DESCRIPTION\nAn INI file read by\n.BR authguard-governor (8)\n"
	     "at start and on SIGHUP (default\n.IR " SYSCONFDIR "/authguard/authguard.conf ).\n"
	     "Sections in brackets, then \\fIkey\\fR = \\fIvalue\\fR lines; comments start\n"
	     "with # or ; (also after a value, with ;). An indented line is an error\n"
	     "(it would silently continue the previous value), and so is a line over\n"
	     "198 bytes.\n.PP\nParsing is strict: an unknown section or key, a key given\n"
	     "twice, or a bad value is an error naming FILE:LINE, never a silent\n"
	     "default. Durations take a unit: ms, s, m, h, d, compounds from large to\n"
	     "small (1h30m). Rates are N/s, N/min or N/h. Percentages may end in %.\n"
	     "Check a file with \\fBauthguard-governor -t -c FILE\\fR.");
	for (k = 0; k < sizeof(sections) / sizeof(sections[0]); k++) {
		printf(".SH [%s]\n", sections[k]);
		put(intro[k]);
		putchar('\n');
		for (i = 0; i < n; i++) {
			const struct ag_option *o = &opts[i];

			if (!(o->scope & AG_SCOPE_CONF) || o->section == NULL ||
			    strcmp(o->section, sections[k]) != 0)
				continue;
			printf(".TP\n.B %s\n", o->key);
			put(o->help != NULL ? o->help : "");
			printf("\n.br\n");
			ag_option_describe(o, buf, sizeof(buf));
			put("Value: ");
			put(o->check != NULL && o->expect != NULL ? o->expect : buf);
			if (o->defval != NULL) {
				put(". Default: ");
				put(o->defval[0] != '\0' ? o->defval : "(empty)");
			}
			puts(".");
		}
	}
	puts(".SH EXAMPLE\n.nf\n[governor]\nadmin_group = sudo\n\n[limits]\n"
	     "backoff_max = 1h\nfold_case = yes\n\n[overload]\nmax_inflight = 32\n\n"
	     "[lists]\nallow = 10.0.0.0/8\ndeny = 198.51.100.0/24 until 2026-12-31T00:00:00Z\n.fi");
	puts(".SH SEE ALSO\n.BR authguard-governor (8),\n.BR authguardctl (8),\n"
	     ".BR pam_authguard (8)");
	return ferror(stdout) ? 1 : 0;
}

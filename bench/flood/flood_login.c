/* flood_login.c - one PAM login as the flood driver makes it, and the names
 * and source addresses of its three classes of clients.
 *
 * Addresses are only PAM_RHOST strings (no traffic is sent anywhere), taken
 * from the ranges set aside for documentation and benchmarks:
 *   botnet  198.18.0.0/16 (the first half of 198.18.0.0/15), the first N
 *   fresh   198.19.0.0/16, a new one per login
 *   trusted 203.0.113.0/24, 192.0.2.0/24, 198.51.100.0/24: one per user
 */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE; standalone builds pass -D_GNU_SOURCE */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <security/pam_appl.h>
#include "flood.h"

struct conv_data {
	const char *password;
	int told;
	char *msg;
	size_t msg_cap;
};

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *arg)
{
	struct conv_data *d = arg;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			r[i].resp = strdup(d->password);
			if (r[i].resp == NULL) {
				for (int j = 0; j < i; j++)
					free(r[j].resp);
				free(r);
				return PAM_BUF_ERR;
			}
			break;
		case PAM_TEXT_INFO:
		case PAM_ERROR_MSG:
			if (!d->told && d->msg != NULL)
				snprintf(d->msg, d->msg_cap, "%s", msg[i]->msg ? msg[i]->msg : "");
			d->told = 1;
			break;
		default:
			break;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint8_t outcome_of(int rc)
{
	switch (rc) {
	case PAM_SUCCESS: return FL_OK;
	case PAM_AUTH_ERR: return FL_AUTH_ERR;
	case PAM_AUTHINFO_UNAVAIL: return FL_UNAVAIL;
	case PAM_USER_UNKNOWN: return FL_UNKNOWN;
	default: return FL_OTHER;
	}
}

const char *fl_outcome_name(int outcome)
{
	static const char *const names[FL_NOUTCOME] = { "ok", "auth_err", "authinfo_unavail",
		                                        "user_unknown", "other" };

	return outcome >= 0 && outcome < FL_NOUTCOME ? names[outcome] : "other";
}

void fl_login(const char *service, const char *user, const char *password, const char *rhost,
              struct fl_sample *out, char *msg, size_t msg_cap)
{
	struct conv_data d = { password, 0, msg, msg_cap };
	struct pam_conv pc = { conv, &d };
	pam_handle_t *pamh = NULL;
	int64_t t0;
	int rc;

	out->lat_us = 0;
	out->told = 0;
	if (msg != NULL && msg_cap > 0)
		msg[0] = '\0';
	rc = pam_start(service, user, &pc, &pamh);
	if (rc != PAM_SUCCESS) {
		out->outcome = FL_OTHER;
		return;
	}
	rc = pam_set_item(pamh, PAM_RHOST, rhost);
	if (rc == PAM_SUCCESS) {
		t0 = mono_us();
		rc = pam_authenticate(pamh, PAM_DISALLOW_NULL_AUTHTOK);
		t0 = mono_us() - t0;
		out->lat_us = t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)t0;
	}
	out->outcome = outcome_of(rc);
	out->told = (uint8_t)d.told;
	(void)pam_end(pamh, rc);
}

void fl_trusted_user(long i, char *buf, size_t cap)
{
	snprintf(buf, cap, "user%04ld", i);
}

void fl_fresh_user(long i, char *buf, size_t cap)
{
	snprintf(buf, cap, "new%05ld", i);
}

void fl_password(const char *user, char *buf, size_t cap)
{
	snprintf(buf, cap, "pw-%s", user);
}

int fl_trusted_addr(long i, char *buf, size_t cap)
{
	static const char *const nets[] = { "203.0.113", "192.0.2", "198.51.100" };

	if (i < 0 || i >= 3 * 254)
		return -1;
	snprintf(buf, cap, "%s.%ld", nets[i / 254], 1 + i % 254);
	return 0;
}

void fl_fresh_addr(long i, char *buf, size_t cap)
{
	i %= 65536;
	snprintf(buf, cap, "198.19.%ld.%ld", i / 256, i % 256);
}

void fl_bot_addr(long i, char *buf, size_t cap)
{
	i %= 65536;
	snprintf(buf, cap, "198.18.%ld.%ld", i / 256, i % 256);
}

uint64_t fl_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

void fl_random_user(uint64_t *rng, char *buf, size_t cap)
{
	uint64_t r = fl_rand(rng);
	size_t i;

	/* "r" and 7 letters: never one of the accounts (user*, new*). */
	for (i = 0; i + 1 < cap && i < 8; i++) {
		buf[i] = i == 0 ? 'r' : (char)('a' + r % 26);
		r /= 26;
	}
	buf[i] = '\0';
}

int fl_write_files(const struct fl_opts *o, const char *accounts, const char *passwd,
                   const char *group)
{
	FILE *fa = NULL, *fp = NULL, *fg = NULL;
	char user[64], pw[96];
	long total = o->trusted_users + o->fresh_users;
	int rc = -1;

	if ((accounts != NULL && (fa = fopen(accounts, "w")) == NULL) ||
	    (passwd != NULL && (fp = fopen(passwd, "w")) == NULL) ||
	    (group != NULL && (fg = fopen(group, "w")) == NULL)) {
		fprintf(stderr, "flood: cannot write the account files: %s\n", strerror(errno));
		goto out;
	}
	if (fp != NULL)
		fprintf(fp, "root:x:0:0:root:/root:/bin/sh\n");
	if (fg != NULL)
		fprintf(fg, "root:x:0:\nusers:x:100:\n");
	for (long i = 0; i < total; i++) {
		if (i < o->trusted_users)
			fl_trusted_user(i, user, sizeof(user));
		else
			fl_fresh_user(i - o->trusted_users, user, sizeof(user));
		fl_password(user, pw, sizeof(pw));
		if (fa != NULL)
			fprintf(fa, "%s:%s\n", user, pw);
		if (fp != NULL)
			fprintf(fp, "%s:x:%ld:100:%s:/nonexistent:/bin/sh\n", user, 20000 + i, user);
	}
	rc = 0;
out:
	if (fa != NULL && fclose(fa) != 0)
		rc = -1;
	if (fp != NULL && fclose(fp) != 0)
		rc = -1;
	if (fg != NULL && fclose(fg) != 0)
		rc = -1;
	if (rc != 0)
		fprintf(stderr, "flood: writing the account files failed\n");
	return rc;
}

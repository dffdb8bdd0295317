/* pam_floodbackend.so - the PAM client of the simulated auth backend
 * (bench/flood/backend.c), standing where pam_unix or pam_sss would in the
 * flood benchmark's stacks.
 *
 * Takes the password with pam_get_authtok (so "use_first_pass" behind
 * pam_authguard's preauth never prompts), sends user, password and the
 * client's deadline to the backend's socket, and waits for the answer at most
 * timeout ms, like a real client library with a timeout:
 *   PAM_SUCCESS           the backend said yes
 *   PAM_AUTH_ERR          wrong password
 *   PAM_USER_UNKNOWN      no such account
 *   PAM_AUTHINFO_UNAVAIL  no answer within timeout, or no connection
 *   PAM_SERVICE_ERR       a bad module argument
 * Arguments: socket=PATH (required), timeout=MS (1..600000, default 2000),
 * debug (log each unavailable answer); use_first_pass and try_first_pass are
 * pam_get_authtok's.
 */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE; standalone builds pass -D_GNU_SOURCE */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include "flood_wire.h"

#define FB_TIMEOUT_DEFAULT 2000
#define FB_TIMEOUT_MAX 600000

struct fb_args {
	const char *socket;
	long timeout_ms;
	int debug;
};

/* Parses the module arguments into *a. Returns 0, or -1 after logging the
 * argument at fault. */
static int fb_parse_args(pam_handle_t *pamh, int argc, const char **argv, struct fb_args *a)
{
	memset(a, 0, sizeof(*a));
	a->timeout_ms = FB_TIMEOUT_DEFAULT;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "socket=", 7) == 0 && argv[i][7] != '\0') {
			a->socket = argv[i] + 7;
		} else if (strncmp(argv[i], "timeout=", 8) == 0) {
			char *end = NULL;
			long long v;

			errno = 0;
			v = strtoll(argv[i] + 8, &end, 10);
			if (errno != 0 || end == argv[i] + 8 || *end != '\0' || v < 1 ||
			    v > FB_TIMEOUT_MAX) {
				pam_syslog(pamh, LOG_ERR, "bad argument \"%s\" (1..%d ms)", argv[i],
				           FB_TIMEOUT_MAX);
				return -1;
			}
			a->timeout_ms = (long)v;
		} else if (strcmp(argv[i], "debug") == 0) {
			a->debug = 1;
		} else if (strcmp(argv[i], "use_first_pass") != 0 &&
		           strcmp(argv[i], "try_first_pass") != 0) {
			pam_syslog(pamh, LOG_ERR, "unknown argument \"%s\"", argv[i]);
			return -1;
		}
	}
	if (a->socket == NULL) {
		pam_syslog(pamh, LOG_ERR, "socket=PATH is required");
		return -1;
	}
	return 0;
}

static int64_t fb_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for EVENTS on FD until the monotonic DEADLINE. Returns 0 when ready,
 * -ETIMEDOUT, or -errno. */
static int fb_wait(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - fb_ms(CLOCK_MONOTONIC);
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Connects to PATH before the monotonic DEADLINE. A full listen backlog
 * (EAGAIN on a non-blocking Unix connect) is retried every 5 ms, as a client
 * library blocking in connect() would wait. Returns the fd, or -errno. */
static int fb_connect(const char *path, int64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd = -1, rc;

	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) != 0 && errno == EAGAIN) {
		struct timespec ts = { 0, 5000000 };

		if (fb_ms(CLOCK_MONOTONIC) >= deadline) {
			errno = ETIMEDOUT;
			break;
		}
		nanosleep(&ts, NULL);
	}
	if (rc != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Sends the request and reads the answer byte. Returns 0 and the byte in
 * *answer, or -errno (-ETIMEDOUT past the deadline). */
static int fb_ask(const struct fb_args *a, const char *user, const char *pass, char *answer)
{
	unsigned char req[FW_REQ_MAX];
	int64_t deadline = fb_ms(CLOCK_MONOTONIC) + a->timeout_ms;
	size_t len = 0, off = 0;
	int fd = -1, rc;
	ssize_t n;

	*answer = 0;
	rc = fw_encode(user, pass, fb_ms(CLOCK_REALTIME) + a->timeout_ms, req, sizeof(req), &len);
	if (rc != 0) {
		rc = -EMSGSIZE;
		goto out;
	}
	fd = fb_connect(a->socket, deadline);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	while (off < len) {
		n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			rc = -errno;
			goto out;
		}
		if ((rc = fb_wait(fd, POLLOUT, deadline)) != 0)
			goto out;
	}
	for (;;) {
		if ((rc = fb_wait(fd, POLLIN, deadline)) != 0)
			goto out;
		n = recv(fd, answer, 1, 0);
		if (n == 1)
			break;
		if (n == 0) {
			rc = -ECONNRESET;
			goto out;
		}
		if (errno != EAGAIN && errno != EINTR) {
			rc = -errno;
			goto out;
		}
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct fb_args a;
	const char *user = NULL, *pass = NULL;
	char answer = 0;
	int ret, rc;

	if (fb_parse_args(pamh, argc, argv, &a) != 0) {
		ret = PAM_SERVICE_ERR;
		goto out;
	}
	ret = pam_get_user(pamh, &user, NULL);
	if (ret != PAM_SUCCESS)
		goto out;
	ret = pam_get_authtok(pamh, PAM_AUTHTOK, &pass, NULL);
	if (ret != PAM_SUCCESS)
		goto out;
	rc = fb_ask(&a, user, pass, &answer);
	if (rc != 0) {
		if (a.debug)
			pam_syslog(pamh, LOG_DEBUG, "backend unavailable: %s", strerror(-rc));
		ret = PAM_AUTHINFO_UNAVAIL;
		goto out;
	}
	switch (answer) {
	case FW_OK:
		ret = PAM_SUCCESS;
		break;
	case FW_BAD:
		ret = PAM_AUTH_ERR;
		break;
	case FW_UNKNOWN:
		ret = PAM_USER_UNKNOWN;
		break;
	default:
		pam_syslog(pamh, LOG_ERR, "backend answered garbage");
		ret = PAM_AUTHINFO_UNAVAIL;
		break;
	}
out:
	return ret;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

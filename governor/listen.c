/* listen.c - the two listening sockets: creation with the right mode from the
 * first instant, stale-socket removal, accept with peer credentials. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/event.h>

#include "ag_err.h"
#include "ag_escape.h"
#include "client.h"
#include "gov.h"
#include "log.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define ACCEPT_BURST 64	   /* connections taken per wake-up, so one socket cannot starve the loop */
#define GROUPS_MAX   65536 /* NGROUPS_MAX on Linux */
#define FD_PAUSE_MS  1000  /* pause accepting this long when out of descriptors */

static int fill_sun(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return AG_ERR_TOOBIG;
	strcpy(sun->sun_path, path);
	return 0;
}

/* Creates the socket's parent directory (0755) when it is missing. */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	if (strlen(path) >= sizeof(dir))
		return AG_ERR_TOOBIG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		gov_log(LOG_ERR, "%s is not a directory", dir);
		return AG_ERR_INVAL;
	}
	if (mkdir(dir, 0755) != 0) {
		if (errno == EEXIST)
			return 0;
		gov_log(LOG_ERR, "cannot create %s: %s", dir, strerror(errno));
		return AG_ERR_SYS;
	}
	/* Whatever our umask: users must be able to reach the user socket. */
	if (chmod(dir, 0755) != 0) {
		gov_log(LOG_ERR, "cannot set the mode of %s: %s", dir, strerror(errno));
		return AG_ERR_SYS;
	}
	return 0;
}

/* Whether something answers on an existing socket file: 1 alive, 0 stale. */
static int socket_alive(const struct sockaddr_un *sun)
{
	int fd, alive;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1; /* cannot tell: refuse rather than steal a live socket */
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		alive = 1;
	else
		/* EAGAIN: a listener whose backlog is full is alive too. */
		alive = !(errno == ECONNREFUSED || errno == ENOENT);
	close(fd);
	return alive;
}

/* Removes a stale socket at path; refuses a live one or a non-socket. */
static int clear_path(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : AG_ERR_SYS;
	if (!S_ISSOCK(st.st_mode)) {
		gov_log(LOG_ERR, "%s exists and is not a socket: refusing to replace it", path);
		return AG_ERR_INVAL;
	}
	if (socket_alive(sun)) {
		gov_log(LOG_ERR, "another governor answers on %s: refusing to start", path);
		return AG_ERR_BUSY;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		gov_log(LOG_ERR, "cannot remove stale socket %s: %s", path, strerror(errno));
		return AG_ERR_SYS;
	}
	gov_log(LOG_NOTICE, "removed stale socket %s", path);
	return 0;
}

int gov_listen_open(struct gov *g, struct gov_listener *l, const char *path, int user_socket)
{
	struct sockaddr_un sun;
	mode_t old_mask;
	int fd = -1, rc;

	l->g = g;
	l->fd = -1;
	l->user_socket = user_socket;
	rc = fill_sun(path, &sun);
	if (rc < 0) {
		gov_log(LOG_ERR, "socket path too long: %s", path);
		goto out;
	}
	rc = make_parent(path);
	if (rc < 0)
		goto out;
	rc = clear_path(path, &sun);
	if (rc < 0)
		goto out;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = AG_ERR_SYS;
		gov_log(LOG_ERR, "socket: %s", strerror(errno));
		goto out;
	}
	/* The mode must be right before anyone can connect: set it through the
	 * umask at bind time rather than with a chmod afterwards. */
	old_mask = umask(user_socket ? 0111 : 0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (rc != 0) {
		rc = AG_ERR_SYS;
		gov_log(LOG_ERR, "bind %s: %s", path, strerror(errno));
		goto out;
	}
	l->path = strdup(path);
	if (l->path == NULL) {
		unlink(path);
		rc = AG_ERR_NOMEM;
		goto out;
	}
	/* admin_group's members must reach the privileged socket for their
	 * admin requests: group-owned, 0660. Nobody can connect before
	 * listen(), so there is no window with the wrong owner. */
	if (!user_socket && g->conf->has_admin_gid &&
	    (chown(path, (uid_t)-1, g->conf->admin_gid) != 0 || chmod(path, 0660) != 0)) {
		rc = AG_ERR_SYS;
		gov_log(LOG_ERR, "cannot give %s to group %s: %s", path, g->conf->admin_group,
			strerror(errno));
		goto out;
	}
	if (listen(fd, GOV_BACKLOG) != 0) {
		rc = AG_ERR_SYS;
		gov_log(LOG_ERR, "listen %s: %s", path, strerror(errno));
		goto out;
	}
	l->fd = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && l->path != NULL) {
		unlink(l->path);
		free(l->path);
		l->path = NULL;
	}
	return rc;
}

/* Reads SO_PEERCRED. The groups are read when an admin request needs them
 * (gov_peer_load_groups): most connections never ask. */
static int read_peer(int fd, struct gov_peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0 || len != sizeof(uc))
		return AG_ERR_SYS;
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->pid = uc.pid;
	return 0;
}

void gov_peer_load_groups(int fd, struct gov_peer *p)
{
	gid_t small[64];
	gid_t *groups = NULL;
	socklen_t len;

	/* The kernel took them at connect(): reading them later gives the same. */
	if (p->groups_read)
		return;
	p->groups_read = 1;
	len = sizeof(small);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, small, &len) != 0) {
		if (errno != ERANGE || len == 0 || len > GROUPS_MAX * sizeof(gid_t))
			goto out; /* no groups known: only uid/gid decide */
		groups = malloc(len);
		if (groups == NULL)
			goto out;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0)
			goto out;
	} else {
		groups = malloc(len ? len : 1);
		if (groups == NULL)
			goto out;
		memcpy(groups, small, len);
	}
	p->groups = groups;
	p->ngroups = (int)(len / sizeof(gid_t));
	groups = NULL;
out:
	free(groups);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gov_listener *l = arg;

	if (l->fd >= 0 && event_add(l->ev, NULL) != 0)
		gov_log(LOG_ERR, "cannot resume accepting on %s", l->path);
}

/* Out of descriptors: the listener would stay readable and spin the loop,
 * so stop watching it for a moment. */
static void pause_accepting(struct gov_listener *l)
{
	gov_log(LOG_WARNING, "out of file descriptors: not accepting on %s for %d ms", l->path,
		FD_PAUSE_MS);
	event_del(l->ev);
	gov_timer_ms(l->ev_resume, FD_PAUSE_MS);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct gov_listener *l = arg;
	struct gov_peer peer;
	int i, fd;

	for (i = 0; i < ACCEPT_BURST; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				pause_accepting(l);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				gov_log(LOG_ERR, "accept on %s: %s", l->path, strerror(errno));
			return;
		}
		if (read_peer(fd, &peer) < 0) {
			gov_log(LOG_WARNING, "no peer credentials on %s: closing", l->path);
			close(fd);
			continue;
		}
		gov_client_accept(l->g, fd, l->user_socket, &peer);
	}
}

int gov_listen_start(struct gov_listener *l)
{
	struct gov *g = l->g;

	l->ev = event_new(g->base, l->fd, EV_READ | EV_PERSIST, accept_cb, l);
	l->ev_resume = evtimer_new(g->base, resume_cb, l);
	if (l->ev == NULL || l->ev_resume == NULL || event_add(l->ev, NULL) != 0)
		return AG_ERR_NOMEM;
	return 0;
}

void gov_listen_close(struct gov_listener *l, int unlink_path)
{
	if (l == NULL)
		return;
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->ev_resume != NULL)
		event_free(l->ev_resume);
	l->ev = NULL;
	l->ev_resume = NULL;
	/* fd is ours only once path is set (a zeroed listener has fd 0). */
	if (l->path != NULL && l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->path != NULL && unlink_path && unlink(l->path) != 0 && errno != ENOENT)
		gov_log(LOG_WARNING, "cannot remove %s: %s", l->path, strerror(errno));
	free(l->path);
	l->path = NULL;
}

void gov_listen_heartbeat(struct gov_listener *l)
{
	/* A failure (the file removed under us) only makes the module treat
	 * a late answer as a hung governor: on_error, as before heartbeats. */
	if (l->fd >= 0 && l->path != NULL)
		(void)utimensat(AT_FDCWD, l->path, NULL, 0);
}

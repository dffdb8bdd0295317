/* e2e_util.h - fixtures for the end-to-end tests: a real governor on
 * temporary sockets, real PAM stacks (the shipped ones from etc/pam.d) run
 * through pam_wrapper + libpamtest, and a controllable backend. */
#ifndef E2E_UTIL_H
#define E2E_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#define E2E_PATH 512
#define E2E_DIR 200        /* the run directory; every path is it plus a short name */

struct e2e {
	char dir[E2E_DIR];       /* one temporary directory for the whole run */
	char sock[E2E_PATH];     /* privileged socket */
	char usock[E2E_PATH];    /* user socket */
	char conf[E2E_PATH];     /* governor config */
	char state[E2E_PATH];    /* state file */
	char govlog[E2E_PATH];   /* governor's stderr */
	char passdb[E2E_PATH];   /* backend accounts */
	char calls[E2E_PATH];    /* backend call log */
	char ctl[E2E_PATH];      /* backend control file */
	char pamdir[E2E_PATH];   /* PAM service files for pam_wrapper */
	pid_t gov;               /* running governor, 0 if none */
};

/* The result of one login through a PAM stack. */
struct e2e_login {
	int auth_rv;             /* pam_authenticate */
	int acct_rv;             /* pam_acct_mgmt, or -1 when not run */
	char info[512];          /* PAM_TEXT_INFO messages, concatenated */
	int prompts;             /* how many times the user was asked something */
	long elapsed_ms;         /* wall time of the whole login */
};

/* Called first from main(): when not yet under pam_wrapper, creates the run
 * directory, writes the service files and re-executes argv[0] with
 * LD_PRELOAD=libpam_wrapper.so; under pam_wrapper, fills *e from the
 * environment. Returns 0, or 77 (skip) when the build tree is not found. */
int e2e_init(struct e2e *e, char **argv);

/* For tests that need a governor but no PAM: creates the run directory
 * (0755) and fills the paths in *e; writes no service files and does not
 * re-execute. Returns 0, 77 (skip) when AG_BUILDDIR / AG_SRCDIR are not
 * set, or 1 when the directory cannot be made. */
int e2e_init_dir(struct e2e *e);
/* Removes the run directory and everything in it (best effort). */
void e2e_remove_dir(const struct e2e *e);

/* Writes the governor config (the base settings plus extra lines, which may
 * hold whole sections) and starts the governor; waits for its socket. */
int e2e_gov_start(struct e2e *e, const char *extra);
/* SIGTERM, wait (bounded); returns its exit status or -1. */
int e2e_gov_stop(struct e2e *e);
/* SIGSTOP / SIGCONT: a hung governor. */
void e2e_gov_pause(struct e2e *e, int paused);
/* Removes the state file, backend call log and control file. */
void e2e_reset_files(struct e2e *e);

/* Writes path with content (truncating). 0 or -1. */
int e2e_write(const char *path, const char *content);

/* One login: service stack, user, password (NULL: the conversation gives
 * none), rhost (NULL: not set), ssh_connection (NULL: not set in the PAM
 * environment), code for a second factor (NULL: none). Runs authenticate,
 * then account when authenticate succeeded. */
void e2e_login(const struct e2e *e, const char *service, const char *user, const char *password,
               const char *rhost, const char *ssh_connection, const char *code,
               struct e2e_login *out);

/* Lines in the backend call log: how many attempts reached the backend. */
int e2e_backend_calls(const struct e2e *e);

/* Runs authguardctl with args against the test governor; its stdout is put
 * in out. Returns its exit status. */
int e2e_ctl(const struct e2e *e, const char *args, char *out, size_t cap);

/* One ADMIN request over the protocol to the socket at path: cmd and its
 * nargs arguments (at most 4). Returns 0 when the governor answered: *code
 * is then 0 and text holds the REPLY text (all frames, NUL-terminated,
 * truncated to cap), or *code is the CODE of its ERROR. Returns a negative
 * AG_ERR_* when there was no answer (connect, timeout, closed, garbage). */
int e2e_admin(const char *path, const char *cmd, const char *const *args, int nargs, char *text,
              size_t cap, int *code);

/* The value of key in the governor's status record (ADMIN status on
 * e->sock, as root); -1 when the governor does not answer or has no such
 * key. */
long long e2e_status(const struct e2e *e, const char *key);

/* A PAM handle for tests that drive the phases one by one (retries on one
 * handle, setcred, account after the governor went away). */
enum e2e_op { E2E_AUTH = 1, E2E_SETCRED = 2, E2E_ACCT = 3 };
struct e2e_pam;
/* pam_start on service for user; the conversation answers password to every
 * hidden prompt; rhost may be NULL. NULL on failure. */
struct e2e_pam *e2e_pam_open(const struct e2e *e, const char *service, const char *user,
                             const char *password, const char *rhost);
/* Runs one phase (enum e2e_op) on the handle; returns its PAM code. */
int e2e_pam_run(struct e2e_pam *p, int op);
/* pam_end and free; NULL allowed. */
void e2e_pam_close(struct e2e_pam *p);

/* Monotonic ms. */
long e2e_now_ms(void);

/* Sets the governor socket's mtime (its heartbeat, AG_HEARTBEAT_MS) to
 * age_ms ago: with the governor paused, a hung one (age past
 * AG_HEARTBEAT_STALE_MS) or one that stopped just now (age 0). */
void e2e_gov_heartbeat_age(struct e2e *e, long age_ms);

#endif

/* fake_gov.h - a fake governor for the client and gate unit tests: a
 * listening Unix socket in a temporary directory, served by a thread that
 * plays a script (receive a frame, send a message, send raw bytes, send byte
 * by byte, sleep, close) on one connection, then waits (bounded) for the
 * client to close. The thread never calls cmocka; a test asserts on what it
 * recorded after fake_join(). */
#ifndef FAKE_GOV_H
#define FAKE_GOV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "ag_wire.h"

enum act_kind { A_RECV = 1, A_SEND, A_RAW, A_BYTEWISE, A_SLEEP, A_CLOSE };

struct act {
	int kind;
	struct ag_msg msg; /* A_SEND, A_BYTEWISE */
	uint8_t raw[64];   /* A_RAW */
	size_t rawlen;
	int ms; /* A_SLEEP */
};

struct seen {
	uint8_t type;
	uint32_t present, budget_ms, backend_ms;
	uint8_t outcome;
	uint8_t id[AG_ID_LEN];
	char user[AG_NAME_MAX + 1], service[AG_NAME_MAX + 1], rhost[AG_NAME_MAX + 1];
	char cmd[AG_NAME_MAX + 1];
};

#define MAX_ACTS 16
#define MAX_SEEN 8

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	pthread_t th;
	int running;
	struct act acts[MAX_ACTS];
	int nacts;
	struct seen seen[MAX_SEEN];
	int nseen;
	int accepted, eof;
};

/* Sleeps ms milliseconds, through EINTR. */
void fake_sleep_ms(int ms);
/* Appends a step of the script (at most MAX_ACTS); returns it to fill in. */
struct act *fake_add(struct fake *f, int kind);
void fake_add_raw(struct fake *f, const void *bytes, size_t len);
/* Appends a VERDICT to send (kind A_SEND or A_BYTEWISE); returns the message. */
struct ag_msg *fake_add_verdict(struct fake *f, int kind, int verdict);
/* Starts / joins the thread that plays the script. */
void fake_start(struct fake *f);
void fake_join(struct fake *f);
/* A listening Unix socket at path with the given backlog. */
int fake_listen_at(const char *path, int backlog);
/* cmocka fixtures: a fresh fake (listening, script empty) in *state. */
int fake_setup(void **state);
int fake_teardown(void **state);

#endif

/* flood.h - the flood driver (bench/flood/flood.c): what its parts share.
 * flood_login.c runs one PAM login and names users and addresses;
 * flood_stats.c keeps the samples and reads CPU time from /proc;
 * flood_report.c prints the text and JSON reports. */
#ifndef FLOOD_H
#define FLOOD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum fl_class { FL_TRUSTED, FL_FRESH, FL_BOT, FL_NCLASS };

/* What one pam_authenticate returned. */
enum fl_outcome { FL_OK, FL_AUTH_ERR, FL_UNAVAIL, FL_UNKNOWN, FL_OTHER, FL_NOUTCOME };

#define FL_MAX_CPU 8
#define FL_ADAPT_S 10 /* the window after a slowdown given to the limit to adapt */

struct fl_opts {
	const char *service, *pam_dir, *backend_ctl, *label;
	long duration_s, bots, bot_addrs, bot_real_pct, bot_pause_ms;
	long trusted_users, fresh_users, legit_threads, client_timeout_ms;
	double trusted_rate, fresh_rate;
	long slow_at_s, slow_ms;
	unsigned long seed;
	int json;
	size_t ncpu;
	const char *cpu_name[FL_MAX_CPU];
	long cpu_pid[FL_MAX_CPU];
};

/* One login: when it started (ms after the flood began), how long
 * pam_authenticate took, what it returned, whether the stack sent a message
 * (the governor's or faillock's "try again later"). */
struct fl_sample {
	uint32_t t_ms;
	uint32_t lat_us;
	uint8_t outcome;
	uint8_t told;
};

/* The samples of one class; append with fl_samples_add. */
struct fl_samples {
	pthread_mutex_t mu;
	struct fl_sample *v;
	size_t n, cap;
};

/* Figures over the samples whose start falls in [from_ms, to_ms). */
struct fl_figures {
	uint64_t attempts, by_outcome[FL_NOUTCOME], told, over_timeout;
	double success_pct;
	double p50_ms, p99_ms, max_ms;
};

/* CPU ticks of a process, and of the whole machine, at one instant. */
struct fl_cpu_snap {
	unsigned long long proc[FL_MAX_CPU + 1]; /* the --cpu pids, then ourselves */
	unsigned long long busy, total;           /* /proc/stat, all CPUs */
	int64_t mono_ms;
};

/* Per-second machine load, kept by the sampler thread. */
struct fl_load {
	pthread_mutex_t mu;
	int seconds, saturated;
	double busy_pct[3600];
};

/* ---- flood_login.c ---- */

/* Runs pam_start(SERVICE, USER) / PAM_RHOST=RHOST / pam_authenticate / pam_end
 * with a conversation answering PASSWORD. Fills *out (lat_us, outcome, told;
 * t_ms is the caller's) and, when MSG is not NULL, MSG with the first message
 * the stack sent ("" for none). */
void fl_login(const char *service, const char *user, const char *password, const char *rhost,
              struct fl_sample *out, char *msg, size_t msg_cap);

/* The name of an outcome, e.g. "auth_err". */
const char *fl_outcome_name(int outcome);

/* Names and addresses; each writes into BUF (CAP bytes). */
void fl_trusted_user(long i, char *buf, size_t cap);
void fl_fresh_user(long i, char *buf, size_t cap);
void fl_password(const char *user, char *buf, size_t cap);
/* Returns 0, or -1 when I is past the trusted addresses (762). */
int fl_trusted_addr(long i, char *buf, size_t cap) __attribute__((warn_unused_result));
void fl_fresh_addr(long i, char *buf, size_t cap);
void fl_bot_addr(long i, char *buf, size_t cap);
void fl_random_user(uint64_t *rng, char *buf, size_t cap);

/* xorshift64*: a per-thread generator; *state must not be 0. */
uint64_t fl_rand(uint64_t *state);

/* Writes the accounts file (user:password), and an nss_wrapper passwd and
 * group file (any PATH may be NULL), for the users of O. Returns 0 or -1
 * after saying why. */
int fl_write_files(const struct fl_opts *o, const char *accounts, const char *passwd,
                   const char *group) __attribute__((warn_unused_result));

/* ---- flood_stats.c ---- */

void fl_samples_init(struct fl_samples *s);
/* Appends one sample; dies on allocation failure (a benchmark, not a daemon). */
void fl_samples_add(struct fl_samples *s, const struct fl_sample *x);
void fl_samples_free(struct fl_samples *s);
void fl_figures(struct fl_samples *s, uint32_t from_ms, uint32_t to_ms, long timeout_ms,
                struct fl_figures *out);

/* Fills *out for the pids of O and this process. A pid that cannot be read
 * counts 0. */
void fl_cpu_snap(const struct fl_opts *o, struct fl_cpu_snap *out);
/* Reads busy and total ticks of the machine from /proc/stat; 0 or -1. */
int fl_machine_ticks(unsigned long long *busy, unsigned long long *total)
	__attribute__((warn_unused_result));
/* Samples the machine's load into L every second until *STOP. */
void *fl_load_thread(void *l);
void fl_load_stop(void);

/* ---- flood_report.c ---- */

struct fl_result {
	const struct fl_opts *o;
	struct fl_samples *samples; /* FL_NCLASS */
	struct fl_cpu_snap cpu0, cpu1;
	struct fl_load *load;
	long warmup_failures;
	uint32_t end_ms;
	int64_t start_epoch_ms; /* CLOCK_REALTIME at the start of the flood */
	char *backend_json; /* NULL when not asked or not answered */
};

void fl_report_text(const struct fl_result *r);
void fl_report_json(const struct fl_result *r);

#endif

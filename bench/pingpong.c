/*
 * pingpong: what one wake-up costs on this machine. Two processes bounce a
 * byte over a Unix socket pair, pinned to the CPUs given, and the round
 * trip's mean is printed. A login through the Redis store is six such round
 * trips (module <-> governor and governor <-> Redis, three times each), so
 * this bounds what any design of that shape can do here (BENCHMARKS.md).
 *   pingpong [CPU_A CPU_B [ROUND_TRIPS]]      (default 0 0 100000)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* A whole non-negative number below max from s, or -1. */
static long number(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v >= max)
		return -1;
	return v;
}

static int bounce(int fd, long n, int first)
{
	char c = 'x';
	long i;

	for (i = 0; i < n; i++) {
		if (first && write(fd, &c, 1) != 1)
			return -1;
		if (read(fd, &c, 1) != 1)
			return -1;
		if (!first && write(fd, &c, 1) != 1)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long a = 0, b = 0, n = 100000;
	struct timespec t0, t1;
	int sv[2], status, rc = 1;
	pid_t pid;

	if (argc != 1 && argc != 3 && argc != 4) {
		fprintf(stderr, "usage: pingpong [CPU_A CPU_B [ROUND_TRIPS]]\n");
		return 2;
	}
	if (argc >= 3) {
		a = number(argv[1], CPU_SETSIZE);
		b = number(argv[2], CPU_SETSIZE);
		if (argc == 4)
			n = number(argv[3], 100000000);
		if (a < 0 || b < 0 || n < 1) {
			fprintf(stderr, "pingpong: bad CPU or round-trip count\n");
			return 2;
		}
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("pingpong: socketpair");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("pingpong: fork");
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(pin((int)b) != 0 || bounce(sv[1], n, 0) != 0);
	}
	close(sv[1]);
	if (pin((int)a) != 0) {
		perror("pingpong: sched_setaffinity");
		kill(pid, SIGTERM);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (bounce(sv[0], n, 1) != 0) {
		fprintf(stderr, "pingpong: the bounce failed\n");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("cpu %ld <-> cpu %ld: %.1f us a round trip (%ld round trips)\n", a, b,
	       ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 /
		       (double)n,
	       n);
	rc = 0;
out:
	close(sv[0]);
	if (waitpid(pid, &status, 0) == pid && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		rc = 1;
	return rc;
}

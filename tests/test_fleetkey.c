/* test_fleetkey.c - the fleet key: a generated file loads back; a file that
 * others could read or swap, or that holds anything but the one line, is
 * refused; hashes and fingerprints agree across hosts with one key and
 * differ otherwise; boxes open only whole, under their key and label. */
#include "config.h"
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "ag_err.h"
#include "ag_fleetkey.h"

#define HEADER "authguard-fleet-key-v1 "
/* A key known to an independent implementation (Python's hashlib.blake2b,
 * deriving the subkeys as crypto_kdf_derive_from_key does). */
#define KAT_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define CANARY	0x5a

struct fx {
	char dir[64];
	char key[128], key2[128], other[128];
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_fleetkey.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->key, sizeof(f->key), "%s/key", f->dir);
	snprintf(f->key2, sizeof(f->key2), "%s/key2", f->dir);
	snprintf(f->other, sizeof(f->other), "%s/other", f->dir);
	*state = f;
	return 0;
}

/* Removes whatever a test left in the directory (files, links, a FIFO, one
 * level of directories). */
static int teardown(void **state)
{
	struct fx *f = *state;
	char p[512];
	struct dirent *e;
	DIR *d = opendir(f->dir);

	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
			if (unlink(p) != 0)
				rmdir(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void spit(const char *path, const char *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static size_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return (size_t)n;
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static void load_ok(struct fx *f, const char *path, struct ag_fleetkey *k)
{
	f->err[0] = '\0';
	assert_int_equal(ag_fleetkey_load(path, k, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->err, "");
}

/* Loading path fails with want, leaves *k zeroed, and says so in err. */
static void load_fails(struct fx *f, const char *path, int want, const char *says)
{
	struct ag_fleetkey k;

	memset(&k, CANARY, sizeof(k));
	f->err[0] = '\0';
	assert_int_equal(ag_fleetkey_load(path, &k, f->err, sizeof(f->err)), want);
	assert_true(all_zero(&k, sizeof(k)));
	assert_non_null(strstr(f->err, path));
	if (strstr(f->err, says) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", f->err, says);
}

static void test_generate_load(void **state)
{
	struct fx *f = *state;
	struct ag_fleetkey k;
	struct stat st;
	char buf[256];
	size_t n, i;

	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	assert_int_equal(lstat(f->key, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	n = slurp(f->key, buf, sizeof(buf));
	assert_int_equal(n, strlen(HEADER) + 64 + 1);
	assert_memory_equal(buf, HEADER, strlen(HEADER));
	for (i = strlen(HEADER); i < n - 1; i++)
		assert_non_null(strchr("0123456789abcdef", buf[i]));
	assert_int_equal(buf[n - 1], '\n');
	load_ok(f, f->key, &k);
	assert_false(all_zero(&k, sizeof(k)));
	ag_fleetkey_wipe(&k);
	assert_true(all_zero(&k, sizeof(k)));
	ag_fleetkey_wipe(NULL);
}

/* The mode is 0600 whatever the umask took away. */
static void test_generate_umask(void **state)
{
	struct fx *f = *state;
	struct ag_fleetkey k;
	struct stat st;
	mode_t old = umask(0277);

	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	umask(old);
	assert_int_equal(stat(f->key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	load_ok(f, f->key, &k);
}

static void test_no_overwrite(void **state)
{
	struct fx *f = *state;
	char before[256], after[256], missing[160];
	struct stat st;

	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	slurp(f->key, before, sizeof(before));
	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), AG_ERR_EXISTS);
	assert_non_null(strstr(f->err, "already exists"));
	slurp(f->key, after, sizeof(after));
	assert_string_equal(before, after);
	/* Not through a symbolic link either, even one that points nowhere. */
	assert_int_equal(symlink(f->other, f->key2), 0);
	assert_int_equal(ag_fleetkey_generate(f->key2, f->err, sizeof(f->err)), AG_ERR_EXISTS);
	assert_int_equal(lstat(f->other, &st), -1);
	/* Nowhere to write: an error, and nothing left behind. */
	snprintf(missing, sizeof(missing), "%s/nodir/key", f->dir);
	f->err[0] = '\0';
	assert_int_equal(ag_fleetkey_generate(missing, f->err, sizeof(f->err)), AG_ERR_SYS);
	assert_non_null(strstr(f->err, "nodir"));
	assert_int_equal(ag_fleetkey_generate(NULL, NULL, 0), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_generate("", f->err, sizeof(f->err)), AG_ERR_INVAL);
}

/* A write that fails half way (files limited to 10 bytes) leaves no file.
 * In a child: the limit would also cut this program's own output. */
static void test_generate_cleans_up(void **state)
{
	struct fx *f = *state;
	struct rlimit rl = {10, 10};
	struct stat st;
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(100);
		_exit(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)) == AG_ERR_SYS &&
			      strstr(f->err, "cannot write") != NULL
			  ? 0
			  : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(lstat(f->key, &st), -1);
	/* And with room, the same path works. */
	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
}

static void test_refuse_mode(void **state)
{
	struct fx *f = *state;
	static const mode_t bad[] = {0640, 0604, 0660, 0644, 0620, 0602, 0610, 0601, 0666};
	static const mode_t good[] = {0600, 0400, 0700};
	struct ag_fleetkey k;
	size_t i;

	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(f->key, bad[i]), 0);
		load_fails(f, f->key, AG_ERR_PERM, "chmod 600");
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(chmod(f->key, good[i]), 0);
		load_ok(f, f->key, &k);
	}
}

static void test_refuse_not_file(void **state)
{
	struct fx *f = *state;
	struct ag_fleetkey k;

	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	assert_int_equal(symlink(f->key, f->key2), 0);
	load_fails(f, f->key2, AG_ERR_PERM, "symbolic link");
	load_ok(f, f->key, &k);
	assert_int_equal(mkdir(f->other, 0700), 0);
	load_fails(f, f->other, AG_ERR_PERM, "not a regular file");
	assert_int_equal(rmdir(f->other), 0);
	/* A FIFO is refused at once, not waited on. */
	assert_int_equal(mkfifo(f->other, 0600), 0);
	load_fails(f, f->other, AG_ERR_PERM, "not a regular file");
	load_fails(f, "/dev/null", AG_ERR_PERM, "not a regular file");
	assert_int_equal(unlink(f->other), 0);
	load_fails(f, f->other, AG_ERR_NOTFOUND, "--keygen");
	assert_int_equal(ag_fleetkey_load(NULL, &k, f->err, sizeof(f->err)), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_load(f->key, NULL, NULL, 0), AG_ERR_INVAL);
}

/* Root can give the file away and see it refused; others cannot try. */
static void test_refuse_owner(void **state)
{
	struct fx *f = *state;
	struct ag_fleetkey k;

	if (geteuid() != 0)
		skip();
	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	assert_int_equal(chown(f->key, 4242, 4242), 0);
	load_fails(f, f->key, AG_ERR_PERM, "chown root");
	/* Root with another group is fine: the mode keeps the group out. */
	assert_int_equal(chown(f->key, 0, 4242), 0);
	load_ok(f, f->key, &k);
}

static void test_bad_content(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
	    "",
	    "\n",
	    HEADER,
	    HEADER "\n",
	    HEADER "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\n",
	    HEADER "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\n",
	    HEADER "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1F\n",
	    HEADER KAT_HEX "0\n",
	    HEADER KAT_HEX "00\n",
	    HEADER KAT_HEX " \n",
	    HEADER KAT_HEX "\n\n",
	    HEADER KAT_HEX "\r\n",
	    HEADER KAT_HEX "\nsecond line\n",
	    HEADER KAT_HEX "\n" HEADER KAT_HEX "\n",
	    HEADER " " KAT_HEX "\n",
	    " " HEADER KAT_HEX "\n",
	    "authguard-fleet-key-v2 " KAT_HEX "\n",
	    "authguard-fleet-key-v1\t" KAT_HEX "\n",
	    "authguard-fleet-key-v1" KAT_HEX "\n",
	    HEADER "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
	    HEADER "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",
	    HEADER "000102030405060708090a0b0c0d0e0f1011121314151617-8191a1b1c1d1e1f\n",
	    "\xef\xbb\xbf" HEADER KAT_HEX "\n",
	};
	static const char nul_in_key[] = HEADER "0001020304050607\0"
						"090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	char big[300];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spit(f->key, bad[i], strlen(bad[i]), 0600);
		load_fails(f, f->key, AG_ERR_CONFIG, "not a fleet key file");
		/* The message never repeats the secret. */
		assert_null(strstr(f->err, "0a0b0c0d"));
		assert_null(strstr(f->err, "0A0B0C0D"));
	}
	spit(f->key, nul_in_key, sizeof(nul_in_key) - 1, 0600);
	load_fails(f, f->key, AG_ERR_CONFIG, "64 lower-case hex digits");
	/* Too long: refused from its size before any of it is read. */
	memset(big, 'a', sizeof(big));
	memcpy(big, HEADER KAT_HEX "\n", strlen(HEADER KAT_HEX "\n"));
	spit(f->key, big, sizeof(big), 0600);
	load_fails(f, f->key, AG_ERR_CONFIG, "too long");
	spit(f->key, big, 128, 0600);
	load_fails(f, f->key, AG_ERR_CONFIG, "too long");
	spit(f->key, big, 127, 0600);
	load_fails(f, f->key, AG_ERR_CONFIG, "follows the key");
}

/* The final newline is optional; the key is the same with or without it. */
static void test_newline_optional(void **state)
{
	struct fx *f = *state;
	struct ag_fleetkey a, b;

	spit(f->key, HEADER KAT_HEX "\n", strlen(HEADER KAT_HEX "\n"), 0600);
	spit(f->key2, HEADER KAT_HEX, strlen(HEADER KAT_HEX), 0400);
	load_ok(f, f->key, &a);
	load_ok(f, f->key2, &b);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void test_known_answers(void **state)
{
	struct fx *f = *state;
	struct ag_fleetkey k;
	char h[AG_FLEETKEY_HASH_LEN + 1], fp[AG_FLEETKEY_FP_LEN + 1];

	spit(f->key, HEADER KAT_HEX "\n", strlen(HEADER KAT_HEX "\n"), 0600);
	load_ok(f, f->key, &k);
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_USER, "alice", NULL, h);
	assert_string_equal(h, "M6eJ5E22-DM");
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_SOURCE, "192.0.2.1/32", NULL, h);
	assert_string_equal(h, "PTM19NHppLU");
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_AGG, "192.0.2.0/24", NULL, h);
	assert_string_equal(h, "RlH_NxHHxsQ");
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, "alice", "192.0.2.1/32", h);
	assert_string_equal(h, "yyPBB2XGSus");
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, "alice", "", h);
	assert_string_equal(h, "Z2cb8XCdK1k");
	ag_fleetkey_fingerprint(&k, fp);
	assert_string_equal(fp, "833ed4482d05ec0a");
	ag_fleetkey_wipe(&k);
}

struct hashes {
	char u[AG_FLEETKEY_HASH_LEN + 1], s[AG_FLEETKEY_HASH_LEN + 1];
	char p[AG_FLEETKEY_HASH_LEN + 1], fp[AG_FLEETKEY_FP_LEN + 1];
};

static void hashes_of(struct fx *f, const char *path, struct hashes *h)
{
	struct ag_fleetkey k;

	load_ok(f, path, &k);
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_USER, "alice", NULL, h->u);
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_SOURCE, "2001:db8::/64", NULL, h->s);
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, "alice", "2001:db8::/64", h->p);
	ag_fleetkey_fingerprint(&k, h->fp);
	ag_fleetkey_wipe(&k);
}

static void test_same_and_different_keys(void **state)
{
	struct fx *f = *state;
	struct hashes a, b, c;
	char line[256];
	size_t n;

	/* Two hosts: two loads of copies of one file. */
	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	n = slurp(f->key, line, sizeof(line));
	spit(f->key2, line, n, 0600);
	hashes_of(f, f->key, &a);
	hashes_of(f, f->key2, &b);
	assert_memory_equal(&a, &b, sizeof(a));
	/* Another fleet: nothing in common. */
	assert_int_equal(unlink(f->key2), 0);
	assert_int_equal(ag_fleetkey_generate(f->key2, f->err, sizeof(f->err)), 0);
	hashes_of(f, f->key2, &c);
	assert_string_not_equal(a.u, c.u);
	assert_string_not_equal(a.s, c.s);
	assert_string_not_equal(a.p, c.p);
	assert_string_not_equal(a.fp, c.fp);
}

static void test_domains(void **state)
{
	struct fx *f = *state;
	static const char dom[] = {AG_FLEETKEY_D_USER, AG_FLEETKEY_D_SOURCE, AG_FLEETKEY_D_AGG,
				   AG_FLEETKEY_D_PAIR};
	char h[4][AG_FLEETKEY_HASH_LEN + 1], x[AG_FLEETKEY_HASH_LEN + 1],
	    y[AG_FLEETKEY_HASH_LEN + 1];
	struct ag_fleetkey k;
	size_t i, j;

	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	load_ok(f, f->key, &k);
	for (i = 0; i < 4; i++)
		ag_fleetkey_hash(&k, dom[i], "x", NULL, h[i]);
	for (i = 0; i < 4; i++)
		for (j = i + 1; j < 4; j++)
			assert_string_not_equal(h[i], h[j]);
	/* The same text hashed twice is the same hash. */
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_USER, "x", NULL, x);
	assert_string_equal(x, h[0]);
	/* Parts are not concatenated. */
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, "ab", "c", x);
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, "a", "bc", y);
	assert_string_not_equal(x, y);
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, "abc", NULL, y);
	assert_string_not_equal(x, y);
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, "", "abc", y);
	assert_string_not_equal(x, y);
	/* No second part is not an empty one. */
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, "a", NULL, x);
	ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, "a", "", y);
	assert_string_not_equal(x, y);
	ag_fleetkey_wipe(&k);
}

static void test_printable(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {
	    "", "a", "root", "we ird\x01=\\\"user", "\xff\xfe", "10.0.0.1/32", "2001:db8::/64"};
	static const char b64url[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char out[AG_FLEETKEY_HASH_LEN + 8], fp[AG_FLEETKEY_FP_LEN + 8];
	struct ag_fleetkey k;
	size_t i, j;

	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	load_ok(f, f->key, &k);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (j = 0; j < sizeof(names) / sizeof(names[0]); j++) {
			memset(out, CANARY, sizeof(out));
			ag_fleetkey_hash(&k, AG_FLEETKEY_D_PAIR, names[i], names[j], out);
			assert_int_equal(strlen(out), AG_FLEETKEY_HASH_LEN);
			assert_int_equal(strspn(out, b64url), AG_FLEETKEY_HASH_LEN);
			assert_int_equal((unsigned char)out[AG_FLEETKEY_HASH_LEN + 1], CANARY);
		}
	}
	memset(fp, CANARY, sizeof(fp));
	ag_fleetkey_fingerprint(&k, fp);
	assert_int_equal(strlen(fp), AG_FLEETKEY_FP_LEN);
	assert_int_equal(strspn(fp, "0123456789abcdef"), AG_FLEETKEY_FP_LEN);
	assert_int_equal((unsigned char)fp[AG_FLEETKEY_FP_LEN + 1], CANARY);
	ag_fleetkey_wipe(&k);
}

static void test_seal_open(void **state)
{
	struct fx *f = *state;
	static const size_t lens[] = {0, 1, 15, 16, 17, 1000, 70000};
	static uint8_t msg[70000], box[70000 + AG_FLEETKEY_SEAL_OVERHEAD], box2[sizeof(box)],
	    back[70000 + 1];
	struct ag_fleetkey k;
	size_t i, n, n2, m;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	load_ok(f, f->key, &k);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(ag_fleetkey_seal(&k, "allow", msg, lens[i], box, sizeof(box), &n),
				 0);
		assert_int_equal(n, lens[i] + AG_FLEETKEY_SEAL_OVERHEAD);
		/* Into exactly enough room. */
		memset(back, CANARY, sizeof(back));
		assert_int_equal(ag_fleetkey_open(&k, "allow", box, n, back, lens[i], &m), 0);
		assert_int_equal(m, lens[i]);
		assert_memory_equal(back, msg, m);
		assert_int_equal(back[m], CANARY);
		/* A fresh nonce each time: the same list never looks the same. */
		assert_int_equal(
		    ag_fleetkey_seal(&k, "allow", msg, lens[i], box2, sizeof(box2), &n2), 0);
		assert_int_equal(n2, n);
		assert_memory_not_equal(box, box2, n);
	}
	/* No room. */
	assert_int_equal(ag_fleetkey_seal(&k, "allow", msg, 10, box, 49, &n), AG_ERR_TOOBIG);
	assert_int_equal(n, 0);
	assert_int_equal(ag_fleetkey_seal(&k, "allow", msg, 10, box, 50, &n), 0);
	assert_int_equal(ag_fleetkey_open(&k, "allow", box, n, back, 9, &m), AG_ERR_TOOBIG);
	assert_int_equal(m, 0);
	/* An empty message, and nowhere to put it. */
	assert_int_equal(ag_fleetkey_seal(&k, "deny", NULL, 0, box, sizeof(box), &n), 0);
	assert_int_equal(ag_fleetkey_open(&k, "deny", box, n, NULL, 0, &m), 0);
	assert_int_equal(m, 0);
	ag_fleetkey_wipe(&k);
}

static void test_tampered(void **state)
{
	struct fx *f = *state;
	static const char text[] = "198.51.100.0/24 0 ticket 42";
	uint8_t box[128], bad[160], back[128];
	struct ag_fleetkey k, k2;
	size_t n, m, i;
	int bit;

	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	assert_int_equal(ag_fleetkey_generate(f->key2, f->err, sizeof(f->err)), 0);
	load_ok(f, f->key, &k);
	load_ok(f, f->key2, &k2);
	assert_int_equal(ag_fleetkey_seal(&k, "deny", text, sizeof(text), box, sizeof(box), &n), 0);
	/* Any bit flipped, in the nonce, the MAC or the text. */
	for (i = 0; i < n; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, box, n);
			bad[i] ^= (uint8_t)(1u << bit);
			memset(back, CANARY, sizeof(back));
			assert_int_equal(
			    ag_fleetkey_open(&k, "deny", bad, n, back, sizeof(back), &m),
			    AG_ERR_PROTO);
			assert_int_equal(m, 0);
			assert_int_equal(back[0], CANARY); /* nothing written */
		}
	}
	/* Cut anywhere, or grown. */
	for (i = 0; i < n; i++)
		assert_int_equal(ag_fleetkey_open(&k, "deny", box, i, back, sizeof(back), &m),
				 AG_ERR_PROTO);
	memcpy(bad, box, n);
	bad[n] = 0;
	assert_int_equal(ag_fleetkey_open(&k, "deny", bad, n + 1, back, sizeof(back), &m),
			 AG_ERR_PROTO);
	/* Another fleet's key, or the box of another list. */
	assert_int_equal(ag_fleetkey_open(&k2, "deny", box, n, back, sizeof(back), &m),
			 AG_ERR_PROTO);
	assert_int_equal(ag_fleetkey_open(&k, "allow", box, n, back, sizeof(back), &m),
			 AG_ERR_PROTO);
	assert_int_equal(ag_fleetkey_open(&k, "deny", box, n, back, sizeof(back), &m), 0);
	assert_string_equal((const char *)back, text);
	ag_fleetkey_wipe(&k);
	ag_fleetkey_wipe(&k2);
}

static void test_bad_arguments(void **state)
{
	struct fx *f = *state;
	char label[AG_FLEETKEY_LABEL_MAX + 2];
	uint8_t box[128], back[128];
	struct ag_fleetkey k;
	size_t n, m;

	assert_int_equal(ag_fleetkey_generate(f->key, f->err, sizeof(f->err)), 0);
	load_ok(f, f->key, &k);
	assert_int_equal(ag_fleetkey_seal(&k, NULL, "x", 1, box, sizeof(box), &n), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_seal(&k, "", "x", 1, box, sizeof(box), &n), AG_ERR_INVAL);
	memset(label, 'l', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	assert_int_equal(ag_fleetkey_seal(&k, label, "x", 1, box, sizeof(box), &n), AG_ERR_INVAL);
	label[AG_FLEETKEY_LABEL_MAX] = '\0';
	assert_int_equal(ag_fleetkey_seal(&k, label, "x", 1, box, sizeof(box), &n), 0);
	assert_int_equal(ag_fleetkey_open(&k, label, box, n, back, sizeof(back), &m), 0);
	assert_int_equal(ag_fleetkey_seal(&k, "a", NULL, 1, box, sizeof(box), &n), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_seal(NULL, "a", "x", 1, box, sizeof(box), &n), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_seal(&k, "a", "x", 1, NULL, sizeof(box), &n), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_seal(&k, "a", "x", 1, box, sizeof(box), NULL), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_seal(&k, "a", "x", SIZE_MAX, box, sizeof(box), &n),
			 AG_ERR_TOOBIG);
	assert_int_equal(ag_fleetkey_open(&k, "", box, 50, back, sizeof(back), &m), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_open(&k, "a", NULL, 50, back, sizeof(back), &m), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_open(&k, "a", box, 50, NULL, 10, &m), AG_ERR_INVAL);
	assert_int_equal(ag_fleetkey_open(NULL, "a", box, 50, back, sizeof(back), &m),
			 AG_ERR_INVAL);
	ag_fleetkey_wipe(&k);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_generate_load),
	    T(test_generate_umask),
	    T(test_no_overwrite),
	    T(test_generate_cleans_up),
	    T(test_refuse_mode),
	    T(test_refuse_not_file),
	    T(test_refuse_owner),
	    T(test_bad_content),
	    T(test_newline_optional),
	    T(test_known_answers),
	    T(test_same_and_different_keys),
	    T(test_domains),
	    T(test_printable),
	    T(test_seal_open),
	    T(test_tampered),
	    T(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

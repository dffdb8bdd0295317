/* ag_fleetkey.c - the fleet key file, and the hashes, fingerprint and boxes
 * made with it. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "ag_conf.h"
#include "ag_err.h"
#include "ag_fleetkey.h"

#define HEADER	   "authguard-fleet-key-v1 "
#define HEADER_LEN (sizeof(HEADER) - 1)
#define HEX_LEN	   (2 * AG_FLEETKEY_BYTES)
#define LINE_LEN   (HEADER_LEN + HEX_LEN + 1) /* with the newline */
/* Anything longer than a valid file is refused unread; the slack only lets
 * "too long" be told apart from a short read. */
#define READ_MAX 128

/* 128 bits: two names collide with probability about n^2 / 2^129, nothing
 * for the few million keys a fleet holds. */
#define DIGEST_LEN 16
#define HASH_BYTES 8 /* of a name's digest, kept: AG_FLEETKEY_HASH_LEN characters */

/* Subkeys: a context per purpose and an id per subkey, so that no two
 * purposes ever share a key even if one of the two is changed by mistake.
 * A new file format (v2) gets new contexts. */
#define KDF_HASH_ID  UINT64_C(1)
#define KDF_HASH_CTX "AGfkHash"
#define KDF_SEAL_ID  UINT64_C(2)
#define KDF_SEAL_CTX "AGfkSeal"
#define KDF_FP_ID    UINT64_C(3)
#define KDF_FP_CTX   "AGfkFing"

/* What the fingerprint is the keyed hash of: a constant, since the key is
 * the only thing that varies. */
#define FP_INPUT "authguard fleet key fingerprint v1"

_Static_assert(AG_FLEETKEY_BYTES == crypto_kdf_KEYBYTES, "master key size");
_Static_assert(AG_FLEETKEY_BYTES >= crypto_kdf_BYTES_MIN &&
		   AG_FLEETKEY_BYTES <= crypto_kdf_BYTES_MAX,
	       "subkey size");
_Static_assert(AG_FLEETKEY_BYTES == crypto_generichash_KEYBYTES, "hash key size");
_Static_assert(AG_FLEETKEY_BYTES == crypto_secretbox_KEYBYTES, "box key size");
_Static_assert(AG_FLEETKEY_SEAL_OVERHEAD == crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES,
	       "box overhead");
_Static_assert(AG_FLEETKEY_HASH_LEN + 1 ==
		   sodium_base64_ENCODED_LEN(HASH_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	       "hash length");
_Static_assert(HASH_BYTES <= DIGEST_LEN, "hash bytes");
_Static_assert(DIGEST_LEN >= crypto_generichash_BYTES_MIN, "digest length");
_Static_assert(AG_FLEETKEY_FP_LEN % 2 == 0 && AG_FLEETKEY_FP_LEN / 2 <= DIGEST_LEN,
	       "fingerprint length");
_Static_assert(sizeof(KDF_HASH_CTX) - 1 == crypto_kdf_CONTEXTBYTES &&
		   sizeof(KDF_SEAL_CTX) - 1 == crypto_kdf_CONTEXTBYTES &&
		   sizeof(KDF_FP_CTX) - 1 == crypto_kdf_CONTEXTBYTES,
	       "kdf contexts");
_Static_assert(LINE_LEN < READ_MAX, "read bound");

static int sodium_ready(char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		ag_fail(err, errlen, "libsodium failed to initialise");
		return AG_ERR_SYS;
	}
	return 0;
}

/* ---- generating -------------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Makes the new name itself durable: fsync of the file alone does not. */
static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, rc, saved;

	if (slash == NULL) {
		strcpy(dir, ".");
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		memcpy(dir, path, n); /* path is shorter than PATH_MAX: checked */
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved; /* for the caller's message */
	return rc;
}

int ag_fleetkey_generate(const char *path, char *err, size_t errlen)
{
	uint8_t key[AG_FLEETKEY_BYTES];
	char line[LINE_LEN + 1];
	const char *what = NULL;
	int fd = -1, created = 0, saved, rc;

	if (path == NULL || path[0] == '\0') {
		ag_fail(err, errlen, "no path for the fleet key file");
		return AG_ERR_INVAL;
	}
	if (strlen(path) >= PATH_MAX) {
		ag_fail(err, errlen, "%.64s...: path too long", path);
		return AG_ERR_INVAL;
	}
	rc = sodium_ready(err, errlen);
	if (rc != 0)
		return rc;
	randombytes_buf(key, sizeof(key));
	memcpy(line, HEADER, HEADER_LEN);
	sodium_bin2hex(line + HEADER_LEN, HEX_LEN + 1, key, sizeof(key));
	line[LINE_LEN - 1] = '\n';
	line[LINE_LEN] = '\0';

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		saved = errno;
		if (saved == EEXIST) {
			ag_fail(err, errlen,
				"%s: already exists (not overwritten: remove it first if it is "
				"really to be replaced, and then copy the new key to every host)",
				path);
			rc = AG_ERR_EXISTS;
		} else {
			ag_fail(err, errlen, "%s: cannot create: %s", path, strerror(saved));
			rc = AG_ERR_SYS;
		}
		goto out;
	}
	created = 1;
	/* The umask may have taken more than group and other bits away. */
	if (fchmod(fd, 0600) != 0)
		what = "cannot set mode 0600";
	else if (write_all(fd, line, LINE_LEN) != 0)
		what = "cannot write";
	else if (fsync(fd) != 0)
		what = "cannot sync";
	if (what == NULL) {
		rc = close(fd);
		fd = -1;
		if (rc != 0)
			what = "cannot write";
		else if (sync_parent(path) != 0)
			what = "cannot sync its directory";
	}
	rc = 0;
	if (what != NULL) {
		ag_fail(err, errlen, "%s: %s: %s", path, what, strerror(errno));
		rc = AG_ERR_SYS;
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && created)
		unlink(path);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(line, sizeof(line));
	return rc;
}

/* ---- loading ------------------------------------------------------------------- */

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The file's bytes (not NUL-terminated, may hold NULs) into key. Upper-case
 * hex is refused with the rest: one spelling per key, so that two copies of
 * a key file that differ are different keys. The message never quotes the
 * content: it is a secret. */
static int parse_line(const char *buf, size_t len, uint8_t key[AG_FLEETKEY_BYTES], const char **why)
{
	size_t i;
	int hi, lo;

	if (len < HEADER_LEN || memcmp(buf, HEADER, HEADER_LEN) != 0) {
		*why = "it does not start with \"" HEADER "\"";
		return AG_ERR_CONFIG;
	}
	buf += HEADER_LEN;
	len -= HEADER_LEN;
	for (i = 0; i < AG_FLEETKEY_BYTES; i++) {
		hi = 2 * i < len ? hex_nibble(buf[2 * i]) : -1;
		lo = 2 * i + 1 < len ? hex_nibble(buf[2 * i + 1]) : -1;
		if (hi < 0 || lo < 0) {
			*why = "the key is not 64 lower-case hex digits";
			return AG_ERR_CONFIG;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	if (len > HEX_LEN && !(len == HEX_LEN + 1 && buf[HEX_LEN] == '\n')) {
		*why = "something follows the key (only one line, with an optional newline, "
		       "is allowed)";
		return AG_ERR_CONFIG;
	}
	return 0;
}

static int bad_content(const char *path, const char *why, char *err, size_t errlen)
{
	ag_fail(err, errlen,
		"%s: not a fleet key file: %s (expected one line: authguard-fleet-key-v1 and 64 "
		"lower-case hex digits, as authguard-governor --keygen writes it)",
		path, why);
	return AG_ERR_CONFIG;
}

/* Refuses a key file others could read or swap, or one too long to be
 * one. */
static int check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uid_t euid = geteuid();

	if (fstat(fd, &st) != 0) {
		ag_fail(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		return AG_ERR_SYS;
	}
	if (!S_ISREG(st.st_mode)) {
		ag_fail(err, errlen,
			"%s: not a regular file (hash_key_file must name the file made by "
			"authguard-governor --keygen)",
			path);
		return AG_ERR_PERM;
	}
	if ((st.st_mode & 077) != 0) {
		ag_fail(err, errlen,
			"%s: mode %04o gives group or others access to the fleet key (run: "
			"chmod 600 %s)",
			path, (unsigned)(st.st_mode & 07777), path);
		return AG_ERR_PERM;
	}
	if (st.st_uid != 0 && st.st_uid != euid) {
		ag_fail(err, errlen,
			"%s: owned by uid %lu, neither root nor uid %lu reading it (run: chown "
			"root %s)",
			path, (unsigned long)st.st_uid, (unsigned long)euid, path);
		return AG_ERR_PERM;
	}
	if (st.st_size >= READ_MAX)
		return bad_content(path, "it is too long", err, errlen);
	return 0;
}

static int open_key(const char *path, int *fdp, char *err, size_t errlen)
{
	int saved;

	/* O_NONBLOCK: opening a FIFO must not hang; check_file refuses it. */
	*fdp = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (*fdp >= 0)
		return 0;
	saved = errno;
	switch (saved) {
	case ENOENT:
		ag_fail(err, errlen,
			"%s: no such file (make one with authguard-governor --keygen %s, then "
			"copy it, mode 0600, to every host of the fleet)",
			path, path);
		return AG_ERR_NOTFOUND;
	case ELOOP:
		ag_fail(err, errlen,
			"%s: is a symbolic link, which is refused (set hash_key_file to the "
			"file itself)",
			path);
		return AG_ERR_PERM;
	case EACCES:
		ag_fail(err, errlen, "%s: cannot read: %s (it must be readable by this user)", path,
			strerror(saved));
		return AG_ERR_PERM;
	default:
		ag_fail(err, errlen, "%s: cannot open: %s", path, strerror(saved));
		return AG_ERR_SYS;
	}
}

static int derive(struct ag_fleetkey *out, const uint8_t master[AG_FLEETKEY_BYTES])
{
	if (crypto_kdf_derive_from_key(out->hash_key, sizeof(out->hash_key), KDF_HASH_ID,
				       KDF_HASH_CTX, master) != 0 ||
	    crypto_kdf_derive_from_key(out->seal_key, sizeof(out->seal_key), KDF_SEAL_ID,
				       KDF_SEAL_CTX, master) != 0 ||
	    crypto_kdf_derive_from_key(out->fp_key, sizeof(out->fp_key), KDF_FP_ID, KDF_FP_CTX,
				       master) != 0)
		return AG_ERR_SYS;
	return 0;
}

int ag_fleetkey_load(const char *path, struct ag_fleetkey *out, char *err, size_t errlen)
{
	uint8_t master[AG_FLEETKEY_BYTES];
	char buf[READ_MAX];
	const char *why = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1, rc;

	if (out != NULL)
		sodium_memzero(out, sizeof(*out));
	if (path == NULL || out == NULL) {
		ag_fail(err, errlen, "no fleet key file given");
		return AG_ERR_INVAL;
	}
	rc = sodium_ready(err, errlen);
	if (rc != 0)
		return rc;
	rc = open_key(path, &fd, err, errlen);
	if (rc != 0)
		goto out;
	rc = check_file(fd, path, err, errlen);
	if (rc != 0)
		goto out;
	/* To the end or the bound, whatever st_size said: the file may change. */
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ag_fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			rc = AG_ERR_SYS;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == sizeof(buf))
		why = "it is too long";
	else
		rc = parse_line(buf, len, master, &why);
	if (why != NULL) {
		rc = bad_content(path, why, err, errlen);
		goto out;
	}
	rc = derive(out, master);
	if (rc != 0)
		ag_fail(err, errlen, "%s: cannot derive the subkeys", path);
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		sodium_memzero(out, sizeof(*out));
	sodium_memzero(master, sizeof(master));
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

void ag_fleetkey_wipe(struct ag_fleetkey *k)
{
	if (k != NULL)
		sodium_memzero(k, sizeof(*k));
}

/* ---- hashes and fingerprint ------------------------------------------------------ */

/* A part is its length (8 bytes, little-endian) then its bytes: with the
 * domain byte first, no two (domain, a, b) encode alike: ("ab", "c") is
 * not ("a", "bc"), and b NULL (nothing) is not b "" (a zero length). */
static void put_part(crypto_generichash_state *st, const char *s)
{
	uint64_t n = strlen(s);
	uint8_t len[8];
	int i;

	for (i = 0; i < 8; i++)
		len[i] = (uint8_t)(n >> (8 * i));
	crypto_generichash_update(st, len, sizeof(len));
	crypto_generichash_update(st, (const uint8_t *)s, (unsigned long long)n);
}

/* The first 8 bytes of a 16-byte keyed BLAKE2b (libsodium's shortest; a
 * truncated PRF is a PRF), in base64url without padding: 11 characters.
 * These become Redis key suffixes and set members, kept in memory once per
 * tracked name, so every byte counts: 64 bits keep a fleet's names apart
 * (two of a billion names collide with odds of about 3 in 100), and only
 * the fleet key can tell which names would. Keys of 15 and 26 bytes fit
 * jemalloc's 24- and 32-byte classes (docs/redis.md, "Memory"). [A-Za-z0-9_-] is safe in a key, a
 * log line and a shell word, and holds neither ':' (the usual separator in
 * key prefixes) nor '{' '}' (Redis Cluster hash tags). The fixed length lets
 * digests be concatenated in a key (PFX "P" hu hs) with no separator. */
void ag_fleetkey_hash(const struct ag_fleetkey *k, char domain, const char *a, const char *b,
		      char out[AG_FLEETKEY_HASH_LEN + 1])
{
	crypto_generichash_state st;
	uint8_t dig[DIGEST_LEN];
	uint8_t d = (uint8_t)domain;

	crypto_generichash_init(&st, k->hash_key, sizeof(k->hash_key), sizeof(dig));
	crypto_generichash_update(&st, &d, 1);
	put_part(&st, a);
	if (b != NULL)
		put_part(&st, b);
	crypto_generichash_final(&st, dig, sizeof(dig));
	/* The state after init is a function of the key. */
	sodium_memzero(&st, sizeof(st));
	sodium_bin2base64(out, AG_FLEETKEY_HASH_LEN + 1, dig, HASH_BYTES,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(dig, sizeof(dig));
}

/* Keyed with its own subkey, so that it is a PRF output unrelated to the
 * hashing and sealing keys; 64 bits tell two fleets apart (this guards
 * against a mistake, not an attacker, who could write any fingerprint into
 * Redis anyway). */
void ag_fleetkey_fingerprint(const struct ag_fleetkey *k, char out[AG_FLEETKEY_FP_LEN + 1])
{
	uint8_t dig[DIGEST_LEN];

	crypto_generichash(dig, sizeof(dig), (const uint8_t *)FP_INPUT, sizeof(FP_INPUT) - 1,
			   k->fp_key, sizeof(k->fp_key));
	sodium_bin2hex(out, AG_FLEETKEY_FP_LEN + 1, dig, AG_FLEETKEY_FP_LEN / 2);
}

/* ---- boxes ------------------------------------------------------------------------ */

/* The box key for label: crypto_secretbox has no associated data, so the
 * label goes into the key instead. Without it, anyone able to write to Redis
 * could swap the sealed allow and deny lists and both would still open. */
static int box_key(const struct ag_fleetkey *k, const char *label,
		   uint8_t key[crypto_secretbox_KEYBYTES])
{
	size_t n;

	if (label == NULL)
		return AG_ERR_INVAL;
	n = strnlen(label, AG_FLEETKEY_LABEL_MAX + 1);
	if (n == 0 || n > AG_FLEETKEY_LABEL_MAX)
		return AG_ERR_INVAL;
	if (crypto_generichash(key, crypto_secretbox_KEYBYTES, (const uint8_t *)label, n,
			       k->seal_key, sizeof(k->seal_key)) != 0)
		return AG_ERR_SYS;
	return 0;
}

int ag_fleetkey_seal(const struct ag_fleetkey *k, const char *label, const void *msg, size_t len,
		     uint8_t *out, size_t cap, size_t *outlen)
{
	static const uint8_t none;
	uint8_t key[crypto_secretbox_KEYBYTES];
	int rc;

	if (outlen != NULL)
		*outlen = 0;
	if (k == NULL || out == NULL || outlen == NULL || (msg == NULL && len != 0))
		return AG_ERR_INVAL;
	if (len > SIZE_MAX - AG_FLEETKEY_SEAL_OVERHEAD || len > crypto_secretbox_MESSAGEBYTES_MAX)
		return AG_ERR_TOOBIG;
	if (cap < len + AG_FLEETKEY_SEAL_OVERHEAD)
		return AG_ERR_TOOBIG;
	rc = box_key(k, label, key);
	if (rc != 0)
		goto out;
	/* 192-bit random nonces: no counter to keep across restarts and hosts,
	 * and no fear of a repeat. */
	randombytes_buf(out, crypto_secretbox_NONCEBYTES);
	if (crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, msg != NULL ? msg : &none, len,
				  out, key) != 0) {
		rc = AG_ERR_SYS;
		goto out;
	}
	*outlen = len + AG_FLEETKEY_SEAL_OVERHEAD;
out:
	sodium_memzero(key, sizeof(key));
	return rc;
}

int ag_fleetkey_open(const struct ag_fleetkey *k, const char *label, const uint8_t *box, size_t len,
		     void *out, size_t cap, size_t *outlen)
{
	uint8_t key[crypto_secretbox_KEYBYTES];
	uint8_t none[1];
	size_t mlen;
	int rc;

	if (outlen != NULL)
		*outlen = 0;
	if (k == NULL || outlen == NULL || (box == NULL && len != 0) || (out == NULL && cap != 0))
		return AG_ERR_INVAL;
	if (len < AG_FLEETKEY_SEAL_OVERHEAD)
		return AG_ERR_PROTO;
	mlen = len - AG_FLEETKEY_SEAL_OVERHEAD;
	if (cap < mlen)
		return AG_ERR_TOOBIG;
	rc = box_key(k, label, key);
	if (rc != 0)
		goto out;
	/* Checks the MAC before it writes anything to out. */
	if (crypto_secretbox_open_easy(out != NULL ? out : none, box + crypto_secretbox_NONCEBYTES,
				       len - crypto_secretbox_NONCEBYTES, box, key) != 0) {
		rc = AG_ERR_PROTO;
		goto out;
	}
	*outlen = mlen;
out:
	sodium_memzero(key, sizeof(key));
	return rc;
}

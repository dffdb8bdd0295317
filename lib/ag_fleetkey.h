/* ag_fleetkey.h - the fleet key: what hosts sharing a Redis store agree on.
 *
 * No user name or address reaches Redis in clear. Keys are keyed BLAKE2b
 * hashes, lists are sealed with crypto_secretbox, both under subkeys derived
 * from one 32-byte master key that every host of a fleet reads from the same
 * file (hash_key_file). The file is one line:
 *
 *     authguard-fleet-key-v1 <64 lower-case hex digits>\n
 *
 * A keyed fingerprint, stored in Redis, lets a host with another key refuse
 * to join. Everything here needs libsodium; ag_fleetkey_generate and
 * ag_fleetkey_load call sodium_init themselves.
 */
#ifndef AG_FLEETKEY_H
#define AG_FLEETKEY_H

#include <stddef.h>
#include <stdint.h>

#define AG_FLEETKEY_BYTES    32 /* master key and each subkey */
#define AG_FLEETKEY_HASH_LEN 11 /* ag_fleetkey_hash output, without the NUL */
#define AG_FLEETKEY_FP_LEN   16 /* ag_fleetkey_fingerprint output, without the NUL */
/* A sealed box is this much longer than its message (nonce + MAC). */
#define AG_FLEETKEY_SEAL_OVERHEAD 40
/* Longest label ag_fleetkey_seal and ag_fleetkey_open accept. */
#define AG_FLEETKEY_LABEL_MAX 64

/* Hash domains: what a hashed name stands for. The same text in two
 * domains hashes to unrelated values. */
#define AG_FLEETKEY_D_USER   'u' /* a = user name */
#define AG_FLEETKEY_D_SOURCE 's' /* a = source (address or prefix) */
#define AG_FLEETKEY_D_AGG    'a' /* a = aggregate netblock */
#define AG_FLEETKEY_D_PAIR   'p' /* a = user name, b = source */

/* Subkeys only: the master key is wiped once they are derived. Wipe with
 * ag_fleetkey_wipe when done (nothing here is allocated). */
struct ag_fleetkey {
	uint8_t hash_key[AG_FLEETKEY_BYTES]; /* crypto_generichash key for names */
	uint8_t seal_key[AG_FLEETKEY_BYTES]; /* crypto_secretbox keys come from this */
	uint8_t fp_key[AG_FLEETKEY_BYTES];   /* the fingerprint only */
};

/* Makes a new key file at path: 32 random bytes in the format above, mode
 * 0600, created exclusively (never follows a symbolic link, never
 * overwrites) and fsync'd, as is its directory. 0; AG_ERR_EXISTS when
 * something is at path already; AG_ERR_INVAL for a NULL or empty path;
 * AG_ERR_SYS otherwise. On error, err (may be NULL) says what went wrong and
 * no partial file is left behind. */
int ag_fleetkey_generate(const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Reads the key file at path into *out (cleared on entry, cleared again on
 * error). The file must be a regular file, not a symbolic link, owned by
 * root or by the effective user, with no permission for group or others,
 * and hold exactly the one line above (the final newline optional). 0, or
 * with a message in err (may be NULL) saying what to do:
 *   AG_ERR_NOTFOUND  no such file
 *   AG_ERR_PERM      a symbolic link, not a regular file, wrong owner or
 *                    mode, or not readable by this user
 *   AG_ERR_CONFIG    anything but the one line
 *   AG_ERR_INVAL     path or out NULL
 *   AG_ERR_SYS       another failure to open or read */
int ag_fleetkey_load(const char *path, struct ag_fleetkey *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Zeroes *k (NULL allowed). */
void ag_fleetkey_wipe(struct ag_fleetkey *k);

/* Writes into out the keyed hash of (domain, a, b): AG_FLEETKEY_HASH_LEN
 * characters from [A-Za-z0-9_-], then a NUL. a is required; b may be NULL,
 * which hashes differently from "". */
void ag_fleetkey_hash(const struct ag_fleetkey *k, char domain, const char *a, const char *b,
		      char out[AG_FLEETKEY_HASH_LEN + 1]);

/* Writes AG_FLEETKEY_FP_LEN lower-case hex digits and a NUL into out: the
 * same on every host with the same key file, unrelated otherwise, and
 * telling nothing about the key. Safe to store and to log. */
void ag_fleetkey_fingerprint(const struct ag_fleetkey *k, char out[AG_FLEETKEY_FP_LEN + 1]);

/* Seals msg[0..len) into out (capacity cap): a random nonce, then the
 * crypto_secretbox of the message, len + AG_FLEETKEY_SEAL_OVERHEAD bytes in
 * all, stored in *outlen (0 on error). label (1..AG_FLEETKEY_LABEL_MAX
 * bytes, e.g. "allow" or "deny") names what the box holds: only open with
 * the same label succeeds, so that a box cannot pass for another one. msg
 * may be NULL when len is 0. 0, AG_ERR_TOOBIG when cap is too small,
 * AG_ERR_INVAL for a NULL or bad argument. */
int ag_fleetkey_seal(const struct ag_fleetkey *k, const char *label, const void *msg, size_t len,
		     uint8_t *out, size_t cap, size_t *outlen) __attribute__((warn_unused_result));

/* Opens box[0..len) sealed by ag_fleetkey_seal under label into out
 * (capacity cap, len - AG_FLEETKEY_SEAL_OVERHEAD bytes needed; out may be
 * NULL when cap is 0), the message length in *outlen (0 on error; nothing
 * is written to out unless the box checks out). 0;
 * AG_ERR_PROTO when the box is too short, forged, damaged, sealed under
 * another key or another label; AG_ERR_TOOBIG when cap is too small;
 * AG_ERR_INVAL for a NULL or bad argument. */
int ag_fleetkey_open(const struct ag_fleetkey *k, const char *label, const uint8_t *box, size_t len,
		     void *out, size_t cap, size_t *outlen) __attribute__((warn_unused_result));

#endif

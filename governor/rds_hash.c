/*
 * The keyed hashes of names (ag_fleetkey_hash, BLAKE2b) remembered in a
 * small direct-mapped cache: a login asks PRECHECK, DECIDE and REPORT of
 * the same user and source, and hashing them anew each time was 6% of the
 * governor's CPU. Bounded (RDS_HC_SLOTS entries of short names; a longer
 * name is hashed every time), wiped when the store goes. The slot is
 * chosen by SipHash under a random key, so no one can aim names at one
 * slot to evict another's (and a miss only costs the hash it saves).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ag_err.h"
#include "rds.h"

#define RDS_HC_SLOTS	1024 /* a power of 2 */
#define RDS_HC_NAME_MAX 63

struct rds_hc_slot {
	char domain; /* 0: empty */
	unsigned char len;
	char name[RDS_HC_NAME_MAX];
	char out[AG_FLEETKEY_HASH_LEN + 1];
};

struct rds_hcache {
	unsigned char key[crypto_shorthash_KEYBYTES];
	struct rds_hc_slot slot[RDS_HC_SLOTS];
};

int rds_hash_init(struct rds *r)
{
	r->hc = calloc(1, sizeof(*r->hc));
	if (r->hc == NULL)
		return AG_ERR_NOMEM;
	randombytes_buf(r->hc->key, sizeof(r->hc->key));
	return 0;
}

void rds_hash_free(struct rds *r)
{
	if (r->hc == NULL)
		return;
	sodium_memzero(r->hc, sizeof(*r->hc));
	free(r->hc);
	r->hc = NULL;
}

void rds_hash(struct rds *r, char domain, const char *name, char out[AG_FLEETKEY_HASH_LEN + 1])
{
	unsigned char in[1 + RDS_HC_NAME_MAX], h[crypto_shorthash_BYTES];
	struct rds_hc_slot *s;
	size_t len = strlen(name);
	uint64_t i;

	if (r->hc == NULL || len > RDS_HC_NAME_MAX) {
		ag_fleetkey_hash(&r->key, domain, name, NULL, out);
		return;
	}
	in[0] = (unsigned char)domain;
	memcpy(in + 1, name, len);
	crypto_shorthash(h, in, 1 + len, r->hc->key);
	memcpy(&i, h, sizeof(i));
	s = &r->hc->slot[i & (RDS_HC_SLOTS - 1)];
	if (s->domain == domain && s->len == len && memcmp(s->name, name, len) == 0) {
		memcpy(out, s->out, AG_FLEETKEY_HASH_LEN + 1);
		return;
	}
	ag_fleetkey_hash(&r->key, domain, name, NULL, out);
	s->domain = domain;
	s->len = (unsigned char)len;
	memcpy(s->name, name, len);
	memcpy(s->out, out, AG_FLEETKEY_HASH_LEN + 1);
}

/* The request path's random numbers: a pool refilled from libsodium's
 * generator (rand.h). */
#include "rand.h"

#include <string.h>

#include <sodium.h>

#define RAND_POOL 512

static uint8_t pool[RAND_POOL];
static size_t left; /* unread bytes at the pool's end */

void gov_rand_buf(void *buf, size_t n)
{
	uint8_t *out = buf;
	size_t take;

	while (n > 0) {
		if (left == 0) {
			randombytes_buf(pool, sizeof(pool));
			left = sizeof(pool);
		}
		take = n < left ? n : left;
		memcpy(out, pool + sizeof(pool) - left, take);
		/* what was handed out is not kept */
		sodium_memzero(pool + sizeof(pool) - left, take);
		left -= take;
		out += take;
		n -= take;
	}
}

uint32_t gov_rand_u32(void)
{
	uint32_t v;

	gov_rand_buf(&v, sizeof(v));
	return v;
}

uint32_t gov_rand_uniform(uint32_t upper)
{
	uint32_t min, v;

	if (upper < 2)
		return 0;
	/* Rejection below 2^32 mod upper keeps it uniform. */
	min = (uint32_t)(-upper) % upper;
	do
		v = gov_rand_u32();
	while (v < min);
	return v % upper;
}

/* Random numbers for the request path (attempt ids, tickets, jitter),
 * drawn from a small pool that libsodium refills: one getrandom(2) per
 * RAND_POOL bytes instead of one per request (a system call costs as much
 * as a decision on a virtual machine). The pool is the governor's own
 * process's; the state saver's child (loop.c) never draws from it. */
#ifndef GOV_RAND_H
#define GOV_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n random bytes. */
void gov_rand_buf(void *buf, size_t n);

/* A uniform random 32-bit value. */
uint32_t gov_rand_u32(void);

/* A uniform random value in [0, upper); 0 when upper < 2. */
uint32_t gov_rand_uniform(uint32_t upper);

#endif

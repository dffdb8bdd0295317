/* ag_time.c - clocks. */
#include "config.h"
#include <time.h>
#include "ag_time.h"

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ag_mono_us(void) { return clock_us(CLOCK_MONOTONIC); }
int64_t ag_mono_ms(void) { return clock_us(CLOCK_MONOTONIC) / 1000; }
int64_t ag_wall_ms(void) { return clock_us(CLOCK_REALTIME) / 1000; }

/* ag_time.h - clocks. Deadlines use the monotonic clock; state that must
 * survive a restart (holds, trust) uses the wall clock. */
#ifndef AG_TIME_H
#define AG_TIME_H

#include <stdint.h>

/* CLOCK_MONOTONIC in ms / us. */
int64_t ag_mono_ms(void);
int64_t ag_mono_us(void);
/* CLOCK_REALTIME in ms since the epoch. */
int64_t ag_wall_ms(void);

#endif

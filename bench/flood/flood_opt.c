/* flood_opt.c - see flood_opt.h. */
#include "flood_opt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int fl_num(const char *prog, const char *name, const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "%s: %s: bad value '%s' (expected %ld..%ld)\n", prog, name, s, min,
			max);
		return -1;
	}
	*out = (long)v;
	return 0;
}

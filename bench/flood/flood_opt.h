/* flood_opt.h - the strict integer parser the flood programs share (they are
 * kept free of libag so that bench/flood.sh can build them with cc alone). */
#ifndef FLOOD_OPT_H
#define FLOOD_OPT_H

/* *out = the whole decimal number s, if it lies in min..max: 0; else -1
 * after "PROG: NAME: bad value ..." on stderr. */
int fl_num(const char *prog, const char *name, const char *s, long min, long max, long *out);

#endif

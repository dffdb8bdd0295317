/* status_view.h - "authguardctl status" for people (status_view.c). */
#ifndef AG_CTL_STATUS_VIEW_H
#define AG_CTL_STATUS_VIEW_H

#include "records.h"

/* Prints the status record of rs as labelled lines. 0, or -1 when rs has
 * no status record (print it generically then). */
int ctl_status_print(const struct ctl_recs *rs);

#endif

/* statefile.h - the state file: holds, trust, rates and runtime list entries
 * survive a crash, a restart or an upgrade.
 *
 * Written every state_interval and on SIGTERM to PATH.tmp (mode 0600), fsync'd,
 * then renamed over PATH. Read back at start; a file that does not parse is
 * refused whole (and the governor starts empty, saying so), never half-read.
 */
#ifndef GOV_STATEFILE_H
#define GOV_STATEFILE_H

#include <stdint.h>
#include "store.h"
#include "lists.h"

/* Saves the store (through its save op) and the runtime list entries.
 * now is wall-clock ms. 0 or AG_ERR_SYS / AG_ERR_IO (the old file is kept). */
int gov_state_save(const char *path, struct gov_store *s, const struct gov_lists *l, int64_t now)
	__attribute__((warn_unused_result));

/* Loads a file written by gov_state_save into an empty store and lists,
 * dropping what has expired by now. AG_ERR_NOTFOUND when there is no file,
 * AG_ERR_PROTO when it does not parse (nothing loaded). */
int gov_state_load(const char *path, struct gov_store *s, struct gov_lists *l, int64_t now)
	__attribute__((warn_unused_result));

#endif

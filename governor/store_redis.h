/* store_redis.h - the Redis store: rules 2-4 for a whole fleet, in one
 * Redis shared by every host's governor (store_redis.c).
 *
 * Each decide and report is one FCALL of governor/redis/rules.lua on a
 * hiredis async connection driven by the governor's event loop: no blocking
 * call, many commands in flight. Names never reach Redis in clear: every key
 * is a keyed hash under the fleet key (lib/ag_fleetkey.h).
 *
 * When Redis cannot answer (not connected, a command past redis_timeout, too
 * many commands in flight), the attempt is decided on this host alone by a
 * memory store whose rates are 1/fleet_size of the configured ones: the
 * store's state is then "degraded", and the login path never waits for
 * Redis longer than redis_timeout.
 */
#ifndef GOV_STORE_REDIS_H
#define GOV_STORE_REDIS_H

#include "ag_conf.h"
#include "ag_fleetkey.h"
#include "store.h"

struct event_base;

/* The script's text (generated from governor/redis/rules.lua). */
extern const char gov_redis_script[];

/* Creates the Redis store from the [store] and [limits] options (conf is
 * borrowed and must outlive the store; on reload call
 * gov_store_redis_reconf): reads hash_key_file and redis_password_file,
 * starts connecting. Until Redis answers, the store is degraded. lists (the
 * governor's, borrowed) get the fleet's runtime entries. 0, or an
 * AG_ERR_* code with why in err (the key file, the password file). */
struct gov_lists;
int gov_store_redis_new(const struct ag_conf *conf, struct event_base *base,
			struct gov_lists *lists, struct gov_store *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* For -t: reads redis_password_file and hash_key_file as the store would,
 * and writes the fleet key's fingerprint into fp. 0, or an AG_ERR_* code
 * with why in err. */
int gov_store_redis_check(const struct ag_conf *conf, char fp[AG_FLEETKEY_FP_LEN + 1], char *err,
			  size_t errlen) __attribute__((warn_unused_result));

/* Takes a reloaded conf (the Redis address and key are kept: they need a
 * restart). */
void gov_store_redis_reconf(struct gov_store *s, const struct ag_conf *conf);

/* fn(arg) runs when a host releases a slot of a full fleet
 * (fleet_max_inflight): the governor's waiters may ask again. */
void gov_store_redis_on_free(struct gov_store *s, void (*fn)(void *arg), void *arg);

#endif

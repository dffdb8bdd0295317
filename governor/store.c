/* store.c - what every store shares: rule names, the state word and the
 * generic free. */
#include "config.h"
#include <string.h>
#include "store.h"

const char *gov_rule_name(int rule)
{
	static const char *const names[GOV_RULE_COUNT] = {
	    [GOV_RULE_NONE] = "none",
	    [GOV_RULE_DENYLIST] = "deny",
	    [GOV_RULE_ALLOWLIST] = "allow",
	    [GOV_RULE_BACKOFF] = "backoff",
	    [GOV_RULE_SOURCE_RATE] = "source_rate",
	    [GOV_RULE_USER_RATE] = "user_rate",
	    [GOV_RULE_USER_CAP] = "user_cap",
	    [GOV_RULE_SHED] = "shed",
	};

	if (rule < 0 || rule >= GOV_RULE_COUNT)
		return "none";
	return names[rule];
}

const char *gov_store_state(const struct gov_store *s, int64_t *since_ms)
{
	int64_t since = 0;
	const char *w = "ok";

	if (s != NULL && s->ops != NULL && s->ops->state != NULL)
		w = s->ops->state(s->ctx, &since);
	if (since_ms != NULL)
		*since_ms = since;
	return w != NULL ? w : "ok";
}

void gov_store_free(struct gov_store *s)
{
	if (s == NULL)
		return;
	if (s->ops != NULL && s->ops->destroy != NULL)
		s->ops->destroy(s->ctx);
	memset(s, 0, sizeof(*s));
}

/* store.c - what every store shares: rule names and the generic free. */
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

void gov_store_free(struct gov_store *s)
{
	if (s == NULL)
		return;
	if (s->ops != NULL && s->ops->destroy != NULL)
		s->ops->destroy(s->ctx);
	memset(s, 0, sizeof(*s));
}

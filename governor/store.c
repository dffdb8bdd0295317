/* store.c - what every store shares: rule names, the state word, one way
 * to call a store that answers at once or later, and the generic free. */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "ag_err.h"
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

int gov_store_decide(struct gov_store *s, const struct gov_attempt *at, int64_t now, int mode,
		     unsigned slot_mask, gov_store_decided done, void *arg)
{
	struct gov_decision d;
	int rc;

	if (s->ops->decide_async != NULL)
		return s->ops->decide_async(s->ctx, at, now, mode, slot_mask, done, arg);
	if (s->ops->decide == NULL)
		return AG_ERR_INVAL;
	rc = s->ops->decide(s->ctx, at, now, mode, slot_mask, &d);
	done(arg, rc, rc == 0 ? &d : NULL);
	return 0;
}

int gov_store_report(struct gov_store *s, const struct gov_attempt *at, int outcome, int64_t now,
		     int jitter_pm, gov_store_reported done, void *arg)
{
	int64_t cleared = 0;
	int rc;

	if (s->ops->report_async != NULL)
		return s->ops->report_async(s->ctx, at, outcome, now, jitter_pm, done, arg);
	if (s->ops->report == NULL)
		return AG_ERR_INVAL;
	rc = s->ops->report(s->ctx, at, outcome, now, jitter_pm, &cleared);
	if (done != NULL)
		done(arg, rc, cleared);
	return 0;
}

int gov_store_describe(struct gov_store *s, const char *user, const char *source, const char *agg,
		       int64_t now, gov_store_described done, void *arg)
{
	static char text[8192]; /* the loop is single-threaded */
	int rc;

	if (s->ops->describe_async != NULL)
		return s->ops->describe_async(s->ctx, user, source, agg, now, done, arg);
	if (s->ops->describe == NULL)
		return AG_ERR_INVAL;
	text[0] = '\0';
	rc = s->ops->describe(s->ctx, user, source, agg, now, text, sizeof(text));
	done(arg, rc, rc == 0 ? text : NULL);
	return 0;
}

int gov_store_reset(struct gov_store *s, int scope, const char *user, const char *source,
		    const char *agg, gov_store_resetted done, void *arg)
{
	if (s->ops->reset_async != NULL)
		return s->ops->reset_async(s->ctx, scope, user, source, agg, done, arg);
	if (s->ops->reset == NULL)
		return AG_ERR_INVAL;
	done(arg, s->ops->reset(s->ctx, scope, user, source));
	return 0;
}

int gov_store_is_async(const struct gov_store *s)
{
	return s != NULL && s->ops != NULL && s->ops->decide_async != NULL;
}

size_t gov_store_when(char *b, size_t cap, const char *name, int64_t when, int64_t now)
{
	int n;

	if (when <= 0)
		n = snprintf(b, cap, " %s=-", name);
	else if (when >= now)
		n = snprintf(b, cap, " %s_in=%lldms", name, (long long)(when - now));
	else
		n = snprintf(b, cap, " %s_ago=%lldms", name, (long long)(now - when));
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			b[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

void gov_store_free(struct gov_store *s)
{
	if (s == NULL)
		return;
	if (s->ops != NULL && s->ops->destroy != NULL)
		s->ops->destroy(s->ctx);
	memset(s, 0, sizeof(*s));
}

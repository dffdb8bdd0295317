/* ag_modargs.c - the PAM module's arguments.
 *
 * "preauth socket=/run/x.sock timeout=500 silent": a phase word, flags and
 * key=value pairs, looked up in the one option table (ag_conf.c, scope
 * AG_SCOPE_PAM) and set through ag_option_set() like a config line. The
 * arguments are checked strictly: an unknown word, a bad value, a key given
 * twice or two words that write the same field are an error naming the
 * argument, never a silent default.
 */
#include "config.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "ag_conf.h"
#include "ag_err.h"

void ag_modargs_free(struct ag_modargs *a)
{
	if (a == NULL)
		return;
	free(a->socket);
	free(a->conf);
	memset(a, 0, sizeof(*a));
}

/* The argument that set option j before (index into argv), if any; phases,
 * precheck/noprecheck and repeats all write the same field. */
static int earlier_conflict(const int *given, const struct ag_option *o, size_t *which)
{
	size_t j, n;
	const struct ag_option *table = ag_options(&n);

	for (j = 0; j < n; j++) {
		if (given[j] != 0 && table[j].offset == o->offset &&
		    (table[j].scope & AG_SCOPE_PAM)) {
			*which = j;
			return given[j] - 1;
		}
	}
	return -1;
}

static int modarg(struct ag_modargs *a, int *given, const char *const *argv, int i, char *err,
		  size_t errlen)
{
	const char *arg = argv[i], *eq = strchr(arg, '=');
	char key[32], qa[AG_QUOTE_BUF], qp[AG_QUOTE_BUF], expect[160], why[AG_QUOTE_BUF + 40];
	size_t klen = eq != NULL ? (size_t)(eq - arg) : strlen(arg), which = 0;
	const struct ag_option *o = NULL, *table = ag_options(NULL);
	int prev, rc;

	ag_quote_value(qa, sizeof(qa), arg, strlen(arg));
	if (klen < sizeof(key)) {
		memcpy(key, arg, klen);
		key[klen] = '\0';
		o = ag_option_find(AG_SCOPE_PAM, NULL, key);
	}
	if (o == NULL) {
		ag_fail(err, errlen, "argument '%s': unknown argument", qa);
		return AG_ERR_CONFIG;
	}
	if (o->type == AG_T_FLAG && eq != NULL) {
		ag_fail(err, errlen, "argument '%s': %s takes no value", qa, o->key);
		return AG_ERR_CONFIG;
	}
	if (o->type != AG_T_FLAG && eq == NULL) {
		ag_fail(err, errlen, "argument '%s': needs a value (%s=...)", qa, o->key);
		return AG_ERR_CONFIG;
	}
	prev = earlier_conflict(given, o, &which);
	if (prev >= 0) {
		ag_quote_value(qp, sizeof(qp), argv[prev], strlen(argv[prev]));
		if (o->offset == offsetof(struct ag_modargs, phase))
			ag_fail(err, errlen,
				"argument '%s': only one phase allowed ('%s' given before)", qa,
				qp);
		else if (&table[which] == o)
			ag_fail(err, errlen, "argument '%s': %s given twice (also '%s')", qa,
				o->key, qp);
		else
			ag_fail(err, errlen, "argument '%s': conflicts with '%s'", qa, qp);
		return AG_ERR_CONFIG;
	}
	rc = ag_option_set(o, a, eq != NULL ? eq + 1 : "", why, sizeof(why));
	if (rc == AG_ERR_CONFIG) {
		ag_option_describe(o, expect, sizeof(expect));
		ag_fail(err, errlen, "argument '%s': %s (expected %s)", qa, why, expect);
		return rc;
	}
	if (rc != 0) {
		ag_fail(err, errlen, "argument '%s': %s", qa, ag_strerror(rc));
		return rc;
	}
	given[o - table] = i + 1;
	return 0;
}

int ag_modargs_parse(struct ag_modargs *a, int argc, const char **argv, char *err, size_t errlen)
{
	int given[AG_OPTIONS_MAX];
	int i, rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (a == NULL)
		return AG_ERR_INVAL;
	memset(a, 0, sizeof(*a));
	memset(given, 0, sizeof(given));
	if (argc < 0 || (argc > 0 && argv == NULL))
		return AG_ERR_INVAL;
	rc = ag_option_defaults(a, AG_SCOPE_PAM);
	for (i = 0; rc == 0 && i < argc; i++) {
		if (argv[i] == NULL) {
			ag_fail(err, errlen, "argument %d: missing", i + 1);
			rc = AG_ERR_INVAL;
			break;
		}
		rc = modarg(a, given, argv, i, err, errlen);
	}
	if (rc != 0)
		ag_modargs_free(a);
	return rc;
}

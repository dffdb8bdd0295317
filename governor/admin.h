/* admin.h - the admin commands (admin.c dispatches; admin_show.c,
 * admin_lists.c answer). Each handler answers c with REPLY frames or an
 * ERROR; the caller has checked who may ask.
 */
#ifndef GOV_ADMIN_H
#define GOV_ADMIN_H

#include "ag_wire.h"

struct gov;
struct gov_client;
struct gov_norm;

/* Normalises an admin-given attempt as a DECIDE would. src (may be NULL) is
 * an address or host name as PAM_RHOST would be, or a source key as stored
 * ("host:NAME", "local:NAME"), taken as it is. 0 or an AG_ERR_* code. */
int gov_admin_norm(const struct gov *g, const char *user, const char *src, struct gov_norm *n);

/* explain USER ADDR */
void gov_admin_explain(struct gov *g, struct gov_client *c, const char *user, const char *addr);
/* show user NAME | source ADDR | pair NAME ADDR */
void gov_admin_show(struct gov *g, struct gov_client *c, int nargs, char args[][AG_NAME_MAX + 1]);
/* top [N [denials|failures [SINCE_MS]]] */
void gov_admin_top(struct gov *g, struct gov_client *c, int nargs, char args[][AG_NAME_MAX + 1]);

/* allow|deny CIDR TTL_MS [COMMENT]; kind is GOV_LIST_ALLOW or GOV_LIST_DENY */
void gov_admin_list_add(struct gov *g, struct gov_client *c, int kind, int nargs,
			char args[][AG_NAME_MAX + 1]);
/* unlist CIDR */
void gov_admin_unlist(struct gov *g, struct gov_client *c, const char *arg);
/* lists */
void gov_admin_lists(struct gov *g, struct gov_client *c);

#endif

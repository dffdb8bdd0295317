/* admin_req.c - one admin request from the CLI to the governor (status,
 * explain, watch's refreshes, ...): ADMIN out, REPLY frames or ERROR back. */
#include "config.h"
#include <string.h>
#include "ag_client.h"
#include "ag_err.h"
#include "ag_time.h"
#include "ag_wire.h"
#include "admin_req.h"

int ctl_admin_request(const char *path, int argc, char **argv, int64_t timeout_ms,
		      int max_frames, int (*on_text)(void *ctx, const char *text, size_t len),
		      void *ctx, int32_t *code, char *err, size_t errcap)
{
	struct ag_conn c;
	struct ag_msg m;
	int64_t deadline = ag_mono_ms() + timeout_ms;
	int frames, i, rc;

	*code = 0;
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	ag_conn_init(&c);
	ag_msg_init(&m, AG_MSG_ADMIN);
	ag_msg_set_str(&m, AG_F_CMD, argv[0]);
	for (i = 1; i < argc && i <= AG_ADMIN_ARGS; i++)
		ag_msg_set_str(&m, AG_F_ARG0 + i - 1, argv[i]);
	rc = ag_conn_open(&c, path, deadline);
	if (rc != 0)
		goto out;
	rc = ag_conn_send(&c, &m, deadline);
	if (rc != 0)
		goto out;
	for (frames = 0; frames < max_frames; frames++) {
		rc = ag_conn_recv(&c, &m, deadline);
		if (rc != 0)
			goto out;
		if (m.type == AG_MSG_ERROR) {
			*code = m.code < 0 ? m.code : AG_ERR_PROTO;
			if (err != NULL && errcap > 0 && AG_HAS(&m, AG_F_TEXT)) {
				size_t n = m.text.len < errcap - 1 ? m.text.len : errcap - 1;

				memcpy(err, m.text.ptr, n);
				err[n] = '\0';
			}
			goto out;
		}
		if (m.type != AG_MSG_REPLY) {
			rc = AG_ERR_PROTO;
			goto out;
		}
		if (AG_HAS(&m, AG_F_TEXT) && m.text.len > 0 &&
		    (rc = on_text(ctx, m.text.ptr, m.text.len)) != 0)
			goto out;
		if (!AG_HAS(&m, AG_F_MORE) || m.more == 0)
			goto out;
	}
	/* A reply that never ends is as useless as none. */
	rc = AG_ERR_TOOBIG;
out:
	ag_conn_close(&c);
	return rc;
}

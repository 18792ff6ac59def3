/* Requests to the Kubernetes API server for the syncer (daemon/kube_sync.c),
 * through libcurl (TLS with the cluster's CA, client certificates, bearer
 * tokens, HTTP/2): plain requests answered whole, and watches, whose stream of
 * newline-separated JSON events is handed over line by line. Blocking: each
 * syncer thread has its own client. */
#ifndef SL_KUBE_CLIENT_H
#define SL_KUBE_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon/kube_config.h"

typedef struct sl_kube_client sl_kube_client;

/* A client of the server cfg names (cfg is copied: its PEMs are shared and
 * must outlive the client). NULL when libcurl cannot make a handle. */
sl_kube_client *sl_kube_client_new(const sl_kube_config *cfg, const _Atomic bool *stop);
void sl_kube_client_free(sl_kube_client *k);

/* method path (with its query) and an optional JSON body: the HTTP status and
 * the answer (malloc'd, NUL-terminated, in *body), or 0 with err for a
 * transport error (or a stop). */
long sl_kube_request(sl_kube_client *k, const char *method, const char *path, const char *body, char **answer,
                     char *err, size_t errlen);

/* A watch: every complete line of the answer goes to on_line (false: end the
 * watch), and after the lines that one read delivered, on_pause is called
 * (NULL: not; false: end the watch), so that events that arrived together can
 * be applied together; returns the HTTP status when the stream ends, 0 with err for a
 * transport error, a stop or a stream quiet longer than idle_s. The answer of
 * a refused watch (not 200) is in *answer. */
long sl_kube_watch(sl_kube_client *k, const char *path, unsigned idle_s,
                   bool (*on_line)(void *arg, const char *line, size_t len), bool (*on_pause)(void *arg), void *arg,
                   char **answer, char *err, size_t errlen);

#endif

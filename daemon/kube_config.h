/* Where the Kubernetes API server is and how to prove who we are, for
 * `sluiced --kubernetes`: from a kubeconfig file (--kubeconfig: its current
 * context's cluster and user) or, without one, from inside a pod (the
 * KUBERNETES_SERVICE_HOST/PORT variables and the service account's token and
 * CA files). A bearer token read from a file is read again whenever the file
 * changes, as projected service-account tokens rotate. */
#ifndef SL_KUBE_CONFIG_H
#define SL_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The service account's files in a pod. */
#define SL_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct sl_kube_config {
    char server[512];         /* "https://host:port" (or "http://...": test and lab servers) */
    char *ca_pem;             /* the cluster's CA certificates (PEM), or NULL: the system's */
    size_t ca_len;
    char *cert_pem, *key_pem; /* a client certificate and its key (PEM), or NULL */
    size_t cert_len, key_len;
    bool insecure;            /* insecure-skip-tls-verify: the server's certificate is not checked */
    char token[8192];         /* a bearer token, or "" */
    char token_file[512];     /* or the file it is read from (re-read when it changes) */
    time_t token_mtime;
    char where[700];          /* for messages: "kubeconfig F (context C)" or "in-cluster" */
} sl_kube_config;

/* Loads path (a kubeconfig), or the in-cluster configuration when path is
 * NULL. False with err naming the file and field. */
bool sl_kube_config_load(const char *path, sl_kube_config *out, char *err, size_t errlen);
void sl_kube_config_free(sl_kube_config *c);

/* The bearer token to send now (from token_file when it changed since it was
 * last read); "" for none. */
const char *sl_kube_config_token(sl_kube_config *c);

#endif

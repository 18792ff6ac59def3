/* The Kubernetes API server's address and credentials (see kube_config.h).
 * A kubeconfig is YAML (read with libyaml through yaml_json.c): its
 * current-context names a context, which names a cluster (server, CA) and a
 * user (token, token file, client certificate); file paths in it are relative
 * to the kubeconfig's own directory, as kubectl takes them. */
#include "daemon/kube_config.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "daemon/compiler_internal.h"
#include "daemon/yaml_json.h"

#define MAX_FILE (4u << 20)

static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!buf || n > MAX_FILE) {
        snprintf(err, errlen, "%s is too large (over %u bytes)", path, MAX_FILE);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A file named in the kubeconfig: absolute, or relative to its directory. */
static void resolve(const char *base_dir, const char *name, char *out, size_t cap)
{
    if (name[0] == '/' || !base_dir)
        snprintf(out, cap, "%s", name);
    else
        snprintf(out, cap, "%s/%s", base_dir, name);
}

/* A PEM from FIELD-data (base64) or FIELD (a file); true with nothing when neither is set. */
static bool pem_of(const json_t *obj, const char *field, const char *base_dir, char **pem, size_t *len, char *err,
                   size_t errlen)
{
    char data_field[64];
    snprintf(data_field, sizeof(data_field), "%s-data", field);
    const char *data = json_string_value(json_object_get(obj, data_field));
    const char *file = json_string_value(json_object_get(obj, field));
    if (data) {
        /* (kubectl takes the base64 folded over lines: so do we) */
        char *compact = malloc(strlen(data) + 1);
        size_t n = 0;
        for (const char *p = data; compact && *p; p++)
            if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
                compact[n++] = *p;
        if (compact)
            compact[n] = '\0';
        *pem = compact ? sl_base64_decode(compact, len) : NULL;
        free(compact);
        if (!*pem) {
            snprintf(err, errlen, "%s is not base64", data_field);
            return false;
        }
        return true;
    }
    if (file) {
        char path[1024];
        resolve(base_dir, file, path, sizeof(path));
        *pem = read_all(path, len, err, errlen);
        return *pem != NULL;
    }
    return true;
}

/* The entry of a kubeconfig list ("clusters", "users", "contexts") named name: its inner object. */
static const json_t *named(const json_t *doc, const char *list, const char *inner, const char *name)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(doc, list), i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0)
            return json_object_get(e, inner);
    }
    return NULL;
}

static bool load_kubeconfig(const char *path, sl_kube_config *c, char *err, size_t errlen)
{
    size_t len;
    char why[512];
    char *text = read_all(path, &len, err, errlen);
    if (!text)
        return false;
    json_t *docs = sl_yaml_load(text, len, why, sizeof(why));
    free(text);
    const json_t *doc = json_array_get(docs, 0);
    bool ok = false;
    char dir_buf[1024];
    snprintf(dir_buf, sizeof(dir_buf), "%s", path);
    const char *base_dir = dirname(dir_buf);
    const char *context_name = json_string_value(json_object_get(doc, "current-context"));
    const json_t *context = context_name ? named(doc, "contexts", "context", context_name) : NULL;
    const char *cluster_name = json_string_value(json_object_get(context, "cluster"));
    const char *user_name = json_string_value(json_object_get(context, "user"));
    const json_t *cluster = cluster_name ? named(doc, "clusters", "cluster", cluster_name) : NULL;
    const json_t *user = user_name ? named(doc, "users", "user", user_name) : NULL;
    const char *server = json_string_value(json_object_get(cluster, "server"));
    if (!docs)
        snprintf(err, errlen, "%s is not YAML: %s", path, why);
    else if (!context_name)
        snprintf(err, errlen, "%s has no current-context", path);
    else if (!context)
        snprintf(err, errlen, "%s: current-context %s is not among its contexts", path, context_name);
    else if (!cluster)
        snprintf(err, errlen, "%s: context %s names cluster %s, which it does not define", path, context_name,
                 cluster_name ? cluster_name : "(none)");
    else if (!server || (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0))
        snprintf(err, errlen, "%s: cluster %s needs a server URL (https://...)", path, cluster_name);
    else if (user_name && !user)
        snprintf(err, errlen, "%s: context %s names user %s, which it does not define", path, context_name, user_name);
    else if (json_object_get(user, "exec") || json_object_get(user, "auth-provider"))
        snprintf(err, errlen, "%s: user %s gets its credentials from %s, which sluiced does not run: give it a "
                 "token, a tokenFile or a client certificate", path, user_name,
                 json_object_get(user, "exec") ? "a command (exec)" : "an auth-provider");
    else
        ok = true;
    if (ok) {
        snprintf(c->server, sizeof(c->server), "%s", server);
        size_t n = strlen(c->server);
        while (n && c->server[n - 1] == '/')
            c->server[--n] = '\0';
        c->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
        char field_err[600] = "";
        const char *token = json_string_value(json_object_get(user, "token"));
        const char *token_file = json_string_value(json_object_get(user, "tokenFile"));
        if (token)
            snprintf(c->token, sizeof(c->token), "%s", token);
        else if (token_file)
            resolve(base_dir, token_file, c->token_file, sizeof(c->token_file));
        if (!pem_of(cluster, "certificate-authority", base_dir, &c->ca_pem, &c->ca_len, field_err, sizeof(field_err)) ||
            !pem_of(user, "client-certificate", base_dir, &c->cert_pem, &c->cert_len, field_err, sizeof(field_err)) ||
            !pem_of(user, "client-key", base_dir, &c->key_pem, &c->key_len, field_err, sizeof(field_err))) {
            snprintf(err, errlen, "%s (cluster %s, user %s): %s", path, cluster_name, user_name ? user_name : "-",
                     field_err);
            ok = false;
        } else if (!c->cert_pem != !c->key_pem) {
            snprintf(err, errlen, "%s: user %s has a client certificate without its key, or a key without its "
                     "certificate", path, user_name);
            ok = false;
        }
        snprintf(c->where, sizeof(c->where), "kubeconfig %s (context %s)", path, context_name);
    }
    json_decref(docs);
    return ok;
}

static bool load_in_cluster(sl_kube_config *c, char *err, size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port) {
        snprintf(err, errlen, "no --kubeconfig, and not in a pod (KUBERNETES_SERVICE_HOST and "
                 "KUBERNETES_SERVICE_PORT are not set)");
        return false;
    }
    bool v6 = strchr(host, ':') != NULL;
    snprintf(c->server, sizeof(c->server), "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
    const char *dir = getenv("SLUICE_SERVICEACCOUNT_DIR"); /* (tests: a pod's files elsewhere) */
    if (!dir || !*dir)
        dir = SL_KUBE_SA_DIR;
    snprintf(c->token_file, sizeof(c->token_file), "%s/token", dir);
    char ca[600];
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    c->ca_pem = read_all(ca, &c->ca_len, err, errlen);
    if (!c->ca_pem)
        return false;
    snprintf(c->where, sizeof(c->where), "in-cluster (%s)", c->server);
    return true;
}

bool sl_kube_config_load(const char *path, sl_kube_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    bool ok = path ? load_kubeconfig(path, out, err, errlen) : load_in_cluster(out, err, errlen);
    if (ok && out->token_file[0] && !sl_kube_config_token(out)[0]) {
        snprintf(err, errlen, "%s: the token file %s cannot be read or is empty", out->where, out->token_file);
        ok = false;
    }
    if (!ok)
        sl_kube_config_free(out);
    return ok;
}

void sl_kube_config_free(sl_kube_config *c)
{
    free(c->ca_pem);
    free(c->cert_pem);
    free(c->key_pem);
    c->ca_pem = c->cert_pem = c->key_pem = NULL;
}

const char *sl_kube_config_token(sl_kube_config *c)
{
    if (!c->token_file[0])
        return c->token;
    struct stat st;
    if (stat(c->token_file, &st) != 0 || (c->token[0] && st.st_mtime == c->token_mtime))
        return c->token;
    size_t len;
    char err[600];
    char *text = read_all(c->token_file, &len, err, sizeof(err));
    if (!text) {
        sl_log_warn("kubernetes", "%s (keeping the token read before)", err);
        return c->token;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (len >= sizeof(c->token))
        sl_log_warn("kubernetes", "the token in %s is longer than %zu bytes: not used", c->token_file,
                    sizeof(c->token) - 1);
    else
        memcpy(c->token, text, len + 1);
    c->token_mtime = st.st_mtime;
    free(text);
    return c->token;
}

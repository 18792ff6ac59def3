/* Requests to the Kubernetes API server (see kube_client.h). */
#include "daemon/kube_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define MAX_ANSWER (256u << 20) /* a list page of 500 objects is far below this */
#define MAX_LINE (64u << 20)    /* one watch event */
#define WATCH_BUFFER (512L << 10)

struct sl_kube_client {
    sl_kube_config cfg; /* (a copy: the token is read per client) */
    const _Atomic bool *stop;
    CURL *curl;
};

typedef struct sink {
    char *data;
    size_t len, cap;
    size_t limit;
    /* A watch: lines go to on_line as they complete. */
    bool (*on_line)(void *arg, const char *line, size_t len);
    bool (*on_pause)(void *arg); /* after the lines of each delivery */
    void *arg;
    bool ended; /* on_line said stop */
    CURL *curl;
} sink;

static bool append(sink *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->limit)
        return false;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *grown = realloc(s->data, cap);
        if (!grown)
            return false;
        s->data = grown, s->cap = cap;
    }
    memcpy(s->data + s->len, p, n);
    s->len += n;
    s->data[s->len] = '\0';
    return true;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    sink *s = arg;
    size_t n = size * nmemb;
    if (!append(s, p, n))
        return 0; /* too large: the transfer fails */
    long status = 0;
    if (s->on_line)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (!s->on_line || status != 200)
        return n; /* (a refused watch answers one Status document: kept whole) */
    size_t from = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (s->data[i] != '\n')
            continue;
        if (i > from && !s->on_line(s->arg, s->data + from, i - from)) {
            s->ended = true;
            return 0;
        }
        from = i + 1;
    }
    memmove(s->data, s->data + from, s->len - from);
    s->len -= from;
    if (from && s->on_pause && !s->on_pause(s->arg)) {
        s->ended = true;
        return 0;
    }
    return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    const sl_kube_client *k = arg;
    return k->stop && atomic_load(k->stop) ? 1 : 0;
}

sl_kube_client *sl_kube_client_new(const sl_kube_config *cfg, const _Atomic bool *stop)
{
    sl_kube_client *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->cfg = *cfg;
    k->stop = stop;
    k->curl = curl_easy_init();
    if (!k->curl) {
        free(k);
        return NULL;
    }
    return k;
}

void sl_kube_client_free(sl_kube_client *k)
{
    if (!k)
        return;
    curl_easy_cleanup(k->curl);
    free(k);
}

/* The handle set for one transfer of method path into s. */
static struct curl_slist *prepare(sl_kube_client *k, const char *method, const char *path, const char *body, sink *s)
{
    CURL *c = k->curl;
    curl_easy_reset(c);
    char url[4096];
    snprintf(url, sizeof(url), "%s%s", k->cfg.server, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, k);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    if (k->cfg.ca_pem) {
        /* The cluster's CA only: not also the system's (libcurl keeps its CA
         * directory beside a CA blob unless told). */
        struct curl_blob ca = {k->cfg.ca_pem, k->cfg.ca_len, CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (k->cfg.cert_pem) {
        struct curl_blob cert = {k->cfg.cert_pem, k->cfg.cert_len, CURL_BLOB_COPY};
        struct curl_blob key = {k->cfg.key_pem, k->cfg.key_len, CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (k->cfg.insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    h = curl_slist_append(h, "User-Agent: sluiced");
    const char *token = sl_kube_config_token(&k->cfg);
    if (token[0]) {
        char auth[8300];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    return h;
}

static long finish(sl_kube_client *k, CURLcode rc, const char *what, char *err, size_t errlen)
{
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &status);
        return status;
    }
    if (k->stop && atomic_load(k->stop))
        snprintf(err, errlen, "stopped");
    else
        snprintf(err, errlen, "%s %s: %s", what, k->cfg.server, curl_easy_strerror(rc));
    return 0;
}

long sl_kube_request(sl_kube_client *k, const char *method, const char *path, const char *body, char **answer,
                     char *err, size_t errlen)
{
    sink s = {.limit = MAX_ANSWER};
    struct curl_slist *h = prepare(k, method, path, body, &s);
    curl_easy_setopt(k->curl, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(k->curl);
    curl_slist_free_all(h);
    long status = finish(k, rc, method, err, errlen);
    if (!status || !s.data) {
        free(s.data);
        s.data = status ? strdup("") : NULL;
    }
    *answer = s.data;
    return status;
}

long sl_kube_watch(sl_kube_client *k, const char *path, unsigned idle_s,
                   bool (*on_line)(void *arg, const char *line, size_t len), bool (*on_pause)(void *arg), void *arg,
                   char **answer, char *err, size_t errlen)
{
    sink s = {.limit = MAX_LINE, .on_line = on_line, .on_pause = on_pause, .arg = arg, .curl = k->curl};
    struct curl_slist *h = prepare(k, "GET", path, NULL, &s);
    /* Large reads: a burst of events comes in few deliveries, each one batch. */
    curl_easy_setopt(k->curl, CURLOPT_BUFFERSIZE, WATCH_BUFFER);
    /* A stream that says nothing (not even a bookmark) for idle_s is dead. */
    curl_easy_setopt(k->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(k->curl, CURLOPT_LOW_SPEED_TIME, (long)idle_s);
    CURLcode rc = curl_easy_perform(k->curl);
    curl_slist_free_all(h);
    long status = s.ended ? 200 : finish(k, rc, "watch", err, errlen);
    *answer = NULL;
    if (status != 200 && status && s.data) {
        *answer = s.data; /* (a refusal: its Status body, not lines) */
        s.data = NULL;
    }
    free(s.data);
    return status;
}

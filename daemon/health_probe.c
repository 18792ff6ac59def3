/* The probe kinds of active health checks; see health_probe.h.
 *
 *   http  the method and path (Host as configured, else the endpoint's
 *         address); healthy when the status is one of expectedStatuses
 *         (default 200-399). Redirects are not followed.
 *   tcp   healthy when a connection is made (kgateway's users asked for it).
 *   grpc  grpc.health.v1.Health/Check over h2c, for serviceName; healthy
 *         when the answer says SERVING (the gRPC health checking protocol). */
#include "daemon/health_probe.h"

#include <stdio.h>
#include <string.h>

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    sl_probe *p = arg;
    size_t len = size * n, room = sizeof(p->body) - p->body_len;
    memcpy(p->body + p->body_len, data, len < room ? len : room);
    p->body_len += len < room ? len : room;
    return len; /* the rest is read and dropped */
}

static void base_url(const sl_probe_target *t, const char *scheme, const char *path, char *url, size_t urllen)
{
    snprintf(url, urllen, "%s://%s%s", scheme, t->address, path);
}

static void http_setup(sl_probe *p, const sl_probe_target *t, char *url, size_t urllen)
{
    base_url(t, t->cfg->tls ? "https" : "http", t->cfg->path, url, urllen);
    if (strcmp(t->cfg->method, "HEAD") == 0)
        curl_easy_setopt(p->easy, CURLOPT_NOBODY, 1L);
    else if (strcmp(t->cfg->method, "GET") != 0)
        curl_easy_setopt(p->easy, CURLOPT_CUSTOMREQUEST, t->cfg->method);
    if (t->cfg->host[0]) {
        char h[300];
        snprintf(h, sizeof(h), "Host: %s", t->cfg->host);
        p->headers = curl_slist_append(p->headers, h);
    }
    p->headers = curl_slist_append(p->headers, "User-Agent: sluice-health-check");
}

static bool http_judge(sl_probe *p, const sl_probe_target *t, CURLcode rc, char *why, size_t whylen)
{
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", p->error[0] ? p->error : curl_easy_strerror(rc));
        return false;
    }
    long status = 0;
    curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
    long bit = status - 100;
    if (bit >= 0 && bit < 512 && (t->cfg->hc.statuses[bit / 64] & (1ull << (bit % 64))))
        return true;
    snprintf(why, whylen, "%s %s answered %ld", t->cfg->method, t->cfg->path, status);
    return false;
}

static void tcp_setup(sl_probe *p, const sl_probe_target *t, char *url, size_t urllen)
{
    base_url(t, "http", "/", url, urllen);
    curl_easy_setopt(p->easy, CURLOPT_CONNECT_ONLY, 1L);
}

static bool tcp_judge(sl_probe *p, const sl_probe_target *t, CURLcode rc, char *why, size_t whylen)
{
    (void)t;
    if (rc == CURLE_OK)
        return true;
    snprintf(why, whylen, "%s", p->error[0] ? p->error : curl_easy_strerror(rc));
    return false;
}

static void grpc_setup(sl_probe *p, const sl_probe_target *t, char *url, size_t urllen)
{
    base_url(t, "http", "/grpc.health.v1.Health/Check", url, urllen);
    /* A length-prefixed HealthCheckRequest: field 1 (service), a string. */
    size_t n = strlen(t->cfg->service); /* at most 256 (validation) */
    if (n > 256)
        n = 256;
    unsigned char *b = (unsigned char *)p->request;
    size_t msg = 0;
    if (n) {
        b[5 + msg++] = 0x0a;
        if (n < 128) {
            b[5 + msg++] = (unsigned char)n;
        } else { /* a two-byte varint */
            b[5 + msg++] = (unsigned char)(0x80 | (n & 0x7f));
            b[5 + msg++] = (unsigned char)(n >> 7);
        }
        memcpy(b + 5 + msg, t->cfg->service, n);
        msg += n;
    }
    b[0] = 0;
    b[1] = 0;
    b[2] = 0;
    b[3] = (unsigned char)(msg >> 8);
    b[4] = (unsigned char)msg;
    curl_easy_setopt(p->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(p->easy, CURLOPT_POSTFIELDS, p->request);
    curl_easy_setopt(p->easy, CURLOPT_POSTFIELDSIZE, (long)(5 + msg));
    p->headers = curl_slist_append(p->headers, "Content-Type: application/grpc");
    p->headers = curl_slist_append(p->headers, "TE: trailers");
    if (t->cfg->host[0]) {
        char h[300];
        snprintf(h, sizeof(h), "Host: %s", t->cfg->host);
        p->headers = curl_slist_append(p->headers, h);
    }
}

static bool grpc_judge(sl_probe *p, const sl_probe_target *t, CURLcode rc, char *why, size_t whylen)
{
    (void)t;
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", p->error[0] ? p->error : curl_easy_strerror(rc));
        return false;
    }
    long status = 0;
    curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
    /* A HealthCheckResponse: field 1 (status), a varint; SERVING is 1. */
    if (status == 200 && p->body_len >= 7 && p->body[0] == 0 && p->body[5] == 0x08 && p->body[6] == 1)
        return true;
    if (status != 200)
        snprintf(why, whylen, "the health service answered HTTP %ld", status);
    else if (p->body_len >= 7 && p->body[5] == 0x08)
        snprintf(why, whylen, "the health service says %s",
                 p->body[6] == 2 ? "NOT_SERVING" : p->body[6] == 3 ? "SERVICE_UNKNOWN" : "UNKNOWN");
    else
        snprintf(why, whylen, "no health status in the answer (grpc-status not OK: unknown service?)");
    return false;
}

static const sl_probe_kind kinds[] = {
    [SL_HC_HTTP] = {"http", http_setup, http_judge},
    [SL_HC_TCP] = {"tcp", tcp_setup, tcp_judge},
    [SL_HC_GRPC] = {"grpc", grpc_setup, grpc_judge},
};

const sl_probe_kind *sl_probe_kind_of(uint8_t k)
{
    return k < sizeof(kinds) / sizeof(kinds[0]) && kinds[k].name ? &kinds[k] : NULL;
}

bool sl_probe_begin(sl_probe *p, const sl_probe_target *t)
{
    memset(p, 0, sizeof(*p));
    p->slot = t->slot;
    const sl_probe_kind *k = sl_probe_kind_of(t->cfg->hc.kind);
    if (!k || !(p->easy = curl_easy_init()))
        return false;
    char url[1200];
    k->setup(p, t, url, sizeof(url));
    curl_easy_setopt(p->easy, CURLOPT_URL, url);
    curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(p->easy, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    curl_easy_setopt(p->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, (long)t->cfg->hc.timeout_ms);
    curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)t->cfg->hc.timeout_ms);
    curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(p->easy, CURLOPT_FORBID_REUSE, 1L); /* each probe sees a fresh connection work */
    curl_easy_setopt(p->easy, CURLOPT_SSL_VERIFYPEER, 0L); /* liveness, not identity: requests check that */
    curl_easy_setopt(p->easy, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(p->easy, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(p->easy, CURLOPT_ERRORBUFFER, p->error);
    if (p->headers)
        curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(p->easy, CURLOPT_PRIVATE, p);
    return true;
}

void sl_probe_end(sl_probe *p)
{
    curl_easy_cleanup(p->easy);
    curl_slist_free_all(p->headers);
    p->easy = NULL;
    p->headers = NULL;
}

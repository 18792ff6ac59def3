/* The forwarding fields of a request sent upstream: X-Forwarded-For and
 * Forwarded (every received line in order, then this hop), X-Forwarded-Proto,
 * X-Forwarded-Host and, for a verified TLS client certificate,
 * X-Forwarded-Client-Cert. Not a filter: every proxied request carries them. */
#include "workers/filters.h"
#include "workers/h2.h"
#include "workers/tls.h"
#include "workers/tracing.h"

#include <string.h>

bool sl_forwarded_is_ours(sl_slice name)
{
    return sl_slice_ieq_cstr(name, "x-forwarded-for") || sl_slice_ieq_cstr(name, "forwarded") ||
           sl_slice_ieq_cstr(name, "x-forwarded-proto") || sl_slice_ieq_cstr(name, "x-forwarded-host") ||
           sl_slice_ieq_cstr(name, "x-forwarded-client-cert");
}

void sl_forwarded_fields(sl_conn *c, sl_buf *b)
{
    const sl_http1_request *req = &c->w->req;
    /* Repeated lines of X-Forwarded-For or Forwarded are one list. */
    bool v6 = strchr(c->peer, ':') != NULL;
    static const char *const chained[] = {"x-forwarded-for", "forwarded"};
    for (int k = 0; k < 2; k++) {
        sl_buf_append(b, k == 0 ? "X-Forwarded-For: " : "Forwarded: ", k == 0 ? 17 : 11);
        for (size_t i = 0; i < req->nheaders; i++) {
            const sl_http1_header *h = &req->headers[i];
            if (!sl_slice_ieq_cstr(h->name, chained[k]) || !h->value.len)
                continue;
            sl_buf_append(b, h->value.ptr, h->value.len);
            sl_buf_append(b, ", ", 2);
        }
        if (k == 0) {
            sl_buf_puts(b, c->peer);
            sl_buf_append(b, "\r\n", 2);
        } else {
            sl_buf_append(b, "for=", 4);
            if (v6)
                sl_buf_append(b, "\"[", 2);
            sl_buf_puts(b, c->peer);
            if (v6)
                sl_buf_append(b, "]\"", 2);
            sl_buf_append(b, ";host=\"", 7);
            sl_buf_put_slice(b, req->host);
            sl_buf_puts(b, c->secure ? "\";proto=https\r\n" : "\";proto=http\r\n");
        }
    }
    sl_buf_puts(b, c->secure ? "X-Forwarded-Proto: https\r\nX-Forwarded-Host: " : "X-Forwarded-Proto: http\r\nX-Forwarded-Host: ");
    sl_buf_put_slice(b, req->host);
    sl_buf_append(b, "\r\n", 2);
    SSL *ssl = c->secure ? sl_h2_stream_ssl(c) : NULL;
    char xfcc[600];
    if (ssl && sl_tls_client_cert_header(ssl, xfcc, sizeof(xfcc)))
        sl_buf_printf(b, "X-Forwarded-Client-Cert: %s\r\n", xfcc);
    sl_trace_upstream_field(c, b); /* this hop's span as the upstream's parent (workers/tracing.c) */
}

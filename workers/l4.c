/* Connections of TLS (tls.mode Passthrough) and TCP listeners: routed without
 * being read as HTTP. A TLS connection is routed by the server name (SNI) of
 * its ClientHello, read without decrypting anything (tls_sni.c), to a
 * TLSRoute whose hostnames match; a TCP connection goes to its listener's
 * TCPRoute at once (the server may speak first). Then proxy.c passes the bytes
 * through both ways, the ClientHello first: the gateway holds no certificate,
 * the backend terminates TLS. */
#include <string.h>

#include "common/log.h"
#include "workers/conn.h"
#include "workers/policy.h"
#include "workers/router.h"
#include "workers/tls_sni.h"

static void route_connection(sl_conn *c, const char *host)
{
    sl_worker *w = c->w;
    sl_wsnap_refresh(w);
    c->snap = w->snap;
    if (!c->snap) {
        sl_conn_close(c);
        return;
    }
    c->snap->refs++;
    uint32_t port_index = c->snap->port_of_socket[c->listener];
    snprintf(c->log_method, sizeof(c->log_method), "%s", c->l4 == SL_ROUTE_TLS ? "TLS" : "TCP");
    snprintf(c->log_host, sizeof(c->log_host), "%s", host);
    snprintf(c->log_path, sizeof(c->log_path), "-");
    c->started_ms = sl_now_ms();
    c->started_us = sl_now_us();
    atomic_fetch_add(&w->slot->requests, 1);
    sl_route_request rr = {
        .host = sl_slice_from_cstr(host),
        .path = sl_slice_from_cstr("/"),
        .method = sl_slice_from_cstr(""),
    };
    const sl_snap_route *route = NULL;
    if (port_index == SL_SNAP_NONE ||
        sl_router_lookup(&c->snap->s, c->snap->regex, port_index, &rr, &route) != SL_ROUTE_FOUND || !route ||
        (route->kind != SL_ROUTE_TLS && route->kind != SL_ROUTE_TCP)) {
        sl_log_debug("worker", "client %s: no %s route for \"%s\"", c->peer, c->log_method, host);
        c->status = 404; /* (for the access log: nothing is said in a protocol the gateway does not speak) */
        sl_conn_close(c);
        return;
    }
    const sl_snapshot *s = &c->snap->s;
    snprintf(c->log_route, sizeof(c->log_route), "%.79s/%.79s", sl_snap_cstr(s, route->route_ns),
             sl_snap_cstr(s, route->route_name));
    /* The TrafficPolicies that apply to connections (ipAccess): the compiler
     * left the others out of this chain. A refusal closes the connection. */
    c->route = route;
    if (sl_policy_run_chain(c, s, route->policies, 0) != SL_POLICY_NEXT)
        return;
    sl_proxy_start_connection(c, route);
}

void sl_l4_input(sl_conn *c)
{
    if (c->state != SL_CONN_READ_HEAD)
        return;
    if (c->l4 == SL_ROUTE_TCP) {
        route_connection(c, "");
        return;
    }
    char host[256] = "";
    size_t len = 0;
    if (c->in.start > 0)
        sl_buf_compact(&c->in);
    sl_sni_result r = sl_tls_sni((const uint8_t *)c->in.data + c->in.start, sl_buf_len(&c->in), host, sizeof(host),
                                 &len);
    if (r == SL_SNI_AGAIN) {
        if (c->client_eof || sl_buf_room(&c->in) == 0) {
            sl_conn_close(c); /* gone, or a hello larger than the buffer: nothing to route */
            return;
        }
        sl_conn_update(c); /* the header timeout bounds the wait */
        return;
    }
    if (r == SL_SNI_INVALID) {
        atomic_fetch_add(&c->w->slot->bad_requests, 1);
        sl_log_debug("worker", "client %s: not a TLS ClientHello on a TLS passthrough listener", c->peer);
        sl_conn_close(c);
        return;
    }
    route_connection(c, r == SL_SNI_FOUND ? host : "");
}

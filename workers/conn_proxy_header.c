/* Reading a PROXY protocol header at the start of a client connection, on
 * ports whose snapshot record asks for one (a TrafficPolicy's proxyProtocol):
 * before TLS and before HTTP, so only the header's own bytes are taken from
 * the socket (peeked first; bytes that surely belong to the header are
 * consumed into a small buffer while it is incomplete, so the loop does not
 * spin on a readable socket). The stated source becomes the connection's peer:
 * logs, X-Forwarded-For, ipAccess and rate limits see the real client. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "workers/conn.h"
#include "workers/proxy_protocol.h"

/* Takes n bytes from the socket (already peeked, so they are there). */
static bool consume(sl_conn *c, uint8_t *to, size_t n)
{
    ssize_t got;
    do
        got = recv(c->fd, to, n, 0);
    while (got < 0 && errno == EINTR);
    return got == (ssize_t)n;
}

static void refuse(sl_conn *c, const char *why)
{
    atomic_fetch_add(&c->w->slot->bad_requests, 1);
    sl_log_debug("worker", "client %s: %s; connection closed", c->peer, why);
    sl_conn_close(c);
}

bool sl_conn_proxy_header(sl_conn *c)
{
    uint8_t buf[SL_PROXY_MAX_HEADER];
    size_t have = c->proxy_len;
    if (have)
        memcpy(buf, c->proxy_buf, have);
    ssize_t n;
    do
        n = recv(c->fd, buf + have, sizeof(buf) - have, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return false;
    if (n <= 0) {
        sl_conn_close(c);
        return false;
    }
    size_t used = 0;
    sl_ip ip;
    switch (sl_proxy_parse(buf, have + (size_t)n, &used, &ip)) {
    case SL_PROXY_OK:
        if (!consume(c, buf + have, used - have)) {
            sl_conn_close(c);
            return false;
        }
        if (ip.family) {
            c->peer_ip = c->client = ip;
            inet_ntop(ip.family, ip.addr, c->peer, sizeof(c->peer));
        }
        break;
    case SL_PROXY_AGAIN:
        if (have + (size_t)n >= sizeof(buf)) {
            refuse(c, "PROXY protocol header too long");
            return false;
        }
        /* Every byte so far belongs to the header: keep them, wait for the rest. */
        if (!c->proxy_buf && !(c->proxy_buf = malloc(SL_PROXY_MAX_HEADER))) {
            sl_conn_close(c);
            return false;
        }
        if (!consume(c, c->proxy_buf + have, (size_t)n)) {
            sl_conn_close(c);
            return false;
        }
        c->proxy_len = (uint16_t)(have + (size_t)n);
        return false;
    case SL_PROXY_NONE:
        if (c->proxy_mode == SL_PROXY_PROTOCOL_REQUIRED) {
            refuse(c, "no PROXY protocol header");
            return false;
        }
        /* Optional: bytes taken while they looked like a header are the request's. */
        if (have && (sl_cbuf_get(c->w, &c->in) != 0 || !sl_buf_append(&c->in, c->proxy_buf, have))) {
            sl_conn_close(c);
            return false;
        }
        break;
    case SL_PROXY_BAD:
        refuse(c, "malformed PROXY protocol header");
        return false;
    }
    c->proxy_mode = SL_PROXY_PROTOCOL_OFF;
    free(c->proxy_buf);
    c->proxy_buf = NULL;
    c->proxy_len = 0;
    return true;
}

/* Snapshot checks shared by the master (after building) and the workers (before
 * switching to a new generation). */
#include "common/snapshot.h"

#include <stdio.h>
#include <string.h>

uint32_t sl_crc32c(const void *buf, size_t len)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        /* Built on first use; identical in every process, so a race only writes
         * the same values twice. */
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const uint8_t *p = buf;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

static const size_t record_size[SL_SNAP_NSECTIONS] = {
    [SL_SNAP_STRINGS] = 1,
    [SL_SNAP_GATEWAYS] = sizeof(sl_snap_gateway),
    [SL_SNAP_PORTS] = sizeof(sl_snap_port),
    [SL_SNAP_LISTENERS] = sizeof(sl_snap_listener),
    [SL_SNAP_VHOSTS] = sizeof(sl_snap_vhost),
    [SL_SNAP_ROUTES] = sizeof(sl_snap_route),
    [SL_SNAP_HEADER_MATCHES] = sizeof(sl_snap_header_match),
    [SL_SNAP_ACTIONS] = sizeof(sl_snap_action),
    [SL_SNAP_BACKEND_REFS] = sizeof(sl_snap_backend_ref),
    [SL_SNAP_BACKENDS] = sizeof(sl_snap_backend),
    [SL_SNAP_ENDPOINTS] = sizeof(sl_snap_endpoint),
    [SL_SNAP_FILTERS] = sizeof(sl_snap_filter),
    [SL_SNAP_PATH_INDEX] = sizeof(sl_snap_path_index),
    [SL_SNAP_CERTS] = sizeof(sl_snap_cert),
};

size_t sl_snap_record_size(enum sl_snap_section sec);
size_t sl_snap_record_size(enum sl_snap_section sec) { return record_size[sec]; }

typedef struct {
    const sl_snapshot *s;
    char *why;
    size_t whylen;
    bool ok;
} checker;

static void fail(checker *c, const char *what, uint32_t index)
{
    if (c->ok)
        snprintf(c->why, c->whylen, "%s (record %u) is out of bounds", what, index);
    c->ok = false;
}

static void check_str(checker *c, sl_snap_str str, const char *what, uint32_t index)
{
    uint32_t n = sl_snap_count(c->s, SL_SNAP_STRINGS);
    const char *strings = sl_snap_table(c->s, SL_SNAP_STRINGS);
    if ((uint64_t)str.off + str.len >= n || strings[str.off + str.len] != '\0')
        fail(c, what, index);
}

static void check_range(checker *c, sl_snap_range r, enum sl_snap_section sec, const char *what, uint32_t index)
{
    if ((uint64_t)r.first + r.count > sl_snap_count(c->s, sec))
        fail(c, what, index);
}

static void check_index(checker *c, uint32_t i, enum sl_snap_section sec, bool may_be_none, const char *what,
                        uint32_t index)
{
    if (may_be_none && i == SL_SNAP_NONE)
        return;
    if (i >= sl_snap_count(c->s, sec))
        fail(c, what, index);
}

bool sl_snapshot_verify(const void *blob, size_t size, char *why, size_t whylen)
{
    const sl_snap_header *h = blob;
    if (size < sizeof(*h) || h->magic != SL_SNAP_MAGIC) {
        snprintf(why, whylen, "not a snapshot (bad magic)");
        return false;
    }
    if (h->format != SL_SNAP_FORMAT) {
        snprintf(why, whylen, "snapshot format %u, expected %u", h->format, SL_SNAP_FORMAT);
        return false;
    }
    if (h->size != size) {
        snprintf(why, whylen, "snapshot size %u, mapped %zu", h->size, size);
        return false;
    }
    for (int i = 0; i < SL_SNAP_NSECTIONS; i++) {
        uint64_t end = (uint64_t)h->sections[i].off + (uint64_t)h->sections[i].count * record_size[i];
        if (h->sections[i].off < sizeof(*h) || end > size || (h->sections[i].off & 7)) {
            snprintf(why, whylen, "section %d lies outside the snapshot", i);
            return false;
        }
    }
    if (sl_crc32c((const uint8_t *)blob + sizeof(*h), size - sizeof(*h)) != h->checksum) {
        snprintf(why, whylen, "checksum mismatch");
        return false;
    }
    sl_snapshot snap = {blob, size};
    checker c = {&snap, why, whylen, true};
    if (sl_snap_count(&snap, SL_SNAP_STRINGS) == 0) {
        snprintf(why, whylen, "empty string section");
        return false;
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_GATEWAYS); i++) {
        const sl_snap_gateway *g = SL_SNAP_GET(&snap, SL_SNAP_GATEWAYS, sl_snap_gateway, i);
        check_str(&c, g->ns, "gateway namespace", i);
        check_str(&c, g->name, "gateway name", i);
        check_str(&c, g->class_name, "gateway class", i);
        check_range(&c, g->ports, SL_SNAP_PORTS, "gateway ports", i);
        check_range(&c, g->listeners, SL_SNAP_LISTENERS, "gateway listeners", i);
        check_str(&c, g->backend_cert_pem, "gateway backend certificate", i);
        check_str(&c, g->backend_key_pem, "gateway backend key", i);
        check_str(&c, g->backend_cert_message, "gateway backend certificate message", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_PORTS); i++) {
        const sl_snap_port *p = SL_SNAP_GET(&snap, SL_SNAP_PORTS, sl_snap_port, i);
        check_index(&c, p->gateway, SL_SNAP_GATEWAYS, false, "port gateway", i);
        check_str(&c, p->address, "port address", i);
        check_range(&c, p->vhosts, SL_SNAP_VHOSTS, "port vhosts", i);
        check_range(&c, p->certs, SL_SNAP_CERTS, "port certs", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_CERTS); i++) {
        const sl_snap_cert *ct = SL_SNAP_GET(&snap, SL_SNAP_CERTS, sl_snap_cert, i);
        check_index(&c, ct->listener, SL_SNAP_LISTENERS, false, "cert listener", i);
        check_str(&c, ct->hostname, "cert hostname", i);
        check_str(&c, ct->cert_pem, "cert pem", i);
        check_str(&c, ct->key_pem, "cert key", i);
        check_str(&c, ct->ciphers, "cert ciphers", i);
        check_str(&c, ct->client_ca, "cert client CAs", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_LISTENERS); i++) {
        const sl_snap_listener *l = SL_SNAP_GET(&snap, SL_SNAP_LISTENERS, sl_snap_listener, i);
        check_index(&c, l->gateway, SL_SNAP_GATEWAYS, false, "listener gateway", i);
        check_index(&c, l->port_index, SL_SNAP_PORTS, true, "listener port", i); /* none: not served */
        check_str(&c, l->name, "listener name", i);
        check_str(&c, l->hostname, "listener hostname", i);
        check_str(&c, l->frontend_message, "listener frontend message", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_VHOSTS); i++) {
        const sl_snap_vhost *v = SL_SNAP_GET(&snap, SL_SNAP_VHOSTS, sl_snap_vhost, i);
        check_str(&c, v->host, "vhost host", i);
        check_index(&c, v->listener, SL_SNAP_LISTENERS, false, "vhost listener", i);
        check_range(&c, v->routes, SL_SNAP_ROUTES, "vhost routes", i);
        check_range(&c, v->exact_index, SL_SNAP_PATH_INDEX, "vhost exact index", i);
        check_range(&c, v->prefix_index, SL_SNAP_PATH_INDEX, "vhost prefix index", i);
        check_range(&c, v->regex_routes, SL_SNAP_ROUTES, "vhost regex routes", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_PATH_INDEX); i++) {
        const sl_snap_path_index *p = SL_SNAP_GET(&snap, SL_SNAP_PATH_INDEX, sl_snap_path_index, i);
        check_str(&c, p->path, "path index path", i);
        check_range(&c, p->routes, SL_SNAP_ROUTES, "path index routes", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_ROUTES); i++) {
        const sl_snap_route *r = SL_SNAP_GET(&snap, SL_SNAP_ROUTES, sl_snap_route, i);
        check_str(&c, r->path, "route path", i);
        check_str(&c, r->method, "route method", i);
        check_str(&c, r->route_ns, "route namespace", i);
        check_str(&c, r->route_name, "route name", i);
        check_range(&c, r->header_matches, SL_SNAP_HEADER_MATCHES, "route header matches", i);
        check_range(&c, r->query_matches, SL_SNAP_HEADER_MATCHES, "route query matches", i);
        check_index(&c, r->action, SL_SNAP_ACTIONS, false, "route action", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_HEADER_MATCHES); i++) {
        const sl_snap_header_match *m = SL_SNAP_GET(&snap, SL_SNAP_HEADER_MATCHES, sl_snap_header_match, i);
        check_str(&c, m->name, "match name", i);
        check_str(&c, m->value, "match value", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_ACTIONS); i++) {
        const sl_snap_action *a = SL_SNAP_GET(&snap, SL_SNAP_ACTIONS, sl_snap_action, i);
        check_range(&c, a->backend_refs, SL_SNAP_BACKEND_REFS, "action backends", i);
        check_range(&c, a->filters, SL_SNAP_FILTERS, "action filters", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_FILTERS); i++) {
        const sl_snap_filter *f = SL_SNAP_GET(&snap, SL_SNAP_FILTERS, sl_snap_filter, i);
        const sl_snap_str strs[] = {f->name, f->value, f->scheme, f->hostname, f->path,
                                    f->origins, f->methods, f->headers, f->expose};
        for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++)
            check_str(&c, strs[k], "filter string", i);
        check_index(&c, f->backend, SL_SNAP_BACKENDS, true, "filter backend", i);
        if (f->type == SL_FILTER_MIRROR && f->denominator == 0)
            fail(&c, "mirror denominator", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_BACKEND_REFS); i++) {
        const sl_snap_backend_ref *b = SL_SNAP_GET(&snap, SL_SNAP_BACKEND_REFS, sl_snap_backend_ref, i);
        check_index(&c, b->backend, SL_SNAP_BACKENDS, true, "backend ref", i);
        check_range(&c, b->filters, SL_SNAP_FILTERS, "backend ref filters", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_BACKENDS); i++) {
        const sl_snap_backend *b = SL_SNAP_GET(&snap, SL_SNAP_BACKENDS, sl_snap_backend, i);
        check_str(&c, b->kind, "backend kind", i);
        check_str(&c, b->ns, "backend namespace", i);
        check_str(&c, b->name, "backend name", i);
        check_range(&c, b->endpoints, SL_SNAP_ENDPOINTS, "backend endpoints", i);
        check_str(&c, b->tls_sni, "backend SNI", i);
        check_str(&c, b->tls_ca, "backend CAs", i);
        check_str(&c, b->tls_sans, "backend subjectAltNames", i);
    }
    for (uint32_t i = 0; i < sl_snap_count(&snap, SL_SNAP_ENDPOINTS); i++) {
        const sl_snap_endpoint *e = SL_SNAP_GET(&snap, SL_SNAP_ENDPOINTS, sl_snap_endpoint, i);
        check_str(&c, e->host, "endpoint host", i);
    }
    return c.ok;
}

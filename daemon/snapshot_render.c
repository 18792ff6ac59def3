#include "daemon/snapshot_render.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "workers/policy.h"

static const char *path_type_name(uint8_t t)
{
    return t == SL_PATH_EXACT ? "Exact" : t == SL_PATH_REGEX ? "RegularExpression" : "PathPrefix";
}

static const char *protocol_name(uint8_t p)
{
    switch (p) {
    case SL_PROTO_HTTP: return "HTTP";
    case SL_PROTO_HTTPS: return "HTTPS";
    case SL_PROTO_TLS: return "TLS";
    default: return "TCP";
    }
}

static json_t *render_matches(const sl_snapshot *s, sl_snap_range r)
{
    json_t *out = json_array();
    for (uint32_t i = 0; i < r.count; i++) {
        const sl_snap_header_match *m = SL_SNAP_GET(s, SL_SNAP_HEADER_MATCHES, sl_snap_header_match, r.first + i);
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "type",
                                             m->type == SL_MATCH_REGEX ? "RegularExpression" : "Exact", "name",
                                             sl_snap_cstr(s, m->name), "value", sl_snap_cstr(s, m->value)));
    }
    return out;
}

static json_t *render_backend(const sl_snapshot *s, uint32_t index)
{
    const sl_snap_backend *b = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, index);
    json_t *eps = json_array();
    for (uint32_t i = 0; i < b->endpoints.count; i++) {
        const sl_snap_endpoint *e = SL_SNAP_GET(s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, b->endpoints.first + i);
        char addr[INET6_ADDRSTRLEN + 8], text[INET6_ADDRSTRLEN];
        inet_ntop(e->family, e->addr, text, sizeof(text));
        snprintf(addr, sizeof(addr), e->family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, e->port);
        json_array_append_new(eps, json_string(addr));
    }
    static const char *const protocols[] = {"", "HTTP", "H2C", "HTTPS"};
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:o}", "kind", sl_snap_cstr(s, b->kind), "namespace",
                          sl_snap_cstr(s, b->ns), "name", sl_snap_cstr(s, b->name), "port", (int)b->port, "protocol",
                          b->protocol < 4 ? protocols[b->protocol] : "?", "endpoints", eps);
    if (b->protocol == SL_BACKEND_HTTPS) {
        static const char *const verify[] = {"", "CA", "System", "Insecure"};
        json_t *tls = json_pack("{s:s, s:s, s:i}", "sni", sl_snap_cstr(s, b->tls_sni), "verify",
                                b->tls_verify < 4 ? verify[b->tls_verify] : "?", "caBytes", (int)b->tls_ca.len);
        if (b->tls_sans.len)
            json_object_set_new(tls, "subjectAltNames", json_string(sl_snap_cstr(s, b->tls_sans)));
        json_object_set_new(j, "tls", tls);
    }
    return j;
}

static json_t *render_filters(const sl_snapshot *s, sl_snap_range r)
{
    static const char *const types[] = {"", "RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect",
                                        "URLRewrite", "RequestMirror", "CORS"};
    static const char *const ops[] = {"", "set", "add", "remove"};
    json_t *out = json_array();
    for (uint32_t i = 0; i < r.count; i++) {
        const sl_snap_filter *f = SL_SNAP_GET(s, SL_SNAP_FILTERS, sl_snap_filter, r.first + i);
        json_t *j = json_pack("{s:s}", "type", f->type < 7 ? types[f->type] : "?");
        if (f->type == SL_FILTER_REQUEST_HEADER || f->type == SL_FILTER_RESPONSE_HEADER) {
            json_object_set_new(j, "op", json_string(f->op < 4 ? ops[f->op] : "?"));
            json_object_set_new(j, "name", json_string(sl_snap_cstr(s, f->name)));
            if (f->op != SL_HDR_REMOVE)
                json_object_set_new(j, "value", json_string(sl_snap_cstr(s, f->value)));
        }
        if (f->type == SL_FILTER_REDIRECT || f->type == SL_FILTER_REWRITE) {
            if (f->scheme.len)
                json_object_set_new(j, "scheme", json_string(sl_snap_cstr(s, f->scheme)));
            if (f->hostname.len)
                json_object_set_new(j, "hostname", json_string(sl_snap_cstr(s, f->hostname)));
            if (f->path_mod)
                json_object_set_new(j, f->path_mod == SL_PATHMOD_FULL ? "replaceFullPath" : "replacePrefixMatch",
                                    json_string(sl_snap_cstr(s, f->path)));
            if (f->port)
                json_object_set_new(j, "port", json_integer(f->port));
            if (f->status)
                json_object_set_new(j, "statusCode", json_integer(f->status));
        }
        if (f->type == SL_FILTER_MIRROR) {
            json_object_set_new(j, "backend", f->backend == SL_SNAP_NONE ? json_null() : render_backend(s, f->backend));
            json_object_set_new(j, "fraction", json_pack("{s:i, s:i}", "numerator", (int)f->numerator,
                                                         "denominator", (int)f->denominator));
        }
        if (f->type == SL_FILTER_CORS)
            json_object_set_new(j, "allowOrigins", json_string(sl_snap_cstr(s, f->origins)));
        json_array_append_new(out, j);
    }
    return out;
}

static json_t *render_route(const sl_snapshot *s, const sl_snap_route *r)
{
    const sl_snap_action *a = SL_SNAP_GET(s, SL_SNAP_ACTIONS, sl_snap_action, r->action);
    json_t *backends = json_array();
    for (uint32_t i = 0; i < a->backend_refs.count; i++) {
        const sl_snap_backend_ref *br =
            SL_SNAP_GET(s, SL_SNAP_BACKEND_REFS, sl_snap_backend_ref, a->backend_refs.first + i);
        json_t *b = br->backend == SL_SNAP_NONE ? json_pack("{s:b}", "unresolved", 1) : render_backend(s, br->backend);
        json_object_set_new(b, "weight", json_integer(br->weight));
        if (br->filters.count)
            json_object_set_new(b, "filters", render_filters(s, br->filters));
        json_array_append_new(backends, b);
    }
    char route[600];
    snprintf(route, sizeof(route), "%s/%s", sl_snap_cstr(s, r->route_ns), sl_snap_cstr(s, r->route_name));
    json_t *out = json_pack("{s:s, s:i, s:{s:s, s:s}, s:o}", "route", route, "rule", (int)r->rule_index, "path",
                            "type", path_type_name(r->path_type), "value", sl_snap_cstr(s, r->path), "backends",
                            backends);
    if (r->method.len)
        json_object_set_new(out, "method", json_string(sl_snap_cstr(s, r->method)));
    if (r->header_matches.count)
        json_object_set_new(out, "headers", render_matches(s, r->header_matches));
    if (r->query_matches.count)
        json_object_set_new(out, "queryParams", render_matches(s, r->query_matches));
    if (a->request_timeout_ms)
        json_object_set_new(out, "requestTimeoutMs", json_integer(a->request_timeout_ms));
    if (a->backend_request_timeout_ms)
        json_object_set_new(out, "backendRequestTimeoutMs", json_integer(a->backend_request_timeout_ms));
    if (a->filters.count)
        json_object_set_new(out, "filters", render_filters(s, a->filters));
    if (a->retry_attempts)
        json_object_set_new(out, "retry", json_pack("{s:i, s:i}", "attempts", (int)a->retry_attempts, "backoffMs",
                                                    (int)a->retry_backoff_ms));
    if (r->policies.count)
        json_object_set_new(out, "policies", sl_snapshot_render_chain(s, r->policies));
    return out;
}

json_t *sl_snapshot_render_chain(const sl_snapshot *s, sl_snap_range chain)
{
    static const char *const phases[SL_NPHASES] = {"access", "limit", "request", "upstream", "response", "log"};
    json_t *out = json_array();
    for (uint32_t i = 0; i < chain.count; i++) {
        const sl_snap_policy_link *l = SL_SNAP_GET(s, SL_SNAP_POLICY_LINKS, sl_snap_policy_link, chain.first + i);
        const sl_snap_policy *p = SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, l->policy);
        bool known = p->kind < sl_policy_nkinds && p->phase < SL_NPHASES;
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "section",
                                             known ? sl_policy_kinds[p->kind]->section : "?", "phase",
                                             known ? phases[p->phase] : "?", "policy", sl_snap_cstr(s, p->source)));
    }
    return out;
}

json_t *sl_snapshot_render(const sl_snapshot *s)
{
    const sl_snap_header *h = sl_snap_hdr(s);
    json_t *gateways = json_array();
    for (uint32_t gi = 0; gi < sl_snap_count(s, SL_SNAP_GATEWAYS); gi++) {
        const sl_snap_gateway *g = SL_SNAP_GET(s, SL_SNAP_GATEWAYS, sl_snap_gateway, gi);
        json_t *ports = json_array();
        for (uint32_t pi = 0; pi < g->ports.count; pi++) {
            const sl_snap_port *p = SL_SNAP_GET(s, SL_SNAP_PORTS, sl_snap_port, g->ports.first + pi);
            json_t *vhosts = json_array();
            for (uint32_t vi = 0; vi < p->vhosts.count; vi++) {
                const sl_snap_vhost *v = SL_SNAP_GET(s, SL_SNAP_VHOSTS, sl_snap_vhost, p->vhosts.first + vi);
                json_t *routes = json_array();
                for (uint32_t ri = 0; ri < v->routes.count; ri++)
                    json_array_append_new(routes,
                                          render_route(s, SL_SNAP_GET(s, SL_SNAP_ROUTES, sl_snap_route,
                                                                      v->routes.first + ri)));
                const sl_snap_listener *owner = SL_SNAP_GET(s, SL_SNAP_LISTENERS, sl_snap_listener, v->listener);
                json_array_append_new(vhosts, json_pack("{s:s, s:s, s:o}", "host",
                                                        v->host.len ? sl_snap_cstr(s, v->host) : "*", "listener",
                                                        sl_snap_cstr(s, owner->name), "routes", routes));
            }
            json_array_append_new(ports, json_pack("{s:s, s:i, s:s, s:o}", "address", sl_snap_cstr(s, p->address),
                                                   "port", (int)p->port, "protocol", protocol_name(p->protocol),
                                                   "vhosts", vhosts));
        }
        json_t *listeners = json_array();
        for (uint32_t li = 0; li < g->listeners.count; li++) {
            const sl_snap_listener *l = SL_SNAP_GET(s, SL_SNAP_LISTENERS, sl_snap_listener, g->listeners.first + li);
            /* A listener sluice does not serve has no socket: port null. */
            json_t *port = l->port_index == SL_SNAP_NONE
                               ? json_null()
                               : json_integer(SL_SNAP_GET(s, SL_SNAP_PORTS, sl_snap_port, l->port_index)->port);
            json_t *lj = json_pack("{s:s, s:s, s:o, s:i}", "name", sl_snap_cstr(s, l->name), "hostname",
                                   sl_snap_cstr(s, l->hostname), "port", port, "attachedRoutes",
                                   (int)l->attached_routes);
            if (l->frontend_message.len)
                json_object_set_new(lj, "clientCertificateValidation", json_string(sl_snap_cstr(s, l->frontend_message)));
            json_array_append_new(listeners, lj);
        }
        json_t *gj = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o}", "namespace", sl_snap_cstr(s, g->ns), "name",
                               sl_snap_cstr(s, g->name), "gatewayClassName", sl_snap_cstr(s, g->class_name),
                               "workers", (int)g->workers, "listeners", listeners, "ports", ports);
        /* Whether the workers present a client certificate to TLS backends (never the key). */
        if (g->backend_cert_pem.len || g->backend_cert_message.len)
            json_object_set_new(gj, "backendClientCertificate",
                                g->backend_cert_pem.len ? json_string("presented")
                                                        : json_string(sl_snap_cstr(s, g->backend_cert_message)));
        json_array_append_new(gateways, gj);
    }
    char checksum[16];
    snprintf(checksum, sizeof(checksum), "%08x", h->checksum);
    return json_pack("{s:I, s:I, s:i, s:s, s:o}", "generation", (json_int_t)h->generation, "storeResourceVersion",
                     (json_int_t)h->store_rv, "bytes", (int)h->size, "checksum", checksum, "gateways", gateways);
}

/* The generation, size and checksum of the last snapshot verified here: the
 * snapshot objects never change once published, so each is verified once (a
 * scrape of /metrics at 10,000 routes would otherwise checksum megabytes). */
static pthread_mutex_t verified_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t verified_gen, verified_size;
static uint32_t verified_checksum;

static bool verify_once(const void *map, size_t size, char *why, size_t whylen)
{
    const sl_snap_header *h = map;
    bool known = false;
    pthread_mutex_lock(&verified_lock);
    if (size >= sizeof(*h))
        known = h->generation == verified_gen && h->size == verified_size && h->checksum == verified_checksum;
    pthread_mutex_unlock(&verified_lock);
    if (known)
        return true;
    if (!sl_snapshot_verify(map, size, why, whylen))
        return false;
    pthread_mutex_lock(&verified_lock);
    verified_gen = h->generation;
    verified_size = h->size;
    verified_checksum = h->checksum;
    pthread_mutex_unlock(&verified_lock);
    return true;
}

json_t *sl_snapshot_with_current(const sl_control *c, json_t *(*fn)(const sl_snapshot *s, void *arg), void *arg,
                                 char *why, size_t whylen)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        uint64_t gen = atomic_load(&c->generation);
        if (!gen) {
            snprintf(why, whylen, "no snapshot has been compiled yet");
            return NULL;
        }
        char name[96];
        sl_control_snapshot_name(c, gen, name, sizeof(name));
        int fd = shm_open(name, O_RDONLY, 0);
        if (fd < 0) {
            if (errno == ENOENT)
                continue; /* replaced meanwhile: read the new generation */
            snprintf(why, whylen, "cannot open %s: %s", name, strerror(errno));
            return NULL;
        }
        struct stat st;
        void *map = MAP_FAILED;
        if (fstat(fd, &st) == 0 && st.st_size > 0)
            map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (map == MAP_FAILED) {
            snprintf(why, whylen, "cannot map %s", name);
            return NULL;
        }
        json_t *out = NULL;
        if (verify_once(map, (size_t)st.st_size, why, whylen)) {
            sl_snapshot s = {map, (size_t)st.st_size};
            out = fn(&s, arg);
        }
        munmap(map, (size_t)st.st_size);
        return out;
    }
    snprintf(why, whylen, "the snapshot kept changing; try again");
    return NULL;
}

static json_t *render_cb(const sl_snapshot *s, void *arg)
{
    return *(const bool *)arg ? sl_snapshot_render_raw(s) : sl_snapshot_render(s);
}

json_t *sl_snapshot_render_current(const sl_control *c, bool raw, char *why, size_t whylen)
{
    return sl_snapshot_with_current(c, render_cb, &raw, why, whylen);
}

/* Unit tests for the snapshot builder (daemon/snapshot_builder.c) and reader checks
 * (common/snapshot.c): a built blob verifies; corruption of any kind (a flipped
 * byte, truncation, a bad magic or format, a section outside the blob, an index
 * or range out of bounds, a string without its NUL) is refused with a message
 * even when the checksum was recomputed to hide it; strings are deduplicated;
 * CRC-32C gives the standard check value. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/snapshot.h"
#include "common/snapshot_desc.h"
#include "daemon/snapshot_builder.h"
#include "tests/unit/unit.h"

/* A small but complete snapshot: one Gateway, one port, one listener, one vhost
 * with two route entries (exact and prefix) and a path index, one action with
 * two backend refs (one resolved, one not), one backend with two endpoints and
 * one header filter. Returns the blob (malloc'd) and its size. */
static void *build_sample(size_t *size)
{
    sl_snap_builder b;
    sl_sb_init(&b);
    sl_snap_gateway g = {.ns = sl_sb_str(&b, "default"),
                         .name = sl_sb_str(&b, "gw"),
                         .class_name = sl_sb_str(&b, "sluice"),
                         .ports = {0, 1},
                         .listeners = {0, 1}};
    sl_sb_add(&b, SL_SNAP_GATEWAYS, &g);
    sl_snap_port p = {.gateway = 0, .port = 8080, .protocol = SL_PROTO_HTTP, .address = sl_sb_str(&b, ""),
                      .vhosts = {0, 1}};
    sl_sb_add(&b, SL_SNAP_PORTS, &p);
    sl_snap_listener l = {.gateway = 0, .port_index = 0, .name = sl_sb_str(&b, "http"),
                          .hostname = sl_sb_str(&b, "")};
    sl_sb_add(&b, SL_SNAP_LISTENERS, &l);
    sl_snap_vhost v = {.host = sl_sb_str(&b, "www.example.com"),
                       .listener = 0,
                       .routes = {0, 2},
                       .exact_index = {0, 1},
                       .prefix_index = {1, 1},
                       .regex_routes = {2, 0}};
    sl_sb_add(&b, SL_SNAP_VHOSTS, &v);
    sl_snap_header_match hm = {.type = SL_MATCH_EXACT, .name = sl_sb_str(&b, "x-env"), .value = sl_sb_str(&b, "canary")};
    sl_sb_add(&b, SL_SNAP_HEADER_MATCHES, &hm);
    sl_snap_route r0 = {.path_type = SL_PATH_EXACT,
                        .path = sl_sb_str(&b, "/exact"),
                        .method = sl_sb_str(&b, "GET"),
                        .header_matches = {0, 1},
                        .query_matches = {0, 0},
                        .action = 0,
                        .rule_index = 0,
                        .route_ns = sl_sb_str(&b, "default"),
                        .route_name = sl_sb_str(&b, "route-a")};
    sl_sb_add(&b, SL_SNAP_ROUTES, &r0);
    sl_snap_route r1 = {.path_type = SL_PATH_PREFIX,
                        .path = sl_sb_str(&b, "/"),
                        .method = sl_sb_str(&b, ""),
                        .action = 0,
                        .rule_index = 1,
                        .route_ns = sl_sb_str(&b, "default"),
                        .route_name = sl_sb_str(&b, "route-a")};
    sl_sb_add(&b, SL_SNAP_ROUTES, &r1);
    sl_snap_path_index pe = {.path = sl_sb_str(&b, "/exact"), .routes = {0, 1}};
    sl_sb_add(&b, SL_SNAP_PATH_INDEX, &pe);
    sl_snap_path_index pp = {.path = sl_sb_str(&b, "/"), .routes = {1, 1}};
    sl_sb_add(&b, SL_SNAP_PATH_INDEX, &pp);
    sl_snap_filter f = {.type = SL_FILTER_REQUEST_HEADER, .op = SL_HDR_SET, .name = sl_sb_str(&b, "x-added"),
                        .value = sl_sb_str(&b, "1"), .backend = SL_SNAP_NONE};
    sl_sb_add(&b, SL_SNAP_FILTERS, &f);
    sl_snap_endpoint e1 = {.family = 2, .port = 9000, .addr = {127, 0, 0, 1}, .host = sl_sb_str(&b, "127.0.0.1")};
    sl_snap_endpoint e2 = {.family = 2, .port = 9001, .addr = {127, 0, 0, 2}, .host = sl_sb_str(&b, "127.0.0.2")};
    sl_sb_add(&b, SL_SNAP_ENDPOINTS, &e1);
    sl_sb_add(&b, SL_SNAP_ENDPOINTS, &e2);
    sl_snap_backend be = {.kind = sl_sb_str(&b, "Service"), .ns = sl_sb_str(&b, "default"),
                          .name = sl_sb_str(&b, "web"), .port = 80, .protocol = SL_BACKEND_HTTP,
                          .endpoints = {0, 2}, .state = SL_SNAP_NONE, .balancer = SL_SNAP_NONE};
    sl_sb_add(&b, SL_SNAP_BACKENDS, &be);
    sl_snap_backend_ref br0 = {.weight = 3, .backend = 0, .filters = {0, 1}};
    sl_snap_backend_ref br1 = {.weight = 1, .backend = SL_SNAP_NONE, .filters = {0, 0}};
    sl_sb_add(&b, SL_SNAP_BACKEND_REFS, &br0);
    sl_sb_add(&b, SL_SNAP_BACKEND_REFS, &br1);
    sl_snap_action a = {.backend_refs = {0, 2}, .total_weight = 4, .filters = {0, 1}};
    sl_sb_add(&b, SL_SNAP_ACTIONS, &a);
    return sl_sb_finish(&b, 7, 42, size);
}

static sl_snap_header *hdr(void *blob) { return (sl_snap_header *)blob; }

/* Recomputes the checksum so that only the structural checks can catch a change. */
static void reseal(void *blob, size_t size)
{
    hdr(blob)->checksum = sl_crc32c((uint8_t *)blob + sizeof(sl_snap_header), size - sizeof(sl_snap_header));
}

/* A writable pointer to record `index` of a section of a finished blob. */
static void *rec_at(void *blob, enum sl_snap_section sec, uint32_t index)
{
    return (uint8_t *)blob + hdr(blob)->sections[sec].off + (size_t)index * sl_snap_record_size(sec);
}

static bool verify(const void *blob, size_t size, char *why, size_t whylen)
{
    why[0] = '\0';
    return sl_snapshot_verify(blob, size, why, whylen);
}

static void test_crc32c_known_value(void)
{
    CHECK(sl_crc32c("123456789", 9) == 0xE3069283u);
    CHECK(sl_crc32c("", 0) == 0);
    /* RFC 3720 B.4: 32 bytes of zeros. */
    uint8_t zeros[32] = {0};
    CHECK(sl_crc32c(zeros, sizeof(zeros)) == 0x8A9136AAu);
    uint8_t ones[32];
    memset(ones, 0xFF, sizeof(ones));
    CHECK(sl_crc32c(ones, sizeof(ones)) == 0x62A8AB43u);
}

/* The CPU's CRC instruction and the table agree, on every length and alignment. */
static void test_crc32c_instruction_and_table_agree(void)
{
    static uint8_t buf[4096 + 16];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len < 70; len++)
            CHECK(sl_crc32c(buf + off, len) == sl_crc32c_portable(buf + off, len));
    CHECK(sl_crc32c(buf + 3, 4096) == sl_crc32c_portable(buf + 3, 4096));
    CHECK(sl_crc32c_portable("123456789", 9) == 0xE3069283u);
}

static void test_built_snapshot_verifies(void)
{
    size_t size = 0;
    void *blob = build_sample(&size);
    char why[256];
    CHECK(blob != NULL);
    CHECK(size >= sizeof(sl_snap_header));
    CHECK(size % 8 == 0);
    CHECK(verify(blob, size, why, sizeof(why)));
    const sl_snap_header *h = hdr(blob);
    CHECK(h->magic == SL_SNAP_MAGIC);
    CHECK(h->format == SL_SNAP_FORMAT);
    CHECK(h->size == size);
    CHECK(h->generation == 7);
    CHECK(h->store_rv == 42);
    for (int i = 0; i < SL_SNAP_NSECTIONS; i++) {
        CHECK(h->sections[i].off % 8 == 0);
        CHECK(h->sections[i].off >= sizeof(sl_snap_header));
    }
    sl_snapshot s = {blob, size};
    CHECK(sl_snap_count(&s, SL_SNAP_ROUTES) == 2);
    CHECK(sl_snap_count(&s, SL_SNAP_ENDPOINTS) == 2);
    CHECK(sl_snap_count(&s, SL_SNAP_PATH_INDEX) == 2);
    const sl_snap_route *r = SL_SNAP_GET(&s, SL_SNAP_ROUTES, sl_snap_route, 1);
    CHECK_STR(sl_snap_cstr(&s, r->route_name), "route-a");
    CHECK_STR(sl_snap_cstr(&s, r->path), "/");
    const sl_snap_endpoint *e = SL_SNAP_GET(&s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, 1);
    CHECK(e->port == 9001);
    CHECK_STR(sl_snap_cstr(&s, e->host), "127.0.0.2");
    /* The empty string is at offset 0 and is a valid C string. */
    CHECK_STR(sl_snap_cstr(&s, (sl_snap_str){0, 0}), "");
    free(blob);
}

static void test_empty_builder_verifies(void)
{
    sl_snap_builder b;
    sl_sb_init(&b);
    size_t size = 0;
    void *blob = sl_sb_finish(&b, 1, 0, &size);
    char why[256];
    CHECK(verify(blob, size, why, sizeof(why)));
    sl_snapshot s = {blob, size};
    CHECK(sl_snap_count(&s, SL_SNAP_STRINGS) == 1);
    CHECK(sl_snap_count(&s, SL_SNAP_ROUTES) == 0);
    free(blob);
}

static void test_flip_any_byte_fails_checksum(void)
{
    size_t size = 0;
    void *blob = build_sample(&size);
    uint8_t *p = blob;
    char why[256];
    size_t accepted = 0, wrong_message = 0;
    for (size_t i = sizeof(sl_snap_header); i < size; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            p[i] ^= (uint8_t)(1u << bit);
            if (verify(blob, size, why, sizeof(why)))
                accepted++;
            else if (strstr(why, "checksum") == NULL)
                wrong_message++;
            p[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK(accepted == 0);
    CHECK(wrong_message == 0);
    /* Restored: verifies again. */
    CHECK(verify(blob, size, why, sizeof(why)));
    free(blob);
}

static void test_truncation_refused(void)
{
    size_t size = 0;
    void *blob = build_sample(&size);
    char why[256];
    CHECK(!verify(blob, size - 8, why, sizeof(why)));
    CHECK(strstr(why, "size") != NULL);
    CHECK(!verify(blob, size - 1, why, sizeof(why)));
    CHECK(why[0] != '\0');
    CHECK(!verify(blob, sizeof(sl_snap_header), why, sizeof(why)));
    CHECK(why[0] != '\0');
    CHECK(!verify(blob, sizeof(sl_snap_header) - 1, why, sizeof(why)));
    CHECK(why[0] != '\0');
    CHECK(!verify(blob, 0, why, sizeof(why)));
    CHECK(why[0] != '\0');
    /* A header that claims a smaller size than what is mapped. */
    hdr(blob)->size -= 8;
    CHECK(!verify(blob, size, why, sizeof(why)));
    CHECK(strstr(why, "size") != NULL);
    free(blob);
}

static void test_bad_magic_refused(void)
{
    size_t size = 0;
    void *blob = build_sample(&size);
    char why[256];
    hdr(blob)->magic ^= 1;
    CHECK(!verify(blob, size, why, sizeof(why)));
    CHECK(strstr(why, "magic") != NULL);
    free(blob);
}

static void test_wrong_format_refused(void)
{
    size_t size = 0;
    void *blob = build_sample(&size);
    char why[256];
    hdr(blob)->format = SL_SNAP_FORMAT + 1;
    CHECK(!verify(blob, size, why, sizeof(why)));
    CHECK(strstr(why, "format") != NULL);
    hdr(blob)->format = SL_SNAP_FORMAT - 1;
    CHECK(!verify(blob, size, why, sizeof(why)));
    CHECK(strstr(why, "format") != NULL);
    free(blob);
}

static void test_section_outside_refused(void)
{
    char why[256];
    for (int sec = 0; sec < SL_SNAP_NSECTIONS; sec++) {
        size_t size = 0;
        void *blob = build_sample(&size);
        sl_snap_header *h = hdr(blob);
        uint32_t off = h->sections[sec].off, count = h->sections[sec].count;
        /* Past the end. */
        h->sections[sec].off = (uint32_t)size;
        h->sections[sec].count = count ? count : 1;
        bool ok1 = verify(blob, size, why, sizeof(why));
        CHECK(!ok1);
        CHECK(strstr(why, "outside") != NULL);
        /* Starts inside but runs past the end. */
        h->sections[sec].off = off;
        h->sections[sec].count = (uint32_t)(size / sl_snap_record_size((enum sl_snap_section)sec)) + 1;
        CHECK(!verify(blob, size, why, sizeof(why)));
        CHECK(strstr(why, "outside") != NULL);
        /* Overlapping the header. */
        h->sections[sec].off = 8;
        h->sections[sec].count = count;
        CHECK(!verify(blob, size, why, sizeof(why)));
        CHECK(strstr(why, "outside") != NULL);
        /* Misaligned. */
        h->sections[sec].off = off + 4;
        h->sections[sec].count = 0;
        CHECK(!verify(blob, size, why, sizeof(why)));
        CHECK(strstr(why, "outside") != NULL);
        /* A count so large that count * record size overflows 32 bits. */
        h->sections[sec].off = off;
        h->sections[sec].count = UINT32_MAX;
        CHECK(!verify(blob, size, why, sizeof(why)));
        free(blob);
    }
}

/* Applies `mutate` to a fresh sample, reseals it and expects a refusal whose
 * message mentions `what`. */
static void expect_refused(void (*mutate)(void *blob), const char *what, int line)
{
    size_t size = 0;
    void *blob = build_sample(&size);
    char why[256];
    mutate(blob);
    reseal(blob, size);
    bool ok = verify(blob, size, why, sizeof(why));
    if (ok || strstr(why, what) == NULL) {
        fprintf(stderr, "  line %d: expected a refusal mentioning \"%s\", got %s \"%s\"\n", line, what,
                ok ? "acceptance" : "refusal", why);
        sl_unit_failures++;
    }
    free(blob);
}

static void mut_route_action(void *blob) { ((sl_snap_route *)rec_at(blob, SL_SNAP_ROUTES, 1))->action = 1; }
static void mut_route_action_none(void *blob)
{
    ((sl_snap_route *)rec_at(blob, SL_SNAP_ROUTES, 0))->action = SL_SNAP_NONE;
}
static void mut_port_gateway(void *blob) { ((sl_snap_port *)rec_at(blob, SL_SNAP_PORTS, 0))->gateway = 1; }
static void mut_listener_port(void *blob) { ((sl_snap_listener *)rec_at(blob, SL_SNAP_LISTENERS, 0))->port_index = 5; }
static void mut_vhost_listener(void *blob) { ((sl_snap_vhost *)rec_at(blob, SL_SNAP_VHOSTS, 0))->listener = 1; }
static void mut_vhost_routes(void *blob) { ((sl_snap_vhost *)rec_at(blob, SL_SNAP_VHOSTS, 0))->routes.count = 3; }
static void mut_vhost_routes_wrap(void *blob)
{
    /* first + count wraps around 32 bits: must not pass as "in range". */
    sl_snap_vhost *v = rec_at(blob, SL_SNAP_VHOSTS, 0);
    v->routes.first = UINT32_MAX;
    v->routes.count = 2;
}
static void mut_vhost_exact_index(void *blob)
{
    ((sl_snap_vhost *)rec_at(blob, SL_SNAP_VHOSTS, 0))->exact_index = (sl_snap_range){2, 1};
}
static void mut_vhost_regex(void *blob)
{
    ((sl_snap_vhost *)rec_at(blob, SL_SNAP_VHOSTS, 0))->regex_routes = (sl_snap_range){1, 2};
}
static void mut_path_index_routes(void *blob)
{
    ((sl_snap_path_index *)rec_at(blob, SL_SNAP_PATH_INDEX, 1))->routes = (sl_snap_range){2, 1};
}
static void mut_gateway_listeners(void *blob)
{
    ((sl_snap_gateway *)rec_at(blob, SL_SNAP_GATEWAYS, 0))->listeners.count = 2;
}
static void mut_port_vhosts(void *blob) { ((sl_snap_port *)rec_at(blob, SL_SNAP_PORTS, 0))->vhosts.first = 1; }
static void mut_route_headers(void *blob)
{
    ((sl_snap_route *)rec_at(blob, SL_SNAP_ROUTES, 0))->header_matches = (sl_snap_range){0, 2};
}
static void mut_route_queries(void *blob)
{
    ((sl_snap_route *)rec_at(blob, SL_SNAP_ROUTES, 0))->query_matches = (sl_snap_range){1, 1};
}
static void mut_action_refs(void *blob)
{
    ((sl_snap_action *)rec_at(blob, SL_SNAP_ACTIONS, 0))->backend_refs = (sl_snap_range){1, 2};
}
static void mut_action_filters(void *blob)
{
    ((sl_snap_action *)rec_at(blob, SL_SNAP_ACTIONS, 0))->filters = (sl_snap_range){0, 2};
}
static void mut_backend_ref(void *blob)
{
    ((sl_snap_backend_ref *)rec_at(blob, SL_SNAP_BACKEND_REFS, 1))->backend = 1;
}
static void mut_backend_endpoints(void *blob)
{
    ((sl_snap_backend *)rec_at(blob, SL_SNAP_BACKENDS, 0))->endpoints = (sl_snap_range){1, 2};
}
static void mut_filter_backend(void *blob) { ((sl_snap_filter *)rec_at(blob, SL_SNAP_FILTERS, 0))->backend = 3; }
static void mut_mirror_zero_denominator(void *blob)
{
    sl_snap_filter *f = rec_at(blob, SL_SNAP_FILTERS, 0);
    f->type = SL_FILTER_MIRROR;
    f->backend = 0;
    f->numerator = 1;
    f->denominator = 0;
}

static void test_out_of_range_index_refused(void)
{
    expect_refused(mut_route_action, "routes[1].action", __LINE__);
    expect_refused(mut_route_action_none, "routes[0].action", __LINE__);
    expect_refused(mut_port_gateway, "ports[0].gateway", __LINE__);
    expect_refused(mut_listener_port, "listeners[0].port_index", __LINE__);
    expect_refused(mut_vhost_listener, "vhosts[0].listener", __LINE__);
    expect_refused(mut_backend_ref, "backend_refs[1].backend", __LINE__);
    expect_refused(mut_filter_backend, "filters[0].backend", __LINE__);
    expect_refused(mut_mirror_zero_denominator, "filters[0].denominator", __LINE__);
}

static void test_out_of_range_range_refused(void)
{
    expect_refused(mut_vhost_routes, "vhosts[0].routes", __LINE__);
    expect_refused(mut_vhost_routes_wrap, "vhosts[0].routes", __LINE__);
    expect_refused(mut_vhost_exact_index, "vhosts[0].exact_index", __LINE__);
    expect_refused(mut_vhost_regex, "vhosts[0].regex_routes", __LINE__);
    expect_refused(mut_path_index_routes, "path_index[1].routes", __LINE__);
    expect_refused(mut_gateway_listeners, "gateways[0].listeners", __LINE__);
    expect_refused(mut_port_vhosts, "ports[0].vhosts", __LINE__);
    expect_refused(mut_route_headers, "routes[0].header_matches", __LINE__);
    expect_refused(mut_route_queries, "routes[0].query_matches", __LINE__);
    expect_refused(mut_action_refs, "actions[0].backend_refs", __LINE__);
    expect_refused(mut_action_filters, "actions[0].filters", __LINE__);
    expect_refused(mut_backend_endpoints, "backends[0].endpoints", __LINE__);
}

/* The offset of a string in a finished blob's string section, or UINT32_MAX. */
static uint32_t find_string(void *blob, const char *s)
{
    sl_snapshot snap = {blob, hdr(blob)->size};
    const char *strings = sl_snap_table(&snap, SL_SNAP_STRINGS);
    uint32_t n = sl_snap_count(&snap, SL_SNAP_STRINGS);
    size_t len = strlen(s);
    for (uint32_t off = 0; off + len < n; off++)
        if (memcmp(strings + off, s, len + 1) == 0 && (off == 0 || strings[off - 1] == '\0'))
            return off;
    return UINT32_MAX;
}

static void mut_string_nul(void *blob)
{
    /* "route-a" is only the route name: its terminating NUL becomes a letter. */
    uint32_t off = find_string(blob, "route-a");
    sl_snapshot snap = {blob, hdr(blob)->size};
    char *strings = (char *)sl_snap_table(&snap, SL_SNAP_STRINGS);
    strings[off + 7] = 'X';
}
static void mut_string_past_end(void *blob)
{
    sl_snapshot snap = {blob, hdr(blob)->size};
    sl_snap_route *r = rec_at(blob, SL_SNAP_ROUTES, 0);
    r->route_name.off = sl_snap_count(&snap, SL_SNAP_STRINGS);
    r->route_name.len = 0;
}
static void mut_string_len_past_end(void *blob)
{
    sl_snap_listener *l = rec_at(blob, SL_SNAP_LISTENERS, 0);
    l->name.len = 100000;
}
static void mut_string_wrap(void *blob)
{
    sl_snap_endpoint *e = rec_at(blob, SL_SNAP_ENDPOINTS, 1);
    e->host.off = 0xFFFFFFF0u;
    e->host.len = 0x20;
}
static void mut_string_short(void *blob)
{
    /* A length one short of the stored string: the byte at off+len is not NUL. */
    sl_snap_header_match *m = rec_at(blob, SL_SNAP_HEADER_MATCHES, 0);
    m->value.len -= 1;
}

static void test_string_without_nul_refused(void)
{
    size_t size = 0;
    void *blob = build_sample(&size);
    CHECK(find_string(blob, "route-a") != UINT32_MAX);
    free(blob);
    expect_refused(mut_string_nul, "routes[0].route_name", __LINE__);
    expect_refused(mut_string_past_end, "routes[0].route_name", __LINE__);
    expect_refused(mut_string_len_past_end, "listeners[0].name", __LINE__);
    expect_refused(mut_string_wrap, "endpoints[1].host", __LINE__);
    expect_refused(mut_string_short, "header_matches[0].value", __LINE__);
}

/* The TLS strings a worker hands to OpenSSL are checked like every other. */
static void mut_backend_sans(void *blob)
{
    sl_snap_backend *b = rec_at(blob, SL_SNAP_BACKENDS, 0);
    b->tls_sans.len = 100000;
}
static void mut_backend_ca(void *blob)
{
    sl_snap_backend *b = rec_at(blob, SL_SNAP_BACKENDS, 0);
    b->tls_ca.off = 0xFFFFFFF0u;
}
static void mut_backend_sni(void *blob)
{
    sl_snap_backend *b = rec_at(blob, SL_SNAP_BACKENDS, 0);
    b->tls_sni.len = 100000;
}
static void mut_gateway_client_cert(void *blob)
{
    sl_snap_gateway *g = rec_at(blob, SL_SNAP_GATEWAYS, 0);
    g->backend_key_pem.len = 100000;
}
static void mut_listener_frontend_message(void *blob)
{
    sl_snap_listener *l = rec_at(blob, SL_SNAP_LISTENERS, 0);
    l->frontend_message.off = 0xFFFFFFF0u;
}

static void test_tls_strings_refused(void)
{
    expect_refused(mut_backend_sans, "backends[0].tls_sans", __LINE__);
    expect_refused(mut_backend_ca, "backends[0].tls_ca", __LINE__);
    expect_refused(mut_backend_sni, "backends[0].tls_sni", __LINE__);
    expect_refused(mut_gateway_client_cert, "gateways[0].backend_key_pem", __LINE__);
    expect_refused(mut_listener_frontend_message, "listeners[0].frontend_message", __LINE__);
}

static void test_empty_string_section_refused(void)
{
    size_t size = 0;
    void *blob = build_sample(&size);
    char why[256];
    hdr(blob)->sections[SL_SNAP_STRINGS].count = 0;
    reseal(blob, size);
    CHECK(!verify(blob, size, why, sizeof(why)));
    CHECK(why[0] != '\0');
    free(blob);
}

/* Random corruption of the records with the checksum resealed: the verifier must
 * answer (either way) without reading outside the blob (run under ASan), and a
 * blob it accepts must have every reference in range. */
static void test_random_corruption_never_crashes(void)
{
    size_t size = 0;
    void *orig = build_sample(&size);
    void *blob = malloc(size);
    uint32_t seed = 12345;
    int refused = 0, accepted_bad = 0;
    char why[256];
    for (int round = 0; round < 3000; round++) {
        memcpy(blob, orig, size);
        int flips = 1 + round % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = sizeof(sl_snap_header) + (seed >> 8) % (size - sizeof(sl_snap_header));
            seed = seed * 1103515245u + 12345u;
            ((uint8_t *)blob)[at] = (uint8_t)(seed >> 16);
        }
        reseal(blob, size);
        if (!verify(blob, size, why, sizeof(why))) {
            refused++;
            CHECK(why[0] != '\0');
            continue;
        }
        sl_snapshot s = {blob, size};
        for (uint32_t i = 0; i < sl_snap_count(&s, SL_SNAP_ROUTES); i++) {
            const sl_snap_route *r = SL_SNAP_GET(&s, SL_SNAP_ROUTES, sl_snap_route, i);
            if (r->action >= sl_snap_count(&s, SL_SNAP_ACTIONS))
                accepted_bad++;
            if ((uint64_t)r->route_name.off + r->route_name.len >= sl_snap_count(&s, SL_SNAP_STRINGS))
                accepted_bad++;
        }
    }
    CHECK(refused > 0);
    CHECK(accepted_bad == 0);
    free(blob);
    free(orig);
}

static void test_string_dedup(void)
{
    sl_snap_builder b;
    sl_sb_init(&b);
    sl_snap_str a1 = sl_sb_str(&b, "hello");
    sl_snap_str other = sl_sb_str(&b, "world");
    sl_snap_str a2 = sl_sb_str(&b, "hello");
    sl_snap_str a3 = sl_sb_strn(&b, "hello, there", 5);
    sl_snap_str pre = sl_sb_str(&b, "hell"); /* a prefix is a different string */
    sl_snap_str e1 = sl_sb_str(&b, "");
    sl_snap_str e2 = sl_sb_str(&b, NULL);
    CHECK(a1.off == a2.off && a1.len == 5 && a2.len == 5);
    CHECK(a3.off == a1.off && a3.len == 5);
    CHECK(other.off != a1.off);
    CHECK(pre.off != a1.off && pre.len == 4);
    CHECK(e1.off == 0 && e1.len == 0);
    CHECK(e2.off == 0 && e2.len == 0);
    /* Many distinct strings (forcing the map to grow) keep deduplicating. */
    uint32_t offs[5000];
    char buf[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof(buf), "s-%d", i);
        offs[i] = sl_sb_str(&b, buf).off;
    }
    int mismatches = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof(buf), "s-%d", i);
        if (sl_sb_str(&b, buf).off != offs[i])
            mismatches++;
    }
    CHECK(mismatches == 0);
    CHECK(sl_sb_str(&b, "hello").off == a1.off);
    size_t strings_len = b.tab[SL_SNAP_STRINGS].len;
    sl_sb_str(&b, "world");
    CHECK(b.tab[SL_SNAP_STRINGS].len == strings_len); /* nothing appended */
    /* Survives finishing: the strings read back from the blob. */
    size_t size = 0;
    void *blob = sl_sb_finish(&b, 1, 1, &size);
    sl_snapshot s = {blob, size};
    CHECK_STR(sl_snap_cstr(&s, a1), "hello");
    CHECK_STR(sl_snap_cstr(&s, other), "world");
    CHECK_STR(sl_snap_cstr(&s, pre), "hell");
    char why[256];
    CHECK(verify(blob, size, why, sizeof(why)));
    free(blob);
}

static void test_string_with_embedded_nul(void)
{
    sl_snap_builder b;
    sl_sb_init(&b);
    sl_snap_str x = sl_sb_strn(&b, "ab\0cd", 5);
    sl_snap_str y = sl_sb_str(&b, "ab");
    CHECK(x.len == 5);
    CHECK(y.len == 2);
    CHECK(x.off != y.off || y.len != x.len);
    size_t size = 0;
    void *blob = sl_sb_finish(&b, 1, 1, &size);
    sl_snapshot s = {blob, size};
    CHECK(memcmp(sl_snap_cstr(&s, x), "ab\0cd", 6) == 0);
    CHECK_STR(sl_snap_cstr(&s, y), "ab");
    free(blob);
}

static void test_builder_records(void)
{
    sl_snap_builder b;
    sl_sb_init(&b);
    CHECK(sl_sb_count(&b, SL_SNAP_ROUTES) == 0);
    for (uint32_t i = 0; i < 100; i++) {
        sl_snap_endpoint e = {.family = 2, .port = (uint16_t)(1000 + i)};
        CHECK(sl_sb_add(&b, SL_SNAP_ENDPOINTS, &e) == i);
    }
    CHECK(sl_sb_count(&b, SL_SNAP_ENDPOINTS) == 100);
    CHECK(((sl_snap_endpoint *)sl_sb_at(&b, SL_SNAP_ENDPOINTS, 57))->port == 1057);
    ((sl_snap_endpoint *)sl_sb_at(&b, SL_SNAP_ENDPOINTS, 3))->port = 7;
    size_t size = 0;
    void *blob = sl_sb_finish(&b, 9, 10, &size);
    CHECK(b.tab[SL_SNAP_ENDPOINTS].data == NULL); /* builder left empty */
    sl_snapshot s = {blob, size};
    CHECK(sl_snap_count(&s, SL_SNAP_ENDPOINTS) == 100);
    CHECK(SL_SNAP_GET(&s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, 3)->port == 7);
    CHECK(SL_SNAP_GET(&s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, 99)->port == 1099);
    char why[256];
    CHECK(verify(blob, size, why, sizeof(why)));
    free(blob);
}

/* The descriptors tile every record: fields in order, from offset 0, with no
 * gap (padding is an explicit reserved field) and ending at the record's size.
 * A field added to a record and not to its descriptor leaves a gap or a size
 * mismatch here, so it can never go unverified. */
static void test_descriptors_tile_every_record(void)
{
    for (int sec = 0; sec < SL_SNAP_NSECTIONS; sec++) {
        const sl_snap_section_desc *sd = &sl_snap_sections[sec];
        CHECK(sd->name != NULL);
        if (sec == SL_SNAP_STRINGS) {
            CHECK(sd->record_size == 1 && sd->nfields == 0);
            continue;
        }
        CHECK(sd->nfields > 0);
        size_t at = 0;
        for (size_t k = 0; k < sd->nfields; k++) {
            const sl_snap_field *f = &sd->fields[k];
            if (f->offset != at)
                fprintf(stderr, "  %s.%s at offset %u, expected %zu (a field missing from the descriptor?)\n",
                        sd->name, f->name, f->offset, at);
            CHECK(f->offset == at);
            CHECK(f->offset % f->align == 0);
            if (f->kind == SL_FIELD_RANGE || f->kind == SL_FIELD_INDEX || f->kind == SL_FIELD_INDEX_OR_NONE)
                CHECK(f->target != SL_SNAP_STRINGS && f->target < SL_SNAP_NSECTIONS);
            if (f->kind == SL_FIELD_STR || f->kind == SL_FIELD_RANGE)
                CHECK(f->size == 8);
            if (f->kind == SL_FIELD_INDEX || f->kind == SL_FIELD_INDEX_OR_NONE)
                CHECK(f->size == 4);
            if (f->kind == SL_FIELD_UINT)
                CHECK(f->size == 1 || f->size == 2 || f->size == 4 || f->size == 8);
            at = (size_t)f->offset + f->size;
        }
        if (at != sd->record_size)
            fprintf(stderr, "  %s: fields end at %zu, the record is %zu bytes\n", sd->name, at, sd->record_size);
        CHECK(at == sd->record_size);
    }
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_descriptors_tile_every_record),
        UNIT_TEST(test_crc32c_known_value),
        UNIT_TEST(test_crc32c_instruction_and_table_agree),
        UNIT_TEST(test_built_snapshot_verifies),
        UNIT_TEST(test_empty_builder_verifies),
        UNIT_TEST(test_flip_any_byte_fails_checksum),
        UNIT_TEST(test_truncation_refused),
        UNIT_TEST(test_bad_magic_refused),
        UNIT_TEST(test_wrong_format_refused),
        UNIT_TEST(test_section_outside_refused),
        UNIT_TEST(test_out_of_range_index_refused),
        UNIT_TEST(test_out_of_range_range_refused),
        UNIT_TEST(test_string_without_nul_refused),
        UNIT_TEST(test_empty_string_section_refused),
        UNIT_TEST(test_tls_strings_refused),
        UNIT_TEST(test_random_corruption_never_crashes),
        UNIT_TEST(test_string_dedup),
        UNIT_TEST(test_string_with_embedded_nul),
        UNIT_TEST(test_builder_records),
    };
    return sl_unit_run("snapshot", tests, sizeof(tests) / sizeof(tests[0]));
}

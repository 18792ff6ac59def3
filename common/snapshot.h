/* The configuration snapshot: one immutable, position-independent blob (offsets,
 * never pointers) that the master compiles from the store and the workers map
 * read-only from shared memory. Every table is an array of fixed-size records
 * reached through the header; strings live in one string section and are named
 * by {offset, length}.
 *
 * Layout: [sl_snap_header][sections...]. All offsets are from the start of the
 * blob and 8-byte aligned. The checksum covers everything after the header, so a
 * worker can refuse a torn or corrupt snapshot before using it. */
#ifndef SL_SNAPSHOT_H
#define SL_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_SNAP_MAGIC 0x50414e53434c53ull /* "SLCSNAP" */
#define SL_SNAP_FORMAT 14
#define SL_SNAP_NONE UINT32_MAX           /* "no index" in a reference field */

typedef struct sl_snap_str {
    uint32_t off, len;
} sl_snap_str;

typedef struct sl_snap_range {
    uint32_t first, count;
} sl_snap_range;

/* The sections of a snapshot, in order. */
enum sl_snap_section {
    SL_SNAP_STRINGS,
    SL_SNAP_GATEWAYS,
    SL_SNAP_PORTS,
    SL_SNAP_LISTENERS,
    SL_SNAP_VHOSTS,
    SL_SNAP_ROUTES,
    SL_SNAP_HEADER_MATCHES,
    SL_SNAP_ACTIONS,
    SL_SNAP_BACKEND_REFS,
    SL_SNAP_BACKENDS,
    SL_SNAP_ENDPOINTS,
    SL_SNAP_FILTERS,
    SL_SNAP_PATH_INDEX,
    SL_SNAP_CERTS,
    SL_SNAP_POLICIES,
    SL_SNAP_POLICY_ITEMS,
    SL_SNAP_POLICY_LINKS,
    SL_SNAP_ZONES,
    SL_SNAP_BALANCERS,
    SL_SNAP_HASH_POLICIES,
    SL_SNAP_LB_ENTRIES,
    SL_SNAP_HEALTH_CHECKS,
    SL_SNAP_MCP_TARGETS,
    SL_SNAP_NSECTIONS
};

typedef struct sl_snap_section_ref {
    uint32_t off;   /* from the start of the blob */
    uint32_t count; /* records (bytes for SL_SNAP_STRINGS) */
} sl_snap_section_ref;

typedef struct sl_snap_header {
    uint64_t magic;
    uint32_t format;
    uint32_t size;     /* whole blob, header included */
    uint64_t generation;
    uint64_t store_rv; /* the store's resourceVersion this was compiled from */
    uint32_t checksum; /* CRC-32C of bytes [sizeof(header), size) */
    uint32_t reserved;
    sl_snap_section_ref sections[SL_SNAP_NSECTIONS];
} sl_snap_header;

/* How a reference that status reports on resolved (a Gateway's backend client
 * certificate, the CA certificates of a listener's client certificate validation). */
typedef enum {
    SL_REF_OK = 0,
    SL_REF_INVALID = 1,        /* missing object, missing key, or unusable PEM */
    SL_REF_INVALID_KIND = 2,   /* a group or kind sluice cannot read */
    SL_REF_NOT_PERMITTED = 3,  /* another namespace without a ReferenceGrant */
} sl_snap_ref_status;

/* A Gateway that sluice runs: one worker group. */
typedef struct sl_snap_gateway {
    sl_snap_str ns, name;
    sl_snap_str class_name;
    uint32_t workers;        /* 0: one per CPU */
    sl_snap_range ports;     /* distinct (address, port) sockets */
    sl_snap_range listeners;
    /* spec.tls.backend.clientCertificateRef: the chain and key the Gateway's
     * workers present to TLS backends ("" for none or when it does not resolve). */
    sl_snap_str backend_cert_pem, backend_key_pem;
    sl_snap_str backend_cert_message; /* why it does not resolve, for status */
    uint8_t backend_cert_status;      /* sl_snap_ref_status */
    uint8_t reserved[3];
} sl_snap_gateway;

/* Whether a port's connections start with a PROXY protocol header (a
 * TrafficPolicy's proxyProtocol section on the Gateway or a listener). */
typedef enum {
    SL_PROXY_PROTOCOL_OFF = 0,
    SL_PROXY_PROTOCOL_REQUIRED = 1, /* connections without one are closed */
    SL_PROXY_PROTOCOL_OPTIONAL = 2, /* used when present */
} sl_snap_proxy_protocol;

/* One listening socket of a Gateway: every listener on this port shares it and is
 * told apart by hostname (the vhosts). */
typedef struct sl_snap_port {
    uint32_t gateway;
    uint16_t port;
    uint8_t protocol; /* sl_snap_protocol */
    uint8_t proxy_protocol; /* sl_snap_proxy_protocol: a PROXY header before anything else */
    sl_snap_str address; /* "" for all addresses */
    sl_snap_range vhosts; /* ordered: exact hostnames (sorted), wildcards (longest first), catch-all */
    sl_snap_range certs;  /* HTTPS: the certificates of its listeners (CERTS), chosen by SNI */
} sl_snap_port;

/* Client certificates on an HTTPS listener (the Gateway's spec.tls.frontend, or
 * a TrafficPolicy's tls.clientCertificate). */
typedef enum {
    SL_CLIENT_CERT_NONE = 0,
    SL_CLIENT_CERT_OPTIONAL = 1,          /* asked for; checked when given, clients without one served */
    SL_CLIENT_CERT_REQUIRE = 2,           /* a handshake without a valid one fails (AllowValidOnly) */
    SL_CLIENT_CERT_INSECURE_FALLBACK = 3, /* asked for and checked, never refused (AllowInsecureFallback) */
} sl_snap_client_cert;

/* A certificate a TLS listener serves (PEM, from a kubernetes.io/tls Secret). */

typedef struct sl_snap_cert {
    uint32_t listener;    /* whose hostname selects it by SNI */
    uint8_t min_version;  /* 12: TLS 1.2 (default), 13: TLS 1.3 */
    uint8_t client_cert;  /* sl_snap_client_cert */
    uint8_t reserved[2];
    sl_snap_str hostname; /* the listener's hostname ("" matches any name) */
    sl_snap_str cert_pem; /* certificate chain */
    sl_snap_str key_pem;  /* private key */
    sl_snap_str ciphers;  /* TLS 1.2 suites, OpenSSL names joined by ':' ("": ours) */
    sl_snap_str client_ca; /* PEM bundle that client certificates must chain to */
} sl_snap_cert;

/* Why a TLS listener cannot serve (for its status). */
typedef enum {
    SL_TLS_OK = 0,
    SL_TLS_INVALID_CERT_REF = 1, /* missing Secret, wrong type, or unusable PEM */
    SL_TLS_REF_NOT_PERMITTED = 2, /* a Secret in another namespace without a ReferenceGrant */
    SL_TLS_UNSUPPORTED_MODE = 3,  /* Passthrough, or a TLS protocol listener */
} sl_snap_tls_status;

typedef enum { SL_PROTO_HTTP = 1, SL_PROTO_HTTPS = 2, SL_PROTO_TLS = 3, SL_PROTO_TCP = 4 } sl_snap_protocol;

typedef struct sl_snap_listener {
    uint32_t gateway;
    uint32_t port_index; /* into PORTS; SL_SNAP_NONE when the listener has no socket (a protocol
                          * sluice does not serve, or a rejected Gateway) */
    sl_snap_str name;
    sl_snap_str hostname; /* "" when the listener has none */
    uint32_t attached_routes;
    uint8_t tls_status;      /* sl_snap_tls_status, for HTTPS listeners */
    uint8_t frontend_status; /* sl_snap_ref_status of its client certificate validation's CA refs */
    uint8_t frontend_no_ca;  /* 1: none of those refs is usable (the listener is not accepted) */
    uint8_t reserved;
    sl_snap_str frontend_message; /* which CA ref does not resolve and why ("" when all do) */
} sl_snap_listener;

/* A host name (exact "a.example.com", wildcard "*.example.com" or catch-all "")
 * and the route entries that serve it, in precedence order. */
typedef struct sl_snap_vhost {
    sl_snap_str host;
    uint32_t listener;
    uint32_t reserved;
    sl_snap_range routes;       /* every entry, in precedence order */
    sl_snap_range exact_index;  /* PATH_INDEX records of Exact paths, sorted by path */
    sl_snap_range prefix_index; /* PATH_INDEX records of PathPrefix values, sorted by path */
    sl_snap_range regex_routes; /* the RegularExpression entries (last in precedence), in ROUTES */
} sl_snap_vhost;

/* The route entries of one vhost that share a path type and value, for lookups
 * that do not scan every route: binary search by path, then the (few) entries of
 * that path in precedence order. */
typedef struct sl_snap_path_index {
    sl_snap_str path;
    sl_snap_range routes;
} sl_snap_path_index;

typedef enum { SL_PATH_PREFIX = 1, SL_PATH_EXACT = 2, SL_PATH_REGEX = 3 } sl_snap_path_type;
typedef enum { SL_MATCH_EXACT = 1, SL_MATCH_REGEX = 2 } sl_snap_match_type;

/* One match of one HTTPRoute rule (matches within a rule are ORed, so each is its
 * own entry, ordered by the Gateway API's precedence within its vhost). */
/* TLS: a TLSRoute (the host is the connection's SNI); TCP: a TCPRoute. Both carry
 * connections, passed through as they are. */
typedef enum { SL_ROUTE_HTTP = 1, SL_ROUTE_GRPC = 2, SL_ROUTE_TLS = 3, SL_ROUTE_TCP = 4 } sl_snap_route_kind;

typedef struct sl_snap_route {
    uint8_t path_type;
    uint8_t kind;                /* sl_snap_route_kind: which kind of route it came from */
    uint8_t reserved[2];
    sl_snap_str path;
    sl_snap_str method;          /* "" for any */
    sl_snap_range header_matches;
    sl_snap_range query_matches; /* also SL_SNAP_HEADER_MATCHES records */
    uint32_t action;
    uint32_t rule_index;
    uint32_t series;          /* traffic series of the route rule (common/series.h); SL_SNAP_NONE: none */
    uint32_t listener_series; /* ...and of the listener whose vhost holds this entry */
    sl_snap_str route_ns, route_name;
    sl_snap_range policies; /* POLICY_LINKS: the policies in force here, by phase (workers/policy.h) */
} sl_snap_route;

typedef struct sl_snap_header_match {
    uint8_t type; /* sl_snap_match_type */
    uint8_t reserved[3];
    sl_snap_str name, value;
} sl_snap_header_match;

/* What a matched rule does: its filters, then (unless a filter answered) send to
 * weighted backends, with the rule's timeouts and retry policy. */
typedef struct sl_snap_action {
    sl_snap_range backend_refs;
    uint32_t total_weight;               /* 0: no usable backend, answer 500 */
    uint32_t request_timeout_ms;         /* timeouts.request; 0: none */
    uint32_t backend_request_timeout_ms; /* timeouts.backendRequest, per attempt; 0: none */
    sl_snap_range filters;               /* in the order the rule lists them */
    uint32_t retry_attempts;             /* retries after the first attempt */
    uint32_t retry_backoff_ms;
    uint8_t session_type;                /* sessionPersistence: sl_snap_session_type (0: none) */
    uint8_t session_permanent;           /* cookieConfig.lifetimeType Permanent: the cookie has a Max-Age */
    uint16_t reserved;
    uint64_t retry_codes[4];             /* bit (code - 400) set: retry on that status */
    uint32_t session_absolute_s;         /* sessionPersistence.absoluteTimeout (0: none) */
    uint32_t session_idle_s;             /* sessionPersistence.idleTimeout (0: none) */
    sl_snap_str session_name;            /* the cookie or header that carries the session */
} sl_snap_action;

typedef enum { SL_SESSION_COOKIE = 1, SL_SESSION_HEADER = 2 } sl_snap_session_type;

typedef struct sl_snap_backend_ref {
    uint32_t weight;
    uint32_t backend; /* SL_SNAP_NONE: unresolved; its share answers 500 */
    sl_snap_range filters; /* per-backend filters */
} sl_snap_backend_ref;

typedef enum {
    SL_FILTER_REQUEST_HEADER = 1, /* op set/add/remove of one header */
    SL_FILTER_RESPONSE_HEADER,
    SL_FILTER_REDIRECT,
    SL_FILTER_REWRITE,
    SL_FILTER_MIRROR,
    SL_FILTER_CORS,
} sl_snap_filter_type;

typedef enum { SL_HDR_SET = 1, SL_HDR_ADD = 2, SL_HDR_REMOVE = 3 } sl_snap_header_op;
typedef enum { SL_PATHMOD_NONE = 0, SL_PATHMOD_FULL = 1, SL_PATHMOD_PREFIX = 2 } sl_snap_path_mod;

/* One filter. Which fields mean something depends on the type. */
typedef struct sl_snap_filter {
    uint8_t type;        /* sl_snap_filter_type */
    uint8_t op;          /* header filters: sl_snap_header_op */
    uint8_t path_mod;    /* redirect, rewrite: sl_snap_path_mod */
    uint8_t credentials; /* CORS allowCredentials */
    uint16_t status;     /* redirect: 301, 302, 303, 307, 308 */
    uint16_t port;       /* redirect: 0 = derive from the scheme or the listener */
    sl_snap_str name, value;            /* header filters */
    sl_snap_str scheme, hostname, path; /* redirect, rewrite (empty: keep) */
    uint32_t backend;                   /* mirror: backend index, SL_SNAP_NONE if unresolved */
    uint32_t numerator, denominator;    /* mirror: share of requests mirrored */
    sl_snap_str origins, methods, headers, expose; /* CORS: lists, one item per line */
    uint32_t max_age;                   /* CORS: seconds, 0 = not sent */
    uint32_t reserved;
} sl_snap_filter;

/* One compiled policy section: one TrafficPolicy's ipAccess, rateLimit, ...
 * What the numbers, strings and items mean is its kind's business (the file
 * named in the policy registry, workers/policy_registry.c). */
typedef struct sl_snap_policy {
    uint16_t kind;       /* index into the policy registry */
    uint8_t phase;       /* sl_policy_phase (workers/policy.h) */
    uint8_t flags;       /* kind-specific */
    uint32_t reserved;
    sl_snap_str source;  /* "namespace/name" of the TrafficPolicy, for logs */
    sl_snap_range items; /* POLICY_ITEMS */
    uint32_t u[4];       /* kind-specific */
    uint64_t num[4];     /* kind-specific */
    sl_snap_str a, b;    /* kind-specific */
} sl_snap_policy;

/* An entry of a policy's list (a CIDR of ipAccess, ...). */
typedef struct sl_snap_policy_item {
    uint8_t family;   /* CIDRs: AF_INET or AF_INET6 */
    uint8_t prefix;   /* CIDRs: prefix length */
    uint8_t flags;    /* kind-specific */
    uint8_t reserved;
    uint32_t num;     /* kind-specific */
    uint8_t addr[16]; /* CIDRs: the network, host bits zero */
    sl_snap_str a, b; /* kind-specific */
} sl_snap_policy_item;

/* A route entry's chain is a range of links, each naming a policy: one compiled
 * policy serves every route it applies to. */
typedef struct sl_snap_policy_link {
    uint32_t policy; /* into POLICIES */
} sl_snap_policy_link;

/* The shared-memory zone (common/zones.h) that a policy kind keeps its state
 * in for one Gateway (its workers share it; it outlives snapshots). */
typedef struct sl_snap_zone {
    uint32_t gateway; /* GATEWAYS */
    uint16_t kind;    /* policy kind */
    uint16_t reserved;
    uint32_t zone;    /* index in the zone directory */
    uint32_t reserved2;
} sl_snap_zone;

typedef enum { SL_BACKEND_HTTP = 1, SL_BACKEND_H2C = 2, SL_BACKEND_HTTPS = 3 } sl_snap_backend_protocol;

/* How an HTTPS backend's certificate is checked. */
typedef enum {
    SL_UPTLS_VERIFY_CA = 1,     /* against the PEM bundle in tls_ca */
    SL_UPTLS_VERIFY_SYSTEM = 2, /* against the system's trust store */
    SL_UPTLS_INSECURE = 3,      /* not at all (insecureSkipVerify) */
} sl_snap_tls_verify;

/* A set of endpoints: a Service port or a Backend object. */
typedef struct sl_snap_backend {
    sl_snap_str kind, ns, name;
    uint32_t port; /* the Service port referenced (0 for Backend objects) */
    uint8_t protocol;
    uint8_t tls_verify; /* sl_snap_tls_verify, for SL_BACKEND_HTTPS */
    uint8_t ai_provider; /* sl_ai_provider (common/ai.h): a Backend of type AI; 0 otherwise */
    uint8_t mcp_prefix;  /* sl_snap_mcp_prefix: a Backend of type MCP (mcp_targets not empty); 0 otherwise */
    sl_snap_range endpoints;
    sl_snap_str tls_sni;  /* SNI, and the name the certificate must carry unless tls_sans says
                           * otherwise ("": the endpoint's host) */
    sl_snap_str tls_ca;   /* PEM CA bundle (SL_UPTLS_VERIFY_CA; empty: nothing can verify) */
    sl_snap_str tls_sans; /* BackendTLSPolicy subjectAltNames, one per line, "DNS:<hostname>" or
                           * "URI:<uri>": when set, the certificate must carry one of them and
                           * tls_sni is not checked ("": check tls_sni) */
    uint64_t tls_identity; /* differs between backends whose TLS connections must not be pooled
                            * together (what verification and the client certificate depend on);
                            * 0 for plain backends */
    /* A Backend of type AI (ai_provider != 0): */
    sl_snap_str ai_key;       /* the API key the gateway sends ("": none configured) */
    sl_snap_str ai_authority; /* the Host field sent: the provider's host[:port] */
    sl_snap_str ai_base_path; /* what replaces the client's "/v1" in the path */
    sl_snap_str ai_model;     /* ai.model: the model every request uses ("": the client's) */
    sl_snap_str ai_aliases;   /* ai.modelAliases: "alias\tmodel\n" per entry, sorted by alias ("": none) */
    sl_snap_range ai_fallbacks; /* ai.fallbacks: BACKEND_REFS (weight 0) of the AI Backends tried next, in order */
    sl_snap_str ai_prices;    /* ai.prices: "model\tinput\toutput\tcached\n" per entry, micro-USD per million
                               * tokens; model "*" for any other ("": no prices, no cost) */
    sl_snap_str ai_region;    /* ai.region: Bedrock's AWS region (SigV4's scope) ("": none) */
    sl_snap_str ai_aws_key_id, ai_aws_secret, ai_aws_token; /* Bedrock's AWS credentials: requests are
                               * signed with SigV4 when ai_aws_key_id is set (token: temporary ones) */
    uint32_t state;           /* its slot in the shared endpoint table (common/endpoint_state.h):
                               * requests in flight, circuit breakers; SL_SNAP_NONE: none */
    uint32_t balancer;        /* BALANCERS: the BackendPolicy's settings; SL_SNAP_NONE: the defaults */
    uint32_t series;          /* traffic series (common/series.h); SL_SNAP_NONE: none */
    uint32_t reserved2;
    sl_snap_range lb_entries; /* LB_ENTRIES: the ring (ring hash) or table (maglev), else empty */
    sl_snap_range mcp_targets; /* MCP_TARGETS: a Backend of type MCP, served by the worker's MCP
                                * gateway (workers/mcp.h) instead of being proxied; else empty */
    sl_snap_str mcp_id;       /* ...its "namespace/name", which its session ids are bound to */
    uint32_t mcp_session_s;   /* ...how long a session lives (seconds) */
    uint8_t a2a;              /* a Backend of type A2A: proxied, its agent card rewritten (workers/a2a.h) */
    uint8_t reserved3[3];
} sl_snap_backend;

/* How the MCP gateway names what a target offers (mcp.prefixMode). */
typedef enum {
    SL_MCP_PREFIX_CONDITIONAL = 1, /* "<target>_<name>" when the Backend has more than one target */
    SL_MCP_PREFIX_ALWAYS = 2,
    SL_MCP_PREFIX_NEVER = 3,       /* the names as the targets give them (the first of a clash wins) */
} sl_snap_mcp_prefix;

typedef enum { SL_MCP_STREAMABLE_HTTP = 1, SL_MCP_SSE = 2 } sl_snap_mcp_protocol;

/* One MCP server behind a Backend of type MCP. */
typedef struct sl_snap_mcp_target {
    sl_snap_str name;     /* the target's name: its prefix */
    sl_snap_str url;      /* "http://host:port/path" it is reached at */
    sl_snap_str include;  /* names (globs with '*') it may offer, one per line ("": all) */
    sl_snap_str exclude;  /* ...and names it may not (applied after include) */
    uint8_t protocol;     /* sl_snap_mcp_protocol */
    uint8_t reserved[7];
} sl_snap_mcp_target;

typedef struct sl_snap_endpoint {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t reserved;
    uint16_t port;  /* host order */
    uint8_t addr[16];
    sl_snap_str host; /* the address as text, for logs */
    uint32_t state;   /* its slot in the shared endpoint table; SL_SNAP_NONE: none */
    uint32_t weight;  /* its share relative to the backend's other endpoints (>= 1) */
} sl_snap_endpoint;

/* How a backend spreads requests over its endpoints. */
typedef enum {
    SL_LB_ROUND_ROBIN = 0,
    SL_LB_LEAST_REQUEST = 1,
    SL_LB_RANDOM = 2,
    SL_LB_RING_HASH = 3,
    SL_LB_MAGLEV = 4,
    SL_LB_COUNT
} sl_snap_lb_algorithm;

/* A backend's traffic settings, from the BackendPolicy that targets it
 * (loadBalancer, outlierDetection, circuitBreakers, connectTimeout,
 * healthCheck). A backend without one uses sl_lb_defaults (workers/balancer.h). */
typedef struct sl_snap_balancer {
    sl_snap_str policy;            /* "ns/name" of the BackendPolicy, for logs */
    uint8_t algorithm;             /* sl_snap_lb_algorithm */
    uint8_t choice_count;          /* least-request: endpoints compared (2: power of two choices) */
    uint8_t panic_percent;         /* fewer usable endpoints than this share of all: use them all */
    uint8_t max_ejection_percent;  /* at most this share of the endpoints ejected at once */
    uint32_t slow_start_ms;        /* a newly usable endpoint's weight ramps up over this; 0: at once */
    uint16_t slow_start_aggression; /* thousandths: 1000 ramps linearly */
    uint16_t slow_start_min_percent; /* its weight's floor while ramping */
    uint32_t connect_timeout_ms;   /* 0: --connect-timeout */
    uint32_t consecutive_5xx;      /* 5xx answers in a row that eject (0: never) */
    uint32_t consecutive_local;    /* connect failures, resets and timeouts in a row that eject (0: never) */
    uint32_t base_ejection_ms;     /* the first ejection's length; each next one in a row adds one */
    uint32_t max_ejection_ms;
    uint32_t ejection_interval_ms; /* each interval without ejection takes one off the multiplier */
    uint32_t max_connections;      /* circuit breakers, counted over every worker (0: no limit) */
    uint32_t max_pending;
    uint32_t max_requests;
    uint32_t retry_budget_percent; /* retries in flight at most this share of requests (0: no budget) */
    uint32_t min_retry_concurrency;
    sl_snap_range hash_policies;   /* HASH_POLICIES: what ring hash and maglev hash, in order */
    uint32_t health_check;         /* HEALTH_CHECKS, or SL_SNAP_NONE */
} sl_snap_balancer;

typedef enum { SL_HASH_HEADER = 1, SL_HASH_COOKIE = 2, SL_HASH_QUERY = 3, SL_HASH_SOURCE_IP = 4 } sl_snap_hash_kind;

/* One part of a consistent-hashing key. */
typedef struct sl_snap_hash_policy {
    uint8_t kind;     /* sl_snap_hash_kind */
    uint8_t terminal; /* when this part is present, the later ones are not looked at */
    uint16_t reserved;
    sl_snap_str name; /* the header, cookie or query parameter ("" for the source address) */
} sl_snap_hash_policy;

/* A point of a backend's ring (ring hash: sorted by point) or a cell of its
 * lookup table (maglev: point unused); endpoint is an offset into the
 * backend's endpoints. */
typedef struct sl_snap_lb_entry {
    uint32_t point;
    uint32_t endpoint;
} sl_snap_lb_entry;

typedef enum { SL_HC_HTTP = 1, SL_HC_TCP = 2, SL_HC_GRPC = 3 } sl_snap_health_kind;

/* An active health check, run by the master (daemon/health_checker.c). */
typedef struct sl_snap_health_check {
    uint8_t kind; /* sl_snap_health_kind */
    uint8_t reserved[3];
    uint32_t interval_ms, timeout_ms, jitter_ms;
    uint32_t healthy_threshold, unhealthy_threshold;
    sl_snap_str path, host, method; /* HTTP ("" host: the endpoint's address) */
    sl_snap_str service;            /* gRPC: the service asked about ("": the server as a whole) */
    uint64_t statuses[8];           /* HTTP: the expected statuses, bit (status - 100) */
} sl_snap_health_check;

/* ---- Reading (workers and master). All inline: this is the hot path. ---- */

typedef struct sl_snapshot {
    const uint8_t *base;
    size_t size;
} sl_snapshot;

static inline const sl_snap_header *sl_snap_hdr(const sl_snapshot *s) { return (const sl_snap_header *)s->base; }

static inline const void *sl_snap_table(const sl_snapshot *s, enum sl_snap_section sec)
{
    return s->base + sl_snap_hdr(s)->sections[sec].off;
}

static inline uint32_t sl_snap_count(const sl_snapshot *s, enum sl_snap_section sec)
{
    return sl_snap_hdr(s)->sections[sec].count;
}

static inline const char *sl_snap_cstr(const sl_snapshot *s, sl_snap_str str)
{
    /* Every string is stored NUL-terminated after its bytes, so it can be used as
     * a C string too. */
    return (const char *)sl_snap_table(s, SL_SNAP_STRINGS) + str.off;
}

#define SL_SNAP_GET(snap, section, type, index) (&((const type *)sl_snap_table((snap), (section)))[(index)])

/* CRC-32C (Castagnoli) of buf. */
uint32_t sl_crc32c(const void *buf, size_t len);
/* The same without the CPU's CRC instruction (what sl_crc32c uses elsewhere; tests compare the two). */
uint32_t sl_crc32c_portable(const void *buf, size_t len);

/* Checks a blob before use: magic, format, size, every section inside the blob,
 * every range and string inside its table, every index in range, and the
 * checksum. Returns true when the blob is safe to read; otherwise writes why. */
bool sl_snapshot_verify(const void *blob, size_t size, char *why, size_t whylen);

#endif

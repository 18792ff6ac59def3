/* Compiler: Backends of type AI. An AI Backend becomes an ordinary backend
 * record (endpoints, TLS towards the provider with the system's CAs) plus what
 * the worker's AI hooks need: the provider, the API key from the Secret that
 * ai.authSecretRef names (its `apiKey` entry), the Host field to send, the
 * provider's API base path and the model override. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ai.h"
#include "common/log.h"
#include "daemon/compile_values.h"
#include "daemon/compiler_internal.h"
#include "daemon/series_ids.h"
#include <openssl/sha.h>

#include "daemon/fetcher.h"
#include "daemon/gcp_token.h"
#include "daemon/validate.h"

/* The decoded `entry` of Secret ns/name (malloc'd), or NULL. */
static char *secret_entry(sl_compile_ctx *c, const char *ns, const char *name, const char *entry)
{
    const json_t *secret = sl_compile_find_object(c->secrets, ns, name);
    const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), entry));
    if (!b64)
        return NULL;
    size_t len = 0;
    char *key = sl_base64_decode(b64, &len);
    /* A key goes into a header field: one line, no control characters. */
    for (size_t i = 0; key && i < len; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f) {
            free(key);
            return NULL;
        }
    if (key && len == 0) {
        free(key);
        return NULL;
    }
    return key;
}

/* The decoded `entry` of Secret ns/name as it is (a document: lines allowed), or NULL. */
static char *secret_document(sl_compile_ctx *c, const char *ns, const char *name, const char *entry)
{
    const json_t *secret = sl_compile_find_object(c->secrets, ns, name);
    const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), entry));
    size_t len = 0;
    char *doc = b64 ? sl_base64_decode(b64, &len) : NULL;
    if (doc && (len == 0 || memchr(doc, '\0', len))) {
        free(doc);
        return NULL;
    }
    return doc;
}

/* Access tokens are traded again well before their hour is up, and one that
 * could not be renewed is dropped before it is (the route then says why). */
#define GCP_TOKEN_REFRESH_MS (45u * 60u * 1000u)
#define GCP_TOKEN_MAX_AGE_MS (55u * 60u * 1000u)

/* A Vertex AI service account's access token (malloc'd), traded by the
 * master's fetcher for a JWT signed with its key, or NULL with why. */
static char *gcp_access_token(const char *key_json, char *why, size_t whylen)
{
    char *email = NULL, *uri = NULL;
    if (!sl_gcp_service_account(key_json, &email, &uri, why, whylen))
        return NULL;
    /* Kept under the account and its key: two keys of one account (a rotation)
     * are two entries, not one that flips between them. */
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key_json, strlen(key_json), digest);
    char *name = NULL;
    if (asprintf(&name, "gcp-token:%s:%02x%02x%02x%02x%02x%02x%02x%02x", email, digest[0], digest[1], digest[2],
                 digest[3], digest[4], digest[5], digest[6], digest[7]) < 0) {
        snprintf(why, whylen, "out of memory");
        free(email);
        free(uri);
        return NULL;
    }
    char problem[300] = "";
    sl_fetch_post post = {name, uri, sl_gcp_token_request, key_json, "access_token", GCP_TOKEN_MAX_AGE_MS};
    char *doc = sl_fetcher_post(&post, GCP_TOKEN_REFRESH_MS, problem, sizeof(problem));
    free(name);
    json_t *answer = doc ? json_loads(doc, 0, NULL) : NULL;
    const char *token = json_string_value(json_object_get(answer, "access_token"));
    char *out = NULL;
    bool usable = token && token[0];
    for (const char *t = token; usable && *t; t++)
        usable = (unsigned char)*t >= 0x20 && *t != 0x7f; /* it goes into a header field */
    if (usable)
        out = strdup(token);
    else if (problem[0])
        snprintf(why, whylen, "no access token yet for %s (%s)", email, problem);
    else
        snprintf(why, whylen, "the token endpoint %s gave no usable access_token for %s", uri, email);
    json_decref(answer);
    free(doc);
    free(email);
    free(uri);
    return out;
}

/* What the Backend's Secret gives: an apiKey, or (Bedrock) AWS credentials. */
typedef struct ai_secret {
    char *api_key, *key_id, *secret, *token;
} ai_secret;

static void ai_secret_free(ai_secret *k)
{
    free(k->api_key);
    free(k->key_id);
    free(k->secret);
    free(k->token);
}

/* Reads Secret ns/name for provider: false when it gives nothing usable
 * (why says so when there is more to say than that). */
static bool read_ai_secret(sl_compile_ctx *c, const char *ns, const char *name, sl_ai_provider provider,
                           ai_secret *k, char *why, size_t whylen)
{
    memset(k, 0, sizeof(*k));
    why[0] = '\0';
    char *account = provider == SL_AI_VERTEXAI ? secret_document(c, ns, name, "serviceAccountKey") : NULL;
    if (account) {
        char problem[400] = "";
        k->api_key = gcp_access_token(account, problem, sizeof(problem));
        if (!k->api_key)
            snprintf(why, whylen, "serviceAccountKey: %s", problem);
        free(account);
        return k->api_key != NULL;
    }
    if (provider == SL_AI_BEDROCK) {
        k->key_id = secret_entry(c, ns, name, "accessKeyId");
        k->secret = secret_entry(c, ns, name, "secretAccessKey");
        k->token = secret_entry(c, ns, name, "sessionToken");
        /* A token that is there but unusable is no credential: requests would
         * be refused by AWS one by one. */
        const json_t *secret = sl_compile_find_object(c->secrets, ns, name);
        bool token_given = json_object_get(json_object_get(secret, "data"), "sessionToken") != NULL;
        if (k->key_id && k->secret && (k->token || !token_given))
            return true;
        ai_secret_free(k);
        memset(k, 0, sizeof(*k));
    }
    k->api_key = secret_entry(c, ns, name, "apiKey");
    return k->api_key != NULL;
}

/* Why Backend obj cannot be served (its fallbacks too, unless `alone`), or NULL. */
static const char *problem(sl_compile_ctx *c, const json_t *obj, bool grpc, bool alone, const char **message)
{
    const json_t *ai = json_object_get(json_object_get(obj, "spec"), "ai");
    const char *provider_name = sl_js(ai, "provider");
    const sl_ai_provider_info *info = sl_ai_provider_get(sl_ai_provider_from_name(provider_name));
    char buf[900];
    if (grpc) {
        *message = "an AI Backend serves HTTP APIs; a GRPCRoute cannot use it";
        return "UnsupportedProtocol";
    }
    if (!info->served) {
        snprintf(buf, sizeof(buf), "ai.provider %s is not served by this version of sluice", provider_name);
        json_array_append_new(c->keep, json_string(buf));
        *message = json_string_value(json_array_get(c->keep, json_array_size(c->keep) - 1));
        return "UnsupportedProtocol";
    }
    const char *secret = sl_js(json_object_get(ai, "authSecretRef"), "name");
    ai_secret k;
    sl_ai_provider provider = sl_ai_provider_from_name(provider_name);
    if (secret[0]) {
        char why[400];
        if (!read_ai_secret(c, sl_jmeta(obj, "namespace"), secret, provider, &k, why, sizeof(why))) {
            if (why[0])
                snprintf(buf, sizeof(buf), "ai.authSecretRef: Secret %s/%s: %s", sl_jmeta(obj, "namespace"), secret,
                         why);
            else
                snprintf(buf, sizeof(buf),
                         "ai.authSecretRef: Secret %s/%s does not exist or has no usable %s entry (one line of "
                         "printable characters)",
                         sl_jmeta(obj, "namespace"), secret,
                         provider == SL_AI_BEDROCK    ? "apiKey, or accessKeyId and secretAccessKey,"
                         : provider == SL_AI_VERTEXAI ? "apiKey (an access token) or serviceAccountKey"
                                                      : "apiKey");
            json_array_append_new(c->keep, json_string(buf));
            *message = json_string_value(json_array_get(c->keep, json_array_size(c->keep) - 1));
            return "BackendNotFound";
        }
        ai_secret_free(&k);
    }
    if (alone)
        return NULL;
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(ai, "fallbacks"), i, f)
    {
        const char *ns = sl_jmeta(obj, "namespace"), *name = sl_js(f, "name");
        const json_t *next = sl_compile_find_object(c->backends, ns, name);
        const char *why = NULL;
        if (!next || strcmp(sl_js(json_object_get(next, "spec"), "type"), "AI") != 0) {
            snprintf(buf, sizeof(buf), "ai.fallbacks[%zu]: Backend %s/%s does not exist or is not of type AI", i, ns,
                     name);
            why = "BackendNotFound";
        } else {
            const char *inner = problem(c, next, grpc, true, message);
            if (!inner)
                continue;
            snprintf(buf, sizeof(buf), "ai.fallbacks[%zu] (Backend %s/%s): %s", i, ns, name, *message);
            why = inner;
        }
        json_array_append_new(c->keep, json_string(buf));
        *message = json_string_value(json_array_get(c->keep, json_array_size(c->keep) - 1));
        return why;
    }
    return NULL;
}

const char *sl_compile_ai_problem(sl_compile_ctx *c, const json_t *obj, bool grpc, const char **message)
{
    return problem(c, obj, grpc, false, message);
}

/* ai.modelAliases as the workers read it: "alias\tmodel\n" per entry, sorted
 * by alias (the validator allows neither tab nor newline in either). */
static sl_snap_str aliases_text(sl_compile_ctx *c, const json_t *aliases)
{
    const char *names[64];
    size_t n = 0, size = 1;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)aliases, k, v)
    {
        if (n < sizeof(names) / sizeof(names[0]) && json_is_string(v)) {
            names[n++] = k;
            size += strlen(k) + json_string_length(v) + 2;
        }
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    char *text = malloc(size);
    if (!text)
        return sl_sb_str(&c->b, "");
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, size - len, "%s\t%s\n", names[i],
                                json_string_value(json_object_get(aliases, names[i])));
    text[len] = '\0';
    sl_snap_str s = sl_sb_str(&c->b, text);
    free(text);
    return s;
}

/* ai.prices as the workers read them: "model\tinput\toutput\tcached\n" per
 * entry, in micro-USD per million tokens (cachedInput defaults to input). */
static sl_snap_str prices_text(sl_compile_ctx *c, const json_t *prices)
{
    size_t n = json_array_size(prices);
    char *text = malloc(n * 340 + 1);
    if (!text)
        return sl_sb_str(&c->b, "");
    size_t len = 0;
    text[0] = '\0';
    size_t i;
    const json_t *p;
    json_array_foreach(prices, i, p)
    {
        double in = json_number_value(json_object_get(p, "input"));
        double out = json_number_value(json_object_get(p, "output"));
        const json_t *cached = json_object_get(p, "cachedInput");
        double cin = cached ? json_number_value(cached) : in;
        len += (size_t)snprintf(text + len, 340, "%s\t%.0f\t%.0f\t%.0f\n", sl_js(p, "model"), in * 1e6, out * 1e6,
                                cin * 1e6);
    }
    sl_snap_str s = sl_sb_str(&c->b, text);
    free(text);
    return s;
}

/* Where a provider whose endpoint depends on its region lives: the default
 * host (written to host, "" for the others) and the API's base path (written
 * to base: the provider's default for the others). Returns the region ("" for
 * providers without one).
 *   VertexAI  {region}-aiplatform.googleapis.com ("global": aiplatform...),
 *             /v1/projects/{project}/locations/{region}/publishers/google
 *   Bedrock   bedrock-runtime.{region}.amazonaws.com */
static const char *regional(sl_ai_provider provider, const json_t *ai, char *host, size_t hcap, char *base,
                            size_t bcap)
{
    const char *region = sl_js(ai, "region");
    host[0] = '\0';
    snprintf(base, bcap, "%s", sl_ai_provider_get(provider)->base_path);
    if (provider == SL_AI_VERTEXAI) {
        if (!region[0])
            region = "us-central1";
        if (strcmp(region, "global") == 0)
            snprintf(host, hcap, "aiplatform.googleapis.com");
        else
            snprintf(host, hcap, "%s-aiplatform.googleapis.com", region);
        snprintf(base, bcap, "/v1/projects/%s/locations/%s/publishers/google", sl_js(ai, "project"), region);
    } else if (provider == SL_AI_BEDROCK) {
        if (!region[0])
            region = "us-east-1";
        snprintf(host, hcap, "bedrock-runtime.%s.amazonaws.com", region);
    } else {
        region = "";
    }
    return region;
}

/* Backend ns/name as a record; with its fallbacks unless `alone` (a fallback's
 * own fallbacks are not followed: a chain is one Backend's list). */
static uint32_t compile_backend(sl_compile_ctx *c, const char *ns, const char *name, bool alone)
{
    const json_t *obj = sl_compile_find_object(c->backends, ns, name);
    const json_t *ai = json_object_get(json_object_get(obj, "spec"), "ai");
    const char *unused;
    if (!obj || problem(c, obj, false, alone, &unused))
        return SL_SNAP_NONE; /* its share answers 500; the route's status says why */
    /* The fallbacks first: their records (backends, endpoints) must not fall
     * between this one's endpoints. */
    uint32_t chain[8];
    size_t nchain = 0;
    const json_t *fallbacks = alone ? NULL : json_object_get(ai, "fallbacks");
    size_t fi;
    const json_t *f;
    json_array_foreach(fallbacks, fi, f)
    {
        if (nchain < sizeof(chain) / sizeof(chain[0]))
            chain[nchain++] = compile_backend(c, ns, sl_js(f, "name"), true);
    }
    sl_ai_provider provider = sl_ai_provider_from_name(sl_js(ai, "provider"));
    const sl_ai_provider_info *info = sl_ai_provider_get(provider);
    const char *protocol = sl_js(ai, "protocol");
    bool https = protocol[0] ? strcmp(protocol, "HTTPS") == 0 : info->https;
    char regional_host[300], base_path[600];
    const char *region = regional(provider, ai, regional_host, sizeof(regional_host), base_path, sizeof(base_path));
    const char *host = json_object_get(ai, "host") ? sl_js(ai, "host") : regional_host[0] ? regional_host : info->host;
    long long default_port = json_object_get(ai, "host") || protocol[0] ? (https ? 443 : 80) : info->port;
    uint16_t port = (uint16_t)sl_ji(ai, "port", default_port);
    char authority[300];
    bool default_for_scheme = port == (https ? 443 : 80);
    bool v6 = strchr(host, ':') != NULL;
    snprintf(authority, sizeof(authority), default_for_scheme ? (v6 ? "[%s]" : "%s") : (v6 ? "[%s]:%u" : "%s:%u"),
             host, (unsigned)port);
    sl_snap_backend be = {
        .state = SL_SNAP_NONE,
        .series = sl_series_backend("Backend", ns, name, 0),
        .balancer = SL_SNAP_NONE,
        .kind = sl_sb_str(&c->b, "Backend"),
        .ns = sl_sb_str(&c->b, ns),
        .name = sl_sb_str(&c->b, name),
        .protocol = https ? SL_BACKEND_HTTPS : SL_BACKEND_HTTP,
        .ai_provider = (uint8_t)provider,
        .ai_authority = sl_sb_str(&c->b, authority),
        .ai_base_path = sl_sb_str(&c->b, json_object_get(ai, "path") ? sl_js(ai, "path") : base_path),
        .ai_region = sl_sb_str(&c->b, region),
        .ai_model = sl_sb_str(&c->b, sl_js(ai, "model")),
    };
    be.ai_aliases = aliases_text(c, json_object_get(ai, "modelAliases"));
    be.ai_prices = prices_text(c, json_object_get(ai, "prices"));
    const char *secret = sl_js(json_object_get(ai, "authSecretRef"), "name");
    ai_secret k;
    char why[400];
    if (secret[0] && read_ai_secret(c, ns, secret, provider, &k, why, sizeof(why))) {
        be.ai_key = sl_sb_str(&c->b, k.api_key ? k.api_key : "");
        be.ai_aws_key_id = sl_sb_str(&c->b, k.key_id ? k.key_id : "");
        be.ai_aws_secret = sl_sb_str(&c->b, k.secret ? k.secret : "");
        be.ai_aws_token = sl_sb_str(&c->b, k.token ? k.token : "");
        ai_secret_free(&k);
    }
    if (https) {
        /* The provider's public certificate, checked against the system's CAs
         * for its host name (an address has no name to check: SNI is left out). */
        be.tls_verify = SL_UPTLS_VERIFY_SYSTEM;
        be.tls_sni = sl_sb_str(&c->b, sl_is_ip_literal(host) ? "" : host);
    }
    sl_compile_tls_identity(c, &be);
    be.ai_fallbacks.first = sl_sb_count(&c->b, SL_SNAP_BACKEND_REFS);
    for (size_t i = 0; i < nchain; i++) {
        sl_snap_backend_ref ref = {.weight = 0, .backend = chain[i]};
        sl_sb_add(&c->b, SL_SNAP_BACKEND_REFS, &ref);
    }
    be.ai_fallbacks.count = (uint32_t)nchain;
    be.endpoints.first = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS);
    sl_compile_host_endpoints(c, host, port, 1);
    be.endpoints.count = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS) - be.endpoints.first;
    return sl_sb_add(&c->b, SL_SNAP_BACKENDS, &be);
}

uint32_t sl_compile_ai_backend(sl_compile_ctx *c, const char *ns, const char *name)
{
    return compile_backend(c, ns, name, false);
}

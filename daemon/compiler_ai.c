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
#include "daemon/validate.h"

/* The decoded `apiKey` entry of Secret ns/name (malloc'd), or NULL. */
static char *secret_api_key(sl_compile_ctx *c, const char *ns, const char *name)
{
    const json_t *secret = sl_compile_find_object(c->secrets, ns, name);
    const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), "apiKey"));
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

const char *sl_compile_ai_problem(sl_compile_ctx *c, const json_t *obj, bool grpc, const char **message)
{
    const json_t *ai = json_object_get(json_object_get(obj, "spec"), "ai");
    const char *provider_name = sl_js(ai, "provider");
    const sl_ai_provider_info *info = sl_ai_provider_get(sl_ai_provider_from_name(provider_name));
    char buf[400];
    if (grpc) {
        *message = "an AI Backend serves HTTP APIs; a GRPCRoute cannot use it";
        return "UnsupportedProtocol";
    }
    if (!info->served) {
        snprintf(buf, sizeof(buf),
                 "ai.provider %s is not served by this version of sluice yet (served: OpenAI, OpenAICompatible, "
                 "Ollama, Anthropic)",
                 provider_name);
        json_array_append_new(c->keep, json_string(buf));
        *message = json_string_value(json_array_get(c->keep, json_array_size(c->keep) - 1));
        return "UnsupportedProtocol";
    }
    const char *secret = sl_js(json_object_get(ai, "authSecretRef"), "name");
    if (secret[0]) {
        char *key = secret_api_key(c, sl_jmeta(obj, "namespace"), secret);
        if (!key) {
            snprintf(buf, sizeof(buf),
                     "ai.authSecretRef: Secret %s/%s does not exist or has no usable apiKey entry (one line of "
                     "printable characters)",
                     sl_jmeta(obj, "namespace"), secret);
            json_array_append_new(c->keep, json_string(buf));
            *message = json_string_value(json_array_get(c->keep, json_array_size(c->keep) - 1));
            return "BackendNotFound";
        }
        free(key);
    }
    return NULL;
}

uint32_t sl_compile_ai_backend(sl_compile_ctx *c, const char *ns, const char *name)
{
    const json_t *obj = sl_compile_find_object(c->backends, ns, name);
    const json_t *ai = json_object_get(json_object_get(obj, "spec"), "ai");
    const char *unused;
    if (!obj || sl_compile_ai_problem(c, obj, false, &unused))
        return SL_SNAP_NONE; /* its share answers 500; the route's status says why */
    sl_ai_provider provider = sl_ai_provider_from_name(sl_js(ai, "provider"));
    const sl_ai_provider_info *info = sl_ai_provider_get(provider);
    const char *protocol = sl_js(ai, "protocol");
    bool https = protocol[0] ? strcmp(protocol, "HTTPS") == 0 : info->https;
    const char *host = json_object_get(ai, "host") ? sl_js(ai, "host") : info->host;
    long long default_port = json_object_get(ai, "host") || protocol[0] ? (https ? 443 : 80) : info->port;
    uint16_t port = (uint16_t)sl_ji(ai, "port", default_port);
    char authority[300];
    bool default_for_scheme = port == (https ? 443 : 80);
    bool v6 = strchr(host, ':') != NULL;
    snprintf(authority, sizeof(authority), default_for_scheme ? (v6 ? "[%s]" : "%s") : (v6 ? "[%s]:%u" : "%s:%u"),
             host, (unsigned)port);
    sl_snap_backend be = {
        .kind = sl_sb_str(&c->b, "Backend"),
        .ns = sl_sb_str(&c->b, ns),
        .name = sl_sb_str(&c->b, name),
        .protocol = https ? SL_BACKEND_HTTPS : SL_BACKEND_HTTP,
        .ai_provider = (uint8_t)provider,
        .ai_authority = sl_sb_str(&c->b, authority),
        .ai_base_path = sl_sb_str(&c->b, json_object_get(ai, "path") ? sl_js(ai, "path") : info->base_path),
        .ai_model = sl_sb_str(&c->b, sl_js(ai, "model")),
    };
    const char *secret = sl_js(json_object_get(ai, "authSecretRef"), "name");
    if (secret[0]) {
        char *key = secret_api_key(c, ns, secret);
        be.ai_key = sl_sb_str(&c->b, key ? key : "");
        free(key);
    }
    if (https) {
        /* The provider's public certificate, checked against the system's CAs
         * for its host name (an address has no name to check: SNI is left out). */
        be.tls_verify = SL_UPTLS_VERIFY_SYSTEM;
        be.tls_sni = sl_sb_str(&c->b, sl_is_ip_literal(host) ? "" : host);
    }
    sl_compile_tls_identity(c, &be);
    be.endpoints.first = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS);
    sl_compile_host_endpoints(c, host, port);
    be.endpoints.count = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS) - be.endpoints.first;
    return sl_sb_add(&c->b, SL_SNAP_BACKENDS, &be);
}

/* Validation of a TrafficPolicy's jwt section (documented in docs/policies.md
 * and docs/validation.md). */
#include "daemon/validate.h"

#include <string.h>

#define MAX_PROVIDERS 8
#define MAX_INLINE_JWKS 65536

/* 1..128 printable ASCII characters: a claim name. */
static void check_claim_name(sl_vctx *v, const json_t *o, const char *key, bool required)
{
    const char *s = required ? sl_v_req_string(v, o, key) : sl_v_get_string(v, o, key);
    bool ok = s && s[0] && strlen(s) <= 128;
    for (const char *q = s; ok && *q; q++)
        ok = *q >= 0x20 && *q < 0x7f;
    if (s && !ok)
        sl_v_invalid(v, key, "must be a claim name of 1..128 printable ASCII characters");
}

static void check_inline_jwks(sl_vctx *v, const json_t *jwks)
{
    const char *text = sl_v_get_string(v, jwks, "inline");
    if (!text || !sl_v_max_len(v, "inline", text, MAX_INLINE_JWKS))
        return;
    json_t *doc = json_loads(text, 0, NULL);
    if (!json_is_array(json_object_get(doc, "keys")))
        sl_v_invalid(v, "inline", "must be a JWKS: a JSON object with a \"keys\" array");
    json_decref(doc);
}

static void check_jwks(sl_vctx *v, const json_t *provider)
{
    const json_t *jwks = sl_v_get_object(v, provider, "jwks");
    if (!jwks) {
        if (!sl_v_present(provider, "jwks"))
            sl_v_required(v, "jwks");
        return;
    }
    size_t prev = sl_v_field(v, "jwks");
    int sources = !!sl_v_present(jwks, "inline") + !!sl_v_present(jwks, "secretRef") + !!sl_v_present(jwks, "uri");
    if (sources != 1)
        sl_v_fail(v, NULL, sources ? "FieldValueForbidden" : "FieldValueRequired",
                  "exactly one of inline, secretRef or uri must be specified");
    check_inline_jwks(v, jwks);
    const json_t *ref = sl_v_get_object(v, jwks, "secretRef");
    if (ref) {
        size_t p2 = sl_v_field(v, "secretRef");
        const char *name = sl_v_req_string(v, ref, "name");
        if (name && !sl_is_dns1123_subdomain(name))
            sl_v_invalid(v, "name", "must be a lowercase RFC 1123 subdomain");
        const char *key = sl_v_get_string(v, ref, "key");
        if (key && (!key[0] || strlen(key) > 253 || strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                   "0123456789-_.") != strlen(key)))
            sl_v_invalid(v, "key", "must be a Secret data key: letters, digits, '-', '_' or '.'");
        sl_v_pop(v, p2);
    }
    const char *uri = sl_v_get_string(v, jwks, "uri");
    if (uri && sl_v_max_len(v, "uri", uri, 2048) && strncmp(uri, "http://", 7) != 0 &&
        strncmp(uri, "https://", 8) != 0)
        sl_v_invalid(v, "uri", "must be an http:// or https:// URL");
    long long ms = 0;
    if (sl_v_duration(v, jwks, "refreshInterval", &ms)) {
        if (!uri)
            sl_v_fail(v, "refreshInterval", "FieldValueForbidden", "refreshInterval applies to a uri only");
        else if (ms < 1000 || ms > 86400000LL)
            sl_v_invalid(v, "refreshInterval", "must be between 1s and 24h");
    }
    sl_v_pop(v, prev);
}

static void check_claims_to_headers(sl_vctx *v, const json_t *provider)
{
    const json_t *list = sl_v_get_list(v, provider, "claimsToHeaders", 1, 16, false);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        size_t prev = sl_v_field(v, "claimsToHeaders");
        const json_t *m = sl_v_list_object(v, list, i);
        if (m) {
            sl_v_index(v, i);
            check_claim_name(v, m, "claim", true);
            if (!sl_v_present(m, "header"))
                sl_v_required(v, "header");
            sl_v_header_name(v, m, "header");
            const char *h = json_string_value(json_object_get(m, "header"));
            if (h && sl_is_framing_header(h))
                sl_v_fail(v, "header", "FieldValueForbidden", "%s frames the message: a claim may not set it", h);
        }
        sl_v_pop(v, prev);
    }
}

static void check_provider(sl_vctx *v, const json_t *p, const json_t *providers, size_t index)
{
    const char *name = sl_v_req_string(v, p, "name");
    if (name && !sl_is_dns1123_label(name))
        sl_v_invalid(v, "name", "must be a lowercase RFC 1123 label");
    for (size_t j = 0; name && j < index; j++) {
        const char *other = json_string_value(json_object_get(json_array_get(providers, j), "name"));
        if (other && strcmp(other, name) == 0)
            sl_v_fail(v, "name", "FieldValueDuplicate", "Duplicate value: \"%s\"", name);
    }
    const char *issuer = sl_v_get_string(v, p, "issuer");
    if (issuer && (!issuer[0] || !sl_v_max_len(v, "issuer", issuer, 512)))
        sl_v_invalid(v, "issuer", "must not be empty");
    sl_v_word_list(v, p, "audiences", 16, false);
    check_jwks(v, p);
    check_claim_name(v, p, "clientIdClaim", false);
    check_claims_to_headers(v, p);
    bool forward;
    sl_v_get_bool(v, p, "forwardToken", &forward);
}

void sl_v_jwt(sl_vctx *v, const json_t *spec)
{
    const json_t *jwt = sl_v_get_object(v, spec, "jwt");
    if (!jwt)
        return;
    size_t prev = sl_v_field(v, "jwt");
    long long ms = 0;
    if (sl_v_duration(v, jwt, "clockSkew", &ms) && ms > 600000)
        sl_v_invalid(v, "clockSkew", "must be at most 10m");
    const json_t *providers = sl_v_get_list(v, jwt, "providers", 1, MAX_PROVIDERS, true);
    size_t i;
    const json_t *x;
    json_array_foreach(providers, i, x)
    {
        size_t p2 = sl_v_field(v, "providers");
        const json_t *p = sl_v_list_object(v, providers, i);
        if (p) {
            sl_v_index(v, i);
            check_provider(v, p, providers, i);
        }
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* Validation of a TrafficPolicy's extAuth section (documented in
 * docs/policies.md and docs/validation.md). */
#include "daemon/validate.h"

#include <string.h>

static void check_header_list(sl_vctx *v, const json_t *section, const char *key, bool framing_forbidden)
{
    const json_t *list = sl_v_get_list(v, section, key, 1, 32, false);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        size_t prev = sl_v_field(v, key);
        sl_v_index(v, i);
        const char *name = json_string_value(x);
        if (!name || !sl_is_http_token(name))
            sl_v_invalid(v, NULL, "must be a valid HTTP header name (RFC 9110 token)");
        else if (framing_forbidden && sl_is_framing_header(name))
            sl_v_fail(v, NULL, "FieldValueForbidden", "%s frames the message: the service may not set it", name);
        sl_v_pop(v, prev);
    }
}

void sl_v_ext_auth(sl_vctx *v, const json_t *spec)
{
    static const char *const modes[] = {"Allow", "Deny", NULL};
    const json_t *ea = sl_v_get_object(v, spec, "extAuth");
    if (!ea)
        return;
    size_t prev = sl_v_field(v, "extAuth");
    const char *url = sl_v_req_string(v, ea, "url");
    if (url && sl_v_max_len(v, "url", url, 2048) &&
        ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) || strpbrk(url, " \t\r\n?#")))
        sl_v_invalid(v, "url", "must be an http:// or https:// URL without query or fragment");
    long long ms = 0;
    if (sl_v_duration(v, ea, "timeout", &ms) && (ms < 1 || ms > 60000))
        sl_v_invalid(v, "timeout", "must be between 1ms and 60s");
    const char *mode = sl_v_get_string(v, ea, "failureMode");
    if (mode)
        sl_v_enum(v, "failureMode", mode, modes);
    check_header_list(v, ea, "headersToService", false);
    check_header_list(v, ea, "headersToUpstream", true);
    sl_v_pop(v, prev);
}

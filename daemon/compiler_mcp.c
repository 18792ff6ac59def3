/* Compiler: Backends of type MCP. Such a Backend is not proxied: the worker's
 * MCP gateway (workers/mcp.h) answers its clients itself and calls its
 * targets, so its record carries no endpoints, only the targets (MCP_TARGETS:
 * name, URL, the include/exclude name lists), the prefix mode and how long a
 * session lives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/compile_values.h"
#include "daemon/compiler_internal.h"

#define DEFAULT_SESSION_S (24u * 3600u)
#define DEFAULT_MCP_PATH "/mcp"

/* A name list as one string, one item per line ("": none). */
static sl_snap_str lines_of(sl_compile_ctx *c, const json_t *list)
{
    size_t total = 0, i;
    const json_t *x;
    json_array_foreach(list, i, x) total += strlen(json_string_value(x) ? json_string_value(x) : "") + 1;
    if (total == 0)
        return sl_sb_str(&c->b, "");
    char *text = malloc(total + 1), *p = text;
    if (!text)
        return sl_sb_str(&c->b, "");
    json_array_foreach(list, i, x)
    {
        const char *s = json_string_value(x) ? json_string_value(x) : "";
        size_t n = strlen(s);
        memcpy(p, s, n);
        p[n] = '\n';
        p += n + 1;
    }
    *p = '\0';
    sl_snap_str out = sl_sb_str(&c->b, text);
    free(text);
    return out;
}

static uint8_t prefix_mode(const char *mode)
{
    return strcmp(mode, "Always") == 0  ? SL_MCP_PREFIX_ALWAYS
           : strcmp(mode, "Never") == 0 ? SL_MCP_PREFIX_NEVER
                                        : SL_MCP_PREFIX_CONDITIONAL;
}

const char *sl_compile_mcp_problem(const json_t *obj, bool grpc, const char **message)
{
    if (grpc) {
        *message = "a GRPCRoute cannot route to a Backend of type MCP";
        return "UnsupportedProtocol";
    }
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(json_object_get(json_object_get(obj, "spec"), "mcp"), "targets"), i, t)
    {
        if (strcmp(sl_js(t, "protocol"), "SSE") == 0) {
            *message = "MCP targets reached over SSE (protocol: SSE) are not served by this version of sluice yet";
            return "UnsupportedProtocol";
        }
    }
    return NULL;
}

uint32_t sl_compile_mcp_backend(sl_compile_ctx *c, const char *ns, const char *name)
{
    const json_t *obj = sl_compile_find_object(c->backends, ns, name);
    const char *problem_message;
    if (!obj || sl_compile_mcp_problem(obj, false, &problem_message))
        return SL_SNAP_NONE;
    const json_t *mcp = json_object_get(json_object_get(obj, "spec"), "mcp");
    char id[600];
    snprintf(id, sizeof(id), "%s/%s", ns, name);
    const char *age = sl_js(mcp, "sessionMaxAge");
    uint64_t age_ms = age[0] ? sl_duration_ms(age) : 0; /* (at most 720h: the validator) */
    sl_snap_backend be = sl_compile_backend_record(c, "Backend", ns, name);
    be.protocol = SL_BACKEND_HTTP;
    be.mcp_prefix = prefix_mode(sl_js(mcp, "prefixMode"));
    be.mcp_id = sl_sb_str(&c->b, id);
    be.mcp_session_s = age_ms ? (uint32_t)((age_ms + 999) / 1000) : DEFAULT_SESSION_S;
    be.mcp_targets.first = sl_sb_count(&c->b, SL_SNAP_MCP_TARGETS);
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(mcp, "targets"), i, t)
    {
        const char *host = sl_js(t, "host");
        const char *path = json_object_get(t, "path") ? sl_js(t, "path") : DEFAULT_MCP_PATH;
        char url[1400];
        snprintf(url, sizeof(url), strchr(host, ':') ? "http://[%s]:%lld%s" : "http://%s:%lld%s", host,
                 sl_ji(t, "port", 80), path);
        sl_snap_mcp_target rec = {
            .name = sl_sb_str(&c->b, sl_js(t, "name")),
            .url = sl_sb_str(&c->b, url),
            .include = lines_of(c, json_object_get(t, "include")),
            .exclude = lines_of(c, json_object_get(t, "exclude")),
            .protocol = SL_MCP_STREAMABLE_HTTP,
        };
        sl_sb_add(&c->b, SL_SNAP_MCP_TARGETS, &rec);
    }
    be.mcp_targets.count = sl_sb_count(&c->b, SL_SNAP_MCP_TARGETS) - be.mcp_targets.first;
    return sl_sb_add(&c->b, SL_SNAP_BACKENDS, &be);
}

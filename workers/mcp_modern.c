/* MCP 2026-07-28 ("modern", stateless) on the client side of the gateway
 * (workers/mcp.h): no initialize and no session; every request carries the
 * protocol version, the client's capabilities and info in params._meta, and
 * headers that must agree with its body (MCP-Protocol-Version, Mcp-Method,
 * Mcp-Name). This file reads and checks such requests and shapes their
 * answers; mcp_gateway.c serves them with the same fan-out as legacy ones,
 * keeping one session per (Backend, caller, target) with the targets, which
 * speak the session-based versions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jwt.h"
#include "workers/mcp.h"

#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define META_INFO "io.modelcontextprotocol/clientInfo"

const char *sl_mcp_modern_version(const char *header, const json_t *msg)
{
    const char *meta = json_string_value(
        json_object_get(json_object_get(json_object_get(msg, "params"), "_meta"), META_VERSION));
    if (meta && strcmp(meta, "2026-07-28") >= 0)
        return meta;
    if (header && strcmp(header, "2026-07-28") >= 0)
        return header;
    return NULL;
}

/* A header value as the specification encodes it: "=?base64?...?=" holds the
 * UTF-8 of a value that plain ASCII could not carry. Into out (cap bytes),
 * its length in *len (it may hold a NUL: compared by length). */
static bool decode_value(const char *v, char *out, size_t cap, size_t *len)
{
    size_t n = strlen(v);
    if (n >= 11 && strncmp(v, "=?base64?", 9) == 0 && strcmp(v + n - 2, "?=") == 0) {
        const char *b = v + 9;
        size_t bl = n - 11, pad = 0;
        while (pad < 2 && bl > pad && b[bl - 1 - pad] == '=')
            pad++;
        if (bl % 4 != 0)
            return false; /* standard base64 is padded */
        /* The standard alphabet only (no base64url's '-' and '_'), '=' only at the end. */
        char *u = malloc(bl + 1);
        if (!u)
            return false;
        bool ok = true;
        for (size_t i = 0; i < bl - pad && ok; i++) {
            char ch = b[i];
            ok = ch != '-' && ch != '_' && ch != '=';
            u[i] = ch == '+' ? '-' : ch == '/' ? '_' : ch;
        }
        ok = ok && sl_base64url_decode(u, bl - pad, (unsigned char *)out, cap - 1, len);
        free(u);
        if (ok)
            out[*len] = '\0';
        return ok;
    }
    if (n >= cap)
        return false;
    memcpy(out, v, n + 1);
    *len = n;
    return true;
}

/* The error answer for a request that breaks the rules (HTTP status in *status). */
static json_t *refuse(const json_t *msg, int *status, int http, int code, const char *message, json_t *data)
{
    *status = http;
    json_t *id = json_object_get(msg, "id");
    json_t *err = json_pack("{s:i, s:s}", "code", code, "message", message);
    if (data)
        json_object_set_new(err, "data", data);
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", err);
}

json_t *sl_mcp_modern_check(const sl_mcp_modern_head *h, const json_t *msg, int *status)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    const json_t *id = json_object_get(msg, "id");
    const json_t *params = json_object_get(msg, "params");
    const json_t *meta = json_object_get(params, "_meta");
    if (!method)
        return refuse(msg, status, 400, -32600, "Invalid Request: a client may not send responses in 2026-07-28", NULL);
    const char *claimed = json_string_value(json_object_get(meta, META_VERSION));
    if (!h->version[0] || !claimed || strcmp(h->version, claimed) != 0)
        return refuse(msg, status, 400, -32020,
                      "Header mismatch: MCP-Protocol-Version must equal params._meta's protocolVersion", NULL);
    if (strcmp(claimed, "2026-07-28") != 0)
        return refuse(msg, status, 400, -32022, "Unsupported protocol version",
                      json_pack("{s:[s], s:s}", "supported", "2026-07-28", "requested", claimed));
    if (id && (!json_is_object(meta) || !json_is_object(json_object_get(meta, META_CAPS))))
        return refuse(msg, status, 400, -32602, "Invalid params: _meta must carry clientCapabilities", NULL);
    if (id && strcmp(h->method, method) != 0)
        return refuse(msg, status, 400, -32020, "Header mismatch: Mcp-Method must equal the body's method", NULL);
    const char *name = NULL;
    if (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0)
        name = json_string_value(json_object_get(params, "name"));
    else if (strcmp(method, "resources/read") == 0)
        name = json_string_value(json_object_get(params, "uri"));
    char decoded[2048];
    size_t dlen = 0;
    if (name && (!h->name[0] || !decode_value(h->name, decoded, sizeof(decoded), &dlen) || dlen != strlen(name) ||
                 memcmp(decoded, name, dlen) != 0))
        return refuse(msg, status, 400, -32020, "Header mismatch: Mcp-Name must equal the body's name or uri", NULL);
    *status = 0;
    return NULL;
}

json_t *sl_mcp_modern_client(const json_t *msg)
{
    const json_t *meta = json_object_get(json_object_get(msg, "params"), "_meta");
    const json_t *caps = json_object_get(meta, META_CAPS), *info = json_object_get(meta, META_INFO);
    const char *n = json_string_value(json_object_get(info, "name")), *v = json_string_value(json_object_get(info, "version"));
    json_t *offered = json_is_object(caps) ? json_deep_copy(caps) : json_object();
    /* A target must not ask what the gateway cannot pass to a 2026-07-28 client (it has no requests from servers). */
    json_object_del(offered, "sampling");
    json_object_del(offered, "elicitation");
    json_object_del(offered, "roots");
    return json_pack("{s:o, s:{s:s, s:s}}", "capabilities", offered, "clientInfo", "name", n ? n : "", "version",
                     v ? v : "");
}

void sl_mcp_modern_shape(json_t *response, const char *method)
{
    json_t *result = json_object_get(response, "result");
    if (!json_is_object(result))
        return;
    if (!json_object_get(result, "resultType"))
        json_object_set_new(result, "resultType", json_string("complete"));
    /* Lists and reads say how long they may be cached: not at all, and by this caller only (they may be filtered
     * for it). */
    if (sl_mcp_list_kind_of(method) || strcmp(method, "resources/read") == 0) {
        json_object_set_new(result, "ttlMs", json_integer(0));
        json_object_set_new(result, "cacheScope", json_string("private"));
    }
}

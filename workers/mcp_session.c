/* The MCP gateway's session ids (workers/mcp.h): the session's state itself,
 * sealed, so every worker can serve every request of a session without
 * sharing memory, and a restarted master (same key file) keeps them valid.
 * Plaintext: {"v": version, "t": created (s), "s": {target: its session id},
 * "i": {"capabilities", "clientInfo"} of the client's initialize}. */
#include <stdlib.h>
#include <string.h>

#include "workers/mcp.h"

/* What a session id is sealed for: its Backend, and being a session (a cursor is none). */
static void session_aad(const char *backend, char *out, size_t cap) { snprintf(out, cap, "session %s", backend); }

char *sl_mcp_session_id(const uint8_t key[32], const char *backend, const sl_mcp_session *s)
{
    json_t *doc = json_pack("{s:s, s:I, s:O, s:s}", "v", s->version, "t", (json_int_t)s->created, "s", s->targets,
                            "u", s->caller);
    if (doc && s->client)
        json_object_set(doc, "i", s->client);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    char aad[600];
    session_aad(backend, aad, sizeof(aad));
    /* It travels in a header: one that would not fit the gateway's own head limit is not made. */
    char *id = text && strlen(text) <= SL_MCP_SESSION_TEXT_MAX ? sl_mcp_seal(key, aad, text, strlen(text)) : NULL;
    free(text);
    return id;
}

bool sl_mcp_session_read(const uint8_t key[32], const char *backend, const char *id, size_t len, uint64_t now,
                         uint32_t max_age_s, sl_mcp_session *s)
{
    memset(s, 0, sizeof(*s));
    char aad[600];
    session_aad(backend, aad, sizeof(aad));
    char *text = sl_mcp_unseal(key, aad, id, len);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    const char *version = json_string_value(json_object_get(doc, "v"));
    json_int_t created = json_integer_value(json_object_get(doc, "t"));
    json_t *targets = json_object_get(doc, "s");
    const char *caller = json_string_value(json_object_get(doc, "u"));
    bool ok = caller && strlen(caller) < sizeof(s->caller) && version && strlen(version) < sizeof(s->version) && json_is_object(targets) && created > 0 &&
              (uint64_t)created <= now + 60 &&
              ((uint64_t)created >= now || now - (uint64_t)created <= max_age_s);
    if (ok) {
        strcpy(s->version, version);
        strcpy(s->caller, caller);
        s->created = (uint64_t)created;
        s->targets = json_incref(targets);
        s->client = json_incref(json_object_get(doc, "i"));
    }
    json_decref(doc);
    return ok;
}

void sl_mcp_session_free(sl_mcp_session *s)
{
    json_decref(s->targets);
    json_decref(s->client);
    s->targets = s->client = NULL;
}

/* GET .../models on an AI route (workers/ai.h): the models the route serves
 * are the values its rules match exactly on x-sluice-ai-model (routing by
 * model) and, for each AI Backend its rules send to, the Backend's ai.model
 * and the names of its ai.modelAliases. When those are all it serves (every
 * rule to an AI Backend names its model), the gateway answers with them; when
 * some rule sends any model to a provider, that provider's list answers, and
 * the route's names join it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ai.h"
#include "workers/ai.h"
#include "workers/conn.h"

static bool ends_with(sl_slice s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && memcmp(s.ptr + s.len - n, suffix, n) == 0;
}

static bool same_str(const sl_snapshot *s, sl_snap_str a, sl_snap_str b)
{
    return a.len == b.len && memcmp(sl_snap_cstr(s, a), sl_snap_cstr(s, b), a.len) == 0;
}

/* Adds a model id once (owned_by: who serves it). */
static void add(json_t *data, json_t *seen, const char *id, size_t len, const char *owner)
{
    char *name = strndup(id, len);
    if (name && len && !json_object_get(seen, name)) {
        json_object_set_new(seen, name, json_true());
        json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id", name, "object", "model", "created", 0,
                                              "owned_by", owner));
    }
    free(name);
}

/* The models one Backend serves by its configuration. */
static void add_backend(const sl_snapshot *s, const sl_snap_backend *be, json_t *data, json_t *seen)
{
    const char *owner = sl_ai_provider_get(be->ai_provider)->otel_name;
    if (be->ai_model.len)
        add(data, seen, sl_snap_cstr(s, be->ai_model), be->ai_model.len, owner);
    const char *p = sl_snap_cstr(s, be->ai_aliases), *end = p + be->ai_aliases.len;
    while (p < end) { /* "alias\tmodel\n" */
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *nl = tab ? memchr(tab, '\n', (size_t)(end - tab)) : NULL;
        if (!nl)
            break;
        add(data, seen, p, (size_t)(tab - p), owner);
        p = nl + 1;
    }
}

/* The models of the HTTPRoute `route` belongs to, into data, from every match
 * record the compiler wrote for it (one per rule match, on each listener it
 * is attached to). *open: some rule sends any model to an AI Backend. */
static void add_route(const sl_snapshot *s, const sl_snap_route *route, json_t *data, json_t *seen, bool *open)
{
    uint32_t n = sl_snap_count(s, SL_SNAP_ROUTES);
    *open = false;
    for (uint32_t i = 0; i < n; i++) {
        const sl_snap_route *r = SL_SNAP_GET(s, SL_SNAP_ROUTES, sl_snap_route, i);
        if (!same_str(s, r->route_ns, route->route_ns) || !same_str(s, r->route_name, route->route_name))
            continue;
        const char *owner = "sluice";
        bool any_model = false; /* ...an AI Backend of this rule takes whatever model it is sent */
        const sl_snap_action *a = SL_SNAP_GET(s, SL_SNAP_ACTIONS, sl_snap_action, r->action);
        for (uint32_t k = 0; k < a->backend_refs.count; k++) {
            const sl_snap_backend_ref *ref =
                SL_SNAP_GET(s, SL_SNAP_BACKEND_REFS, sl_snap_backend_ref, a->backend_refs.first + k);
            if (ref->backend == SL_SNAP_NONE)
                continue;
            const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, ref->backend);
            if (be->ai_provider) {
                add_backend(s, be, data, seen);
                owner = sl_ai_provider_get(be->ai_provider)->otel_name;
                any_model |= be->ai_model.len == 0;
            }
        }
        bool named = false;
        for (uint32_t k = 0; k < r->header_matches.count; k++) {
            const sl_snap_header_match *m =
                SL_SNAP_GET(s, SL_SNAP_HEADER_MATCHES, sl_snap_header_match, r->header_matches.first + k);
            if (m->type == SL_MATCH_EXACT && m->name.len == strlen(SL_AI_MODEL_HEADER) &&
                strncasecmp(sl_snap_cstr(s, m->name), SL_AI_MODEL_HEADER, m->name.len) == 0) {
                add(data, seen, sl_snap_cstr(s, m->value), m->value.len, owner);
                named = true;
            }
        }
        *open |= any_model && !named;
    }
}

/* The route's models as a JSON array, or NULL when it names none. */
static json_t *route_models(const sl_conn *c, const sl_snap_route *route, json_t *seen, bool *open)
{
    json_t *data = json_array();
    add_route(&c->snap->s, route, data, seen, open);
    if (json_array_size(data) == 0) {
        json_decref(data);
        return NULL;
    }
    return data;
}

bool sl_ai_models_answer(sl_conn *c, const sl_snap_route *route)
{
    const sl_http1_request *req = &c->w->req;
    if (req->meth != SL_HTTP1_METHOD_GET || !ends_with(req->path, "/models"))
        return false;
    bool open;
    json_t *seen = json_object();
    json_t *data = route_models(c, route, seen, &open);
    json_decref(seen);
    if (!data || open) {
        json_decref(data);
        return false; /* the provider's own list answers (the route's names join it) */
    }
    json_t *list = json_pack("{s:s, s:o}", "object", "list", "data", data);
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    if (!text) {
        sl_conn_respond(c, 503, "out of memory\n", true);
        return true;
    }
    sl_conn_respond_json(c, 200, text, !c->req_body.done);
    free(text);
    return true;
}

char *sl_ai_models_merge(const sl_conn *c, const char *list, size_t len)
{
    json_t *root = json_loadb(list, len, 0, NULL);
    json_t *have = json_object_get(root, "data");
    if (!json_is_array(have) || !c->route) {
        json_decref(root);
        return NULL;
    }
    json_t *seen = json_object();
    size_t i;
    const json_t *m;
    json_array_foreach(have, i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        if (id)
            json_object_set_new(seen, id, json_true());
    }
    bool open;
    json_t *more = route_models(c, c->route, seen, &open);
    json_decref(seen);
    char *text = NULL;
    if (more) {
        json_array_extend(have, more);
        text = json_dumps(root, JSON_COMPACT);
    }
    json_decref(more);
    json_decref(root);
    return text;
}

/* Names across the MCP gateway's targets (workers/mcp.h): which of a target's
 * tools, prompts and resources are offered (include/exclude), the prefix that
 * keeps two targets' names apart ("<target>_<name>", resources
 * "<target>+<uri>", after agentgateway), and merged lists. Target names are
 * RFC 1123 labels, which hold neither '_' nor '+': the first one in a client's
 * name ends the prefix. */
#include <stdlib.h>
#include <string.h>

#include "common/slice.h"
#include "workers/mcp.h"

static sl_slice str_of(const sl_snapshot *s, sl_snap_str x) { return sl_slice_make(sl_snap_cstr(s, x), x.len); }

static const sl_mcp_list_kind kinds[] = {
    {"tools/list", "tools", "name", false},
    {"prompts/list", "prompts", "name", false},
    {"resources/list", "resources", "uri", true},
    {"resources/templates/list", "resourceTemplates", "uriTemplate", true},
};

const sl_mcp_list_kind *sl_mcp_list_kind_of(const char *method)
{
    for (size_t i = 0; method && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].method, method) == 0)
            return &kinds[i];
    return NULL;
}

bool sl_mcp_prefixed(const sl_snap_backend *be)
{
    return be->mcp_prefix == SL_MCP_PREFIX_ALWAYS ||
           (be->mcp_prefix == SL_MCP_PREFIX_CONDITIONAL && be->mcp_targets.count > 1);
}

bool sl_mcp_glob(const char *p, size_t plen, const char *name)
{
    /* Iterative, with one backtrack point: linear in practice, never exponential. */
    size_t pi = 0, star = (size_t)-1;
    const char *n = name, *mark = NULL;
    while (*n) {
        if (pi < plen && p[pi] == '*') {
            star = pi++;
            mark = n;
        } else if (pi < plen && p[pi] == *n) {
            pi++;
            n++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            n = ++mark;
        } else {
            return false;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

bool sl_mcp_listed(sl_slice list, const char *name)
{
    const char *p = list.ptr, *end = list.ptr + list.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n && sl_mcp_glob(p, n, name))
            return true;
        p += n + 1;
    }
    return false;
}

bool sl_mcp_offered(const sl_snapshot *s, const sl_snap_mcp_target *t, const char *name)
{
    sl_slice include = str_of(s, t->include), exclude = str_of(s, t->exclude);
    if (include.len && !sl_mcp_listed(include, name))
        return false;
    return !sl_mcp_listed(exclude, name);
}

char *sl_mcp_outer_name(const sl_snapshot *s, const sl_snap_mcp_target *t, bool uri, const char *name)
{
    sl_slice tn = str_of(s, t->name);
    size_t n = strlen(name);
    char *out = malloc(tn.len + 1 + n + 1);
    if (!out)
        return NULL;
    memcpy(out, tn.ptr, tn.len);
    out[tn.len] = uri ? '+' : '_';
    memcpy(out + tn.len + 1, name, n + 1);
    return out;
}

uint32_t sl_mcp_split_name(const sl_snapshot *s, const sl_snap_backend *be, bool uri, const char *name,
                           const char **inner)
{
    const char *sep = strchr(name, uri ? '+' : '_');
    if (!sep)
        return SL_SNAP_NONE;
    for (uint32_t i = 0; i < be->mcp_targets.count; i++) {
        const sl_snap_mcp_target *t = SL_SNAP_GET(s, SL_SNAP_MCP_TARGETS, sl_snap_mcp_target, be->mcp_targets.first + i);
        sl_slice tn = str_of(s, t->name);
        if (tn.len == (size_t)(sep - name) && memcmp(tn.ptr, name, tn.len) == 0) {
            *inner = sep + 1;
            return i;
        }
    }
    return SL_SNAP_NONE;
}

/* Whether arr holds an entry whose key is name. */
static bool has_entry(const json_t *arr, const char *key, const char *name)
{
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *v = json_string_value(json_object_get(e, key));
        if (v && strcmp(v, name) == 0)
            return true;
    }
    return false;
}

void sl_mcp_merge_list(const sl_snapshot *s, const sl_snap_mcp_target *t, bool prefixed,
                       const sl_mcp_list_kind *kind, const json_t *result, json_t *merged, unsigned *clashes)
{
    json_t *out = json_object_get(merged, kind->array);
    if (!out) {
        out = json_array();
        json_object_set_new(merged, kind->array, out);
    }
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(result, kind->array), i, e)
    {
        const char *name = json_string_value(json_object_get(e, kind->key));
        if (!json_is_object(e) || !name || !sl_mcp_offered(s, t, name))
            continue;
        json_t *copy = json_deep_copy(e);
        if (!copy)
            continue;
        if (prefixed) {
            char *outer = sl_mcp_outer_name(s, t, kind->uri, name);
            if (outer)
                json_object_set_new(copy, kind->key, json_string(outer));
            free(outer);
        } else if (has_entry(out, kind->key, name)) {
            (*clashes)++;
            json_decref(copy);
            continue;
        }
        json_array_append_new(out, copy);
    }
}

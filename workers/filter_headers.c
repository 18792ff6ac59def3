/* The HTTPRoute RequestHeaderModifier and ResponseHeaderModifier filters, as
 * the heads are written: fields that a modifier sets or removes are dropped
 * from what was received, then the modifiers' set and add lines follow. The
 * ranges are the matched rule's filters and the chosen backendRef's. A
 * TrafficPolicy's headers section (policy_headers.c) brings modifiers of the
 * same form that apply to the names the route's own leave alone. */
#include "workers/filters.h"

#include "daemon/compile_values.h"

#include <string.h>

/* True when a RequestHeaderModifier/ResponseHeaderModifier of `type` in either
 * range sets or removes `name` (so the received field is dropped). */
bool sl_headers_replaced(const sl_snapshot *s, const sl_snap_range *ranges, int nranges, uint8_t type, sl_slice name)
{
    for (int k = 0; k < nranges; k++)
        for (uint32_t i = 0; i < ranges[k].count; i++) {
            const sl_snap_filter *f = sl_filter_at(s, ranges[k].first + i);
            if (f->type == type && (f->op == SL_HDR_SET || f->op == SL_HDR_REMOVE) &&
                sl_slice_ieq(name, sl_filter_str(s, f->name)))
                return true;
        }
    return false;
}

static bool skipped(sl_slice name, const char *const *skip)
{
    for (; skip && *skip; skip++)
        if (sl_slice_ieq_cstr(name, *skip))
            return true;
    return false;
}

void sl_headers_emit_ops(sl_buf *b, const sl_snapshot *s, const sl_snap_range *ranges, int nranges, uint8_t type,
                        const char *const *skip)
{
    for (int op = SL_HDR_SET; op <= SL_HDR_ADD; op++)
        for (int k = 0; k < nranges; k++)
            for (uint32_t i = 0; i < ranges[k].count; i++) {
                const sl_snap_filter *f = sl_filter_at(s, ranges[k].first + i);
                if (f->type != type || f->op != op)
                    continue;
                if (skipped(sl_filter_str(s, f->name), skip))
                    continue;
                sl_buf_printf(b, "%s: %s\r\n", sl_snap_cstr(s, f->name), sl_snap_cstr(s, f->value));
            }
}

void sl_headers_put(sl_buf *b, sl_slice name, sl_slice value)
{
    sl_buf_append(b, name.ptr, name.len);
    sl_buf_append(b, ": ", 2);
    sl_buf_append(b, value.ptr, value.len);
    sl_buf_append(b, "\r\n", 2);
}

/* Does any modifier of `type` in the ranges name `name` (set, add or remove)? */
static bool touched(const sl_snapshot *s, const sl_snap_range *ranges, int nranges, uint8_t type, sl_slice name)
{
    for (int k = 0; k < nranges; k++)
        for (uint32_t i = 0; i < ranges[k].count; i++) {
            const sl_snap_filter *f = sl_filter_at(s, ranges[k].first + i);
            if (f->type == type && sl_slice_ieq(name, sl_filter_str(s, f->name)))
                return true;
        }
    return false;
}

bool sl_headers_policy_replaces(const sl_snapshot *s, sl_snap_range policy, const sl_snap_range *ranges, int nranges,
                                uint8_t type, sl_slice name)
{
    return policy.count && sl_headers_replaced(s, &policy, 1, type, name) && !touched(s, ranges, nranges, type, name);
}

const sl_snap_filter *sl_headers_policy_host(const sl_snapshot *s, sl_snap_range policy, const sl_snap_range *ranges,
                                             int nranges)
{
    sl_slice host = sl_slice_from_cstr("host");
    if (!policy.count || touched(s, ranges, nranges, SL_FILTER_REQUEST_HEADER, host))
        return NULL;
    for (uint32_t i = 0; i < policy.count; i++) {
        const sl_snap_filter *f = sl_filter_at(s, policy.first + i);
        if (f->type == SL_FILTER_REQUEST_HEADER && f->op == SL_HDR_SET && sl_slice_ieq(host, sl_filter_str(s, f->name)))
            return f;
    }
    return NULL;
}

void sl_headers_emit_policy(sl_buf *b, const sl_snapshot *s, sl_snap_range policy, const sl_snap_range *ranges,
                            int nranges, uint8_t type, const char *const *skip)
{
    for (int op = SL_HDR_SET; op <= SL_HDR_ADD; op++)
        for (uint32_t i = 0; i < policy.count; i++) {
            const sl_snap_filter *f = sl_filter_at(s, policy.first + i);
            if (f->type != type || f->op != op || touched(s, ranges, nranges, type, sl_filter_str(s, f->name)))
                continue;
            if (skipped(sl_filter_str(s, f->name), skip))
                continue;
            sl_buf_printf(b, "%s: %s\r\n", sl_snap_cstr(s, f->name), sl_snap_cstr(s, f->value));
        }
}

static void push_record(const sl_snap_filter *f, void *env)
{
    ((sl_filter_env *)env)->push(env, f);
}

static void compile_request(sl_filter_env *env, const json_t *filter)
{
    sl_compile_header_ops(env->b, json_object_get(filter, "requestHeaderModifier"), SL_FILTER_REQUEST_HEADER,
                          push_record, env);
}

static void compile_response(sl_filter_env *env, const json_t *filter)
{
    sl_compile_header_ops(env->b, json_object_get(filter, "responseHeaderModifier"), SL_FILTER_RESPONSE_HEADER,
                          push_record, env);
}

/* Applied by the head builders (filters.c): no hooks of their own. */
const sl_filter_ops sl_filter_request_header = {
    .name = "RequestHeaderModifier", .type = SL_FILTER_REQUEST_HEADER, .compile = compile_request};
const sl_filter_ops sl_filter_response_header = {
    .name = "ResponseHeaderModifier", .type = SL_FILTER_RESPONSE_HEADER, .compile = compile_response};

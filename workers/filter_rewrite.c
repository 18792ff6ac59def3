/* The HTTPRoute URLRewrite filter: the upstream gets another path or Host. The
 * request head builder (filters.c) applies it, through sl_filter_write_path. */
#include "workers/filters.h"

static void compile(sl_filter_env *env, const json_t *filter)
{
    const json_t *r = json_object_get(filter, "urlRewrite");
    const char *pv;
    sl_snap_filter rec = {.type = SL_FILTER_REWRITE, .backend = SL_SNAP_NONE};
    rec.path_mod = sl_filter_path_mod(json_object_get(r, "path"), &pv);
    rec.path = sl_sb_str(env->b, pv);
    rec.hostname = sl_sb_str(env->b, json_string_value(json_object_get(r, "hostname")));
    env->push(env, &rec);
}

const sl_filter_ops sl_filter_rewrite = {.name = "URLRewrite", .type = SL_FILTER_REWRITE, .compile = compile};

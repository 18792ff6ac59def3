/* Compiler, part 4: HTTPRoute filters into snapshot filter records, each by its
 * type's compile step (the filter registry, workers/filter_registry.c). Header
 * modifiers become one record per header operation; redirect, rewrite, mirror
 * and CORS one record each. A rule's (or backendRef's) records are contiguous. */
#include <stdlib.h>
#include <string.h>

#include "daemon/compiler_internal.h"
#include "workers/filters.h"

typedef struct filter_vec {
    sl_snap_filter *v;
    size_t n, cap;
} filter_vec;

static void push(sl_filter_env *env, const sl_snap_filter *f)
{
    filter_vec *fv = env->list;
    if (fv->n == fv->cap) {
        fv->cap = fv->cap ? fv->cap * 2 : 8;
        fv->v = realloc(fv->v, fv->cap * sizeof(*fv->v));
        if (!fv->v)
            abort();
    }
    fv->v[fv->n++] = *f;
}

static uint32_t backend(sl_filter_env *env, const json_t *ref)
{
    return sl_compile_backend(env->compiler, env->route_ns, ref);
}

sl_snap_range sl_compile_filters(sl_compile_ctx *c, const json_t *route, const json_t *filters)
{
    filter_vec fv = {0};
    sl_filter_env env = {.b = &c->b, .route_ns = sl_jmeta(route, "namespace"), .route_name = sl_jmeta(route, "name"),
                         .push = push, .backend = backend, .compiler = c, .list = &fv};
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f)
    {
        /* ExtensionRef: no extensions exist in sluice; validation accepts the
         * shape and the filter does nothing. */
        const sl_filter_ops *ops = sl_filter_kind_named(sl_js(f, "type"));
        if (ops)
            ops->compile(&env, f);
    }
    sl_snap_range r = {sl_sb_count(&c->b, SL_SNAP_FILTERS), (uint32_t)fv.n};
    for (size_t k = 0; k < fv.n; k++)
        sl_sb_add(&c->b, SL_SNAP_FILTERS, &fv.v[k]);
    free(fv.v);
    return r;
}

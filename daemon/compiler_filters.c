/* Compiler, part 4: HTTPRoute filters into snapshot filter records. Header
 * modifiers become one record per header operation; redirect, rewrite, mirror and
 * CORS one record each. A rule's (or backendRef's) records are contiguous. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/compile_values.h"
#include "daemon/compiler_internal.h"

typedef struct filter_vec {
    sl_snap_filter *v;
    size_t n, cap;
} filter_vec;

static void push(filter_vec *fv, const sl_snap_filter *f)
{
    if (fv->n == fv->cap) {
        fv->cap = fv->cap ? fv->cap * 2 : 8;
        fv->v = realloc(fv->v, fv->cap * sizeof(*fv->v));
        if (!fv->v)
            abort();
    }
    fv->v[fv->n++] = *f;
}

/* Header modifier records go into the rule's vector. */
static void push_filter(const sl_snap_filter *f, void *fv) { push(fv, f); }

static uint8_t path_mod(const json_t *path, const char **value)
{
    const char *type = sl_js(path, "type");
    if (strcmp(type, "ReplaceFullPath") == 0) {
        *value = sl_js(path, "replaceFullPath");
        return SL_PATHMOD_FULL;
    }
    if (strcmp(type, "ReplacePrefixMatch") == 0) {
        *value = sl_js(path, "replacePrefixMatch");
        return SL_PATHMOD_PREFIX;
    }
    *value = "";
    return SL_PATHMOD_NONE;
}

sl_snap_range sl_compile_filters(sl_compile_ctx *c, const json_t *route, const json_t *filters)
{
    filter_vec fv = {0};
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f)
    {
        const char *type = sl_js(f, "type");
        if (strcmp(type, "RequestHeaderModifier") == 0) {
            sl_compile_header_ops(&c->b, json_object_get(f, "requestHeaderModifier"), SL_FILTER_REQUEST_HEADER,
                                  push_filter, &fv);
        } else if (strcmp(type, "ResponseHeaderModifier") == 0) {
            sl_compile_header_ops(&c->b, json_object_get(f, "responseHeaderModifier"), SL_FILTER_RESPONSE_HEADER,
                                  push_filter, &fv);
        } else if (strcmp(type, "RequestRedirect") == 0) {
            const json_t *r = json_object_get(f, "requestRedirect");
            const char *pv;
            sl_snap_filter rec = {.type = SL_FILTER_REDIRECT, .backend = SL_SNAP_NONE};
            rec.path_mod = path_mod(json_object_get(r, "path"), &pv);
            rec.path = sl_sb_str(&c->b, pv);
            rec.scheme = sl_sb_str(&c->b, sl_js(r, "scheme"));
            rec.hostname = sl_sb_str(&c->b, sl_js(r, "hostname"));
            rec.port = (uint16_t)sl_ji(r, "port", 0);
            rec.status = (uint16_t)sl_ji(r, "statusCode", 302);
            push(&fv, &rec);
        } else if (strcmp(type, "URLRewrite") == 0) {
            const json_t *r = json_object_get(f, "urlRewrite");
            const char *pv;
            sl_snap_filter rec = {.type = SL_FILTER_REWRITE, .backend = SL_SNAP_NONE};
            rec.path_mod = path_mod(json_object_get(r, "path"), &pv);
            rec.path = sl_sb_str(&c->b, pv);
            rec.hostname = sl_sb_str(&c->b, sl_js(r, "hostname"));
            push(&fv, &rec);
        } else if (strcmp(type, "RequestMirror") == 0) {
            const json_t *m = json_object_get(f, "requestMirror");
            sl_snap_filter rec = {.type = SL_FILTER_MIRROR, .numerator = 100, .denominator = 100};
            rec.backend = sl_compile_backend(c, sl_jmeta(route, "namespace"), json_object_get(m, "backendRef"));
            if (rec.backend != SL_SNAP_NONE &&
                ((const sl_snap_backend *)sl_sb_at(&c->b, SL_SNAP_BACKENDS, rec.backend))->protocol == SL_BACKEND_HTTPS) {
                /* Mirrors are written in clear text: a backend that must be reached
                 * over TLS (Backend HTTPS, BackendTLSPolicy) gets no copy at all. */
                sl_log_warn("compiler", "route %s/%s: no RequestMirror to a backend reached over TLS (not supported)",
                            sl_jmeta(route, "namespace"), sl_jmeta(route, "name"));
                rec.backend = SL_SNAP_NONE;
            }
            const json_t *fraction = json_object_get(m, "fraction");
            if (json_object_get(m, "percent")) {
                rec.numerator = (uint32_t)sl_ji(m, "percent", 100);
            } else if (fraction) {
                rec.numerator = (uint32_t)sl_ji(fraction, "numerator", 0);
                rec.denominator = (uint32_t)sl_ji(fraction, "denominator", 100);
                if (!rec.denominator)
                    rec.denominator = 100;
            }
            push(&fv, &rec);
        } else if (strcmp(type, "CORS") == 0) {
            sl_snap_filter rec = sl_compile_cors(&c->b, json_object_get(f, "cors"));
            push(&fv, &rec);
        }
        /* ExtensionRef: no extensions exist in sluice; validation accepts the shape
         * and the filter does nothing. */
    }
    sl_snap_range r = {sl_sb_count(&c->b, SL_SNAP_FILTERS), (uint32_t)fv.n};
    for (size_t k = 0; k < fv.n; k++)
        sl_sb_add(&c->b, SL_SNAP_FILTERS, &fv.v[k]);
    free(fv.v);
    return r;
}

/* The registry of HTTPRoute filter types (see filters.h): one line per type,
 * indexed by the type of the records it compiles to. */
#include "workers/filters.h"

#include <string.h>

extern const sl_filter_ops sl_filter_request_header;  /* filter_headers.c */
extern const sl_filter_ops sl_filter_response_header; /* filter_headers.c */
extern const sl_filter_ops sl_filter_redirect;        /* filter_redirect.c */
extern const sl_filter_ops sl_filter_rewrite;         /* filter_rewrite.c */
extern const sl_filter_ops sl_filter_mirror;          /* mirror.c */
extern const sl_filter_ops sl_filter_cors;            /* filter_cors.c */

const sl_filter_ops *const sl_filter_kinds[SL_FILTER_NKINDS] = {
    [SL_FILTER_REQUEST_HEADER] = &sl_filter_request_header,
    [SL_FILTER_RESPONSE_HEADER] = &sl_filter_response_header,
    [SL_FILTER_REDIRECT] = &sl_filter_redirect,
    [SL_FILTER_REWRITE] = &sl_filter_rewrite,
    [SL_FILTER_MIRROR] = &sl_filter_mirror,
    [SL_FILTER_CORS] = &sl_filter_cors,
};

const sl_filter_ops *sl_filter_kind_named(const char *name)
{
    for (unsigned t = 0; t < SL_FILTER_NKINDS; t++)
        if (sl_filter_kinds[t] && strcmp(sl_filter_kinds[t]->name, name) == 0)
            return sl_filter_kinds[t];
    return NULL;
}

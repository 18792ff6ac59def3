/* The path a URLRewrite or RequestRedirect produces, and the path change they
 * compile from (shared by both). */
#include "workers/filters.h"

#include <string.h>

/* The path after a prefix replacement (Gateway API ReplacePrefixMatch): the
 * matched prefix is replaced, keeping exactly one '/' at the seam. */
static void replace_prefix(sl_buf *b, sl_slice path, sl_slice prefix, sl_slice replacement)
{
    sl_slice rest = path.len >= prefix.len ? sl_slice_make(path.ptr + prefix.len, path.len - prefix.len)
                                           : sl_slice_make(path.ptr, 0);
    if (prefix.len == 1 && prefix.ptr[0] == '/')
        rest = path; /* "/" matched everything; the whole path is the rest */
    while (replacement.len > 0 && replacement.ptr[replacement.len - 1] == '/')
        replacement.len--;
    size_t before = b->end;
    sl_buf_append(b, replacement.ptr, replacement.len);
    if (rest.len && rest.ptr[0] != '/')
        sl_buf_append(b, "/", 1);
    sl_buf_append(b, rest.ptr, rest.len);
    if (b->end == before)
        sl_buf_append(b, "/", 1);
}

/* Writes the path the upstream (or the redirect) gets: rewritten or as received. */
void sl_filter_write_path(sl_buf *b, const sl_snapshot *s, const sl_snap_route *route, const sl_snap_filter *f,
                       sl_slice path)
{
    if (!path.len)
        path = sl_slice_from_cstr("/");
    if (f && f->path_mod == SL_PATHMOD_FULL) {
        sl_buf_append(b, sl_snap_cstr(s, f->path), f->path.len);
    } else if (f && f->path_mod == SL_PATHMOD_PREFIX && route->path_type == SL_PATH_PREFIX) {
        replace_prefix(b, path, sl_filter_str(s, route->path), sl_filter_str(s, f->path));
    } else {
        sl_buf_append(b, path.ptr, path.len);
    }
}

uint8_t sl_filter_path_mod(const json_t *path, const char **value)
{
    const char *type = json_string_value(json_object_get(path, "type"));
    const char *v = NULL;
    uint8_t mod = SL_PATHMOD_NONE;
    if (type && strcmp(type, "ReplaceFullPath") == 0) {
        v = json_string_value(json_object_get(path, "replaceFullPath"));
        mod = SL_PATHMOD_FULL;
    } else if (type && strcmp(type, "ReplacePrefixMatch") == 0) {
        v = json_string_value(json_object_get(path, "replacePrefixMatch"));
        mod = SL_PATHMOD_PREFIX;
    }
    *value = v ? v : "";
    return mod;
}

#include "daemon/compile_values.h"

#include <stdlib.h>
#include <string.h>

uint32_t sl_duration_ms(const char *s)
{
    uint64_t total = 0;
    if (!s)
        return 0;
    while (*s) {
        char *end;
        unsigned long long n = strtoull(s, &end, 10);
        if (end == s)
            return 0;
        if (strncmp(end, "ms", 2) == 0) {
            total += n;
            s = end + 2;
        } else if (*end == 's') {
            total += n * 1000;
            s = end + 1;
        } else if (*end == 'm') {
            total += n * 60000;
            s = end + 1;
        } else if (*end == 'h') {
            total += n * 3600000;
            s = end + 1;
        } else {
            return 0;
        }
    }
    return total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
}

void sl_status_code_bits(const json_t *codes, uint64_t bits[4])
{
    size_t i;
    json_t *code;
    json_array_foreach(codes, i, code)
    {
        json_int_t v = json_integer_value(code);
        if (v >= 400 && v < 656)
            bits[(v - 400) / 64] |= 1ull << ((v - 400) % 64);
    }
}

sl_snap_str sl_compile_join_lines(sl_snap_builder *b, const json_t *list)
{
    size_t total = 0, i;
    json_t *x;
    json_array_foreach(list, i, x) total += strlen(json_string_value(x) ? json_string_value(x) : "") + 1;
    if (!total)
        return (sl_snap_str){0, 0};
    char *buf = malloc(total);
    if (!buf)
        abort();
    size_t off = 0;
    json_array_foreach(list, i, x)
    {
        const char *s = json_string_value(x) ? json_string_value(x) : "";
        size_t n = strlen(s);
        memcpy(buf + off, s, n);
        off += n;
        buf[off++] = '\n';
    }
    sl_snap_str out = sl_sb_strn(b, buf, off - 1);
    free(buf);
    return out;
}

sl_snap_filter sl_compile_cors(sl_snap_builder *b, const json_t *cfg)
{
    sl_snap_filter rec = {.type = SL_FILTER_CORS, .backend = SL_SNAP_NONE};
    rec.origins = sl_compile_join_lines(b, json_object_get(cfg, "allowOrigins"));
    rec.methods = sl_compile_join_lines(b, json_object_get(cfg, "allowMethods"));
    rec.headers = sl_compile_join_lines(b, json_object_get(cfg, "allowHeaders"));
    rec.expose = sl_compile_join_lines(b, json_object_get(cfg, "exposeHeaders"));
    rec.credentials = json_is_true(json_object_get(cfg, "allowCredentials"));
    const json_t *max_age = json_object_get(cfg, "maxAge");
    rec.max_age = max_age ? (uint32_t)json_integer_value(max_age) : 5;
    return rec;
}

void sl_compile_header_ops(sl_snap_builder *b, const json_t *mod, uint8_t type,
                           void (*emit)(const sl_snap_filter *f, void *arg), void *arg)
{
    static const struct {
        const char *key;
        uint8_t op;
    } ops[] = {{"set", SL_HDR_SET}, {"add", SL_HDR_ADD}, {"remove", SL_HDR_REMOVE}};
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(mod, ops[k].key), i, h)
        {
            sl_snap_filter f = {.type = type, .op = ops[k].op, .backend = SL_SNAP_NONE};
            if (ops[k].op == SL_HDR_REMOVE) {
                f.name = sl_sb_str(b, json_string_value(h));
            } else {
                f.name = sl_sb_str(b, json_string_value(json_object_get(h, "name")));
                f.value = sl_sb_str(b, json_string_value(json_object_get(h, "value")));
            }
            emit(&f, arg);
        }
    }
}

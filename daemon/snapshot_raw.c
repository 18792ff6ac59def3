/* /debug/snapshot?raw=1: every record of every section, field by field, as the
 * sections' descriptors (common/snapshot_desc.c) describe them: exactly what
 * the blob holds, with nothing interpreted (the default view is
 * snapshot_render.c's). */
#include <stdio.h>
#include <string.h>

#include "common/snapshot_desc.h"
#include "daemon/snapshot_render.h"

static json_t *field_value(const sl_snapshot *s, const sl_snap_field *f, const uint8_t *rec)
{
    const uint8_t *p = rec + f->offset;
    uint32_t a = 0, b = 0;
    if (f->size >= 4)
        memcpy(&a, p, 4);
    if (f->size >= 8)
        memcpy(&b, p + 4, 4);
    switch (f->kind) {
    case SL_FIELD_STR: {
        sl_snap_str str = {a, b};
        if (f->target == SL_FIELD_TARGET_SECRET && str.len) {
            char note[64];
            snprintf(note, sizeof(note), "(secret, %u bytes)", (unsigned)str.len);
            return json_string(note);
        }
        return json_stringn_nocheck(sl_snap_cstr(s, str), str.len);
    }
    case SL_FIELD_RANGE: return json_pack("{s:I, s:I}", "first", (json_int_t)a, "count", (json_int_t)b);
    case SL_FIELD_INDEX_OR_NONE:
        if (a == SL_SNAP_NONE)
            return json_null();
        /* fall through */
    case SL_FIELD_INDEX: return json_integer(a);
    case SL_FIELD_UINT: {
        uint64_t v = 0;
        switch (f->size) {
        case 1: v = p[0]; break;
        case 2: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
        case 4: v = a; break;
        default: memcpy(&v, p, 8); break;
        }
        return json_integer((json_int_t)v);
    }
    default: { /* bytes, as hex */
        char hex[2 * 64 + 1];
        size_t n = f->size < 64 ? f->size : 64;
        for (size_t i = 0; i < n; i++)
            snprintf(hex + 2 * i, 3, "%02x", p[i]);
        hex[2 * n] = '\0';
        return json_string(hex);
    }
    }
}

json_t *sl_snapshot_render_raw(const sl_snapshot *s)
{
    const sl_snap_header *h = sl_snap_hdr(s);
    json_t *sections = json_object();
    for (int sec = 0; sec < SL_SNAP_NSECTIONS; sec++) {
        const sl_snap_section_desc *sd = &sl_snap_sections[sec];
        if (sec == SL_SNAP_STRINGS) {
            json_object_set_new(sections, sd->name, json_integer(sl_snap_count(s, sec))); /* bytes */
            continue;
        }
        json_t *records = json_array();
        const uint8_t *table = sl_snap_table(s, sec);
        for (uint32_t i = 0; i < sl_snap_count(s, sec); i++) {
            json_t *rec = json_object();
            for (size_t k = 0; k < sd->nfields; k++)
                if (sd->fields[k].kind != SL_FIELD_RESERVED)
                    json_object_set_new(rec, sd->fields[k].name,
                                        field_value(s, &sd->fields[k], table + (size_t)i * sd->record_size));
            json_array_append_new(records, rec);
        }
        json_object_set_new(sections, sd->name, records);
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:o}", "format", (json_int_t)h->format, "generation",
                     (json_int_t)h->generation, "storeResourceVersion", (json_int_t)h->store_rv, "size",
                     (json_int_t)h->size, "sections", sections);
}

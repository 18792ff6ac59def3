/* libFuzzer target: what the admin API does with a client's JSON body. The
 * first byte picks a kind from the registry; the rest is the body. It is
 * parsed as the admin API parses it, validated with the kind's validator (all
 * causes collected), applied as a merge patch to a valid stored object of that
 * kind and to itself, and the results prepared for storage as create and
 * update would. Oracle: ASan/UBSan/LeakSanitizer, plus invariants: a merge
 * patch never yields NULL for object inputs, and validation is deterministic. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/kinds.h"
#include "daemon/objects.h"
#include "daemon/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t validate(const sl_kind *k, const json_t *obj)
{
    sl_vctx v;
    sl_vctx_init(&v);
    sl_kind_validate(k, &v, obj); /* (metadata, the kind's checks, its schema) */
    size_t n = sl_vctx_count(&v);
    /* Every cause names a field and says why: that is what the 422 reports. */
    for (size_t i = 0; i < json_array_size(v.causes); i++) {
        json_t *c = json_array_get(v.causes, i);
        if (!json_is_string(json_object_get(c, "field")) || !json_is_string(json_object_get(c, "message")))
            abort();
    }
    sl_vctx_free(&v);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        sl_log_set_level(SL_LOG_ERROR);
        quiet = true;
    }
    if (size < 1)
        return 0;
    size_t nkinds = 0;
    while (sl_kinds[nkinds].kind)
        nkinds++;
    const sl_kind *k = &sl_kinds[data[0] % nkinds];
    json_error_t err;
    json_t *doc = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!doc)
        return 0;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return 0;
    }
    size_t first = validate(k, doc);
    if (validate(k, doc) != first)
        abort(); /* the same object validates the same way twice */

    /* As a merge patch over a minimal stored object of the kind, and over itself. */
    json_t *stored = json_pack("{s:s, s:{s:s, s:s, s:s, s:i}}", "kind", k->kind, "metadata", "name", "obj",
                               "namespace", k->namespaced ? "default" : "", "resourceVersion", "7", "generation", 1);
    json_t *patched = sl_merge_patch(stored, doc);
    json_t *self = sl_merge_patch(doc, doc);
    if (!patched || !self)
        abort();
    validate(k, patched);
    json_t *created = json_deep_copy(doc);
    sl_obj_prepare_create(k, created, 8);
    validate(k, created);
    json_t *updated = json_deep_copy(patched);
    sl_obj_prepare_update(k, updated, stored, 9);
    json_t *status = sl_obj_apply_status(doc, stored, 10);
    sl_obj_resource_version(doc);
    json_decref(status);
    json_decref(updated);
    json_decref(created);
    json_decref(self);
    json_decref(patched);
    json_decref(stored);
    json_decref(doc);
    return 0;
}

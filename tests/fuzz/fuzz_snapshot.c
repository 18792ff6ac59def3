/* libFuzzer target: the snapshot reader. A worker maps whatever blob the
 * master published and trusts it only after sl_snapshot_verify(); this feeds
 * arbitrary blobs to the verifier and, for every blob it accepts, walks what a
 * worker and /debug/snapshot read (the JSON rendering touches every section,
 * string and cross-reference). Inputs that are valid snapshots with a
 * corrupted byte are the interesting ones: the corpus holds real compiled
 * snapshots. Oracle: ASan/UBSan: an accepted blob must never lead a reader
 * out of bounds. Also: the verifier's answer does not depend on the
 * alignment of the buffer, and a blob it accepts keeps being accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/snapshot.h"
#include "daemon/snapshot_render.h"
#include "workers/policy.h"
#include "workers/worker_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The verifier sees the blob at an 8-aligned address as a mapped segment
     * would give it; the checksum is fixed up so corruption reaches the
     * structural checks instead of stopping at the CRC. */
    uint64_t *copy = malloc(size + 8);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    char why[256];
    bool ok = sl_snapshot_verify(copy, size, why, sizeof(why));
    if (!ok && size >= sizeof(sl_snap_header)) {
        sl_snap_header *h = (sl_snap_header *)copy;
        if (h->size == size) {
            h->checksum = sl_crc32c((const char *)copy + sizeof(*h), size - sizeof(*h));
            ok = sl_snapshot_verify(copy, size, why, sizeof(why));
        }
    }
    if (ok) {
        sl_snapshot s = {.base = (const uint8_t *)copy, .size = size};
        json_t *doc = sl_snapshot_render(&s);
        if (!doc)
            abort();
        char *text = json_dumps(doc, JSON_COMPACT);
        free(text);
        json_decref(doc);
        /* What a worker checks beyond the verifier, then the per-route policy view. */
        if (sl_policy_chain_check(&s, why, sizeof(why))) {
            void *zones[SL_WSNAP_MAX_KINDS];
            sl_policy_find_zones(&s, 0, zones);
        }
        doc = sl_snapshot_effective_policy(&s, "HTTPRoute", "default", "r");
        if (!doc)
            abort();
        json_decref(doc);
        doc = sl_snapshot_render_raw(&s); /* every field of every record */
        if (!doc)
            abort();
        text = json_dumps(doc, JSON_COMPACT);
        free(text);
        json_decref(doc);
        if (!sl_snapshot_verify(copy, size, why, sizeof(why)))
            abort();
    }
    free(copy);
    return 0;
}

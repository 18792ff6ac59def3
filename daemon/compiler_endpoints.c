/* Endpoint-only compiles (see sl_compile_endpoints in compiler.h).
 *
 * In a cluster, pods come and go all the time and each change is an
 * EndpointSlice write; compiling every route again for each (100 ms at 10,000
 * routes) kept the master busy. What an EndpointSlice changes is confined to
 * three tables: ENDPOINTS (each backend's range), LB_ENTRIES (the ring hash and
 * maglev tables built from them) and the endpoints' slots in the shared state
 * table. A full compile emits, for each backend in index order, its endpoints
 * then its consistent-hash table, so rebuilding those two tables backend by
 * backend in the same order yields the tables a full compile would: every
 * other table is taken as the last full compile left it (sl_compile_memo).
 * Strings the old endpoints used stay in the string table, unused, until the
 * next full compile (each endpoint-only compile starts again from its tables). */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/compiler.h"
#include "daemon/compiler_internal.h"
#include "daemon/endpoint_slots.h"

static const char *str_of(const sl_snap_builder *b, sl_snap_str s)
{
    return (const char *)b->tab[SL_SNAP_STRINGS].data + s.off;
}

void *sl_compile_endpoints(sl_store *s, const sl_compile_memo *memo, uint64_t generation, size_t *size)
{
    sl_compile_ctx c = {.store = s};
    /* The tables an endpoint change leaves alone are the memo's, borrowed (at
     * 100,000 routes, copying them cost more than all the rest); the backends
     * and the strings are copied, the endpoints and hash tables made anew. */
    sl_sb_clone(&c.b, &memo->b, SL_SB_ONLY(SL_SNAP_BACKENDS) | SL_SB_ONLY(SL_SNAP_STRINGS));
    uint64_t borrowed = 0;
    for (int i = 0; i < SL_SNAP_NSECTIONS; i++)
        if (i != SL_SNAP_BACKENDS && i != SL_SNAP_STRINGS && i != SL_SNAP_ENDPOINTS && i != SL_SNAP_LB_ENTRIES) {
            c.b.tab[i] = memo->b.tab[i];
            borrowed |= SL_SB_ONLY(i);
        }
    int64_t rv = sl_store_current_rv(s);
    c.services = sl_compile_list_kind(s, "Service");
    c.endpointslices = sl_compile_list_kind(s, "EndpointSlice");
    /* The old endpoints, for the backends whose endpoints do not come from
     * EndpointSlices (Backend objects: static hosts, AI providers). */
    const sl_sb_table old = memo->b.tab[SL_SNAP_ENDPOINTS];
    const size_t ep_size = sl_snap_record_size(SL_SNAP_ENDPOINTS);
    sl_ep_slots_begin();
    uint32_t n = sl_sb_count(&c.b, SL_SNAP_BACKENDS);
    for (uint32_t i = 0; i < n; i++) {
        sl_snap_backend be = *(const sl_snap_backend *)sl_sb_at(&c.b, SL_SNAP_BACKENDS, i);
        /* (copied: strings are added below, and the string table may move) */
        char kind[64], ns[256], name[256];
        snprintf(kind, sizeof(kind), "%s", str_of(&c.b, be.kind));
        snprintf(ns, sizeof(ns), "%s", str_of(&c.b, be.ns));
        snprintf(name, sizeof(name), "%s", str_of(&c.b, be.name));
        char index[16];
        snprintf(index, sizeof(index), "%u", i);
        const json_t *info = json_object_get(memo->backend_info, index);
        bool service = strcmp(kind, "Service") == 0;
        uint32_t first = sl_sb_count(&c.b, SL_SNAP_ENDPOINTS);
        if (service)
            sl_compile_service_endpoints(&c, ns, name, sl_js(info, "portName"));
        else
            for (uint32_t k = 0; k < be.endpoints.count; k++)
                sl_sb_add(&c.b, SL_SNAP_ENDPOINTS, old.data + (size_t)(be.endpoints.first + k) * ep_size);
        sl_snap_backend *at = sl_sb_at(&c.b, SL_SNAP_BACKENDS, i);
        at->endpoints = (sl_snap_range){first, sl_sb_count(&c.b, SL_SNAP_ENDPOINTS) - first};
        at->lb_entries = (sl_snap_range){0, 0};
        /* (no "slots": a record the full compile gave none, an AI fallback's say) */
        if (json_object_get(info, "slots"))
            sl_compile_backend_slots(&c, i, sl_js(info, "slots"));
        if (be.balancer == SL_SNAP_NONE)
            continue;
        const sl_snap_balancer *bal = sl_sb_at(&c.b, SL_SNAP_BALANCERS, be.balancer);
        const json_t *ring = json_object_get(info, "ring");
        if (bal->algorithm == SL_LB_RING_HASH && ring)
            sl_compile_ring(&c, i, (uint32_t)json_integer_value(json_array_get(ring, 0)),
                            (uint32_t)json_integer_value(json_array_get(ring, 1)));
        else if (bal->algorithm == SL_LB_MAGLEV)
            sl_compile_maglev(&c, i);
    }
    sl_ep_slots_end();
    json_decref(c.services);
    json_decref(c.endpointslices);
    json_decref(c.slices_by_service);
    return sl_sb_finish_borrowed(&c.b, borrowed, generation, (uint64_t)rv, size);
}

/* Following the master's snapshots: when the control block names a newer
 * generation, map it, verify it and make it current. Requests that started on
 * the previous generation keep it (reference count) until they finish; then it
 * is unmapped. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "workers/ai.h"
#include "workers/policy.h"
#include "workers/tls.h"
#include "workers/upstream_tls.h"
#include "workers/worker_internal.h"

static void wsnap_free(sl_wsnap *s)
{
    sl_policy_unprepare_all(&s->s, s->policy_state);
    sl_regex_set_free(s->regex);
    sl_tls_free(s->tls);
    sl_uptls_free(s->uptls, sl_snap_count(&s->s, SL_SNAP_BACKENDS));
    free(s->rr);
    free(s->lb_wrr);
    free(s->lb_usable);
    free(s->lb_usable_at);
    free(s->lb_uniform);
    munmap((void *)s->s.base, s->s.size);
    free(s);
}

void sl_wsnap_release(sl_worker *w, sl_wsnap *s)
{
    if (--s->refs == 0)
        wsnap_free(s);
}

/* Matches the worker's sockets to the snapshot's ports of its Gateway. */
void sl_wsnap_bind_ports(sl_worker *w, sl_wsnap *s)
{
    const sl_snapshot *snap = &s->s;
    for (int i = 0; i < SL_WORKER_MAX_SOCKETS; i++) {
        s->port_of_socket[i] = SL_SNAP_NONE;
        s->route_by_model[i] = false;
    }
    for (uint32_t gi = 0; gi < sl_snap_count(snap, SL_SNAP_GATEWAYS); gi++) {
        const sl_snap_gateway *g = SL_SNAP_GET(snap, SL_SNAP_GATEWAYS, sl_snap_gateway, gi);
        if (strcmp(sl_snap_cstr(snap, g->ns), w->args.gateway_ns) != 0 ||
            strcmp(sl_snap_cstr(snap, g->name), w->args.gateway_name) != 0)
            continue;
        for (uint32_t pi = 0; pi < g->ports.count; pi++) {
            const sl_snap_port *p = SL_SNAP_GET(snap, SL_SNAP_PORTS, sl_snap_port, g->ports.first + pi);
            for (int i = 0; i < w->args.nsockets; i++)
                if (w->args.sockets[i].port == p->port && strcmp(w->args.sockets[i].address, sl_snap_cstr(snap, p->address)) == 0) {
                    s->port_of_socket[i] = g->ports.first + pi;
                    s->route_by_model[i] = sl_ai_port_routes_by_model(snap, g->ports.first + pi);
                }
        }
    }
}

/* The GATEWAYS index of the worker's Gateway in a snapshot, SL_SNAP_NONE when
 * it is not there (being deleted). */
static uint32_t own_gateway(const sl_worker *w, const sl_snapshot *snap)
{
    for (uint32_t gi = 0; gi < sl_snap_count(snap, SL_SNAP_GATEWAYS); gi++) {
        const sl_snap_gateway *g = SL_SNAP_GET(snap, SL_SNAP_GATEWAYS, sl_snap_gateway, gi);
        if (strcmp(sl_snap_cstr(snap, g->ns), w->args.gateway_ns) == 0 &&
            strcmp(sl_snap_cstr(snap, g->name), w->args.gateway_name) == 0)
            return gi;
    }
    return SL_SNAP_NONE;
}

static sl_wsnap *load(sl_worker *w, uint64_t gen)
{
    char name[96];
    sl_control_snapshot_name(w->args.control, gen, name, sizeof(name));
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0)
        return NULL; /* replaced meanwhile (ENOENT): the caller retries with the newer one */
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return NULL;
    char why[200];
    if (!sl_snapshot_verify(map, (size_t)st.st_size, why, sizeof(why))) {
        sl_log_error("worker", "refusing snapshot %s: %s", name, why);
        munmap(map, (size_t)st.st_size);
        return NULL;
    }
    if (!sl_policy_chain_check(&(sl_snapshot){map, (size_t)st.st_size}, why, sizeof(why))) {
        sl_log_error("worker", "refusing snapshot %s: %s", name, why);
        munmap(map, (size_t)st.st_size);
        return NULL;
    }
    sl_wsnap *s = calloc(1, sizeof(*s));
    if (!s) {
        munmap(map, (size_t)st.st_size);
        return NULL;
    }
    s->s.base = map;
    s->s.size = (size_t)st.st_size;
    s->generation = gen;
    s->refs = 1;
    uint32_t nb = sl_snap_count(&s->s, SL_SNAP_BACKENDS);
    uint32_t ne = sl_snap_count(&s->s, SL_SNAP_ENDPOINTS);
    s->rr = calloc(nb ? nb : 1, sizeof(uint32_t));
    s->lb_wrr = calloc(ne ? ne : 1, sizeof(double));
    s->lb_usable = calloc(nb ? nb : 1, sizeof(uint32_t));
    s->lb_usable_at = calloc(nb ? nb : 1, sizeof(uint64_t));
    s->lb_uniform = calloc(nb ? nb : 1, 1);
    if (!s->rr || !s->lb_wrr || !s->lb_usable || !s->lb_usable_at || !s->lb_uniform) {
        free(s->rr);
        free(s->lb_wrr);
        free(s->lb_usable);
        free(s->lb_usable_at);
        free(s->lb_uniform);
        munmap(map, (size_t)st.st_size);
        free(s);
        return NULL;
    }
    for (uint32_t i = 0; i < nb; i++) {
        const sl_snap_backend *be = SL_SNAP_GET(&s->s, SL_SNAP_BACKENDS, sl_snap_backend, i);
        uint32_t first_weight = 0;
        s->lb_uniform[i] = 1;
        for (uint32_t k = 0; k < be->endpoints.count; k++) {
            uint32_t wgt = SL_SNAP_GET(&s->s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, be->endpoints.first + k)->weight;
            if (k == 0)
                first_weight = wgt;
            else if (wgt != first_weight)
                s->lb_uniform[i] = 0;
        }
    }
    /* Spread workers over endpoints rather than all starting at the first. */
    for (uint32_t i = 0; i < nb; i++)
        s->rr[i] = (uint32_t)getpid() + i;
    s->regex = sl_regex_set_build(&s->s);
    s->tls = sl_tls_build(&s->s);
    uint32_t own = own_gateway(w, &s->s);
    s->uptls = sl_uptls_build(&s->s, own);
    sl_policy_find_zones(&s->s, own, s->zones);
    s->policy_state = sl_policy_prepare_all(&s->s);
    sl_wsnap_bind_ports(w, s);
    return s;
}

void sl_wsnap_refresh(sl_worker *w)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        uint64_t gen = atomic_load_explicit(&w->args.control->generation, memory_order_acquire);
        if (gen == 0 || (w->snap && w->snap->generation == gen))
            return;
        sl_wsnap *s = load(w, gen);
        if (!s)
            continue;
        if (w->snap)
            sl_wsnap_release(w, w->snap);
        w->snap = s;
        atomic_store(&w->slot->generation, gen);
        sl_log_debug("worker", "switched to snapshot generation %llu", (unsigned long long)gen);
        return;
    }
}

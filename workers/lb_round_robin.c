/* Round robin: each worker takes the backend's endpoints in turn. Equal
 * weights use one cursor per backend; unequal ones (a Backend host's weight,
 * an endpoint ramping up after slow start) use smooth weighted round robin, as
 * nginx does, so a heavy endpoint's turns are spread out, not bunched. */
#include "workers/balancer.h"
#include "workers/conn.h"

static uint32_t weighted(sl_lb_ctx *x)
{
    double *current = x->c->snap->lb_wrr + x->be->endpoints.first;
    double total = 0;
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < x->be->endpoints.count; i++) {
        if (!sl_lb_eligible(x, i))
            continue;
        double w = sl_lb_weight(x, i);
        current[i] += w;
        total += w;
        if (best == UINT32_MAX || current[i] > current[best])
            best = i;
    }
    if (best == UINT32_MAX)
        return x->c->snap->rr[x->bi]++ % x->be->endpoints.count;
    current[best] -= total;
    return best;
}

static uint32_t pick(sl_lb_ctx *x)
{
    if (!x->uniform)
        return weighted(x);
    uint32_t start = x->c->snap->rr[x->bi]++;
    uint32_t i = sl_lb_first_eligible(x, start % x->be->endpoints.count);
    /* The cursor moves past an endpoint that was skipped, so the next request
     * does not land on the same live endpoint as this one. */
    if (i != start % x->be->endpoints.count)
        x->c->snap->rr[x->bi] = i + 1;
    return i;
}

const sl_lb_algorithm sl_lb_round_robin = {"roundRobin", pick};

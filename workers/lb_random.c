/* Random: an eligible endpoint drawn at random, in proportion to its weight. */
#include "workers/balancer.h"

static uint32_t pick(sl_lb_ctx *x)
{
    uint32_t n = x->be->endpoints.count;
    if (x->uniform)
        return sl_lb_first_eligible(x, sl_lb_random() % n);
    double total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += sl_lb_eligible(x, i) ? sl_lb_weight(x, i) : 0;
    if (total <= 0)
        return sl_lb_random() % n;
    double r = (sl_lb_random() / 4294967296.0) * total;
    for (uint32_t i = 0; i < n; i++) {
        if (!sl_lb_eligible(x, i))
            continue;
        r -= sl_lb_weight(x, i);
        if (r < 0)
            return i;
    }
    return sl_lb_first_eligible(x, 0);
}

const sl_lb_algorithm sl_lb_random_pick = {"random", pick};

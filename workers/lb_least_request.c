/* Least request with the power of N choices (Envoy's, N = choiceCount,
 * default 2): a few eligible endpoints drawn at random, the one with the
 * fewest requests in flight per unit of weight wins. The counts are those of
 * every worker of every Gateway (the shared endpoint table), so a slow
 * endpoint, whose requests pile up, gets fewer new ones. */
#include "workers/balancer.h"

/* Random draws before giving up on finding an eligible endpoint by chance. */
#define DRAWS_PER_CHOICE 4

static uint32_t pick(sl_lb_ctx *x)
{
    uint32_t n = x->be->endpoints.count;
    uint32_t choices = x->cfg->choice_count >= 2 ? x->cfg->choice_count : 2;
    uint32_t best = UINT32_MAX;
    double best_load = 0;
    uint32_t found = 0;
    for (uint32_t draw = 0; draw < choices * DRAWS_PER_CHOICE && found < choices; draw++) {
        uint32_t i = sl_lb_random() % n;
        if (!sl_lb_eligible(x, i) || i == best)
            continue;
        found++;
        double load = (sl_lb_active(x, i) + 1.0) / sl_lb_weight(x, i);
        if (best == UINT32_MAX || load < best_load) {
            best = i;
            best_load = load;
        }
    }
    return best != UINT32_MAX ? best : sl_lb_first_eligible(x, sl_lb_random() % n);
}

const sl_lb_algorithm sl_lb_least_request = {"leastRequest", pick};

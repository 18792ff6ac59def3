/* Session ticket keys in the shared control block: written by the master,
 * read by every worker (seqlock, see common/control.h). */
#include <stdbool.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/control.h"

void sl_ticket_keys_read(const sl_control *c, sl_ticket_key out[2])
{
    for (;;) {
        uint64_t before = atomic_load_explicit(&c->ticket_seq, memory_order_acquire);
        if (before & 1)
            continue; /* the master is writing: a few instructions */
        memcpy(out, c->ticket_keys, 2 * sizeof(sl_ticket_key));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&c->ticket_seq, memory_order_relaxed) == before)
            return;
    }
}

void sl_ticket_keys_rotate(sl_control *c, bool keep_previous)
{
    sl_ticket_key fresh[2];
    RAND_bytes((unsigned char *)&fresh[0], sizeof(fresh[0]));
    if (keep_previous)
        fresh[1] = c->ticket_keys[0];
    else
        RAND_bytes((unsigned char *)&fresh[1], sizeof(fresh[1]));
    atomic_fetch_add_explicit(&c->ticket_seq, 1, memory_order_acq_rel);
    atomic_thread_fence(memory_order_release);
    memcpy(c->ticket_keys, fresh, sizeof(fresh));
    atomic_fetch_add_explicit(&c->ticket_seq, 1, memory_order_release);
    OPENSSL_cleanse(fresh, sizeof(fresh));
}

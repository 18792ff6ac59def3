/* The shared rings of the workers' last requests; see log_tail.h. */
#include "common/log_tail.h"

#include <string.h>
#include <sys/mman.h>

#include "common/control.h"
#include "common/log.h"

static sl_log_tail *tails; /* [SL_MAX_WORKERS] */

bool sl_log_tail_create(void)
{
    size_t size = (size_t)SL_MAX_WORKERS * sizeof(sl_log_tail);
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        sl_log_error("access-log", "cannot reserve %zu bytes for the workers' last requests: the dashboard "
                     "shows no access log", size);
        return false;
    }
    tails = map;
    return true;
}

void sl_log_tail_reset(uint32_t slot)
{
    if (!tails || slot >= SL_MAX_WORKERS)
        return;
    sl_log_tail *t = &tails[slot];
    for (size_t i = 0; i < SL_LOG_TAIL_RECORDS; i++)
        atomic_store(&t->records[i].seq, 0);
    atomic_store(&t->head, 0);
}

sl_log_record *sl_log_tail_begin(uint32_t slot)
{
    if (!tails || slot >= SL_MAX_WORKERS)
        return NULL;
    sl_log_tail *t = &tails[slot];
    uint64_t n = atomic_load_explicit(&t->head, memory_order_relaxed);
    sl_log_record *r = &t->records[n % SL_LOG_TAIL_RECORDS];
    atomic_store_explicit(&r->seq, 2 * n + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* the odd word is seen before any field changes */
    return r;
}

void sl_log_tail_commit(uint32_t slot, sl_log_record *r)
{
    sl_log_tail *t = &tails[slot];
    uint64_t n = atomic_load_explicit(&t->head, memory_order_relaxed);
    atomic_store_explicit(&r->seq, 2 * n + 2, memory_order_release);
    atomic_store_explicit(&t->head, n + 1, memory_order_release);
}

size_t sl_log_tail_read(uint32_t slot, sl_log_record *out, size_t cap)
{
    if (!tails || slot >= SL_MAX_WORKERS)
        return 0;
    sl_log_tail *t = &tails[slot];
    uint64_t head = atomic_load_explicit(&t->head, memory_order_acquire);
    uint64_t from = head > SL_LOG_TAIL_RECORDS ? head - SL_LOG_TAIL_RECORDS : 0;
    if (head - from > cap)
        from = head - cap;
    size_t got = 0;
    for (uint64_t n = from; n < head; n++) {
        sl_log_record *r = &t->records[n % SL_LOG_TAIL_RECORDS];
        uint64_t before = atomic_load_explicit(&r->seq, memory_order_acquire);
        if (before != 2 * n + 2)
            continue; /* being written, or already the next lap's */
        memcpy((char *)&out[got] + sizeof(r->seq), (const char *)r + sizeof(r->seq), sizeof(*r) - sizeof(r->seq));
        atomic_thread_fence(memory_order_acquire); /* the copy is done before the word is read again */
        if (atomic_load_explicit(&r->seq, memory_order_relaxed) != before)
            continue;
        atomic_store_explicit(&out[got].seq, before, memory_order_relaxed);
        got++;
    }
    return got;
}

void sl_log_tail_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Fixed-capacity byte buffers for connections. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/settings.h"
#include "workers/worker_internal.h"

int sl_buf_alloc(sl_buf *b, size_t cap)
{
    b->data = malloc(cap);
    b->cap = b->data ? cap : 0;
    b->start = b->end = 0;
    return b->data ? 0 : -1;
}

void sl_buf_free(sl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->cap = b->start = b->end = 0;
}

void sl_buf_compact(sl_buf *b)
{
    if (b->start == 0)
        return;
    size_t n = b->end - b->start;
    if (n)
        memmove(b->data, b->data + b->start, n);
    b->start = 0;
    b->end = n;
}

/* sl_buf_append when the bytes do not fit after the end: moves the data to the
 * front first. */
bool sl_buf_append_compacting(sl_buf *b, const void *p, size_t n)
{
    sl_buf_compact(b);
    if (sl_buf_room(b) < n)
        return false;
    memcpy(b->data + b->end, p, n);
    b->end += n;
    return true;
}

bool sl_buf_printf(sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->end, sl_buf_room(b), fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    if ((size_t)n >= sl_buf_room(b)) {
        sl_buf_compact(b);
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->end, sl_buf_room(b), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sl_buf_room(b))
            return false;
    }
    b->end += (size_t)n;
    return true;
}

bool sl_buf_put_uint(sl_buf *b, uint64_t n)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    return sl_buf_append(b, tmp + i, sizeof(tmp) - i);
}

size_t sl_cbuf_size(void)
{
    /* At least a whole TLS ClientHello of 16 KiB, read before a passthrough
     * connection is routed (workers/tls_sni.h). */
    size_t head = (size_t)sl_setting(SL_SET_MAX_HEAD_BYTES) + 4096;
    return head > SL_BUF_SIZE + 4096 ? head : SL_BUF_SIZE + 4096;
}

static int pool_get(sl_buf_pool *p, sl_buf *b, size_t size)
{
    if (b->data)
        return 0;
    if (p->n == 0)
        return sl_buf_alloc(b, size);
    b->data = p->free[--p->n];
    if (p->n < p->low)
        p->low = p->n;
    b->cap = size;
    b->start = b->end = 0;
    return 0;
}

static void pool_put(sl_buf_pool *p, sl_buf *b)
{
    if (!b->data)
        return;
    if (p->n < p->max)
        p->free[p->n++] = b->data;
    else
        free(b->data);
    b->data = NULL;
    b->cap = b->start = b->end = 0;
}

static void pool_trim(sl_buf_pool *p)
{
    int unused = p->low < p->n - p->keep ? p->low : p->n - p->keep;
    for (int i = 0; i < unused; i++)
        free(p->free[--p->n]);
    p->low = p->n;
}

void sl_buf_pools_init(sl_worker *w)
{
    /* Connection buffers: a few per request (client input, the upstream request,
     * an HTTP/2 stream's head and trailers). Body buffers: one per request that
     * reaches an upstream, and one per HTTP/2 connection while it writes (its
     * frames, and its sealed records over TLS). */
    w->cbufs.max = SL_BUF_POOL_SLOTS;
    w->cbufs.keep = 256;
    w->bodybufs.max = 1024;
    w->bodybufs.keep = 64;
}

void sl_buf_pools_trim(sl_worker *w)
{
    pool_trim(&w->cbufs);
    pool_trim(&w->bodybufs);
}

void sl_buf_pools_free(sl_worker *w)
{
    sl_buf_pool *pools[] = {&w->cbufs, &w->bodybufs};
    for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++) {
        while (pools[i]->n > 0)
            free(pools[i]->free[--pools[i]->n]);
        pools[i]->low = 0;
    }
}

int sl_cbuf_get(sl_worker *w, sl_buf *b) { return pool_get(&w->cbufs, b, sl_cbuf_size()); }

void sl_cbuf_put(sl_worker *w, sl_buf *b)
{
    /* A buffer grown past the pool's size (a buffered request body, an HTTP/2
     * stream's window) is freed: pooled, it would hold its memory for good. */
    if (b->data && b->cap != sl_cbuf_size()) {
        sl_buf_free(b);
        return;
    }
    pool_put(&w->cbufs, b);
}

int sl_bodybuf_get(sl_worker *w, sl_buf *b) { return pool_get(&w->bodybufs, b, SL_BODY_BUF_SIZE); }

void sl_bodybuf_put(sl_worker *w, sl_buf *b) { pool_put(&w->bodybufs, b); }

/* A growable byte buffer for what has no fixed bound known in advance but is
 * bounded by its user (a response body a hook holds whole, up to its limit). The
 * proxy's own buffers (sl_buf) are fixed and pooled; this one is malloc'd on
 * first use and freed with the request. */
#ifndef SL_DBUF_H
#define SL_DBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_dbuf {
    char *data;
    size_t start, end, cap;
} sl_dbuf;

static inline size_t sl_dbuf_len(const sl_dbuf *b) { return b->end - b->start; }
/* Appends n bytes (growing by doubling); false when out of memory. */
bool sl_dbuf_append(sl_dbuf *b, const void *p, size_t n);
/* Drops n bytes from the front. */
void sl_dbuf_consume(sl_dbuf *b, size_t n);
void sl_dbuf_free(sl_dbuf *b);

#endif

/* A growable byte buffer: see dbuf.h. */
#include "workers/dbuf.h"

#include <stdlib.h>
#include <string.h>

bool sl_dbuf_append(sl_dbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return true;
    if (b->start > 0 && b->end + n > b->cap) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    if (b->end + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->end + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return false;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->end, p, n);
    b->end += n;
    return true;
}

void sl_dbuf_consume(sl_dbuf *b, size_t n)
{
    b->start += n < sl_dbuf_len(b) ? n : sl_dbuf_len(b);
    if (b->start == b->end)
        b->start = b->end = 0;
}

void sl_dbuf_free(sl_dbuf *b)
{
    free(b->data);
    *b = (sl_dbuf){0};
}

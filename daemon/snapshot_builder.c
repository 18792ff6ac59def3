#include "daemon/snapshot_builder.h"

#include <stdlib.h>
#include <string.h>

/* Open-addressing map from string to its offset, for deduplication. */
struct sl_sb_strmap {
    uint32_t *offsets; /* offset + 1; 0 = empty slot */
    size_t cap, used;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

static void table_reserve(sl_sb_table *t, size_t more)
{
    if (t->len + more <= t->cap)
        return;
    size_t cap = t->cap ? t->cap * 2 : 256;
    while (cap < t->len + more)
        cap *= 2;
    t->data = xrealloc(t->data, cap);
    t->cap = cap;
}

void sl_sb_init(sl_snap_builder *b)
{
    memset(b, 0, sizeof(*b));
    b->strings = xrealloc(NULL, sizeof(*b->strings));
    b->strings->cap = 1024;
    b->strings->used = 0;
    b->strings->offsets = calloc(b->strings->cap, sizeof(uint32_t));
    if (!b->strings->offsets)
        abort();
    /* Offset 0 holds "" so that an empty string is always valid. */
    table_reserve(&b->tab[SL_SNAP_STRINGS], 1);
    b->tab[SL_SNAP_STRINGS].data[0] = '\0';
    b->tab[SL_SNAP_STRINGS].len = 1;
}

void sl_sb_free(sl_snap_builder *b)
{
    for (int i = 0; i < SL_SNAP_NSECTIONS; i++)
        free(b->tab[i].data);
    if (b->strings) {
        free(b->strings->offsets);
        free(b->strings);
    }
    memset(b, 0, sizeof(*b));
}

void sl_sb_clone(sl_snap_builder *dst, const sl_snap_builder *src, uint64_t sections)
{
    memset(dst, 0, sizeof(*dst));
    for (int i = 0; i < SL_SNAP_NSECTIONS; i++) {
        if (!(sections & SL_SB_ONLY(i)))
            continue;
        const sl_sb_table *t = &src->tab[i];
        dst->tab[i].data = xrealloc(NULL, t->cap);
        if (t->len)
            memcpy(dst->tab[i].data, t->data, t->len);
        dst->tab[i].len = t->len;
        dst->tab[i].cap = t->cap ? t->cap : 1;
    }
    dst->strings = xrealloc(NULL, sizeof(*dst->strings));
    *dst->strings = *src->strings;
    dst->strings->offsets = xrealloc(NULL, src->strings->cap * sizeof(uint32_t));
    memcpy(dst->strings->offsets, src->strings->offsets, src->strings->cap * sizeof(uint32_t));
}

uint32_t sl_sb_add(sl_snap_builder *b, enum sl_snap_section sec, const void *rec)
{
    size_t rs = sl_snap_record_size(sec);
    sl_sb_table *t = &b->tab[sec];
    table_reserve(t, rs);
    memcpy(t->data + t->len, rec, rs);
    t->len += rs;
    return (uint32_t)(t->len / rs - 1);
}

void *sl_sb_at(sl_snap_builder *b, enum sl_snap_section sec, uint32_t index)
{
    return b->tab[sec].data + (size_t)index * sl_snap_record_size(sec);
}

uint32_t sl_sb_count(const sl_snap_builder *b, enum sl_snap_section sec)
{
    return (uint32_t)(b->tab[sec].len / sl_snap_record_size(sec));
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void strmap_grow(sl_snap_builder *b)
{
    sl_sb_strmap *m = b->strings;
    size_t cap = m->cap * 2;
    uint32_t *slots = calloc(cap, sizeof(uint32_t));
    if (!slots)
        abort();
    const char *strings = (const char *)b->tab[SL_SNAP_STRINGS].data;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->offsets[i])
            continue;
        const char *s = strings + m->offsets[i] - 1;
        size_t j = hash_bytes(s, strlen(s)) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = m->offsets[i];
    }
    free(m->offsets);
    m->offsets = slots;
    m->cap = cap;
}

sl_snap_str sl_sb_strn(sl_snap_builder *b, const char *s, size_t n)
{
    if (!s || n == 0)
        return (sl_snap_str){0, 0};
    /* Strings with an embedded NUL cannot be deduplicated by strlen; store as is. */
    bool has_nul = memchr(s, '\0', n) != NULL;
    sl_sb_strmap *m = b->strings;
    sl_sb_table *t = &b->tab[SL_SNAP_STRINGS];
    size_t j = hash_bytes(s, n) & (m->cap - 1);
    if (!has_nul) {
        while (m->offsets[j]) {
            const char *cand = (const char *)t->data + m->offsets[j] - 1;
            if (strncmp(cand, s, n) == 0 && cand[n] == '\0')
                return (sl_snap_str){m->offsets[j] - 1, (uint32_t)n};
            j = (j + 1) & (m->cap - 1);
        }
    }
    table_reserve(t, n + 1);
    uint32_t off = (uint32_t)t->len;
    memcpy(t->data + t->len, s, n);
    t->data[t->len + n] = '\0';
    t->len += n + 1;
    if (!has_nul) {
        m->offsets[j] = off + 1;
        if (++m->used * 2 > m->cap)
            strmap_grow(b);
    }
    return (sl_snap_str){off, (uint32_t)n};
}

sl_snap_str sl_sb_str(sl_snap_builder *b, const char *s) { return sl_sb_strn(b, s, s ? strlen(s) : 0); }

void *sl_sb_finish(sl_snap_builder *b, uint64_t generation, uint64_t store_rv, size_t *size)
{
    return sl_sb_finish_borrowed(b, 0, generation, store_rv, size);
}

void *sl_sb_finish_borrowed(sl_snap_builder *b, uint64_t borrowed, uint64_t generation, uint64_t store_rv,
                            size_t *size)
{
    size_t total = sizeof(sl_snap_header);
    size_t offs[SL_SNAP_NSECTIONS];
    for (int i = 0; i < SL_SNAP_NSECTIONS; i++) {
        total = (total + 7) & ~(size_t)7;
        offs[i] = total;
        total += b->tab[i].len;
    }
    total = (total + 7) & ~(size_t)7;
    uint8_t *blob = calloc(1, total);
    if (!blob)
        abort();
    sl_snap_header *h = (sl_snap_header *)blob;
    h->magic = SL_SNAP_MAGIC;
    h->format = SL_SNAP_FORMAT;
    h->size = (uint32_t)total;
    h->generation = generation;
    h->store_rv = store_rv;
    for (int i = 0; i < SL_SNAP_NSECTIONS; i++) {
        if (b->tab[i].len)
            memcpy(blob + offs[i], b->tab[i].data, b->tab[i].len);
        h->sections[i].off = (uint32_t)offs[i];
        h->sections[i].count = (uint32_t)(b->tab[i].len / sl_snap_record_size((enum sl_snap_section)i));
    }
    h->checksum = sl_crc32c(blob + sizeof(*h), total - sizeof(*h));
    *size = total;
    for (int i = 0; i < SL_SNAP_NSECTIONS; i++)
        if (borrowed & (1ull << i))
            b->tab[i].data = NULL; /* (another builder's: not freed here) */
    sl_sb_free(b);
    return blob;
}

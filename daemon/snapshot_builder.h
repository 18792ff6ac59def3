/* Builds a snapshot blob table by table (master only). Records are appended to
 * growable tables; strings are copied into the string section (NUL-terminated,
 * deduplicated); sl_sb_finish lays the tables out and checksums the result.
 * Allocation failures abort: compiling configuration runs in the master, where
 * running out of memory is fatal by design. */
#ifndef SL_SNAPSHOT_BUILDER_H
#define SL_SNAPSHOT_BUILDER_H

#include "common/snapshot.h"

typedef struct sl_sb_table {
    uint8_t *data;
    size_t len, cap; /* bytes */
} sl_sb_table;

typedef struct sl_sb_strmap sl_sb_strmap;

typedef struct sl_snap_builder {
    sl_sb_table tab[SL_SNAP_NSECTIONS];
    sl_sb_strmap *strings;
} sl_snap_builder;

void sl_sb_init(sl_snap_builder *b);
void sl_sb_free(sl_snap_builder *b);

/* Appends a record (copied) to a section; returns its index. */
uint32_t sl_sb_add(sl_snap_builder *b, enum sl_snap_section sec, const void *rec);
/* The record at index; valid until the next sl_sb_add to that section. */
void *sl_sb_at(sl_snap_builder *b, enum sl_snap_section sec, uint32_t index);
/* Number of records in a section so far. */
uint32_t sl_sb_count(const sl_snap_builder *b, enum sl_snap_section sec);
/* Stores a string (NULL is stored as ""). */
sl_snap_str sl_sb_str(sl_snap_builder *b, const char *s);
sl_snap_str sl_sb_strn(sl_snap_builder *b, const char *s, size_t n);

#define SL_SB_ONLY(section) (1ull << (section))
#define SL_SB_ALL (~0ull)

/* dst becomes a copy of src's string map and of the tables whose bits are in
 * sections (SL_SB_ALL, or SL_SB_ONLY(a) | ...); its other tables are empty
 * (dst is overwritten, not freed). */
void sl_sb_clone(sl_snap_builder *dst, const sl_snap_builder *src, uint64_t sections);

/* Lays out the blob; returns it (malloc'd) and its size. The builder is left empty. */
void *sl_sb_finish(sl_snap_builder *b, uint64_t generation, uint64_t store_rv, size_t *size);

/* sl_sb_finish for a builder some of whose tables (the bits of borrowed, by
 * section) are another builder's: those are laid out but not freed. */
void *sl_sb_finish_borrowed(sl_snap_builder *b, uint64_t borrowed, uint64_t generation, uint64_t store_rv,
                            size_t *size);

/* Size of one record of a section (common/snapshot.c). */
size_t sl_snap_record_size(enum sl_snap_section sec);

#endif

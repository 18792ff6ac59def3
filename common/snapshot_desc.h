/* One descriptor per snapshot section: its record size and every field of its
 * record (name, offset, size, alignment, kind, and for references the section
 * they point into). It drives the verification of blobs (sl_snapshot_verify),
 * the raw rendering of /debug/snapshot?raw=1, and a unit test that the fields
 * tile each record exactly; so a field added to a record but not here fails the
 * tests, and a reference cannot go unchecked. */
#ifndef SL_SNAPSHOT_DESC_H
#define SL_SNAPSHOT_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "common/snapshot.h"

typedef enum {
    SL_FIELD_STR,           /* sl_snap_str: within STRINGS and NUL-terminated */
    SL_FIELD_RANGE,         /* sl_snap_range into section `target` */
    SL_FIELD_INDEX,         /* uint32_t index into section `target` */
    SL_FIELD_INDEX_OR_NONE, /* ...or SL_SNAP_NONE */
    SL_FIELD_UINT,          /* an unsigned integer of `size` bytes (1, 2, 4 or 8) */
    SL_FIELD_BYTES,         /* opaque bytes (an address, a bit set) */
    SL_FIELD_RESERVED,      /* explicit padding: zero, never read */
} sl_snap_field_kind;

typedef struct sl_snap_field {
    const char *name;
    uint16_t offset, size, align;
    uint8_t kind;   /* sl_snap_field_kind */
    uint8_t target; /* enum sl_snap_section, for RANGE and INDEX; for STR,
                     * SL_FIELD_TARGET_SECRET or 0 */
} sl_snap_field;

/* A STR field holding a credential: verified as any string, never rendered. */
#define SL_FIELD_TARGET_SECRET 1

typedef struct sl_snap_section_desc {
    const char *name;    /* as /debug/snapshot?raw=1 names the section */
    size_t record_size;  /* 1 for STRINGS (bytes) */
    size_t record_align;
    const sl_snap_field *fields;
    size_t nfields;
} sl_snap_section_desc;

extern const sl_snap_section_desc sl_snap_sections[SL_SNAP_NSECTIONS];

#endif

/* Publishes compiled snapshots: each generation goes into its own POSIX
 * shared-memory object (/dev/shm/sluice-<master pid>-<generation>), then the
 * control block's generation is bumped. Workers open the current one by name.
 * The previous object's name is unlinked at once: workers that mapped it keep
 * their mapping (the kernel frees it when the last one is unmapped), and a worker
 * that races and finds the name gone simply re-reads the current generation. */
#ifndef SL_PUBLISHER_H
#define SL_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include "common/control.h"
#include "common/snapshot.h"

typedef struct sl_publisher {
    sl_control *control; /* shared, from sl_control_create */
    uint64_t generation; /* last published */
    void *current;       /* the master's own mapping of the current snapshot */
    int owner_uid, owner_gid; /* given the snapshot objects so unprivileged workers can read them; -1: none */
    size_t current_size;
} sl_publisher;

/* Maps a fresh control block shared with every future child. Aborts on failure
 * (start-up). Removes stale snapshot objects left by dead masters. */
sl_control *sl_control_create(void);

void sl_publisher_init(sl_publisher *p, sl_control *control, int owner_uid, int owner_gid);
/* Writes blob (generation already in its header) to shared memory and makes it
 * current. Returns 0, or -1 (logged) when shared memory could not be written, in
 * which case the previous generation stays current. */
int sl_publisher_publish(sl_publisher *p, const void *blob, size_t size);
/* The current snapshot as the master sees it (base NULL before the first). */
sl_snapshot sl_publisher_current(const sl_publisher *p);
/* Unlinks and unmaps everything (at exit). */
void sl_publisher_close(sl_publisher *p);

#endif

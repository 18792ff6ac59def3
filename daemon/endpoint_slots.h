/* Master: which slot of the shared endpoint table (common/endpoint_state.h)
 * each endpoint and backend of a snapshot uses. A key (the backend's identity,
 * and the endpoint's address for an endpoint) keeps its slot from one compile
 * to the next, so health, ejections and counts survive configuration changes.
 * A slot no compile asked for is released once its snapshot is published, and
 * handed out again only after --drain-timeout plus ten seconds, when no worker
 * can still run a snapshot that names it. Main thread only. */
#ifndef SL_ENDPOINT_SLOTS_H
#define SL_ENDPOINT_SLOTS_H

#include <stdint.h>

/* Around one compile. */
void sl_ep_slots_begin(void);
void sl_ep_slots_end(void);

/* The slot of key (new ones start zeroed, usable from now), or SL_SNAP_NONE
 * when there is no table or it is full (logged once per compile). */
uint32_t sl_ep_slot_for(const char *key);

/* After sl_ep_slots_end: the snapshot was published (the slots it dropped are
 * released) or not (they stay taken). */
void sl_ep_slots_commit(void);
void sl_ep_slots_cancel(void);

#endif

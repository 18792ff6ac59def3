/* The MCP gateway's shared session table: what a session learns after its id
 * was given out, which the id itself cannot carry (workers/mcp.h):
 *   - a target's new session id, when the gateway initialised that target
 *     again inside a client's session (the target lost the old one, or was
 *     down when the session began);
 *   - a session ended by DELETE, so its id gets 404 from every worker.
 * One zone of fixed entries in shared memory (common/zones.h), made by the
 * master before anything forks; every worker reads and writes it. Keys are
 * 64-bit hashes; a full neighbourhood evicts its oldest entry (the worst case
 * is one more transparent initialisation of a target). */
#ifndef SL_MCP_TABLE_H
#define SL_MCP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_MCP_TABLE_SLOTS 16384
#define SL_MCP_TABLE_VALUE 232 /* bytes of a value (a target's session id); longer ones are not kept */

/* Master, before forking: makes the table (false, logged, when there is no shared memory for it). */
bool sl_mcp_table_create(uint32_t slots);
/* The key of (client session id, target name); target "" names the session itself. */
uint64_t sl_mcp_table_key(const char *session, const char *target);
/* Copies the value of key into out (cap bytes, NUL-terminated); false when absent. */
bool sl_mcp_table_get(uint64_t key, char *out, size_t cap);
/* Stores a value for key (written at `now`, seconds), not to be evicted before
 * keep_until (0: whenever room is needed). false: too long, no table, or no
 * entry of its neighbourhood may be taken. */
bool sl_mcp_table_put(uint64_t key, const char *value, size_t len, uint64_t now, uint64_t keep_until);

#endif

/* The MCP session key: the secret that signs the ids of the MCP gateway's
 * sessions (workers/mcp_session.c), kept in the state dir. */
#ifndef SL_MCP_KEY_H
#define SL_MCP_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_MCP_KEY_FILE "mcp-session.key"

/* Reads <state_dir>/mcp-session.key into key, making it first (32 random
 * bytes, mode 0600) when there is none. false, with why, when it cannot be
 * read or made, or holds something else than 32 bytes. */
bool sl_mcp_key_load(const char *state_dir, uint8_t key[32], char *why, size_t whylen);

#endif

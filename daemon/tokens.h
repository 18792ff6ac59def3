/* Admin API bearer tokens: created, listed and revoked from the command line
 * (`sluiced token ...`), stored as SHA-256 hashes only. */
#ifndef SL_TOKENS_H
#define SL_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/store.h"

/* Hex SHA-256 of a token (out must hold 65 bytes). */
void sl_token_hash(const char *token, char out[65]);

/* Creates a token named `name` (read_only: it may only read); writes the secret
 * (shown once) into token[80] and its id into id[17]. Returns SL_OK or SL_ERR. */
int sl_token_create(sl_store *s, const char *name, bool read_only, char token[80], char id[17]);

/* Runs `sluiced token create|list|revoke ...`; argv starts after "token".
 * Returns the process exit code. */
int sl_token_main(int argc, char **argv);

#endif

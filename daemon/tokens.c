#include "daemon/tokens.h"

#include "common/fork_guard.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/sl.h"

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void sl_token_hash(const char *token, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    /* Runs on admin threads (every authenticated request): see common/fork_guard.h. */
    sl_fork_guard_enter();
    EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL);
    sl_fork_guard_leave();
    to_hex(md, sizeof(md), out);
}

int sl_token_create(sl_store *s, const char *name, bool read_only, char token[80], char id[17])
{
    unsigned char secret[32], idb[8];
    sl_fork_guard_enter();
    bool ok = RAND_bytes(secret, sizeof(secret)) == 1 && RAND_bytes(idb, sizeof(idb)) == 1;
    sl_fork_guard_leave();
    if (!ok)
        return SL_ERR;
    char hex[65];
    to_hex(secret, sizeof(secret), hex);
    snprintf(token, 80, "sl_%s", hex);
    to_hex(idb, sizeof(idb), id);
    char hash[65];
    sl_token_hash(token, hash);
    return sl_store_token_insert(s, id, name, hash, read_only);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sluiced token create NAME [--read-only] --state-dir DIR\n"
               "       sluiced token list --state-dir DIR\n"
               "       sluiced token revoke ID|NAME --state-dir DIR\n");
}

int sl_token_main(int argc, char **argv)
{
    const char *state_dir = getenv("SLUICE_STATE_DIR");
    const char *positional[2] = {NULL, NULL};
    int npos = 0;
    bool read_only = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--read-only") == 0) {
            read_only = true;
        } else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc) {
            state_dir = argv[++i];
        } else if (strncmp(argv[i], "--state-dir=", 12) == 0) {
            state_dir = argv[i] + 12;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "sluiced token: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (npos < 2) {
            positional[npos++] = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!positional[0] || !state_dir) {
        if (!state_dir)
            fprintf(stderr, "sluiced token: --state-dir DIR (or SLUICE_STATE_DIR) is required\n");
        usage(stderr);
        return 2;
    }
    const char *cmd = positional[0];
    if ((strcmp(cmd, "create") == 0 || strcmp(cmd, "revoke") == 0) && !positional[1]) {
        fprintf(stderr, "sluiced token %s: a %s is required\n", cmd, strcmp(cmd, "create") == 0 ? "NAME" : "ID or NAME");
        return 2;
    }
    sl_log_set_level(SL_LOG_WARN);
    char err[512];
    sl_store *s = sl_store_open(state_dir, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "sluiced token: %s\n", err);
        return 1;
    }
    int code = 0;
    if (strcmp(cmd, "create") == 0) {
        char token[80], id[17];
        if (sl_token_create(s, positional[1], read_only, token, id) != SL_OK) {
            fprintf(stderr, "sluiced token: cannot store the token\n");
            code = 1;
        } else {
            printf("%s\n", token);
            fprintf(stderr, "%stoken %s (id %s) created; it is shown only now. Use it as 'Authorization: Bearer "
                            "TOKEN'. A running sluiced requires tokens from its next request on.\n",
                    read_only ? "read-only " : "", positional[1], id);
        }
    } else if (strcmp(cmd, "list") == 0) {
        json_t *list = sl_store_token_list(s);
        printf("%-18s %-24s %-6s %s\n", "ID", "NAME", "SCOPE", "CREATED");
        size_t i;
        json_t *t;
        json_array_foreach(list, i, t) printf("%-18s %-24s %-6s %s\n", json_string_value(json_object_get(t, "id")),
                                              json_string_value(json_object_get(t, "name")),
                                              json_string_value(json_object_get(t, "scope")),
                                              json_string_value(json_object_get(t, "created_at")));
        json_decref(list);
    } else if (strcmp(cmd, "revoke") == 0) {
        int rc = sl_store_token_delete(s, positional[1]);
        if (rc == SL_NOTFOUND) {
            fprintf(stderr, "sluiced token: no token with id or name \"%s\"\n", positional[1]);
            code = 1;
        } else if (rc != SL_OK) {
            fprintf(stderr, "sluiced token: cannot revoke the token\n");
            code = 1;
        } else {
            fprintf(stderr, "revoked %s\n", positional[1]);
        }
    } else {
        fprintf(stderr, "sluiced token: unknown command \"%s\"\n", cmd);
        usage(stderr);
        code = 2;
    }
    sl_store_close(s);
    return code;
}

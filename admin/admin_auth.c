/* Authentication of the admin API: bearer tokens and client certificates.
 * With no tokens stored (and no client CA), every request is allowed (the
 * server then only binds loopback addresses). With tokens, each request needs
 * `Authorization: Bearer TOKEN`; the token's SHA-256 is looked up, so the
 * secrets themselves are never stored. Read-only tokens may only GET. With a
 * client CA (mutual TLS), a verified client certificate counts as a full token. */
#include <stdio.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "common/log.h"
#include "common/sl.h"
#include "daemon/tokens.h"

/* Verbs a read-only token may use: reads only (get, list, watch, metrics, debug). */
static bool is_read(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

bool sl_admin_authorize(sl_admin_req *r, enum MHD_Result *result)
{
    sl_store *s = r->admin->store;
    /* Without tokens only a loopback server is open; a server on another address
     * whose last token was revoked refuses everything until a new one exists. */
    if (!r->admin->require_token && sl_store_token_count(s) == 0)
        return true;
    const char *h = sl_admin_header(r, "Authorization");
    if (!h && r->admin->tls.client_ca_pem && sl_admin_tls_client_verified(r->conn)) {
        /* Mutual TLS: a certificate from the client CA counts as a full token. */
        snprintf(r->token_hash, sizeof(r->token_hash), "%s", SL_ADMIN_BY_CLIENT_CERT);
        return true;
    }
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        const char *token = h + 7;
        while (*token == ' ')
            token++;
        char hash[65];
        sl_token_hash(token, hash);
        bool read_only = false;
        if (sl_store_token_check(s, hash, &read_only) == SL_OK) {
            if (read_only && !is_read(r->method)) {
                r->verb = "forbidden";
                sl_log_warn("admin", "refused %s %s: read-only token", r->method, r->url);
                *result = sl_admin_reply_error(r, 403, "Forbidden", NULL, NULL, NULL,
                                               "this token is read-only: %s is not allowed (GET only)", r->method);
                return false;
            }
            memcpy(r->token_hash, hash, sizeof(r->token_hash));
            return true;
        }
    }
    r->verb = "unauthorized";
    sl_log_warn("admin", "refused %s %s: %s bearer token", r->method, r->url, h ? "invalid" : "no");
    *result = sl_admin_reply_error(r, 401, "Unauthorized", NULL, NULL, NULL, "Unauthorized");
    return false;
}

bool sl_admin_still_authorized(sl_admin *a, const char *token_hash)
{
    if (strcmp(token_hash, SL_ADMIN_BY_CLIENT_CERT) == 0)
        return true; /* a certificate cannot be revoked here: it lasts its connection */
    if (!token_hash[0])
        return a->require_token ? false : sl_store_token_count(a->store) == 0;
    return sl_store_token_check(a->store, token_hash, NULL) == SL_OK;
}

#include "admin/admin_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "admin/admin_status.h"

json_t *sl_status_failure(unsigned code, const char *reason, const char *message, const char *kind,
                          const char *name, json_t *causes)
{
    json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                           "metadata", "status", "Failure", "message", message, "reason", reason, "code", (int)code);
    if (kind || name || causes) {
        json_t *details = json_object();
        if (name)
            json_object_set_new(details, "name", json_string(name));
        if (kind)
            json_object_set_new(details, "kind", json_string(kind));
        if (causes)
            json_object_set_new(details, "causes", causes);
        json_object_set_new(st, "details", details);
    }
    return st;
}

json_t *sl_status_success(const char *kind, const char *name, const char *uid)
{
    return json_pack("{s:s, s:s, s:{}, s:s, s:{s:s, s:s, s:s}}", "kind", "Status", "apiVersion", "v1", "metadata",
                     "status", "Success", "details", "name", name, "kind", kind, "uid", uid ? uid : "");
}

enum MHD_Result sl_admin_reply_text(sl_admin_req *r, unsigned code, const char *content_type, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    enum MHD_Result res = MHD_queue_response(r->conn, code, resp);
    MHD_destroy_response(resp);
    r->status_code = code;
    return res;
}

enum MHD_Result sl_admin_reply_json(sl_admin_req *r, unsigned code, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return sl_admin_reply_text(r, 500, "text/plain", "cannot encode the answer\n");
    size_t len = strlen(text);
    /* A newline after the document, as kubectl and curl users expect. */
    char *with_nl = realloc(text, len + 2);
    if (!with_nl) {
        free(text);
        return MHD_NO;
    }
    with_nl[len] = '\n';
    with_nl[len + 1] = '\0';
    struct MHD_Response *resp = MHD_create_response_from_buffer(len + 1, with_nl, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(with_nl);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    enum MHD_Result res = MHD_queue_response(r->conn, code, resp);
    MHD_destroy_response(resp);
    r->status_code = code;
    return res;
}

enum MHD_Result sl_admin_reply_error(sl_admin_req *r, unsigned code, const char *reason, const char *kind,
                                     const char *name, json_t *causes, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return sl_admin_reply_json(r, code, sl_status_failure(code, reason, message, kind, name, causes));
}

#include "admin/admin_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_internal.h"
#include "admin/admin_protobuf.h"
#include "admin/admin_status.h"
#include "common/log.h"
#include "daemon/yaml_json.h"

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

/* Headers of every answer; with ?wait=live, whether the write is live. */
static void add_headers(sl_admin_req *r, struct MHD_Response *resp, const char *content_type)
{
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    if (r->live) {
        MHD_add_response_header(resp, "Sluice-Live", r->live);
        if (strcmp(r->live, "true") != 0) /* kubectl prints Warning headers */
            MHD_add_response_header(resp, "Warning",
                                    "299 - \"stored, but not yet running in every worker (wait=live timed out)\"");
    }
}

/* Sends bytes (taken over: freed once sent) as the body. */
static enum MHD_Result reply_bytes(sl_admin_req *r, unsigned code, const char *content_type, void *bytes, size_t len);

enum MHD_Result sl_admin_reply_text(sl_admin_req *r, unsigned code, const char *content_type, const char *text)
{
    char *copy = strdup(text);
    return copy ? reply_bytes(r, code, content_type, copy, strlen(copy)) : MHD_NO;
}

enum MHD_Result sl_admin_reply_owned(sl_admin_req *r, unsigned code, const char *content_type, char *body, size_t len)
{
    return reply_bytes(r, code, content_type, body, len);
}

enum MHD_Result sl_admin_reply_owned_cb(sl_admin_req *r, unsigned code, const char *content_type, char *body,
                                        size_t len, void (*release)(void *), void *cls)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(len, body, release, cls);
    if (!resp) {
        release(cls);
        return MHD_NO;
    }
    add_headers(r, resp, content_type);
    enum MHD_Result res = MHD_queue_response(r->conn, code, resp);
    MHD_destroy_response(resp);
    r->status_code = code;
    return res;
}

static enum MHD_Result reply_bytes(sl_admin_req *r, unsigned code, const char *content_type, void *bytes, size_t len)
{
    return sl_admin_reply_owned_cb(r, code, content_type, bytes, len, free, bytes);
}

/* Answers in the Kubernetes protobuf encoding when the client prefers it and
 * the body has a protobuf form (an object of a core kind, a Status). Returns
 * false, keeping body, when the answer is to be JSON. */
static bool reply_protobuf(sl_admin_req *r, unsigned code, json_t *body, enum MHD_Result *res)
{
    if (!sl_pb_accept_prefers(sl_admin_header(r, "Accept")))
        return false;
    uint8_t *pb;
    size_t len;
    char why[256];
    sl_pb_rc rc = sl_pb_encode(body, &pb, &len, why, sizeof(why));
    if (rc != SL_PB_OK) {
        /* Lists and discovery documents have no protobuf form here: JSON, which
         * Kubernetes clients read too (they ask for protobuf "or JSON"). */
        if (rc == SL_PB_INVALID)
            sl_log_warn("admin", "%s %s: answering in JSON, as the answer has no protobuf form: %s", r->method,
                        r->url, why);
        return false;
    }
    json_decref(body);
    *res = reply_bytes(r, code, SL_PB_MEDIA_TYPE, pb, len);
    return true;
}

/* YAML for a client that asks for it first (Accept: application/yaml), as the
 * Kubernetes API server answers: the dashboard's editor and curl users. Errors
 * stay JSON Status objects, which every client reads. */
static bool reply_yaml(sl_admin_req *r, unsigned code, json_t *body, enum MHD_Result *res)
{
    const char *accept = sl_admin_header(r, "Accept");
    if (!accept || strncasecmp(accept, "application/yaml", 16) != 0 || code >= 400 || !json_is_object(body))
        return false;
    json_t *docs = json_pack("[O]", body);
    char *text = docs ? sl_yaml_dump(docs) : NULL;
    json_decref(docs);
    if (!text)
        return false;
    json_decref(body);
    *res = reply_bytes(r, code, "application/yaml", text, strlen(text));
    return true;
}

enum MHD_Result sl_admin_reply_json(sl_admin_req *r, unsigned code, json_t *body)
{
    enum MHD_Result res;
    if (body && reply_protobuf(r, code, body, &res))
        return res;
    if (body && reply_yaml(r, code, body, &res))
        return res;
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
    return reply_bytes(r, code, "application/json", with_nl, len + 1);
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

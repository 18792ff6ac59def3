/* The resource verbs of the admin API: get, list, create, update (PUT), patch,
 * delete and deletecollection, on items and on their /status subresource. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin/admin_internal.h"
#include "admin/admin_protobuf.h"
#include "admin/admin_select.h"
#include "common/log.h"
#include "common/sl.h"
#include "daemon/kube_sync.h"
#include "daemon/objects.h"
#include "daemon/yaml_json.h"

/* "httproutes.gateway.networking.k8s.io" or "services": how Kubernetes names a
 * resource in its messages. */
static void qualified(const sl_kind *k, char *out, size_t outlen)
{
    if (k->group[0])
        snprintf(out, outlen, "%s.%s", k->plural, k->group);
    else
        snprintf(out, outlen, "%s", k->plural);
}

static void set_type_meta(const sl_admin_path *p, json_t *obj)
{
    char api[192];
    sl_kind_api_version(p->kind, p->version, api, sizeof(api));
    json_object_set_new(obj, "apiVersion", json_string(api));
    json_object_set_new(obj, "kind", json_string(p->kind->kind));
}

static enum MHD_Result reply_object(sl_admin_req *r, const sl_admin_path *p, unsigned code, json_t *obj)
{
    set_type_meta(p, obj);
    return sl_admin_reply_json(r, code, obj);
}

static enum MHD_Result not_found(sl_admin_req *r, const sl_admin_path *p, const char *name)
{
    char q[256];
    qualified(p->kind, q, sizeof(q));
    return sl_admin_reply_error(r, 404, "NotFound", p->kind->plural, name, NULL, "%s \"%s\" not found", q, name);
}

static enum MHD_Result store_failure(sl_admin_req *r)
{
    if (sl_store_last_failure_full(r->admin->store))
        return sl_admin_reply_error(r, 507, "InsufficientStorage", NULL, NULL, NULL,
                                    "the disk holding the state dir is full: nothing was written; free space "
                                    "and try again");
    return sl_admin_reply_error(r, 500, "InternalError", NULL, NULL, NULL,
                                "the store could not complete the request; see the sluiced log");
}

/* ?wait=live (with &waitSeconds=N, default 10, at most 300): the answer to a
 * write waits until every worker of every Gateway runs a snapshot compiled from
 * the store as of this write or later (control->live_rv), so a script or the
 * dashboard that reads back through the gateway sees its change. The write is
 * durable either way: after the wait it answers as usual, with Sluice-Live:
 * true, or false and a Warning when the workers did not catch up in time. */
static void wait_live(sl_admin_req *r)
{
    const char *want = sl_admin_query(r, "wait");
    if (!want || strcmp(want, "live") != 0 || !r->admin->control)
        return;
    long long secs;
    enum MHD_Result unused;
    if (!sl_admin_query_count(r, "waitSeconds", &secs, &unused) || secs < 0)
        secs = 10;
    if (secs > 300)
        secs = 300;
    int64_t target = sl_store_config_rv(r->admin->store);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (atomic_load(&r->admin->control->live_rv) >= target) {
            r->live = "true";
            return;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= secs * 1000) {
            r->live = "false";
            return;
        }
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
}

static bool dry_run(sl_admin_req *r)
{
    const char *d = sl_admin_query(r, "dryRun");
    return d && strcmp(d, "All") == 0;
}

/* Parses the request body, JSON or Kubernetes protobuf, into a JSON object, or
 * replies 400 (or 415 for a protobuf kind or media type sluice does not read)
 * and returns NULL. */
static json_t *parse_body(sl_admin_req *r, const sl_admin_path *p, enum MHD_Result *res)
{
    const char *ct = sl_admin_header(r, "Content-Type");
    if (sl_pb_is_media_type(ct)) {
        char api[192], why[768];
        json_t *obj;
        sl_kind_api_version(p->kind, p->version, api, sizeof(api));
        sl_pb_rc rc = sl_pb_decode((const uint8_t *)r->body, r->body_len, api, p->kind->kind, &obj, why, sizeof(why));
        if (rc == SL_PB_OK)
            return obj;
        if (rc == SL_PB_UNSUPPORTED)
            *res = sl_admin_reply_error(r, 415, "UnsupportedMediaType", NULL, NULL, NULL, "%s", why);
        else
            *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL, "the request body is not valid %s: %s",
                                        SL_PB_MEDIA_TYPE, why);
        return NULL;
    }
    if (ct && strstr(ct, "protobuf")) {
        *res = sl_admin_reply_error(r, 415, "UnsupportedMediaType", NULL, NULL, NULL,
                                    "the body of the request was in an unknown format - accepted media types "
                                    "include: application/json, " SL_PB_MEDIA_TYPE);
        return NULL;
    }
    if (ct && (strncasecmp(ct, "application/yaml", 16) == 0 || strncasecmp(ct, "application/x-yaml", 18) == 0)) {
        /* One YAML document, as the Kubernetes API server takes it (the dashboard's editor). */
        char why[512];
        /* At most 4 nodes per byte (plain YAML has far fewer): aliases cannot amplify much. */
        json_t *docs = sl_yaml_load_limited(r->body, r->body_len, 4 * r->body_len + 1024, why, sizeof(why));
        bool parsed = docs != NULL;
        json_t *obj = json_array_size(docs) == 1 ? json_incref(json_array_get(docs, 0)) : NULL;
        json_decref(docs);
        if (!json_is_object(obj)) {
            json_decref(obj);
            *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                        "the request body is not one YAML document holding an object%s%s",
                                        parsed ? "" : ": ", parsed ? "" : why);
            return NULL;
        }
        return obj;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!obj) {
        *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "the request body is not valid JSON: %s (line %d, column %d)", jerr.text,
                                    jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return obj;
}

/* Checks that a body's apiVersion and kind agree with the URL (filling them in when
 * absent, as kubectl always sends them) and that its namespace agrees with the
 * path's. Replies 400 and returns false otherwise. */
static bool check_identity(sl_admin_req *r, const sl_admin_path *p, json_t *obj, enum MHD_Result *res)
{
    char api[192];
    sl_kind_api_version(p->kind, p->version, api, sizeof(api));
    const char *body_api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *body_kind = json_string_value(json_object_get(obj, "kind"));
    if (body_kind && strcmp(body_kind, p->kind->kind) != 0) {
        *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "the kind in the body (%s) does not match the resource (%s)", body_kind,
                                    p->kind->kind);
        return false;
    }
    if (body_api && strcmp(body_api, api) != 0 && !sl_kind_by_api_version(body_api, p->kind->kind)) {
        *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "the API version in the data (%s) does not match the expected API version (%s)",
                                    body_api, api);
        return false;
    }
    set_type_meta(p, obj);
    json_t *meta = sl_obj_metadata(obj);
    const char *ns = sl_obj_namespace(obj);
    if (p->kind->namespaced) {
        if (ns[0] && p->ns[0] && strcmp(ns, p->ns) != 0) {
            *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                        "the namespace of the provided object (%s) does not match the namespace "
                                        "sent on the request (%s)",
                                        ns, p->ns);
            return false;
        }
        if (!ns[0])
            json_object_set_new(meta, "namespace", json_string(p->ns[0] ? p->ns : "default"));
    }
    return true;
}

/* Validates a whole object; on failure replies 422 naming every bad field. */
static bool validate(sl_admin_req *r, const sl_admin_path *p, const json_t *obj, enum MHD_Result *res)
{
    sl_vctx v;
    sl_vctx_init(&v);
    sl_kind_validate(p->kind, &v, obj);
    /* The syncer's marks say an object is the cluster's: not something a
     * client may claim (an object carrying them would be locked to a cluster). */
    static const char *const synced_marks[] = {SL_SYNCED_ANNOTATION, SL_CLUSTER_UID_ANNOTATION, SL_CLUSTER_RV_ANNOTATION,
                                               SL_SYNCED_BY_ANNOTATION};
    const json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
    for (size_t i = 0; i < SL_ARRAY_LEN(synced_marks) && strcmp(p->subresource, "status") != 0; i++)
        if (json_object_get(ann, synced_marks[i])) {
            char field[128];
            snprintf(field, sizeof(field), "metadata.annotations[%s]", synced_marks[i]);
            size_t at = sl_v_field(&v, field);
            sl_v_fail(&v, NULL, "FieldValueForbidden",
                      "set only by the Kubernetes syncer (--kubernetes) for the objects it mirrors; remove it");
            sl_v_pop(&v, at);
        }
    if (sl_vctx_count(&v) == 0) {
        sl_vctx_free(&v);
        return true;
    }
    char q[256], message[1024];
    int used = snprintf(message, sizeof(message), "%s.%s \"%s\" is invalid: ", p->kind->kind,
                        p->kind->group[0] ? p->kind->group : "", sl_obj_name(obj));
    if (!p->kind->group[0])
        used = snprintf(message, sizeof(message), "%s \"%s\" is invalid: ", p->kind->kind, sl_obj_name(obj));
    for (size_t i = 0; i < json_array_size(v.causes) && used > 0 && (size_t)used < sizeof(message); i++) {
        json_t *c = json_array_get(v.causes, i);
        used += snprintf(message + used, sizeof(message) - (size_t)used, "%s%s: %s", i ? ", " : "",
                         json_string_value(json_object_get(c, "field")),
                         json_string_value(json_object_get(c, "message")));
    }
    qualified(p->kind, q, sizeof(q));
    (void)q;
    *res = sl_admin_reply_json(r, 422,
                               sl_status_failure(422, "Invalid", message, p->kind->kind, sl_obj_name(obj),
                                                 json_incref(v.causes)));
    sl_vctx_free(&v);
    return false;
}

static enum MHD_Result do_get(sl_admin_req *r, const sl_admin_path *p)
{
    json_t *obj;
    int rc = sl_store_get(r->admin->store, p->kind->kind, p->ns, p->name, &obj);
    if (rc == SL_NOTFOUND)
        return not_found(r, p, p->name);
    if (rc != SL_OK)
        return store_failure(r);
    return reply_object(r, p, 200, obj);
}

/* Parses labelSelector and fieldSelector; replies 400 when malformed. */
static bool parse_selectors(sl_admin_req *r, sl_selector **labels, sl_selector **fields, enum MHD_Result *res)
{
    char err[256];
    *labels = sl_label_selector_parse(sl_admin_query(r, "labelSelector"), err, sizeof(err));
    if (!*labels) {
        *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL, "invalid labelSelector: %s", err);
        return false;
    }
    *fields = sl_field_selector_parse(sl_admin_query(r, "fieldSelector"), err, sizeof(err));
    if (!*fields) {
        sl_selector_free(*labels);
        *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL, "invalid fieldSelector: %s", err);
        return false;
    }
    return true;
}

static enum MHD_Result do_list(sl_admin_req *r, const sl_admin_path *p)
{
    enum MHD_Result res;
    sl_selector *labels, *fields;
    /* limit is accepted and the whole list returned (no pagination: lists are
     * small), but it must be a valid number, as the API server insists. */
    long long limit;
    if (!sl_admin_query_count(r, "limit", &limit, &res) || !sl_admin_query_count(r, "timeoutSeconds", &limit, &res))
        return res;
    if (!parse_selectors(r, &labels, &fields, &res))
        return res;
    json_t *items;
    int64_t rv;
    if (sl_store_list(r->admin->store, p->kind->kind, p->ns, &items, &rv) != SL_OK) {
        json_decref(items);
        sl_selector_free(labels);
        sl_selector_free(fields);
        return store_failure(r);
    }
    json_t *kept = json_array();
    size_t i;
    json_t *obj;
    json_array_foreach(items, i, obj)
    {
        if (sl_selector_matches(labels, obj) && sl_selector_matches(fields, obj)) {
            set_type_meta(p, obj);
            json_array_append(kept, obj);
        }
    }
    json_decref(items);
    sl_selector_free(labels);
    sl_selector_free(fields);
    char api[192], list_kind[96], rvs[32];
    sl_kind_api_version(p->kind, p->version, api, sizeof(api));
    snprintf(list_kind, sizeof(list_kind), "%sList", p->kind->kind);
    snprintf(rvs, sizeof(rvs), "%lld", (long long)rv);
    return sl_admin_reply_json(r, 200,
                               json_pack("{s:s, s:s, s:{s:s}, s:o}", "apiVersion", api, "kind", list_kind, "metadata",
                                         "resourceVersion", rvs, "items", kept));
}

/* Fills metadata.name from metadata.generateName when only the latter is given. */
static void generate_name(json_t *obj)
{
    json_t *meta = sl_obj_metadata(obj);
    const char *prefix = json_string_value(json_object_get(meta, "generateName"));
    if (sl_obj_name(obj)[0] || !prefix)
        return;
    char uid[37], name[300];
    sl_uuid4(uid);
    snprintf(name, sizeof(name), "%s%.5s", prefix, uid);
    json_object_set_new(meta, "name", json_string(name));
}

static enum MHD_Result do_create(sl_admin_req *r, const sl_admin_path *p)
{
    enum MHD_Result res;
    json_t *obj = parse_body(r, p, &res);
    if (!obj)
        return res;
    if (!check_identity(r, p, obj, &res)) {
        json_decref(obj);
        return res;
    }
    generate_name(obj);
    if (!validate(r, p, obj, &res)) {
        json_decref(obj);
        return res;
    }
    sl_store *s = r->admin->store;
    const char *ns = p->kind->namespaced ? sl_obj_namespace(obj) : "";
    if (sl_store_write_begin(s) != SL_OK) {
        json_decref(obj);
        return store_failure(r);
    }
    json_t *existing = NULL;
    if (p->kind->namespaced && sl_store_get(s, "Namespace", "", ns, &existing) == SL_NOTFOUND) {
        sl_store_write_rollback(s);
        res = sl_admin_reply_error(r, 404, "NotFound", "namespaces", ns, NULL, "namespaces \"%s\" not found", ns);
        json_decref(obj);
        return res;
    }
    json_decref(existing);
    existing = NULL;
    if (sl_store_get(s, p->kind->kind, ns, sl_obj_name(obj), &existing) == SL_OK) {
        sl_store_write_rollback(s);
        json_decref(existing);
        char q[256];
        qualified(p->kind, q, sizeof(q));
        res = sl_admin_reply_error(r, 409, "AlreadyExists", p->kind->plural, sl_obj_name(obj), NULL,
                                   "%s \"%s\" already exists", q, sl_obj_name(obj));
        json_decref(obj);
        return res;
    }
    int64_t rv = sl_store_next_rv(s);
    sl_obj_prepare_create(p->kind, obj, rv);
    if (dry_run(r)) {
        sl_store_write_rollback(s);
        return reply_object(r, p, 201, obj);
    }
    if (sl_store_put(s, p->kind->kind, obj, "ADDED", rv) != SL_OK) {
        sl_store_write_rollback(s);
        json_decref(obj);
        return store_failure(r);
    }
    if (sl_store_write_commit(s) != SL_OK) {
        json_decref(obj);
        return store_failure(r);
    }
    sl_log_info("admin", "created %s %s%s%s (resourceVersion %lld)", p->kind->kind, ns, ns[0] ? "/" : "",
                sl_obj_name(obj), (long long)rv);
    wait_live(r);
    return reply_object(r, p, 201, obj);
}

/* With --config-dir, the objects from its files belong to the directory: a
 * write here would be undone by the next change of the files, so it is
 * refused (409, as Kubernetes refuses writes to objects another manager owns)
 * with the file to change instead. Status writes are the controller's: allowed. */
static const char *file_of(sl_admin_req *r, const json_t *obj)
{
    if (!r->admin->config_dir)
        return NULL;
    return json_string_value(json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"),
                                             SL_CONFIG_FILE_ANNOTATION));
}

/* A Namespace deleted takes its objects along: not those of the directory. */
static const char *file_inside(sl_admin_req *r, const sl_admin_path *p, const json_t *ns)
{
    if (!r->admin->config_dir || strcmp(p->kind->kind, "Namespace") != 0)
        return NULL;
    for (const sl_kind *k = sl_kinds; k->kind; k++) {
        json_t *items = NULL;
        int64_t unused;
        if (!k->namespaced || sl_store_list(r->admin->store, k->kind, sl_obj_name(ns), &items, &unused) != SL_OK) {
            json_decref(items);
            continue;
        }
        size_t i;
        json_t *obj;
        json_array_foreach(items, i, obj) if (file_of(r, obj))
        {
            static __thread char file[300];
            snprintf(file, sizeof(file), "%s", file_of(r, obj));
            json_decref(items);
            return file;
        }
        json_decref(items);
    }
    return NULL;
}

/* The cluster an object is synced from, when that is this sluiced's
 * (--kubernetes); else NULL (a mark left from an earlier run is not an owner). */
static const char *cluster_of(sl_admin_req *r, const json_t *obj)
{
    const char *cluster = json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), SL_SYNCED_ANNOTATION));
    return cluster && r->admin->kube_server && strcmp(cluster, r->admin->kube_server) == 0 ? cluster : NULL;
}

/* Objects that belong to a --config-dir file or to a Kubernetes cluster are
 * changed there, not through this API (their status is the controller's to
 * write). True with the 409 answer in *res. */
static bool owned_by_files(sl_admin_req *r, const sl_admin_path *p, const json_t *old, const char *verb,
                           enum MHD_Result *res)
{
    const char *cluster = cluster_of(r, old);
    if (cluster && strcmp(p->subresource, "status") != 0) {
        char q[256];
        qualified(p->kind, q, sizeof(q));
        *res = sl_admin_reply_error(r, 409, "Conflict", p->kind->plural, p->name, NULL,
                                    "cannot %s %s \"%s\": it is synced from the Kubernetes cluster at %s "
                                    "(--kubernetes), which owns it; change it in the cluster",
                                    verb, q, p->name, cluster);
        return true;
    }
    const char *file = file_of(r, old), *holds = NULL;
    if (!file && strcmp(verb, "delete") == 0)
        file = holds = file_inside(r, p, old);
    if (!file || strcmp(p->subresource, "status") == 0)
        return false;
    char q[256];
    qualified(p->kind, q, sizeof(q));
    *res = sl_admin_reply_error(r, 409, "Conflict", p->kind->plural, p->name, NULL,
                                "cannot %s %s \"%s\": %s the file %s/%s (--config-dir); change the file instead",
                                verb, q, p->name, holds ? "it holds objects from" : "it comes from",
                                r->admin->config_dir, file);
    return true;
}

static enum MHD_Result conflict(sl_admin_req *r, const sl_admin_path *p)
{
    char q[256];
    qualified(p->kind, q, sizeof(q));
    return sl_admin_reply_error(r, 409, "Conflict", p->kind->plural, p->name, NULL,
                                "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
                                "apply your changes to the latest version and try again",
                                q, p->name);
}

/* Writes `updated` (a candidate replacement of `old`) within the open transaction,
 * after the resourceVersion precondition. Takes ownership of updated. */
static enum MHD_Result finish_update(sl_admin_req *r, const sl_admin_path *p, json_t *updated, json_t *old,
                                     int64_t expected_rv)
{
    sl_store *s = r->admin->store;
    enum MHD_Result res;
    if (expected_rv < 0) {
        sl_store_write_rollback(s);
        json_decref(updated);
        json_decref(old);
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "metadata.resourceVersion must be a string holding a decimal number "
                                    "(as read from the object)");
    }
    if (expected_rv > 0 && expected_rv != sl_obj_resource_version(old)) {
        sl_store_write_rollback(s);
        json_decref(updated);
        json_decref(old);
        return conflict(r, p);
    }
    bool status = strcmp(p->subresource, "status") == 0;
    int64_t rv = sl_store_next_rv(s);
    json_t *obj;
    if (status) {
        sl_store_write_status_only(s);
        obj = sl_obj_apply_status(updated, old, rv);
        json_decref(updated);
    } else {
        if (!validate(r, p, updated, &res)) {
            sl_store_write_rollback(s);
            json_decref(updated);
            json_decref(old);
            return res;
        }
        obj = updated;
        sl_obj_prepare_update(p->kind, obj, old, rv);
    }
    /* A write that changes nothing is not a write: no new version, no event. */
    json_t *old_cmp = json_deep_copy(old), *new_cmp = json_deep_copy(obj);
    json_object_del(sl_obj_metadata(old_cmp), "resourceVersion");
    json_object_del(sl_obj_metadata(new_cmp), "resourceVersion");
    bool unchanged = json_equal(old_cmp, new_cmp);
    json_decref(old_cmp);
    json_decref(new_cmp);
    if (unchanged) {
        sl_store_write_rollback(s);
        json_decref(obj);
        return reply_object(r, p, 200, old);
    }
    if (dry_run(r)) {
        sl_store_write_rollback(s);
        json_decref(old);
        return reply_object(r, p, 200, obj);
    }
    json_decref(old);
    if (sl_store_put(s, p->kind->kind, obj, "MODIFIED", rv) != SL_OK) {
        sl_store_write_rollback(s);
        json_decref(obj);
        return store_failure(r);
    }
    if (sl_store_write_commit(s) != SL_OK) {
        json_decref(obj);
        return store_failure(r);
    }
    sl_log_info("admin", "updated %s %s%s%s%s (resourceVersion %lld)", p->kind->kind, p->ns, p->ns[0] ? "/" : "",
                p->name, status ? " status" : "", (long long)rv);
    if (!status)
        wait_live(r); /* status is not configuration: nothing to wait for */
    return reply_object(r, p, 200, obj);
}

static enum MHD_Result do_replace(sl_admin_req *r, const sl_admin_path *p)
{
    enum MHD_Result res;
    json_t *obj = parse_body(r, p, &res);
    if (!obj)
        return res;
    if (!check_identity(r, p, obj, &res)) {
        json_decref(obj);
        return res;
    }
    if (strcmp(sl_obj_name(obj), p->name) != 0) {
        json_decref(obj);
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "the name of the object (%s) does not match the name on the URL (%s)",
                                    sl_obj_name(obj), p->name);
    }
    int64_t expected = sl_obj_resource_version(obj);
    sl_store *s = r->admin->store;
    if (sl_store_write_begin(s) != SL_OK) {
        json_decref(obj);
        return store_failure(r);
    }
    json_t *old;
    int rc = sl_store_get(s, p->kind->kind, p->ns, p->name, &old);
    if (rc != SL_OK) {
        sl_store_write_rollback(s);
        json_decref(obj);
        return rc == SL_NOTFOUND ? not_found(r, p, p->name) : store_failure(r);
    }
    if (owned_by_files(r, p, old, "replace", &res)) {
        sl_store_write_rollback(s);
        json_decref(obj);
        json_decref(old);
        return res;
    }
    return finish_update(r, p, obj, old, expected);
}

/* A patch may not rename, move or retype the object it is applied to: say so
 * (400) rather than drop the change silently. Fields equal to the object's own
 * (kubectl sends some of them back) are fine. */
static bool patch_keeps_identity(sl_admin_req *r, const sl_admin_path *p, const json_t *patch,
                                 enum MHD_Result *res)
{
    const json_t *meta = json_object_get(patch, "metadata");
    const json_t *kind = json_object_get(patch, "kind");
    const json_t *name = json_object_get(meta, "name");
    const json_t *ns = json_object_get(meta, "namespace");
    const char *what = NULL;
    if (kind && !(json_is_string(kind) && strcmp(json_string_value(kind), p->kind->kind) == 0))
        what = "kind";
    else if (name && !(json_is_string(name) && strcmp(json_string_value(name), p->name) == 0))
        what = "metadata.name";
    else if (ns && !(json_is_string(ns) && strcmp(json_string_value(ns), p->ns) == 0))
        what = "metadata.namespace";
    if (!what)
        return true;
    *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                "a patch cannot change %s: %s %s%s%s keeps its identity (create a new object "
                                "and delete this one instead)",
                                what, p->kind->kind, p->ns, p->ns[0] ? "/" : "", p->name);
    return false;
}

static enum MHD_Result do_patch(sl_admin_req *r, const sl_admin_path *p)
{
    const char *ct = sl_admin_header(r, "Content-Type");
    if (!ct || (strncmp(ct, "application/merge-patch+json", 28) != 0 &&
                strncmp(ct, "application/strategic-merge-patch+json", 38) != 0))
        return sl_admin_reply_error(r, 415, "UnsupportedMediaType", NULL, NULL, NULL,
                                    "the body of the request was in an unknown format - accepted media types "
                                    "include: application/merge-patch+json, application/strategic-merge-patch+json");
    enum MHD_Result res;
    json_t *patch = parse_body(r, p, &res);
    if (!patch)
        return res;
    if (!patch_keeps_identity(r, p, patch, &res)) {
        json_decref(patch);
        return res;
    }
    int64_t expected = sl_obj_resource_version(patch);
    sl_store *s = r->admin->store;
    if (sl_store_write_begin(s) != SL_OK) {
        json_decref(patch);
        return store_failure(r);
    }
    json_t *old;
    int rc = sl_store_get(s, p->kind->kind, p->ns, p->name, &old);
    if (rc != SL_OK) {
        sl_store_write_rollback(s);
        json_decref(patch);
        return rc == SL_NOTFOUND ? not_found(r, p, p->name) : store_failure(r);
    }
    if (owned_by_files(r, p, old, "patch", &res)) {
        sl_store_write_rollback(s);
        json_decref(patch);
        json_decref(old);
        return res;
    }
    json_t *updated = sl_merge_patch(old, patch);
    json_decref(patch);
    /* Identity fields cannot be patched away. */
    set_type_meta(p, updated);
    json_t *meta = sl_obj_metadata(updated);
    json_object_set_new(meta, "name", json_string(p->name));
    if (p->kind->namespaced)
        json_object_set_new(meta, "namespace", json_string(sl_obj_namespace(old)));
    return finish_update(r, p, updated, old, expected);
}

/* Deletes one object inside the open transaction, logging DELETED. When the object
 * is a Namespace, everything in it goes too, as in Kubernetes. */
static int delete_locked(sl_store *s, const sl_kind *k, json_t *old)
{
    if (strcmp(k->kind, "Namespace") == 0) {
        for (const sl_kind *nk = sl_kinds; nk->kind; nk++) {
            if (!nk->namespaced)
                continue;
            json_t *items;
            int64_t unused;
            if (sl_store_list(s, nk->kind, sl_obj_name(old), &items, &unused) != SL_OK) {
                json_decref(items);
                return SL_ERR;
            }
            size_t i;
            json_t *item;
            json_array_foreach(items, i, item)
            {
                if (delete_locked(s, nk, item) != SL_OK) {
                    json_decref(items);
                    return SL_ERR;
                }
            }
            json_decref(items);
        }
    }
    int64_t rv = sl_store_next_rv(s);
    char rvs[32];
    snprintf(rvs, sizeof(rvs), "%lld", (long long)rv);
    json_object_set_new(sl_obj_metadata(old), "resourceVersion", json_string(rvs));
    return sl_store_delete(s, k->kind, old, rv);
}

static enum MHD_Result do_delete(sl_admin_req *r, const sl_admin_path *p)
{
    sl_store *s = r->admin->store;
    if (sl_store_write_begin(s) != SL_OK)
        return store_failure(r);
    json_t *old;
    int rc = sl_store_get(s, p->kind->kind, p->ns, p->name, &old);
    if (rc != SL_OK) {
        sl_store_write_rollback(s);
        return rc == SL_NOTFOUND ? not_found(r, p, p->name) : store_failure(r);
    }
    enum MHD_Result res;
    if (owned_by_files(r, p, old, "delete", &res)) {
        sl_store_write_rollback(s);
        json_decref(old);
        return res;
    }
    if (delete_locked(s, p->kind, old) != SL_OK) {
        sl_store_write_rollback(s);
        json_decref(old);
        return store_failure(r);
    }
    if (dry_run(r)) {
        sl_store_write_rollback(s);
        return reply_object(r, p, 200, old);
    }
    if (sl_store_write_commit(s) != SL_OK) {
        json_decref(old);
        return store_failure(r);
    }
    sl_log_info("admin", "deleted %s %s%s%s", p->kind->kind, p->ns, p->ns[0] ? "/" : "", p->name);
    wait_live(r);
    return reply_object(r, p, 200, old);
}

static enum MHD_Result do_delete_collection(sl_admin_req *r, const sl_admin_path *p)
{
    enum MHD_Result res;
    sl_selector *labels, *fields;
    if (!parse_selectors(r, &labels, &fields, &res))
        return res;
    sl_store *s = r->admin->store;
    if (sl_store_write_begin(s) != SL_OK) {
        sl_selector_free(labels);
        sl_selector_free(fields);
        return store_failure(r);
    }
    json_t *items;
    int64_t unused;
    int rc = sl_store_list(s, p->kind->kind, p->ns, &items, &unused);
    json_t *deleted = json_array();
    size_t i;
    json_t *obj;
    json_array_foreach(items, i, obj)
    {
        if (rc != SL_OK)
            break;
        if (!sl_selector_matches(labels, obj) || !sl_selector_matches(fields, obj))
            continue;
        if (file_of(r, obj) || cluster_of(r, obj))
            continue; /* the directory's (--config-dir) or the cluster's (--kubernetes): left to them */
        rc = delete_locked(s, p->kind, obj);
        set_type_meta(p, obj);
        json_array_append(deleted, obj);
    }
    json_decref(items);
    sl_selector_free(labels);
    sl_selector_free(fields);
    if (rc != SL_OK || dry_run(r)) {
        sl_store_write_rollback(s);
        if (rc != SL_OK) {
            json_decref(deleted);
            return store_failure(r);
        }
    } else if (sl_store_write_commit(s) != SL_OK) {
        json_decref(deleted);
        return store_failure(r);
    }
    char api[192], list_kind[96];
    sl_kind_api_version(p->kind, p->version, api, sizeof(api));
    snprintf(list_kind, sizeof(list_kind), "%sList", p->kind->kind);
    return sl_admin_reply_json(r, 200,
                               json_pack("{s:s, s:s, s:{}, s:o}", "apiVersion", api, "kind", list_kind, "metadata",
                                         "items", deleted));
}

static enum MHD_Result method_not_allowed(sl_admin_req *r)
{
    return sl_admin_reply_error(r, 405, "MethodNotAllowed", NULL, NULL, NULL,
                                "the server does not allow this method on the requested resource (%s %s)", r->method,
                                r->url);
}

enum MHD_Result sl_admin_handle_resource(sl_admin_req *r, const sl_admin_path *p)
{
    const char *m = r->method;
    /* A namespaced kind's collection without a namespace lists across all of them,
     * and is read-only, as in Kubernetes. */
    bool collection = !p->name[0];
    bool all_namespaces = collection && p->kind->namespaced && !p->ns[0];
    bool item_path_ok = !p->kind->namespaced || p->ns[0];
    if (p->subresource[0] && !p->kind->has_status)
        return sl_admin_reply_error(r, 404, "NotFound", NULL, NULL, NULL,
                                    "%s has no status subresource", p->kind->plural);
    if (collection) {
        if (strcmp(m, "GET") == 0) {
            r->verb = "list";
            return do_list(r, p);
        }
        if (strcmp(m, "POST") == 0 && !all_namespaces) {
            r->verb = "create";
            return do_create(r, p);
        }
        if (strcmp(m, "DELETE") == 0 && !all_namespaces) {
            r->verb = "deletecollection";
            return do_delete_collection(r, p);
        }
        return method_not_allowed(r);
    }
    if (!item_path_ok)
        return sl_admin_reply_error(r, 404, "NotFound", NULL, NULL, NULL,
                                    "%s is namespaced: use /namespaces/{namespace}/%s/%s", p->kind->plural,
                                    p->kind->plural, p->name);
    if (strcmp(m, "GET") == 0) {
        r->verb = "get";
        return do_get(r, p);
    }
    if (strcmp(m, "PUT") == 0) {
        r->verb = "update";
        return do_replace(r, p);
    }
    if (strcmp(m, "PATCH") == 0) {
        r->verb = "patch";
        return do_patch(r, p);
    }
    if (strcmp(m, "DELETE") == 0 && !p->subresource[0]) {
        r->verb = "delete";
        return do_delete(r, p);
    }
    return method_not_allowed(r);
}

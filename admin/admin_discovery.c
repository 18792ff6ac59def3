/* API discovery, generated from the kind registry: /api, /api/v1, /apis,
 * /apis/{group} and /apis/{group}/{version}, as kubectl expects them. */
#include <stdio.h>
#include <string.h>

#include "admin/admin_internal.h"

static json_t *resource_verbs(void)
{
    return json_pack("[s,s,s,s,s,s,s,s]", "create", "delete", "deletecollection", "get", "list", "patch", "update",
                     "watch");
}

static json_t *resource_list(const char *group, const char *version)
{
    json_t *resources = json_array();
    for (const sl_kind *k = sl_kinds; k->kind; k++) {
        if (strcmp(k->group, group) != 0 || !sl_kind_serves_version(k, version))
            continue;
        json_t *shorts = json_array();
        for (int i = 0; i < 3 && k->short_names[i]; i++)
            json_array_append_new(shorts, json_string(k->short_names[i]));
        json_t *res = json_pack("{s:s, s:s, s:b, s:s, s:o, s:o}", "name", k->plural, "singularName", k->singular,
                                "namespaced", k->namespaced, "kind", k->kind, "verbs", resource_verbs(),
                                "shortNames", shorts);
        if (k->group[0])
            json_object_set_new(res, "categories", json_pack("[s]", "sluice"));
        json_array_append_new(resources, res);
        if (k->has_status) {
            char name[96];
            snprintf(name, sizeof(name), "%s/status", k->plural);
            json_array_append_new(resources, json_pack("{s:s, s:s, s:b, s:s, s:[s,s,s]}", "name", name,
                                                       "singularName", "", "namespaced", k->namespaced, "kind",
                                                       k->kind, "verbs", "get", "patch", "update"));
        }
    }
    if (json_array_size(resources) == 0) {
        json_decref(resources);
        return NULL;
    }
    char gv[192];
    if (group[0])
        snprintf(gv, sizeof(gv), "%s/%s", group, version);
    else
        snprintf(gv, sizeof(gv), "%s", version);
    return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1", "groupVersion", gv,
                     "resources", resources);
}

/* Builds the APIGroup document of a group, or NULL when no kind is in it. */
static json_t *api_group(const char *group)
{
    const char *seen[8];
    int nseen = 0;
    json_t *versions = json_array();
    const char *preferred = NULL;
    for (const sl_kind *k = sl_kinds; k->kind; k++) {
        if (strcmp(k->group, group) != 0)
            continue;
        for (int i = 0; i < 3 && k->versions[i]; i++) {
            bool dup = false;
            for (int j = 0; j < nseen; j++)
                if (strcmp(seen[j], k->versions[i]) == 0)
                    dup = true;
            if (dup || nseen == 8)
                continue;
            seen[nseen++] = k->versions[i];
            if (!preferred)
                preferred = k->versions[i];
        }
    }
    if (!preferred) {
        json_decref(versions);
        return NULL;
    }
    char gv[192];
    for (int j = 0; j < nseen; j++) {
        snprintf(gv, sizeof(gv), "%s/%s", group, seen[j]);
        json_array_append_new(versions, json_pack("{s:s, s:s}", "groupVersion", gv, "version", seen[j]));
    }
    snprintf(gv, sizeof(gv), "%s/%s", group, preferred);
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:s}}", "kind", "APIGroup", "apiVersion", "v1", "name", group,
                     "versions", versions, "preferredVersion", "groupVersion", gv, "version", preferred);
}

static json_t *api_group_list(void)
{
    json_t *groups = json_array();
    for (const sl_kind *k = sl_kinds; k->kind; k++) {
        if (!k->group[0])
            continue;
        bool dup = false;
        for (const sl_kind *e = sl_kinds; e != k; e++)
            if (strcmp(e->group, k->group) == 0)
                dup = true;
        if (dup)
            continue;
        json_t *g = api_group(k->group);
        json_object_del(g, "kind");
        json_object_del(g, "apiVersion");
        json_array_append_new(groups, g);
    }
    return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", groups);
}

bool sl_admin_handle_discovery(sl_admin_req *r, enum MHD_Result *result)
{
    if (strcmp(r->method, "GET") != 0)
        return false;
    char url[512];
    snprintf(url, sizeof(url), "%s", r->url);
    size_t n = strlen(url);
    while (n > 1 && url[n - 1] == '/')
        url[--n] = '\0';
    json_t *doc = NULL;
    if (strcmp(url, "/api") == 0) {
        doc = json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
                        "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress", "");
    } else if (strcmp(url, "/api/v1") == 0) {
        doc = resource_list("", "v1");
    } else if (strcmp(url, "/apis") == 0) {
        doc = api_group_list();
    } else if (strncmp(url, "/apis/", 6) == 0) {
        char group[128], version[32];
        const char *rest = url + 6;
        const char *slash = strchr(rest, '/');
        if (!slash) {
            if (strlen(rest) < sizeof(group)) {
                memcpy(group, rest, strlen(rest) + 1);
                doc = api_group(group);
            }
        } else if (!strchr(slash + 1, '/') && (size_t)(slash - rest) < sizeof(group) &&
                   strlen(slash + 1) < sizeof(version)) {
            memcpy(group, rest, (size_t)(slash - rest));
            group[slash - rest] = '\0';
            memcpy(version, slash + 1, strlen(slash + 1) + 1);
            doc = resource_list(group, version);
        }
    }
    if (!doc)
        return false;
    *result = sl_admin_reply_json(r, 200, doc);
    return true;
}

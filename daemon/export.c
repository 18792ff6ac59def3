/* `sluiced export --state-dir DIR`: every stored object as one multi-document
 * YAML on standard output, as a user wrote it (sl_obj_user_form: no uid,
 * resourceVersion, generation, timestamps or controller-written status, and
 * no --config-dir mark), Namespaces first, so that --config-dir or
 * `kubectl apply -f` takes it back to the same objects. It reads the store
 * whether or not sluiced runs (SQLite's WAL lets a reader in beside it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/export.h"
#include "daemon/kube_sync.h"
#include "daemon/objects.h"
#include "daemon/store.h"
#include "daemon/yaml_json.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: sluiced export --state-dir DIR [--output yaml|json]\n"
               "  prints every stored object as multi-document YAML (or a JSON List) on standard output,\n"
               "  in the form --config-dir and `kubectl apply -f` take back\n");
}

json_t *sl_export_objects(sl_store *s)
{
    json_t *out = json_array();
    for (const sl_kind *k = sl_kinds; k->kind; k++) {
        json_t *items;
        int64_t unused;
        if (sl_store_list(s, k->kind, "", &items, &unused) != SL_OK) {
            json_decref(items);
            json_decref(out);
            return NULL;
        }
        size_t i;
        json_t *obj;
        json_array_foreach(items, i, obj)
        {
            json_t *user = sl_obj_user_form(k, obj);
            json_t *meta = sl_obj_metadata(user);
            json_t *ann = json_object_get(meta, "annotations");
            if (ann) {
                /* (where an object came from is not part of it: the export is written back elsewhere) */
                json_object_del(ann, SL_CONFIG_FILE_ANNOTATION);
                json_object_del(ann, SL_SYNCED_ANNOTATION);
                json_object_del(ann, SL_CLUSTER_UID_ANNOTATION);
                json_object_del(ann, SL_CLUSTER_RV_ANNOTATION);
                json_object_del(ann, SL_SYNCED_BY_ANNOTATION);
                if (json_object_size(ann) == 0)
                    json_object_del(meta, "annotations");
            }
            json_array_append_new(out, user);
        }
        json_decref(items);
    }
    return out;
}

int sl_export_main(int argc, char **argv)
{
    const char *state_dir = getenv("SLUICE_STATE_DIR");
    const char *output = "yaml";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc) {
            state_dir = argv[++i];
        } else if (strncmp(argv[i], "--state-dir=", 12) == 0) {
            state_dir = argv[i] + 12;
        } else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc) {
            output = argv[++i];
        } else if (strncmp(argv[i], "--output=", 9) == 0) {
            output = argv[i] + 9;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "sluiced export: unknown argument %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!state_dir || !*state_dir) {
        fprintf(stderr, "sluiced export: --state-dir DIR (or SLUICE_STATE_DIR) is required\n");
        return 2;
    }
    if (strcmp(output, "yaml") != 0 && strcmp(output, "json") != 0) {
        fprintf(stderr, "sluiced export: --output is yaml or json, not %s\n", output);
        return 2;
    }
    sl_log_set_level(SL_LOG_WARN);
    char err[512];
    sl_store *s = sl_store_open(state_dir, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "sluiced export: %s\n", err);
        return 1;
    }
    json_t *objects = sl_export_objects(s);
    sl_store_close(s);
    if (!objects) {
        fprintf(stderr, "sluiced export: cannot read the store\n");
        return 1;
    }
    char *text;
    if (strcmp(output, "json") == 0) {
        json_t *list = json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items", objects);
        text = json_dumps(list, JSON_INDENT(2));
        json_decref(list);
    } else {
        text = sl_yaml_dump(objects);
    }
    json_decref(objects);
    if (!text) {
        fprintf(stderr, "sluiced export: out of memory\n");
        return 1;
    }
    fputs(text, stdout);
    if (strcmp(output, "json") == 0)
        fputc('\n', stdout);
    free(text);
    return fflush(stdout) == 0 ? 0 : 1;
}

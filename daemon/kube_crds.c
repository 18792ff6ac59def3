/* The CRDs of our own kinds from the kinds table and the schemas in api/ (see
 * daemon/kube_crds.h). */
#include "daemon/kube_crds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api_schema.h"
#include "daemon/kinds.h"
#include "daemon/yaml_json.h"

#define SLUICE_GROUP "gateway.sluice.dev"

static json_t *string_list(const char *const *names, size_t max)
{
    json_t *a = json_array();
    for (size_t i = 0; i < max && names[i]; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

static json_t *crd(const sl_kind *k, const json_t *spec_schema)
{
    json_t *root = json_pack("{s:s, s:s, s:[s], s:{s:{s:s}, s:{s:s}, s:{s:s}, s:O, s:{s:s, s:b}}}",
                             "type", "object", "description",
                             "Generated from sluice's api/ schemas; sluiced checks the same when it mirrors the object.",
                             "required", "spec", "properties", "apiVersion", "type", "string", "kind", "type",
                             "string", "metadata", "type", "object", "spec", spec_schema, "status", "type", "object",
                             "x-kubernetes-preserve-unknown-fields", 1);
    json_t *version = json_pack("{s:s, s:b, s:b, s:{s:{}}, s:{s:o}}", "name", k->versions[0], "served", 1,
                                "storage", 1, "subresources", "status", "schema", "openAPIV3Schema", root);
    json_t *versions = json_array();
    json_array_append_new(versions, version);
    char name[256];
    snprintf(name, sizeof(name), "%s.%s", k->plural, k->group);
    json_t *names = json_pack("{s:s, s:s, s:s, s:o, s:[s]}", "plural", k->plural, "singular", k->singular, "kind",
                              k->kind, "shortNames", string_list(k->short_names, 3), "categories", "sluice");
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:o, s:o}}", "apiVersion", "apiextensions.k8s.io/v1", "kind",
                     "CustomResourceDefinition", "metadata", "name", name, "spec", "group", k->group, "scope",
                     k->namespaced ? "Namespaced" : "Cluster", "names", names, "versions", versions);
}

json_t *sl_kube_crds(void)
{
    json_t *docs = json_array();
    for (const sl_kind *k = sl_kinds; k->kind; k++) {
        if (strcmp(k->group, SLUICE_GROUP) != 0)
            continue;
        const json_t *schema = sl_api_schema(k->singular);
        if (!schema) {
            fprintf(stderr, "sluiced: kind %s has no schema (api/%s.yaml)\n", k->kind, k->singular);
            json_decref(docs);
            return NULL;
        }
        json_array_append_new(docs, crd(k, schema));
    }
    return docs;
}

int sl_kube_crds_main(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "usage: sluiced kubernetes-crds\n");
        return 2;
    }
    json_t *docs = sl_kube_crds();
    char *text = docs ? sl_yaml_dump(docs) : NULL;
    json_decref(docs);
    if (!text)
        return 1;
    printf("# The CustomResourceDefinitions of sluice's own kinds, from `sluiced kubernetes-crds`\n"
           "# (generated from the kinds table and the schemas in api/: do not edit; a test\n"
           "# compares it with the code). sluiced checks every object of these kinds against\n"
           "# the same schemas (and more that a schema cannot say) when it mirrors it.\n%s",
           text);
    free(text);
    return 0;
}

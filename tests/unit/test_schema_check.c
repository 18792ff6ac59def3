/* Unit tests for the spec schemas (daemon/api_schema.h, daemon/schema_check.c):
 * the checker against small schemas of its own, the linter's refusals, and the
 * compiled-in schemas of our kinds loading and linting. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api_schema.h"
#include "daemon/kinds.h"
#include "daemon/yaml_json.h"
#include "tests/unit/unit.h"

static json_t *yaml(const char *text)
{
    char err[256];
    json_t *docs = sl_yaml_load(text, strlen(text), err, sizeof(err));
    if (!docs)
        fprintf(stderr, "  bad test YAML: %s\n", err);
    json_t *doc = json_incref(json_array_get(docs, 0));
    json_decref(docs);
    return doc;
}

static const char *SCHEMA = "type: object\n"
                            "required: [name]\n"
                            "properties:\n"
                            "  name: {type: string, minLength: 1, maxLength: 5}\n"
                            "  mode: {type: string, enum: [Fast, Slow]}\n"
                            "  port: {type: integer, minimum: 1, maximum: 65535}\n"
                            "  ratio: {type: number, minimum: 0.5}\n"
                            "  on: {type: boolean}\n"
                            "  duration: {type: string, pattern: '^[0-9]+(ms|s)$'}\n"
                            "  either: {x-kubernetes-int-or-string: true}\n"
                            "  free: {type: object, x-kubernetes-preserve-unknown-fields: true}\n"
                            "  labels: {type: object, additionalProperties: {type: string, maxLength: 3}}\n"
                            "  list:\n"
                            "    type: array\n"
                            "    minItems: 1\n"
                            "    maxItems: 2\n"
                            "    items:\n"
                            "      type: object\n"
                            "      properties:\n"
                            "        weight: {type: integer, maximum: 10}\n";

/* The causes of checking text against SCHEMA at path "spec". */
static json_t *check(const char *text)
{
    json_t *schema = yaml(SCHEMA), *value = yaml(text);
    sl_vctx v;
    sl_vctx_init(&v);
    size_t prev = sl_v_field(&v, "spec");
    sl_v_schema(&v, schema, value);
    sl_v_pop(&v, prev);
    json_t *causes = json_incref(v.causes);
    sl_vctx_free(&v);
    json_decref(schema);
    json_decref(value);
    return causes;
}

/* True when causes hold exactly one cause, at field, with reason and a message
 * containing words. */
static bool one(json_t *causes, const char *field, const char *reason, const char *words)
{
    json_t *c = json_array_get(causes, 0);
    bool ok = json_array_size(causes) == 1 && strcmp(json_string_value(json_object_get(c, "field")), field) == 0 &&
              strcmp(json_string_value(json_object_get(c, "reason")), reason) == 0 &&
              strstr(json_string_value(json_object_get(c, "message")), words) != NULL;
    if (!ok) {
        char *s = json_dumps(causes, 0);
        fprintf(stderr, "  causes: %s (expected %s %s \"%s\")\n", s, field, reason, words);
        free(s);
    }
    json_decref(causes);
    return ok;
}

static bool none(json_t *causes)
{
    bool ok = json_array_size(causes) == 0;
    if (!ok) {
        char *s = json_dumps(causes, 0);
        fprintf(stderr, "  unexpected causes: %s\n", s);
        free(s);
    }
    json_decref(causes);
    return ok;
}

static void test_valid_values_pass(void)
{
    CHECK(none(check("{name: ab, mode: Slow, port: 443, ratio: 0.75, on: true, duration: 10ms, either: 3, "
                     "free: {any: [thing]}, labels: {a: xyz}, list: [{weight: 10}]}")));
    CHECK(none(check("{name: ab, either: '50%', mode: null}"))); /* null is absent */
    CHECK(none(check("{name: \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}"))); /* 5 characters in 10 bytes */
}

static void test_types(void)
{
    CHECK(one(check("{name: 5}"), "spec.name", "FieldValueTypeInvalid", "must be a string"));
    CHECK(one(check("{name: a, port: '80'}"), "spec.port", "FieldValueTypeInvalid", "must be an integer"));
    CHECK(one(check("{name: a, ratio: yes}"), "spec.ratio", "FieldValueTypeInvalid", "must be a number"));
    CHECK(one(check("{name: a, on: 1}"), "spec.on", "FieldValueTypeInvalid", "must be a boolean"));
    CHECK(one(check("{name: a, list: {}}"), "spec.list", "FieldValueTypeInvalid", "must be a list"));
    CHECK(one(check("{name: a, either: [1]}"), "spec.either", "FieldValueTypeInvalid", "an integer or a string"));
    CHECK(one(check("[1]"), "spec", "FieldValueTypeInvalid", "must be an object"));
}

static void test_unknown_fields_are_named(void)
{
    CHECK(one(check("{name: a, prot: 80}"), "spec.prot", "FieldValueNotSupported", "did you mean \"port\""));
    CHECK(one(check("{name: a, zzzzzz: 1}"), "spec.zzzzzz", "FieldValueNotSupported", "unknown field \"zzzzzz\""));
    CHECK(one(check("{name: a, list: [{weight: 1, wieght: 2}]}"), "spec.list[0].wieght", "FieldValueNotSupported",
              "did you mean \"weight\""));
    CHECK(none(check("{name: a, free: {deep: {er: 1}}}")));
}

static void test_limits(void)
{
    CHECK(one(check("{}"), "spec.name", "FieldValueRequired", "Required value"));
    CHECK(one(check("{name: ''}"), "spec.name", "FieldValueRequired", "Required value"));
    CHECK(one(check("{name: abcdef}"), "spec.name", "FieldValueTooLong", "may not be more than 5 characters"));
    CHECK(one(check("{name: a, mode: fast}"), "spec.mode", "FieldValueNotSupported",
              "supported values: \"Fast\", \"Slow\""));
    CHECK(one(check("{name: a, port: 0}"), "spec.port", "FieldValueInvalid", "between 1 and 65535, inclusive"));
    CHECK(one(check("{name: a, ratio: 0.25}"), "spec.ratio", "FieldValueInvalid", "must be at least 0.5"));
    CHECK(one(check("{name: a, duration: 10m}"), "spec.duration", "FieldValueInvalid", "must match"));
    CHECK(one(check("{name: a, list: []}"), "spec.list", "FieldValueRequired", "Required value"));
    CHECK(one(check("{name: a, list: [{}, {}, {}]}"), "spec.list", "FieldValueTooMany", "at most 2 items"));
    CHECK(one(check("{name: a, list: [{weight: 11}]}"), "spec.list[0].weight", "FieldValueInvalid",
              "must be at most 10"));
    CHECK(one(check("{name: a, labels: {a: long}}"), "spec.labels[a]", "FieldValueTooLong", "more than 3"));
}

static bool lints(const char *text)
{
    json_t *s = yaml(text);
    char err[512] = "";
    bool ok = sl_api_schema_lint(s, err, sizeof(err));
    json_decref(s);
    return ok;
}

static void test_lint_refuses_what_is_not_understood(void)
{
    CHECK(lints(SCHEMA));
    CHECK(!lints("type: object\nproperties: {a: {type: string, maxlength: 3}}\n")); /* a typo is not ignored */
    CHECK(!lints("type: object\nproperties: {a: {description: no type}}\n"));
    CHECK(!lints("type: object\nproperties: {a: {type: string, oneOf: []}}\n"));
    CHECK(!lints("type: object\nproperties: {a: {type: string}}\nadditionalProperties: {type: string}\n"));
    CHECK(!lints("type: object\nrequired: [b]\nproperties: {a: {type: string}}\n"));
    CHECK(!lints("type: array\n"));
    CHECK(!lints("type: string\npattern: '(['\n"));
    CHECK(!lints("type: string\nenum: [1, 2]\n"));
    CHECK(!lints("type: strng\n"));
}

static void test_our_kinds_have_schemas(void)
{
    static const char *const kinds[] = {"TrafficPolicy", "Backend", "BackendPolicy"};
    for (size_t i = 0; i < 3; i++) {
        const sl_kind *k = sl_kind_by_name(kinds[i]);
        const json_t *s = k ? sl_api_schema(k->singular) : NULL;
        CHECK(s != NULL);
        char err[512] = "";
        CHECK(s && sl_api_schema_lint(s, err, sizeof(err)));
        CHECK(strcmp(kinds[i], "Backend") == 0 ||
              (s && json_object_get(json_object_get(s, "properties"), "targetRefs") != NULL));
    }
    CHECK(sl_api_schema("gateway") == NULL);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_valid_values_pass), UNIT_TEST(test_types), UNIT_TEST(test_unknown_fields_are_named),
        UNIT_TEST(test_limits), UNIT_TEST(test_lint_refuses_what_is_not_understood),
        UNIT_TEST(test_our_kinds_have_schemas),
    };
    return sl_unit_run("schema_check", tests, sizeof(tests) / sizeof(tests[0]));
}

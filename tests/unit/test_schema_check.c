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
    CHECK(one(check("{name: a, list: []}"), "spec.list", "FieldValueInvalid", "at least 1 items"));
    CHECK(one(check("{name: a, list: [{}, {}, {}]}"), "spec.list", "FieldValueTooMany", "at most 2 items"));
    CHECK(one(check("{name: a, list: [{weight: 11}]}"), "spec.list[0].weight", "FieldValueInvalid",
              "must be at most 10"));
    CHECK(one(check("{name: a, labels: {a: long}}"), "spec.labels[a]", "FieldValueTooLong", "more than 3"));
}

static void test_empty_optional_values_are_invalid_not_required(void)
{
    /* (name is required: empty is "Required value"; an optional list or string
     * below its minimum is only invalid) */
    json_t *schema = yaml("type: object\nproperties:\n  opt: {type: string, minLength: 1}\n"
                          "  list: {type: array, minItems: 1, items: {type: string}}\n");
    const char *cases[][2] = {{"{opt: ''}", "must be at least 1 characters"}, {"{list: []}", "at least 1 items"}};
    for (size_t i = 0; i < 2; i++) {
        json_t *value = yaml(cases[i][0]);
        sl_vctx v;
        sl_vctx_init(&v);
        sl_v_schema(&v, schema, value);
        json_t *c = json_array_get(v.causes, 0);
        CHECK(json_array_size(v.causes) == 1);
        CHECK_STR(json_string_value(json_object_get(c, "reason")), "FieldValueInvalid");
        CHECK(c && strstr(json_string_value(json_object_get(c, "message")), cases[i][1]) != NULL);
        sl_vctx_free(&v);
        json_decref(value);
    }
    json_decref(schema);
}

static void test_hostile_input_costs_little(void)
{
    /* A million unknown fields: the causes stop at SL_V_MAX_CAUSES, the last saying so. */
    json_t *value = json_object();
    char key[32];
    for (int i = 0; i < 1000000; i++) {
        snprintf(key, sizeof(key), "k%07d", i);
        json_object_set_new(value, key, json_integer(i));
    }
    json_object_set_new(value, "name", json_string("ab"));
    json_t *schema = yaml(SCHEMA);
    sl_vctx v;
    sl_vctx_init(&v);
    sl_v_schema(&v, schema, value);
    CHECK(json_array_size(v.causes) == SL_V_MAX_CAUSES);
    CHECK(strstr(json_string_value(json_object_get(json_array_get(v.causes, SL_V_MAX_CAUSES - 1), "message")),
                 "too many problems") != NULL);
    sl_vctx_free(&v);
    json_decref(value);
    /* A string far over its maxLength is not matched against the pattern. */
    char *big = malloc(3000001);
    memset(big, '1', 3000000);
    memcpy(big + 2999998, "ms", 3);
    json_t *long_value = json_pack("{s:s, s:s}", "name", "ab", "duration", big);
    json_t *long_schema = yaml("type: object\nproperties:\n  name: {type: string}\n"
                               "  duration: {type: string, maxLength: 64, pattern: '^[0-9]+(ms|s)$'}\n");
    sl_vctx_init(&v);
    sl_v_schema(&v, long_schema, long_value);
    CHECK(json_array_size(v.causes) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(v.causes, 0), "reason")), "FieldValueTooLong");
    sl_vctx_free(&v);
    free(big);
    json_decref(long_value);
    json_decref(long_schema);
    json_decref(schema);
}

static void test_prune_drops_what_the_schema_does_not_know(void)
{
    json_t *schema = yaml(SCHEMA);
    json_t *value = yaml("{name: a, extra: 1, free: {any: 1}, labels: {x: y}, list: [{weight: 1, wieght: 2}]}");
    json_t *pruned = json_array();
    sl_schema_prune(schema, value, "spec", pruned);
    char *left = json_dumps(value, JSON_SORT_KEYS | JSON_COMPACT);
    CHECK_STR(left, "{\"free\":{\"any\":1},\"labels\":{\"x\":\"y\"},\"list\":[{\"weight\":1}],\"name\":\"a\"}");
    free(left);
    CHECK(json_array_size(pruned) == 2);
    CHECK_STR(json_string_value(json_array_get(pruned, 0)), "spec.extra");
    CHECK_STR(json_string_value(json_array_get(pruned, 1)), "spec.list[0].wieght");
    json_decref(pruned);
    json_decref(value);
    json_decref(schema);
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
    CHECK(!lints("type: integer\nenum: ['1']\n"));
    CHECK(!lints("type: object\nx-kubernetes-preserve-unknown-fields: false\n"));
    CHECK(!lints("type: string\nx-kubernetes-int-or-string: true\n"));
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
        UNIT_TEST(test_limits), UNIT_TEST(test_empty_optional_values_are_invalid_not_required),
        UNIT_TEST(test_hostile_input_costs_little), UNIT_TEST(test_prune_drops_what_the_schema_does_not_know),
        UNIT_TEST(test_lint_refuses_what_is_not_understood),
        UNIT_TEST(test_our_kinds_have_schemas),
    };
    return sl_unit_run("schema_check", tests, sizeof(tests) / sizeof(tests[0]));
}

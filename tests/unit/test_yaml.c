/* Unit tests for daemon/yaml_json.c: typing of scalars (core schema, quoted
 * and tagged scalars), multi-document streams, anchors and aliases, errors
 * with their place, limits, and the JSON -> YAML -> JSON round trip of
 * values that a careless writer would turn into another type. */
#include <stdlib.h>
#include <string.h>

#include "daemon/yaml_json.h"
#include "tests/unit/unit.h"

static json_t *load(const char *text)
{
    char err[256] = "";
    json_t *docs = sl_yaml_load(text, strlen(text), err, sizeof(err));
    if (!docs)
        fprintf(stderr, "  (load failed: %s)\n", err);
    return docs;
}

static json_t *load_one(const char *text)
{
    json_t *docs = load(text);
    json_t *doc = json_incref(json_array_get(docs, 0));
    json_decref(docs);
    return doc;
}

static void scalar_types(void)
{
    json_t *d = load_one("a: 80\nb: \"80\"\nc: true\nd: 'false'\ne: ~\nf: null\ng:\nh: 1.5\ni: -2\nj: 0x1F\n"
                         "k: 0o17\nl: yes\nm: 1e3\nn: !!str 12\no: !!int \"7\"\np: hello world\nq: 1.\nr: +3\n"
                         "s: 12abc\nt: 2024-01-01\n");
    CHECK(json_is_integer(json_object_get(d, "a")) && json_integer_value(json_object_get(d, "a")) == 80);
    CHECK_STR(json_string_value(json_object_get(d, "b")), "80");
    CHECK(json_is_true(json_object_get(d, "c")));
    CHECK_STR(json_string_value(json_object_get(d, "d")), "false");
    CHECK(json_is_null(json_object_get(d, "e")) && json_is_null(json_object_get(d, "f")) &&
          json_is_null(json_object_get(d, "g")));
    CHECK(json_is_real(json_object_get(d, "h")) && json_real_value(json_object_get(d, "h")) == 1.5);
    CHECK(json_integer_value(json_object_get(d, "i")) == -2);
    CHECK(json_integer_value(json_object_get(d, "j")) == 31);
    CHECK(json_integer_value(json_object_get(d, "k")) == 15);
    CHECK_STR(json_string_value(json_object_get(d, "l")), "yes"); /* YAML 1.2: a string */
    CHECK(json_is_real(json_object_get(d, "m")) && json_real_value(json_object_get(d, "m")) == 1000.0);
    CHECK_STR(json_string_value(json_object_get(d, "n")), "12");
    CHECK(json_integer_value(json_object_get(d, "o")) == 7);
    CHECK_STR(json_string_value(json_object_get(d, "p")), "hello world");
    CHECK(json_is_real(json_object_get(d, "q")));
    CHECK(json_integer_value(json_object_get(d, "r")) == 3);
    CHECK_STR(json_string_value(json_object_get(d, "s")), "12abc");
    CHECK_STR(json_string_value(json_object_get(d, "t")), "2024-01-01");
    json_decref(d);
}

static void documents_and_structure(void)
{
    json_t *docs = load("# a comment\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n"
                        "kind: List\nitems:\n- name: x\n  ports: [80, 443]\n- |\n  two\n  lines\n...\n");
    CHECK(json_array_size(docs) == 3);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(docs, 0), "metadata"), "name")), "a");
    CHECK(json_is_null(json_array_get(docs, 1))); /* an empty document */
    json_t *items = json_object_get(json_array_get(docs, 2), "items");
    CHECK(json_integer_value(json_array_get(json_object_get(json_array_get(items, 0), "ports"), 1)) == 443);
    CHECK_STR(json_string_value(json_array_get(items, 1)), "two\nlines\n");
    json_decref(docs);
    /* Nothing at all: no documents. */
    docs = load("");
    CHECK(docs && json_array_size(docs) == 0);
    json_decref(docs);
}

static void anchors_and_aliases(void)
{
    json_t *d = load_one("base: &b {port: 80, name: web}\ncopy: *b\nlist: &l [1, 2]\nagain: *l\nk: &key name\n*key : 3\n");
    CHECK(json_equal(json_object_get(d, "base"), json_object_get(d, "copy")));
    CHECK(json_object_get(d, "base") != json_object_get(d, "copy")); /* copies, not shared */
    CHECK(json_equal(json_object_get(d, "list"), json_object_get(d, "again")));
    CHECK(json_integer_value(json_object_get(d, "name")) == 3);
    json_decref(d);
}

static void expect_error(const char *text, const char *needle)
{
    char err[256] = "";
    json_t *docs = sl_yaml_load(text, strlen(text), err, sizeof(err));
    CHECK(docs == NULL);
    if (!strstr(err, needle)) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, needle);
        sl_unit_failures++;
    }
    json_decref(docs);
}

static void errors(void)
{
    expect_error("a: 1\na: 2\n", "duplicate key \"a\"");
    expect_error("a: 1\n---\nb: [1, 2\n", "document 1");
    expect_error("a: *nope\n", "unknown (or not yet complete) anchor *nope");
    expect_error("? [1, 2]\n: x\n", "a mapping key must be a scalar");
    expect_error("a: !custom x\n", "the tag !custom is not supported");
    expect_error("a: !!int abc\n", "not a valid !!int");
    expect_error("<<: {a: 1}\n", "merge keys");
    expect_error("a:\n  b: 1\n c: 2\n", "line 3");
    /* A billion laughs stops at the node budget. */
    char bomb[4096];
    int n = snprintf(bomb, sizeof(bomb), "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    const char *prev = "a";
    char names[12][4];
    for (int i = 0; i < 9; i++) {
        snprintf(names[i], sizeof(names[i]), "b%d", i);
        n += snprintf(bomb + n, sizeof(bomb) - (size_t)n, "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n",
                      names[i], names[i], prev, prev, prev, prev, prev, prev, prev, prev, prev, prev);
        prev = names[i];
    }
    expect_error(bomb, "more than 2000000 nodes");
    /* Too deep. */
    char deep[1024] = "";
    for (int i = 0; i < 250; i++)
        strcat(deep, "[");
    expect_error(deep, "nested more than 200 levels");
}

static void round_trip_one(const char *json_text)
{
    json_error_t jerr;
    json_t *docs = json_loads(json_text, 0, &jerr);
    CHECK(docs != NULL);
    char *yaml = sl_yaml_dump(docs);
    CHECK(yaml != NULL);
    json_t *back = yaml ? load(yaml) : NULL;
    if (!json_equal(docs, back)) {
        fprintf(stderr, "  round trip changed %s\n  yaml:\n%s\n", json_text, yaml ? yaml : "(null)");
        sl_unit_failures++;
    }
    free(yaml);
    json_decref(docs);
    json_decref(back);
}

static void round_trips(void)
{
    round_trip_one("[{\"s\": [\"true\", \"yes\", \"no\", \"on\", \"off\", \"null\", \"~\", \"\", \"80\", \"0x10\", \"1.5\","
                   " \"-1\", \".5\", \"1e3\", \"2024-01-01\", \"1:20\", \"a: b\", \"#c\", \"- x\", \" lead\", \"trail \","
                   " \"two\\nlines\", \"two\\nlines\\n\", \"tab\\there\", \"quote\\\"d\", \"'single'\", \"*star\", \"&amp\","
                   " \"!bang\", \"%pct\", \"@at\", \"`tick\", \"{brace}\", \"[bracket]\", \"x,y\", \"caf\\u00e9\","
                   " \"\\u65e5\\u672c\", \"ends with colon:\", \"=\", \".inf\", \"y\", \"N\"],"
                   " \"n\": [0, -7, 9007199254740993, 1.0, 1.5, -0.25, 1e300, true, false, null],"
                   " \"empty\": {\"a\": [], \"b\": {}}, \"80\": \"numeric key\", \"\": \"empty key\","
                   " \"nested\": [[1, [2, {\"x\": [3]}]]]}, {\"second\": \"document\"}, null]");
    /* The shape of a stored object. */
    round_trip_one("[{\"apiVersion\": \"gateway.networking.k8s.io/v1\", \"kind\": \"HTTPRoute\", \"metadata\": "
                   "{\"name\": \"r\", \"namespace\": \"default\", \"labels\": {\"app\": \"web\", \"version\": \"2\"}},"
                   " \"spec\": {\"parentRefs\": [{\"name\": \"gw\", \"port\": 80}], \"rules\": [{\"matches\": [{\"path\":"
                   " {\"type\": \"PathPrefix\", \"value\": \"/\"}}], \"backendRefs\": [{\"name\": \"svc\", \"port\": 8080,"
                   " \"weight\": 1}]}]}}]");
}

static void dump_shape(void)
{
    json_t *docs = json_loads("[{\"a\": 1}, {\"b\": \"x\"}]", 0, NULL);
    char *yaml = sl_yaml_dump(docs);
    CHECK_STR(yaml, "---\na: 1\n---\nb: x\n");
    free(yaml);
    json_decref(docs);
}

/* Aliases cannot build what the limits forbid: a chain of anchors each
 * wrapping the last in brackets (a few bytes, any depth), or a "billion laughs"
 * (a few bytes, any number of nodes, against a small budget). */
static void alias_limits(void)
{
    char text[20000];
    size_t n = (size_t)snprintf(text, sizeof(text), "a0: &a0 [1]\n");
    for (int i = 1; i <= 4; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "a%d: &a%d ", i, i);
        for (int k = 0; k < 60; k++)
            text[n++] = '[';
        n += (size_t)snprintf(text + n, sizeof(text) - n, "*a%d", i - 1);
        for (int k = 0; k < 60; k++)
            text[n++] = ']';
        text[n++] = '\n';
    }
    text[n] = '\0';
    char err[300];
    json_t *docs = sl_yaml_load(text, n, err, sizeof(err));
    CHECK(docs == NULL);
    CHECK(strstr(err, "nests deeper than 200 levels") != NULL);
    const char *laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
    docs = sl_yaml_load_limited(laughs, strlen(laughs), 4 * strlen(laughs), err, sizeof(err));
    CHECK(docs == NULL);
    CHECK(strstr(err, "nodes (aliases count in full)") != NULL);
    docs = sl_yaml_load(laughs, strlen(laughs), err, sizeof(err)); /* (the file budget allows 11,110 nodes) */
    CHECK(docs != NULL);
    json_decref(docs);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(scalar_types), UNIT_TEST(documents_and_structure), UNIT_TEST(anchors_and_aliases),
        UNIT_TEST(errors),       UNIT_TEST(round_trips),             UNIT_TEST(dump_shape),
        UNIT_TEST(alias_limits),
    };
    return sl_unit_run("yaml", tests, sizeof(tests) / sizeof(tests[0]));
}

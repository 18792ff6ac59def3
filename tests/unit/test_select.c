/* Unit tests for admin/admin_select.c: label and field selector parsing and
 * matching, with Kubernetes semantics. Selector text is always copied to a heap
 * buffer of exactly its size, so a sanitizer build catches any read past its end. */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

#include "admin/admin_select.h"
#include "tests/unit/unit.h"

static json_t *obj_with_labels(const char *name, const char *ns, const char *labels_json)
{
    json_error_t jerr;
    json_t *labels = labels_json ? json_loads(labels_json, 0, &jerr) : NULL;
    json_t *meta = json_pack("{s:s}", "name", name);
    if (ns)
        json_object_set_new(meta, "namespace", json_string(ns));
    if (labels)
        json_object_set_new(meta, "labels", labels);
    return json_pack("{s:s, s:o}", "kind", "Service", "metadata", meta);
}

static sl_selector *label_parse(const char *text, char *err, size_t errlen)
{
    char *copy = text ? strdup(text) : NULL;
    sl_selector *sel = sl_label_selector_parse(copy, err, errlen);
    free(copy);
    return sel;
}

static sl_selector *field_parse(const char *text, char *err, size_t errlen)
{
    char *copy = text ? strdup(text) : NULL;
    sl_selector *sel = sl_field_selector_parse(copy, err, errlen);
    free(copy);
    return sel;
}

/* Parses a label selector (which must be valid) and matches it against obj. */
static bool label_matches(const char *selector, const json_t *obj)
{
    char err[256] = "";
    sl_selector *sel = label_parse(selector, err, sizeof(err));
    if (!sel) {
        fprintf(stderr, "  label selector \"%s\" rejected: %s\n", selector, err);
        return false;
    }
    bool m = sl_selector_matches(sel, obj);
    sl_selector_free(sel);
    return m;
}

static bool field_matches(const char *selector, const json_t *obj)
{
    char err[256] = "";
    sl_selector *sel = field_parse(selector, err, sizeof(err));
    if (!sel) {
        fprintf(stderr, "  field selector \"%s\" rejected: %s\n", selector, err);
        return false;
    }
    bool m = sl_selector_matches(sel, obj);
    sl_selector_free(sel);
    return m;
}

/* True when the label selector is rejected with a non-empty message. */
static bool label_rejected(const char *selector)
{
    char err[256] = "";
    sl_selector *sel = label_parse(selector, err, sizeof(err));
    if (sel) {
        fprintf(stderr, "  label selector \"%s\" was accepted\n", selector);
        sl_selector_free(sel);
        return false;
    }
    if (!err[0])
        fprintf(stderr, "  label selector \"%s\" rejected without a message\n", selector);
    return err[0] != '\0';
}

static bool field_rejected(const char *selector)
{
    char err[256] = "";
    sl_selector *sel = field_parse(selector, err, sizeof(err));
    if (sel) {
        fprintf(stderr, "  field selector \"%s\" was accepted\n", selector);
        sl_selector_free(sel);
        return false;
    }
    if (!err[0])
        fprintf(stderr, "  field selector \"%s\" rejected without a message\n", selector);
    return err[0] != '\0';
}

static void test_empty_selects_all(void)
{
    json_t *o = obj_with_labels("a", "d", "{\"app\": \"web\"}");
    json_t *bare = obj_with_labels("b", "d", NULL);
    CHECK(label_matches("", o));
    CHECK(label_matches("   ", bare));
    char err[64] = "";
    sl_selector *sel = sl_label_selector_parse(NULL, err, sizeof(err));
    CHECK(sel != NULL);
    CHECK(sl_selector_matches(sel, o));
    sl_selector_free(sel);
    CHECK(sl_selector_matches(NULL, o));
    sel = sl_field_selector_parse(NULL, err, sizeof(err));
    CHECK(sel != NULL);
    CHECK(sl_selector_matches(sel, bare));
    sl_selector_free(sel);
    json_decref(o);
    json_decref(bare);
}

static void test_equality(void)
{
    json_t *web = obj_with_labels("a", "d", "{\"app\": \"web\", \"tier\": \"front\"}");
    json_t *db = obj_with_labels("b", "d", "{\"app\": \"db\"}");
    json_t *bare = obj_with_labels("c", "d", NULL);
    CHECK(label_matches("app=web", web));
    CHECK(!label_matches("app=web", db));
    CHECK(!label_matches("app=web", bare));
    CHECK(label_matches("app==web", web));
    CHECK(!label_matches("app==web", db));
    CHECK(!label_matches("app!=web", web));
    CHECK(label_matches("app!=web", db));
    /* != matches objects without the label, as in Kubernetes. */
    CHECK(label_matches("app!=web", bare));
    /* Values are compared whole. */
    CHECK(!label_matches("app=we", web));
    CHECK(!label_matches("app=webx", web));
    json_decref(web);
    json_decref(db);
    json_decref(bare);
}

static void test_set_based(void)
{
    json_t *prod = obj_with_labels("a", "d", "{\"env\": \"prod\"}");
    json_t *dev = obj_with_labels("b", "d", "{\"env\": \"dev\"}");
    json_t *bare = obj_with_labels("c", "d", NULL);
    CHECK(label_matches("env in (prod,staging)", prod));
    CHECK(!label_matches("env in (prod,staging)", dev));
    CHECK(!label_matches("env in (prod,staging)", bare));
    CHECK(label_matches("env in (prod)", prod));
    CHECK(!label_matches("env notin (prod)", prod));
    CHECK(label_matches("env notin (prod)", dev));
    /* notin matches objects without the label, as in Kubernetes. */
    CHECK(label_matches("env notin (prod)", bare));
    CHECK(label_matches("env notin (x,y,z)", dev));
    CHECK(label_matches("env in ( prod , staging )", prod));
    CHECK(label_matches("env in(prod)", prod));
    json_decref(prod);
    json_decref(dev);
    json_decref(bare);
}

static void test_exists(void)
{
    json_t *canary = obj_with_labels("a", "d", "{\"canary\": \"\", \"app\": \"web\"}");
    json_t *legacy = obj_with_labels("b", "d", "{\"legacy\": \"true\", \"app\": \"web\"}");
    json_t *bare = obj_with_labels("c", "d", NULL);
    CHECK(label_matches("canary", canary));
    CHECK(!label_matches("canary", legacy));
    CHECK(!label_matches("canary", bare));
    CHECK(label_matches("!legacy", canary));
    CHECK(!label_matches("!legacy", legacy));
    CHECK(label_matches("!legacy", bare));
    /* The empty value is a value. */
    CHECK(label_matches("canary=", canary));
    CHECK(!label_matches("canary=x", canary));
    json_decref(canary);
    json_decref(legacy);
    json_decref(bare);
}

static void test_combined_and_whitespace(void)
{
    json_t *o = obj_with_labels("a", "d",
                                "{\"app\": \"web\", \"tier\": \"front\", \"env\": \"prod\", \"canary\": \"1\"}");
    json_t *other = obj_with_labels("b", "d", "{\"app\": \"web\", \"tier\": \"db\", \"env\": \"prod\"}");
    const char *sel = "app=web,tier!=db,env in (a,prod),release notin (x),canary,!legacy";
    CHECK(label_matches(sel, o));
    CHECK(!label_matches(sel, other));
    CHECK(label_matches("  app = web ,  tier != db , env in ( prod ) ,\tcanary  ", o));
    CHECK(!label_matches("app=web,tier=back", o));
    /* Keys with prefixes, dots, dashes and underscores. */
    json_t *pre = obj_with_labels("c", "d", "{\"app.kubernetes.io/name\": \"my-app_1.2\"}");
    CHECK(label_matches("app.kubernetes.io/name=my-app_1.2", pre));
    CHECK(label_matches("app.kubernetes.io/name", pre));
    CHECK(!label_matches("app.kubernetes.io/name!=my-app_1.2", pre));
    json_decref(pre);
    json_decref(o);
    json_decref(other);
}

static void test_operator_words_as_keys(void)
{
    /* "in" and "notin" are operators only as whole words. */
    json_t *o = obj_with_labels("a", "d", "{\"index\": \"1\", \"notinline\": \"2\", \"in\": \"3\"}");
    CHECK(label_matches("index", o));
    CHECK(label_matches("notinline=2", o));
    CHECK(label_matches("in=3", o));
    CHECK(label_matches("in in (3)", o));
    json_decref(o);
}

static void test_malformed_label_selectors(void)
{
    CHECK(label_rejected("a in b"));
    CHECK(label_rejected("a in (b"));
    CHECK(label_rejected("a in (b c)"));
    CHECK(label_rejected("a notin b"));
    CHECK(label_rejected("=x"));
    CHECK(label_rejected("==x"));
    CHECK(label_rejected("!=x"));
    CHECK(label_rejected("a=b,"));
    CHECK(label_rejected("a=b, "));
    CHECK(label_rejected(","));
    CHECK(label_rejected("a=b,,c=d"));
    CHECK(label_rejected("a b"));
    CHECK(label_rejected("a=b c"));
    CHECK(label_rejected("a>1"));
    CHECK(label_rejected("!a=b"));
    CHECK(label_rejected("!"));
    CHECK(label_rejected("a=b)"));
    CHECK(label_rejected("a=\"b\""));
}

static void test_label_selector_limits(void)
{
    /* Many requirements: 32 are accepted, more are rejected. */
    char buf[1024] = "";
    for (int i = 0; i < 32; i++) {
        char part[16];
        snprintf(part, sizeof(part), "%sk%d", i ? "," : "", i);
        strcat(buf, part);
    }
    char err[256] = "";
    sl_selector *sel = label_parse(buf, err, sizeof(err));
    CHECK(sel != NULL);
    sl_selector_free(sel);
    strcat(buf, ",k32");
    CHECK(label_rejected(buf));

    /* A 63-character value (the Kubernetes maximum) is accepted. */
    char v63[64];
    memset(v63, 'v', 63);
    v63[63] = '\0';
    snprintf(buf, sizeof(buf), "a=%s", v63);
    json_t *o = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "a", v63);
    CHECK(label_matches(buf, o));
    json_decref(o);

    /* Over-long keys and values, and too many set values, are rejected without overflow. */
    char big[2048];
    memset(big, 'k', 2000);
    big[2000] = '\0';
    CHECK(label_rejected(big));
    snprintf(buf, sizeof(buf), "a=%.500s", big);
    CHECK(label_rejected(buf));
    snprintf(buf, sizeof(buf), "a in (%.500s)", big);
    CHECK(label_rejected(buf));
    strcpy(buf, "a in (v0");
    for (int i = 1; i < 40; i++) {
        char part[16];
        snprintf(part, sizeof(part), ",v%d", i);
        strcat(buf, part);
    }
    strcat(buf, ")");
    CHECK(label_rejected(buf));

    /* A tiny error buffer is not overrun. */
    char tiny[4] = "xxx";
    CHECK(label_parse("a in b", tiny, 3) == NULL);
    CHECK(tiny[2] == '\0' && tiny[3] == '\0');
}

static void test_field_selectors(void)
{
    json_t *o = obj_with_labels("web", "prod", NULL);
    json_t *cluster = obj_with_labels("c", NULL, NULL);
    CHECK(field_matches("metadata.name=web", o));
    CHECK(field_matches("metadata.name==web", o));
    CHECK(!field_matches("metadata.name=db", o));
    CHECK(field_matches("metadata.name!=db", o));
    CHECK(!field_matches("metadata.name!=web", o));
    CHECK(field_matches("metadata.namespace=prod", o));
    CHECK(!field_matches("metadata.namespace!=prod", o));
    CHECK(field_matches("metadata.namespace!=kube-system", o));
    CHECK(field_matches("metadata.name=web,metadata.namespace=prod", o));
    CHECK(!field_matches("metadata.name=web,metadata.namespace=dev", o));
    CHECK(field_matches(" metadata.name = web ", o));
    /* A cluster-scoped object has the empty namespace. */
    CHECK(field_matches("metadata.namespace=", cluster));
    CHECK(field_matches("metadata.namespace!=prod", cluster));
    json_decref(o);
    json_decref(cluster);
}

static void test_field_selectors_rejected(void)
{
    CHECK(field_rejected("spec.nodeName=x"));
    CHECK(field_rejected("status.phase!=Running"));
    CHECK(field_rejected("metadata.labels=x"));
    CHECK(field_rejected("metadata.name"));
    CHECK(field_rejected("!metadata.name"));
    CHECK(field_rejected("metadata.name in (a)"));
    CHECK(field_rejected("metadata.name notin (a)"));
    CHECK(field_rejected("metadata.name=a,"));
    CHECK(field_rejected("=a"));
    char err[256] = "";
    sl_selector *sel = field_parse("metadata.uid=x", err, sizeof(err));
    CHECK(sel == NULL);
    CHECK(strstr(err, "metadata.uid") != NULL);
    sl_selector_free(sel);
}

static void test_labels_not_strings(void)
{
    /* A label whose stored value is not a string counts as absent. */
    json_t *o = json_pack("{s:{s:s, s:{s:i}}}", "metadata", "name", "x", "labels", "n", 1);
    CHECK(!label_matches("n", o));
    CHECK(label_matches("!n", o));
    CHECK(label_matches("n!=1", o));
    json_decref(o);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_empty_selects_all),
        UNIT_TEST(test_equality),
        UNIT_TEST(test_set_based),
        UNIT_TEST(test_exists),
        UNIT_TEST(test_combined_and_whitespace),
        UNIT_TEST(test_operator_words_as_keys),
        UNIT_TEST(test_malformed_label_selectors),
        UNIT_TEST(test_label_selector_limits),
        UNIT_TEST(test_field_selectors),
        UNIT_TEST(test_field_selectors_rejected),
        UNIT_TEST(test_labels_not_strings),
    };
    return sl_unit_run("select", tests, sizeof(tests) / sizeof(tests[0]));
}

/* Unit tests for the MCP gateway's and A2A proxy's pure parts: sealed tokens
 * (workers/mcp_seal.c), session ids (mcp_session.c), names and globs
 * (mcp_names.c), reading a target's answer (mcp_target.c), the shared session
 * table (common/mcp_table.c) and the agent card's rewrite (a2a_card.c). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/mcp_table.h"
#include "common/zones.h"
#include "workers/a2a.h"
#include "workers/http_client.h"
#include "workers/mcp.h"
#include "tests/unit/unit.h"

static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t OTHER[32] = {9, 9, 9};

static void test_seal_round_trip_and_tamper(void)
{
    char *t = sl_mcp_seal(KEY, "ns/a", "hello", 5);
    CHECK(t && strncmp(t, "v1.", 3) == 0 && !strstr(t, "hello"));
    char *back = sl_mcp_unseal(KEY, "ns/a", t, strlen(t));
    CHECK_STR(back, "hello");
    free(back);
    CHECK(!sl_mcp_unseal(KEY, "ns/b", t, strlen(t)));   /* another Backend's */
    CHECK(!sl_mcp_unseal(OTHER, "ns/a", t, strlen(t))); /* another key */
    for (size_t i = 3; i < strlen(t); i++) {            /* any one character changed */
        char *bad = strdup(t);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        char *got = sl_mcp_unseal(KEY, "ns/a", bad, strlen(bad));
        CHECK(!got);
        free(got);
        free(bad);
    }
    CHECK(!sl_mcp_unseal(KEY, "ns/a", "v1.", 3));
    CHECK(!sl_mcp_unseal(KEY, "ns/a", "v2.AAAA", 7));
    CHECK(!sl_mcp_unseal(KEY, "ns/a", "v1.!!!!", 7));
    char *t2 = sl_mcp_seal(KEY, "ns/a", "hello", 5);
    CHECK(t2 && strcmp(t, t2) != 0); /* a fresh nonce each time */
    free(t);
    free(t2);
    char *big = calloc(1, SL_MCP_SEALED_MAX + 2);
    memset(big, 'x', SL_MCP_SEALED_MAX + 1);
    CHECK(!sl_mcp_seal(KEY, "a", big, SL_MCP_SEALED_MAX + 1));
    free(big);
}

static void test_session_ids(void)
{
    sl_mcp_session s = {.created = 1000000};
    strcpy(s.version, "2025-11-25");
    strcpy(s.caller, "alice");
    s.targets = json_pack("{s:s, s:s}", "a", "sid-a", "b", "");
    char *id = sl_mcp_session_id(KEY, "ns/tools", &s);
    CHECK(id != NULL);
    sl_mcp_session r;
    CHECK(sl_mcp_session_read(KEY, "ns/tools", id, strlen(id), 1000010, 3600, &r));
    CHECK_STR(r.version, "2025-11-25");
    CHECK_STR(r.caller, "alice");
    CHECK_STR(json_string_value(json_object_get(r.targets, "a")), "sid-a");
    sl_mcp_session_free(&r);
    CHECK(!sl_mcp_session_read(KEY, "ns/tools", id, strlen(id), 1000000 + 3601, 3600, &r)); /* expired */
    CHECK(!sl_mcp_session_read(KEY, "ns/other", id, strlen(id), 1000010, 3600, &r));
    /* A cursor sealed for the same Backend is no session. */
    char *cursor = sl_mcp_seal(KEY, "cursor ns/tools", "{\"a\":\"c\"}", 9);
    CHECK(!sl_mcp_session_read(KEY, "ns/tools", cursor, strlen(cursor), 1000010, 3600, &r));
    free(cursor);
    free(id);
    /* Too large for a header: not made. */
    char *huge = malloc(SL_MCP_SESSION_TEXT_MAX + 1);
    memset(huge, 'x', SL_MCP_SESSION_TEXT_MAX);
    huge[SL_MCP_SESSION_TEXT_MAX] = '\0';
    json_object_set_new(s.targets, "c", json_string(huge));
    CHECK(!sl_mcp_session_id(KEY, "ns/tools", &s));
    free(huge);
    sl_mcp_session_free(&s);
}

static void test_globs(void)
{
    CHECK(sl_mcp_glob("echo", 4, "echo"));
    CHECK(!sl_mcp_glob("echo", 4, "echo2"));
    CHECK(sl_mcp_glob("get-*", 5, "get-sum"));
    CHECK(sl_mcp_glob("*", 1, ""));
    CHECK(sl_mcp_glob("a*b*c", 5, "axxbyyc"));
    CHECK(!sl_mcp_glob("a*b*c", 5, "axxbyy"));
    CHECK(sl_mcp_glob("*sum", 4, "get-sum"));
    /* No exponential blow-up: a long name against many stars answers at once. */
    char name[4001];
    memset(name, 'a', 4000);
    name[4000] = '\0';
    CHECK(!sl_mcp_glob("*a*a*a*a*a*a*a*a*b", 18, name));
}

static void test_list_kinds(void)
{
    CHECK_STR(sl_mcp_list_kind_of("tools/list")->array, "tools");
    CHECK(sl_mcp_list_kind_of("resources/templates/list")->uri);
    CHECK(!sl_mcp_list_kind_of("tools/call"));
    CHECK(!sl_mcp_list_kind_of(NULL));
}

static sl_http_reply reply(long status, const char *headers, const char *body)
{
    return (sl_http_reply){.status = status, .headers = (char *)headers, .headers_len = strlen(headers),
                           .body = (char *)body, .body_len = strlen(body)};
}

static void test_reading_answers(void)
{
    sl_mcp_reply r;
    sl_http_reply in = reply(200, "Content-Type: text/event-stream\r\nMcp-Session-Id: abc\r\n",
                             "id: 1\ndata: \n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"
                             "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n");
    sl_mcp_reply_read(&in, &r);
    CHECK(r.response && json_integer_value(json_object_get(r.response, "id")) == 3);
    CHECK(json_array_size(r.messages) == 1);
    CHECK_STR(r.session, "abc");
    CHECK(!r.error[0]);
    sl_mcp_reply_free(&r);
    in = reply(200, "content-type: application/json\n", "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1}}");
    sl_mcp_reply_read(&in, &r);
    CHECK(r.response && json_object_get(r.response, "error"));
    sl_mcp_reply_free(&r);
    in = reply(404, "Content-Type: text/plain\r\n", "gone");
    sl_mcp_reply_read(&in, &r);
    CHECK(!r.response && strstr(r.error, "404"));
    sl_mcp_reply_free(&r);
    /* An event the stream did not end still counts; garbage is skipped. */
    in = reply(200, "Content-Type: text/event-stream\r\n", "data: not json\n\ndata: {\"id\":1,\"result\":1}");
    sl_mcp_reply_read(&in, &r);
    CHECK(r.response != NULL);
    sl_mcp_reply_free(&r);
    char v[64];
    CHECK(sl_mcp_header("A: 1\r\nMcp-Session-Id:  x y \r\n", "mcp-session-id", v, sizeof(v)) && strcmp(v, "x y") == 0);
    CHECK(!sl_mcp_header("Mcp-Session-Id: a\rb\r\n", "Mcp-Session-Id", v, sizeof(v)));
    CHECK(sl_mcp_header("X: 1\nMcp-Session-Id: z\nY: 2\n", "Mcp-Session-Id", v, sizeof(v)) && strcmp(v, "z") == 0);
}

static void test_session_table(void)
{
    CHECK(sl_zones_create(64u << 20));
    CHECK(sl_mcp_table_create(64)); /* a small table: eviction is reached */
    uint64_t k = sl_mcp_table_key("session-1", "a");
    CHECK(k != sl_mcp_table_key("session-1", "b") && k != sl_mcp_table_key("session-1a", ""));
    char out[SL_MCP_TABLE_VALUE + 1];
    CHECK(!sl_mcp_table_get(k, out, sizeof(out)));
    CHECK(sl_mcp_table_put(k, "sid-1", 5, 100, 0));
    CHECK(sl_mcp_table_get(k, out, sizeof(out)) && strcmp(out, "sid-1") == 0);
    CHECK(sl_mcp_table_put(k, "sid-2", 5, 101, 0));
    CHECK(sl_mcp_table_get(k, out, sizeof(out)) && strcmp(out, "sid-2") == 0);
    char big[SL_MCP_TABLE_VALUE + 2];
    memset(big, 'x', sizeof(big));
    CHECK(!sl_mcp_table_put(k, big, sizeof(big), 102, 0));
    /* A kept entry (an ended session) survives any number of later writes. */
    uint64_t ended = sl_mcp_table_key("ended", "");
    CHECK(sl_mcp_table_put(ended, "-", 1, 100, 100000));
    for (int i = 0; i < 5000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "s%d", i);
        sl_mcp_table_put(sl_mcp_table_key(name, "t"), "v", 1, 200 + (uint64_t)i, 0);
    }
    CHECK(sl_mcp_table_get(ended, out, sizeof(out)) && strcmp(out, "-") == 0);
}

static void test_card_rewrite(void)
{
    const char *card = "{\"name\":\"x\",\"supportedInterfaces\":[{\"url\":\"http://10.0.0.7:9000/a2a/jsonrpc\","
                       "\"protocolBinding\":\"JSONRPC\"},{\"url\":\"http://10.0.0.7:9000/rest\"}],"
                       "\"documentationUrl\":\"http://10.0.0.7:9000/docs\",\"iconUrl\":\"https://cdn.example/i.png\","
                       "\"provider\":{\"url\":\"http://10.0.0.7:9000\"},\"signatures\":[{\"protected\":\"x\"}]}";
    size_t len;
    bool dropped;
    char *out = sl_a2a_rewrite_card(card, strlen(card), "https://gw.example", "/agents/x", "", &len, &dropped);
    json_t *doc = json_loads(out, 0, NULL);
    json_t *ifaces = json_object_get(doc, "supportedInterfaces");
    CHECK_STR(json_string_value(json_object_get(json_array_get(ifaces, 0), "url")),
              "https://gw.example/agents/x/a2a/jsonrpc");
    CHECK_STR(json_string_value(json_object_get(json_array_get(ifaces, 1), "url")), "https://gw.example/agents/x/rest");
    CHECK_STR(json_string_value(json_object_get(doc, "documentationUrl")), "https://gw.example/agents/x/docs");
    CHECK_STR(json_string_value(json_object_get(doc, "iconUrl")), "https://cdn.example/i.png"); /* not the agent's */
    CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "provider"), "url")), "https://gw.example/agents/x/");
    CHECK(dropped && !json_object_get(doc, "signatures") && len == strlen(out));
    json_decref(doc);
    free(out);
    /* The agent's own prefix is the part the client's replaces (a route whose rewrite adds /v2). */
    const char *v03 = "{\"url\":\"http://a:1/v2/rpc\",\"additionalInterfaces\":[{\"url\":\"http://a:1/other/x\"}]}";
    out = sl_a2a_rewrite_card(v03, strlen(v03), "http://gw", "/team", "/v2", &len, &dropped);
    doc = json_loads(out, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(doc, "url")), "http://gw/team/rpc");
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(doc, "additionalInterfaces"), 0), "url")),
              "http://gw/other/x");
    CHECK(!dropped);
    json_decref(doc);
    free(out);
    CHECK(!sl_a2a_rewrite_card("[1]", 3, "http://gw", "", "", &len, &dropped));
    CHECK(!sl_a2a_rewrite_card("{", 1, "http://gw", "", "", &len, &dropped));
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_seal_round_trip_and_tamper), UNIT_TEST(test_session_ids), UNIT_TEST(test_globs),
        UNIT_TEST(test_list_kinds), UNIT_TEST(test_reading_answers), UNIT_TEST(test_session_table),
        UNIT_TEST(test_card_rewrite),
    };
    return sl_unit_run("mcp", tests, sizeof(tests) / sizeof(tests[0]));
}

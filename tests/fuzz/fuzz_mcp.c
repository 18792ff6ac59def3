/* libFuzzer target: what the MCP gateway and the A2A proxy read from the
 * network (workers/mcp.h, workers/a2a.h): a client's sealed session id or
 * cursor, a target's answer (its header lines and a JSON or event-stream
 * body), and an agent card. The first byte picks the reader and where the
 * input is cut into header lines and body. Invariants: a token is opened only
 * if it is one the key sealed (a round trip of the input itself opens to the
 * input); an answer's response is a JSON-RPC response; a card rewrite, when it
 * gives one, is a JSON object of the length it reports. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/a2a.h"
#include "workers/http_client.h"
#include "workers/mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEY[32] = {7};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 4, cut = data[0] / 4;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    char *text = malloc(n + 1);
    memcpy(text, in, n);
    text[n] = '\0';
    if (mode == 0) {
        char *opened = sl_mcp_unseal(KEY, "session ns/b", text, n);
        free(opened); /* (random input is practically never a sealed token: it must not crash) */
        char *sealed = sl_mcp_seal(KEY, "session ns/b", text, n);
        if (sealed) {
            char *back = sl_mcp_unseal(KEY, "session ns/b", sealed, strlen(sealed));
            if (!back || memcmp(back, text, n) != 0)
                abort();
            free(back);
            sl_mcp_session s;
            if (sl_mcp_session_read(KEY, "ns/b", sealed, strlen(sealed), 1, 3600, &s))
                sl_mcp_session_free(&s);
            free(sealed);
        }
    } else if (mode == 1 || mode == 2) {
        size_t h = cut < n ? cut : n;
        const char *type = mode == 1 ? "Content-Type: text/event-stream\r\n" : "Content-Type: application/json\r\n";
        size_t tl = strlen(type);
        char *headers = malloc(tl + h + 1);
        memcpy(headers, type, tl);
        memcpy(headers + tl, in, h);
        headers[tl + h] = '\0';
        sl_http_reply r = {.status = 200, .headers = headers, .headers_len = tl + h, .body = text + h,
                           .body_len = n - h};
        sl_mcp_reply out;
        sl_mcp_reply_read(&r, &out);
        if (out.response && (!json_object_get(out.response, "id") || json_object_get(out.response, "method")))
            abort();
        char v[128];
        sl_mcp_header(headers, "Mcp-Session-Id", v, sizeof(v));
        sl_mcp_reply_free(&out);
        free(headers);
    } else {
        size_t len = 0;
        bool dropped;
        char *card = sl_a2a_rewrite_card(text, n, "https://gw", "/agents/x", "/a", &len, &dropped);
        if (card) {
            json_t *doc = json_loads(card, 0, NULL);
            if (!json_is_object(doc) || len != strlen(card))
                abort();
            json_decref(doc);
            free(card);
        }
    }
    free(text);
    return 0;
}

/* Unit tests for workers/proxy_protocol.c: PROXY protocol v1 and v2 headers,
 * what they state, how long they are, and what is refused. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/unit/unit.h"
#include "workers/proxy_protocol.h"

static sl_proxy_result parse(const char *s, size_t n, size_t *used, sl_ip *ip)
{
    return sl_proxy_parse((const uint8_t *)s, n, used, ip);
}

static void test_v1(void)
{
    size_t used;
    sl_ip ip;
    const char *h = "PROXY TCP4 198.51.100.1 10.0.0.1 5000 80\r\nGET /";
    CHECK(parse(h, strlen(h), &used, &ip) == SL_PROXY_OK);
    CHECK(used == strlen("PROXY TCP4 198.51.100.1 10.0.0.1 5000 80\r\n"));
    CHECK(ip.family == AF_INET && ip.addr[0] == 198 && ip.addr[3] == 1);
    h = "PROXY TCP6 ::ffff:203.0.113.9 ::1 1 2\r\n";
    CHECK(parse(h, strlen(h), &used, &ip) == SL_PROXY_OK && ip.family == AF_INET && ip.addr[0] == 203);
    h = "PROXY UNKNOWN whatever follows\r\n";
    CHECK(parse(h, strlen(h), &used, &ip) == SL_PROXY_OK && ip.family == 0 && used == strlen(h));
    h = "PROXY TCP4 198.51.100.1 10.0.0.1 5000 80";
    CHECK(parse(h, strlen(h), &used, &ip) == SL_PROXY_AGAIN);
    CHECK(parse("PROX", 4, &used, &ip) == SL_PROXY_AGAIN);
    CHECK(parse("GET / HTTP/1.1\r\n", 16, &used, &ip) == SL_PROXY_NONE);
    CHECK(parse("PROPFIND", 8, &used, &ip) == SL_PROXY_NONE);
    static const char *const bad[] = {
        "PROXY TCP4 198.51.100.1 10.0.0.1 5000\r\n",     "PROXY TCP4 198.51.100.1 10.0.0.1 5000 80 9\r\n",
        "PROXY TCP4 198.51.100.1  10.0.0.1 5000 80\r\n", "PROXY TCP4 2001:db8::1 ::1 5000 80\r\n",
        "PROXY TCP4 198.51.100.1 10.0.0.1 65536 80\r\n", "PROXY TCP4 198.51.100.1 10.0.0.1 05000 80\r\n",
        "PROXY UDP4 198.51.100.1 10.0.0.1 5000 80\r\n",  "PROXY TCP4 198.51.100.1 10.0.0.1 50a0 80\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(parse(bad[i], strlen(bad[i]), &used, &ip) == SL_PROXY_BAD);
    char longer[200];
    memset(longer, 'x', sizeof(longer));
    memcpy(longer, "PROXY ", 6);
    CHECK(parse(longer, sizeof(longer), &used, &ip) == SL_PROXY_BAD); /* no CRLF within 107 bytes */
}

static void test_v2(void)
{
    uint8_t h[64] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 12};
    inet_pton(AF_INET, "198.51.100.2", h + 16);
    inet_pton(AF_INET, "10.0.0.1", h + 20);
    size_t used;
    sl_ip ip;
    CHECK(sl_proxy_parse(h, 28, &used, &ip) == SL_PROXY_OK && used == 28 && ip.family == AF_INET && ip.addr[3] == 2);
    CHECK(sl_proxy_parse(h, 27, &used, &ip) == SL_PROXY_AGAIN);
    CHECK(sl_proxy_parse(h, 5, &used, &ip) == SL_PROXY_AGAIN);
    h[12] = 0x20; /* LOCAL */
    CHECK(sl_proxy_parse(h, 28, &used, &ip) == SL_PROXY_OK && ip.family == 0);
    h[12] = 0x31; /* version 3 */
    CHECK(sl_proxy_parse(h, 28, &used, &ip) == SL_PROXY_BAD);
    h[12] = 0x21;
    h[15] = 8; /* too short for IPv4 addresses */
    CHECK(sl_proxy_parse(h, 28, &used, &ip) == SL_PROXY_BAD);
    h[14] = 0x02; /* 520 + 16 bytes: at the limit */
    h[15] = 0x08;
    CHECK(sl_proxy_parse(h, 64, &used, &ip) == SL_PROXY_AGAIN);
    h[15] = 0x09; /* one past it */
    CHECK(sl_proxy_parse(h, 64, &used, &ip) == SL_PROXY_BAD);
    h[1] = 0x0b; /* not the signature */
    CHECK(sl_proxy_parse(h, 64, &used, &ip) == SL_PROXY_NONE);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_v1),
        UNIT_TEST(test_v2),
    };
    return sl_unit_run("proxy_protocol", tests, sizeof(tests) / sizeof(tests[0]));
}

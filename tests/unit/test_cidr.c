/* Unit tests for common/cidr.c: parsing CIDRs (host bits cleared, bad text
 * refused) and matching client addresses, IPv4, IPv6 and IPv4-mapped IPv6. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cidr.h"
#include "tests/unit/unit.h"

static sl_ip ip(const char *text)
{
    sl_ip out;
    memset(&out, 0, sizeof(out));
    if (inet_pton(AF_INET, text, out.addr) == 1)
        out.family = AF_INET;
    else if (inet_pton(AF_INET6, text, out.addr) == 1)
        out.family = AF_INET6;
    return out;
}

static bool in(const char *cidr, const char *addr)
{
    uint8_t family, prefix, net[16];
    if (!sl_cidr_parse(cidr, &family, net, &prefix))
        return false;
    sl_ip a = ip(addr);
    return sl_cidr_contains(family, net, prefix, &a);
}

static void test_parse(void)
{
    uint8_t family, prefix, net[16];
    CHECK(sl_cidr_parse("10.1.2.3/8", &family, net, &prefix));
    CHECK(family == AF_INET && prefix == 8 && net[0] == 10 && net[1] == 0 && net[2] == 0 && net[3] == 0);
    CHECK(sl_cidr_parse("192.168.77.1/20", &family, net, &prefix));
    CHECK(net[2] == 64 && net[3] == 0); /* 77 = 0100 1101: the low 4 bits cleared */
    CHECK(sl_cidr_parse("2001:db8::1/32", &family, net, &prefix));
    CHECK(family == AF_INET6 && prefix == 32 && net[15] == 0);
    CHECK(sl_cidr_parse("0.0.0.0/0", &family, net, &prefix) && prefix == 0);
    static const char *const bad[] = {"10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "/8", "10.0.0.0/8x", "10.0.0/8",
                                      "::/129", "example.com/8", "10.0.0.0/-1", "10.0.0.0/0008", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!sl_cidr_parse(bad[i], &family, net, &prefix));
}

static void test_contains(void)
{
    CHECK(in("10.0.0.0/8", "10.255.1.2"));
    CHECK(!in("10.0.0.0/8", "11.0.0.1"));
    CHECK(in("127.0.0.2/32", "127.0.0.2"));
    CHECK(!in("127.0.0.2/32", "127.0.0.3"));
    CHECK(in("192.168.64.0/20", "192.168.79.255"));
    CHECK(!in("192.168.64.0/20", "192.168.80.0"));
    CHECK(in("0.0.0.0/0", "8.8.8.8"));
    CHECK(!in("0.0.0.0/0", "::1")); /* families never mix */
    CHECK(in("::/0", "2001:db8::5"));
    CHECK(in("2001:db8::/33", "2001:db8:7fff::1"));
    CHECK(!in("2001:db8::/33", "2001:db8:8000::1"));
    sl_ip unknown;
    memset(&unknown, 0, sizeof(unknown));
    uint8_t family, prefix, net[16];
    CHECK(sl_cidr_parse("0.0.0.0/0", &family, net, &prefix));
    CHECK(!sl_cidr_contains(family, net, prefix, &unknown));
}

static void test_from_sockaddr(void)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6->sin6_addr);
    sl_ip a = sl_ip_from_sockaddr(&ss);
    CHECK(a.family == AF_INET && a.addr[0] == 10 && a.addr[3] == 3);
    inet_pton(AF_INET6, "2001:db8::9", &s6->sin6_addr);
    a = sl_ip_from_sockaddr(&ss);
    CHECK(a.family == AF_INET6 && a.addr[15] == 9);
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.2", &s4->sin_addr);
    a = sl_ip_from_sockaddr(&ss);
    CHECK(a.family == AF_INET && a.addr[3] == 2);
    ss.ss_family = AF_UNIX;
    CHECK(sl_ip_from_sockaddr(&ss).family == 0);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_parse),
        UNIT_TEST(test_contains),
        UNIT_TEST(test_from_sockaddr),
    };
    return sl_unit_run("cidr", tests, sizeof(tests) / sizeof(tests[0]));
}

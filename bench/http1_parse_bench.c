/* Micro benchmark for the HTTP/1 request parser: parses a typical ~500-byte
 * browser request many times and prints the cost per request.
 *   gcc -std=c11 -O2 -D_GNU_SOURCE -I. -o /tmp/h1bench bench/http1_parse_bench.c workers/http1_*.c
 *   /tmp/h1bench [iterations]        (default 10,000,000) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workers/http1_parser.h"

static const char request[] =
    "GET /assets/app/main.3f9a1c.js?v=20240512&lang=en HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Accept: */*\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Referer: https://www.example.com/\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=4b1d9e0c7a; theme=dark\r\n"
    "\r\n";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static sl_http1_request req;

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 10000000L;
    size_t len = sizeof request - 1;
    if (iters <= 0)
        iters = 1;
    /* Warm up and check that the request is accepted. */
    if (sl_http1_parse_request(request, len, NULL, &req, NULL) != SL_OK) {
        fprintf(stderr, "bench: request refused: %s\n", req.error);
        return 1;
    }
    size_t sink = 0;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        /* An opaque barrier so the call is not hoisted out of the loop. */
        const char *volatile p = request;
        if (sl_http1_parse_request(p, len, NULL, &req, NULL) != SL_OK)
            return 1;
        sink += req.nheaders + req.head_len;
    }
    double t1 = now_ns();
    double ns = (t1 - t0) / (double)iters;
    printf("http1_parse_bench: %zu-byte request, %zu headers, %ld iterations: %.1f ns/request "
           "(%.2f GB/s, sink %zu)\n",
           len, req.nheaders, iters, ns, (double)len / ns, sink);
    return 0;
}

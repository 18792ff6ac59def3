/* libFuzzer target: the ClientHello server name reader (workers/tls_sni.c),
 * which reads the first bytes of every connection on a TLS passthrough
 * listener. Each input is read twice: as the bytes a client sent, and, with
 * its first byte choosing a record size, as the body of a ClientHello framed
 * in handshake records with the right lengths (so that mutations reach the
 * extensions without having to keep the outer lengths in step). Every parse
 * reads an exact-size heap copy (ASan catches a read past the end).
 * Invariants: a name found is 1 to 253 bytes of labels of 1 to 63 lowercase
 * letters, digits, '-' and '_' joined by dots, NUL-terminated at namelen; it is
 * refused when namecap is one byte short and found again when it fits exactly;
 * outputs are left alone on any other answer; over the first PREFIXES prefixes
 * the answer is "need more" until it is not, and from then on never changes,
 * up to the whole input. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/tls_sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How many prefixes of each input are parsed: enough to cover a real hello's
 * headers and its server_name, cheap enough to keep the fuzzer fast. */
#define PREFIXES 512
/* The largest body the framed reading wraps (in records of 1 byte it grows 6 times). */
#define FRAMED_MAX 4096

typedef struct {
    sl_sni_result r;
    char name[SL_SNI_MAX_NAME + 2];
    size_t len;
} answer;

static bool label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void check_name(const answer *a)
{
    if (a->len == 0 || a->len > SL_SNI_MAX_NAME || a->name[a->len] != '\0' || strlen(a->name) != a->len)
        abort();
    size_t label = 0;
    for (size_t i = 0; i < a->len; i++) {
        if (a->name[i] == '.') {
            if (label == 0)
                abort();
            label = 0;
        } else if (!label_char(a->name[i]) || ++label > 63) {
            abort();
        }
    }
    if (label == 0)
        abort();
}

/* Parses data[0..n) from an exact-size copy, with namecap bytes for the name. */
static void parse_copy(const uint8_t *data, size_t n, size_t namecap, answer *a)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    if (n > 0)
        memcpy(copy, data, n);
    memset(a->name, '#', sizeof(a->name));
    a->len = SIZE_MAX;
    a->r = sl_tls_sni(copy, n, a->name, namecap, &a->len);
    free(copy);
    if (a->r == SL_SNI_FOUND) {
        check_name(a);
    } else if (a->len != SIZE_MAX || a->name[0] != '#') {
        abort(); /* outputs written without a name found */
    } else if (a->r != SL_SNI_NONE && a->r != SL_SNI_AGAIN && a->r != SL_SNI_INVALID) {
        abort();
    }
}

static bool same(const answer *a, const answer *b)
{
    return a->r == b->r && (a->r != SL_SNI_FOUND || (a->len == b->len && memcmp(a->name, b->name, a->len) == 0));
}

static void check(const uint8_t *data, size_t size)
{
    answer whole, a, final = {.r = SL_SNI_AGAIN};
    parse_copy(data, size, SL_SNI_MAX_NAME + 1, &whole);
    size_t m = size < PREFIXES ? size : PREFIXES;
    for (size_t n = 0; n <= m; n++) {
        parse_copy(data, n, SL_SNI_MAX_NAME + 1, &a);
        if (final.r == SL_SNI_AGAIN)
            final = a;
        else if (!same(&a, &final))
            abort(); /* an answer other than "need more" changed with more bytes */
    }
    if (final.r != SL_SNI_AGAIN && !same(&final, &whole))
        abort();
    if (whole.r == SL_SNI_FOUND) {
        parse_copy(data, size, whole.len, &a);
        if (a.r != SL_SNI_INVALID)
            abort();
        parse_copy(data, size, whole.len + 1, &a);
        if (!same(&a, &whole))
            abort();
    }
}

/* data[1..size) as a ClientHello body in handshake records of a size data[0]
 * picks (1 to 32 bytes, or a multiple of 64 up to 16320). */
static void check_framed(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > FRAMED_MAX)
        return;
    size_t frag = data[0] < 32 ? (size_t)data[0] + 1 : (size_t)data[0] * 64;
    size_t body = size - 1, msg = 4 + body;
    uint8_t *hs = malloc(msg);
    uint8_t *wire = malloc(msg + 5 * (msg / frag + 1));
    if (!hs || !wire)
        abort();
    hs[0] = 1;
    hs[1] = (uint8_t)(body >> 16);
    hs[2] = (uint8_t)(body >> 8);
    hs[3] = (uint8_t)body;
    memcpy(hs + 4, data + 1, body);
    size_t n = 0;
    for (size_t at = 0; at < msg; at += frag) {
        size_t len = msg - at < frag ? msg - at : frag;
        wire[n++] = 22;
        wire[n++] = 3;
        wire[n++] = 1;
        wire[n++] = (uint8_t)(len >> 8);
        wire[n++] = (uint8_t)len;
        memcpy(wire + n, hs + at, len);
        n += len;
    }
    check(wire, n);
    free(wire);
    free(hs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * SL_SNI_MAX_HELLO)
        return 0;
    check(data, size);
    check_framed(data, size);
    return 0;
}

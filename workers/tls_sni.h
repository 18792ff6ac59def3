/* The server name (SNI) a TLS client asks for, read from the ClientHello it
 * sends first, without terminating TLS: what TLS passthrough (TLSRoute) routes
 * on before it hands the connection, bytes untouched, to a backend. A parser of
 * network input: tests/fuzz/fuzz_tls_sni.c feeds it arbitrary bytes. */
#ifndef SL_TLS_SNI_H
#define SL_TLS_SNI_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes from the start of a connection that may be buffered before
 * the ClientHello is complete: one full record's payload (16384 bytes, RFC
 * 8446 5.1) for the message plus the headers of up to four records carrying it.
 * Browsers send about 2 KB even with post-quantum key shares; the slack is for
 * large PSK tickets and clients that fragment their hello into small records
 * (a client that uses more records has that much less room for the message).
 * A listener needs a buffer of this size per connection that is waiting. */
#define SL_SNI_MAX_HELLO (16384 + 4 * 5)

/* The longest host name returned (RFC 1035), without its NUL. */
#define SL_SNI_MAX_NAME 253

typedef enum {
    SL_SNI_FOUND = 0,   /* a ClientHello with a server_name host_name: *name filled */
    SL_SNI_NONE = 1,    /* a complete, well-formed ClientHello without a host_name */
    SL_SNI_AGAIN = 2,   /* not enough bytes yet: call again with more */
    SL_SNI_INVALID = 3, /* not a TLS ClientHello, malformed, or larger than SL_SNI_MAX_HELLO */
} sl_sni_result;

/* Reads the ClientHello at the start of buf[0..len), the bytes received so far
 * on a connection (call again from the start when more arrive; nothing is kept
 * between calls, nothing is allocated, buf is only read). The hello may be
 * fragmented over several handshake records; it must end with a record (RFC
 * 8446 5.1), and bytes after that record are not looked at. Every field is
 * checked against its container; SL_SNI_AGAIN means the bytes so far are a
 * valid prefix, and any other answer stays the same however many bytes follow.
 * On SL_SNI_FOUND, name[0..*namelen] is the first host_name, lowercased, its
 * trailing dot removed, NUL-terminated (namecap must allow *namelen + 1 bytes,
 * else SL_SNI_INVALID; SL_SNI_MAX_NAME + 1 always does). A host name is 1 to
 * 253 bytes of labels of 1 to 63 letters, digits, '-' or '_' (which some
 * internal names carry), separated by dots; anything else is SL_SNI_INVALID.
 * On other answers name and *namelen are left alone. */
sl_sni_result sl_tls_sni(const uint8_t *buf, size_t len, char *name, size_t namecap, size_t *namelen);

#endif

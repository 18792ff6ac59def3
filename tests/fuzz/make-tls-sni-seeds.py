#!/usr/bin/python3
"""Makes the seeds of fuzz_tls_sni (tests/fuzz/corpus/tls_sni/): ClientHellos as
Python's ssl module (OpenSSL) writes them into a memory BIO, for TLS 1.3 and
1.2, with and without a server name, one re-split over two records, and the
same hellos in the form fuzz_tls_sni's framed reading takes (a record-size
byte, then the ClientHello body). Run it again to refresh them:

    tests/fuzz/make-tls-sni-seeds.py
"""

import os
import ssl

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "tls_sni")


def client_hello(host, tls12=False, alpn=None):
    """The bytes a client sends first: its ClientHello, in records."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass  # waiting for the ServerHello: the ClientHello is in outgoing
    return outgoing.read()


def records(handshake, sizes):
    """handshake bytes framed as handshake records of the given sizes (the last takes the rest)."""
    out, at = b"", 0
    for size in list(sizes) + [len(handshake)]:
        part = handshake[at:at + size]
        if not part:
            break
        out += bytes([22, 3, 1]) + len(part).to_bytes(2, "big") + part
        at += len(part)
    return out


def handshake_of(hello):
    """The handshake bytes of a one-record hello."""
    assert hello[0] == 22 and int.from_bytes(hello[3:5], "big") == len(hello) - 5
    return hello[5:]


def main():
    os.makedirs(OUT, exist_ok=True)
    tls13 = client_hello("example.com")
    seeds = {
        "tls13_sni": tls13,
        "tls13_no_sni": client_hello(None),
        "tls12_sni": client_hello("api.example.org", tls12=True),
        "tls12_no_sni": client_hello(None, tls12=True),
        "tls13_sni_alpn": client_hello("internal_svc.example", alpn=["h2", "http/1.1"]),
        "tls13_two_records": records(handshake_of(tls13), [len(tls13) // 2]),
        "tls13_header_split": records(handshake_of(tls13), [2]),
        "http_get": b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    }
    # The framed reading: byte 0 picks the record size (255: one record of up
    # to 16320 bytes; 7: records of 8), the rest is the ClientHello body.
    seeds["framed_tls13_sni"] = bytes([255]) + handshake_of(tls13)[4:]
    seeds["framed_tls12_sni_small_records"] = bytes([7]) + handshake_of(seeds["tls12_sni"])[4:]
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()

"""JSON Web Tokens for the tests, made with the openssl command line (keys,
signatures) and the standard library (base64url, JSON): nothing of sluice's
own code signs or encodes them.

    key = Key("RS256", tmpdir)          # a new key pair and its public JWK
    token = key.token({"sub": "alice", "exp": time.time() + 60})
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess

GENPKEY = {
    "RS256": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "RS384": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "RS512": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "PS256": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "ES256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ES384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "EdDSA": ["-algorithm", "ED25519"],
}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, capture_output=True, check=True).stdout


def der_ecdsa_to_raw(der, size):
    """An ECDSA signature from DER (SEQUENCE of two INTEGERs) to JWS's R || S."""
    assert der[0] == 0x30
    at = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[at] == 0x02
        n = der[at + 1]
        out += der[at + 2:at + 2 + n].lstrip(b"\0").rjust(size, b"\0")
        at += 2 + n
    return out


class Key:
    """A key pair made by `openssl genpkey`, with its public JWK."""

    def __init__(self, alg, directory, kid=None):
        self.alg = alg
        self.kid = kid
        self.pem = os.path.join(directory, "%s-%s.pem" % (alg, os.urandom(6).hex()))
        openssl("genpkey", *GENPKEY[alg], "-out", self.pem)
        self.public_der = openssl("pkey", "-in", self.pem, "-pubout", "-outform", "DER")
        self.public_pem = openssl("pkey", "-in", self.pem, "-pubout").decode()
        self.jwk = self._jwk()

    def _jwk(self):
        if self.alg[0] in "RP":
            out = openssl("rsa", "-in", self.pem, "-noout", "-modulus").decode()
            n = bytes.fromhex(out.strip().split("=", 1)[1])
            jwk = {"kty": "RSA", "n": b64url(n), "e": b64url((65537).to_bytes(3, "big"))}
        elif self.alg == "EdDSA":
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(self.public_der[-32:])}
        else:
            size = 32 if self.alg == "ES256" else 48
            point = self.public_der[-(2 * size + 1):]
            assert point[0] == 4
            jwk = {"kty": "EC", "crv": "P-256" if size == 32 else "P-384",
                   "x": b64url(point[1:1 + size]), "y": b64url(point[1 + size:])}
        if self.kid:
            jwk["kid"] = self.kid
        return jwk

    def sign(self, data):
        if self.alg == "EdDSA":
            path = self.pem + ".in"
            with open(path, "wb") as f:
                f.write(data)
            return openssl("pkeyutl", "-sign", "-rawin", "-inkey", self.pem, "-in", path)
        digest = "-sha" + self.alg[2:]
        if self.alg.startswith("PS"):
            return openssl("dgst", digest, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest",
                           "-sign", self.pem, data=data)
        sig = openssl("dgst", digest, "-sign", self.pem, data=data)
        if self.alg.startswith("ES"):
            sig = der_ecdsa_to_raw(sig, 32 if self.alg == "ES256" else 48)
        return sig

    def token(self, claims, header=None):
        h = {"alg": self.alg, "typ": "JWT"}
        if self.kid:
            h["kid"] = self.kid
        h.update(header or {})
        signing_input = (b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        return signing_input.decode() + "." + b64url(self.sign(signing_input))


def jwks(*keys):
    return json.dumps({"keys": [k.jwk for k in keys]})


def unsigned_token(claims):
    """alg none: no signature at all."""
    return b64url(b'{"alg":"none","typ":"JWT"}') + "." + b64url(json.dumps(claims).encode()) + "."


def hs256_with_public_key(key, claims):
    """The algorithm-confusion attack: HMAC keyed with the RSA public key's PEM."""
    signing_input = (b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + b64url(json.dumps(claims).encode())).encode()
    mac = hmac.new(key.public_pem.encode(), signing_input, hashlib.sha256).digest()
    return signing_input.decode() + "." + b64url(mac)

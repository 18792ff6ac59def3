/* Sealed tokens of the MCP gateway (workers/mcp.h): a session id or a list
 * cursor the client holds and sends back, which it can neither read nor alter.
 * AES-256-GCM with a fresh random nonce; the associated data binds a token to
 * the Backend it was made for, so one Backend's session is no session of
 * another's. Layout: "v1." base64url(nonce[12] ciphertext tag[16]). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/jwt.h"
#include "workers/mcp.h"

#define NONCE 12
#define TAG 16
#define PREFIX "v1."
#define PREFIX_LEN 3

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

/* Runs AES-256-GCM one way (enc 1: seal, 0: open) over in into out; false when it fails (a tag that does not match). */
static bool gcm(int enc, const uint8_t key[32], const unsigned char *nonce, const char *aad, const unsigned char *in,
                size_t n, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok = x && EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
              EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, NONCE, NULL) == 1 &&
              EVP_CipherInit_ex(x, NULL, NULL, key, nonce, enc) == 1 &&
              EVP_CipherUpdate(x, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
              (n == 0 || EVP_CipherUpdate(x, out, &len, in, (int)n) == 1) &&
              (enc || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG, tag) == 1) &&
              EVP_CipherFinal_ex(x, out + (n ? (size_t)len : 0), &len) == 1 &&
              (!enc || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG, tag) == 1);
    EVP_CIPHER_CTX_free(x);
    return ok;
}

char *sl_mcp_seal(const uint8_t key[32], const char *aad, const char *text, size_t len)
{
    if (len > SL_MCP_SEALED_MAX)
        return NULL;
    unsigned char *raw = malloc(NONCE + len + TAG);
    char *out = malloc(PREFIX_LEN + (NONCE + len + TAG + 2) / 3 * 4 + 1);
    bool ok = raw && out && RAND_bytes(raw, NONCE) == 1 &&
              gcm(1, key, raw, aad, (const unsigned char *)text, len, raw + NONCE, raw + NONCE + len);
    if (ok) {
        memcpy(out, PREFIX, PREFIX_LEN);
        encode(raw, NONCE + len + TAG, out + PREFIX_LEN);
    }
    free(raw);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

char *sl_mcp_unseal(const uint8_t key[32], const char *aad, const char *sealed, size_t len)
{
    if (len < PREFIX_LEN || memcmp(sealed, PREFIX, PREFIX_LEN) != 0 || len > SL_MCP_SEALED_MAX * 2)
        return NULL;
    size_t cap = (len - PREFIX_LEN) / 4 * 3 + 3, n = 0;
    unsigned char *raw = malloc(cap);
    char *text = NULL;
    if (raw && sl_base64url_decode(sealed + PREFIX_LEN, len - PREFIX_LEN, raw, cap, &n) && n >= NONCE + TAG) {
        size_t tn = n - NONCE - TAG;
        text = malloc(tn + 1);
        if (text && !gcm(0, key, raw, aad, raw + NONCE, tn, (unsigned char *)text, raw + NONCE + tn)) {
            free(text);
            text = NULL;
        } else if (text) {
            text[tn] = '\0';
        }
    }
    free(raw);
    return text;
}

/* Google service-account access tokens: see gcp_token.h. */
#include "daemon/gcp_token.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"

/* base64url without padding (malloc'd). */
static char *b64url(const unsigned char *in, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(len / 3 * 4 + 5);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[k++] = alphabet[v >> 18 & 63];
        out[k++] = alphabet[v >> 12 & 63];
        if (i + 1 < len)
            out[k++] = alphabet[v >> 6 & 63];
        if (i + 2 < len)
            out[k++] = alphabet[v & 63];
    }
    out[k] = '\0';
    return out;
}

static char *b64url_json(json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    char *out = text ? b64url((const unsigned char *)text, strlen(text)) : NULL;
    free(text);
    return out;
}

bool sl_gcp_service_account(const char *key_json, char **client_email, char **token_uri, char *why, size_t whylen)
{
    json_t *k = json_loads(key_json, 0, NULL);
    const char *email = json_string_value(json_object_get(k, "client_email"));
    const char *pem = json_string_value(json_object_get(k, "private_key"));
    const char *uri = json_string_value(json_object_get(k, "token_uri"));
    bool ok = email && pem && (!uri || strncmp(uri, "https://", 8) == 0 || strncmp(uri, "http://", 7) == 0);
    if (!ok)
        snprintf(why, whylen, "is not a service account key (JSON with client_email, private_key and an http(s) "
                              "token_uri)");
    else {
        *client_email = strdup(email);
        *token_uri = strdup(uri ? uri : DEFAULT_TOKEN_URI);
    }
    json_decref(k);
    return ok;
}

/* A PEM's passphrase: none (an encrypted key is refused, not asked about on a terminal). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

/* The RS256 signature of data with the PEM private key (malloc'd base64url), or NULL. */
static char *sign_rs256(const char *pem, const char *data, char *why, size_t whylen)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    if (!key || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        ERR_clear_error();
        snprintf(why, whylen, "the service account's private_key is not an RSA key in PEM");
        return NULL;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t len = 0;
    unsigned char *sig = NULL;
    bool ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestSign(md, NULL, &len, (const unsigned char *)data, strlen(data)) == 1 &&
              (sig = malloc(len)) != NULL &&
              EVP_DigestSign(md, sig, &len, (const unsigned char *)data, strlen(data)) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    char *out = ok ? b64url(sig, len) : NULL;
    free(sig);
    if (!out)
        snprintf(why, whylen, "cannot sign with the service account's key");
    return out;
}

char *sl_gcp_token_request(const char *key_json, char *why, size_t whylen)
{
    json_t *k = json_loads(key_json, 0, NULL);
    const char *email = json_string_value(json_object_get(k, "client_email"));
    const char *pem = json_string_value(json_object_get(k, "private_key"));
    const char *kid = json_string_value(json_object_get(k, "private_key_id"));
    const char *uri = json_string_value(json_object_get(k, "token_uri"));
    char *out = NULL;
    if (!email || !pem) {
        snprintf(why, whylen, "is not a service account key");
        json_decref(k);
        return NULL;
    }
    time_t now = time(NULL);
    json_t *header = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
    if (kid)
        json_object_set_new(header, "kid", json_string(kid));
    char *h = b64url_json(header);
    char *c = b64url_json(json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", email, "scope", SCOPE, "aud",
                                    uri ? uri : DEFAULT_TOKEN_URI, "iat", (json_int_t)now, "exp",
                                    (json_int_t)now + 3600));
    char *signing = NULL;
    if (h && c && asprintf(&signing, "%s.%s", h, c) < 0)
        signing = NULL;
    if (signing) {
        char *sig = sign_rs256(pem, signing, why, whylen);
        if (sig && asprintf(&out, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s.%s",
                            signing, sig) < 0)
            out = NULL;
        free(sig);
    } else {
        snprintf(why, whylen, "out of memory");
    }
    free(signing);
    free(h);
    free(c);
    json_decref(k);
    return out;
}

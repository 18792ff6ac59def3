/* Google service-account access tokens, for Vertex AI Backends whose Secret
 * holds a service account's JSON key (`serviceAccountKey`) rather than a
 * token: the master signs a JWT with the key (RS256, OpenSSL) and trades it at
 * the key's token_uri for an access token (Google's OAuth 2.0 "JWT bearer"
 * flow for service accounts: developers.google.com/identity/protocols/oauth2/
 * service-account). The trade itself is the fetcher's (daemon/fetcher.c): a
 * POST made again before the token expires. */
#ifndef SL_GCP_TOKEN_H
#define SL_GCP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* Reads a service account key: its client_email and token_uri (malloc'd;
 * Google's default when the key has none). false with why. */
bool sl_gcp_service_account(const char *key_json, char **client_email, char **token_uri, char *why, size_t whylen);

/* The form body of a token request for the key, made now (a JWT valid for an
 * hour, signed with its private_key): "grant_type=...&assertion=..."
 * (malloc'd), or NULL with why. */
char *sl_gcp_token_request(const char *key_json, char *why, size_t whylen);

#endif

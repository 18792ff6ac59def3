/* AWS Signature Version 4 (docs.aws.amazon.com/IAM/latest/UserGuide/
 * reference_sigv-create-signed-request.html), for requests the gateway sends
 * to Amazon Bedrock on a client's behalf. HMAC-SHA256 and SHA-256 from
 * OpenSSL. Signed fields: host, x-amz-date, and x-amz-security-token when the
 * credentials are temporary ones. */
#ifndef SL_AWS_SIGV4_H
#define SL_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct sl_aws_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "": long-term credentials */
} sl_aws_credentials;

typedef struct sl_aws_request {
    const char *method;
    const char *host;   /* the Host field as sent */
    const char *target; /* the request target as sent: path (percent-encoded), then ?query */
    size_t target_len;
    const void *body;
    size_t body_len;
} sl_aws_request;

/* The fields that sign req for `service` in `region` at time `now`:
 * "X-Amz-Date: ...\r\n[X-Amz-Security-Token: ...\r\n]Authorization: ...\r\n"
 * written to out (NUL-terminated). false when they do not fit in cap. */
bool sl_aws_sign(const sl_aws_credentials *cred, const char *region, const char *service, const sl_aws_request *req,
                 time_t now, char *out, size_t cap);

/* The signing key's hex (for tests against AWS's published examples). */
void sl_aws_signing_key_hex(const char *secret, const char *date, const char *region, const char *service,
                            char hex[65]);

#endif

/* The subjectAltNames check of TLS towards backends (BackendTLSPolicy
 * validation.subjectAltNames); see upstream_tls.h. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509v3.h>

#include "workers/upstream_tls.h"

/* Does the certificate carry a URI SAN equal to uri (len bytes)? URIs are
 * compared as bytes: a SPIFFE ID names one identity, spelled one way. */
static bool has_uri(X509 *cert, const char *uri, size_t len)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool found = false;
    for (int i = 0; names && !found && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
        if (n->type != GEN_URI)
            continue;
        const ASN1_IA5STRING *s = n->d.uniformResourceIdentifier;
        found = (size_t)ASN1_STRING_length(s) == len && memcmp(ASN1_STRING_get0_data(s), uri, len) == 0;
    }
    GENERAL_NAMES_free(names);
    return found;
}

/* Does the certificate carry DNS SAN `name` (len bytes) exactly, ignoring case?
 * For a wildcard name ("*.example.com") in the policy, which no host name can be. */
static bool has_dns_literally(X509 *cert, const char *name, size_t len)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool found = false;
    for (int i = 0; names && !found && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
        if (n->type != GEN_DNS)
            continue;
        const ASN1_IA5STRING *s = n->d.dNSName;
        const unsigned char *data = ASN1_STRING_get0_data(s);
        found = (size_t)ASN1_STRING_length(s) == len && !memchr(data, 0, len) &&
                strncasecmp((const char *)data, name, len) == 0;
    }
    GENERAL_NAMES_free(names);
    return found;
}

bool sl_uptls_san_match(X509 *cert, const char *sans)
{
    for (const char *line = sans; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 4 && strncmp(line, "DNS:", 4) == 0) {
            const char *name = line + 4;
            /* The certificate's SANs only (never its subject CN), its wildcards
             * matching one whole label, as for the hostname check. */
            unsigned flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
            if (name[0] == '*' ? has_dns_literally(cert, name, len - 4)
                               : X509_check_host(cert, name, len - 4, flags, NULL) == 1)
                return true;
        } else if (len > 4 && strncmp(line, "URI:", 4) == 0 && has_uri(cert, line + 4, len - 4)) {
            return true;
        }
        line += len + (end ? 1 : 0);
    }
    return false;
}

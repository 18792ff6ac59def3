/* Parsing of Kubernetes REST paths:
 *   /api/v1/{plural}[/{name}[/{sub}]]
 *   /api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}]]
 *   /apis/{group}/{version}/...   (the same shapes) */
#ifndef SL_ADMIN_PATH_H
#define SL_ADMIN_PATH_H

#include "daemon/kinds.h"

typedef struct sl_admin_path {
    const sl_kind *kind;
    char group[128];
    char version[32];
    char plural[64];
    char ns[64];          /* "" when not given in the path */
    char name[256];       /* "" for collections */
    char subresource[32]; /* "" or "status" */
} sl_admin_path;

/* Parses url into p. Returns SL_OK for a path naming a served resource, SL_NOTFOUND
 * for an /api or /apis path naming no served resource (or a malformed one), and
 * SL_ERR when the URL is not a resource path at all (discovery, /healthz, ...). */
int sl_admin_path_parse(const char *url, sl_admin_path *p);

#endif

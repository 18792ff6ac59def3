/* Kubernetes Status objects (the body of every admin API error). */
#ifndef SL_ADMIN_STATUS_H
#define SL_ADMIN_STATUS_H

#include <jansson.h>

/* Builds {"kind":"Status","apiVersion":"v1","status":"Failure",...}. causes is
 * stolen (may be NULL); kind and name may be NULL. */
json_t *sl_status_failure(unsigned code, const char *reason, const char *message, const char *kind,
                          const char *name, json_t *causes);
/* Builds a Success status (used by some DELETE answers). */
json_t *sl_status_success(const char *kind, const char *name, const char *uid);

#endif

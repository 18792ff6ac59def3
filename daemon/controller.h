/* The controller: a master thread that follows the store and writes the status
 * that sluice owns. Today it accepts the GatewayClasses whose controllerName is
 * ours; Gateway and route status come with the data plane. */
#ifndef SL_CONTROLLER_H
#define SL_CONTROLLER_H

#include <jansson.h>
#include <stdbool.h>

#include "daemon/store.h"

#define SL_CONTROLLER_NAME "sluice.dev/gateway-controller"

typedef struct sl_controller sl_controller;

/* Starts the controller thread; it reconciles once at start and after every
 * write, then calls notify(arg) (from its own thread) so the master compiles. */
sl_controller *sl_controller_start(sl_store *s, void (*notify)(void *), void *arg);
/* Stops the thread and waits for it. */
void sl_controller_stop(sl_controller *c);

/* Reconciles everything once, synchronously (used by the thread and by tests). */
void sl_controller_reconcile(sl_store *s);

/* Builds a Gateway API condition. Returns a new reference. */
json_t *sl_condition(const char *type, const char *status, const char *reason, const char *message,
                     json_int_t observed_generation);

/* True when two status objects say the same, ignoring every lastTransitionTime
 * (rewriting a status only to move a timestamp would churn resourceVersions). */
bool sl_status_equal(const json_t *a, const json_t *b);
/* A new array of the entries of a status list (route parents, policy ancestors)
 * that another controller wrote: sluice rewrites only its own entries. */
json_t *sl_status_foreign_entries(const json_t *list);

/* Replaces the status of an object if its resourceVersion is still `expected_rv`
 * and the status differs. Returns SL_OK (written or unchanged), SL_CONFLICT when the
 * object changed meanwhile, SL_NOTFOUND, or SL_ERR. Steals status. */
int sl_controller_write_status(sl_store *s, const char *kind, const char *ns, const char *name,
                               int64_t expected_rv, json_t *status);

#endif

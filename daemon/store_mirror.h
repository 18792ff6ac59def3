/* Writing objects that come from outside the admin API (--config-dir files,
 * a Kubernetes cluster) into the store: marked with the annotation that says
 * where they came from, and written only when what a user would have written
 * changed, so that an unchanged source costs no write and no new snapshot. */
#ifndef SL_STORE_MIRROR_H
#define SL_STORE_MIRROR_H

#include <jansson.h>
#include <stdbool.h>

#include "daemon/kinds.h"
#include "daemon/store.h"

typedef enum { SL_MIRROR_UNCHANGED, SL_MIRROR_CREATED, SL_MIRROR_UPDATED } sl_mirror_result;

/* Within the caller's write transaction: obj (of kind k; consumed) gets its
 * annotations `marks` (NULL-terminated pairs of name and value) and is created
 * or replaces the stored one unless their user forms (sl_obj_user_form, the
 * annotations named in `ignore` left out: a source's version, which changes
 * with nothing a user wrote) are the same. *was_marked: the stored object
 * already had marks[0]. generation > 0: the object keeps this generation (the
 * source's own, so that the status's observedGeneration means the same there)
 * instead of the store's count. SL_OK or the store's error. */
int sl_mirror_put(sl_store *s, const sl_kind *k, json_t *obj, const char *const *marks, const char *ignore,
                  json_int_t generation, sl_mirror_result *result, bool *was_marked);

/* Within the caller's write transaction: deletes the stored obj (its current form). */
int sl_mirror_delete(sl_store *s, const sl_kind *k, json_t *obj);

/* The value of annotation name on obj, or NULL. */
const char *sl_mirror_mark(const json_t *obj, const char *name);

#endif

/* The store's parsed objects, kept between reads for the readers that read
 * every object of a kind again and again (the compiler after every change, the
 * route status after every compile): parsing 100,000 routes from SQLite and
 * freeing them again took most of a compile. A kind is parsed once, at its
 * first read; each committed write then updates the one object it changed
 * (staged during the transaction, applied at its commit, dropped at a
 * rollback). The store's lock guards it; nothing here locks. */
#ifndef SL_STORE_CACHE_H
#define SL_STORE_CACHE_H

#include <jansson.h>

typedef struct sl_store_cache sl_store_cache;

sl_store_cache *sl_store_cache_new(void);
void sl_store_cache_free(sl_store_cache *c);

/* The objects of kind in (namespace, name) order, or NULL when the kind is not
 * kept yet (borrowed: valid until the next commit). */
const json_t *sl_store_cache_get(sl_store_cache *c, const char *kind);
/* Keeps items (stolen: an array in (namespace, name) order) as kind's objects. */
void sl_store_cache_set(sl_store_cache *c, const char *kind, json_t *items);

/* Within a write transaction: at its commit, kind's object ns/name becomes a
 * copy of obj, or is removed when obj is NULL. */
void sl_store_cache_stage(sl_store_cache *c, const char *kind, const char *ns, const char *name, const json_t *obj);
void sl_store_cache_commit(sl_store_cache *c);
void sl_store_cache_rollback(sl_store_cache *c);

#endif

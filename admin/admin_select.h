/* Label and field selectors of list and watch calls, as Kubernetes defines them:
 *   labelSelector: "app=web,tier!=db,env in (a,b),release notin (x),canary,!legacy"
 *   fieldSelector: "metadata.name=foo,metadata.namespace!=bar" */
#ifndef SL_ADMIN_SELECT_H
#define SL_ADMIN_SELECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sl_selector sl_selector;

/* Parses a label selector (NULL or "" selects everything). Returns NULL and a
 * message in err when the selector is malformed. */
sl_selector *sl_label_selector_parse(const char *text, char *err, size_t errlen);
/* Parses a field selector; only metadata.name and metadata.namespace are supported,
 * with =, == and !=. */
sl_selector *sl_field_selector_parse(const char *text, char *err, size_t errlen);
/* True when obj matches every requirement. A NULL selector matches everything. */
bool sl_selector_matches(const sl_selector *sel, const json_t *obj);
void sl_selector_free(sl_selector *sel);

#endif

/* The label sets of the traffic history's LLM and key entries (a history
 * entry names its series by a small number: "gateway\tbackend\tmodel" or
 * "gateway\tkey\tunit" interned here). The table is bounded; when it is full,
 * the labels no kept entry names any more are given back (the owner says which
 * are still named), so a gateway that sees new keys all day keeps charting
 * them. Not thread-safe: the owner locks. */
#ifndef SL_HISTORY_LABELS_H
#define SL_HISTORY_LABELS_H

#include <stdbool.h>
#include <stdint.h>

#define SL_HISTORY_MAX_LABELS 65536

typedef struct sl_history_labels {
    char *text[SL_HISTORY_MAX_LABELS]; /* NULL: free */
    uint32_t hash[SL_HISTORY_MAX_LABELS * 2]; /* open addressing: label number + 1, 0 empty */
    uint32_t count, next_free;
} sl_history_labels;

/* The number of label text, made when new; UINT32_MAX when the table is full. */
uint32_t sl_history_label(sl_history_labels *l, const char *text);
/* The text of label id, or NULL. */
const char *sl_history_label_text(const sl_history_labels *l, uint32_t id);
/* Frees every label whose used[id] is false. */
void sl_history_labels_keep(sl_history_labels *l, const bool *used);
void sl_history_labels_free(sl_history_labels *l);

#endif

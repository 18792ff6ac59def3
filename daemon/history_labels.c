/* The traffic history's interned label sets; see history_labels.h. */
#include "daemon/history_labels.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS (SL_HISTORY_MAX_LABELS * 2)

static uint32_t hash_of(const char *text)
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (const char *c = text; *c; c++)
        hash = (hash ^ (uint8_t)*c) * 16777619u;
    return hash % SLOTS;
}

uint32_t sl_history_label(sl_history_labels *l, const char *text)
{
    uint32_t at = hash_of(text);
    for (; l->hash[at]; at = (at + 1) % SLOTS)
        if (strcmp(l->text[l->hash[at] - 1], text) == 0)
            return l->hash[at] - 1;
    if (l->count == SL_HISTORY_MAX_LABELS)
        return UINT32_MAX;
    uint32_t id = l->next_free;
    while (l->text[id]) /* (there is a free one: count says so) */
        id = (id + 1) % SL_HISTORY_MAX_LABELS;
    if (!(l->text[id] = strdup(text)))
        return UINT32_MAX;
    l->next_free = (id + 1) % SL_HISTORY_MAX_LABELS;
    l->count++;
    l->hash[at] = id + 1;
    return id;
}

const char *sl_history_label_text(const sl_history_labels *l, uint32_t id)
{
    return id < SL_HISTORY_MAX_LABELS ? l->text[id] : NULL;
}

void sl_history_labels_keep(sl_history_labels *l, const bool *used)
{
    /* Open addressing has no simple delete: the hash is made again from the kept labels. */
    memset(l->hash, 0, sizeof(l->hash));
    l->count = 0;
    for (uint32_t id = 0; id < SL_HISTORY_MAX_LABELS; id++) {
        if (!l->text[id])
            continue;
        if (!used[id]) {
            free(l->text[id]);
            l->text[id] = NULL;
            continue;
        }
        uint32_t at = hash_of(l->text[id]);
        while (l->hash[at])
            at = (at + 1) % SLOTS;
        l->hash[at] = id + 1;
        l->count++;
    }
}

void sl_history_labels_free(sl_history_labels *l)
{
    for (uint32_t id = 0; id < SL_HISTORY_MAX_LABELS; id++) {
        free(l->text[id]);
        l->text[id] = NULL;
    }
    memset(l->hash, 0, sizeof(l->hash));
    l->count = l->next_free = 0;
}

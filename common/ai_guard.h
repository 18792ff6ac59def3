/* The prompt guard's built-in patterns (aiPromptGuard builtins): one table,
 * read by the validator (names) and the policy's compile step (patterns). */
#ifndef SL_COMMON_AI_GUARD_H
#define SL_COMMON_AI_GUARD_H

#include <stddef.h>

typedef struct sl_ai_guard_builtin {
    const char *name;    /* as the section spells it: "Email" */
    const char *label;   /* what a masked match becomes, without its brackets: "EMAIL" */
    const char *pattern; /* PCRE2 */
} sl_ai_guard_builtin;

/* The builtin named `name`, or NULL. */
const sl_ai_guard_builtin *sl_ai_guard_builtin_find(const char *name);
/* Their names, for messages ("Email, CreditCard, ..."). */
extern const char sl_ai_guard_builtin_names[];

#endif

/* The prompt guard's built-in patterns (common/ai_guard.h). Each finds the
 * common written forms; none is a validator (a card number's checksum is not
 * checked): a guard errs towards masking. */
#include "common/ai_guard.h"

#include <string.h>

static const sl_ai_guard_builtin builtins[] = {
    {"Email", "EMAIL", "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}"},
    /* 16 digits in groups of four (Visa, Mastercard, Discover...), and Amex's 4-6-5. */
    {"CreditCard", "CREDIT_CARD", "\\b(?:\\d{4}[ -]?){3}\\d{4}\\b|\\b3[47]\\d{2}[ -]?\\d{6}[ -]?\\d{5}\\b"},
    {"Ssn", "SSN", "\\b\\d{3}-\\d{2}-\\d{4}\\b"},
    /* North American numbers, with an optional country code. */
    {"PhoneNumber", "PHONE_NUMBER", "(?<![\\w+])\\+?(?:\\d{1,3}[ .-]?)?\\(?\\d{3}\\)?[ .-]?\\d{3}[ .-]?\\d{4}\\b"},
    /* OpenAI and Anthropic (sk-...), AWS access key ids, GitHub, Slack and Google API keys. */
    {"ApiKey", "API_KEY",
     "\\b(?:sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abprs]-[A-Za-z0-9-]{10,}|"
     "AIza[0-9A-Za-z_-]{35})\\b"},
};

const char sl_ai_guard_builtin_names[] = "Email, CreditCard, Ssn, PhoneNumber, ApiKey";

const sl_ai_guard_builtin *sl_ai_guard_builtin_find(const char *name)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

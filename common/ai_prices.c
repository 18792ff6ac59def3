/* Shipped default prices: see ai_prices.h. */
#include "common/ai_prices.h"

#include <stdbool.h>
#include <string.h>

static const sl_ai_price prices[] = {
    /* OpenAI (platform.openai.com/docs/pricing) */
    {"gpt-5", 1.25, 10.00, 0.125},
    {"gpt-5-mini", 0.25, 2.00, 0.025},
    {"gpt-5-nano", 0.05, 0.40, 0.005},
    {"gpt-4.1", 2.00, 8.00, 0.50},
    {"gpt-4.1-mini", 0.40, 1.60, 0.10},
    {"gpt-4.1-nano", 0.10, 0.40, 0.025},
    {"gpt-4o", 2.50, 10.00, 1.25},
    {"gpt-4o-2024-05-13", 5.00, 15.00, 5.00}, /* the first snapshot kept its launch price */
    {"gpt-4o-mini", 0.15, 0.60, 0.075},
    {"o3", 2.00, 8.00, 0.50},
    {"o3-mini", 1.10, 4.40, 0.55},
    {"o4-mini", 1.10, 4.40, 0.275},
    {"text-embedding-3-small", 0.02, 0, 0.02},
    {"text-embedding-3-large", 0.13, 0, 0.13},
    /* Anthropic (anthropic.com/pricing; cached input: cache reads) */
    {"claude-opus-4", 15.00, 75.00, 1.50},
    {"claude-opus-4-5", 5.00, 25.00, 0.50},
    {"claude-sonnet-4", 3.00, 15.00, 0.30},
    {"claude-3-7-sonnet", 3.00, 15.00, 0.30},
    {"claude-3-5-sonnet", 3.00, 15.00, 0.30},
    {"claude-haiku-4-5", 1.00, 5.00, 0.10},
    {"claude-3-5-haiku", 0.80, 4.00, 0.08},
    /* Google Gemini (ai.google.dev/gemini-api/docs/pricing; prompts up to 200k tokens) */
    {"gemini-2.5-pro", 1.25, 10.00, 0.31},
    {"gemini-2.5-flash", 0.30, 2.50, 0.075},
    {"gemini-2.5-flash-lite", 0.10, 0.40, 0.025},
    {"gemini-2.0-flash", 0.10, 0.40, 0.025},
    /* Amazon Nova on Bedrock (aws.amazon.com/bedrock/pricing, us-east-1) */
    {"nova-micro", 0.035, 0.14, 0.00875},
    {"nova-lite", 0.06, 0.24, 0.015},
    {"nova-pro", 0.80, 3.20, 0.20},
};

/* Whether what follows a model's name is a version of it (a date, "-v1:0",
 * "@001", "-latest"), not another model ("-pro", "-audio-preview"). */
static bool version_suffix(const char *rest)
{
    if (rest[0] == '\0' || rest[0] == ':' || rest[0] == '@')
        return true;
    if (rest[0] != '-')
        return false;
    if (rest[1] >= '0' && rest[1] <= '9')
        return true;
    if (rest[1] == 'v' && rest[2] >= '0' && rest[2] <= '9')
        return true;
    return strcmp(rest, "-latest") == 0;
}

/* The longest entry that starts s. */
static const sl_ai_price *longest(const char *s)
{
    const sl_ai_price *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < sizeof(prices) / sizeof(prices[0]); i++) {
        size_t n = strlen(prices[i].model);
        if (n > best_len && strncmp(s, prices[i].model, n) == 0 && version_suffix(s + n)) {
            best = &prices[i];
            best_len = n;
        }
    }
    return best;
}

const sl_ai_price *sl_ai_default_price(const char *model)
{
    if (!model || !model[0])
        return NULL;
    const sl_ai_price *p = longest(model);
    /* Bedrock's ids: "anthropic.claude-...", "us.amazon.nova-lite-v1:0". */
    for (const char *dot = strchr(model, '.'); !p && dot && dot - model < 24; dot = strchr(dot + 1, '.'))
        p = longest(dot + 1);
    return p;
}

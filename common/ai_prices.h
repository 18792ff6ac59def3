/* Shipped default prices of well-known models (USD per million tokens), for
 * answers whose Backend's ai.prices names neither the model nor "*". Taken
 * from the providers' published price lists (OpenAI, Anthropic, Google, AWS)
 * as they stood in late 2025: list prices, without batch, regional or
 * long-context surcharges. Operators override them per Backend (ai.prices),
 * and turn them off with a "*" line. */
#ifndef SL_AI_PRICES_H
#define SL_AI_PRICES_H

typedef struct sl_ai_price {
    const char *model;  /* a model name, or the start of one ("gpt-4o" for "gpt-4o-2024-08-06") */
    double input, output, cached_input;
} sl_ai_price;

/* The default price of `model`: the entry with the longest name that starts
 * it, also after a "provider." prefix as Bedrock's ids have
 * ("us.anthropic.claude-..."); NULL when none. */
const sl_ai_price *sl_ai_default_price(const char *model);

#endif

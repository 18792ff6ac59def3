/* Token usage as providers report it, read from a response body or from one
 * streamed event: OpenAI-shaped (`usage.prompt_tokens`, `completion_tokens`,
 * `total_tokens`, `prompt_tokens_details.cached_tokens`; chat completions,
 * embeddings, the final chunk of a stream that asked for usage) and Anthropic
 * Messages (`usage.input_tokens`, `output_tokens`, `cache_read_input_tokens`;
 * in streams `message_start` carries `message.usage` and `message_delta` the
 * running output count), Gemini (`usageMetadata.promptTokenCount`,
 * `candidatesTokenCount` + `thoughtsTokenCount`, `cachedContentTokenCount`;
 * `modelVersion`) and Bedrock Converse (`usage.inputTokens`, `outputTokens`,
 * `cacheReadInputTokens`). */
#ifndef SL_AI_USAGE_H
#define SL_AI_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_ai_usage {
    int64_t input, output, cached; /* -1: not reported */
    char model[128];               /* the model that answered ("" unknown) */
    bool seen;                     /* some usage was reported */
} sl_ai_usage;

void sl_ai_usage_init(sl_ai_usage *u);
/* Reads one JSON document of provider `provider` (common/ai.h) into u: what it
 * reports overwrites what u had (a later streamed count supersedes an earlier
 * one). Returns false when it is not JSON (u unchanged). */
bool sl_ai_usage_read(unsigned provider, const char *json, size_t len, sl_ai_usage *u);
/* input + output, or -1 when neither is known. */
int64_t sl_ai_usage_total(const sl_ai_usage *u);

#endif

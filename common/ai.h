/* AI providers: the names a Backend's ai.provider takes and what the master
 * and the workers need to know of each (default endpoint, how the key is sent,
 * whether this build serves it yet). One table (common/ai.c), read by the
 * compiler and the workers alike. */
#ifndef SL_AI_H
#define SL_AI_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    SL_AI_NONE = 0, /* not an AI backend */
    SL_AI_OPENAI,
    SL_AI_OPENAI_COMPATIBLE,
    SL_AI_OLLAMA,
    SL_AI_AZURE_OPENAI,
    SL_AI_ANTHROPIC,
    SL_AI_GEMINI,
    SL_AI_VERTEXAI,
    SL_AI_BEDROCK,
    SL_AI_NPROVIDERS
} sl_ai_provider;

/* How the API key reaches the provider. */
typedef enum {
    SL_AI_KEY_BEARER = 0, /* Authorization: Bearer <key> */
    SL_AI_KEY_X_API_KEY,  /* x-api-key: <key> (Anthropic) */
    SL_AI_KEY_API_KEY,    /* api-key: <key> (Azure OpenAI) */
    SL_AI_KEY_GOOG,       /* x-goog-api-key: <key> (Gemini) */
} sl_ai_key_style;

typedef struct sl_ai_provider_info {
    const char *name;        /* as ai.provider spells it */
    const char *otel_name;   /* gen_ai.provider.name of OpenTelemetry's conventions */
    const char *host;        /* default endpoint ("": none, ai.host is required) */
    uint16_t port;           /* default port with the default protocol */
    bool https;              /* default protocol */
    const char *base_path;   /* where the provider's API lives ("/v1") */
    uint8_t key_style;       /* sl_ai_key_style */
    /* Served by this build (all are now; a provider added to the table
     * before its dialect is refused with a clear route status). */
    bool served;
} sl_ai_provider_info;

/* The provider named `name` (SL_AI_NONE when unknown). */
sl_ai_provider sl_ai_provider_from_name(const char *name);
/* Never NULL for a provider below SL_AI_NPROVIDERS. */
const sl_ai_provider_info *sl_ai_provider_get(unsigned provider);

#endif

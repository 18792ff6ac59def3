/* The AI provider table (common/ai.h). Default endpoints are the providers'
 * documented public ones. */
#include "common/ai.h"

#include <string.h>

static const sl_ai_provider_info providers[SL_AI_NPROVIDERS] = {
    [SL_AI_NONE] = {"", "", "", 0, false, "", SL_AI_KEY_BEARER, false},
    [SL_AI_OPENAI] = {"OpenAI", "openai", "api.openai.com", 443, true, "/v1", SL_AI_KEY_BEARER, true},
    [SL_AI_OPENAI_COMPATIBLE] = {"OpenAICompatible", "openai", "", 443, true, "/v1", SL_AI_KEY_BEARER, true},
    [SL_AI_OLLAMA] = {"Ollama", "ollama", "localhost", 11434, false, "/v1", SL_AI_KEY_BEARER, true},
    /* Azure's v1 API (GA since August 2025): OpenAI's API under /openai/v1 of
     * the resource's host, the deployment named as the model, no api-version. */
    [SL_AI_AZURE_OPENAI] = {"AzureOpenAI", "azure.ai.openai", "", 443, true, "/openai/v1", SL_AI_KEY_API_KEY, true},
    [SL_AI_ANTHROPIC] = {"Anthropic", "anthropic", "api.anthropic.com", 443, true, "/v1", SL_AI_KEY_X_API_KEY, true},
    [SL_AI_GEMINI] = {"Gemini", "gcp.gemini", "generativelanguage.googleapis.com", 443, true, "/v1beta",
                      SL_AI_KEY_GOOG, true},
    /* Vertex AI and Bedrock: the host and base path depend on ai.region (and
     * ai.project): compiler_ai.c makes them. Vertex takes an OAuth access
     * token; Bedrock SigV4 (or a Bedrock API key as a bearer token). */
    [SL_AI_VERTEXAI] = {"VertexAI", "gcp.vertex_ai", "", 443, true, "", SL_AI_KEY_BEARER, true},
    [SL_AI_BEDROCK] = {"Bedrock", "aws.bedrock", "", 443, true, "", SL_AI_KEY_BEARER, true},
};

sl_ai_provider sl_ai_provider_from_name(const char *name)
{
    for (unsigned i = 1; i < SL_AI_NPROVIDERS; i++)
        if (strcmp(providers[i].name, name) == 0)
            return (sl_ai_provider)i;
    return SL_AI_NONE;
}

const sl_ai_provider_info *sl_ai_provider_get(unsigned provider)
{
    return &providers[provider < SL_AI_NPROVIDERS ? provider : SL_AI_NONE];
}

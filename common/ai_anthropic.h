/* Translation between OpenAI's Chat Completions API and Anthropic's Messages
 * API, for clients that speak OpenAI to a Backend whose provider is Anthropic.
 * Written from both providers' API references:
 *   request   messages (system/developer into `system`; text and image parts;
 *             assistant tool_calls into tool_use blocks; tool messages into
 *             tool_result blocks), max_tokens (required by Anthropic),
 *             temperature, top_p, stop, tools, tool_choice, stream;
 *   response  content blocks into the message (text joined, tool_use into
 *             tool_calls), stop_reason into finish_reason, usage;
 *   stream    Anthropic's events into chat.completion.chunk objects;
 *   errors    Anthropic's error object into OpenAI's.
 * Pure functions on jansson values: no I/O. */
#ifndef SL_AI_ANTHROPIC_H
#define SL_AI_ANTHROPIC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Messages request for an OpenAI chat completions request (new reference),
 * or NULL with why (what the client sent that cannot be translated: the
 * client gets 400 with it). */
json_t *sl_anthropic_request(const json_t *chat, char *why, size_t whylen);

/* The chat.completion for a Messages response (new reference); created: the
 * time to state. */
json_t *sl_anthropic_response(const json_t *message, int64_t created);

/* OpenAI's error object for an Anthropic error body (new reference). Anything
 * unexpected still gives a well-formed error with `fallback` as its message. */
json_t *sl_anthropic_error(const json_t *body, const char *fallback);

/* OpenAI's model list for Anthropic's (GET /v1/models: {data: [{id,
 * display_name, created_at}]}): {object: "list", data: [{id, object: "model",
 * created, owned_by: "anthropic"}]} (new reference). */
json_t *sl_anthropic_models(const json_t *list);

/* OpenAI's finish_reason for an Anthropic stop_reason (NULL for none). */
const char *sl_anthropic_finish_reason(const char *stop_reason);

/* A streamed translation: Anthropic events in, chat.completion.chunk JSON
 * texts out through emit (each to be sent as one "data:" event). */
typedef struct sl_anthropic_stream {
    char id[96];
    char model[128];
    int64_t created;
    int64_t input_tokens, output_tokens;
    int tool_index;       /* OpenAI tool_calls index of the current tool_use block (-1 none) */
    int tools;            /* tool_use blocks seen */
    int block_tool[64];   /* per Anthropic block index: its tool_calls index, or -1 */
    bool include_usage;   /* the client asked for the usage chunk */
    bool done;            /* message_stop or error seen: [DONE] was emitted */
} sl_anthropic_stream;

void sl_anthropic_stream_init(sl_anthropic_stream *s, int64_t created, bool include_usage);
/* One event's data. emit gets each chunk's JSON text (NUL-terminated); it
 * returns false to stop (out of memory). Returns false when emit did. */
bool sl_anthropic_stream_event(sl_anthropic_stream *s, const char *data, size_t len,
                               bool (*emit)(const char *text, void *arg), void *arg);

#endif

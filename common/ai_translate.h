/* Translation between OpenAI's Chat Completions API (what clients speak) and
 * the APIs of providers that speak another one. Each such provider is one
 * dialect: a small table of pure functions on jansson values (no I/O), listed
 * once in the registry of common/ai_translate.c:
 *   Anthropic  Messages                 (common/ai_anthropic.c)
 *   Gemini     generateContent          (common/ai_gemini.c; Vertex AI too)
 *   Bedrock    Converse                 (common/ai_bedrock.c)
 * A streamed answer is translated event by event into chat.completion.chunk
 * objects through one state (sl_ai_stream) shared by all dialects. */
#ifndef SL_AI_TRANSLATE_H
#define SL_AI_TRANSLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives each translated chunk's JSON text (or "[DONE]"), NUL-terminated,
 * to send as one "data:" event; false to stop (out of memory). */
typedef bool (*sl_ai_emit_fn)(const char *text, void *arg);

#define SL_AI_STREAM_BLOCKS 64

/* A streamed translation in progress. */
typedef struct sl_ai_stream {
    char id[96];
    char model[128];
    int64_t created;
    int64_t input_tokens, output_tokens, cached_tokens; /* -1: not reported */
    int tools;                             /* tool calls announced so far (their OpenAI indexes) */
    int block_tool[SL_AI_STREAM_BLOCKS];   /* per provider content block: its tool_calls index, or -1 */
    bool include_usage;                    /* the client asked for the usage chunk */
    bool started;                          /* the first chunk (role) went out */
    bool done;                             /* [DONE] went out: nothing more is said */
} sl_ai_stream;

/* A dialect: how OpenAI chat calls are said to one kind of provider. */
typedef struct sl_ai_dialect {
    const char *name;
    /* The provider's request for a chat completions body (model set), or NULL
     * with why (what cannot be carried: the client gets 400 with it). */
    json_t *(*request)(const json_t *chat, char *why, size_t whylen);
    /* The chat.completion for the provider's answer; model: the one asked for
     * (used when the answer does not name it). */
    json_t *(*response)(const json_t *answer, const char *model, int64_t created);
    /* OpenAI's error object for the provider's error body and status. */
    json_t *(*error)(const json_t *body, int status, const char *fallback);
    /* OpenAI's model list for the provider's (NULL: lists are not translated). */
    json_t *(*models)(const json_t *list);
    /* One streamed event (its name, as SSE or AWS event-stream headers give
     * it, and its data) into chunks. false when emit failed. */
    bool (*stream_event)(sl_ai_stream *s, const char *event, size_t event_len, const char *data, size_t len,
                         sl_ai_emit_fn emit, void *arg);
    /* Where a chat call goes when the path depends on the model (written to
     * out, NUL-terminated: base + the provider's path; false: too long). NULL:
     * the client's path with .../chat/completions replaced by `chat_suffix`. */
    bool (*chat_path)(char *out, size_t cap, const char *base, const char *model, bool stream);
    const char *chat_suffix;
    /* Embeddings (POST .../embeddings), for dialects that translate them (NULL:
     * they pass as the client sent them): the provider's request (NULL with
     * why), its path, and OpenAI's list for its answer (base64: the client
     * asked for encoding_format base64, float32 little-endian). */
    json_t *(*embeddings_request)(const json_t *req, char *why, size_t whylen);
    bool (*embeddings_path)(char *out, size_t cap, const char *base, const char *model);
    json_t *(*embeddings_response)(const json_t *answer, const char *model, bool base64);
    /* Streams come in AWS's event-stream framing (application/vnd.amazon.eventstream), not SSE. */
    bool aws_event_stream;
    /* A whole stream ends with an event of its own (Anthropic's message_stop,
     * Bedrock's metadata): one whose body ends first was cut short. Gemini's
     * streams end with the body. */
    bool stream_ends_itself;
} sl_ai_dialect;

/* The dialect of provider (common/ai.h), or NULL when it speaks OpenAI's API. */
const sl_ai_dialect *sl_ai_dialect_for(unsigned provider);

extern const sl_ai_dialect sl_ai_dialect_anthropic;
extern const sl_ai_dialect sl_ai_dialect_gemini;
extern const sl_ai_dialect sl_ai_dialect_bedrock;

void sl_ai_stream_init(sl_ai_stream *s, int64_t created, bool include_usage, const char *model);
/* The stream is over (the provider's body ended): what was not said yet goes
 * (the usage chunk when asked for, [DONE]). false when emit failed. */
bool sl_ai_stream_end(sl_ai_stream *s, sl_ai_emit_fn emit, void *arg);
/* ...the provider's body ended before the stream's own end (a dialect whose
 * streams end themselves): an error chunk, then [DONE]. */
bool sl_ai_stream_cut(sl_ai_stream *s, sl_ai_emit_fn emit, void *arg);

/* Helpers the dialects share. */
/* why = fmt with arg (shortened to whole UTF-8 characters). */
void sl_ai_why(char *why, size_t len, const char *fmt, const char *arg);
/* Cuts a string back to whole UTF-8 characters. */
void sl_ai_utf8_whole(char *s);
/* Copies src into dst (cap bytes), to whole characters. */
void sl_ai_copy(char *dst, size_t cap, const char *src);
/* A data URL "data:<media>;base64,<data>": media into media (cap bytes) and
 * *data pointed at the base64 text; false when it is not one. */
bool sl_ai_data_url(const char *url, char *media, size_t cap, const char **data);
/* s written at out[at] as one path segment (unreserved characters as they
 * are, the rest percent-encoded), NUL-terminated: the new length, or cap when
 * it does not fit or is no segment ("", ".", ".."). */
size_t sl_ai_put_segment(char *out, size_t cap, size_t at, const char *s);
/* OpenAI's usage object. */
json_t *sl_ai_usage_object(int64_t input, int64_t output, int64_t cached);
/* A positive integer member, else 0. */
int64_t sl_ai_count(const json_t *o, const char *key);
/* The arguments of an OpenAI tool call as a JSON object (new reference), or
 * NULL when they are not one ("" is {}). */
json_t *sl_ai_tool_args(const json_t *call);
/* Each tool call of an OpenAI assistant message: block(blocks, id, name, args)
 * gives its block in the provider's form (args: a JSON object, consumed), which
 * is appended to blocks. false (why set) for a call without an id, a name, or
 * arguments that are a JSON object. */
bool sl_ai_tool_calls(json_t *blocks, const json_t *message,
                      json_t *(*block)(const char *id, const char *name, json_t *args), char *why, size_t whylen);
/* The chat's function tools in the provider's form: decl(name, function)
 * gives each one's declaration (new reference). NULL (why set) when a tool
 * has no function.name; an empty array when there are none. */
json_t *sl_ai_tools(const json_t *chat, json_t *(*decl)(const char *name, const json_t *fn), char *why, size_t whylen);
/* The text of an OpenAI message content (a string, or its text parts joined). */
char *sl_ai_content_text(const json_t *content);
/* OpenAI's error object (code NULL: null). */
json_t *sl_ai_openai_error(const char *message, const char *type, const char *code);
/* ...as JSON text (malloc'd), or NULL when memory runs out. */
char *sl_ai_error_text(const char *message, const char *type, const char *code);
/* The type OpenAI gives an error of this status. */
const char *sl_ai_error_type(int status);
/* max_completion_tokens, else max_tokens, else 0. */
int64_t sl_ai_max_tokens(const json_t *chat);
/* How a dialect says a conversation as turns of blocks (Gemini's contents of
 * parts, Bedrock's messages of content blocks). */
typedef struct sl_ai_turns {
    const char *provider;       /* for messages: "Gemini" */
    const char *assistant_role; /* the assistant's role in the provider's API ("model") */
    const char *blocks_key;     /* a turn's list of blocks ("parts") */
    /* A system message's content into blocks; false (why set). */
    bool (*system_blocks)(json_t *blocks, const json_t *content, char *why, size_t whylen);
    /* messages[i] (a user, assistant or tool message) into blocks; false (why set). */
    bool (*message_blocks)(json_t *blocks, const json_t *messages, size_t i, char *why, size_t whylen);
} sl_ai_turns;
/* The chat's messages as the provider's turns (user and tool messages in
 * user turns; consecutive turns of one role merged, empty ones left out) and
 * its system and developer messages as blocks. false with why. */
bool sl_ai_build_turns(const sl_ai_turns *spec, const json_t *messages, json_t *system, json_t *turns, char *why,
                       size_t whylen);
/* Turns ({role, <blocks_key>: [...]}) without empty ones, and with the
 * neighbours of one role that this leaves merged. */
void sl_ai_compact_turns(json_t *turns, const char *blocks_key);
/* base + middle + model (one path segment) + suffix into out; false when it
 * does not fit or the model is no segment. */
bool sl_ai_model_path(char *out, size_t cap, const char *base, const char *middle, const char *model,
                      const char *suffix);
/* The tool name a tool message answers: the function of the assistant's
 * tool call with its tool_call_id, earlier in messages (NULL when none). */
const char *sl_ai_tool_name(const json_t *messages, size_t before, const char *tool_call_id);

/* An embedding (a JSON array of numbers) as OpenAI's base64 form: float32
 * little-endian, base64 (new reference). */
json_t *sl_ai_embedding_base64(const json_t *values);
/* A chunk of the stream with one choice: delta (consumed) and finish_reason. */
bool sl_ai_stream_chunk(sl_ai_stream *s, json_t *delta, const char *finish, sl_ai_emit_fn emit, void *arg);
/* The first chunk (role: assistant), once. */
bool sl_ai_stream_start(sl_ai_stream *s, sl_ai_emit_fn emit, void *arg);
/* An error in the stream: OpenAI's error object, then [DONE]. */
bool sl_ai_stream_error(sl_ai_stream *s, json_t *error, sl_ai_emit_fn emit, void *arg);

#endif

/* The AI data plane in the worker: requests to Backends of type AI (their
 * record carries ai_provider, the key, the provider's authority and base path).
 *   ai_request.c   the upstream request head: the provider's Host, its API's
 *                  base path, the gateway's credential instead of the client's
 *   ai_request_body.c  the request body (collected whole by proxy_collect.c):
 *                  ai.model, stream_options.include_usage
 *   ai_response.c  the response hook: usage accounting of JSON answers (held
 *                  whole, sent with count headers) and of streams (passed on
 *                  event by event as they arrive)
 *   ai_model_route.c  the body's model as a request field for routing
 *   ai_metrics.c   gen_ai metrics in the worker's slot */
#ifndef SL_WORKERS_AI_H
#define SL_WORKERS_AI_H

#include <stdbool.h>
#include <stdint.h>

#include "common/ai_usage.h"
#include "common/slice.h"
#include "common/snapshot.h"
#include "workers/dbuf.h"
#include "workers/http1_parser.h"
#include "workers/response_hook.h"
#include "workers/worker_internal.h"

struct sl_conn;

extern const sl_response_hook sl_ai_response_hook;

/* The AI backend the request goes to, or NULL. */
const sl_snap_backend *sl_ai_backend(const struct sl_conn *c);
/* A client field the gateway does not forward to backend be: a credential of
 * the client's own when the gateway sends the provider's key. */
bool sl_ai_drops_field(const sl_snap_backend *be, sl_slice name);
/* The Host value for be. */
sl_slice sl_ai_authority(const sl_snapshot *s, const sl_snap_backend *be);
/* Rewrites the path written into b from offset `from`: a leading "/v1" (the
 * OpenAI client's base) becomes the Backend's base path. */
bool sl_ai_map_path(const sl_snapshot *s, const sl_snap_backend *be, sl_buf *b, size_t from);
/* Appends the provider's credential (and required fields) to an upstream
 * head (Bedrock's SigV4 signature when the head goes without a body). false:
 * the signature could not be made (out of memory). */
bool sl_ai_request_fields(const struct sl_conn *c, const sl_snap_backend *be, sl_buf *b);

/* What ai_request_body.c learned and did, in c->ai_flags. */
enum {
    SL_AI_REQ_COMPLETIONS = 1, /* the path is a chat completions (or completions) call */
    SL_AI_REQ_STREAM = 2,      /* ...that asks for a stream */
    SL_AI_REQ_USAGE_ADDED = 4, /* the gateway asked for usage in it: the usage-only chunk is its own, not passed on */
    SL_AI_REQ_CHAT = 8,        /* the path is a chat completions call (OpenAI's API) */
    SL_AI_REQ_TRANSLATE = 16,  /* ...to a provider that speaks another API: request and answer are translated */
    SL_AI_REQ_CLIENT_USAGE = 32, /* the client asked for the usage chunk (stream_options.include_usage) */
    SL_AI_REQ_MODELS = 64,     /* GET .../models to a provider whose list is translated to OpenAI's */
    SL_AI_REQ_MESSAGES = 128,  /* the path is Anthropic's Messages API (.../messages) */
    SL_AI_REQ_RESPONSES = 256, /* the path is OpenAI's Responses API (.../responses) */
    SL_AI_REQ_LIST = 512,      /* GET .../models: a model list (the route's models join the provider's) */
    SL_AI_REQ_EMBEDDINGS = 1024, /* POST .../embeddings */
    SL_AI_REQ_BASE64 = 2048,   /* ...whose client asked for encoding_format base64 (a translated answer says so) */
};
/* ai_request.c: rewrites a translated call's path written into b from `from`
 * ("/chat/completions" becomes the provider's own, suffix: "/messages"). */
bool sl_ai_translate_path(sl_buf *b, size_t from, const char *suffix);
/* ai_request.c: a collected request's head (h, without its blank line) once
 * the body is rewritten (req_out): the translated call's target when it names
 * the model (c->ai_path), and Bedrock's SigV4 signature over the body. false:
 * it does not fit. */
bool sl_ai_finish_head(struct sl_conn *c, sl_buf *h);
/* ai_request_body.c: the SL_AI_REQ_* flags a request head gives for backend be
 * (the path's kind; SL_AI_REQ_TRANSLATE for chat calls to Anthropic). */
uint16_t sl_ai_request_kind(const sl_http1_request *req, const sl_snap_backend *be);
/* ai_request_body.c: whether a request's body is rewritten (and so collected
 * whole first): (chat) completions, and JSON bodies when ai.model is set. */
bool sl_ai_rewrites_body(const sl_snap_backend *be, uint16_t flags, const sl_http1_request *req);
/* ai_request_body.c: the body that goes upstream for the client's body `in`
 * (whole, de-chunked): ai.model set, usage asked for in OpenAI-shaped streams;
 * a body that is not a JSON object (strictly read) is refused (400); a chat call to Anthropic
 * is translated to its Messages API. Moves or copies into `out`; returns 0, or
 * the status the client gets instead, with *error_json (malloc'd, OpenAI's
 * error shape) when the request cannot be translated; 429 (no error_json)
 * when its prompt does not fit in an aiTokenLimit's budget. */
int sl_ai_request_body(struct sl_conn *c, sl_dbuf *in, sl_dbuf *out, char **error_json);

/* The request field the gateway sets from the body's model, for routing. */
#define SL_AI_MODEL_HEADER "x-sluice-ai-model"
/* ai_models.c: GET .../models to an AI Backend of `route`: answered with the
 * models the route serves (exact x-sluice-ai-model matches, ai.model, alias
 * names of its AI Backends) when they are all it serves; false when some rule
 * sends any model to a provider (the provider's list answers, and the
 * route's names join it: sl_ai_models_merge). */
bool sl_ai_models_answer(struct sl_conn *c, const sl_snap_route *route);
/* ...an OpenAI model list (JSON text) with the route's models added (malloc'd),
 * or NULL when there is nothing to add or it is no such list. */
char *sl_ai_models_merge(const struct sl_conn *c, const char *list, size_t len);
/* ai_model_route.c: routing by the body's model. Whether some route of a
 * port matches on x-sluice-ai-model (then the gateway sets it, and reads a
 * JSON POST's body before routing). */
bool sl_ai_port_routes_by_model(const sl_snapshot *s, uint32_t port_index);
/* ...for the request just parsed (w->req, its head consumed): 0 when routing
 * goes on now (a client's own x-sluice-ai-model dropped), 1 when the body is
 * being read (then sl_conn_route follows), -1 when the request was answered. */
int sl_ai_model_route_begin(struct sl_conn *c);
/* ...the body is whole (req_hold): the head gets the model's field, w->req is
 * parsed again from it. false: it could not (the head grew past its limit). */
bool sl_ai_model_route_body(struct sl_conn *c);

/* policy_ai_token_limit.c: the aiTokenLimit the request passed (c->tl_policy).
 * Whether a prompt of text_bytes (its estimate: a token per 4 bytes of text)
 * fits in what is left of the budget (true when no such limit applies). */
bool sl_ai_tokens_fit(struct sl_conn *c, uint64_t text_bytes);
/* ...answers a request that does not fit: 429, Retry-After, RateLimit fields. */
void sl_ai_tokens_refuse(struct sl_conn *c);
/* ...charges what the answer used (the provider's total; -1: unknown, then the
 * estimate; 0: nothing), once. */
void sl_ai_tokens_settle(struct sl_conn *c, int64_t used);
/* ...the request is over: what it kept goes. */
void sl_ai_tokens_end(struct sl_conn *c);

/* policy_ai_budget.c: the aiBudget the request passed (c->budget), as
 * aiTokenLimit's functions above: whether the prompt's estimate fits in what
 * is left; the 429 when it does not; the charge of what the answer used
 * (tokens, -1 unknown; its cost in nano-USD, -1 unknown), once; the end. */
bool sl_ai_budget_fit(struct sl_conn *c, uint64_t text_bytes, const char *model);
void sl_ai_budget_refuse(struct sl_conn *c);
void sl_ai_budget_settle(struct sl_conn *c, int64_t tokens, int64_t cost_nusd);
void sl_ai_budget_end(struct sl_conn *c);
/* ...the period of aiBudget p now (days or months since 1970, UTC), and the
 * seconds until the next (also read by the master's /debug/ai-budgets). */
uint32_t sl_ai_budget_period(const sl_snap_policy *p, uint64_t *left_s);

/* ai_failover.c: a chain of AI Backends (ai.fallbacks). The Backend to start
 * with for primary_index: the primary, or the first of its fallbacks not
 * backing off; sets c->ai_failover when there is a chain. */
uint32_t sl_ai_failover_start(struct sl_conn *c, uint32_t primary_index);
/* ...the next Backend to try after a failure, or SL_SNAP_NONE. */
uint32_t sl_ai_failover_next(struct sl_conn *c);
/* ...what a Backend of a chain did: failed (429, 5xx, no answer: backs off) or answered. */
void sl_ai_provider_result(const sl_snapshot *s, uint32_t backend_index, bool failed);
/* ai_request_body.c: whether the request's body is read as JSON: Content-Type
 * application/json, a +json type, or none (servers read those as JSON too). */
bool sl_ai_json_body(const sl_http1_request *req);

/* The prompt guard (aiPromptGuard: policy_ai_prompt_guard.c; ai_guard.c). */
#define SL_GUARD_RESPONSE 1 /* sl_snap_policy_item.flags: a pattern for the answer's side */
#define SL_AI_GUARD_CHOICES 8 /* streamed choices whose text is masked (n <= 8) */
void *sl_ai_guard_prepare(const sl_snapshot *s, const sl_snap_policy *p);
void sl_ai_guard_free(void *state);
/* The request's prompt (parsed body `root`) against the guard c passed: 0 to
 * go on (*changed: it was masked, or max_tokens capped), or 403 with
 * *error_json (malloc'd). */
struct json_t;
int sl_ai_guard_request(struct sl_conn *c, struct json_t *root, bool *changed, char **error_json);
/* ai_guard_webhook.c: the guard's webhook asked about the body the request
 * is about to send (the client's, whole): 0 to go on (body rewritten when the
 * webhook said so), -1 while the answer is awaited (sl_proxy_collect_resume
 * follows it), or the status the client gets, with *error_json (malloc'd). */
int sl_ai_guard_webhook(struct sl_conn *c, sl_dbuf *body, char **error_json);
/* ...the request gave up waiting: a failure, as the webhook's own timeout is
 * (failureMode decides). */
void sl_ai_guard_webhook_expire(struct sl_conn *c);
/* ...whether the answer is still awaited. */
bool sl_ai_guard_webhook_waiting(const struct sl_conn *c);
/* ...when a request waiting for it gives up (its timeout, and a margin). */
uint64_t sl_ai_guard_webhook_deadline(const struct sl_conn *c);
/* ...the request is over (a call in flight is cancelled). */
void sl_ai_guard_webhook_end(struct sl_conn *c);
/* Whether the guard reads requests (patterns, maxTokens): their bodies must be JSON. */
bool sl_ai_guard_reads_requests(const struct sl_conn *c);
/* Whether the guard masks answers. */
bool sl_ai_guard_masks_answers(const struct sl_conn *c);
/* A JSON answer with its texts masked (malloc'd), or NULL when nothing matched;
 * *fail when it cannot be read (it must not go out). */
char *sl_ai_guard_answer(struct sl_conn *c, const char *body, size_t len, bool *fail);
/* A stream's masking: each choice's text held back until it can be masked. */
typedef struct sl_ai_guard_stream {
    sl_dbuf held[SL_AI_GUARD_CHOICES];
    struct json_t *skeleton; /* the first chunk without its choices, for a last chunk of our own */
    bool completions;        /* the choices carry `text` (completions), not delta.content */
} sl_ai_guard_stream;
/* One event's data (JSON: an OpenAI chunk, or an Anthropic event) as it goes
 * on (malloc'd), or NULL to pass it as it is; *drop: it must not go on at all
 * (not JSON, or the guard is not available: a guard fails closed). */
char *sl_ai_guard_chunk(struct sl_conn *c, sl_ai_guard_stream *gs, const char *data, size_t len, bool *drop);
/* ...the stream ends: a chunk with the text still held (malloc'd), or NULL. */
char *sl_ai_guard_stream_end(struct sl_conn *c, sl_ai_guard_stream *gs);
void sl_ai_guard_stream_free(sl_ai_guard_stream *gs);

/* ai_metrics.c: one answered request into the worker's gen_ai metrics. ttft_ms:
 * time to the first byte of a streamed answer, -1 for none; cost_nusd: its
 * cost (sl_ai_cost_nusd), -1 for none. */
void sl_ai_metrics_record(struct sl_conn *c, const sl_snap_backend *be, const sl_ai_usage *u, uint64_t duration_ms,
                          int64_t ttft_ms, int64_t cost_nusd);
/* ...what an answer cost by be's ai.prices (the answering model's, else "*"),
 * in nano-USD; -1 when there is no price or no count. */
int64_t sl_ai_cost_nusd(const sl_snapshot *s, const sl_snap_backend *be, const sl_ai_usage *u);

#endif

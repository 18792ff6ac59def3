/* The response hook of AI backends (workers/ai.h): token accounting.
 *
 * A 2xx JSON answer is held whole (up to AI_HOLD_MAX) and sent with
 * Content-Length and the count fields (x-sluice-ai-*) in its head. A 2xx event
 * stream is passed on as it arrives, byte for byte, and read on the side: the
 * usage event that ends it (OpenAI with stream_options.include_usage;
 * Anthropic's message_start and message_delta) gives the counts, which go to
 * the access log and the metrics (a stream's head is gone before they are
 * known). Anything else passes untouched. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/ai.h"
#include "common/ai_translate.h"
#include "common/aws_eventstream.h"
#include "common/sse.h"
#include "workers/ai.h"
#include "workers/conn.h"

/* A JSON answer larger than this is passed on streaming, uncounted. */
#define AI_HOLD_MAX (8u << 20)
/* One streamed event may carry this much data and still be read. */
#define AI_EVENT_MAX (1u << 20)

typedef struct ai_state {
    const sl_snap_backend *be;
    bool stream;
    bool strip;          /* stream: the usage-only chunk is the gateway's (it asked for it), not passed on */
    bool translate;      /* a call answered in another dialect's API: translated to OpenAI's */
    const sl_ai_dialect *dialect; /* ...that dialect */
    bool aws_frames;     /* the stream comes in AWS event-stream framing (Bedrock), not SSE */
    sl_aws_es es;
    bool ok;             /* a 2xx answer */
    bool counted;        /* ...of an LLM call: it goes into the metrics */
    sl_ai_stream tr;
    bool holding;        /* JSON: held whole until its end */
    bool recorded;
    sl_dbuf held;
    sl_dbuf pending;     /* strip: raw bytes of the event not complete yet */
    bool lf_follows;     /* strip: the last event ended at a CR; a LF first in the next bytes is its own */
    bool lf_dropped;     /* ...and that event was dropped (its LF goes with it) */
    sl_sse sse;
    sl_ai_usage usage;
    uint64_t started_ms;
    int64_t ttft_ms;     /* streams: first answer bytes after the request started */
    bool guard;          /* an aiPromptGuard masks the answer's text (ai_guard.c) */
    sl_ai_guard_stream gs;
} ai_state;

static ai_state *state_of(const sl_conn *c) { return c->res_hook_state; }

/* The field's value in the upstream's response head, or an empty slice. */
static sl_slice response_field(const sl_conn *c, const char *name)
{
    const sl_http1_header *h = sl_http1_response_header(&c->w->res, name);
    return h ? h->value : sl_slice_make("", 0);
}

static bool on_head(sl_conn *c)
{
    const sl_snap_backend *be = sl_ai_backend(c);
    bool ok = c->status >= 200 && c->status <= 299;
    bool translate = (c->ai_flags & SL_AI_REQ_TRANSLATE) != 0;
    if (!be || (!ok && !translate))
        return false; /* an error in the client's own API passes as the provider said it */
    sl_slice encoding = response_field(c, "content-encoding");
    if (encoding.len && !(encoding.len == 8 && strncasecmp(encoding.ptr, "identity", 8) == 0))
        return false; /* compressed although asked not to be: it cannot be read, so it passes uncounted */
    sl_slice type = response_field(c, "content-type");
    const sl_ai_dialect *dialect = translate ? sl_ai_dialect_for(be->ai_provider) : NULL;
    bool aws_frames = dialect && dialect->aws_event_stream && sl_media_type_is(type, "application/vnd.amazon.eventstream");
    bool stream = aws_frames || sl_media_type_is(type, "text/event-stream");
    if ((!stream && !sl_media_type_is(type, "application/json")) || (stream && !ok))
        return false;
    ai_state *st = calloc(1, sizeof(*st));
    if (!st)
        return false;
    st->be = be;
    st->stream = stream;
    st->translate = translate && dialect;
    st->dialect = dialect;
    st->aws_frames = aws_frames;
    st->ok = ok;
    st->counted = ok && !(c->ai_flags & SL_AI_REQ_LIST); /* a model list is no LLM call */
    sl_ai_stream_init(&st->tr, (int64_t)time(NULL), (c->ai_flags & SL_AI_REQ_CLIENT_USAGE) != 0, c->ai_model);
    st->strip = stream && !translate && (c->ai_flags & SL_AI_REQ_USAGE_ADDED);
    st->guard = ok && !(c->ai_flags & SL_AI_REQ_LIST) && sl_ai_guard_masks_answers(c);
    st->holding = !stream;
    st->started_ms = c->started_ms;
    st->ttft_ms = -1;
    sl_ai_usage_init(&st->usage);
    sl_sse_init(&st->sse, AI_EVENT_MAX);
    sl_aws_es_init(&st->es, AI_EVENT_MAX);
    c->res_hook_state = st;
    return true;
}

/* Whether a "usage" member with an object value is in an event (OpenAI
 * streams that include usage carry "usage": null in every other chunk: those
 * are not worth parsing). */
static bool has_usage_object(const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    while ((p = memmem(p, (size_t)(end - p), "\"usage\"", 7)) != NULL) {
        p += 7;
        const char *q = p;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
            q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
                q++;
            if (q < end && *q == '{')
                return true;
        }
    }
    return false;
}

/* Reads one event for the counts. Returns whether it is an OpenAI usage-only
 * chunk (no choices, a usage object): the one include_usage adds. */
static bool count_event(ai_state *st, const char *data, size_t len)
{
    /* Only events that can carry what is counted are parsed: the usage, and
     * the model until it is known (OpenAI names it in every chunk). */
    bool usage = has_usage_object(data, len);
    bool model = !st->usage.model[0] && memmem(data, len, "\"model\"", 7) != NULL;
    if (!usage && !model)
        return false;
    sl_ai_usage_read(st->be->ai_provider, data, len, &st->usage);
    if (!usage || !st->strip)
        return false;
    json_t *root = json_loadb(data, len, 0, NULL);
    const json_t *choices = json_object_get(root, "choices");
    bool only = json_is_array(choices) && json_array_size(choices) == 0 &&
                json_is_object(json_object_get(root, "usage"));
    json_decref(root);
    return only;
}

static void on_event(const char *event, size_t event_len, const char *data, size_t len, void *arg)
{
    (void)event;
    (void)event_len;
    count_event(arg, data, len);
}

/* Strip mode: events go to the client whole, as each completes, but the
 * usage-only chunk the gateway asked for. */
typedef struct strip_feed {
    sl_conn *c;
    ai_state *st;
    const char *data; /* the bytes being fed */
    size_t len;
    size_t from;      /* ...those before it are emitted or dropped */
    bool failed;
} strip_feed;

/* Raw bytes of one event may wait this long for its end; beyond, the stream
 * goes on passed through as it comes (counted, not stripped). */
#define AI_PENDING_MAX (AI_EVENT_MAX + 4096)

static void on_event_strip(const char *event, size_t event_len, const char *data, size_t len, void *arg)
{
    strip_feed *f = arg;
    ai_state *st = f->st;
    (void)event;
    (void)event_len;
    /* The event's raw bytes end with the line end that completed it; a CRLF's
     * LF is part of it (a client's reader waits for the whole blank line). */
    size_t at = st->sse.at, end = at + 1;
    bool cr = f->data[at] == '\r';
    if (cr && end < f->len && f->data[end] == '\n')
        end++;
    bool drop = count_event(st, data, len);
    if (!drop) {
        f->failed |= !sl_res_emit(f->c, st->pending.data + st->pending.start, sl_dbuf_len(&st->pending)) ||
                     !sl_res_emit(f->c, f->data + f->from, end - f->from);
    }
    sl_dbuf_consume(&st->pending, sl_dbuf_len(&st->pending));
    f->from = end;
    st->lf_follows = cr && end == at + 1 && end == f->len;
    st->lf_dropped = drop;
}

/* Translate mode: each Anthropic event, counted, goes out as OpenAI chunks. */
typedef struct translate_feed {
    sl_conn *c;
    ai_state *st;
    bool failed;
} translate_feed;

static bool emit_data(sl_conn *c, const char *text, size_t n)
{
    return sl_res_emit(c, "data: ", 6) && sl_res_emit(c, text, n) && sl_res_emit(c, "\n\n", 2);
}

/* An event's data goes out (after its event name, if it has one), masked by
 * the guard when there is one (the text it still holds goes before the end). */
static bool emit_guarded(sl_conn *c, ai_state *st, const char *event, size_t event_len, const char *text, size_t n)
{
    if (event_len && !(sl_res_emit(c, "event: ", 7) && sl_res_emit(c, event, event_len) && sl_res_emit(c, "\n", 1)))
        return false;
    if (!st->guard)
        return emit_data(c, text, n);
    if (n == 6 && memcmp(text, "[DONE]", 6) == 0) {
        char *rest = sl_ai_guard_stream_end(c, &st->gs);
        bool ok = !rest || emit_data(c, rest, strlen(rest));
        free(rest);
        return ok && emit_data(c, text, n);
    }
    bool drop;
    char *out = sl_ai_guard_chunk(c, &st->gs, text, n, &drop);
    if (drop)
        return event_len == 0 || sl_res_emit(c, "\n", 1); /* an event name alone ends as an empty event */
    bool ok = out ? emit_data(c, out, strlen(out)) : emit_data(c, text, n);
    free(out);
    return ok;
}

static bool emit_data_event(const char *text, void *arg)
{
    translate_feed *f = arg;
    return emit_guarded(f->c, f->st, NULL, 0, text, strlen(text));
}

/* Guard mode: a stream in OpenAI's shape whose text is masked goes out event by
 * event, each rewritten (the usage-only chunk the gateway asked for is left out). */
static void on_event_guard(const char *event, size_t event_len, const char *data, size_t len, void *arg)
{
    translate_feed *f = arg;
    if (!count_event(f->st, data, len) && !emit_guarded(f->c, f->st, event, event_len, data, len))
        f->failed = true;
}

/* The counts a translation has read so far (each dialect's own usage events). */
static void take_stream_counts(ai_state *st)
{
    const sl_ai_stream *tr = &st->tr;
    if (tr->input_tokens >= 0 || tr->output_tokens >= 0)
        st->usage.seen = true;
    if (tr->input_tokens >= 0)
        st->usage.input = tr->input_tokens;
    if (tr->output_tokens >= 0)
        st->usage.output = tr->output_tokens;
    if (tr->cached_tokens >= 0)
        st->usage.cached = tr->cached_tokens;
    sl_ai_copy(st->usage.model, sizeof(st->usage.model), tr->model);
}

static void on_event_translate(const char *event, size_t event_len, const char *data, size_t len, void *arg)
{
    translate_feed *f = arg;
    if (!f->st->dialect->stream_event(&f->st->tr, event, event_len, data, len, emit_data_event, f))
        f->failed = true;
    take_stream_counts(f->st);
}

/* A held answer of a translated call: the chat.completion (or OpenAI's error
 * shape), or NULL when the provider's body is not JSON (it then goes as it is). */
static char *translated_body(sl_conn *c, ai_state *st)
{
    json_t *root = json_loadb(st->held.data + st->held.start, sl_dbuf_len(&st->held), 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    char fallback[64];
    snprintf(fallback, sizeof(fallback), "the provider answered %d", c->status);
    const sl_ai_dialect *d = st->dialect;
    json_t *out = !st->ok                                ? d->error(root, c->status, fallback)
                  : (c->ai_flags & SL_AI_REQ_MODELS)     ? d->models(root)
                  : (c->ai_flags & SL_AI_REQ_EMBEDDINGS) ? d->embeddings_response(root, c->ai_model,
                                                                                  (c->ai_flags & SL_AI_REQ_BASE64) != 0)
                                                         : d->response(root, c->ai_model, (int64_t)time(NULL));
    json_decref(root);
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return text;
}

static bool stream_strip(sl_conn *c, ai_state *st, sl_slice data)
{
    strip_feed f = {c, st, data.ptr, data.len, 0, false};
    if (st->lf_follows && data.len && data.ptr[0] == '\n') {
        /* The LF of the CRLF that ended the last event. */
        if (!st->lf_dropped && !sl_res_emit(c, "\n", 1))
            return false;
        f.from = 1;
    }
    st->lf_follows = false;
    /* (The reader itself knows that LF ends nothing: it is fed everything.) */
    if (!sl_sse_feed(&st->sse, data.ptr, data.len, on_event_strip, &f) || f.failed)
        return false;
    if (!sl_dbuf_append(&st->pending, data.ptr + f.from, data.len - f.from))
        return false;
    /* Between events (comments, keep-alives, blank lines), or an event too
     * large to hold: what waits goes now. */
    const sl_sse *p = &st->sse;
    bool between = !p->has_data && p->event_len == 0 && p->line_len == 0 && !p->skipping;
    if (between || sl_dbuf_len(&st->pending) > AI_PENDING_MAX) {
        if (!between)
            st->strip = false; /* from here on passed through as it comes */
        bool ok = sl_res_emit(c, st->pending.data + st->pending.start, sl_dbuf_len(&st->pending));
        sl_dbuf_consume(&st->pending, sl_dbuf_len(&st->pending));
        return ok;
    }
    return true;
}

/* The token budget is charged what the answer used (an error nothing; an
 * answer without its count, or one the client left, the prompt estimate).
 * Done as soon as the answer is whole, before its last bytes are on their way
 * (they are only buffered while a hook runs): a client that sends its next
 * request the moment it has this answer meets the budget already charged. */
static void settle(sl_conn *c, ai_state *st)
{
    int64_t total = sl_ai_usage_total(&st->usage);
    bool free_of_charge = !st->ok || (c->ai_flags & SL_AI_REQ_LIST);
    sl_ai_tokens_settle(c, free_of_charge ? 0 : total >= 0 ? total : -1);
    sl_ai_budget_settle(c, free_of_charge ? 0 : total >= 0 ? total : -1,
                        free_of_charge ? 0 : sl_ai_cost_nusd(&c->snap->s, st->be, &st->usage));
}

/* The answer is complete: counted into the metrics (once). */
static void record(sl_conn *c, ai_state *st)
{
    if (st->recorded || !st->counted)
        return;
    st->recorded = true;
    uint64_t now = sl_now_ms();
    sl_ai_metrics_record(c, st->be, &st->usage, now > st->started_ms ? now - st->started_ms : 0, st->ttft_ms,
                         sl_ai_cost_nusd(&c->snap->s, st->be, &st->usage));
}

/* The count fields for the head of a held answer. */
static void count_fields(const sl_conn *c, const ai_state *st, char *out, size_t cap)
{
    const sl_ai_usage *u = &st->usage;
    size_t n = 0;
    out[0] = '\0';
    if (u->model[0]) {
        /* Only a model name that is a safe field value goes into the head. */
        bool safe = true;
        for (const char *p = u->model; *p; p++)
            safe = safe && (unsigned char)*p >= 0x20 && *p != 0x7f;
        if (safe)
            n += (size_t)snprintf(out + n, cap - n, "x-sluice-ai-model: %s\r\n", u->model);
    }
    if (u->input >= 0 && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "x-sluice-ai-prompt-tokens: %lld\r\n", (long long)u->input);
    if (u->output >= 0 && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "x-sluice-ai-completion-tokens: %lld\r\n", (long long)u->output);
    if (sl_ai_usage_total(u) >= 0 && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "x-sluice-ai-total-tokens: %lld\r\n", (long long)sl_ai_usage_total(u));
    int64_t cost = sl_ai_cost_nusd(&c->snap->s, st->be, u);
    if (cost >= 0 && n < cap)
        snprintf(out + n, cap - n, "x-sluice-ai-cost-usd: %lld.%09lld\r\n", (long long)(cost / 1000000000),
                 (long long)(cost % 1000000000));
}

/* A held answer that grew past AI_HOLD_MAX goes on streaming, uncounted; one a
 * guard must mask fails instead (502: nothing unmasked gets out). */
static bool stop_holding(sl_conn *c, ai_state *st)
{
    if (st->guard || st->translate)
        return false; /* (a translated answer must not go in the provider's own shape) */
    st->holding = false;
    bool ok = sl_res_emit(c, st->held.data + st->held.start, sl_dbuf_len(&st->held));
    sl_dbuf_free(&st->held);
    return ok;
}

static bool on_body(sl_conn *c, sl_slice data, bool last)
{
    ai_state *st = state_of(c);
    if (st->stream) {
        if (data.len && st->ttft_ms < 0)
            st->ttft_ms = (int64_t)(sl_now_ms() - st->started_ms);
        if (data.len && c->res_head_held)
            sl_res_release_head(c, NULL, -1); /* the client learns at once that its stream is coming */
        if (st->translate || st->guard) {
            translate_feed f = {c, st, false};
            void (*on)(const char *, size_t, const char *, size_t, void *) =
                st->translate ? on_event_translate : on_event_guard;
            bool read = st->aws_frames ? sl_aws_es_feed(&st->es, data.ptr, data.len, on, &f)
                                       : sl_sse_feed(&st->sse, data.ptr, data.len, on, &f);
            if (!read || f.failed)
                return false;
            if (last && !st->aws_frames)
                sl_sse_feed(&st->sse, "\n\n", 2, on, &f); /* a last event without its blank line */
            if (last && st->translate && !f.failed)
                f.failed = st->dialect->stream_ends_itself || (st->aws_frames && st->es.len)
                               ? !sl_ai_stream_cut(&st->tr, emit_data_event, &f)
                               : !sl_ai_stream_end(&st->tr, emit_data_event, &f); /* Gemini's has no end event */
            if (last && !f.failed) {
                /* A stream that ended without [DONE]: what the guard holds goes now. */
                char *rest = st->guard ? sl_ai_guard_stream_end(c, &st->gs) : NULL;
                f.failed = rest && !emit_data(c, rest, strlen(rest));
                free(rest);
            }
            if (f.failed)
                return false;
        } else if (st->strip) {
            if (!stream_strip(c, st, data))
                return false;
            /* What is left of an unfinished last event goes as it is. */
            if (last && !sl_res_emit(c, st->pending.data + st->pending.start, sl_dbuf_len(&st->pending)))
                return false;
        } else if (!sl_res_emit(c, data.ptr, data.len) || !sl_sse_feed(&st->sse, data.ptr, data.len, on_event, st)) {
            return false;
        }
        if (last) {
            /* A last event without its blank line still counts. */
            if (!st->strip && !st->translate && !st->guard)
                sl_sse_feed(&st->sse, "\n\n", 2, on_event, st);
            settle(c, st);
            record(c, st);
        }
        return true;
    }
    if (st->holding) {
        if (st->translate && st->ok && (c->ai_flags & SL_AI_REQ_STREAM))
            return false; /* a stream was asked for and a JSON answer came: 502 rather than a shape the client cannot read */
        if (!sl_dbuf_append(&st->held, data.ptr, data.len))
            return false;
        if (sl_dbuf_len(&st->held) > AI_HOLD_MAX && !stop_holding(c, st))
            return false;
        if (!last || !st->holding)
            goto end;
        char fields[512] = "";
        char *translated = st->translate ? translated_body(c, st) : NULL;
        if (st->counted) {
            /* A translated answer is counted in the shape it was given: OpenAI's. */
            if (translated)
                sl_ai_usage_read(SL_AI_OPENAI, translated, strlen(translated), &st->usage);
            else
                sl_ai_usage_read(st->be->ai_provider, st->held.data + st->held.start, sl_dbuf_len(&st->held),
                                 &st->usage);
            if (!st->usage.model[0] && c->ai_model)
                sl_ai_copy(st->usage.model, sizeof(st->usage.model), c->ai_model); /* Bedrock names none */
            count_fields(c, st, fields, sizeof(fields));
        }
        settle(c, st);
        const char *body = translated ? translated : st->held.data + st->held.start;
        size_t len = translated ? strlen(translated) : sl_dbuf_len(&st->held);
        if (st->ok && (c->ai_flags & SL_AI_REQ_LIST)) {
            char *merged = sl_ai_models_merge(c, body, len); /* the route's own names join the provider's */
            if (merged) {
                free(translated);
                translated = merged;
                body = merged;
                len = strlen(merged);
            }
        }
        bool unreadable = false;
        char *guarded = st->guard ? sl_ai_guard_answer(c, body, len, &unreadable) : NULL;
        if (unreadable) {
            free(translated);
            return false; /* 502 */
        }
        if (guarded) {
            free(translated);
            translated = guarded; /* sent, and freed, as a translation is */
            body = guarded;
            len = strlen(guarded);
        }
        sl_res_release_head(c, fields, (int64_t)len);
        /* The held body is handed over, not copied (an answer of megabytes
         * must not cost twice its size). */
        bool sent = translated ? sl_res_emit(c, body, len) : sl_res_emit_buffer(c, &st->held);
        free(translated);
        if (!sent)
            return false;
        sl_dbuf_free(&st->held);
        record(c, st);
        return true;
    }
    if (!sl_res_emit(c, data.ptr, data.len))
        return false;
end:
    if (last) {
        settle(c, st);
        record(c, st);
    }
    return true;
}

static void release(sl_conn *c)
{
    ai_state *st = state_of(c);
    if (!st)
        return;
    settle(c, st); /* (once: an answer that ended settled already) */
    sl_dbuf_free(&st->held);
    sl_dbuf_free(&st->pending);
    sl_sse_free(&st->sse);
    sl_aws_es_free(&st->es);
    sl_ai_guard_stream_free(&st->gs);
    free(st);
    c->res_hook_state = NULL;
}

/* OpenTelemetry's gen_ai attributes of the span (semantic conventions for
 * generative AI: gen_ai.provider.name, gen_ai.operation.name,
 * gen_ai.response.model, gen_ai.usage.input_tokens / output_tokens). */
static bool span_attributes(const sl_conn *c, sl_dbuf *b)
{
    const ai_state *st = state_of(c);
    if (!st)
        return true;
    const sl_ai_usage *u = &st->usage;
    char model[140];
    size_t m = 0;
    for (const char *p = u->model; *p && m < sizeof(model) - 2; p++)
        if ((unsigned char)*p >= 0x20 && *p != '"' && *p != '\\' && (unsigned char)*p < 0x7f)
            model[m++] = *p; /* (as in the log: what would need escaping is left out) */
    model[m] = '\0';
    char text[600];
    int n = snprintf(text, sizeof(text),
                     ",{\"key\":\"gen_ai.provider.name\",\"value\":{\"stringValue\":\"%s\"}}"
                     ",{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"chat\"}}",
                     sl_ai_provider_get(st->be->ai_provider)->otel_name);
    if (model[0])
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      ",{\"key\":\"gen_ai.response.model\",\"value\":{\"stringValue\":\"%s\"}}", model);
    if (u->input >= 0)
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      ",{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"%lld\"}}",
                      (long long)u->input);
    if (u->output >= 0)
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      ",{\"key\":\"gen_ai.usage.output_tokens\",\"value\":{\"intValue\":\"%lld\"}}",
                      (long long)u->output);
    return n > 0 && (size_t)n < sizeof(text) ? sl_dbuf_append(b, text, (size_t)n) : true;
}

static size_t log_fields(const sl_conn *c, char *out, size_t cap)
{
    const ai_state *st = state_of(c);
    if (!st)
        return 0;
    const sl_ai_usage *u = &st->usage;
    char model[140];
    size_t m = 0;
    for (const char *p = u->model; *p && m < sizeof(model) - 2; p++)
        if ((unsigned char)*p >= 0x20 && *p != '"' && *p != '\\' && *p != 0x7f)
            model[m++] = *p; /* a model name is never escaped: what needs it is left out */
    model[m] = '\0';
    int64_t cost = sl_ai_cost_nusd(&c->snap->s, st->be, u);
    char cost_text[32] = "null"; /* no ai.prices for it */
    if (cost >= 0)
        snprintf(cost_text, sizeof(cost_text), "%lld.%09lld", (long long)(cost / 1000000000),
                 (long long)(cost % 1000000000));
    int n = snprintf(out, cap, ",\"ai_provider\":\"%s\",\"ai_model\":\"%s\",\"ai_input_tokens\":%lld,"
                     "\"ai_output_tokens\":%lld,\"ai_cost_usd\":%s",
                     sl_ai_provider_get(st->be->ai_provider)->otel_name, model, (long long)u->input,
                     (long long)u->output, cost_text);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* A stream translated from AWS's event-stream framing goes out as server-sent events. */
static const char *content_type(const sl_conn *c)
{
    const ai_state *st = state_of(c);
    return st && st->aws_frames && st->translate ? "text/event-stream" : NULL;
}

const sl_response_hook sl_ai_response_hook = {
    .name = "ai",
    .on_head = on_head,
    .on_body = on_body,
    .release = release,
    .log_fields = log_fields,
    .span_attributes = span_attributes,
    .content_type = content_type,
};

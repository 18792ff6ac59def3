/* Policy kind aiPromptGuard: what may go to a model and come back from it, on
 * routes to AI Backends.
 *
 *   aiPromptGuard:
 *     request:                        # the prompt: messages, system, prompt, input
 *       action: Reject                # Reject (default: 403) | Mask
 *       builtins: [Email, CreditCard, Ssn, PhoneNumber, ApiKey]
 *       matches: [{name: ticket, pattern: "TICKET-[0-9]+"}]   # PCRE2
 *       message: "no customer data"   # Reject's reason
 *     response:                       # the answer's text (streams too): Mask only
 *       builtins: [Email]
 *       webhook: {url: http://guard.internal/check, timeout: 2s, failureMode: Deny}
 *                                     # an HTTP service allows, denies or rewrites (ai_guard_webhook.c)
 *     maxTokens: 4096                 # the largest max_tokens a request gets
 *
 * The worker runs nothing in phase `request` but noting the policy: the body
 * is read whole for it (as AI routes' bodies are) and checked once parsed
 * (ai_request_body.c); answers are masked by the AI response hook
 * (ai_response.c). The patterns are compiled once per snapshot (prepare). The
 * engine is workers/ai_guard.c.
 *
 * Compiled: one item per pattern: flags SL_GUARD_RESPONSE for the answer's
 * side, a = the PCRE2 pattern, b = its label (what a masked match becomes:
 * "<EMAIL>"); u[0] = 1 when the request's action is Mask; a = Reject's
 * message; num[0] = maxTokens (0: none); b = the webhook's URL ("": none),
 * num[1] its timeout in ms, u[1] = 1 for its failureMode Allow. */
#include <stdio.h>
#include <string.h>

#include "common/ai_guard.h"
#include "daemon/compile_values.h"
#include "workers/ai.h"
#include "workers/conn.h"
#include "workers/policy.h"

/* ---- master ---- */

static void compile_side(const sl_policy_env *env, const json_t *side, uint8_t flags)
{
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(side, "builtins"), i, x)
    {
        const sl_ai_guard_builtin *bi = sl_ai_guard_builtin_find(json_string_value(x));
        if (!bi)
            continue; /* the validator allows none other */
        sl_snap_policy_item it = {.flags = flags};
        it.a = sl_sb_str(env->b, bi->pattern);
        it.b = sl_sb_str(env->b, bi->label);
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &it);
    }
    json_array_foreach(json_object_get(side, "matches"), i, x)
    {
        const char *name = json_string_value(json_object_get(x, "name"));
        char label[80];
        size_t n = 0;
        for (const char *p = name ? name : "MASKED"; *p && n < sizeof(label) - 1; p++)
            label[n++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : (*p == '-' ? '_' : *p);
        label[n] = '\0';
        sl_snap_policy_item it = {.flags = flags};
        it.a = sl_sb_str(env->b, json_string_value(json_object_get(x, "pattern")));
        it.b = sl_sb_str(env->b, label);
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &it);
    }
}

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    const json_t *request = json_object_get(section, "request");
    const char *action = json_string_value(json_object_get(request, "action"));
    rec->u[0] = action && strcmp(action, "Mask") == 0;
    const char *message = json_string_value(json_object_get(request, "message"));
    rec->a = sl_sb_str(env->b, message ? message : "");
    rec->num[0] = (uint64_t)json_integer_value(json_object_get(section, "maxTokens"));
    const json_t *webhook = json_object_get(request, "webhook");
    if (webhook) {
        const char *timeout = json_string_value(json_object_get(webhook, "timeout"));
        const char *mode = json_string_value(json_object_get(webhook, "failureMode"));
        rec->b = sl_sb_str(env->b, json_string_value(json_object_get(webhook, "url")));
        rec->num[1] = timeout ? sl_duration_ms(timeout) : 2000;
        rec->u[1] = mode && strcmp(mode, "Allow") == 0;
    }
    rec->items.first = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS);
    compile_side(env, request, 0);
    compile_side(env, json_object_get(section, "response"), SL_GUARD_RESPONSE);
    rec->items.count = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS) - rec->items.first;
    return true;
}

/* ---- worker ---- */

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    c->guard_policy = p;
    return SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_ai_prompt_guard = {
    .section = "aiPromptGuard",
    .phase = SL_PHASE_REQUEST,
    .compile = compile,
    .on_request = on_request,
    .prepare = sl_ai_guard_prepare,
    .unprepare = sl_ai_guard_free,
};

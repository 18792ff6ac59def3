/* GET /debug/access-log[?gateway=NS/NAME][&status=S][&route=NS/NAME][&limit=N]:
 * the last requests of the workers (common/log_tail.h), newest last, as the
 * access log's JSON fields, whatever the access log itself is set to. status
 * is a code ("404") or a class ("5xx"); route keeps one route's requests.
 * The records of every slot of the Gateway are merged by time, including the
 * slots of workers that have exited since (their last requests are still what
 * the Gateway served). */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "common/log_tail.h"

#define MAX_LIMIT 2000

typedef struct tagged {
    sl_log_record rec;
    const char *gateway; /* the slot's Gateway (its name lives in the control block) */
    int slot;
} tagged;

/* By time (microseconds); ties in the order each worker finished them. */
static int by_time(const void *a, const void *b)
{
    const tagged *x = a, *y = b;
    if (x->rec.time_us != y->rec.time_us)
        return x->rec.time_us < y->rec.time_us ? -1 : 1;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    uint64_t p = atomic_load_explicit(&x->rec.seq, memory_order_relaxed);
    uint64_t q = atomic_load_explicit(&y->rec.seq, memory_order_relaxed);
    return p < q ? -1 : p > q;
}

/* The record's route is the filter's, as far as the record keeps (the access
 * log cuts long names too). */
static bool route_is(const sl_log_record *rec, const char *route)
{
    size_t kept = sizeof(rec->route) - 1;
    return strlen(route) >= kept ? strncmp(rec->route, route, kept) == 0 : strcmp(rec->route, route) == 0;
}

/* status filter: "" any, "5xx" a class, "404" a code; false when it is neither. */
static bool parse_status(const char *s, int *code, int *cls)
{
    *code = *cls = 0;
    if (!s || !*s)
        return true;
    if (strlen(s) == 3 && s[0] >= '1' && s[0] <= '5' && (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X')) {
        *cls = s[0] - '0';
        return true;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 100 || v > 599)
        return false;
    *code = (int)v;
    return true;
}

static json_t *record_json(const tagged *t)
{
    const sl_log_record *r = &t->rec;
    char trace[33] = "";
    for (int i = 0; r->traced && i < 16; i++)
        snprintf(trace + 2 * i, 3, "%02x", r->trace_id[i]);
    /* (fields are NUL-terminated by their writer; strnlen keeps a bad copy inside its field anyway) */
#define FIELD(f) json_stringn(r->f, strnlen(r->f, sizeof(r->f)))
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:i, s:I, s:I, s:i, s:o, s:o, s:s}", "msec",
                     (json_int_t)(r->time_us / 1000),
                     "gateway", t->gateway, "client", FIELD(client), "method", FIELD(method), "host", FIELD(host), "path",
                     FIELD(path), "status", (int)r->status, "bytes_sent", (json_int_t)r->bytes_sent, "bytes_received",
                     (json_int_t)r->bytes_received, "duration_ms", (int)r->duration_ms, "route", FIELD(route),
                     "upstream", FIELD(upstream), "trace_id", trace);
#undef FIELD
}

enum MHD_Result sl_admin_debug_access_log(sl_admin_req *r)
{
    const sl_control *c = r->admin->control;
    const char *gateway = sl_admin_query(r, "gateway"), *route = sl_admin_query(r, "route");
    const char *limit_text = sl_admin_query(r, "limit");
    int code, cls;
    if (!parse_status(sl_admin_query(r, "status"), &code, &cls))
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "status must be a code (404) or a class (5xx), not \"%s\"",
                                    sl_admin_query(r, "status"));
    long limit = 200;
    if (limit_text) {
        char *end;
        limit = strtol(limit_text, &end, 10);
        if (end == limit_text || *end || limit < 1 || limit > MAX_LIMIT)
            return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                        "limit must be a whole number from 1 to %d, not \"%s\"", MAX_LIMIT, limit_text);
    }
    if (gateway && !*gateway)
        gateway = NULL;
    if (route && !*route)
        route = NULL;
    /* One request at a time reads (the lock): these are large for a thread's stack. */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static sl_log_record slot_records[SL_LOG_TAIL_RECORDS];
    static char names[SL_MAX_WORKERS][sizeof(((sl_worker_slot *)0)->gateway) + 1];
    size_t n = 0, cap = 0;
    tagged *all = NULL;
    pthread_mutex_lock(&lock);
    for (int i = 0; c && i < SL_MAX_WORKERS; i++) {
        const sl_worker_slot *s = &c->slots[i];
        snprintf(names[i], sizeof(names[i]), "%.*s", (int)sizeof(s->gateway), s->gateway);
        if (!names[i][0] || (gateway && strcmp(names[i], gateway) != 0))
            continue;
        size_t got = sl_log_tail_read((uint32_t)i, slot_records, SL_LOG_TAIL_RECORDS);
        long matched = 0; /* (newest first: no slot needs to give more than `limit`) */
        for (size_t k = got; k-- > 0 && matched < limit;) {
            const sl_log_record *rec = &slot_records[k];
            if ((code && rec->status != code) || (cls && rec->status / 100 != cls) || (route && !route_is(rec, route)))
                continue;
            matched++;
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                tagged *grown = realloc(all, cap * sizeof(*all));
                if (!grown)
                    break;
                all = grown;
            }
            memcpy(&all[n].rec, rec, sizeof(*rec));
            all[n].slot = i;
            all[n++].gateway = names[i];
        }
    }
    if (n)
        qsort(all, n, sizeof(*all), by_time);
    json_t *lines = json_array();
    for (size_t k = n > (size_t)limit ? n - (size_t)limit : 0; k < n; k++)
        json_array_append_new(lines, record_json(&all[k]));
    pthread_mutex_unlock(&lock); /* (after the names were copied into the answer) */
    free(all);
    return sl_admin_reply_json(r, 200, json_pack("{s:I, s:o}", "recordsPerWorker", (json_int_t)SL_LOG_TAIL_RECORDS,
                                                 "lines", lines));
}

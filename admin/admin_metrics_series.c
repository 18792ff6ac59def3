/* The traffic series of route rules, listeners and backends (common/series.h)
 * in the Prometheus text format: each index summed over the worker sections,
 * only those that saw traffic, grouped by family as the format wants.
 *
 * A scrape at 10,000 busy routes writes some 200,000 lines, so lines are put
 * together with memcpy and a hand-made integer formatter rather than printf
 * (bench/metrics_scrape.py measures it). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_metrics.h"
#include "common/series.h"
#include "common/sl.h"
#include "daemon/series_ids.h"

typedef struct out {
    char *buf;
    size_t len, cap;
    bool failed;
    bool fixed; /* buf is not malloc'd: too long fails instead of growing */
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap && o->fixed) {
        o->failed = true;
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap + n + 1) * 2;
        char *nb = realloc(o->buf, cap);
        if (!nb) {
            o->failed = true;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

/* v in decimal at p (at most 20 characters); returns how many were written. */
static size_t format_u64(char *p, uint64_t v)
{
    char digits[24];
    size_t i = sizeof(digits);
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(p, digits + i, sizeof(digits) - i);
    return sizeof(digits) - i;
}

static void put_u64(out *o, uint64_t v)
{
    char text[24];
    put(o, text, format_u64(text, v));
}

/* Microseconds as seconds, exactly ("1.000250"). */
static void put_seconds(out *o, uint64_t us)
{
    put_u64(o, us / 1000000);
    char frac[8] = {'.'};
    uint64_t f = us % 1000000;
    for (int i = 6; i >= 1; i--) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    put(o, frac, 7);
}

/* A label value, escaped as the text format says (\\, \" and \n). */
static void put_label(out *o, const char *name, const char *v, size_t n, bool comma)
{
    if (comma)
        put(o, ",", 1);
    puts_(o, name);
    put(o, "=\"", 2);
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\' || v[i] == '"')
            put(o, "\\", 1);
        if (v[i] == '\n')
            put(o, "\\n", 2);
        else
            put(o, v + i, 1);
    }
    put(o, "\"", 1);
}

enum kind { ROUTE, LISTENER, BACKEND, KINDS };

/* One index that saw traffic: its sums and its label text (names are at most
 * 253 characters, namespaces 63: four labels fit with room to spare). */
typedef struct row {
    enum kind kind;
    char labels[1100];
    size_t labels_len;
    uint64_t responses[5], latency_us, latency[SL_SERIES_BUCKETS + 1], count;
    uint64_t bytes_in, bytes_out, attempts, connect_errors, timeouts, retries;
} row;

static const char *const label_names[KINDS][4] = {
    {"kind", "namespace", "route", "rule"}, {"namespace", "gateway", "listener", NULL}, {"backend", NULL, NULL, NULL}};

/* The labels of a key ("route\tkind\tns\tname\trule"...), or of an overflow index. */
static bool make_labels(row *r, uint32_t index)
{
    char key[1400];
    out o = {r->labels, 0, sizeof(r->labels), false, true};
    if (index < SL_SERIES_FIRST) {
        r->kind = (enum kind)index;
        for (int i = 0; i < 4 && label_names[r->kind][i]; i++)
            put_label(&o, label_names[r->kind][i], "_other", 6, i > 0);
    } else {
        if (!sl_series_key(index, key, sizeof(key)))
            return false;
        char *fields[6];
        int n = 0;
        for (char *p = key, *tab; n < 6; p = tab + 1) {
            fields[n++] = p;
            tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = '\0';
        }
        if (strcmp(fields[0], "route") == 0 && n == 5) {
            r->kind = ROUTE;
        } else if (strcmp(fields[0], "listener") == 0 && n == 4) {
            r->kind = LISTENER;
        } else if (strcmp(fields[0], "backend") == 0 && n == 5) {
            /* One label, as the endpoint series have it: kind/namespace/name[:port]. */
            char b[700];
            size_t bl = (size_t)snprintf(b, sizeof(b), strcmp(fields[4], "0") ? "%s/%s/%s:%s" : "%s/%s/%s",
                                         fields[1], fields[2], fields[3], fields[4]);
            r->kind = BACKEND;
            put_label(&o, "backend", b, bl < sizeof(b) ? bl : sizeof(b) - 1, false);
            r->labels_len = o.len;
            return !o.failed;
        } else {
            return false;
        }
        for (int i = 0; i < 4 && label_names[r->kind][i]; i++)
            put_label(&o, label_names[r->kind][i], fields[i + 1], strlen(fields[i + 1]), i > 0);
    }
    r->labels_len = o.len;
    return !o.failed; /* (a label longer than the row's room: the series is left out) */
}

/* Sums of index over the sections of the slots that had workers; false when it saw nothing. */
static bool sum(row *r, uint32_t index, uint32_t slots)
{
    memset(&r->responses, 0, sizeof(*r) - offsetof(row, responses));
    for (uint32_t slot = 0; slot < slots; slot++) {
        const sl_series *s = sl_series_at(slot, index);
        if (!s)
            continue;
        for (int i = 0; i < 5; i++)
            r->responses[i] += atomic_load_explicit(&s->responses[i], memory_order_relaxed);
        for (int i = 0; i <= SL_SERIES_BUCKETS; i++)
            r->latency[i] += atomic_load_explicit(&s->latency[i], memory_order_relaxed);
        r->latency_us += atomic_load_explicit(&s->latency_us, memory_order_relaxed);
        r->bytes_in += atomic_load_explicit(&s->bytes_in, memory_order_relaxed);
        r->bytes_out += atomic_load_explicit(&s->bytes_out, memory_order_relaxed);
        r->attempts += atomic_load_explicit(&s->attempts, memory_order_relaxed);
        r->connect_errors += atomic_load_explicit(&s->connect_errors, memory_order_relaxed);
        r->timeouts += atomic_load_explicit(&s->timeouts, memory_order_relaxed);
        r->retries += atomic_load_explicit(&s->retries, memory_order_relaxed);
    }
    for (int i = 0; i <= SL_SERIES_BUCKETS; i++)
        r->count += r->latency[i];
    return r->count || r->attempts;
}

static void family(out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP ", 7);
    puts_(o, name);
    put(o, " ", 1);
    puts_(o, help);
    put(o, "\n# TYPE ", 8);
    puts_(o, name);
    put(o, " ", 1);
    puts_(o, type);
    put(o, "\n", 1);
}

/* Room for n more bytes (and the final NUL) at the end of o. */
static bool reserve(out *o, size_t n)
{
    if (o->failed)
        return false;
    if (o->len + n + 1 <= o->cap)
        return true;
    if (o->fixed) {
        o->failed = true;
        return false;
    }
    size_t cap = (o->cap + n + 1) * 2;
    char *nb = realloc(o->buf, cap);
    if (!nb) {
        o->failed = true;
        return false;
    }
    o->buf = nb;
    o->cap = cap;
    return true;
}

static void sample(out *o, const char *name, size_t nl, const char *suffix, const row *r, const char *extra,
                   uint64_t v)
{
    /* One line, name{labels,extra} value, written in place with a few memcpy
     * (this runs 200,000 times in a scrape at 10,000 busy routes). */
    size_t sl = strlen(suffix), el = extra ? strlen(extra) : 0;
    if (!reserve(o, nl + sl + el + r->labels_len + 32))
        return;
    if (!r->labels_len && el) { /* (no labels of its own: the extra one comes first) */
        extra++;
        el--;
    }
    char *p = o->buf + o->len;
    memcpy(p, name, nl);
    p += nl;
    memcpy(p, suffix, sl);
    p += sl;
    if (r->labels_len || el) {
        *p++ = '{';
        memcpy(p, r->labels, r->labels_len);
        p += r->labels_len;
        if (el)
            memcpy(p, extra, el);
        p += el;
        *p++ = '}';
    }
    *p++ = ' ';
    p += format_u64(p, v);
    *p++ = '\n';
    *p = '\0';
    o->len = (size_t)(p - o->buf);
}

static void histogram(out *o, const char *name, size_t nl, const row *r)
{
    static const char *const le[SL_SERIES_BUCKETS] = {",le=\"0.001\"", ",le=\"0.005\"", ",le=\"0.01\"",
                                                      ",le=\"0.025\"", ",le=\"0.05\"",  ",le=\"0.1\"",
                                                      ",le=\"0.25\"",  ",le=\"0.5\"",   ",le=\"1\"",
                                                      ",le=\"2.5\"",   ",le=\"5\"",     ",le=\"10\""};
    uint64_t cumulative = 0;
    for (int i = 0; i < SL_SERIES_BUCKETS; i++) {
        cumulative += r->latency[i];
        sample(o, name, nl, "_bucket", r, le[i], cumulative);
    }
    sample(o, name, nl, "_bucket", r, ",le=\"+Inf\"", r->count);
    puts_(o, name);
    if (r->labels_len) {
        put(o, "_sum{", 5);
        put(o, r->labels, r->labels_len);
        put(o, "} ", 2);
    } else {
        put(o, "_sum ", 5);
    }
    put_seconds(o, r->latency_us);
    put(o, "\n", 1);
    sample(o, name, nl, "_count", r, NULL, r->count);
}

static void by_class(out *o, const char *name, size_t nl, const row *r)
{
    static const char *const code[5] = {",code=\"1xx\"", ",code=\"2xx\"", ",code=\"3xx\"", ",code=\"4xx\"",
                                        ",code=\"5xx\""};
    for (int i = 0; i < 5; i++)
        if (r->responses[i])
            sample(o, name, nl, "", r, code[i], r->responses[i]);
}

static void master_histogram(out *o, const char *name, const char *help, sl_histogram *h)
{
    family(o, name, "histogram", help);
    row r = {.labels_len = 0};
    for (int i = 0; i <= SL_SERIES_BUCKETS; i++) {
        r.latency[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        r.count += r.latency[i];
    }
    r.latency_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
    histogram(o, name, strlen(name), &r);
}

typedef struct fam {
    const char *name, *type, *help;
    enum { CLASSES, HISTOGRAM, BYTES_IN, BYTES_OUT, ATTEMPTS, CONNECT_ERRORS, TIMEOUTS, RETRIES } what;
} fam;

static const fam route_fams[] = {
    {"sluice_route_requests_total", "counter", "Requests a route rule answered, by status class.", CLASSES},
    {"sluice_route_request_duration_seconds", "histogram",
     "Time from a request's head to the end of its answer, per route rule.", HISTOGRAM},
    {"sluice_route_received_bytes_total", "counter", "Client bytes read for a route rule's requests.", BYTES_IN},
    {"sluice_route_sent_bytes_total", "counter", "Bytes sent to clients for a route rule's requests.", BYTES_OUT},
};
static const fam listener_fams[] = {
    {"sluice_listener_requests_total", "counter",
     "Requests the routes of a Gateway listener answered, by status class.", CLASSES},
    {"sluice_listener_request_duration_seconds", "histogram",
     "Time from a request's head to the end of its answer, per Gateway listener.", HISTOGRAM},
    {"sluice_listener_received_bytes_total", "counter", "Client bytes read on a Gateway listener.", BYTES_IN},
    {"sluice_listener_sent_bytes_total", "counter", "Bytes sent to clients on a Gateway listener.", BYTES_OUT},
};
static const fam backend_fams[] = {
    {"sluice_backend_responses_total", "counter", "Answers a backend's upstreams gave (every attempt), by status class.",
     CLASSES},
    {"sluice_backend_response_duration_seconds", "histogram",
     "Time from an attempt's start (connection included) to the upstream's response head.", HISTOGRAM},
    {"sluice_backend_attempts_total", "counter", "Attempts sent to a backend (retries included).", ATTEMPTS},
    {"sluice_backend_retries_total", "counter", "Attempts that were retries of an answered request.", RETRIES},
    {"sluice_backend_connect_errors_total", "counter", "Attempts whose upstream connection failed.",
     CONNECT_ERRORS},
    {"sluice_backend_timeouts_total", "counter", "Attempts the upstream did not answer in time.", TIMEOUTS},
};

static void render_family(out *o, const fam *f, const row *rows, size_t n, enum kind kind)
{
    family(o, f->name, f->type, f->help);
    size_t nl = strlen(f->name);
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        if (r->kind != kind)
            continue;
        switch (f->what) {
        case CLASSES: by_class(o, f->name, nl, r); break;
        case HISTOGRAM:
            if (r->count)
                histogram(o, f->name, nl, r);
            break;
        case BYTES_IN: sample(o, f->name, nl, "", r, NULL, r->bytes_in); break;
        case BYTES_OUT: sample(o, f->name, nl, "", r, NULL, r->bytes_out); break;
        case ATTEMPTS: sample(o, f->name, nl, "", r, NULL, r->attempts); break;
        case RETRIES: sample(o, f->name, nl, "", r, NULL, r->retries); break;
        case CONNECT_ERRORS: sample(o, f->name, nl, "", r, NULL, r->connect_errors); break;
        case TIMEOUTS: sample(o, f->name, nl, "", r, NULL, r->timeouts); break;
        }
    }
}

char *sl_admin_metrics_series(size_t *length, size_t *capacity)
{
    *length = *capacity = 0;
    /* The last scrape's buffer when it is back: its pages are in memory already
     * (a fresh 20 MB buffer costs as many page faults as its text has pages). */
    size_t kept_cap = 0;
    char *buf = sl_admin_metrics_buffer_take(&kept_cap);
    out o = {buf ? buf : malloc(65536), 0, buf ? kept_cap : 65536, false, false};
    if (!o.buf)
        return NULL;
    o.buf[0] = '\0';
    if (!sl_series_tab)
        return o.buf;
    /* Indexes past the highest ever handed out have never been written. */
    uint32_t slots = atomic_load(&sl_series_tab->slots_used), end = sl_series_ids_end_index();
    size_t n = 0, cap = 256;
    row *rows = malloc(cap * sizeof(*rows));
    for (uint32_t index = 0; rows && index < end; index++) {
        if (n == cap) {
            row *nr = realloc(rows, cap * 2 * sizeof(*rows));
            if (!nr) {
                free(rows);
                rows = NULL;
                break;
            }
            rows = nr;
            cap *= 2;
        }
        if (make_labels(&rows[n], index) && sum(&rows[n], index, slots))
            n++;
    }
    if (!rows) {
        free(o.buf);
        return NULL;
    }
    /* Room for it all at once (a busy route rule renders some 2,800 bytes):
     * no copy as the text grows. */
    if (n > 32 && o.cap < n * 2304)
        reserve(&o, n * 2304 - o.len);
    for (size_t f = 0; f < SL_ARRAY_LEN(route_fams); f++)
        render_family(&o, &route_fams[f], rows, n, ROUTE);
    for (size_t f = 0; f < SL_ARRAY_LEN(listener_fams); f++)
        render_family(&o, &listener_fams[f], rows, n, LISTENER);
    for (size_t f = 0; f < SL_ARRAY_LEN(backend_fams); f++)
        render_family(&o, &backend_fams[f], rows, n, BACKEND);
    master_histogram(&o, "sluice_snapshot_compile_duration_seconds",
                     "Time the master took to compile the store into a snapshot.", &sl_compile_latency);
    master_histogram(&o, "sluice_store_write_duration_seconds",
                     "Store write transactions, from BEGIN to COMMIT (the disk's sync included).",
                     &sl_store_write_latency);
    free(rows);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *length = o.len;
    *capacity = o.cap;
    return o.buf;
}

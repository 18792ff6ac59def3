/* The event stream reader: see sse.h. */
#include "common/sse.h"

#include <stdlib.h>
#include <string.h>

void sl_sse_init(sl_sse *p, size_t max_event)
{
    memset(p, 0, sizeof(*p));
    p->max_event = max_event;
}

void sl_sse_free(sl_sse *p)
{
    free(p->line);
    free(p->data);
    size_t max = p->max_event;
    sl_sse_init(p, max);
}

static bool grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    char *b = realloc(*buf, n);
    if (!b)
        return false;
    *buf = b;
    *cap = n;
    return true;
}

static void end_event(sl_sse *p, sl_sse_event_fn fn, void *arg)
{
    if (p->skipping)
        p->dropped++;
    else if (p->has_data)
        fn(p->event, p->event_len, p->data ? p->data : "", p->data_len, arg);
    p->data_len = 0;
    p->event_len = 0;
    p->event[0] = '\0';
    p->skipping = false;
    p->has_data = false;
}

/* One complete line (without its end). */
static bool take_line(sl_sse *p, const char *l, size_t n, sl_sse_event_fn fn, void *arg)
{
    if (n == 0) {
        end_event(p, fn, arg);
        return true;
    }
    if (l[0] == ':' || p->skipping)
        return true; /* a comment, or the rest of a dropped event */
    const char *colon = memchr(l, ':', n);
    size_t name_len = colon ? (size_t)(colon - l) : n;
    const char *value = colon ? colon + 1 : l + n;
    size_t value_len = colon ? n - name_len - 1 : 0;
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && memcmp(l, "data", 4) == 0) {
        size_t need = p->data_len + (p->has_data ? 1 : 0) + value_len;
        if (need > p->max_event) {
            p->skipping = true;
            return true;
        }
        if (!grow(&p->data, &p->data_cap, need + 1))
            return false;
        if (p->has_data)
            p->data[p->data_len++] = '\n';
        memcpy(p->data + p->data_len, value, value_len);
        p->data_len += value_len;
        p->data[p->data_len] = '\0';
        p->has_data = true;
    } else if (name_len == 5 && memcmp(l, "event", 5) == 0) {
        p->event_len = value_len < sizeof(p->event) - 1 ? value_len : sizeof(p->event) - 1;
        memcpy(p->event, value, p->event_len);
        p->event[p->event_len] = '\0';
    }
    return true;
}

bool sl_sse_feed(sl_sse *p, const char *buf, size_t len, sl_sse_event_fn fn, void *arg)
{
    size_t i = 0;
    while (i < len) {
        char ch = buf[i];
        if (ch == '\n' && p->after_cr) {
            p->after_cr = false; /* the LF of a CRLF: the line ended at the CR */
            i++;
            continue;
        }
        if (ch == '\n' || ch == '\r') {
            p->after_cr = ch == '\r';
            p->at = i;
            if (!take_line(p, p->line, p->line_len, fn, arg))
                return false;
            p->line_len = 0;
            i++;
            continue;
        }
        p->after_cr = false;
        /* The run of bytes up to the next line end joins the line at once. */
        size_t run = 1;
        while (i + run < len && buf[i + run] != '\n' && buf[i + run] != '\r')
            run++;
        /* A line longer than any field of an event that fits ("data: " and
         * its limit) drops its event; what is beyond is not kept. */
        size_t limit = p->max_event + 16;
        size_t keep = p->line_len >= limit ? 0 : (run < limit - p->line_len ? run : limit - p->line_len);
        if (keep < run)
            p->skipping = true;
        if (keep) {
            if (!grow(&p->line, &p->line_cap, p->line_len + keep))
                return false;
            memcpy(p->line + p->line_len, buf + i, keep);
            p->line_len += keep;
        }
        i += run;
    }
    return true;
}

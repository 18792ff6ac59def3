/* The access log's line format; see access_log_format.h.
 *
 * A format compiles to a list of pieces, each a literal or a field. A line is
 * rendered piece by piece with memcpy and a hand-made integer formatter; the
 * two time stamps are formatted once per second. This is on the request path
 * of every request when the log is on (bench/proxy.sh ACCESS_LOG=1). */
#include "workers/access_log_format.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/trace_context.h"
#include "workers/conn.h"
#include "workers/mcp.h"
#include "workers/response_hook.h"
#include "workers/worker_internal.h"

typedef enum {
    F_TIME, F_TIME_LOCAL, F_MSEC, F_GATEWAY, F_CLIENT, F_PEER, F_METHOD, F_HOST, F_PATH, F_PROTOCOL,
    F_STATUS, F_BYTES_SENT, F_BYTES_RECEIVED, F_DURATION_MS, F_REQUEST_TIME, F_ROUTE, F_UPSTREAM,
    F_CLIENT_ID, F_USER_AGENT, F_REFERER, F_TRACE_ID, F_COUNT
} field;

static const struct {
    const char *name;
    bool number; /* unquoted in JSON */
} fields[F_COUNT] = {
    [F_TIME] = {"time", false},         [F_TIME_LOCAL] = {"time_local", false},
    [F_MSEC] = {"msec", true},          [F_GATEWAY] = {"gateway", false},
    [F_CLIENT] = {"client", false},     [F_PEER] = {"peer", false},
    [F_METHOD] = {"method", false},     [F_HOST] = {"host", false},
    [F_PATH] = {"path", false},         [F_PROTOCOL] = {"protocol", false},
    [F_STATUS] = {"status", true},      [F_BYTES_SENT] = {"bytes_sent", true},
    [F_BYTES_RECEIVED] = {"bytes_received", true}, [F_DURATION_MS] = {"duration_ms", true},
    [F_REQUEST_TIME] = {"request_time", true},     [F_ROUTE] = {"route", false},
    [F_UPSTREAM] = {"upstream", false}, [F_CLIENT_ID] = {"client_id", false},
    [F_USER_AGENT] = {"user_agent", false}, [F_REFERER] = {"referer", false},
    [F_TRACE_ID] = {"trace_id", false},
};

/* The default JSON line's fields, in their order. */
static const field default_fields[] = {F_TIME,        F_GATEWAY, F_CLIENT, F_PEER,     F_METHOD,   F_HOST,     F_PATH,
                                       F_STATUS,      F_BYTES_SENT, F_DURATION_MS, F_ROUTE, F_UPSTREAM, F_CLIENT_ID};

#define MAX_PIECES 64
#define LITERALS 2048

typedef struct piece {
    int16_t field; /* -1: the literal */
    uint16_t off, len;
} piece;

static struct {
    bool json;
    int npieces;
    piece pieces[MAX_PIECES];
    char literals[LITERALS];
    size_t nliterals;
    bool agent, referer;
} fmt = {.json = true, .npieces = -1}; /* npieces -1: not set, the default JSON */

static char names[400];

const char *sl_log_format_fields(void)
{
    if (!names[0])
        for (int f = 0; f < F_COUNT; f++)
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", f ? ", " : "", fields[f].name);
    return names;
}

static int field_named(const char *name, size_t len)
{
    for (int f = 0; f < F_COUNT; f++)
        if (strlen(fields[f].name) == len && memcmp(fields[f].name, name, len) == 0)
            return f;
    return -1;
}

static bool add_literal(const char *s, size_t len)
{
    if (!len)
        return true;
    if (fmt.npieces >= MAX_PIECES || fmt.nliterals + len > LITERALS)
        return false;
    memcpy(fmt.literals + fmt.nliterals, s, len);
    fmt.pieces[fmt.npieces++] = (piece){-1, (uint16_t)fmt.nliterals, (uint16_t)len};
    fmt.nliterals += len;
    return true;
}

static bool add_field(int f)
{
    if (fmt.npieces >= MAX_PIECES)
        return false;
    fmt.pieces[fmt.npieces++] = (piece){(int16_t)f, 0, 0};
    fmt.agent = fmt.agent || f == F_USER_AGENT;
    fmt.referer = fmt.referer || f == F_REFERER;
    return true;
}

/* JSON: {"name":value,...} as pieces (the hook's fields are added at render). */
static bool compile_json(const int *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char key[40];
        int len = snprintf(key, sizeof(key), "%s\"%s\":", i ? "," : "{", fields[list[i]].name);
        if (!add_literal(key, (size_t)len) || !add_field(list[i]))
            return false;
    }
    return true;
}

static bool compile_template(const char *t, char *err, size_t errlen)
{
    const char *lit = t;
    for (const char *p = t; *p;) {
        if (*p != '$') {
            p++;
            continue;
        }
        if (!add_literal(lit, (size_t)(p - lit)))
            goto too_long;
        const char *name = p + 1;
        bool braced = *name == '{';
        if (braced)
            name++;
        size_t len = 0;
        while ((name[len] >= 'a' && name[len] <= 'z') || name[len] == '_' || (name[len] >= '0' && name[len] <= '9'))
            len++;
        int f = field_named(name, len);
        if (f < 0 || (braced && name[len] != '}')) {
            snprintf(err, errlen, "--access-log-format: unknown variable $%.*s (known: %s)", (int)len, name,
                     sl_log_format_fields());
            return false;
        }
        if (!add_field(f))
            goto too_long;
        p = name + len + (braced ? 1 : 0);
        lit = p;
    }
    if (add_literal(lit, strlen(lit)))
        return true;
too_long:
    snprintf(err, errlen, "--access-log-format: the template is too long (at most %d pieces, %d bytes of text)",
             MAX_PIECES, LITERALS);
    return false;
}

bool sl_log_format_set(const char *spec, char *err, size_t errlen)
{
    memset(&fmt, 0, sizeof(fmt));
    int list[F_COUNT * 2];
    size_t n = 0;
    if (strcmp(spec, "json") == 0) {
        fmt.json = true;
        for (size_t i = 0; i < SL_ARRAY_LEN(default_fields); i++)
            list[n++] = default_fields[i];
        return compile_json(list, n) || (snprintf(err, errlen, "--access-log-format: too many fields"), false);
    }
    if (strncmp(spec, "json:", 5) == 0) {
        fmt.json = true;
        for (const char *p = spec + 5; *p;) {
            size_t len = strcspn(p, ",");
            int f = field_named(p, len);
            if (f < 0) {
                snprintf(err, errlen, "--access-log-format: unknown field \"%.*s\" (known: %s)", (int)len, p,
                         sl_log_format_fields());
                return false;
            }
            if (n == SL_ARRAY_LEN(list)) {
                snprintf(err, errlen, "--access-log-format: too many fields");
                return false;
            }
            list[n++] = f;
            p += len + (p[len] == ',');
        }
        if (!n) {
            snprintf(err, errlen, "--access-log-format: json: names no field (known: %s)", sl_log_format_fields());
            return false;
        }
        return compile_json(list, n) || (snprintf(err, errlen, "--access-log-format: too many fields"), false);
    }
    fmt.json = false;
    if (strcmp(spec, "combined") == 0)
        spec = "$client - $client_id [$time_local] \"$method $path $protocol\" $status $bytes_sent \"$referer\" "
               "\"$user_agent\"";
    if (!strchr(spec, '$')) {
        snprintf(err, errlen, "--access-log-format: \"%s\" is neither json, json:FIELDS, combined nor a template "
                 "with $variables", spec);
        return false;
    }
    return compile_template(spec, err, errlen);
}

bool sl_log_format_wants_agent(void) { return fmt.agent; }
bool sl_log_format_wants_referer(void) { return fmt.referer; }

/* --- rendering ----------------------------------------------------------- */

typedef struct line {
    char *p, *end;
    bool full;
} line;

static void put(line *l, const char *s, size_t n)
{
    if ((size_t)(l->end - l->p) < n) {
        l->full = true;
        return;
    }
    memcpy(l->p, s, n);
    l->p += n;
}

static void put_u64(line *l, uint64_t v)
{
    char d[24];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(l, d + i, sizeof(d) - i);
}

/* A string value: JSON-escaped (\", \\, \u00XX for control and non-ASCII
 * bytes) or, in a template, as nginx escapes ("\xHH"), "-" when empty. */
static void put_string(line *l, const char *s, size_t n)
{
    if (fmt.json)
        put(l, "\"", 1);
    else if (!n)
        put(l, "-", 1);
    const char *run = s;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            continue;
        put(l, run, (size_t)(s + i - run));
        char esc[8];
        if (fmt.json && (ch == '"' || ch == '\\'))
            esc[0] = '\\', esc[1] = (char)ch, put(l, esc, 2);
        else if (fmt.json)
            put(l, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", ch));
        else
            put(l, esc, (size_t)snprintf(esc, sizeof(esc), "\\x%02X", ch));
        run = s + i + 1;
    }
    put(l, run, (size_t)(s + n - run));
    if (fmt.json)
        put(l, "\"", 1);
}

static void put_cstr(line *l, const char *s) { put_string(l, s, strlen(s)); }

/* The two time stamps of the current second, formatted once per second. */
static struct {
    time_t sec;
    char iso[24], local[32];
    size_t iso_len, local_len;
} stamp = {-1, "", "", 0, 0};

static void refresh_stamp(time_t sec)
{
    if (sec == stamp.sec)
        return;
    struct tm tm;
    gmtime_r(&sec, &tm);
    stamp.iso_len = strftime(stamp.iso, sizeof(stamp.iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    stamp.local_len = strftime(stamp.local, sizeof(stamp.local), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    stamp.sec = sec;
}

/* The client: the TCP peer, unless realIp established another address. */
void sl_log_client_text(const sl_conn *c, char *out, size_t cap)
{
    if (memcmp(&c->client, &c->peer_ip, sizeof(c->client)) == 0 || !inet_ntop(c->client.family, c->client.addr, out,
                                                                              (socklen_t)cap))
        snprintf(out, cap, "%s", c->peer);
}

static void put_client(line *l, const sl_conn *c)
{
    char text[64];
    sl_log_client_text(c, text, sizeof(text));
    put_cstr(l, text);
}

static void put_field(line *l, const sl_conn *c, field f, uint64_t now_ms, uint64_t now_us)
{
    switch (f) {
    case F_TIME: fmt.json ? put_string(l, stamp.iso, stamp.iso_len) : put(l, stamp.iso, stamp.iso_len); break;
    case F_TIME_LOCAL:
        fmt.json ? put_string(l, stamp.local, stamp.local_len) : put(l, stamp.local, stamp.local_len);
        break;
    case F_MSEC: {
        char ms[4] = {'.', (char)('0' + now_ms % 1000 / 100), (char)('0' + now_ms % 100 / 10),
                      (char)('0' + now_ms % 10)};
        put_u64(l, now_ms / 1000);
        put(l, ms, 4);
        break;
    }
    case F_GATEWAY: {
        char gw[330];
        int n = snprintf(gw, sizeof(gw), "%s/%s", c->w->args.gateway_ns, c->w->args.gateway_name);
        put_string(l, gw, n > 0 && (size_t)n < sizeof(gw) ? (size_t)n : 0);
        break;
    }
    case F_CLIENT: put_client(l, c); break;
    case F_PEER: put_cstr(l, c->peer); break;
    case F_METHOD: put_cstr(l, c->log_method); break;
    case F_HOST: put_cstr(l, c->log_host); break;
    case F_PATH: put_cstr(l, c->log_path); break;
    case F_PROTOCOL:
        put_cstr(l, c->l4 ? "" : c->h2s ? "HTTP/2.0" : c->version_minor ? "HTTP/1.1" : "HTTP/1.0");
        break;
    case F_STATUS: put_u64(l, (uint64_t)(c->status > 0 ? c->status : 0)); break;
    case F_BYTES_SENT: put_u64(l, c->bytes_out); break;
    case F_BYTES_RECEIVED: put_u64(l, c->bytes_in); break;
    case F_DURATION_MS: put_u64(l, now_ms > c->started_ms ? now_ms - c->started_ms : 0); break;
    case F_REQUEST_TIME: {
        uint64_t ms = now_us > c->started_us ? (now_us - c->started_us) / 1000 : 0;
        char frac[4] = {'.', (char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10), (char)('0' + ms % 10)};
        put_u64(l, ms / 1000);
        put(l, frac, 4);
        break;
    }
    case F_ROUTE: put_cstr(l, c->log_route); break;
    case F_UPSTREAM: put_cstr(l, c->log_upstream); break;
    case F_CLIENT_ID: put_cstr(l, c->client_id ? c->client_id : ""); break;
    case F_USER_AGENT: put_cstr(l, c->log_extra ? c->log_extra->agent : ""); break;
    case F_REFERER: put_cstr(l, c->log_extra ? c->log_extra->referer : ""); break;
    case F_TRACE_ID: {
        char hex[33] = "";
        if (c->trace.on)
            sl_hex_lower(c->trace.trace_id, 16, hex);
        put_cstr(l, hex);
        break;
    }
    case F_COUNT: break;
    }
}

size_t sl_log_format_render(const sl_conn *c, char *out, size_t room)
{
    if (fmt.npieces < 0) { /* not set (unit tests, tools): the default */
        char err[200];
        sl_log_format_set("json", err, sizeof(err));
    }
    uint64_t now_ms = sl_now_ms(), now_us = sl_now_us();
    refresh_stamp((time_t)(now_ms / 1000));
    line l = {out, out + room, false};
    for (int i = 0; i < fmt.npieces && !l.full; i++) {
        const piece *p = &fmt.pieces[i];
        if (p->field < 0)
            put(&l, fmt.literals + p->off, p->len);
        else
            put_field(&l, c, (field)p->field, now_ms, now_us);
    }
    if (fmt.json) {
        /* A response hook's fields (AI: provider, model, tokens), then the end. */
        if (c->res_hook && c->res_hook->log_fields && !l.full) {
            size_t n = c->res_hook->log_fields(c, l.p, (size_t)(l.end - l.p));
            if (n >= (size_t)(l.end - l.p))
                l.full = true;
            else
                l.p += n;
        }
        if (c->mcp && !l.full) { /* the MCP gateway's: method, target, name, outcome */
            size_t n = sl_mcp_log_fields(c, l.p, (size_t)(l.end - l.p));
            l.p += n;
        }
        put(&l, "}", 1);
    }
    put(&l, "\n", 1);
    return l.full ? 0 : (size_t)(l.p - out);
}

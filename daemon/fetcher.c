/* The master's fetcher of JSON documents (see fetcher.h): one thread, libcurl
 * easy handles (a document is fetched every few minutes: no pool needed),
 * entries in a list guarded by one mutex. */
#include "daemon/fetcher.h"

#include "config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "daemon/bg_thread.h"

#define IDLE_WAIT_MS 60000
#define FIRST_RETRY_MS 1000 /* after a failure: 1 s, 2 s, 4 s... up to the refresh interval */

typedef struct fetch_entry {
    struct fetch_entry *next;
    char *url;          /* the entry's name: its URL, or (POSTs) a key of the caller's */
    char *post_url;     /* POST entries: where to, and how the body is made afresh each time */
    sl_fetch_body_fn make_body;
    char *body_arg;
    char *must_have;    /* POST entries: a string member the answer must have to be good */
    uint32_t max_age_ms; /* ...after which the last good document is dropped (0: never) */
    uint64_t fetched_ms; /* monotonic time the body was fetched */
    uint64_t gen;       /* changes with body_arg: a fetch made with an older one is not recorded */
    uint32_t refresh_ms;
    char *body;         /* the last good document, NULL before one */
    char error[200];    /* the last fetch's problem, "" when it succeeded */
    time_t fetched_at;  /* when body was fetched */
    uint64_t next_ms;   /* monotonic time of the next fetch */
    unsigned failures;  /* in a row */
    bool asked;         /* during the current compilation */
} fetch_entry;

static struct {
    sl_bg_thread t;
    fetch_entry *entries;
    void (*notify)(void *);
    void *arg;
    _Atomic uint64_t version;
    uint64_t gens; /* the last generation given to an entry */
} F = {.t = SL_BG_THREAD_INIT};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void free_entry(fetch_entry *e)
{
    free(e->url);
    free(e->post_url);
    free(e->body_arg);
    free(e->must_have);
    free(e->body);
    free(e);
}

static fetch_entry *find(const char *url)
{
    for (fetch_entry *e = F.entries; e; e = e->next)
        if (strcmp(e->url, url) == 0)
            return e;
    return NULL;
}

/* ---- one fetch (no lock held) ---- */

typedef struct body_buf {
    char *data;
    size_t len;
    bool too_big;
} body_buf;

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
    body_buf *b = arg;
    size_t add = size * n;
    if (b->len + add > SL_FETCH_MAX_BYTES) {
        b->too_big = true;
        return 0; /* aborts the transfer */
    }
    char *grown = realloc(b->data, b->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* Fetches url: the body (malloc'd) of a 200 answer holding JSON, or NULL with why. */
static char *fetch(const char *url, const char *post, const char *must_have, char *why, size_t whylen)
{
    CURL *h = curl_easy_init();
    body_buf b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    if (!h) {
        snprintf(why, whylen, "cannot start an HTTP client");
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (post)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post); /* application/x-www-form-urlencoded */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never a proxy from the environment (http_proxy...) */
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, post ? 0L : 1L); /* a POST's secrets go nowhere else */
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)SL_FETCH_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "sluice/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    json_t *doc = NULL;
    if (b.too_big)
        snprintf(why, whylen, "the document is larger than %d bytes", SL_FETCH_MAX_BYTES);
    else if (rc != CURLE_OK)
        snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (status != 200)
        snprintf(why, whylen, "HTTP status %ld", status);
    else if (!b.data || !(doc = json_loads(b.data, 0, NULL)))
        snprintf(why, whylen, "the answer is not JSON");
    else if (must_have && !json_is_string(json_object_get(doc, must_have))) {
        snprintf(why, whylen, "the answer has no %s", must_have);
        json_decref(doc);
        doc = NULL;
    }
    json_decref(doc);
    if (!doc) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* ---- the thread ---- */

/* Records a fetch's outcome; true when what the compiler would read changed. */
static bool record(fetch_entry *e, char *body, const char *problem)
{
    bool changed;
    if (body) {
        changed = !e->body || strcmp(e->body, body) != 0 || e->error[0];
        free(e->body);
        e->body = body;
        e->error[0] = '\0';
        e->fetched_at = time(NULL);
        e->fetched_ms = mono_ms();
        e->failures = 0;
        e->next_ms = mono_ms() + e->refresh_ms;
        return changed;
    }
    changed = strcmp(e->error, problem) != 0;
    snprintf(e->error, sizeof(e->error), "%s", problem);
    uint64_t backoff = (uint64_t)FIRST_RETRY_MS << (e->failures < 16 ? e->failures : 16);
    e->failures++;
    e->next_ms = mono_ms() + (backoff < e->refresh_ms ? backoff : e->refresh_ms);
    return changed;
}

static void *run(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&F.t.lock);
    while (!F.t.stopping) {
        uint64_t now = mono_ms(), soonest = now + IDLE_WAIT_MS;
        fetch_entry *due = NULL;
        bool expired = false;
        for (fetch_entry *e = F.entries; e; e = e->next) {
            if (e->body && e->max_age_ms && now >= e->fetched_ms + e->max_age_ms) {
                /* Too old to be of use (an access token past its hour): it goes. */
                free(e->body);
                e->body = NULL;
                snprintf(e->error, sizeof(e->error), "the last document expired and no new one was fetched");
                sl_log_warn("fetcher", "%s: the last document expired", e->url);
                expired = true;
            } else if (e->body && e->max_age_ms && e->fetched_ms + e->max_age_ms < soonest) {
                soonest = e->fetched_ms + e->max_age_ms;
            }
            if (!due && e->next_ms <= now)
                due = e;
            else if (e->next_ms < soonest)
                soonest = e->next_ms;
        }
        if (expired) {
            atomic_fetch_add(&F.version, 1);
            pthread_mutex_unlock(&F.t.lock);
            F.notify(F.arg);
            pthread_mutex_lock(&F.t.lock);
            continue;
        }
        if (!due) {
            sl_bg_thread_sleep(&F.t, soonest - now);
            continue;
        }
        char *url = strdup(due->url);
        char *target = strdup(due->post_url ? due->post_url : due->url);
        char *arg = due->body_arg ? strdup(due->body_arg) : NULL;
        char *must_have = due->must_have ? strdup(due->must_have) : NULL;
        sl_fetch_body_fn make_body = due->make_body;
        uint64_t gen = due->gen;
        due->next_ms = now + IDLE_WAIT_MS; /* in flight */
        pthread_mutex_unlock(&F.t.lock);
        char problem[200] = "";
        char *post = make_body && arg ? make_body(arg, problem, sizeof(problem)) : NULL;
        char *body = url && target && (!make_body || post) ? fetch(target, post, must_have, problem, sizeof(problem))
                                                           : NULL;
        if (!problem[0] && !body)
            snprintf(problem, sizeof(problem), "out of memory");
        free(post);
        free(arg);
        free(target);
        free(must_have);
        pthread_mutex_lock(&F.t.lock);
        fetch_entry *e = url ? find(url) : NULL; /* forgotten meanwhile: nothing to record */
        if (e && e->gen != gen) {
            e = NULL; /* made with what the caller has replaced since (a rotated key): fetched again at once */
            free(body);
            body = NULL;
        }
        bool changed = e && record(e, body, problem);
        if (!e)
            free(body);
        if (e && !body)
            sl_log_warn("fetcher", "cannot fetch %s: %s%s", url, problem,
                        e->body ? " (the last good document stays in use)" : "");
        else if (changed)
            sl_log_info("fetcher", "fetched %s: changed", url);
        free(url);
        if (changed) {
            atomic_fetch_add(&F.version, 1);
            pthread_mutex_unlock(&F.t.lock);
            F.notify(F.arg);
            pthread_mutex_lock(&F.t.lock);
        }
    }
    pthread_mutex_unlock(&F.t.lock);
    return NULL;
}

void sl_fetcher_start(void (*notify)(void *), void *arg)
{
    F.notify = notify;
    F.arg = arg;
    if (!sl_bg_thread_start(&F.t, run, NULL))
        sl_log_error("fetcher", "cannot start the fetcher thread: documents (JWKS URIs) will not be fetched");
}

void sl_fetcher_stop(void)
{
    if (!F.t.running)
        return;
    sl_bg_thread_stop(&F.t); /* a fetch in progress ends within its timeout */
    while (F.entries) {
        fetch_entry *e = F.entries;
        F.entries = e->next;
        free_entry(e);
    }
}

void sl_fetcher_begin(void)
{
    pthread_mutex_lock(&F.t.lock);
    for (fetch_entry *e = F.entries; e; e = e->next)
        e->asked = false;
    pthread_mutex_unlock(&F.t.lock);
}

void sl_fetcher_end(void)
{
    pthread_mutex_lock(&F.t.lock);
    for (fetch_entry **p = &F.entries; *p;) {
        fetch_entry *e = *p;
        if (e->asked) {
            p = &e->next;
            continue;
        }
        *p = e->next;
        free_entry(e);
    }
    pthread_mutex_unlock(&F.t.lock);
}

/* The entry `name` (made when new, with its POST parts), marked asked, or
 * NULL (out of memory). Lock held. */
static fetch_entry *entry_of(const char *name, const char *post_url, sl_fetch_body_fn make_body, const char *arg,
                             const char *must_have, uint32_t max_age_ms)
{
    fetch_entry *e = find(name);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e || !(e->url = strdup(name)) || (post_url && !(e->post_url = strdup(post_url))) ||
            (arg && !(e->body_arg = strdup(arg))) || (must_have && !(e->must_have = strdup(must_have)))) {
            if (e)
                free_entry(e);
            return NULL;
        }
        e->make_body = make_body;
        e->max_age_ms = max_age_ms;
        e->gen = ++F.gens; /* (a forgotten entry's fetch in flight is not recorded into a new one) */
        snprintf(e->error, sizeof(e->error), "not fetched yet");
        e->next = F.entries; /* next_ms 0: fetched at once */
        F.entries = e;
        pthread_cond_signal(&F.t.wake);
    } else if (arg && (!e->body_arg || strcmp(e->body_arg, arg) != 0)) {
        char *copy = strdup(arg); /* the caller's secret changed: the next fetch uses it */
        if (copy) {
            free(e->body_arg);
            e->body_arg = copy;
            e->gen = ++F.gens;
            e->next_ms = 0;
            pthread_cond_signal(&F.t.wake);
        }
    }
    e->asked = true;
    return e;
}

static char *get(const char *name, const char *post_url, sl_fetch_body_fn make_body, const char *arg,
                 const char *must_have, uint32_t max_age_ms, uint32_t refresh_ms, char *why, size_t whylen)
{
    why[0] = '\0';
    if (!F.t.running) {
        snprintf(why, whylen, "%s is not fetched (no fetcher runs)", post_url ? post_url : name);
        return NULL;
    }
    pthread_mutex_lock(&F.t.lock);
    fetch_entry *e = entry_of(name, post_url, make_body, arg, must_have, max_age_ms);
    if (!e) {
        pthread_mutex_unlock(&F.t.lock);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (!e->refresh_ms || refresh_ms < e->refresh_ms)
        e->refresh_ms = refresh_ms;
    const char *what = post_url ? post_url : name;
    char *body = e->body ? strdup(e->body) : NULL;
    if (e->error[0] && body) {
        char when[32];
        struct tm tm;
        gmtime_r(&e->fetched_at, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(why, whylen, "fetching %s failed (%s); the document fetched at %s stays in use", what, e->error,
                 when);
    } else if (e->error[0]) {
        snprintf(why, whylen, "%s: %s", what, e->error);
    }
    pthread_mutex_unlock(&F.t.lock);
    return body;
}

char *sl_fetcher_get(const char *url, uint32_t refresh_ms, char *why, size_t whylen)
{
    return get(url, NULL, NULL, NULL, NULL, 0, refresh_ms, why, whylen);
}

char *sl_fetcher_post(const sl_fetch_post *post, uint32_t refresh_ms, char *why, size_t whylen)
{
    return get(post->name, post->url, post->make_body, post->arg, post->must_have, post->max_age_ms, refresh_ms, why,
               whylen);
}

uint64_t sl_fetcher_version(void)
{
    return atomic_load(&F.version);
}

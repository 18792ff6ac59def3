/* The master's fetcher: JSON documents that compiled policies need from an
 * HTTP(S) URL (a jwt provider's JWKS), fetched and refreshed by one master
 * thread with libcurl, never by a worker and never on a request's path.
 *
 * The compiler asks for a document while it compiles (sl_fetcher_get). The
 * first time, the URL is only registered and the answer is "not fetched yet";
 * the thread fetches it and, when a document changes (or its first fetch
 * fails), calls the notify function given to sl_fetcher_start, so the master
 * compiles again. A failed refresh keeps the last good document, and says so.
 * URLs that a whole compilation did not ask for are forgotten. */
#ifndef SL_FETCHER_H
#define SL_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_FETCH_MAX_BYTES (1024 * 1024)
#define SL_FETCH_TIMEOUT_S 10

/* Starts the thread (once, after the worker spawner forked: it must be the
 * only thread that forks). notify(arg) is called from the fetcher's thread. */
void sl_fetcher_start(void (*notify)(void *), void *arg);
void sl_fetcher_stop(void);

/* Compiler: marks the start and end of one compilation; URLs not asked for in
 * between are forgotten at the end. */
void sl_fetcher_begin(void);
void sl_fetcher_end(void);

/* Compiler: the last good document of url (malloc'd), or NULL. refresh_ms: how
 * often to fetch it again. A problem (not fetched yet, the last fetch failed)
 * is written to why ("" when none). Without a started fetcher: NULL and why. */
char *sl_fetcher_get(const char *url, uint32_t refresh_ms, char *why, size_t whylen);

/* A POST's form body, made afresh for each fetch from arg (a copy of the
 * caller's), or NULL with why. */
typedef char *(*sl_fetch_body_fn)(const char *arg, char *why, size_t whylen);

/* A document that is the answer to a POST (an OAuth token trade). */
typedef struct sl_fetch_post {
    const char *name;          /* what it is kept under: must tell callers apart (an account and its key) */
    const char *url;           /* where to (redirects are not followed) */
    sl_fetch_body_fn make_body; /* ...with the body make_body(arg) makes afresh each time */
    const char *arg;           /* a new one for the same name is used at once */
    const char *must_have;     /* a string member a good answer has ("access_token"), or NULL */
    uint32_t max_age_ms;       /* a good answer older than this is dropped (0: never) */
} sl_fetch_post;

/* Compiler: as sl_fetcher_get, for a POST's answer. */
char *sl_fetcher_post(const sl_fetch_post *post, uint32_t refresh_ms, char *why, size_t whylen);

/* How many times documents changed (or failed first): part of what the master
 * compares to decide whether to compile again. */
uint64_t sl_fetcher_version(void);

#endif

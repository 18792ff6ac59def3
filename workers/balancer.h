/* Choosing an endpoint of a backend, and learning from how it went.
 *
 *   balancer.c         the pick (health, ejection, panic, endpoints already
 *                      tried), slow start, and the algorithm registry
 *   lb_*.c             one file per algorithm: an sl_lb_algorithm ops table
 *   lb_outcome.c       an attempt's start and end: requests in flight, passive
 *                      checks (consecutive failures eject), circuit breakers and
 *                      the retry budget
 *
 * State shared by the workers lives in the endpoint table
 * (common/endpoint_state.h); a backend without a BackendPolicy gets
 * sl_lb_defaults: round robin, and an endpoint that refuses a connection
 * skipped for ten seconds (nginx's max_fails=1 fail_timeout=10s). */
#ifndef SL_BALANCER_H
#define SL_BALANCER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/endpoint_state.h"
#include "common/snapshot.h"
#include "workers/http1_parser.h"

typedef struct sl_conn sl_conn;
typedef struct sl_wsnap sl_wsnap;

extern const sl_snap_balancer sl_lb_defaults;

/* A request's attempts on one backend (in sl_conn). */
typedef struct sl_lb_attempt {
    uint64_t tried;        /* endpoints tried (bit: offset % 64) */
    uint64_t hash;         /* the request's consistent-hashing key, when hashed */
    bool hashed;           /* ...found (else ring hash and maglev pick at random) */
    /* Session persistence (sessionPersistence of the route rule, lb_session.c): */
    uint32_t pinned;       /* the session's endpoint offset + 1 (0: none) */
    uint32_t session_issued; /* when the session began (Unix seconds) */
    uint64_t session_endpoint; /* the endpoint the response's token names */
    bool session_emit;     /* the response carries a (new or refreshed) token */
    uint32_t ep_slot, ep_tag; /* the endpoint counted in flight (SL_SNAP_NONE: none) */
    uint32_t be_slot, be_tag; /* ...and its backend */
    bool counted;          /* an attempt is in flight and counted */
    bool pending;          /* ...and counted as waiting for its connection */
    bool retry_charged;    /* a retry is charged to the budget of backend slot charge_slot, from
                            * its admission (backoff included) to the end of its attempt */
    uint32_t charge_slot, charge_tag;
    bool judged;           /* its outcome was recorded */
} sl_lb_attempt;

/* What became of an attempt, for the passive checks. */
typedef enum {
    SL_LB_ANSWERED,      /* a response head below 500 */
    SL_LB_ANSWERED_5XX,  /* a 5xx response */
    SL_LB_TIMED_OUT,     /* no response in time (counts as a 5xx: the client gets 504) */
    SL_LB_CONNECT_FAILED, /* refused, reset before reading anything, or no connection in time */
} sl_lb_outcome;

/* The backend's settings: its BackendPolicy's, or the defaults. */
const sl_snap_balancer *sl_lb_settings(const sl_snapshot *s, const sl_snap_backend *be);

/* An endpoint (snapshot index into ENDPOINTS) of backend `bi` for c's request,
 * avoiding those tried already when it can. SL_SNAP_NONE when the backend has
 * no endpoints. */
uint32_t sl_lb_pick(sl_conn *c, uint32_t bi);

/* Before the request's first attempt on backend bi, while w->req is still the
 * request's: clears what earlier requests left, and works out the consistent-
 * hashing key when the backend hashes. */
void sl_lb_request_begin(sl_conn *c, uint32_t bi);

/* lb_hash.c: the value of cookie `name` in the request's Cookie fields. */
bool sl_lb_cookie(const sl_http1_request *req, sl_slice name, sl_slice *value);

/* lb_session.c: the backendRef (of a rule that splits its traffic) whose
 * backend holds the endpoint of the request's session, NULL when none does. */
const sl_snap_backend_ref *sl_lb_session_ref(sl_conn *c, const sl_snap_action *a);
/* lb_session.c: reads the request's session token (w->req still the
 * request's) and pins its endpoint when it is valid. */
void sl_lb_session_begin(sl_conn *c, const sl_snap_backend *be);
/* lb_session.c: the attempt goes to endpoint offset i: whether the response
 * carries a token, and which. */
void sl_lb_session_chosen(sl_conn *c, const sl_snap_backend *be, uint32_t i);
/* lb_session.c: the response's Set-Cookie or header line, when one is due. */
struct sl_buf;
void sl_lb_session_emit(sl_conn *c, struct sl_buf *b);

/* Is another endpoint of backend bi left that this request has not tried (and
 * that is usable)? */
bool sl_lb_untried_left(sl_conn *c, uint32_t bi);

/* Circuit breakers, before an attempt on backend bi: 0 when it may go, else
 * the SL_CB_* limit that refuses it (+1), counted in the backend's overflows.
 * A retry is also held to the retry budget. */
int sl_lb_admit(sl_conn *c, uint32_t bi, bool retry);
/* An admitted retry is charged to the budget (replacing an earlier retry's
 * charge) until the request ends, backoff included. */
void sl_lb_charge_retry(sl_conn *c, uint32_t bi);

/* The attempt on endpoint ei of backend bi starts; it ends (idempotent) when
 * its connection is let go (sl_proxy_detach). The request's end also gives
 * back a retry's charge. */
void sl_lb_attempt_begin(sl_conn *c, uint32_t bi, uint32_t ei);
void sl_lb_attempt_connected(sl_conn *c);
void sl_lb_attempt_end(sl_conn *c);
void sl_lb_request_end(sl_conn *c);
/* Records how the attempt went (once per attempt) for the passive checks. */
void sl_lb_judge(sl_conn *c, sl_lb_outcome outcome);

/* The field name of an SL_CB_* limit, for the 503's header and logs. */
const char *sl_lb_limit_name(int limit);

/* ---- For the algorithms (lb_*.c) ---- */

typedef struct sl_lb_ctx {
    sl_conn *c;
    const sl_snapshot *s;
    const sl_snap_backend *be;
    const sl_snap_balancer *cfg;
    uint32_t bi;
    bool panic;    /* too few usable endpoints: health is ignored */
    bool uniform;  /* every endpoint weighs the same and none ramps up: weights can be ignored */
    uint64_t now;  /* the shared clock, read when first needed (0 until then) */
} sl_lb_ctx;

typedef struct sl_lb_algorithm {
    const char *name;
    /* An endpoint offset (0..be->endpoints.count-1) for which sl_lb_eligible
     * holds if any does; any offset otherwise. */
    uint32_t (*pick)(sl_lb_ctx *x);
} sl_lb_algorithm;

/* May the endpoint at offset i be picked: usable (unless in panic) and not tried? */
bool sl_lb_eligible(sl_lb_ctx *x, uint32_t i);
/* Its weight now (slow start applied), at least 1 when eligible. */
double sl_lb_weight(sl_lb_ctx *x, uint32_t i);
/* Its requests in flight, over every worker. */
uint32_t sl_lb_active(sl_lb_ctx *x, uint32_t i);
uint32_t sl_lb_random(void);
/* Seeds this process's generator (each worker after fork: workers must not
 * draw the same sequence). */
void sl_lb_seed(uint32_t seed);
/* Round robin's fallback when another algorithm finds no candidate of its own. */
uint32_t sl_lb_first_eligible(sl_lb_ctx *x, uint32_t start);

extern const sl_lb_algorithm sl_lb_round_robin, sl_lb_least_request, sl_lb_random_pick, sl_lb_ring_hash,
    sl_lb_maglev;

#endif

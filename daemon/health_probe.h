/* Active health check probes, one ops table per kind (HTTP, TCP, gRPC), listed
 * in one registry: the health checker (health_checker.c) asks a kind to set up
 * a libcurl handle for a target and then to judge how it went. */
#ifndef SL_HEALTH_PROBE_H
#define SL_HEALTH_PROBE_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/snapshot.h"

/* A backend's health check (copied out of the snapshot: hc's strings are the
 * fields below, not hc's offsets). */
typedef struct sl_probe_config {
    sl_snap_health_check hc;
    char path[1024], host[256], method[16], service[256];
    bool tls;          /* the backend is reached over TLS */
    char backend[300]; /* "Service/ns/name:port", for logs */
} sl_probe_config;

/* One endpoint to probe. */
typedef struct sl_probe_target {
    uint32_t slot, tag; /* its slot in the shared table, and the slot's tag then */
    char address[64];   /* "127.0.0.1:8080", "[::1]:8080" */
    const sl_probe_config *cfg;
} sl_probe_target;

/* One probe in flight: its handle and what it collects. */
typedef struct sl_probe {
    CURL *easy;
    struct curl_slist *headers;
    unsigned char body[64];  /* the first bytes of the answer (gRPC reads its status there) */
    size_t body_len;
    char error[CURL_ERROR_SIZE];
    char request[300];       /* a gRPC request message */
    uint32_t slot;           /* whose probe it is */
    void *owner;             /* the watcher's entry it belongs to (health_checker.c) */
} sl_probe;

typedef struct sl_probe_kind {
    const char *name;
    /* Sets up p->easy (made, with the common options) for target t. */
    void (*setup)(sl_probe *p, const sl_probe_target *t, char *url, size_t urllen);
    /* Healthy? Else why. rc: how the transfer ended. */
    bool (*judge)(sl_probe *p, const sl_probe_target *t, CURLcode rc, char *why, size_t whylen);
} sl_probe_kind;

/* The kind of sl_snap_health_kind k, NULL for none. */
const sl_probe_kind *sl_probe_kind_of(uint8_t k);

/* Starts a probe of t: p->easy made and set up; false when out of memory. */
bool sl_probe_begin(sl_probe *p, const sl_probe_target *t);
void sl_probe_end(sl_probe *p);

#endif

/* The last requests of every worker, for the dashboard's access-log view
 * (GET /debug/access-log): a shared ring of fixed-size records per worker
 * slot, written by the slot's worker as each request ends, whatever the
 * access log's own settings (off, a file, a format), and read by the master.
 *
 * A record is a copy of the request's log fields, cut to fit, not a rendered
 * line: a few short copies per request, so the ring costs the proxy next to
 * nothing. Each record has a sequence word (a seqlock): odd while its worker
 * writes it, then 2n + 2 for the slot's n-th record; the master keeps a copy
 * only when the word is the same, and even, before and after it copied. The
 * mapping is reserved, not committed: a slot costs memory once its worker
 * writes. A slot keeps its records when its worker restarts and loses them
 * when it is given to another Gateway's worker. */
#ifndef SL_LOG_TAIL_H
#define SL_LOG_TAIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_LOG_TAIL_RECORDS 256 /* per worker slot */

typedef struct sl_log_record {
    _Atomic uint64_t seq;
    uint64_t time_us; /* wall clock in microseconds, read when the request ended (orders the workers' records) */
    uint64_t bytes_sent, bytes_received;
    uint32_t duration_ms;
    uint16_t status; /* 0: a passed-through connection */
    bool traced;
    uint8_t trace_id[16];
    char method[16];
    char client[48];
    char host[64];
    char route[160]; /* "namespace/name", cut as the access log's */
    char upstream[64];
    char path[192];
} sl_log_record;

typedef struct sl_log_tail {
    _Atomic uint64_t head; /* records written so far */
    uint64_t reserved[7];
    sl_log_record records[SL_LOG_TAIL_RECORDS];
} sl_log_tail;

/* Master, before forking: the rings of every slot (false, logged: no view). */
bool sl_log_tail_create(void);

/* Master, before a worker starts in slot for another Gateway than the last:
 * the slot's records are forgotten. */
void sl_log_tail_reset(uint32_t slot);

/* Worker: the record to fill for its next request (NULL without rings), then
 * published by sl_log_tail_commit. Only the slot's worker writes. */
sl_log_record *sl_log_tail_begin(uint32_t slot);
void sl_log_tail_commit(uint32_t slot, sl_log_record *r);

/* Master: the slot's complete records, oldest first, copied into out (up to
 * cap); how many. */
size_t sl_log_tail_read(uint32_t slot, sl_log_record *out, size_t cap);

/* Copies the C string src into the field dst of size cap, cut to fit. */
void sl_log_tail_copy(char *dst, size_t cap, const char *src);

#endif

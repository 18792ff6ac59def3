/* DATA frames of borrowed Content-Length bodies written straight from the
 * proxy's upstream buffer, in whole TLS records (see h2_internal.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "workers/h2_internal.h"
#include "workers/sys_io.h"
#include "workers/tls.h"

size_t sl_h2_record_payload_max(const sl_h2_session *s)
{
    size_t queued = sl_buf_len(&s->out);
    if (!s->c->ssl)
        return SIZE_MAX;
    /* Nearly full: the frame will likely wait until the output is written
     * (sl_h2_send_data) and then start a record of its own. */
    if (queued + 9 + SL_H2_DIRECT_MIN > SL_TLS_RECORD_MAX)
        return SL_TLS_RECORD_MAX - 9;
    return SL_TLS_RECORD_MAX - 9 - queued;
}

int sl_h2_write_frame_direct(sl_h2_session *s, const uint8_t *framehd, char *payload, size_t length,
                             size_t headroom)
{
    sl_conn *c = s->c;
    size_t queued = sl_buf_len(&s->out);
    size_t total = queued + 9 + length;
    if (length < SL_H2_DIRECT_MIN || queued > SL_H2_DIRECT_PREFIX_MAX || headroom < queued + 9 ||
        (c->ssl && total > SL_TLS_RECORD_MAX) || s->out.cap < total)
        return 0;
    /* The queued frames and the header go in front of the payload, into bytes
     * of the upstream buffer already consumed: one contiguous write (over TLS,
     * one record). */
    char *p = payload - 9 - queued;
    memcpy(p, s->out.data + s->out.start, queued);
    memcpy(p + queued, framehd, 9);
    struct iovec iov = {p, total};
    ssize_t wr;
    do
        wr = c->ssl ? sl_tls_writev(c->ssl, &iov, 1, &c->tls_write_wants_read) : sl_sys_writev(c->fd, &iov, 1);
    while (wr < 0 && errno == EINTR);
    if (wr < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        return -1;
    size_t done = wr > 0 ? (size_t)wr : 0;
    atomic_fetch_add(&c->w->slot->bytes_out, (uint64_t)done);
    /* What the socket did not take goes into s->out, where write_out carries on
     * (OpenSSL accepts its retry from another address holding the same bytes). */
    s->out.start = s->out.end = 0;
    sl_buf_append(&s->out, p + done, total - done);
    return 1;
}

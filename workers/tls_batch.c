/* Batching the TLS records of a connection into few write(2) calls.
 *
 * OpenSSL writes every record (at most 16 KiB of plaintext) to its BIO as soon
 * as it is sealed; with the usual socket BIO that is one write(2) per record,
 * and on loopback or a fast network each of those costs about as much as
 * encrypting the record (the kernel also does the receiving side's work and
 * wakes the reader). An HTTP/2 connection that sends a 64 KiB body writes five
 * records in one turn of the event loop. This BIO collects them in a buffer
 * taken from the worker's pool and hands them to the socket in one write when
 * the buffer is full or the connection's turn ends (sl_tls_flush). Reads keep
 * the socket BIO. The buffer is held only while records wait in it, so an idle
 * connection costs nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

#include "workers/sys_io.h"
#include "workers/tls.h"

typedef struct batch {
    int fd;
    sl_worker *w;
    sl_buf out; /* sealed records not yet written to the socket */
} batch;

/* Writes what is staged. Returns 1 when all of it is out, 0 when the socket is
 * full (the rest stays), -1 on a socket error (errno set). */
static int push(batch *bt)
{
    while (sl_buf_len(&bt->out)) {
        struct iovec iov = {bt->out.data + bt->out.start, sl_buf_len(&bt->out)};
        ssize_t n = sl_sys_writev(bt->fd, &iov, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        bt->out.start += (size_t)n;
    }
    bt->out.start = bt->out.end = 0;
    return 1;
}

static int batch_write(BIO *b, const char *data, int len)
{
    batch *bt = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (sl_bodybuf_get(bt->w, &bt->out) != 0) {
        errno = ENOMEM;
        return -1;
    }
    if (sl_buf_room(&bt->out) < (size_t)len) {
        /* Full: the socket takes what it can, and the rest moves to the front. */
        if (push(bt) < 0)
            return -1;
        sl_buf_compact(&bt->out);
    }
    size_t k = sl_buf_room(&bt->out) < (size_t)len ? sl_buf_room(&bt->out) : (size_t)len;
    if (k == 0) {
        BIO_set_retry_write(b); /* OpenSSL keeps the record and asks again */
        return -1;
    }
    memcpy(bt->out.data + bt->out.end, data, k);
    bt->out.end += k;
    return (int)k; /* OpenSSL writes the rest of a record it could not place whole */
}

static long batch_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    batch *bt = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: {
        BIO_clear_retry_flags(b);
        int rc = push(bt);
        if (rc == 1)
            sl_bodybuf_put(bt->w, &bt->out); /* the turn is over: an idle connection holds none */
        else if (rc == 0)
            BIO_set_retry_write(b);
        return rc;
    }
    case BIO_CTRL_WPENDING: return (long)sl_buf_len(&bt->out);
    case BIO_CTRL_PENDING: return 0;
    case BIO_CTRL_GET_CLOSE: return BIO_get_shutdown(b);
    case BIO_CTRL_SET_CLOSE: BIO_set_shutdown(b, (int)num); return 1;
    default: return 0; /* not a socket for OpenSSL's other questions (kTLS, fd) */
    }
}

static int batch_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int batch_destroy(BIO *b)
{
    batch *bt = BIO_get_data(b);
    if (bt) {
        sl_bodybuf_put(bt->w, &bt->out); /* a closing connection's unsent bytes */
        free(bt);
        BIO_set_data(b, NULL);
    }
    return 1;
}

static BIO_METHOD *batch_method(void)
{
    static BIO_METHOD *m;
    if (m)
        return m;
    m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice record batch");
    if (!m || !BIO_meth_set_write(m, batch_write) || !BIO_meth_set_ctrl(m, batch_ctrl) ||
        !BIO_meth_set_create(m, batch_create) || !BIO_meth_set_destroy(m, batch_destroy)) {
        BIO_meth_free(m);
        m = NULL;
    }
    return m;
}

bool sl_tls_batch_writes(SSL *ssl, int fd, sl_worker *w)
{
    BIO_METHOD *m = batch_method();
    batch *bt = calloc(1, sizeof(*bt));
    BIO *b = m && bt ? BIO_new(m) : NULL;
    if (!b) {
        free(bt);
        return false;
    }
    bt->fd = fd;
    bt->w = w;
    BIO_set_data(b, bt);
    SSL_set0_wbio(ssl, b); /* the socket BIO stays the read side */
    return true;
}

size_t sl_tls_unsent(SSL *ssl)
{
    long n = BIO_wpending(SSL_get_wbio(ssl));
    return n > 0 ? (size_t)n : 0;
}

int sl_tls_flush(SSL *ssl)
{
    BIO *b = SSL_get_wbio(ssl);
    if (BIO_wpending(b) <= 0)
        return 1;
    int rc = BIO_flush(b);
    return rc > 0 ? 1 : BIO_should_retry(b) ? 0 : -1;
}

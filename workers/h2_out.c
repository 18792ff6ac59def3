#include "workers/h2_out.h"

#include <string.h>

int sl_h2_mem_send_into(nghttp2_session *ng, sl_buf *out, size_t fill_to, const uint8_t **pending, size_t *pending_len)
{
    for (;;) {
        if (*pending_len == 0) {
            ssize_t n = nghttp2_session_mem_send(ng, pending);
            if (n <= 0)
                return (int)n;
            *pending_len = (size_t)n;
        }
        if (sl_buf_len(out) >= fill_to)
            return 0;
        if (sl_buf_room(out) == 0)
            sl_buf_compact(out);
        size_t room = sl_buf_room(out);
        if (room == 0)
            return 0;
        size_t k = *pending_len < room ? *pending_len : room;
        memcpy(out->data + out->end, *pending, k);
        out->end += k;
        *pending += k;
        *pending_len -= k;
    }
}

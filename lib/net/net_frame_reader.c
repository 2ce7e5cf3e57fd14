/*
 * net_frame_reader — header peek on an evbuffer for the partition server and client
 * (see the header).
 *
 * Threading: no state; the caller's net I/O thread.
 */
#include "net/net_frame_reader.h"

#include <event2/buffer.h>

#include "net/net_codec.h"

int net_frame_peek(struct evbuffer *in, uint32_t max_frame, uint32_t *frame_len, uint8_t *id, te_error_t *err)
{
    uint8_t hdr[TE_NET_HEADER_LEN];
    size_t have = evbuffer_get_length(in);
    ev_ssize_t n = evbuffer_copyout(in, hdr, have < sizeof(hdr) ? have : sizeof(hdr));
    if (n <= 0)
        return 0;
    return net_codec_peek_header(hdr, (size_t)n, max_frame, frame_len, id, err);
}

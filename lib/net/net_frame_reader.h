/*
 * net_frame_reader — the one place where a data-plane frame header is looked at in a
 * libevent input buffer: the partition server (requests) and the partition client
 * (responses) both peek the next frame's header here before deciding how much of the
 * frame they need. net_codec stays pure (no libevent); this is its evbuffer side.
 *
 * Threading: no state; called on the net I/O thread that owns the evbuffer.
 */
#ifndef TE_NET_FRAME_READER_H
#define TE_NET_FRAME_READER_H

#include <stdint.h>

#include "common/te_status.h"

struct evbuffer;

/*
 * Peeks (does not consume) the header of the frame at the start of `in` and checks it
 * with net_codec_peek_header. Returns 1 with *frame_len and *id once its 9 bytes are
 * buffered and valid; 0 while fewer are buffered (a bad magic is reported as soon as
 * bytes 4..7 are there); -1 with err (TE_EPROTO / TE_ETOOBIG) when the stream is
 * unusable. Whether the rest of the frame is there is the caller's question
 * (evbuffer_get_length(in) against *frame_len or the part it needs).
 */
int net_frame_peek(struct evbuffer *in, uint32_t max_frame, uint32_t *frame_len, uint8_t *id, te_error_t *err);

#endif

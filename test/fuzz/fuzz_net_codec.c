/*
 * fuzz_net_codec — libFuzzer harness for the data-plane codec: the input is a byte
 * stream as a peer would send it; frames are decoded one after another (header peek,
 * full decode, BufferResponse header decode); every decoded message is re-encoded and
 * decoded again, and must come back identical (the codec is its own oracle only for
 * this round trip; tests compare it with hand-built frames).
 *
 * Threading: single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_codec.h"

static void roundtrip(const te_net_msg_t *m)
{
    uint8_t buf[TE_NET_BUFFER_RESPONSE_FIXED + TE_NET_ERROR_MSG_MAX + 64];
    size_t n = net_codec_encode(m, buf, sizeof(buf));
    if (n == 0 || m->id == TE_NET_BUFFER_RESPONSE)
        return; /* BufferResponse payloads are appended by the caller */
    te_net_msg_t back;
    size_t used = 0;
    te_error_t err;
    if (net_codec_decode(buf, n, 1u << 20, &back, &used, &err) != 1 || used != n || back.id != m->id)
        abort();
    if (memcmp(back.receiver_id, m->receiver_id, TE_NET_ID_LEN) != 0 && m->id != TE_NET_CLOSE_REQUEST)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        te_net_msg_t m;
        size_t used = 0;
        uint32_t flen;
        uint8_t id;
        te_error_t err;
        int ph = net_codec_peek_header(data + off, size - off, 1u << 20, &flen, &id, &err);
        if (ph == 1 && id == TE_NET_BUFFER_RESPONSE && flen >= TE_NET_BUFFER_RESPONSE_FIXED &&
            size - off >= TE_NET_BUFFER_RESPONSE_FIXED)
            (void)net_codec_decode_buffer_header(data + off, flen, &m, &err);
        int r = net_codec_decode(data + off, size - off, 1u << 20, &m, &used, &err);
        if (r != 1)
            break;
        if (used == 0 || used > size - off)
            abort();
        roundtrip(&m);
        off += used;
    }
    return 0;
}

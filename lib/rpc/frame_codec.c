/*
 * frame_codec — control-plane framing: `u32 big-endian length | RpcMessage bytes`
 * (DESIGN §3). Pure functions and an incremental decoder; no I/O.
 *
 * Threading: no shared state; a frame_decoder_t is used by one thread at a time
 * (the rpc_client's caller; the rpc_server frames on its evbuffer with
 * frame_header_parse on the control thread). No locks.
 */
#include "rpc/frame_codec.h"

#include <stdlib.h>
#include <string.h>

/* An assembly buffer above this is released after its frame was delivered. */
#define FRAME_DECODER_KEEP_BYTES ((size_t)256 * 1024)
/* First allocation for a frame that arrives in pieces. */
#define FRAME_DECODER_MIN_ALLOC ((size_t)4096)

void frame_decoder_init(frame_decoder_t *dec, size_t max_frame)
{
    memset(dec, 0, sizeof(*dec));
    dec->max_frame = max_frame;
}

void frame_decoder_reset(frame_decoder_t *dec)
{
    dec->hdr_have = 0;
    dec->frame_len = 0;
    dec->have = 0;
    dec->delivered = 0;
    dec->failed = 0;
}

void frame_decoder_free(frame_decoder_t *dec)
{
    if (dec == NULL)
        return;
    free(dec->buf);
    dec->buf = NULL;
    dec->buf_cap = 0;
    frame_decoder_reset(dec);
}

size_t frame_decoder_capacity(const frame_decoder_t *dec) { return dec->buf_cap; }

void frame_header_write(uint8_t out[FRAME_HEADER_LEN], uint32_t len)
{
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
}

te_status_t frame_header_parse(const uint8_t in[FRAME_HEADER_LEN], size_t max_frame, size_t *frame_len,
                               te_error_t *err)
{
    size_t len = ((size_t)in[0] << 24) | ((size_t)in[1] << 16) | ((size_t)in[2] << 8) | in[3];
    *frame_len = len;
    if (len > max_frame)
        return te_error_set(err, TE_ETOOBIG,
                            "frame of %zu bytes exceeds the maximum frame size of %zu bytes "
                            "(taskmanager.rpc.max-frame-size)",
                            len, max_frame);
    return TE_OK;
}

/* Makes room for `need` payload bytes, growing geometrically up to frame_len so that
 * a peer announcing a large frame does not get it allocated before it sends it. */
static te_status_t decoder_reserve(frame_decoder_t *dec, size_t need, te_error_t *err)
{
    if (need <= dec->buf_cap)
        return TE_OK;
    size_t cap = dec->buf_cap < FRAME_DECODER_MIN_ALLOC ? FRAME_DECODER_MIN_ALLOC : dec->buf_cap;
    while (cap < need)
        cap *= 2;
    if (cap > dec->frame_len)
        cap = dec->frame_len;
    uint8_t *nb = realloc(dec->buf, cap);
    if (nb == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory assembling a frame of %zu bytes", dec->frame_len);
    dec->buf = nb;
    dec->buf_cap = cap;
    return TE_OK;
}

frame_result_t frame_decoder_feed(frame_decoder_t *dec, const void *data, size_t len, size_t *consumed,
                                  const uint8_t **frame, size_t *frame_len, te_error_t *err)
{
    const uint8_t *p = data;
    size_t off = 0;

    *consumed = 0;
    *frame = NULL;
    *frame_len = 0;
    if (dec->failed) {
        te_error_set(err, TE_EPROTO, "frame decoder failed earlier; reset it first");
        return FRAME_ERROR;
    }
    if (dec->delivered) {
        /* The previous frame's memory is no longer borrowed: start the next one. */
        dec->delivered = 0;
        dec->hdr_have = 0;
        dec->frame_len = 0;
        dec->have = 0;
        if (dec->buf_cap > FRAME_DECODER_KEEP_BYTES) {
            free(dec->buf);
            dec->buf = NULL;
            dec->buf_cap = 0;
        }
    }

    if (dec->hdr_have < FRAME_HEADER_LEN) {
        while (dec->hdr_have < FRAME_HEADER_LEN && off < len)
            dec->hdr[dec->hdr_have++] = p[off++];
        if (dec->hdr_have < FRAME_HEADER_LEN) {
            *consumed = off;
            return FRAME_NEED_MORE;
        }
        /* The header just completed: check it before anything is allocated. */
        if (frame_header_parse(dec->hdr, dec->max_frame, &dec->frame_len, err) != TE_OK) {
            dec->failed = 1;
            *consumed = off;
            return FRAME_ERROR;
        }
        dec->have = 0;
    }
    if (dec->have == 0 && len - off >= dec->frame_len) {
        /* The whole payload is in this chunk: hand it out without copying. The
         * header array stands in for a non-NULL pointer to an empty frame. */
        *frame = dec->frame_len ? p + off : dec->hdr;
        *frame_len = dec->frame_len;
        *consumed = off + dec->frame_len;
        dec->delivered = 1;
        return FRAME_READY;
    }

    size_t want = dec->frame_len - dec->have;
    size_t n = len - off < want ? len - off : want;
    if (n > 0) {
        if (decoder_reserve(dec, dec->have + n, err) != TE_OK) {
            dec->failed = 1;
            *consumed = off;
            return FRAME_ERROR;
        }
        memcpy(dec->buf + dec->have, p + off, n);
        dec->have += n;
        off += n;
    }
    *consumed = off;
    if (dec->have < dec->frame_len)
        return FRAME_NEED_MORE;
    *frame = dec->buf != NULL ? dec->buf : dec->hdr;
    *frame_len = dec->frame_len;
    dec->delivered = 1;
    return FRAME_READY;
}

size_t frame_encoded_size(const Te__RpcMessage *msg)
{
    return FRAME_HEADER_LEN + te__rpc_message__get_packed_size(msg);
}

te_status_t frame_encode_into(const Te__RpcMessage *msg, uint8_t *buf, size_t cap, size_t *len, te_error_t *err)
{
    size_t body = te__rpc_message__get_packed_size(msg);
    if (body > UINT32_MAX)
        return te_error_set(err, TE_ETOOBIG, "message of %zu bytes cannot be framed (max %u)", body,
                            (unsigned)UINT32_MAX);
    if (cap < FRAME_HEADER_LEN + body)
        return te_error_set(err, TE_ETOOBIG, "frame of %zu bytes does not fit a buffer of %zu",
                            FRAME_HEADER_LEN + body, cap);
    frame_header_write(buf, (uint32_t)body);
    size_t packed = te__rpc_message__pack(msg, buf + FRAME_HEADER_LEN);
    if (packed != body)
        return te_error_set(err, TE_EINTERNAL, "packed %zu bytes, expected %zu", packed, body);
    *len = FRAME_HEADER_LEN + body;
    return TE_OK;
}

te_status_t frame_encode_message(const Te__RpcMessage *msg, uint8_t **buf, size_t *len, te_error_t *err)
{
    size_t total = frame_encoded_size(msg);
    uint8_t *b = malloc(total);
    if (b == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory encoding a frame of %zu bytes", total);
    te_status_t st = frame_encode_into(msg, b, total, len, err);
    if (st != TE_OK) {
        free(b);
        return st;
    }
    *buf = b;
    return TE_OK;
}

Te__RpcMessage *frame_decode_message(const uint8_t *payload, size_t len, te_error_t *err)
{
    static const uint8_t empty[1];
    Te__RpcMessage *msg = te__rpc_message__unpack(NULL, len, len ? payload : empty);
    if (msg == NULL)
        te_error_set(err, TE_EPROTO, "malformed RpcMessage (%zu bytes do not decode)", len);
    return msg;
}

frame_msg_kind_t frame_message_kind(const Te__RpcMessage *msg)
{
    switch (msg->body_case) {
    case TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER:
    case TE__RPC_MESSAGE__BODY_REQUEST_SLOT:
    case TE__RPC_MESSAGE__BODY_SUBMIT_TASK:
    case TE__RPC_MESSAGE__BODY_CANCEL_TASK:
    case TE__RPC_MESSAGE__BODY_FREE_SLOT:
    case TE__RPC_MESSAGE__BODY_TRIGGER_CHECKPOINT:
    case TE__RPC_MESSAGE__BODY_CONFIRM_CHECKPOINT:
    case TE__RPC_MESSAGE__BODY_ABORT_CHECKPOINT:
    case TE__RPC_MESSAGE__BODY_HEARTBEAT:
    case TE__RPC_MESSAGE__BODY_DISCONNECT_JOB_MANAGER:
    case TE__RPC_MESSAGE__BODY_REQUEST_SLOT_REPORT:
    case TE__RPC_MESSAGE__BODY_REQUEST_TASK_REPORT:
    case TE__RPC_MESSAGE__BODY_REGISTER_TASK_EXECUTOR:
    case TE__RPC_MESSAGE__BODY_TASK_EXECUTOR_HEARTBEAT:
    case TE__RPC_MESSAGE__BODY_OFFER_SLOTS: return FRAME_MSG_CALL;
    case TE__RPC_MESSAGE__BODY_RESPONSE: return FRAME_MSG_RESPONSE;
    case TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE:
    case TE__RPC_MESSAGE__BODY_ACKNOWLEDGE_CHECKPOINT:
    case TE__RPC_MESSAGE__BODY_DECLINE_CHECKPOINT: return FRAME_MSG_PUSH;
    default: return FRAME_MSG_NONE;
    }
}

const char *frame_message_body_name(const Te__RpcMessage *msg)
{
    if (msg->body_case == TE__RPC_MESSAGE__BODY__NOT_SET)
        return "none";
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&te__rpc_message__descriptor, msg->body_case);
    return f != NULL ? f->name : "unknown";
}

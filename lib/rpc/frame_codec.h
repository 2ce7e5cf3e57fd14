/*
 * frame_codec — the control-plane framing (DESIGN §3): `u32 big-endian length |
 * RpcMessage bytes`. Pure: no I/O, no globals.
 *
 *  - frame_decoder_t: an incremental decoder fed arbitrary byte chunks that yields
 *    one complete frame at a time. A length above max_frame is rejected as soon as
 *    the 4 length bytes are known, before any allocation. Zero-length frames are
 *    valid (an empty RpcMessage).
 *  - frame_header_write/parse: the 4-byte prefix alone, for callers that frame on an
 *    evbuffer themselves (peek 4 bytes, check, wait for the whole frame).
 *  - frame_encode_*: RpcMessage -> length-prefixed bytes; frame_decode_message:
 *    payload bytes -> Te__RpcMessage.
 *  - frame_message_kind: is a message a call, a Response or a push (by the range of
 *    its field number).
 *
 * Threading: pure; a decoder belongs to one thread at a time.
 */
#ifndef TE_FRAME_CODEC_H
#define TE_FRAME_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "rpc.pb-c.h"

#define FRAME_HEADER_LEN 4
/* Default of taskmanager.rpc.max-frame-size (10mb). */
#define FRAME_DEFAULT_MAX_SIZE ((size_t)10 * 1024 * 1024)

typedef enum frame_result {
    FRAME_ERROR = -1,    /* err set; the decoder stays failed until reset */
    FRAME_NEED_MORE = 0, /* every byte given was consumed; feed more */
    FRAME_READY = 1,     /* one frame complete; *frame / *frame_len set */
} frame_result_t;

/* The decoder. Public only so it can be embedded; the fields are private. */
typedef struct frame_decoder {
    size_t max_frame;
    uint8_t hdr[FRAME_HEADER_LEN];
    size_t hdr_have;  /* header bytes received (0..4) */
    size_t frame_len; /* payload length once hdr_have == 4 */
    size_t have;      /* payload bytes copied into buf */
    uint8_t *buf;     /* payload assembly buffer, grown as bytes arrive */
    size_t buf_cap;
    int delivered; /* the last feed returned FRAME_READY */
    int failed;
} frame_decoder_t;

void frame_decoder_init(frame_decoder_t *dec, size_t max_frame);
/* Forgets any partial frame and a failure; keeps max_frame. */
void frame_decoder_reset(frame_decoder_t *dec);
/* Releases the buffer (the struct itself is the caller's). NULL is a no-op. */
void frame_decoder_free(frame_decoder_t *dec);

/* Consumes bytes of data[0..len) up to the end of at most one frame. *consumed is
 * always set (bytes used, <= len). On FRAME_READY, *frame and *frame_len are the payload
 * (without the length prefix): it points either into `data` or into the decoder,
 * and is borrowed until the next feed/reset/free or until `data` changes. The
 * caller feeds the rest (data + *consumed) again to get further frames.
 * On FRAME_ERROR, err says why (TE_ETOOBIG naming the length and the limit,
 * TE_ENOMEM). */
frame_result_t frame_decoder_feed(frame_decoder_t *dec, const void *data, size_t len, size_t *consumed,
                                  const uint8_t **frame, size_t *frame_len, te_error_t *err);

/* Bytes the decoder has allocated (0 until a frame needs assembling). For tests. */
size_t frame_decoder_capacity(const frame_decoder_t *dec);

void frame_header_write(uint8_t out[FRAME_HEADER_LEN], uint32_t len);
/* Reads the length; TE_ETOOBIG (message giving both sizes) when above max_frame. */
te_status_t frame_header_parse(const uint8_t in[FRAME_HEADER_LEN], size_t max_frame, size_t *frame_len,
                               te_error_t *err);

/* Length prefix + packed size of msg. */
size_t frame_encoded_size(const Te__RpcMessage *msg);
/* Encodes msg into a malloc'd buffer (*buf, *len; the caller frees *buf). */
te_status_t frame_encode_message(const Te__RpcMessage *msg, uint8_t **buf, size_t *len, te_error_t *err);
/* Encodes into buf[0..cap); TE_ETOOBIG when it does not fit. */
te_status_t frame_encode_into(const Te__RpcMessage *msg, uint8_t *buf, size_t cap, size_t *len, te_error_t *err);

/* Unpacks a frame payload. NULL + TE_EPROTO on garbage. The caller frees the result
 * with te__rpc_message__free_unpacked(msg, NULL). */
Te__RpcMessage *frame_decode_message(const uint8_t *payload, size_t len, te_error_t *err);

/* What a message is follows from its RpcMessage field number (proto/rpc.proto): calls
 * 10..29, the Response 30, pushes 40..49. A call added in its range is a call here
 * with no other change. */
#define FRAME_CALL_FIRST     10
#define FRAME_CALL_LAST      29
#define FRAME_RESPONSE_FIELD 30
#define FRAME_PUSH_FIRST     40
#define FRAME_PUSH_LAST      49

typedef enum frame_msg_kind {
    FRAME_MSG_NONE = 0, /* no (known) body set */
    FRAME_MSG_CALL,     /* scheduler -> daemon call */
    FRAME_MSG_RESPONSE,
    FRAME_MSG_PUSH, /* daemon -> scheduler: TaskExecutionState, Acknowledge/DeclineCheckpoint */
} frame_msg_kind_t;

frame_msg_kind_t frame_message_kind(const Te__RpcMessage *msg);
/* The body's message (the oneof member body_case selects), or NULL when unset. */
const void *frame_message_body(const Te__RpcMessage *msg);
/* The proto field name of the body ("heartbeat", "submit_task"), "none" when unset. */
const char *frame_message_body_name(const Te__RpcMessage *msg);

#endif

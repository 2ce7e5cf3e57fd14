/*
 * net_codec — the data-plane wire format between daemons (proto/NETWORK.md), Flink's
 * NettyMessage: frame = u32 BE frame length (the whole frame, these 4 bytes included)
 * | u32 BE magic 0xBADC0FFE | u8 message id | body. All integers big-endian.
 *
 * Pure functions: no I/O, no allocation. The decoder validates the header as soon as
 * its 9 bytes are there (bad magic, unknown id, a length below the minimum for the id
 * or above the caller's limit are errors before any body arrives), then decodes a
 * complete frame; a BufferResponse payload / ErrorResponse message points into the
 * caller's bytes (zero copy).
 *
 * Threading: pure; any thread.
 */
#ifndef TE_NET_CODEC_H
#define TE_NET_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"

#define TE_NET_MAGIC      0xBADC0FFEu
#define TE_NET_HEADER_LEN 9u
#define TE_NET_ID_LEN     16u
/* Fixed part of a BufferResponse frame before the payload. */
#define TE_NET_BUFFER_RESPONSE_FIXED (TE_NET_HEADER_LEN + 16u + 4u + 4u + 1u + 1u + 4u)
/* Longest ErrorResponse message carried. */
#define TE_NET_ERROR_MSG_MAX 1024u
/* Longest frame a client may send to a server (requests are small). */
#define TE_NET_MAX_REQUEST_FRAME 256u

typedef enum te_net_msg_id {
    TE_NET_BUFFER_RESPONSE = 0,
    TE_NET_ERROR_RESPONSE = 1,
    TE_NET_PARTITION_REQUEST = 2,
    TE_NET_CANCEL_PARTITION_REQUEST = 4,
    TE_NET_CLOSE_REQUEST = 5,
    TE_NET_ADD_CREDIT = 6,
    TE_NET_RESUME_CONSUMPTION = 7,
    TE_NET_BACKLOG_ANNOUNCEMENT = 9,
    TE_NET_NEW_BUFFER_SIZE = 10, /* buffer debloating: the size the consumer wants (FLIP-183) */
} te_net_msg_id_t;

/* ErrorResponse codes. */
typedef enum te_net_error_code {
    TE_NET_ERR_PARTITION_NOT_FOUND = 1, /* not registered (yet): the consumer retries with backoff */
    TE_NET_ERR_PROTOCOL = 2,            /* malformed frame; the server closes the connection */
    TE_NET_ERR_UNKNOWN_RECEIVER = 3,    /* credit / cancel for a receiver id it does not serve */
    TE_NET_ERR_PRODUCER_FAILED = 4,     /* the partition was released (producer failed / cancelled) */
    TE_NET_ERR_DUPLICATE_RECEIVER = 5,  /* a second PartitionRequest for a receiver id in use */
    TE_NET_ERR_INTERNAL = 6,            /* the server could not serve (out of memory, ...) */
} te_net_error_code_t;

/* Data types of a BufferResponse (te_buffer_type_t). */
/* PartitionRequest: the top bit of the initial credit says the receiver is floating-only
 * (no exclusive buffers; see proto/NETWORK.md); the credit is the low 31 bits. */
#define TE_NET_CREDIT_FLOATING 0x80000000u
/* NewBufferSize: the smallest buffer a producer cuts (Flink's min-segment-size). */
#define TE_NET_MIN_BUFFER_SIZE 256u

#define TE_NET_DATA_BUFFER  0
#define TE_NET_EVENT_BUFFER 1

typedef struct te_net_msg {
    uint8_t id;                          /* te_net_msg_id_t */
    uint8_t receiver_id[TE_NET_ID_LEN];  /* every message but CloseRequest */
    uint8_t partition_id[TE_NET_ID_LEN]; /* PartitionRequest */
    uint32_t subpartition;               /* PartitionRequest */
    uint32_t credit;                     /* PartitionRequest (initial), AddCredit */
    uint32_t sequence;                   /* BufferResponse */
    uint32_t backlog;                    /* BufferResponse, BacklogAnnouncement */
    uint32_t buffer_size;                /* NewBufferSize */
    uint8_t data_type;                   /* BufferResponse */
    uint8_t compressed;                  /* BufferResponse (always 0 here) */
    uint32_t size;                       /* BufferResponse payload / ErrorResponse message length */
    const uint8_t *payload;              /* BufferResponse payload / ErrorResponse message (borrowed) */
    uint16_t error_code;                 /* ErrorResponse */
} te_net_msg_t;

const char *net_msg_name(uint8_t id);
const char *net_error_code_name(uint16_t code);

/*
 * Header check on the first bytes of a stream. Returns 1 with *frame_len and *id when
 * the 9 header bytes are present and valid; 0 when fewer than 9 bytes are there; -1
 * with err (TE_EPROTO) on a bad magic, an unknown id, or a length below the id's
 * minimum or above max_frame.
 */
int net_codec_peek_header(const uint8_t *buf, size_t len, uint32_t max_frame, uint32_t *frame_len, uint8_t *id,
                          te_error_t *err);

/*
 * Decodes one frame from the start of buf. Returns 1 (out filled, *consumed = frame
 * length), 0 (need more bytes) or -1 (err; the stream is unusable). Pointers in out
 * point into buf.
 */
int net_codec_decode(const uint8_t *buf, size_t len, uint32_t max_frame, te_net_msg_t *out, size_t *consumed,
                     te_error_t *err);

/*
 * Decodes the fixed part of a BufferResponse (the first TE_NET_BUFFER_RESPONSE_FIXED
 * bytes of a frame whose header passed net_codec_peek_header) so the payload can be
 * read straight into its destination. out->payload stays NULL. 0, or -1 with err.
 */
int net_codec_decode_buffer_header(const uint8_t *buf, uint32_t frame_len, te_net_msg_t *out, te_error_t *err);

/*
 * Encodes m into out (cap bytes). For a BufferResponse only the fixed part is written
 * (TE_NET_BUFFER_RESPONSE_FIXED bytes, its length field counting m->size payload bytes
 * the caller appends); for an ErrorResponse the message (m->payload, m->size, at most
 * TE_NET_ERROR_MSG_MAX) is copied. Returns the bytes written, or 0 when cap is too small
 * or the id unknown.
 */
size_t net_codec_encode(const te_net_msg_t *m, uint8_t *out, size_t cap);

/* Convenience constructors. */
void net_msg_partition_request(te_net_msg_t *m, const uint8_t *partition_id, uint32_t sub,
                               const uint8_t *receiver_id, uint32_t credit);
void net_msg_receiver(te_net_msg_t *m, uint8_t id, const uint8_t *receiver_id, uint32_t value);

#endif

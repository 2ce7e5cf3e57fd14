/*
 * record_serializer — writes length-prefixed records into buffers; a record may span
 * any number of buffers (Flink's SpanningRecordSerializer). Wire layout of one record:
 *   u32 big-endian length L | L bytes (header bytes then payload bytes)
 * where the header (e.g. a stream-element tag and timestamp) and the payload are given
 * separately so neither needs to be copied into a temporary.
 *
 * Threading: one serializer per channel, used by its producer thread only. Pure: no
 * I/O, no allocation.
 */
#ifndef TE_RECORD_SERIALIZER_H
#define TE_RECORD_SERIALIZER_H

#include <stdint.h>
#include <string.h>

#include "common/byte_codec.h"
#include "common/compiler.h"
#include "shuffle/buffer.h"

typedef enum te_ser_result {
    TE_SER_FULL_RECORD = 0,                /* record complete; the buffer has room left */
    TE_SER_FULL_RECORD_BUFFER_FULL = 1,    /* record complete; the buffer is full */
    TE_SER_PARTIAL_RECORD_BUFFER_FULL = 2, /* the buffer is full; call copy_to_buffer again with a new one */
} te_ser_result_t;

typedef struct te_record_serializer {
    uint8_t lenbuf[4];
    const uint8_t *hdr;
    uint32_t hdr_len;
    const uint8_t *payload;
    uint32_t payload_len;
    uint32_t pos;        /* bytes of (lenbuf + hdr + payload) written so far */
    uint32_t total;      /* prefix_len + hdr_len + payload_len */
    uint32_t prefix_len; /* 4, or 0 for raw bytes */
} te_record_serializer_t;

/* Starts a record. hdr and payload are borrowed until the record is complete. */
void record_serializer_set(te_record_serializer_t *s, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *payload,
                           uint32_t payload_len);
/* Copies as much of the current record as fits at b->committed and publishes the new
 * committed position (release store). */
/* Raw bytes that are already a part of a serialized record stream (no length prefix
 * added): replaying recovered channel state. */
void record_serializer_set_raw(te_record_serializer_t *s, const uint8_t *data, uint32_t len);
te_ser_result_t record_serializer_copy_to_buffer(te_record_serializer_t *s, te_buffer_t *b);
int record_serializer_has_pending(const te_record_serializer_t *s);

/* Prefetches, for writing, where the channel's next record of about `len` bytes goes
 * after `end` (see record_serializer.c). */
void record_serializer_prefetch_next(const te_buffer_t *b, uint32_t end, uint32_t len);

#define RECORD_SERIALIZER_SMALL_HEADER  32u /* copy_small's limit: a header + a row prefix */
#define RECORD_SERIALIZER_SMALL_PAYLOAD 32u

/* Writes the whole record when it fits in b with at least one byte to spare; `small`
 * (a constant): hdr_len <= 32 and payload_len <= 32, copied without any call;
 * `small_hdr` (a constant): hdr_len <= 32, copied without a call; `prefetch`
 * (a constant): prefetch where the channel's next record goes. */
static TE_ALWAYS_INLINE int record_serializer_write_in(te_buffer_t *b, const uint8_t *hdr, uint32_t hdr_len,
                                                       const uint8_t *payload, uint32_t payload_len, int small,
                                                       int small_hdr, int prefetch)
{
    uint32_t c = atomic_load_explicit(&b->committed, memory_order_relaxed);
    uint64_t total = 4ull + hdr_len + payload_len;
    if (TE_UNLIKELY(total >= (uint64_t)(b->capacity - c)))
        return 0;
    uint8_t *d = b->data + c;
    uint32_t be = __builtin_bswap32(hdr_len + payload_len);
    memcpy(d, &be, 4);
    if (hdr_len == 1) /* a stream record without timestamp */
        d[4] = hdr[0];
    else if (small || small_hdr || hdr_len <= 32)
        byte_copy_small(d + 4, hdr, hdr_len);
    else
        memcpy(d + 4, hdr, hdr_len);
    if (small || payload_len <= 32)
        byte_copy_small(d + 4 + hdr_len, payload, payload_len);
    else
        memcpy(d + 4 + hdr_len, payload, payload_len);
    uint32_t end = c + (uint32_t)total;
    atomic_store_explicit(&b->committed, end, memory_order_release);
    if (!prefetch)
        return 1;
    if (small || total <= 128) { /* the lines a next record of this size goes to, without a loop
                                      (whose trip count would follow the record sizes) */
        if (end + total < b->capacity) {
            __builtin_prefetch(d + 2 * total - 1, 1, 3);
            if (!small)
                __builtin_prefetch(b->data + end + 64, 1, 3);
        }
    } else {
        record_serializer_prefetch_next(b, end, (uint32_t)total);
    }
    return 1;
}

/* The per-record path of the record writer: when the whole record (length prefix,
 * header, payload) fits in b with at least one byte to spare, writes it straight into
 * the segment, publishes the new b->committed (release store) and returns 1; writes
 * nothing and returns 0 otherwise (the caller takes set + copy_to_buffer, which also
 * finishes a buffer the record fills exactly). The same bytes as set + copy_to_buffer;
 * no record may be pending in the channel's serializer. */
static TE_ALWAYS_INLINE int record_serializer_write_whole(te_buffer_t *b, const uint8_t *hdr, uint32_t hdr_len,
                                                          const uint8_t *payload, uint32_t payload_len)
{
    return record_serializer_write_in(b, hdr, hdr_len, payload, payload_len, 0, 0, 1);
}

/* write_whole for a header of at most RECORD_SERIALIZER_SMALL_HEADER bytes (copied
 * without a call) and a payload of any size. */
static TE_ALWAYS_INLINE int record_serializer_write_small_hdr(te_buffer_t *b, const uint8_t *hdr, uint32_t hdr_len,
                                                              const uint8_t *payload, uint32_t payload_len)
{
    return record_serializer_write_in(b, hdr, hdr_len, payload, payload_len, 0, 1, 1);
}

/* write_whole for a small record (hdr_len <= RECORD_SERIALIZER_SMALL_HEADER, payload_len
 * <= RECORD_SERIALIZER_SMALL_PAYLOAD): no call at all, so a caller's fast path needs no
 * stack frame; prefetch (a constant) as write_whole does, or not (a writer's only
 * channel: sequential writes the hardware prefetcher follows). */
static TE_ALWAYS_INLINE int record_serializer_write_small(te_buffer_t *b, const uint8_t *hdr, uint32_t hdr_len,
                                                          const uint8_t *payload, uint32_t payload_len,
                                                          int prefetch)
{
    return record_serializer_write_in(b, hdr, hdr_len, payload, payload_len, 1, 1, prefetch);
}

#endif

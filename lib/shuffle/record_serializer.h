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

#endif

/*
 * stream_element — the elements that flow between tasks (Flink's StreamElement:
 * StreamRecord, Watermark, LatencyMarker, StreamStatus) and their serialized header.
 *
 * Every serialized element (the body of one length-prefixed record of
 * record_serializer.h) starts with a u8 tag:
 *
 *   tag 0 RECORD          | payload bytes                          (header 1 byte)
 *   tag 1 RECORD_TS       | i64 BE timestamp | payload bytes       (header 9 bytes)
 *   tag 2 WATERMARK       | i64 BE watermark                       (9 bytes, no payload)
 *   tag 3 LATENCY_MARKER  | i64 BE marked time (wall ms) | u32 BE subtask index
 *                           (13 bytes, no payload)
 *   tag 4 STREAM_STATUS   | u8 status: 0 ACTIVE, 1 IDLE           (2 bytes, no payload)
 *
 * The header and the payload are written separately (record_writer_emit takes both), so
 * a record's payload is never copied on the way out.
 *
 * Threading: pure functions.
 */
#ifndef TE_STREAM_ELEMENT_H
#define TE_STREAM_ELEMENT_H

#include <stdint.h>
#include <string.h>

#include "common/compiler.h"

typedef enum te_stream_element_tag {
    TE_SE_RECORD = 0,
    TE_SE_RECORD_TS = 1,
    TE_SE_WATERMARK = 2,
    TE_SE_LATENCY_MARKER = 3,
    TE_SE_STREAM_STATUS = 4,
} te_stream_element_tag_t;

#define TE_SE_STATUS_ACTIVE 0
#define TE_SE_STATUS_IDLE   1

/* The largest header any element has. */
#define TE_SE_MAX_HEADER 13

typedef struct te_stream_element {
    te_stream_element_tag_t tag;
    int64_t timestamp;      /* RECORD_TS; INT64_MIN (TE_NO_TIMESTAMP) for RECORD */
    const uint8_t *payload; /* RECORD / RECORD_TS: points into the decoded bytes */
    uint32_t payload_len;
    int64_t watermark;      /* WATERMARK */
    int64_t marked_time;    /* LATENCY_MARKER */
    uint32_t subtask_index; /* LATENCY_MARKER */
    int idle;               /* STREAM_STATUS: 1 idle, 0 active */
} te_stream_element_t;

/* Header writers: fill hdr (TE_SE_MAX_HEADER bytes) and return its length. */
/* RECORD when timestamp == INT64_MIN (no timestamp), RECORD_TS otherwise (inline: it
 * is on the per-record path). */
static inline uint32_t stream_element_record_header(uint8_t *hdr, int64_t timestamp)
{
    if (timestamp == INT64_MIN) {
        hdr[0] = TE_SE_RECORD;
        return 1;
    }
    uint64_t be = __builtin_bswap64((uint64_t)timestamp);
    hdr[0] = TE_SE_RECORD_TS;
    memcpy(hdr + 1, &be, 8);
    return 9;
}
uint32_t stream_element_watermark_header(uint8_t *hdr, int64_t watermark);
uint32_t stream_element_latency_marker_header(uint8_t *hdr, int64_t marked_time, uint32_t subtask_index);
uint32_t stream_element_status_header(uint8_t *hdr, int idle);

/* Decodes one serialized element. Returns 0, or -1 when it is malformed (unknown tag,
 * short header, trailing bytes after a fixed-size element, bad status value). */
int stream_element_decode(const uint8_t *data, uint32_t len, te_stream_element_t *out);

/* The per-record case of decode, inline: 1 with the payload and timestamp (INT64_MIN
 * for RECORD) when data is a well-formed RECORD or RECORD_TS; 0 for anything else
 * (then stream_element_decode says what it is, or that it is malformed). */
static TE_ALWAYS_INLINE int stream_element_record_view(const uint8_t *data, uint32_t len, const uint8_t **payload,
                                                       uint32_t *payload_len, int64_t *timestamp)
{
    if (len >= 1 && data[0] == TE_SE_RECORD) {
        *payload = data + 1;
        *payload_len = len - 1;
        *timestamp = INT64_MIN;
        return 1;
    }
    if (len >= 9 && data[0] == TE_SE_RECORD_TS) {
        uint64_t be;
        memcpy(&be, data + 1, 8);
        *payload = data + 9;
        *payload_len = len - 9;
        *timestamp = (int64_t)__builtin_bswap64(be);
        return 1;
    }
    return 0;
}

#endif

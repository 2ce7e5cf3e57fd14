/*
 * stream_element — serialized stream-element headers (see stream_element.h for the
 * layout).
 *
 * Threading: pure functions, no shared state.
 */
#include "runtime/stream_element.h"

#include <string.h>

static void put_i64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)u;
        u >>= 8;
    }
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)u;
}

uint32_t stream_element_watermark_header(uint8_t *hdr, int64_t watermark)
{
    hdr[0] = TE_SE_WATERMARK;
    put_i64(hdr + 1, watermark);
    return 9;
}

uint32_t stream_element_latency_marker_header(uint8_t *hdr, int64_t marked_time, uint32_t subtask_index)
{
    hdr[0] = TE_SE_LATENCY_MARKER;
    put_i64(hdr + 1, marked_time);
    hdr[9] = (uint8_t)(subtask_index >> 24);
    hdr[10] = (uint8_t)(subtask_index >> 16);
    hdr[11] = (uint8_t)(subtask_index >> 8);
    hdr[12] = (uint8_t)subtask_index;
    return 13;
}

uint32_t stream_element_status_header(uint8_t *hdr, int idle)
{
    hdr[0] = TE_SE_STREAM_STATUS;
    hdr[1] = idle ? TE_SE_STATUS_IDLE : TE_SE_STATUS_ACTIVE;
    return 2;
}

int stream_element_decode(const uint8_t *data, uint32_t len, te_stream_element_t *out)
{
    if (len < 1)
        return -1;
    memset(out, 0, sizeof(*out));
    out->timestamp = INT64_MIN;
    out->tag = (te_stream_element_tag_t)data[0];
    switch (data[0]) {
    case TE_SE_RECORD:
        out->payload = data + 1;
        out->payload_len = len - 1;
        return 0;
    case TE_SE_RECORD_TS:
        if (len < 9)
            return -1;
        out->timestamp = get_i64(data + 1);
        out->payload = data + 9;
        out->payload_len = len - 9;
        return 0;
    case TE_SE_WATERMARK:
        if (len != 9)
            return -1;
        out->watermark = get_i64(data + 1);
        return 0;
    case TE_SE_LATENCY_MARKER:
        if (len != 13)
            return -1;
        out->marked_time = get_i64(data + 1);
        out->subtask_index =
            ((uint32_t)data[9] << 24) | ((uint32_t)data[10] << 16) | ((uint32_t)data[11] << 8) | data[12];
        return 0;
    case TE_SE_STREAM_STATUS:
        if (len != 2 || data[1] > TE_SE_STATUS_IDLE)
            return -1;
        out->idle = data[1] == TE_SE_STATUS_IDLE;
        return 0;
    default: return -1;
    }
}

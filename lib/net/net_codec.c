/*
 * net_codec — encoder and decoder of the data-plane frames (proto/NETWORK.md).
 *
 * Threading: pure functions, no state, no allocation; any thread.
 */
#include "net/net_codec.h"

#include <string.h>

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint8_t *wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}
static uint8_t *wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}
static uint8_t *wrid(uint8_t *p, const uint8_t *id)
{
    memcpy(p, id, TE_NET_ID_LEN);
    return p + TE_NET_ID_LEN;
}

const char *net_msg_name(uint8_t id)
{
    switch (id) {
    case TE_NET_BUFFER_RESPONSE: return "BufferResponse";
    case TE_NET_ERROR_RESPONSE: return "ErrorResponse";
    case TE_NET_PARTITION_REQUEST: return "PartitionRequest";
    case TE_NET_CANCEL_PARTITION_REQUEST: return "CancelPartitionRequest";
    case TE_NET_CLOSE_REQUEST: return "CloseRequest";
    case TE_NET_ADD_CREDIT: return "AddCredit";
    case TE_NET_RESUME_CONSUMPTION: return "ResumeConsumption";
    case TE_NET_BACKLOG_ANNOUNCEMENT: return "BacklogAnnouncement";
    case TE_NET_NEW_BUFFER_SIZE: return "NewBufferSize";
    default: return "unknown";
    }
}

const char *net_error_code_name(uint16_t code)
{
    switch (code) {
    case TE_NET_ERR_PARTITION_NOT_FOUND: return "PartitionNotFound";
    case TE_NET_ERR_PROTOCOL: return "ProtocolError";
    case TE_NET_ERR_UNKNOWN_RECEIVER: return "UnknownReceiver";
    case TE_NET_ERR_PRODUCER_FAILED: return "ProducerFailed";
    case TE_NET_ERR_DUPLICATE_RECEIVER: return "DuplicateReceiver";
    case TE_NET_ERR_INTERNAL: return "InternalError";
    default: return "UnknownError";
    }
}

/* Exact frame length of fixed-size messages; for variable ones the minimum (negated). */
static long frame_len_for(uint8_t id)
{
    switch (id) {
    case TE_NET_BUFFER_RESPONSE: return -(long)TE_NET_BUFFER_RESPONSE_FIXED;
    case TE_NET_ERROR_RESPONSE: return -(long)(TE_NET_HEADER_LEN + TE_NET_ID_LEN + 2 + 2);
    case TE_NET_PARTITION_REQUEST: return TE_NET_HEADER_LEN + TE_NET_ID_LEN + 4 + TE_NET_ID_LEN + 4;
    case TE_NET_CANCEL_PARTITION_REQUEST: return TE_NET_HEADER_LEN + TE_NET_ID_LEN;
    case TE_NET_CLOSE_REQUEST: return TE_NET_HEADER_LEN;
    case TE_NET_ADD_CREDIT: return TE_NET_HEADER_LEN + 4 + TE_NET_ID_LEN;
    case TE_NET_RESUME_CONSUMPTION: return TE_NET_HEADER_LEN + TE_NET_ID_LEN;
    case TE_NET_BACKLOG_ANNOUNCEMENT:
    case TE_NET_NEW_BUFFER_SIZE: return TE_NET_HEADER_LEN + 4 + TE_NET_ID_LEN;
    default: return 0;
    }
}

int net_codec_peek_header(const uint8_t *buf, size_t len, uint32_t max_frame, uint32_t *frame_len, uint8_t *id,
                          te_error_t *err)
{
    /* Check the magic as soon as its bytes are there: garbage fails early. */
    if (len >= 8 && rd32(buf + 4) != TE_NET_MAGIC) {
        te_error_set(err, TE_EPROTO,
                     "bad frame magic 0x%08x (expected 0x%08x): the peer does not speak the "
                     "data-plane protocol",
                     rd32(buf + 4), TE_NET_MAGIC);
        return -1;
    }
    if (len < TE_NET_HEADER_LEN)
        return 0;
    uint32_t fl = rd32(buf);
    uint8_t mid = buf[8];
    long want = frame_len_for(mid);
    if (want == 0) {
        te_error_set(err, TE_EPROTO, "unknown message id %u", mid);
        return -1;
    }
    if (want > 0 && fl != (uint32_t)want) {
        te_error_set(err, TE_EPROTO, "%s frame length %u, expected %ld", net_msg_name(mid), fl, want);
        return -1;
    }
    if (want < 0 && fl < (uint32_t)-want) {
        te_error_set(err, TE_EPROTO, "%s frame length %u is below its minimum %ld", net_msg_name(mid), fl, -want);
        return -1;
    }
    if (fl > max_frame) {
        te_error_set(err, TE_ETOOBIG, "%s frame length %u exceeds the limit of %u bytes", net_msg_name(mid), fl,
                     max_frame);
        return -1;
    }
    *frame_len = fl;
    *id = mid;
    return 1;
}

int net_codec_decode(const uint8_t *buf, size_t len, uint32_t max_frame, te_net_msg_t *out, size_t *consumed,
                     te_error_t *err)
{
    uint32_t fl;
    uint8_t id;
    int h = net_codec_peek_header(buf, len, max_frame, &fl, &id, err);
    if (h <= 0)
        return h;
    if (len < fl)
        return 0;
    memset(out, 0, sizeof(*out));
    out->id = id;
    const uint8_t *p = buf + TE_NET_HEADER_LEN;
    switch (id) {
    case TE_NET_BUFFER_RESPONSE:
        if (net_codec_decode_buffer_header(buf, fl, out, err) != 0)
            return -1;
        out->payload = buf + TE_NET_BUFFER_RESPONSE_FIXED;
        break;
    case TE_NET_ERROR_RESPONSE:
        memcpy(out->receiver_id, p, TE_NET_ID_LEN);
        out->error_code = rd16(p + TE_NET_ID_LEN);
        out->size = rd16(p + TE_NET_ID_LEN + 2);
        out->payload = p + TE_NET_ID_LEN + 4;
        if (out->size != fl - (TE_NET_HEADER_LEN + TE_NET_ID_LEN + 4) || out->size > TE_NET_ERROR_MSG_MAX) {
            te_error_set(err, TE_EPROTO, "ErrorResponse message length %u does not match its frame", out->size);
            return -1;
        }
        break;
    case TE_NET_PARTITION_REQUEST:
        memcpy(out->partition_id, p, TE_NET_ID_LEN);
        out->subpartition = rd32(p + TE_NET_ID_LEN);
        memcpy(out->receiver_id, p + TE_NET_ID_LEN + 4, TE_NET_ID_LEN);
        out->credit = rd32(p + 2 * TE_NET_ID_LEN + 4);
        break;
    case TE_NET_CANCEL_PARTITION_REQUEST:
    case TE_NET_RESUME_CONSUMPTION: memcpy(out->receiver_id, p, TE_NET_ID_LEN); break;
    case TE_NET_CLOSE_REQUEST: break;
    case TE_NET_ADD_CREDIT:
        out->credit = rd32(p);
        memcpy(out->receiver_id, p + 4, TE_NET_ID_LEN);
        break;
    case TE_NET_BACKLOG_ANNOUNCEMENT:
        out->backlog = rd32(p);
        memcpy(out->receiver_id, p + 4, TE_NET_ID_LEN);
        break;
    case TE_NET_NEW_BUFFER_SIZE:
        out->buffer_size = rd32(p);
        memcpy(out->receiver_id, p + 4, TE_NET_ID_LEN);
        break;
    }
    *consumed = fl;
    return 1;
}

int net_codec_decode_buffer_header(const uint8_t *buf, uint32_t frame_len, te_net_msg_t *out, te_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->id = TE_NET_BUFFER_RESPONSE;
    const uint8_t *p = buf + TE_NET_HEADER_LEN;
    memcpy(out->receiver_id, p, TE_NET_ID_LEN);
    p += TE_NET_ID_LEN;
    out->sequence = rd32(p);
    out->backlog = rd32(p + 4);
    out->data_type = p[8];
    out->compressed = p[9];
    out->size = rd32(p + 10);
    if (out->size != frame_len - TE_NET_BUFFER_RESPONSE_FIXED) {
        te_error_set(err, TE_EPROTO, "BufferResponse size field %u does not match its frame (%u payload bytes)",
                     out->size, frame_len - TE_NET_BUFFER_RESPONSE_FIXED);
        return -1;
    }
    if (out->data_type != TE_NET_DATA_BUFFER && out->data_type != TE_NET_EVENT_BUFFER) {
        te_error_set(err, TE_EPROTO, "BufferResponse data type %u is neither 0 (data) nor 1 (event)",
                     out->data_type);
        return -1;
    }
    if (out->compressed != 0) {
        te_error_set(err, TE_EPROTO, "BufferResponse compressed flag %u: compression is not supported",
                     out->compressed);
        return -1;
    }
    return 0;
}

size_t net_codec_encode(const te_net_msg_t *m, uint8_t *out, size_t cap)
{
    long fixed = frame_len_for(m->id);
    if (fixed == 0)
        return 0;
    uint32_t msg_len = 0;
    size_t need;
    uint32_t frame_len;
    if (m->id == TE_NET_BUFFER_RESPONSE) {
        need = TE_NET_BUFFER_RESPONSE_FIXED;
        frame_len = TE_NET_BUFFER_RESPONSE_FIXED + m->size;
    } else if (m->id == TE_NET_ERROR_RESPONSE) {
        msg_len = m->size > TE_NET_ERROR_MSG_MAX ? TE_NET_ERROR_MSG_MAX : m->size;
        need = (size_t)-fixed + msg_len;
        frame_len = (uint32_t)need;
    } else {
        need = (size_t)fixed;
        frame_len = (uint32_t)fixed;
    }
    if (cap < need)
        return 0;
    uint8_t *p = wr32(out, frame_len);
    p = wr32(p, TE_NET_MAGIC);
    *p++ = m->id;
    switch (m->id) {
    case TE_NET_BUFFER_RESPONSE:
        p = wrid(p, m->receiver_id);
        p = wr32(p, m->sequence);
        p = wr32(p, m->backlog);
        *p++ = m->data_type;
        *p++ = m->compressed;
        p = wr32(p, m->size);
        break;
    case TE_NET_ERROR_RESPONSE:
        p = wrid(p, m->receiver_id);
        p = wr16(p, m->error_code);
        p = wr16(p, (uint16_t)msg_len);
        if (msg_len > 0)
            memcpy(p, m->payload, msg_len);
        p += msg_len;
        break;
    case TE_NET_PARTITION_REQUEST:
        p = wrid(p, m->partition_id);
        p = wr32(p, m->subpartition);
        p = wrid(p, m->receiver_id);
        p = wr32(p, m->credit);
        break;
    case TE_NET_CANCEL_PARTITION_REQUEST:
    case TE_NET_RESUME_CONSUMPTION: p = wrid(p, m->receiver_id); break;
    case TE_NET_CLOSE_REQUEST: break;
    case TE_NET_ADD_CREDIT:
        p = wr32(p, m->credit);
        p = wrid(p, m->receiver_id);
        break;
    case TE_NET_BACKLOG_ANNOUNCEMENT:
        p = wr32(p, m->backlog);
        p = wrid(p, m->receiver_id);
        break;
    case TE_NET_NEW_BUFFER_SIZE:
        p = wr32(p, m->buffer_size);
        p = wrid(p, m->receiver_id);
        break;
    }
    return (size_t)(p - out);
}

void net_msg_partition_request(te_net_msg_t *m, const uint8_t *partition_id, uint32_t sub,
                               const uint8_t *receiver_id, uint32_t credit)
{
    memset(m, 0, sizeof(*m));
    m->id = TE_NET_PARTITION_REQUEST;
    memcpy(m->partition_id, partition_id, TE_NET_ID_LEN);
    m->subpartition = sub;
    memcpy(m->receiver_id, receiver_id, TE_NET_ID_LEN);
    m->credit = credit;
}

void net_msg_receiver(te_net_msg_t *m, uint8_t id, const uint8_t *receiver_id, uint32_t value)
{
    memset(m, 0, sizeof(*m));
    m->id = id;
    if (receiver_id != NULL)
        memcpy(m->receiver_id, receiver_id, TE_NET_ID_LEN);
    if (id == TE_NET_ADD_CREDIT)
        m->credit = value;
    else if (id == TE_NET_BACKLOG_ANNOUNCEMENT)
        m->backlog = value;
    else if (id == TE_NET_NEW_BUFFER_SIZE)
        m->buffer_size = value;
}

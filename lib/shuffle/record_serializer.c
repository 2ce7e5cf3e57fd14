/*
 * record_serializer — length-prefixed records into buffers, spanning as many buffers
 * as needed (Flink's SpanningRecordSerializer). Layout: u32 BE length | header | payload.
 *
 * record_serializer_write_whole (inline, in the header) is the per-record path of a
 * record that fits in the current buffer; set + copy_to_buffer handle the rest.
 *
 * Threading: one serializer per channel, used only by the producing task thread. The
 * new committed position is published with a release store so a reader on another
 * thread that acquires `committed` sees the bytes.
 */
#include "shuffle/record_serializer.h"

#include <string.h>

void record_serializer_set(te_record_serializer_t *s, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *payload,
                           uint32_t payload_len)
{
    uint32_t l = hdr_len + payload_len;
    s->lenbuf[0] = (uint8_t)(l >> 24);
    s->lenbuf[1] = (uint8_t)(l >> 16);
    s->lenbuf[2] = (uint8_t)(l >> 8);
    s->lenbuf[3] = (uint8_t)l;
    s->hdr = hdr;
    s->hdr_len = hdr_len;
    s->payload = payload;
    s->payload_len = payload_len;
    s->pos = 0;
    s->prefix_len = 4;
    s->total = 4 + l;
}

void record_serializer_set_raw(te_record_serializer_t *s, const uint8_t *data, uint32_t len)
{
    s->hdr = data;
    s->hdr_len = len;
    s->payload = NULL;
    s->payload_len = 0;
    s->pos = 0;
    s->prefix_len = 0;
    s->total = len;
}

/* Copies part [from, from+len) of `src` (which starts at stream offset `base`) when the
 * serializer's position lies in it. Returns bytes copied. */
static uint32_t copy_part(te_record_serializer_t *s, const uint8_t *src, uint32_t base, uint32_t len, uint8_t *dst,
                          uint32_t room)
{
    if (s->pos < base || s->pos >= base + len || room == 0)
        return 0;
    uint32_t off = s->pos - base;
    uint32_t n = len - off;
    if (n > room)
        n = room;
    memcpy(dst, src + off, n);
    s->pos += n;
    return n;
}

/* The next record of this channel most likely goes right after this one and is about
 * as long. With many channels, records of the others come in between and that part of
 * the buffer is cold by then (last touched when the segment was sent before): asking
 * for its cache lines now, for writing, overlaps those misses with the records in
 * between instead of stalling the copy on each of them. */
#define SER_PREFETCH_MAX 4096u
void record_serializer_prefetch_next(const te_buffer_t *b, uint32_t end, uint32_t len)
{
    if (len > SER_PREFETCH_MAX)
        len = SER_PREFETCH_MAX;
    uint32_t stop = end + len < b->capacity ? end + len : b->capacity;
    for (uint32_t off = (end + 63u) & ~63u; off < stop; off += 64u)
        __builtin_prefetch(b->data + off, 1, 3);
}

te_ser_result_t record_serializer_copy_to_buffer(te_record_serializer_t *s, te_buffer_t *b)
{
    uint32_t c = atomic_load_explicit(&b->committed, memory_order_relaxed);
    uint32_t room = b->capacity - c;
    uint8_t *dst = b->data + c;
    uint32_t n;

    n = copy_part(s, s->lenbuf, 0, s->prefix_len, dst, room);
    dst += n, room -= n;
    n = copy_part(s, s->hdr, s->prefix_len, s->hdr_len, dst, room);
    dst += n, room -= n;
    n = copy_part(s, s->payload, s->prefix_len + s->hdr_len, s->payload_len, dst, room);
    dst += n, room -= n;

    atomic_store_explicit(&b->committed, b->capacity - room, memory_order_release);
    record_serializer_prefetch_next(b, b->capacity - room, s->total);
    if (s->pos < s->total)
        return TE_SER_PARTIAL_RECORD_BUFFER_FULL;
    return room == 0 ? TE_SER_FULL_RECORD_BUFFER_FULL : TE_SER_FULL_RECORD;
}

int record_serializer_has_pending(const te_record_serializer_t *s) { return s->pos < s->total; }

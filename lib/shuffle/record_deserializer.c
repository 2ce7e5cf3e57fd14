/*
 * record_deserializer — reassembles length-prefixed records from a channel's slices
 * (Flink's SpillingAdaptiveSpanningRecordDeserializer, without the disk spill).
 *
 * A record wholly inside the current slice is returned in place. A length prefix split
 * across slices is gathered in `lenbuf`; a record split across slices is gathered in a
 * growable spill buffer (the only allocation, for spanning records only). A slice is
 * recycled on the first call after its last byte was consumed, so the pointer returned
 * with the previous record stays valid until the next call.
 *
 * Threading: one deserializer per input channel, used by the consuming task thread only.
 */
#include "shuffle/record_deserializer.h"

#include <stdlib.h>
#include <string.h>

struct te_record_deserializer {
    uint32_t max_record_len;
    te_buffer_slice_t cur;
    int has_cur;
    uint32_t pos; /* bytes of cur consumed */
    uint8_t lenbuf[4];
    uint32_t len_have; /* bytes of a split length prefix gathered */
    int spanning;      /* a record is being gathered in spill */
    uint32_t rec_len;
    uint32_t spill_have;
    uint8_t *spill;
    uint32_t spill_cap;
};

te_record_deserializer_t *record_deserializer_new(uint32_t max_record_len)
{
    te_record_deserializer_t *d = calloc(1, sizeof(*d));
    if (d != NULL)
        d->max_record_len = max_record_len;
    return d;
}

static void des_drop_slice(te_record_deserializer_t *d)
{
    if (d->has_cur) {
        buffer_recycle(d->cur.buf);
        d->has_cur = 0;
    }
    d->pos = 0;
}

void record_deserializer_free(te_record_deserializer_t *d)
{
    if (d == NULL)
        return;
    des_drop_slice(d);
    free(d->spill);
    free(d);
}

void record_deserializer_set_next(te_record_deserializer_t *d, te_buffer_slice_t slice)
{
    des_drop_slice(d);
    d->cur = slice;
    d->has_cur = 1;
    d->pos = 0;
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

te_des_result_t record_deserializer_next(te_record_deserializer_t *d, const uint8_t **data, uint32_t *len)
{
    if (!d->has_cur)
        return TE_DES_NEED_MORE;
    const uint8_t *p = d->cur.buf->data + d->cur.offset;
    uint32_t remaining = d->cur.len - d->pos;
    if (remaining == 0) {
        des_drop_slice(d);
        return TE_DES_NEED_MORE;
    }

    if (d->spanning) {
        uint32_t n = d->rec_len - d->spill_have;
        if (n > remaining)
            n = remaining;
        memcpy(d->spill + d->spill_have, p + d->pos, n);
        d->spill_have += n;
        d->pos += n;
        if (d->spill_have < d->rec_len) {
            des_drop_slice(d);
            return TE_DES_NEED_MORE;
        }
        d->spanning = 0;
        *data = d->spill;
        *len = d->rec_len;
        return TE_DES_RECORD;
    }

    uint32_t l;
    if (d->len_have == 0 && remaining >= 4) {
        l = get_be32(p + d->pos);
        d->pos += 4;
        remaining -= 4;
    } else {
        while (d->len_have < 4 && remaining > 0) {
            d->lenbuf[d->len_have++] = p[d->pos++];
            remaining--;
        }
        if (d->len_have < 4) {
            des_drop_slice(d);
            return TE_DES_NEED_MORE;
        }
        l = get_be32(d->lenbuf);
        d->len_have = 0;
    }
    if (l > d->max_record_len)
        return TE_DES_ERROR;
    if (l <= remaining) {
        *data = p + d->pos;
        *len = l;
        d->pos += l;
        return TE_DES_RECORD;
    }
    if (l > d->spill_cap) {
        uint32_t cap = d->spill_cap ? d->spill_cap : 256;
        while (cap < l)
            cap = cap > UINT32_MAX / 2 ? l : cap * 2;
        uint8_t *s = realloc(d->spill, cap);
        if (s == NULL)
            return TE_DES_ERROR;
        d->spill = s;
        d->spill_cap = cap;
    }
    memcpy(d->spill, p + d->pos, remaining);
    d->spill_have = remaining;
    d->rec_len = l;
    d->spanning = 1;
    des_drop_slice(d);
    return TE_DES_NEED_MORE;
}

int record_deserializer_has_partial(const te_record_deserializer_t *d) { return d->len_have > 0 || d->spanning; }

void record_deserializer_clear(te_record_deserializer_t *d)
{
    des_drop_slice(d);
    d->len_have = 0;
    d->spanning = 0;
    d->spill_have = 0;
    d->rec_len = 0;
}

void record_deserializer_unconsumed(const te_record_deserializer_t *d,
                                    void (*emit)(void *arg, const uint8_t *data, uint32_t len), void *arg)
{
    if (d->len_have > 0)
        emit(arg, d->lenbuf, d->len_have);
    if (d->spanning) {
        uint8_t l[4] = {(uint8_t)(d->rec_len >> 24), (uint8_t)(d->rec_len >> 16), (uint8_t)(d->rec_len >> 8),
                        (uint8_t)d->rec_len};
        emit(arg, l, 4);
        if (d->spill_have > 0)
            emit(arg, d->spill, d->spill_have);
    }
    if (d->has_cur && d->pos < d->cur.len)
        emit(arg, d->cur.buf->data + d->cur.offset + d->pos, d->cur.len - d->pos);
}

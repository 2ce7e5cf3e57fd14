/*
 * record_deserializer — reassembles length-prefixed records from a channel's slices
 * (Flink's SpillingAdaptiveSpanningRecordDeserializer, without the disk spill).
 *
 * A record wholly inside the current slice is returned in place. A length prefix split
 * across slices is gathered in `lenbuf`; a record split across slices is gathered in a
 * growable spill buffer (the only allocation, for spanning records only). A slice is
 * recycled on the first call after its last byte was consumed, so the pointer returned
 * with the previous record stays valid until the next call. The read position is a
 * pointer pair (rp, rend) so the inline fast path of record_deserializer_next (a whole
 * record in the current slice, no partial one pending) is a length check and a bump;
 * this file handles everything else.
 *
 * Threading: one deserializer per input channel, used by the consuming task thread only.
 */
#include "shuffle/record_deserializer.h"

#include <stdlib.h>
#include <string.h>

te_record_deserializer_t *record_deserializer_new(uint32_t max_record_len)
{
    te_record_deserializer_t *d = calloc(1, sizeof(*d));
    if (d != NULL)
        d->max_record_len = max_record_len;
    return d;
}

static void des_drop_slice(te_record_deserializer_t *d)
{
    if (d->cur != NULL) {
        buffer_recycle(d->cur);
        d->cur = NULL;
    }
    d->rp = d->rend = NULL;
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
    d->cur = slice.buf;
    d->rp = slice.buf->data + slice.offset;
    d->rend = d->rp + slice.len;
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void des_set_partial(te_record_deserializer_t *d) { d->partial = d->len_have > 0 || d->spanning; }

te_des_result_t record_deserializer_next_slow(te_record_deserializer_t *d, const uint8_t **data, uint32_t *len)
{
    if (d->cur == NULL)
        return TE_DES_NEED_MORE;
    uint32_t remaining = (uint32_t)(d->rend - d->rp);
    if (remaining == 0) {
        des_drop_slice(d);
        return TE_DES_NEED_MORE;
    }

    if (d->spanning) {
        uint32_t n = d->rec_len - d->spill_have;
        if (n > remaining)
            n = remaining;
        memcpy(d->spill + d->spill_have, d->rp, n);
        d->spill_have += n;
        d->rp += n;
        if (d->spill_have < d->rec_len) {
            des_drop_slice(d);
            return TE_DES_NEED_MORE;
        }
        d->spanning = 0;
        des_set_partial(d);
        *data = d->spill;
        *len = d->rec_len;
        return TE_DES_RECORD;
    }

    uint32_t l;
    if (d->len_have == 0 && remaining >= 4) {
        l = get_be32(d->rp);
        d->rp += 4;
        remaining -= 4;
    } else {
        while (d->len_have < 4 && remaining > 0) {
            d->lenbuf[d->len_have++] = *d->rp++;
            remaining--;
        }
        if (d->len_have < 4) {
            des_set_partial(d);
            des_drop_slice(d);
            return TE_DES_NEED_MORE;
        }
        l = get_be32(d->lenbuf);
        d->len_have = 0;
        des_set_partial(d);
    }
    if (l > d->max_record_len)
        return TE_DES_ERROR;
    if (l <= remaining) {
        *data = d->rp;
        *len = l;
        d->rp += l;
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
    memcpy(d->spill, d->rp, remaining);
    d->spill_have = remaining;
    d->rec_len = l;
    d->spanning = 1;
    des_set_partial(d);
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
    d->partial = 0;
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
    if (d->cur != NULL && d->rp < d->rend)
        emit(arg, d->rp, (uint32_t)(d->rend - d->rp));
}

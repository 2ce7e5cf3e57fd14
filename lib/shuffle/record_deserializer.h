/*
 * record_deserializer — reassembles length-prefixed records (see record_serializer.h)
 * from a channel's sequence of buffer slices (Flink's
 * SpillingAdaptiveSpanningRecordDeserializer). A record inside one slice is returned
 * in place (no copy); a record spanning slices is gathered in a growable spill buffer.
 *
 * Threading: one deserializer per input channel, used by the consuming task thread only.
 */
#ifndef TE_RECORD_DESERIALIZER_H
#define TE_RECORD_DESERIALIZER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/compiler.h"
#include "common/te_status.h"
#include "shuffle/buffer.h"

typedef enum te_des_result {
    TE_DES_RECORD = 0,    /* *data and *len hold one record, valid until the next call */
    TE_DES_NEED_MORE = 1, /* the slice is used up (and recycled); give the next one */
    TE_DES_ERROR = 2,     /* corrupt length (above max_record_len) */
} te_des_result_t;

/* Visible (like te_buffer_t) only so record_deserializer_next can take the common case
 * inline; every field is the deserializer's own. */
typedef struct te_record_deserializer {
    const uint8_t *rp;   /* next unread byte of the current slice */
    const uint8_t *rend; /* end of the current slice (rp == rend: used up, or none) */
    int partial;         /* a split length prefix or a spanning record is being gathered */
    uint32_t max_record_len;
    te_buffer_t *cur; /* the current slice's buffer (our reference), or NULL */
    uint8_t lenbuf[4];
    uint32_t len_have; /* bytes of a split length prefix gathered */
    int spanning;      /* a record is being gathered in spill */
    uint32_t rec_len;
    uint32_t spill_have;
    uint8_t *spill;
    uint32_t spill_cap;
} te_record_deserializer_t;

/* max_record_len: a length prefix above it is corruption. */
te_record_deserializer_t *record_deserializer_new(uint32_t max_record_len);
/* Recycles any held slice and frees. */
void record_deserializer_free(te_record_deserializer_t *d);
/* Takes ownership of the slice's reference. Only when the last result was NEED_MORE
 * (or right after new). */
void record_deserializer_set_next(te_record_deserializer_t *d, te_buffer_slice_t slice);
/* Everything but a whole record inside the current slice (see record_deserializer_next). */
te_des_result_t record_deserializer_next_slow(te_record_deserializer_t *d, const uint8_t **data, uint32_t *len);

/* The next record: in place when it lies wholly in the current slice (the per-record
 * case, inline: a length check and a pointer bump), else through the slow path. */
static TE_ALWAYS_INLINE te_des_result_t record_deserializer_next(te_record_deserializer_t *d, const uint8_t **data,
                                                                 uint32_t *len)
{
    const uint8_t *p = d->rp;
    size_t have = (size_t)(d->rend - p);
    if (TE_LIKELY(!d->partial && have >= 4)) {
        uint32_t be;
        memcpy(&be, p, 4);
        uint32_t l = __builtin_bswap32(be);
        if (TE_LIKELY(l <= have - 4 && l <= d->max_record_len)) {
            *data = p + 4;
            *len = l;
            d->rp = p + 4 + l;
            return TE_DES_RECORD;
        }
    }
    const uint8_t *sd = NULL; /* the slow path's results through locals: the caller's own */
    uint32_t sl = 0;          /* variables, not address-taken, can then live in registers */
    te_des_result_t r = record_deserializer_next_slow(d, &sd, &sl);
    *data = sd;
    *len = sl;
    return r;
}
/* 1 when a partially received record is held (the channel ended mid-record = error). */
int record_deserializer_has_partial(const te_record_deserializer_t *d);
/* The bytes held and not yet returned as records — a partial record and the rest of the
 * current slice — in stream order (Flink's getUnconsumedBuffer): the head of a
 * channel's in-flight state for an unaligned checkpoint. emit may be called 0-3 times. */
void record_deserializer_unconsumed(const te_record_deserializer_t *d,
                                    void (*emit)(void *arg, const uint8_t *data, uint32_t len), void *arg);
/* Drops held data (recycling the slice). */
void record_deserializer_clear(te_record_deserializer_t *d);

#endif

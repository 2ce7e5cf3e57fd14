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

#include <stdint.h>

#include "common/te_status.h"
#include "shuffle/buffer.h"

typedef enum te_des_result {
    TE_DES_RECORD = 0,    /* *data and *len hold one record, valid until the next call */
    TE_DES_NEED_MORE = 1, /* the slice is used up (and recycled); give the next one */
    TE_DES_ERROR = 2,     /* corrupt length (above max_record_len) */
} te_des_result_t;

typedef struct te_record_deserializer te_record_deserializer_t;

/* max_record_len: a length prefix above it is corruption. */
te_record_deserializer_t *record_deserializer_new(uint32_t max_record_len);
/* Recycles any held slice and frees. */
void record_deserializer_free(te_record_deserializer_t *d);
/* Takes ownership of the slice's reference. Only when the last result was NEED_MORE
 * (or right after new). */
void record_deserializer_set_next(te_record_deserializer_t *d, te_buffer_slice_t slice);
te_des_result_t record_deserializer_next(te_record_deserializer_t *d, const uint8_t **data, uint32_t *len);
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

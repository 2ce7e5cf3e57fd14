/*
 * task_event — encoding of task events (EndOfPartition, CheckpointBarrier,
 * CancelCheckpointMarker): u8 type | u64 BE checkpoint_id | u64 BE timestamp.
 *
 * Threading: pure functions.
 */
#include "shuffle/task_event.h"

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

void task_event_encode(const te_event_t *ev, uint8_t *out)
{
    out[0] = ev->type == TE_EVENT_CHECKPOINT_BARRIER && ev->priority ? TE_EVENT_WIRE_UNALIGNED_BARRIER
                                                                     : (uint8_t)ev->type;
    put_u64(out + 1, ev->checkpoint_id);
    put_u64(out + 9, ev->timestamp);
}

int task_event_decode(const uint8_t *in, size_t len, te_event_t *out)
{
    if (len != TE_EVENT_ENCODED_LEN)
        return -1;
    if (in[0] < TE_EVENT_END_OF_PARTITION || in[0] > TE_EVENT_WIRE_UNALIGNED_BARRIER)
        return -1;
    out->priority = in[0] == TE_EVENT_WIRE_UNALIGNED_BARRIER;
    out->type = out->priority ? TE_EVENT_CHECKPOINT_BARRIER : (te_event_type_t)in[0];
    out->checkpoint_id = get_u64(in + 1);
    out->timestamp = get_u64(in + 9);
    return 0;
}

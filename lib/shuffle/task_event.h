/*
 * task_event — task events carried in their own EVENT buffers through partitions and
 * gates (Flink's EndOfPartitionEvent, CheckpointBarrier, CancelCheckpointMarker,
 * EndOfSuperstep is not used). Encoding: u8 type | u64 BE checkpoint_id | u64 BE
 * timestamp (17 bytes, fixed). Type byte 4 is a CheckpointBarrier of an unaligned
 * checkpoint (decoded as TE_EVENT_CHECKPOINT_BARRIER with `priority` set): a priority
 * event that overtakes the data queued before it in subpartitions and channels.
 *
 * Threading: pure.
 */
#ifndef TE_TASK_EVENT_H
#define TE_TASK_EVENT_H

#include <stddef.h>
#include <stdint.h>

typedef enum te_event_type {
    TE_EVENT_END_OF_PARTITION = 1,
    TE_EVENT_CHECKPOINT_BARRIER = 2,
    TE_EVENT_CANCEL_CHECKPOINT_MARKER = 3,
} te_event_type_t;

typedef struct te_event {
    te_event_type_t type;
    uint64_t checkpoint_id;
    uint64_t timestamp;
    uint8_t priority; /* barriers only: unaligned (FLIP-76), overtakes queued data */
} te_event_t;

#define TE_EVENT_WIRE_UNALIGNED_BARRIER 4

#define TE_EVENT_ENCODED_LEN 17

/* Writes TE_EVENT_ENCODED_LEN bytes. */
void task_event_encode(const te_event_t *ev, uint8_t *out);
/* Returns 0, or -1 when the length or the type is invalid. */
int task_event_decode(const uint8_t *in, size_t len, te_event_t *out);

#endif

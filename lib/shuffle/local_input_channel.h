/*
 * local_input_channel — internal to input_gate.c: an input channel reading a
 * subpartition of a partition produced in this daemon, through the partition
 * manager (Flink's LocalInputChannel). Plugs into the gate as te_input_channel_ops_t.
 *
 * Threading: see local_input_channel.c.
 */
#ifndef TE_LOCAL_INPUT_CHANNEL_H
#define TE_LOCAL_INPUT_CHANNEL_H

#include <stdint.h>

#include "common/ids.h"
#include "shuffle/input_gate.h"
#include "shuffle/partition_manager.h"

typedef struct te_local_input_channel te_local_input_channel_t;

extern const te_input_channel_ops_t local_input_channel_ops;

/* gate/index: whom to notify. NULL when out of memory. Freed by ops->release. */
te_local_input_channel_t *local_input_channel_new(te_input_gate_t *gate, uint32_t index,
                                                  te_partition_manager_t *pm, const te_id_t *partition_id,
                                                  uint32_t sub);

#endif

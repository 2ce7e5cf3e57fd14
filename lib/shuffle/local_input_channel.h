/*
 * local_input_channel — an input channel reading a subpartition of a partition
 * produced in this daemon, through the partition manager (Flink's
 * LocalInputChannel). Plugs into its gate as te_input_channel_ops_t (shuffle_env
 * builds it; local_input_channel_attach does both steps for tests and benches).
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
/* Makes channel `index` of `gate` read subpartition `sub` of `partition_id` of this
 * daemon: local_input_channel_new + input_gate_set_channel. */
te_status_t local_input_channel_attach(te_input_gate_t *gate, uint32_t index, te_partition_manager_t *pm,
                                       const te_id_t *partition_id, uint32_t sub, te_error_t *err);

#endif

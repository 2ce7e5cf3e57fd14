/*
 * channel_selector — which subpartition(s) a record goes to (Flink's
 * ChannelSelector): forward, rebalance / rescale (round robin), hash by key field
 * through key groups, broadcast.
 *
 * Threading: owned by one RecordWriter, used by its task thread only.
 */
#ifndef TE_CHANNEL_SELECTOR_H
#define TE_CHANNEL_SELECTOR_H

#include <stdint.h>

#include "common/te_status.h"
#include "tdd.pb-c.h"
#include "te/row.h"

/* The partitioners are the proto's Partitioner (tdd.proto: the one list; names through
 * common/proto_enum.h). Adding one: its value there, its case in
 * channel_selector_select (the compiler points at it), and how the job plan wires it
 * (lib/jobmaster/job_plan.c) if not all-to-all. */
typedef Te__Partitioner te_partitioner_kind_t;

#define TE_SELECT_BROADCAST UINT32_MAX

typedef struct te_channel_selector te_channel_selector_t;

/* key_field/delim/max_parallelism matter for HASH only: as created, a HASH selector
 * keys by text (field key_field, split at delim, of the row's one string field);
 * channel_selector_set_key makes it key by typed fields. Rebalance starts at a
 * subtask-dependent channel (as Flink does) so producers do not all hit channel 0. */
te_channel_selector_t *channel_selector_new(te_partitioner_kind_t kind, uint32_t n_channels,
                                            uint32_t subtask_index, int key_field, char delim,
                                            uint32_t max_parallelism, te_error_t *err);
void channel_selector_free(te_channel_selector_t *s);
/* HASH: key by the fields of `key` (te_row_key_bytes, the keyed operators' rule). */
te_status_t channel_selector_set_key(te_channel_selector_t *s, const te_row_key_t *key, te_error_t *err);
/* Channel for this record, or TE_SELECT_BROADCAST. A HASH record lacking the key field
 * goes to the key group of the empty key. */
uint32_t channel_selector_select(te_channel_selector_t *s, const uint8_t *rec, uint32_t len);
te_partitioner_kind_t channel_selector_kind(const te_channel_selector_t *s);
/* Rebalance / rescale: the channel select() picked last (before the first pick: the one
 * before the first channel), so a caller can go on round robin itself, inline. */
uint32_t channel_selector_round_robin_last(const te_channel_selector_t *s);

#endif

/*
 * snapshot — one subtask's state for one checkpoint, in memory (a header and typed
 * sections), and its file format: encoded into bytes and decoded back with every
 * length and checksum checked (corruption and truncation are errors naming the source
 * and what is wrong). Where the bytes are stored is checkpoint_storage's business.
 *
 * Format (all integers little endian):
 *   header   "TECK" | u32 version (1) | u64 checkpoint_id | u32 subtask_index |
 *            u32 parallelism | u32 max_parallelism | u32 kg_first | u32 kg_last |
 *            u32 n_sections | u32 crc32c(the 40 bytes before)
 *   n_sections times:
 *            u32 type | u32 index | u32 sub | u32 name_len | u64 data_len | name | data |
 *            u32 crc32c(type..data)
 *   trailer  "TEND" | u32 crc32c(every byte before the trailer)
 *
 * Section types: OPERATOR = non-keyed bytes of chain operator `index` (def->snapshot);
 * KEYED = its keyed state backend snapshot (state_backend format, per key group);
 * TIMERS = its timers (also a state_backend snapshot, by the timers' key groups; `sub`
 * is the timers' format version, TE_TIMER_SNAPSHOT_* in runtime/timer_service.h:
 * 1 = processing-time timers as wall-clock epoch ms, 0 = as the writer's monotonic ms);
 * INPUT_CHANNEL = in-flight data of flat input channel `index` (unaligned checkpoints:
 * the raw stream bytes, replayed before any other input on restore); OUTPUT_CHANNEL =
 * data of writer `index` subpartition `sub` not yet sent (reserved); ROCKSDB = the
 * task's RocksDB instance as an incremental checkpoint (index 0, `sub` its format
 * version, name "rocksdb"; the manifest of rocksdb_incremental.h: its SST files by
 * reference to shared files, the small private files inline) holding the keyed state
 * of every operator of the chain in place of KEYED sections. `name` is the operator's
 * name (a restore checks it matches the chain).
 *
 * Threading: pure functions; the caller's thread (the task thread). A
 * te_ckpt_snapshot_t belongs to one thread.
 */
#ifndef TE_SNAPSHOT_H
#define TE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"

typedef enum te_ckpt_section_type {
    TE_CKPT_SEC_OPERATOR = 1,
    TE_CKPT_SEC_KEYED = 2,
    TE_CKPT_SEC_TIMERS = 3,
    TE_CKPT_SEC_INPUT_CHANNEL = 4,
    TE_CKPT_SEC_OUTPUT_CHANNEL = 5,
    TE_CKPT_SEC_ROCKSDB = 6,
} te_ckpt_section_type_t;

typedef struct te_ckpt_section {
    uint32_t type;
    uint32_t index;
    uint32_t sub;
    char *name;    /* owned, NUL-terminated ("" when none) */
    uint8_t *data; /* owned; NULL when len 0 */
    size_t len;
} te_ckpt_section_t;

typedef struct te_ckpt_snapshot {
    uint64_t checkpoint_id;
    uint32_t subtask_index;
    uint32_t parallelism;
    uint32_t max_parallelism;
    uint32_t kg_first, kg_last;
    te_ckpt_section_t *sections;
    size_t n_sections, cap;
} te_ckpt_snapshot_t;

#define TE_CKPT_MAX_SECTIONS 65536u

te_ckpt_snapshot_t *snapshot_new(uint64_t checkpoint_id, uint32_t subtask_index, uint32_t parallelism,
                                 uint32_t max_parallelism, uint32_t kg_first, uint32_t kg_last);
void snapshot_free(te_ckpt_snapshot_t *s);
/* Appends a section; takes ownership of data (malloc'd, may be NULL when len 0) even on
 * failure; name is copied. TE_OK or TE_ENOMEM. */
te_status_t snapshot_add(te_ckpt_snapshot_t *s, uint32_t type, uint32_t index, uint32_t sub, const char *name,
                         uint8_t *data, size_t len);
/* The first section of (type, index), or NULL. */
const te_ckpt_section_t *snapshot_find(const te_ckpt_snapshot_t *s, uint32_t type, uint32_t index);

/* Serializes into a malloc'd buffer (the caller frees). */
te_status_t snapshot_encode(const te_ckpt_snapshot_t *s, uint8_t **out, size_t *out_len, te_error_t *err);
/* Parses and checks everything; `what` names the source in messages (a path). */
te_ckpt_snapshot_t *snapshot_decode(const uint8_t *data, size_t len, const char *what, te_error_t *err);

#endif

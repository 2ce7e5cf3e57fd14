/*
 * shuffle_env — Flink's ShuffleEnvironment: builds what one task reads and writes
 * from its deployment descriptors — the ResultPartitions it produces (each with its
 * buffer pool and RecordWriter + ChannelSelector) and the InputGates it consumes
 * (each with its channels, local or remote, built the same way, and, when it has
 * remote channels, its own buffer pool) — as one te_shuffle_io_t, and releases them.
 *
 * Buffer pools: a partition of n subpartitions needs min(n + 1, buffers-per-channel +
 * 1) buffers (at least 2; buffers-per-channel 0 counts as 2 for producers) — a bound independent of n: when its pool runs dry
 * the writer finishes its half-filled buffers so readers can consume and recycle them —
 * and may grow to n x buffers-per-channel + floating-buffers-per-gate while the arena
 * has spare segments not owed to other pools (see network_buffer_pool.c). A gate with
 * r remote channels takes r x buffers-per-channel exclusive buffers (+
 * floating-buffers-per-gate) while they fit in the first quarter of the arena;
 * otherwise (or with buffers-per-channel 0) it runs floating-only: see
 * remote_input_channel.h.
 * Local channels need no buffers.
 *
 * Threading: shuffle_env_create_io and shuffle_io_free on the control thread;
 * register / unregister on the task thread or the control thread, never both at once
 * (the task's state machine orders them); release from any thread. The partitions,
 * writers and gates are the task thread's (their own threading rules apply). The usage
 * and back-pressure getters may be called from any thread while the io lives.
 */
#ifndef TE_SHUFFLE_ENV_H
#define TE_SHUFFLE_ENV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "shuffle/input_gate.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_writer.h"
#include "shuffle/remote_input_channel.h"
#include "shuffle/result_partition.h"
#include "tdd.pb-c.h"

/* The daemon's shuffle services and settings every task's io is built with. */
typedef struct te_shuffle_env {
    te_network_buffer_pool_t *buffers;
    te_partition_manager_t *partitions;
    /* The network's transport for remote channels (the partition client); NULL = only
     * producers in this daemon can be consumed. */
    const te_channel_transport_t *transport;
    uint32_t buffers_per_channel;       /* taskmanager.network.memory.buffers-per-channel */
    uint32_t floating_buffers_per_gate; /* taskmanager.network.memory.floating-buffers-per-gate */
    int64_t request_backoff_initial_ms; /* PartitionNotFound retries of remote channels */
    int64_t request_backoff_max_ms;
    int64_t debloat_target_ms; /* taskmanager.network.memory.buffer-debloat.target; 0 = debloating off */
} te_shuffle_env_t;

/* The least a partition's pool is given, whatever the configuration. */
#define TE_SHUFFLE_PARTITION_MIN_BUFFERS 2

/* The [min, max] buffers of the pool of a partition of `subs` subpartitions. */
void shuffle_env_partition_pool_size(const te_shuffle_env_t *env, uint32_t subs, uint32_t *min, uint32_t *max);

/* Gates take exclusive buffers from the first 1/TE_SHUFFLE_EXCLUSIVE_SHARE of the arena. */
#define TE_SHUFFLE_EXCLUSIVE_SHARE 4
/* A floating-only gate's pool may borrow up to this many buffers per channel beyond
 * floating-buffers-per-gate (what exclusive buffers would have been, by default). */
#define TE_SHUFFLE_FLOATING_GROWTH_PER_CHANNEL 2

/* A gate of n_remote remote channels: exclusive buffers per channel (buffers-per-channel,
 * or 0: floating-only when buffers-per-channel is 0 or when taking them with
 * floating-buffers-per-gate would leave fewer than 3/4 of the arena's `total` segments
 * unreserved) and its pool's [min, max]. */
void shuffle_env_gate_pool_size(const te_shuffle_env_t *env, uint32_t n_remote, uint32_t unreserved,
                                uint32_t total, uint32_t *exclusive, uint32_t *min, uint32_t *max);

/* The task the io is for. */
typedef struct te_shuffle_task {
    const char *name;         /* names pools and gates in messages: "<name> partition 0" */
    uint32_t subtask_index;   /* rebalance's first channel */
    uint32_t max_parallelism; /* key groups of hash partitioning */
    int flush_always;         /* writers flush after every record (buffer timeout 0) */
    const te_row_key_t *keys; /* per produced partition: its typed hash key (n = 0: none); may be NULL */
    size_t n_keys;
} te_shuffle_task_t;

/* One task's partitions, writers and gates. Read-only for the task; freed with
 * shuffle_io_free. */
typedef struct te_shuffle_io {
    te_result_partition_t **partitions; /* [n_partitions], in produced_partitions order */
    te_record_writer_t **writers;       /* [n_partitions] */
    const char **writer_tags;           /* [n_partitions]: side-output tag, or NULL */
    size_t n_partitions;
    te_input_gate_t **gates; /* [n_gates], in input_gates order */
    size_t n_gates;
    te_remote_buffers_t **remote_buffers; /* per gate; NULL when it has no remote channel */
    te_partition_manager_t *pm;           /* where the partitions are registered */
    _Atomic int registered;
} te_shuffle_io_t;

/* Which deployment error a failed shuffle_env_create_io is. */
typedef enum te_shuffle_error {
    TE_SHUFFLE_ERR_INTERNAL = 0, /* out of memory, or a partition that cannot be built */
    TE_SHUFFLE_ERR_BUFFERS,      /* not enough network buffers (err names required vs available) */
    TE_SHUFFLE_ERR_DESCRIPTOR,   /* an input gate the daemon cannot build as described */
} te_shuffle_error_t;

/* Builds the partitions (pools, writers) and gates (channels, pools) the descriptors
 * describe; the descriptors are borrowed for the io's life (strings in them are kept).
 * NULL + *why + err on failure; nothing stays allocated. */
te_shuffle_io_t *shuffle_env_create_io(const te_shuffle_env_t *env, const te_shuffle_task_t *task,
                                       Te__ResultPartitionDeploymentDescriptor *const *produced, size_t n_produced,
                                       Te__InputGateDeploymentDescriptor *const *gates, size_t n_gates,
                                       te_shuffle_error_t *why, te_error_t *err);
/* Makes the produced partitions visible to consumers (the partition manager); a
 * partition that cannot be registered is logged under log_ctx. */
void shuffle_io_register_partitions(te_shuffle_io_t *io, const char *log_ctx);
/* Takes the partitions out of the partition manager (consumers holding views keep
 * reading what is there). Idempotent. */
void shuffle_io_unregister_partitions(te_shuffle_io_t *io);
/* Releases every partition with `cause`: its consumers fail with it and a producer
 * blocked on a buffer wakes. Any thread. */
void shuffle_io_release_partitions(te_shuffle_io_t *io, const char *cause);
/* Releases every gate's channels (task end). */
void shuffle_io_close_gates(te_shuffle_io_t *io);
/* Frees writers, partitions (their pools), gates. NULL: no-op. */
void shuffle_io_free(te_shuffle_io_t *io);

/* Live figures for the status endpoint (any thread). */
int shuffle_io_is_backpressured(const te_shuffle_io_t *io);
uint64_t shuffle_io_backpressured_ns(const te_shuffle_io_t *io);
double shuffle_io_out_pool_usage(const te_shuffle_io_t *io); /* highest partition pool usage, 0..1 */
double shuffle_io_in_pool_usage(const te_shuffle_io_t *io);  /* highest gate pool usage, 0..1 */
/* Gate `i`'s network buffers (all zero for a gate of local channels only). */
void shuffle_io_gate_stats(const te_shuffle_io_t *io, size_t i, te_gate_buffer_stats_t *out);

#endif

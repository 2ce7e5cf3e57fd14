/*
 * shuffle_env — one task's partitions, writers and gates built from its deployment
 * descriptors (Flink's NettyShuffleEnvironment.createResultPartitionWriters /
 * createInputGates), and their release. Local and remote input channels are built
 * the same way: the channel is made for (gate, index), then set into the gate.
 *
 * Threading: see shuffle_env.h. No locks of its own; `registered` is atomic because
 * the status endpoint may read the io while the task thread registers.
 */
#include "shuffle/shuffle_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "shuffle/channel_selector.h"
#include "shuffle/local_input_channel.h"

void shuffle_env_partition_pool_size(const te_shuffle_env_t *env, uint32_t subs, uint32_t *min, uint32_t *max)
{
    /* buffers-per-channel 0 makes the gates floating-only; producers still grow as if
     * their consumers had exclusive buffers */
    uint64_t per =
        env->buffers_per_channel > 0 ? env->buffers_per_channel : TE_SHUFFLE_FLOATING_GROWTH_PER_CHANNEL;
    uint64_t bound = per + 1;
    if (bound < TE_SHUFFLE_PARTITION_MIN_BUFFERS)
        bound = TE_SHUFFLE_PARTITION_MIN_BUFFERS;
    uint64_t lo = (uint64_t)subs + 1 < bound ? (uint64_t)subs + 1 : bound;
    uint64_t hi = (uint64_t)subs * per + env->floating_buffers_per_gate;
    if (hi < lo)
        hi = lo;
    *min = (uint32_t)lo;
    *max = hi > UINT32_MAX ? UINT32_MAX : (uint32_t)hi;
}

void shuffle_env_gate_pool_size(const te_shuffle_env_t *env, uint32_t n_remote, uint32_t unreserved,
                                uint32_t total, uint32_t *exclusive, uint32_t *min, uint32_t *max)
{
    uint64_t excl = (uint64_t)n_remote * env->buffers_per_channel;
    uint64_t floating = env->floating_buffers_per_gate;
    /* exclusive buffers are an optimisation: they come out of the first
     * 1/TE_SHUFFLE_EXCLUSIVE_SHARE of the arena only, the rest stays for what the
     * gates and partitions deployed later require */
    uint64_t keep = (uint64_t)total - total / TE_SHUFFLE_EXCLUSIVE_SHARE;
    if (env->buffers_per_channel > 0 && excl + floating + keep <= unreserved) {
        *exclusive = env->buffers_per_channel;
        *min = (uint32_t)excl;
        *max = (uint32_t)(excl + floating);
        return;
    }
    /* floating-only: one buffer lets every channel make progress in turn (credit on
     * backlog, released at aligned barriers); floating-buffers-per-gate of them when
     * configured; up to TE_SHUFFLE_FLOATING_GROWTH_PER_CHANNEL per channel more borrowed
     * while the arena has spare segments */
    *exclusive = 0;
    *min = floating > 0 ? (uint32_t)floating : 1;
    uint64_t hi = (uint64_t)n_remote * TE_SHUFFLE_FLOATING_GROWTH_PER_CHANNEL + floating;
    *max = hi < *min ? *min : hi > UINT32_MAX ? UINT32_MAX : (uint32_t)hi;
}

static te_status_t build_partitions(te_shuffle_io_t *io, const te_shuffle_env_t *env,
                                    const te_shuffle_task_t *task,
                                    Te__ResultPartitionDeploymentDescriptor *const *produced, size_t n,
                                    te_shuffle_error_t *why, te_error_t *err)
{
    io->n_partitions = n;
    if (n == 0)
        return TE_OK;
    io->partitions = calloc(n, sizeof(*io->partitions));
    io->writers = calloc(n, sizeof(*io->writers));
    io->writer_tags = calloc(n, sizeof(*io->writer_tags));
    if (io->partitions == NULL || io->writers == NULL || io->writer_tags == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const Te__ResultPartitionDeploymentDescriptor *pd = produced[i];
        te_id_t pid;
        te_id_from_bytes(pd->partition_id.data, pd->partition_id.len, &pid);
        uint32_t subs = pd->number_of_subpartitions;
        uint32_t min, max;
        shuffle_env_partition_pool_size(env, subs, &min, &max);
        char owner[320];
        snprintf(owner, sizeof(owner), "%s partition %zu", task->name, i);
        te_local_buffer_pool_t *pool = network_buffer_pool_create_local(env->buffers, owner, min, max, err);
        if (pool == NULL) {
            *why = TE_SHUFFLE_ERR_BUFFERS;
            return err ? err->code : TE_ENOBUFS;
        }
        io->partitions[i] = result_partition_new(&pid, owner, subs, pool, err);
        if (io->partitions[i] == NULL) {
            local_buffer_pool_destroy(pool);
            return err ? err->code : TE_ENOMEM;
        }
        io->writer_tags[i] = pd->side_output_tag && pd->side_output_tag[0] ? pd->side_output_tag : NULL;
        const char *d = pd->key_delimiter && pd->key_delimiter[0] ? pd->key_delimiter : "\t";
        te_channel_selector_t *sel =
            channel_selector_new((te_partitioner_kind_t)pd->partitioner, subs, task->subtask_index, pd->key_field,
                                 d[0], task->max_parallelism, err);
        if (sel == NULL)
            return err ? err->code : TE_EINVAL;
        if (i < task->n_keys && task->keys[i].n > 0 &&
            channel_selector_set_key(sel, &task->keys[i], err) != TE_OK) {
            channel_selector_free(sel);
            return err ? err->code : TE_EINVAL;
        }
        io->writers[i] = record_writer_new(io->partitions[i], sel, task->flush_always, err);
        if (io->writers[i] == NULL) {
            channel_selector_free(sel);
            return err ? err->code : TE_ENOMEM;
        }
    }
    return TE_OK;
}

/* A gate with remote channels gets its own buffer pool: with exclusive buffers
 * (required = remote channels x buffers-per-channel, max = required +
 * floating-buffers-per-gate) or floating-only (shuffle_env_gate_pool_size).
 * *pool stays NULL for a gate of local channels only. */
static te_status_t build_gate_pool(te_shuffle_io_t *io, const te_shuffle_env_t *env, const char *owner, size_t i,
                                   const Te__InputGateDeploymentDescriptor *gd, te_local_buffer_pool_t **pool,
                                   te_shuffle_error_t *why, te_error_t *err)
{
    uint32_t n_remote = 0;
    for (size_t c = 0; c < gd->n_shuffle_descriptors; c++)
        n_remote += !gd->shuffle_descriptors[c]->local;
    *pool = NULL;
    if (n_remote == 0)
        return TE_OK;
    if (env->transport == NULL)
        return te_error_set(err, TE_EINVAL,
                            "input_gates[%zu]: a producer is not in this daemon and this daemon has no network "
                            "transport for remote input channels",
                            i);
    uint32_t exclusive, min, max;
    shuffle_env_gate_pool_size(env, n_remote, network_buffer_pool_unreserved_segments(env->buffers),
                               network_buffer_pool_total_segments(env->buffers), &exclusive, &min, &max);
    *pool = network_buffer_pool_create_local(env->buffers, owner, min, max, err);
    if (*pool == NULL) {
        *why = TE_SHUFFLE_ERR_BUFFERS;
        return err ? err->code : TE_ENOBUFS;
    }
    if (exclusive == 0)
        TE_INFO("shuffle", "%s: floating-only (%u remote channels share %u..%u buffers; %s)", owner, n_remote, min,
                max,
                env->buffers_per_channel == 0 ? "buffers-per-channel is 0"
                                              : "the arena has not enough unreserved segments for exclusive ones");
    io->remote_buffers[i] = remote_buffers_new(*pool, exclusive);
    if (io->remote_buffers[i] == NULL) {
        local_buffer_pool_destroy(*pool);
        *pool = NULL;
        return te_error_set(err, TE_ENOMEM, "out of memory");
    }
    return TE_OK;
}

/* Channel c of gate i: a local channel (producer in this daemon) or a remote one; the
 * gate owns it once set. */
static te_status_t build_channel(te_shuffle_io_t *io, const te_shuffle_env_t *env, size_t i, uint32_t c,
                                 const Te__InputGateDeploymentDescriptor *gd, te_error_t *err)
{
    const Te__ShuffleDescriptor *sd = gd->shuffle_descriptors[c];
    te_id_t pid;
    te_id_from_bytes(sd->partition_id.data, sd->partition_id.len, &pid);
    te_input_gate_t *g = io->gates[i];
    uint32_t sub = gd->consumed_subpartition_index;
    const te_input_channel_ops_t *ops;
    void *ch;
    if (sd->local) {
        ops = &local_input_channel_ops;
        ch = local_input_channel_new(g, c, env->partitions, &pid, sub);
        if (ch == NULL)
            return te_error_set(err, TE_ENOMEM, "out of memory");
    } else {
        ops = &remote_input_channel_ops;
        ch = remote_input_channel_new(g, c, io->remote_buffers[i], env->transport, sd->producer_address, &pid, sub,
                                      env->request_backoff_initial_ms, env->request_backoff_max_ms, err);
        if (ch == NULL) {
            te_error_prefix(err, "input_gates[%zu].shuffle_descriptors[%u]", i, c);
            return err ? err->code : TE_EINVAL;
        }
    }
    te_status_t s = input_gate_set_channel(g, c, ops, ch, err);
    if (s != TE_OK)
        ops->release(ch);
    return s;
}

static te_status_t build_gates(te_shuffle_io_t *io, const te_shuffle_env_t *env, const te_shuffle_task_t *task,
                               Te__InputGateDeploymentDescriptor *const *gates, size_t n, te_shuffle_error_t *why,
                               te_error_t *err)
{
    io->n_gates = n;
    if (n == 0)
        return TE_OK;
    io->gates = calloc(n, sizeof(*io->gates));
    io->remote_buffers = calloc(n, sizeof(*io->remote_buffers));
    if (io->gates == NULL || io->remote_buffers == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const Te__InputGateDeploymentDescriptor *gd = gates[i];
        char owner[320];
        snprintf(owner, sizeof(owner), "%s gate %zu", task->name, i);
        te_local_buffer_pool_t *pool;
        te_status_t s = build_gate_pool(io, env, owner, i, gd, &pool, why, err);
        if (s != TE_OK)
            return s;
        io->gates[i] = input_gate_new(owner, gd->input_index, (uint32_t)gd->n_shuffle_descriptors, pool, err);
        if (io->gates[i] == NULL)
            return err ? err->code : TE_ENOMEM;
        if (env->debloat_target_ms > 0)
            input_gate_enable_debloating(io->gates[i], env->debloat_target_ms,
                                         network_buffer_pool_segment_size(env->buffers));
        if (io->remote_buffers[i] != NULL)
            input_gate_set_poll_hook(io->gates[i],
                                     (te_notifier_t){remote_buffers_poll_hook, io->remote_buffers[i]});
        for (uint32_t c = 0; c < gd->n_shuffle_descriptors; c++)
            if ((s = build_channel(io, env, i, c, gd, err)) != TE_OK)
                return s;
    }
    return TE_OK;
}

te_shuffle_io_t *shuffle_env_create_io(const te_shuffle_env_t *env, const te_shuffle_task_t *task,
                                       Te__ResultPartitionDeploymentDescriptor *const *produced, size_t n_produced,
                                       Te__InputGateDeploymentDescriptor *const *gates, size_t n_gates,
                                       te_shuffle_error_t *why, te_error_t *err)
{
    te_shuffle_error_t dummy;
    if (why == NULL)
        why = &dummy;
    *why = TE_SHUFFLE_ERR_INTERNAL;
    te_shuffle_io_t *io = calloc(1, sizeof(*io));
    if (io == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    io->pm = env->partitions;
    atomic_init(&io->registered, 0);
    if (build_partitions(io, env, task, produced, n_produced, why, err) != TE_OK)
        goto cleanup;
    *why = TE_SHUFFLE_ERR_DESCRIPTOR;
    if (build_gates(io, env, task, gates, n_gates, why, err) != TE_OK)
        goto cleanup;
    *why = TE_SHUFFLE_ERR_INTERNAL;
    return io;
cleanup:
    shuffle_io_free(io);
    return NULL;
}

void shuffle_io_register_partitions(te_shuffle_io_t *io, const char *log_ctx)
{
    for (size_t i = 0; i < io->n_partitions; i++) {
        te_error_t e;
        if (partition_manager_register(io->pm, io->partitions[i], &e) != TE_OK)
            TE_WARN(log_ctx, "registering partition %s: %s", te_id_str(result_partition_id(io->partitions[i])),
                    e.msg);
    }
    atomic_store(&io->registered, 1);
}

void shuffle_io_unregister_partitions(te_shuffle_io_t *io)
{
    if (!atomic_exchange(&io->registered, 0))
        return;
    for (size_t i = 0; i < io->n_partitions; i++)
        partition_manager_unregister(io->pm, result_partition_id(io->partitions[i]));
}

void shuffle_io_release_partitions(te_shuffle_io_t *io, const char *cause)
{
    for (size_t i = 0; i < io->n_partitions; i++)
        result_partition_release(io->partitions[i], cause);
}

void shuffle_io_close_gates(te_shuffle_io_t *io)
{
    for (size_t i = 0; i < io->n_gates; i++)
        input_gate_close(io->gates[i]);
}

void shuffle_io_free(te_shuffle_io_t *io)
{
    if (io == NULL)
        return;
    shuffle_io_unregister_partitions(io);
    for (size_t i = 0; i < io->n_partitions; i++) {
        record_writer_free(io->writers ? io->writers[i] : NULL);
        if (io->partitions && io->partitions[i])
            result_partition_unref(io->partitions[i]);
    }
    free(io->writers);
    free(io->writer_tags);
    free(io->partitions);
    for (size_t i = 0; i < io->n_gates; i++) {
        input_gate_free(io->gates ? io->gates[i] : NULL);
        remote_buffers_free(io->remote_buffers ? io->remote_buffers[i] : NULL);
    }
    free(io->gates);
    free(io->remote_buffers);
    free(io);
}

int shuffle_io_is_backpressured(const te_shuffle_io_t *io)
{
    for (size_t i = 0; i < io->n_partitions; i++)
        if (io->writers[i] && record_writer_is_backpressured(io->writers[i]))
            return 1;
    return 0;
}

uint64_t shuffle_io_backpressured_ns(const te_shuffle_io_t *io)
{
    uint64_t ns = 0;
    for (size_t i = 0; i < io->n_partitions; i++)
        if (io->writers[i])
            ns += record_writer_backpressured_ns(io->writers[i]);
    return ns;
}

double shuffle_io_out_pool_usage(const te_shuffle_io_t *io)
{
    double u = 0;
    for (size_t i = 0; i < io->n_partitions; i++) {
        double x = local_buffer_pool_usage(result_partition_pool(io->partitions[i]));
        if (x > u)
            u = x;
    }
    return u;
}

double shuffle_io_in_pool_usage(const te_shuffle_io_t *io)
{
    double u = 0;
    for (size_t i = 0; i < io->n_gates; i++) {
        double x = input_gate_pool_usage(io->gates[i]);
        if (x > u)
            u = x;
    }
    return u;
}

void shuffle_io_gate_stats(const te_shuffle_io_t *io, size_t i, te_gate_buffer_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (i < io->n_gates && io->remote_buffers[i] != NULL)
        remote_buffers_stats(io->remote_buffers[i], out);
    if (i < io->n_gates && io->gates[i] != NULL)
        out->buffer_size = input_gate_buffer_size(io->gates[i]);
}

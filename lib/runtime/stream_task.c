/*
 * stream_task — the StreamTask lifecycle common to every task type (see stream_task.h):
 *
 *   invoke = beforeInvoke (operator chain: setup of every operator; init per task type:
 *            network input + gate listeners + partition requests; output flusher; open
 *            tail first)
 *          -> mailbox_processor_run (default action = output availability check, then
 *             the task type's process_input)
 *          -> afterInvoke (normal end only: join a finished source thread, close
 *             operators head first, quiesce + drain the mailbox, flush, remove from the
 *             flusher, finish every record writer with EndOfPartition)
 *          -> cleanUpInvoke (always: stop the source thread, remove from the flusher,
 *             detach gate listeners, dispose operators, close the mailbox, free the
 *             chain and hand the state store to the snapshot pool to free).
 *
 * Processing-time timers (ABI v2): the mailbox processor asks the operator chain for
 * its earliest timer before each default action and as the deadline of its blocking
 * take, and fires the due ones under the checkpoint lock (task_next_timer /
 * task_fire_timers); event-time timers fire inside the chain's watermark path.
 *
 * Output availability: before each default action every record writer must be
 * available; otherwise the task is marked back-pressured and suspends until the
 * writer's one-shot availability notification (from a recycling thread) wakes it.
 *
 * Threading: invoke on the task thread (= the mailbox thread); cancel from any thread
 * (atomic flag + a max-priority mail + def->cancel of a blocking source under
 * state_mu); new/free/validate on one thread while the task is not running. Locks:
 * checkpoint_lock (mailbox thread around mails, source thread around emits) ->
 * record-writer / pool internals; state_mu is a leaf (only def->cancel runs under it).
 * stream_task_free must come after the task layer closed the gates and released the
 * partitions (no listener may fire into a freed task; wakers are refcounted for calls
 * already in flight).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "state/snapshot.h"
#include "runtime/stream_task_internal.h"

/* ---- writer availability notifications (one-shot, may outlive the task) ---- */

struct writer_wake {
    _Atomic int refs;
    _Atomic int armed;
    te_mailbox_waker_t *waker;
};

static void writer_wake_unref(writer_wake_t *ww)
{
    if (ww && atomic_fetch_sub(&ww->refs, 1) == 1) {
        mailbox_waker_unref(ww->waker);
        free(ww);
    }
}

static void writer_wake_fire(void *arg)
{
    writer_wake_t *ww = arg;
    atomic_store(&ww->armed, 0);
    mailbox_waker_wake(ww->waker);
    writer_wake_unref(ww);
}

static void writer_wake_arm(writer_wake_t *ww, te_record_writer_t *rw)
{
    if (atomic_exchange(&ww->armed, 1) != 0)
        return; /* armed already */
    atomic_fetch_add(&ww->refs, 1);
    record_writer_notify_when_available(rw, (te_notifier_t){writer_wake_fire, ww});
}

/* ---- metrics ---- */

/* The keyed-state gauges, at most every 100 ms (or now when `force`). */
static void publish_state_metrics(te_stream_task_t *st, int force)
{
    te_task_metrics_t *m = st->env.metrics;
    if (m == NULL || st->store == NULL)
        return;
    int64_t now = te_clock_mono_ms();
    if (!force && now - st->state_published_ms < 100)
        return;
    st->state_published_ms = now;
    te_state_stats_t s;
    state_store_stats(st->store, &s);
    atomic_store_explicit(&m->state_size_bytes, s.bytes, memory_order_relaxed);
    atomic_store_explicit(&m->state_entries, s.entries, memory_order_relaxed);
    atomic_store_explicit(&m->managed_memory_bytes, state_store_managed_bytes(st->store), memory_order_relaxed);
}

static void update_output_metrics(te_stream_task_t *st)
{
    te_task_metrics_t *m = st->env.metrics;
    if (m == NULL)
        return;
    publish_state_metrics(st, 0);
    uint64_t bytes = 0, bp = 0;
    for (size_t w = 0; w < st->env.n_writers; w++) {
        bytes += record_writer_bytes_out(st->env.writers[w]);
        bp += record_writer_backpressured_ns(st->env.writers[w]);
    }
    atomic_store_explicit(&m->num_bytes_out, bytes, memory_order_relaxed);
    atomic_store_explicit(&m->backpressured_ns, bp, memory_order_relaxed);
}

/* ---- validation ---- */

static const char *kind_name(te_operator_kind_t k)
{
    switch (k) {
    case TE_OP_SOURCE: return "source";
    case TE_OP_ONE_INPUT: return "one-input";
    case TE_OP_TWO_INPUT: return "two-input";
    default: return "unknown-kind";
    }
}

static const char *invokable_name(te_invokable_t inv)
{
    switch (inv) {
    case TE_INVOKABLE_SOURCE: return "SourceStreamTask";
    case TE_INVOKABLE_ONE_INPUT: return "OneInputStreamTask";
    case TE_INVOKABLE_TWO_INPUT: return "TwoInputStreamTask";
    default: return "unknown invokable";
    }
}

static te_operator_kind_t head_kind_for(te_invokable_t inv)
{
    return inv == TE_INVOKABLE_SOURCE      ? TE_OP_SOURCE
           : inv == TE_INVOKABLE_TWO_INPUT ? TE_OP_TWO_INPUT
                                           : TE_OP_ONE_INPUT;
}

static te_status_t check_chain_shape(te_invokable_t invokable, const te_chain_op_config_t *chain, size_t n_chain,
                                     te_error_t *err)
{
    if (invokable != TE_INVOKABLE_SOURCE && invokable != TE_INVOKABLE_ONE_INPUT &&
        invokable != TE_INVOKABLE_TWO_INPUT)
        return te_error_set(err, TE_EINVAL, "unknown invokable %d", (int)invokable);
    if (chain == NULL || n_chain == 0)
        return te_error_set(err, TE_EINVAL, "the operator chain is empty");
    for (size_t i = 0; i < n_chain; i++) {
        const te_operator_def_t *def = chain[i].def;
        const char *name = chain[i].name ? chain[i].name : def && def->name ? def->name : "?";
        if (def == NULL)
            return te_error_set(err, TE_EINVAL, "operator '%s' (#%zu): no operator definition", name, i);
        if (def->abi_version < TE_OPERATOR_ABI_MIN_VERSION || def->abi_version > TE_OPERATOR_ABI_VERSION)
            return te_error_set(err, TE_EINVAL, "operator '%s' (#%zu): ABI version %u, expected %u..%u", name, i,
                                def->abi_version, TE_OPERATOR_ABI_MIN_VERSION, TE_OPERATOR_ABI_VERSION);
        te_operator_kind_t want = i == 0 ? head_kind_for(invokable) : TE_OP_ONE_INPUT;
        if (def->kind != want) {
            if (i == 0)
                return te_error_set(err, TE_EINVAL,
                                    "operator '%s' (#0): a %s operator cannot head a %s (needs a %s operator)",
                                    name, kind_name(def->kind), invokable_name(invokable), kind_name(want));
            return te_error_set(err, TE_EINVAL,
                                "operator '%s' (#%zu): a %s operator may only be the head of a chain; chained "
                                "operators must be one-input",
                                name, i, kind_name(def->kind));
        }
        if (def->kind == TE_OP_SOURCE && def->blocking_source && def->run == NULL)
            return te_error_set(err, TE_EINVAL, "operator '%s' (#%zu): blocking source without a run callback",
                                name, i);
        if (def->kind == TE_OP_SOURCE && !def->blocking_source && def->step == NULL)
            return te_error_set(err, TE_EINVAL, "operator '%s' (#%zu): source without a step callback", name, i);
    }
    return TE_OK;
}

te_operator_chain_t *stream_task_check_chain(te_invokable_t invokable, const te_chain_op_config_t *chain,
                                             size_t n_chain, uint32_t subtask_index, uint32_t parallelism,
                                             uint32_t max_parallelism, const te_schema_t *const inputs[2],
                                             te_error_t *err)
{
    if (check_chain_shape(invokable, chain, n_chain, err) != TE_OK)
        return NULL;
    te_operator_chain_config_t cfg = {
        .task_name = "validate",
        .subtask_index = subtask_index,
        .parallelism = parallelism,
        .max_parallelism = max_parallelism,
        .ops = chain,
        .n_ops = n_chain,
        .input_schemas = {inputs ? inputs[0] : NULL, inputs ? inputs[1] : NULL},
    };
    return operator_chain_new(&cfg, err); /* setup of every operator */
}

te_status_t stream_task_validate_chain(te_invokable_t invokable, const te_chain_op_config_t *chain, size_t n_chain,
                                       uint32_t subtask_index, uint32_t parallelism, uint32_t max_parallelism,
                                       te_error_t *err)
{
    te_operator_chain_t *c =
        stream_task_check_chain(invokable, chain, n_chain, subtask_index, parallelism, max_parallelism, NULL, err);
    if (c == NULL)
        return err ? err->code : TE_EINVAL;
    operator_chain_free(c); /* dispose */
    return TE_OK;
}

/* ---- lifecycle ---- */

static te_status_t default_action(void *arg, te_mailbox_processor_t *mp, te_error_t *err)
{
    te_stream_task_t *st = arg;
    te_task_metrics_t *m = st->env.metrics;
    for (size_t w = 0; w < st->env.n_writers; w++) {
        if (!record_writer_is_available(st->env.writers[w])) {
            if (m)
                atomic_store(&m->is_backpressured, 1);
            st->stall.waiting = 0; /* back-pressured: not an input stall */
            mailbox_processor_suspend(mp, -1);
            writer_wake_arm(st->writer_wakes[w], st->env.writers[w]);
            return TE_OK;
        }
    }
    if (m)
        atomic_store(&m->is_backpressured, 0);
    te_status_t rc = st->env.invokable == TE_INVOKABLE_SOURCE ? source_stream_task_process_input(st, err)
                                                              : one_input_stream_task_process_input(st, err);
    update_output_metrics(st);
    return rc;
}

/* Processing-time timers of the chain's operators, fired by the mailbox loop, and the
 * input stall check of network-input tasks riding on the same hook. */
static int64_t task_next_timer(void *arg)
{
    te_stream_task_t *st = arg;
    int64_t t = st->chain ? operator_chain_next_processing_timer(st->chain) : -1;
    int64_t c = st->stall.next_check_ms;
    return c >= 0 && (t < 0 || c < t) ? c : t;
}

static te_status_t task_fire_timers(void *arg, int64_t now_ms, te_error_t *err)
{
    te_stream_task_t *st = arg;
    if (st->stall.next_check_ms >= 0 && now_ms >= st->stall.next_check_ms && st->input != NULL)
        one_input_stream_task_check_stall(st, now_ms);
    return st->chain ? operator_chain_fire_processing_timers(st->chain, now_ms, err) : TE_OK;
}

te_stream_task_t *stream_task_new(const te_stream_task_env_t *env, te_error_t *err)
{
    if (env == NULL || (env->n_writers > 0 && env->writers == NULL) || (env->n_gates > 0 && env->gates == NULL)) {
        te_error_set(err, TE_EINVAL, "stream task: bad environment");
        return NULL;
    }
    if (check_chain_shape(env->invokable, env->chain, env->n_chain, err) != TE_OK)
        return NULL;
    te_stream_task_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        goto cleanup;
    st->env = *env;
    st->stall.next_check_ms = -1;
    pthread_mutex_init(&st->checkpoint_lock, NULL);
    pthread_mutex_init(&st->state_mu, NULL);
    atomic_init(&st->cancelled, 0);
    st->blocking_source = env->invokable == TE_INVOKABLE_SOURCE && env->chain[0].def->blocking_source;
    st->mb = mailbox_new();
    if (st->mb == NULL)
        goto cleanup;
    st->mp = mailbox_processor_new(st->mb, default_action, st, env->metrics);
    if (st->mp == NULL)
        goto cleanup;
    mailbox_processor_set_lock(st->mp, &st->checkpoint_lock);
    if (env->checkpoint) {
        st->ckpt = subtask_checkpoint_coordinator_new(env->checkpoint);
        if (st->ckpt == NULL)
            goto cleanup;
    }
    mailbox_processor_set_timers(st->mp, task_next_timer, task_fire_timers, st);
    st->writer_wakes = calloc(env->n_writers ? env->n_writers : 1, sizeof(*st->writer_wakes));
    if (st->writer_wakes == NULL)
        goto cleanup;
    for (size_t w = 0; w < env->n_writers; w++) {
        writer_wake_t *ww = calloc(1, sizeof(*ww));
        if (ww == NULL)
            goto cleanup;
        atomic_init(&ww->refs, 1);
        atomic_init(&ww->armed, 0);
        ww->waker = mailbox_processor_waker(st->mp);
        st->writer_wakes[w] = ww;
    }
    return st;

cleanup:
    te_error_set(err, TE_ENOMEM, "out of memory creating the stream task");
    stream_task_free(st);
    return NULL;
}

void stream_task_free(te_stream_task_t *st)
{
    if (st == NULL)
        return;
    operator_chain_free(st->chain);
    state_store_free(st->store);
    stream_task_network_input_free(st->input);
    mailbox_processor_free(st->mp); /* wakers become no-ops */
    mailbox_free(st->mb);
    if (st->writer_wakes)
        for (size_t w = 0; w < st->env.n_writers; w++)
            writer_wake_unref(st->writer_wakes[w]);
    free(st->writer_wakes);
    mailbox_waker_unref(st->gate_waker);
    barrier_aligner_free(st->aligner);
    subtask_checkpoint_coordinator_free(st->ckpt);
    pthread_mutex_destroy(&st->checkpoint_lock);
    pthread_mutex_destroy(&st->state_mu);
    free(st);
}

static void cancel_mail(void *arg)
{
    te_stream_task_t *st = arg;
    mailbox_processor_all_actions_completed(st->mp);
}

void stream_task_cancel(te_stream_task_t *st)
{
    if (st == NULL || atomic_exchange(&st->cancelled, 1) != 0)
        return;
    /* TE_ESTATE when the mailbox is quiesced/closed already: the loop is over anyway */
    mailbox_put(st->mb, cancel_mail, st, TE_MAIL_PRIO_MAX, "cancel task");
    pthread_mutex_lock(&st->state_mu);
    if (st->source_started && !st->source_joined)
        operator_chain_source_cancel(st->chain);
    pthread_mutex_unlock(&st->state_mu);
}

/* Replays the in-flight data of an unaligned checkpoint: output channel state into the
 * writers (before anything new is emitted), input channel state into the network input
 * (before anything received). The topology must be the one it was taken with. */
static te_status_t replay_channel_state(te_stream_task_t *st, const te_ckpt_snapshot_t *cs, te_error_t *err)
{
    for (size_t i = 0; i < cs->n_sections; i++) {
        const te_ckpt_section_t *s = &cs->sections[i];
        unsigned n = 0;
        if (s->type == TE_CKPT_SEC_OUTPUT_CHANNEL) {
            uint32_t have =
                s->index < st->env.n_writers
                    ? result_partition_num_subpartitions(record_writer_partition(st->env.writers[s->index]))
                    : 0;
            if (s->index >= st->env.n_writers || sscanf(s->name, "subpartitions=%u", &n) != 1 || n != have ||
                s->sub >= have)
                return te_error_set(err, TE_EINVAL,
                                    "the checkpoint holds in-flight output of output %u subpartition %u (%s) but "
                                    "the task has %zu outputs%s: restore an unaligned checkpoint with the job's "
                                    "original parallelism",
                                    s->index, s->sub, s->name, st->env.n_writers,
                                    s->index < st->env.n_writers ? " with another number of subpartitions" : "");
            te_status_t rc = record_writer_write_raw(st->env.writers[s->index], s->sub, s->data, s->len);
            if (rc != TE_OK)
                return te_error_set(err, rc, "replaying the in-flight output of output %u subpartition %u: %s",
                                    s->index, s->sub, te_status_name(rc));
        } else if (s->type == TE_CKPT_SEC_INPUT_CHANNEL) {
            uint32_t have = st->input ? stream_task_network_input_num_channels(st->input) : 0;
            if (sscanf(s->name, "channels=%u", &n) != 1 || n != have || s->index >= have)
                return te_error_set(err, TE_EINVAL,
                                    "the checkpoint holds in-flight input of input channel %u (%s) but the task "
                                    "has %u input channels: restore an unaligned checkpoint with the job's "
                                    "original parallelism",
                                    s->index, s->name, have);
            te_status_t rc = stream_task_network_input_add_recovered(st->input, s->index, s->data, s->len, err);
            if (rc != TE_OK)
                return rc;
        }
    }
    return TE_OK;
}

static te_status_t before_invoke(te_stream_task_t *st, te_error_t *err)
{
    te_state_store_config_t scfg = {.max_parallelism = st->env.max_parallelism, .task_name = st->env.task_name};
    st->store = state_store_new(st->env.state ? st->env.state : &scfg, err);
    if (st->store == NULL)
        return err ? err->code : TE_EINVAL;
    te_operator_chain_config_t cfg = {
        .task_name = st->env.task_name,
        .job_id_hex = st->env.checkpoint ? st->env.checkpoint->job_id_hex : NULL,
        .vertex_id_hex = st->env.checkpoint ? st->env.checkpoint->vertex_id_hex : NULL,
        .subtask_index = st->env.subtask_index,
        .parallelism = st->env.parallelism,
        .max_parallelism = st->env.max_parallelism,
        .ops = st->env.chain,
        .n_ops = st->env.n_chain,
        .writers = st->env.writers,
        .n_writers = st->env.n_writers,
        .writer_tags = st->env.writer_tags,
        .input_schemas = {st->env.input_schemas[0], st->env.input_schemas[1]},
        .config_keys = st->env.config_keys,
        .config_values = st->env.config_values,
        .n_config = st->env.n_config,
        .metrics = st->env.metrics,
        .cancelled = &st->cancelled,
        .head_emit_lock = st->blocking_source ? &st->checkpoint_lock : NULL,
        .state = st->store,
    };
    st->chain = operator_chain_new(&cfg, err);
    if (st->chain == NULL)
        return err ? err->code : TE_EINVAL;
    if (st->ckpt)
        subtask_checkpoint_set_store(st->ckpt, st->store);
    te_ckpt_snapshot_t *channel_state = NULL;
    if (st->env.n_restore > 0) {
        te_status_t rc = subtask_checkpoint_restore(st->chain, st->env.subtask_index, st->env.parallelism,
                                                    st->env.max_parallelism, st->env.restore, st->env.n_restore,
                                                    &channel_state, err);
        if (rc != TE_OK) {
            snapshot_free(channel_state);
            /* a snapshot missing, unreadable or corrupt (not a job that does not fit it) */
            st->restore_failed = rc == TE_EPROTO || rc == TE_EIO || rc == TE_ENOTFOUND;
            te_error_prefix(err, "restoring the checkpoint state");
            return rc;
        }
    }
    if (st->env.invokable != TE_INVOKABLE_SOURCE) {
        te_status_t rc = one_input_stream_task_init(st, err);
        if (rc != TE_OK) {
            snapshot_free(channel_state);
            return rc;
        }
    }
    if (channel_state != NULL) {
        te_status_t rc = replay_channel_state(st, channel_state, err);
        snapshot_free(channel_state);
        if (rc != TE_OK) {
            te_error_prefix(err, "restoring the checkpoint's channel state");
            return rc;
        }
    }
    if (st->env.buffer_timeout_ms > 0 && st->env.flusher) {
        for (size_t w = 0; w < st->env.n_writers; w++)
            output_flusher_add(st->env.flusher, st->env.writers[w], st->env.buffer_timeout_ms);
        st->flusher_added = 1;
    }
    return operator_chain_open(st->chain, err);
}

static void remove_from_flusher(te_stream_task_t *st)
{
    if (!st->flusher_added)
        return;
    for (size_t w = 0; w < st->env.n_writers; w++)
        output_flusher_remove(st->env.flusher, st->env.writers[w]);
    st->flusher_added = 0;
}

static te_status_t after_invoke(te_stream_task_t *st, te_error_t *err)
{
    /* a blocking source has reported its end: its thread is exiting */
    source_stream_task_stop_thread(st);
    te_status_t rc = operator_chain_close(st->chain, err);
    if (rc != TE_OK)
        return rc;
    /* prepare close + drain: mails already queued still run, new ones are refused */
    mailbox_quiesce(st->mb);
    te_mail_t m;
    while (mailbox_try_take(st->mb, &m)) {
        pthread_mutex_lock(&st->checkpoint_lock);
        mail_run(&m);
        pthread_mutex_unlock(&st->checkpoint_lock);
    }
    rc = operator_chain_failure(st->chain, err);
    if (rc != TE_OK)
        return rc;
    remove_from_flusher(st);
    if (st->ckpt) /* acknowledgements of checkpoints still being written go out first */
        subtask_checkpoint_wait_all(st->ckpt);
    for (size_t w = 0; w < st->env.n_writers; w++) {
        record_writer_flush_all(st->env.writers[w]);
        rc = record_writer_finish(st->env.writers[w]);
        if (rc != TE_OK)
            return te_error_set(err, rc, "finishing output %zu failed: %s", w, te_status_name(rc));
    }
    return TE_OK;
}

static void cleanup_invoke(te_stream_task_t *st)
{
    if (st->chain)
        source_stream_task_stop_thread(st);
    remove_from_flusher(st);
    one_input_stream_task_cleanup(st);
    if (st->ckpt) /* cancelled or failed: nothing more is reported */
        subtask_checkpoint_cancel_all(st->ckpt);
    operator_chain_dispose(st->chain);
    mailbox_close(st->mb);
    publish_state_metrics(st, 1);
    update_output_metrics(st);
    if (st->env.metrics)
        atomic_store(&st->env.metrics->is_backpressured, 0);
    /* The task's state goes now, off the control thread: the chain (timers) here, the
     * state store on the snapshot pool (or with the last asynchronous snapshot still
     * reading it). */
    operator_chain_free(st->chain);
    st->chain = NULL;
    state_store_free(st->store);
    st->store = NULL;
}

int stream_task_restore_failed(const te_stream_task_t *st) { return st != NULL && st->restore_failed; }

te_status_t stream_task_invoke(te_stream_task_t *st, te_error_t *err)
{
    if (st == NULL)
        return te_error_set(err, TE_EINVAL, "no stream task");
    if (st->invoked)
        return te_error_set(err, TE_ESTATE, "stream task invoked twice");
    st->invoked = 1;
    te_error_t local = {0};
    te_status_t rc = TE_OK;
    if (!atomic_load(&st->cancelled)) {
        rc = before_invoke(st, &local);
        if (rc == TE_OK)
            rc = mailbox_processor_run(st->mp, &local);
        if (rc == TE_OK && !atomic_load(&st->cancelled))
            rc = after_invoke(st, &local);
    }
    cleanup_invoke(st);
    if (atomic_load(&st->cancelled))
        return te_error_set(err, TE_ECANCELED, "task '%s' was cancelled",
                            st->env.task_name ? st->env.task_name : "");
    if (rc != TE_OK) {
        te_error_set(err, rc, "%s", local.msg);
        TE_DEBUG(st->env.task_name ? st->env.task_name : "stream_task", "failed: %s", local.msg);
    }
    return rc;
}

/* ---- checkpoints (mails; run under the checkpoint lock on the task thread) ---- */

typedef struct ckpt_mail {
    te_stream_task_t *st;
    uint64_t id, ts;
    int terminate; /* trigger: end the input after the barrier (stop-with-savepoint) */
} ckpt_mail_t;

static void trigger_mail(void *arg)
{
    ckpt_mail_t *m = arg;
    te_stream_task_t *st = m->st;
    if (st->chain != NULL && st->ckpt != NULL) {
        te_error_t err = {0};
        te_status_t rc = subtask_checkpoint_perform(st->ckpt, st->chain, st->env.writers, st->env.n_writers, m->id,
                                                    m->ts, 0, &err);
        if (rc == TE_OK && m->terminate) { /* stop-with-savepoint: nothing after the barrier */
            rc = operator_chain_end_input(st->chain, 1, &err);
            if (rc == TE_OK)
                mailbox_processor_all_actions_completed(st->mp);
        }
        if (rc != TE_OK)
            mailbox_processor_fail(st->mp, rc, err.msg);
    }
    free(m);
}

static void notify_mail(void *arg)
{
    ckpt_mail_t *m = arg;
    te_stream_task_t *st = m->st;
    if (st->chain != NULL && st->ckpt != NULL) {
        te_error_t err = {0};
        te_status_t rc = subtask_checkpoint_notify_complete(st->ckpt, st->chain, m->id, &err);
        if (rc != TE_OK)
            mailbox_processor_fail(st->mp, rc, err.msg);
    }
    free(m);
}

static void abort_mail(void *arg)
{
    ckpt_mail_t *m = arg;
    te_stream_task_t *st = m->st;
    if (st->aligner != NULL)
        barrier_aligner_abort(st->aligner, m->id, "aborted by the checkpoint coordinator");
    else if (st->ckpt != NULL)
        subtask_checkpoint_abort(st->ckpt, st->env.writers, st->env.n_writers, m->id, NULL, 0);
    free(m);
}

static te_status_t put_ckpt_mail(te_stream_task_t *st, void (*fn)(void *), uint64_t id, uint64_t ts, int terminate,
                                 const char *what)
{
    if (st == NULL || st->ckpt == NULL)
        return TE_ESTATE;
    ckpt_mail_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return TE_ENOMEM;
    m->st = st;
    m->id = id;
    m->ts = ts;
    m->terminate = terminate;
    te_status_t rc = mailbox_put_ex(st->mb, fn, free, m, TE_MAIL_PRIO_HIGH, what);
    if (rc != TE_OK)
        free(m);
    return rc;
}

te_status_t stream_task_trigger_checkpoint(te_stream_task_t *st, uint64_t id, uint64_t ts, int terminate)
{
    if (st != NULL && (st->env.invokable != TE_INVOKABLE_SOURCE || (terminate && st->blocking_source)))
        return TE_EINVAL;
    return put_ckpt_mail(st, trigger_mail, id, ts, terminate,
                         terminate ? "stop with savepoint" : "trigger checkpoint");
}

te_status_t stream_task_notify_checkpoint_complete(te_stream_task_t *st, uint64_t id)
{
    return put_ckpt_mail(st, notify_mail, id, 0, 0, "checkpoint complete");
}

te_status_t stream_task_abort_checkpoint(te_stream_task_t *st, uint64_t id)
{
    return put_ckpt_mail(st, abort_mail, id, 0, 0, "abort checkpoint");
}

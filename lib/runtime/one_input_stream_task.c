/*
 * one_input_stream_task — OneInputStreamTask and TwoInputStreamTask: the head operator
 * reads the task's input gates through a StreamTaskNetworkInput (two-input heads get
 * input 0 or 1 by the gate's input_gate_index; the gates are polled round robin so an
 * input with data is never held up by an empty one).
 *
 * The default action processes up to STREAM_TASK_STEP_BUDGET elements; when no gate has
 * data it suspends (until a gate listener resumes it, or the earliest pending partition
 * request deadline passes); when every gate ended it ends the chain's input and
 * completes the loop.
 *
 * Input stalls (env.input_stall_threshold_ms > 0): the loop's timer hook calls
 * check_stall every threshold/2. A stall is input that has data while the task handles
 * nothing and is not back-pressured for the threshold: channels queued for polling
 * while the task sleeps (a lost wake-up: seen on two checks in a row, the task is woken
 * again), or an alignment whose blocked channels hold data while the task waits for the
 * barrier on the others. Each is counted (metrics input_stalls, input_stalled_since_ms)
 * and logged once as a WARN naming the task and what it waits on; an INFO when input
 * flows again.
 *
 * Threading: everything on the task (mailbox) thread, except the gate listener, which
 * runs on producer / net threads and only wakes the mailbox (a refcounted waker, safe
 * after the task is gone).
 */
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "runtime/stream_task_internal.h"

/* ---- the CheckpointedInputGate: aligner callbacks (task thread) ---- */

static void al_block(void *arg, uint32_t ch)
{
    te_stream_task_t *st = arg;
    stream_task_network_input_block_channel(st->input, ch);
}

static void al_resume(void *arg)
{
    te_stream_task_t *st = arg;
    stream_task_network_input_resume_all(st->input);
}

static te_status_t al_trigger(void *arg, uint64_t id, uint64_t ts, uint64_t alignment_ns, te_error_t *err)
{
    te_stream_task_t *st = arg;
    te_status_t rc = subtask_checkpoint_perform(st->ckpt, st->chain, st->env.writers, st->env.n_writers, id, ts,
                                                alignment_ns, err);
    if (rc == TE_OK && st->env.checkpoint->unaligned)
        stream_task_network_input_snapshot_inflight(st->input, id);
    return rc;
}

static te_status_t al_complete(void *arg, uint64_t id, te_error_t *err)
{
    te_stream_task_t *st = arg;
    (void)err;
    stream_task_network_input_flush_overtaken(st->input);
    subtask_checkpoint_complete(st->ckpt, id);
    return TE_OK;
}

static void al_abort(void *arg, uint64_t id, const char *cause)
{
    te_stream_task_t *st = arg;
    /* a coordinator's abort needs no decline; cancel markers / subsumption do */
    int external = cause != NULL && strstr(cause, "checkpoint coordinator") != NULL;
    subtask_checkpoint_abort(st->ckpt, st->env.writers, st->env.n_writers, id, cause, !external);
}

static void record_channel_state(void *arg, uint64_t id, uint32_t ch, const uint8_t *data, size_t len)
{
    te_stream_task_t *st = arg;
    subtask_checkpoint_add_channel_state(st->ckpt, id, ch, data, len);
}

static const te_barrier_aligner_ops_t aligner_ops = {al_block, al_resume, al_trigger, al_complete, al_abort};

te_status_t one_input_stream_task_init(te_stream_task_t *st, te_error_t *err)
{
    st->input = stream_task_network_input_new(st->env.gates, st->env.n_gates, st->chain, st->env.metrics, err);
    if (st->input == NULL)
        return err ? err->code : TE_ENOMEM;
    if (st->ckpt != NULL) {
        uint32_t n = stream_task_network_input_num_channels(st->input);
        int unaligned = st->env.checkpoint->unaligned;
        st->aligner = barrier_aligner_new(n, unaligned, &aligner_ops, st);
        if (st->aligner == NULL)
            return te_error_set(err, TE_ENOMEM, "out of memory");
        stream_task_network_input_set_aligner(st->input, st->aligner);
        subtask_checkpoint_set_input_channels(st->ckpt, n);
        if (unaligned)
            stream_task_network_input_set_unaligned(st->input, record_channel_state, st);
    }
    mailbox_set_busy_poll(st->mb, st->env.busy_poll_ns); /* waiting for input: spin before sleeping */
    if (st->env.input_stall_threshold_ms > 0) {
        st->stall.interval_ms =
            st->env.input_stall_threshold_ms / 2 > 0 ? st->env.input_stall_threshold_ms / 2 : 1;
        st->stall.quiet_since_ms = te_clock_mono_ms();
        st->stall.next_check_ms = st->stall.quiet_since_ms + st->stall.interval_ms;
    }
    st->gate_waker = mailbox_processor_waker(st->mp);
    if (st->gate_waker == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    for (size_t g = 0; g < st->env.n_gates; g++)
        input_gate_set_listener(st->env.gates[g], (te_notifier_t){mailbox_waker_notify, st->gate_waker});
    st->gate_listeners_set = 1;
    for (size_t g = 0; g < st->env.n_gates; g++) {
        te_status_t rc =
            input_gate_request_partitions(st->env.gates[g], st->env.partition_request_timeout_ms, err);
        if (rc != TE_OK) {
            te_error_prefix(err, "requesting the partitions of input gate %zu", g);
            return rc;
        }
    }
    return TE_OK;
}

te_status_t one_input_stream_task_process_input(te_stream_task_t *st, te_error_t *err)
{
    te_input_status_t status;
    te_status_t rc = stream_task_network_input_emit_next(st->input, STREAM_TASK_STEP_BUDGET, &status, err);
    if (rc != TE_OK)
        return rc;
    st->stall.waiting = status == TE_INPUT_NOTHING;
    switch (status) {
    case TE_INPUT_NOTHING:
        mailbox_processor_suspend(st->mp, stream_task_network_input_pending_deadline_ms(st->input));
        return TE_OK;
    case TE_INPUT_END:
        rc = operator_chain_end_input(st->chain, 0, err);
        if (rc == TE_OK)
            mailbox_processor_all_actions_completed(st->mp);
        return rc;
    default: return TE_OK;
    }
}

/* ---- input stall detection (task thread) ---- */

static void stall_begin(te_stream_task_t *st)
{
    te_task_metrics_t *m = st->env.metrics;
    st->stall.reported = 1;
    if (m == NULL)
        return;
    task_metrics_add(&m->input_stalls, 1);
    atomic_store_explicit(&m->input_stalled_since_ms, st->stall.quiet_since_ms, memory_order_relaxed);
}

static void stall_end(te_stream_task_t *st, int64_t now_ms)
{
    input_stall_t *s = &st->stall;
    if (s->reported)
        TE_INFO(st->env.task_name, "input flows again after a stall of %lld ms",
                (long long)(now_ms - s->quiet_since_ms));
    s->reported = 0;
    s->queued_seen = 0;
    s->quiet_since_ms = now_ms;
    if (st->env.metrics)
        atomic_store_explicit(&st->env.metrics->input_stalled_since_ms, 0, memory_order_relaxed);
}

/* "1, 3, 4" (at most 8, then "..."). */
static void format_channels(const uint32_t *ch, uint32_t n, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < n && i < 8 && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%u", i ? ", " : "", ch[i]);
    if (n > 8 && at < len)
        snprintf(buf + at, len - at, ", ...");
}

/* An alignment waits for barriers while its blocked channels hold data. */
static void stall_report_alignment(te_stream_task_t *st, int64_t quiet_ms, uint32_t held)
{
    uint32_t wait[9];
    char list[96];
    uint32_t nw = barrier_aligner_waiting_channels(st->aligner, wait, 9);
    format_channels(wait, nw, list, sizeof(list));
    stall_begin(st);
    TE_WARN(st->env.task_name,
            "input stalled for %lld ms: aligning checkpoint %llu, the task waits for its barrier on input "
            "channel(s) %s (of %u) while %u blocked channel(s) hold data; nothing processed, not back-pressured",
            (long long)quiet_ms, (unsigned long long)barrier_aligner_pending(st->aligner), list,
            stream_task_network_input_num_channels(st->input), held);
}

void one_input_stream_task_check_stall(te_stream_task_t *st, int64_t now_ms)
{
    input_stall_t *s = &st->stall;
    s->next_check_ms = now_ms + s->interval_ms;
    uint64_t p = stream_task_network_input_progress(st->input);
    if (p != s->progress || !s->waiting) {
        s->progress = p;
        stall_end(st, now_ms);
        return;
    }
    int64_t quiet = now_ms - s->quiet_since_ms;
    /* An alignment waiting with data held in its blocked channels is the diagnosis
     * (whatever else sits queued meanwhile). */
    uint32_t held = st->aligner != NULL && barrier_aligner_pending(st->aligner) != 0
                        ? stream_task_network_input_num_blocked_with_data(st->input)
                        : 0;
    if (held > 0) {
        s->queued_seen = 0;
        if (quiet >= st->env.input_stall_threshold_ms && !s->reported)
            stall_report_alignment(st, quiet, held);
        return;
    }
    uint32_t queued = mailbox_processor_is_suspended(st->mp) ? stream_task_network_input_num_queued(st->input) : 0;
    if (queued > 0) {
        /* A wake-up may be in flight right now: only a second look is a lost one. */
        if (s->queued_seen && quiet >= st->env.input_stall_threshold_ms) {
            if (!s->reported) {
                stall_begin(st);
                TE_WARN(st->env.task_name,
                        "input stalled for %lld ms: %u input channel(s) have data queued but the task was not "
                        "woken (nothing processed, not back-pressured); polling them again",
                        (long long)quiet, queued);
            }
            mailbox_processor_resume(st->mp);
        }
        s->queued_seen = 1;
        return;
    }
    s->queued_seen = 0;
}

void one_input_stream_task_cleanup(te_stream_task_t *st)
{
    if (st->gate_listeners_set) {
        /* Stop the gates from waking us; the waker itself stays valid for a listener
         * call already in flight (it does nothing once the processor is gone). */
        for (size_t g = 0; g < st->env.n_gates; g++)
            input_gate_set_listener(st->env.gates[g], (te_notifier_t){NULL, NULL});
        st->gate_listeners_set = 0;
    }
    stream_task_network_input_free(st->input);
    st->input = NULL;
}

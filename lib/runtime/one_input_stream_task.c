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
 * Threading: everything on the task (mailbox) thread, except the gate listener, which
 * runs on producer / net threads and only wakes the mailbox (a refcounted waker, safe
 * after the task is gone).
 */
#include <string.h>

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

/*
 * stream_task_internal — the stream task's private state, shared by stream_task.c (the
 * lifecycle common to every task type), source_stream_task.c and
 * one_input_stream_task.c (network-input tasks: one and two inputs). Not for other
 * layers.
 *
 * Threading: see stream_task.c.
 */
#ifndef TE_STREAM_TASK_INTERNAL_H
#define TE_STREAM_TASK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "runtime/mailbox.h"
#include "runtime/mailbox_processor.h"
#include "runtime/operator_chain.h"
#include "runtime/stream_task.h"
#include "runtime/stream_task_network_input.h"

/* Records a source step / input step processes per default-action run, so mails are
 * looked at regularly. */
#define STREAM_TASK_STEP_BUDGET 256

typedef struct writer_wake writer_wake_t;

/* Input stall detection of network-input tasks (task thread only). */
typedef struct input_stall {
    int64_t next_check_ms; /* -1 = off */
    int64_t interval_ms;
    int64_t quiet_since_ms; /* no element handled since */
    uint64_t progress;      /* stream_task_network_input_progress at the last check */
    int waiting;            /* the last default action found no input */
    int queued_seen;        /* the previous check saw channels queued while the task slept */
    int reported;           /* the current stall was reported */
} input_stall_t;

struct te_stream_task {
    te_stream_task_env_t env;
    te_mailbox_t *mb;
    te_mailbox_processor_t *mp;
    te_operator_chain_t *chain;
    te_state_store_t *store;    /* the operators' keyed state (created in before_invoke) */
    int64_t state_published_ms; /* last publication of the state gauges */
    te_stream_task_network_input_t *input;
    _Atomic int cancelled;
    int invoked;
    int restore_failed; /* before_invoke could not restore the TaskRestore (task thread) */

    /* Checkpoint lock: held by the mailbox thread around every mail and by the blocking
     * source thread around every emit. */
    pthread_mutex_t checkpoint_lock;
    int blocking_source;

    /* Blocking source thread; `state_mu` guards started/joined against cancel. */
    pthread_mutex_t state_mu;
    pthread_t source_thread;
    int source_started;
    int source_joined;

    te_mailbox_waker_t *gate_waker; /* the gates' listeners hold it */
    int gate_listeners_set;
    writer_wake_t **writer_wakes; /* per writer */
    int flusher_added;

    /* checkpoints (task thread / checkpoint lock) */
    te_subtask_ckpt_t *ckpt;       /* NULL = no checkpoints */
    te_barrier_aligner_t *aligner; /* network-input tasks */
    input_stall_t stall;
};

/* Source tasks (source_stream_task.c). */
te_status_t source_stream_task_process_input(te_stream_task_t *st, te_error_t *err);
void source_stream_task_stop_thread(te_stream_task_t *st);

/* Network-input tasks (one_input_stream_task.c). */
te_status_t one_input_stream_task_init(te_stream_task_t *st, te_error_t *err);
te_status_t one_input_stream_task_process_input(te_stream_task_t *st, te_error_t *err);
void one_input_stream_task_cleanup(te_stream_task_t *st);
/* Called by the loop's timer hook once the clock reaches stall.next_check_ms. */
void one_input_stream_task_check_stall(te_stream_task_t *st, int64_t now_ms);

#endif

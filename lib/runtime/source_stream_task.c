/*
 * source_stream_task — SourceStreamTask: the head operator is a source.
 *
 * Step-wise sources (def->step) run as the mailbox default action with a budget;
 * TE_SOURCE_IDLE suspends the default action until idle_wait_ms has passed;
 * TE_SOURCE_END ends the input of the rest of the chain and completes the loop.
 *
 * Blocking sources (def->blocking_source, e.g. socket_text) run in a source thread (the
 * seed's LegacySourceFunctionThread) started by the first default action, which then
 * suspends for good: the mailbox thread only runs mails. Every emit of the source thread
 * and every mail hold the task's checkpoint lock. When `run` returns, the source thread
 * puts a "source finished" mail carrying the failure, if any; that mail ends the input
 * of the rest of the chain and completes the loop.
 *
 * Threading: process_input on the mailbox thread; the source thread only calls
 * operator_chain_source_run and mailbox_put. stop_thread (cleanUp, task thread) cancels
 * and joins it; stream_task_cancel (any thread) cancels it under state_mu.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "runtime/stream_task_internal.h"

typedef struct source_finished {
    te_stream_task_t *st;
    te_status_t code;
    char msg[TE_ERROR_MSG_MAX];
} source_finished_t;

static void source_finished_mail(void *arg)
{
    source_finished_t *sf = arg;
    te_stream_task_t *st = sf->st;
    if (sf->code != TE_OK) {
        mailbox_processor_fail(st->mp, sf->code, sf->msg);
    } else {
        te_error_t err = {0};
        te_status_t rc = operator_chain_end_input(st->chain, 1, &err);
        if (rc != TE_OK)
            mailbox_processor_fail(st->mp, rc, err.msg);
        else
            mailbox_processor_all_actions_completed(st->mp);
    }
    free(sf);
}

static void *source_thread_main(void *arg)
{
    source_finished_t *sf = arg; /* allocated by the starter, so the end is always reported */
    te_stream_task_t *st = sf->st;
    te_thread_set_name("src:", st->env.task_name);
    te_error_t err = {0};
    te_status_t rc = operator_chain_source_run(st->chain, &err);
    sf->code = rc;
    snprintf(sf->msg, sizeof(sf->msg), "%s", err.msg);
    if (mailbox_put_ex(st->mb, source_finished_mail, free, sf, TE_MAIL_PRIO_DEFAULT, "source finished") != TE_OK)
        free(sf); /* the loop is over already (cancelled) */
    return NULL;
}

static te_status_t start_source_thread(te_stream_task_t *st, te_error_t *err)
{
    source_finished_t *sf = calloc(1, sizeof(*sf));
    if (sf == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory starting the source thread");
    sf->st = st;
    pthread_mutex_lock(&st->state_mu);
    int rc = atomic_load(&st->cancelled) ? -1 : pthread_create(&st->source_thread, NULL, source_thread_main, sf);
    if (rc == 0)
        st->source_started = 1;
    pthread_mutex_unlock(&st->state_mu);
    if (rc != 0)
        free(sf);
    if (rc > 0)
        return te_error_set(err, TE_EINTERNAL, "cannot start the source thread: %s", strerror(rc));
    return TE_OK; /* cancelled: the cancel mail ends the loop */
}

void source_stream_task_stop_thread(te_stream_task_t *st)
{
    pthread_mutex_lock(&st->state_mu);
    int started = st->source_started && !st->source_joined;
    pthread_mutex_unlock(&st->state_mu);
    if (!started)
        return;
    operator_chain_source_cancel(st->chain);
    pthread_join(st->source_thread, NULL);
    pthread_mutex_lock(&st->state_mu);
    st->source_joined = 1;
    pthread_mutex_unlock(&st->state_mu);
}

te_status_t source_stream_task_process_input(te_stream_task_t *st, te_error_t *err)
{
    if (st->blocking_source) {
        if (!st->source_started) {
            te_status_t rc = start_source_thread(st, err);
            if (rc != TE_OK)
                return rc;
        }
        mailbox_processor_suspend(st->mp, -1);
        return TE_OK;
    }
    te_source_status_t status;
    uint32_t idle_wait_ms = 0;
    te_status_t rc = operator_chain_source_step(st->chain, STREAM_TASK_STEP_BUDGET, &status, &idle_wait_ms, err);
    if (rc != TE_OK)
        return rc;
    switch (status) {
    case TE_SOURCE_IDLE:
        mailbox_processor_suspend(st->mp, te_clock_mono_ms() + (idle_wait_ms ? idle_wait_ms : 1));
        return TE_OK;
    case TE_SOURCE_END:
        rc = operator_chain_end_input(st->chain, 1, err);
        if (rc == TE_OK)
            mailbox_processor_all_actions_completed(st->mp);
        return rc;
    default: return TE_OK;
    }
}

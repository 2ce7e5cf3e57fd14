/*
 * harness_fake_te — a fake TaskExecutor behind the task_manager_gateway interface and
 * a fake slot provider, for unit tests of the JobMaster (and of anything else that
 * drives TaskExecutors through gateways).
 *
 * The fake TaskExecutor queues every call; the test decides when calls are answered
 * (fake_te_deliver: in order, each with the answer its `answers` table gives — OK by
 * default, a slot number counting up for RequestSlot, the submitted tasks for
 * RequestTaskReport) and pushes task states, acknowledgements and declines itself.
 * Everything it received is recorded for assertions. The fake provider offers slot i
 * on TaskExecutor i % n at once (or holds the requests until the test offers them) and
 * releases at once; an adoption is recorded and held (the test offers its slots or
 * fails it).
 *
 * Threading: single-threaded (the test's thread); nothing runs an event loop.
 */
#ifndef HARNESS_FAKE_TE_H
#define HARNESS_FAKE_TE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobmaster/job_master.h"
#include "jobmaster/slot_provider.h"
#include "jobmaster/task_manager_gateway.h"

#define FAKE_MAX_CALLS 512

typedef enum fake_call_kind {
    FAKE_CONNECT,
    FAKE_SLOT_REPORT,
    FAKE_REGISTER,
    FAKE_REQUEST_SLOT,
    FAKE_SUBMIT,
    FAKE_CANCEL,
    FAKE_FREE_SLOT,
    FAKE_TRIGGER,
    FAKE_CONFIRM,
    FAKE_ABORT,
    FAKE_HEARTBEAT,
    FAKE_TASK_REPORT,
    FAKE_DISCONNECT,
    FAKE_N_KINDS,
} fake_call_kind_t;

typedef struct fake_call {
    fake_call_kind_t kind;
    te_id_t id;          /* execution id (submit, cancel, checkpoint calls) or allocation id */
    uint64_t ckpt;       /* checkpoint id */
    int terminate;       /* trigger: stop-with-savepoint */
    uint32_t attempt;    /* submit: the TDD's attempt number */
    int32_t slot;        /* submit: target slot number */
    te_id_t allocation;  /* submit: the TDD's allocation id */
    int has_restore;     /* submit: a TaskRestore came along */
    uint64_t restore_id; /* its checkpoint id */
    size_t n_restore_handles;
    char task_name[96];
    Te__Invokable invokable;
    te_tm_done_fn done;
    void *arg;
    int answered;
} fake_call_t;

typedef struct fake_te {
    te_tm_gateway_t base;
    char address[32];
    te_tm_listener_t listener;
    void *listener_arg;
    fake_call_t calls[FAKE_MAX_CALLS]; /* every call, in order */
    size_t n_calls, n_answered;
    Te__ErrorCode answers[FAKE_N_KINDS]; /* the code each kind is answered with (OK by default) */
    int lose_calls;                      /* answer every call with `lost` */
    int next_slot;
} fake_te_t;

static inline fake_call_t *fake_record(te_tm_gateway_t *gw, fake_call_kind_t kind, te_tm_done_fn done, void *arg)
{
    fake_te_t *f = (fake_te_t *)gw;
    ck_assert_msg(f->n_calls < FAKE_MAX_CALLS, "fake TaskExecutor %s: too many calls", f->address);
    fake_call_t *c = &f->calls[f->n_calls++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->done = done;
    c->arg = arg;
    return c;
}

static inline const char *fake_address(const te_tm_gateway_t *gw) { return ((const fake_te_t *)gw)->address; }
static inline void fake_set_listener(te_tm_gateway_t *gw, const te_tm_listener_t *l, void *arg)
{
    fake_te_t *f = (fake_te_t *)gw;
    memset(&f->listener, 0, sizeof(f->listener));
    if (l)
        f->listener = *l;
    f->listener_arg = arg;
}
static inline void fake_connect(te_tm_gateway_t *gw, te_tm_done_fn done, void *arg)
{
    fake_record(gw, FAKE_CONNECT, done, arg);
}
static inline void fake_slot_report(te_tm_gateway_t *gw, te_tm_done_fn done, void *arg)
{
    fake_record(gw, FAKE_SLOT_REPORT, done, arg);
}
static inline void fake_register(te_tm_gateway_t *gw, const te_id_t *job, const te_id_t *jm, const char *name,
                                 te_tm_done_fn done, void *arg)
{
    (void)job, (void)jm, (void)name;
    fake_record(gw, FAKE_REGISTER, done, arg);
}
static inline void fake_request_slot(te_tm_gateway_t *gw, const te_id_t *job, const te_id_t *jm,
                                     const te_id_t *alloc, int32_t slot, te_tm_done_fn done, void *arg)
{
    (void)job, (void)jm, (void)slot;
    fake_record(gw, FAKE_REQUEST_SLOT, done, arg)->id = *alloc;
}
static inline void fake_submit(te_tm_gateway_t *gw, const te_id_t *jm, const Te__TaskDeploymentDescriptor *tdd,
                               te_tm_done_fn done, void *arg)
{
    (void)jm;
    fake_call_t *c = fake_record(gw, FAKE_SUBMIT, done, arg);
    ck_assert_int_eq(te_id_from_bytes(tdd->execution_attempt_id.data, tdd->execution_attempt_id.len, &c->id), 0);
    ck_assert_int_eq(te_id_from_bytes(tdd->allocation_id.data, tdd->allocation_id.len, &c->allocation), 0);
    c->attempt = tdd->attempt_number;
    c->slot = tdd->target_slot_number;
    c->invokable = tdd->task_information->invokable;
    snprintf(c->task_name, sizeof(c->task_name), "%s", tdd->task_information->task_name);
    if (tdd->task_restore != NULL) {
        c->has_restore = 1;
        c->restore_id = tdd->task_restore->checkpoint_id;
        c->n_restore_handles = tdd->task_restore->n_handles;
    }
}
static inline void fake_cancel(te_tm_gateway_t *gw, const te_id_t *exec, te_tm_done_fn done, void *arg)
{
    fake_record(gw, FAKE_CANCEL, done, arg)->id = *exec;
}
static inline void fake_free_slot(te_tm_gateway_t *gw, const te_id_t *alloc, const char *cause, te_tm_done_fn done,
                                  void *arg)
{
    (void)cause;
    fake_record(gw, FAKE_FREE_SLOT, done, arg)->id = *alloc;
}
static inline void fake_ckpt(te_tm_gateway_t *gw, fake_call_kind_t kind, const te_id_t *exec, uint64_t id,
                             te_tm_done_fn done, void *arg)
{
    fake_call_t *c = fake_record(gw, kind, done, arg);
    c->id = *exec;
    c->ckpt = id;
}
static inline void fake_trigger(te_tm_gateway_t *gw, const te_id_t *exec, uint64_t id, int64_t ts, int terminate,
                                te_tm_done_fn done, void *arg)
{
    (void)ts;
    fake_ckpt(gw, FAKE_TRIGGER, exec, id, done, arg);
    ((fake_te_t *)gw)->calls[((fake_te_t *)gw)->n_calls - 1].terminate = terminate;
}
static inline void fake_confirm(te_tm_gateway_t *gw, const te_id_t *exec, uint64_t id, te_tm_done_fn done,
                                void *arg)
{
    fake_ckpt(gw, FAKE_CONFIRM, exec, id, done, arg);
}
static inline void fake_abort(te_tm_gateway_t *gw, const te_id_t *exec, uint64_t id, te_tm_done_fn done, void *arg)
{
    fake_ckpt(gw, FAKE_ABORT, exec, id, done, arg);
}
static inline void fake_heartbeat(te_tm_gateway_t *gw, const te_id_t *job, te_tm_done_fn done, void *arg)
{
    (void)job;
    fake_record(gw, FAKE_HEARTBEAT, done, arg);
}
static inline void fake_task_report(te_tm_gateway_t *gw, const te_id_t *job, te_tm_done_fn done, void *arg)
{
    (void)job;
    fake_record(gw, FAKE_TASK_REPORT, done, arg);
}
static inline void fake_disconnect(te_tm_gateway_t *gw, const te_id_t *job, const char *cause, te_tm_done_fn done,
                                   void *arg)
{
    (void)job, (void)cause;
    fake_record(gw, FAKE_DISCONNECT, done, arg);
}
static inline void fake_free(te_tm_gateway_t *gw) { (void)gw; }

static const te_tm_gateway_ops_t fake_te_ops = {
    fake_address,   fake_set_listener, fake_connect,    fake_slot_report, fake_register, fake_request_slot,
    fake_submit,    fake_cancel,       fake_free_slot,  fake_trigger,     fake_confirm,  fake_abort,
    fake_heartbeat, fake_task_report,  fake_disconnect, fake_free,
};

static inline void fake_te_init(fake_te_t *f, const char *address)
{
    memset(f, 0, sizeof(*f));
    f->base.ops = &fake_te_ops;
    snprintf(f->address, sizeof(f->address), "%s", address);
}

/* Answers the calls not answered yet, in order (answers may issue new calls: those
 * are answered too). Returns how many were answered. */
static inline size_t fake_te_deliver(fake_te_t *f)
{
    size_t n = 0;
    while (f->n_answered < f->n_calls) {
        fake_call_t *c = &f->calls[f->n_answered++];
        Te__Response resp = TE__RESPONSE__INIT;
        Te__TaskReport rep = TE__TASK_REPORT__INIT;
        Te__ErrorCode code = f->answers[c->kind];
        char msg[64];
        snprintf(msg, sizeof(msg), "%s", code == TE__ERROR_CODE__OK ? "" : "FAKE_ERROR: refused by the fake");
        resp.code = code;
        if (c->kind == FAKE_REQUEST_SLOT)
            resp.slot_index = f->next_slot++;
        if (c->kind == FAKE_TASK_REPORT)
            resp.task_report = &rep;
        te_tm_result_t r = {code, f->lose_calls, f->lose_calls ? "lost by the fake" : msg,
                            f->lose_calls ? NULL : &resp};
        if (f->lose_calls)
            r.code = TE__ERROR_CODE__OK;
        c->answered = 1;
        n++;
        if (c->done)
            c->done(c->arg, &f->base, &r);
    }
    return n;
}

/* Delivers every fake until none has a call left. */
static inline void fake_te_deliver_all(fake_te_t **fs, size_t n)
{
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < n; i++)
            again |= fake_te_deliver(fs[i]) > 0;
    }
}

static inline size_t fake_te_count(const fake_te_t *f, fake_call_kind_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_calls; i++)
        n += f->calls[i].kind == kind;
    return n;
}

/* The k-th call of `kind` (0-based), or NULL. */
static inline const fake_call_t *fake_te_call(const fake_te_t *f, fake_call_kind_t kind, size_t k)
{
    for (size_t i = 0; i < f->n_calls; i++)
        if (f->calls[i].kind == kind && k-- == 0)
            return &f->calls[i];
    return NULL;
}

static inline void fake_te_push_state_ex(fake_te_t *f, const te_id_t *exec, Te__ExecutionState st,
                                         const char *cause, int restore_failed)
{
    Te__TaskExecutionState tes = TE__TASK_EXECUTION_STATE__INIT;
    tes.restore_failed = restore_failed;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    tes.execution_attempt_id.data = (uint8_t *)exec->b;
    tes.execution_attempt_id.len = TE_ID_LEN;
    tes.state = st;
    tes.cause = (char *)(cause ? cause : "");
    m.body_case = TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE;
    m.task_execution_state = &tes;
    if (f->listener.on_push)
        f->listener.on_push(f->listener_arg, &f->base, &m);
}

static inline void fake_te_push_state(fake_te_t *f, const te_id_t *exec, Te__ExecutionState st, const char *cause)
{
    fake_te_push_state_ex(f, exec, st, cause, 0);
}

/* Pushes `st` for every task submitted to f in attempt `attempt`. */
static inline void fake_te_push_all(fake_te_t *f, uint32_t attempt, Te__ExecutionState st)
{
    for (size_t i = 0; i < f->n_calls; i++)
        if (f->calls[i].kind == FAKE_SUBMIT && f->calls[i].attempt == attempt)
            fake_te_push_state(f, &f->calls[i].id, st, NULL);
}

static inline void fake_te_ack(fake_te_t *f, const te_id_t *exec, uint64_t ckpt, const char *path)
{
    Te__AcknowledgeCheckpoint ack = TE__ACKNOWLEDGE_CHECKPOINT__INIT;
    Te__StateHandle h = TE__STATE_HANDLE__INIT, *hs[1] = {&h};
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    ack.execution_attempt_id.data = (uint8_t *)exec->b;
    ack.execution_attempt_id.len = TE_ID_LEN;
    ack.checkpoint_id = ckpt;
    h.path = (char *)path;
    h.size = 10;
    h.parallelism = 1;
    ack.handles = hs;
    ack.n_handles = 1;
    ack.state_size = 10;
    m.body_case = TE__RPC_MESSAGE__BODY_ACKNOWLEDGE_CHECKPOINT;
    m.acknowledge_checkpoint = &ack;
    if (f->listener.on_push)
        f->listener.on_push(f->listener_arg, &f->base, &m);
}

static inline void fake_te_decline(fake_te_t *f, const te_id_t *exec, uint64_t ckpt, const char *cause)
{
    Te__DeclineCheckpoint d = TE__DECLINE_CHECKPOINT__INIT;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    d.execution_attempt_id.data = (uint8_t *)exec->b;
    d.execution_attempt_id.len = TE_ID_LEN;
    d.checkpoint_id = ckpt;
    d.cause = (char *)cause;
    m.body_case = TE__RPC_MESSAGE__BODY_DECLINE_CHECKPOINT;
    m.decline_checkpoint = &d;
    if (f->listener.on_push)
        f->listener.on_push(f->listener_arg, &f->base, &m);
}

static inline void fake_te_lose(fake_te_t *f, const char *cause)
{
    f->lose_calls = 1;
    if (f->listener.on_lost)
        f->listener.on_lost(f->listener_arg, &f->base, cause);
}

/* ---- the fake slot provider ---------------------------------------------------------- */

typedef struct fake_provider {
    fake_te_t **tes;
    size_t n_tes;
    te_job_master_t *jm;
    int hold;        /* keep requests until fake_provider_offer */
    int unavailable; /* answer the next request with job_master_slots_unavailable */
    te_slot_request_t reqs[64];
    size_t n_reqs;
    int n_requests, n_releases;
    uint32_t last_attempt;
    /* adopt: recorded and held (the test offers the slots or fails the adoption) */
    int n_adopts;
    te_id_t adopt_execs[64];
    size_t n_adopt_execs;
} fake_provider_t;

static inline void fake_provider_push(void *arg, te_tm_gateway_t *gw, const Te__RpcMessage *push)
{
    fake_provider_t *p = arg;
    job_master_on_push(p->jm, gw, push);
}

static inline void fake_provider_lost(void *arg, te_tm_gateway_t *gw, const char *cause)
{
    fake_provider_t *p = arg;
    job_master_on_gateway_lost(p->jm, gw, cause);
}

static const te_tm_listener_t fake_provider_listener = {fake_provider_push, fake_provider_lost};

/* Offers request k on TaskExecutor k % n with slot number 10 + k. */
static inline void fake_provider_offer(fake_provider_t *p, size_t k)
{
    fake_te_t *f = p->tes[k % p->n_tes];
    char data[48];
    snprintf(data, sizeof(data), "%s-data", f->address);
    job_master_offer_slot(p->jm, p->reqs[k].index, &f->base, (int32_t)(10 + k), data);
}

static inline void fake_provider_request(void *self, te_job_master_t *jm, uint32_t attempt,
                                         const te_slot_request_t *reqs, size_t n)
{
    fake_provider_t *p = self;
    ck_assert_uint_le(n, 64);
    p->jm = jm;
    p->n_requests++;
    p->last_attempt = attempt;
    memcpy(p->reqs, reqs, n * sizeof(*reqs));
    p->n_reqs = n;
    for (size_t i = 0; i < p->n_tes; i++)
        tm_gateway_set_listener(&p->tes[i]->base, &fake_provider_listener, p);
    if (p->unavailable) {
        p->unavailable = 0;
        job_master_slots_unavailable(jm, 0, "the fake has no slots");
        return;
    }
    for (size_t k = 0; k < n && !p->hold; k++)
        fake_provider_offer(p, k);
}

static inline void fake_provider_release(void *self, te_job_master_t *jm, const char *cause)
{
    fake_provider_t *p = self;
    (void)cause;
    p->n_releases++;
    job_master_slots_released(jm);
}

static inline void fake_provider_adopt(void *self, te_job_master_t *jm, uint32_t attempt,
                                       const te_slot_request_t *reqs, size_t n, const te_id_t *execs,
                                       size_t n_tasks, int64_t deadline_ms)
{
    fake_provider_t *p = self;
    (void)deadline_ms;
    ck_assert_uint_le(n, 64);
    ck_assert_uint_le(n_tasks, 64);
    p->jm = jm;
    p->n_adopts++;
    p->last_attempt = attempt;
    memcpy(p->reqs, reqs, n * sizeof(*reqs));
    p->n_reqs = n;
    memcpy(p->adopt_execs, execs, n_tasks * sizeof(*execs));
    p->n_adopt_execs = n_tasks;
    for (size_t i = 0; i < p->n_tes; i++)
        tm_gateway_set_listener(&p->tes[i]->base, &fake_provider_listener, p);
}

static const te_slot_provider_ops_t fake_provider_ops = {fake_provider_request, fake_provider_release,
                                                         fake_provider_adopt};

#endif

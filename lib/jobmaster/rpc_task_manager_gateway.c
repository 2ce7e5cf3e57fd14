/*
 * rpc_task_manager_gateway — task_manager_gateway operations as RPC calls on an
 * rpc_channel (see rpc_task_manager_gateway.h).
 *
 * Every operation gets an op record on the gateway's list until it completes: from
 * the channel's reply callback, from the deferred-completion event (an operation that
 * could not be sent — no connection, encoding failure — still completes later, as
 * the gateway contract wants), or from rpc_tm_gateway free (with `lost`).
 *
 * Threading: the thread running the event_base; no locks.
 */
#include "jobmaster/rpc_task_manager_gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "rpc/rpc_channel.h"

#define CTX "tm-gateway"

typedef struct gw_op gw_op_t;
typedef struct rpc_gw rpc_gw_t;

struct gw_op {
    rpc_gw_t *gw;
    te_tm_done_fn done;
    void *arg;
    int deferred; /* on the ready list with its result below */
    Te__ErrorCode code;
    int lost;
    char message[TE_ERROR_MSG_MAX];
    gw_op_t *prev, *next;
};

struct rpc_gw {
    te_tm_gateway_t base_; /* first: the gateway header */
    struct event_base *base;
    const struct te_security *sec;
    char *address;
    int connect_timeout_ms, call_timeout_ms;
    te_rpc_channel_t *ch;
    int lost; /* the connection failed (or never came): later operations fail at once */
    char lost_cause[TE_ERROR_MSG_MAX];
    gw_op_t *ops; /* operations in flight */
    struct event *defer_ev;
    te_tm_listener_t listener;
    void *listener_arg;
    gw_op_t *connect_op;
    int dispatching; /* on_deferred is running: gw_free leaves the memory to it */
    int freed;
    uint64_t epoch; /* put on every call (RpcMessage.epoch) */
    int cluster;    /* RegisterJobManager retains tasks on disconnect; RequestSlot asks for an offer */
};

static const char *error_code_name(Te__ErrorCode code)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__error_code__descriptor, (int)code);
    return v ? v->name : "UNKNOWN_ERROR";
}

static gw_op_t *op_new(rpc_gw_t *g, te_tm_done_fn done, void *arg)
{
    gw_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->gw = g;
    op->done = done;
    op->arg = arg;
    op->next = g->ops;
    if (g->ops)
        g->ops->prev = op;
    g->ops = op;
    return op;
}

static void op_unlink(gw_op_t *op)
{
    rpc_gw_t *g = op->gw;
    if (op->prev)
        op->prev->next = op->next;
    else
        g->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
}

/* Runs the completion and frees the op (already unlinked; message may be its own). */
static void op_finish(gw_op_t *op, Te__ErrorCode code, int lost, const char *message, const Te__Response *resp)
{
    te_tm_result_t r = {code, lost, message ? message : "", resp};
    if (op->done)
        op->done(op->arg, &op->gw->base_, &r);
    free(op);
}

/* Completes op later from the event loop. */
static void op_defer(gw_op_t *op, Te__ErrorCode code, int lost, const char *message)
{
    op->deferred = 1;
    op->code = code;
    op->lost = lost;
    snprintf(op->message, sizeof(op->message), "%s", message ? message : "");
    event_active(op->gw->defer_ev, EV_TIMEOUT, 0);
}

static void gw_destroy(rpc_gw_t *g)
{
    event_free(g->defer_ev);
    free(g->address);
    free(g);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
    rpc_gw_t *g = arg;
    (void)fd;
    (void)what;
    g->dispatching = 1;
    while (!g->freed) {
        gw_op_t *op = g->ops;
        while (op != NULL && !op->deferred)
            op = op->next;
        if (op == NULL)
            break;
        op_unlink(op);
        op_finish(op, op->code, op->lost, op->message, NULL);
    }
    g->dispatching = 0;
    if (g->freed)
        gw_destroy(g);
}

/* ---- the channel ------------------------------------------------------------------ */

static void on_reply(void *arg, const Te__RpcMessage *reply, const te_error_t *err)
{
    gw_op_t *op = arg;
    op_unlink(op);
    if (reply == NULL) {
        op_finish(op, TE__ERROR_CODE__OK, 1, err ? err->msg : "no reply", NULL);
        return;
    }
    if (reply->body_case != TE__RPC_MESSAGE__BODY_RESPONSE || reply->response == NULL) {
        char msg[TE_ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s: the reply is not a Response", op->gw->address);
        op_finish(op, TE__ERROR_CODE__OK, 1, msg, NULL);
        return;
    }
    const Te__Response *r = reply->response;
    if (r->code != TE__ERROR_CODE__OK) {
        char msg[TE_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "%s: %s", error_code_name(r->code), r->message ? r->message : "");
        op_finish(op, r->code, 0, msg, r);
        return;
    }
    op_finish(op, TE__ERROR_CODE__OK, 0, "", r);
}

static void on_push(void *arg, te_rpc_channel_t *ch, const Te__RpcMessage *push)
{
    rpc_gw_t *g = arg;
    (void)ch;
    if (g->listener.on_push)
        g->listener.on_push(g->listener_arg, &g->base_, push);
}

static void on_closed(void *arg, te_rpc_channel_t *ch, const te_error_t *err)
{
    rpc_gw_t *g = arg;
    (void)ch;
    g->lost = 1;
    snprintf(g->lost_cause, sizeof(g->lost_cause), "%s", err ? err->msg : "connection closed");
    if (g->listener.on_lost)
        g->listener.on_lost(g->listener_arg, &g->base_, g->lost_cause);
}

static void on_connected(void *arg, te_rpc_channel_t *ch, const te_error_t *err)
{
    rpc_gw_t *g = arg;
    (void)ch;
    gw_op_t *op = g->connect_op;
    g->connect_op = NULL;
    if (err != NULL) {
        g->lost = 1;
        snprintf(g->lost_cause, sizeof(g->lost_cause), "%s", err->msg);
    }
    if (op != NULL) {
        op_unlink(op);
        op_finish(op, TE__ERROR_CODE__OK, err != NULL, err ? err->msg : "", NULL);
    }
}

/* Sends msg as op's call; a failure completes op later. */
static void gw_call(rpc_gw_t *g, Te__RpcMessage *msg, te_tm_done_fn done, void *arg)
{
    gw_op_t *op = op_new(g, done, arg);
    te_error_t err = {0};
    if (op == NULL) {
        TE_ERROR(CTX, "%s: out of memory for a call: its completion is lost", g->address);
        return;
    }
    if (g->lost || g->ch == NULL) {
        op_defer(op, TE__ERROR_CODE__OK, 1, g->lost ? g->lost_cause : "not connected");
        return;
    }
    msg->epoch = g->epoch;
    if (rpc_channel_call(g->ch, msg, g->call_timeout_ms, on_reply, op, &err) != TE_OK)
        op_defer(op, TE__ERROR_CODE__OK, 1, err.msg);
}

/* ---- operations --------------------------------------------------------------------- */

#define GW(gw) ((rpc_gw_t *)(gw))

static ProtobufCBinaryData id_bin(const te_id_t *id)
{
    ProtobufCBinaryData b = {TE_ID_LEN, (uint8_t *)id->b};
    return b;
}

static const char *gw_address(const te_tm_gateway_t *gw) { return ((const rpc_gw_t *)gw)->address; }

static void gw_set_listener(te_tm_gateway_t *gw, const te_tm_listener_t *l, void *arg)
{
    rpc_gw_t *g = GW(gw);
    memset(&g->listener, 0, sizeof(g->listener));
    if (l != NULL)
        g->listener = *l;
    g->listener_arg = arg;
}

static void gw_connect(te_tm_gateway_t *gw, te_tm_done_fn done, void *arg)
{
    rpc_gw_t *g = GW(gw);
    gw_op_t *op = op_new(g, done, arg);
    te_error_t err = {0};
    if (op == NULL)
        return;
    if (g->ch != NULL || g->connect_op != NULL) {
        op_defer(op, TE__ERROR_CODE__OK, g->lost, g->lost ? g->lost_cause : "");
        return;
    }
    static const te_rpc_channel_cbs_t cbs = {on_connected, on_push, on_closed};
    g->ch = rpc_channel_connect(g->base, g->address, g->connect_timeout_ms, g->sec, &cbs, g, &err);
    if (g->ch == NULL) {
        g->lost = 1;
        snprintf(g->lost_cause, sizeof(g->lost_cause), "%s", err.msg);
        op_defer(op, TE__ERROR_CODE__OK, 1, err.msg);
        return;
    }
    g->connect_op = op;
}

static void gw_request_slot_report(te_tm_gateway_t *gw, te_tm_done_fn done, void *arg)
{
    Te__RequestSlotReport req = TE__REQUEST_SLOT_REPORT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    msg.body_case = TE__RPC_MESSAGE__BODY_REQUEST_SLOT_REPORT;
    msg.request_slot_report = &req;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_register_job_manager(te_tm_gateway_t *gw, const te_id_t *job_id, const te_id_t *jm_id,
                                    const char *job_name, te_tm_done_fn done, void *arg)
{
    Te__RegisterJobManager rj = TE__REGISTER_JOB_MANAGER__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    rj.job_id = id_bin(job_id);
    rj.job_master_id = id_bin(jm_id);
    rj.job_name = (char *)job_name;
    rj.retain_tasks_on_disconnect = GW(gw)->cluster;
    msg.body_case = TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER;
    msg.register_job_manager = &rj;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_request_slot(te_tm_gateway_t *gw, const te_id_t *job_id, const te_id_t *jm_id,
                            const te_id_t *allocation_id, int32_t slot_index, te_tm_done_fn done, void *arg)
{
    Te__RequestSlot rs = TE__REQUEST_SLOT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    rs.job_id = id_bin(job_id);
    rs.job_master_id = id_bin(jm_id);
    rs.allocation_id = id_bin(allocation_id);
    rs.slot_index = slot_index;
    rs.offer = GW(gw)->cluster;
    msg.body_case = TE__RPC_MESSAGE__BODY_REQUEST_SLOT;
    msg.request_slot = &rs;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_submit_task(te_tm_gateway_t *gw, const te_id_t *jm_id, const Te__TaskDeploymentDescriptor *tdd,
                           te_tm_done_fn done, void *arg)
{
    Te__SubmitTask st = TE__SUBMIT_TASK__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    st.job_master_id = id_bin(jm_id);
    st.tdd = (Te__TaskDeploymentDescriptor *)tdd; /* packing does not modify it */
    msg.body_case = TE__RPC_MESSAGE__BODY_SUBMIT_TASK;
    msg.submit_task = &st;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_cancel_task(te_tm_gateway_t *gw, const te_id_t *exec, te_tm_done_fn done, void *arg)
{
    Te__CancelTask req = TE__CANCEL_TASK__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    req.execution_attempt_id = id_bin(exec);
    msg.body_case = TE__RPC_MESSAGE__BODY_CANCEL_TASK;
    msg.cancel_task = &req;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_free_slot(te_tm_gateway_t *gw, const te_id_t *alloc, const char *cause, te_tm_done_fn done,
                         void *arg)
{
    Te__FreeSlot fs = TE__FREE_SLOT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    fs.allocation_id = id_bin(alloc);
    fs.cause = (char *)(cause ? cause : "");
    msg.body_case = TE__RPC_MESSAGE__BODY_FREE_SLOT;
    msg.free_slot = &fs;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_trigger_checkpoint(te_tm_gateway_t *gw, const te_id_t *exec, uint64_t id, int64_t timestamp_ms,
                                  int terminate, te_tm_done_fn done, void *arg)
{
    Te__TriggerCheckpoint tc = TE__TRIGGER_CHECKPOINT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    tc.execution_attempt_id = id_bin(exec);
    tc.checkpoint_id = id;
    tc.timestamp = (uint64_t)timestamp_ms;
    tc.terminate = terminate;
    msg.body_case = TE__RPC_MESSAGE__BODY_TRIGGER_CHECKPOINT;
    msg.trigger_checkpoint = &tc;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_confirm_checkpoint(te_tm_gateway_t *gw, const te_id_t *exec, uint64_t id, te_tm_done_fn done,
                                  void *arg)
{
    Te__ConfirmCheckpoint cc = TE__CONFIRM_CHECKPOINT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    cc.execution_attempt_id = id_bin(exec);
    cc.checkpoint_id = id;
    msg.body_case = TE__RPC_MESSAGE__BODY_CONFIRM_CHECKPOINT;
    msg.confirm_checkpoint = &cc;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_abort_checkpoint(te_tm_gateway_t *gw, const te_id_t *exec, uint64_t id, te_tm_done_fn done,
                                void *arg)
{
    Te__AbortCheckpoint ac = TE__ABORT_CHECKPOINT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    ac.execution_attempt_id = id_bin(exec);
    ac.checkpoint_id = id;
    msg.body_case = TE__RPC_MESSAGE__BODY_ABORT_CHECKPOINT;
    msg.abort_checkpoint = &ac;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_heartbeat(te_tm_gateway_t *gw, const te_id_t *job_id, te_tm_done_fn done, void *arg)
{
    Te__Heartbeat hb = TE__HEARTBEAT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    hb.job_id = id_bin(job_id);
    msg.body_case = TE__RPC_MESSAGE__BODY_HEARTBEAT;
    msg.heartbeat = &hb;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_request_task_report(te_tm_gateway_t *gw, const te_id_t *job_id, te_tm_done_fn done, void *arg)
{
    Te__RequestTaskReport req = TE__REQUEST_TASK_REPORT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    if (job_id != NULL)
        req.job_id = id_bin(job_id);
    msg.body_case = TE__RPC_MESSAGE__BODY_REQUEST_TASK_REPORT;
    msg.request_task_report = &req;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_disconnect_job_manager(te_tm_gateway_t *gw, const te_id_t *job_id, const char *cause,
                                      te_tm_done_fn done, void *arg)
{
    Te__DisconnectJobManager dj = TE__DISCONNECT_JOB_MANAGER__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    dj.job_id = id_bin(job_id);
    dj.cause = (char *)(cause ? cause : "");
    msg.body_case = TE__RPC_MESSAGE__BODY_DISCONNECT_JOB_MANAGER;
    msg.disconnect_job_manager = &dj;
    gw_call(GW(gw), &msg, done, arg);
}

static void gw_free(te_tm_gateway_t *gw)
{
    rpc_gw_t *g = GW(gw);
    if (g->freed)
        return;
    g->freed = 1;
    rpc_channel_free(g->ch); /* drops its pending calls: they complete below */
    g->ch = NULL;
    g->lost = 1;
    snprintf(g->lost_cause, sizeof(g->lost_cause), "the connection to %s was closed", g->address);
    memset(&g->listener, 0, sizeof(g->listener));
    g->connect_op = NULL;
    while (g->ops != NULL) { /* operations issued by these completions land here too */
        gw_op_t *op = g->ops;
        op_unlink(op);
        op_finish(op, TE__ERROR_CODE__OK, 1, g->lost_cause, NULL);
    }
    if (!g->dispatching)
        gw_destroy(g);
}

static const te_tm_gateway_ops_t rpc_gw_ops = {
    .address = gw_address,
    .set_listener = gw_set_listener,
    .connect = gw_connect,
    .request_slot_report = gw_request_slot_report,
    .register_job_manager = gw_register_job_manager,
    .request_slot = gw_request_slot,
    .submit_task = gw_submit_task,
    .cancel_task = gw_cancel_task,
    .free_slot = gw_free_slot,
    .trigger_checkpoint = gw_trigger_checkpoint,
    .confirm_checkpoint = gw_confirm_checkpoint,
    .abort_checkpoint = gw_abort_checkpoint,
    .heartbeat = gw_heartbeat,
    .request_task_report = gw_request_task_report,
    .disconnect_job_manager = gw_disconnect_job_manager,
    .free = gw_free,
};

void rpc_tm_gateway_set_epoch(te_tm_gateway_t *gw, uint64_t epoch) { GW(gw)->epoch = epoch; }

void rpc_tm_gateway_abort(te_tm_gateway_t *gw, const char *cause)
{
    rpc_gw_t *g = GW(gw);
    if (g->freed)
        return;
    rpc_channel_free(g->ch); /* drops its pending calls: their ops are ours to complete */
    g->ch = NULL;
    g->connect_op = NULL;
    if (!g->lost)
        snprintf(g->lost_cause, sizeof(g->lost_cause), "%s", cause ? cause : "the connection was abandoned");
    g->lost = 1;
    for (gw_op_t *op = g->ops; op != NULL; op = op->next)
        if (!op->deferred)
            op_defer(op, TE__ERROR_CODE__OK, 1, g->lost_cause);
}
void rpc_tm_gateway_set_cluster_mode(te_tm_gateway_t *gw, int on) { GW(gw)->cluster = on; }

int rpc_tm_gateway_is_open(const te_tm_gateway_t *gw)
{
    const rpc_gw_t *g = (const rpc_gw_t *)gw;
    return !g->lost && g->ch != NULL && g->connect_op == NULL && rpc_channel_is_open(g->ch);
}

te_tm_gateway_t *rpc_tm_gateway_new(struct event_base *base, const char *address, const struct te_security *sec,
                                    int connect_timeout_ms, int call_timeout_ms, te_error_t *err)
{
    rpc_gw_t *g = calloc(1, sizeof(*g));
    if (g == NULL || (g->address = strdup(address)) == NULL ||
        (g->defer_ev = event_new(base, -1, 0, on_deferred, g)) == NULL) {
        if (g != NULL)
            free(g->address);
        free(g);
        te_error_set(err, TE_ENOMEM, "out of memory for the gateway to %s", address);
        return NULL;
    }
    g->base_.ops = &rpc_gw_ops;
    g->base = base;
    g->sec = sec;
    g->connect_timeout_ms = connect_timeout_ms;
    g->call_timeout_ms = call_timeout_ms;
    return &g->base_;
}

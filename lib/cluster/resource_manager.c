/*
 * resource_manager — the TaskExecutor side of the ResourceManager (see
 * resource_manager.h): the RPC port TaskExecutors register on, their records (slot
 * view, heartbeat, registration connection), the gateway dialed back to each, loss
 * detection, leftover slots, the reaper that frees lost executors once no job refers
 * to them, and the JSON views. Slot requests of JobMasters are
 * resource_manager_slots.c.
 *
 * Threading: the event-loop thread only; no locks.
 */
#include "cluster/resource_manager_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/util.h>

#include "common/clock.h"
#include "common/log.h"
#include "jobmaster/rpc_task_manager_gateway.h"

#define CTX                "resource-manager"
#define TICK_MS            100
#define GW_CONNECT_TIMEOUT 5000
#define GW_CALL_TIMEOUT    10000
#define GW_RETRY_MS        1000
#define LEFTOVER_POLL_MS   100

int64_t rm_now(void) { return te_clock_mono_ms(); }

rm_executor_t *rm_find_executor(te_resource_manager_t *rm, const char *resource_id)
{
    for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next)
        if (strcmp(ex->resource_id, resource_id) == 0)
            return ex;
    return NULL;
}

int rm_executor_usable(const rm_executor_t *ex)
{
    return !ex->lost && ex->conn_id != 0 && ex->gw_state == RM_GW_OPEN;
}

size_t rm_executor_free_slots(const rm_executor_t *ex)
{
    size_t n = 0;
    for (size_t i = 0; i < ex->n_slots; i++)
        n += ex->slots[i].state == TE__SLOT_STATE__SLOT_FREE;
    return n;
}

rm_job_t *rm_find_job_by_id(te_resource_manager_t *rm, const te_id_t *job_id)
{
    for (rm_job_t *j = rm->jobs; j != NULL; j = j->next)
        if (te_id_equal(&j->job_id, job_id))
            return j;
    return NULL;
}

void rm_executor_refresh(te_resource_manager_t *rm, rm_executor_t *ex, int64_t delay_ms)
{
    (void)rm;
    int64_t at = rm_now() + delay_ms;
    if (ex->report_at < 0 || at < ex->report_at)
        ex->report_at = at;
}

/* ---- the executors' gateways -------------------------------------------------------- */

static void executor_lost(te_resource_manager_t *rm, rm_executor_t *ex, const char *cause);

static int push_job_id(const Te__RpcMessage *push, te_id_t *job)
{
    const ProtobufCBinaryData *b = NULL;
    if (push->body_case == TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE && push->task_execution_state)
        b = &push->task_execution_state->job_id;
    else if (push->body_case == TE__RPC_MESSAGE__BODY_ACKNOWLEDGE_CHECKPOINT && push->acknowledge_checkpoint)
        b = &push->acknowledge_checkpoint->job_id;
    else if (push->body_case == TE__RPC_MESSAGE__BODY_DECLINE_CHECKPOINT && push->decline_checkpoint)
        b = &push->decline_checkpoint->job_id;
    return b != NULL && te_id_from_bytes(b->data, b->len, job) == 0 ? 0 : -1;
}

typedef struct gw_ctx {
    te_resource_manager_t *rm;
    rm_executor_t *ex;
} gw_ctx_t;

static gw_ctx_t *ctx_new(te_resource_manager_t *rm, rm_executor_t *ex)
{
    gw_ctx_t *c = malloc(sizeof(*c));
    if (c != NULL)
        *c = (gw_ctx_t){rm, ex};
    return c;
}

static void on_push(void *arg, te_tm_gateway_t *gw, const Te__RpcMessage *push)
{
    gw_ctx_t *c = arg;
    te_id_t job;
    rm_job_t *j = push_job_id(push, &job) == 0 ? rm_find_job_by_id(c->rm, &job) : NULL;
    if (j != NULL && j->jm != NULL)
        job_master_on_push(j->jm, gw, push);
    else
        TE_DEBUG(CTX, "%s: push for job %s, which has no JobMaster here, ignored", c->ex->resource_id,
                 te_id_str(&job));
}

static void on_gw_lost(void *arg, te_tm_gateway_t *gw, const char *cause)
{
    gw_ctx_t *c = arg;
    (void)gw;
    char why[TE_ERROR_MSG_MAX + 64];
    snprintf(why, sizeof(why), "its RPC connection closed: %s", cause);
    executor_lost(c->rm, c->ex, why);
}

static const te_tm_listener_t gw_listener = {on_push, on_gw_lost};

static void on_gw_connected(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    gw_ctx_t *c = arg;
    rm_executor_t *ex = c->ex;
    te_resource_manager_t *rm = c->rm;
    free(c);
    if (ex->gw != gw || ex->lost)
        return; /* replaced or gone meanwhile */
    if (r->lost) {
        ex->gw_state = RM_GW_FAILED;
        ex->gw_retry_at = rm_now() + GW_RETRY_MS;
        snprintf(ex->gw_error, sizeof(ex->gw_error), "%s", r->message);
        TE_WARN(CTX, "cannot reach TaskExecutor %s at its RPC address %s: %s (retrying)", ex->resource_id,
                ex->rpc_address, r->message);
        return;
    }
    ex->gw_state = RM_GW_OPEN;
    ex->gw_error[0] = '\0';
    TE_INFO(CTX, "TaskExecutor %s is reachable at %s (%zu slots, %zu free)", ex->resource_id, ex->rpc_address,
            ex->n_slots, rm_executor_free_slots(ex));
    rm_executor_refresh(rm, ex, 0); /* leftovers seen at registration are freed now */
    rm_schedule(rm);
}

static void gw_open(te_resource_manager_t *rm, rm_executor_t *ex)
{
    te_error_t err = {0};
    gw_ctx_t *lc = ctx_new(rm, ex), *cc = ctx_new(rm, ex);
    ex->gw = lc && cc ? rpc_tm_gateway_new(rm->cfg.base, ex->rpc_address, rm->cfg.sec, GW_CONNECT_TIMEOUT,
                                           GW_CALL_TIMEOUT, &err)
                      : NULL;
    if (ex->gw == NULL) {
        free(lc);
        free(cc);
        ex->gw_state = RM_GW_FAILED;
        ex->gw_retry_at = rm_now() + GW_RETRY_MS;
        snprintf(ex->gw_error, sizeof(ex->gw_error), "%s", err.msg[0] ? err.msg : "out of memory");
        return;
    }
    rpc_tm_gateway_set_epoch(ex->gw, rm->cfg.epoch);
    rpc_tm_gateway_set_cluster_mode(ex->gw, 1);
    ex->gw_listener_ctx = lc;
    tm_gateway_set_listener(ex->gw, &gw_listener, lc);
    ex->gw_state = RM_GW_CONNECTING;
    tm_gateway_connect(ex->gw, on_gw_connected, cc);
}

/* The listener context is freed with the gateway. */
static void gw_close(rm_executor_t *ex)
{
    te_tm_gateway_t *gw = ex->gw;
    ex->gw = NULL;
    if (gw != NULL) {
        tm_gateway_set_listener(gw, NULL, NULL);
        tm_gateway_free(gw);
    }
    free(ex->gw_listener_ctx);
    ex->gw_listener_ctx = NULL;
}

/* ---- slot views ------------------------------------------------------------------------ */

static void executor_free(rm_executor_t *ex)
{
    if (ex == NULL)
        return;
    gw_close(ex);
    free(ex->slots);
    free(ex->tasks);
    free(ex);
}

typedef struct free_ctx {
    te_resource_manager_t *rm;
    rm_executor_t *ex;
    te_id_t alloc;
} free_ctx_t;

static void on_leftover_freed(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    free_ctx_t *c = arg;
    (void)gw;
    if (!r->lost && r->code != TE__ERROR_CODE__OK && r->code != TE__ERROR_CODE__SLOT_NOT_FOUND)
        TE_WARN(CTX, "freeing leftover allocation %s on %s: %s", te_id_str(&c->alloc), c->ex->resource_id,
                r->message);
    if (!c->ex->lost)
        rm_executor_refresh(c->rm, c->ex, LEFTOVER_POLL_MS);
    free(c);
}

/* Copies a slot report into the view, keeps our own allocations a stale report does not
 * show yet, and frees allocations nobody holds (of jobs this JobManager knows). */
static void apply_report(te_resource_manager_t *rm, rm_executor_t *ex, const Te__SlotReport *rep)
{
    if (rep->n_slots != ex->n_slots) {
        rm_slot_t *s = calloc(rep->n_slots ? rep->n_slots : 1, sizeof(*s));
        if (s == NULL)
            return;
        free(ex->slots);
        ex->slots = s;
        ex->n_slots = rep->n_slots;
    }
    ex->n_leftover = 0;
    for (size_t i = 0; i < rep->n_slots; i++) {
        const Te__SlotStatus *st = rep->slots[i];
        if (st->slot_index < 0 || (size_t)st->slot_index >= ex->n_slots)
            continue;
        rm_slot_t *s = &ex->slots[st->slot_index];
        rm_slot_t old = *s;
        s->state = st->state;
        memset(&s->job_id, 0, sizeof(s->job_id));
        memset(&s->allocation_id, 0, sizeof(s->allocation_id));
        (void)te_id_from_bytes(st->job_id.data, st->job_id.len, &s->job_id);
        (void)te_id_from_bytes(st->allocation_id.data, st->allocation_id.len, &s->allocation_id);
        if (s->state == TE__SLOT_STATE__SLOT_FREE) {
            if (old.state != TE__SLOT_STATE__SLOT_FREE && rm_slots_holds(rm, &old.job_id, &old.allocation_id))
                *s = old; /* we asked for it after this report was made */
            continue;
        }
        if (rm_slots_holds(rm, &s->job_id, &s->allocation_id) || rm->cfg.is_cluster_job == NULL ||
            !rm->cfg.is_cluster_job(rm->cfg.cluster_job_arg, &s->job_id))
            continue;
        ex->n_leftover++;
        if (s->state == TE__SLOT_STATE__SLOT_RELEASING || ex->gw_state != RM_GW_OPEN)
            continue;
        free_ctx_t *c = malloc(sizeof(*c));
        if (c == NULL)
            continue;
        *c = (free_ctx_t){rm, ex, s->allocation_id};
        TE_INFO(CTX,
                "freeing slot %d of %s: allocation %s of job %s is left over (an earlier JobManager or "
                "attempt); its tasks are cancelled before the job gets slots again",
                st->slot_index, ex->resource_id, te_id_str(&s->allocation_id), te_id_str(&s->job_id));
        s->state = TE__SLOT_STATE__SLOT_RELEASING;
        tm_gateway_free_slot(ex->gw, &s->allocation_id, "left over: not held by the JobManager", on_leftover_freed,
                             c);
    }
    if (ex->n_leftover > 0)
        rm_executor_refresh(rm, ex, LEFTOVER_POLL_MS);
}

static void on_report(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    gw_ctx_t *c = arg;
    te_resource_manager_t *rm = c->rm;
    rm_executor_t *ex = c->ex;
    free(c);
    (void)gw;
    ex->report_pending = 0;
    if (ex->lost)
        return;
    if (!r->lost && r->code == TE__ERROR_CODE__OK && r->response && r->response->slot_report)
        apply_report(rm, ex, r->response->slot_report);
    rm_schedule(rm);
}

/* ---- the RPC port: registration, heartbeats, offers ---------------------------------- */

static int text_ok(const char *s, size_t max) { return s != NULL && s[0] != '\0' && strlen(s) < max; }

static void reply_registration(te_resource_manager_t *rm, rm_executor_t *ex, te_rpc_conn_t *conn, uint64_t call_id)
{
    Te__TaskExecutorRegistration reg = TE__TASK_EXECUTOR_REGISTRATION__INIT;
    reg.registration_id.data = ex->registration_id.b;
    reg.registration_id.len = TE_ID_LEN;
    reg.job_manager_id.data = rm->cfg.job_manager_id.b;
    reg.job_manager_id.len = TE_ID_LEN;
    reg.heartbeat_interval_ms = (uint64_t)rm->cfg.heartbeat_interval_ms;
    reg.epoch = rm->cfg.epoch;
    Te__Response resp = TE__RESPONSE__INIT;
    resp.registration = &reg;
    rpc_conn_reply_response(conn, call_id, &resp);
}

static void call_register(te_resource_manager_t *rm, te_rpc_conn_t *conn, uint64_t call_id,
                          const Te__RegisterTaskExecutor *m)
{
    struct sockaddr_storage ss;
    int sslen = (int)sizeof(ss);
    if (!text_ok(m->resource_id, 128) || !text_ok(m->rpc_address, 300) || !text_ok(m->data_address, 300) ||
        m->slot_report == NULL ||
        evutil_parse_sockaddr_port(m->rpc_address, (struct sockaddr *)&ss, &sslen) != 0) {
        rpc_conn_replyf(
            conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
            "RegisterTaskExecutor needs a resource_id, a numeric rpc_address host:port (got '%.64s'), a "
            "data_address and a slot_report",
            m->rpc_address ? m->rpc_address : "");
        return;
    }
    rm_executor_t *ex = rm_find_executor(rm, m->resource_id);
    if (ex != NULL && (strcmp(ex->rpc_address, m->rpc_address) != 0 || ex->gw_state != RM_GW_OPEN)) {
        executor_lost(rm, ex, "it registered again as a new process");
        ex = NULL;
    }
    int fresh = ex == NULL;
    if (fresh) {
        ex = calloc(1, sizeof(*ex));
        if (ex == NULL) {
            rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INTERNAL, "out of memory");
            return;
        }
        snprintf(ex->resource_id, sizeof(ex->resource_id), "%s", m->resource_id);
        snprintf(ex->rpc_address, sizeof(ex->rpc_address), "%s", m->rpc_address);
        ex->report_at = -1;
        ex->next = rm->executors;
        rm->executors = ex;
    }
    snprintf(ex->data_address, sizeof(ex->data_address), "%s", m->data_address);
    snprintf(ex->version, sizeof(ex->version), "%s", m->version ? m->version : "");
    ex->segment_size = m->segment_size;
    ex->conn_id = rpc_conn_id(conn);
    ex->last_heartbeat_ms = rm_now();
    ex->registered_wall_ms = ex->last_heartbeat_wall_ms = te_clock_wall_ms();
    te_id_random(&ex->registration_id);
    rm->n_registrations++;
    rm_executor_set_tasks(ex, m->task_report);
    apply_report(rm, ex, m->slot_report);
    TE_INFO(CTX, "TaskExecutor %s registered%s from %s: %zu slot(s), %zu free, RPC %s, data %s", ex->resource_id,
            fresh ? "" : " again", rpc_conn_peer(conn), ex->n_slots, rm_executor_free_slots(ex), ex->rpc_address,
            ex->data_address);
    for (rm_executor_t *o = rm->executors; o != NULL; o = o->next)
        if (o != ex && o->segment_size != 0 && m->segment_size != 0 && o->segment_size != m->segment_size)
            TE_WARN(CTX,
                    "TaskExecutor %s uses taskmanager.memory.segment-size %llu but %s uses %llu: tasks exchanging "
                    "data between them will fail",
                    ex->resource_id, (unsigned long long)m->segment_size, o->resource_id,
                    (unsigned long long)o->segment_size);
    reply_registration(rm, ex, conn, call_id);
    if (fresh)
        gw_open(rm, ex);
    rm_schedule(rm);
}

/* The registered executor a heartbeat / offer comes from; replies UNKNOWN_TASK_EXECUTOR. */
static rm_executor_t *registered(te_resource_manager_t *rm, te_rpc_conn_t *conn, uint64_t call_id,
                                 const char *resource_id, ProtobufCBinaryData reg)
{
    te_id_t id;
    rm_executor_t *ex = resource_id ? rm_find_executor(rm, resource_id) : NULL;
    if (ex == NULL || te_id_from_bytes(reg.data, reg.len, &id) != 0 || !te_id_equal(&id, &ex->registration_id)) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__UNKNOWN_TASK_EXECUTOR,
                        "TaskExecutor '%.128s' is not registered with this JobManager (register again)",
                        resource_id ? resource_id : "");
        return NULL;
    }
    ex->conn_id = rpc_conn_id(conn);
    ex->last_heartbeat_ms = rm_now();
    ex->last_heartbeat_wall_ms = te_clock_wall_ms();
    return ex;
}

static void call_heartbeat(te_resource_manager_t *rm, te_rpc_conn_t *conn, uint64_t call_id,
                           const Te__TaskExecutorHeartbeat *m)
{
    rm_executor_t *ex = registered(rm, conn, call_id, m->resource_id, m->registration_id);
    if (ex == NULL)
        return;
    rm_executor_set_tasks(ex, m->task_report);
    if (m->slot_report != NULL)
        apply_report(rm, ex, m->slot_report);
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
    rm_schedule(rm);
}

static void call_offer(te_resource_manager_t *rm, te_rpc_conn_t *conn, uint64_t call_id, const Te__OfferSlots *m)
{
    rm_executor_t *ex = registered(rm, conn, call_id, m->resource_id, m->registration_id);
    if (ex == NULL)
        return;
    te_id_t job, alloc;
    char why[400] = "";
    int ok = te_id_from_bytes(m->job_id.data, m->job_id.len, &job) == 0 && m->n_offers > 0;
    for (size_t i = 0; ok && i < m->n_offers; i++) {
        const Te__SlotOffer *o = m->offers[i];
        if (te_id_from_bytes(o->allocation_id.data, o->allocation_id.len, &alloc) != 0)
            ok = 0;
        else if (!rm_slots_offer(rm, ex, &job, &alloc, o->slot_index, why, sizeof(why)))
            ok = 0;
    }
    if (ok) {
        if (ex->first_offer_ms == 0) {
            ex->first_offer_ms = rm_now();
            ex->first_offer_wall_ms = te_clock_wall_ms();
        }
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
    } else {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__SLOT_OFFER_REJECTED, why[0] ? why : "malformed offer");
    }
}

static void on_call(void *arg, te_rpc_conn_t *conn, const Te__RpcMessage *call)
{
    te_resource_manager_t *rm = arg;
    uint64_t id = call->call_id;
    if (rm->cfg.standby) {
        rpc_conn_reply(conn, id, TE__ERROR_CODE__NOT_LEADER,
                       "this JobManager is a standby (high-availability.type: etcd): register with the leader "
                       "(GET /v1/leader on any JobManager names it)");
        return;
    }
    switch (call->body_case) {
    case TE__RPC_MESSAGE__BODY_REGISTER_TASK_EXECUTOR:
        call_register(rm, conn, id, call->register_task_executor);
        break;
    case TE__RPC_MESSAGE__BODY_TASK_EXECUTOR_HEARTBEAT:
        call_heartbeat(rm, conn, id, call->task_executor_heartbeat);
        break;
    case TE__RPC_MESSAGE__BODY_OFFER_SLOTS: call_offer(rm, conn, id, call->offer_slots); break;
    default:
        rpc_conn_reply(conn, id, TE__ERROR_CODE__MALFORMED_MESSAGE,
                       "this is a JobManager's ResourceManager port: it takes RegisterTaskExecutor, "
                       "TaskExecutorHeartbeat and OfferSlots (TaskExecutor calls go to a taskexecutord)");
        break;
    }
}

static void on_conn_closed(void *arg, uint64_t conn_id)
{
    te_resource_manager_t *rm = arg;
    for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next)
        if (ex->conn_id == conn_id) {
            ex->conn_id = 0;
            TE_WARN(CTX,
                    "the registration connection of TaskExecutor %s closed: no new slots there until it "
                    "registers again (it is lost after heartbeat.timeout = %lld ms)",
                    ex->resource_id, (long long)rm->cfg.heartbeat_timeout_ms);
        }
}

/* ---- loss, reaping, the tick --------------------------------------------------------- */

static void executor_lost(te_resource_manager_t *rm, rm_executor_t *ex, const char *cause)
{
    if (ex->lost)
        return;
    rm_executor_t **pp = &rm->executors;
    while (*pp != NULL && *pp != ex)
        pp = &(*pp)->next;
    if (*pp != NULL)
        *pp = ex->next;
    ex->lost = 1;
    ex->next = rm->graveyard;
    rm->graveyard = ex;
    rm->n_lost++;
    TE_WARN(CTX, "TaskExecutor %s (%s) is lost: %s", ex->resource_id, ex->rpc_address, cause);
    if (ex->gw != NULL) { /* a silent one: calls still waiting for it end now */
        char why[TE_ERROR_MSG_MAX + 64];
        snprintf(why, sizeof(why), "TaskExecutor %s is lost: %s", ex->resource_id, cause);
        rpc_tm_gateway_abort(ex->gw, why);
    }
    rm_slots_executor_lost(rm, ex, cause);
    event_active(rm->reap, EV_TIMEOUT, 0);
    rm_schedule(rm);
}

static int executor_referenced(const te_resource_manager_t *rm, const rm_executor_t *ex)
{
    for (const rm_job_t *j = rm->jobs; j != NULL; j = j->next) {
        for (const rm_job_tm_t *t = j->tms; t != NULL; t = t->next)
            if (t->ex == ex)
                return 1;
        for (size_t i = 0; i < j->n_reqs; i++)
            if (j->reqs[i].ex == ex)
                return 1;
    }
    return 0;
}

/* Frees lost executors no job refers to any more (a JobMaster may still read its
 * gateway's address until its attempt was released). */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    te_resource_manager_t *rm = arg;
    (void)fd;
    (void)what;
    rm_executor_t **pp = &rm->graveyard;
    while (*pp != NULL) {
        rm_executor_t *ex = *pp;
        if (executor_referenced(rm, ex)) {
            pp = &ex->next;
            continue;
        }
        *pp = ex->next;
        executor_free(ex);
    }
}

static void request_report(te_resource_manager_t *rm, rm_executor_t *ex)
{
    gw_ctx_t *c = ctx_new(rm, ex);
    if (c == NULL)
        return;
    ex->report_at = -1;
    ex->report_pending = 1;
    tm_gateway_request_slot_report(ex->gw, on_report, c);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    te_resource_manager_t *rm = arg;
    (void)fd;
    (void)what;
    int64_t now = rm_now();
    rm_executor_t *ex = rm->executors;
    while (ex != NULL) {
        rm_executor_t *next = ex->next;
        if (now - ex->last_heartbeat_ms > rm->cfg.heartbeat_timeout_ms) {
            char why[160];
            snprintf(why, sizeof(why), "no heartbeat for %lld ms (heartbeat.timeout)",
                     (long long)(now - ex->last_heartbeat_ms));
            executor_lost(rm, ex, why);
        } else if (ex->gw_state == RM_GW_FAILED && now >= ex->gw_retry_at) {
            gw_close(ex);
            gw_open(rm, ex);
        } else if (ex->gw_state == RM_GW_OPEN && !ex->report_pending && ex->report_at >= 0 &&
                   now >= ex->report_at) {
            request_report(rm, ex);
        }
        ex = next;
    }
    rm_slots_tick(rm, now);
    if (rm->graveyard != NULL)
        on_reap(-1, 0, rm);
}

/* ---- API ----------------------------------------------------------------------------- */

te_resource_manager_t *resource_manager_new(const te_rm_config_t *cfg, te_error_t *err)
{
    te_resource_manager_t *rm = calloc(1, sizeof(*rm));
    if (rm == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    rm->cfg = *cfg;
    rm->tick = event_new(cfg->base, -1, EV_PERSIST, on_tick, rm);
    rm->reap = event_new(cfg->base, -1, 0, on_reap, rm);
    struct timeval tv = {0, TICK_MS * 1000};
    if (rm->tick == NULL || rm->reap == NULL || event_add(rm->tick, &tv) != 0) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    rm->rpc = rpc_server_new(cfg->base, cfg->bind_host, cfg->port, cfg->max_frame_size, 4096, on_call,
                             on_conn_closed, rm, err);
    if (rm->rpc == NULL) {
        te_error_prefix(err, "jobmanager.rpc.port");
        goto cleanup;
    }
    rpc_server_set_security(rm->rpc, cfg->sec);
    return rm;
cleanup:
    resource_manager_free(rm);
    return NULL;
}

void resource_manager_free(te_resource_manager_t *rm)
{
    if (rm == NULL)
        return;
    rpc_server_free(rm->rpc);
    rm_holds_free(rm);
    while (rm->jobs != NULL) {
        rm_job_t *j = rm->jobs;
        rm->jobs = j->next;
        rm_job_free(j);
    }
    rm_executor_t *lists[2] = {rm->executors, rm->graveyard};
    for (int i = 0; i < 2; i++)
        while (lists[i] != NULL) {
            rm_executor_t *ex = lists[i];
            lists[i] = ex->next;
            ex->lost = 1;
            executor_free(ex);
        }
    if (rm->tick != NULL)
        event_free(rm->tick);
    if (rm->reap != NULL)
        event_free(rm->reap);
    free(rm);
}

int resource_manager_port(const te_resource_manager_t *rm) { return rpc_server_port(rm->rpc); }

void resource_manager_lead(te_resource_manager_t *rm, uint64_t epoch)
{
    rm->cfg.standby = 0;
    rm->cfg.epoch = epoch;
    for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next)
        if (ex->gw != NULL)
            rpc_tm_gateway_set_epoch(ex->gw, epoch);
}

void resource_manager_set_job_filter(te_resource_manager_t *rm, int (*is_cluster_job)(void *, const te_id_t *),
                                     void *arg)
{
    rm->cfg.is_cluster_job = is_cluster_job;
    rm->cfg.cluster_job_arg = arg;
}

void resource_manager_set_heartbeat(te_resource_manager_t *rm, int64_t interval_ms, int64_t timeout_ms)
{
    rm->cfg.heartbeat_interval_ms = interval_ms;
    rm->cfg.heartbeat_timeout_ms = timeout_ms;
}

te_slot_provider_t resource_manager_slot_provider(te_resource_manager_t *rm)
{
    te_slot_provider_t p = {&rm_slot_provider_ops, rm};
    return p;
}

void resource_manager_counts(const te_resource_manager_t *rm, te_rm_counts_t *c)
{
    memset(c, 0, sizeof(*c));
    for (const rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next) {
        c->executors++;
        c->slots_total += ex->n_slots;
        c->slots_free += rm_executor_usable(ex) ? rm_executor_free_slots(ex) : 0;
    }
    c->executors_lost = rm->n_lost;
    c->registrations = rm->n_registrations;
}

static const char *slot_state_name(int s)
{
    static const char *const names[] = {"FREE", "ALLOCATED", "ACTIVE", "RELEASING"};
    return s >= 0 && s < 4 ? names[s] : "UNKNOWN";
}

json_t *resource_manager_taskmanagers_json(const te_resource_manager_t *rm)
{
    json_t *arr = json_array();
    int64_t now = rm_now();
    for (const rm_executor_t *ex = rm->executors; ex != NULL && arr != NULL; ex = ex->next) {
        json_t *slots = json_array();
        for (size_t i = 0; i < ex->n_slots && slots != NULL; i++) {
            const rm_slot_t *s = &ex->slots[i];
            char job[TE_ID_HEX_LEN + 1], alloc[TE_ID_HEX_LEN + 1];
            int busy = s->state != TE__SLOT_STATE__SLOT_FREE;
            json_array_append_new(slots, json_pack("{s:i, s:s, s:s?, s:s?}", "slot", (int)i, "state",
                                                   slot_state_name(s->state), "job_id",
                                                   busy ? te_id_to_hex(&s->job_id, job) : NULL, "allocation_id",
                                                   busy ? te_id_to_hex(&s->allocation_id, alloc) : NULL));
        }
        static const char *const gw_names[] = {"connecting", "open", "failed"};
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s?, s:I, s:I, s:I, s:i, s:i, s:I, s:o}",
                           "resource_id", ex->resource_id, "rpc_address", ex->rpc_address, "data_address",
                           ex->data_address, "version", ex->version, "connected", ex->conn_id != 0, "gateway",
                           gw_names[ex->gw_state], "gateway_error", ex->gw_error[0] ? ex->gw_error : NULL,
                           "registered_ms", (json_int_t)ex->registered_wall_ms, "last_heartbeat_ms",
                           (json_int_t)ex->last_heartbeat_wall_ms, "last_heartbeat_age_ms",
                           (json_int_t)(now - ex->last_heartbeat_ms), "slots_total", (int)ex->n_slots,
                           "slots_free", (int)rm_executor_free_slots(ex), "segment_size",
                           (json_int_t)ex->segment_size, "slots", slots ? slots : json_array()));
        json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "first_offer_ms",
                            ex->first_offer_wall_ms ? json_integer(ex->first_offer_wall_ms) : json_null());
    }
    return arr;
}

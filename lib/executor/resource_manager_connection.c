/*
 * resource_manager_connection — the TaskExecutor's registration with a JobManager
 * (see resource_manager_connection.h), an explicit state machine:
 *
 *   WAITING --backoff timer--> CONNECTING --connected--> REGISTERING
 *     --RegisterTaskExecutor OK--> REGISTERED (heartbeat timer: TaskExecutorHeartbeat
 *     with the slot report; UNKNOWN_TASK_EXECUTOR --> REGISTERING again)
 *   a failed connect / refused registration / closed connection --> WAITING, with the
 *   delay doubled (cluster.registration.initial-timeout .. max-timeout); a successful
 *   registration resets it.
 *
 * High availability: jobmanager.address may list several JobManagers ("a:6123,b:6123");
 * each failed attempt moves on to the next one, and the delay doubles only after a
 * whole round. A standby answers NOT_LEADER: the next address is tried after the
 * initial delay (the leader is another one, or is being elected). The registration's
 * epoch is remembered (executor_epoch_seen: older calls are refused); a heartbeat left
 * unanswered (a frozen or partitioned leader) drops the connection and registers anew,
 * and so does an epoch newer than the registration's seen in a call.
 *
 * Registrations and heartbeats carry the task report (executor_task_report_new): a new
 * leader adopts the running tasks it lists instead of restarting their jobs.
 *
 * Offers (OfferSlots) travel on the same connection; an offer that is refused, gets no
 * answer or cannot be sent (not registered) frees its slot again.
 *
 * Threading: the control thread only (every callback runs on the executor's
 * event_base). No locks.
 */
#include "executor/resource_manager_connection.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"
#include "executor/task_executor_internal.h"
#include "rpc/rpc_channel.h"

#define CTX             "registration"
#define CONNECT_TIMEOUT 5000
#define CALL_TIMEOUT    10000
#define MAX_ADDRESSES   16

typedef enum rmc_state {
    RMC_WAITING = 0,
    RMC_CONNECTING,
    RMC_REGISTERING,
    RMC_REGISTERED,
} rmc_state_t;

static const char *const state_names[] = {"waiting", "connecting", "registering", "registered"};

/* An offer in flight (freed by its reply, or by rm_connection_free). */
typedef struct rmc_offer {
    te_rm_connection_t *rc;
    te_id_t job_id, allocation_id;
    int slot_index;
    struct rmc_offer *prev, *next;
} rmc_offer_t;

struct te_rm_connection {
    te_task_executor_t *te;
    char address[256]; /* the JobManager tried now (one of addrs) */
    char addrs[MAX_ADDRESSES][256];
    size_t n_addrs, cur;
    uint64_t epoch; /* of the registration (0 = none) */
    char rpc_address[300];
    rmc_state_t state;
    te_rpc_channel_t *ch;
    struct event *timer; /* backoff wait, or the next heartbeat */
    int64_t backoff_ms;
    te_id_t registration_id;
    int64_t registered_at; /* wall ms */
    int attempts;          /* failed attempts since the last registration */
    int hb_pending;
    rmc_offer_t *offers;
};

static int64_t cfg_ms(const te_rm_connection_t *rc, te_config_key_id_t key)
{
    return config_get_int(rc->te->cfg, key);
}

static void timer_in(te_rm_connection_t *rc, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_del(rc->timer);
    evtimer_add(rc->timer, &tv);
}

/* Drops the channel and waits before the next attempt (at the next address).
 * reset: start the delays over (a live JobManager answered). */
static void retry_later_from(te_rm_connection_t *rc, const char *why, int reset)
{
    if (reset)
        rc->backoff_ms = cfg_ms(rc, TE_KEY_CLUSTER_REGISTRATION_INITIAL_TIMEOUT);
    te_rpc_channel_t *ch = rc->ch;
    rc->ch = NULL;
    rpc_channel_free(ch); /* safe inside its own callbacks */
    int was_registered = rc->state == RMC_REGISTERED;
    rc->state = RMC_WAITING;
    rc->hb_pending = 0;
    if (rc->attempts++ == 0 || was_registered)
        TE_WARN(CTX, "%s: %s; registering again in %lld ms (and with growing delays until it answers)",
                rc->address, why, (long long)rc->backoff_ms);
    else
        TE_DEBUG(CTX, "%s: %s; next attempt in %lld ms", rc->address, why, (long long)rc->backoff_ms);
    timer_in(rc, rc->backoff_ms);
    rc->cur = (rc->cur + 1) % rc->n_addrs;
    snprintf(rc->address, sizeof(rc->address), "%s", rc->addrs[rc->cur]);
    int64_t max = cfg_ms(rc, TE_KEY_CLUSTER_REGISTRATION_MAX_TIMEOUT);
    if (rc->cur == 0 && !reset)
        rc->backoff_ms = rc->backoff_ms * 2 > max ? max : rc->backoff_ms * 2;
}

static void retry_later(te_rm_connection_t *rc, const char *why) { retry_later_from(rc, why, 0); }

/* ---- calls ------------------------------------------------------------------------ */

static ProtobufCBinaryData id_bin(te_id_t *id)
{
    ProtobufCBinaryData b = {TE_ID_LEN, id->b};
    return b;
}

static void on_registered(void *arg, const Te__RpcMessage *reply, const te_error_t *err);

static void send_registration(te_rm_connection_t *rc)
{
    te_task_executor_t *te = rc->te;
    te_error_t err = {0};
    Te__SlotReport *rep = executor_slot_report_new(te);
    if (rep == NULL) {
        retry_later(rc, "out of memory building the slot report");
        return;
    }
    Te__RegisterTaskExecutor reg = TE__REGISTER_TASK_EXECUTOR__INIT;
    reg.resource_id = te->resource_id;
    reg.rpc_address = rc->rpc_address;
    reg.data_address = te->data_address;
    reg.segment_size = (uint64_t)config_get_int(te->cfg, TE_KEY_TASKMANAGER_MEMORY_SEGMENT_SIZE);
    reg.slot_report = rep;
    reg.version = (char *)TE_VERSION;
    reg.task_report = executor_task_report_new(te, NULL); /* NULL (out of memory): none reported */
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    msg.body_case = TE__RPC_MESSAGE__BODY_REGISTER_TASK_EXECUTOR;
    msg.register_task_executor = &reg;
    rc->state = RMC_REGISTERING;
    te_status_t st = rpc_channel_call(rc->ch, &msg, CALL_TIMEOUT, on_registered, rc, &err);
    executor_slot_report_free(rep);
    executor_task_report_free(reg.task_report);
    if (st != TE_OK)
        retry_later(rc, err.msg);
}

static void on_registered(void *arg, const Te__RpcMessage *reply, const te_error_t *err)
{
    te_rm_connection_t *rc = arg;
    if (reply == NULL) {
        retry_later(rc, err ? err->msg : "no answer to RegisterTaskExecutor");
        return;
    }
    const Te__Response *r = reply->response;
    if (r->code == TE__ERROR_CODE__NOT_LEADER) {
        char why[TE_ERROR_MSG_MAX + 64];
        snprintf(why, sizeof(why), "a standby JobManager: %s", r->message ? r->message : "not the leader");
        retry_later_from(rc, why, 1);
        return;
    }
    if (r->code != TE__ERROR_CODE__OK || r->registration == NULL ||
        te_id_from_bytes(r->registration->registration_id.data, r->registration->registration_id.len,
                         &rc->registration_id) != 0) {
        char why[TE_ERROR_MSG_MAX + 64];
        snprintf(why, sizeof(why), "the JobManager refused the registration: %s",
                 r->message && r->message[0] ? r->message : "(no registration in the answer)");
        retry_later(rc, why);
        return;
    }
    rc->state = RMC_REGISTERED;
    rc->attempts = 0;
    rc->epoch = r->registration->epoch;
    executor_epoch_seen(rc->te, rc->epoch);
    rc->registered_at = te_clock_wall_ms();
    rc->backoff_ms = cfg_ms(rc, TE_KEY_CLUSTER_REGISTRATION_INITIAL_TIMEOUT);
    TE_INFO(CTX, "registered with the JobManager at %s as %s (registration %s, RPC address %s, epoch %llu)",
            rc->address, rc->te->resource_id, te_id_str(&rc->registration_id), rc->rpc_address,
            (unsigned long long)rc->epoch);
    timer_in(rc, cfg_ms(rc, TE_KEY_HEARTBEAT_INTERVAL));
}

static void on_heartbeat_reply(void *arg, const Te__RpcMessage *reply, const te_error_t *err)
{
    te_rm_connection_t *rc = arg;
    rc->hb_pending = 0;
    if (reply == NULL) {
        char why[TE_ERROR_MSG_MAX + 64];
        snprintf(why, sizeof(why), "heartbeat unanswered: %s", err ? err->msg : "no answer");
        if (rc->state == RMC_REGISTERED)
            retry_later(rc, why); /* a frozen or cut-off JobManager: find the leader again */
        return;
    }
    const Te__Response *r = reply->response;
    if (r->code == TE__ERROR_CODE__UNKNOWN_TASK_EXECUTOR || r->code == TE__ERROR_CODE__NOT_LEADER) {
        TE_WARN(CTX, "the JobManager at %s does not know this TaskExecutor any more (%s): registering again",
                rc->address, r->message ? r->message : "");
        send_registration(rc);
    } else if (r->code != TE__ERROR_CODE__OK) {
        TE_WARN(CTX, "heartbeat to the JobManager at %s refused: %s", rc->address, r->message ? r->message : "");
    }
}

static void send_heartbeat(te_rm_connection_t *rc)
{
    te_error_t err = {0};
    if (rc->hb_pending)
        return; /* the last one is still unanswered: do not pile them up */
    Te__SlotReport *rep = executor_slot_report_new(rc->te);
    if (rep == NULL)
        return;
    Te__TaskExecutorHeartbeat hb = TE__TASK_EXECUTOR_HEARTBEAT__INIT;
    hb.resource_id = rc->te->resource_id;
    hb.registration_id = id_bin(&rc->registration_id);
    hb.slot_report = rep;
    hb.task_report = executor_task_report_new(rc->te, NULL);
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    msg.body_case = TE__RPC_MESSAGE__BODY_TASK_EXECUTOR_HEARTBEAT;
    msg.task_executor_heartbeat = &hb;
    int64_t timeout = cfg_ms(rc, TE_KEY_HEARTBEAT_TIMEOUT);
    if (rpc_channel_call(rc->ch, &msg, timeout < CALL_TIMEOUT ? timeout : CALL_TIMEOUT, on_heartbeat_reply, rc,
                         &err) == TE_OK)
        rc->hb_pending = 1;
    else
        TE_WARN(CTX, "heartbeat to the JobManager at %s: %s", rc->address, err.msg);
    executor_slot_report_free(rep);
    executor_task_report_free(hb.task_report);
}

/* ---- offers ----------------------------------------------------------------------- */

static void offer_unlink(rmc_offer_t *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        o->rc->offers = o->next;
    if (o->next)
        o->next->prev = o->prev;
}

static void on_offer_reply(void *arg, const Te__RpcMessage *reply, const te_error_t *err)
{
    rmc_offer_t *o = arg;
    te_rm_connection_t *rc = o->rc;
    offer_unlink(o);
    if (reply != NULL && reply->response->code == TE__ERROR_CODE__OK) {
        TE_DEBUG(CTX, "slot %d (allocation %s) accepted by the JobMaster of job %s", o->slot_index,
                 te_id_str(&o->allocation_id), te_id_str(&o->job_id));
    } else {
        const char *why = reply ? reply->response->message : err ? err->msg : "no answer";
        TE_WARN(CTX, "offer of slot %d to job %s not accepted: %s", o->slot_index, te_id_str(&o->job_id),
                why ? why : "");
        executor_offer_rejected(rc->te, &o->allocation_id, why ? why : "refused");
    }
    free(o);
}

void rm_connection_offer_slot(te_rm_connection_t *rc, const te_id_t *job_id, const te_id_t *allocation_id,
                              int slot_index)
{
    te_error_t err = {0};
    if (rc->state != RMC_REGISTERED) {
        executor_offer_rejected(rc->te, allocation_id, "not registered with a JobManager");
        return;
    }
    rmc_offer_t *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        executor_offer_rejected(rc->te, allocation_id, "out of memory offering the slot");
        return;
    }
    *o = (rmc_offer_t){rc, *job_id, *allocation_id, slot_index, NULL, rc->offers};
    if (rc->offers)
        rc->offers->prev = o;
    rc->offers = o;
    Te__SlotOffer so = TE__SLOT_OFFER__INIT;
    Te__SlotOffer *sop = &so;
    so.allocation_id = id_bin(&o->allocation_id);
    so.slot_index = slot_index;
    Te__OfferSlots os = TE__OFFER_SLOTS__INIT;
    os.resource_id = rc->te->resource_id;
    os.registration_id = id_bin(&rc->registration_id);
    os.job_id = id_bin(&o->job_id);
    os.n_offers = 1;
    os.offers = &sop;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    msg.body_case = TE__RPC_MESSAGE__BODY_OFFER_SLOTS;
    msg.offer_slots = &os;
    if (rpc_channel_call(rc->ch, &msg, CALL_TIMEOUT, on_offer_reply, o, &err) != TE_OK) {
        offer_unlink(o);
        free(o);
        executor_offer_rejected(rc->te, allocation_id, err.msg);
    }
}

/* ---- the channel -------------------------------------------------------------------- */

static void on_connected(void *arg, te_rpc_channel_t *ch, const te_error_t *err)
{
    te_rm_connection_t *rc = arg;
    (void)ch;
    if (err != NULL) {
        retry_later(rc, err->msg);
        return;
    }
    send_registration(rc);
}

static void on_push(void *arg, te_rpc_channel_t *ch, const Te__RpcMessage *push)
{
    te_rm_connection_t *rc = arg;
    (void)ch;
    TE_DEBUG(CTX, "%s: unexpected push (body %d) ignored", rc->address, (int)push->body_case);
}

static void on_closed(void *arg, te_rpc_channel_t *ch, const te_error_t *err)
{
    te_rm_connection_t *rc = arg;
    (void)ch;
    char why[TE_ERROR_MSG_MAX + 32];
    snprintf(why, sizeof(why), "the connection closed: %s", err ? err->msg : "EOF");
    retry_later(rc, why);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    te_rm_connection_t *rc = arg;
    (void)fd;
    (void)what;
    if (rc->state == RMC_REGISTERED) {
        send_heartbeat(rc);
        timer_in(rc, cfg_ms(rc, TE_KEY_HEARTBEAT_INTERVAL));
        return;
    }
    if (rc->state != RMC_WAITING)
        return;
    static const te_rpc_channel_cbs_t cbs = {on_connected, on_push, on_closed};
    te_error_t err = {0};
    rc->state = RMC_CONNECTING;
    rc->ch = rpc_channel_connect(rc->te->base, rc->address, CONNECT_TIMEOUT, rc->te->security, &cbs, rc, &err);
    if (rc->ch == NULL)
        retry_later(rc, err.msg);
}

/* ---- life cycle ----------------------------------------------------------------------- */

/* host:port with the host of taskmanager.host as a numeric address (the JobManager
 * dials it without resolving names on its event loop). */
static te_status_t numeric_rpc_address(te_rm_connection_t *rc, te_error_t *err)
{
    const char *host = config_get_str(rc->te->cfg, TE_KEY_TASKMANAGER_HOST);
    int port = task_executor_rpc_port(rc->te);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0 || res == NULL)
        return te_error_set(err, TE_EINVAL, "taskmanager.host '%s' does not resolve: %s", host, gai_strerror(gai));
    char ip[128];
    gai = getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST);
    int v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    if (gai != 0)
        return te_error_set(err, TE_EINVAL, "taskmanager.host '%s': %s", host, gai_strerror(gai));
    snprintf(rc->rpc_address, sizeof(rc->rpc_address), v6 ? "[%s]:%d" : "%s:%d", ip, port);
    return TE_OK;
}

te_rm_connection_t *rm_connection_new(te_task_executor_t *te, const char *address, te_error_t *err)
{
    te_rm_connection_t *rc = calloc(1, sizeof(*rc));
    if (rc == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    rc->te = te;
    for (const char *p = address; *p != '\0';) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, " ,");
        if (n == 0)
            break;
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++)
            colon = p[i] == ':' ? p + i : colon;
        if (colon == NULL || colon == p || colon == p + n - 1 || n >= sizeof(rc->addrs[0]) ||
            rc->n_addrs == MAX_ADDRESSES) {
            te_error_set(err, TE_EINVAL,
                         "'%.*s' is not host:port (a JobManager's jobmanager.rpc.port; at most %d, "
                         "comma-separated)",
                         (int)n, p, MAX_ADDRESSES);
            goto cleanup;
        }
        snprintf(rc->addrs[rc->n_addrs++], sizeof(rc->addrs[0]), "%.*s", (int)n, p);
        p += n;
    }
    if (rc->n_addrs == 0) {
        te_error_set(err, TE_EINVAL, "'%s' names no JobManager (host:port[,host:port...])", address);
        goto cleanup;
    }
    snprintf(rc->address, sizeof(rc->address), "%s", rc->addrs[0]);
    if (numeric_rpc_address(rc, err) != TE_OK)
        goto cleanup;
    rc->backoff_ms = cfg_ms(rc, TE_KEY_CLUSTER_REGISTRATION_INITIAL_TIMEOUT);
    rc->timer = evtimer_new(te->base, on_timer, rc);
    if (rc->timer == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    timer_in(rc, 0);
    TE_INFO(CTX, "registering with the JobManager at %s%s", rc->address,
            rc->n_addrs > 1 ? " (or the next of jobmanager.address until one leads)" : "");
    return rc;
cleanup:
    rm_connection_free(rc);
    return NULL;
}

void rm_connection_free(te_rm_connection_t *rc)
{
    if (rc == NULL)
        return;
    rpc_channel_free(rc->ch); /* pending calls are dropped without callbacks */
    while (rc->offers != NULL) {
        rmc_offer_t *o = rc->offers;
        rc->offers = o->next;
        free(o);
    }
    if (rc->timer != NULL)
        event_free(rc->timer);
    free(rc);
}

const char *rm_connection_state(const te_rm_connection_t *rc) { return state_names[rc->state]; }
const char *rm_connection_address(const te_rm_connection_t *rc) { return rc->address; }
int64_t rm_connection_registered_at(const te_rm_connection_t *rc) { return rc->registered_at; }

void rm_connection_epoch_seen(te_rm_connection_t *rc, uint64_t epoch)
{
    if (rc->state != RMC_REGISTERED || rc->epoch == 0 || epoch <= rc->epoch)
        return;
    char why[128];
    snprintf(why, sizeof(why), "a newer JobManager leader (epoch %llu) exists", (unsigned long long)epoch);
    retry_later_from(rc, why, 1);
}

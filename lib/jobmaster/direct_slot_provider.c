/*
 * direct_slot_provider — the slot provider of tectl's direct mode (see
 * direct_slot_provider.h). One attempt at a time runs through the phases
 *
 *   CONNECTING --every connect answered--> REPORTING (RequestSlotReport on each)
 *     --> REGISTERING (RegisterJobManager on each) --> REQUESTING (RequestSlot per
 *     request, round robin) --> OFFERED;  release: RELEASING (DisconnectJobManager)
 *     --> IDLE
 *
 * Each phase sends its calls to every executor at once and moves on when all have
 * answered (`pending` reaches 0); a failure is reported for the first executor in the
 * order given (as a sequential client would), then job_master_slots_unavailable.
 *
 * Threading: the JobMaster's event-loop thread; no locks.
 */
#include "jobmaster/direct_slot_provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "jobmaster/job_master.h"
#include "jobmaster/rpc_task_manager_gateway.h"

#define CTX                "direct-slots"
#define RECONNECT_PAUSE_MS 100

typedef enum dsp_phase {
    DSP_IDLE = 0,
    DSP_CONNECTING,
    DSP_REPORTING,
    DSP_REGISTERING,
    DSP_REQUESTING,
    DSP_OFFERED,
    DSP_RELEASING,
} dsp_phase_t;

typedef struct dsp_exec {
    char *address;
    te_tm_gateway_t *gw;
    int connected, lost, registered;
    char *data_address;
    size_t n_free, n_total;
    char error[TE_ERROR_MSG_MAX + 64]; /* this phase's failure, "" = none */
} dsp_exec_t;

typedef struct dsp_grant {
    int ok;
    int32_t slot_number;
    char error[TE_ERROR_MSG_MAX + 64];
} dsp_grant_t;

struct te_direct_slot_provider {
    te_direct_slot_provider_config_t cfg;
    dsp_exec_t *ex;
    size_t n;
    dsp_phase_t phase;
    te_job_master_t *jm;
    uint32_t attempt;
    int all_required;
    int64_t connect_end;
    struct event *retry_ev;
    size_t pending;
    size_t *conn; /* indexes of the connected executors, in the order given */
    size_t n_conn;
    te_slot_request_t *reqs;
    dsp_grant_t *grants;
    size_t n_reqs;
};

/* An operation's context: which executor / request it is about. */
typedef struct dsp_op {
    te_direct_slot_provider_t *p;
    size_t index;
} dsp_op_t;

static void *op_new(te_direct_slot_provider_t *p, size_t index)
{
    dsp_op_t *op = malloc(sizeof(*op));
    if (op == NULL)
        return NULL; /* its completion is ignored: the phase goes on without it */
    *op = (dsp_op_t){p, index};
    p->pending++;
    return op;
}

static void release_done(te_direct_slot_provider_t *p);

/* Takes the op's fields and frees it. Returns the provider when the op belongs to
 * phase `phase`; NULL when it is stale (a release finishes once its last op is in). */
static te_direct_slot_provider_t *op_take(void *arg, size_t *index, dsp_phase_t phase)
{
    dsp_op_t *op = arg;
    if (op == NULL)
        return NULL;
    te_direct_slot_provider_t *p = op->p;
    *index = op->index;
    free(op);
    p->pending--;
    if (p->phase == phase)
        return p;
    if (p->phase == DSP_RELEASING && p->pending == 0)
        release_done(p);
    return NULL;
}

/* ---- gateways ----------------------------------------------------------------------- */

static void on_push(void *arg, te_tm_gateway_t *gw, const Te__RpcMessage *push)
{
    te_direct_slot_provider_t *p = arg;
    if (p->jm != NULL)
        job_master_on_push(p->jm, gw, push);
}

static void on_lost(void *arg, te_tm_gateway_t *gw, const char *cause)
{
    te_direct_slot_provider_t *p = arg;
    for (size_t e = 0; e < p->n; e++)
        if (p->ex[e].gw == gw)
            p->ex[e].lost = 1;
    if (p->jm != NULL)
        job_master_on_gateway_lost(p->jm, gw, cause);
}

static const te_tm_listener_t listener = {on_push, on_lost};

static void close_all(te_direct_slot_provider_t *p)
{
    for (size_t e = 0; e < p->n; e++) {
        dsp_exec_t *x = &p->ex[e];
        te_tm_gateway_t *gw = x->gw;
        x->gw = NULL;
        tm_gateway_free(gw); /* completes what is pending: the callbacks see phase IDLE */
        free(x->data_address);
        x->data_address = NULL;
        x->connected = x->lost = x->registered = 0;
        x->error[0] = '\0';
    }
    p->n_conn = 0;
}

static void give_up(te_direct_slot_provider_t *p, int unreachable)
{
    p->phase = DSP_OFFERED; /* nothing more will come: the JobMaster releases next */
    job_master_slots_unavailable(p->jm, unreachable, NULL);
}

/* The first failure of the phase in the order given, logged; 1 when there was one. */
static int report_first_error(te_direct_slot_provider_t *p)
{
    for (size_t k = 0; k < p->n_conn; k++) {
        dsp_exec_t *x = &p->ex[p->conn[k]];
        if (x->error[0] != '\0') {
            job_master_log(p->jm, TE_LOG_ERROR, "%s", x->error);
            return 1;
        }
    }
    return 0;
}

/* ---- REQUESTING / OFFERED ------------------------------------------------------------- */

static void on_slot(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    size_t i;
    te_direct_slot_provider_t *p = op_take(arg, &i, DSP_REQUESTING);
    (void)gw;
    if (p == NULL)
        return;
    dsp_exec_t *x = &p->ex[p->conn[i % p->n_conn]];
    dsp_grant_t *g = &p->grants[i];
    if (r->lost || r->code != TE__ERROR_CODE__OK || r->response == NULL)
        snprintf(g->error, sizeof(g->error), "request slot %zu on %s: %s", p->reqs[i].index, x->address,
                 r->message[0] ? r->message : "no answer");
    else {
        g->ok = 1;
        g->slot_number = r->response->slot_index;
    }
    if (p->pending > 0)
        return;
    p->phase = DSP_OFFERED;
    int failed = 0;
    for (size_t k = 0; k < p->n_reqs; k++)
        if (!p->grants[k].ok && !failed) {
            job_master_log(p->jm, TE_LOG_ERROR, "%s", p->grants[k].error);
            failed = 1;
        }
    /* Offer what was granted (a failed attempt frees those slots), then give up. */
    for (size_t k = 0; k < p->n_reqs && p->phase == DSP_OFFERED; k++) {
        dsp_exec_t *xk = &p->ex[p->conn[k % p->n_conn]];
        if (p->grants[k].ok)
            job_master_offer_slot(p->jm, p->reqs[k].index, xk->gw, p->grants[k].slot_number, xk->data_address);
    }
    if (failed)
        give_up(p, 0);
}

static void request_slots(te_direct_slot_provider_t *p)
{
    p->phase = DSP_REQUESTING;
    for (size_t i = 0; i < p->n_reqs; i++) {
        dsp_exec_t *x = &p->ex[p->conn[i % p->n_conn]];
        tm_gateway_request_slot(x->gw, job_master_job_id(p->jm), job_master_fencing_token(p->jm),
                                &p->reqs[i].allocation_id, -1, on_slot, op_new(p, i));
    }
    if (p->n_reqs == 0)
        p->phase = DSP_OFFERED;
}

/* ---- REGISTERING ------------------------------------------------------------------------ */

static void on_registered(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    size_t e;
    te_direct_slot_provider_t *p = op_take(arg, &e, DSP_REGISTERING);
    (void)gw;
    if (p == NULL)
        return;
    dsp_exec_t *x = &p->ex[e];
    if (r->lost || r->code != TE__ERROR_CODE__OK)
        snprintf(x->error, sizeof(x->error), "register the job with %s: %s", x->address, r->message);
    else
        x->registered = 1;
    if (p->pending > 0)
        return;
    if (report_first_error(p))
        give_up(p, 0);
    else
        request_slots(p);
}

static void register_all(te_direct_slot_provider_t *p)
{
    p->phase = DSP_REGISTERING;
    for (size_t k = 0; k < p->n_conn; k++) {
        dsp_exec_t *x = &p->ex[p->conn[k]];
        tm_gateway_register_job_manager(x->gw, job_master_job_id(p->jm), job_master_fencing_token(p->jm),
                                        job_graph_name(job_master_graph(p->jm)), on_registered,
                                        op_new(p, p->conn[k]));
    }
}

/* ---- REPORTING ---------------------------------------------------------------------------- */

static void on_report(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    size_t e;
    te_direct_slot_provider_t *p = op_take(arg, &e, DSP_REPORTING);
    (void)gw;
    if (p == NULL)
        return;
    dsp_exec_t *x = &p->ex[e];
    const Te__SlotReport *rep = r->response ? r->response->slot_report : NULL;
    if (r->lost || r->code != TE__ERROR_CODE__OK || rep == NULL) {
        snprintf(x->error, sizeof(x->error), "slot report from %s: %s", x->address,
                 r->lost || r->code != TE__ERROR_CODE__OK ? r->message : "the reply carries no slot report");
    } else {
        x->n_total = rep->n_slots;
        x->n_free = 0;
        for (size_t s = 0; s < rep->n_slots; s++)
            x->n_free += rep->slots[s]->state == TE__SLOT_STATE__SLOT_FREE;
        free(x->data_address);
        x->data_address = strdup(rep->data_address ? rep->data_address : "");
        if (x->data_address == NULL || x->data_address[0] == '\0')
            snprintf(x->error, sizeof(x->error), "executor %s reported no data address", x->address);
    }
    if (p->pending > 0)
        return;
    size_t slots = p->n_reqs;
    for (size_t k = 0; k < p->n_conn; k++) { /* check capacity first so the error says what is missing */
        dsp_exec_t *xk = &p->ex[p->conn[k]];
        size_t need = slots / p->n_conn + (k < slots % p->n_conn);
        if (xk->error[0] == '\0' && xk->n_free < need)
            snprintf(xk->error, sizeof(xk->error),
                     "executor %s has %zu free slot(s) of %zu, the job needs %zu there (%zu shared slots in all = "
                     "the largest vertex parallelism, spread over %zu executor(s)); free slots or add executors",
                     xk->address, xk->n_free, xk->n_total, need, slots, p->n_conn);
        if (xk->error[0] != '\0')
            break;
    }
    if (report_first_error(p))
        give_up(p, 0);
    else
        register_all(p);
}

/* ---- CONNECTING ----------------------------------------------------------------------------- */

static void connect_missing(te_direct_slot_provider_t *p);

static void connect_settled(te_direct_slot_provider_t *p)
{
    size_t n_ok = 0;
    for (size_t e = 0; e < p->n; e++)
        n_ok += p->ex[e].connected;
    if (n_ok < p->n && !p->all_required && te_clock_mono_ms() < p->connect_end) {
        struct timeval tv = {0, RECONNECT_PAUSE_MS * 1000};
        evtimer_add(p->retry_ev, &tv);
        return;
    }
    p->n_conn = 0;
    for (size_t e = 0; e < p->n; e++) {
        dsp_exec_t *x = &p->ex[e];
        if (x->connected)
            p->conn[p->n_conn++] = e;
        else if (p->all_required)
            job_master_log(p->jm, TE_LOG_ERROR, "%s", x->error);
        else
            job_master_log(p->jm, TE_LOG_ERROR, "executor %s is not reachable, deploying without it: %s",
                           x->address, x->error);
        x->error[0] = '\0';
    }
    if ((p->all_required && n_ok < p->n) || n_ok == 0) {
        give_up(p, 1);
        return;
    }
    p->phase = DSP_REPORTING;
    for (size_t k = 0; k < p->n_conn; k++)
        tm_gateway_request_slot_report(p->ex[p->conn[k]].gw, on_report, op_new(p, p->conn[k]));
}

static void on_connected(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    size_t e;
    te_direct_slot_provider_t *p = op_take(arg, &e, DSP_CONNECTING);
    (void)gw;
    if (p == NULL)
        return;
    dsp_exec_t *x = &p->ex[e];
    if (r->lost) {
        snprintf(x->error, sizeof(x->error), "%s", r->message);
        x->gw = NULL;
        tm_gateway_free(gw);
    } else {
        x->connected = 1;
    }
    if (p->pending == 0)
        connect_settled(p);
}

static void connect_missing(te_direct_slot_provider_t *p)
{
    te_error_t err = {0};
    for (size_t e = 0; e < p->n; e++) {
        dsp_exec_t *x = &p->ex[e];
        if (x->connected || x->gw != NULL)
            continue;
        x->gw = rpc_tm_gateway_new(p->cfg.base, x->address, p->cfg.sec, p->cfg.connect_timeout_ms,
                                   p->cfg.call_timeout_ms, &err);
        if (x->gw == NULL) {
            snprintf(x->error, sizeof(x->error), "%s", err.msg);
            continue;
        }
        tm_gateway_set_listener(x->gw, &listener, p);
        tm_gateway_connect(x->gw, on_connected, op_new(p, e));
    }
    if (p->pending == 0)
        connect_settled(p);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    te_direct_slot_provider_t *p = arg;
    if (p->phase == DSP_CONNECTING)
        connect_missing(p);
}

/* ---- the provider ------------------------------------------------------------------------------ */

static void dsp_request(void *self, te_job_master_t *jm, uint32_t attempt, const te_slot_request_t *reqs, size_t n)
{
    te_direct_slot_provider_t *p = self;
    free(p->reqs);
    free(p->grants);
    p->reqs = calloc(n ? n : 1, sizeof(*p->reqs));
    p->grants = calloc(n ? n : 1, sizeof(*p->grants));
    p->jm = jm;
    if (p->reqs == NULL || p->grants == NULL) {
        job_master_log(jm, TE_LOG_ERROR, "out of memory requesting slots");
        give_up(p, 0);
        return;
    }
    memcpy(p->reqs, reqs, n * sizeof(*reqs));
    p->n_reqs = n;
    p->attempt = attempt;
    p->all_required = attempt == 0 && p->cfg.first_attempt_needs_all;
    p->connect_end = te_clock_mono_ms() + (p->all_required ? 0 : p->cfg.reconnect_ms);
    p->phase = DSP_CONNECTING;
    connect_missing(p);
}

static void on_disconnected(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    size_t e;
    dsp_op_t *op = arg;
    te_direct_slot_provider_t *p = op ? op->p : NULL;
    (void)gw;
    if (p != NULL && p->phase == DSP_RELEASING && (r->lost || r->code != TE__ERROR_CODE__OK))
        job_master_log(p->jm, TE_LOG_ERROR, "disconnect from %s: %s", p->ex[op->index].address, r->message);
    op_take(arg, &e, DSP_IDLE); /* finishes the release with the last op */
}

static void release_done(te_direct_slot_provider_t *p)
{
    p->phase = DSP_IDLE;
    close_all(p);
    te_job_master_t *jm = p->jm;
    p->jm = NULL;
    job_master_slots_released(jm);
}

static void dsp_release(void *self, te_job_master_t *jm, const char *cause)
{
    te_direct_slot_provider_t *p = self;
    evtimer_del(p->retry_ev);
    p->jm = jm;
    p->phase = DSP_RELEASING;
    for (size_t e = 0; e < p->n; e++) {
        dsp_exec_t *x = &p->ex[e];
        if (x->gw != NULL && x->registered && !x->lost)
            tm_gateway_disconnect_job_manager(x->gw, job_master_job_id(jm), cause, on_disconnected, op_new(p, e));
    }
    if (p->pending == 0)
        release_done(p);
}

static const te_slot_provider_ops_t dsp_ops = {dsp_request, dsp_release, NULL};

te_slot_provider_t direct_slot_provider_get(te_direct_slot_provider_t *p)
{
    te_slot_provider_t sp = {&dsp_ops, p};
    return sp;
}

te_direct_slot_provider_t *direct_slot_provider_new(const te_direct_slot_provider_config_t *cfg, te_error_t *err)
{
    te_direct_slot_provider_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto cleanup;
    p->cfg = *cfg;
    p->cfg.addresses = NULL;
    p->n = cfg->n_addresses;
    p->ex = calloc(p->n ? p->n : 1, sizeof(*p->ex));
    p->conn = calloc(p->n ? p->n : 1, sizeof(*p->conn));
    p->retry_ev = evtimer_new(cfg->base, on_retry, p);
    if (p->ex == NULL || p->conn == NULL || p->retry_ev == NULL)
        goto cleanup;
    for (size_t e = 0; e < p->n; e++)
        if ((p->ex[e].address = strdup(cfg->addresses[e])) == NULL)
            goto cleanup;
    return p;
cleanup:
    te_error_set(err, TE_ENOMEM, "out of memory creating the slot provider");
    direct_slot_provider_free(p);
    return NULL;
}

void direct_slot_provider_free(te_direct_slot_provider_t *p)
{
    if (p == NULL)
        return;
    p->phase = DSP_IDLE;
    p->jm = NULL;
    if (p->ex != NULL) {
        close_all(p);
        for (size_t e = 0; e < p->n; e++)
            free(p->ex[e].address);
    }
    if (p->retry_ev != NULL)
        event_free(p->retry_ev);
    free(p->ex);
    free(p->conn);
    free(p->reqs);
    free(p->grants);
    free(p);
}

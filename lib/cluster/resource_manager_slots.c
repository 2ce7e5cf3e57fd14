/*
 * resource_manager_slots — the JobMasters' side of the ResourceManager (see
 * resource_manager.h): the slot provider every JobMaster uses, the queue of their
 * requests in request order, placement on the executor with the most free slots
 * (RegisterJobManager + RequestSlot with offer, pipelined on its gateway), the offers
 * the executors make, loss of an executor, slot request timeouts, and the release of
 * an attempt (DisconnectJobManager on each executor used, then a fresh slot report).
 *
 * Completions find their job again by its JobMaster (a forgotten job ignores them),
 * and calls into JobMasters are made once the records are consistent: a JobMaster may
 * call request or release from inside them.
 *
 * Threading: the event-loop thread only; no locks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cluster/resource_manager_internal.h"
#include "common/log.h"

#define CTX              "resource-manager"
#define REFUSED_PAUSE_MS 1000
#define MAX_NOTIFY       256
#define MAX_LATE         8     /* slot request timeouts reported per tick */
#define OFFER_WAIT_MS    10000 /* a granted slot not offered by then is asked for again */

/* A call's context: the job is looked up again by its serial (a forgotten job's
 * completions find nothing, even when a new JobMaster has its address). */
typedef struct slot_op {
    te_resource_manager_t *rm;
    uint64_t serial;
    rm_executor_t *ex;
    te_id_t allocation_id;
} slot_op_t;

static slot_op_t *op_new(te_resource_manager_t *rm, const rm_job_t *j, rm_executor_t *ex, const te_id_t *alloc)
{
    slot_op_t *op = calloc(1, sizeof(*op));
    if (op != NULL) {
        *op = (slot_op_t){rm, j->serial, ex, {{0}}};
        if (alloc != NULL)
            op->allocation_id = *alloc;
    }
    return op;
}

static rm_job_t *find_job(te_resource_manager_t *rm, const te_job_master_t *jm)
{
    for (rm_job_t *j = rm->jobs; j != NULL; j = j->next)
        if (j->jm == jm)
            return j;
    return NULL;
}

static rm_job_t *find_serial(te_resource_manager_t *rm, uint64_t serial)
{
    for (rm_job_t *j = rm->jobs; j != NULL; j = j->next)
        if (j->serial == serial)
            return j;
    return NULL;
}

rm_job_t *rm_job_by_serial(te_resource_manager_t *rm, uint64_t serial) { return find_serial(rm, serial); }

rm_job_t *rm_job_of(te_resource_manager_t *rm, te_job_master_t *jm, int create)
{
    rm_job_t *j = find_job(rm, jm);
    if (j != NULL || !create || (j = calloc(1, sizeof(*j))) == NULL)
        return j;
    j->jm = jm;
    j->serial = ++rm->next_serial;
    j->job_id = *job_master_job_id(jm);
    te_id_to_hex(&j->job_id, j->hex);
    rm_job_t **pp = &rm->jobs; /* FIFO: the oldest request is placed first */
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = j;
    return j;
}

static rm_req_t *find_req(rm_job_t *j, const te_id_t *alloc)
{
    for (size_t i = 0; i < j->n_reqs; i++)
        if (te_id_equal(&j->reqs[i].allocation_id, alloc))
            return &j->reqs[i];
    return NULL;
}

static rm_job_tm_t *find_tm(rm_job_t *j, const rm_executor_t *ex)
{
    for (rm_job_tm_t *t = j->tms; t != NULL; t = t->next)
        if (t->ex == ex)
            return t;
    return NULL;
}

void rm_job_add_tm(rm_job_t *j, rm_executor_t *ex)
{
    if (find_tm(j, ex) != NULL)
        return;
    rm_job_tm_t *t = calloc(1, sizeof(*t));
    if (t != NULL) {
        t->ex = ex;
        t->next = j->tms;
        j->tms = t;
    }
}

void rm_job_free(rm_job_t *j)
{
    if (j == NULL)
        return;
    rm_adopt_end(j);
    while (j->tms != NULL) {
        rm_job_tm_t *t = j->tms;
        j->tms = t->next;
        free(t);
    }
    free(j->reqs);
    free(j);
}

int rm_slots_holds(te_resource_manager_t *rm, const te_id_t *job_id, const te_id_t *alloc)
{
    rm_job_t *j = rm_find_job_by_id(rm, job_id);
    if (j == NULL)
        return 0;
    rm_req_t *r = find_req(j, alloc);
    return r != NULL && r->state != RM_REQ_PENDING;
}

/* ---- placement ------------------------------------------------------------------------ */

/* Slots of this job that are allocated on some executor but held by none of its
 * requests (an earlier run's tasks may still be in them). */
static size_t leftovers_of(te_resource_manager_t *rm, const rm_job_t *j, const char **where)
{
    size_t n = 0;
    for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next)
        for (size_t i = 0; i < ex->n_slots; i++) {
            const rm_slot_t *s = &ex->slots[i];
            if (s->state != TE__SLOT_STATE__SLOT_FREE && te_id_equal(&s->job_id, &j->job_id) &&
                !rm_slots_holds(rm, &s->job_id, &s->allocation_id)) {
                n++;
                *where = ex->resource_id;
            }
        }
    return n;
}

static rm_executor_t *best_executor(te_resource_manager_t *rm, rm_job_t *j, int64_t now)
{
    rm_executor_t *best = NULL;
    size_t best_free = 0;
    for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next) {
        rm_job_tm_t *t = find_tm(j, ex);
        if (!rm_executor_usable(ex) || (t != NULL && t->refused_until > now))
            continue;
        size_t f = rm_executor_free_slots(ex);
        if (f > best_free) {
            best = ex;
            best_free = f;
        }
    }
    return best;
}

static void on_registered(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    slot_op_t *op = arg;
    (void)gw;
    rm_job_t *j = find_serial(op->rm, op->serial);
    rm_job_tm_t *t = j ? find_tm(j, op->ex) : NULL;
    if (t != NULL && !r->lost && r->code != TE__ERROR_CODE__OK) {
        t->refused_until = rm_now() + REFUSED_PAUSE_MS;
        job_master_log(j->jm, TE_LOG_ERROR, "register the job with TaskExecutor %s: %s", op->ex->resource_id,
                       r->message);
    }
    free(op);
}

static void on_slot_reply(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    slot_op_t *op = arg;
    te_resource_manager_t *rm = op->rm;
    (void)gw;
    rm_job_t *j = find_serial(rm, op->serial);
    rm_req_t *req = j ? find_req(j, &op->allocation_id) : NULL;
    rm_executor_t *ex = op->ex;
    free(op);
    if (req == NULL || req->state != RM_REQ_REQUESTED || req->ex != ex)
        return; /* offered already (the offer came first), or released */
    if (!r->lost && r->code == TE__ERROR_CODE__OK && r->response != NULL) {
        req->state = RM_REQ_GRANTED;
        req->slot = r->response->slot_index;
        return;
    }
    /* Back to the queue; the executor's view is refreshed before it is trusted again. */
    if (!ex->lost && req->slot >= 0 && (size_t)req->slot < ex->n_slots)
        memset(&ex->slots[req->slot].job_id, 0, sizeof(te_id_t)); /* unknown until the next report */
    req->state = RM_REQ_PENDING;
    req->ex = NULL;
    req->slot = -1;
    if (!r->lost) {
        rm_job_tm_t *t = find_tm(j, ex);
        if (t != NULL)
            t->refused_until = rm_now() + REFUSED_PAUSE_MS;
        job_master_log(j->jm, TE_LOG_WARN, "slot request on TaskExecutor %s refused: %s (trying elsewhere)",
                       ex->resource_id, r->message);
        rm_executor_refresh(rm, ex, 0);
    }
    rm_schedule(rm);
}

/* Places request req of job j on ex: its first free slot (marked ours at once). */
static void place(te_resource_manager_t *rm, rm_job_t *j, rm_req_t *req, rm_executor_t *ex)
{
    int32_t slot = -1;
    for (size_t i = 0; i < ex->n_slots && slot < 0; i++)
        if (ex->slots[i].state == TE__SLOT_STATE__SLOT_FREE)
            slot = (int32_t)i;
    rm_slot_t *s = &ex->slots[slot];
    s->state = TE__SLOT_STATE__SLOT_ALLOCATED;
    s->job_id = j->job_id;
    s->allocation_id = req->allocation_id;
    req->state = RM_REQ_REQUESTED;
    req->ex = ex;
    req->slot = slot;
    req->since = rm_now();
    const te_id_t *token = job_master_fencing_token(j->jm);
    if (find_tm(j, ex) == NULL) {
        rm_job_add_tm(j, ex);
        /* Pipelined: the executor reads the registration before the slot request. */
        tm_gateway_register_job_manager(ex->gw, &j->job_id, token, job_graph_name(job_master_graph(j->jm)),
                                        on_registered, op_new(rm, j, ex, NULL));
    }
    tm_gateway_request_slot(ex->gw, &j->job_id, token, &req->allocation_id, slot, on_slot_reply,
                            op_new(rm, j, ex, &req->allocation_id));
}

/* ---- holds of recovered jobs ---------------------------------------------------------------- */

static void hold_free(rm_hold_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->addresses[i]);
    free(h->addresses);
    free(h);
}

void rm_holds_free(te_resource_manager_t *rm)
{
    while (rm->holds != NULL) {
        rm_hold_t *h = rm->holds;
        rm->holds = h->next;
        hold_free(h);
    }
}

void resource_manager_hold(te_resource_manager_t *rm, const te_id_t *job_id, const char *const *rpc_addresses,
                           size_t n, int64_t deadline_ms)
{
    rm_hold_t *h = calloc(1, sizeof(*h));
    if (h == NULL || (n > 0 && (h->addresses = calloc(n, sizeof(char *))) == NULL)) {
        free(h);
        return; /* out of memory: no hold (the leftover check still applies) */
    }
    h->job_id = *job_id;
    h->deadline = deadline_ms;
    for (size_t i = 0; i < n; i++)
        if ((h->addresses[h->n] = strdup(rpc_addresses[i])) != NULL)
            h->n++;
    h->next = rm->holds;
    rm->holds = h;
}

static int registered_at(te_resource_manager_t *rm, const char *rpc_address)
{
    for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next)
        if (strcmp(ex->rpc_address, rpc_address) == 0 && rm_executor_usable(ex) && ex->report_at < 0 &&
            !ex->report_pending)
            return 1;
    return 0;
}

rm_hold_t *rm_hold_check(te_resource_manager_t *rm, const te_id_t *job_id, int64_t now, const char **missing)
{
    for (rm_hold_t **pp = &rm->holds; *pp != NULL; pp = &(*pp)->next) {
        rm_hold_t *h = *pp;
        if (!te_id_equal(&h->job_id, job_id))
            continue;
        *missing = NULL;
        for (size_t i = 0; i < h->n && *missing == NULL; i++)
            if (!registered_at(rm, h->addresses[i]))
                *missing = h->addresses[i];
        if (*missing == NULL || now >= h->deadline) {
            if (*missing != NULL)
                TE_WARN(CTX,
                        "job %s: TaskExecutor %s, which ran its last attempt, did not register again within "
                        "heartbeat.timeout: placing the job without it",
                        te_id_str(job_id), *missing);
            *pp = h->next;
            hold_free(h);
            return NULL;
        }
        return h;
    }
    return NULL;
}

static void place_job(te_resource_manager_t *rm, rm_job_t *j, int64_t now)
{
    const char *where = NULL;
    if (rm_hold_check(rm, &j->job_id, now, &where) != NULL) {
        snprintf(j->waiting, sizeof(j->waiting),
                 "recovered: waiting until TaskExecutor %s, which ran the job's last attempt, registers again "
                 "(its leftover tasks are cancelled first)",
                 where);
        return;
    }
    size_t left = leftovers_of(rm, j, &where);
    if (left > 0) {
        snprintf(j->waiting, sizeof(j->waiting),
                 "waiting until %zu slot(s) of an earlier run of this job are freed (on %s and maybe elsewhere): "
                 "its old tasks are being cancelled",
                 left, where);
        return;
    }
    size_t pending = 0;
    for (size_t i = 0; i < j->n_reqs; i++) {
        rm_req_t *req = &j->reqs[i];
        if (req->state != RM_REQ_PENDING)
            continue;
        rm_executor_t *ex = best_executor(rm, j, now);
        if (ex == NULL) {
            pending++;
            continue;
        }
        place(rm, j, req, ex);
    }
    if (pending == 0) {
        j->waiting[0] = '\0';
        return;
    }
    size_t usable = 0, registered = 0, free_slots = 0;
    for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next) {
        registered++;
        if (rm_executor_usable(ex)) {
            usable++;
            free_slots += rm_executor_free_slots(ex);
        }
    }
    snprintf(
        j->waiting, sizeof(j->waiting),
        "waiting for %zu more slot(s) of %zu: %zu free slot(s) on %zu usable TaskExecutor(s) (%zu registered)",
        pending, j->n_reqs, free_slots, usable, registered);
}

void rm_schedule(te_resource_manager_t *rm)
{
    if (rm->scheduling) {
        rm->again = 1;
        return;
    }
    rm->scheduling = 1;
    do {
        rm->again = 0;
        int64_t now = rm_now();
        for (rm_job_t *j = rm->jobs; j != NULL; j = j->next)
            if (j->requesting && !j->releasing && j->n_open > 0)
                place_job(rm, j, now);
        rm_adopt_check(rm, now);
    } while (rm->again);
    rm->scheduling = 0;
}

/* ---- offers, losses, deadlines ------------------------------------------------------------ */

int rm_slots_offer(te_resource_manager_t *rm, rm_executor_t *ex, const te_id_t *job_id, const te_id_t *alloc,
                   int32_t slot, char *why, size_t cap)
{
    rm_job_t *j = rm_find_job_by_id(rm, job_id);
    rm_req_t *req = j ? find_req(j, alloc) : NULL;
    if (j == NULL || !j->requesting || j->releasing || job_master_state(j->jm) != TE_JOB_WAITING_FOR_SLOTS) {
        snprintf(why, cap, "no JobMaster of job %s waits for slots", te_id_str(job_id));
        return 0;
    }
    if (req == NULL || req->ex != ex || (req->state != RM_REQ_REQUESTED && req->state != RM_REQ_GRANTED)) {
        snprintf(why, cap, "allocation %s is not one job %s asked %s for", te_id_str(alloc), te_id_str(job_id),
                 ex->resource_id);
        return 0;
    }
    req->state = RM_REQ_OFFERED;
    req->slot = slot;
    j->n_open--;
    if (j->n_open == 0)
        j->waiting[0] = '\0';
    job_master_offer_slot(j->jm, req->index, ex->gw, slot, ex->data_address);
    return 1;
}

void rm_slots_executor_lost(te_resource_manager_t *rm, rm_executor_t *ex, const char *cause)
{
    te_job_master_t *notify[MAX_NOTIFY];
    size_t n = 0;
    for (rm_job_t *j = rm->jobs; j != NULL; j = j->next) {
        for (size_t i = 0; i < j->n_reqs; i++) {
            rm_req_t *req = &j->reqs[i];
            if (req->ex == ex && (req->state == RM_REQ_REQUESTED || req->state == RM_REQ_GRANTED)) {
                req->state = RM_REQ_PENDING;
                req->ex = NULL;
                req->slot = -1;
            }
        }
        if (find_tm(j, ex) != NULL && n < MAX_NOTIFY)
            notify[n++] = j->jm;
    }
    /* A JobMaster may release (and request again) from inside: records first. */
    for (size_t k = 0; k < n; k++)
        if (find_job(rm, notify[k]) != NULL)
            job_master_on_gateway_lost(notify[k], ex->gw, cause);
}

void rm_slots_tick(te_resource_manager_t *rm, int64_t now)
{
    te_job_master_t *late[MAX_LATE];
    char why[MAX_LATE][600];
    size_t n = 0;
    for (rm_job_t *j = rm->jobs; j != NULL; j = j->next) /* granted but never offered: ask again */
        for (size_t i = 0; i < j->n_reqs; i++) {
            rm_req_t *req = &j->reqs[i];
            if ((req->state != RM_REQ_REQUESTED && req->state != RM_REQ_GRANTED) ||
                now - req->since < OFFER_WAIT_MS)
                continue;
            TE_WARN(CTX, "job %s: TaskExecutor %s did not offer allocation %s within %d ms; asking again", j->hex,
                    req->ex->resource_id, te_id_str(&req->allocation_id), OFFER_WAIT_MS);
            rm_executor_refresh(rm, req->ex, 0);
            req->state = RM_REQ_PENDING;
            req->ex = NULL;
            req->slot = -1;
        }
    for (rm_job_t *j = rm->jobs; j != NULL && n < MAX_LATE; j = j->next) {
        if (!j->requesting || j->releasing || j->n_open == 0 || now < j->deadline)
            continue;
        snprintf(why[n], sizeof(why[n]), "could not get %zu of %zu slot(s) within slot.request.timeout: %s",
                 j->n_open, j->n_reqs, j->waiting[0] ? j->waiting : "no TaskExecutor offered them");
        j->deadline = INT64_MAX; /* reported once per attempt */
        late[n++] = j->jm;
    }
    for (size_t k = 0; k < n; k++)
        if (find_job(rm, late[k]) != NULL)
            job_master_slots_unavailable(late[k], 0, why[k]);
    rm_schedule(rm);
}

/* ---- the provider ------------------------------------------------------------------------------ */

static void rm_request(void *self, te_job_master_t *jm, uint32_t attempt, const te_slot_request_t *reqs, size_t n)
{
    te_resource_manager_t *rm = self;
    rm_job_t *j = rm_job_of(rm, jm, 1);
    if (j == NULL) {
        job_master_slots_unavailable(jm, 0, "out of memory queueing the slot requests");
        return;
    }
    if (j->adopting || j->n_adopt_exec > 0) {
        /* The running attempt was not adopted: its slots are leftovers now, freed (their
         * tasks cancelled) before the new attempt is placed; registrations start over. */
        rm_adopt_end(j);
        while (j->tms != NULL) {
            rm_job_tm_t *t = j->tms;
            j->tms = t->next;
            free(t);
        }
        for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next)
            rm_executor_refresh(rm, ex, 0);
    }
    free(j->reqs);
    j->reqs = calloc(n ? n : 1, sizeof(*j->reqs));
    if (j->reqs == NULL) {
        j->n_reqs = j->n_open = 0;
        job_master_slots_unavailable(jm, 0, "out of memory queueing the slot requests");
        return;
    }
    for (size_t i = 0; i < n; i++)
        j->reqs[i] = (rm_req_t){reqs[i].index, reqs[i].allocation_id, RM_REQ_PENDING, NULL, -1, 0};
    j->n_reqs = j->n_open = n;
    j->attempt = attempt;
    j->requesting = 1;
    j->releasing = 0;
    j->deadline = rm_now() + rm->cfg.slot_request_timeout_ms;
    snprintf(j->waiting, sizeof(j->waiting), "placing %zu slot(s)", n);
    rm_schedule(rm);
}

static void release_done(te_resource_manager_t *rm, rm_job_t *j)
{
    for (rm_job_tm_t *t = j->tms; t != NULL; t = t->next)
        if (!t->ex->lost)
            rm_executor_refresh(rm, t->ex, 0);
    while (j->tms != NULL) {
        rm_job_tm_t *t = j->tms;
        j->tms = t->next;
        free(t);
    }
    free(j->reqs);
    j->reqs = NULL;
    j->n_reqs = j->n_open = 0;
    j->releasing = 0;
    j->waiting[0] = '\0';
    if (rm->graveyard != NULL)
        event_active(rm->reap, EV_TIMEOUT, 0);
    job_master_slots_released(j->jm); /* may request the next attempt's slots at once */
}

static void on_disconnected(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    slot_op_t *op = arg;
    (void)gw;
    te_resource_manager_t *rm = op->rm;
    rm_job_t *j = find_serial(rm, op->serial);
    if (j != NULL && !r->lost && r->code != TE__ERROR_CODE__OK && r->code != TE__ERROR_CODE__UNKNOWN_JOB)
        job_master_log(j->jm, TE_LOG_WARN, "disconnect from TaskExecutor %s: %s", op->ex->resource_id, r->message);
    free(op);
    if (j != NULL && j->releasing && --j->release_pending == 0)
        release_done(rm, j);
}

static void rm_release(void *self, te_job_master_t *jm, const char *cause)
{
    te_resource_manager_t *rm = self;
    rm_job_t *j = find_job(rm, jm);
    if (j == NULL) {
        job_master_slots_released(jm);
        return;
    }
    rm_adopt_end(j);
    j->requesting = 0;
    j->releasing = 1;
    j->release_pending = 1; /* until the loop below has sent everything */
    for (rm_job_tm_t *t = j->tms; t != NULL; t = t->next) {
        if (t->ex->lost || t->ex->gw == NULL)
            continue;
        j->release_pending++;
        tm_gateway_disconnect_job_manager(t->ex->gw, &j->job_id, cause, on_disconnected,
                                          op_new(rm, j, t->ex, NULL));
    }
    if (--j->release_pending == 0)
        release_done(rm, j);
}

const te_slot_provider_ops_t rm_slot_provider_ops = {rm_request, rm_release, rm_adopt};

void resource_manager_forget(te_resource_manager_t *rm, te_job_master_t *jm)
{
    rm_job_t **pp = &rm->jobs;
    while (*pp != NULL && (*pp)->jm != jm)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return;
    rm_job_t *j = *pp;
    *pp = j->next;
    rm_job_free(j);
    if (rm->graveyard != NULL)
        event_active(rm->reap, EV_TIMEOUT, 0);
}

const char *resource_manager_waiting_reason(const te_resource_manager_t *rm, const te_job_master_t *jm, char *buf,
                                            size_t cap)
{
    for (const rm_job_t *j = rm->jobs; j != NULL; j = j->next)
        if (j->jm == jm && j->requesting && j->n_open > 0 && j->waiting[0] != '\0') {
            snprintf(buf, cap, "%s", j->waiting);
            return buf;
        }
    return NULL;
}

/*
 * resource_manager_internal — internal to resource_manager.c (TaskExecutor registry,
 * RPC port, gateways) and resource_manager_slots.c (slot requests of JobMasters,
 * placement, offers, release): the records and what the two files call of each other.
 *
 * Threading: as resource_manager.h (the event-loop thread).
 */
#ifndef TE_RESOURCE_MANAGER_INTERNAL_H
#define TE_RESOURCE_MANAGER_INTERNAL_H

#include "cluster/resource_manager.h"
#include "jobmaster/job_master.h"
#include "jobmaster/task_manager_gateway.h"
#include "rpc/rpc_server.h"

/* Our view of one slot of a TaskExecutor: its last report, with the allocations we
 * asked for on top (a report older than a RequestSlot does not free the slot again). */
typedef struct rm_slot {
    int state; /* Te__SlotState */
    te_id_t job_id, allocation_id;
} rm_slot_t;

/* A task a TaskExecutor reported (registration, heartbeat): what adoption looks for. */
typedef struct rm_task {
    te_id_t job_id, execution_id, allocation_id;
    int state; /* Te__ExecutionState */
} rm_task_t;

typedef enum rm_gw_state {
    RM_GW_CONNECTING = 0,
    RM_GW_OPEN,
    RM_GW_FAILED, /* retried at gw_retry_at */
} rm_gw_state_t;

typedef struct rm_executor {
    char resource_id[128];
    char rpc_address[300];
    char data_address[300];
    char version[32];
    uint64_t segment_size;
    te_id_t registration_id;
    uint64_t conn_id;          /* the registration connection; 0 = closed */
    int64_t last_heartbeat_ms; /* monotonic */
    int64_t registered_wall_ms, last_heartbeat_wall_ms;
    te_tm_gateway_t *gw;
    void *gw_listener_ctx; /* freed with the gateway */
    rm_gw_state_t gw_state;
    int64_t gw_retry_at;
    char gw_error[TE_ERROR_MSG_MAX];
    rm_slot_t *slots;
    size_t n_slots;
    rm_task_t *tasks; /* its last task report */
    size_t n_tasks;
    size_t n_leftover;  /* slots of allocations nobody holds, being freed */
    int report_pending; /* a RequestSlotReport is in flight */
    int64_t report_at;  /* when to ask for a report (leftovers, after a release); -1 none */
    int lost;           /* removed from the list; freed once nothing refers to it */
    int64_t first_offer_ms, first_offer_wall_ms; /* the first slot offer it made (0 = none yet) */
    struct rm_executor *next;
} rm_executor_t;

typedef enum rm_req_state {
    RM_REQ_PENDING = 0, /* not placed */
    RM_REQ_REQUESTED,   /* RequestSlot sent to ex */
    RM_REQ_GRANTED,     /* the TaskExecutor allocated it; its offer is awaited */
    RM_REQ_OFFERED,     /* offered to the JobMaster */
    RM_REQ_ADOPTING,    /* a running attempt's slot, looked for on the TaskExecutors */
} rm_req_state_t;

typedef struct rm_req {
    size_t index;
    te_id_t allocation_id;
    rm_req_state_t state;
    rm_executor_t *ex;
    int32_t slot;
    int64_t since; /* when it was requested (REQUESTED / GRANTED) */
} rm_req_t;

/* A TaskExecutor the job's JobMaster was registered with (RegisterJobManager). */
typedef struct rm_job_tm {
    rm_executor_t *ex;
    int64_t refused_until; /* a refused registration / slot request: not before then */
    struct rm_job_tm *next;
} rm_job_tm_t;

typedef struct rm_job {
    uint64_t serial; /* unique in the RM: completions find their job by it */
    te_job_master_t *jm;
    te_id_t job_id;
    char hex[TE_ID_HEX_LEN + 1];
    uint32_t attempt;
    rm_req_t *reqs;
    size_t n_reqs, n_open; /* open: not OFFERED */
    int requesting;        /* between request and release */
    int64_t deadline;      /* slot.request.timeout of the open requests */
    rm_job_tm_t *tms;
    size_t release_pending; /* DisconnectJobManager calls in flight */
    int releasing;
    char waiting[300]; /* why open requests wait ("" = placing) */
    /* Adoption of a running attempt (resource_manager_adopt.c). */
    int adopting;          /* its requests are RM_REQ_ADOPTING */
    int adopt_registering; /* every task was found: RegisterJobManager calls in flight */
    size_t adopt_regs;     /* those calls */
    char adopt_error[400]; /* a refused one ("" = none) */
    te_id_t *adopt_exec;   /* the execution ids of the attempt's tasks */
    unsigned char *adopt_confirmed; /* per task: listed running by its registration's answer */
    size_t n_adopt_exec;
    int64_t adopt_deadline; /* monotonic */
    struct rm_job *next;
} rm_job_t;

/* A recovered job waiting for the TaskExecutors of its last attempt (resource_manager_hold). */
typedef struct rm_hold {
    te_id_t job_id;
    char **addresses;
    size_t n;
    int64_t deadline;
    struct rm_hold *next;
} rm_hold_t;

struct te_resource_manager {
    te_rm_config_t cfg;
    te_rpc_server_t *rpc;
    rm_executor_t *executors;
    rm_executor_t *graveyard; /* lost executors: freed by the reaper event */
    rm_job_t *jobs;           /* in request order */
    rm_hold_t *holds;
    struct event *tick; /* heartbeat timeouts, gateway retries, slot reports, deadlines */
    struct event *reap;
    int scheduling, again;
    uint64_t next_serial;
    uint64_t n_lost, n_registrations;
};

/* resource_manager.c */
rm_executor_t *rm_find_executor(te_resource_manager_t *rm, const char *resource_id);
/* Usable for new slots: registered (connection open) and the gateway connected. */
int rm_executor_usable(const rm_executor_t *ex);
size_t rm_executor_free_slots(const rm_executor_t *ex);
rm_job_t *rm_find_job_by_id(te_resource_manager_t *rm, const te_id_t *job_id);
/* Asks the executor for its slot report soon (after a release, while leftovers go). */
void rm_executor_refresh(te_resource_manager_t *rm, rm_executor_t *ex, int64_t delay_ms);
int64_t rm_now(void);

/* resource_manager_slots.c */
extern const te_slot_provider_ops_t rm_slot_provider_ops;
/* The job of a JobMaster, created (queued last) when new; NULL when out of memory. */
rm_job_t *rm_job_of(te_resource_manager_t *rm, te_job_master_t *jm, int create);
rm_job_t *rm_job_by_serial(te_resource_manager_t *rm, uint64_t serial);
/* Notes that the job's JobMaster is registered with ex (RegisterJobManager sent). */
void rm_job_add_tm(rm_job_t *j, rm_executor_t *ex);
/* Places open requests on free slots (re-entrant calls are folded). */
void rm_schedule(te_resource_manager_t *rm);
/* OfferSlots from a TaskExecutor: 1 accepted. */
int rm_slots_offer(te_resource_manager_t *rm, rm_executor_t *ex, const te_id_t *job_id, const te_id_t *alloc,
                   int32_t slot, char *why, size_t cap);
/* The executor is lost: requests placed there go back to the queue, JobMasters using
 * it learn it (job_master_on_gateway_lost). */
void rm_slots_executor_lost(te_resource_manager_t *rm, rm_executor_t *ex, const char *cause);
/* Whether (job, allocation) is held by a request (a slot report showing it is not a
 * leftover). */
int rm_slots_holds(te_resource_manager_t *rm, const te_id_t *job_id, const te_id_t *alloc);
/* Slot request deadlines. */
void rm_slots_tick(te_resource_manager_t *rm, int64_t now);
void rm_job_free(rm_job_t *j);
/* The hold of a job, or NULL (an expired or satisfied one is dropped); *missing names
 * one TaskExecutor still awaited. */
rm_hold_t *rm_hold_check(te_resource_manager_t *rm, const te_id_t *job_id, int64_t now, const char **missing);
void rm_holds_free(te_resource_manager_t *rm);

/* resource_manager_adopt.c */
/* The provider's adopt operation (slot_provider.h). */
void rm_adopt(void *self, te_job_master_t *jm, uint32_t attempt, const te_slot_request_t *reqs, size_t n,
              const te_id_t *execution_ids, size_t n_tasks, int64_t deadline_ms);
/* Looks for the tasks of adopting jobs (from rm_schedule); failures are reported to
 * their JobMasters (job_master_adopt_failed). */
void rm_adopt_check(te_resource_manager_t *rm, int64_t now);
/* The job's adoption is over (adopted, failed or replaced by a new request). */
void rm_adopt_end(rm_job_t *j);
/* Stores a task report of ex (NULL: none, e.g. an older TaskExecutor). */
void rm_executor_set_tasks(rm_executor_t *ex, const Te__TaskReport *rep);

#endif

/*
 * harness_job_master — a JobMaster over two fake TaskExecutors (harness_fake_te.h), the
 * fake slot provider and a fake clock, for the JobMaster's unit suites
 * (check_job_master.c, check_job_master_adopt.c): a listener that records what it
 * hears, env_setup / env_teardown (a checkpoint directory under /tmp), and the steps the
 * tests take (deliver the queued calls, move the clock, push states, count calls).
 *
 * Threading: single-threaded; no event loop runs (the JobMaster's timer is never
 * waited for: the tests move the fake clock and call job_master_drive).
 */
#ifndef HARNESS_JOB_MASTER_H
#define HARNESS_JOB_MASTER_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "harness_fake_te.h"

/* source (p 2) -> sink (p 3): 3 shared slots, 5 tasks. */
static inline const char *job_json(const char *config)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"name\": \"t\", \"config\": {%s}, \"vertices\": ["
             "{\"id\": \"src\", \"parallelism\": 2, \"chain\": [{\"op\": \"sequence\", \"to\": 10}]},"
             "{\"id\": \"sink\", \"parallelism\": 3, \"chain\": [{\"op\": \"discard\"}]}],"
             "\"edges\": [{\"from\": \"src\", \"to\": \"sink\"}]}",
             config ? config : "");
    return buf;
}

typedef struct env {
    struct event_base *base;
    te_job_graph_t *g;
    fake_te_t te[2];
    fake_te_t *tes[2];
    fake_provider_t prov;
    te_job_master_t *jm;
    int64_t now;
    /* what the listener saw */
    int n_plans, n_restarts, n_checkpoints, n_aborted, n_progress;
    te_job_state_t states[64];
    size_t n_states;
    char last_restart_cause[256];
    long last_restart_attempt;
    uint64_t last_restart_ckpt, last_checkpoint, last_aborted;
    char logs[4096];
    char dir[64];
} env_t;

static inline int64_t fake_now(void *arg) { return ((env_t *)arg)->now; }

static inline void l_state(void *arg, te_job_master_t *jm, te_job_state_t from, te_job_state_t to)
{
    env_t *e = arg;
    (void)jm, (void)from;
    if (e->n_states < 64)
        e->states[e->n_states++] = to;
}
static inline void l_plan(void *arg, te_job_master_t *jm)
{
    (void)jm;
    ((env_t *)arg)->n_plans++;
}
static inline void l_progress(void *arg, te_job_master_t *jm)
{
    (void)jm;
    ((env_t *)arg)->n_progress++;
}
static inline void l_checkpoint(void *arg, te_job_master_t *jm, const te_ckpt_metadata_t *m,
                                const te_ckpt_checkpoint_t *cp)
{
    env_t *e = arg;
    (void)jm, (void)cp;
    e->n_checkpoints++;
    e->last_checkpoint = m->checkpoint_id;
}
static inline void l_aborted(void *arg, te_job_master_t *jm, uint64_t id, const char *cause)
{
    env_t *e = arg;
    (void)jm, (void)cause;
    e->n_aborted++;
    e->last_aborted = id;
}
static inline void l_restart(void *arg, te_job_master_t *jm, const char *cause, long attempt, long max,
                             uint64_t ckpt)
{
    env_t *e = arg;
    (void)jm, (void)max;
    e->n_restarts++;
    snprintf(e->last_restart_cause, sizeof(e->last_restart_cause), "%s", cause);
    e->last_restart_attempt = attempt;
    e->last_restart_ckpt = ckpt;
}
static inline void l_log(void *arg, te_job_master_t *jm, te_log_level_t level, const char *msg)
{
    env_t *e = arg;
    (void)jm, (void)level;
    strncat(e->logs, msg, sizeof(e->logs) - strlen(e->logs) - 2);
    strncat(e->logs, "\n", sizeof(e->logs) - strlen(e->logs) - 1);
}

static const te_job_master_listener_t listener = {l_state,      l_plan,    NULL,      l_progress,
                                                  l_checkpoint, l_aborted, l_restart, l_log};

typedef struct opts {
    const char *config;
    long restarts;
    int64_t checkpoint_interval;
    int hold;
    te_ckpt_writer_t writer; /* metadata_writer (none by default) */
    const te_job_adoption_t *adopt;
    uint64_t stale_chk; /* > 0: an empty chk-<n> directory exists in the job's directory */
} opts_t;

static inline void env_setup(env_t *e, opts_t o)
{
    te_error_t err = {0};
    memset(e, 0, sizeof(*e));
    e->base = event_base_new();
    ck_assert_ptr_nonnull(e->base);
    e->g = job_graph_parse_string(job_json(o.config), &err);
    ck_assert_msg(e->g != NULL, "%s", err.msg);
    for (int i = 0; i < 2; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "te%d:6122", i);
        fake_te_init(&e->te[i], addr);
        e->tes[i] = &e->te[i];
    }
    e->prov.tes = e->tes;
    e->prov.n_tes = 2;
    e->prov.hold = o.hold;
    e->now = 1000;
    snprintf(e->dir, sizeof(e->dir), "/tmp/check_jm.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(e->dir));
    te_job_master_config_t c = {
        .base = e->base,
        .graph = e->g,
        .graph_text = job_json(o.config),
        .slots = {&fake_provider_ops, &e->prov},
        .checkpoint_root = e->dir,
        .checkpoint_interval_ms = o.checkpoint_interval,
        .checkpoint_timeout_ms = 500,
        .metadata_writer = o.writer,
        .restart_attempts = o.restarts,
        .restart_backoff_ms = 200,
        .heartbeat_interval_ms = 1000,
        .cancel_wait_ms = 3000,
        .listener = &listener,
        .listener_arg = e,
        .clock_ms = fake_now,
        .clock_arg = e,
    };
    te_id_random(&c.job_id);
    c.adopt = o.adopt;
    if (o.stale_chk > 0) {
        char hex[TE_ID_HEX_LEN + 1], path[256];
        snprintf(path, sizeof(path), "%s/%s", e->dir, te_id_to_hex(&c.job_id, hex));
        ck_assert_int_eq(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/%s/chk-%llu", e->dir, hex, (unsigned long long)o.stale_chk);
        ck_assert_int_eq(mkdir(path, 0755), 0);
    }
    e->jm = job_master_new(&c, &err);
    ck_assert_msg(e->jm != NULL, "%s", err.msg);
}

static inline void env_teardown(env_t *e)
{
    job_master_free(e->jm);
    job_graph_free(e->g);
    event_base_free(e->base);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    ck_assert_int_eq(system(cmd), 0);
}

static inline void deliver(env_t *e) { fake_te_deliver_all(e->tes, 2); }

static inline void advance(env_t *e, int64_t ms)
{
    e->now += ms;
    job_master_drive(e->jm);
    deliver(e);
}

static inline void push_all(env_t *e, uint32_t attempt, Te__ExecutionState st)
{
    for (int i = 0; i < 2; i++)
        fake_te_push_all(&e->te[i], attempt, st);
    deliver(e);
}

static inline size_t count(env_t *e, fake_call_kind_t kind)
{
    return fake_te_count(&e->te[0], kind) + fake_te_count(&e->te[1], kind);
}

/* Starts the job and brings every task of attempt 0 to RUNNING. */
static inline void start_running(env_t *e)
{
    job_master_start(e->jm);
    deliver(e);
    push_all(e, 0, TE__EXECUTION_STATE__RUNNING);
    ck_assert_int_eq(job_master_state(e->jm), TE_JOB_RUNNING);
}

#endif

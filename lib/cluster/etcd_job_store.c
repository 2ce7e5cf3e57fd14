/*
 * etcd_job_store — the job store as etcd keys (see etcd_job_store.h). Each put/remove
 * is one guarded txn; the operation waits in a list until etcd answers, so that freeing
 * the store can complete what is pending with an error.
 *
 * A txn that got no answer (every endpoint failed or timed out: an etcd leader change,
 * no quorum) may or may not have been applied, so it is never reported failed: it is
 * sent again every RETRY_MS until etcd answers (a put is idempotent and the guard still
 * holds, or deposes us). Only etcd refusing it (the guard, or a 4xx) or the store being
 * freed (the leader deposed: its lease could not be renewed) ends it with an error.
 *
 * Threading: the event loop's thread only; no locks.
 */
#include "cluster/etcd_job_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/ids.h"
#include "common/log.h"

#define CTX      "job-store"
#define RETRY_MS 200

typedef struct etcd_op etcd_op_t;

typedef struct etcd_store {
    te_job_store_t base; /* first: the store header */
    te_etcd_client_t *etcd;
    te_leader_election_t *election;
    char prefix[512];
    char describe[1200];
    etcd_op_t *ops;
} etcd_store_t;

struct etcd_op {
    etcd_store_t *s;
    json_t *succ;        /* the txn's operations, sent again after a failure */
    struct event *retry; /* NULL until a first failure */
    int failures;
    char job_hex[TE_ID_HEX_LEN + 1];
    te_job_store_done_fn done;
    void *arg;
    etcd_op_t *prev, *next;
};

static const char *es_describe(const te_job_store_t *base) { return ((const etcd_store_t *)base)->describe; }

static void job_key(const etcd_store_t *s, const char *job_hex, char *key, size_t cap)
{
    snprintf(key, cap, "%sjobs/%s", s->prefix, job_hex);
}

static void checkpoint_key(const etcd_store_t *s, const char *job_hex, char *key, size_t cap)
{
    snprintf(key, cap, "%scheckpoints/%s", s->prefix, job_hex);
}

static void counter_key(const etcd_store_t *s, const char *job_hex, char *key, size_t cap)
{
    snprintf(key, cap, "%scheckpoint-counter/%s", s->prefix, job_hex);
}

static int is_hex_id(const char *s)
{
    if (strlen(s) != TE_ID_HEX_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static te_status_t es_load(te_job_store_t *base, te_job_store_record_fn fn, void *arg, te_error_t *err)
{
    etcd_store_t *s = (etcd_store_t *)base;
    char prefix[600];
    job_key(s, "", prefix, sizeof(prefix));
    json_t *r = etcd_client_call_sync(s->etcd, "/v3/kv/range", etcd_range_body(prefix, 1), err);
    if (r == NULL)
        return err ? err->code : TE_EIO;
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(r, "kvs"), i, kv)
    {
        char *key = etcd_b64_field(kv, "key", NULL), *value = etcd_b64_field(kv, "value", NULL);
        const char *hex = key ? key + strlen(prefix) : NULL;
        if (key == NULL || value == NULL || !is_hex_id(hex))
            TE_ERROR(CTX, "skipping etcd key %s: not a job record", key ? key : "(undecodable)");
        else
            fn(arg, hex, value);
        free(key);
        free(value);
    }
    json_decref(r);
    return TE_OK;
}

static void op_unlink(etcd_op_t *op)
{
    etcd_store_t *s = op->s;
    if (op->prev)
        op->prev->next = op->next;
    else
        s->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
}

static void op_free(etcd_op_t *op)
{
    json_decref(op->succ);
    if (op->retry != NULL)
        event_free(op->retry);
    free(op);
}

static void op_send(etcd_op_t *op);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    op_send(arg);
}

static void on_txn(void *arg, const json_t *reply, const te_error_t *err)
{
    etcd_op_t *op = arg;
    etcd_store_t *s = op->s;
    te_error_t e = {0};
    if (reply == NULL && err->code == TE_EIO) { /* no answer: the outcome is unknown */
        if (op->failures++ == 0)
            TE_WARN(CTX, "job %s: %s; sending it again every %d ms until etcd answers", op->job_hex, err->msg,
                    RETRY_MS);
        if (op->retry == NULL)
            op->retry = evtimer_new(etcd_client_base(s->etcd), on_retry, op);
        struct timeval tv = {0, RETRY_MS * 1000};
        if (op->retry != NULL && evtimer_add(op->retry, &tv) == 0)
            return;
    }
    op_unlink(op);
    if (reply == NULL) {
        e = *err;
    } else if (!json_is_true(json_object_get(reply, "succeeded"))) {
        te_error_set(&e, TE_EIO, "job %s not written: this JobManager is no longer the leader", op->job_hex);
        leader_election_lost(s->election, "a job store write was refused by etcd (the leader key is not ours)");
    }
    if (op->failures > 0 && e.code == TE_OK)
        TE_INFO(CTX, "job %s: written after %d attempt(s) without an answer", op->job_hex, op->failures);
    if (op->done)
        op->done(op->arg, e.code == TE_OK ? NULL : &e);
    op_free(op);
}

static void op_send(etcd_op_t *op)
{
    json_t *cmp = json_array();
    json_array_append_new(cmp, leader_election_guard(op->s->election));
    etcd_client_call(op->s->etcd, "/v3/kv/txn", etcd_txn_body(cmp, json_incref(op->succ), NULL), on_txn, op);
}

/* One guarded txn of `succ` (taken) for the job. */
static void submit_ops(etcd_store_t *s, const char *job_hex, json_t *succ, te_job_store_done_fn done, void *arg)
{
    etcd_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        json_decref(succ);
        te_error_t err = {0};
        te_error_set(&err, TE_ENOMEM, "out of memory writing job %s to the job store", job_hex);
        if (done)
            done(arg, &err);
        return;
    }
    *op = (etcd_op_t){s, succ, NULL, 0, "", done, arg, NULL, s->ops};
    snprintf(op->job_hex, sizeof(op->job_hex), "%s", job_hex);
    if (s->ops)
        s->ops->prev = op;
    s->ops = op;
    op_send(op);
}

static void submit(etcd_store_t *s, const char *job_hex, const char *record, te_job_store_done_fn done, void *arg)
{
    char key[600];
    json_t *succ = json_array();
    job_key(s, job_hex, key, sizeof(key));
    json_array_append_new(succ, record ? etcd_op_put(key, record, 0) : etcd_op_delete(key, 0));
    if (record == NULL) { /* the job's checkpoint pointer and counter go with it */
        checkpoint_key(s, job_hex, key, sizeof(key));
        json_array_append_new(succ, etcd_op_delete(key, 0));
        counter_key(s, job_hex, key, sizeof(key));
        json_array_append_new(succ, etcd_op_delete(key, 0));
    }
    submit_ops(s, job_hex, succ, done, arg);
}

static void es_put_checkpoint(te_job_store_t *base, const char *job_hex, uint64_t id, const char *dir,
                              te_job_store_done_fn done, void *arg)
{
    etcd_store_t *s = (etcd_store_t *)base;
    char key[600], num[32];
    json_t *ptr = json_pack("{s:I, s:s}", "id", (json_int_t)id, "path", dir);
    char *text = ptr ? json_dumps(ptr, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(ptr);
    if (text == NULL) {
        te_error_t err = {0};
        te_error_set(&err, TE_ENOMEM, "out of memory");
        done(arg, &err);
        return;
    }
    json_t *succ = json_array();
    checkpoint_key(s, job_hex, key, sizeof(key));
    json_array_append_new(succ, etcd_op_put(key, text, 0));
    counter_key(s, job_hex, key, sizeof(key));
    snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
    json_array_append_new(succ, etcd_op_put(key, num, 0));
    free(text);
    submit_ops(s, job_hex, succ, done, arg);
}

static char *es_latest_checkpoint(te_job_store_t *base, const char *job_hex, uint64_t *id, te_error_t *err)
{
    etcd_store_t *s = (etcd_store_t *)base;
    char key[600];
    checkpoint_key(s, job_hex, key, sizeof(key));
    json_t *r = etcd_client_call_sync(s->etcd, "/v3/kv/range", etcd_range_body(key, 0), err);
    if (r == NULL)
        return NULL;
    char *text = etcd_b64_field(json_array_get(json_object_get(r, "kvs"), 0), "value", NULL);
    json_t *ptr = text ? json_loads(text, 0, NULL) : NULL;
    const char *path = json_string_value(json_object_get(ptr, "path"));
    char *out = path ? strdup(path) : NULL;
    *id = (uint64_t)json_integer_value(json_object_get(ptr, "id"));
    if (text != NULL && out == NULL)
        te_error_set(err, TE_EINVAL, "the checkpoint pointer %s in etcd is unreadable", key);
    free(text);
    json_decref(ptr);
    json_decref(r);
    return out;
}

static void es_put(te_job_store_t *base, const char *job_hex, const char *record, te_job_store_done_fn done,
                   void *arg)
{
    submit((etcd_store_t *)base, job_hex, record, done, arg);
}

static void es_remove(te_job_store_t *base, const char *job_hex, te_job_store_done_fn done, void *arg)
{
    submit((etcd_store_t *)base, job_hex, NULL, done, arg);
}

/* Pending operations complete with an error; their etcd calls are dropped when the
 * client is freed (the owner frees it right after, without running the loop). */
static void es_free(te_job_store_t *base)
{
    etcd_store_t *s = (etcd_store_t *)base;
    while (s->ops != NULL) {
        etcd_op_t *op = s->ops;
        op_unlink(op);
        te_error_t err = {0};
        te_error_set(&err, TE_ECANCELED, "the job store was closed before job %s was written", op->job_hex);
        if (op->done)
            op->done(op->arg, &err);
        op_free(op);
    }
    free(s);
}

void etcd_job_store_set_election(te_job_store_t *store, te_leader_election_t *election)
{
    ((etcd_store_t *)store)->election = election;
}

static const te_job_store_ops_t etcd_ops = {
    es_describe, es_load, es_put, es_remove, es_free, es_put_checkpoint, es_latest_checkpoint,
};

te_job_store_t *etcd_job_store_new(te_etcd_client_t *etcd, te_leader_election_t *election, const char *prefix,
                                   te_error_t *err)
{
    etcd_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    s->base.ops = &etcd_ops;
    s->etcd = etcd;
    s->election = election;
    snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
    snprintf(s->describe, sizeof(s->describe), "%s under %s", etcd_client_describe(etcd), prefix);
    return &s->base;
}

/*
 * sink_kafka — the `kafka` sink: produces records to Kafka through librdkafka, with
 * delivery none, at_least_once or exactly_once (a transactional producer committing on
 * checkpoint confirmation, Flink's TwoPhaseCommitSinkFunction).
 *
 * Parameters: bootstrap_servers (required), topic (a fixed topic) or topic_field (the
 * field naming each record's topic; not with exactly_once), key_field (optional; no key
 * without it), value_field (default: the whole record), delivery = at_least_once
 * (default) | none | exactly_once, transactional_id_prefix (default "te"),
 * transaction_timeout (default 15min, librdkafka's transaction.timeout.ms),
 * flush_timeout (default 60s), delimiter ("\t"), side_output (default "malformed"),
 * and kafka.<name> = librdkafka property <name> (never logged).
 *
 * none: records are handed to the producer and never waited for (at-most-once).
 * at_least_once: a checkpoint's synchronous phase flushes the producer and waits for
 *   every acknowledgement; a delivery error fails the task. What precedes a completed
 *   checkpoint is in Kafka; a replay produces the records since then again.
 * exactly_once: one transactional producer per subtask, transactional.id =
 *   <prefix>-<vertex id>-<subtask>. The records between two checkpoints form one
 *   transaction; snapshot(n) flushes it (pre-commit) and notify_checkpoint_complete(n)
 *   commits it. librdkafka cannot resume another process's transaction (Flink's
 *   resumeTransaction has no equivalent), so a transaction whose checkpoint completed
 *   but whose commit was lost with the process would be aborted by the next
 *   init_transactions. The sink therefore keeps the records of every transaction not
 *   yet committed in its checkpointed state (a write-ahead copy) and marks each commit
 *   atomically inside the transaction by committing the offset <checkpoint id> of the
 *   sink's topic partition 0 for the group <transactional.id>-marker
 *   (send_offsets_to_transaction). On restore of checkpoint n: init_transactions
 *   fences the old producer and aborts its open transactions (those of checkpoints
 *   after n, whose records are replayed); then every restored transaction whose marker
 *   is below its checkpoint id is produced again in a new transaction and committed —
 *   nothing lost, nothing committed twice. Records that arrive while transaction n
 *   waits for its confirmation are buffered (one producer holds one transaction) and
 *   sent when it is committed. Consumers must read with isolation.level=read_committed.
 *   transaction_timeout must exceed the checkpoint interval plus the time a restart
 *   takes, or the broker aborts a pre-committed transaction (the write-ahead copy then
 *   still restores it after a failure, but a running job fails its commit). At the end
 *   of a bounded input the open transaction is committed.
 * A record without its topic / key / value field goes to the side output and
 * numMalformedRecords.
 *
 * Threading: every callback runs on the owning task's thread; librdkafka's delivery
 * reports are served by rd_kafka_poll on that thread.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/connector_util.h"
#include "operators/op_keyed.h"

/* The records of one transaction: (u32 key length + 1, 0 = no key | key | u32 value
 * length | value | u32 topic length | topic) each. */
typedef struct ktxn {
    uint64_t ckpt;
    op_buf_t recs;
    uint64_t n;
    int produced; /* sent in the open transaction (else buffered) */
} ktxn_t;

typedef struct kafka_sink {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *bootstrap, *topic, *prefix;
    int32_t topic_field, key_field, value_field;
    conn_delivery_t delivery;
    int64_t txn_timeout, flush_timeout;
    char delim;
    const char *side_tag;
    char tid[128], marker_group[160];
    rd_kafka_conf_t *conf; /* until open */
    rd_kafka_t *rk;
    rd_kafka_t *marker; /* exactly_once: a consumer handle reading the marker group */
    uint64_t delivery_errors;
    char first_error[256];
    /* exactly_once */
    int in_txn; /* a transaction is open on rk */
    uint64_t last_marker;
    int waiting;    /* pre-committed transactions wait for confirmation: buffer */
    ktxn_t current; /* records of the open transaction (or buffered) */
    ktxn_t *pending;
    size_t npending;
    ktxn_t *restored;
    size_t nrestored;
    op_buf_t tbuf;
    uint64_t logged;
} kafka_sink_t;

static void kafka_sink_dispose(void *self);

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kafka_sink_t *k = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (k->delivery_errors++ == 0)
        snprintf(k->first_error, sizeof(k->first_error), "%s", rd_kafka_err2str(m->err));
}

static void *kafka_sink_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"bootstrap_servers",
                                          "topic",
                                          "topic_field",
                                          "key_field",
                                          "value_field",
                                          "delivery",
                                          "transactional_id_prefix",
                                          "transaction_timeout",
                                          "flush_timeout",
                                          "delimiter",
                                          "side_output",
                                          NULL};
    op_setup_t s = {api, ctx, "kafka", err, errlen};
    if (op_check_keys_prefixed(&s, allowed, "kafka.") != 0)
        return NULL;
    kafka_sink_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    k->api = api;
    k->ctx = ctx;
    if (op_get_string(&s, "bootstrap_servers", 1, NULL, &k->bootstrap) != 0 ||
        op_get_string(&s, "topic", 0, NULL, &k->topic) != 0 ||
        conn_get_field(&s, "topic_field", 0, &k->topic_field) != 0 ||
        conn_get_field(&s, "key_field", 0, &k->key_field) != 0 ||
        conn_get_field(&s, "value_field", 0, &k->value_field) != 0 ||
        conn_get_delivery(&s, "delivery", "at_least_once", 1, &k->delivery) != 0 ||
        op_get_string(&s, "transactional_id_prefix", 0, "te", &k->prefix) != 0 ||
        op_get_duration_ms(&s, "transaction_timeout", 0, 900000, 1000, 86400000, &k->txn_timeout) != 0 ||
        op_get_duration_ms(&s, "flush_timeout", 0, 60000, 100, 3600000, &k->flush_timeout) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &k->delim) != 0 ||
        op_get_string(&s, "side_output", 0, CONN_MALFORMED_TAG, &k->side_tag) != 0)
        goto cleanup;
    if ((k->topic == NULL) == (k->topic_field < 0)) {
        op_errorf(&s, "give exactly one of 'topic' (a fixed topic) and 'topic_field' (the field naming it)");
        goto cleanup;
    }
    if (k->delivery == CONN_DELIVERY_EXACTLY_ONCE && (k->topic == NULL || api->abi_version < 3)) {
        op_errorf(&s,
                  "delivery 'exactly_once' needs a fixed 'topic' (its partition 0 carries the commit markers)");
        goto cleanup;
    }
    char timeout[24];
    snprintf(timeout, sizeof(timeout), "%lld", (long long)k->txn_timeout);
    if (api->abi_version >= 3)
        snprintf(k->tid, sizeof(k->tid), "%s-%s-%u", k->prefix, api->vertex_id(ctx), api->subtask_index(ctx));
    snprintf(k->marker_group, sizeof(k->marker_group), "%s-marker", k->tid);
    const char *eo[] = {"transactional.id", k->tid, "transaction.timeout.ms", timeout, NULL};
    const char *alo[] = {"acks", "all", NULL};
    const char *none[] = {NULL};
    const char *const *fixed = k->delivery == CONN_DELIVERY_EXACTLY_ONCE    ? eo
                               : k->delivery == CONN_DELIVERY_AT_LEAST_ONCE ? alo
                                                                            : none;
    if ((k->conf = conn_kafka_conf(&s, k->bootstrap, fixed)) == NULL)
        goto cleanup;
    rd_kafka_conf_set_dr_msg_cb(k->conf, on_delivery);
    rd_kafka_conf_set_opaque(k->conf, k);
    return k;
cleanup:
    kafka_sink_dispose(k);
    return NULL;
}

/* ---- transactions ---- */

static int txn_fail(kafka_sink_t *k, const char *what, rd_kafka_error_t *e)
{
    k->api->fail(k->ctx, "operator 'kafka': %s (transactional.id %s, %s): %s", what, k->tid, k->bootstrap,
                 e ? rd_kafka_error_string(e) : "failed");
    if (e)
        rd_kafka_error_destroy(e);
    return -1;
}

static int produce(kafka_sink_t *k, const char *topic, const void *key, size_t klen, const void *val, size_t vlen)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(k->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            k->api->fail(k->ctx, "operator 'kafka': cannot produce to '%s' on %s: %s", topic, k->bootstrap,
                         rd_kafka_err2str(e));
            return -1;
        }
        rd_kafka_poll(k->rk, 10); /* the local queue is full: wait for deliveries */
        if (k->api->is_cancelled(k->ctx))
            return -1;
    }
}

static int flush_all(kafka_sink_t *k)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(k->rk, (int)k->flush_timeout);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        k->api->fail(k->ctx, "operator 'kafka': not every record was acknowledged by %s within %lld ms: %s",
                     k->bootstrap, (long long)k->flush_timeout, rd_kafka_err2str(e));
        return -1;
    }
    if (k->delivery_errors > 0 && k->delivery != CONN_DELIVERY_NONE) {
        k->api->fail(k->ctx, "operator 'kafka': %llu record(s) could not be delivered to %s: %s",
                     (unsigned long long)k->delivery_errors, k->bootstrap, k->first_error);
        return -1;
    }
    return 0;
}

static int begin_txn(kafka_sink_t *k)
{
    rd_kafka_error_t *e = rd_kafka_begin_transaction(k->rk);
    if (e != NULL)
        return txn_fail(k, "begin_transaction", e);
    k->in_txn = 1;
    return 0;
}

/* Adds the commit marker of checkpoint ckpt to the open transaction. */
static int add_marker(kafka_sink_t *k, uint64_t ckpt)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, k->topic, 0)->offset = (int64_t)ckpt;
    rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata_new(k->marker_group);
    rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(k->rk, l, gm, (int)k->flush_timeout);
    rd_kafka_consumer_group_metadata_destroy(gm);
    rd_kafka_topic_partition_list_destroy(l);
    return e ? txn_fail(k, "send_offsets_to_transaction (commit marker)", e) : 0;
}

/* The marker read back: the last checkpoint whose transaction committed (-1 none). */
static int64_t read_marker(kafka_sink_t *k)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, k->topic, 0);
    rd_kafka_resp_err_t e = rd_kafka_committed(k->marker, l, (int)k->flush_timeout);
    int64_t v =
        e == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR ? l->elems[0].offset : -2;
    rd_kafka_topic_partition_list_destroy(l);
    if (v == -2)
        k->api->fail(k->ctx, "operator 'kafka': cannot read the commit marker of group %s from %s: %s",
                     k->marker_group, k->bootstrap, rd_kafka_err2str(e));
    return v < 0 && v != -2 ? -1 : v;
}

static int commit_txn(kafka_sink_t *k, uint64_t ckpt)
{
    if (add_marker(k, ckpt) != 0)
        return -1;
    rd_kafka_error_t *e = rd_kafka_commit_transaction(k->rk, (int)k->flush_timeout);
    if (e != NULL)
        return txn_fail(k, "commit_transaction", e);
    k->in_txn = 0;
    k->last_marker = ckpt;
    k->api->counter_add(k->ctx, "numTransactionsCommitted", 1);
    return 0;
}

/* Appends one record to a transaction's write-ahead copy. */
static int txn_add(ktxn_t *t, const char *topic, const void *key, uint32_t klen, int has_key, const void *val,
                   uint32_t vlen)
{
    t->n++;
    return conn_put_u32(&t->recs, has_key ? klen + 1 : 0) | op_buf_append(&t->recs, key, has_key ? klen : 0) |
           conn_put_bytes(&t->recs, val, vlen) | conn_put_str(&t->recs, topic);
}

/* Produces every record of t (in the open transaction). */
static int txn_replay(kafka_sink_t *k, const ktxn_t *t)
{
    conn_state_t r = {t->recs.data, t->recs.len, 0, 0};
    while (r.off < r.len && !r.bad) {
        uint32_t kl = conn_get_u32(&r), vl, tl;
        const uint8_t *key = NULL;
        if (kl > 0) {
            key = r.p + r.off;
            r.off += kl - 1 <= r.len - r.off ? kl - 1 : (r.bad = 1, 0);
        }
        const uint8_t *val = conn_get_bytes(&r, &vl), *tp = conn_get_bytes(&r, &tl);
        if (r.bad || tl >= 256)
            break;
        char topic[256];
        memcpy(topic, tp, tl);
        topic[tl] = '\0';
        if (produce(k, topic, key, kl ? kl - 1 : 0, val, vl) != 0)
            return -1;
    }
    if (r.bad) {
        k->api->fail(k->ctx, "operator 'kafka': corrupt write-ahead records of checkpoint %" PRIu64, t->ckpt);
        return -1;
    }
    return 0;
}

static void txn_release(ktxn_t *t)
{
    op_buf_release(&t->recs);
    t->n = 0;
}

/* Sends the buffered records into a new transaction. */
static int start_next_txn(kafka_sink_t *k)
{
    if (begin_txn(k) != 0)
        return -1;
    k->waiting = 0;
    return k->current.n > 0 ? txn_replay(k, &k->current) : 0;
}

/* Drops pending[0..n). */
static void pending_shift(kafka_sink_t *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        txn_release(&k->pending[i]);
    memmove(k->pending, k->pending + n, (k->npending - n) * sizeof(*k->pending));
    k->npending -= n;
}

/* Produces the buffered pending entries [0, upto) into the open transaction. */
static int produce_pending(kafka_sink_t *k, size_t upto)
{
    for (size_t i = 0; i < upto; i++)
        if (!k->pending[i].produced) {
            if (txn_replay(k, &k->pending[i]) != 0)
                return -1;
            k->pending[i].produced = 1;
        }
    return 0;
}

/* ---- lifecycle ---- */

static int restore_transactions(kafka_sink_t *k)
{
    rd_kafka_error_t *e = rd_kafka_init_transactions(k->rk, (int)k->flush_timeout);
    if (e != NULL)
        return txn_fail(k, "init_transactions", e);
    if (k->nrestored == 0)
        return 0;
    int64_t marker = read_marker(k);
    if (marker == -2)
        return -1;
    for (size_t i = 0; i < k->nrestored; i++) {
        ktxn_t *t = &k->restored[i];
        if ((int64_t)t->ckpt <= marker)
            continue; /* committed before the failure */
        if (begin_txn(k) != 0 || txn_replay(k, t) != 0 || commit_txn(k, t->ckpt) != 0)
            return -1;
        k->api->log(k->ctx, TE_OP_INFO,
                    "re-committed the %" PRIu64 " records of checkpoint %" PRIu64
                    " (its transaction was not committed before the failure)",
                    t->n, t->ckpt);
    }
    return 0;
}

/* Fetches the sink topic's metadata once: librdkafka looks up a topic it has no
 * metadata for only about once a second, so without this the first records of a job
 * wait ~1 s (a bounded job's whole run is that much longer). Bounded by 2 s, so an
 * unreachable broker does not hold the task in open; a failure is left to the produce
 * path, which reports it with the broker's error. */
static void warm_topic_metadata(kafka_sink_t *k)
{
    if (k->topic == NULL)
        return; /* topics from a field: not known yet */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, k->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt != NULL &&
        rd_kafka_metadata(k->rk, 0, rkt, &md, k->flush_timeout < 2000 ? (int)k->flush_timeout : 2000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt != NULL)
        rd_kafka_topic_destroy(rkt);
}

static int kafka_sink_open(void *self, char *err, size_t errlen)
{
    kafka_sink_t *k = self;
    op_setup_t s = {k->api, k->ctx, "kafka", err, errlen};
    char msg[512];
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, k->conf, msg, sizeof(msg));
    if (k->rk == NULL)
        return op_errorf(&s, "cannot create a Kafka producer: %s", msg);
    k->conf = NULL;
    warm_topic_metadata(k);
    k->api->log(k->ctx, TE_OP_INFO, "producing to %s on %s, delivery %s", k->topic ? k->topic : "(topic_field)",
                k->bootstrap, conn_delivery_name(k->delivery));
    if (k->delivery != CONN_DELIVERY_EXACTLY_ONCE)
        return 0;
    const char *mc[] = {"group.id", k->marker_group, "enable.auto.commit", "false", NULL};
    rd_kafka_conf_t *c = conn_kafka_conf(&s, k->bootstrap, mc);
    if (c == NULL)
        return -1;
    k->marker = rd_kafka_new(RD_KAFKA_CONSUMER, c, msg, sizeof(msg));
    if (k->marker == NULL) {
        rd_kafka_conf_destroy(c);
        return op_errorf(&s, "cannot create a Kafka consumer for the commit marker: %s", msg);
    }
    if (restore_transactions(k) != 0 || begin_txn(k) != 0)
        return op_errorf(&s, "opening the exactly-once sink on %s failed", k->bootstrap);
    return 0;
}

static int kafka_sink_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    kafka_sink_t *k = self;
    (void)input;
    const uint8_t *tp = NULL, *key = NULL, *val = rec->data;
    uint32_t tl = 0, kl = 0, vl = rec->len;
    if ((k->topic_field >= 0 && conn_field(rec, k->delim, (uint32_t)k->topic_field, &tp, &tl) != 0) ||
        (k->key_field >= 0 && conn_field(rec, k->delim, (uint32_t)k->key_field, &key, &kl) != 0) ||
        (k->value_field >= 0 && conn_field(rec, k->delim, (uint32_t)k->value_field, &val, &vl) != 0) ||
        (tp != NULL && (tl == 0 || tl >= 250))) {
        conn_malformed(k->api, k->ctx, out, k->side_tag, rec, &k->logged, "lacks its topic, key or value field");
        return 0;
    }
    const char *topic = k->topic;
    if (topic == NULL) {
        k->tbuf.len = 0;
        if (op_buf_append(&k->tbuf, tp, tl) != 0 || op_buf_append(&k->tbuf, "", 1) != 0)
            return -1;
        topic = (const char *)k->tbuf.data;
    }
    if (k->delivery == CONN_DELIVERY_EXACTLY_ONCE &&
        txn_add(&k->current, topic, key, kl, key != NULL, val, vl) != 0) {
        k->api->fail(k->ctx, "operator 'kafka': out of memory");
        return -1;
    }
    if (k->waiting)
        return 0; /* buffered until the pre-committed transaction is confirmed */
    if (produce(k, topic, key, kl, val, vl) != 0)
        return -1;
    rd_kafka_poll(k->rk, 0);
    if (k->delivery == CONN_DELIVERY_AT_LEAST_ONCE && k->delivery_errors > 0)
        return flush_all(k);
    return 0;
}

/* State (exactly_once): u32 version 1 | u32 n | n x (u64 checkpoint | u64 records | bytes). */
static int kafka_sink_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    kafka_sink_t *k = self;
    *data = NULL;
    *len = 0;
    if (k->delivery == CONN_DELIVERY_NONE)
        return 0;
    if (k->delivery == CONN_DELIVERY_AT_LEAST_ONCE)
        return flush_all(k);
    /* pre-commit: every record of the open transaction is in Kafka */
    if (!k->waiting && flush_all(k) != 0)
        return -1;
    ktxn_t *np = realloc(k->pending, (k->npending + 1) * sizeof(*np));
    if (np == NULL)
        return -1;
    k->pending = np;
    k->current.ckpt = checkpoint_id;
    k->current.produced = !k->waiting;
    k->pending[k->npending++] = k->current;
    memset(&k->current, 0, sizeof(k->current));
    k->waiting = 1;
    op_buf_t b = {0};
    int rc = conn_put_u32(&b, 1) | conn_put_u32(&b, (uint32_t)k->npending);
    for (size_t i = 0; i < k->npending; i++)
        rc |= conn_put_u64(&b, k->pending[i].ckpt) | conn_put_u64(&b, k->pending[i].n) |
              conn_put_bytes(&b, k->pending[i].recs.data, (uint32_t)k->pending[i].recs.len);
    if (rc != 0) {
        op_buf_release(&b);
        return -1;
    }
    conn_state_take(&b, data, len);
    return 0;
}

/* Checkpoint id completed: commits the open transaction when every entry it holds
 * belongs to a checkpoint <= id, then the buffered entries <= id in one more
 * transaction; entries of later checkpoints go into the next open transaction (still
 * waiting), or, with none left, the buffered records do (no longer waiting). Each
 * commit carries the marker of its last checkpoint. */
static int kafka_sink_notify_complete(void *self, uint64_t checkpoint_id)
{
    kafka_sink_t *k = self;
    if (k->delivery != CONN_DELIVERY_EXACTLY_ONCE || k->rk == NULL || k->npending == 0)
        return 0;
    size_t nprod = 0, ndone = 0;
    while (nprod < k->npending && k->pending[nprod].produced)
        nprod++;
    while (ndone < k->npending && k->pending[ndone].ckpt <= checkpoint_id)
        ndone++;
    if (ndone < nprod)
        return 0; /* the open transaction holds a checkpoint not yet complete */
    if (commit_txn(k, k->pending[nprod - 1].ckpt) != 0)
        return -1;
    pending_shift(k, nprod);
    ndone -= nprod;
    if (ndone > 0) {
        if (begin_txn(k) != 0 || produce_pending(k, ndone) != 0 || commit_txn(k, k->pending[ndone - 1].ckpt) != 0)
            return -1;
        pending_shift(k, ndone);
    }
    if (k->npending > 0) {
        if (begin_txn(k) != 0 || produce_pending(k, k->npending) != 0 || flush_all(k) != 0)
            return -1;
        return 0; /* still waiting for their confirmation */
    }
    return start_next_txn(k);
}

static int kafka_sink_restore(void *self, const uint8_t *data, size_t len)
{
    kafka_sink_t *k = self;
    if (len == 0)
        return 0;
    conn_state_t r = {data, len, 0, 0};
    uint32_t ver = conn_get_u32(&r), n = conn_get_u32(&r);
    for (uint32_t i = 0; ver == 1 && i < n && !r.bad; i++) {
        ktxn_t t = {0};
        t.ckpt = conn_get_u64(&r);
        t.n = conn_get_u64(&r);
        uint32_t bl;
        const uint8_t *b = conn_get_bytes(&r, &bl);
        ktxn_t *np = realloc(k->restored, (k->nrestored + 1) * sizeof(*np));
        if (b == NULL || np == NULL || op_buf_append(&t.recs, b, bl) != 0) {
            if (np)
                k->restored = np;
            r.bad = 1;
            break;
        }
        k->restored = np;
        k->restored[k->nrestored++] = t;
    }
    if (ver != 1 || r.bad || r.off != len) {
        k->api->fail(k->ctx, "operator 'kafka': corrupt restored state (%zu bytes)", len);
        return -1;
    }
    return 0;
}

static int kafka_sink_close(void *self, te_output_t *out)
{
    kafka_sink_t *k = self;
    (void)out;
    if (k->rk == NULL)
        return 0;
    if (k->delivery != CONN_DELIVERY_EXACTLY_ONCE)
        return flush_all(k);
    /* end of a bounded input: everything is final */
    uint64_t marker = k->npending ? k->pending[k->npending - 1].ckpt : k->last_marker;
    if (produce_pending(k, k->npending) != 0 ||
        (k->waiting && k->current.n > 0 && txn_replay(k, &k->current) != 0) || flush_all(k) != 0 ||
        commit_txn(k, marker) != 0)
        return -1;
    pending_shift(k, k->npending);
    txn_release(&k->current);
    return 0;
}

static void kafka_sink_dispose(void *self)
{
    kafka_sink_t *k = self;
    if (k == NULL)
        return;
    if (k->rk) {
        if (k->delivery != CONN_DELIVERY_EXACTLY_ONCE)
            rd_kafka_flush(k->rk, 1000);
        rd_kafka_destroy(k->rk); /* an open transaction times out / is aborted by the next attempt */
    }
    if (k->marker)
        rd_kafka_destroy(k->marker);
    if (k->conf)
        rd_kafka_conf_destroy(k->conf);
    for (size_t i = 0; i < k->npending; i++)
        txn_release(&k->pending[i]);
    for (size_t i = 0; i < k->nrestored; i++)
        txn_release(&k->restored[i]);
    free(k->pending);
    free(k->restored);
    txn_release(&k->current);
    op_buf_release(&k->tbuf);
    free(k);
}

const te_operator_def_t op_kafka_sink_def = {
    .abi_version = 2, /* text records through the engine's bridge; uses the v3 api (job_id) when present */
    .name = "kafka",
    .kind = TE_OP_ONE_INPUT,
    .setup = kafka_sink_setup,
    .open = kafka_sink_open,
    .process_element = kafka_sink_process,
    .snapshot = kafka_sink_snapshot,
    .restore = kafka_sink_restore,
    .notify_checkpoint_complete = kafka_sink_notify_complete,
    .close = kafka_sink_close,
    .dispose = kafka_sink_dispose,
};

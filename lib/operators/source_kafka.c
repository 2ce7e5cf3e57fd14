/*
 * source_kafka — the `kafka` source: records of Kafka topics through librdkafka, with
 * offsets in operator state (exactly-once with checkpoints) and per-partition
 * watermarks (Flink's FlinkKafkaConsumer / KafkaSource).
 *
 * Parameters: bootstrap_servers (required), topics (comma-separated) or topic_pattern
 * (a POSIX extended regex over topic names) — one is required; group_id (default
 * te-<job 8>-<vertex 8>; offsets are committed to it on checkpoint confirmation, for
 * monitoring only), start_from = committed (default; partitions without a committed
 * offset start at the earliest) | earliest | latest | timestamp:<ms>,
 * partition_discovery_interval (default 10s; 0 = off), max_out_of_orderness (default
 * 0), idle_timeout (default 5s; 0 = never), connect_timeout (default 10s), delimiter
 * ("\t"), side_output (default "malformed"), bounded (default false: true ends the
 * source once every partition reached the end offset it had at open — Flink's
 * setBounded(latest); no partition discovery then), rate (records per second for the
 * whole source, shared by its subtasks; 0 = unlimited, default), and kafka.<name> = librdkafka property
 * <name> (security, tuning: kafka.security.protocol, kafka.sasl.password, ...; never
 * logged).
 *
 * Partitions: partition p of topic t goes to subtask ((hash(t) * 31 & 0x7fffffff) + p)
 * mod parallelism, hash = Java's String.hashCode (Flink's KafkaTopicPartitionAssigner),
 * assigned directly (no group rebalancing). Every partition_discovery_interval the
 * topic metadata is read again; new partitions of this subtask start at the earliest
 * offset.
 *
 * Records: key, value, topic, partition, offset, timestamp (ms) as fields; the record's
 * timestamp is the Kafka timestamp (event time). A record whose key or value holds the
 * delimiter or a line break cannot be a text record: topic, partition and offset go to
 * the side output and numMalformedRecords.
 *
 * Watermarks (per split, merged): each partition's watermark is its largest timestamp
 * - max_out_of_orderness - 1; the source emits the minimum over the partitions that are
 * not idle, when it advances. A partition that delivered nothing for idle_timeout is
 * idle (it does not hold the watermark back); when all are idle the source is marked
 * idle. Watermarks start over after a restore (as Flink's).
 *
 * State: (topic, partition, next offset) of every assigned partition. A restore seeks
 * there (exactly-once with checkpoints); notify_checkpoint_complete(n) commits
 * checkpoint n's offsets to group_id asynchronously (never read back for recovery).
 * Restoring at another parallelism is refused by the engine (sources keep positions).
 *
 * Errors: an unreachable cluster fails open after connect_timeout with the bootstrap
 * servers and librdkafka's error; a fatal consumer error fails the task.
 *
 * Threading: a step-wise source; every callback runs on the task thread (librdkafka
 * runs its own threads internally; the consumer queue is polled without blocking).
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/connector_util.h"
#include "operators/op_keyed.h"

#define KAFKA_BATCH           1024
#define KAFKA_PENDING_COMMITS 4

typedef struct kpart {
    char *topic;
    int32_t partition;
    int64_t next; /* next offset to read; RD_KAFKA_OFFSET_* before the first record */
    int64_t max_ts, last_active_ms;
    int restored;
    int64_t end; /* bounded: the high watermark at open (stop there); -1 unbounded */
} kpart_t;

typedef struct kcommit {
    uint64_t ckpt;
    rd_kafka_topic_partition_list_t *offsets;
} kcommit_t;

typedef struct kafka_source {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *bootstrap, *topic_pattern, *group_id;
    char **topics;
    size_t ntopics;
    regex_t re;
    int have_re;
    int64_t start_ts; /* start_from timestamp:<ms> */
    int start_mode;   /* 0 committed, 1 earliest, 2 latest, 3 timestamp */
    int64_t discovery_ms, ooo, idle_timeout, connect_timeout, next_discovery;
    char delim;
    const char *side_tag;
    char group_buf[64];
    rd_kafka_conf_t *conf; /* until open */
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    kpart_t *parts;
    size_t nparts, cap_parts;
    kcommit_t commits[KAFKA_PENDING_COMMITS];
    int64_t emitted_wm;
    int idle;
    int bounded;
    op_rate_t pace;
    int64_t step_now;                 /* conn_now_ms() at the start of the step */
    const rd_kafka_topic_t *last_rkt; /* the partition of the previous message (batches */
    int32_t last_partition;           /* come partition by partition) */
    size_t last_idx;
    op_buf_t rec;
    uint64_t logged;
    rd_kafka_message_t *batch[KAFKA_BATCH];
} kafka_source_t;

static void kafka_source_dispose(void *self);

static int parse_start(op_setup_t *s, kafka_source_t *k, const char *v)
{
    static const char *const modes[] = {"committed", "earliest", "latest"};
    for (int i = 0; i < 3; i++)
        if (strcmp(v, modes[i]) == 0) {
            k->start_mode = i;
            return 0;
        }
    if (strncmp(v, "timestamp:", 10) == 0 && op_parse_int64(v + 10, &k->start_ts) == 0 && k->start_ts >= 0) {
        k->start_mode = 3;
        return 0;
    }
    return op_errorf(s,
                     "parameter 'start_from' = '%s' is not allowed (allowed: committed, earliest, latest, "
                     "timestamp:<ms since the epoch>)",
                     v);
}

static void *kafka_source_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"bootstrap_servers",
                                          "topics",
                                          "topic_pattern",
                                          "group_id",
                                          "start_from",
                                          "partition_discovery_interval",
                                          "max_out_of_orderness",
                                          "idle_timeout",
                                          "connect_timeout",
                                          "delimiter",
                                          "side_output",
                                          "bounded",
                                          "rate",
                                          NULL};
    op_setup_t s = {api, ctx, "kafka", err, errlen};
    if (op_require_v2(&s) != 0 || op_check_keys_prefixed(&s, allowed, "kafka.") != 0)
        return NULL;
    kafka_source_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    k->api = api;
    k->ctx = ctx;
    k->emitted_wm = INT64_MIN;
    const char *topics, *start;
    int64_t rate;
    if (op_get_string(&s, "bootstrap_servers", 1, NULL, &k->bootstrap) != 0 ||
        op_get_string(&s, "topics", 0, NULL, &topics) != 0 ||
        op_get_string(&s, "topic_pattern", 0, NULL, &k->topic_pattern) != 0 ||
        op_get_string(&s, "group_id", 0, NULL, &k->group_id) != 0 ||
        op_get_string(&s, "start_from", 0, "committed", &start) != 0 || parse_start(&s, k, start) != 0 ||
        op_get_duration_ms(&s, "partition_discovery_interval", 0, 10000, 0, 86400000, &k->discovery_ms) != 0 ||
        op_get_duration_ms(&s, "max_out_of_orderness", 0, 0, 0, 86400000, &k->ooo) != 0 ||
        op_get_duration_ms(&s, "idle_timeout", 0, 5000, 0, 86400000, &k->idle_timeout) != 0 ||
        op_get_duration_ms(&s, "connect_timeout", 0, 10000, 100, 3600000, &k->connect_timeout) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &k->delim) != 0 ||
        op_get_string(&s, "side_output", 0, CONN_MALFORMED_TAG, &k->side_tag) != 0 ||
        op_get_bool(&s, "bounded", 0, &k->bounded) != 0 || op_get_int(&s, "rate", 0, 0, 0, 1000000000, &rate) != 0)
        goto cleanup;
    k->pace.rate = rate > 0 ? (double)rate / (api->parallelism(ctx) ? api->parallelism(ctx) : 1) : 0.0;
    if (k->bounded)
        k->discovery_ms = 0;
    if ((topics == NULL) == (k->topic_pattern == NULL)) {
        op_errorf(&s, "give exactly one of 'topics' (a comma-separated list) and 'topic_pattern' (a regex)");
        goto cleanup;
    }
    if (topics != NULL && conn_split_list(&s, "topics", topics, &k->topics, &k->ntopics) != 0)
        goto cleanup;
    if (k->topic_pattern != NULL) {
        if (regcomp(&k->re, k->topic_pattern, REG_EXTENDED | REG_NOSUB) != 0) {
            op_errorf(&s, "parameter 'topic_pattern' = '%s' is not a valid extended regular expression",
                      k->topic_pattern);
            goto cleanup;
        }
        k->have_re = 1;
    }
    if (k->group_id == NULL) {
        snprintf(k->group_buf, sizeof(k->group_buf), "te-%.8s-%.8s",
                 api->abi_version >= 3 ? api->job_id(ctx) : "0",
                 api->abi_version >= 3 ? api->vertex_id(ctx) : "0");
        k->group_id = k->group_buf;
    }
    const char *fixed[] = {"group.id",
                           k->group_id,
                           "enable.auto.commit",
                           "false",
                           "enable.auto.offset.store",
                           "false",
                           "enable.partition.eof",
                           "false",
                           NULL};
    if ((k->conf = conn_kafka_conf(&s, k->bootstrap, fixed)) == NULL)
        goto cleanup;
    return k;
cleanup:
    kafka_source_dispose(k);
    return NULL;
}

/* ---- partitions ---- */

static uint32_t owner_of(const char *topic, int32_t partition, uint32_t n)
{
    uint32_t start = ((uint32_t)conn_java_hash(topic) * 31u & 0x7fffffffu) % n;
    return (start + (uint32_t)partition) % n;
}

static kpart_t *find_part(kafka_source_t *k, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].partition == partition && strcmp(k->parts[i].topic, topic) == 0)
            return &k->parts[i];
    return NULL;
}

static kpart_t *add_part(kafka_source_t *k, const char *topic, int32_t partition, int64_t next)
{
    if (k->nparts == k->cap_parts) {
        size_t nc = k->cap_parts ? 2 * k->cap_parts : 16;
        kpart_t *np = realloc(k->parts, nc * sizeof(*np));
        if (np == NULL)
            return NULL;
        k->parts = np;
        k->cap_parts = nc;
    }
    char *t = strdup(topic);
    if (t == NULL)
        return NULL;
    kpart_t *p = &k->parts[k->nparts++];
    *p = (kpart_t){t, partition, next, INT64_MIN, conn_now_ms(), 0, -1};
    return p;
}

static int wanted_topic(const kafka_source_t *k, const char *topic)
{
    if (k->have_re)
        return topic[0] != '_' && regexec(&k->re, topic, 0, NULL, 0) == 0;
    for (size_t i = 0; i < k->ntopics; i++)
        if (strcmp(k->topics[i], topic) == 0)
            return 1;
    return 0;
}

/* Reads the metadata and adds this subtask's partitions not yet known (start offset
 * `start`). Returns the number added, or -1 after api->fail. */
static int discover(kafka_source_t *k, int64_t start)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, (int)k->connect_timeout);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        k->api->fail(k->ctx, "operator 'kafka': cannot read the topic metadata from %s: %s", k->bootstrap,
                     rd_kafka_err2str(e));
        return -1;
    }
    uint32_t n = k->api->parallelism(k->ctx), me = k->api->subtask_index(k->ctx);
    int added = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];
        if (mt->err != RD_KAFKA_RESP_ERR_NO_ERROR || !wanted_topic(k, mt->topic))
            continue;
        for (int p = 0; p < mt->partition_cnt; p++) {
            int32_t pid = mt->partitions[p].id;
            if (owner_of(mt->topic, pid, n) != me || find_part(k, mt->topic, pid) != NULL)
                continue;
            if (add_part(k, mt->topic, pid, start) == NULL) {
                rd_kafka_metadata_destroy(md);
                k->api->fail(k->ctx, "operator 'kafka': out of memory");
                return -1;
            }
            added++;
        }
    }
    rd_kafka_metadata_destroy(md);
    return added;
}

/* Resolves committed / timestamp start offsets of partitions that have none yet. */
static int resolve_starts(kafka_source_t *k)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->nparts);
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].next == RD_KAFKA_OFFSET_STORED || k->parts[i].next == RD_KAFKA_OFFSET_TAIL_BASE)
            rd_kafka_topic_partition_list_add(l, k->parts[i].topic, k->parts[i].partition)->offset = k->start_ts;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (l->cnt > 0)
        e = k->start_mode == 3 ? rd_kafka_offsets_for_times(k->rk, l, (int)k->connect_timeout)
                               : rd_kafka_committed(k->rk, l, (int)k->connect_timeout);
    for (int i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && i < l->cnt; i++) {
        kpart_t *p = find_part(k, l->elems[i].topic, l->elems[i].partition);
        /* no committed offset / no record at or after the timestamp */
        p->next = l->elems[i].offset >= 0 ? l->elems[i].offset
                  : k->start_mode == 3    ? RD_KAFKA_OFFSET_END
                                          : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        k->api->fail(k->ctx, "operator 'kafka': cannot read the start offsets (start_from %s) from %s: %s",
                     k->start_mode == 3 ? "timestamp" : "committed", k->bootstrap, rd_kafka_err2str(e));
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

static int assign_all(kafka_source_t *k)
{
    if (resolve_starts(k) != 0)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->nparts + 1);
    for (size_t i = 0; i < k->nparts; i++)
        rd_kafka_topic_partition_list_add(l, k->parts[i].topic, k->parts[i].partition)->offset = k->parts[i].next;
    rd_kafka_resp_err_t e = rd_kafka_assign(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        k->api->fail(k->ctx, "operator 'kafka': cannot assign partitions: %s", rd_kafka_err2str(e));
        return -1;
    }
    k->api->log(k->ctx, TE_OP_INFO, "assigned %zu partition(s) from %s", k->nparts, k->bootstrap);
    return 0;
}

/* bounded: the end offset of every partition (its high watermark now). */
static int query_ends(kafka_source_t *k)
{
    for (size_t i = 0; i < k->nparts; i++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(k->rk, k->parts[i].topic, k->parts[i].partition,
                                                                 &lo, &hi, (int)k->connect_timeout);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            k->api->fail(k->ctx, "operator 'kafka': cannot read the end offset of %s/%d from %s: %s",
                         k->parts[i].topic, (int)k->parts[i].partition, k->bootstrap, rd_kafka_err2str(e));
            return -1;
        }
        k->parts[i].end = lo >= hi ? 0 : hi; /* 0: nothing to read */
    }
    return 0;
}

/* bounded: every partition reached its end offset */
static int all_ended(const kafka_source_t *k)
{
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].end > 0 && k->parts[i].next < k->parts[i].end)
            return 0;
    return 1;
}

static int kafka_source_open(void *self, char *err, size_t errlen)
{
    kafka_source_t *k = self;
    op_setup_t s = {k->api, k->ctx, "kafka", err, errlen};
    char msg[512];
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, k->conf, msg, sizeof(msg));
    if (k->rk == NULL)
        return op_errorf(&s, "cannot create a Kafka consumer: %s", msg);
    k->conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(k->rk);
    k->q = rd_kafka_queue_get_consumer(k->rk);
    int64_t start = k->start_mode == 1   ? RD_KAFKA_OFFSET_BEGINNING
                    : k->start_mode == 2 ? RD_KAFKA_OFFSET_END
                    : k->start_mode == 3 ? RD_KAFKA_OFFSET_TAIL_BASE /* marker: resolve by time */
                                         : RD_KAFKA_OFFSET_STORED;
    /* the end offsets before the assignment: once partitions are assigned, each
     * ListOffsets request waits behind the broker thread's long-polling fetch
     * (fetch.wait.max.ms, 500 ms) — seconds for a topic of several partitions */
    if (discover(k, start) < 0 || (k->bounded && query_ends(k) != 0) || assign_all(k) != 0)
        return op_errorf(&s, "opening the source on %s failed", k->bootstrap);
    k->next_discovery = conn_now_ms() + k->discovery_ms;
    return 0;
}

/* ---- records and watermarks ---- */

static int has_bad_byte(const void *p, size_t n, char delim)
{
    return p && (memchr(p, delim, n) || memchr(p, '\n', n) || memchr(p, '\r', n));
}

static int emit_message(kafka_source_t *k, te_output_t *out, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    kpart_t *p;
    if (m->rkt == k->last_rkt && m->partition == k->last_partition && k->last_idx < k->nparts) {
        p = &k->parts[k->last_idx];
    } else {
        p = find_part(k, topic, m->partition);
        if (p == NULL)
            return 0; /* not (any more) ours */
        k->last_rkt = m->rkt;
        k->last_partition = m->partition;
        k->last_idx = (size_t)(p - k->parts);
    }
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    p->next = m->offset + 1;
    p->last_active_ms = k->step_now;
    if (ts >= 0 && ts > p->max_ts)
        p->max_ts = ts;
    k->rec.len = 0;
    int bad = has_bad_byte(m->key, m->key_len, k->delim) || has_bad_byte(m->payload, m->len, k->delim);
    if (!bad && (conn_row_add(&k->rec, k->delim, 1, m->key, m->key ? m->key_len : 0, NULL) != 0 ||
                 conn_row_add(&k->rec, k->delim, 0, m->payload, m->payload ? m->len : 0, NULL) != 0))
        goto cleanup;
    if (conn_row_add_str(&k->rec, k->delim, bad, topic) != 0 ||
        conn_row_add_i64(&k->rec, k->delim, 0, m->partition) ||
        conn_row_add_i64(&k->rec, k->delim, 0, m->offset) != 0 ||
        (!bad && conn_row_add_i64(&k->rec, k->delim, 0, ts) != 0))
        goto cleanup;
    te_record_t rec = {k->rec.data, (uint32_t)k->rec.len, ts >= 0 ? ts : TE_NO_TIMESTAMP};
    if (bad)
        return conn_malformed(k->api, k->ctx, out, k->side_tag, &rec, &k->logged,
                              "key or value at %s/%d offset %" PRId64 " holds the delimiter or a line break",
                              topic, (int)m->partition, m->offset);
    return k->api->emit(out, &rec);
cleanup:
    k->api->fail(k->ctx, "operator 'kafka': out of memory");
    return -1;
}

/* Emits the merged per-partition watermark when it advanced; marks the source idle
 * when every partition is. */
static int update_watermark(kafka_source_t *k, te_output_t *out)
{
    int64_t now = conn_now_ms(), wm = INT64_MAX;
    int active = 0;
    for (size_t i = 0; i < k->nparts; i++) {
        const kpart_t *p = &k->parts[i];
        if (k->idle_timeout > 0 && now - p->last_active_ms >= k->idle_timeout)
            continue;
        active++;
        int64_t pw = p->max_ts == INT64_MIN ? INT64_MIN : p->max_ts - k->ooo - 1;
        if (pw < wm)
            wm = pw;
    }
    if (active == 0) {
        if (!k->idle && k->nparts > 0) {
            k->idle = 1;
            k->api->mark_idle(k->ctx, 1);
        }
        return 0;
    }
    k->idle = 0;
    if (wm != INT64_MIN && wm > k->emitted_wm) {
        k->emitted_wm = wm;
        return k->api->emit_watermark(out, wm);
    }
    return 0;
}

static te_source_status_t kafka_source_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms)
{
    kafka_source_t *k = self;
    if (k->bounded && all_ended(k))
        return TE_SOURCE_END;
    if (k->discovery_ms > 0 && conn_now_ms() >= k->next_discovery) {
        k->next_discovery = conn_now_ms() + k->discovery_ms;
        int added = discover(k, RD_KAFKA_OFFSET_BEGINNING);
        if (added < 0 || (added > 0 && assign_all(k) != 0))
            return TE_SOURCE_ERROR;
    }
    k->step_now = conn_now_ms();
    uint64_t allowed = op_rate_allow(&k->pace, budget, idle_wait_ms);
    if (allowed == 0)
        return TE_SOURCE_IDLE;
    budget = (uint32_t)allowed;
    uint32_t total = 0;
    while (total < budget) {
        size_t want = budget - total < KAFKA_BATCH ? budget - total : KAFKA_BATCH;
        ssize_t n = rd_kafka_consume_batch_queue(k->q, 0, k->batch, want);
        if (n <= 0)
            break;
        int rc = 0;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = k->batch[i];
            if (rc == 0 && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                rc = emit_message(k, out, m);
            } else if (rc == 0 && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                k->api->log(k->ctx, TE_OP_WARN, "consumer error from %s: %s", k->bootstrap,
                            rd_kafka_message_errstr(m));
                char fatal[256];
                if (rd_kafka_fatal_error(k->rk, fatal, sizeof(fatal)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                    k->api->fail(k->ctx, "operator 'kafka': fatal consumer error from %s: %s", k->bootstrap,
                                 fatal);
                    rc = -1;
                }
            }
            rd_kafka_message_destroy(m);
        }
        if (rc != 0)
            return k->api->is_cancelled(k->ctx) ? TE_SOURCE_MORE : TE_SOURCE_ERROR;
        total += (uint32_t)n;
        k->pace.emitted += (uint64_t)n;
        if ((size_t)n < want)
            break;
    }
    if (update_watermark(k, out) != 0)
        return TE_SOURCE_MORE;
    if (k->bounded && all_ended(k))
        return TE_SOURCE_END;
    if (total == 0) {
        *idle_wait_ms = 5;
        return TE_SOURCE_IDLE;
    }
    return TE_SOURCE_MORE;
}

/* ---- state ---- */

static rd_kafka_topic_partition_list_t *offsets_of(const kafka_source_t *k)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->nparts + 1);
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].next >= 0)
            rd_kafka_topic_partition_list_add(l, k->parts[i].topic, k->parts[i].partition)->offset =
                k->parts[i].next;
    return l;
}

/* State: u32 version 1 | u32 n | n x (str topic | u32 partition | u64 next offset, as
 * signed: negative = librdkafka's logical start offset). */
static int kafka_source_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    kafka_source_t *k = self;
    op_buf_t b = {0};
    int rc = conn_put_u32(&b, 1) | conn_put_u32(&b, (uint32_t)k->nparts);
    for (size_t i = 0; i < k->nparts; i++)
        rc |= conn_put_str(&b, k->parts[i].topic) | conn_put_u32(&b, (uint32_t)k->parts[i].partition) |
              conn_put_u64(&b, (uint64_t)k->parts[i].next);
    if (rc != 0) {
        op_buf_release(&b);
        return -1;
    }
    kcommit_t *c = &k->commits[checkpoint_id % KAFKA_PENDING_COMMITS];
    if (c->offsets)
        rd_kafka_topic_partition_list_destroy(c->offsets);
    c->ckpt = checkpoint_id;
    c->offsets = offsets_of(k);
    conn_state_take(&b, data, len);
    return 0;
}

static int kafka_source_restore(void *self, const uint8_t *data, size_t len)
{
    kafka_source_t *k = self;
    conn_state_t r = {data, len, 0, 0};
    uint32_t ver = conn_get_u32(&r), n = conn_get_u32(&r);
    for (uint32_t i = 0; ver == 1 && i < n && !r.bad; i++) {
        char *topic = conn_get_str(&r);
        int32_t part = (int32_t)conn_get_u32(&r);
        int64_t next = (int64_t)conn_get_u64(&r);
        if (topic == NULL)
            break;
        kpart_t *p = find_part(k, topic, part);
        if (p == NULL)
            p = add_part(k, topic, part, next);
        free(topic);
        if (p == NULL) {
            r.bad = 1;
            break;
        }
        p->next = next;
        p->restored = 1;
    }
    if (ver != 1 || r.bad || r.off != len) {
        k->api->fail(k->ctx, "operator 'kafka': corrupt restored state (%zu bytes)", len);
        return -1;
    }
    return 0;
}

static int kafka_source_notify_complete(void *self, uint64_t checkpoint_id)
{
    kafka_source_t *k = self;
    kcommit_t *c = &k->commits[checkpoint_id % KAFKA_PENDING_COMMITS];
    if (k->rk == NULL || c->offsets == NULL || c->ckpt != checkpoint_id || c->offsets->cnt == 0)
        return 0;
    rd_kafka_resp_err_t e = rd_kafka_commit(k->rk, c->offsets, 1); /* async; monitoring only */
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        k->api->log(k->ctx, TE_OP_WARN, "committing the offsets of checkpoint %" PRIu64 " to group %s: %s",
                    checkpoint_id, k->group_id, rd_kafka_err2str(e));
    return 0;
}

static void kafka_source_dispose(void *self)
{
    kafka_source_t *k = self;
    if (k == NULL)
        return;
    if (k->q)
        rd_kafka_queue_destroy(k->q);
    if (k->rk) {
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    if (k->conf)
        rd_kafka_conf_destroy(k->conf);
    for (int i = 0; i < KAFKA_PENDING_COMMITS; i++)
        if (k->commits[i].offsets)
            rd_kafka_topic_partition_list_destroy(k->commits[i].offsets);
    for (size_t i = 0; i < k->nparts; i++)
        free(k->parts[i].topic);
    free(k->parts);
    free(k->topics);
    if (k->have_re)
        regfree(&k->re);
    op_buf_release(&k->rec);
    free(k);
}

const te_operator_def_t op_kafka_source_def = {
    .abi_version = 2, /* text records through the engine's bridge; uses the v3 api (job_id) when present */
    .name = "kafka",
    .kind = TE_OP_SOURCE,
    .blocking_source = 0,
    .setup = kafka_source_setup,
    .open = kafka_source_open,
    .step = kafka_source_step,
    .snapshot = kafka_source_snapshot,
    .restore = kafka_source_restore,
    .notify_checkpoint_complete = kafka_source_notify_complete,
    .dispose = kafka_source_dispose,
};

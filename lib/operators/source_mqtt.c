/*
 * source_mqtt — the `mqtt` source: messages of an MQTT broker's topics, through
 * libmosquitto (MQTT 3.1.1).
 *
 * Parameters: topics (required; comma-separated filters, wildcards + and # allowed),
 * payload_delimiter (optional single character: the payload is split at it into
 * several fields, e.g. "," turns "1700000000000,21.5" into two fields), max_messages
 * (default 0 = unbounded; the source ends after that many messages — for tests and
 * demos), delimiter ("\t"), side_output (default "malformed"), and the connection
 * parameters of every MQTT operator: host (127.0.0.1), port (1883), qos (0 or 1,
 * default 1), client_id (default te-<job 8>-<vertex 8>-<subtask>-src, the same in
 * every attempt of the job), username, password (never logged), keepalive (60s),
 * connect_timeout (10s), clean_session (default true).
 *
 * Each message is one record: topic <delim> payload (or the payload's fields). A
 * payload containing the delimiter, a newline or a carriage return cannot be a text
 * record: it goes, as topic <delim> payload, to the side output and the
 * numMalformedRecords counter. Records carry no timestamp (assign_timestamps after the
 * source gives event time from a field).
 *
 * Guarantee — MQTT cannot replay, and libmosquitto acknowledges a QoS 1 message (PUBACK)
 * as it receives it, before the application has seen it: there is no way to
 * acknowledge only after the checkpoint that contains the message completes. So:
 *   - qos 1 + clean_session=false (a persistent session): messages published while the
 *     job is down (between a failure and the restart, up to the broker's queue limit)
 *     are kept by the broker and delivered after the restart — nothing published
 *     during an outage is lost;
 *   - messages already received when a task fails, but not yet covered by a completed
 *     checkpoint, are lost (they were acknowledged and are not replayed): at-most-once
 *     for that window;
 *   - qos 0, or clean_session=true: at-most-once.
 * The source has no operator state (no position to restore).
 *
 * The client runs on the task thread: each step runs the client's network loop without
 * blocking (mosquitto_loop with timeout 0) and emits from its message callback; with
 * nothing to read it returns IDLE (a 5 ms wait). A lost connection fails the task with
 * the broker's address and libmosquitto's error; the job's restart strategy applies.
 *
 * Threading: a step-wise source; every callback (and libmosquitto's) runs on the task
 * thread.
 */
#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/connector_util.h"

typedef struct mqtt_source {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    conn_mqtt_opts_t o;
    char **topics;
    size_t ntopics;
    char delim, payload_delim;
    const char *side_tag;
    int64_t max_messages;
    uint64_t received;
    struct mosquitto *mosq;
    /* during a step */
    te_output_t *out;
    uint32_t got;
    int emit_failed;
    op_buf_t rec;
    uint64_t logged;
} mqtt_source_t;

static void mqtt_source_dispose(void *self);

static void *mqtt_source_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {
        CONN_MQTT_KEYS, "topics", "payload_delimiter", "max_messages", "delimiter", "side_output", NULL};
    op_setup_t s = {api, ctx, "mqtt", err, errlen};
    if (op_check_keys(&s, allowed) != 0)
        return NULL;
    mqtt_source_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    m->api = api;
    m->ctx = ctx;
    const char *topics;
    if (conn_mqtt_get_opts(&s, "src", &m->o) != 0 || op_get_string(&s, "topics", 1, NULL, &topics) != 0 ||
        conn_split_list(&s, "topics", topics, &m->topics, &m->ntopics) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &m->delim) != 0 ||
        op_get_delimiter(&s, "payload_delimiter", '\0', &m->payload_delim) != 0 ||
        op_get_int(&s, "max_messages", 0, 0, 0, INT64_MAX, &m->max_messages) != 0 ||
        op_get_string(&s, "side_output", 0, CONN_MALFORMED_TAG, &m->side_tag) != 0)
        goto cleanup;
    for (size_t i = 0; i < m->ntopics; i++)
        if (mosquitto_sub_topic_check(m->topics[i]) != MOSQ_ERR_SUCCESS) {
            op_errorf(&s, "parameter 'topics': '%s' is not a valid topic filter", m->topics[i]);
            goto cleanup;
        }
    return m;
cleanup:
    mqtt_source_dispose(m);
    return NULL;
}

/* One message: topic <delim> payload, to the main or the side output. */
static void mqtt_source_on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg)
{
    (void)mosq;
    mqtt_source_t *m = arg;
    if (m->out == NULL || (m->max_messages > 0 && m->received >= (uint64_t)m->max_messages))
        return;
    m->received++;
    m->got++;
    const uint8_t *pl = msg->payload;
    size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    int bad = memchr(pl, m->delim, n) != NULL || memchr(pl, '\n', n) != NULL || memchr(pl, '\r', n) != NULL;
    m->rec.len = 0;
    if (conn_row_add_str(&m->rec, m->delim, 1, msg->topic) != 0 ||
        op_buf_reserve(&m->rec, m->rec.len + 1 + n) != 0) {
        m->api->fail(m->ctx, "operator 'mqtt': out of memory");
        m->emit_failed = 1;
        return;
    }
    m->rec.data[m->rec.len++] = (uint8_t)m->delim;
    for (size_t i = 0; i < n; i++)
        m->rec.data[m->rec.len++] =
            !bad && m->payload_delim != '\0' && pl[i] == (uint8_t)m->payload_delim ? (uint8_t)m->delim : pl[i];
    te_record_t rec = {m->rec.data, (uint32_t)m->rec.len, TE_NO_TIMESTAMP};
    int rc = bad ? conn_malformed(m->api, m->ctx, m->out, m->side_tag, &rec, &m->logged,
                                  "the payload on '%s' contains the delimiter or a line break", msg->topic)
                 : m->api->emit(m->out, &rec);
    if (rc != 0)
        m->emit_failed = 1;
}

static void mqtt_source_on_subscribe(struct mosquitto *mosq, void *arg, int mid, int n, const int *granted)
{
    (void)mosq, (void)mid;
    mqtt_source_t *m = arg;
    for (int i = 0; i < n; i++)
        if (granted[i] > 2)
            m->api->log(m->ctx, TE_OP_WARN, "the broker at %s refused the subscription to '%s'", m->o.where,
                        i < (int)m->ntopics ? m->topics[i] : "?");
    m->api->log(m->ctx, TE_OP_INFO, "subscribed at %s as '%s' (qos %lld, clean_session %s)", m->o.where,
                m->o.client_id, (long long)m->o.qos, m->o.clean_session ? "true" : "false");
}

static int mqtt_source_open(void *self, char *err, size_t errlen)
{
    mqtt_source_t *m = self;
    op_setup_t s = {m->api, m->ctx, "mqtt", err, errlen};
    char msg[TE_OP_ERR_MAX];
    m->mosq = conn_mqtt_connect(&m->o, m, msg, sizeof(msg));
    if (m->mosq == NULL)
        return op_errorf(&s, "%s", msg);
    mosquitto_message_callback_set(m->mosq, mqtt_source_on_message);
    mosquitto_subscribe_callback_set(m->mosq, mqtt_source_on_subscribe);
    int rc = mosquitto_subscribe_multiple(m->mosq, NULL, (int)m->ntopics, m->topics, (int)m->o.qos, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        return op_errorf(&s, "cannot subscribe at the MQTT broker %s: %s", m->o.where, mosquitto_strerror(rc));
    return 0;
}

static te_source_status_t mqtt_source_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms)
{
    mqtt_source_t *m = self;
    if (m->max_messages > 0 && m->received >= (uint64_t)m->max_messages)
        return TE_SOURCE_END;
    m->out = out;
    uint32_t total = 0;
    for (int round = 0; round < 256 && total < budget; round++) {
        m->got = 0;
        int rc = mosquitto_loop(m->mosq, 0, 1);
        total += m->got;
        if (m->emit_failed) {
            m->out = NULL;
            return m->api->is_cancelled(m->ctx) ? TE_SOURCE_MORE : TE_SOURCE_ERROR;
        }
        if (rc != MOSQ_ERR_SUCCESS) {
            m->out = NULL;
            m->api->fail(m->ctx, "operator 'mqtt': the connection to the MQTT broker at %s failed: %s", m->o.where,
                         rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            return TE_SOURCE_ERROR;
        }
        if (m->got == 0)
            break;
    }
    m->out = NULL;
    if (m->max_messages > 0 && m->received >= (uint64_t)m->max_messages) {
        mosquitto_disconnect(m->mosq);
        return TE_SOURCE_END;
    }
    if (total == 0) {
        *idle_wait_ms = 5;
        return TE_SOURCE_IDLE;
    }
    return TE_SOURCE_MORE;
}

static void mqtt_source_dispose(void *self)
{
    mqtt_source_t *m = self;
    if (m == NULL)
        return;
    if (m->mosq != NULL) {
        mosquitto_disconnect(m->mosq);
        mosquitto_destroy(m->mosq);
    }
    free(m->topics);
    op_buf_release(&m->rec);
    free(m);
}

const te_operator_def_t op_mqtt_source_def = {
    .abi_version = 2, /* text records through the engine's bridge; uses the v3 api (job_id) when present */
    .name = "mqtt",
    .kind = TE_OP_SOURCE,
    .blocking_source = 0,
    .setup = mqtt_source_setup,
    .open = mqtt_source_open,
    .step = mqtt_source_step,
    .dispose = mqtt_source_dispose,
};

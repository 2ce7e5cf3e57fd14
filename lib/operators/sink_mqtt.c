/*
 * sink_mqtt — the `mqtt` sink: publishes records to an MQTT broker through
 * libmosquitto (MQTT 3.1.1).
 *
 * Parameters: topic (a fixed topic) or topic_field (the field naming each record's
 * topic) — one of them is required; payload_field (default: the whole record),
 * retain (default false), max_inflight (QoS 1 messages not yet acknowledged, default
 * 1000), delimiter ("\t"), side_output (default "malformed"), and the connection
 * parameters of every MQTT operator (see source_mqtt.c: host, port, qos 0|1 (default 1),
 * client_id (default te-<job 8>-<vertex 8>-<subtask>-sink), username, password,
 * keepalive, connect_timeout, clean_session).
 *
 * Guarantee: with qos 1, a checkpoint's synchronous phase waits until the broker has
 * acknowledged every message published before it, so everything before a completed
 * checkpoint reached the broker: at-least-once across failures (a replay publishes the
 * messages since the checkpoint again). close waits for every acknowledgement too.
 * With qos 0: at-most-once. A record without the topic or payload field, or whose topic
 * is not a valid topic name (empty, or with + or #), goes to the side output and
 * numMalformedRecords. A lost connection fails the task with the broker's address.
 *
 * Threading: every callback (and libmosquitto's) runs on the owning task's thread.
 */
#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/connector_util.h"

#define MQTT_FLUSH_TIMEOUT_MS 60000

typedef struct mqtt_sink {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    conn_mqtt_opts_t o;
    const char *topic;
    int32_t topic_field, payload_field;
    int retain;
    int64_t max_inflight;
    char delim;
    const char *side_tag;
    struct mosquitto *mosq;
    uint64_t published, acked;
    op_buf_t tbuf;
    uint64_t logged;
} mqtt_sink_t;

static void *mqtt_sink_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {CONN_MQTT_KEYS,  "topic",       "topic_field",
                                          "payload_field", "retain",      "max_inflight",
                                          "delimiter",     "side_output", NULL};
    op_setup_t s = {api, ctx, "mqtt", err, errlen};
    if (op_check_keys(&s, allowed) != 0)
        return NULL;
    mqtt_sink_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    m->api = api;
    m->ctx = ctx;
    if (conn_mqtt_get_opts(&s, "sink", &m->o) != 0 || op_get_string(&s, "topic", 0, NULL, &m->topic) != 0 ||
        conn_get_field(&s, "topic_field", 0, &m->topic_field) != 0 ||
        conn_get_field(&s, "payload_field", 0, &m->payload_field) != 0 ||
        op_get_bool(&s, "retain", 0, &m->retain) != 0 ||
        op_get_int(&s, "max_inflight", 0, 1000, 1, 65535, &m->max_inflight) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &m->delim) != 0 ||
        op_get_string(&s, "side_output", 0, CONN_MALFORMED_TAG, &m->side_tag) != 0)
        goto cleanup;
    if ((m->topic == NULL) == (m->topic_field < 0)) {
        op_errorf(&s, "give exactly one of 'topic' (a fixed topic) and 'topic_field' (the field naming it)");
        goto cleanup;
    }
    if (m->topic != NULL && mosquitto_pub_topic_check(m->topic) != MOSQ_ERR_SUCCESS) {
        op_errorf(&s, "parameter 'topic' = '%s' is not a valid topic name (no wildcards + or #)", m->topic);
        goto cleanup;
    }
    return m;
cleanup:
    free(m);
    return NULL;
}

static void mqtt_sink_on_publish(struct mosquitto *mosq, void *arg, int mid)
{
    (void)mosq, (void)mid;
    mqtt_sink_t *m = arg;
    m->acked++;
}

static int mqtt_sink_open(void *self, char *err, size_t errlen)
{
    mqtt_sink_t *m = self;
    op_setup_t s = {m->api, m->ctx, "mqtt", err, errlen};
    char msg[TE_OP_ERR_MAX];
    m->mosq = conn_mqtt_connect(&m->o, m, msg, sizeof(msg));
    if (m->mosq == NULL)
        return op_errorf(&s, "%s", msg);
    mosquitto_publish_callback_set(m->mosq, mqtt_sink_on_publish);
    mosquitto_max_inflight_messages_set(m->mosq, (unsigned)m->max_inflight);
    return 0;
}

static int mqtt_fail(mqtt_sink_t *m, int rc)
{
    m->api->fail(m->ctx, "operator 'mqtt': the connection to the MQTT broker at %s failed: %s", m->o.where,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    return -1;
}

/* Runs the client's loop until at most `left` messages are unacknowledged. */
static int mqtt_wait_acks(mqtt_sink_t *m, uint64_t left)
{
    int64_t deadline = conn_now_ms() + MQTT_FLUSH_TIMEOUT_MS;
    while (m->published - m->acked > left) {
        int rc = mosquitto_loop(m->mosq, 10, 1);
        if (rc != MOSQ_ERR_SUCCESS)
            return mqtt_fail(m, rc);
        if (conn_now_ms() > deadline) {
            m->api->fail(m->ctx,
                         "operator 'mqtt': the broker at %s acknowledged no message for %d s (%llu pending)",
                         m->o.where, MQTT_FLUSH_TIMEOUT_MS / 1000, (unsigned long long)(m->published - m->acked));
            return -1;
        }
        if (m->api->is_cancelled(m->ctx))
            return -1;
    }
    return 0;
}

static int mqtt_sink_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    mqtt_sink_t *m = self;
    (void)input;
    const uint8_t *tp = NULL, *pl = rec->data;
    uint32_t tl = 0, plen = rec->len;
    if ((m->topic_field >= 0 && conn_field(rec, m->delim, (uint32_t)m->topic_field, &tp, &tl) != 0) ||
        (m->payload_field >= 0 && conn_field(rec, m->delim, (uint32_t)m->payload_field, &pl, &plen) != 0)) {
        conn_malformed(m->api, m->ctx, out, m->side_tag, rec, &m->logged, "has no field %d",
                       m->topic_field >= 0 && tp == NULL ? m->topic_field : m->payload_field);
        return 0;
    }
    const char *topic = m->topic;
    if (topic == NULL) {
        m->tbuf.len = 0;
        if (op_buf_append(&m->tbuf, tp, tl) != 0 || op_buf_append(&m->tbuf, "", 1) != 0) {
            m->api->fail(m->ctx, "operator 'mqtt': out of memory");
            return -1;
        }
        topic = (const char *)m->tbuf.data;
        if (mosquitto_pub_topic_check(topic) != MOSQ_ERR_SUCCESS || memchr(tp, '\0', tl) != NULL) {
            conn_malformed(m->api, m->ctx, out, m->side_tag, rec, &m->logged, "'%s' is not a valid topic name",
                           topic);
            return 0;
        }
    }
    if (m->o.qos > 0 && m->published - m->acked >= (uint64_t)m->max_inflight &&
        mqtt_wait_acks(m, (uint64_t)m->max_inflight / 2) != 0)
        return -1;
    int rc = mosquitto_publish(m->mosq, NULL, topic, (int)plen, pl, (int)m->o.qos, m->retain != 0);
    if (rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_OVERSIZE_PACKET) {
        conn_malformed(m->api, m->ctx, out, m->side_tag, rec, &m->logged, "payload too large for the broker");
        return 0;
    }
    if (rc != MOSQ_ERR_SUCCESS)
        return mqtt_fail(m, rc);
    m->published++;
    if ((m->published & 63) == 0) { /* read acknowledgements now and then */
        rc = mosquitto_loop(m->mosq, 0, 1);
        if (rc != MOSQ_ERR_SUCCESS)
            return mqtt_fail(m, rc);
    }
    return 0;
}

static int mqtt_sink_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    mqtt_sink_t *m = self;
    (void)checkpoint_id;
    *data = NULL;
    *len = 0;
    return m->mosq && m->o.qos > 0 ? mqtt_wait_acks(m, 0) : 0;
}

static int mqtt_sink_close(void *self, te_output_t *out)
{
    mqtt_sink_t *m = self;
    (void)out;
    if (m->mosq == NULL)
        return 0;
    if (mqtt_wait_acks(m, 0) != 0)
        return -1;
    mosquitto_disconnect(m->mosq);
    return 0;
}

static void mqtt_sink_dispose(void *self)
{
    mqtt_sink_t *m = self;
    if (m == NULL)
        return;
    if (m->mosq != NULL)
        mosquitto_destroy(m->mosq);
    op_buf_release(&m->tbuf);
    free(m);
}

const te_operator_def_t op_mqtt_sink_def = {
    .abi_version = 2, /* text records through the engine's bridge; uses the v3 api (job_id) when present */
    .name = "mqtt",
    .kind = TE_OP_ONE_INPUT,
    .setup = mqtt_sink_setup,
    .open = mqtt_sink_open,
    .process_element = mqtt_sink_process,
    .snapshot = mqtt_sink_snapshot,
    .close = mqtt_sink_close,
    .dispose = mqtt_sink_dispose,
};

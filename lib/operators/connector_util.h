/*
 * connector_util — helpers shared by the connectors to external systems (source_kafka,
 * sink_kafka, source_postgres, sink_postgres, source_mqtt, sink_mqtt):
 *   - record field access and record building: the ONE place where a connector reads or
 *     writes the fields of a record (today delimiter-separated text; when typed binary
 *     rows land only this file changes);
 *   - malformed records: to a side output plus a counter, never a crash;
 *   - credentials: conninfo / URL redaction for every message and log line;
 *   - delivery guarantees (none | at_least_once | exactly_once | auto) and whether the
 *     job takes checkpoints (execution.checkpointing.interval);
 *   - pass-through parameters (keys "kafka.<name>" handed to the client library);
 *   - a little-endian state codec for operator snapshots.
 *
 * Like op_util: only te/operator.h and libc, so a plugin could copy it.
 *
 * Threading: pure functions; a conn_state_t / op_buf_t belongs to one operator
 * instance on its task thread.
 */
#ifndef TE_CONNECTOR_UTIL_H
#define TE_CONNECTOR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "operators/op_util.h"

/* Size of a connector's message buffers. */
#define TE_OP_ERR_MAX 1024

/* ---- fields ---- */

/* Field idx of rec (0-based): 0 with *p and *len borrowed from rec, -1 when the record has
 * fewer fields. */
int conn_field(const te_record_t *rec, char delim, uint32_t idx, const uint8_t **p, uint32_t *len);
/* The connectors read text records (their defs are ABI v2: the engine's bridge hands
 * them rows as tab-separated text): a field index parameter 0..CONN_FIELD_MAX; *out =
 * -1 when absent and not required. */
#define CONN_FIELD_MAX 65535
int conn_get_field(op_setup_t *s, const char *key, int required, int32_t *out);
/* Number of fields of rec (an empty record has one empty field). */
uint32_t conn_field_count(const te_record_t *rec, char delim);

/* Appends one field to a record being built in b (a delimiter first unless `first`,
 * the row's first field). Bytes equal to the delimiter, '\n' or '\r' inside the value are
 * replaced by a space (text records cannot carry them); *replaced (may be NULL) is
 * incremented per replaced byte. 0 or -1 (out of memory). */
int conn_row_add(op_buf_t *b, char delim, int first, const void *p, size_t n, uint64_t *replaced);
/* The same for a NUL-terminated string / a signed integer. */
int conn_row_add_str(op_buf_t *b, char delim, int first, const char *s);
int conn_row_add_i64(op_buf_t *b, char delim, int first, int64_t v);

/* ---- malformed records ---- */

/* The side-output tag malformed records go to unless a connector's `side_output`
 * parameter names another, and the counter they are counted in. */
#define CONN_MALFORMED_TAG     "malformed"
#define CONN_MALFORMED_COUNTER "numMalformedRecords"

/* Sends rec to the side output `tag`, counts it, and logs the first few (`why` says
 * what was wrong, e.g. "has 2 fields, 3 needed"). Returns what emit_side returned. */
int conn_malformed(const te_operator_api_t *api, te_operator_ctx_t *ctx, te_output_t *out, const char *tag,
                   const te_record_t *rec, uint64_t *logged, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* ---- credentials ---- */

/* Copies a libpq conninfo ("host=h password=secret" or "postgresql://u:secret@h/db") or
 * a URL into out with every password replaced by "***" (keys password / passwd /
 * sslpassword, and the ":secret@" of a URL's user info). Always NUL-terminates. */
void conn_redact(const char *in, char *out, size_t outlen);

/* ---- delivery ---- */

typedef enum conn_delivery {
    CONN_DELIVERY_NONE = 0,
    CONN_DELIVERY_AT_LEAST_ONCE = 1,
    CONN_DELIVERY_EXACTLY_ONCE = 2,
} conn_delivery_t;

/* 1 when the job takes checkpoints: its configuration has execution.checkpointing.interval
 * > 0 (tectl --checkpoint-interval sets it). */
int conn_job_checkpointing(const te_operator_api_t *api, te_operator_ctx_t *ctx);

/* The `delivery` parameter: none | at_least_once | exactly_once | auto (default `def`
 * when absent; auto = exactly_once when the job takes checkpoints, else
 * at_least_once). `allow_none` = 0 rejects none. 0 or -1 (message in s->err). */
int conn_get_delivery(op_setup_t *s, const char *key, const char *def, int allow_none, conn_delivery_t *out);
const char *conn_delivery_name(conn_delivery_t d);

/* ---- pass-through parameters ---- */

/* Calls fn(arg, key without prefix, value) for every parameter starting with prefix
 * (e.g. "kafka."). Returns 0, or the first non-zero value fn returned. */
int conn_foreach_prefixed(const te_operator_api_t *api, te_operator_ctx_t *ctx, const char *prefix,
                          int (*fn)(void *arg, const char *key, const char *value), void *arg);

/* A comma-separated list parameter split into NUL-terminated items (whitespace around
 * items trimmed, empty items rejected). *items and the strings are one malloc'd block:
 * free(*items). 0 or -1 (message in s->err). */
int conn_split_list(op_setup_t *s, const char *key, const char *value, char ***items, size_t *n);

/* ---- operator state codec (little endian, length-prefixed strings) ---- */

typedef struct conn_state {
    const uint8_t *p; /* reader */
    size_t len, off;
    int bad; /* a read ran past the end */
} conn_state_t;

int conn_put_u32(op_buf_t *b, uint32_t v);
int conn_put_u64(op_buf_t *b, uint64_t v);
int conn_put_bytes(op_buf_t *b, const void *p, uint32_t n); /* u32 length + bytes */
int conn_put_str(op_buf_t *b, const char *s);
uint32_t conn_get_u32(conn_state_t *r);
uint64_t conn_get_u64(conn_state_t *r);
/* Borrowed from the reader's bytes; *n gets the length. NULL (and r->bad) past the end. */
const uint8_t *conn_get_bytes(conn_state_t *r, uint32_t *n);
/* A malloc'd NUL-terminated copy, or NULL (bad input or out of memory: r->bad set). */
char *conn_get_str(conn_state_t *r);
/* Hands b's bytes to a snapshot (*data malloc'd, b emptied). */
void conn_state_take(op_buf_t *b, uint8_t **data, size_t *len);

/* ---- SQL (PostgreSQL connectors) ---- */

/* Appends name[0..n) quoted as an SQL identifier ("a""b"). 0 or -1 (out of memory). */
int conn_sql_ident(op_buf_t *b, const char *name, size_t n);

/* Connects with libpq: conninfo (a conninfo string or URI) with connect_timeout
 * (seconds, rounded down, >= 1) and fallback_application_name app (the conninfo's
 * application_name wins). NULL on failure,
 * with "cannot connect to PostgreSQL (<conninfo, password redacted>): <libpq's
 * message>" in err. */
struct pg_conn;
struct pg_result;
struct pg_conn *conn_pg_connect(const char *conninfo, int64_t timeout_ms, const char *app, char *err,
                                size_t errlen);
/* The error of res (or of the connection when res has none) on one line, in buf. */
const char *conn_pg_error(const struct pg_conn *conn, const struct pg_result *res, char *buf, size_t len);

/* ---- MQTT (libmosquitto connectors) ---- */

typedef struct conn_mqtt_opts {
    const char *host;
    int64_t port, keepalive, connect_timeout, qos;
    const char *client_id; /* NULL: te-<job 8>-<vertex 8>-<subtask>-<role> */
    const char *username, *password;
    int clean_session;
    char default_id[64];
    char where[300]; /* "host:port" for messages */
} conn_mqtt_opts_t;

/* The parameters both MQTT operators take: host (default 127.0.0.1), port (1883), qos
 * (0 or 1, default 1), client_id, username, password, keepalive (default 60s),
 * connect_timeout (default 10s), clean_session (default true). role names the default
 * client id ("src", "sink"). 0 or -1 (message in s->err). */
int conn_mqtt_get_opts(op_setup_t *s, const char *role, conn_mqtt_opts_t *o);
/* The MQTT parameter names, for op_check_keys lists: CONN_MQTT_KEYS, then the
 * operator's own. */
#define CONN_MQTT_KEYS \
    "host", "port", "qos", "client_id", "username", "password", "keepalive", "connect_timeout", "clean_session"

/* Creates a client and connects it (waiting for the broker's CONNACK up to
 * o->connect_timeout). userdata goes to the callbacks the caller sets afterwards.
 * NULL on failure with "cannot connect to the MQTT broker at host:port: <reason>" in err. */
struct mosquitto;
struct mosquitto *conn_mqtt_connect(const conn_mqtt_opts_t *o, void *userdata, char *err, size_t errlen);

/* ---- Kafka (librdkafka connectors) ---- */

/* A librdkafka configuration: bootstrap.servers, then every parameter kafka.<name> as
 * <name> (security and tuning pass-through, e.g. kafka.security.protocol), then the
 * `fixed` pairs (NULL-terminated key, value list; they win). NULL with librdkafka's
 * message naming the key in s->err. The values are never logged. */
struct rd_kafka_conf_s;
struct rd_kafka_conf_s *conn_kafka_conf(op_setup_t *s, const char *bootstrap, const char *const *fixed);

/* The monotonic clock in milliseconds (timeouts of connector calls). */
int64_t conn_now_ms(void);

/* Java's String.hashCode of a byte string (Flink's KafkaTopicPartitionAssigner). */
int32_t conn_java_hash(const char *s);

#endif

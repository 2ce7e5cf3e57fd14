/*
 * connector_util — fields, malformed records, redaction, delivery, pass-through keys and
 * the state codec shared by the connectors (see connector_util.h).
 *
 * Uses only te/operator.h, op_util and libc. Threading: pure; every helper works on
 * state owned by one operator instance, on that instance's task thread.
 */
#include "operators/connector_util.h"

#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "operators/op_keyed.h"

/* ---- fields ---- */

int conn_get_field(op_setup_t *s, const char *key, int required, int32_t *out)
{
    int64_t x;
    if (op_get_int(s, key, required, -1, 0, CONN_FIELD_MAX, &x) != 0)
        return -1;
    *out = (int32_t)x;
    return 0;
}

int conn_field(const te_record_t *rec, char delim, uint32_t idx, const uint8_t **p, uint32_t *len)
{
    uint32_t start, flen;
    if (te_record_field(rec->data, rec->len, delim, idx, &start, &flen) != 0)
        return -1;
    *p = rec->data + start;
    *len = flen;
    return 0;
}

uint32_t conn_field_count(const te_record_t *rec, char delim)
{
    uint32_t n = 1;
    for (const uint8_t *p = rec->data, *end = rec->data + rec->len;
         p < end && (p = memchr(p, (unsigned char)delim, (size_t)(end - p))) != NULL; p++)
        n++;
    return n;
}

int conn_row_add(op_buf_t *b, char delim, int first, const void *p, size_t n, uint64_t *replaced)
{
    if (op_buf_reserve(b, b->len + n + 1) != 0)
        return -1;
    if (!first)
        b->data[b->len++] = (uint8_t)delim;
    uint8_t *o = b->data + b->len;
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == (uint8_t)delim || c == '\n' || c == '\r') {
            c = ' ';
            if (replaced)
                (*replaced)++;
        }
        o[i] = c;
    }
    b->len += n;
    return 0;
}

int conn_row_add_str(op_buf_t *b, char delim, int first, const char *s)
{
    return conn_row_add(b, delim, first, s ? s : "", s ? strlen(s) : 0, NULL);
}

int conn_row_add_i64(op_buf_t *b, char delim, int first, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)v);
    return conn_row_add(b, delim, first, num, (size_t)n, NULL);
}

/* ---- malformed records ---- */

#define CONN_MALFORMED_LOG_MAX 5

int conn_malformed(const te_operator_api_t *api, te_operator_ctx_t *ctx, te_output_t *out, const char *tag,
                   const te_record_t *rec, uint64_t *logged, const char *fmt, ...)
{
    api->counter_add(ctx, CONN_MALFORMED_COUNTER, 1);
    if (logged != NULL && *logged < CONN_MALFORMED_LOG_MAX) {
        char why[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        (*logged)++;
        api->log(ctx, TE_OP_WARN, "malformed record (%u bytes) to side output '%s': %s%s", rec->len,
                 tag ? tag : CONN_MALFORMED_TAG, why,
                 *logged == CONN_MALFORMED_LOG_MAX ? " (further ones are only counted in " CONN_MALFORMED_COUNTER
                                                     ")"
                                                   : "");
    }
    return out ? api->emit_side(out, tag ? tag : CONN_MALFORMED_TAG, rec) : 0;
}

/* ---- credentials ---- */

static int is_secret_key(const char *k, size_t n)
{
    static const char *const keys[] = {"password", "passwd", "sslpassword", "pass", NULL};
    for (const char *const *s = keys; *s; s++)
        if (strlen(*s) == n && strncasecmp(k, *s, n) == 0)
            return 1;
    return 0;
}

/* Redacts the "user:secret@" of a URL in place (out holds the copy). */
static void redact_userinfo(char *out)
{
    char *scheme = strstr(out, "://");
    if (scheme == NULL)
        return;
    char *auth = scheme + 3;
    char *end = auth + strcspn(auth, "/?#");
    char *at = NULL;
    for (char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        return;
    char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon == NULL)
        return;
    memmove(colon + 4, at, strlen(at) + 1);
    memcpy(colon + 1, "***", 3);
}

void conn_redact(const char *in, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t o = 0;
    const char *p = in ? in : "";
    /* key=value pairs: copy, replacing the value of secret keys (also inside a URL's
     * query string: ?password=x&...) */
    while (*p && o + 1 < outlen) {
        const char *eq = strchr(p, '=');
        if (eq == NULL) {
            out[o++] = *p++;
            continue;
        }
        const char *k = eq;
        while (k > p && (isalnum((unsigned char)k[-1]) || k[-1] == '_'))
            k--;
        size_t pre = (size_t)(k - p) + (size_t)(eq - k) + 1;
        if (o + pre >= outlen)
            break;
        memcpy(out + o, p, pre);
        o += pre;
        const char *v = eq + 1;
        size_t vl;
        if (*v == '\'') { /* a quoted libpq value */
            const char *q = v + 1;
            while (*q && *q != '\'')
                q += (*q == '\\' && q[1]) ? 2 : 1;
            vl = (size_t)(q - v) + (*q == '\'');
        } else {
            vl = strcspn(v, " \t&;");
        }
        if (is_secret_key(k, (size_t)(eq - k))) {
            if (o + 3 >= outlen)
                break;
            memcpy(out + o, "***", 3);
            o += 3;
        } else {
            size_t c = vl < outlen - o - 1 ? vl : outlen - o - 1;
            memcpy(out + o, v, c);
            o += c;
        }
        p = v + vl;
    }
    out[o] = '\0';
    if (o + 4 < outlen)
        redact_userinfo(out);
}

/* ---- delivery ---- */

int conn_job_checkpointing(const te_operator_api_t *api, te_operator_ctx_t *ctx)
{
    if (api->abi_version < 2 || api->job_config == NULL)
        return 0;
    const char *v = api->job_config(ctx, "execution.checkpointing.interval");
    int64_t ms;
    return v != NULL && op_parse_duration_ms(v, &ms) == 0 && ms > 0;
}

static const char *const delivery_names[] = {"none", "at_least_once", "exactly_once"};

const char *conn_delivery_name(conn_delivery_t d)
{
    return (unsigned)d < sizeof(delivery_names) / sizeof(delivery_names[0]) ? delivery_names[d] : "?";
}

int conn_get_delivery(op_setup_t *s, const char *key, const char *def, int allow_none, conn_delivery_t *out)
{
    const char *v;
    if (op_get_string(s, key, 0, def, &v) != 0)
        return -1;
    if (strcmp(v, "auto") == 0) {
        *out = conn_job_checkpointing(s->api, s->ctx) ? CONN_DELIVERY_EXACTLY_ONCE : CONN_DELIVERY_AT_LEAST_ONCE;
        return 0;
    }
    for (int d = allow_none ? 0 : 1; d < 3; d++)
        if (strcmp(v, delivery_names[d]) == 0) {
            *out = (conn_delivery_t)d;
            return 0;
        }
    return op_errorf(
        s, "parameter '%s' = '%s' is not a delivery guarantee (allowed: %sat_least_once, exactly_once, auto)", key,
        v, allow_none ? "none, " : "");
}

/* ---- pass-through parameters ---- */

typedef struct prefixed_walk {
    const char *prefix;
    size_t plen;
    int (*fn)(void *arg, const char *key, const char *value);
    void *arg;
    int rc;
} prefixed_walk_t;

static void prefixed_one(void *arg, const char *key, const char *value)
{
    prefixed_walk_t *w = arg;
    if (w->rc == 0 && strncmp(key, w->prefix, w->plen) == 0)
        w->rc = w->fn(w->arg, key + w->plen, value);
}

int conn_foreach_prefixed(const te_operator_api_t *api, te_operator_ctx_t *ctx, const char *prefix,
                          int (*fn)(void *arg, const char *key, const char *value), void *arg)
{
    prefixed_walk_t w = {prefix, strlen(prefix), fn, arg, 0};
    api->param_foreach(ctx, prefixed_one, &w);
    return w.rc;
}

int conn_split_list(op_setup_t *s, const char *key, const char *value, char ***items, size_t *n)
{
    size_t count = 1;
    for (const char *p = value; *p; p++)
        count += *p == ',';
    size_t vl = strlen(value);
    char **arr = malloc(count * sizeof(char *) + vl + 1);
    if (arr == NULL)
        return op_errorf(s, "out of memory");
    char *copy = (char *)(arr + count);
    memcpy(copy, value, vl + 1);
    size_t k = 0;
    for (char *tok = copy;;) {
        char *comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        while (isspace((unsigned char)*tok))
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*tok == '\0') {
            free(arr);
            return op_errorf(s, "parameter '%s' = '%s' has an empty item (a comma-separated list)", key, value);
        }
        arr[k++] = tok;
        if (comma == NULL)
            break;
        tok = comma + 1;
    }
    *items = arr;
    *n = k;
    return 0;
}

/* ---- state codec ---- */

int conn_put_u32(op_buf_t *b, uint32_t v)
{
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    return op_buf_append(b, t, 4);
}

int conn_put_u64(op_buf_t *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    return op_buf_append(b, t, 8);
}

int conn_put_bytes(op_buf_t *b, const void *p, uint32_t n)
{
    return conn_put_u32(b, n) != 0 || op_buf_append(b, p, n) != 0 ? -1 : 0;
}

int conn_put_str(op_buf_t *b, const char *s) { return conn_put_bytes(b, s, (uint32_t)strlen(s)); }

static const uint8_t *state_take(conn_state_t *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint32_t conn_get_u32(conn_state_t *r)
{
    const uint8_t *p = state_take(r, 4);
    uint32_t v = 0;
    for (int i = 3; p && i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t conn_get_u64(conn_state_t *r)
{
    const uint8_t *p = state_take(r, 8);
    uint64_t v = 0;
    for (int i = 7; p && i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

const uint8_t *conn_get_bytes(conn_state_t *r, uint32_t *n)
{
    *n = conn_get_u32(r);
    const uint8_t *p = state_take(r, *n);
    if (p == NULL)
        *n = 0;
    return p;
}

char *conn_get_str(conn_state_t *r)
{
    uint32_t n;
    const uint8_t *p = conn_get_bytes(r, &n);
    if (p == NULL || memchr(p, '\0', n) != NULL) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

void conn_state_take(op_buf_t *b, uint8_t **data, size_t *len)
{
    *data = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
}

int64_t conn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int32_t conn_java_hash(const char *s)
{
    uint32_t h = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = 31 * h + *p;
    return (int32_t)h;
}

/* ---- SQL ---- */

int conn_sql_ident(op_buf_t *b, const char *name, size_t n)
{
    if (op_buf_append(b, "\"", 1) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((name[i] == '"' && op_buf_append(b, "\"", 1) != 0) || op_buf_append(b, &name[i], 1) != 0)
            return -1;
    return op_buf_append(b, "\"", 1);
}

const char *conn_pg_error(const PGconn *conn, const PGresult *res, char *buf, size_t len)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (msg == NULL || msg[0] == '\0')
        msg = conn ? PQerrorMessage(conn) : "out of memory";
    snprintf(buf, len, "%s", msg);
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = ' ';
    size_t l = strlen(buf);
    while (l > 0 && buf[l - 1] == ' ')
        buf[--l] = '\0';
    return buf;
}

PGconn *conn_pg_connect(const char *conninfo, int64_t timeout_ms, const char *app, char *err, size_t errlen)
{
    char timeout[24];
    snprintf(timeout, sizeof(timeout), "%lld", (long long)(timeout_ms < 1000 ? 1 : timeout_ms / 1000));
    /* later keywords win, and the expanded dbname (the conninfo) comes last */
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *vals[] = {timeout, app, conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c != NULL && PQstatus(c) == CONNECTION_OK)
        return c;
    char where[512], msg[1024];
    conn_redact(conninfo, where, sizeof(where));
    snprintf(err, errlen, "cannot connect to PostgreSQL (%s): %s", where,
             conn_pg_error(c, NULL, msg, sizeof(msg)));
    PQfinish(c);
    return NULL;
}

/* ---- MQTT ---- */

int conn_mqtt_get_opts(op_setup_t *s, const char *role, conn_mqtt_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    if (op_get_string(s, "host", 0, "127.0.0.1", &o->host) != 0 ||
        op_get_int(s, "port", 0, 1883, 1, 65535, &o->port) != 0 ||
        op_get_int(s, "qos", 0, 1, 0, 1, &o->qos) != 0 ||
        op_get_string(s, "client_id", 0, NULL, &o->client_id) != 0 ||
        op_get_string(s, "username", 0, NULL, &o->username) != 0 ||
        op_get_string(s, "password", 0, NULL, &o->password) != 0 ||
        op_get_duration_ms(s, "keepalive", 0, 60000, 5000, 3600000, &o->keepalive) != 0 ||
        op_get_duration_ms(s, "connect_timeout", 0, 10000, 100, 3600000, &o->connect_timeout) != 0 ||
        op_get_bool(s, "clean_session", 1, &o->clean_session) != 0)
        return -1;
    if (o->host[0] == '\0')
        return op_errorf(s, "parameter 'host' is empty");
    if (o->client_id != NULL && (o->client_id[0] == '\0' || strlen(o->client_id) > 184))
        return op_errorf(s, "parameter 'client_id' = '%s' must be 1..184 characters", o->client_id);
    if (o->client_id == NULL) {
        const char *job = s->api->abi_version >= 3 ? s->api->job_id(s->ctx) : "00000000";
        const char *vx = s->api->abi_version >= 3 ? s->api->vertex_id(s->ctx) : "00000000";
        snprintf(o->default_id, sizeof(o->default_id), "te-%.8s-%.8s-%u-%s", job, vx,
                 s->api->subtask_index(s->ctx), role);
        o->client_id = o->default_id;
    }
    snprintf(o->where, sizeof(o->where), "%s:%lld", o->host, (long long)o->port);
    return 0;
}

static pthread_once_t mqtt_once = PTHREAD_ONCE_INIT;
static void mqtt_init_once(void) { mosquitto_lib_init(); }

typedef struct mqtt_connecting {
    int done, rc;
} mqtt_connecting_t;

static void mqtt_on_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    mqtt_connecting_t *c = arg;
    c->done = 1;
    c->rc = rc;
}

static const char *mqtt_reason(int rc) { return rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc); }

struct mosquitto *conn_mqtt_connect(const conn_mqtt_opts_t *o, void *userdata, char *err, size_t errlen)
{
    pthread_once(&mqtt_once, mqtt_init_once);
    mqtt_connecting_t st = {0, 0};
    struct mosquitto *m = mosquitto_new(o->client_id, o->clean_session != 0, &st);
    if (m == NULL) {
        snprintf(err, errlen, "cannot create an MQTT client: %s", strerror(errno));
        return NULL;
    }
    mosquitto_connect_callback_set(m, mqtt_on_connect);
    int rc = MOSQ_ERR_SUCCESS;
    if (o->username != NULL)
        rc = mosquitto_username_pw_set(m, o->username, o->password);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_connect(m, o->host, (int)o->port, (int)(o->keepalive / 1000));
    int64_t deadline = conn_now_ms() + o->connect_timeout;
    while (rc == MOSQ_ERR_SUCCESS && !st.done && conn_now_ms() < deadline)
        rc = mosquitto_loop(m, 50, 1);
    if (rc != MOSQ_ERR_SUCCESS || !st.done || st.rc != 0) {
        snprintf(err, errlen, "cannot connect to the MQTT broker at %s: %s", o->where,
                 rc != MOSQ_ERR_SUCCESS ? mqtt_reason(rc)
                 : st.done              ? mosquitto_connack_string(st.rc)
                                        : "no CONNACK within connect_timeout");
        mosquitto_destroy(m);
        return NULL;
    }
    mosquitto_connect_callback_set(m, NULL);
    mosquitto_user_data_set(m, userdata);
    return m;
}

/* ---- Kafka ---- */

typedef struct kafka_conf_walk {
    rd_kafka_conf_t *conf;
    char *err;
    size_t errlen;
} kafka_conf_walk_t;

static int kafka_conf_one(void *arg, const char *key, const char *value)
{
    kafka_conf_walk_t *w = arg;
    return rd_kafka_conf_set(w->conf, key, value, w->err, w->errlen) == RD_KAFKA_CONF_OK ? 0 : -1;
}

rd_kafka_conf_t *conn_kafka_conf(op_setup_t *s, const char *bootstrap, const char *const *fixed)
{
    char msg[512] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    kafka_conf_walk_t w = {conf, msg, sizeof(msg)};
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, msg, sizeof(msg)) != RD_KAFKA_CONF_OK) {
        op_errorf(s, "parameter 'bootstrap_servers' = '%s': %s", bootstrap, msg);
        goto cleanup;
    }
    if (conn_foreach_prefixed(s->api, s->ctx, "kafka.", kafka_conf_one, &w) != 0) {
        op_errorf(s, "a kafka.<name> parameter was refused by librdkafka: %s", msg);
        goto cleanup;
    }
    for (const char *const *f = fixed; f && *f; f += 2)
        if (rd_kafka_conf_set(conf, f[0], f[1], msg, sizeof(msg)) != RD_KAFKA_CONF_OK) {
            op_errorf(s, "librdkafka setting %s = %s: %s", f[0], f[1], msg);
            goto cleanup;
        }
    return conf;
cleanup:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

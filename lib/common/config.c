/*
 * config — the key table of every configuration option, the value parsers (sizes,
 * durations, integers, ports, enums), the YAML loader (libyaml, nested mappings
 * flattened with '.') and the generator of the documented default file.
 *
 * Threading: a te_config_t is built by one thread (main, or the control thread on a
 * SIGHUP reload) and is read-only once published; getters take no lock. The key
 * table and the pure parsers are immutable / reentrant. No locks.
 */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "common/log.h"

#define KB           (INT64_C(1) << 10)
#define MB           (INT64_C(1) << 20)
#define GB           (INT64_C(1) << 30)
#define TB           (INT64_C(1) << 40)
#define SEC          INT64_C(1000)
#define NO_MAX       INT64_MAX
#define MAX_DURATION (INT64_C(365) * 24 * 3600 * SEC) /* one year */

#define CFG_CTX "config"

/* clang-format off */
static const te_config_key_t g_keys[] = {
    /* identity and endpoints */
    {"taskmanager.resource-id", TE_CFG_STRING, "", 0, 0, NULL, 0,
     "Resource id of this TaskExecutor; empty = generated from host:rpc-port."},
    {"taskmanager.bind-host", TE_CFG_STRING, "127.0.0.1", 0, 0, NULL, 0,
     "Local address the RPC, data and status listeners bind to (0.0.0.0 = all interfaces)."},
    {"taskmanager.host", TE_CFG_STRING, "127.0.0.1", 0, 0, NULL, 0,
     "Address advertised to the scheduler and to consumer tasks on other hosts."},
    {"taskmanager.rpc.port", TE_CFG_PORT, "6122", 0, 65535, NULL, 0,
     "Port of the control-plane RPC listener (0 = ephemeral, the real port is logged in the READY line)."},
    {"taskmanager.data.port", TE_CFG_PORT, "6121", 0, 65535, NULL, 0,
     "Port of the data-plane partition server (0 = ephemeral)."},
    {"taskmanager.status.port", TE_CFG_PORT, "8082", 0, 65535, NULL, 0,
     "Port of the HTTP status and metrics endpoint (0 = ephemeral)."},
    {"taskmanager.rpc.max-frame-size", TE_CFG_SIZE, "10mb", KB, GB, NULL, 0,
     "Largest RPC frame accepted; a longer frame is refused before any allocation."},
    {"taskmanager.rpc.max-connections", TE_CFG_INT, "1024", 1, 1048576, NULL, 0,
     "Most simultaneous RPC connections; further connections are closed at once."},
    /* slots */
    {"taskmanager.numberOfTaskSlots", TE_CFG_INT, "4", 1, 1024, NULL, 0,
     "Number of task slots this TaskExecutor offers."},
    {"taskmanager.slot.timeout", TE_CFG_DURATION, "10s", 1, MAX_DURATION, NULL, 1,
     "An allocated slot that no task activates within this time is freed again."},
    /* network memory and shuffle */
    {"taskmanager.memory.network.size", TE_CFG_SIZE, "64mb", MB, TB, NULL, 0,
     "Size of the network buffer arena allocated at start (segments for all partitions and gates)."},
    {"taskmanager.memory.segment-size", TE_CFG_SIZE, "32kb", 4 * KB, 16 * MB, NULL, 0,
     "Size of one network buffer (memory segment); must be a power of two."},
    {"taskmanager.network.memory.buffers-per-channel", TE_CFG_INT, "2", 0, 65535, NULL, 0,
     "Exclusive buffers of each remote input channel (credit announced up front)."},
    {"taskmanager.network.memory.floating-buffers-per-gate", TE_CFG_INT, "8", 0, 65535, NULL, 0,
     "Floating buffers each input gate may add on top of the exclusive ones (granted on backlog)."},
    {"taskmanager.network.request-backoff.initial", TE_CFG_DURATION, "100ms", 1, MAX_DURATION, NULL, 0,
     "First retry delay of a partition request answered with PartitionNotFound."},
    {"taskmanager.network.request-backoff.max", TE_CFG_DURATION, "10s", 1, MAX_DURATION, NULL, 0,
     "Longest retry delay of a partition request (the delay doubles up to this)."},
    {"taskmanager.network.io-threads", TE_CFG_INT, "1", 1, 64, NULL, 0,
     "Number of network I/O threads (each runs its own event loop)."},
    {"taskmanager.task.scheduling-policy", TE_CFG_ENUM, "auto", 0, 0, "auto|batch|other", 0,
     "Linux scheduling policy of task threads: batch = SCHED_BATCH (a task woken by input or a free buffer does not preempt the running thread, often the network I/O thread serving every task: more throughput under load), other = SCHED_OTHER, auto = other for tasks with buffer timeout 0 (latency first), batch for the rest."},
    {"execution.buffer-timeout", TE_CFG_DURATION, "100ms", -1, MAX_DURATION, NULL, 0,
     "Longest time a record waits in an unfilled output buffer; -1 = flush only full buffers, 0 = flush every record."},
    /* heartbeats and cancellation */
    {"heartbeat.interval", TE_CFG_DURATION, "10s", 1, MAX_DURATION, NULL, 1,
     "Interval of heartbeats with the scheduler."},
    {"heartbeat.timeout", TE_CFG_DURATION, "50s", 1, MAX_DURATION, NULL, 1,
     "A scheduler connection without heartbeat for this long is treated as lost (its job's slots are freed)."},
    {"task.cancellation.interval", TE_CFG_DURATION, "30s", 1, MAX_DURATION, NULL, 1,
     "Interval at which a task that does not react to cancellation is interrupted again."},
    {"task.cancellation.timeout", TE_CFG_DURATION, "180s", 0, MAX_DURATION, NULL, 1,
     "Time after which a task stuck in cancellation is escalated to a fatal error; 0 = no escalation."},
    /* logging, plugins, state */
    {"log.level", TE_CFG_ENUM, "info", 0, 0, "debug|info|warn|error", 1,
     "Lowest level of log lines written."},
    {"log.file", TE_CFG_STRING, "", 0, 0, NULL, 1,
     "File the log is appended to; empty = stderr. Reopened on SIGHUP (for logrotate)."},
    {"plugins.dir", TE_CFG_STRING, "plugins", 0, 0, NULL, 0,
     "Directory operator plugins (shared objects) are loaded from; never from anywhere else."},
    {"io.allowed-dirs", TE_CFG_STRING, "", 0, 0, NULL, 0,
     "Comma-separated directories that file paths in deployments (sources, sinks, checkpoints) must lie under; empty = any path."},
    {"taskmanager.slot.max-tasks", TE_CFG_INT, "64", 1, 65536, NULL, 0,
     "Most tasks one slot may hold; a deployment beyond it is refused."},
    {"taskmanager.rpc.idle-timeout", TE_CFG_DURATION, "10min", 0, 86400000, NULL, 1,
     "An RPC connection silent this long is closed (0 = never); tectl's heartbeats keep its connections open."},
    /* security (issue #6) */
    {"security.auth.token-file", TE_CFG_STRING, "", 0, 0, NULL, 0,
     "File holding the shared secret (>= 16 bytes) RPC and data peers must prove by challenge-response; empty = no authentication."},
    {"security.ssl.enabled", TE_CFG_BOOL, "false", 0, 1, NULL, 0,
     "TLS (1.2+) on the RPC and data ports; needs security.ssl.certificate, .key and .ca."},
    {"security.ssl.certificate", TE_CFG_STRING, "", 0, 0, NULL, 0,
     "PEM certificate (chain) this daemon presents on its ports and to peers' data ports."},
    {"security.ssl.key", TE_CFG_STRING, "", 0, 0, NULL, 0,
     "PEM private key of security.ssl.certificate."},
    {"security.ssl.ca", TE_CFG_STRING, "", 0, 0, NULL, 0,
     "PEM CA certificate(s) peers' certificates are verified against."},
    {"security.ssl.require-client-cert", TE_CFG_BOOL, "false", 0, 1, NULL, 0,
     "Mutual TLS: clients must present a certificate signed by security.ssl.ca."},
    {"state.checkpoints.dir", TE_CFG_STRING, "checkpoints", 0, 0, NULL, 0,
     "Directory checkpoint snapshots are written to (<job>/chk-<n>/<vertex>-<subtask>)."},
    {"execution.checkpointing.unaligned.enabled", TE_CFG_BOOL, "false", 0, 1, NULL, 0,
     "Unaligned checkpoints (FLIP-76): barriers overtake in-flight buffers, which are stored with the snapshot and replayed on restore, so checkpoints complete under backpressure. A job can set it in its config; restore only at the same parallelism."},
    /* keyed state (issue #16) */
    {"state.backend.type", TE_CFG_ENUM, "hashmap", 0, 0, "hashmap|rocksdb", 0,
     "Keyed-state backend of tasks: hashmap (in memory; copy-on-write snapshots) or rocksdb (on local disk under taskmanager.state.local.dir, one RocksDB instance per task, a column family per keyed state). A job can set it in its config."},
    {"state.backend.incremental", TE_CFG_BOOL, "false", 0, 1, NULL, 0,
     "rocksdb: a checkpoint uploads only the SST files no earlier retained checkpoint holds and refers to the rest (under <state.checkpoints.dir>/<job>/shared/, reference-counted by the checkpoint coordinator). A job can set it in its config."},
    {"state.snapshot.threads", TE_CFG_INT, "2", 1, 64, NULL, 0,
     "Threads running the asynchronous part of checkpoints (serialise, write, fsync, upload) while tasks go on processing; they also free the state of ended tasks."},
    {"taskmanager.state.local.dir", TE_CFG_STRING, "state-local", 0, 0, NULL, 0,
     "Directory of the tasks' local state (rocksdb: <dir>/<job>/<vertex>-<subtask>-<attempt>), relative to the working directory; a task's directory is deleted when it ends."},
    {"taskmanager.memory.managed.size", TE_CFG_SIZE, "0", 0, TB, NULL, 0,
     "Managed memory for keyed state, split evenly over the slots (0 = 40% of physical memory, Flink's managed fraction). rocksdb: the block cache and write buffers of a slot's tasks are bounded by its share; hashmap: a task whose state grows past its slot's share fails with an error naming the budget."},
    {"pipeline.auto-watermark-interval", TE_CFG_DURATION, "200ms", 0, MAX_DURATION, NULL, 0,
     "Interval at which periodic watermarks are emitted; 0 = disabled."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};
/* clang-format on */

/* Keys whose SIZE value must also be a power of two. */
static const char *const g_pow2_keys[] = {"taskmanager.memory.segment-size", NULL};

typedef struct config_value {
    char *raw;   /* the text as set (owned) */
    int64_t num; /* parsed number: INT/PORT/SIZE/DURATION/BOOL */
} config_value_t;

struct te_config {
    size_t n;
    config_value_t *vals; /* indexed like g_keys */
};

const te_config_key_t *config_keys(void) { return g_keys; }

static int key_index(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; g_keys[i].name != NULL; i++)
        if (strcmp(g_keys[i].name, name) == 0)
            return i;
    return -1;
}

const te_config_key_t *config_key_find(const char *name)
{
    int i = key_index(name);
    return i < 0 ? NULL : &g_keys[i];
}

static int key_needs_pow2(const char *name)
{
    for (int i = 0; g_pow2_keys[i] != NULL; i++)
        if (strcmp(g_pow2_keys[i], name) == 0)
            return 1;
    return 0;
}

/* ---- pure parsers --------------------------------------------------------------- */

/* Skips leading/trailing blanks: returns the start, sets *len. */
static const char *trim(const char *s, size_t *len)
{
    while (*s != '\0' && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *len = n;
    return s;
}

/* Parses "[-]digits" at s; sets *end past the digits. Returns -1 on no digits or
 * overflow. */
static int parse_number(const char *s, const char *lim, int64_t *out, const char **end)
{
    int neg = 0;
    const char *p = s;
    if (p < lim && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    if (p >= lim || !isdigit((unsigned char)*p))
        return -1;
    int64_t v = 0;
    while (p < lim && isdigit((unsigned char)*p)) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        p++;
    }
    *out = neg ? -v : v;
    *end = p;
    return 0;
}

/* Matches the unit text [u, lim) (case-insensitive) against a '|'-separated list. */
static int unit_is(const char *u, size_t ulen, const char *list)
{
    const char *p = list;
    while (*p != '\0') {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == ulen && strncasecmp(u, p, n) == 0)
            return 1;
        if (bar == NULL)
            break;
        p = bar + 1;
    }
    return 0;
}

/* number [blanks] unit, with the unit looked up in `units` (multipliers). */
typedef struct unit_def {
    const char *names;
    int64_t mult;
} unit_def_t;

static te_status_t parse_with_units(const char *s, const unit_def_t *units, int allow_neg, int64_t *out)
{
    if (s == NULL)
        return TE_EINVAL;
    size_t len;
    const char *p = trim(s, &len);
    const char *lim = p + len;
    const char *end;
    int64_t v;
    if (parse_number(p, lim, &v, &end) != 0)
        return TE_EINVAL;
    if (v < 0 && !allow_neg)
        return TE_EINVAL;
    while (end < lim && (*end == ' ' || *end == '\t'))
        end++;
    if (end == lim) { /* bare number: the base unit */
        *out = v;
        return TE_OK;
    }
    size_t ulen = (size_t)(lim - end);
    for (const unit_def_t *u = units; u->names != NULL; u++) {
        if (unit_is(end, ulen, u->names)) {
            if (v > INT64_MAX / u->mult || v < -(INT64_MAX / u->mult))
                return TE_EINVAL;
            *out = v * u->mult;
            return TE_OK;
        }
    }
    return TE_EINVAL;
}

te_status_t config_parse_size(const char *s, int64_t *out)
{
    static const unit_def_t units[] = {
        {"b|byte|bytes", 1},
        {"k|kb|kib|kibibytes|kilobytes", KB},
        {"m|mb|mib|mebibytes|megabytes", MB},
        {"g|gb|gib|gibibytes|gigabytes", GB},
        {"t|tb|tib|tebibytes|terabytes", TB},
        {NULL, 0},
    };
    int64_t v;
    te_status_t st = parse_with_units(s, units, 0, &v);
    if (st == TE_OK && out != NULL)
        *out = v;
    return st;
}

te_status_t config_parse_duration(const char *s, int64_t *out_ms)
{
    static const unit_def_t units[] = {
        {"ms|milli|millis|millisecond|milliseconds", 1},
        {"s|sec|secs|second|seconds", SEC},
        {"m|min|mins|minute|minutes", 60 * SEC},
        {"h|hour|hours", 3600 * SEC},
        {"d|day|days", 24 * 3600 * SEC},
        {NULL, 0},
    };
    int64_t v;
    te_status_t st = parse_with_units(s, units, 1, &v);
    if (st == TE_OK && out_ms != NULL)
        *out_ms = v;
    return st;
}

static te_status_t parse_int(const char *s, int64_t *out)
{
    size_t len;
    const char *p = trim(s, &len);
    const char *end;
    if (parse_number(p, p + len, out, &end) != 0 || end != p + len)
        return TE_EINVAL;
    return TE_OK;
}

static te_status_t parse_bool(const char *s, int64_t *out)
{
    size_t len;
    const char *p = trim(s, &len);
    if (unit_is(p, len, "true|yes|on|1"))
        *out = 1;
    else if (unit_is(p, len, "false|no|off|0"))
        *out = 0;
    else
        return TE_EINVAL;
    return TE_OK;
}

/* ---- formatting for messages and the default file ------------------------------- */

static void fmt_size(int64_t v, char *buf, size_t cap)
{
    if (v >= TB && v % TB == 0)
        snprintf(buf, cap, "%" PRId64 "tb", v / TB);
    else if (v >= GB && v % GB == 0)
        snprintf(buf, cap, "%" PRId64 "gb", v / GB);
    else if (v >= MB && v % MB == 0)
        snprintf(buf, cap, "%" PRId64 "mb", v / MB);
    else if (v >= KB && v % KB == 0)
        snprintf(buf, cap, "%" PRId64 "kb", v / KB);
    else
        snprintf(buf, cap, "%" PRId64 "b", v);
}

static void fmt_duration(int64_t v, char *buf, size_t cap)
{
    if (v > 0 && v % (24 * 3600 * SEC) == 0)
        snprintf(buf, cap, "%" PRId64 "d", v / (24 * 3600 * SEC));
    else if (v > 0 && v % (3600 * SEC) == 0)
        snprintf(buf, cap, "%" PRId64 "h", v / (3600 * SEC));
    else if (v > 0 && v % (60 * SEC) == 0)
        snprintf(buf, cap, "%" PRId64 "min", v / (60 * SEC));
    else if (v > 0 && v % SEC == 0)
        snprintf(buf, cap, "%" PRId64 "s", v / SEC);
    else
        snprintf(buf, cap, "%" PRId64 "ms", v);
}

/* "an integer between 1 and 1024", "a size between 4kb and 16mb (e.g. 32kb) that is
 * a power of two", ... — the "what is allowed" part of an error and of the docs. */
static void describe_allowed(const te_config_key_t *k, char *buf, size_t cap)
{
    char lo[32], hi[32];
    switch (k->type) {
    case TE_CFG_INT:
        if (k->max == NO_MAX)
            snprintf(buf, cap, "an integer >= %" PRId64, k->min);
        else
            snprintf(buf, cap, "an integer between %" PRId64 " and %" PRId64, k->min, k->max);
        break;
    case TE_CFG_PORT: snprintf(buf, cap, "a port number between 0 and 65535 (0 = ephemeral)"); break;
    case TE_CFG_SIZE:
        fmt_size(k->min, lo, sizeof(lo));
        fmt_size(k->max, hi, sizeof(hi));
        snprintf(buf, cap, "a size between %s and %s (b, kb, mb, gb; e.g. 32kb)%s", lo, hi,
                 key_needs_pow2(k->name) ? " that is a power of two" : "");
        break;
    case TE_CFG_DURATION:
        fmt_duration(k->min, lo, sizeof(lo));
        fmt_duration(k->max, hi, sizeof(hi));
        if (k->min < 0)
            snprintf(buf, cap, "-1 or a duration between 0ms and %s (ms, s, min, h; e.g. 100ms)", hi);
        else
            snprintf(buf, cap, "a duration between %s and %s (ms, s, min, h; e.g. 100ms)", lo, hi);
        break;
    case TE_CFG_BOOL: snprintf(buf, cap, "true or false"); break;
    case TE_CFG_ENUM: snprintf(buf, cap, "one of %s", k->choices ? k->choices : ""); break;
    case TE_CFG_STRING:
    default: snprintf(buf, cap, "a string"); break;
    }
}

/* Validates `value` for key k; on success sets *num (0 for strings). */
static te_status_t validate(const te_config_key_t *k, const char *value, int64_t *num, te_error_t *err)
{
    int64_t v = 0;
    te_status_t st = TE_OK;
    switch (k->type) {
    case TE_CFG_INT:
        st = parse_int(value, &v);
        if (st == TE_OK && (v < k->min || v > k->max))
            st = TE_EINVAL;
        break;
    case TE_CFG_PORT:
        st = parse_int(value, &v);
        if (st == TE_OK && (v < 0 || v > 65535))
            st = TE_EINVAL;
        break;
    case TE_CFG_SIZE:
        st = config_parse_size(value, &v);
        if (st == TE_OK && (v < k->min || v > k->max))
            st = TE_EINVAL;
        if (st == TE_OK && key_needs_pow2(k->name) && (v & (v - 1)) != 0) {
            char allowed[160];
            describe_allowed(k, allowed, sizeof(allowed));
            return te_error_set(err, TE_EINVAL,
                                "invalid value '%s' for key '%s': %" PRId64
                                " bytes is not a power of two; expected %s",
                                value, k->name, v, allowed);
        }
        break;
    case TE_CFG_DURATION:
        st = config_parse_duration(value, &v);
        if (st == TE_OK && (v < k->min || v > k->max))
            st = TE_EINVAL;
        break;
    case TE_CFG_BOOL: st = parse_bool(value, &v); break;
    case TE_CFG_ENUM: {
        size_t len;
        const char *p = trim(value, &len);
        if (len == 0 || !unit_is(p, len, k->choices ? k->choices : ""))
            st = TE_EINVAL;
        break;
    }
    case TE_CFG_STRING: break;
    }
    if (st != TE_OK) {
        char allowed[160];
        describe_allowed(k, allowed, sizeof(allowed));
        return te_error_set(err, TE_EINVAL, "invalid value '%s' for key '%s': expected %s", value, k->name,
                            allowed);
    }
    *num = v;
    return TE_OK;
}

/* ---- the config object ---------------------------------------------------------- */

te_config_t *config_new(void)
{
    te_config_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    while (g_keys[c->n].name != NULL)
        c->n++;
    c->vals = calloc(c->n, sizeof(*c->vals));
    if (c->vals == NULL)
        goto cleanup;
    for (size_t i = 0; i < c->n; i++) {
        te_error_t e;
        if (validate(&g_keys[i], g_keys[i].default_value, &c->vals[i].num, &e) != TE_OK) {
            TE_ERROR(CFG_CTX, "bad default in key table: %s", e.msg); /* a bug */
            goto cleanup;
        }
        c->vals[i].raw = strdup(g_keys[i].default_value);
        if (c->vals[i].raw == NULL)
            goto cleanup;
    }
    return c;
cleanup:
    config_free(c);
    return NULL;
}

void config_free(te_config_t *c)
{
    if (c == NULL)
        return;
    if (c->vals != NULL)
        for (size_t i = 0; i < c->n; i++)
            free(c->vals[i].raw);
    free(c->vals);
    free(c);
}

/* `where` ("file.yaml:3" or NULL) only decorates the unknown-key warning. */
static te_status_t config_set_at(te_config_t *c, const char *key, const char *value, const char *where,
                                 te_error_t *err)
{
    if (c == NULL || key == NULL || value == NULL)
        return te_error_set(err, TE_EINVAL, "config_set: NULL argument");
    int i = key_index(key);
    if (i < 0) {
        if (where != NULL)
            TE_WARN(CFG_CTX, "%s: unknown configuration key '%s' (ignored)", where, key);
        else
            TE_WARN(CFG_CTX, "unknown configuration key '%s' (ignored)", key);
        return TE_OK;
    }
    int64_t num;
    te_status_t st = validate(&g_keys[i], value, &num, err);
    if (st != TE_OK)
        return st;
    char *copy = strdup(value);
    if (copy == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory setting key '%s'", key);
    free(c->vals[i].raw);
    c->vals[i].raw = copy;
    c->vals[i].num = num;
    return TE_OK;
}

te_status_t config_set(te_config_t *c, const char *key, const char *value, te_error_t *err)
{
    return config_set_at(c, key, value, NULL, err);
}

te_status_t config_set_kv(te_config_t *c, const char *kv, te_error_t *err)
{
    if (kv == NULL)
        return te_error_set(err, TE_EINVAL, "config_set_kv: NULL argument");
    const char *eq = strchr(kv, '=');
    if (eq == NULL)
        return te_error_set(err, TE_EINVAL, "invalid -D argument '%s': expected key=value", kv);
    size_t klen;
    const char *k = trim(kv, &klen);
    if (k < eq)
        klen = (size_t)(eq - k);
    else
        klen = 0;
    while (klen > 0 && isspace((unsigned char)k[klen - 1]))
        klen--;
    if (klen == 0)
        return te_error_set(err, TE_EINVAL, "invalid -D argument '%s': empty key", kv);
    char key[256];
    if (klen >= sizeof(key))
        return te_error_set(err, TE_EINVAL, "invalid -D argument: key longer than %zu bytes", sizeof(key) - 1);
    memcpy(key, k, klen);
    key[klen] = '\0';
    size_t vlen;
    const char *v = trim(eq + 1, &vlen);
    char *val = strndup(v, vlen);
    if (val == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    te_status_t st = config_set_at(c, key, val, "-D", err);
    free(val);
    return st;
}

static const config_value_t *lookup(const te_config_t *c, const char *key, const char *getter, int *idx)
{
    int i = key_index(key);
    if (c == NULL || i < 0) {
        TE_ERROR(CFG_CTX, "%s: unknown configuration key '%s' (programming error)", getter, key ? key : "(null)");
        return NULL;
    }
    *idx = i;
    return &c->vals[i];
}

int64_t config_get_int(const te_config_t *c, const char *key)
{
    int i;
    const config_value_t *v = lookup(c, key, "config_get_int", &i);
    if (v == NULL)
        return 0;
    switch (g_keys[i].type) {
    case TE_CFG_INT:
    case TE_CFG_PORT:
    case TE_CFG_SIZE:
    case TE_CFG_DURATION:
    case TE_CFG_BOOL: return v->num;
    default: TE_ERROR(CFG_CTX, "config_get_int: key '%s' is not numeric (programming error)", key); return 0;
    }
}

const char *config_get_str(const te_config_t *c, const char *key)
{
    int i;
    const config_value_t *v = lookup(c, key, "config_get_str", &i);
    return v == NULL ? "" : v->raw;
}

int config_get_bool(const te_config_t *c, const char *key)
{
    int i;
    const config_value_t *v = lookup(c, key, "config_get_bool", &i);
    if (v == NULL)
        return 0;
    if (g_keys[i].type != TE_CFG_BOOL) {
        TE_ERROR(CFG_CTX, "config_get_bool: key '%s' is not a boolean (programming error)", key);
        return 0;
    }
    return v->num != 0;
}

/* ---- YAML loading --------------------------------------------------------------- */

typedef struct yaml_load {
    yaml_parser_t parser;
    te_config_t *c;
    const char *path;
    te_error_t *err;
} yaml_load_t;

static te_status_t yaml_next(yaml_load_t *L, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&L->parser, ev)) {
        yaml_parser_t *p = &L->parser;
        if (p->context != NULL)
            return te_error_set(L->err, TE_EINVAL, "%s:%zu: YAML syntax error: %s (%s, line %zu)", L->path,
                                p->problem_mark.line + 1, p->problem ? p->problem : "unknown problem", p->context,
                                p->context_mark.line + 1);
        return te_error_set(L->err, TE_EINVAL, "%s:%zu: YAML syntax error: %s", L->path, p->problem_mark.line + 1,
                            p->problem ? p->problem : "unknown problem");
    }
    return TE_OK;
}

static const char *event_what(yaml_event_type_t t)
{
    switch (t) {
    case YAML_SEQUENCE_START_EVENT: return "a list";
    case YAML_MAPPING_START_EVENT: return "a mapping";
    case YAML_ALIAS_EVENT: return "an alias";
    default: return "a non-scalar";
    }
}

/* Skips the rest of a collection whose start event was just read. */
static te_status_t yaml_skip(yaml_load_t *L)
{
    int depth = 1;
    while (depth > 0) {
        yaml_event_t ev;
        te_status_t st = yaml_next(L, &ev);
        if (st != TE_OK)
            return st;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        else if (ev.type == YAML_STREAM_END_EVENT)
            depth = 0;
        yaml_event_delete(&ev);
    }
    return TE_OK;
}

/* Reads key/value pairs until MAPPING_END; `prefix` is "" or "a.b". */
static te_status_t yaml_mapping(yaml_load_t *L, const char *prefix, int depth)
{
    te_status_t st = TE_OK;
    yaml_event_t kev, vev;
    char *full = NULL;
    int have_k = 0, have_v = 0;
    if (depth > 32)
        return te_error_set(L->err, TE_EINVAL, "%s: mappings nested too deeply", L->path);
    for (;;) {
        st = yaml_next(L, &kev);
        if (st != TE_OK)
            goto cleanup;
        have_k = 1;
        if (kev.type == YAML_MAPPING_END_EVENT)
            break;
        if (kev.type != YAML_SCALAR_EVENT) {
            st = te_error_set(L->err, TE_EINVAL, "%s:%zu: a key must be a plain scalar, found %s", L->path,
                              kev.start_mark.line + 1, event_what(kev.type));
            goto cleanup;
        }
        const char *k = (const char *)kev.data.scalar.value;
        size_t plen = strlen(prefix);
        full = malloc(plen + strlen(k) + 2);
        if (full == NULL) {
            st = te_error_set(L->err, TE_ENOMEM, "out of memory");
            goto cleanup;
        }
        if (plen > 0)
            sprintf(full, "%s.%s", prefix, k);
        else
            strcpy(full, k);

        st = yaml_next(L, &vev);
        if (st != TE_OK)
            goto cleanup;
        have_v = 1;
        size_t line = vev.start_mark.line + 1;
        if (vev.type == YAML_MAPPING_START_EVENT) {
            st = yaml_mapping(L, full, depth + 1);
        } else if (vev.type == YAML_SCALAR_EVENT) {
            char where[512];
            snprintf(where, sizeof(where), "%s:%zu", L->path, line);
            st = config_set_at(L->c, full, (const char *)vev.data.scalar.value, where, L->err);
            if (st != TE_OK)
                te_error_prefix(L->err, "%s", where);
        } else {
            st = te_error_set(L->err, TE_EINVAL,
                              "%s:%zu: key '%s' has %s value; expected a scalar (number, size, "
                              "duration or string)",
                              L->path, line, full, event_what(vev.type));
        }
        yaml_event_delete(&vev);
        have_v = 0;
        yaml_event_delete(&kev);
        have_k = 0;
        free(full);
        full = NULL;
        if (st != TE_OK)
            goto cleanup;
    }
cleanup:
    if (have_v)
        yaml_event_delete(&vev);
    if (have_k)
        yaml_event_delete(&kev);
    free(full);
    return st;
}

/* Starts a parser over f (from its current position). */
static te_status_t yaml_begin(yaml_load_t *L, FILE *f, int *parser_ok)
{
    if (!yaml_parser_initialize(&L->parser))
        return te_error_set(L->err, TE_ENOMEM, "cannot initialize the YAML parser");
    *parser_ok = 1;
    yaml_parser_set_input_file(&L->parser, f);
    return TE_OK;
}

te_status_t config_load_file(te_config_t *c, const char *path, te_error_t *err)
{
    te_status_t st = TE_OK;
    yaml_load_t L = {.c = c, .path = path, .err = err};
    int parser_ok = 0;
    FILE *f = NULL;
    if (c == NULL || path == NULL)
        return te_error_set(err, TE_EINVAL, "config_load_file: NULL argument");
    f = fopen(path, "rb");
    if (f == NULL)
        return te_error_set(err, errno == ENOENT ? TE_ENOTFOUND : TE_EIO,
                            "cannot open configuration file '%s': %s", path, strerror(errno));
    /* First pass: syntax only, so a syntax error is reported as such (with its line)
     * before any value is applied. */
    if ((st = yaml_begin(&L, f, &parser_ok)) != TE_OK)
        goto cleanup;
    for (;;) {
        yaml_event_t ev;
        st = yaml_next(&L, &ev);
        if (st != TE_OK)
            goto cleanup;
        int end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (end)
            break;
    }
    yaml_parser_delete(&L.parser);
    parser_ok = 0;
    rewind(f);
    if ((st = yaml_begin(&L, f, &parser_ok)) != TE_OK)
        goto cleanup;
    for (;;) {
        yaml_event_t ev;
        st = yaml_next(&L, &ev);
        if (st != TE_OK)
            goto cleanup;
        yaml_event_type_t t = ev.type;
        size_t line = ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            break;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT || t == YAML_DOCUMENT_END_EVENT)
            continue;
        if (t == YAML_MAPPING_START_EVENT) {
            st = yaml_mapping(&L, "", 0);
            if (st != TE_OK)
                goto cleanup;
            continue;
        }
        if (t == YAML_SCALAR_EVENT) {
            /* A document that is one scalar: allow an empty one ("" / "~"), refuse text. */
            st = te_error_set(err, TE_EINVAL, "%s:%zu: expected a mapping of 'key: value' lines at top level",
                              path, line);
            goto cleanup;
        }
        st = te_error_set(err, TE_EINVAL,
                          "%s:%zu: expected a mapping of 'key: value' lines at top level, "
                          "found %s",
                          path, line, event_what(t));
        if (t == YAML_SEQUENCE_START_EVENT)
            (void)yaml_skip(&L);
        goto cleanup;
    }
cleanup:
    if (parser_ok)
        yaml_parser_delete(&L.parser);
    if (f != NULL)
        fclose(f);
    return st;
}

/* ---- the documented default file ------------------------------------------------ */

static const char *type_name(te_config_type_t t)
{
    switch (t) {
    case TE_CFG_INT: return "integer";
    case TE_CFG_SIZE: return "size";
    case TE_CFG_DURATION: return "duration";
    case TE_CFG_STRING: return "string";
    case TE_CFG_BOOL: return "boolean";
    case TE_CFG_PORT: return "port";
    case TE_CFG_ENUM: return "enum";
    }
    return "?";
}

static void write_yaml_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

void config_write_defaults(FILE *out)
{
    fputs("# taskexecutord configuration — every key, its default and the values it allows.\n"
          "#\n"
          "# Generated by config_write_defaults() from the key table in lib/common/config.c;\n"
          "# keep the two in sync (a test compares them). Flat Flink-style keys; nested\n"
          "# mappings are flattened with '.', so Flink's config.yaml syntax works too.\n"
          "# Override any key on the command line with -D key=value.\n"
          "#\n"
          "# Sizes: 512b, 32kb, 64mb, 1gb (k/kb/kib, m/mb/mib, g/gb/gib are binary multiples,\n"
          "#        case-insensitive; a bare number = bytes).\n"
          "# Durations: 100ms, 10s, 2min, 1h, 1d (a bare number = milliseconds).\n"
          "# Ports: 0 = ephemeral (the daemon logs the real ports in its READY line).\n"
          "# Live keys are re-read on SIGHUP; the others need a restart.\n",
          out);
    for (const te_config_key_t *k = g_keys; k->name != NULL; k++) {
        char allowed[160];
        describe_allowed(k, allowed, sizeof(allowed));
        fprintf(out, "\n# %s\n", k->doc);
        if (k->type == TE_CFG_STRING)
            fprintf(out, "# Type: string. Default: \"%s\".%s\n", k->default_value,
                    k->live ? " Live (SIGHUP)." : "");
        else
            fprintf(out, "# Type: %s. Allowed: %s. Default: %s.%s\n", type_name(k->type), allowed,
                    k->default_value, k->live ? " Live (SIGHUP)." : "");
        fprintf(out, "%s: ", k->name);
        if (k->type == TE_CFG_STRING)
            write_yaml_string(out, k->default_value);
        else
            fputs(k->default_value, out);
        fputc('\n', out);
    }
}

/* ---- reload support: differences, live merge ------------------------------------ */

static int value_equal(const te_config_key_t *k, const config_value_t *a, const config_value_t *b)
{
    if (k->type == TE_CFG_STRING || k->type == TE_CFG_ENUM)
        return strcmp(a->raw, b->raw) == 0;
    return a->num == b->num; /* "10s" equals "10000ms" */
}

int config_diff(const te_config_t *a, const te_config_t *b, te_config_diff_fn fn, void *arg)
{
    int n = 0;
    if (a == NULL || b == NULL)
        return 0;
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        if (value_equal(&g_keys[i], &a->vals[i], &b->vals[i]))
            continue;
        n++;
        if (fn != NULL)
            fn(arg, &g_keys[i], a->vals[i].raw, b->vals[i].raw);
    }
    return n;
}

te_config_t *config_merge_live(const te_config_t *cur, const te_config_t *next)
{
    if (cur == NULL || next == NULL)
        return NULL;
    te_config_t *c = config_new();
    if (c == NULL)
        return NULL;
    for (size_t i = 0; i < c->n; i++) {
        const config_value_t *src = g_keys[i].live ? &next->vals[i] : &cur->vals[i];
        char *copy = strdup(src->raw);
        if (copy == NULL) {
            config_free(c);
            return NULL;
        }
        free(c->vals[i].raw);
        c->vals[i].raw = copy;
        c->vals[i].num = src->num;
    }
    return c;
}

/* ---- the key reference of taskexecutor.yaml(5) ---------------------------------- */

/* Writes s with roff's special characters escaped (backslash, leading '.' / '\''). */
static void write_roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
    }
}

void config_write_man_keys(FILE *out)
{
    fputs(".\\\" Generated by `taskexecutord --print-man-keys` from the key table in\n"
          ".\\\" lib/common/config.c (the table the parser uses): do not edit.\n",
          out);
    for (const te_config_key_t *k = g_keys; k->name != NULL; k++) {
        char allowed[160];
        describe_allowed(k, allowed, sizeof(allowed));
        fputs(".TP\n.B ", out);
        write_roff(out, k->name);
        fputc('\n', out);
        write_roff(out, k->doc);
        fputs("\n.br\nType: ", out);
        write_roff(out, type_name(k->type));
        if (k->type != TE_CFG_STRING) {
            fputs("; allowed: ", out);
            write_roff(out, allowed);
        }
        fputs(". Default: ", out);
        if (k->default_value[0] == '\0')
            fputs("empty", out);
        else {
            fputs("\\fB", out);
            write_roff(out, k->default_value);
            fputs("\\fR", out);
        }
        fputs(k->live ? ". \\fILive:\\fR changes on SIGHUP.\n" : ". Needs a restart.\n", out);
    }
}

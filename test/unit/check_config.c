/* Unit tests: config — defaults, size/duration parsers, bounds, power-of-two segment
 * size, enums, unknown keys, -D overrides, YAML files (good, bad value, syntax error,
 * nested mappings, non-scalars) and the generated default file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "unit_skip.h"

static char g_dir[256];

static void make_dir(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/te_check_config.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes `text` to <dir>/<name>, returns the path in a static buffer. */
static const char *write_file(const char *name, const char *text)
{
    static char path[400];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
    fclose(f);
    return buf;
}

START_TEST(test_defaults)
{
    te_config_t *c = config_new();
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), 4);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_RPC_PORT), 6122);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_DATA_PORT), 6121);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_STATUS_PORT), 8082);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_RPC_MAX_FRAME_SIZE), 10 * 1024 * 1024);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_RPC_MAX_CONNECTIONS), 1024);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_SLOT_TIMEOUT), 10000);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_MEMORY_NETWORK_SIZE), 64 * 1024 * 1024);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_MEMORY_SEGMENT_SIZE), 32 * 1024);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NETWORK_MEMORY_BUFFERS_PER_CHANNEL), 2);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NETWORK_MEMORY_FLOATING_BUFFERS_PER_GATE), 8);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NETWORK_REQUEST_BACKOFF_INITIAL), 100);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NETWORK_REQUEST_BACKOFF_MAX), 10000);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NETWORK_IO_THREADS), 1);
    ck_assert_int_eq(config_get_int(c, TE_KEY_EXECUTION_BUFFER_TIMEOUT), 100);
    ck_assert_int_eq(config_get_int(c, TE_KEY_HEARTBEAT_INTERVAL), 10000);
    ck_assert_int_eq(config_get_int(c, TE_KEY_HEARTBEAT_TIMEOUT), 50000);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASK_CANCELLATION_INTERVAL), 30000);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASK_CANCELLATION_TIMEOUT), 180000);
    ck_assert_int_eq(config_get_int(c, TE_KEY_PIPELINE_AUTO_WATERMARK_INTERVAL), 200);
    ck_assert_str_eq(config_get_str(c, TE_KEY_TASKMANAGER_RESOURCE_ID), "");
    ck_assert_str_eq(config_get_str(c, TE_KEY_TASKMANAGER_BIND_HOST), "127.0.0.1");
    ck_assert_str_eq(config_get_str(c, TE_KEY_TASKMANAGER_HOST), "127.0.0.1");
    ck_assert_str_eq(config_get_str(c, TE_KEY_LOG_LEVEL), "info");
    ck_assert_str_eq(config_get_str(c, TE_KEY_LOG_FILE), "");
    ck_assert_str_eq(config_get_str(c, TE_KEY_PLUGINS_DIR), "plugins");
    ck_assert_str_eq(config_get_str(c, TE_KEY_STATE_CHECKPOINTS_DIR), "checkpoints");
    /* raw text of a numeric key */
    ck_assert_str_eq(config_get_str(c, TE_KEY_TASKMANAGER_MEMORY_SEGMENT_SIZE), "32kb");
    /* a key outside the table (only a cast makes one; a misspelt TE_KEY_ does not
     * compile): logged, 0 / "" */
    te_log_set_level(TE_LOG_OFF);
    ck_assert_int_eq(config_get_int(c, TE_KEY_COUNT), 0);
    ck_assert_str_eq(config_get_str(c, (te_config_key_id_t)-1), "");
    ck_assert_str_eq(config_key_name(TE_KEY_HEARTBEAT_TIMEOUT), "heartbeat.timeout");
    ck_assert_ptr_eq(config_key_find(config_key_name(TE_KEY_LOG_LEVEL)), &config_keys()[TE_KEY_LOG_LEVEL]);
    ck_assert_int_eq(config_get_int(c, TE_KEY_LOG_FILE), 0); /* string key: not numeric */
    config_free(c);
    config_free(NULL);
}
END_TEST

START_TEST(test_key_table)
{
    /* every key has a doc, a valid default (config_new validates them), unique names */
    const te_config_key_t *k = config_keys();
    int n = 0;
    for (; k[n].name != NULL; n++) {
        ck_assert_ptr_nonnull(k[n].doc);
        ck_assert_ptr_nonnull(k[n].default_value);
        ck_assert(strlen(k[n].doc) > 10);
        for (int j = 0; j < n; j++)
            ck_assert_str_ne(k[j].name, k[n].name);
        ck_assert_ptr_eq(config_key_find(k[n].name), &k[n]);
    }
    ck_assert_int_ge(n, 27);
    ck_assert_ptr_null(config_key_find("nope"));
    ck_assert_int_eq(config_key_find("log.level")->live, 1);
    ck_assert_int_eq(config_key_find("taskmanager.numberOfTaskSlots")->live, 0);
}
END_TEST

START_TEST(test_parse_size)
{
    struct {
        const char *s;
        int64_t v;
    } good[] = {
        {"32kb", 32 * 1024}, {"64mb", 64LL << 20}, {"1gb", 1LL << 30},   {"512b", 512},
        {"4096", 4096},      {"1k", 1024},         {"1KiB", 1024},       {"2 MB", 2LL << 20},
        {"3m", 3LL << 20},   {"1MiB", 1LL << 20},  {" 7 g ", 7LL << 30}, {"0", 0},
        {"10 Bytes", 10},    {"1t", 1LL << 40},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t v = -99;
        ck_assert_msg(config_parse_size(good[i].s, &v) == TE_OK, "'%s' should parse", good[i].s);
        ck_assert_msg(v == good[i].v, "'%s' -> %lld, expected %lld", good[i].s, (long long)v,
                      (long long)good[i].v);
    }
    const char *bad[] = {
        "",       "kb", "abc", "12xb", "1.5mb", "-1kb", "-5", "1 k b", "99999999999999999999", "9999999999999gb",
        "12 kbx", NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        int64_t v = 0;
        ck_assert_msg(config_parse_size(bad[i], &v) == TE_EINVAL, "'%s' should fail", bad[i]);
    }
    ck_assert_int_eq(config_parse_size(NULL, NULL), TE_EINVAL);
}
END_TEST

START_TEST(test_parse_duration)
{
    struct {
        const char *s;
        int64_t v;
    } good[] = {
        {"100ms", 100}, {"10s", 10000}, {"2min", 120000}, {"1h", 3600000}, {"-1", -1},       {"250", 250},
        {"0", 0},       {"3 s", 3000},  {"5MS", 5},       {"2m", 120000},  {"1d", 86400000}, {"4 seconds", 4000},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t v = -99;
        ck_assert_msg(config_parse_duration(good[i].s, &v) == TE_OK, "'%s' should parse", good[i].s);
        ck_assert_msg(v == good[i].v, "'%s' -> %lld", good[i].s, (long long)v);
    }
    const char *bad[] = {"", "ms", "ten", "10x", "1.5s", "10 s s", "9999999999999999d", NULL};
    for (int i = 0; bad[i] != NULL; i++)
        ck_assert_msg(config_parse_duration(bad[i], NULL) == TE_EINVAL, "'%s' should fail", bad[i]);
}
END_TEST

START_TEST(test_set_and_bounds)
{
    te_config_t *c = config_new();
    te_error_t e;
    ck_assert_int_eq(config_set(c, "taskmanager.numberOfTaskSlots", "8", &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), 8);
    ck_assert_int_eq(config_set(c, "taskmanager.numberOfTaskSlots", "abc", &e), TE_EINVAL);
    ck_assert_str_eq(e.msg, "invalid value 'abc' for key 'taskmanager.numberOfTaskSlots': "
                            "expected an integer between 1 and 1024");
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), 8); /* unchanged */
    ck_assert_int_eq(config_set(c, "taskmanager.numberOfTaskSlots", "0", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "taskmanager.numberOfTaskSlots", "1025", &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "'1025'"));
    ck_assert_int_eq(config_set(c, "taskmanager.numberOfTaskSlots", "1024", &e), TE_OK);
    ck_assert_int_eq(config_set(c, "taskmanager.numberOfTaskSlots", "1", &e), TE_OK);
    ck_assert_int_eq(config_set(c, "taskmanager.network.io-threads", "65", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "taskmanager.network.io-threads", "64", &e), TE_OK);

    /* sizes with bounds */
    ck_assert_int_eq(config_set(c, "taskmanager.rpc.max-frame-size", "512b", &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "between 1kb and 1gb"));
    ck_assert_int_eq(config_set(c, "taskmanager.rpc.max-frame-size", "2gb", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "taskmanager.rpc.max-frame-size", "1kb", &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_RPC_MAX_FRAME_SIZE), 1024);
    ck_assert_int_eq(config_set(c, "taskmanager.memory.network.size", "1023kb", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "taskmanager.memory.network.size", "1mb", &e), TE_OK);

    /* ports */
    ck_assert_int_eq(config_set(c, "taskmanager.rpc.port", "0", &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_RPC_PORT), 0);
    ck_assert_int_eq(config_set(c, "taskmanager.rpc.port", "65536", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "taskmanager.rpc.port", "-1", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "taskmanager.rpc.port", "80x", &e), TE_EINVAL);

    /* durations: -1 and 0 only where allowed */
    ck_assert_int_eq(config_set(c, "execution.buffer-timeout", "-1", &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_EXECUTION_BUFFER_TIMEOUT), -1);
    ck_assert_int_eq(config_set(c, "execution.buffer-timeout", "0", &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_EXECUTION_BUFFER_TIMEOUT), 0);
    ck_assert_int_eq(config_set(c, "execution.buffer-timeout", "-2", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "heartbeat.interval", "-1", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "heartbeat.interval", "0", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "heartbeat.interval", "2min", &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_HEARTBEAT_INTERVAL), 120000);
    ck_assert_int_eq(config_set(c, "task.cancellation.timeout", "0", &e), TE_OK);
    ck_assert_int_eq(config_set(c, "taskmanager.slot.timeout", "soon", &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "'taskmanager.slot.timeout'"));
    ck_assert_ptr_nonnull(strstr(e.msg, "duration"));

    /* strings take anything */
    ck_assert_int_eq(config_set(c, "taskmanager.host", "10.0.0.7", &e), TE_OK);
    ck_assert_str_eq(config_get_str(c, TE_KEY_TASKMANAGER_HOST), "10.0.0.7");
    config_free(c);
}
END_TEST

START_TEST(test_segment_size_pow2)
{
    te_config_t *c = config_new();
    te_error_t e;
    ck_assert_int_eq(config_set(c, "taskmanager.memory.segment-size", "48kb", &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "power of two"));
    ck_assert_ptr_nonnull(strstr(e.msg, "'48kb'"));
    ck_assert_ptr_nonnull(strstr(e.msg, "taskmanager.memory.segment-size"));
    ck_assert_int_eq(config_set(c, "taskmanager.memory.segment-size", "2kb", &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "between 4kb and 16mb"));
    ck_assert_int_eq(config_set(c, "taskmanager.memory.segment-size", "32mb", &e), TE_EINVAL);
    /* every power of two in range is accepted, everything else in range refused */
    for (int64_t v = 4096; v <= 16 * 1024 * 1024; v += 4096) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)v);
        int pow2 = (v & (v - 1)) == 0;
        ck_assert_int_eq(config_set(c, "taskmanager.memory.segment-size", buf, &e), pow2 ? TE_OK : TE_EINVAL);
        if (pow2)
            ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_MEMORY_SEGMENT_SIZE), v);
        if (v > 65536)
            v += 65536; /* keep it quick */
    }
    ck_assert_int_eq(config_set(c, "taskmanager.memory.segment-size", "16MB", &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_MEMORY_SEGMENT_SIZE), 16 * 1024 * 1024);
    config_free(c);
}
END_TEST

START_TEST(test_enum)
{
    te_config_t *c = config_new();
    te_error_t e;
    const char *ok[] = {"debug", "info", "warn", "error", "WARN"};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(config_set(c, "log.level", ok[i], &e), TE_OK);
    ck_assert_str_eq(config_get_str(c, TE_KEY_LOG_LEVEL), "WARN");
    ck_assert_int_eq(config_set(c, "log.level", "verbose", &e), TE_EINVAL);
    ck_assert_str_eq(e.msg, "invalid value 'verbose' for key 'log.level': expected one of "
                            "debug|info|warn|error");
    ck_assert_int_eq(config_set(c, "log.level", "", &e), TE_EINVAL);
    ck_assert_int_eq(config_set(c, "log.level", "inf", &e), TE_EINVAL);
    ck_assert_str_eq(config_get_str(c, TE_KEY_TASKMANAGER_TASK_SCHEDULING_POLICY), "auto");
    ck_assert_int_eq(config_set(c, "taskmanager.task.scheduling-policy", "fifo", &e), TE_EINVAL);
    ck_assert_str_eq(e.msg, "invalid value 'fifo' for key 'taskmanager.task.scheduling-policy': expected one of "
                            "auto|batch|other");
    ck_assert_int_eq(config_set(c, "taskmanager.task.scheduling-policy", "other", &e), TE_OK);
    config_free(c);
}
END_TEST

/* The text of the log file the current test redirected the log to. */
static char *with_captured_log(void)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/log.txt", g_dir);
    return read_all(path);
}

START_TEST(test_unknown_key_warns)
{
    make_dir();
    char logpath[400];
    snprintf(logpath, sizeof(logpath), "%s/log.txt", g_dir);
    ck_assert_int_eq(te_log_set_file(logpath), 0);
    te_log_set_level(TE_LOG_INFO);
    te_config_t *c = config_new();
    te_error_t e;
    ck_assert_int_eq(config_set(c, "taskmanager.numberOfTaskSlot", "3", &e), TE_OK);
    ck_assert_int_eq(config_set_kv(c, "no.such=1", &e), TE_OK);
    const char *p = write_file("u.yaml", "bogus.key: 7\ntaskmanager.numberOfTaskSlots: 5\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), 5);
    te_log_set_file(NULL);
    char *log = with_captured_log();
    ck_assert_ptr_nonnull(strstr(log, "WARN"));
    ck_assert_ptr_nonnull(strstr(log, "'taskmanager.numberOfTaskSlot'"));
    ck_assert_ptr_nonnull(strstr(log, "'no.such'"));
    ck_assert_ptr_nonnull(strstr(log, "u.yaml:1: unknown configuration key 'bogus.key'"));
    free(log);
    config_free(c);
    remove_dir();
}
END_TEST

START_TEST(test_set_kv)
{
    te_config_t *c = config_new();
    te_error_t e;
    ck_assert_int_eq(config_set_kv(c, "taskmanager.numberOfTaskSlots=16", &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), 16);
    ck_assert_int_eq(config_set_kv(c, " taskmanager.memory.segment-size = 64kb ", &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_MEMORY_SEGMENT_SIZE), 65536);
    ck_assert_int_eq(config_set_kv(c, "taskmanager.host=a=b", &e), TE_OK);
    ck_assert_str_eq(config_get_str(c, TE_KEY_TASKMANAGER_HOST), "a=b");
    ck_assert_int_eq(config_set_kv(c, "log.file=", &e), TE_OK);
    ck_assert_str_eq(config_get_str(c, TE_KEY_LOG_FILE), "");
    ck_assert_int_eq(config_set_kv(c, "taskmanager.numberOfTaskSlots", &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "key=value"));
    ck_assert_int_eq(config_set_kv(c, "=5", &e), TE_EINVAL);
    ck_assert_int_eq(config_set_kv(c, "taskmanager.numberOfTaskSlots=x", &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "invalid value 'x' for key 'taskmanager.numberOfTaskSlots'"));
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), 16);
    config_free(c);
}
END_TEST

START_TEST(test_load_good_file)
{
    make_dir();
    const char *p = write_file("good.yaml", "# a comment\n"
                                            "taskmanager.numberOfTaskSlots: 6\n"
                                            "taskmanager.memory.segment-size: \"64kb\"\n"
                                            "taskmanager.host: 'worker-1'\n"
                                            "execution.buffer-timeout: -1\n"
                                            "log.level: debug\n"
                                            "log.file:\n"
                                            "heartbeat.timeout: 2min\n");
    te_config_t *c = config_new();
    te_error_t e;
    ck_assert_int_eq(config_load_file(c, p, &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), 6);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_MEMORY_SEGMENT_SIZE), 65536);
    ck_assert_str_eq(config_get_str(c, TE_KEY_TASKMANAGER_HOST), "worker-1");
    ck_assert_int_eq(config_get_int(c, TE_KEY_EXECUTION_BUFFER_TIMEOUT), -1);
    ck_assert_str_eq(config_get_str(c, TE_KEY_LOG_LEVEL), "debug");
    ck_assert_int_eq(config_get_int(c, TE_KEY_HEARTBEAT_TIMEOUT), 120000);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_RPC_PORT), 6122); /* untouched */
    config_free(c);

    /* an empty file (or only comments) is a valid, empty configuration */
    c = config_new();
    p = write_file("empty.yaml", "# nothing\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_OK);
    config_free(c);
    remove_dir();
}
END_TEST

START_TEST(test_load_nested)
{
    make_dir();
    const char *p = write_file("nested.yaml", "taskmanager:\n"
                                              "  numberOfTaskSlots: 3\n"
                                              "  memory:\n"
                                              "    network.size: 128mb\n"
                                              "    segment-size: 16kb\n"
                                              "  rpc:\n"
                                              "    port: 0\n"
                                              "log:\n"
                                              "  level: warn\n"
                                              "execution.buffer-timeout: 0\n");
    te_config_t *c = config_new();
    te_error_t e;
    ck_assert_int_eq(config_load_file(c, p, &e), TE_OK);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), 3);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_MEMORY_NETWORK_SIZE), 128LL << 20);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_MEMORY_SEGMENT_SIZE), 16384);
    ck_assert_int_eq(config_get_int(c, TE_KEY_TASKMANAGER_RPC_PORT), 0);
    ck_assert_str_eq(config_get_str(c, TE_KEY_LOG_LEVEL), "warn");
    ck_assert_int_eq(config_get_int(c, TE_KEY_EXECUTION_BUFFER_TIMEOUT), 0);
    config_free(c);
    remove_dir();
}
END_TEST

START_TEST(test_load_errors)
{
    make_dir();
    te_config_t *c = config_new();
    te_error_t e;
    char want[600];

    /* missing file */
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/nope.yaml", g_dir);
    ck_assert_int_eq(config_load_file(c, missing, &e), TE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "nope.yaml"));

    /* bad value: names file:line, key and value */
    const char *p = write_file("bad.yaml", "log.level: info\n"
                                           "\n"
                                           "taskmanager.numberOfTaskSlots: lots\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_EINVAL);
    snprintf(want, sizeof(want),
             "%s:3: invalid value 'lots' for key 'taskmanager.numberOfTaskSlots': expected an "
             "integer between 1 and 1024",
             p);
    ck_assert_str_eq(e.msg, want);

    /* bad value inside a nested mapping names the flattened key */
    p = write_file("badnested.yaml", "taskmanager:\n  memory:\n    segment-size: 48kb\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "badnested.yaml:3: invalid value '48kb' for key "
                                        "'taskmanager.memory.segment-size'"));

    /* syntax error with its line */
    p = write_file("syntax.yaml", "a.b: 1\n"
                                  "c.d: [1, 2\n"
                                  "e.f: 3\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "syntax.yaml:"));
    ck_assert_ptr_nonnull(strstr(e.msg, "YAML syntax error"));
    p = write_file("syntax2.yaml", "x.y: 1\n"
                                   "log.level: \"info\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_EINVAL);
    ck_assert_msg(strstr(e.msg, "syntax2.yaml:") != NULL && strstr(e.msg, "line 2") != NULL, "got: %s", e.msg);
    p = write_file("syntax3.yaml", "a: 1\n  b: 2\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_EINVAL);
    ck_assert_msg(strstr(e.msg, "syntax3.yaml:2:") != NULL, "got: %s", e.msg);

    /* non-scalar value */
    p = write_file("list.yaml", "taskmanager.numberOfTaskSlots: 2\n"
                                "plugins.dir:\n"
                                "  - a\n"
                                "  - b\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_EINVAL);
    ck_assert_msg(strstr(e.msg, "list.yaml:3:") != NULL, "got: %s", e.msg);
    ck_assert_ptr_nonnull(strstr(e.msg, "'plugins.dir'"));
    ck_assert_ptr_nonnull(strstr(e.msg, "a list"));

    /* top level not a mapping */
    p = write_file("seq.yaml", "- a\n- b\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "seq.yaml:1:"));
    p = write_file("scalar.yaml", "just text\n");
    ck_assert_int_eq(config_load_file(c, p, &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "mapping"));
    config_free(c);
    remove_dir();
}
END_TEST

START_TEST(test_write_defaults_round_trip)
{
    make_dir();
    char path[400];
    snprintf(path, sizeof(path), "%s/defaults.yaml", g_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    config_write_defaults(f);
    fclose(f);
    char *text = read_all(path);
    /* every key is present with its doc line */
    for (const te_config_key_t *k = config_keys(); k->name != NULL; k++) {
        char line[300];
        snprintf(line, sizeof(line), "\n%s: ", k->name);
        if (!config_key_in_set(TE_CONFIG_TASKEXECUTOR, (te_config_key_id_t)(k - config_keys()))) {
            ck_assert_msg(strstr(text, line) == NULL, "JobManager key %s in taskexecutord's defaults", k->name);
            continue;
        }
        ck_assert_msg(strstr(text, line) != NULL, "key %s missing", k->name);
        ck_assert_msg(strstr(text, k->doc) != NULL, "doc of %s missing", k->name);
    }
    ck_assert_ptr_nonnull(strstr(text, "power of two"));
    free(text);
    /* loading it over a modified config restores every default */
    te_config_t *c = config_new();
    te_config_t *d = config_new();
    te_error_t e;
    ck_assert_int_eq(config_set(c, "taskmanager.numberOfTaskSlots", "9", &e), TE_OK);
    ck_assert_int_eq(config_set(c, "taskmanager.host", "x", &e), TE_OK);
    ck_assert_int_eq(config_set(c, "taskmanager.resource-id", "rid", &e), TE_OK);
    ck_assert_int_eq(config_load_file(c, path, &e), TE_OK);
    for (int i = 0; i < TE_KEY_COUNT; i++) {
        const te_config_key_t *k = &config_keys()[i];
        ck_assert_str_eq(config_get_str(c, i), config_get_str(d, i));
        if (k->type != TE_CFG_STRING && k->type != TE_CFG_ENUM)
            ck_assert_int_eq(config_get_int(c, i), config_get_int(d, i));
    }
    config_free(c);
    config_free(d);
    remove_dir();
}
END_TEST

START_TEST(test_shipped_file_matches)
{
    /* conf/taskexecutor.yaml is exactly what config_write_defaults prints. Runs from the
     * repo root (the unit runner's usual cwd); skipped elsewhere. */
    FILE *f = fopen("conf/taskexecutor.yaml", "r");
    if (f == NULL)
        UNIT_SKIP("conf/taskexecutor.yaml is not in the working directory (run from the repository root)");
    fclose(f);
    char *shipped = read_all("conf/taskexecutor.yaml");
    char *gen = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&gen, &len);
    config_write_defaults(m);
    fclose(m);
    ck_assert_str_eq(shipped, gen);
    free(shipped);
    free(gen);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_key_table);
    tcase_add_test(tc, test_parse_size);
    tcase_add_test(tc, test_parse_duration);
    tcase_add_test(tc, test_set_and_bounds);
    tcase_add_test(tc, test_segment_size_pow2);
    tcase_add_test(tc, test_enum);
    tcase_add_test(tc, test_unknown_key_warns);
    tcase_add_test(tc, test_set_kv);
    tcase_add_test(tc, test_load_good_file);
    tcase_add_test(tc, test_load_nested);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_write_defaults_round_trip);
    tcase_add_test(tc, test_shipped_file_matches);
    suite_add_tcase(s, tc);
    return s;
}

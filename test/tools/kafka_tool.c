/*
 * kafka_tool — Kafka helpers for the tests and benchmarks, written directly against
 * librdkafka (an oracle independent of the connectors under test):
 *
 *   kafka_tool mock [--brokers N] [--topic NAME:PARTITIONS]...
 *       starts librdkafka's mock cluster (rd_kafka_mock_cluster_new: a Kafka-protocol
 *       broker inside librdkafka on loopback ports; Debian packages no Kafka broker),
 *       prints "BOOTSTRAP <host:port,...>" once it listens, runs until SIGTERM/SIGINT
 *   kafka_tool create BOOTSTRAP NAME:PARTITIONS...
 *       creates topics on a real cluster (the admin API; an existing topic is fine)
 *   kafka_tool produce BOOTSTRAP TOPIC [--keyed] [--timestamps] [--partition P]
 *       produces each stdin line (acks=all; --timestamps: the line starts with
 *       "<ms><TAB>", the record's timestamp; --keyed: then "key<TAB>value"; --partition:
 *       all to partition P), waits for every acknowledgement; prints "produced N
 *       records in S s" on stderr
 *   kafka_tool consume BOOTSTRAP TOPIC [--read-committed] [--count N] [--timeout S]
 *       reads every partition from the beginning and prints "key<TAB>value" (or the
 *       value when there is no key) per record until N records (default: until every
 *       partition reached its end) or S seconds (default 60); prints "consumed N
 *       records in S s" on stderr
 *
 * Exit status: 0, 1 on a Kafka error or timeout, 2 on bad usage.
 * Threading: the main thread (librdkafka runs its own).
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: kafka_tool mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
                    "       kafka_tool create BOOTSTRAP NAME:PARTITIONS...\n"
                    "       kafka_tool produce BOOTSTRAP TOPIC [--keyed] [--timestamps] [--partition P]\n"
                    "       kafka_tool consume BOOTSTRAP TOPIC [--read-committed] [--count N] [--timeout S]\n");
    return 2;
}

static int topic_spec(const char *spec, char *name, size_t len, int *parts)
{
    const char *colon = strrchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    *parts = colon ? atoi(colon + 1) : 1;
    if (n == 0 || n >= len || *parts < 1)
        return -1;
    memcpy(name, spec, n);
    name[n] = '\0';
    return 0;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *const *kv)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (; *kv; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "kafka_tool: %s: %s\n", kv[0], err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (rk == NULL)
        fprintf(stderr, "kafka_tool: %s\n", err);
    return rk;
}

static int cmd_mock(int argc, char **argv)
{
    int brokers = 1;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc)
            i++;
        else
            return usage();
    if (brokers < 1 || brokers > 16)
        return usage();
    /* a test that dies (or forgets to stop the cluster) takes it along */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        return 1;
    const char *kv[] = {"log_level", "3", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, kv);
    rd_kafka_mock_cluster_t *mc = rk ? rd_kafka_mock_cluster_new(rk, brokers) : NULL;
    if (mc == NULL) {
        fprintf(stderr, "kafka_tool: cannot start the mock cluster\n");
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        char name[256];
        int parts;
        if (strcmp(argv[i], "--topic") != 0)
            continue;
        if (topic_spec(argv[++i], name, sizeof(name), &parts) != 0)
            return usage();
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, name, parts, 1);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "kafka_tool: topic %s: %s\n", name, rd_kafka_err2str(e));
            return 1;
        }
    }
    printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (!stop)
        poll(NULL, 0, 200);
    /* no orderly destroy: with clients still connected it can wait for them forever */
    fflush(stdout);
    _exit(0);
}

static int cmd_create(const char *bootstrap, int argc, char **argv)
{
    const char *kv[] = {"bootstrap.servers", bootstrap, NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, kv);
    if (rk == NULL || argc == 0)
        return rk ? usage() : 1;
    rd_kafka_NewTopic_t **nt = calloc((size_t)argc, sizeof(*nt));
    char err[512];
    for (int i = 0; i < argc; i++) {
        char name[256];
        int parts;
        if (topic_spec(argv[i], name, sizeof(name), &parts) != 0)
            return usage();
        nt[i] = rd_kafka_NewTopic_new(name, parts, 1, err, sizeof(err));
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, (size_t)argc, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 0;
    const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
    if (res == NULL) {
        fprintf(stderr, "kafka_tool: CreateTopics: %s\n", ev ? rd_kafka_event_error_string(ev) : "timed out");
        rc = 1;
    }
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_topic_result_error(tr[i]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_topic_result_error(tr[i]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            fprintf(stderr, "kafka_tool: topic %s: %s\n", rd_kafka_topic_result_name(tr[i]),
                    rd_kafka_topic_result_error_string(tr[i]));
            rc = 1;
        }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    for (int i = 0; i < argc; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    rd_kafka_destroy(rk);
    return rc;
}

static long delivery_errors;
static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    if (m->err && delivery_errors++ == 0)
        fprintf(stderr, "kafka_tool: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

static int cmd_produce(const char *bootstrap, const char *topic, int keyed, int stamped, int partition)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "acks", "all", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err))) {
        fprintf(stderr, "kafka_tool: %s\n", err);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "kafka_tool: %s\n", err);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long count = 0;
    double t0 = now_s();
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        char *start = line;
        long long ts = 0;
        if (stamped) {
            char *t = strchr(line, '\t');
            if (t == NULL) {
                fprintf(stderr, "kafka_tool: line %ld has no timestamp field\n", count + 1);
                return 1;
            }
            ts = atoll(line);
            start = t + 1;
        }
        char *val = start, *tab = keyed ? strchr(start, '\t') : NULL;
        size_t klen = 0;
        if (tab) {
            klen = (size_t)(tab - start);
            val = tab + 1;
        }
        for (;;) {
            rd_kafka_resp_err_t e =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_TIMESTAMP(ts),
                                  RD_KAFKA_V_KEY(tab ? start : NULL, klen),
                                  RD_KAFKA_V_VALUE(val, (size_t)n - (size_t)(val - line)), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "kafka_tool: produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
        count++;
    }
    free(line);
    rd_kafka_resp_err_t e = rd_kafka_flush(rk, 60000);
    fprintf(stderr, "produced %ld records in %.3f s\n", count, now_s() - t0);
    rd_kafka_destroy(rk);
    return e != RD_KAFKA_RESP_ERR_NO_ERROR || delivery_errors ? 1 : 0;
}

static int cmd_consume(const char *bootstrap, const char *topic, int committed, long count, double timeout)
{
    const char *kv[] = {"bootstrap.servers",
                        bootstrap,
                        "group.id",
                        "kafka-tool",
                        "enable.auto.commit",
                        "false",
                        "enable.partition.eof",
                        "true",
                        "isolation.level",
                        committed ? "read_committed" : "read_uncommitted",
                        NULL};
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, kv);
    if (rk == NULL)
        return 1;
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 ||
        md->topics[0].err) {
        fprintf(stderr, "kafka_tool: no metadata for topic %s\n", topic);
        return 1;
    }
    int parts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[p].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    long got = 0;
    int eofs = 0, rc = 0;
    double t0 = now_s();
    while (count > 0 ? got < count : eofs < parts) {
        if (now_s() - t0 > timeout) {
            fprintf(stderr, "kafka_tool: timed out after %ld records\n", got);
            rc = 1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (m->err) {
            fprintf(stderr, "kafka_tool: %s\n", rd_kafka_message_errstr(m));
        } else {
            if (m->key)
                fwrite(m->key, 1, m->key_len, stdout), putchar('\t');
            fwrite(m->payload, 1, m->len, stdout);
            putchar('\n');
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
    fprintf(stderr, "consumed %ld records in %.3f s\n", got, now_s() - t0);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (argc >= 2 && strcmp(argv[1], "mock") == 0)
        return cmd_mock(argc - 2, argv + 2);
    if (argc >= 3 && strcmp(argv[1], "create") == 0)
        return cmd_create(argv[2], argc - 3, argv + 3);
    if (argc >= 4 && strcmp(argv[1], "produce") == 0) {
        int keyed = 0, stamped = 0, partition = RD_KAFKA_PARTITION_UA;
        for (int i = 4; i < argc; i++)
            if (strcmp(argv[i], "--keyed") == 0)
                keyed = 1;
            else if (strcmp(argv[i], "--timestamps") == 0)
                stamped = 1;
            else if (strcmp(argv[i], "--partition") == 0 && i + 1 < argc)
                partition = atoi(argv[++i]);
            else
                return usage();
        return cmd_produce(argv[2], argv[3], keyed, stamped, partition);
    }
    if (argc >= 4 && strcmp(argv[1], "consume") == 0) {
        int committed = 0;
        long count = 0;
        double timeout = 60;
        for (int i = 4; i < argc; i++)
            if (strcmp(argv[i], "--read-committed") == 0)
                committed = 1;
            else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
                count = atol(argv[++i]);
            else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
                timeout = atof(argv[++i]);
            else
                return usage();
        return cmd_consume(argv[2], argv[3], committed, count, timeout);
    }
    return usage();
}

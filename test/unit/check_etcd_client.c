/*
 * check_etcd_client — lib/cluster/etcd_client against a real etcd (Debian's etcd-server,
 * one member started by each test on free loopback ports with a temporary data
 * directory, killed at its end): ranges, guarded transactions, leases, watches, the
 * next endpoint after a dead one, errors the gateway answers. Skipped (counted) where
 * etcd is not installed; under CI=true that fails.
 */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/etcd_client.h"
#include "common/clock.h"
#include "unit_skip.h"

typedef struct etcd_proc {
    pid_t pid;
    char dir[64];
    char url[64];
    int dead_port; /* a port nobody listens on */
} etcd_proc_t;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static const char *etcd_binary(void)
{
    static const char *const paths[] = {"/usr/bin/etcd", "/usr/local/bin/etcd"};
    for (size_t i = 0; i < 2; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

typedef struct waiter {
    json_t *reply;
    te_error_t err;
    int done;
} waiter_t;

static void on_reply(void *arg, const json_t *reply, const te_error_t *err)
{
    waiter_t *w = arg;
    w->done = 1;
    if (reply)
        w->reply = json_deep_copy(reply);
    else
        w->err = *err;
}

static void run_until(struct event_base *base, int *flag)
{
    int64_t end = te_clock_mono_ms() + 20000;
    while (!*flag && te_clock_mono_ms() < end)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    ck_assert_msg(*flag, "no answer within 20 s");
}

/* One call, waited for: the reply (NEW) or NULL with w->err. */
static json_t *call(struct event_base *base, te_etcd_client_t *c, const char *path, json_t *body, waiter_t *w)
{
    memset(w, 0, sizeof(*w));
    etcd_client_call(c, path, body, on_reply, w);
    run_until(base, &w->done);
    return w->reply;
}

/* Starts etcd; 0 when it is not installed. */
static int etcd_start(etcd_proc_t *e)
{
    const char *bin = etcd_binary();
    if (bin == NULL)
        return 0;
    snprintf(e->dir, sizeof(e->dir), "/tmp/te-etcd-unit.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(e->dir));
    int cport = free_port(), pport = free_port();
    e->dead_port = free_port();
    char client[64], peer[64], data[128], cluster[96], logp[128];
    snprintf(client, sizeof(client), "http://127.0.0.1:%d", cport);
    snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", pport);
    snprintf(data, sizeof(data), "%s/data", e->dir);
    snprintf(cluster, sizeof(cluster), "u=%s", peer);
    snprintf(logp, sizeof(logp), "%s/etcd.log", e->dir);
    snprintf(e->url, sizeof(e->url), "%s", client);
    e->pid = fork();
    ck_assert_int_ge(e->pid, 0);
    if (e->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion ends the test: etcd goes with it */
        FILE *f = freopen(logp, "w", stderr);
        (void)f;
        execl(bin, "etcd", "--name", "u", "--data-dir", data, "--listen-client-urls", client,
              "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
              "--initial-cluster", cluster, "--log-level", "error", (char *)NULL);
        _exit(127);
    }
    /* ready once a range answers */
    struct event_base *base = event_base_new();
    te_etcd_client_t *c = etcd_client_new(base, &(te_etcd_options_t){.endpoints = e->url, .timeout_ms = 500}, NULL);
    int ok = 0;
    for (int i = 0; i < 200 && !ok; i++) {
        waiter_t w;
        json_t *r = call(base, c, "/v3/kv/range", etcd_range_body("probe", 0), &w);
        ok = r != NULL;
        json_decref(r);
        if (!ok)
            usleep(50000);
    }
    etcd_client_free(c);
    event_base_free(base);
    ck_assert_msg(ok, "etcd did not start (see %s)", logp);
    return 1;
}

static void etcd_stop(etcd_proc_t *e)
{
    kill(e->pid, SIGKILL);
    waitpid(e->pid, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    ck_assert_int_eq(system(cmd), 0);
}

#define ETCD_OR_SKIP(e)  \
    etcd_proc_t e;       \
    if (!etcd_start(&e)) \
        UNIT_SKIP("etcd is not installed (apt-get install etcd-server; scripts/install-deps.sh test)");

/* The revision of the write (0 = failed). */
static int64_t put(struct event_base *base, te_etcd_client_t *c, const char *key, const char *value)
{
    waiter_t w;
    json_t *succ = json_array();
    json_array_append_new(succ, etcd_op_put(key, value, 0));
    json_t *r = call(base, c, "/v3/kv/txn", etcd_txn_body(NULL, succ, NULL), &w);
    int64_t rev = r != NULL && json_is_true(json_object_get(r, "succeeded"))
                      ? etcd_int(json_object_get(r, "header"), "revision")
                      : 0;
    json_decref(r);
    return rev;
}

START_TEST(test_range_and_prefix)
{
    ETCD_OR_SKIP(e);
    struct event_base *base = event_base_new();
    te_error_t err = {0};
    te_etcd_client_t *c = etcd_client_new(base, &(te_etcd_options_t){.endpoints = e.url, .timeout_ms = 2000}, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert(put(base, c, "/t/jobs/a", "{\"x\": 1}"));
    ck_assert(put(base, c, "/t/jobs/b", "two\nlines \xc3\xa9!"));
    ck_assert(put(base, c, "/t/jobsx", "outside the prefix"));
    waiter_t w;
    json_t *r = call(base, c, "/v3/kv/range", etcd_range_body("/t/jobs/", 1), &w);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(etcd_int(r, "count"), 2);
    json_t *kvs = json_object_get(r, "kvs");
    char *k0 = etcd_b64_field(json_array_get(kvs, 0), "key", NULL);
    size_t len = 0;
    char *v1 = etcd_b64_field(json_array_get(kvs, 1), "value", &len);
    ck_assert_str_eq(k0, "/t/jobs/a");
    ck_assert_str_eq(v1, "two\nlines \xc3\xa9!");
    ck_assert_uint_eq(len, strlen("two\nlines \xc3\xa9!"));
    ck_assert_int_gt(etcd_int(json_array_get(kvs, 0), "create_revision"), 0);
    free(k0);
    free(v1);
    json_decref(r);
    /* synchronous flavour (start-up reads) */
    json_t *s = etcd_client_call_sync(c, "/v3/kv/range", etcd_range_body("/t/jobsx", 0), &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(etcd_int(s, "count"), 1);
    json_decref(s);
    etcd_client_free(c);
    event_base_free(base);
    etcd_stop(&e);
}
END_TEST

START_TEST(test_guarded_txn)
{
    ETCD_OR_SKIP(e);
    struct event_base *base = event_base_new();
    te_etcd_client_t *c = etcd_client_new(base, &(te_etcd_options_t){.endpoints = e.url, .timeout_ms = 2000}, NULL);
    int64_t created[2];
    for (int i = 0; i < 2; i++) { /* create-if-absent twice: the second one fails and reads */
        json_t *cmp = json_array(), *succ = json_array(), *fail = json_array();
        json_array_append_new(cmp, etcd_cmp("/t/leader", "CREATE", "EQUAL", 0));
        json_array_append_new(succ, etcd_op_put("/t/leader", i ? "second" : "first", 0));
        json_array_append_new(fail, etcd_op_range("/t/leader"));
        waiter_t w;
        json_t *r = call(base, c, "/v3/kv/txn", etcd_txn_body(cmp, succ, fail), &w);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(json_is_true(json_object_get(r, "succeeded")), i == 0);
        created[i] = etcd_int(json_object_get(r, "header"), "revision");
        if (i == 1) {
            json_t *kv = json_array_get(
                json_object_get(
                    json_object_get(json_array_get(json_object_get(r, "responses"), 0), "response_range"), "kvs"),
                0);
            char *v = etcd_b64_field(kv, "value", NULL);
            ck_assert_str_eq(v, "first");
            ck_assert_int_eq(etcd_int(kv, "create_revision"), created[0]);
            free(v);
        }
        json_decref(r);
    }
    /* a write guarded by the leader key's create revision: ok with the right one */
    for (int i = 0; i < 2; i++) {
        json_t *cmp = json_array(), *succ = json_array();
        json_array_append_new(cmp, etcd_cmp("/t/leader", "CREATE", "EQUAL", created[0] + i));
        json_array_append_new(succ, etcd_op_put("/t/data", "x", 0));
        waiter_t w;
        json_t *r = call(base, c, "/v3/kv/txn", etcd_txn_body(cmp, succ, NULL), &w);
        ck_assert_int_eq(json_is_true(json_object_get(r, "succeeded")), i == 0);
        json_decref(r);
    }
    etcd_client_free(c);
    event_base_free(base);
    etcd_stop(&e);
}
END_TEST

START_TEST(test_lease)
{
    ETCD_OR_SKIP(e);
    struct event_base *base = event_base_new();
    te_etcd_client_t *c = etcd_client_new(base, &(te_etcd_options_t){.endpoints = e.url, .timeout_ms = 2000}, NULL);
    waiter_t w;
    json_t *r = call(base, c, "/v3/lease/grant", json_pack("{s:i}", "TTL", 3), &w);
    ck_assert_ptr_nonnull(r);
    int64_t id = etcd_int(r, "ID");
    ck_assert_int_ne(id, 0);
    ck_assert_int_eq(etcd_int(r, "TTL"), 3);
    json_decref(r);
    json_t *succ = json_array();
    json_array_append_new(succ, etcd_op_put("/t/leased", "v", id));
    json_decref(call(base, c, "/v3/kv/txn", etcd_txn_body(NULL, succ, NULL), &w));
    char ids[32];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    r = call(base, c, "/v3/lease/keepalive", json_pack("{s:s}", "ID", ids), &w);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(etcd_int(json_object_get(r, "result"), "TTL"), 3);
    json_decref(r);
    json_decref(call(base, c, "/v3/lease/revoke", json_pack("{s:s}", "ID", ids), &w));
    /* the key went with its lease; a keepalive of it answers TTL 0 (or an error) */
    r = call(base, c, "/v3/kv/range", etcd_range_body("/t/leased", 0), &w);
    ck_assert_int_eq(etcd_int(r, "count"), 0);
    json_decref(r);
    r = call(base, c, "/v3/lease/keepalive", json_pack("{s:s}", "ID", ids), &w);
    ck_assert(r == NULL || etcd_int(json_object_get(r, "result"), "TTL") <= 0);
    json_decref(r);
    etcd_client_free(c);
    event_base_free(base);
    etcd_stop(&e);
}
END_TEST

typedef struct seen {
    char log[1024];
    int n;
} seen_t;

static void on_event(void *arg, int is_delete, const json_t *kv)
{
    seen_t *s = arg;
    char *k = etcd_b64_field(kv, "key", NULL), *v = etcd_b64_field(kv, "value", NULL);
    size_t off = strlen(s->log);
    snprintf(s->log + off, sizeof(s->log) - off, "%s %s=%s;", is_delete ? "DEL" : "PUT", k ? k : "?", v ? v : "");
    s->n++;
    free(k);
    free(v);
}

START_TEST(test_watch)
{
    ETCD_OR_SKIP(e);
    struct event_base *base = event_base_new();
    te_etcd_client_t *c = etcd_client_new(base, &(te_etcd_options_t){.endpoints = e.url, .timeout_ms = 2000}, NULL);
    /* from the revision after this write: not seen, and nothing later can be missed */
    int64_t rev = put(base, c, "/w/before", "old");
    ck_assert_int_gt(rev, 0);
    seen_t s = {{0}, 0};
    te_etcd_watch_t *w = etcd_watch_new(c, "/w/", 1, rev + 1, on_event, &s, NULL);
    ck_assert_ptr_nonnull(w);
    int64_t end;
    ck_assert(put(base, c, "/w/a", "1"));
    ck_assert(put(base, c, "/x/other", "not watched"));
    json_t *succ = json_array();
    json_array_append_new(succ, etcd_op_delete("/w/a", 0));
    waiter_t wt;
    json_decref(call(base, c, "/v3/kv/txn", etcd_txn_body(NULL, succ, NULL), &wt));
    int two = 0;
    end = te_clock_mono_ms() + 20000;
    while (s.n < 2 && te_clock_mono_ms() < end)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    two = s.n >= 2;
    ck_assert_msg(two, "events seen: %s", s.log);
    ck_assert_str_eq(s.log, "PUT /w/a=1;DEL /w/a=;");
    etcd_watch_free(w);
    etcd_client_free(c);
    event_base_free(base);
    etcd_stop(&e);
}
END_TEST

START_TEST(test_next_endpoint_and_errors)
{
    ETCD_OR_SKIP(e);
    struct event_base *base = event_base_new();
    char eps[200];
    snprintf(eps, sizeof(eps), "http://127.0.0.1:%d, %s", e.dead_port, e.url);
    te_error_t err = {0};
    te_etcd_client_t *c = etcd_client_new(base, &(te_etcd_options_t){.endpoints = eps, .timeout_ms = 2000}, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert(strstr(etcd_client_describe(c), "127.0.0.1") != NULL);
    ck_assert(put(base, c, "/e/k", "v")); /* the dead one first, then the live one */
    /* an answer etcd refuses: named, not retried forever */
    waiter_t w;
    json_t *r = call(base, c, "/v3/kv/range", json_pack("{s:s}", "key", "not base64!"), &w);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(w.err.msg, "HTTP 400") != NULL, "%s", w.err.msg);
    etcd_client_free(c);
    /* only dead endpoints: an error naming them */
    snprintf(eps, sizeof(eps), "http://127.0.0.1:%d", e.dead_port);
    c = etcd_client_new(base, &(te_etcd_options_t){.endpoints = eps, .timeout_ms = 2000}, &err);
    r = call(base, c, "/v3/kv/range", etcd_range_body("k", 0), &w);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(w.err.msg, eps) != NULL, "%s", w.err.msg);
    etcd_client_free(c);
    /* malformed endpoint lists */
    static const char *const bad[] = {"",           "127.0.0.1:2379", "https://h:1",
                                      "http://h:0", "http://h:x",     "http://:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        ck_assert_ptr_null(etcd_client_new(base, &(te_etcd_options_t){.endpoints = bad[i], .timeout_ms = 100}, &err));
        ck_assert_msg(err.msg[0] != '\0', "no message for '%s'", bad[i]);
    }
    /* https:// without a CA, http:// with TLS configured: refused, naming the key */
    memset(&err, 0, sizeof(err));
    ck_assert_ptr_null(etcd_client_new(base, &(te_etcd_options_t){.endpoints = "https://h:1"}, &err));
    ck_assert_msg(strstr(err.msg, "high-availability.etcd.tls.ca-file") != NULL, "%s", err.msg);
    SSL_CTX *tls = SSL_CTX_new(TLS_client_method());
    memset(&err, 0, sizeof(err));
    ck_assert_ptr_null(etcd_client_new(base, &(te_etcd_options_t){.endpoints = "http://h:1", .tls = tls}, &err));
    ck_assert_msg(strstr(err.msg, "use https://") != NULL, "%s", err.msg);
    c = etcd_client_new(base, &(te_etcd_options_t){.endpoints = "https://h:1", .tls = tls, .username = "u"}, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(strstr(etcd_client_describe(c), "https://h:1 as u") != NULL, "%s", etcd_client_describe(c));
    etcd_client_free(c);
    SSL_CTX_free(tls);
    etcd_client_free(NULL);
    etcd_watch_free(NULL);
    event_base_free(base);
    etcd_stop(&e);
}
END_TEST

Suite *etcd_client_suite(void)
{
    Suite *s = suite_create("etcd_client");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_range_and_prefix);
    tcase_add_test(tc, test_guarded_txn);
    tcase_add_test(tc, test_lease);
    tcase_add_test(tc, test_watch);
    tcase_add_test(tc, test_next_endpoint_and_errors);
    suite_add_tcase(s, tc);
    return s;
}

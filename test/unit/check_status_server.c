/* Unit tests: status_server — a real evhttp server on 127.0.0.1:0 with a fake
 * provider (and the built-in dashboard page at /), run on its own thread's event_base, queried by a raw-socket HTTP/1.0
 * client; status codes checked, bodies parsed with jansson. */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "status/dashboard_page.h"
#include "status/status_server.h"

#define KNOWN_ID "0123456789abcdef0123456789abcdef"

typedef struct fake {
    int n_task_calls;
    char last_id[64];
} fake_t;

static json_t *fake_overview(void *arg)
{
    (void)arg;
    return json_pack("{s:s, s:i, s:i}", "resource_id", "tm-1", "slots_total", 4, "slots_free", 3);
}

static json_t *fake_slots(void *arg)
{
    (void)arg;
    return json_pack("{s:[{s:i, s:s}]}", "slots", "index", 0, "state", "FREE");
}

static json_t *fake_tasks(void *arg)
{
    (void)arg;
    return json_pack("{s:[{s:s, s:s}]}", "tasks", "execution_id", KNOWN_ID, "state", "RUNNING");
}

static json_t *fake_task(void *arg, const char *id)
{
    fake_t *f = arg;
    f->n_task_calls++;
    snprintf(f->last_id, sizeof(f->last_id), "%s", id);
    if (strcmp(id, KNOWN_ID) != 0)
        return NULL;
    return json_pack("{s:s, s:s, s:{s:I}}", "execution_id", id, "state", "RUNNING", "metrics", "numRecordsIn",
                     (json_int_t)12345);
}

static char *fake_metrics(void *arg)
{
    (void)arg;
    return strdup("# TYPE te_records_in_total counter\nte_records_in_total 7\n");
}

static json_t *broken_overview(void *arg)
{
    (void)arg;
    return NULL;
}

typedef struct server_ctx {
    struct event_base *base;
    te_status_server_t *srv;
    pthread_t thread;
    fake_t fake;
} server_ctx_t;

static void *loop_main(void *arg)
{
    server_ctx_t *c = arg;
    event_base_dispatch(c->base);
    return NULL;
}

static void server_start(server_ctx_t *c, te_status_provider_t *p)
{
    memset(&c->fake, 0, sizeof(c->fake));
    ck_assert_int_eq(evthread_use_pthreads(), 0);
    c->base = event_base_new();
    ck_assert_ptr_nonnull(c->base);
    p->arg = &c->fake;
    te_error_t e;
    c->srv = status_server_new(c->base, "127.0.0.1", 0, p, &e);
    ck_assert_msg(c->srv != NULL, "status_server_new: %s", e.msg);
    ck_assert_int_gt(status_server_port(c->srv), 0);
    ck_assert_int_eq(pthread_create(&c->thread, NULL, loop_main, c), 0);
}

static void server_stop(server_ctx_t *c)
{
    event_base_loopbreak(c->base);
    pthread_join(c->thread, NULL);
    status_server_free(c->srv);
    event_base_free(c->base);
    libevent_global_shutdown();
}

typedef struct reply {
    int status;
    char headers[4096];
    char *body;
    size_t body_len;
} reply_t;

/* Sends `raw` verbatim, reads until EOF, splits status / headers / body. */
static void http_raw(int port, const char *raw, size_t raw_len, reply_t *r)
{
    memset(r, 0, sizeof(*r));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    size_t off = 0;
    while (off < raw_len) {
        ssize_t n = send(fd, raw + off, raw_len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may close early on an oversized request */
        off += (size_t)n;
    }
    /* No shutdown(SHUT_WR) here: evhttp (libevent 2.1) drops the unsent rest of a
     * reply larger than its socket buffer when it sees the client's EOF; HTTP/1.0
     * makes the server close after its reply anyway. */
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    ck_assert_msg(len > 12 && strncmp(buf, "HTTP/1.", 7) == 0, "no HTTP reply: '%s'", buf);
    r->status = atoi(buf + 9);
    char *sep = strstr(buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(sep);
    size_t hlen = (size_t)(sep - buf);
    if (hlen >= sizeof(r->headers))
        hlen = sizeof(r->headers) - 1;
    memcpy(r->headers, buf, hlen);
    r->body_len = len - (size_t)(sep + 4 - buf);
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, sep + 4, r->body_len);
    r->body[r->body_len] = '\0';
    free(buf);
}

static void http_req(int port, const char *method, const char *path, reply_t *r)
{
    char req[1024];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    http_raw(port, req, (size_t)n, r);
}

/* Parses the body as JSON (fails the test otherwise). New reference. */
static json_t *body_json(const reply_t *r)
{
    json_error_t je;
    json_t *j = json_loads(r->body, 0, &je);
    ck_assert_msg(j != NULL, "body is not JSON (%s): '%s'", je.text, r->body);
    ck_assert_ptr_nonnull(strcasestr(r->headers, "Content-Type: application/json"));
    return j;
}

static void reply_free(reply_t *r) { free(r->body); }

static te_status_provider_t full_provider(void)
{
    te_status_provider_t p = {
        .overview = fake_overview,
        .slots = fake_slots,
        .tasks = fake_tasks,
        .task = fake_task,
        .metrics_text = fake_metrics,
    };
    return p;
}

START_TEST(test_json_endpoints)
{
    server_ctx_t c;
    te_status_provider_t p = full_provider();
    server_start(&c, &p);
    int port = status_server_port(c.srv);
    reply_t r;

    http_req(port, "GET", "/v1/overview", &r);
    ck_assert_int_eq(r.status, 200);
    json_t *j = body_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "resource_id")), "tm-1");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "slots_total")), 4);
    json_decref(j);
    reply_free(&r);

    http_req(port, "GET", "/v1/slots", &r);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    json_t *arr = json_object_get(j, "slots");
    ck_assert(json_is_array(arr));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "state")), "FREE");
    json_decref(j);
    reply_free(&r);

    http_req(port, "GET", "/v1/tasks/", &r); /* trailing slash tolerated */
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "tasks")), 1);
    json_decref(j);
    reply_free(&r);

    http_req(port, "GET", "/v1/tasks/" KNOWN_ID, &r);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "execution_id")), KNOWN_ID);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "metrics"), "numRecordsIn")), 12345);
    json_decref(j);
    reply_free(&r);

    /* upper-case hex is accepted and handed to the provider in lower case */
    http_req(port, "GET", "/v1/tasks/0123456789ABCDEF0123456789ABCDEF?x=1", &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);

    http_req(port, "GET", "/metrics", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strcasestr(r.headers, "Content-Type: text/plain; version=0.0.4"));
    ck_assert_ptr_nonnull(strstr(r.body, "te_records_in_total 7\n"));
    reply_free(&r);

    /* HEAD: headers only */
    http_req(port, "HEAD", "/v1/overview", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    reply_free(&r);

    server_stop(&c);
    ck_assert_str_eq(c.fake.last_id, KNOWN_ID);
    ck_assert_int_eq(c.fake.n_task_calls, 2);
}
END_TEST

/* Checks an error reply: status, JSON with "error" containing `needle` and "path". */
static void expect_error(int port, const char *method, const char *path, int status, const char *needle,
                         const char *want_path)
{
    reply_t r;
    http_req(port, method, path, &r);
    ck_assert_msg(r.status == status, "%s %s: got %d, want %d", method, path, r.status, status);
    json_t *j = body_json(&r);
    const char *msg = json_string_value(json_object_get(j, "error"));
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, needle) != NULL, "error '%s' lacks '%s'", msg, needle);
    ck_assert_str_eq(json_string_value(json_object_get(j, "path")), want_path);
    json_decref(j);
    reply_free(&r);
}

START_TEST(test_errors)
{
    server_ctx_t c;
    te_status_provider_t p = full_provider();
    server_start(&c, &p);
    int port = status_server_port(c.srv);

    expect_error(port, "GET", "/v2/overview", 404, "no such endpoint", "/v2/overview");
    expect_error(port, "GET", "/index.htm", 404, "no such endpoint", "/index.htm");
    expect_error(port, "GET", "/dashboard", 404, "no such endpoint", "/dashboard");
    expect_error(port, "GET", "/v1/tasks/xyz", 400, "malformed execution id 'xyz'", "/v1/tasks/xyz");
    expect_error(port, "GET", "/v1/tasks/0123456789abcdef0123456789abcdeg", 400, "32 hex characters",
                 "/v1/tasks/0123456789abcdef0123456789abcdeg");
    expect_error(port, "GET", "/v1/tasks/0123456789abcdef0123456789abcdef00", 400, "malformed",
                 "/v1/tasks/0123456789abcdef0123456789abcdef00");
    expect_error(port, "GET", "/v1/tasks/ffffffffffffffffffffffffffffffff", 404,
                 "unknown execution id 'ffffffffffffffffffffffffffffffff'",
                 "/v1/tasks/ffffffffffffffffffffffffffffffff");
    expect_error(port, "POST", "/v1/overview", 405, "method not allowed", "/v1/overview");
    expect_error(port, "DELETE", "/v1/tasks/" KNOWN_ID, 405, "GET", "/v1/tasks/" KNOWN_ID);

    /* oversized headers are refused by evhttp, and the server keeps serving */
    size_t big = 16 * 1024;
    char *req = malloc(big + 128);
    int n = snprintf(req, 128, "GET /v1/overview HTTP/1.0\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 4);
    int fd_ok = 0;
    {
        /* the server may answer 4xx or just close; either way no 200 */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ssize_t w = send(fd, req, (size_t)n + big + 4, MSG_NOSIGNAL);
        (void)w;
        char buf[256] = {0};
        ssize_t got = recv(fd, buf, sizeof(buf) - 1, 0);
        if (got > 12)
            ck_assert_int_ne(atoi(buf + 9), 200);
        close(fd);
        fd_ok = 1;
    }
    ck_assert(fd_ok);
    free(req);

    /* oversized body (> 64 KiB) is refused too */
    size_t bbig = 100 * 1024;
    char *breq = malloc(bbig + 256);
    n = snprintf(breq, 256, "POST /v1/overview HTTP/1.0\r\nContent-Length: %zu\r\n\r\n", bbig);
    memset(breq + n, 'b', bbig);
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ssize_t w = send(fd, breq, (size_t)n + bbig, MSG_NOSIGNAL);
        (void)w;
        char buf[256] = {0};
        ssize_t got = recv(fd, buf, sizeof(buf) - 1, 0);
        if (got > 12)
            ck_assert_int_eq(atoi(buf + 9), 413);
        close(fd);
    }
    free(breq);

    /* a garbage request line: refused, no crash */
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        const char *junk = "NONSENSE\r\n\r\n";
        ssize_t w = send(fd, junk, strlen(junk), MSG_NOSIGNAL);
        (void)w;
        char buf[256] = {0};
        ssize_t got = recv(fd, buf, sizeof(buf) - 1, 0);
        ck_assert_int_gt(got, 12);
        ck_assert_int_eq(atoi(buf + 9), 400);
        close(fd);
    }

    /* still serving */
    reply_t r;
    http_req(port, "GET", "/v1/overview", &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    server_stop(&c);
}
END_TEST

START_TEST(test_provider_gaps)
{
    server_ctx_t c;
    te_status_provider_t p = {.overview = broken_overview, .slots = fake_slots};
    server_start(&c, &p);
    int port = status_server_port(c.srv);
    expect_error(port, "GET", "/v1/overview", 500, "failed", "/v1/overview");
    expect_error(port, "GET", "/metrics", 404, "not enabled", "/metrics");
    expect_error(port, "GET", "/v1/tasks/" KNOWN_ID, 404, "unknown execution id", "/v1/tasks/" KNOWN_ID);
    server_stop(&c);
}
END_TEST

/* GET / serves the built-in dashboard page: HTML, self-contained, exactly the
 * embedded bytes; HEAD gives the headers only; it needs no provider callback. */
START_TEST(test_dashboard_page)
{
    server_ctx_t c;
    te_status_provider_t p = {.overview = fake_overview}; /* the page itself needs none */
    server_start(&c, &p);
    int port = status_server_port(c.srv);
    reply_t r;
    const char *paths[] = {"/", "/index.html", "/?refresh=1"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        http_req(port, "GET", paths[i], &r);
        ck_assert_msg(r.status == 200, "GET %s -> %d", paths[i], r.status);
        ck_assert_ptr_nonnull(strcasestr(r.headers, "Content-Type: text/html; charset=utf-8"));
        ck_assert_ptr_nonnull(strcasestr(r.headers, "Content-Security-Policy: default-src 'none'"));
        ck_assert_uint_eq(r.body_len, te_dashboard_html_len);
        ck_assert_uint_eq(strlen(te_dashboard_html), te_dashboard_html_len);
        ck_assert_int_eq(memcmp(r.body, te_dashboard_html, r.body_len), 0);
        reply_free(&r);
    }
    /* the page is one self-contained document that polls the JSON endpoints */
    ck_assert_ptr_nonnull(strstr(te_dashboard_html, "<!DOCTYPE html>"));
    ck_assert_ptr_nonnull(strstr(te_dashboard_html, "</html>"));
    ck_assert_ptr_nonnull(strstr(te_dashboard_html, "v1/overview"));
    ck_assert_ptr_nonnull(strstr(te_dashboard_html, "v1/slots"));
    ck_assert_ptr_nonnull(strstr(te_dashboard_html, "v1/tasks"));
    ck_assert_ptr_null(strstr(te_dashboard_html, "http://"));
    ck_assert_ptr_null(strstr(te_dashboard_html, "https://"));
    ck_assert_ptr_null(strstr(te_dashboard_html, "innerHTML"));
    for (size_t i = 0; i < te_dashboard_html_len; i++)
        ck_assert_msg((unsigned char)te_dashboard_html[i] < 0x80, "non-ASCII byte at %zu", i);

    http_req(port, "HEAD", "/", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    ck_assert_ptr_nonnull(strcasestr(r.headers, "Content-Type: text/html"));
    reply_free(&r);
    expect_error(port, "POST", "/", 405, "method not allowed", "/");
    server_stop(&c);
}
END_TEST

START_TEST(test_bind_error)
{
    struct event_base *base = event_base_new();
    te_status_provider_t p = full_provider();
    te_error_t e;
    te_status_server_t *a = status_server_new(base, "127.0.0.1", 0, &p, &e);
    ck_assert_ptr_nonnull(a);
    int port = status_server_port(a);
    te_status_server_t *b = status_server_new(base, "127.0.0.1", port, &p, &e);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(e.code, TE_EIO);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%d", port);
    ck_assert_msg(strstr(e.msg, want) != NULL, "message '%s' lacks the address", e.msg);
    ck_assert_ptr_null(status_server_new(base, "127.0.0.1", 70000, &p, &e));
    status_server_free(a);
    status_server_free(NULL);
    event_base_free(base);
}
END_TEST

Suite *status_server_suite(void)
{
    Suite *s = suite_create("status_server");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_json_endpoints);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_provider_gaps);
    tcase_add_test(tc, test_dashboard_page);
    tcase_add_test(tc, test_bind_error);
    suite_add_tcase(s, tc);
    return s;
}

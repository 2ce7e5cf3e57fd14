/* Unit tests: rpc_server + rpc_client over real TCP on 127.0.0.1 (port 0). The server
 * runs its event_base on a thread of its own, as on the daemon's control thread; a
 * test handler answers calls and pushes TaskExecutionState updates; raw sockets send
 * garbage, oversized lengths and undecodable frames; the close callback, the
 * connection limit, push-by-connection-id and the output bound are checked; so are
 * the pre-authentication limits: the absolute handshake deadline against a trickling
 * peer, the eviction of the oldest pending connection (never an established one) at
 * the connection limit and at the per-address cap, and the input budget. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/clock.h"
#include "rpc/frame_codec.h"
#include "rpc/rpc_client.h"
#include "rpc/rpc_server.h"

#define WAIT_MS    5000
#define MAX_CLOSED 64

/* ---- server fixture ------------------------------------------------------------ */

typedef struct env {
    struct event_base *base;
    te_rpc_server_t *srv;
    pthread_t thr;
    int port;
    char addr[64];
    /* Server-thread only. */
    uint64_t registered_conn;
    /* Shared with the test thread: guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t closed[MAX_CLOSED];
    int n_closed;
    uint64_t last_call_conn;
} env_t;

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static void use_threads(void) { evthread_use_pthreads(); }

static void push_state(te_rpc_conn_t *conn, const ProtobufCBinaryData *job, Te__ExecutionState st,
                       const char *cause)
{
    Te__TaskExecutionState tes = TE__TASK_EXECUTION_STATE__INIT;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    tes.job_id = *job;
    tes.state = st;
    tes.cause = (char *)cause;
    m.body_case = TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE;
    m.task_execution_state = &tes;
    ck_assert_int_eq(rpc_conn_send(conn, &m), TE_OK);
}

/* The daemon stand-in; runs on the server thread. */
static void test_call(void *arg, te_rpc_conn_t *conn, const Te__RpcMessage *call)
{
    env_t *env = arg;
    pthread_mutex_lock(&env->mu);
    env->last_call_conn = rpc_conn_id(conn);
    pthread_mutex_unlock(&env->mu);

    switch (call->body_case) {
    case TE__RPC_MESSAGE__BODY_HEARTBEAT: rpc_conn_reply(conn, call->call_id, TE__ERROR_CODE__OK, "alive"); break;
    case TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER: {
        ProtobufCBinaryData job = call->register_job_manager->job_id;
        env->registered_conn = rpc_conn_id(conn);
        ck_assert_ptr_eq(rpc_server_find_conn(env->srv, env->registered_conn), conn);
        push_state(conn, &job, TE__EXECUTION_STATE__DEPLOYING, ""); /* before the reply */
        rpc_conn_replyf(conn, call->call_id, TE__ERROR_CODE__OK, "registered %s",
                        call->register_job_manager->job_name);
        push_state(conn, &job, TE__EXECUTION_STATE__RUNNING, ""); /* after it */
        break;
    }
    case TE__RPC_MESSAGE__BODY_FREE_SLOT: {
        /* Push to the registered connection by id, as the daemon does later on. */
        te_rpc_conn_t *target = rpc_server_find_conn(env->srv, env->registered_conn);
        if (target == NULL) {
            rpc_conn_reply(conn, call->call_id, TE__ERROR_CODE__UNKNOWN_JOB, "job connection gone");
            break;
        }
        ProtobufCBinaryData job = {3, (uint8_t *)"job"};
        push_state(target, &job, TE__EXECUTION_STATE__FAILED, call->free_slot->cause);
        rpc_conn_reply(conn, call->call_id, TE__ERROR_CODE__OK, NULL);
        break;
    }
    case TE__RPC_MESSAGE__BODY_REQUEST_SLOT_REPORT: {
        Te__SlotStatus s0 = TE__SLOT_STATUS__INIT, s1 = TE__SLOT_STATUS__INIT;
        Te__SlotStatus *slots[2] = {&s0, &s1};
        Te__SlotReport rep = TE__SLOT_REPORT__INIT;
        Te__Response r = TE__RESPONSE__INIT;
        Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
        s0.slot_index = 0;
        s1.slot_index = 1;
        s1.state = TE__SLOT_STATE__SLOT_ACTIVE;
        rep.n_slots = 2;
        rep.slots = slots;
        rep.data_address = "127.0.0.1:1234";
        r.slot_report = &rep;
        m.call_id = call->call_id;
        m.body_case = TE__RPC_MESSAGE__BODY_RESPONSE;
        m.response = &r;
        ck_assert_int_eq(rpc_conn_reply_msg(conn, &m), TE_OK);
        /* A non-Response body is refused by reply_msg. */
        ck_assert_int_eq(rpc_conn_reply_msg(conn, call), TE_EINVAL);
        break;
    }
    case TE__RPC_MESSAGE__BODY_SUBMIT_TASK: {
        /* A large reply (3000 bytes): overflows a small output bound. */
        char big[3001];
        memset(big, 'r', 3000);
        big[3000] = '\0';
        rpc_conn_reply(conn, call->call_id, TE__ERROR_CODE__OK, big);
        break;
    }
    default: rpc_conn_reply(conn, call->call_id, TE__ERROR_CODE__INVALID_ARGUMENT, "unsupported"); break;
    }
}

static void test_close(void *arg, uint64_t conn_id)
{
    env_t *env = arg;
    pthread_mutex_lock(&env->mu);
    if (env->n_closed < MAX_CLOSED)
        env->closed[env->n_closed++] = conn_id;
    pthread_cond_broadcast(&env->cv);
    pthread_mutex_unlock(&env->mu);
}

static void *server_thread(void *arg)
{
    env_t *env = arg;
    event_base_loop(env->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static env_t *env_start_limits(int max_conns, size_t max_frame, size_t max_output, const te_rpc_limits_t *lim);

static env_t *env_start(int max_conns, size_t max_frame, size_t max_output)
{
    return env_start_limits(max_conns, max_frame, max_output, NULL);
}

static env_t *env_start_limits(int max_conns, size_t max_frame, size_t max_output, const te_rpc_limits_t *lim)
{
    te_error_t err;
    env_t *env = calloc(1, sizeof(*env));
    pthread_once(&threads_once, use_threads);
    pthread_mutex_init(&env->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&env->cv, &ca);
    pthread_condattr_destroy(&ca);
    env->base = event_base_new();
    ck_assert_ptr_nonnull(env->base);
    env->srv = rpc_server_new(env->base, "127.0.0.1", 0, max_frame, max_conns, test_call, test_close, env, &err);
    ck_assert_msg(env->srv != NULL, "rpc_server_new: %s", err.msg);
    if (max_output)
        rpc_server_set_max_output(env->srv, max_output);
    if (lim != NULL)
        rpc_server_set_limits(env->srv, lim);
    env->port = rpc_server_port(env->srv);
    ck_assert_int_gt(env->port, 0);
    snprintf(env->addr, sizeof(env->addr), "127.0.0.1:%d", env->port);
    ck_assert_int_eq(pthread_create(&env->thr, NULL, server_thread, env), 0);
    return env;
}

static void env_stop(env_t *env)
{
    event_base_loopbreak(env->base);
    pthread_join(env->thr, NULL);
    rpc_server_free(env->srv);
    event_base_free(env->base);
    pthread_cond_destroy(&env->cv);
    pthread_mutex_destroy(&env->mu);
    free(env);
}

/* Waits until the close callback reported conn_id. */
static int env_wait_closed(env_t *env, uint64_t conn_id)
{
    struct timespec dl;
    int found = 0;
    te_clock_deadline(&dl, WAIT_MS);
    pthread_mutex_lock(&env->mu);
    for (;;) {
        for (int i = 0; i < env->n_closed; i++)
            found |= env->closed[i] == conn_id;
        if (found || pthread_cond_timedwait(&env->cv, &env->mu, &dl) == ETIMEDOUT)
            break;
    }
    for (int i = 0; i < env->n_closed && !found; i++)
        found |= env->closed[i] == conn_id;
    pthread_mutex_unlock(&env->mu);
    return found;
}

static uint64_t env_last_conn(env_t *env)
{
    pthread_mutex_lock(&env->mu);
    uint64_t id = env->last_call_conn;
    pthread_mutex_unlock(&env->mu);
    return id;
}

/* ---- client helpers ------------------------------------------------------------ */

typedef struct pushes {
    int n;
    Te__ExecutionState states[16];
    char cause[64];
} pushes_t;

static void on_push(void *arg, te_rpc_client_t *c, const Te__RpcMessage *push)
{
    (void)c;
    pushes_t *p = arg;
    ck_assert_int_eq(push->body_case, TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE);
    ck_assert_uint_eq(push->call_id, 0);
    if (p->n < 16)
        p->states[p->n++] = push->task_execution_state->state;
    snprintf(p->cause, sizeof(p->cause), "%s", push->task_execution_state->cause);
}

static Te__RpcMessage *call_heartbeat(te_rpc_client_t *c, te_error_t *err)
{
    Te__Heartbeat hb = TE__HEARTBEAT__INIT;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    m.body_case = TE__RPC_MESSAGE__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    return rpc_client_call(c, &m, WAIT_MS, err);
}

static void assert_heartbeat_ok(const char *addr)
{
    te_error_t err;
    te_rpc_client_t *c = rpc_client_connect(addr, WAIT_MS, &err);
    ck_assert_msg(c != NULL, "connect: %s", err.msg);
    Te__RpcMessage *r = call_heartbeat(c, &err);
    ck_assert_msg(r != NULL, "heartbeat: %s", err.msg);
    ck_assert_int_eq(r->body_case, TE__RPC_MESSAGE__BODY_RESPONSE);
    ck_assert_int_eq(r->response->code, TE__ERROR_CODE__OK);
    ck_assert_str_eq(r->response->message, "alive");
    te__rpc_message__free_unpacked(r, NULL);
    rpc_client_free(c);
}

/* ---- raw socket helpers -------------------------------------------------------- */

typedef struct raw {
    int fd;
    frame_decoder_t dec;
    uint8_t buf[4096];
    size_t pos, len;
} raw_t;

static void raw_open(raw_t *r, int port)
{
    struct sockaddr_in sa;
    struct timeval tv = {WAIT_MS / 1000, 0};
    memset(r, 0, sizeof(*r));
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(r->fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    frame_decoder_init(&r->dec, 1 << 20);
}

static void raw_close(raw_t *r)
{
    close(r->fd);
    frame_decoder_free(&r->dec);
}

static void raw_send(raw_t *r, const void *data, size_t len)
{
    ck_assert_int_eq(send(r->fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void raw_send_msg(raw_t *r, const Te__RpcMessage *m)
{
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(frame_encode_message(m, &buf, &len, NULL), TE_OK);
    raw_send(r, buf, len);
    free(buf);
}

/* 1 = *out set, 0 = EOF (or reset), -1 = timeout. */
static int raw_read(raw_t *r, Te__RpcMessage **out)
{
    for (;;) {
        while (r->pos < r->len) {
            size_t used, flen;
            const uint8_t *f;
            frame_result_t fr =
                frame_decoder_feed(&r->dec, r->buf + r->pos, r->len - r->pos, &used, &f, &flen, NULL);
            r->pos += used;
            ck_assert_int_ne(fr, FRAME_ERROR);
            if (fr == FRAME_READY) {
                *out = frame_decode_message(f, flen, NULL);
                ck_assert_ptr_nonnull(*out);
                return 1;
            }
        }
        r->pos = r->len = 0;
        ssize_t n = recv(r->fd, r->buf, sizeof(r->buf), 0);
        if (n > 0) {
            r->len = (size_t)n;
            continue;
        }
        if (n == 0 || errno == ECONNRESET)
            return 0;
        if (errno == EINTR)
            continue;
        return -1;
    }
}

/* Reads one message that must be a Response with `code`; returns it (caller frees). */
static Te__RpcMessage *raw_expect_response(raw_t *r, Te__ErrorCode code)
{
    Te__RpcMessage *m = NULL;
    ck_assert_int_eq(raw_read(r, &m), 1);
    ck_assert_int_eq(m->body_case, TE__RPC_MESSAGE__BODY_RESPONSE);
    ck_assert_int_eq(m->response->code, code);
    return m;
}

static void raw_expect_eof(raw_t *r)
{
    Te__RpcMessage *m = NULL;
    ck_assert_int_eq(raw_read(r, &m), 0);
}

/* ---- tests -------------------------------------------------------------------- */

START_TEST(test_calls_and_pushes)
{
    env_t *env = env_start(16, FRAME_DEFAULT_MAX_SIZE, 0);
    te_error_t err;
    pushes_t pushes = {0};
    te_rpc_client_t *c = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_msg(c != NULL, "connect: %s", err.msg);
    ck_assert_str_eq(rpc_client_address(c), env->addr);
    ck_assert_int_ge(rpc_client_fd(c), 0);
    rpc_client_set_push_handler(c, on_push, &pushes);

    /* Heartbeat: OK, call ids increase. */
    Te__Heartbeat hb = TE__HEARTBEAT__INIT;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    m.body_case = TE__RPC_MESSAGE__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    Te__RpcMessage *r = rpc_client_call(c, &m, WAIT_MS, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    uint64_t first_id = m.call_id;
    ck_assert_uint_gt(first_id, 0);
    ck_assert_uint_eq(r->call_id, first_id);
    ck_assert_int_eq(r->response->code, TE__ERROR_CODE__OK);
    ck_assert_str_eq(r->response->message, "alive");
    te__rpc_message__free_unpacked(r, NULL);

    /* RegisterJobManager: one push arrives before the reply, one after. */
    Te__RegisterJobManager reg = TE__REGISTER_JOB_MANAGER__INIT;
    reg.job_id.data = (uint8_t *)"0123456789abcdef";
    reg.job_id.len = 16;
    reg.job_name = "wc";
    m.body_case = TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER;
    m.register_job_manager = &reg;
    r = rpc_client_call(c, &m, WAIT_MS, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_uint_eq(m.call_id, first_id + 1);
    ck_assert_uint_eq(r->call_id, m.call_id);
    ck_assert_str_eq(r->response->message, "registered wc");
    te__rpc_message__free_unpacked(r, NULL);
    ck_assert_int_eq(pushes.n, 1);
    ck_assert_int_eq(pushes.states[0], TE__EXECUTION_STATE__DEPLOYING);
    int got = rpc_client_poll(c, WAIT_MS, &err);
    ck_assert_int_eq(got, 1);
    ck_assert_int_eq(pushes.n, 2);
    ck_assert_int_eq(pushes.states[1], TE__EXECUTION_STATE__RUNNING);
    ck_assert_int_eq(rpc_client_poll(c, 0, &err), 0); /* nothing more */
    uint64_t job_conn = env_last_conn(env);

    /* RequestSlotReport: a full Response through rpc_conn_reply_msg. */
    Te__RequestSlotReport rsr = TE__REQUEST_SLOT_REPORT__INIT;
    m.body_case = TE__RPC_MESSAGE__BODY_REQUEST_SLOT_REPORT;
    m.request_slot_report = &rsr;
    r = rpc_client_call(c, &m, WAIT_MS, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(r->response->slot_report);
    ck_assert_uint_eq(r->response->slot_report->n_slots, 2);
    ck_assert_int_eq(r->response->slot_report->slots[1]->state, TE__SLOT_STATE__SLOT_ACTIVE);
    ck_assert_str_eq(r->response->slot_report->data_address, "127.0.0.1:1234");
    te__rpc_message__free_unpacked(r, NULL);

    /* A second client's call makes the server push to the first one by conn id. */
    te_rpc_client_t *c2 = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_msg(c2 != NULL, "%s", err.msg);
    Te__FreeSlot fs = TE__FREE_SLOT__INIT;
    fs.cause = "operator asked";
    Te__RpcMessage m2 = TE__RPC_MESSAGE__INIT;
    m2.body_case = TE__RPC_MESSAGE__BODY_FREE_SLOT;
    m2.free_slot = &fs;
    r = rpc_client_call(c2, &m2, WAIT_MS, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(r->response->code, TE__ERROR_CODE__OK);
    te__rpc_message__free_unpacked(r, NULL);
    ck_assert_int_eq(rpc_client_poll(c, WAIT_MS, &err), 1);
    ck_assert_int_eq(pushes.states[2], TE__EXECUTION_STATE__FAILED);
    ck_assert_str_eq(pushes.cause, "operator asked");

    /* The first client goes away: close callback, then find_conn returns NULL. */
    rpc_client_free(c);
    ck_assert(env_wait_closed(env, job_conn));
    r = rpc_client_call(c2, &m2, WAIT_MS, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(r->response->code, TE__ERROR_CODE__UNKNOWN_JOB);
    te__rpc_message__free_unpacked(r, NULL);
    rpc_client_free(c2);
    env_stop(env);
}
END_TEST

START_TEST(test_bad_input_raw)
{
    env_t *env = env_start(16, 4096, 0);
    raw_t r;
    Te__RpcMessage *m;

    /* 1. Oversized length: FRAME_TOO_LARGE naming both sizes, then closed. */
    raw_open(&r, env->port);
    uint8_t hdr[4];
    frame_header_write(hdr, 0xfffffff0u);
    raw_send(&r, hdr, 4);
    m = raw_expect_response(&r, TE__ERROR_CODE__FRAME_TOO_LARGE);
    ck_assert_uint_eq(m->call_id, 0);
    ck_assert_ptr_nonnull(strstr(m->response->message, "4294967280"));
    ck_assert_ptr_nonnull(strstr(m->response->message, "4096"));
    te__rpc_message__free_unpacked(m, NULL);
    raw_expect_eof(&r);
    raw_close(&r);

    /* 2. Oversized length followed by a lot of payload the server never reads: the
     * reply still arrives (lingering close), then EOF. */
    raw_open(&r, env->port);
    uint8_t *junk = calloc(1, 100000);
    frame_header_write(junk, 99996);
    raw_send(&r, junk, 100000);
    free(junk);
    m = raw_expect_response(&r, TE__ERROR_CODE__FRAME_TOO_LARGE);
    te__rpc_message__free_unpacked(m, NULL);
    raw_expect_eof(&r);
    raw_close(&r);

    /* 3. A valid frame of garbage protobuf: MALFORMED_MESSAGE, connection kept. */
    raw_open(&r, env->port);
    static const uint8_t garbage[] = {0, 0, 0, 3, 0x62, 0x05, 0x01};
    raw_send(&r, garbage, sizeof(garbage));
    m = raw_expect_response(&r, TE__ERROR_CODE__MALFORMED_MESSAGE);
    ck_assert_ptr_nonnull(strstr(m->response->message, "malformed"));
    te__rpc_message__free_unpacked(m, NULL);
    /* ... a zero-length frame (no body): "unknown or missing call" ... */
    static const uint8_t empty[] = {0, 0, 0, 0};
    raw_send(&r, empty, sizeof(empty));
    m = raw_expect_response(&r, TE__ERROR_CODE__MALFORMED_MESSAGE);
    ck_assert_ptr_nonnull(strstr(m->response->message, "unknown or missing call"));
    te__rpc_message__free_unpacked(m, NULL);
    /* ... a Response and a push sent by a client: refused with their call_id ... */
    Te__Response resp = TE__RESPONSE__INIT;
    Te__RpcMessage bad = TE__RPC_MESSAGE__INIT;
    bad.call_id = 77;
    bad.body_case = TE__RPC_MESSAGE__BODY_RESPONSE;
    bad.response = &resp;
    raw_send_msg(&r, &bad);
    m = raw_expect_response(&r, TE__ERROR_CODE__MALFORMED_MESSAGE);
    ck_assert_uint_eq(m->call_id, 77);
    ck_assert_ptr_nonnull(strstr(m->response->message, "unknown or missing call"));
    te__rpc_message__free_unpacked(m, NULL);
    Te__DeclineCheckpoint dc = TE__DECLINE_CHECKPOINT__INIT;
    bad.call_id = 78;
    bad.body_case = TE__RPC_MESSAGE__BODY_DECLINE_CHECKPOINT;
    bad.decline_checkpoint = &dc;
    raw_send_msg(&r, &bad);
    m = raw_expect_response(&r, TE__ERROR_CODE__MALFORMED_MESSAGE);
    ck_assert_uint_eq(m->call_id, 78);
    te__rpc_message__free_unpacked(m, NULL);
    /* ... and the same connection still serves a real call. */
    Te__Heartbeat hb = TE__HEARTBEAT__INIT;
    Te__RpcMessage ok = TE__RPC_MESSAGE__INIT;
    ok.call_id = 5;
    ok.body_case = TE__RPC_MESSAGE__BODY_HEARTBEAT;
    ok.heartbeat = &hb;
    raw_send_msg(&r, &ok);
    m = raw_expect_response(&r, TE__ERROR_CODE__OK);
    ck_assert_uint_eq(m->call_id, 5);
    te__rpc_message__free_unpacked(m, NULL);
    raw_close(&r);

    /* 4. Random bytes (fixed seed), several rounds: every reply is an error
     * Response, and each connection either answers or is closed; never hangs. */
    unsigned seed = 12345;
    for (int round = 0; round < 20; round++) {
        uint8_t noise[512];
        for (size_t i = 0; i < sizeof(noise); i++)
            noise[i] = (uint8_t)rand_r(&seed);
        if (round % 2)
            frame_header_write(noise, 100); /* a sane length over protobuf noise */
        raw_open(&r, env->port);
        raw_send(&r, noise, sizeof(noise));
        shutdown(r.fd, SHUT_WR); /* our EOF: the server closes after replying */
        int replies = 0, rc;
        while ((rc = raw_read(&r, &m)) == 1) {
            ck_assert_int_eq(m->body_case, TE__RPC_MESSAGE__BODY_RESPONSE);
            ck_assert_int_ne(m->response->code, TE__ERROR_CODE__OK);
            te__rpc_message__free_unpacked(m, NULL);
            replies++;
        }
        ck_assert_msg(rc == 0, "round %d: no EOF from the server", round);
        if (round % 2)
            ck_assert_int_ge(replies, 1); /* at least the 100-byte frame was answered */
        raw_close(&r);
    }

    /* Afterwards a fresh client is served. */
    assert_heartbeat_ok(env->addr);
    env_stop(env);
}
END_TEST

START_TEST(test_client_sees_server_errors)
{
    /* A frame above the server's maximum sent through rpc_client: the call fails
     * with the daemon's FRAME_TOO_LARGE message, and the client is broken after. */
    env_t *env = env_start(16, 64, 0);
    te_error_t err;
    te_rpc_client_t *c = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    Te__FreeSlot fs = TE__FREE_SLOT__INIT;
    char cause[200];
    memset(cause, 'c', sizeof(cause) - 1);
    cause[sizeof(cause) - 1] = '\0';
    fs.cause = cause;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    m.body_case = TE__RPC_MESSAGE__BODY_FREE_SLOT;
    m.free_slot = &fs;
    ck_assert_ptr_null(rpc_client_call(c, &m, WAIT_MS, &err));
    ck_assert_int_eq(err.code, TE_EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "FRAME_TOO_LARGE"));
    ck_assert_ptr_nonnull(strstr(err.msg, env->addr));
    /* The server closes: the next operation reports it, naming the address. */
    ck_assert_int_eq(rpc_client_poll(c, WAIT_MS, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, env->addr));
    ck_assert_ptr_null(call_heartbeat(c, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "unusable"));
    rpc_client_free(c);
    assert_heartbeat_ok(env->addr);
    env_stop(env);
}
END_TEST

START_TEST(test_client_connect_errors)
{
    te_error_t err;
    /* Grab an ephemeral port and close it so nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
    close(fd);
    ck_assert_ptr_null(rpc_client_connect(addr, WAIT_MS, &err));
    ck_assert_int_eq(err.code, TE_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, addr));
    ck_assert_ptr_null(rpc_client_connect("no-port-here", WAIT_MS, &err));
    ck_assert_int_eq(err.code, TE_EINVAL);
    ck_assert_ptr_null(rpc_client_connect("127.0.0.1:99999", WAIT_MS, &err));
    ck_assert_int_eq(err.code, TE_EINVAL);
    rpc_client_free(NULL);
    rpc_server_free(NULL);
}
END_TEST

START_TEST(test_call_timeout)
{
    /* A listener that never answers: the call times out naming the address and the
     * client stays usable for polling. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    te_error_t err;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
    te_rpc_client_t *c = rpc_client_connect(addr, WAIT_MS, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    pushes_t pushes = {0};
    rpc_client_set_push_handler(c, on_push, &pushes);
    Te__Heartbeat hb = TE__HEARTBEAT__INIT;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    m.body_case = TE__RPC_MESSAGE__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    ck_assert_ptr_null(rpc_client_call(c, &m, 200, &err));
    ck_assert_int_eq(err.code, TE_ETIMEOUT);
    ck_assert_ptr_nonnull(strstr(err.msg, addr));
    ck_assert_ptr_nonnull(strstr(err.msg, "heartbeat"));
    ck_assert_int_eq(rpc_client_poll(c, 0, &err), 0);

    /* The late reply arrives, then a push: the reply is dropped, the push counted. */
    raw_t srv;
    memset(&srv, 0, sizeof(srv));
    srv.fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(srv.fd, 0);
    frame_decoder_init(&srv.dec, 1 << 20);
    Te__RpcMessage *req = NULL;
    ck_assert_int_eq(raw_read(&srv, &req), 1);
    ck_assert_int_eq(req->body_case, TE__RPC_MESSAGE__BODY_HEARTBEAT);
    ck_assert_uint_eq(req->call_id, m.call_id);
    Te__Response resp = TE__RESPONSE__INIT;
    Te__RpcMessage late = TE__RPC_MESSAGE__INIT;
    late.call_id = req->call_id;
    late.body_case = TE__RPC_MESSAGE__BODY_RESPONSE;
    late.response = &resp;
    te__rpc_message__free_unpacked(req, NULL);
    raw_send_msg(&srv, &late);
    Te__TaskExecutionState tes = TE__TASK_EXECUTION_STATE__INIT;
    Te__RpcMessage push = TE__RPC_MESSAGE__INIT;
    tes.state = TE__EXECUTION_STATE__CANCELED;
    push.body_case = TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE;
    push.task_execution_state = &tes;
    raw_send_msg(&srv, &push);
    ck_assert_int_eq(rpc_client_poll(c, WAIT_MS, &err), 1);
    ck_assert_int_eq(pushes.n, 1);
    ck_assert_int_eq(pushes.states[0], TE__EXECUTION_STATE__CANCELED);

    /* The peer closes: poll reports it, naming the address. */
    raw_close(&srv);
    ck_assert_int_eq(rpc_client_poll(c, WAIT_MS, &err), -1);
    ck_assert_int_eq(err.code, TE_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, addr));
    rpc_client_free(c);
    close(lfd);
}
END_TEST

START_TEST(test_connection_limit_and_close_callback)
{
    env_t *env = env_start(2, FRAME_DEFAULT_MAX_SIZE, 0);
    te_error_t err;
    te_rpc_client_t *a = rpc_client_connect(env->addr, WAIT_MS, &err);
    te_rpc_client_t *b = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    Te__RpcMessage *r = call_heartbeat(a, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    te__rpc_message__free_unpacked(r, NULL);
    uint64_t a_id = env_last_conn(env);
    r = call_heartbeat(b, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    te__rpc_message__free_unpacked(r, NULL);
    uint64_t b_id = env_last_conn(env);
    ck_assert_uint_ne(a_id, b_id);

    /* A third connection is refused with a reply naming the limit, then closed. */
    te_rpc_client_t *x = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_msg(x != NULL, "%s", err.msg);
    ck_assert_ptr_null(call_heartbeat(x, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "limit of 2"));
    rpc_client_free(x);

    /* One goes away: its close callback fires, and a new one is admitted. */
    rpc_client_free(a);
    ck_assert(env_wait_closed(env, a_id));
    assert_heartbeat_ok(env->addr);
    rpc_client_free(b);
    ck_assert(env_wait_closed(env, b_id));
    env_stop(env);
}
END_TEST

START_TEST(test_output_bound)
{
    /* Output bound of 1 KiB: a 3000-byte reply closes the connection. */
    env_t *env = env_start(4, FRAME_DEFAULT_MAX_SIZE, 1024);
    te_error_t err;
    te_rpc_client_t *c = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_ptr_nonnull(c);
    Te__RpcMessage *r = call_heartbeat(c, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    te__rpc_message__free_unpacked(r, NULL);
    uint64_t id = env_last_conn(env);
    Te__SubmitTask st = TE__SUBMIT_TASK__INIT;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    m.body_case = TE__RPC_MESSAGE__BODY_SUBMIT_TASK;
    m.submit_task = &st;
    ck_assert_ptr_null(rpc_client_call(c, &m, WAIT_MS, &err));
    ck_assert_int_eq(err.code, TE_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "closed"));
    ck_assert(env_wait_closed(env, id));
    rpc_client_free(c);
    env_stop(env);

    /* With the default bound the same reply goes through. */
    env = env_start(4, FRAME_DEFAULT_MAX_SIZE, 0);
    c = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_ptr_nonnull(c);
    r = rpc_client_call(c, &m, WAIT_MS, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_uint_eq(strlen(r->response->message), 3000);
    te__rpc_message__free_unpacked(r, NULL);
    rpc_client_free(c);
    env_stop(env);
}
END_TEST

/* ---- pre-authentication limits ---------------------------------------------------- */

/* 1 when the server closed r (EOF or reset, after any reply) within WAIT_MS. */
static int raw_closed(raw_t *r)
{
    uint8_t b[4096];
    for (;;) {
        ssize_t n = recv(r->fd, b, sizeof(b), 0);
        if (n > 0)
            continue;
        return n == 0 || errno == ECONNRESET;
    }
}

START_TEST(test_handshake_deadline_is_absolute)
{
    te_rpc_limits_t lim = {.handshake_timeout_ms = 300};
    env_t *env = env_start_limits(8, FRAME_DEFAULT_MAX_SIZE, 0, &lim);
    raw_t r;
    raw_open(&r, env->port);
    /* one byte of a frame header every 50 ms: a read timeout would never fire */
    static const uint8_t hdr[4] = {0, 0, 1, 0};
    int closed = 0;
    int64_t end = te_clock_mono_ms() + 3000;
    for (int i = 0; te_clock_mono_ms() < end && !closed; i = (i + 1) % 4) {
        if (send(r.fd, &hdr[i], 1, MSG_NOSIGNAL) != 1)
            closed = 1;
        usleep(50 * 1000);
        uint8_t b;
        ssize_t n = recv(r.fd, &b, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            closed = 1;
    }
    ck_assert_msg(closed, "a peer trickling bytes kept its connection past the handshake deadline");
    raw_close(&r);
    /* a connection that completes its first frame is not affected */
    te_error_t err;
    te_rpc_client_t *c = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_ptr_nonnull(c);
    usleep(500 * 1000);
    Te__RpcMessage *m = call_heartbeat(c, &err);
    ck_assert_msg(m == NULL, "a silent connection outlived the first-frame deadline");
    rpc_client_free(c);
    c = rpc_client_connect(env->addr, WAIT_MS, &err);
    m = call_heartbeat(c, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    te__rpc_message__free_unpacked(m, NULL);
    usleep(500 * 1000); /* established: the deadline no longer applies */
    m = call_heartbeat(c, &err);
    ck_assert_msg(m != NULL, "an established connection was closed by the handshake deadline: %s", err.msg);
    te__rpc_message__free_unpacked(m, NULL);
    rpc_client_free(c);
    env_stop(env);
}
END_TEST

/* At the connection limit a new connection closes the oldest pending one (past its
 * grace time), never an established one; young pending ones make it be refused. */
START_TEST(test_limit_evicts_oldest_pending)
{
    te_rpc_limits_t lim = {.handshake_timeout_ms = 60000};
    env_t *env = env_start_limits(3, FRAME_DEFAULT_MAX_SIZE, 0, &lim);
    te_error_t err;
    te_rpc_client_t *est = rpc_client_connect(env->addr, WAIT_MS, &err);
    Te__RpcMessage *m = call_heartbeat(est, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    te__rpc_message__free_unpacked(m, NULL);
    raw_t old1, old2;
    raw_open(&old1, env->port);
    usleep(20 * 1000);
    raw_open(&old2, env->port);
    /* both pending ones are young: the next connection is refused */
    te_rpc_client_t *x = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_ptr_null(call_heartbeat(x, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "limit of 3 open RPC connections"));
    rpc_client_free(x);
    usleep(400 * 1000); /* past the grace time */
    te_rpc_client_t *c[2];
    for (int i = 0; i < 2; i++) { /* each takes the place of the oldest pending one */
        c[i] = rpc_client_connect(env->addr, WAIT_MS, &err);
        ck_assert_ptr_nonnull(c[i]);
        m = call_heartbeat(c[i], &err);
        ck_assert_msg(m != NULL, "connection %d: %s", i, err.msg);
        te__rpc_message__free_unpacked(m, NULL);
        ck_assert_msg(raw_closed(i == 0 ? &old1 : &old2), "pending connection %d was not closed", i + 1);
    }
    /* three established connections: nothing to evict, the next one is refused */
    x = rpc_client_connect(env->addr, WAIT_MS, &err);
    ck_assert_ptr_null(call_heartbeat(x, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "limit of 3 open RPC connections"));
    rpc_client_free(x);
    m = call_heartbeat(est, &err);
    ck_assert_msg(m != NULL, "the established connection was closed: %s", err.msg);
    te__rpc_message__free_unpacked(m, NULL);
    raw_close(&old1);
    raw_close(&old2);
    rpc_client_free(c[0]);
    rpc_client_free(c[1]);
    rpc_client_free(est);
    env_stop(env);
}
END_TEST

/* The per-address cap displaces that address's oldest pending connection at once. */
START_TEST(test_per_address_cap)
{
    te_rpc_limits_t lim = {.handshake_timeout_ms = 60000, .max_pending = 100, .max_pending_per_addr = 2};
    env_t *env = env_start_limits(100, FRAME_DEFAULT_MAX_SIZE, 0, &lim);
    raw_t p[3];
    for (int i = 0; i < 3; i++) {
        raw_open(&p[i], env->port);
        usleep(20 * 1000);
    }
    ck_assert_msg(raw_closed(&p[0]), "the third pending connection from one address did not close the first");
    raw_send(&p[1], "\0\0", 2); /* still open */
    assert_heartbeat_ok(env->addr);
    for (int i = 0; i < 3; i++)
        raw_close(&p[i]);
    env_stop(env);
}
END_TEST

/* Unfinished frames over the input budget: the connection holding the most is closed
 * with a reply naming the limit; the others keep working. */
START_TEST(test_input_budget)
{
    te_rpc_limits_t lim = {.max_buffered_bytes = 96 * 1024};
    env_t *env = env_start_limits(8, FRAME_DEFAULT_MAX_SIZE, 0, &lim);
    te_error_t err;
    te_rpc_client_t *c = rpc_client_connect(env->addr, WAIT_MS, &err);
    Te__RpcMessage *m = call_heartbeat(c, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    te__rpc_message__free_unpacked(m, NULL);
    static uint8_t body[64 * 1024];
    uint8_t hdr[4] = {0, 0x10, 0, 0}; /* a 1 MiB frame */
    raw_t small, big;
    raw_open(&small, env->port);
    raw_send(&small, hdr, 4);
    raw_send(&small, body, 32 * 1024);
    usleep(100 * 1000);
    raw_open(&big, env->port);
    raw_send(&big, hdr, 4);
    raw_send(&big, body, sizeof(body));
    Te__RpcMessage *reply = NULL;
    ck_assert_int_eq(raw_read(&big, &reply), 1);
    ck_assert_int_eq(reply->body_case, TE__RPC_MESSAGE__BODY_RESPONSE);
    ck_assert_ptr_nonnull(strstr(reply->response->message, "taskmanager.rpc.max-buffered-bytes"));
    te__rpc_message__free_unpacked(reply, NULL);
    ck_assert(raw_closed(&big));
    raw_send(&small, body, 1024); /* still served */
    m = call_heartbeat(c, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    te__rpc_message__free_unpacked(m, NULL);
    raw_close(&small);
    raw_close(&big);
    rpc_client_free(c);
    env_stop(env);
}
END_TEST

Suite *rpc_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_calls_and_pushes);
    tcase_add_test(tc, test_bad_input_raw);
    tcase_add_test(tc, test_client_sees_server_errors);
    tcase_add_test(tc, test_client_connect_errors);
    tcase_add_test(tc, test_call_timeout);
    tcase_add_test(tc, test_connection_limit_and_close_callback);
    tcase_add_test(tc, test_output_bound);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("limits");
    tcase_set_timeout(tl, 60);
    tcase_add_test(tl, test_handshake_deadline_is_absolute);
    tcase_add_test(tl, test_limit_evicts_oldest_pending);
    tcase_add_test(tl, test_per_address_cap);
    tcase_add_test(tl, test_input_budget);
    suite_add_tcase(s, tl);
    return s;
}

/*
 * Unit tests: rpc_channel (the asynchronous RPC client) and rpc_task_manager_gateway
 * against a real rpc_server over TCP on 127.0.0.1 (port 0): the server runs its
 * event_base on a thread of its own (as the daemon's control thread), the client its
 * own event_base on the test thread. Replies, pushes (one before and one after a
 * reply), a call that is never answered (timeout, channel still usable), a refused
 * connect, the server going away (pending calls fail, on_closed once), freeing the
 * channel inside its own callback, the shared-secret handshake (with and without the
 * token), and a gateway operation on a closed gateway completing later, never inside.
 *
 * Threading: the server thread and the test thread; the server handler touches only
 * its arguments.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/auth_handshake.h"
#include "common/clock.h"
#include "common/tls.h"
#include "jobmaster/rpc_task_manager_gateway.h"
#include "rpc/frame_codec.h"
#include "rpc/rpc_channel.h"
#include "rpc/rpc_server.h"

#define WAIT_MS 5000

typedef struct server {
    struct event_base *base;
    te_rpc_server_t *srv;
    pthread_t thr;
    char addr[64];
} server_t;

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static void use_threads(void) { evthread_use_pthreads(); }

static void push_state(te_rpc_conn_t *conn, Te__ExecutionState st)
{
    Te__TaskExecutionState tes = TE__TASK_EXECUTION_STATE__INIT;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    tes.state = st;
    m.body_case = TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE;
    m.task_execution_state = &tes;
    ck_assert_int_eq(rpc_conn_send(conn, &m), TE_OK);
}

/* The daemon stand-in (server thread): Heartbeat -> OK "alive"; RegisterJobManager ->
 * push DEPLOYING, reply, push RUNNING; CancelTask -> no answer ever; RequestSlot ->
 * slot 7; anything else -> UNKNOWN_TASK. */
static void on_call(void *arg, te_rpc_conn_t *conn, const Te__RpcMessage *call)
{
    (void)arg;
    switch (call->body_case) {
    case TE__RPC_MESSAGE__BODY_HEARTBEAT: rpc_conn_reply(conn, call->call_id, TE__ERROR_CODE__OK, "alive"); break;
    case TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER:
        push_state(conn, TE__EXECUTION_STATE__DEPLOYING);
        rpc_conn_reply(conn, call->call_id, TE__ERROR_CODE__OK, "registered");
        push_state(conn, TE__EXECUTION_STATE__RUNNING);
        break;
    case TE__RPC_MESSAGE__BODY_CANCEL_TASK: break;
    case TE__RPC_MESSAGE__BODY_REQUEST_SLOT: {
        Te__Response r = TE__RESPONSE__INIT;
        r.slot_index = 7;
        rpc_conn_reply_response(conn, call->call_id, &r);
        break;
    }
    default: rpc_conn_reply(conn, call->call_id, TE__ERROR_CODE__UNKNOWN_TASK, "no such task"); break;
    }
}

static void *server_thread(void *arg)
{
    server_t *s = arg;
    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static server_t *server_start(const te_security_t *sec)
{
    te_error_t err = {0};
    server_t *s = calloc(1, sizeof(*s));
    pthread_once(&threads_once, use_threads);
    s->base = event_base_new();
    s->srv = rpc_server_new(s->base, "127.0.0.1", 0, FRAME_DEFAULT_MAX_SIZE, 16, on_call, NULL, s, &err);
    ck_assert_msg(s->srv != NULL, "%s", err.msg);
    if (sec)
        rpc_server_set_security(s->srv, sec);
    snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", rpc_server_port(s->srv));
    ck_assert_int_eq(pthread_create(&s->thr, NULL, server_thread, s), 0);
    return s;
}

/* Stops the loop and closes every connection. */
static void server_stop(server_t *s)
{
    event_base_loopbreak(s->base);
    pthread_join(s->thr, NULL);
    rpc_server_free(s->srv);
    event_base_free(s->base);
    free(s);
}

/* ---- the client side ----------------------------------------------------------------- */

typedef struct client {
    struct event_base *base;
    te_rpc_channel_t *ch;
    int connected, closed, n_pushes, n_replies, n_errors, free_in_reply;
    Te__ExecutionState pushes[8];
    char error[TE_ERROR_MSG_MAX];
    char reply_msg[64];
    int32_t slot;
    te_status_t error_code;
} client_t;

static void c_connected(void *arg, te_rpc_channel_t *ch, const te_error_t *err)
{
    client_t *c = arg;
    (void)ch;
    c->connected = err ? -1 : 1;
    if (err)
        snprintf(c->error, sizeof(c->error), "%s", err->msg);
}
static void c_push(void *arg, te_rpc_channel_t *ch, const Te__RpcMessage *m)
{
    client_t *c = arg;
    (void)ch;
    ck_assert_int_eq(m->body_case, TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE);
    if (c->n_pushes < 8)
        c->pushes[c->n_pushes++] = m->task_execution_state->state;
}
static void c_closed(void *arg, te_rpc_channel_t *ch, const te_error_t *err)
{
    client_t *c = arg;
    (void)ch;
    c->closed++;
    snprintf(c->error, sizeof(c->error), "%s", err->msg);
}
static const te_rpc_channel_cbs_t cbs = {c_connected, c_push, c_closed};

static void c_reply(void *arg, const Te__RpcMessage *reply, const te_error_t *err)
{
    client_t *c = arg;
    if (reply == NULL) {
        c->n_errors++;
        c->error_code = err->code;
        snprintf(c->error, sizeof(c->error), "%s", err->msg);
    } else {
        c->n_replies++;
        snprintf(c->reply_msg, sizeof(c->reply_msg), "%s", reply->response->message);
        c->slot = reply->response->slot_index;
    }
    if (c->free_in_reply) {
        rpc_channel_free(c->ch);
        c->ch = NULL;
    }
}

/* Runs the client loop until *flag reaches want (or WAIT_MS pass). */
static void run_until(client_t *c, const int *flag, int want)
{
    int64_t end = te_clock_mono_ms() + WAIT_MS;
    while (*flag < want && te_clock_mono_ms() < end) {
        struct timeval tv = {0, 20000};
        event_base_loopexit(c->base, &tv);
        event_base_dispatch(c->base);
    }
    ck_assert_int_ge(*flag, want);
}

static void client_open(client_t *c, const char *addr, const te_security_t *sec)
{
    te_error_t err = {0};
    memset(c, 0, sizeof(*c));
    c->base = event_base_new();
    c->ch = rpc_channel_connect(c->base, addr, WAIT_MS, sec, &cbs, c, &err);
    ck_assert_msg(c->ch != NULL, "%s", err.msg);
    ck_assert_int_eq(c->connected, 0); /* never reported from inside connect */
}

static void client_close(client_t *c)
{
    rpc_channel_free(c->ch);
    event_base_free(c->base);
}

static te_status_t call(client_t *c, Te__RpcMessage__BodyCase kind, int timeout_ms)
{
    Te__Heartbeat hb = TE__HEARTBEAT__INIT;
    Te__RegisterJobManager rj = TE__REGISTER_JOB_MANAGER__INIT;
    Te__CancelTask ct = TE__CANCEL_TASK__INIT;
    Te__RequestSlot rs = TE__REQUEST_SLOT__INIT;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    m.body_case = kind;
    m.heartbeat = &hb; /* the oneof: one pointer, set per kind below */
    if (kind == TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER)
        m.register_job_manager = &rj;
    else if (kind == TE__RPC_MESSAGE__BODY_CANCEL_TASK)
        m.cancel_task = &ct;
    else if (kind == TE__RPC_MESSAGE__BODY_REQUEST_SLOT)
        m.request_slot = &rs;
    return rpc_channel_call(c->ch, &m, timeout_ms, c_reply, c, NULL);
}

START_TEST(test_calls_pushes_timeout)
{
    server_t *s = server_start(NULL);
    client_t c;
    client_open(&c, s->addr, NULL);
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_HEARTBEAT, 0), TE_ESTATE); /* not open yet */
    run_until(&c, &c.connected, 1);
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_HEARTBEAT, 1000), TE_OK);
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER, 1000), TE_OK);
    ck_assert_int_eq(c.n_replies, 0); /* never inside the call */
    ck_assert_uint_eq(rpc_channel_pending(c.ch), 2);
    run_until(&c, &c.n_pushes, 2);
    run_until(&c, &c.n_replies, 2);
    ck_assert_str_eq(c.reply_msg, "registered");
    ck_assert_int_eq(c.pushes[0], TE__EXECUTION_STATE__DEPLOYING);
    ck_assert_int_eq(c.pushes[1], TE__EXECUTION_STATE__RUNNING);
    /* a call the server never answers times out; the channel stays usable */
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_CANCEL_TASK, 200), TE_OK);
    run_until(&c, &c.n_errors, 1);
    ck_assert_int_eq(c.error_code, TE_ETIMEOUT);
    ck_assert_ptr_nonnull(strstr(c.error, "cancel_task"));
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_REQUEST_SLOT, 1000), TE_OK);
    run_until(&c, &c.n_replies, 3);
    ck_assert_int_eq(c.slot, 7);
    ck_assert(rpc_channel_is_open(c.ch));
    /* the server goes away: the pending call fails, on_closed once */
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_CANCEL_TASK, 0), TE_OK);
    server_stop(s);
    run_until(&c, &c.closed, 1);
    ck_assert_int_eq(c.n_errors, 2);
    ck_assert_int_eq(c.closed, 1);
    ck_assert(!rpc_channel_is_open(c.ch));
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_HEARTBEAT, 0), TE_ESTATE);
    client_close(&c);
}
END_TEST

START_TEST(test_connect_refused_and_free_in_callback)
{
    server_t *s = server_start(NULL);
    char dead[64];
    snprintf(dead, sizeof(dead), "%s", s->addr);
    client_t c;
    client_open(&c, s->addr, NULL);
    run_until(&c, &c.connected, 1);
    c.free_in_reply = 1;
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_HEARTBEAT, 1000), TE_OK);
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_HEARTBEAT, 1000), TE_OK);
    run_until(&c, &c.n_replies, 1);
    ck_assert_ptr_null(c.ch); /* freed inside the first reply: the second is dropped */
    for (int i = 0; i < 5; i++)
        event_base_loop(c.base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(c.n_replies + c.n_errors, 1);
    event_base_free(c.base);
    server_stop(s);
    client_open(&c, dead, NULL);
    int failed = 0;
    while (c.connected == 0)
        event_base_loop(c.base, EVLOOP_ONCE);
    failed = c.connected == -1;
    ck_assert(failed);
    ck_assert_msg(strstr(c.error, "cannot connect to") != NULL, "%s", c.error);
    client_close(&c);
}
END_TEST

START_TEST(test_authentication)
{
    static const char secret[] = "0123456789abcdef-shared";
    te_security_t sec = {auth_secret_new(secret, strlen(secret)), NULL, NULL};
    server_t *s = server_start(&sec);
    client_t c;
    /* without the token: the challenge closes the channel naming what is missing (a
     * call made before it arrived fails with it) */
    client_open(&c, s->addr, NULL);
    run_until(&c, &c.connected, 1);
    if (call(&c, TE__RPC_MESSAGE__BODY_HEARTBEAT, 1000) == TE_OK)
        run_until(&c, &c.n_errors, 1);
    run_until(&c, &c.closed, 1);
    ck_assert_msg(strstr(c.error, "requires authentication") != NULL, "%s", c.error);
    client_close(&c);
    /* with it: served */
    client_open(&c, s->addr, &sec);
    run_until(&c, &c.connected, 1);
    ck_assert_int_eq(call(&c, TE__RPC_MESSAGE__BODY_HEARTBEAT, 1000), TE_OK);
    run_until(&c, &c.n_replies, 1);
    ck_assert_str_eq(c.reply_msg, "alive");
    client_close(&c);
    server_stop(s);
    auth_secret_free(sec.auth);
}
END_TEST

/* ---- the gateway over a channel -------------------------------------------------------- */

typedef struct gw_seen {
    int n, lost, in_call;
    Te__ErrorCode code;
    int32_t slot;
    char message[TE_ERROR_MSG_MAX];
} gw_seen_t;

static void gw_done(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    gw_seen_t *g = arg;
    (void)gw;
    ck_assert(!g->in_call);
    g->n++;
    g->lost = r->lost;
    g->code = r->code;
    g->slot = r->response ? r->response->slot_index : -1;
    snprintf(g->message, sizeof(g->message), "%s", r->message);
}

static void gw_run(struct event_base *base, gw_seen_t *g, int want)
{
    int64_t end = te_clock_mono_ms() + WAIT_MS;
    while (g->n < want && te_clock_mono_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert_int_ge(g->n, want);
}

START_TEST(test_gateway)
{
    server_t *s = server_start(NULL);
    struct event_base *base = event_base_new();
    te_error_t err = {0};
    te_tm_gateway_t *gw = rpc_tm_gateway_new(base, s->addr, NULL, WAIT_MS, WAIT_MS, &err);
    ck_assert_msg(gw != NULL, "%s", err.msg);
    gw_seen_t g = {0};
    te_id_t id;
    te_id_random(&id);
    /* before connect: completes later with lost */
    g.in_call = 1;
    tm_gateway_heartbeat(gw, &id, gw_done, &g);
    g.in_call = 0;
    gw_run(base, &g, 1);
    ck_assert(g.lost);
    ck_assert_str_eq(tm_gateway_address(gw), s->addr);
    tm_gateway_free(gw);
    gw = rpc_tm_gateway_new(base, s->addr, NULL, WAIT_MS, WAIT_MS, &err);
    tm_gateway_connect(gw, gw_done, &g);
    gw_run(base, &g, 2);
    ck_assert(!g.lost);
    tm_gateway_request_slot(gw, &id, &id, &id, -1, gw_done, &g);
    gw_run(base, &g, 3);
    ck_assert_int_eq(g.slot, 7);
    tm_gateway_cancel_task(gw, &id, gw_done, &g); /* never answered ... */
    tm_gateway_submit_task(gw, &id, &(Te__TaskDeploymentDescriptor)TE__TASK_DEPLOYMENT_DESCRIPTOR__INIT, gw_done,
                           &g);
    gw_run(base, &g, 4);
    ck_assert_int_eq(g.code, TE__ERROR_CODE__UNKNOWN_TASK);
    ck_assert_str_eq(g.message, "UNKNOWN_TASK: no such task");
    tm_gateway_free(gw); /* ... completed with lost by free */
    ck_assert_int_eq(g.n, 5);
    ck_assert(g.lost);
    event_base_free(base);
    server_stop(s);
}
END_TEST

Suite *rpc_channel_suite(void)
{
    Suite *s = suite_create("rpc_channel");
    TCase *tc = tcase_create("rpc_channel");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_calls_pushes_timeout);
    tcase_add_test(tc, test_connect_refused_and_free_in_callback);
    tcase_add_test(tc, test_authentication);
    tcase_add_test(tc, test_gateway);
    suite_add_tcase(s, tc);
    return s;
}

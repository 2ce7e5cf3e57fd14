/*
 * rpc_server — daemon side of the control-plane RPC (DESIGN §3): evconnlistener on
 * taskmanager.rpc.port, a bufferevent per connection, frames of `u32 BE length |
 * RpcMessage` checked against max_frame_size before the payload is buffered, calls
 * handed to the daemon's callback, replies and pushes written to the bufferevent.
 *
 * Threading: the server, its listener, every bufferevent and both callbacks belong
 * to the thread running `base` (the daemon's control thread, DESIGN §2). Every
 * public function must be called on that thread; bufferevents are created without
 * BEV_OPT_THREADSAFE. No locks.
 *
 * Connection life cycle (one explicit state per connection):
 *   OPEN       reading frames, dispatching calls, accepting replies and pushes;
 *   DRAINING   a final error reply is being flushed (frame too large, connection
 *              limit); reads are off; a write timeout bounds a peer that never reads;
 *   LINGERING  output flushed, write side shut down, input discarded until EOF or a
 *              short timeout, so the peer receives the reply instead of a reset;
 *   DEAD       queued for the reaper, which calls close_fn and frees it.
 * Connections are freed only by the reaper event (or rpc_server_free), never inside
 * a callback or an rpc_conn_* call, so a te_rpc_conn_t handed to the call callback
 * stays valid until the callback returns even when a reply overflows it.
 *
 * Orthogonal to the state, a connection is *pending* (in srv's pending list, oldest
 * first, with a one-shot deadline timer) from accept until authenticated or, without
 * authentication, until its first frame decoded; see rpc_server.h for the caps and
 * the eviction of the oldest pending connection. Buffered input is accounted per
 * connection (in_len) and in total (srv->in_bytes) at the end of each read callback.
 */
#include "rpc/rpc_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/auth_handshake.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"
#include "rpc/frame_codec.h"

#define RPC_LOG_CTX            "rpc-server"
#define RPC_DRAIN_TIMEOUT_SEC  5   /* bound on flushing a final error reply */
#define RPC_LINGER_TIMEOUT_SEC 2   /* bound on waiting for the peer's EOF */
#define RPC_ACCEPT_RETRY_MS    100 /* listener pause after an accept error (EMFILE) */
#define RPC_PEER_MAX           64
#define RPC_TRIM_AFTER         ((size_t)8 * 1024 * 1024) /* freed frame bytes before a malloc_trim */
#define RPC_BIG_FRAME          ((size_t)256 * 1024)      /* frames counted towards a trim */
#define RPC_PENDING_GRACE_MS   250  /* a pending connection younger than this is not closed for room */
#define RPC_ACCEPT_BATCH       16   /* accepts per loop iteration: reads of others run in between */
#define RPC_LISTEN_BACKLOG     1024 /* room for a burst of connects while they are accepted */

typedef enum conn_state {
    CONN_OPEN = 0,
    CONN_DRAINING,
    CONN_LINGERING,
    CONN_DEAD,
} conn_state_t;

struct rpc_conn {
    te_rpc_server_t *srv;
    uint64_t id;
    struct bufferevent *bev;
    conn_state_t state;
    int refused;         /* over the connection limit: never shown to the daemon */
    int counted;         /* included in srv->n_open */
    te_auth_bev_t *auth; /* pending authentication handshake, or NULL */
    char peer[RPC_PEER_MAX];
    char addr[RPC_PEER_MAX]; /* the peer's address without the port */
    int pending;             /* in srv's pending list (no handshake / first frame yet) */
    int64_t accepted_ms;
    struct event *hs_ev;          /* the pending deadline */
    te_rpc_conn_t *pprev, *pnext; /* srv's pending list, oldest first */
    size_t in_len;                /* input bytes counted in srv->in_bytes */
    te_rpc_conn_t *prev, *next;   /* srv->conns, every connection until freed */
    te_rpc_conn_t *reap_next;     /* srv->reap, DEAD connections */
};

struct rpc_server {
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *reap_ev;
    struct event *resume_ev;
    int port;
    size_t max_frame;
    int max_conns;
    size_t max_output;
    int64_t idle_timeout_ms; /* 0 = never */
    rpc_call_fn call_fn;
    rpc_close_fn close_fn;
    void *arg;
    uint64_t next_id;
    size_t n_open;
    te_rpc_conn_t *conns;
    te_rpc_conn_t *reap;
    const te_security_t *sec; /* borrowed; NULL = plaintext, no authentication */
    te_rpc_limits_t lim;
    size_t n_pending;
    te_rpc_conn_t *pend_head, *pend_tail;
    size_t in_bytes;  /* input buffered by every connection */
    size_t trim_debt; /* bytes of big frames freed since the last malloc_trim */
    int accept_batch; /* connections accepted since the listener was last resumed */
    struct event *trim_ev;
};

static void conn_read_cb(struct bufferevent *bev, void *ctx);
static void conn_event_cb(struct bufferevent *bev, short what, void *ctx);

/* ---- connection teardown ------------------------------------------------------- */

static void conn_uncount(te_rpc_conn_t *c)
{
    if (c->counted) {
        c->counted = 0;
        c->srv->n_open--;
    }
}

/* Leaves the pending list (authenticated, first frame, or closing). */
static void conn_unpend(te_rpc_conn_t *c)
{
    te_rpc_server_t *srv = c->srv;
    if (!c->pending)
        return;
    c->pending = 0;
    if (c->pprev != NULL)
        c->pprev->pnext = c->pnext;
    else
        srv->pend_head = c->pnext;
    if (c->pnext != NULL)
        c->pnext->pprev = c->pprev;
    else
        srv->pend_tail = c->pprev;
    c->pprev = c->pnext = NULL;
    srv->n_pending--;
    if (c->hs_ev != NULL)
        event_del(c->hs_ev);
}

static void server_trim_cb(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    te_rpc_server_t *srv = ctx;
    srv->trim_debt = 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* Gives freed memory back to the system once enough big frames were freed (glibc
 * keeps it otherwise: 50 incomplete 10 MB frames left ~500 MB resident). A little
 * later: bufferevents free their buffers in a deferred callback. */
static void server_trim(te_rpc_server_t *srv, size_t freed)
{
    if (freed < RPC_BIG_FRAME)
        return;
    srv->trim_debt += freed;
    if (srv->trim_debt >= RPC_TRIM_AFTER && !evtimer_pending(srv->trim_ev, NULL)) {
        struct timeval tv = {0, 50 * 1000};
        evtimer_add(srv->trim_ev, &tv);
    }
}

/* Brings srv->in_bytes up to date with the connection's input buffer. */
static void conn_account_input(te_rpc_conn_t *c)
{
    size_t now = c->state == CONN_DEAD ? 0 : evbuffer_get_length(bufferevent_get_input(c->bev));
    c->srv->in_bytes = c->srv->in_bytes - c->in_len + now;
    c->in_len = now;
}

/* Marks the connection DEAD and queues it for the reaper. Safe inside callbacks. */
static void conn_kill(te_rpc_conn_t *c)
{
    if (c->state == CONN_DEAD)
        return;
    conn_uncount(c);
    conn_unpend(c);
    c->state = CONN_DEAD;
    auth_bev_cancel(c->auth);
    c->auth = NULL;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    c->reap_next = c->srv->reap;
    c->srv->reap = c;
    event_active(c->srv->reap_ev, EV_TIMEOUT, 0);
}

static void conn_destroy(te_rpc_conn_t *c)
{
    te_rpc_server_t *srv = c->srv;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    conn_uncount(c);
    conn_unpend(c);
    srv->in_bytes -= c->in_len;
    size_t held = c->in_len;
    auth_bev_cancel(c->auth);
    if (c->hs_ev != NULL)
        event_free(c->hs_ev);
    bufferevent_free(c->bev);
    free(c);
    server_trim(srv, held);
}

static void server_reap_cb(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    te_rpc_server_t *srv = ctx;
    te_rpc_conn_t *c;
    /* close_fn may kill further connections; they are pushed on srv->reap and
     * picked up by this same loop. */
    while ((c = srv->reap) != NULL) {
        srv->reap = c->reap_next;
        uint64_t id = c->id;
        int announce = !c->refused;
        conn_destroy(c);
        TE_DEBUG(RPC_LOG_CTX, "connection %llu closed", (unsigned long long)id);
        if (announce && srv->close_fn != NULL)
            srv->close_fn(srv->arg, id);
    }
}

static void conn_linger_read_cb(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

/* Output flushed: shut our write side and wait briefly for the peer to close, so the
 * error reply is not destroyed by a reset caused by unread input. */
static void conn_linger(te_rpc_conn_t *c)
{
    struct timeval tv = {RPC_LINGER_TIMEOUT_SEC, 0};
    c->state = CONN_LINGERING;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    bufferevent_setcb(c->bev, conn_linger_read_cb, NULL, conn_event_cb, c);
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    conn_linger_read_cb(c->bev, c);
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
}

static void conn_drain_write_cb(struct bufferevent *bev, void *ctx)
{
    te_rpc_conn_t *c = ctx;
    if (c->state == CONN_DRAINING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_linger(c);
}

/* Stops reading and closes once the pending output (a final error reply) is out. */
static void conn_close_after_flush(te_rpc_conn_t *c)
{
    struct timeval tv = {RPC_DRAIN_TIMEOUT_SEC, 0};
    if (c->state != CONN_OPEN)
        return;
    conn_uncount(c);
    conn_unpend(c);
    c->state = CONN_DRAINING;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setcb(c->bev, NULL, conn_drain_write_cb, conn_event_cb, c);
    bufferevent_set_timeouts(c->bev, NULL, &tv);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_linger(c);
    else
        bufferevent_enable(c->bev, EV_WRITE);
}

/* ---- sending ------------------------------------------------------------------ */

/* Frames msg straight into the output evbuffer (no intermediate copy). */
static te_status_t conn_write(te_rpc_conn_t *c, const Te__RpcMessage *msg)
{
    te_error_t e;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t size = frame_encoded_size(msg);
    struct evbuffer_iovec v;
    if (size - FRAME_HEADER_LEN > UINT32_MAX) {
        TE_WARN(RPC_LOG_CTX, "%s: message of %zu bytes cannot be framed; dropped", c->peer, size);
        return TE_ETOOBIG;
    }
    if (evbuffer_reserve_space(out, (ev_ssize_t)size, &v, 1) < 1 || v.iov_len < size) {
        TE_WARN(RPC_LOG_CTX, "%s: out of memory queueing %zu bytes; closing", c->peer, size);
        conn_kill(c);
        return TE_ENOMEM;
    }
    size_t len = 0;
    if (frame_encode_into(msg, v.iov_base, v.iov_len, &len, &e) != TE_OK) {
        TE_ERROR(RPC_LOG_CTX, "%s: %s", c->peer, e.msg);
        return e.code;
    }
    v.iov_len = len;
    evbuffer_commit_space(out, &v, 1);
    size_t pending = evbuffer_get_length(out);
    if (pending > c->srv->max_output) {
        TE_WARN(RPC_LOG_CTX, "%s: %zu bytes of output pending (limit %zu): the peer does not read; closing",
                c->peer, pending, c->srv->max_output);
        conn_kill(c);
        return TE_EIO;
    }
    return TE_OK;
}

static te_status_t conn_write_response(te_rpc_conn_t *c, uint64_t call_id, Te__ErrorCode code, const char *message)
{
    Te__Response r = TE__RESPONSE__INIT;
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    r.code = code;
    r.message = (char *)(message != NULL ? message : "");
    m.call_id = call_id;
    m.body_case = TE__RPC_MESSAGE__BODY_RESPONSE;
    m.response = &r;
    return conn_write(c, &m);
}

/* A final error: reply, then close once flushed. */
static void conn_fail(te_rpc_conn_t *c, Te__ErrorCode code, const char *message)
{
    if (conn_write_response(c, 0, code, message) == TE_OK)
        conn_close_after_flush(c);
    else
        conn_kill(c);
}

te_status_t rpc_conn_send(te_rpc_conn_t *conn, const Te__RpcMessage *msg)
{
    if (conn->state != CONN_OPEN)
        return TE_ESTATE;
    return conn_write(conn, msg);
}

te_status_t rpc_conn_reply(te_rpc_conn_t *conn, uint64_t call_id, Te__ErrorCode code, const char *message)
{
    if (conn->state != CONN_OPEN)
        return TE_ESTATE;
    return conn_write_response(conn, call_id, code, message);
}

te_status_t rpc_conn_replyf(te_rpc_conn_t *conn, uint64_t call_id, Te__ErrorCode code, const char *fmt, ...)
{
    char buf[TE_ERROR_MSG_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return rpc_conn_reply(conn, call_id, code, buf);
}

te_status_t rpc_conn_reply_msg(te_rpc_conn_t *conn, const Te__RpcMessage *resp)
{
    if (resp->body_case != TE__RPC_MESSAGE__BODY_RESPONSE || resp->response == NULL) {
        TE_ERROR(RPC_LOG_CTX, "%s: reply for call %llu has no Response body (%s)", conn->peer,
                 (unsigned long long)resp->call_id, frame_message_body_name(resp));
        return TE_EINVAL;
    }
    return rpc_conn_send(conn, resp);
}

te_status_t rpc_conn_reply_response(te_rpc_conn_t *conn, uint64_t call_id, Te__Response *resp)
{
    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    m.call_id = call_id;
    m.body_case = TE__RPC_MESSAGE__BODY_RESPONSE;
    m.response = resp;
    return rpc_conn_reply_msg(conn, &m);
}

uint64_t rpc_conn_id(const te_rpc_conn_t *conn) { return conn->id; }
const char *rpc_conn_peer(const te_rpc_conn_t *conn) { return conn->peer; }

/* ---- receiving ---------------------------------------------------------------- */

static void conn_dispatch(te_rpc_conn_t *c, const Te__RpcMessage *msg)
{
    if (frame_message_kind(msg) != FRAME_MSG_CALL) {
        char text[160];
        snprintf(text, sizeof(text), "unknown or missing call (body: %s, call_id %llu)",
                 frame_message_body_name(msg), (unsigned long long)msg->call_id);
        TE_WARN(RPC_LOG_CTX, "%s: %s", c->peer, text);
        conn_write_response(c, msg->call_id, TE__ERROR_CODE__MALFORMED_MESSAGE, text);
        return;
    }
    TE_DEBUG(RPC_LOG_CTX, "%s: call %llu %s", c->peer, (unsigned long long)msg->call_id,
             frame_message_body_name(msg));
    c->srv->call_fn(c->srv->arg, c, msg);
}

/* The connection proved itself: no deadline, no pending cap, its own read bound. */
static void conn_establish(te_rpc_conn_t *c)
{
    if (!c->pending)
        return;
    conn_unpend(c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
}

/* Input over the budget: close the connections holding the most buffered input,
 * pending ones first, until it fits again. */
static void server_shed_input(te_rpc_server_t *srv)
{
    while (srv->lim.max_buffered_bytes > 0 && srv->in_bytes > srv->lim.max_buffered_bytes) {
        te_rpc_conn_t *victim = NULL;
        for (te_rpc_conn_t *c = srv->conns; c != NULL; c = c->next) {
            if (c->state == CONN_DEAD || c->in_len == 0)
                continue;
            if (victim == NULL || (c->pending && !victim->pending) ||
                (c->pending == victim->pending && c->in_len > victim->in_len))
                victim = c;
        }
        if (victim == NULL)
            return;
        char text[200];
        snprintf(text, sizeof(text),
                 "RPC input budget exhausted (taskmanager.rpc.max-buffered-bytes = %zu bytes buffered by all "
                 "connections): closing the connection holding the most (%zu bytes of an unfinished frame)",
                 srv->lim.max_buffered_bytes, victim->in_len);
        TE_WARN(RPC_LOG_CTX, "%s: %s", victim->peer, text);
        struct evbuffer *in = bufferevent_get_input(victim->bev);
        size_t held = victim->in_len;
        evbuffer_drain(in, evbuffer_get_length(in));
        conn_account_input(victim);
        server_trim(srv, held);
        if (victim->state == CONN_OPEN && (srv->sec == NULL || srv->sec->auth == NULL || !victim->pending))
            conn_fail(victim, TE__ERROR_CODE__INTERNAL, text);
        else
            conn_kill(victim);
    }
}

static void conn_read_frames(te_rpc_conn_t *c, struct evbuffer *in)
{
    te_rpc_server_t *srv = c->srv;
    while (c->state == CONN_OPEN) {
        uint8_t hdr[FRAME_HEADER_LEN];
        size_t avail = evbuffer_get_length(in);
        size_t flen = 0;
        te_error_t e;
        if (avail < FRAME_HEADER_LEN)
            return;
        evbuffer_copyout(in, hdr, FRAME_HEADER_LEN);
        if (frame_header_parse(hdr, srv->max_frame, &flen, &e) != TE_OK) {
            TE_WARN(RPC_LOG_CTX, "%s: %s; closing the connection", c->peer, e.msg);
            conn_fail(c, TE__ERROR_CODE__FRAME_TOO_LARGE, e.msg);
            return;
        }
        if (avail - FRAME_HEADER_LEN < flen)
            return; /* wait for the rest; at most max_frame bytes are buffered */
        uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_LEN + flen));
        if (p == NULL) {
            TE_WARN(RPC_LOG_CTX, "%s: out of memory reading a %zu-byte frame; closing", c->peer, flen);
            conn_kill(c);
            return;
        }
        Te__RpcMessage *msg = frame_decode_message(p + FRAME_HEADER_LEN, flen, &e);
        evbuffer_drain(in, FRAME_HEADER_LEN + flen);
        server_trim(srv, flen);
        if (msg == NULL) {
            TE_WARN(RPC_LOG_CTX, "%s: %s", c->peer, e.msg);
            conn_write_response(c, 0, TE__ERROR_CODE__MALFORMED_MESSAGE, e.msg);
            continue;
        }
        conn_establish(c); /* without authentication: it speaks the protocol */
        conn_dispatch(c, msg);
        te__rpc_message__free_unpacked(msg, NULL);
    }
}

static void conn_read_cb(struct bufferevent *bev, void *ctx)
{
    te_rpc_conn_t *c = ctx;
    struct evbuffer *in = bufferevent_get_input(bev);
    conn_read_frames(c, in);
    conn_account_input(c);
    if (c->srv->lim.max_buffered_bytes > 0 && c->srv->in_bytes > c->srv->lim.max_buffered_bytes)
        server_shed_input(c->srv);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *ctx)
{
    te_rpc_conn_t *c = ctx;
    unsigned long ssl_err = (what & BEV_EVENT_ERROR) && c->srv->sec != NULL && c->srv->sec->tls_server != NULL
                                ? bufferevent_get_openssl_error(bev)
                                : 0;
    if (ssl_err != 0) {
        char text[256];
        ERR_error_string_n(ssl_err, text, sizeof(text));
        TE_WARN(RPC_LOG_CTX, "%s: TLS error, closing: %s", c->peer, text);
    } else if (what & BEV_EVENT_ERROR)
        TE_DEBUG(RPC_LOG_CTX, "%s: connection error: %s", c->peer,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    else if ((what & BEV_EVENT_TIMEOUT) && c->state == CONN_OPEN)
        TE_INFO(RPC_LOG_CTX, "%s: silent for %lld ms (taskmanager.rpc.idle-timeout); closing the connection",
                c->peer, (long long)c->srv->idle_timeout_ms);
    else if (what & BEV_EVENT_TIMEOUT)
        TE_DEBUG(RPC_LOG_CTX, "%s: timed out while closing", c->peer);
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_kill(c);
}

/* ---- accepting ---------------------------------------------------------------- */

static void format_peer(const struct sockaddr *sa, socklen_t salen, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN], serv[8];
    if (getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, cap, "[%s]:%s", host, serv);
    else
        snprintf(out, cap, "%s:%s", host, serv);
}

static void format_addr(const struct sockaddr *sa, socklen_t salen, char *out, size_t cap)
{
    if (getnameinfo(sa, salen, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, cap, "?");
}

/* Reading frames from now on: a connection silent for the idle timeout is closed. */
static void conn_arm_idle(te_rpc_conn_t *c)
{
    if (c->srv->idle_timeout_ms > 0) {
        struct timeval tv = {c->srv->idle_timeout_ms / 1000, (c->srv->idle_timeout_ms % 1000) * 1000};
        bufferevent_set_timeouts(c->bev, &tv, NULL);
    }
}

/* The authentication handshake finished (see auth_bev_start). */
static void conn_auth_done(void *arg, int ok, const char *why)
{
    te_rpc_conn_t *c = arg;
    c->auth = NULL;
    if (ok > 0) {
        TE_DEBUG(RPC_LOG_CTX, "%s: authenticated", c->peer);
        conn_establish(c);
        bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        conn_arm_idle(c);
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
            conn_read_cb(c->bev, c);
        return;
    }
    TE_WARN(RPC_LOG_CTX, "%s: %s; closing the connection", c->peer, why);
    if (ok == 0) {
        bufferevent_setcb(c->bev, NULL, NULL, conn_event_cb, c);
        conn_fail(c, TE__ERROR_CODE__MALFORMED_MESSAGE, why);
    } else {
        conn_kill(c);
    }
}

static void conn_deadline_cb(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    te_rpc_conn_t *c = ctx;
    if (!c->pending || c->state == CONN_DEAD)
        return;
    TE_WARN(RPC_LOG_CTX, "%s: no %s within %lld ms (taskmanager.rpc.handshake-timeout); closing the connection",
            c->peer, c->srv->sec != NULL && c->srv->sec->auth != NULL ? "authentication" : "complete frame",
            (long long)c->srv->lim.handshake_timeout_ms);
    conn_kill(c);
}

/* The oldest pending connection (of peer address `addr`, or of any when NULL). */
static te_rpc_conn_t *oldest_pending(te_rpc_server_t *srv, const char *addr, size_t *n_addr)
{
    te_rpc_conn_t *oldest = NULL;
    size_t n = 0;
    for (te_rpc_conn_t *c = srv->pend_head; c != NULL; c = c->pnext) {
        if (addr != NULL && strcmp(c->addr, addr) != 0)
            continue;
        if (oldest == NULL)
            oldest = c;
        n++;
    }
    if (n_addr != NULL)
        *n_addr = n;
    return oldest;
}

/* A limit is reached: closes `victim` (the oldest pending connection concerned) so a
 * new connection can take its place — unless `grace` and the victim is younger than
 * RPC_PENDING_GRACE_MS (a handshake in progress): then the new one is refused (text
 * set). Returns 0 when room was made. */
static int evict_pending(te_rpc_conn_t *victim, int grace, const char *what, const char *limit, size_t value,
                         char *text, size_t cap)
{
    int64_t age = victim != NULL ? te_clock_mono_ms() - victim->accepted_ms : 0;
    if (victim == NULL || (grace && age < RPC_PENDING_GRACE_MS)) {
        snprintf(text, cap, "connection refused: limit of %zu %s reached (%s)", value, what, limit);
        return -1;
    }
    TE_WARN(RPC_LOG_CTX,
            "%s: closing this connection, %lld ms without completing its handshake, to make room: %s "
            "(%zu) reached",
            victim->peer, (long long)age, limit, value);
    conn_kill(victim);
    return 0;
}

/* Makes room for a new connection from `addr` by closing the oldest pending ones: of
 * the same address when it has its maximum (whatever their age: a flood from one
 * address only displaces itself), else of any address once out of their grace time.
 * Returns 0 when it may be accepted, -1 (text set) when it must be refused. */
static int server_make_room(te_rpc_server_t *srv, const char *addr, char *text, size_t cap)
{
    size_t n_addr = 0;
    te_rpc_conn_t *v = srv->lim.max_pending_per_addr > 0 ? oldest_pending(srv, addr, &n_addr) : NULL;
    if (v != NULL && n_addr >= srv->lim.max_pending_per_addr &&
        evict_pending(v, 0, "RPC connections in the handshake from one address",
                      "taskmanager.rpc.max-pending-per-address", srv->lim.max_pending_per_addr, text, cap))
        return -1;
    if (srv->lim.max_pending > 0 && srv->n_pending >= srv->lim.max_pending &&
        evict_pending(srv->pend_head, 1, "RPC connections in the handshake",
                      "taskmanager.rpc.max-pending-connections", srv->lim.max_pending, text, cap))
        return -1;
    if (srv->max_conns <= 0 || srv->n_open < (size_t)srv->max_conns)
        return 0;
    return evict_pending(srv->pend_head, 1, "open RPC connections", "taskmanager.rpc.max-connections",
                         (size_t)srv->max_conns, text, cap);
}

/* A counted connection starts pending: the deadline runs from now. */
static void conn_pend(te_rpc_conn_t *c)
{
    te_rpc_server_t *srv = c->srv;
    c->pending = 1;
    c->accepted_ms = te_clock_mono_ms();
    c->pprev = srv->pend_tail;
    if (srv->pend_tail != NULL)
        srv->pend_tail->pnext = c;
    else
        srv->pend_head = c;
    srv->pend_tail = c;
    srv->n_pending++;
    if (srv->lim.handshake_timeout_ms > 0) {
        c->hs_ev = evtimer_new(srv->base, conn_deadline_cb, c);
        struct timeval tv = {srv->lim.handshake_timeout_ms / 1000, (srv->lim.handshake_timeout_ms % 1000) * 1000};
        if (c->hs_ev != NULL)
            evtimer_add(c->hs_ev, &tv);
    }
    if (srv->sec != NULL && srv->sec->auth != NULL)
        bufferevent_setwatermark(c->bev, EV_READ, 0, RPC_PENDING_MAX_INPUT);
}

static void server_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                             void *ctx)
{
    te_rpc_server_t *srv = ctx;
    int one = 1;
    /* A flood of connects must not starve the handshakes in progress: after a batch,
     * the listener pauses until the loop ran the other ready events. */
    if (++srv->accept_batch >= RPC_ACCEPT_BATCH) {
        struct timeval now = {0, 0};
        evconnlistener_disable(l);
        evtimer_add(srv->resume_ev, &now);
    }
    te_rpc_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        TE_WARN(RPC_LOG_CTX, "out of memory accepting a connection");
        evutil_closesocket(fd);
        return;
    }
    if (srv->sec != NULL && srv->sec->tls_server != NULL) {
        SSL *ssl = SSL_new(srv->sec->tls_server);
        c->bev = ssl == NULL ? NULL
                             : bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                              BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL)
            SSL_free(ssl);
        else
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (c->bev == NULL) {
        TE_WARN(RPC_LOG_CTX, "cannot create a bufferevent for an accepted connection");
        evutil_closesocket(fd);
        free(c);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->srv = srv;
    c->id = ++srv->next_id;
    format_peer(sa, (socklen_t)salen, c->peer, sizeof(c->peer));
    format_addr(sa, (socklen_t)salen, c->addr, sizeof(c->addr));
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);

    char text[160];
    if (server_make_room(srv, c->addr, text, sizeof(text)) != 0) {
        TE_WARN(RPC_LOG_CTX, "%s: %s", c->peer, text);
        c->refused = 1;
        conn_fail(c, TE__ERROR_CODE__INTERNAL, text);
        return;
    }
    c->counted = 1;
    srv->n_open++;
    conn_pend(c);
    TE_DEBUG(RPC_LOG_CTX, "connection %llu from %s", (unsigned long long)c->id, c->peer);
    if (srv->sec != NULL && srv->sec->auth != NULL) {
        c->auth = auth_bev_start(c->bev, 1, srv->sec->auth, conn_auth_done, c);
        if (c->auth == NULL) {
            TE_WARN(RPC_LOG_CTX, "%s: cannot start authentication (out of memory or no randomness)", c->peer);
            conn_kill(c);
        }
        return;
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    conn_arm_idle(c);
}

static void server_resume_cb(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    te_rpc_server_t *srv = ctx;
    srv->accept_batch = 0;
    evconnlistener_enable(srv->listener);
}

/* accept(2) failed (EMFILE, ENFILE, ENOBUFS): pause the listener instead of spinning
 * on a connection that stays in the backlog. */
static void server_accept_error_cb(struct evconnlistener *l, void *ctx)
{
    te_rpc_server_t *srv = ctx;
    struct timeval tv = {0, RPC_ACCEPT_RETRY_MS * 1000};
    TE_WARN(RPC_LOG_CTX, "accept failed on port %d: %s; pausing %d ms", srv->port,
            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()), RPC_ACCEPT_RETRY_MS);
    evconnlistener_disable(l);
    evtimer_add(srv->resume_ev, &tv);
}

/* ---- server ------------------------------------------------------------------- */

te_rpc_server_t *rpc_server_new(struct event_base *base, const char *host, int port, size_t max_frame_size,
                                int max_conns, rpc_call_fn call_fn, rpc_close_fn close_fn, void *arg,
                                te_error_t *err)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    const char *h = (host != NULL && host[0] != '\0') ? host : NULL;
    te_rpc_server_t *srv = NULL;
    int gai;

    if (port < 0 || port > 65535 || call_fn == NULL) {
        te_error_set(err, TE_EINVAL, "invalid RPC server arguments (port %d)", port);
        goto cleanup;
    }
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory creating the RPC server");
        goto cleanup;
    }
    srv->base = base;
    srv->max_frame = max_frame_size;
    srv->max_conns = max_conns;
    srv->max_output = RPC_SERVER_MAX_OUTPUT;
    srv->call_fn = call_fn;
    srv->close_fn = close_fn;
    srv->arg = arg;
    srv->reap_ev = event_new(base, -1, 0, server_reap_cb, srv);
    srv->resume_ev = evtimer_new(base, server_resume_cb, srv);
    srv->trim_ev = evtimer_new(base, server_trim_cb, srv);
    if (srv->reap_ev == NULL || srv->resume_ev == NULL || srv->trim_ev == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory creating the RPC server events");
        goto cleanup;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    gai = getaddrinfo(h, portstr, &hints, &res);
    if (gai != 0) {
        te_error_set(err, TE_EINVAL, "cannot resolve RPC address %s:%d: %s", h ? h : "*", port, gai_strerror(gai));
        goto cleanup;
    }
    int last_errno = 0;
    for (struct addrinfo *ai = res; ai != NULL && srv->listener == NULL; ai = ai->ai_next) {
        srv->listener = evconnlistener_new_bind(base, server_accept_cb, srv,
                                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                                RPC_LISTEN_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
        if (srv->listener == NULL)
            last_errno = errno;
    }
    if (srv->listener == NULL) {
        te_error_set(err, TE_EIO, "cannot listen on RPC address %s:%d: %s", h ? h : "*", port,
                     strerror(last_errno));
        goto cleanup;
    }
    evconnlistener_set_error_cb(srv->listener, server_accept_error_cb);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(evconnlistener_get_fd(srv->listener), (struct sockaddr *)&ss, &sl) != 0) {
        te_error_set(err, TE_EIO, "getsockname on the RPC listener: %s", strerror(errno));
        goto cleanup;
    }
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    freeaddrinfo(res);
    TE_INFO(RPC_LOG_CTX, "listening on %s:%d (max frame %zu bytes, max connections %d)", h ? h : "*", srv->port,
            max_frame_size, max_conns);
    return srv;

cleanup:
    if (res != NULL)
        freeaddrinfo(res);
    rpc_server_free(srv);
    return NULL;
}

void rpc_server_free(te_rpc_server_t *srv)
{
    if (srv == NULL)
        return;
    if (srv->listener != NULL)
        evconnlistener_free(srv->listener);
    while (srv->conns != NULL)
        conn_destroy(srv->conns);
    srv->reap = NULL;
    if (srv->reap_ev != NULL)
        event_free(srv->reap_ev);
    if (srv->resume_ev != NULL)
        event_free(srv->resume_ev);
    if (srv->trim_ev != NULL)
        event_free(srv->trim_ev);
    free(srv);
}

int rpc_server_port(const te_rpc_server_t *srv) { return srv->port; }

void rpc_server_set_security(te_rpc_server_t *srv, const te_security_t *sec) { srv->sec = sec; }

void rpc_server_set_max_output(te_rpc_server_t *srv, size_t bytes) { srv->max_output = bytes; }
void rpc_server_set_limits(te_rpc_server_t *srv, const te_rpc_limits_t *lim) { srv->lim = *lim; }
void rpc_server_set_max_connections(te_rpc_server_t *srv, int max_conns) { srv->max_conns = max_conns; }
size_t rpc_server_pending_count(const te_rpc_server_t *srv) { return srv->n_pending; }
size_t rpc_server_buffered_bytes(const te_rpc_server_t *srv) { return srv->in_bytes; }
void rpc_server_set_idle_timeout(te_rpc_server_t *srv, int64_t ms) { srv->idle_timeout_ms = ms > 0 ? ms : 0; }

size_t rpc_server_conn_count(const te_rpc_server_t *srv) { return srv->n_open; }

te_rpc_conn_t *rpc_server_find_conn(te_rpc_server_t *srv, uint64_t conn_id)
{
    for (te_rpc_conn_t *c = srv->conns; c != NULL; c = c->next)
        if (c->id == conn_id)
            return (c->state == CONN_OPEN && !c->refused) ? c : NULL;
    return NULL;
}

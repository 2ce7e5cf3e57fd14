/*
 * rpc_channel — asynchronous control-plane RPC client on a libevent bufferevent (see
 * rpc_channel.h): connect (optionally TLS, then the shared-secret handshake through
 * te_auth_bev), frames of `u32 BE length | RpcMessage` read off the input evbuffer,
 * Responses matched to pending calls by call_id, pushes dispatched.
 *
 * States: CONNECTING (TCP / TLS) → AUTHENTICATING (only with a token) → OPEN →
 * CLOSED. One timer serves the connect deadline and the calls' deadlines: it is armed
 * at the earliest deadline known when a call is added and, when it fires, expires
 * what is due and re-arms at the next one (answered calls do not re-arm it).
 *
 * Re-entrancy: every libevent entry point counts itself in `depth`; rpc_channel_free
 * inside a callback only marks the channel (callbacks off, calls dropped) and the
 * outermost entry point frees it on its way out.
 *
 * Threading: everything runs on the thread of the channel's event_base; no locks.
 */
#include "rpc/rpc_channel.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/auth_handshake.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"
#include "rpc/frame_codec.h"

#define CTX               "rpc-channel"
#define CHANNEL_MAX_FRAME ((size_t)64 * 1024 * 1024)
#define CHANNEL_ADDR_MAX  300

typedef enum channel_state {
    CH_CONNECTING = 0,
    CH_AUTHENTICATING,
    CH_OPEN,
    CH_CLOSED,
} channel_state_t;

typedef struct pending_call {
    uint64_t call_id;
    int64_t deadline_ms; /* -1 = none */
    int timeout_ms;
    const char *what; /* body name, static */
    te_rpc_reply_fn fn;
    void *arg;
    struct pending_call *prev, *next;
} pending_call_t;

struct te_rpc_channel {
    struct event_base *base;
    struct bufferevent *bev;
    struct event *timer;
    int64_t timer_at; /* -1 = not armed */
    const te_security_t *sec;
    te_auth_bev_t *auth;
    int tls;
    channel_state_t state;
    int64_t connect_deadline_ms;
    int connect_timeout_ms;
    char addr[CHANNEL_ADDR_MAX];
    uint64_t next_call_id;
    pending_call_t *head, *tail;
    size_t n_pending;
    te_rpc_channel_cbs_t cbs;
    void *arg;
    int depth;   /* libevent entry points running */
    int freed;   /* rpc_channel_free was called inside one */
    int got_any; /* a byte was received (the authentication hint) */
};

static void channel_destroy(te_rpc_channel_t *ch);

static void enter(te_rpc_channel_t *ch) { ch->depth++; }

static void leave(te_rpc_channel_t *ch)
{
    if (--ch->depth == 0 && ch->freed)
        channel_destroy(ch);
}

/* The channel can no longer report (freed inside a callback, or closed). */
static int gone(const te_rpc_channel_t *ch) { return ch->freed || ch->state == CH_CLOSED; }

static void timer_arm(te_rpc_channel_t *ch, int64_t at)
{
    if (at < 0 || (ch->timer_at >= 0 && ch->timer_at <= at))
        return;
    int64_t left = at - te_clock_mono_ms();
    if (left < 0)
        left = 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
    evtimer_add(ch->timer, &tv);
    ch->timer_at = at;
}

static void pending_unlink(te_rpc_channel_t *ch, pending_call_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        ch->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        ch->tail = p->prev;
    ch->n_pending--;
}

static void pending_drop_all(te_rpc_channel_t *ch)
{
    while (ch->head != NULL) {
        pending_call_t *p = ch->head;
        pending_unlink(ch, p);
        free(p);
    }
}

/* Closes the channel: completes every pending call with err, then reports the close
 * (or the failed connect). */
static void channel_fail(te_rpc_channel_t *ch, const te_error_t *err)
{
    if (gone(ch))
        return;
    channel_state_t was = ch->state;
    ch->state = CH_CLOSED;
    auth_bev_cancel(ch->auth);
    ch->auth = NULL;
    if (ch->bev != NULL) {
        bufferevent_disable(ch->bev, EV_READ | EV_WRITE);
        bufferevent_setcb(ch->bev, NULL, NULL, NULL, NULL);
    }
    evtimer_del(ch->timer);
    ch->timer_at = -1;
    while (ch->head != NULL && !ch->freed) {
        pending_call_t *p = ch->head;
        pending_unlink(ch, p);
        te_rpc_reply_fn fn = p->fn;
        void *arg = p->arg;
        free(p);
        fn(arg, NULL, err);
    }
    if (ch->freed)
        return;
    if (was == CH_OPEN) {
        if (ch->cbs.on_closed)
            ch->cbs.on_closed(ch->arg, ch, err);
    } else if (ch->cbs.on_connected) {
        ch->cbs.on_connected(ch->arg, ch, err);
    }
}

static void channel_failf(te_rpc_channel_t *ch, te_status_t code, const char *fmt, const char *what)
{
    te_error_t err;
    te_error_set(&err, code, fmt, ch->addr, what);
    channel_fail(ch, &err);
}

/* ---- input ------------------------------------------------------------------------ */

static const char *error_code_name(Te__ErrorCode code)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__error_code__descriptor, (int)code);
    return v != NULL ? v->name : "UNKNOWN";
}

static void dispatch(te_rpc_channel_t *ch, const Te__RpcMessage *m)
{
    frame_msg_kind_t kind = frame_message_kind(m);
    if (kind == FRAME_MSG_RESPONSE && m->call_id == 0) {
        te_error_t err;
        te_error_set(&err, TE_EPROTO, "%s reported an error: %s: %s", ch->addr, error_code_name(m->response->code),
                     m->response->message);
        channel_fail(ch, &err);
        return;
    }
    if (kind == FRAME_MSG_RESPONSE) {
        for (pending_call_t *p = ch->head; p != NULL; p = p->next) {
            if (p->call_id != m->call_id)
                continue;
            pending_unlink(ch, p);
            te_rpc_reply_fn fn = p->fn;
            void *arg = p->arg;
            free(p);
            fn(arg, m, NULL);
            return;
        }
        TE_DEBUG(CTX, "%s: late reply to call %llu dropped", ch->addr, (unsigned long long)m->call_id);
        return;
    }
    if (kind == FRAME_MSG_PUSH || m->call_id == 0) {
        if (ch->cbs.on_push)
            ch->cbs.on_push(ch->arg, ch, m);
        return;
    }
    TE_WARN(CTX, "%s: unexpected %s message with call_id %llu ignored", ch->addr, frame_message_body_name(m),
            (unsigned long long)m->call_id);
}

static void read_frames(te_rpc_channel_t *ch)
{
    struct evbuffer *in = bufferevent_get_input(ch->bev);
    while (!gone(ch) && ch->state == CH_OPEN) {
        size_t have = evbuffer_get_length(in), len = 0;
        uint8_t hdr[FRAME_HEADER_LEN];
        te_error_t err;
        if (have < FRAME_HEADER_LEN)
            return;
        evbuffer_copyout(in, hdr, FRAME_HEADER_LEN);
        if (!ch->got_any && ch->sec == NULL && memcmp(hdr, TE_AUTH_MAGIC_HELLO, TE_AUTH_MAGIC_LEN) == 0) {
            te_error_set(&err, TE_EPROTO,
                         "the daemon at %s requires authentication: pass --token-file FILE (or set "
                         "TE_TOKEN_FILE) with its shared secret",
                         ch->addr);
            channel_fail(ch, &err);
            return;
        }
        ch->got_any = 1;
        if (frame_header_parse(hdr, CHANNEL_MAX_FRAME, &len, &err) != TE_OK) {
            te_error_prefix(&err, "reply from %s", ch->addr);
            channel_fail(ch, &err);
            return;
        }
        if (have < FRAME_HEADER_LEN + len)
            return;
        const uint8_t *frame = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_LEN + len));
        Te__RpcMessage *m = frame ? frame_decode_message(frame + FRAME_HEADER_LEN, len, &err) : NULL;
        evbuffer_drain(in, FRAME_HEADER_LEN + len);
        if (m == NULL) {
            if (frame == NULL)
                te_error_set(&err, TE_ENOMEM, "out of memory reading a reply");
            te_error_prefix(&err, "reply from %s", ch->addr);
            channel_fail(ch, &err);
            return;
        }
        dispatch(ch, m);
        te__rpc_message__free_unpacked(m, NULL);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    te_rpc_channel_t *ch = arg;
    (void)bev;
    enter(ch);
    read_frames(ch);
    leave(ch);
}

/* ---- connect, TLS, authentication ------------------------------------------------ */

static void on_event(struct bufferevent *bev, short what, void *arg);

static void channel_opened(te_rpc_channel_t *ch)
{
    ch->state = CH_OPEN;
    evtimer_del(ch->timer);
    ch->timer_at = -1;
    bufferevent_setcb(ch->bev, on_read, NULL, on_event, ch);
    bufferevent_enable(ch->bev, EV_READ | EV_WRITE);
    if (ch->cbs.on_connected)
        ch->cbs.on_connected(ch->arg, ch, NULL);
    if (!gone(ch) && evbuffer_get_length(bufferevent_get_input(ch->bev)) > 0)
        read_frames(ch);
}

static void auth_done(void *arg, int ok, const char *why)
{
    te_rpc_channel_t *ch = arg;
    ch->auth = NULL;
    enter(ch);
    if (ok > 0)
        channel_opened(ch);
    else
        channel_failf(ch, TE_EPROTO, "%s: %s", why ? why : "authentication failed");
    leave(ch);
}

static void connected(te_rpc_channel_t *ch)
{
    if (!ch->tls) {
        int one = 1;
        setsockopt(bufferevent_getfd(ch->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (ch->sec != NULL && ch->sec->auth != NULL) {
        ch->state = CH_AUTHENTICATING;
        ch->got_any = 1;
        ch->auth = auth_bev_start(ch->bev, 0, ch->sec->auth, auth_done, ch);
        if (ch->auth == NULL)
            channel_failf(ch, TE_ENOMEM, "%s: %s", "cannot start authentication (out of memory)");
        return;
    }
    channel_opened(ch);
}

/* Why a connected-or-connecting bufferevent failed. */
static void event_error(te_rpc_channel_t *ch, short what)
{
    int e = EVUTIL_SOCKET_ERROR();
    char why[TE_ERROR_MSG_MAX + 400];
    unsigned long ssl_err = ch->tls ? bufferevent_get_openssl_error(ch->bev) : 0;
    if (ch->tls && ch->state == CH_CONNECTING) {
        SSL *ssl = bufferevent_openssl_get_ssl(ch->bev);
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        char text[300] = "connection closed";
        if (ssl_err != 0)
            ERR_error_string_n(ssl_err, text, sizeof(text));
        if (vr != X509_V_OK)
            snprintf(why, sizeof(why), "TLS handshake with %s failed: server certificate not trusted: %s",
                     ch->addr, X509_verify_cert_error_string(vr));
        else
            snprintf(why, sizeof(why), "TLS handshake with %s failed: %s (is TLS enabled on the daemon?)",
                     ch->addr, text);
    } else if (ch->state == CH_CONNECTING) {
        snprintf(why, sizeof(why), "cannot connect to %s: %s", ch->addr,
                 e ? evutil_socket_error_to_string(e) : "connection failed");
    } else if (what & BEV_EVENT_EOF) {
        snprintf(why, sizeof(why), "connection to %s closed by the peer", ch->addr);
    } else if (ssl_err != 0) {
        char text[256];
        ERR_error_string_n(ssl_err, text, sizeof(text));
        snprintf(why, sizeof(why), "connection to %s failed: TLS error: %s", ch->addr, text);
    } else {
        snprintf(why, sizeof(why), "connection to %s failed: %s", ch->addr,
                 e ? evutil_socket_error_to_string(e) : "socket error");
    }
    te_error_t err;
    te_error_set(&err, TE_EIO, "%s", why);
    channel_fail(ch, &err);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    te_rpc_channel_t *ch = arg;
    (void)bev;
    enter(ch);
    if (what & BEV_EVENT_CONNECTED) {
        if (ch->state == CH_CONNECTING)
            connected(ch);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (ch->state == CH_OPEN)
            read_frames(ch); /* what arrived before the close still counts */
        if (!gone(ch))
            event_error(ch, what);
    }
    leave(ch);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    te_rpc_channel_t *ch = arg;
    (void)fd;
    (void)what;
    enter(ch);
    ch->timer_at = -1;
    int64_t now = te_clock_mono_ms();
    if (ch->state == CH_CONNECTING || ch->state == CH_AUTHENTICATING) {
        te_error_t err;
        if (ch->state == CH_CONNECTING)
            te_error_set(&err, TE_ETIMEOUT, "cannot connect to %s: timed out after %d ms", ch->addr,
                         ch->connect_timeout_ms);
        else
            te_error_set(&err, TE_ETIMEOUT, "no authentication result from %s within %d ms", ch->addr,
                         ch->connect_timeout_ms);
        channel_fail(ch, &err);
        leave(ch);
        return;
    }
    int64_t next = -1;
    for (pending_call_t *p = ch->head, *n; p != NULL && !gone(ch); p = n) {
        n = p->next;
        if (p->deadline_ms < 0)
            continue;
        if (p->deadline_ms > now) {
            if (next < 0 || p->deadline_ms < next)
                next = p->deadline_ms;
            continue;
        }
        te_error_t err;
        te_error_set(&err, TE_ETIMEOUT, "no reply from %s to %s (call %llu) within %lld ms", ch->addr, p->what,
                     (unsigned long long)p->call_id, (long long)p->timeout_ms);
        pending_unlink(ch, p);
        te_rpc_reply_fn fn = p->fn;
        void *parg = p->arg;
        free(p);
        fn(parg, NULL, &err);
        n = ch->head; /* the callback may have changed the list: rescan (expired ones are gone) */
        next = -1;
    }
    if (!gone(ch))
        timer_arm(ch, next);
    leave(ch);
}

static te_status_t resolve(const char *hp, struct sockaddr_storage *ss, int *len, te_error_t *err)
{
    *len = (int)sizeof(*ss);
    if (evutil_parse_sockaddr_port(hp, (struct sockaddr *)ss, len) == 0)
        return TE_OK;
    char host[256];
    const char *colon = strrchr(hp, ':');
    if (colon == NULL || colon == hp || (size_t)(colon - hp) >= sizeof(host) || colon[1] == '\0')
        return te_error_set(err, TE_EINVAL, "bad RPC address '%s' (expected host:port)", hp);
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0 || res == NULL)
        return te_error_set(err, TE_EIO, "cannot resolve %s: %s", hp, gai_strerror(gai));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return TE_OK;
}

te_rpc_channel_t *rpc_channel_connect(struct event_base *base, const char *host_port, int timeout_ms,
                                      const te_security_t *sec, const te_rpc_channel_cbs_t *cbs, void *arg,
                                      te_error_t *err)
{
    struct sockaddr_storage ss;
    int sslen = 0;
    if (host_port == NULL) {
        te_error_set(err, TE_EINVAL, "no RPC address given");
        return NULL;
    }
    if (resolve(host_port, &ss, &sslen, err) != TE_OK)
        return NULL;
    te_rpc_channel_t *ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory connecting to %s", host_port);
        return NULL;
    }
    ch->base = base;
    ch->sec = sec != NULL && (sec->auth != NULL || sec->tls_client != NULL) ? sec : NULL;
    ch->timer_at = -1;
    ch->cbs = *cbs;
    ch->arg = arg;
    ch->connect_timeout_ms = timeout_ms;
    snprintf(ch->addr, sizeof(ch->addr), "%s", host_port);
    ch->timer = evtimer_new(base, on_timer, ch);
    ch->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (ch->timer == NULL || ch->bev == NULL)
        goto cleanup;
    bufferevent_setcb(ch->bev, on_read, NULL, on_event, ch);
    bufferevent_enable(ch->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(ch->bev, (struct sockaddr *)&ss, sslen) != 0) {
        te_error_set(err, TE_EIO, "cannot connect to %s: %s", host_port,
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        channel_destroy(ch);
        return NULL;
    }
    if (ch->sec != NULL && ch->sec->tls_client != NULL) {
        bufferevent_setcb(ch->bev, NULL, NULL, NULL, NULL);
        struct bufferevent *f = tls_client_filter_new(ch->sec->tls_client, ch->bev);
        if (f == NULL)
            goto cleanup;
        ch->bev = f;
        ch->tls = 1;
        bufferevent_setcb(f, on_read, NULL, on_event, ch);
        bufferevent_enable(f, EV_READ | EV_WRITE);
    }
    if (timeout_ms > 0)
        timer_arm(ch, te_clock_mono_ms() + timeout_ms);
    return ch;
cleanup:
    te_error_set(err, TE_ENOMEM, "out of memory connecting to %s", host_port);
    channel_destroy(ch);
    return NULL;
}

static void channel_destroy(te_rpc_channel_t *ch)
{
    auth_bev_cancel(ch->auth);
    pending_drop_all(ch);
    if (ch->bev != NULL)
        bufferevent_free(ch->bev);
    if (ch->timer != NULL)
        event_free(ch->timer);
    free(ch);
}

void rpc_channel_free(te_rpc_channel_t *ch)
{
    if (ch == NULL || ch->freed)
        return;
    if (ch->depth == 0) {
        channel_destroy(ch);
        return;
    }
    ch->freed = 1;
    auth_bev_cancel(ch->auth);
    ch->auth = NULL;
    bufferevent_disable(ch->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(ch->bev, NULL, NULL, NULL, NULL);
    evtimer_del(ch->timer);
    pending_drop_all(ch);
}

const char *rpc_channel_address(const te_rpc_channel_t *ch) { return ch->addr; }
int rpc_channel_is_open(const te_rpc_channel_t *ch) { return !ch->freed && ch->state == CH_OPEN; }
size_t rpc_channel_pending(const te_rpc_channel_t *ch) { return ch->n_pending; }

te_status_t rpc_channel_call(te_rpc_channel_t *ch, Te__RpcMessage *msg, int timeout_ms, te_rpc_reply_fn fn,
                             void *arg, te_error_t *err)
{
    if (!rpc_channel_is_open(ch))
        return te_error_set(err, TE_ESTATE, "connection to %s is %s", ch->addr,
                            ch->state == CH_CLOSED ? "closed" : "not open yet");
    pending_call_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory calling %s", ch->addr);
    msg->call_id = ++ch->next_call_id;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (frame_encode_message(msg, &buf, &len, err) != TE_OK) {
        free(p);
        return err != NULL ? err->code : TE_EINVAL;
    }
    int rc = bufferevent_write(ch->bev, buf, len);
    free(buf);
    if (rc != 0) {
        free(p);
        return te_error_set(err, TE_ENOMEM, "out of memory queueing a call to %s", ch->addr);
    }
    p->call_id = msg->call_id;
    p->deadline_ms = timeout_ms > 0 ? te_clock_mono_ms() + timeout_ms : -1;
    p->timeout_ms = timeout_ms;
    p->what = frame_message_body_name(msg);
    p->fn = fn;
    p->arg = arg;
    p->prev = ch->tail;
    if (ch->tail)
        ch->tail->next = p;
    else
        ch->head = p;
    ch->tail = p;
    ch->n_pending++;
    timer_arm(ch, p->deadline_ms);
    return TE_OK;
}

/*
 * rpc_client — the scheduler side of the control-plane RPC (tectl): one non-blocking
 * TCP socket driven with poll(2), frames encoded and decoded with frame_codec, calls
 * matched to their Response by call_id, pushes dispatched to a callback.
 *
 * Timeouts: timeout_ms < 0 waits without limit; 0 does not wait at all.
 * After an I/O error, a closed connection, a send timeout (a frame may be half
 * sent) or an undecodable reply the client is broken: every later call fails with
 * the original cause. A call that timed out waiting for its reply leaves the client
 * usable; the late reply is recognised by its call_id and dropped.
 * A Response with call_id 0 is the daemon's connection-level error (frame too large,
 * connection limit, undecodable frame) and fails the pending call with its message.
 *
 * Security (issue #6): optional TLS (OpenSSL over the same non-blocking socket, driven
 * by the same poll loop) and the shared-secret handshake (auth_handshake.h) run inside
 * rpc_client_connect_secure before it returns.
 *
 * Threading: a client is used by one thread at a time; no locks. The only global is
 * the default security pointer, set once at startup before threads connect. The push
 * handler runs on the caller's thread inside rpc_client_call/rpc_client_poll and must
 * not call rpc_client_call on the same client.
 */
#include "rpc/rpc_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/auth_handshake.h"
#include "common/clock.h"
#include "common/tls.h"
#include "common/log.h"
#include "rpc/frame_codec.h"

#define RPC_CLIENT_LOG_CTX    "rpc-client"
#define RPC_CLIENT_MAX_FRAME  ((size_t)64 * 1024 * 1024)
#define RPC_CLIENT_READ_CHUNK ((size_t)64 * 1024)
#define RPC_CLIENT_ADDR_MAX   300

struct te_rpc_client {
    int fd;
    char addr[RPC_CLIENT_ADDR_MAX];
    uint64_t next_call_id;
    frame_decoder_t dec;
    size_t in_pos, in_len; /* unconsumed bytes in[in_pos..in_len) */
    te_rpc_push_fn push_fn;
    void *push_arg;
    int broken;
    te_error_t broken_err;
    SSL *ssl;    /* NULL = plaintext */
    int got_any; /* some byte was received (detects an unexpected auth challenge) */
    int auth_on; /* this client completed the handshake */
    uint8_t in[RPC_CLIENT_READ_CHUNK];
};

/* -1 = no deadline. */
static int64_t deadline_from(int timeout_ms) { return timeout_ms < 0 ? -1 : te_clock_mono_ms() + timeout_ms; }

static int remaining_ms(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - te_clock_mono_ms();
    if (left <= 0)
        return 0;
    return left > 1000000000 ? 1000000000 : (int)left;
}

/* Marks the client unusable and copies the cause into err. */
static void client_break(te_rpc_client_t *c, te_error_t *err)
{
    c->broken = 1;
    c->broken_err = *err;
}

static te_status_t client_check(const te_rpc_client_t *c, te_error_t *err)
{
    if (!c->broken)
        return TE_OK;
    return te_error_set(err, c->broken_err.code, "connection to %s is unusable: %s", c->addr, c->broken_err.msg);
}

static const te_security_t *g_default_security;

void rpc_client_set_default_security(const te_security_t *sec) { g_default_security = sec; }
const te_security_t *rpc_client_default_security(void) { return g_default_security; }

/* One send / recv on the plain or TLS socket. > 0 bytes; 0 EOF (recv); -1 with errno
 * (EAGAIN: wait for *want). */
static ssize_t io_op(te_rpc_client_t *c, int is_send, void *buf, size_t len, short *want)
{
    *want = is_send ? POLLOUT : POLLIN;
    if (c->ssl == NULL)
        return is_send ? send(c->fd, buf, len, MSG_NOSIGNAL) : recv(c->fd, buf, len, 0);
    int cap = len > (size_t)(1 << 30) ? (1 << 30) : (int)len;
    ERR_clear_error();
    int n = is_send ? SSL_write(c->ssl, buf, cap) : SSL_read(c->ssl, buf, cap);
    if (n > 0)
        return n;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        *want = POLLIN;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want = POLLOUT;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0 || !is_send)
            return errno == 0 ? 0 : -1;
        return -1;
    default: errno = EPROTO; return -1;
    }
}

/* Waits for `events` on the socket; 1 ready, 0 timeout, -1 error (errno). */
static int client_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events, .revents = 0};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r;
    }
}

/* ---- connect ------------------------------------------------------------------ */

static te_status_t split_host_port(const char *hp, char *host, size_t hcap, char *port, size_t pcap,
                                   te_error_t *err)
{
    const char *h = hp, *colon;
    size_t hlen;
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (close == NULL || close[1] != ':')
            goto cleanup;
        h = hp + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (colon == NULL)
            goto cleanup;
        hlen = (size_t)(colon - hp);
    }
    if (hlen == 0 || hlen >= hcap || strlen(colon + 1) == 0 || strlen(colon + 1) >= pcap)
        goto cleanup;
    char *end;
    long pn = strtol(colon + 1, &end, 10);
    if (*end != '\0' || pn <= 0 || pn > 65535)
        goto cleanup;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, pcap, "%ld", pn);
    return TE_OK;
cleanup:
    return te_error_set(err, TE_EINVAL, "bad RPC address '%s' (expected host:port)", hp);
}

/* Non-blocking connect bounded by the deadline. Returns the fd or -1 (errno set). */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS)
            goto fail;
        int r = client_wait(fd, POLLOUT, deadline);
        if (r == 0)
            errno = ETIMEDOUT;
        if (r <= 0)
            goto fail;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            goto fail;
        if (soerr != 0) {
            errno = soerr;
            goto fail;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail : {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}
}

static te_status_t client_secure(te_rpc_client_t *c, const te_security_t *sec, int64_t deadline, int timeout_ms,
                                 te_error_t *err);

te_rpc_client_t *rpc_client_connect(const char *host_port, int timeout_ms, te_error_t *err)
{
    return rpc_client_connect_secure(host_port, timeout_ms, g_default_security, err);
}

te_rpc_client_t *rpc_client_connect_secure(const char *host_port, int timeout_ms, const te_security_t *sec,
                                           te_error_t *err)
{
    char host[256], port[16];
    struct addrinfo hints, *res = NULL;
    te_rpc_client_t *c = NULL;
    int64_t deadline = deadline_from(timeout_ms);
    int gai, last_errno = ECONNREFUSED;

    if (host_port == NULL || split_host_port(host_port, host, sizeof(host), port, sizeof(port), err) != TE_OK) {
        if (host_port == NULL)
            te_error_set(err, TE_EINVAL, "no RPC address given");
        goto cleanup;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory connecting to %s", host_port);
        goto cleanup;
    }
    c->fd = -1;
    snprintf(c->addr, sizeof(c->addr), "%s", host_port);
    frame_decoder_init(&c->dec, RPC_CLIENT_MAX_FRAME);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        te_error_set(err, TE_EIO, "cannot resolve %s: %s", host_port, gai_strerror(gai));
        goto cleanup;
    }
    for (struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
        c->fd = connect_one(ai, deadline);
        if (c->fd < 0)
            last_errno = errno;
    }
    if (c->fd < 0) {
        te_error_set(err, last_errno == ETIMEDOUT ? TE_ETIMEOUT : TE_EIO, "cannot connect to %s: %s", host_port,
                     strerror(last_errno));
        goto cleanup;
    }
    freeaddrinfo(res);
    res = NULL;
    if (sec != NULL && client_secure(c, sec, deadline, timeout_ms, err) != TE_OK)
        goto cleanup;
    return c;

cleanup:
    if (res != NULL)
        freeaddrinfo(res);
    rpc_client_free(c);
    return NULL;
}

void rpc_client_free(te_rpc_client_t *c)
{
    if (c == NULL)
        return;
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    frame_decoder_free(&c->dec);
    free(c);
}

const char *rpc_client_address(const te_rpc_client_t *c) { return c->addr; }
int rpc_client_fd(const te_rpc_client_t *c) { return c->fd; }

void rpc_client_set_push_handler(te_rpc_client_t *c, te_rpc_push_fn fn, void *arg)
{
    c->push_fn = fn;
    c->push_arg = arg;
}

/* ---- I/O ---------------------------------------------------------------------- */

static te_status_t client_send_all(te_rpc_client_t *c, const uint8_t *buf, size_t len, int64_t deadline,
                                   int timeout_ms, te_error_t *err)
{
    size_t off = 0;
    while (off < len) {
        short want;
        ssize_t n = io_op(c, 1, (void *)(buf + off), len - off, &want);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = client_wait(c->fd, want, deadline);
            if (r > 0)
                continue;
            if (r == 0) {
                te_error_set(err, TE_ETIMEOUT, "timed out after %d ms sending to %s", timeout_ms, c->addr);
                client_break(c, err);
                return TE_ETIMEOUT;
            }
        }
        te_error_set(err, TE_EIO, "send to %s failed: %s", c->addr, strerror(errno));
        client_break(c, err);
        return TE_EIO;
    }
    return TE_OK;
}

/* Reads the next message. 1 = *out set (caller frees), 0 = deadline passed, -1 = err
 * (the client is then broken). */
static int client_read_message(te_rpc_client_t *c, int64_t deadline, Te__RpcMessage **out, te_error_t *err)
{
    for (;;) {
        while (c->in_pos < c->in_len) {
            size_t used = 0, flen = 0;
            const uint8_t *frame = NULL;
            frame_result_t r =
                frame_decoder_feed(&c->dec, c->in + c->in_pos, c->in_len - c->in_pos, &used, &frame, &flen, err);
            c->in_pos += used;
            if (r == FRAME_ERROR) {
                if (!c->auth_on && c->in_len >= TE_AUTH_MAGIC_LEN &&
                    memcmp(c->in, TE_AUTH_MAGIC_HELLO, TE_AUTH_MAGIC_LEN) == 0)
                    te_error_set(err, TE_EPROTO,
                                 "the daemon at %s requires authentication: pass --token-file FILE (or set "
                                 "TE_TOKEN_FILE) with its shared secret",
                                 c->addr);
                else
                    te_error_prefix(err, "reply from %s", c->addr);
                client_break(c, err);
                return -1;
            }
            if (r == FRAME_READY) {
                /* Decoded before c->in is touched again (frame may point into it). */
                *out = frame_decode_message(frame, flen, err);
                if (*out == NULL) {
                    te_error_prefix(err, "reply from %s", c->addr);
                    client_break(c, err);
                    return -1;
                }
                return 1;
            }
        }
        c->in_pos = c->in_len = 0;
        short want;
        ssize_t n = io_op(c, 0, c->in, sizeof(c->in), &want);
        if (n > 0) {
            c->in_len = (size_t)n;
            c->got_any = 1;
            continue;
        }
        if (n == 0) {
            te_error_set(err, TE_EIO, "connection to %s closed by the peer", c->addr);
            client_break(c, err);
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int r = client_wait(c->fd, want, deadline);
            if (r > 0)
                continue;
            if (r == 0)
                return 0;
        }
        te_error_set(err, TE_EIO, "receive from %s failed: %s", c->addr, strerror(errno));
        client_break(c, err);
        return -1;
    }
}

static const char *error_code_name(Te__ErrorCode code)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__error_code__descriptor, (int)code);
    return v != NULL ? v->name : "UNKNOWN";
}

typedef enum msg_route {
    ROUTE_PUSH,       /* handed to the push handler */
    ROUTE_RESPONSE,   /* a Response with a non-zero call_id */
    ROUTE_CONN_ERROR, /* Response with call_id 0: err set */
    ROUTE_IGNORED,
} msg_route_t;

/* Dispatches a push, or classifies the message for the caller. Does not free it. */
static msg_route_t client_route(te_rpc_client_t *c, const Te__RpcMessage *m, te_error_t *err)
{
    frame_msg_kind_t kind = frame_message_kind(m);
    if (kind == FRAME_MSG_RESPONSE) {
        if (m->call_id != 0)
            return ROUTE_RESPONSE;
        te_error_set(err, TE_EPROTO, "%s reported an error: %s: %s", c->addr, error_code_name(m->response->code),
                     m->response->message);
        return ROUTE_CONN_ERROR;
    }
    if (kind == FRAME_MSG_PUSH || m->call_id == 0) {
        if (c->push_fn != NULL)
            c->push_fn(c->push_arg, c, m);
        else
            TE_DEBUG(RPC_CLIENT_LOG_CTX, "%s: push %s dropped (no handler)", c->addr, frame_message_body_name(m));
        return ROUTE_PUSH;
    }
    TE_WARN(RPC_CLIENT_LOG_CTX, "%s: unexpected %s message with call_id %llu ignored", c->addr,
            frame_message_body_name(m), (unsigned long long)m->call_id);
    return ROUTE_IGNORED;
}

Te__RpcMessage *rpc_client_call(te_rpc_client_t *c, Te__RpcMessage *msg, int timeout_ms, te_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int64_t deadline = deadline_from(timeout_ms);

    if (client_check(c, err) != TE_OK)
        return NULL;
    msg->call_id = ++c->next_call_id;
    uint64_t id = msg->call_id;
    const char *what = frame_message_body_name(msg);
    if (frame_encode_message(msg, &buf, &len, err) != TE_OK)
        return NULL;
    te_status_t st = client_send_all(c, buf, len, deadline, timeout_ms, err);
    free(buf);
    if (st != TE_OK)
        return NULL;

    for (;;) {
        Te__RpcMessage *m = NULL;
        int r = client_read_message(c, deadline, &m, err);
        if (r < 0)
            return NULL;
        if (r == 0) {
            te_error_set(err, TE_ETIMEOUT, "no reply from %s to %s (call %llu) within %d ms", c->addr, what,
                         (unsigned long long)id, timeout_ms);
            return NULL;
        }
        msg_route_t route = client_route(c, m, err);
        if (route == ROUTE_RESPONSE && m->call_id == id)
            return m;
        if (route == ROUTE_RESPONSE)
            TE_DEBUG(RPC_CLIENT_LOG_CTX, "%s: late reply to call %llu dropped", c->addr,
                     (unsigned long long)m->call_id);
        te__rpc_message__free_unpacked(m, NULL);
        if (route == ROUTE_CONN_ERROR)
            return NULL;
    }
}

te_status_t rpc_client_call_checked(te_rpc_client_t *c, Te__RpcMessage *msg, int timeout_ms,
                                    Te__RpcMessage **reply, Te__ErrorCode *code, te_error_t *err)
{
    if (code)
        *code = TE__ERROR_CODE__OK;
    if (reply)
        *reply = NULL;
    Te__RpcMessage *r = rpc_client_call(c, msg, timeout_ms, err);
    if (r == NULL)
        return err->code != TE_OK ? err->code : TE_EIO;
    if (r->body_case != TE__RPC_MESSAGE__BODY_RESPONSE || r->response == NULL) {
        te__rpc_message__free_unpacked(r, NULL);
        return te_error_set(err, TE_EPROTO, "%s: the reply is not a Response", c->addr);
    }
    if (r->response->code != TE__ERROR_CODE__OK) {
        if (code)
            *code = r->response->code;
        te_error_set(err, TE_EINVAL, "%s: %s", error_code_name(r->response->code), r->response->message);
        te__rpc_message__free_unpacked(r, NULL);
        return TE_EINVAL;
    }
    if (reply)
        *reply = r;
    else
        te__rpc_message__free_unpacked(r, NULL);
    return TE_OK;
}

int rpc_client_poll(te_rpc_client_t *c, int timeout_ms, te_error_t *err)
{
    int64_t deadline = deadline_from(timeout_ms);
    int handled = 0;

    if (client_check(c, err) != TE_OK)
        return -1;
    for (;;) {
        Te__RpcMessage *m = NULL;
        /* Once something arrived, only take what is already there. */
        int r = client_read_message(c, handled > 0 ? 0 : deadline, &m, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return handled;
        msg_route_t route = client_route(c, m, err);
        te__rpc_message__free_unpacked(m, NULL);
        if (route == ROUTE_CONN_ERROR)
            return -1;
        if (route == ROUTE_PUSH)
            handled++;
    }
}

/* ---- TLS and authentication ---------------------------------------------------- */

/* Reads exactly len bytes into buf (not through c->in). 1 ok, 0 deadline, -1 err. */
static int read_exact(te_rpc_client_t *c, uint8_t *buf, size_t len, size_t *got, int64_t deadline, te_error_t *err)
{
    *got = 0;
    while (*got < len) {
        short want;
        ssize_t n = io_op(c, 0, buf + *got, len - *got, &want);
        if (n > 0) {
            *got += (size_t)n;
            continue;
        }
        if (n == 0) {
            te_error_set(err, TE_EIO, "connection to %s closed by the peer during authentication", c->addr);
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int r = client_wait(c->fd, want, deadline);
            if (r > 0)
                continue;
            if (r == 0)
                return 0;
        }
        te_error_set(err, TE_EIO, "receive from %s failed: %s", c->addr, strerror(errno));
        return -1;
    }
    return 1;
}

/* The peer sent something other than the expected handshake bytes: most likely a
 * Response frame with the daemon's reason. Returns its text in err. */
static void explain_refusal(te_rpc_client_t *c, const uint8_t *got, size_t n, int64_t deadline,
                            const char *fallback, te_error_t *err)
{
    memcpy(c->in, got, n);
    c->in_pos = 0;
    c->in_len = n;
    c->auth_on = 1; /* no "requires authentication" hint: we did authenticate */
    Te__RpcMessage *m = NULL;
    te_error_t e;
    te_error_clear(&e);
    int64_t short_deadline = te_clock_mono_ms() + 2000;
    if (deadline >= 0 && deadline < short_deadline)
        short_deadline = deadline;
    if (client_read_message(c, short_deadline, &m, &e) == 1 && frame_message_kind(m) == FRAME_MSG_RESPONSE)
        te_error_set(err, TE_EPROTO, "%s refused the connection: %s: %s", c->addr,
                     error_code_name(m->response->code), m->response->message);
    else
        te_error_set(err, TE_EPROTO, "%s: %s", c->addr, fallback);
    if (m != NULL)
        te__rpc_message__free_unpacked(m, NULL);
}

static te_status_t client_tls(te_rpc_client_t *c, SSL_CTX *ctx, int64_t deadline, int timeout_ms, te_error_t *err)
{
    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
        return te_error_set(err, TE_ENOMEM, "cannot set up TLS for %s", c->addr);
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r == 1)
            return TE_OK;
        int e = SSL_get_error(c->ssl, r);
        short want = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (want != 0) {
            int w = client_wait(c->fd, want, deadline);
            if (w > 0)
                continue;
            if (w == 0)
                return te_error_set(err, TE_ETIMEOUT, "TLS handshake with %s timed out after %d ms", c->addr,
                                    timeout_ms);
        }
        char text[300];
        long vr = SSL_get_verify_result(c->ssl);
        tls_error_string(text, sizeof(text));
        if (vr != X509_V_OK)
            return te_error_set(err, TE_EIO, "TLS handshake with %s failed: server certificate not trusted: %s",
                                c->addr, X509_verify_cert_error_string(vr));
        return te_error_set(err, TE_EIO, "TLS handshake with %s failed: %s (is TLS enabled on the daemon?)",
                            c->addr, e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ? "connection closed" : text);
    }
}

static te_status_t client_auth(te_rpc_client_t *c, const te_auth_secret_t *secret, int64_t deadline,
                               int timeout_ms, te_error_t *err)
{
    uint8_t ch[TE_AUTH_CHALLENGE_LEN], ans[TE_AUTH_ANSWER_LEN], conf[TE_AUTH_CONFIRM_LEN];
    uint8_t cn[TE_AUTH_NONCE_LEN];
    size_t got;
    int r = read_exact(c, ch, sizeof(ch), &got, deadline, err);
    if (r == 0)
        return te_error_set(err, TE_ETIMEOUT,
                            "no authentication challenge from %s within %d ms (is security.auth.token-file set on "
                            "the daemon?)",
                            c->addr, timeout_ms);
    if (r < 0)
        return TE_EIO;
    if (memcmp(ch, TE_AUTH_MAGIC_HELLO, TE_AUTH_MAGIC_LEN) != 0) {
        explain_refusal(c, ch, got, deadline, "did not send an authentication challenge", err);
        return TE_EPROTO;
    }
    if (auth_client_answer(secret, ch, ans, cn, err) != TE_OK)
        return TE_EPROTO;
    if (client_send_all(c, ans, sizeof(ans), deadline, timeout_ms, err) != TE_OK)
        return TE_EIO;
    r = read_exact(c, conf, TE_AUTH_MAGIC_LEN, &got, deadline, err);
    if (r == 0)
        return te_error_set(err, TE_ETIMEOUT, "no authentication result from %s within %d ms", c->addr,
                            timeout_ms);
    if (r < 0)
        return TE_EIO;
    if (memcmp(conf, TE_AUTH_MAGIC_CONFIRM, TE_AUTH_MAGIC_LEN) != 0) {
        explain_refusal(c, conf, got, deadline, "authentication failed: the daemon rejected the token", err);
        return TE_EPROTO;
    }
    r = read_exact(c, conf + TE_AUTH_MAGIC_LEN, TE_AUTH_MAC_LEN, &got, deadline, err);
    if (r <= 0)
        return r == 0 ? te_error_set(err, TE_ETIMEOUT, "no authentication result from %s", c->addr) : TE_EIO;
    if (auth_client_check(secret, ch + TE_AUTH_MAGIC_LEN, cn, conf, err) != TE_OK) {
        te_error_prefix(err, "%s", c->addr);
        return TE_EPROTO;
    }
    c->auth_on = 1;
    return TE_OK;
}

static te_status_t client_secure(te_rpc_client_t *c, const te_security_t *sec, int64_t deadline, int timeout_ms,
                                 te_error_t *err)
{
    if (sec->tls_client != NULL && client_tls(c, sec->tls_client, deadline, timeout_ms, err) != TE_OK)
        return err != NULL ? err->code : TE_EIO;
    if (sec->auth != NULL && client_auth(c, sec->auth, deadline, timeout_ms, err) != TE_OK)
        return err != NULL ? err->code : TE_EPROTO;
    c->broken = 0;
    return TE_OK;
}

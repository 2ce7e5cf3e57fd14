/*
 * fuzz_live — helpers for the harnesses that fuzz live servers in-process: a real
 * loopback TCP connection per input (reset on close, so no TIME_WAIT piles up), the
 * server's event_base pumped by the harness thread between non-blocking sends and
 * receives, and the client half of the authentication handshake.
 * Header-only (static functions, one copy per harness).
 *
 * Threading: the harness thread runs the server's event_base; the server's other
 * threads (if any) run on their own.
 */
#ifndef TE_FUZZ_LIVE_H
#define TE_FUZZ_LIVE_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/auth_handshake.h"

#define FUZZ_IDLE_ROUNDS 64   /* loop turns without progress before giving up */
#define FUZZ_MAX_ROUNDS  4096 /* hard bound per input */

/* A non-blocking connection to 127.0.0.1:port that closes with a reset. */
static inline int fuzz_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct linger lg = {1, 0};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one)); /* a server's Nagle would wait for our ACK */
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline void fuzz_pump(struct event_base *b, int rounds)
{
    for (int i = 0; i < rounds; i++)
        event_base_loop(b, EVLOOP_NONBLOCK);
}

/* Sends all of d, pumping the server when the socket is full. 0, or -1 when the server
 * closed or stopped reading. */
static inline int fuzz_send(struct event_base *b, int fd, const uint8_t *d, size_t n)
{
    int idle = 0;
    while (n > 0 && idle < FUZZ_IDLE_ROUNDS) {
        ssize_t w = send(fd, d, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            d += w;
            n -= (size_t)w;
            idle = 0;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)
            return -1;
        uint8_t sink[4096];
        while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) /* keep its output moving */
            ;
        fuzz_pump(b, 1);
        idle++;
    }
    return n == 0 ? 0 : -1;
}

/* Receives exactly n bytes (pumping). 0, or -1 on EOF / no progress. */
static inline int fuzz_recv_exact(struct event_base *b, int fd, uint8_t *out, size_t n)
{
    size_t got = 0;
    int idle = 0;
    while (got < n && idle < FUZZ_IDLE_ROUNDS) {
        ssize_t r = recv(fd, out + got, n - got, MSG_DONTWAIT);
        if (r > 0) {
            got += (size_t)r;
            idle = 0;
            continue;
        }
        if (r == 0)
            return -1;
        fuzz_pump(b, 1);
        idle++;
    }
    return got == n ? 0 : -1;
}

/* Pumps and reads (discarding) until the server closes, goes quiet, or the bound. */
static inline void fuzz_drain(struct event_base *b, int fd)
{
    int idle = 0;
    for (int round = 0; round < FUZZ_MAX_ROUNDS && idle < FUZZ_IDLE_ROUNDS; round++) {
        uint8_t sink[16384];
        ssize_t r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
        if (r == 0)
            return;
        if (r > 0) {
            idle = 0;
            continue;
        }
        fuzz_pump(b, 1);
        idle++;
    }
}

/* The client half of the challenge-response (auth_handshake.h). 0 when authenticated. */
static inline int fuzz_authenticate(struct event_base *b, int fd, const te_auth_secret_t *s)
{
    uint8_t ch[TE_AUTH_CHALLENGE_LEN], ans[TE_AUTH_ANSWER_LEN], nonce[TE_AUTH_NONCE_LEN],
        conf[TE_AUTH_CONFIRM_LEN];
    te_error_t e;
    if (fuzz_recv_exact(b, fd, ch, sizeof(ch)) != 0 || auth_client_answer(s, ch, ans, nonce, &e) != TE_OK ||
        fuzz_send(b, fd, ans, sizeof(ans)) != 0 || fuzz_recv_exact(b, fd, conf, sizeof(conf)) != 0)
        return -1;
    return auth_client_check(s, ch + TE_AUTH_MAGIC_LEN, nonce, conf, &e) == TE_OK ? 0 : -1;
}

/* One input against a server listening on `port` whose loop is `b`: connect, (auth),
 * send, half-close, drain, reset, let the server reap the connection. */
static inline void fuzz_session(struct event_base *b, int port, const te_auth_secret_t *auth, const uint8_t *d,
                                size_t n)
{
    int fd = fuzz_connect(port);
    if (fd < 0)
        return;
    fuzz_pump(b, 2); /* accept */
    if (auth == NULL || fuzz_authenticate(b, fd, auth) == 0) {
        if (fuzz_send(b, fd, d, n) == 0)
            shutdown(fd, SHUT_WR);
        fuzz_drain(b, fd);
    }
    close(fd);
    fuzz_pump(b, 4);
}

#endif

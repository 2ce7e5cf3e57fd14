/*
 * source_socket_text — the `socket_text` source, the seed's SocketTextStreamFunction:
 * connects to host:port, reads text, splits it by the delimiter and emits each piece
 * (without the delimiter; a trailing "\r" stripped). Data left after the last delimiter
 * at the end of the stream is emitted as a final record. Output: (line:string).
 *
 * Parameters: host (required), port (required, 1..65535), delimiter (default "\n"),
 * max_retries (default 0; -1 = forever): how many times to reconnect after the server
 * closes the connection or a connect fails, waiting retry_delay_ms (default 500)
 * between attempts. When the retries are used up, a lost connection ends the source
 * (TE_SOURCE_END) and a failed connect fails it with a message naming host:port.
 *
 * Threading: a BLOCKING source. `run` runs on the task's source thread; `cancel` may be
 * called from any thread: it sets an atomic flag and, under `lock`, shutdown(2)s the
 * current socket so a blocked poll/recv returns at once. `run` also polls with a
 * 200 ms timeout and re-checks the flag. `lock` guards only `fd` (run sets/closes it,
 * cancel shuts it down); nothing else is shared.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "operators/op_row.h"

#define SOCKET_TEXT_READ    65536
#define SOCKET_TEXT_POLL_MS 200

typedef struct socket_text {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *host;
    char port[8];
    char delim;
    int64_t max_retries;
    int64_t retry_delay_ms;
    atomic_int cancelled;
    pthread_mutex_t lock;
    int fd; /* guarded by lock */
    uint8_t *rbuf;
    op_buf_t line; /* bytes of a record not yet complete */
    te_row_builder_t row;
} socket_text_t;

static void *socket_text_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"host", "port", "delimiter", "max_retries", "retry_delay_ms", NULL};
    op_setup_t s = {api, ctx, "socket_text", err, errlen};
    const char *host;
    int64_t port, retries, delay;
    char delim;
    if (op_check_keys(&s, allowed) != 0 || op_get_string(&s, "host", 1, NULL, &host) != 0 ||
        op_get_int(&s, "port", 1, 0, 1, 65535, &port) != 0 ||
        op_get_delimiter(&s, "delimiter", '\n', &delim) != 0 ||
        op_get_int(&s, "max_retries", 0, 0, -1, 1000000, &retries) != 0 ||
        op_get_int(&s, "retry_delay_ms", 0, 500, 0, 3600000, &delay) != 0 ||
        op_declare_schema(&s, NULL, &op_text_line_schema) != 0)
        return NULL;
    if (host[0] == '\0') {
        op_errorf(&s, "parameter 'host' is empty");
        return NULL;
    }
    socket_text_t *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    st->api = api;
    st->ctx = ctx;
    st->host = host;
    snprintf(st->port, sizeof(st->port), "%d", (int)port);
    st->delim = delim;
    st->max_retries = retries;
    st->retry_delay_ms = delay;
    st->fd = -1;
    atomic_init(&st->cancelled, 0);
    pthread_mutex_init(&st->lock, NULL);
    return st;
}

static int socket_text_open(void *self, char *err, size_t errlen)
{
    socket_text_t *st = self;
    st->rbuf = malloc(SOCKET_TEXT_READ);
    if (st->rbuf == NULL || op_buf_reserve(&st->line, 4096) != 0) {
        snprintf(err, errlen, "operator 'socket_text': out of memory");
        return -1;
    }
    return 0;
}

static int is_cancelled(socket_text_t *st)
{
    return atomic_load(&st->cancelled) || st->api->is_cancelled(st->ctx);
}

static void set_fd(socket_text_t *st, int fd)
{
    pthread_mutex_lock(&st->lock);
    st->fd = fd;
    pthread_mutex_unlock(&st->lock);
}

static void close_fd(socket_text_t *st)
{
    pthread_mutex_lock(&st->lock);
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
    pthread_mutex_unlock(&st->lock);
}

/* Waits up to the retry delay, returning early on cancel. */
static void sleep_cancellable(socket_text_t *st)
{
    int64_t left = st->retry_delay_ms;
    while (left > 0 && !is_cancelled(st)) {
        int ms = left > 100 ? 100 : (int)left;
        poll(NULL, 0, ms);
        left -= ms;
    }
}

/* Connects (non-blocking connect + poll so cancel is honoured). Returns 0 with st->fd
 * set, 1 when cancelled, -1 with a message in msg. */
static int socket_text_connect(socket_text_t *st, char *msg, size_t msglen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(st->host, st->port, &hints, &res);
    if (gai != 0) {
        snprintf(msg, msglen, "cannot resolve '%s': %s", st->host, gai_strerror(gai));
        return -1;
    }
    int rc = -1;
    snprintf(msg, msglen, "cannot connect to %s:%s", st->host, st->port);
    for (struct addrinfo *ai = res; ai && rc != 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
            continue;
        set_fd(st, fd);
        int e = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            e = errno;
            while (e == EINPROGRESS) {
                if (is_cancelled(st)) {
                    rc = 1;
                    break;
                }
                struct pollfd pfd = {fd, POLLOUT, 0};
                int n = poll(&pfd, 1, SOCKET_TEXT_POLL_MS);
                if (n < 0 && errno != EINTR) {
                    e = errno;
                    break;
                }
                if (n > 0) {
                    socklen_t sl = sizeof(e);
                    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) != 0)
                        e = errno;
                }
            }
        }
        if (rc == 1) {
            close_fd(st);
            break;
        }
        if (e == 0) {
            rc = 0;
            break;
        }
        snprintf(msg, msglen, "cannot connect to %s:%s: %s", st->host, st->port, strerror(e));
        close_fd(st);
    }
    freeaddrinfo(res);
    /* cancel() may have raced with the connect: honour it now. */
    if (rc == 0 && is_cancelled(st)) {
        close_fd(st);
        rc = 1;
    }
    return rc;
}

/* Emits one record (strip a trailing '\r'). Returns the emit result. */
static int socket_text_emit(socket_text_t *st, te_output_t *out, const uint8_t *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    return op_emit_text(st->api, st->ctx, out, &st->row, p, (uint32_t)n, TE_NO_TIMESTAMP);
}

/* Reads until EOF (0), cancellation (1) or an error (-1, message in msg). */
static int socket_text_read_loop(socket_text_t *st, te_output_t *out, char *msg, size_t msglen)
{
    int fd = st->fd; /* only run() changes fd, so reading it unlocked here is safe */
    for (;;) {
        if (is_cancelled(st))
            return 1;
        struct pollfd pfd = {fd, POLLIN, 0};
        int pn = poll(&pfd, 1, SOCKET_TEXT_POLL_MS);
        if (pn < 0 && errno != EINTR) {
            snprintf(msg, msglen, "poll on %s:%s failed: %s", st->host, st->port, strerror(errno));
            return -1;
        }
        if (pn <= 0)
            continue;
        ssize_t n = recv(fd, st->rbuf, SOCKET_TEXT_READ, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            if (is_cancelled(st))
                return 1;
            snprintf(msg, msglen, "reading from %s:%s failed: %s", st->host, st->port, strerror(errno));
            return -1;
        }
        if (n == 0)
            return is_cancelled(st) ? 1 : 0;
        const uint8_t *p = st->rbuf, *end = st->rbuf + n;
        while (p < end) {
            const uint8_t *d = memchr(p, (unsigned char)st->delim, (size_t)(end - p));
            if (d == NULL) {
                if (op_buf_append(&st->line, p, (size_t)(end - p)) != 0) {
                    snprintf(msg, msglen, "out of memory buffering a line from %s:%s", st->host, st->port);
                    return -1;
                }
                break;
            }
            int rc;
            if (st->line.len > 0) {
                if (op_buf_append(&st->line, p, (size_t)(d - p)) != 0) {
                    snprintf(msg, msglen, "out of memory buffering a line from %s:%s", st->host, st->port);
                    return -1;
                }
                rc = socket_text_emit(st, out, st->line.data, st->line.len);
                st->line.len = 0;
            } else {
                rc = socket_text_emit(st, out, p, (size_t)(d - p));
            }
            if (rc != 0)
                return 1;
            p = d + 1;
        }
    }
}

static te_source_status_t socket_text_run(void *self, te_output_t *out)
{
    socket_text_t *st = self;
    char msg[512];
    int64_t attempt = 0;
    te_source_status_t result = TE_SOURCE_END;
    while (!is_cancelled(st)) {
        int rc = socket_text_connect(st, msg, sizeof(msg));
        if (rc == 1)
            break;
        if (rc == 0) {
            st->api->log(st->ctx, TE_OP_INFO, "socket_text: connected to %s:%s", st->host, st->port);
            rc = socket_text_read_loop(st, out, msg, sizeof(msg));
            close_fd(st);
            if (rc == 1)
                break;
            if (rc < 0) {
                st->api->fail(st->ctx, "operator 'socket_text': %s", msg);
                result = TE_SOURCE_ERROR;
                break;
            }
        }
        /* Connection lost (rc 0) or connect failed (rc -1): retry while allowed. */
        if (st->max_retries >= 0 && attempt >= st->max_retries) {
            if (rc < 0) {
                st->api->fail(st->ctx, "operator 'socket_text': %s", msg);
                result = TE_SOURCE_ERROR;
            }
            break;
        }
        attempt++;
        st->api->log(st->ctx, TE_OP_WARN, "socket_text: %s; retry %lld in %lld ms",
                     rc < 0 ? msg : "connection closed", (long long)attempt, (long long)st->retry_delay_ms);
        sleep_cancellable(st);
    }
    /* Flush a trailing record that had no delimiter. */
    if (result == TE_SOURCE_END && st->line.len > 0 && !is_cancelled(st))
        socket_text_emit(st, out, st->line.data, st->line.len);
    st->line.len = 0;
    return result;
}

static void socket_text_cancel(void *self)
{
    socket_text_t *st = self;
    atomic_store(&st->cancelled, 1);
    pthread_mutex_lock(&st->lock);
    if (st->fd >= 0)
        shutdown(st->fd, SHUT_RDWR);
    pthread_mutex_unlock(&st->lock);
}

static void socket_text_dispose(void *self)
{
    socket_text_t *st = self;
    if (st == NULL)
        return;
    close_fd(st);
    pthread_mutex_destroy(&st->lock);
    free(st->rbuf);
    op_buf_release(&st->line);
    te_row_builder_free(&st->row);
    free(st);
}

const te_operator_def_t op_socket_text_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "socket_text",
    .kind = TE_OP_SOURCE,
    .blocking_source = 1,
    .setup = socket_text_setup,
    .open = socket_text_open,
    .run = socket_text_run,
    .cancel = socket_text_cancel,
    .dispose = socket_text_dispose,
};

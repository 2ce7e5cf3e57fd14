/*
 * sink_socket — the `socket_sink` operator: writes each row as text (fields separated
 * by tabs, te_row_format_tsv) plus a delimiter to a TCP server (the counterpart of
 * socket_text; Flink's SocketClientSink).
 *
 * Parameters: host (required), port (required, 1..65535), delimiter (default "\n"),
 * max_retries (connect attempts after the first, default 0), retry_delay_ms (default
 * 500). open connects; records go through a 64 KiB buffer (one send per full buffer);
 * close flushes and closes. A refused connection or a failed write fails the task with
 * a message naming host:port.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "operators/op_row.h"

#define SOCKET_SINK_BUF (64 * 1024)

typedef struct socket_sink {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *host;
    int64_t port, retries, delay_ms;
    char delim;
    int fd;
    const te_schema_t *schema;
    op_buf_t text;
    uint8_t buf[SOCKET_SINK_BUF];
    size_t len;
} socket_sink_t;

static void *socket_sink_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"host", "port", "delimiter", "max_retries", "retry_delay_ms", NULL};
    op_setup_t s = {api, ctx, "socket_sink", err, errlen};
    const char *host;
    int64_t port, retries, delay;
    char delim;
    if (op_check_keys(&s, allowed) != 0 || op_get_string(&s, "host", 1, NULL, &host) != 0 ||
        op_get_int(&s, "port", 1, 0, 1, 65535, &port) != 0 ||
        op_get_delimiter(&s, "delimiter", '\n', &delim) != 0 ||
        op_get_int(&s, "max_retries", 0, 0, 0, 1000000, &retries) != 0 ||
        op_get_int(&s, "retry_delay_ms", 0, 500, 0, 3600000, &delay) != 0)
        return NULL;
    const te_schema_t *in = op_input_schema(&s, 0);
    if (in == NULL)
        return NULL;
    if (host[0] == '\0') {
        op_errorf(&s, "parameter 'host' is empty");
        return NULL;
    }
    socket_sink_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    k->api = api;
    k->ctx = ctx;
    k->schema = in;
    k->host = host;
    k->port = port;
    k->retries = retries;
    k->delay_ms = delay;
    k->delim = delim;
    k->fd = -1;
    return k;
}

static int connect_once(socket_sink_t *k, char *why, size_t whylen)
{
    char port[8];
    snprintf(port, sizeof(port), "%lld", (long long)k->port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(k->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "%s", gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        snprintf(why, whylen, "%s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    k->fd = fd;
    return fd < 0 ? -1 : 0;
}

static int socket_sink_open(void *self, char *err, size_t errlen)
{
    socket_sink_t *k = self;
    char why[256] = "unknown error";
    for (int64_t attempt = 0; attempt <= k->retries; attempt++) {
        if (connect_once(k, why, sizeof(why)) == 0)
            return 0;
        if (attempt < k->retries && !k->api->is_cancelled(k->ctx)) {
            struct timespec ts = {k->delay_ms / 1000, (k->delay_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    snprintf(err, errlen, "operator 'socket_sink': cannot connect to %s:%lld: %s", k->host, (long long)k->port,
             why);
    return -1;
}

static int flush_buf(socket_sink_t *k)
{
    size_t off = 0;
    while (off < k->len) {
        ssize_t n = send(k->fd, k->buf + off, k->len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            k->api->fail(k->ctx, "operator 'socket_sink': writing to %s:%lld failed: %s", k->host,
                         (long long)k->port, strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    k->len = 0;
    return 0;
}

static int socket_sink_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    (void)out;
    socket_sink_t *k = self;
    if (op_row_text(&k->text, rec, k->schema, '\t') != 0) {
        k->api->fail(k->ctx, "operator 'socket_sink': out of memory");
        return -1;
    }
    te_record_t t = {k->text.data, (uint32_t)k->text.len, rec->timestamp};
    rec = &t;
    size_t need = (size_t)rec->len + 1;
    if (k->len + need > sizeof(k->buf) && flush_buf(k) != 0)
        return -1;
    if (need > sizeof(k->buf)) { /* a huge record: send it through in pieces */
        const uint8_t *p = rec->data;
        size_t left = rec->len;
        while (left > 0) {
            size_t c = left < sizeof(k->buf) ? left : sizeof(k->buf);
            memcpy(k->buf, p, c);
            k->len = c;
            if (flush_buf(k) != 0)
                return -1;
            p += c;
            left -= c;
        }
        k->buf[k->len++] = (uint8_t)k->delim;
        return 0;
    }
    memcpy(k->buf + k->len, rec->data, rec->len);
    k->len += rec->len;
    k->buf[k->len++] = (uint8_t)k->delim;
    return 0;
}

static int socket_sink_close(void *self, te_output_t *out)
{
    (void)out;
    socket_sink_t *k = self;
    int rc = k->fd >= 0 ? flush_buf(k) : 0;
    if (k->fd >= 0) {
        shutdown(k->fd, SHUT_WR);
        close(k->fd);
        k->fd = -1;
    }
    return rc;
}

static void socket_sink_dispose(void *self)
{
    socket_sink_t *k = self;
    if (k == NULL)
        return;
    if (k->fd >= 0)
        close(k->fd);
    op_buf_release(&k->text);
    free(k);
}

const te_operator_def_t op_socket_sink_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "socket_sink",
    .kind = TE_OP_ONE_INPUT,
    .setup = socket_sink_setup,
    .open = socket_sink_open,
    .process_element = socket_sink_process,
    .close = socket_sink_close,
    .dispose = socket_sink_dispose,
};

/*
 * partition_client — connections to producer daemons, one per address, multiplexing
 * remote input channels.
 *
 * Threading: per I/O thread a `cli_thread` holds that thread's connections (by address)
 * and channel records (by receiver id); only that thread touches them (and free() after
 * the threads stopped). Transport calls (task threads) retain the channel and submit a
 * closure; the closure finds the channel record by receiver id. A channel record holds
 * the transport's channel reference until the channel ended, failed or was released.
 *
 * Receiving: a BufferResponse's payload goes straight into the buffer its channel
 * reserves for it (remote_input_channel_reserve_buffer, once the 39-byte fixed part is
 * decoded) and is committed when complete (cn->rx holds the payload in progress; one
 * per connection, frames being in order). On a plain connection on_readable reads the
 * socket itself: the rest of a large payload with readv straight into that buffer plus
 * the next frame's fixed part into the input evbuffer, anything else in large chunks
 * into the evbuffer, from which conn_process takes the frames (copying only what was
 * read ahead of a payload's buffer).
 *
 * Security (issue #6): with TLS the connection is an OpenSSL filter bufferevent over
 * the socket one (and read through it, not with on_readable: OpenSSL decrypts into the
 * filter's input evbuffer, from which payloads are copied into their buffers); with a
 * token the client side of the challenge-response runs once connected, and messages
 * queued meanwhile wait in cn->pending.
 */
#include "net/partition_client.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/auth_handshake.h"
#include "common/log.h"
#include "common/tls.h"
#include "net/net_codec.h"
#include "net/net_frame_reader.h"
#include "net/net_id_map.h"

#define CTX "partition-client"

typedef struct cli_conn cli_conn_t;
typedef struct cli_thread cli_thread_t;

typedef struct cli_chan {
    te_remote_input_channel_t *ch; /* the transport's reference */
    cli_conn_t *conn;
    cli_thread_t *th;
    uint8_t rid[TE_NET_ID_LEN];
    int64_t credit_outstanding; /* credit the server holds for us */
    int64_t backoff_ms;
    int active; /* a PartitionRequest is out (not waiting for a retry) */
    struct event *retry;
    struct cli_chan *prev, *next; /* conn's list */
} cli_chan_t;

/* The BufferResponse whose payload is being received. */
typedef struct cli_rx {
    int active;
    uint8_t rid[TE_NET_ID_LEN];
    te_remote_input_channel_t *ch; /* a reference while buf is reserved, else NULL */
    te_buffer_t *buf;              /* reserved for the payload; NULL: the payload is skipped */
    uint32_t size, got, backlog;
} cli_rx_t;

struct cli_conn {
    cli_thread_t *th;
    char address[256];
    struct bufferevent *bev;
    struct event *rev; /* our own read event once connected (see on_readable) */
    cli_chan_t *chans;
    uint32_t n_chans;
    te_auth_bev_t *auth;      /* pending authentication handshake, or NULL */
    struct evbuffer *pending; /* output held until authenticated (NULL = none / done) */
    int tls;
    cli_rx_t rx;
    uint32_t avg_payload; /* running average of BufferResponse payload sizes (on_readable) */
    int sent_buffer_size; /* a NewBufferSize went out (a Protocol error then names debloating) */
    cli_conn_t *prev, *next;
};

struct cli_thread {
    te_partition_client_t *client;
    te_net_io_thread_t *io;
    cli_conn_t *conns;
    net_id_map_t chans;        /* receiver id -> cli_chan_t */
    te_ric_wake_batch_t wakes; /* gate wake-ups of the read callback in progress */
};

struct te_partition_client {
    cli_thread_t *th;
    int n;
    uint32_t max_frame;
    te_channel_transport_t tr;
    const te_security_t *sec;                        /* borrowed; NULL = plaintext, no authentication */
    _Atomic uint64_t payload_direct, payload_copied; /* partition_client_payload_bytes */
};

static cli_thread_t *thread_for(te_partition_client_t *c, const char *address)
{
    uint32_t h = 2166136261u;
    for (const char *p = address; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &c->th[h % (uint32_t)c->n];
}

static void send_msg(cli_conn_t *cn, const te_net_msg_t *m)
{
    uint8_t buf[128];
    size_t n = net_codec_encode(m, buf, sizeof(buf));
    if (n > 0 && cn->pending)
        evbuffer_add(cn->pending, buf, n);
    else if (n > 0 && cn->bev)
        bufferevent_write(cn->bev, buf, n);
}

static const char *chan_what(cli_chan_t *cc, char *buf, size_t len)
{
    char hex[TE_ID_HEX_LEN + 1];
    snprintf(buf, len, "partition %s subpartition %u",
             te_id_to_hex(remote_input_channel_partition_id(cc->ch), hex),
             remote_input_channel_subpartition(cc->ch));
    return buf;
}

/* Drops the record (and the transport's channel reference). */
static void chan_forget(cli_chan_t *cc)
{
    net_id_map_remove(&cc->th->chans, cc->rid);
    if (cc->conn) {
        cli_conn_t *cn = cc->conn;
        if (cc->prev)
            cc->prev->next = cc->next;
        else
            cn->chans = cc->next;
        if (cc->next)
            cc->next->prev = cc->prev;
        cn->n_chans--;
    }
    if (cc->retry)
        event_free(cc->retry);
    remote_input_channel_unref(cc->ch);
    free(cc);
}

static void conn_free(cli_conn_t *cn)
{
    if (cn->rx.ch != NULL) {
        remote_input_channel_abort_buffer(cn->rx.ch, cn->rx.buf);
        remote_input_channel_unref(cn->rx.ch);
    }
    if (cn->prev)
        cn->prev->next = cn->next;
    else
        cn->th->conns = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    if (cn->rev)
        event_free(cn->rev);
    auth_bev_cancel(cn->auth);
    if (cn->pending)
        evbuffer_free(cn->pending);
    if (cn->bev)
        bufferevent_free(cn->bev);
    free(cn);
}

/* Fails every channel of the connection with `why` and closes it. */
static void conn_fail(cli_conn_t *cn, const char *why)
{
    while (cn->chans) {
        cli_chan_t *cc = cn->chans;
        char what[128], cause[TE_ERROR_MSG_MAX];
        snprintf(cause, sizeof(cause), "Connection to producer %.120s failed (%.200s) while reading %s",
                 cn->address, why, chan_what(cc, what, sizeof(what)));
        remote_input_channel_on_failure(cc->ch, cause);
        chan_forget(cc);
    }
    conn_free(cn);
}

static void maybe_close_idle(cli_conn_t *cn)
{
    if (cn->n_chans == 0) {
        te_net_msg_t m;
        net_msg_receiver(&m, TE_NET_CLOSE_REQUEST, NULL, 0);
        send_msg(cn, &m);
        conn_free(cn);
    }
}

/* Buffer debloating: the channel's announced size, if any, to the producer. */
static void send_buffer_size(cli_chan_t *cc)
{
    uint32_t size = remote_input_channel_buffer_size(cc->ch);
    if (size == 0)
        return;
    te_net_msg_t m;
    net_msg_receiver(&m, TE_NET_NEW_BUFFER_SIZE, cc->rid, size);
    send_msg(cc->conn, &m);
    cc->conn->sent_buffer_size = 1;
}

static void send_request(cli_chan_t *cc)
{
    uint32_t credit = remote_input_channel_take_credit(cc->ch);
    cc->credit_outstanding += credit;
    te_net_msg_t m;
    uint32_t flag = remote_input_channel_is_floating(cc->ch) ? TE_NET_CREDIT_FLOATING : 0;
    net_msg_partition_request(&m, remote_input_channel_partition_id(cc->ch)->b,
                              remote_input_channel_subpartition(cc->ch), cc->rid,
                              (uint32_t)cc->credit_outstanding | flag);
    send_msg(cc->conn, &m);
    cc->active = 1;
    send_buffer_size(cc);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cli_chan_t *cc = arg;
    if (remote_input_channel_is_done(cc->ch)) {
        cli_conn_t *cn = cc->conn;
        chan_forget(cc);
        maybe_close_idle(cn);
        return;
    }
    send_request(cc);
}

/* Returns 1 when the connection was closed (freed). */
static int handle_error_response(cli_conn_t *cn, const te_net_msg_t *m)
{
    char msg[TE_NET_ERROR_MSG_MAX + 1];
    memcpy(msg, m->payload, m->size);
    msg[m->size] = '\0';
    static const uint8_t zero[TE_NET_ID_LEN];
    if (memcmp(m->receiver_id, zero, TE_NET_ID_LEN) == 0) {
        char why[TE_NET_ERROR_MSG_MAX + 256];
        if (m->error_code == TE_NET_ERR_PROTOCOL && cn->sent_buffer_size) /* the key first: causes get cut */
            snprintf(why, sizeof(why),
                     "the producer refused buffer debloating's NewBufferSize (upgrade it, or set "
                     "taskmanager.network.memory.buffer-debloat.enabled to false here): %s: %s",
                     net_error_code_name(m->error_code), msg);
        else
            snprintf(why, sizeof(why), "the producer reported %s: %s", net_error_code_name(m->error_code), msg);
        conn_fail(cn, why);
        return 1;
    }
    cli_chan_t *cc = net_id_map_get(&cn->th->chans, m->receiver_id);
    if (cc == NULL || cc->conn != cn)
        return 0; /* a channel we are done with (e.g. credit that crossed its EndOfPartition) */
    char what[128], cause[TE_ERROR_MSG_MAX];
    if (m->error_code == TE_NET_ERR_PARTITION_NOT_FOUND) {
        int64_t max = remote_input_channel_backoff_max_ms(cc->ch);
        if (cc->backoff_ms < max) {
            cc->backoff_ms =
                cc->backoff_ms == 0 ? remote_input_channel_backoff_initial_ms(cc->ch) : cc->backoff_ms * 2;
            if (cc->backoff_ms > max)
                cc->backoff_ms = max;
            cc->active = 0;
            if (cc->retry == NULL)
                cc->retry = evtimer_new(bufferevent_get_base(cn->bev), on_retry, cc);
            struct timeval tv = {cc->backoff_ms / 1000, (cc->backoff_ms % 1000) * 1000};
            if (cc->retry != NULL && evtimer_add(cc->retry, &tv) == 0) {
                TE_DEBUG(CTX, "%s not found at %s, retrying in %lld ms", chan_what(cc, what, sizeof(what)),
                         cn->address, (long long)cc->backoff_ms);
                return 0;
            }
        }
        snprintf(cause, sizeof(cause),
                 "PartitionNotFound: %s was not found at producer %.120s (retried with backoff up "
                 "to %lld ms): %.150s",
                 chan_what(cc, what, sizeof(what)), cn->address, (long long)max, msg);
    } else {
        snprintf(cause, sizeof(cause), "producer %.120s answered %s for %s: %.150s", cn->address,
                 net_error_code_name(m->error_code), chan_what(cc, what, sizeof(what)), msg);
    }
    remote_input_channel_on_failure(cc->ch, cause);
    chan_forget(cc);
    if (cn->n_chans == 0) {
        maybe_close_idle(cn);
        return 1;
    }
    return 0;
}

/* Drops the record of a channel that ended or failed; 1 when that closed the
 * connection (its last channel). */
static int chan_forget_if_done(cli_conn_t *cn, cli_chan_t *cc)
{
    if (cc == NULL || cc->conn != cn || !remote_input_channel_is_done(cc->ch))
        return 0;
    chan_forget(cc); /* ended (EndOfPartition) or failed */
    if (cn->n_chans == 0) {
        maybe_close_idle(cn);
        return 1;
    }
    return 0;
}

/* A BufferResponse header: reserve the buffer its payload goes into (or skip the
 * payload: a channel we are done with, or one this frame failed). 1 when the
 * connection was closed. */
static int rx_begin(cli_conn_t *cn, const te_net_msg_t *m)
{
    cli_rx_t *rx = &cn->rx;
    memset(rx, 0, sizeof(*rx));
    rx->active = 1;
    memcpy(rx->rid, m->receiver_id, TE_NET_ID_LEN);
    rx->size = m->size;
    rx->backlog = m->backlog;
    cn->avg_payload = cn->avg_payload - cn->avg_payload / 8 + m->size / 8;
    cli_chan_t *cc = net_id_map_get(&cn->th->chans, m->receiver_id);
    if (cc == NULL || cc->conn != cn)
        return 0;
    if (m->data_type == TE_NET_DATA_BUFFER)
        cc->credit_outstanding--;
    te_error_t e;
    te_error_clear(&e);
    if (remote_input_channel_reserve_buffer(cc->ch, m->sequence, m->data_type == TE_NET_EVENT_BUFFER, m->size,
                                            &rx->buf, &e) == TE_OK) {
        rx->ch = cc->ch;
        remote_input_channel_retain(rx->ch);
        return 0;
    }
    rx->buf = NULL;
    return chan_forget_if_done(cn, cc);
}

/* The payload is complete: hand it to its channel. 1 when the connection was closed. */
static int rx_end(cli_conn_t *cn)
{
    cli_rx_t *rx = &cn->rx;
    rx->active = 0;
    if (rx->ch == NULL)
        return 0;
    te_remote_input_channel_t *ch = rx->ch;
    te_error_t e;
    te_error_clear(&e);
    remote_input_channel_commit_buffer(ch, rx->buf, rx->backlog, &cn->th->wakes, &e);
    rx->ch = NULL;
    rx->buf = NULL;
    remote_input_channel_unref(ch);
    return chan_forget_if_done(cn, net_id_map_get(&cn->th->chans, rx->rid));
}

/* Takes every complete frame, and the buffered part of a payload, from the input
 * buffer. Returns 1 when the connection was closed (cn freed), else 0 with the input
 * empty while a payload is in progress. */
static int conn_process(cli_conn_t *cn)
{
    struct evbuffer *in = bufferevent_get_input(cn->bev);
    uint32_t max_frame = cn->th->client->max_frame;
    for (;;) {
        cli_rx_t *rx = &cn->rx;
        if (rx->active) {
            size_t have = evbuffer_get_length(in);
            uint32_t take = rx->size - rx->got;
            if (have < take)
                take = (uint32_t)have;
            if (take > 0 && rx->buf != NULL) {
                evbuffer_remove(in, rx->buf->data + rx->got, take);
                atomic_fetch_add_explicit(&cn->th->client->payload_copied, take, memory_order_relaxed);
            } else if (take > 0) {
                evbuffer_drain(in, take);
            }
            rx->got += take;
            if (rx->got < rx->size)
                return 0;
            if (rx_end(cn))
                return 1;
            continue;
        }
        uint8_t hdr[TE_NET_HEADER_LEN + 64 + TE_NET_ERROR_MSG_MAX];
        te_error_t e;
        te_error_clear(&e);
        uint32_t fl;
        uint8_t id;
        int h = net_frame_peek(in, max_frame, &fl, &id, &e);
        if (h < 0) {
            conn_fail(cn, e.msg);
            return 1;
        }
        if (h == 0)
            return 0;
        te_net_msg_t m;
        if (id == TE_NET_BUFFER_RESPONSE) {
            /* The fixed part only; the payload goes straight into the channel's buffer. */
            if (evbuffer_get_length(in) < TE_NET_BUFFER_RESPONSE_FIXED)
                return 0;
            evbuffer_remove(in, hdr, TE_NET_BUFFER_RESPONSE_FIXED);
            if (net_codec_decode_buffer_header(hdr, fl, &m, &e) != 0) {
                conn_fail(cn, e.msg);
                return 1;
            }
            if (rx_begin(cn, &m))
                return 1;
            continue;
        }
        if (fl > sizeof(hdr)) {
            conn_fail(cn, "oversized control frame");
            return 1;
        }
        if (evbuffer_get_length(in) < fl)
            return 0;
        evbuffer_remove(in, hdr, fl);
        size_t used;
        if (net_codec_decode(hdr, fl, max_frame, &m, &used, &e) != 1) {
            conn_fail(cn, e.msg);
            return 1;
        }
        if (m.id == TE_NET_ERROR_RESPONSE) {
            if (handle_error_response(cn, &m))
                return 1; /* the connection is gone */
        } else if (m.id == TE_NET_BACKLOG_ANNOUNCEMENT) {
            cli_chan_t *cc = net_id_map_get(&cn->th->chans, m.receiver_id);
            if (cc != NULL && cc->conn == cn)
                remote_input_channel_on_backlog(cc->ch, m.backlog);
        } else {
            char why[96];
            snprintf(why, sizeof(why), "unexpected %s (id %u) from a producer", net_msg_name(m.id), m.id);
            conn_fail(cn, why);
            return 1;
        }
    }
}

/* conn_process, then the gate wake-ups it deferred. 1 when cn was freed. */
static int conn_process_and_wake(cli_conn_t *cn)
{
    cli_thread_t *th = cn->th;
    int gone = conn_process(cn);
    remote_input_channel_wake_flush(&th->wakes);
    return gone;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process_and_wake(arg);
}

#define CLI_READ_CHUNK (256u * 1024u)
/* Payloads this large are read straight into their buffers (one readv per payload,
 * with the next frame's fixed part); smaller ones come in chunks of CLI_READ_CHUNK and
 * are copied (one copy, far fewer syscalls). Which way a payload goes follows the
 * running average of payload sizes on the connection: a stream of large buffers with
 * a small one (a flush, an event) among them stays on the direct path, instead of
 * reading (and copying) a chunk of the large ones after each small one. */
#define CLI_DIRECT_MIN 4096u
/* Reads per readable event before the loop gets a turn (other connections, closures). */
#define CLI_READS_PER_EVENT 16

/* The socket is readable: read it until it is drained (or CLI_READS_PER_EVENT reads),
 * the rest of a payload in progress straight into its buffer, other bytes into the
 * input buffer; conn_process after each read. EOF and errors fail the connection as
 * on_event does. */
static void read_batch(cli_conn_t *cn, evutil_socket_t fd)
{
    struct evbuffer *in = bufferevent_get_input(cn->bev);
    for (int turn = 0; turn < CLI_READS_PER_EVENT; turn++) {
        cli_rx_t *rx = &cn->rx;
        struct iovec iov[3];
        int niov = 0;
        size_t direct = 0, want = CLI_READ_CHUNK, have = evbuffer_get_length(in);
        int large = cn->avg_payload >= CLI_DIRECT_MIN;
        if (rx->active && rx->buf != NULL && have == 0 && (large || rx->size - rx->got >= CLI_DIRECT_MIN)) {
            /* The payload's buffer first, then just the next frame's fixed part: the
             * frame after that may belong to another channel. */
            direct = rx->size - rx->got;
            iov[niov].iov_base = rx->buf->data + rx->got;
            iov[niov++].iov_len = direct;
            want = TE_NET_BUFFER_RESPONSE_FIXED;
        } else if (large && !rx->active && have < TE_NET_BUFFER_RESPONSE_FIXED) {
            want = TE_NET_BUFFER_RESPONSE_FIXED - have; /* the rest of a fixed part only */
        }
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
        if (nv <= 0) {
            conn_fail(cn, "out of memory reading from the connection");
            return;
        }
        size_t left = want;
        int used = 0;
        for (int i = 0; i < nv && left > 0; i++, used++) {
            if (v[i].iov_len > left)
                v[i].iov_len = left;
            left -= v[i].iov_len;
            iov[niov].iov_base = v[i].iov_base;
            iov[niov++].iov_len = v[i].iov_len;
        }
        size_t asked = direct + (want - left);
        ssize_t n = readv(fd, iov, niov);
        if (n <= 0) {
            evbuffer_commit_space(in, v, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
            char why[160];
            if (n == 0)
                snprintf(why, sizeof(why), "the peer closed the connection");
            else
                snprintf(why, sizeof(why), "%s", strerror(errno));
            TE_WARN(CTX, "data connection to %s lost: %s", cn->address, why);
            conn_fail(cn, why);
            return;
        }
        size_t got = (size_t)n;
        size_t into_buf = got < direct ? got : direct;
        rx->got += (uint32_t)into_buf;
        if (into_buf > 0)
            atomic_fetch_add_explicit(&cn->th->client->payload_direct, into_buf, memory_order_relaxed);
        size_t rest = got - into_buf;
        int filled = 0;
        for (int i = 0; i < used && rest > 0; i++, filled++) {
            if (v[i].iov_len > rest)
                v[i].iov_len = rest;
            rest -= v[i].iov_len;
        }
        evbuffer_commit_space(in, v, filled);
        if (conn_process(cn))
            return; /* cn was freed */
        if (got < asked)
            return; /* drained: wait for the next readable event */
    }
}

/* The gates learn of the batch's buffers at its end (see te_ric_wake_batch_t). */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    cli_conn_t *cn = arg;
    cli_thread_t *th = cn->th;
    read_batch(cn, fd);
    remote_input_channel_wake_flush(&th->wakes);
}

static void on_event(struct bufferevent *bev, short what, void *arg);

/* Once connected (and authenticated): read the plain socket ourselves (see below). */
static void conn_start_reading(cli_conn_t *cn)
{
    if (cn->tls)
        return; /* OpenSSL reads through the bufferevent */
    struct bufferevent *bev = cn->bev;
    /* After the bufferevent itself read (the authentication handshake) libevent leaves
     * its input frozen at the end; we append to it ourselves from now on. */
    evbuffer_unfreeze(bufferevent_get_input(bev), 0);
    cn->rev = event_new(bufferevent_get_base(bev), bufferevent_getfd(bev), EV_READ | EV_PERSIST, on_readable, cn);
    if (cn->rev != NULL && event_add(cn->rev, NULL) == 0)
        bufferevent_disable(bev, EV_READ);
}

static void conn_auth_done(void *arg, int ok, const char *why)
{
    cli_conn_t *cn = arg;
    cn->auth = NULL;
    if (ok <= 0) {
        TE_WARN(CTX, "data connection to %s: %s", cn->address, why);
        conn_fail(cn, why);
        return;
    }
    bufferevent_setcb(cn->bev, on_read, NULL, on_event, cn);
    bufferevent_enable(cn->bev, EV_READ | EV_WRITE);
    evbuffer_add_buffer(bufferevent_get_output(cn->bev), cn->pending);
    evbuffer_free(cn->pending);
    cn->pending = NULL;
    conn_start_reading(cn);
    if (evbuffer_get_length(bufferevent_get_input(cn->bev)) > 0)
        conn_process_and_wake(cn); /* may free cn */
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    cli_conn_t *cn = arg;
    if (what & BEV_EVENT_CONNECTED) {
        const te_security_t *sec = cn->th->client->sec;
        if (!cn->tls) {
            int one = 1;
            setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        if (sec != NULL && sec->auth != NULL) {
            cn->auth = auth_bev_start(bev, 0, sec->auth, conn_auth_done, cn);
            if (cn->auth == NULL)
                conn_fail(cn, "cannot start authentication (out of memory)");
            return;
        }
        if (cn->tls)
            return;
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* libevent 2.1 reads at most 4 KiB per readv (EVBUFFER_MAX_READ) plus a FIONREAD
         * ioctl, one read per loop turn: far too little for a data connection. Read the
         * socket ourselves, in large chunks, into the bufferevent's input buffer. */
        cn->rev =
            event_new(bufferevent_get_base(bev), bufferevent_getfd(bev), EV_READ | EV_PERSIST, on_readable, cn);
        if (cn->rev != NULL && event_add(cn->rev, NULL) == 0)
            bufferevent_disable(bev, EV_READ);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        char why[160];
        int err = EVUTIL_SOCKET_ERROR();
        if (what & BEV_EVENT_EOF)
            snprintf(why, sizeof(why), "the peer closed the connection");
        else
            snprintf(why, sizeof(why), "%s", err ? evutil_socket_error_to_string(err) : "socket error");
        unsigned long ssl_err = cn->tls ? bufferevent_get_openssl_error(bev) : 0;
        if (ssl_err != 0) {
            char text[256];
            ERR_error_string_n(ssl_err, text, sizeof(text));
            snprintf(why, sizeof(why), "TLS error: %.140s", text);
        }
        TE_WARN(CTX, "data connection to %s lost: %s", cn->address, why);
        conn_fail(cn, why);
    }
}

static cli_conn_t *conn_get(cli_thread_t *th, const char *address, char *why, size_t why_len)
{
    for (cli_conn_t *cn = th->conns; cn; cn = cn->next)
        if (strcmp(cn->address, address) == 0)
            return cn;
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    if (evutil_parse_sockaddr_port(address, (struct sockaddr *)&ss, &sslen) != 0) {
        /* A host name: resolve (blocking, rare: tectl passes numeric addresses). */
        char host[256];
        snprintf(host, sizeof(host), "%s", address);
        char *colon = strrchr(host, ':');
        if (colon == NULL) {
            snprintf(why, why_len, "producer address '%s' is not host:port", address);
            return NULL;
        }
        *colon = '\0';
        struct addrinfo hints = {0}, *res = NULL;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
            snprintf(why, why_len, "cannot resolve producer address '%s'", address);
            return NULL;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        sslen = (int)res->ai_addrlen;
        freeaddrinfo(res);
    }
    cli_conn_t *cn = calloc(1, sizeof(*cn));
    if (cn == NULL) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    cn->th = th;
    snprintf(cn->address, sizeof(cn->address), "%s", address);
    const te_security_t *sec = th->client->sec;
    cn->bev = bufferevent_socket_new(net_io_thread_base(th->io), -1, BEV_OPT_CLOSE_ON_FREE);
    if (cn->bev == NULL || (sec != NULL && sec->auth != NULL && (cn->pending = evbuffer_new()) == NULL)) {
        if (cn->bev)
            bufferevent_free(cn->bev);
        free(cn);
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    bufferevent_setcb(cn->bev, on_read, NULL, on_event, cn);
    bufferevent_enable(cn->bev, EV_READ | EV_WRITE);
    cn->next = th->conns;
    if (cn->next)
        cn->next->prev = cn;
    th->conns = cn;
    if (bufferevent_socket_connect(cn->bev, (struct sockaddr *)&ss, sslen) != 0) {
        snprintf(why, why_len, "cannot connect to producer %s: %s", address,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_free(cn);
        return NULL;
    }
    if (sec != NULL && sec->tls_client != NULL) {
        /* TLS on top of the connecting socket bufferevent (the filter owns it). */
        int one = 1;
        setsockopt(bufferevent_getfd(cn->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        bufferevent_setcb(cn->bev, NULL, NULL, NULL, NULL);
        struct bufferevent *f = tls_client_filter_new(sec->tls_client, cn->bev);
        if (f == NULL) {
            snprintf(why, why_len, "cannot set up TLS to producer %s", address);
            conn_free(cn);
            return NULL;
        }
        cn->bev = f;
        cn->tls = 1;
        bufferevent_setcb(f, on_read, NULL, on_event, cn);
        bufferevent_enable(f, EV_READ | EV_WRITE);
    }
    return cn;
}

/* ---- transport (closures run on the I/O thread) ---- */

struct op {
    te_partition_client_t *c;
    cli_thread_t *th;
    te_remote_input_channel_t *ch; /* one reference */
};

static void do_request(void *arg)
{
    struct op *o = arg;
    cli_thread_t *th = o->th;
    te_remote_input_channel_t *ch = o->ch;
    free(o);
    if (remote_input_channel_is_done(ch)) {
        remote_input_channel_unref(ch);
        return;
    }
    char why[300];
    cli_conn_t *cn = conn_get(th, remote_input_channel_address(ch), why, sizeof(why));
    cli_chan_t *cc = cn ? calloc(1, sizeof(*cc)) : NULL;
    if (cc == NULL || net_id_map_put(&th->chans, remote_input_channel_receiver_id(ch)->b, cc) != 0) {
        char cause[TE_ERROR_MSG_MAX], hex[TE_ID_HEX_LEN + 1];
        snprintf(cause, sizeof(cause),
                 "Connection to producer %s failed (%s) while requesting partition %s "
                 "subpartition %u",
                 remote_input_channel_address(ch), cn ? "out of memory" : why,
                 te_id_to_hex(remote_input_channel_partition_id(ch), hex), remote_input_channel_subpartition(ch));
        remote_input_channel_on_failure(ch, cause);
        remote_input_channel_unref(ch);
        free(cc);
        if (cn)
            maybe_close_idle(cn);
        return;
    }
    cc->ch = ch;
    cc->th = th;
    cc->conn = cn;
    memcpy(cc->rid, remote_input_channel_receiver_id(ch)->b, TE_NET_ID_LEN);
    cc->next = cn->chans;
    if (cc->next)
        cc->next->prev = cc;
    cn->chans = cc;
    cn->n_chans++;
    send_request(cc);
}

static void do_credit(void *arg)
{
    struct op *o = arg;
    cli_chan_t *cc = net_id_map_get(&o->th->chans, remote_input_channel_receiver_id(o->ch)->b);
    if (cc != NULL && cc->active) {
        uint32_t n = remote_input_channel_take_credit(cc->ch);
        if (n > 0) {
            cc->credit_outstanding += n;
            te_net_msg_t m;
            net_msg_receiver(&m, TE_NET_ADD_CREDIT, cc->rid, n);
            send_msg(cc->conn, &m);
        }
    }
    remote_input_channel_unref(o->ch);
    free(o);
}

/* A floating-only channel passed its aligned barrier's alignment: the server holds no
 * credit of it any more (it released those buffers at the barrier). */
static void do_resume(void *arg)
{
    struct op *o = arg;
    cli_chan_t *cc = net_id_map_get(&o->th->chans, remote_input_channel_receiver_id(o->ch)->b);
    if (cc != NULL && cc->active) {
        cc->credit_outstanding = 0;
        te_net_msg_t m;
        net_msg_receiver(&m, TE_NET_RESUME_CONSUMPTION, cc->rid, 0);
        send_msg(cc->conn, &m);
    }
    remote_input_channel_unref(o->ch);
    free(o);
}

static void do_buffer_size(void *arg)
{
    struct op *o = arg;
    cli_chan_t *cc = net_id_map_get(&o->th->chans, remote_input_channel_receiver_id(o->ch)->b);
    if (cc != NULL && cc->active)
        send_buffer_size(cc);
    remote_input_channel_unref(o->ch);
    free(o);
}

static void do_release(void *arg)
{
    struct op *o = arg;
    cli_chan_t *cc = net_id_map_get(&o->th->chans, remote_input_channel_receiver_id(o->ch)->b);
    if (cc != NULL) {
        cli_conn_t *cn = cc->conn;
        if (cc->active) {
            te_net_msg_t m;
            net_msg_receiver(&m, TE_NET_CANCEL_PARTITION_REQUEST, cc->rid, 0);
            send_msg(cn, &m);
        }
        chan_forget(cc);
        maybe_close_idle(cn);
    }
    remote_input_channel_unref(o->ch);
    free(o);
}

static int submit_op(te_partition_client_t *c, te_remote_input_channel_t *ch, void (*fn)(void *))
{
    struct op *o = malloc(sizeof(*o));
    if (o == NULL)
        return -1;
    o->c = c;
    o->th = thread_for(c, remote_input_channel_address(ch));
    o->ch = ch;
    remote_input_channel_retain(ch);
    if (net_io_thread_submit(o->th->io, fn, o) != 0) {
        remote_input_channel_unref(ch);
        free(o);
        return -1;
    }
    return 0;
}

static te_status_t tr_request(void *ctx, te_remote_input_channel_t *ch, te_error_t *err)
{
    if (submit_op(ctx, ch, do_request) != 0)
        return te_error_set(err, TE_ESTATE,
                            "the network I/O threads are stopped (or out of memory): cannot "
                            "request a partition from %s",
                            remote_input_channel_address(ch));
    return TE_OK;
}

static void tr_credit(void *ctx, te_remote_input_channel_t *ch) { submit_op(ctx, ch, do_credit); }
static void tr_release(void *ctx, te_remote_input_channel_t *ch) { submit_op(ctx, ch, do_release); }
static void tr_resume(void *ctx, te_remote_input_channel_t *ch) { submit_op(ctx, ch, do_resume); }
static void tr_buffer_size(void *ctx, te_remote_input_channel_t *ch) { submit_op(ctx, ch, do_buffer_size); }

te_partition_client_t *partition_client_new(te_net_io_thread_t **threads, int n_threads, uint32_t max_payload,
                                            te_error_t *err)
{
    te_partition_client_t *c = calloc(1, sizeof(*c));
    if (c != NULL)
        c->th = calloc((size_t)n_threads, sizeof(*c->th));
    if (c == NULL || c->th == NULL) {
        free(c);
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    c->n = n_threads;
    c->max_frame = TE_NET_BUFFER_RESPONSE_FIXED + max_payload;
    for (int i = 0; i < n_threads; i++) {
        c->th[i].client = c;
        c->th[i].io = threads[i];
    }
    c->tr.request = tr_request;
    c->tr.credit_available = tr_credit;
    c->tr.release = tr_release;
    c->tr.resume = tr_resume;
    c->tr.buffer_size = tr_buffer_size;
    c->tr.ctx = c;
    return c;
}

const te_channel_transport_t *partition_client_transport(te_partition_client_t *c) { return &c->tr; }

void partition_client_payload_bytes(te_partition_client_t *c, uint64_t *direct, uint64_t *copied)
{
    *direct = atomic_load_explicit(&c->payload_direct, memory_order_relaxed);
    *copied = atomic_load_explicit(&c->payload_copied, memory_order_relaxed);
}
void partition_client_set_security(te_partition_client_t *c, const te_security_t *sec) { c->sec = sec; }

void partition_client_free(te_partition_client_t *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->n; i++) {
        cli_thread_t *th = &c->th[i];
        while (th->conns) {
            cli_conn_t *cn = th->conns;
            while (cn->chans)
                chan_forget(cn->chans);
            conn_free(cn);
        }
        net_id_map_clear(&th->chans);
    }
    free(c->th);
    free(c);
}

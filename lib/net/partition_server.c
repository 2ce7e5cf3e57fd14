/*
 * partition_server — the data port: per-connection readers, credit, zero-copy writes.
 *
 * Threading: each connection, its readers and its ready queue are touched only by the
 * connection's I/O thread (and by partition_server_free after the threads stopped).
 * A reader's view listener runs on a producer thread: it sets the reader's atomic
 * `notify_pending` and, when it was clear, posts reader_notified (holding a reader
 * reference; the node is the reader's own, free again once it runs) to the I/O thread. subpartition_view_release waits for listener calls in
 * progress, so once a reader's view is released no new wake-up is submitted. The
 * connection list per thread is guarded by the server mutex only for free().
 *
 * Written payloads go back to their pools in batches: each connection keeps the
 * buffers its output references in order (libevent frees the references in that
 * order); a freed reference only moves the buffer to the "sent" part, and the output
 * buffer's callback (once libevent's drain is complete) or conn_free recycles them all
 * with buffer_recycle_batch, waking a producer blocked on its pool once per batch
 * instead of once per buffer.
 *
 * Limits: open connections are counted (atomic n_open); at max_conns the listener is
 * disabled (connections wait in the backlog) until one closes. A connection must
 * deliver its first valid frame (after the authentication handshake, when on) within
 * handshake_ms of accept, or it is closed. accept(2) failing (EMFILE) pauses the
 * listener for PS_ACCEPT_RETRY_MS instead of retrying at once. The listener and its
 * pause/resume state belong to the first I/O thread; other threads hand a resume to it.
 */
#include "net/partition_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/auth_handshake.h"
#include "common/log.h"
#include "common/tls.h"
#include "shuffle/result_partition.h"
#include "net/net_codec.h"
#include "net/net_frame_reader.h"
#include "net/net_id_map.h"

#define CTX "partition-server"
/* Stop polling views while this much is queued for the socket; resume below half. */
#define SRV_HIGH_WATERMARK (512u * 1024u)
#define PS_ACCEPT_RETRY_MS 100 /* listener pause after an accept error (EMFILE) */

typedef struct srv_conn srv_conn_t;

typedef struct reader {
    _Atomic int refs;
    srv_conn_t *conn; /* NULL once released */
    te_net_io_thread_t *io;
    te_subpartition_view_t *view;
    uint8_t receiver_id[TE_NET_ID_LEN];
    te_id_t pid;
    uint32_t sub;
    int64_t credit;
    uint32_t seq;
    te_buffer_slice_t stash; /* polled, being written */
    uint32_t stash_backlog;
    int has_stash;
    int backlog_announced;
    int floating;        /* initial credit 0: the receiver has no exclusive buffers */
    int barrier_blocked; /* floating: an aligned barrier went out; nothing until ResumeConsumption */
    int in_ready;
    int released;
    _Atomic int notify_pending;
    te_net_work_t notify_work; /* reader_notified, posted while notify_pending (no allocation per buffer) */
    struct reader *next_ready;
} reader_t;

struct srv_conn {
    te_partition_server_t *s;
    te_net_io_thread_t *io;
    struct bufferevent *bev;
    te_buffer_t **out_bufs; /* ring: sent (to recycle), then still referenced by the output */
    uint32_t out_cap, out_start, out_sent, out_refd;
    char peer[80];
    net_id_map_t readers;
    reader_t *ready_head, *ready_tail;
    int closing;
    int proven;          /* a valid frame arrived: the handshake deadline is off */
    struct event *hs_ev; /* the handshake deadline */
    te_auth_bev_t *auth; /* pending authentication handshake, or NULL */
    srv_conn_t *prev, *next;
};

struct te_partition_server {
    te_net_io_thread_t **threads;
    int n_threads;
    unsigned next_thread;
    te_partition_manager_t *pm;
    struct evconnlistener *listener;
    int port;
    pthread_mutex_t mu; /* guards conns lists (linking on I/O threads, free on control) */
    srv_conn_t *conns;
    _Atomic unsigned long accepted;
    const te_security_t *sec; /* borrowed; NULL = plaintext, no authentication */
    _Atomic int n_open;
    _Atomic int max_conns;        /* 0 = no limit */
    _Atomic int64_t handshake_ms; /* 0 = no deadline */
    _Atomic int full;             /* the listener is off: max_conns reached */
    struct event *resume_ev;      /* first I/O thread: re-enables the listener */
};

/* First I/O thread: the listener may accept again (unless still full). */
static void server_resume(void *arg)
{
    te_partition_server_t *s = arg;
    int max = atomic_load(&s->max_conns);
    if (s->listener == NULL || (max > 0 && atomic_load(&s->n_open) >= max))
        return;
    atomic_store(&s->full, 0);
    evconnlistener_enable(s->listener);
}

static void server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_resume(arg);
}

/* Any I/O thread: a connection was freed. */
static void server_conn_gone(te_partition_server_t *s)
{
    atomic_fetch_sub(&s->n_open, 1);
    if (atomic_load(&s->full) && atomic_exchange(&s->full, 0))
        net_io_thread_submit(s->threads[0], server_resume, s);
}

static void reader_unref(reader_t *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1)
        free(r);
}

static void conn_drive(srv_conn_t *c);
static void conn_close(srv_conn_t *c);

/* ---- writing ---- */

static void send_msg(srv_conn_t *c, const te_net_msg_t *m)
{
    uint8_t buf[TE_NET_HEADER_LEN + 64 + TE_NET_ERROR_MSG_MAX];
    size_t n = net_codec_encode(m, buf, sizeof(buf));
    if (n > 0)
        evbuffer_add(bufferevent_get_output(c->bev), buf, n);
}

static void send_error(srv_conn_t *c, const uint8_t *receiver, uint16_t code, const char *msg)
{
    te_net_msg_t m;
    memset(&m, 0, sizeof(m));
    m.id = TE_NET_ERROR_RESPONSE;
    if (receiver)
        memcpy(m.receiver_id, receiver, TE_NET_ID_LEN);
    m.error_code = code;
    m.payload = (const uint8_t *)msg;
    m.size = (uint32_t)strlen(msg);
    send_msg(c, &m);
}

static void recycle_ref(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    buffer_recycle(arg);
}

/* libevent no longer references the oldest payload of the output: it is sent. */
static void sent_ref(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    srv_conn_t *c = arg;
    c->out_sent++;
    c->out_refd--;
}

/* Recycles the sent payloads together (see the file comment). */
static void out_recycle_sent(srv_conn_t *c)
{
    while (c->out_sent > 0) {
        te_buffer_t *batch[64];
        uint32_t n = c->out_sent < 64 ? c->out_sent : 64;
        for (uint32_t i = 0; i < n; i++)
            batch[i] = c->out_bufs[(c->out_start + i) % c->out_cap];
        c->out_start = (c->out_start + n) % c->out_cap;
        c->out_sent -= n;
        buffer_recycle_batch(batch, n);
    }
}

static void on_output_changed(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
    (void)out;
    if (info->n_deleted > 0)
        out_recycle_sent(arg);
}

/* Queues `len` payload bytes of b (one reference, handed over) after what is queued. */
static void out_add_payload(srv_conn_t *c, struct evbuffer *out, te_buffer_t *b, const uint8_t *data, uint32_t len)
{
    uint32_t used = c->out_sent + c->out_refd;
    if (used == c->out_cap) {
        uint32_t ncap = c->out_cap ? c->out_cap * 2 : 64;
        te_buffer_t **r = malloc(ncap * sizeof(*r));
        if (r == NULL) { /* not tracked: recycled on its own when libevent frees it */
            if (evbuffer_add_reference(out, data, len, recycle_ref, b) != 0)
                buffer_recycle(b);
            return;
        }
        for (uint32_t i = 0; i < used; i++)
            r[i] = c->out_bufs[(c->out_start + i) % c->out_cap];
        free(c->out_bufs);
        c->out_bufs = r;
        c->out_cap = ncap;
        c->out_start = 0;
    }
    if (evbuffer_add_reference(out, data, len, sent_ref, c) != 0) {
        buffer_recycle(b);
        return;
    }
    c->out_bufs[(c->out_start + used) % c->out_cap] = b;
    c->out_refd++;
}

static void reader_release(srv_conn_t *c, reader_t *r)
{
    if (r->released)
        return;
    r->released = 1;
    net_id_map_remove(&c->readers, r->receiver_id);
    subpartition_view_release(r->view); /* no listener call after this */
    r->view = NULL;
    if (r->has_stash) {
        buffer_recycle(r->stash.buf);
        r->has_stash = 0;
    }
    r->conn = NULL;
    reader_unref(r); /* the connection's reference */
}

static void ready_push(srv_conn_t *c, reader_t *r)
{
    if (r->in_ready || r->released)
        return;
    r->in_ready = 1;
    atomic_fetch_add(&r->refs, 1);
    r->next_ready = NULL;
    if (c->ready_tail)
        c->ready_tail->next_ready = r;
    else
        c->ready_head = r;
    c->ready_tail = r;
}

static reader_t *ready_pop(srv_conn_t *c)
{
    reader_t *r = c->ready_head;
    if (r) {
        c->ready_head = r->next_ready;
        if (c->ready_head == NULL)
            c->ready_tail = NULL;
        r->in_ready = 0;
    }
    return r;
}

/* Writes at most one buffer of r. 1 when it wrote and may have more. */
static int reader_write_one(srv_conn_t *c, reader_t *r)
{
    if (r->barrier_blocked)
        return 0; /* ResumeConsumption puts it back in the ready queue */
    if (!r->has_stash) {
        /* Without credit only events are taken out of the subpartition: data stays
         * queued there, where a priority barrier can overtake it. */
        int got = r->credit > 0 ? subpartition_view_poll(r->view, &r->stash, &r->stash_backlog)
                                : subpartition_view_poll_event(r->view, &r->stash, &r->stash_backlog);
        if (!got) {
            char cause[TE_ERROR_MSG_MAX];
            if (subpartition_view_failure(r->view, cause, sizeof(cause))) {
                char msg[TE_ERROR_MSG_MAX + 128];
                snprintf(msg, sizeof(msg), "partition %s subpartition %u was released by its producer: %s",
                         te_id_str(&r->pid), r->sub, cause);
                send_error(c, r->receiver_id, TE_NET_ERR_PRODUCER_FAILED, msg);
                reader_release(c, r);
            } else if (r->credit <= 0 && !r->backlog_announced && subpartition_view_is_available(r->view)) {
                /* data waits for credit: tell the receiver how much */
                te_net_msg_t m;
                net_msg_receiver(&m, TE_NET_BACKLOG_ANNOUNCEMENT, r->receiver_id,
                                 r->stash_backlog > 0 ? r->stash_backlog : 1);
                send_msg(c, &m);
                r->backlog_announced = 1;
            }
            return 0; /* AddCredit (or new data) puts it back in the ready queue */
        }
        r->has_stash = 1;
    }
    int is_data = r->stash.type == TE_BUFFER_DATA;
    te_net_msg_t m;
    memset(&m, 0, sizeof(m));
    m.id = TE_NET_BUFFER_RESPONSE;
    memcpy(m.receiver_id, r->receiver_id, TE_NET_ID_LEN);
    m.sequence = r->seq++;
    m.backlog = r->stash_backlog;
    m.data_type = is_data ? TE_NET_DATA_BUFFER : TE_NET_EVENT_BUFFER;
    m.size = r->stash.len;
    uint8_t hdr[TE_NET_BUFFER_RESPONSE_FIXED];
    net_codec_encode(&m, hdr, sizeof(hdr));
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add(out, hdr, sizeof(hdr));
    te_buffer_t *b = r->stash.buf;
    int eop = !is_data && r->stash.len > 0 && b->data[r->stash.offset] == TE_EVENT_END_OF_PARTITION;
    /* A floating-only receiver releases its buffers at an aligned barrier (they would
     * sit behind it until the alignment ends, and other channels need them to bring
     * their barriers): send nothing more until it resumes, with no credit then. */
    if (r->floating && !is_data && r->stash.len > 0 && b->data[r->stash.offset] == TE_EVENT_CHECKPOINT_BARRIER)
        r->barrier_blocked = 1;
    r->has_stash = 0;
    if (r->stash.len == 0)
        buffer_recycle(b);
    else
        out_add_payload(c, out, b, b->data + r->stash.offset, r->stash.len);
    if (is_data)
        r->credit--;
    if (eop) {
        reader_release(c, r); /* the subpartition is fully consumed */
        return 0;
    }
    return 1;
}

static void conn_drive(srv_conn_t *c)
{
    if (c->closing)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    reader_t *r;
    while (evbuffer_get_length(out) < SRV_HIGH_WATERMARK && (r = ready_pop(c)) != NULL) {
        if (!r->released && reader_write_one(c, r))
            ready_push(c, r); /* round robin: one buffer per reader per turn */
        reader_unref(r);
    }
}

static void reader_notified(void *arg)
{
    reader_t *r = arg;
    atomic_store(&r->notify_pending, 0);
    srv_conn_t *c = r->conn;
    if (c != NULL && !r->released) {
        ready_push(c, r);
        conn_drive(c);
    }
    reader_unref(r);
}

/* Producer thread (or whoever released the partition). */
static void reader_on_data(void *arg)
{
    reader_t *r = arg;
    if (atomic_exchange(&r->notify_pending, 1))
        return;
    atomic_fetch_add(&r->refs, 1);
    r->notify_work = (te_net_work_t){.fn = reader_notified, .arg = r};
    if (net_io_thread_post(r->io, &r->notify_work) != 0) {
        atomic_store(&r->notify_pending, 0);
        reader_unref(r);
    }
}

/* ---- requests ---- */

static void on_partition_request(srv_conn_t *c, const te_net_msg_t *m)
{
    if (net_id_map_get(&c->readers, m->receiver_id) != NULL) {
        send_error(c, m->receiver_id, TE_NET_ERR_DUPLICATE_RECEIVER,
                   "a PartitionRequest for this receiver id is "
                   "being served already on this connection");
        return;
    }
    reader_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        send_error(c, m->receiver_id, TE_NET_ERR_INTERNAL, "out of memory creating a reader");
        return;
    }
    atomic_init(&r->refs, 1);
    atomic_init(&r->notify_pending, 0);
    r->conn = c;
    r->io = c->io;
    memcpy(r->receiver_id, m->receiver_id, TE_NET_ID_LEN);
    te_id_from_bytes(m->partition_id, TE_NET_ID_LEN, &r->pid);
    r->sub = m->subpartition;
    r->credit = m->credit & ~TE_NET_CREDIT_FLOATING;
    r->floating = (m->credit & TE_NET_CREDIT_FLOATING) != 0;
    te_error_t e;
    te_error_clear(&e);
    r->view = partition_manager_create_view(c->s->pm, &r->pid, r->sub, (te_notifier_t){reader_on_data, r}, &e);
    if (r->view == NULL) {
        char msg[TE_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "%s", e.msg);
        send_error(c, m->receiver_id,
                   e.code == TE_ENOTFOUND ? TE_NET_ERR_PARTITION_NOT_FOUND : TE_NET_ERR_INTERNAL, msg);
        free(r);
        return;
    }
    subpartition_view_set_priority_listener(r->view, (te_notifier_t){reader_on_data, r});
    if (net_id_map_put(&c->readers, r->receiver_id, r) != 0) {
        subpartition_view_release(r->view);
        free(r);
        send_error(c, m->receiver_id, TE_NET_ERR_INTERNAL, "out of memory registering a reader");
        return;
    }
    TE_DEBUG(CTX, "%s requests partition %s subpartition %u (credit %u)", c->peer, te_id_str(&r->pid), r->sub,
             m->credit);
    ready_push(c, r); /* data may be there already */
    conn_drive(c);
}

static void protocol_error(srv_conn_t *c, const char *msg)
{
    TE_WARN(CTX, "closing the data connection from %s: %s", c->peer, msg);
    send_error(c, NULL, TE_NET_ERR_PROTOCOL, msg);
    conn_close(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    srv_conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!c->closing) {
        uint8_t frame[TE_NET_MAX_REQUEST_FRAME];
        te_error_t e;
        te_error_clear(&e);
        uint32_t fl;
        uint8_t id;
        int h = net_frame_peek(in, TE_NET_MAX_REQUEST_FRAME, &fl, &id, &e);
        if (h < 0) {
            protocol_error(c, e.msg);
            return;
        }
        if (h == 0 || evbuffer_get_length(in) < fl)
            return;
        evbuffer_remove(in, frame, fl);
        te_net_msg_t m;
        size_t used;
        if (net_codec_decode(frame, fl, TE_NET_MAX_REQUEST_FRAME, &m, &used, &e) != 1) {
            protocol_error(c, e.msg);
            return;
        }
        if (!c->proven) {
            c->proven = 1;
            if (c->hs_ev != NULL)
                event_del(c->hs_ev);
        }
        reader_t *r;
        switch (m.id) {
        case TE_NET_PARTITION_REQUEST: on_partition_request(c, &m); break;
        case TE_NET_ADD_CREDIT:
        case TE_NET_RESUME_CONSUMPTION:
            r = net_id_map_get(&c->readers, m.receiver_id);
            if (r == NULL) {
                char hex[TE_ID_HEX_LEN + 1];
                te_id_t rid;
                te_id_from_bytes(m.receiver_id, TE_NET_ID_LEN, &rid);
                char msg[160];
                snprintf(msg, sizeof(msg), "%s for unknown receiver %s", net_msg_name(m.id),
                         te_id_to_hex(&rid, hex));
                send_error(c, m.receiver_id, TE_NET_ERR_UNKNOWN_RECEIVER, msg);
                break;
            }
            if (m.id == TE_NET_ADD_CREDIT) {
                /* Credit is a positive count of buffers (Flink checks credit > 0); 0 or a
                 * value that is negative as a signed 32-bit int is a protocol error. */
                if (m.credit == 0 || m.credit > INT32_MAX || r->credit + (int64_t)m.credit > INT32_MAX) {
                    char msg[128];
                    snprintf(msg, sizeof(msg), "AddCredit with an invalid credit of %u (must be 1..%d in total)",
                             m.credit, INT32_MAX);
                    protocol_error(c, msg);
                    return;
                }
                r->credit += m.credit;
                r->backlog_announced = 0;
            } else if (r->barrier_blocked) {
                /* credit given before the barrier reached the receiver is void: it
                 * released those buffers (announced again after this) */
                r->barrier_blocked = 0;
                r->credit = 0;
                r->backlog_announced = 0;
            }
            ready_push(c, r);
            conn_drive(c);
            break;
        case TE_NET_CANCEL_PARTITION_REQUEST:
            r = net_id_map_get(&c->readers, m.receiver_id);
            if (r != NULL)
                reader_release(c, r);
            break;
        case TE_NET_NEW_BUFFER_SIZE:
            /* Buffer debloating: the producer cuts the buffers it starts for this
             * subpartition at the size (not below TE_NET_MIN_BUFFER_SIZE; a segment at
             * most). Unknown receivers are ignored, like a cancel (it may cross an
             * EndOfPartition). */
            r = net_id_map_get(&c->readers, m.receiver_id);
            if (r != NULL && r->view != NULL)
                subpartition_view_set_buffer_size(
                    r->view, m.buffer_size < TE_NET_MIN_BUFFER_SIZE ? TE_NET_MIN_BUFFER_SIZE : m.buffer_size);
            break;
        case TE_NET_CLOSE_REQUEST: conn_close(c); return;
        default: {
            char msg[96];
            snprintf(msg, sizeof(msg), "unexpected %s (id %u) from a consumer", net_msg_name(m.id), m.id);
            protocol_error(c, msg);
            return;
        }
        }
    }
}

static void conn_free(srv_conn_t *c)
{
    reader_t *r;
    while ((r = ready_pop(c)) != NULL)
        reader_unref(r);
    for (;;) {
        reader_t *x = NULL;
        for (uint32_t i = 0; i < c->readers.nb && x == NULL; i++)
            if (c->readers.b[i])
                x = c->readers.b[i]->val;
        if (x == NULL)
            break;
        reader_release(c, x);
    }
    net_id_map_clear(&c->readers);
    auth_bev_cancel(c->auth);
    c->auth = NULL;
    if (c->bev) {
        /* Payloads still queued are dropped here, not when libevent finalizes the
         * bufferevent (possibly later, in the loop): sent_ref needs c. A socket
         * bufferevent keeps the front of its output frozen between its own writes. */
        struct evbuffer *out = bufferevent_get_output(c->bev);
        evbuffer_unfreeze(out, 1);
        evbuffer_drain(out, evbuffer_get_length(out));
        bufferevent_free(c->bev);
    }
    out_recycle_sent(c);
    free(c->out_bufs);
    if (c->hs_ev != NULL)
        event_free(c->hs_ev);
    te_partition_server_t *s = c->s;
    pthread_mutex_lock(&s->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->mu);
    free(c);
    server_conn_gone(s);
}

static void on_drained_close(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_free(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    srv_conn_t *c = arg;
    unsigned long ssl_err = (what & BEV_EVENT_ERROR) && c->s->sec != NULL && c->s->sec->tls_server != NULL
                                ? bufferevent_get_openssl_error(bev)
                                : 0;
    if (ssl_err != 0) {
        char text[256];
        ERR_error_string_n(ssl_err, text, sizeof(text));
        TE_WARN(CTX, "data connection from %s: TLS error, closing: %s", c->peer, text);
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        TE_DEBUG(CTX, "data connection from %s closed", c->peer);
        conn_free(c);
    }
}

/* Stops reading, releases the readers, frees once the output (an error) is sent. */
static void conn_close(srv_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    for (;;) {
        reader_t *x = NULL;
        for (uint32_t i = 0; i < c->readers.nb && x == NULL; i++)
            if (c->readers.b[i])
                x = c->readers.b[i]->val;
        if (x == NULL)
            break;
        reader_release(c, x);
    }
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        conn_free(c);
        return;
    }
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_setcb(c->bev, NULL, on_drained_close, on_event, c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_drive(arg);
}

struct accepted {
    te_partition_server_t *s;
    te_net_io_thread_t *io;
    evutil_socket_t fd;
    char peer[80];
};

/* The authentication handshake finished (see auth_bev_start). */
static void conn_auth_done(void *arg, int ok, const char *why)
{
    srv_conn_t *c = arg;
    c->auth = NULL;
    if (ok <= 0) {
        TE_WARN(CTX, "data connection from %s: %s; closing", c->peer, why);
        conn_free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        on_read(c->bev, c);
}

static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    srv_conn_t *c = arg;
    if (c->proven || c->closing)
        return;
    TE_WARN(CTX,
            "data connection from %s: no %svalid request within %lld ms (taskmanager.data.handshake-timeout); "
            "closing",
            c->peer, c->auth != NULL ? "authentication and " : "", (long long)atomic_load(&c->s->handshake_ms));
    conn_free(c);
}

static void conn_setup(void *arg)
{
    struct accepted *a = arg;
    srv_conn_t *c = calloc(1, sizeof(*c));
    struct bufferevent *bev = NULL;
    const te_security_t *sec = a->s->sec;
    if (c != NULL && sec != NULL && sec->tls_server != NULL) {
        SSL *ssl = SSL_new(sec->tls_server);
        bev = ssl == NULL ? NULL
                          : bufferevent_openssl_socket_new(net_io_thread_base(a->io), a->fd, ssl,
                                                           BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        if (bev == NULL)
            SSL_free(ssl);
        else
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else if (c != NULL) {
        bev = bufferevent_socket_new(net_io_thread_base(a->io), a->fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev == NULL) {
        TE_WARN(CTX, "out of memory accepting a data connection from %s", a->peer);
        te_partition_server_t *s = a->s;
        free(c);
        close(a->fd);
        free(a);
        server_conn_gone(s);
        return;
    }
    c->s = a->s;
    c->io = a->io;
    c->bev = bev;
    snprintf(c->peer, sizeof(c->peer), "%s", a->peer);
    pthread_mutex_lock(&c->s->mu);
    c->next = c->s->conns;
    if (c->next)
        c->next->prev = c;
    c->s->conns = c;
    pthread_mutex_unlock(&c->s->mu);
    bufferevent_setwatermark(bev, EV_WRITE, SRV_HIGH_WATERMARK / 2, 0);
    evbuffer_add_cb(bufferevent_get_output(bev), on_output_changed, c);
    /* libevent's default is 16 KiB per writev and loop turn: let one writev take all
     * that is queued (the output never holds much more than the high watermark). */
    if (sec == NULL || sec->tls_server == NULL)
        bufferevent_set_max_single_write(bev, SRV_HIGH_WATERMARK);
    free(a);
    int64_t hs = atomic_load(&c->s->handshake_ms);
    if (hs > 0 && (c->hs_ev = evtimer_new(net_io_thread_base(c->io), conn_deadline_cb, c)) != NULL) {
        struct timeval tv = {hs / 1000, (hs % 1000) * 1000};
        evtimer_add(c->hs_ev, &tv);
    }
    if (sec != NULL && sec->auth != NULL) {
        c->auth = auth_bev_start(bev, 1, sec->auth, conn_auth_done, c);
        if (c->auth == NULL) {
            TE_WARN(CTX, "data connection from %s: cannot start authentication; closing", c->peer);
            conn_free(c);
        }
        return;
    }
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
    (void)l;
    (void)socklen;
    te_partition_server_t *s = arg;
    struct accepted *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        close(fd);
        return;
    }
    a->s = s;
    a->fd = fd;
    char host[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(a->peer, sizeof(a->peer), "%s:%d", host, port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    evutil_make_socket_nonblocking(fd);
    atomic_fetch_add(&s->accepted, 1);
    int max = atomic_load(&s->max_conns);
    if (atomic_fetch_add(&s->n_open, 1) + 1 >= max && max > 0) {
        /* full: further connections wait in the backlog until one closes */
        atomic_store(&s->full, 1);
        evconnlistener_disable(l);
        TE_WARN(CTX,
                "%d data connections open (taskmanager.data.max-connections): not accepting more until one "
                "closes",
                max);
        if (atomic_load(&s->n_open) < max) /* one closed meanwhile */
            server_resume(s);
    }
    a->io = s->threads[s->next_thread++ % (unsigned)s->n_threads];
    if (a->io == s->threads[0])
        conn_setup(a);
    else if (net_io_thread_submit(a->io, conn_setup, a) != 0) {
        close(fd);
        free(a);
        server_conn_gone(s);
    }
}

/* accept(2) failed (EMFILE, ENFILE, ENOBUFS): pause instead of spinning on a connection
 * that stays in the backlog. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    te_partition_server_t *s = arg;
    struct timeval tv = {0, PS_ACCEPT_RETRY_MS * 1000};
    TE_WARN(CTX, "accept failed on port %d: %s; pausing %d ms", s->port,
            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()), PS_ACCEPT_RETRY_MS);
    evconnlistener_disable(l);
    evtimer_add(s->resume_ev, &tv);
}

te_partition_server_t *partition_server_new(te_net_io_thread_t **threads, int n_threads, const char *bind_host,
                                            int port, te_partition_manager_t *pm, te_error_t *err)
{
    te_partition_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    s->threads = threads;
    s->n_threads = n_threads;
    s->pm = pm;
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->accepted, 0);
    atomic_init(&s->n_open, 0);
    atomic_init(&s->max_conns, 0);
    atomic_init(&s->handshake_ms, 0);
    atomic_init(&s->full, 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int sslen;
    char spec[300];
    snprintf(spec, sizeof(spec), strchr(bind_host, ':') ? "[%s]:%d" : "%s:%d", bind_host, port);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, bind_host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        sslen = sizeof(*in4);
    } else if (inet_pton(AF_INET6, bind_host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sslen = sizeof(*in6);
    } else {
        te_error_set(err, TE_EINVAL,
                     "cannot parse the data-port bind address '%s' (taskmanager.bind-host must be a "
                     "numeric IP address)",
                     bind_host);
        goto cleanup;
    }
    s->listener =
        evconnlistener_new_bind(net_io_thread_base(threads[0]), on_accept, s,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128, (struct sockaddr *)&ss, sslen);
    if (s->listener == NULL) {
        te_error_set(err, TE_EIO, "cannot listen on %s (taskmanager.data.port): %s", spec, strerror(errno));
        goto cleanup;
    }
    evconnlistener_set_error_cb(s->listener, on_accept_error);
    s->resume_ev = evtimer_new(net_io_thread_base(threads[0]), server_resume_cb, s);
    if (s->resume_ev == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&bound, &blen);
    s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return s;
cleanup:
    partition_server_free(s);
    return NULL;
}

int partition_server_port(const te_partition_server_t *s) { return s->port; }
void partition_server_set_limits(te_partition_server_t *s, int max_conns, int64_t handshake_ms)
{
    atomic_store(&s->max_conns, max_conns > 0 ? max_conns : 0);
    atomic_store(&s->handshake_ms, handshake_ms > 0 ? handshake_ms : 0);
}
int partition_server_open_connections(const te_partition_server_t *s)
{
    return atomic_load(&((te_partition_server_t *)s)->n_open);
}
void partition_server_set_security(te_partition_server_t *s, const te_security_t *sec) { s->sec = sec; }
unsigned long partition_server_connections_accepted(const te_partition_server_t *s)
{
    return atomic_load(&((te_partition_server_t *)s)->accepted);
}

void partition_server_free(te_partition_server_t *s)
{
    if (s == NULL)
        return;
    if (s->listener)
        evconnlistener_free(s->listener);
    s->listener = NULL;
    atomic_store(&s->full, 0); /* the threads are stopped: nothing to resume */
    while (s->conns)
        conn_free(s->conns);
    if (s->resume_ev)
        event_free(s->resume_ev);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/*
 * net_io_thread — one network I/O thread: its own event_base (the partition server's
 * and partition client's connections assigned to it live here) and a mutex-guarded
 * work queue other threads hand closures to (DESIGN §2: an event_base is touched only
 * by its thread; others submit work and wake it with event_active).
 *
 * Threading: new / start / stop / free on the owning (control) thread; submit from any
 * thread (including the I/O thread itself); base() is for code running on the thread.
 */
#ifndef TE_NET_IO_THREAD_H
#define TE_NET_IO_THREAD_H

#include "common/te_status.h"

#include <stdint.h>

struct event_base;
typedef struct te_net_io_thread te_net_io_thread_t;

/* A closure for the I/O thread. Posted nodes belong to the caller (heap 0): one may be
 * posted again once its fn has started; submit allocates and frees its own (heap 1). */
typedef struct te_net_work {
    void (*fn)(void *arg);
    void *arg;
    struct te_net_work *next; /* the queue's */
    int heap;
} te_net_work_t;

te_net_io_thread_t *net_io_thread_new(const char *name, te_error_t *err);
/* taskmanager.network.busy-poll: after each wake-up keep polling the sockets and the
 * work queue for up to ns (0 = off: sleep in epoll_wait at once). Before start. */
void net_io_thread_set_busy_poll(te_net_io_thread_t *t, int64_t ns);
te_status_t net_io_thread_start(te_net_io_thread_t *t, te_error_t *err);
/* Runs the queued work, stops the loop and joins the thread. Idempotent. */
void net_io_thread_stop(te_net_io_thread_t *t);
void net_io_thread_free(te_net_io_thread_t *t);

struct event_base *net_io_thread_base(te_net_io_thread_t *t);
/* Runs fn(arg) on the I/O thread, in submission order. Returns -1 (fn not called)
 * when out of memory or the thread is stopped. */
int net_io_thread_submit(te_net_io_thread_t *t, void (*fn)(void *arg), void *arg);
/* The same with the caller's node (no allocation: for wake-ups on the per-buffer path);
 * w->fn, w->arg and w->heap = 0 set by the caller. */
int net_io_thread_post(te_net_io_thread_t *t, te_net_work_t *w);
/* 1 when called on this I/O thread. */
int net_io_thread_is_current(te_net_io_thread_t *t);

#endif

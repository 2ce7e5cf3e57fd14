/*
 * net_io_thread — a pthread running one event_base plus a closure queue.
 *
 * Busy poll (taskmanager.network.busy-poll, off by default): after each wake-up the
 * thread keeps polling for up to busy_poll_ns instead of sleeping in epoll_wait — its
 * sockets with a non-blocking loop pass (one epoll_wait(0) each), and the closure queue
 * directly. While it spins, `spinning` is set and submitters skip the event_active
 * (whose eventfd write and the sleeping thread's wake-up are what a latency-critical
 * buffer pays otherwise); the spinner takes the queue itself. The window is what the
 * mode costs: a thread that gets work at least once per window never sleeps (one core
 * per I/O thread at full load).
 *
 * Threading: submit/post from any thread takes `mu`, appends, and (when the queue was
 * empty and the thread is not spinning) event_active()s the wake event (libevent is
 * built with pthreads; the base was made thread-aware by evthread_use_pthreads). The
 * queue is drained on the I/O thread without `mu` held while closures run. `spinning`
 * is guarded by `mu` (so a submit either sees it set, or its event_active wakes the
 * loop); `queued` mirrors "the queue is not empty" for the spinner to read without the
 * lock. stop() submits a closure that breaks the loop.
 */
#include "net/net_io_thread.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/hot_mutex.h"
#include "common/thread_name.h"

struct te_net_io_thread {
    char name[32];
    struct event_base *base;
    struct event *wake;
    pthread_t thread;
    int started, stopped;
    int64_t busy_poll_ns; /* set before start */
    pthread_mutex_t mu;
    te_net_work_t *head, *tail;
    int accepting; /* guarded by mu */
    int spinning;  /* guarded by mu */
    _Atomic int queued;
    int stop; /* the loop was told to end (I/O thread only) */
};

static pthread_once_t g_evthread_once = PTHREAD_ONCE_INIT;
static void evthread_init(void) { evthread_use_pthreads(); }

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    te_net_io_thread_t *t = arg;
    for (;;) {
        pthread_mutex_lock(&t->mu);
        te_net_work_t *w = t->head;
        t->head = t->tail = NULL;
        atomic_store_explicit(&t->queued, 0, memory_order_relaxed);
        pthread_mutex_unlock(&t->mu);
        if (w == NULL)
            return;
        while (w != NULL) {
            te_net_work_t *n = w->next;
            int heap = w->heap;
            w->fn(w->arg); /* a posted node may be posted again from here on */
            if (heap)
                free(w);
            w = n;
        }
    }
}

te_net_io_thread_t *net_io_thread_new(const char *name, te_error_t *err)
{
    pthread_once(&g_evthread_once, evthread_init);
    te_net_io_thread_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(t->name, sizeof(t->name), "%s", name ? name : "net-io");
    te_hot_mutex_init(&t->mu);
    t->base = event_base_new();
    if (t->base != NULL)
        t->wake = event_new(t->base, -1, EV_PERSIST, on_wake, t);
    if (t->base == NULL || t->wake == NULL) {
        te_error_set(err, TE_ENOMEM, "cannot create the event loop of network I/O thread %s", t->name);
        net_io_thread_free(t);
        return NULL;
    }
    event_add(t->wake, NULL);
    t->accepting = 1;
    return t;
}

/* Busy poll after a wake-up: sockets (non-blocking loop passes) and the closure queue
 * for up to busy_poll_ns, then back to sleeping. */
static void io_spin(te_net_io_thread_t *t)
{
    pthread_mutex_lock(&t->mu);
    t->spinning = 1;
    pthread_mutex_unlock(&t->mu);
    int64_t until = te_clock_mono_ns() + t->busy_poll_ns;
    for (unsigned i = 1; !t->stop; i++) {
        if (atomic_load_explicit(&t->queued, memory_order_relaxed))
            on_wake(-1, 0, t);
        event_base_loop(t->base, EVLOOP_NONBLOCK);
        te_cpu_relax();
        if ((i & 15) == 0 && te_clock_mono_ns() >= until)
            break;
    }
    pthread_mutex_lock(&t->mu);
    t->spinning = 0;
    int pending = t->head != NULL;
    pthread_mutex_unlock(&t->mu);
    if (pending) /* submitted while we spun, after our last look */
        on_wake(-1, 0, t);
}

static void *io_main(void *arg)
{
    te_net_io_thread_t *t = arg;
    te_thread_set_name("te-", t->name);
    if (t->busy_poll_ns <= 0) {
        event_base_loop(t->base, EVLOOP_NO_EXIT_ON_EMPTY);
        return NULL;
    }
    while (!t->stop) {
        event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
        if (!t->stop)
            io_spin(t);
    }
    return NULL;
}

void net_io_thread_set_busy_poll(te_net_io_thread_t *t, int64_t ns) { t->busy_poll_ns = ns > 0 ? ns : 0; }

te_status_t net_io_thread_start(te_net_io_thread_t *t, te_error_t *err)
{
    int rc = pthread_create(&t->thread, NULL, io_main, t);
    if (rc != 0)
        return te_error_set(err, TE_EIO, "cannot start network I/O thread %s: %s", t->name, strerror(rc));
    t->started = 1;
    return TE_OK;
}

static void do_break(void *arg)
{
    te_net_io_thread_t *t = arg;
    t->stop = 1; /* the busy-poll loop's own flag: each loop pass clears libevent's */
    event_base_loopbreak(t->base);
}

void net_io_thread_stop(te_net_io_thread_t *t)
{
    if (t == NULL || !t->started || t->stopped)
        return;
    net_io_thread_submit(t, do_break, t);
    pthread_mutex_lock(&t->mu);
    t->accepting = 0;
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    t->stopped = 1;
    on_wake(-1, 0, t); /* work submitted after the break runs here, on the joining thread */
}

void net_io_thread_free(te_net_io_thread_t *t)
{
    if (t == NULL)
        return;
    net_io_thread_stop(t);
    on_wake(-1, 0, t);
    if (t->wake)
        event_free(t->wake);
    if (t->base)
        event_base_free(t->base);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

struct event_base *net_io_thread_base(te_net_io_thread_t *t) { return t->base; }

int net_io_thread_is_current(te_net_io_thread_t *t)
{
    return t->started && pthread_equal(pthread_self(), t->thread);
}

int net_io_thread_post(te_net_io_thread_t *t, te_net_work_t *w)
{
    w->next = NULL;
    pthread_mutex_lock(&t->mu);
    if (!t->accepting) {
        pthread_mutex_unlock(&t->mu);
        return -1;
    }
    int was_empty = t->head == NULL;
    if (t->tail)
        t->tail->next = w;
    else
        t->head = w;
    t->tail = w;
    int spinning = t->spinning;
    if (spinning)
        atomic_store_explicit(&t->queued, 1, memory_order_relaxed);
    pthread_mutex_unlock(&t->mu);
    if (was_empty && !spinning)
        event_active(t->wake, 0, 0);
    return 0;
}

int net_io_thread_submit(te_net_io_thread_t *t, void (*fn)(void *arg), void *arg)
{
    te_net_work_t *w = malloc(sizeof(*w));
    if (w == NULL)
        return -1;
    w->fn = fn;
    w->arg = arg;
    w->heap = 1;
    if (net_io_thread_post(t, w) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

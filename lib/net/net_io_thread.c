/*
 * net_io_thread — a pthread running one event_base plus a closure queue.
 *
 * Threading: submit from any thread takes `mu`, appends, and (when the queue was
 * empty) event_active()s the wake event (libevent is built with pthreads; the base was
 * made thread-aware by evthread_use_pthreads). The queue is drained on the I/O thread
 * without `mu` held while closures run. stop() submits a closure that breaks the loop.
 */
#include "net/net_io_thread.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hot_mutex.h"
#include "common/thread_name.h"

struct work {
    void (*fn)(void *);
    void *arg;
    struct work *next;
};

struct te_net_io_thread {
    char name[32];
    struct event_base *base;
    struct event *wake;
    pthread_t thread;
    int started, stopped;
    pthread_mutex_t mu;
    struct work *head, *tail;
    int accepting; /* guarded by mu */
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
        struct work *w = t->head;
        t->head = t->tail = NULL;
        pthread_mutex_unlock(&t->mu);
        if (w == NULL)
            return;
        while (w != NULL) {
            struct work *n = w->next;
            w->fn(w->arg);
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

static void *io_main(void *arg)
{
    te_net_io_thread_t *t = arg;
    te_thread_set_name("te-", t->name);
    event_base_loop(t->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

te_status_t net_io_thread_start(te_net_io_thread_t *t, te_error_t *err)
{
    int rc = pthread_create(&t->thread, NULL, io_main, t);
    if (rc != 0)
        return te_error_set(err, TE_EIO, "cannot start network I/O thread %s: %s", t->name, strerror(rc));
    t->started = 1;
    return TE_OK;
}

static void do_break(void *arg) { event_base_loopbreak(arg); }

void net_io_thread_stop(te_net_io_thread_t *t)
{
    if (t == NULL || !t->started || t->stopped)
        return;
    net_io_thread_submit(t, do_break, t->base);
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

int net_io_thread_submit(te_net_io_thread_t *t, void (*fn)(void *arg), void *arg)
{
    struct work *w = malloc(sizeof(*w));
    if (w == NULL)
        return -1;
    w->fn = fn;
    w->arg = arg;
    w->next = NULL;
    pthread_mutex_lock(&t->mu);
    if (!t->accepting) {
        pthread_mutex_unlock(&t->mu);
        free(w);
        return -1;
    }
    int was_empty = t->head == NULL;
    if (t->tail)
        t->tail->next = w;
    else
        t->head = w;
    t->tail = w;
    pthread_mutex_unlock(&t->mu);
    if (was_empty)
        event_active(t->wake, 0, 0);
    return 0;
}

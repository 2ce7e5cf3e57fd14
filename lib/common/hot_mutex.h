/*
 * hot_mutex — mutexes for the data path's short critical sections (buffer pools,
 * subpartition and channel queues, gate FIFOs, mailboxes, the I/O threads' work
 * queues).
 *
 * They are glibc's adaptive mutexes: a thread that finds one held spins briefly before
 * sleeping in the kernel. These locks are held for a few hundred nanoseconds, so
 * spinning is cheaper than sleeping: a futex sleep and the wake-up that ends it cost
 * two context switches, and on a loaded host the wake-up often preempts the thread
 * that unlocked. Semantics are those of a default mutex.
 */
#ifndef TE_HOT_MUTEX_H
#define TE_HOT_MUTEX_H

#include <pthread.h>

void te_hot_mutex_init(pthread_mutex_t *m);

#endif

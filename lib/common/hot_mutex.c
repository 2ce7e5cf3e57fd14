/*
 * hot_mutex — see the header. Threading: init before the mutex is shared.
 */
#define _GNU_SOURCE
#include "common/hot_mutex.h"

void te_hot_mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0) {
        pthread_mutex_init(m, NULL);
        return;
    }
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

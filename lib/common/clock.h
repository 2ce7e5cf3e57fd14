/*
 * clock — monotonic and wall clocks in milliseconds / nanoseconds.
 *
 * Threading: pure, reentrant.
 */
#ifndef TE_CLOCK_H
#define TE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t te_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t te_clock_mono_ms(void) { return te_clock_mono_ns() / 1000000LL; }

static inline int64_t te_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000LL;
}

/* Fills *ts with an absolute CLOCK_MONOTONIC deadline `ms` from now (for
 * pthread_cond_timedwait on a condvar created with CLOCK_MONOTONIC). */
static inline void te_clock_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

#endif

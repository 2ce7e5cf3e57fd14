/*
 * timer_service — the timers of one operator instance (Flink's InternalTimerService):
 * event-time and processing-time timers, each a (key, timestamp) pair registered at
 * most once, fired in timestamp order (registration order among equal timestamps).
 *
 * Timers are kept in a min-heap per kind, and in a keyed-state backend (key, namespace
 * = kind + timestamp) for de-duplication, stored by key group like all keyed state.
 *
 * Who fires them (operator_chain.c): event-time timers when the operator's input
 * watermark reaches them, before the watermark is forwarded; processing-time timers
 * by the task's mailbox loop once te_clock_mono_ms() reaches them (the loop's blocking
 * take waits at most until the earliest one, so it never spins).
 *
 * Threading: owned by one operator instance; task thread only (or under the task's
 * checkpoint lock); no locks.
 */
#ifndef TE_TIMER_SERVICE_H
#define TE_TIMER_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/te_status.h"

typedef struct te_timer_service te_timer_service_t;

#define TE_TIMER_PROCESSING 0
#define TE_TIMER_EVENT 1

/* max_parallelism: the key-group count of the de-duplication state (0 = 128). */
te_timer_service_t *timer_service_new(uint32_t max_parallelism);
void timer_service_free(te_timer_service_t *ts);

/* Registers a timer (the key is copied; key may be NULL when keylen is 0). Returns 0
 * when new, 1 when it was registered already, -1 when out of memory. */
int timer_service_register(te_timer_service_t *ts, int kind, const uint8_t *key, uint32_t keylen, int64_t t);
/* Removes the earliest timer of `kind` whose time is <= limit. Returns 1 with its time
 * and key (borrowed until the next call on ts), 0 when there is none. */
int timer_service_pop(te_timer_service_t *ts, int kind, int64_t limit, int64_t *t, const uint8_t **key,
                      uint32_t *keylen);
/* Time of the earliest timer of `kind`, INT64_MAX when none. */
int64_t timer_service_next(const te_timer_service_t *ts, int kind);
size_t timer_service_count(const te_timer_service_t *ts, int kind);

/* Checkpoints: every pending timer, as a keyed-state snapshot (state_backend format; the
 * key group comes from the timer's key), so timers are redistributed with their keys.
 * snapshot: a malloc'd buffer (the caller frees). restore adds the timers of key groups
 * kg_first..kg_last found in data (duplicates are kept once); corruption is an error
 * and leaves the service unchanged. */
te_status_t timer_service_snapshot(te_timer_service_t *ts, uint8_t **data, size_t *len, te_error_t *err);
te_status_t timer_service_restore(te_timer_service_t *ts, const uint8_t *data, size_t len, uint32_t kg_first,
                                  uint32_t kg_last, te_error_t *err);

#endif

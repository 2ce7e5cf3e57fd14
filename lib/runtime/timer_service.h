/*
 * timer_service — the timers of one operator instance (Flink's InternalTimerService):
 * event-time and processing-time timers, each a (key, timestamp) pair registered at
 * most once, fired in timestamp order (registration order among equal timestamps).
 *
 * Timers are kept in a min-heap per kind, and in a keyed-state backend (key, namespace
 * = kind + timestamp) for de-duplication, stored by key group like all keyed state
 * (a hashmap backend of the task's state store, or the service's own). A checkpoint's
 * synchronous part takes a copy-on-write view of that backend; a snapshot thread
 * writes it, moving processing times onto the wall clock as it goes.
 *
 * Who fires them (operator_chain.c): event-time timers when the operator's input
 * watermark reaches them, before the watermark is forwarded; processing-time timers
 * by the task's mailbox loop once te_clock_mono_ms() reaches them (the loop's blocking
 * take waits at most until the earliest one, so it never spins).
 *
 * Checkpoints: a processing-time timer's time is a reading of this process's monotonic
 * clock, which means nothing to a process restored later or on another machine. So a
 * snapshot stores processing-time timers on the wall clock (epoch ms, as Flink does:
 * processing time is wall-clock time): t - mono_now + wall_now. A restore maps them
 * back onto its own monotonic clock: stored - wall_now + mono_now, so a timer keeps
 * the wall-clock time it was due at: one restored before that time fires after the
 * remaining delay, one whose time passed while nothing ran fires at once. Event-time
 * timers are stored as they are (event time is in the data). The format version
 * travels with the snapshot (the `sub` field of the checkpoint's TIMERS section):
 *   0  TE_TIMER_SNAPSHOT_MONO  processing times as the writer's monotonic clock read
 *      (snapshots of older builds). Restored as due at once (min(t, mono_now)): the
 *      writer's clock is unknown, and firing early is better than never firing.
 *   1  TE_TIMER_SNAPSHOT_WALL  processing times as wall-clock epoch ms (written now).
 *
 * Threading: owned by one operator instance; task thread only (or under the task's
 * checkpoint lock); no locks.
 */
#ifndef TE_TIMER_SERVICE_H
#define TE_TIMER_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "state/state_backend.h"

typedef struct te_timer_service te_timer_service_t;

#define TE_TIMER_PROCESSING 0
#define TE_TIMER_EVENT      1

/* max_parallelism: the key-group count of its own de-duplication state (0 = 128). */
te_timer_service_t *timer_service_new(uint32_t max_parallelism);
/* The same over a borrowed de-duplication backend (the state store's), which must be
 * empty and outlive the service. */
te_timer_service_t *timer_service_new_with(te_state_backend_t *dedup);
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

/* Snapshot formats (see the top of this file). */
#define TE_TIMER_SNAPSHOT_MONO    0u
#define TE_TIMER_SNAPSHOT_WALL    1u
#define TE_TIMER_SNAPSHOT_VERSION TE_TIMER_SNAPSHOT_WALL

/* The two clocks read at one moment (te_clock_mono_ms(), te_clock_wall_ms()): how a
 * snapshot or a restore converts processing-time timers. Passed in, so the conversion
 * is testable with any clocks. */
typedef struct te_timer_clock {
    int64_t mono_ms;
    int64_t wall_ms;
} te_timer_clock_t;

/* Checkpoints: every pending timer, as a keyed-state snapshot (state_backend format; the
 * key group comes from the timer's key, the namespace is kind | time), so timers are
 * redistributed with their keys. snapshot writes format TE_TIMER_SNAPSHOT_VERSION into
 * a malloc'd buffer (the caller frees). restore adds the timers of key groups
 * kg_first..kg_last found in data, written in `format` (duplicates are kept once); an
 * unknown format or corruption is an error and leaves the service unchanged. */
te_status_t timer_service_snapshot(te_timer_service_t *ts, te_timer_clock_t now, uint8_t **data, size_t *len,
                                   te_error_t *err);
te_status_t timer_service_restore(te_timer_service_t *ts, const uint8_t *data, size_t len, uint32_t format,
                                  te_timer_clock_t now, uint32_t kg_first, uint32_t kg_last, te_error_t *err);
/* The same from a TIMERS section of a snapshot file (streamed). */
te_status_t timer_service_restore_section(te_timer_service_t *ts, te_ckpt_reader_t *r,
                                          const te_ckpt_section_info_t *sec, uint32_t format, te_timer_clock_t now,
                                          uint32_t kg_first, uint32_t kg_last, te_error_t *err);

/* Asynchronous snapshots: the view of every pending timer (state_backend_view of the
 * de-duplication state, taken now, on the owner's thread) and the namespace mapping
 * that stores processing times on the wall clock: write the view with
 * state_backend_view_write(v, w, .., timer_service_view_map, *map_arg, ..) and the
 * section's `sub` TE_TIMER_SNAPSHOT_VERSION. */
te_state_view_t *timer_service_view(te_timer_service_t *ts, te_timer_clock_t now, int64_t *map_arg,
                                    te_error_t *err);
void timer_service_view_map(int64_t map_arg, uint8_t *ns, uint32_t nslen);

#endif

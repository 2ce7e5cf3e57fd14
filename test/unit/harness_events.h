/*
 * harness_events — random event-time input for unit tests of the windowed operators,
 * and a brute-force window oracle:
 *   - gen_events: NEV events, records "k<key>\t<value>" with timestamps drifting
 *     upwards and jitter up to 400 ms back, and every 20th event (index 19, 39, ...) a
 *     watermark = max timestamp seen - 300, so some records are late;
 *   - feed_events_range: events [from, to) into one chain, or into several subtasks'
 *     chains, records routed by the key group of their key as the hash partitioner
 *     does, watermarks to all;
 *   - oracle_windows: the window results of every event, computed record by record
 *     (enumerate its windows, skip the late ones).
 * Header-only (static functions and arrays, one copy per test file); the including file
 * defines _GNU_SOURCE first (asprintf).
 *
 * Threading: the test's thread only.
 */
#ifndef TE_TEST_HARNESS_EVENTS_H
#define TE_TEST_HARNESS_EVENTS_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/operator_chain.h"
#include "harness_chain.h"
#include "common/key_group.h"

typedef struct ev {
    int is_wm;
    int64_t t; /* record timestamp or watermark */
    int key, val, input;
} ev_t;

#define NEV 3000
static ev_t evs[NEV];

static inline void gen_events_keys(unsigned seed, int nkeys)
{
    srand(seed);
    int64_t max = 0, base = 1000;
    for (int i = 0; i < NEV; i++) {
        if (i % 20 == 19) {
            evs[i] = (ev_t){1, max - 300, 0, 0, 0};
            continue;
        }
        base += rand() % 15;
        int64_t t = base - rand() % 400;
        if (t > max)
            max = t;
        int key = rand() % nkeys, val = rand() % 100 - 20, input = rand() % 2;
        evs[i] = (ev_t){0, t, key, val, input};
    }
}

static inline void gen_events(unsigned seed) { gen_events_keys(seed, 5); }

/* Feeds events [from, to): each record to chains[the subtask owning its key's key group
 * among n] (input 0, or its random input when two_inputs), each watermark to all. */
static inline void feed_events_range(te_operator_chain_t *const *chains, uint32_t n, int from, int to,
                                     int two_inputs)
{
    te_error_t err = {0};
    char buf[64];
    for (int i = from; i < to; i++) {
        if (evs[i].is_wm) {
            for (uint32_t s = 0; s < n; s++)
                ck_assert_msg(operator_chain_process_watermark(chains[s], evs[i].t, &err) == TE_OK, "%s", err.msg);
            continue;
        }
        int len = snprintf(buf, sizeof(buf), "k%d\t%d", evs[i].key, evs[i].val);
        int klen = snprintf(NULL, 0, "k%d", evs[i].key);
        uint32_t kg = key_group_for_key((const uint8_t *)buf, (uint32_t)klen, 128);
        te_record_t r = {(uint8_t *)buf, (uint32_t)len, evs[i].t};
        ck_assert_msg(push_text_rec(chains[key_group_operator_index(kg, 128, n)], two_inputs ? evs[i].input : 0,
                                    &r, &err) == TE_OK,
                      "%s", err.msg);
    }
}

/* The same with typed rows (k:string, v:int64) of schema sc (on their random input
 * when two_inputs). */
static inline void feed_events_typed2(te_operator_chain_t *const *chains, uint32_t n, int from, int to,
                                      const te_schema_t *sc, int two_inputs)
{
    te_error_t err = {0};
    char buf[64];
    for (int i = from; i < to; i++) {
        if (evs[i].is_wm) {
            for (uint32_t s = 0; s < n; s++)
                ck_assert_msg(operator_chain_process_watermark(chains[s], evs[i].t, &err) == TE_OK, "%s", err.msg);
            continue;
        }
        snprintf(buf, sizeof(buf), "k%d\t%d", evs[i].key, evs[i].val);
        int klen = snprintf(NULL, 0, "k%d", evs[i].key);
        uint32_t kg = key_group_for_key((const uint8_t *)buf, (uint32_t)klen, 128);
        ck_assert_msg(push_tsv(chains[key_group_operator_index(kg, 128, n)], two_inputs ? evs[i].input : 0, sc,
                               buf, evs[i].t, &err) == TE_OK,
                      "%s", err.msg);
    }
}

static inline void feed_events_typed(te_operator_chain_t *const *chains, uint32_t n, int from, int to,
                                     const te_schema_t *sc)
{
    feed_events_typed2(chains, n, from, to, sc, 0);
}

static inline int64_t floor_to(int64_t t, int64_t m)
{
    int64_t r = t % m;
    return r < 0 ? t - r - m : t - r;
}

/* Brute-force window oracle over all NEV events. agg: 0 count, 1 sum, 2 max. Writes
 * "k<key>\t<start>\t<end>\t<value>" lines (malloc'd) into lines and the number of
 * records late for all their windows into *late; returns the number of lines. */
typedef struct win_cell {
    int key;
    int64_t start;
    long long count, sum, max;
} win_cell_t;
static win_cell_t cells[20000];

static inline size_t oracle_windows(int64_t size, int64_t slide, int agg, char **lines, uint64_t *late)
{
    size_t nc = 0;
    int64_t wm = INT64_MIN;
    *late = 0;
    for (int i = 0; i < NEV; i++) {
        if (evs[i].is_wm) {
            if (evs[i].t > wm)
                wm = evs[i].t;
            continue;
        }
        int any = 0;
        for (int64_t s = floor_to(evs[i].t, slide); s + size > evs[i].t; s -= slide) {
            if (s + size - 1 <= wm)
                continue;
            any = 1;
            size_t j;
            for (j = 0; j < nc; j++)
                if (cells[j].key == evs[i].key && cells[j].start == s)
                    break;
            if (j == nc) {
                ck_assert_uint_lt(nc, sizeof(cells) / sizeof(cells[0]));
                cells[nc++] = (win_cell_t){evs[i].key, s, 0, 0, -1000000};
            }
            cells[j].count++;
            cells[j].sum += evs[i].val;
            if (evs[i].val > cells[j].max)
                cells[j].max = evs[i].val;
        }
        if (!any)
            (*late)++;
    }
    for (size_t j = 0; j < nc; j++) {
        long long v = agg == 0 ? cells[j].count : agg == 1 ? cells[j].sum : cells[j].max;
        if (asprintf(&lines[j], "k%d\t%lld\t%lld\t%lld", cells[j].key, (long long)cells[j].start,
                     (long long)(cells[j].start + size), v) < 0)
            ck_abort();
    }
    return nc;
}

#endif

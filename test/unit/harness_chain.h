/*
 * harness_chain — for unit tests that drive built-in operators through a real operator
 * chain (runtime/operator_chain.c: the engine side of the ABI, timers, keyed state):
 *   - `capture`, a tail operator keeping what reaches it (each record as a
 *     NUL-terminated copy with its timestamp, and the last watermark) in the list
 *     cap_slot[slot], `slot` being its parameter (default 0), so several chains can
 *     run side by side; a v2 operator, so it receives the chain's text form of rows.
 *     With harness_capture_rows(1) the chains get the v3 `capture` instead: it
 *     receives rows, checks each against its input schema (te_row_check) and keeps its
 *     text (h_row_tsv; a text row's string as it is);
 *   - side outputs: harness_capture_sides(tags) before test_chain_new gives the chain a
 *     record writer per tag (a result partition of its own, shuffle/); test_chain_drain
 *     reads them back (checked and formatted in the side output's schema) into t->side,
 *     in the order of the drains (drain after each call for an order across tags);
 *     test_chain_free drains, then frees the chain and the writers;
 *   - test_chain_new(_def): the chain [operator(params), capture(slot)] of one subtask,
 *     its keyed state in the backend harness_backend names (hashmap, or rocksdb: then
 *     each chain gets its own state store, a RocksDB instance under a mkdtemp
 *     directory; the fixture pair harness_rocksdb_on / harness_rocksdb_off sets it up
 *     for a test case and frees the stores after the test).
 * Header-only (static functions and lists, one copy per test file).
 *
 * Threading: the test's thread only (Check runs each case in its own forked child).
 */
#ifndef TE_TEST_HARNESS_CHAIN_H
#define TE_TEST_HARNESS_CHAIN_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dir_util.h"
#include "operators/operator_registry.h"
#include "runtime/operator_chain.h"
#include "runtime/stream_element.h"
#include "shuffle/channel_selector.h"
#include "shuffle/record_deserializer.h"
#include "shuffle/record_writer.h"
#include "state/state_store.h"

#include "harness_rows.h"
#include "harness_shuffle.h"

#define CAP_SLOTS 8

typedef struct cap_list {
    char **lines; /* malloc'd copies */
    int64_t *ts;
    const char **tag; /* side outputs: the tag (borrowed); NULL on the main output */
    size_t n, cap;
    int64_t last_wm;
} cap_list_t;

static cap_list_t cap_slot[CAP_SLOTS];

/* Appends rec: a text record (sc NULL) as it is, else the row of schema sc (checked) as
 * its text, a text row as its string. */
static inline void cap_push(cap_list_t *l, const te_schema_t *sc, const te_record_t *rec, const char *tag)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->lines = realloc(l->lines, l->cap * sizeof(*l->lines));
        l->ts = realloc(l->ts, l->cap * sizeof(*l->ts));
        l->tag = realloc(l->tag, l->cap * sizeof(*l->tag));
        ck_assert(l->lines != NULL && l->ts != NULL && l->tag != NULL);
    }
    char why[200];
    ck_assert_msg(sc == NULL || te_row_check(rec, sc, why, sizeof(why)) == 0, "captured row: %s", why);
    char *s;
    if (sc == NULL || schema_is_text(sc)) {
        uint32_t n = rec->len;
        const uint8_t *p = sc == NULL ? rec->data : te_row_get_str(rec, 0, &n);
        ck_assert_ptr_nonnull(s = malloc(n + 1));
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    } else {
        s = h_row_tsv(sc, rec);
    }
    l->lines[l->n] = s;
    l->ts[l->n] = rec->timestamp;
    l->tag[l->n] = tag;
    l->n++;
}

static inline void cap_list_free(cap_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->lines[i]);
    free(l->lines);
    free(l->ts);
    free(l->tag);
    memset(l, 0, sizeof(*l));
    l->last_wm = INT64_MIN;
}

typedef struct cap_op {
    cap_list_t *l;
    const te_schema_t *in; /* NULL: text records (v2) */
} cap_op_t;

static inline void *cap_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    const char *v = api->param(ctx, "slot");
    int slot = v ? atoi(v) : 0;
    if (slot < 0 || slot >= CAP_SLOTS) {
        snprintf(err, errlen, "capture: bad slot");
        return NULL;
    }
    cap_op_t *op = malloc(sizeof(*op));
    ck_assert_ptr_nonnull(op);
    *op = (cap_op_t){&cap_slot[slot], NULL};
    return op;
}

static inline void *cap_rows_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    cap_op_t *op = cap_setup(api, ctx, err, errlen);
    if (op != NULL)
        op->in = api->input_schema(ctx, 0);
    return op;
}

static inline int cap_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input, (void)out;
    cap_op_t *op = self;
    cap_push(op->l, op->in, rec, NULL);
    return 0;
}

static inline int cap_watermark(void *self, int64_t wm, te_output_t *out)
{
    (void)out;
    ((cap_op_t *)self)->l->last_wm = wm;
    return 0;
}

static const te_operator_def_t cap_def __attribute__((unused)) = {
    .abi_version = 2, /* text records (v2) */
    .name = "capture",
    .kind = TE_OP_ONE_INPUT,
    .setup = cap_setup,
    .process_element = cap_process,
    .process_watermark = cap_watermark,
    .dispose = free,
};

static const te_operator_def_t cap_rows_def = {
    .abi_version = 3, /* rows, checked against the input schema */
    .name = "capture",
    .kind = TE_OP_ONE_INPUT,
    .setup = cap_rows_setup,
    .process_element = cap_process,
    .process_watermark = cap_watermark,
    .dispose = free,
};

static const te_operator_def_t *harness_cap = &cap_def;

/* rows = 1: the next chains end in the v3 capture (rows checked), 0: the v2 one. */
static inline void harness_capture_rows(int rows) { harness_cap = rows ? &cap_rows_def : &cap_def; }

static inline void cap_reset(int slot) { cap_list_free(&cap_slot[slot]); }

static inline void cap_reset_all(void)
{
    for (int i = 0; i < CAP_SLOTS; i++)
        cap_reset(i);
}

/* Pushes a text record into a chain whose input is text: as the row of one string
 * field that such an input carries (te/row.h). */
static inline te_status_t push_text_rec(te_operator_chain_t *c, int input, const te_record_t *text,
                                        te_error_t *err)
{
    static te_row_builder_t b;
    te_record_t row;
    te_row_builder_begin(&b, 1);
    te_row_set_str(&b, 0, text->data, text->len);
    ck_assert_int_eq(te_row_builder_finish(&b, text->timestamp, &row), 0);
    return operator_chain_process_element(c, input, &row, err);
}

/* Pushes a record given as text (tab-separated values) as the row of schema sc. */
static inline te_status_t push_tsv(te_operator_chain_t *c, int input, const te_schema_t *sc, const char *text,
                                   int64_t ts, te_error_t *err)
{
    static te_row_builder_t b;
    te_record_t row;
    h_tsv_row(sc, text, strlen(text), ts, &b, &row);
    return operator_chain_process_element(c, input, &row, err);
}

static inline int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* ---- the keyed-state backend of the chains ---- */

static const char *harness_backend __attribute__((unused)) = "hashmap";
static char harness_state_dir[64];
#define HARNESS_MAX_STORES 64
static te_state_store_t *harness_stores[HARNESS_MAX_STORES];
static int harness_n_stores;

static inline void harness_rocksdb_on(void)
{
    harness_backend = "rocksdb";
    snprintf(harness_state_dir, sizeof(harness_state_dir), "/tmp/check_chain_state.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(harness_state_dir));
}

/* Frees every store (their chains must be freed already) and the directory. */
static inline void harness_rocksdb_off(void)
{
    for (int i = 0; i < harness_n_stores; i++)
        state_store_free(harness_stores[i]);
    harness_n_stores = 0;
    if (harness_state_dir[0])
        ck_assert_int_eq(dir_remove_tree(harness_state_dir), 0);
    harness_state_dir[0] = '\0';
    harness_backend = "hashmap";
}

/* A store for one chain: NULL (the chain's own hashmap) unless rocksdb is on. */
static inline te_state_store_t *harness_store(uint32_t subtask)
{
    if (strcmp(harness_backend, "rocksdb") != 0)
        return NULL;
    ck_assert_int_lt(harness_n_stores, HARNESS_MAX_STORES);
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/%d-%u", harness_state_dir, harness_n_stores, subtask);
    te_state_store_config_t sc = {
        .backend = "rocksdb", .max_parallelism = 128, .task_name = "t", .local_dir = dir};
    te_error_t err = {0};
    te_state_store_t *st = state_store_new(&sc, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    harness_stores[harness_n_stores++] = st;
    return st;
}

/* ---- side outputs ---- */

#define HARNESS_MAX_SIDES 4
static const char *const *harness_sides;
static size_t harness_n_sides;

/* The side outputs the next chains get a writer for (tags borrowed; n = 0: none). */
static inline void harness_capture_sides(const char *const *tags, size_t n)
{
    ck_assert_uint_le(n, HARNESS_MAX_SIDES);
    harness_sides = tags;
    harness_n_sides = n;
}

typedef struct test_side {
    te_network_buffer_pool_t *arena;
    te_result_partition_t *rp;
    te_record_writer_t *rw;
    te_subpartition_view_t *view;
    te_record_deserializer_t *des;
} test_side_t;

/* One subtask's chain: the operator, then capture. The configs live here because the
 * chain borrows them for its life. */
typedef struct test_chain {
    te_chain_op_config_t ops[2];
    const char *cap_key[1];
    const char *cap_val[1];
    char slot[12];
    te_operator_chain_t *c;
    size_t n_sides;
    const char *side_tags[HARNESS_MAX_SIDES];
    te_record_writer_t *side_rw[HARNESS_MAX_SIDES];
    test_side_t sides[HARNESS_MAX_SIDES];
    cap_list_t side; /* what reached the side outputs */
} test_chain_t;

static inline void test_side_new(test_side_t *s)
{
    te_error_t err = {0};
    s->arena = network_buffer_pool_new(64 * 4096, 4096, &err);
    ck_assert_msg(s->arena != NULL, "%s", err.msg);
    s->rp = harness_new_rp(s->arena, 1, 2, 16, NULL);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    ck_assert_msg(sel != NULL, "%s", err.msg);
    s->rw = record_writer_new(s->rp, sel, 0, &err);
    ck_assert_msg(s->rw != NULL, "%s", err.msg);
    s->view = result_partition_create_view(s->rp, 0, (te_notifier_t){0}, &err);
    ck_assert_msg(s->view != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(s->des = record_deserializer_new(1u << 30));
}

/* Reads what the side writers hold into t->side (records only: watermarks and stream
 * status go to every writer). */
static inline void test_chain_drain(test_chain_t *t)
{
    for (size_t w = 0; w < t->n_sides; w++) {
        test_side_t *s = &t->sides[w];
        const te_schema_t *sc = operator_chain_output_schema(t->c, t->side_tags[w]);
        ck_assert_ptr_nonnull(sc);
        record_writer_flush_all(s->rw);
        te_buffer_slice_t sl;
        while (subpartition_view_poll(s->view, &sl, NULL)) {
            if (sl.type == TE_BUFFER_EVENT) {
                buffer_recycle(sl.buf);
                continue;
            }
            record_deserializer_set_next(s->des, sl);
            const uint8_t *data, *payload;
            uint32_t len, plen;
            te_des_result_t r;
            while ((r = record_deserializer_next(s->des, &data, &len)) == TE_DES_RECORD) {
                te_record_t rec;
                if (stream_element_record_view(data, len, &payload, &plen, &rec.timestamp)) {
                    rec.data = payload;
                    rec.len = plen;
                    cap_push(&t->side, sc, &rec, t->side_tags[w]);
                }
            }
            ck_assert_int_eq(r, TE_DES_NEED_MORE);
        }
    }
}

/* Drains the side outputs, then frees the chain and its writers (t->side stays: the
 * caller frees it with cap_list_free). */
static inline void test_chain_free(test_chain_t *t)
{
    if (t->c != NULL)
        test_chain_drain(t);
    operator_chain_free(t->c);
    t->c = NULL;
    for (size_t w = 0; w < t->n_sides; w++) {
        test_side_t *s = &t->sides[w];
        record_deserializer_free(s->des);
        subpartition_view_release(s->view);
        record_writer_free(s->rw);
        result_partition_unref(s->rp);
        network_buffer_pool_free(s->arena);
    }
    t->n_sides = 0;
}

/* Builds [def(keys = vals) named `name`, capture(slot)] as subtask `subtask` of
 * `parallelism` (max parallelism 128); opens it when `open` (asserting that it opens).
 * NULL with err when a setup fails. */
static inline te_operator_chain_t *test_chain_new_in(test_chain_t *t, const te_operator_def_t *def,
                                                     const char *name, const char *const *keys,
                                                     const char *const *vals, size_t n, uint32_t subtask,
                                                     uint32_t parallelism, int slot, int open,
                                                     const te_schema_t *in0, const te_schema_t *in1,
                                                     te_error_t *err);

static inline te_operator_chain_t *test_chain_new_def(test_chain_t *t, const te_operator_def_t *def,
                                                      const char *name, const char *const *keys,
                                                      const char *const *vals, size_t n, uint32_t subtask,
                                                      uint32_t parallelism, int slot, int open, te_error_t *err)
{
    return test_chain_new_in(t, def, name, keys, vals, n, subtask, parallelism, slot, open, NULL, NULL, err);
}

/* The same with the schemas of the operator's inputs (NULL = text). */
static inline te_operator_chain_t *test_chain_new_in(test_chain_t *t, const te_operator_def_t *def,
                                                     const char *name, const char *const *keys,
                                                     const char *const *vals, size_t n, uint32_t subtask,
                                                     uint32_t parallelism, int slot, int open,
                                                     const te_schema_t *in0, const te_schema_t *in1,
                                                     te_error_t *err)
{
    memset(t, 0, sizeof(*t));
    t->side.last_wm = INT64_MIN;
    t->n_sides = harness_n_sides;
    for (size_t w = 0; w < t->n_sides; w++) {
        t->side_tags[w] = harness_sides[w];
        test_side_new(&t->sides[w]);
        t->side_rw[w] = t->sides[w].rw;
    }
    snprintf(t->slot, sizeof(t->slot), "%d", slot);
    t->cap_key[0] = "slot";
    t->cap_val[0] = t->slot;
    t->ops[0] = (te_chain_op_config_t){def, name, NULL, n, keys, vals, 0};
    t->ops[1] = (te_chain_op_config_t){harness_cap, "capture", NULL, 1, t->cap_key, t->cap_val, 0};
    te_operator_chain_config_t cfg = {.task_name = "t",
                                      .subtask_index = subtask,
                                      .parallelism = parallelism,
                                      .max_parallelism = 128,
                                      .ops = t->ops,
                                      .n_ops = 2,
                                      .state = harness_store(subtask),
                                      .writers = t->side_rw,
                                      .n_writers = t->n_sides,
                                      .writer_tags = t->side_tags,
                                      .input_schemas = {in0, in1}};
    t->c = operator_chain_new(&cfg, err);
    if (t->c && open)
        ck_assert_msg(operator_chain_open(t->c, err) == TE_OK, "%s", err->msg);
    return t->c;
}

/* The same with the built-in operator called `op`. */
static inline te_operator_chain_t *test_chain_new(test_chain_t *t, const char *op, const char *const *keys,
                                                  const char *const *vals, size_t n, uint32_t subtask,
                                                  uint32_t parallelism, int slot, int open, te_error_t *err)
{
    return test_chain_new_def(t, operator_registry_find(op), op, keys, vals, n, subtask, parallelism, slot, open,
                              err);
}

#endif

/*
 * Unit tests: the keyed-state conformance suite, run on both backends (`hashmap` and
 * `rocksdb`, each made by a task's state store; the loop index picks the backend):
 * get/put/delete with namespaces against a naive array oracle (random operations),
 * entries stored in the key group key_group_for_key gives, snapshot/restore round trip
 * per key group (full and a key-group range, as redistribution does; and across
 * backends: a snapshot of either restores into either), corruption / truncation / wrong
 * max_parallelism detected with the backend left unchanged, values that grow and
 * shrink, the empty key, and the borrowed value of get. The hashmap alone: one key
 * group's table of many pages under rounds of deletes and puts, and its allocator's
 * classes at every unit.
 *
 * RocksDB instances live in a mkdtemp directory under /tmp, deleted with their store.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dir_util.h"
#include "common/crc32c.h"
#include "common/key_group.h"
#include "state/rocksdb_incremental.h"
#include "state/rocksdb_instance.h"
#include "state/state_backend.h"
#include "state/state_backend_internal.h"
#include "state/managed_memory.h"
#include "state/slab_arena.h"
#include "state/state_store.h"

/* ---- backends made by state stores, as a task gets them ---- */

static const char *const kinds[] = {"hashmap", "rocksdb"};
#define N_STORES 8
static te_state_store_t *stores[N_STORES];
static char store_root[64];

/* A fresh backend of kind k (0 hashmap, 1 rocksdb); freed by free_backends. */
static te_state_backend_t *new_backend(int k, uint32_t maxp)
{
    if (store_root[0] == '\0') {
        snprintf(store_root, sizeof(store_root), "/tmp/check_state.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(store_root));
    }
    int i = 0;
    while (i < N_STORES && stores[i] != NULL)
        i++;
    ck_assert_int_lt(i, N_STORES);
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/db%d", store_root, i);
    te_state_store_config_t cfg = {
        .backend = kinds[k], .max_parallelism = maxp, .task_name = "t", .local_dir = dir};
    te_error_t err = {0};
    stores[i] = state_store_new(&cfg, &err);
    ck_assert_msg(stores[i] != NULL, "%s", err.msg);
    te_state_backend_t *b = state_store_backend(stores[i], 0, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    ck_assert_str_eq(state_backend_kind(b), kinds[k]);
    return b;
}

static void free_backends(void)
{
    for (int i = 0; i < N_STORES; i++) {
        state_store_free(stores[i]);
        stores[i] = NULL;
    }
    if (store_root[0]) {
        struct stat sb;
        for (int i = 0; i < N_STORES; i++) { /* each store deleted its instance directory */
            char dir[128];
            snprintf(dir, sizeof(dir), "%s/db%d", store_root, i);
            ck_assert_msg(stat(dir, &sb) != 0, "%s still exists", dir);
        }
        ck_assert_int_eq(dir_remove_tree(store_root), 0);
        store_root[0] = '\0';
    }
}

/* ---- a naive oracle: an array of (key, ns, value) strings ---- */

#define OR_MAX 4096
typedef struct or_entry {
    char key[16], ns[8], val[32];
    int used;
} or_entry_t;
static or_entry_t oracle[OR_MAX];

static or_entry_t *or_find(const char *k, const char *ns)
{
    for (int i = 0; i < OR_MAX; i++)
        if (oracle[i].used && strcmp(oracle[i].key, k) == 0 && strcmp(oracle[i].ns, ns) == 0)
            return &oracle[i];
    return NULL;
}

static int or_count(void)
{
    int n = 0;
    for (int i = 0; i < OR_MAX; i++)
        n += oracle[i].used;
    return n;
}

/* Puts (k, ns) = v into b and the oracle. */
static void or_put(te_state_backend_t *b, const char *k, const char *ns, const char *v)
{
    ck_assert_int_eq(
        state_backend_put(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns), (uint8_t *)v, strlen(v)), 0);
    or_entry_t *e = or_find(k, ns);
    if (e == NULL) {
        for (int j = 0; j < OR_MAX; j++)
            if (!oracle[j].used) {
                e = &oracle[j];
                break;
            }
        ck_assert_ptr_nonnull(e);
        e->used = 1;
        strcpy(e->key, k);
        strcpy(e->ns, ns);
    }
    strcpy(e->val, v);
}

/* ops random puts, deletes and gets on b (500 keys, 3 namespaces), each checked
 * against the oracle (which holds what b holds), the oracle kept up to date. */
static void random_ops(te_state_backend_t *b, int ops, unsigned seed)
{
    srand(seed);
    for (int i = 0; i < ops; i++) {
        char k[16], ns[8], v[32];
        snprintf(k, sizeof(k), "k%d", rand() % 500);
        snprintf(ns, sizeof(ns), rand() % 3 ? "" : "w%d", rand() % 3);
        int op = rand() % 10;
        const uint8_t *gv;
        uint32_t gl;
        or_entry_t *e = or_find(k, ns);
        if (op < 6) {
            snprintf(v, sizeof(v), "%.*s", 1 + rand() % 30, "abcdefghijklmnopqrstuvwxyz0123456789");
            or_put(b, k, ns, v);
        } else if (op < 8) {
            ck_assert_int_eq(state_backend_delete(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns)),
                             e != NULL);
            if (e)
                e->used = 0;
        } else {
            int found = state_backend_get(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns), &gv, &gl);
            ck_assert_int_eq(found, e != NULL);
            if (e) {
                ck_assert_uint_eq(gl, strlen(e->val));
                ck_assert(memcmp(gv, e->val, gl) == 0);
            }
        }
    }
}

static te_state_backend_t *random_backend(int kind, uint32_t maxp, int ops, unsigned seed)
{
    memset(oracle, 0, sizeof(oracle));
    te_state_backend_t *b = new_backend(kind, maxp);
    ck_assert_ptr_nonnull(b);
    random_ops(b, ops, seed);
    return b;
}

/* Checks the backend holds exactly the oracle entries (whose key group is in range). */
static void assert_equals_oracle(te_state_backend_t *b, uint32_t first, uint32_t last)
{
    int expected = 0;
    for (int i = 0; i < OR_MAX; i++) {
        or_entry_t *e = &oracle[i];
        if (!e->used)
            continue;
        uint32_t kg = key_group_for_key((uint8_t *)e->key, strlen(e->key), state_backend_max_parallelism(b));
        const uint8_t *v;
        uint32_t vl;
        int found =
            state_backend_get(b, (uint8_t *)e->key, strlen(e->key), (uint8_t *)e->ns, strlen(e->ns), &v, &vl);
        if (kg < first || kg > last) {
            ck_assert_int_eq(found, 0);
            continue;
        }
        expected++;
        ck_assert_msg(found, "missing %s/%s", e->key, e->ns);
        ck_assert_uint_eq(vl, strlen(e->val));
        ck_assert(memcmp(v, e->val, vl) == 0);
    }
    ck_assert_uint_eq(state_backend_entries(b), (uint64_t)expected);
}

typedef struct kg_check {
    uint32_t maxp;
    int n;
    int bad;
} kg_check_t;

static int visit_kg(void *arg, uint32_t kg, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl,
                    const uint8_t *v, uint32_t vl)
{
    (void)ns, (void)nl, (void)v, (void)vl;
    kg_check_t *c = arg;
    c->n++;
    if (key_group_for_key(k, kl, c->maxp) != kg)
        c->bad++;
    return 0;
}

START_TEST(test_random_ops_match_oracle)
{
    te_state_backend_t *b = random_backend(_i, 128, 20000, 7);
    assert_equals_oracle(b, 0, 127);
    ck_assert_uint_eq(state_backend_entries(b), (uint64_t)or_count());
    kg_check_t c = {128, 0, 0};
    ck_assert_int_eq(state_backend_foreach(b, visit_kg, &c), 0);
    ck_assert_int_eq(c.n, or_count());
    ck_assert_int_eq(c.bad, 0); /* every entry sits in its key's key group */
    /* per group: exactly its own entries */
    uint64_t sum = 0;
    for (uint32_t kg = 0; kg < 128; kg++) {
        kg_check_t g = {128, 0, 0};
        ck_assert_int_eq(state_backend_foreach_group(b, kg, visit_kg, &g), 0);
        ck_assert_int_eq(g.bad, 0);
        ck_assert_uint_eq((uint64_t)g.n, state_backend_group_entries(b, kg));
        sum += (uint64_t)g.n;
    }
    ck_assert_uint_eq(sum, (uint64_t)or_count());
    te_state_stats_t st;
    state_backend_stats(b, &st);
    ck_assert_uint_gt(st.entries, 0);
    free_backends();
}
END_TEST

/* Every key in one key group of the hashmap (max parallelism 1): one table of one page
 * (300 keys) or of many, its capacity not a power of two (3,000 and 30,000), nearly
 * full; rounds of deleting a third of the keys at random and putting some back, each
 * round checked key by key against a presence array: deletes shift entries back across
 * page boundaries and around the table's end, where a probe run wraps. Loop index:
 * the size. */
START_TEST(test_one_group_deletes_match_oracle)
{
    static const int sizes[] = {300, 3000, 30000};
    int n = sizes[_i];
    static uint8_t present[30000];
    memset(present, 0, sizeof(present));
    te_error_t err = {0};
    te_state_backend_t *b = state_backend_new("hashmap", 1, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    srand(41 + (unsigned)_i);
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < n; i++) {
            char k[16];
            snprintf(k, sizeof(k), "d%d", i);
            uint64_t v = (uint64_t)i * 7 + 1;
            if (round == 0 || (!present[i] && rand() % 2)) {
                ck_assert_int_eq(state_backend_put(b, (uint8_t *)k, strlen(k), NULL, 0, (uint8_t *)&v, 8), 0);
                present[i] = 1;
            } else if (round > 0 && present[i] && rand() % 3 == 0) {
                ck_assert_int_eq(state_backend_delete(b, (uint8_t *)k, strlen(k), NULL, 0), 1);
                present[i] = 0;
            }
        }
        uint64_t want = 0;
        for (int i = 0; i < n; i++) {
            char k[16];
            snprintf(k, sizeof(k), "d%d", i);
            const uint8_t *v;
            uint32_t vl;
            int found = state_backend_get(b, (uint8_t *)k, strlen(k), NULL, 0, &v, &vl);
            ck_assert_msg(found == present[i], "round %d: %s found %d, expected %d", round, k, found, present[i]);
            if (found) {
                uint64_t got;
                ck_assert_uint_eq(vl, 8);
                memcpy(&got, v, 8);
                ck_assert_uint_eq(got, (uint64_t)i * 7 + 1);
            }
            want += present[i];
        }
        ck_assert_uint_eq(state_backend_entries(b), want);
    }
    state_backend_free(b);
}
END_TEST

/* The hashmap's allocator at 2-, 4- and 8-byte units: every request of 1..4096 bytes
 * gets the smallest class that holds it, a whole number of units, below the class
 * count; and chunks of mixed classes from one arena never overlap (each filled with
 * its own byte, all checked after every allocation and some releases and reuses). */
START_TEST(test_slab_arena_classes)
{
    for (unsigned shift = 1; shift <= 3; shift++) {
        te_slab_arena_t *a = slab_arena_new(shift, NULL, NULL);
        ck_assert_ptr_nonnull(a);
        for (size_t bytes = 1; bytes <= SLAB_ARENA_MAX_CHUNK; bytes++) {
            unsigned cls = slab_arena_class(a, bytes);
            size_t size = slab_arena_class_size(a, cls);
            ck_assert_uint_lt(cls, SLAB_ARENA_N_CLASSES);
            ck_assert_msg(size >= bytes && size % ((size_t)1 << shift) == 0,
                          "shift %u: %zu bytes in class %u of %zu", shift, bytes, cls, size);
            ck_assert_msg(cls == 0 || slab_arena_class_size(a, cls - 1) < bytes, "shift %u: %zu bytes, class %u",
                          shift, bytes, cls);
        }
        enum { N = 3000 };
        static uint32_t refs[N];
        static unsigned cls[N];
        for (int i = 0; i < N; i++) {
            cls[i] = slab_arena_class(a, (size_t)(1 + (i * 37) % 700));
            refs[i] = slab_arena_alloc(a, cls[i]);
            ck_assert_uint_ne(refs[i], 0);
            memset(slab_arena_at(a, refs[i]), (uint8_t)i, slab_arena_class_size(a, cls[i]));
            if (i % 3 == 2) { /* release one, take it back with other bytes */
                slab_arena_release(a, refs[i - 1], cls[i - 1]);
                refs[i - 1] = slab_arena_alloc(a, cls[i - 1]);
                memset(slab_arena_at(a, refs[i - 1]), (uint8_t)(i - 1), slab_arena_class_size(a, cls[i - 1]));
            }
        }
        for (int i = 0; i < N; i++) {
            const uint8_t *c = slab_arena_at(a, refs[i]);
            for (size_t j = 0; j < slab_arena_class_size(a, cls[i]); j++)
                ck_assert_msg(c[j] == (uint8_t)i, "shift %u: chunk %d byte %zu overwritten", shift, i, j);
        }
        slab_arena_free(a);
    }
}
END_TEST

static void put_s(te_state_backend_t *b, const char *k, const char *ns, const char *v)
{
    ck_assert_int_eq(
        state_backend_put(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns), (uint8_t *)v, strlen(v)), 0);
}

static void expect_s(te_state_backend_t *b, const char *k, const char *ns, const char *v)
{
    const uint8_t *got;
    uint32_t gl;
    ck_assert_int_eq(state_backend_get(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns), &got, &gl), 1);
    ck_assert_msg(gl == strlen(v) && memcmp(got, v, gl) == 0, "%s/%s: '%.*s', expected '%s'", k, ns, (int)gl,
                  (const char *)got, v);
}

/* A put right after a get that found its entry goes to that entry only when key and
 * namespace are the get's: not for a key of the same length that differs in one byte
 * (first, middle, last, of short and of 16-byte keys), nor for the same key in
 * another namespace; a value of another length, and a delete in between, still work. */
START_TEST(test_put_after_get_same_key_only)
{
    te_state_backend_t *b = new_backend(_i, 128);
    static const char *const pairs[][2] = {{"kAx", "kBx"},
                                           {"Akx", "Bkx"},
                                           {"kxA", "kxB"},
                                           {"k", "j"},
                                           {"key-0001", "key-0002"},
                                           {"0123456789abcdeA", "0123456789abcdeB"},
                                           {"A123456789abcdef", "B123456789abcdef"},
                                           {"01234567A9abcdef", "01234567B9abcdef"},
                                           {"a-key-of-more-than-16-bytes-A", "a-key-of-more-than-16-bytes-B"}};
    for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
        const char *k1 = pairs[p][0], *k2 = pairs[p][1];
        put_s(b, k1, "", "one");
        put_s(b, k2, "", "two");
        expect_s(b, k1, "", "one");
        put_s(b, k2, "", "TWO"); /* another key, the same length */
        expect_s(b, k1, "", "one");
        expect_s(b, k2, "", "TWO");
        put_s(b, k1, "n1", "three");
        expect_s(b, k1, "", "one");
        put_s(b, k1, "n1", "THREE"); /* the same key, another namespace */
        expect_s(b, k1, "", "one");
        expect_s(b, k1, "n1", "THREE");
        expect_s(b, k1, "", "one");
        put_s(b, k1, "n2", "four");
        expect_s(b, k1, "n1", "THREE");
        put_s(b, k1, "n2", "FOUR"); /* the same key, a namespace of the same length */
        expect_s(b, k1, "n1", "THREE");
        expect_s(b, k1, "n2", "FOUR");
        put_s(b, k1, "", "a longer value"); /* the same key: a value of another length */
        expect_s(b, k1, "", "a longer value");
        ck_assert_int_eq(state_backend_delete(b, (uint8_t *)k2, strlen(k2), NULL, 0), 1);
        put_s(b, k1, "", "ONE"); /* after a get and a delete */
        expect_s(b, k1, "", "ONE");
        expect_s(b, k1, "n1", "THREE");
    }
    free_backends();
}
END_TEST

/* state_backend_add_i64 against an array of counters: 600 keys (a third of them in a
 * namespace, some longer than 16 bytes), random deltas (small, negative, near the
 * int64 limits: the addition wraps); now and then a value of another size put first
 * (it counts as 0), a delete (the next add starts from 0), a get of the key or of its
 * neighbour right before the add, and a put right after one (neither may go to the
 * entry a get found before the add). Every sum returned, every value read back, and
 * the entry count match. */
START_TEST(test_add_i64_matches_oracle)
{
    enum { NK = 600 };
    te_state_backend_t *b = new_backend(_i, 128);
    static uint64_t want[NK];
    static int present[NK];
    memset(want, 0, sizeof(want));
    memset(present, 0, sizeof(present));
    uint32_t x = 11;
    for (int op = 0; op < 40000; op++) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % NK), r = (int)((x >> 20) % 100);
        char k[40], ns[8];
        snprintf(k, sizeof(k), i % 5 ? "c%d" : "a-counter-key-longer-than-16-%d", i);
        snprintf(ns, sizeof(ns), i % 3 ? "" : "w%d", i % 4);
        uint32_t kl = (uint32_t)strlen(k), nl = (uint32_t)strlen(ns);
        if (r < 3) { /* a value of another size */
            ck_assert_int_eq(state_backend_put(b, (uint8_t *)k, kl, (uint8_t *)ns, nl, (const uint8_t *)"abc", 3),
                             0);
            want[i] = 0;
            present[i] = 1;
            continue;
        }
        if (r < 6) {
            ck_assert_int_eq(state_backend_delete(b, (uint8_t *)k, kl, (uint8_t *)ns, nl), present[i]);
            want[i] = 0;
            present[i] = 0;
            continue;
        }
        if (r < 30) { /* a get first: of this key, or of the key next to it */
            int j = r < 18 ? i : (i + 1) % NK;
            char gk[40], gns[8];
            snprintf(gk, sizeof(gk), j % 5 ? "c%d" : "a-counter-key-longer-than-16-%d", j);
            snprintf(gns, sizeof(gns), j % 3 ? "" : "w%d", j % 4);
            const uint8_t *v;
            uint32_t vl;
            ck_assert_int_eq(state_backend_get(b, (uint8_t *)gk, (uint32_t)strlen(gk), (uint8_t *)gns,
                                               (uint32_t)strlen(gns), &v, &vl),
                             present[j]);
        }
        int64_t delta = r < 80   ? (int64_t)(x % 7) - 3
                        : r < 90 ? INT64_MAX - (int64_t)(x % 5)
                                 : INT64_MIN + (int64_t)(x % 5);
        int64_t sum = 0;
        ck_assert_int_eq(state_backend_add_i64(b, (uint8_t *)k, kl, (uint8_t *)ns, nl, delta, &sum), 0);
        want[i] += (uint64_t)delta;
        present[i] = 1;
        ck_assert_msg((uint64_t)sum == want[i], "%s/%s: sum %lld, expected %llu", k, ns, (long long)sum,
                      (unsigned long long)want[i]);
        if (r >= 95) { /* a put of the neighbour right after: must not land on key i */
            int j = (i + 1) % NK;
            char k2[40], ns2[8];
            snprintf(k2, sizeof(k2), j % 5 ? "c%d" : "a-counter-key-longer-than-16-%d", j);
            snprintf(ns2, sizeof(ns2), j % 3 ? "" : "w%d", j % 4);
            uint64_t v2 = want[j] + 1;
            ck_assert_int_eq(state_backend_put(b, (uint8_t *)k2, (uint32_t)strlen(k2), (uint8_t *)ns2,
                                               (uint32_t)strlen(ns2), (const uint8_t *)&v2, 8),
                             0);
            want[j] = v2;
            present[j] = 1;
        }
    }
    uint64_t n = 0;
    for (int i = 0; i < NK; i++) {
        char k[40], ns[8];
        snprintf(k, sizeof(k), i % 5 ? "c%d" : "a-counter-key-longer-than-16-%d", i);
        snprintf(ns, sizeof(ns), i % 3 ? "" : "w%d", i % 4);
        const uint8_t *v;
        uint32_t vl;
        int found =
            state_backend_get(b, (uint8_t *)k, (uint32_t)strlen(k), (uint8_t *)ns, (uint32_t)strlen(ns), &v, &vl);
        ck_assert_int_eq(found, present[i]);
        if (!found)
            continue;
        n++;
        uint64_t got = 0;
        if (vl == 8)
            memcpy(&got, v, 8);
        ck_assert_msg(vl == 8 ? got == want[i] : (vl == 3 && want[i] == 0), "%s/%s: %u bytes", k, ns, vl);
    }
    ck_assert_uint_eq(state_backend_entries(b), n);
    free_backends();
}
END_TEST

/* Loop index: source backend * 2 + target backend (every pair). */
START_TEST(test_snapshot_round_trip)
{
    int from = _i / 2, to = _i % 2;
    te_state_backend_t *b = random_backend(from, 128, 8000, 3);
    uint8_t *snap;
    size_t len;
    te_error_t err = {0};
    ck_assert_int_eq(state_backend_snapshot(b, &snap, &len, &err), TE_OK);
    /* full restore */
    te_state_backend_t *r = new_backend(to, 128);
    ck_assert_int_eq(state_backend_restore(r, snap, len, 0, 127, &err), TE_OK);
    assert_equals_oracle(r, 0, 127);
    /* redistribution: subtask 1 of 3 takes its key-group range only */
    uint32_t first, last;
    key_group_range(1, 128, 3, &first, &last);
    r = new_backend(to, 128);
    ck_assert_int_eq(state_backend_restore(r, snap, len, first, last, &err), TE_OK);
    assert_equals_oracle(r, first, last);
    /* the restored backend snapshots to the same bytes as the original's range */
    uint8_t *snap2;
    size_t len2;
    ck_assert_int_eq(state_backend_snapshot(r, &snap2, &len2, &err), TE_OK);
    te_state_backend_t *r2 = new_backend(from, 128);
    ck_assert_int_eq(state_backend_restore(r2, snap2, len2, 0, 127, &err), TE_OK);
    assert_equals_oracle(r2, first, last);
    free(snap2);
    /* an empty backend snapshots and restores too */
    te_state_backend_t *e = new_backend(to, 128);
    uint8_t *es;
    size_t el;
    ck_assert_int_eq(state_backend_snapshot(e, &es, &el, &err), TE_OK);
    ck_assert_uint_eq(el, 20);
    ck_assert_int_eq(state_backend_restore(e, es, el, 0, 127, &err), TE_OK);
    free(es);
    free(snap);
    free_backends();
}
END_TEST

START_TEST(test_snapshot_corruption_detected)
{
    te_state_backend_t *b = random_backend(_i, 128, 3000, 5);
    uint8_t *snap;
    size_t len;
    te_error_t err = {0};
    ck_assert_int_eq(state_backend_snapshot(b, &snap, &len, &err), TE_OK);
    te_state_backend_t *r = new_backend(_i, 128);
    /* every truncation */
    for (size_t cut = 0; cut < len; cut += 1 + cut / 64) {
        ck_assert_int_ne(state_backend_restore(r, snap, cut, 0, 127, &err), TE_OK);
        ck_assert_uint_eq(state_backend_entries(r), 0);
    }
    ck_assert_ptr_nonnull(strstr(err.msg, "snapshot"));
    /* a flipped bit anywhere */
    for (size_t pos = 0; pos < len; pos += 1 + pos / 32) {
        snap[pos] ^= 0x10;
        ck_assert_msg(state_backend_restore(r, snap, len, 0, 127, &err) != TE_OK, "flip at %zu not detected", pos);
        snap[pos] ^= 0x10;
        ck_assert_uint_eq(state_backend_entries(r), 0);
    }
    /* trailing garbage */
    uint8_t *longer = malloc(len + 3);
    memcpy(longer, snap, len);
    memset(longer + len, 0, 3);
    ck_assert_int_ne(state_backend_restore(r, longer, len + 3, 0, 127, &err), TE_OK);
    free(longer);
    /* another max_parallelism */
    te_state_backend_t *o = new_backend(_i, 256);
    ck_assert_int_eq(state_backend_restore(o, snap, len, 0, 255, &err), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "max_parallelism 128"));
    /* intact data still restores */
    ck_assert_int_eq(state_backend_restore(r, snap, len, 0, 127, &err), TE_OK);
    assert_equals_oracle(r, 0, 127);
    free(snap);
    free_backends();
}
END_TEST

START_TEST(test_values_grow_and_shrink)
{
    te_state_backend_t *b = new_backend(_i, 0);
    ck_assert_uint_eq(state_backend_max_parallelism(b), 128);
    char big[1000];
    memset(big, 'x', sizeof(big));
    const uint8_t *v;
    uint32_t vl;
    for (uint32_t n = 0; n <= sizeof(big); n += 37) {
        ck_assert_int_eq(state_backend_put(b, (uint8_t *)"k", 1, NULL, 0, (uint8_t *)big, n), 0);
        ck_assert_int_eq(state_backend_get(b, (uint8_t *)"k", 1, NULL, 0, &v, &vl), 1);
        ck_assert_uint_eq(vl, n);
    }
    for (uint32_t n = sizeof(big); n > 0; n /= 2) { /* shrinking */
        ck_assert_int_eq(state_backend_put(b, (uint8_t *)"k", 1, NULL, 0, (uint8_t *)big, n), 0);
        ck_assert_int_eq(state_backend_get(b, (uint8_t *)"k", 1, NULL, 0, &v, &vl), 1);
        ck_assert_uint_eq(vl, n);
    }
    ck_assert_int_eq(state_backend_put(b, NULL, 0, NULL, 0, (uint8_t *)"e", 1), 0); /* the empty key */
    ck_assert_int_eq(state_backend_get(b, NULL, 0, NULL, 0, &v, &vl), 1);
    ck_assert_uint_eq(state_backend_entries(b), 2);
    /* key and namespace are not confused: ("ab", "") != ("a", "b") */
    ck_assert_int_eq(state_backend_put(b, (uint8_t *)"ab", 2, NULL, 0, (uint8_t *)"1", 1), 0);
    ck_assert_int_eq(state_backend_put(b, (uint8_t *)"a", 1, (uint8_t *)"b", 1, (uint8_t *)"2", 1), 0);
    ck_assert_int_eq(state_backend_get(b, (uint8_t *)"ab", 2, NULL, 0, &v, &vl), 1);
    ck_assert(vl == 1 && v[0] == '1');
    /* a borrowed value stays valid until the next call: copy, then delete */
    ck_assert_int_eq(state_backend_get(b, (uint8_t *)"a", 1, (uint8_t *)"b", 1, &v, &vl), 1);
    ck_assert(vl == 1 && v[0] == '2');
    ck_assert_int_eq(state_backend_delete(b, (uint8_t *)"a", 1, (uint8_t *)"b", 1), 1);
    ck_assert_int_eq(state_backend_delete(b, (uint8_t *)"a", 1, (uint8_t *)"b", 1), 0);
    ck_assert_int_eq(state_backend_get(b, (uint8_t *)"a", 1, (uint8_t *)"b", 1, &v, &vl), 0);
    ck_assert_uint_eq(state_backend_entries(b), 3);
    free_backends();
    te_error_t err = {0};
    ck_assert_ptr_null(state_backend_new("rocksdb", 128, &err)); /* needs a task's store */
    ck_assert_ptr_nonnull(strstr(err.msg, "rocksdb"));
    ck_assert_ptr_null(state_backend_new("hashmap", 40000, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "max_parallelism 40000"));
    te_state_store_config_t bad = {.backend = "leveldb"};
    ck_assert_ptr_null(state_store_new(&bad, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown state backend 'leveldb'"));
    te_state_store_config_t nodir = {.backend = "rocksdb"};
    ck_assert_ptr_null(state_store_new(&nodir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "taskmanager.state.local.dir"));
    /* CRC-32C check value */
    ck_assert_uint_eq(crc32c_update(0, "123456789", 9), 0xe3069283u);
}
END_TEST

/* ---- version 1 of the snapshot format (u32 entry lengths), as older builds wrote it:
 * encoded here independently, it must still restore ---- */

typedef struct v1_buf {
    uint8_t *b;
    size_t len, cap;
} v1_buf_t;

static void v1_put(v1_buf_t *w, const void *p, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2;
        w->b = realloc(w->b, w->cap);
        ck_assert_ptr_nonnull(w->b);
    }
    memcpy(w->b + w->len, p, n);
    w->len += n;
}

static void v1_u32(v1_buf_t *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    v1_put(w, b, 4);
}

static int v1_visit(void *arg, uint32_t kg, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl,
                    const uint8_t *v, uint32_t vl)
{
    (void)kg;
    v1_buf_t *w = arg;
    v1_u32(w, kl);
    v1_u32(w, nl);
    v1_u32(w, vl);
    v1_put(w, k, kl);
    v1_put(w, ns, nl);
    v1_put(w, v, vl);
    return 0;
}

START_TEST(test_version1_snapshots_restore)
{
    te_state_backend_t *b = random_backend(_i, 128, 6000, 9);
    v1_buf_t w = {0}, body = {0};
    uint32_t groups = 0;
    v1_put(&w, "TEKS", 4);
    v1_u32(&w, 1);
    v1_u32(&w, 128);
    v1_u32(&w, 0); /* n_groups, set below */
    for (uint32_t kg = 0; kg < 128; kg++) {
        body.len = 0;
        ck_assert_int_eq(state_backend_foreach_group(b, kg, v1_visit, &body), 0);
        uint64_t n = state_backend_group_entries(b, kg);
        if (n == 0)
            continue;
        size_t start = w.len;
        v1_u32(&w, kg);
        v1_u32(&w, (uint32_t)n);
        v1_u32(&w, (uint32_t)body.len);
        v1_u32(&w, 0);
        v1_put(&w, body.b, body.len);
        v1_u32(&w, crc32c_update(0, w.b + start, w.len - start));
        groups++;
    }
    w.b[12] = (uint8_t)groups;
    w.b[13] = (uint8_t)(groups >> 8);
    v1_u32(&w, crc32c_update(0, w.b, w.len));
    te_state_backend_t *r = new_backend(_i, 128);
    te_error_t err = {0};
    ck_assert_msg(state_backend_restore(r, w.b, w.len, 0, 127, &err) == TE_OK, "%s", err.msg);
    assert_equals_oracle(r, 0, 127);
    /* and what this build writes is version 2, smaller */
    uint8_t *v2;
    size_t v2len;
    ck_assert_int_eq(state_backend_snapshot(b, &v2, &v2len, &err), TE_OK);
    ck_assert_uint_eq(v2[4], 2);
    ck_assert_uint_lt(v2len, w.len);
    free(v2);
    free(w.b);
    free(body.b);
    free_backends();
}
END_TEST

/* The hashmap backend within a slot's managed memory: puts succeed until the next slab
 * would pass the share, then fail with a message naming the budget; the budget never
 * shows more in use than its limit, and freeing the store gives it all back. */
/* The write-back cache in front of RocksDB (state_cache.c), made tiny — 64 entries,
 * a write-back every 8 dirty ones — so random operations over 1,500 (key, namespace)
 * pairs keep emptying it: every read through it matches the oracle; after
 * state_backend_flush a second, uncached backend on the same column family reads
 * exactly the oracle from RocksDB; after more operations (no flush), a snapshot holds
 * exactly the oracle too (taking it writes back). */
/* A RocksDB instance in a new directory (dir: at least 64 bytes) with a cache of cc in
 * front of column family op-0 (*b), and an uncached backend on the same family
 * (*direct). */
static te_rocksdb_instance_t *cache_over_rocksdb(char *dir, const te_state_cache_config_t *cc,
                                                 te_state_backend_t **b, te_state_backend_t **direct)
{
    snprintf(dir, 64, "/tmp/check_state_cache.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    te_error_t err = {0};
    te_rocksdb_instance_t *inst = rocksdb_instance_open(dir, NULL, TE_ROCKSDB_UNIVERSAL, &err);
    ck_assert_msg(inst != NULL, "%s", err.msg);
    rocksdb_column_family_handle_t *cf = rocksdb_instance_cf(inst, "op-0", &err);
    ck_assert_msg(cf != NULL, "%s", err.msg);
    void *rdb = rocksdb_state_backend_create(inst, cf, 128, &err);
    ck_assert_ptr_nonnull(rdb);
    void *cache = state_cache_create(&rocksdb_state_backend_ops, rdb, cc, &err);
    ck_assert_msg(cache != NULL, "%s", err.msg);
    *b = state_backend_wrap(&state_cache_ops, cache, 128);
    void *direct_impl = rocksdb_state_backend_create(inst, cf, 128, &err);
    *direct = state_backend_wrap(&rocksdb_state_backend_ops, direct_impl, 128);
    ck_assert_ptr_nonnull(*b);
    ck_assert_ptr_nonnull(*direct);
    return inst;
}

START_TEST(test_rocksdb_write_back_cache)
{
    char dir[64];
    te_error_t err = {0};
    te_state_cache_config_t cc = {.max_entries = 64, .max_bytes = 1u << 20, .max_dirty = 8};
    te_state_backend_t *b, *direct;
    te_rocksdb_instance_t *inst = cache_over_rocksdb(dir, &cc, &b, &direct);

    memset(oracle, 0, sizeof(oracle));
    random_ops(b, 20000, 11);
    or_put(b, "k1", "", "dirty at the flush"); /* whatever the random ones left dirty */
    ck_assert_int_eq(state_backend_flush(b), 0);
    assert_equals_oracle(direct, 0, 127);
    assert_equals_oracle(b, 0, 127);

    random_ops(b, 5000, 12);
    uint8_t *snap = NULL;
    size_t len = 0;
    ck_assert_int_eq(state_backend_snapshot(b, &snap, &len, &err), TE_OK);
    te_state_backend_t *h = state_backend_new("hashmap", 128, &err);
    ck_assert_int_eq(state_backend_restore(h, snap, len, 0, 127, &err), TE_OK);
    free(snap);
    assert_equals_oracle(h, 0, 127);

    state_backend_free(h);
    state_backend_free(direct);
    state_backend_free(b);
    rocksdb_instance_close(inst, 1);
    rmdir(dir);
}
END_TEST

/* A capture (an incremental checkpoint's synchronous part) is written later by
 * another thread, as the checkpoint's asynchronous part writes it. */
typedef struct capture_writer {
    te_state_batch_t *batch;
    te_state_gate_t *gate;
    te_rocksdb_instance_t *inst;
    int ok;
} capture_writer_t;

static void *write_capture_later(void *arg)
{
    capture_writer_t *w = arg;
    usleep(100 * 1000);
    te_error_t err = {0};
    w->ok = state_batch_write(w->batch, w->inst, &err) == TE_OK;
    state_gate_open(w->gate, w->ok);
    return NULL;
}

static int direct_get(te_state_backend_t *direct, const char *k, char *out, size_t cap)
{
    const uint8_t *v;
    uint32_t vl;
    int found = state_backend_get(direct, (uint8_t *)k, strlen(k), NULL, 0, &v, &vl);
    if (found == 1)
        snprintf(out, cap, "%.*s", (int)vl, (const char *)v);
    return found;
}

/* The write-back cache's capture: what it holds dirty is copied into a batch and not
 * written; a write-back after it waits for the batch's gate, so an update made after
 * the capture lands after the batch (a write-back that did not wait would be
 * overwritten by the older captured value); a gate opened failed makes the captured
 * entries dirty again, so the next write-back writes them. Both times RocksDB then holds
 * exactly the oracle. */
START_TEST(test_rocksdb_cache_capture)
{
    char dir[64];
    te_state_cache_config_t cc = {.max_entries = 4096, .max_bytes = 8u << 20, .max_dirty = 4096};
    te_state_backend_t *b, *direct;
    te_rocksdb_instance_t *inst = cache_over_rocksdb(dir, &cc, &b, &direct);
    memset(oracle, 0, sizeof(oracle));
    char got[64];

    /* written by another thread later; an update after the capture waits for it */
    random_ops(b, 3000, 21);
    or_put(b, "cap", "", "at the barrier");
    te_state_batch_t *batch = state_batch_new();
    te_state_gate_t *gate = state_gate_new();
    ck_assert_int_eq(state_backend_capture(b, batch, gate), 0);
    ck_assert_uint_gt(state_batch_count(batch), 100);
    ck_assert_int_eq(direct_get(direct, "cap", got, sizeof(got)), 0); /* copied, not written */
    or_put(b, "cap", "", "after the barrier");
    capture_writer_t w = {batch, gate, inst, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, write_capture_later, &w), 0);
    ck_assert_int_eq(state_backend_flush(b), 0); /* waits for the gate */
    ck_assert_int_eq(direct_get(direct, "cap", got, sizeof(got)), 1);
    ck_assert_str_eq(got, "after the barrier");
    pthread_join(t, NULL);
    ck_assert(w.ok);
    assert_equals_oracle(direct, 0, 127);
    state_gate_unref(gate);
    state_batch_free(batch);

    /* dropped: dirty again */
    random_ops(b, 3000, 22);
    or_put(b, "lost", "", "unless written back");
    batch = state_batch_new();
    gate = state_gate_new();
    ck_assert_int_eq(state_backend_capture(b, batch, gate), 0);
    ck_assert_uint_gt(state_batch_count(batch), 100);
    state_batch_free(batch); /* never written */
    state_gate_open(gate, 0);
    state_gate_unref(gate);
    ck_assert_int_eq(state_backend_flush(b), 0);
    ck_assert_int_eq(direct_get(direct, "lost", got, sizeof(got)), 1);
    assert_equals_oracle(direct, 0, 127);
    assert_equals_oracle(b, 0, 127);

    state_backend_free(direct);
    state_backend_free(b);
    rocksdb_instance_close(inst, 1);
    rmdir(dir);
}
END_TEST

typedef struct release_later {
    te_rocksdb_inc_snapshot_t *snap;
    _Atomic int released;
} release_later_t;

static void *release_snapshot_later(void *arg)
{
    release_later_t *r = arg;
    usleep(100 * 1000);
    atomic_store(&r->released, 1);
    rocksdb_incremental_release(r->snap); /* dropped unwritten: opens its gate failed */
    return NULL;
}

/* A keyed state first used after an incremental checkpoint's barrier (its cache did not
 * exist at the capture) still holds its writes into RocksDB until that checkpoint's
 * gate opens: they come after the barrier. Its write-back returns only after the
 * snapshot was dropped by another thread. */
START_TEST(test_rocksdb_state_created_after_capture_waits)
{
    char dir[64], local[128], shared[128];
    snprintf(dir, sizeof(dir), "/tmp/check_state_gate.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(local, sizeof(local), "%s/local", dir);
    snprintf(shared, sizeof(shared), "%s/shared", dir);
    te_state_store_config_t cfg = {.backend = "rocksdb",
                                   .max_parallelism = 128,
                                   .task_name = "t",
                                   .local_dir = local,
                                   .incremental = 1,
                                   .shared_dir = shared,
                                   .label = "t-0"};
    te_error_t err = {0};
    te_state_store_t *s = state_store_new(&cfg, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    te_state_backend_t *a = state_store_backend(s, 0, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    ck_assert_int_eq(state_backend_put(a, (uint8_t *)"k", 1, NULL, 0, (uint8_t *)"before", 6), 0);
    te_rocksdb_state_name_t names[] = {{0, "a"}};
    release_later_t r = {0};
    r.snap = state_store_snapshot_incremental(s, 1, 0, 127, names, 1, &err);
    ck_assert_msg(r.snap != NULL, "%s", err.msg);
    te_state_backend_t *b = state_store_backend(s, 1, &err); /* first used after the barrier */
    ck_assert_msg(b != NULL, "%s", err.msg);
    ck_assert_int_eq(state_backend_put(b, (uint8_t *)"k", 1, NULL, 0, (uint8_t *)"after", 5), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, release_snapshot_later, &r), 0);
    ck_assert_int_eq(state_backend_flush(b), 0); /* a write into RocksDB: waits */
    int released = atomic_load(&r.released);
    ck_assert_msg(released == 1, "the new state's write-back did not wait for the checkpoint's gate");
    pthread_join(t, NULL);
    ck_assert_int_eq(state_backend_flush(a), 0); /* a's capture, dropped, written back now */
    const uint8_t *v;
    uint32_t vl;
    ck_assert_int_eq(state_backend_get(a, (uint8_t *)"k", 1, NULL, 0, &v, &vl), 1);
    ck_assert(vl == 6 && memcmp(v, "before", 6) == 0);
    state_store_free(s);
    ck_assert_int_eq(dir_remove_tree(dir), 0);
}
END_TEST

START_TEST(test_hashmap_budget)
{
    te_error_t err = {0};
    te_managed_memory_t *mm = managed_memory_new(8u << 20, 2, &err); /* 4 MiB per slot */
    ck_assert_ptr_nonnull(mm);
    te_memory_budget_t *slot1 = managed_memory_slot(mm, 1);
    ck_assert_uint_eq(managed_memory_limit(slot1), 4u << 20);
    te_state_store_config_t cfg = {.max_parallelism = 128, .task_name = "t", .memory = slot1};
    te_state_store_t *s = state_store_new(&cfg, &err);
    te_state_backend_t *b = state_store_backend(s, 0, &err);
    ck_assert_ptr_nonnull(b);
    char k[32];
    uint64_t v = 1;
    int i, rc = 0;
    for (i = 0; i < 1000000 && rc == 0; i++) {
        int n = snprintf(k, sizeof(k), "key-%d", i);
        rc = state_backend_put(b, (uint8_t *)k, (uint32_t)n, NULL, 0, (uint8_t *)&v, 8);
    }
    ck_assert_int_eq(rc, -1);
    ck_assert_int_gt(i, 10000); /* it held a fair amount first */
    const char *why = state_backend_error(b);
    ck_assert_msg(strstr(why, "slot 1's managed memory") != NULL &&
                      strstr(why, "taskmanager.memory.managed.size") && strstr(why, "rocksdb"),
                  "%s", why);
    ck_assert_uint_le(managed_memory_used(slot1), managed_memory_limit(slot1));
    ck_assert_uint_gt(managed_memory_used(slot1), 0);
    ck_assert_uint_eq(managed_memory_used(managed_memory_slot(mm, 0)), 0);
    ck_assert_uint_ge(state_store_managed_bytes(s), managed_memory_used(slot1)); /* + the tables' index */
    ck_assert_uint_le(state_store_managed_bytes(s), managed_memory_used(slot1) + (64u << 10));
    /* what was stored is intact */
    const uint8_t *got;
    uint32_t gl;
    ck_assert_int_eq(state_backend_get(b, (uint8_t *)"key-7", 5, NULL, 0, &got, &gl), 1);
    state_store_free(s);
    ck_assert_uint_eq(managed_memory_used(slot1), 0);
    managed_memory_free(mm);
}
END_TEST

Suite *state_backend_suite(void)
{
    Suite *s = suite_create("state_backend");
    TCase *tc = tcase_create("conformance");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_random_ops_match_oracle, 0, 2);
    tcase_add_loop_test(tc, test_one_group_deletes_match_oracle, 0, 3);
    tcase_add_loop_test(tc, test_put_after_get_same_key_only, 0, 2);
    tcase_add_loop_test(tc, test_add_i64_matches_oracle, 0, 2);
    tcase_add_loop_test(tc, test_snapshot_round_trip, 0, 4);
    tcase_add_loop_test(tc, test_snapshot_corruption_detected, 0, 2);
    tcase_add_loop_test(tc, test_values_grow_and_shrink, 0, 2);
    tcase_add_test(tc, test_hashmap_budget);
    tcase_add_test(tc, test_slab_arena_classes);
    tcase_add_test(tc, test_rocksdb_write_back_cache);
    tcase_add_test(tc, test_rocksdb_cache_capture);
    tcase_add_test(tc, test_rocksdb_state_created_after_capture_waits);
    tcase_add_loop_test(tc, test_version1_snapshots_restore, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

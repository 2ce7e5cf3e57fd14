/*
 * Unit tests: the keyed-state backend (`hashmap`): get/put/delete with namespaces
 * against a naive array oracle (random operations), entries stored in the key group
 * key_group_for_key gives, snapshot/restore round trip per key group (full and a
 * key-group range, as redistribution does), and corruption / truncation / wrong
 * max_parallelism detected with the backend left unchanged.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/key_group.h"
#include "state/state_backend.h"

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

static te_state_backend_t *random_backend(uint32_t maxp, int ops, unsigned seed)
{
    memset(oracle, 0, sizeof(oracle));
    te_state_backend_t *b = state_backend_new("hashmap", maxp, NULL);
    ck_assert_ptr_nonnull(b);
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
            ck_assert_int_eq(
                state_backend_put(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns), (uint8_t *)v, strlen(v)),
                0);
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
    te_state_backend_t *b = random_backend(128, 20000, 7);
    assert_equals_oracle(b, 0, 127);
    ck_assert_uint_eq(state_backend_entries(b), (uint64_t)or_count());
    kg_check_t c = {128, 0, 0};
    ck_assert_int_eq(state_backend_foreach(b, visit_kg, &c), 0);
    ck_assert_int_eq(c.n, or_count());
    ck_assert_int_eq(c.bad, 0); /* every entry sits in its key's key group */
    state_backend_free(b);
}
END_TEST

START_TEST(test_snapshot_round_trip)
{
    te_state_backend_t *b = random_backend(128, 8000, 3);
    uint8_t *snap;
    size_t len;
    te_error_t err = {0};
    ck_assert_int_eq(state_backend_snapshot(b, &snap, &len, &err), TE_OK);
    /* full restore */
    te_state_backend_t *r = state_backend_new(NULL, 128, NULL);
    ck_assert_int_eq(state_backend_restore(r, snap, len, 0, 127, &err), TE_OK);
    assert_equals_oracle(r, 0, 127);
    state_backend_free(r);
    /* redistribution: subtask 1 of 3 takes its key-group range only */
    uint32_t first, last;
    key_group_range(1, 128, 3, &first, &last);
    r = state_backend_new(NULL, 128, NULL);
    ck_assert_int_eq(state_backend_restore(r, snap, len, first, last, &err), TE_OK);
    assert_equals_oracle(r, first, last);
    state_backend_free(r);
    /* an empty backend snapshots and restores too */
    te_state_backend_t *e = state_backend_new(NULL, 128, NULL);
    uint8_t *es;
    size_t el;
    ck_assert_int_eq(state_backend_snapshot(e, &es, &el, &err), TE_OK);
    ck_assert_uint_eq(el, 20);
    ck_assert_int_eq(state_backend_restore(e, es, el, 0, 127, &err), TE_OK);
    free(es);
    state_backend_free(e);
    free(snap);
    state_backend_free(b);
}
END_TEST

START_TEST(test_snapshot_corruption_detected)
{
    te_state_backend_t *b = random_backend(128, 3000, 5);
    uint8_t *snap;
    size_t len;
    te_error_t err = {0};
    ck_assert_int_eq(state_backend_snapshot(b, &snap, &len, &err), TE_OK);
    te_state_backend_t *r = state_backend_new(NULL, 128, NULL);
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
    te_state_backend_t *o = state_backend_new(NULL, 256, NULL);
    ck_assert_int_eq(state_backend_restore(o, snap, len, 0, 255, &err), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "max_parallelism 128"));
    state_backend_free(o);
    /* intact data still restores */
    ck_assert_int_eq(state_backend_restore(r, snap, len, 0, 127, &err), TE_OK);
    assert_equals_oracle(r, 0, 127);
    state_backend_free(r);
    free(snap);
    state_backend_free(b);
}
END_TEST

START_TEST(test_values_grow_and_shrink)
{
    te_state_backend_t *b = state_backend_new("hashmap", 0, NULL);
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
    ck_assert_int_eq(state_backend_put(b, NULL, 0, NULL, 0, (uint8_t *)"e", 1), 0); /* the empty key */
    ck_assert_int_eq(state_backend_get(b, NULL, 0, NULL, 0, &v, &vl), 1);
    ck_assert_uint_eq(state_backend_entries(b), 2);
    state_backend_free(b);
    te_error_t err = {0};
    ck_assert_ptr_null(state_backend_new("rocksdb", 128, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown state backend 'rocksdb'"));
    ck_assert_ptr_null(state_backend_new("hashmap", 40000, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "max_parallelism 40000"));
    /* CRC-32C check value */
    ck_assert_uint_eq(state_crc32c(0, "123456789", 9), 0xe3069283u);
}
END_TEST

Suite *state_backend_suite(void)
{
    Suite *s = suite_create("state_backend");
    TCase *tc = tcase_create("hashmap");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_random_ops_match_oracle);
    tcase_add_test(tc, test_snapshot_round_trip);
    tcase_add_test(tc, test_snapshot_corruption_detected);
    tcase_add_test(tc, test_values_grow_and_shrink);
    suite_add_tcase(s, tc);
    return s;
}

/*
 * Unit tests: the checkpoint snapshot file (lib/state/checkpoint_storage): a round trip
 * of random sections through encode/decode and through the durable file write/read
 * (compared with the sections kept by the test, the oracle), and corruption detection:
 * every single-byte flip and every truncation of an encoded snapshot is rejected with
 * a message; a missing file is TE_ENOTFOUND; no temp file is left behind.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/checkpoint_storage.h"

#define N_SEC 12

typedef struct kept {
    uint32_t type, index, sub;
    char name[32];
    uint8_t data[300];
    size_t len;
} kept_t;

static te_ckpt_snapshot_t *build(kept_t *k, unsigned seed)
{
    srand(seed);
    te_ckpt_snapshot_t *s = snapshot_new(42, 3, 4, 128, 96, 127);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < N_SEC; i++) {
        k[i].type = 1 + (uint32_t)(rand() % 5);
        k[i].index = (uint32_t)i;
        k[i].sub = (uint32_t)(rand() % 7);
        snprintf(k[i].name, sizeof(k[i].name), "op%d", rand() % 1000);
        k[i].len = (size_t)(i == 3 ? 0 : rand() % 300);
        for (size_t j = 0; j < k[i].len; j++)
            k[i].data[j] = (uint8_t)rand();
        uint8_t *d = k[i].len ? malloc(k[i].len) : NULL;
        if (k[i].len)
            memcpy(d, k[i].data, k[i].len);
        ck_assert_int_eq(snapshot_add(s, k[i].type, k[i].index, k[i].sub, k[i].name, d, k[i].len), TE_OK);
    }
    return s;
}

static void compare(const te_ckpt_snapshot_t *s, const kept_t *k)
{
    ck_assert_uint_eq(s->checkpoint_id, 42);
    ck_assert_uint_eq(s->subtask_index, 3);
    ck_assert_uint_eq(s->parallelism, 4);
    ck_assert_uint_eq(s->max_parallelism, 128);
    ck_assert_uint_eq(s->kg_first, 96);
    ck_assert_uint_eq(s->kg_last, 127);
    ck_assert_uint_eq(s->n_sections, N_SEC);
    for (int i = 0; i < N_SEC; i++) {
        const te_ckpt_section_t *x = &s->sections[i];
        ck_assert_uint_eq(x->type, k[i].type);
        ck_assert_uint_eq(x->index, k[i].index);
        ck_assert_uint_eq(x->sub, k[i].sub);
        ck_assert_str_eq(x->name, k[i].name);
        ck_assert_uint_eq(x->len, k[i].len);
        if (k[i].len)
            ck_assert(memcmp(x->data, k[i].data, k[i].len) == 0);
    }
    ck_assert_ptr_eq(snapshot_find(s, k[5].type, 5), &s->sections[5]);
    ck_assert_ptr_null(snapshot_find(s, 99, 0));
}

START_TEST(test_round_trip_memory)
{
    kept_t k[N_SEC];
    te_ckpt_snapshot_t *s = build(k, 7);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(snapshot_encode(s, &buf, &len, NULL), TE_OK);
    te_error_t err = {0};
    te_ckpt_snapshot_t *d = snapshot_decode(buf, len, "mem", &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    compare(d, k);
    snapshot_free(d);
    snapshot_free(s);
    free(buf);
}
END_TEST

START_TEST(test_round_trip_file)
{
    char dir[] = "/tmp/check_ckpt_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/job/chk-1/vertex-0", dir);
    kept_t k[N_SEC];
    te_ckpt_snapshot_t *s = build(k, 11);
    te_error_t err = {0};
    uint64_t size = 0;
    ck_assert_msg(checkpoint_storage_write(path, s, &size, &err) == TE_OK, "%s", err.msg);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    ck_assert_uint_eq((uint64_t)ftell(f), size);
    fclose(f);
    te_ckpt_snapshot_t *d = checkpoint_storage_read(path, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    compare(d, k);
    /* no temp file left next to it */
    char cdir[256];
    snprintf(cdir, sizeof(cdir), "%s/job/chk-1", dir);
    DIR *dd = opendir(cdir);
    ck_assert_ptr_nonnull(dd);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(dd);
    ck_assert_int_eq(n, 1);
    snapshot_free(d);
    snapshot_free(s);
    ck_assert_ptr_null(checkpoint_storage_read("/nonexistent/ckpt/file", &err));
    ck_assert_int_eq(err.code, TE_ENOTFOUND);
    unlink(path);
    rmdir(cdir);
    snprintf(cdir, sizeof(cdir), "%s/job", dir);
    rmdir(cdir);
    rmdir(dir);
}
END_TEST

START_TEST(test_corruption_and_truncation)
{
    kept_t k[N_SEC];
    te_ckpt_snapshot_t *s = build(k, 23);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(snapshot_encode(s, &buf, &len, NULL), TE_OK);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            buf[i] ^= (uint8_t)(1u << bit);
            te_error_t err = {0};
            te_ckpt_snapshot_t *d = snapshot_decode(buf, len, "flip", &err);
            ck_assert_msg(d == NULL, "flip of byte %zu bit %d not detected", i, bit);
            ck_assert(strstr(err.msg, "flip") != NULL);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    for (size_t l = 0; l < len; l++) {
        te_error_t err = {0};
        te_ckpt_snapshot_t *d = snapshot_decode(buf, l, "cut", &err);
        ck_assert_msg(d == NULL, "truncation to %zu of %zu bytes not detected", l, len);
        ck_assert(err.msg[0] != '\0');
    }
    te_ckpt_snapshot_t *ok = snapshot_decode(buf, len, "whole", NULL);
    ck_assert_ptr_nonnull(ok);
    snapshot_free(ok);
    snapshot_free(s);
    free(buf);
}
END_TEST

Suite *checkpoint_storage_suite(void)
{
    Suite *s = suite_create("checkpoint_storage");
    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip_memory);
    tcase_add_test(tc, test_round_trip_file);
    tcase_add_test(tc, test_corruption_and_truncation);
    suite_add_tcase(s, tc);
    return s;
}

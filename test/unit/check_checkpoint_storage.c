/*
 * Unit tests: the checkpoint snapshot file (lib/state/checkpoint_storage): a round trip
 * of random sections through encode/decode and through the durable file write/read
 * (compared with the sections kept by the test, the oracle), and corruption detection:
 * every single-byte flip and every truncation of an encoded snapshot is rejected with
 * a message; a missing file is TE_ENOTFOUND; no temp file is left behind.
 *
 * The streaming writer (checkpoint_writer) writes exactly the bytes of the codec
 * (snapshot_encode is its oracle), also for sections written in pieces larger than its
 * buffer with fields reserved and filled after they were flushed, nested checksummed
 * regions (their CRC compared with one computed over the file here), cancellation
 * (TE_ECANCELED, no temp file left); the streaming reader (checkpoint_reader) rejects a
 * flipped byte anywhere in a file and every truncation, naming the file. CRC-32C: the
 * check value, and crc32c_combine against the checksum of the concatenation over
 * random splits.
 */
#include <check.h>
#include <stdatomic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/dir_util.h"
#include "state/checkpoint_reader.h"
#include "state/checkpoint_storage.h"
#include "state/checkpoint_writer.h"

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

/* ---- CRC-32C ---- */

START_TEST(test_crc32c)
{
    ck_assert_uint_eq(crc32c_update(0, "123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(crc32c_update(crc32c_update(0, "1234", 4), "56789", 5), 0xe3069283u);
    static uint8_t buf[70000];
    srand(3);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rand();
    uint32_t whole = crc32c_update(0, buf, sizeof(buf));
    /* the bitwise definition, as the oracle of the table/instruction versions */
    uint32_t c = ~0u;
    for (size_t i = 0; i < 1000; i++) {
        c ^= buf[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    ck_assert_uint_eq(~c, crc32c_update(0, buf, 1000));
    for (int t = 0; t < 200; t++) {
        size_t a = (size_t)rand() % sizeof(buf), b = a + (size_t)rand() % (sizeof(buf) - a);
        uint32_t ca = crc32c_update(0, buf, a), cb = crc32c_update(0, buf + a, b - a),
                 cc = crc32c_update(0, buf + b, sizeof(buf) - b);
        ck_assert_uint_eq(crc32c_combine(crc32c_combine(ca, cb, b - a), cc, sizeof(buf) - b), whole);
    }
    ck_assert_uint_eq(crc32c_combine(whole, 0, 0), whole);
}
END_TEST

/* ---- the streaming writer and reader ---- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*len ? *len : 1);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

START_TEST(test_writer_matches_codec)
{
    char dir[] = "/tmp/check_ckptw_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/a/b/file", dir);
    /* small sections: the writer's file == the codec's bytes */
    kept_t k[N_SEC];
    te_ckpt_snapshot_t *s = build(k, 31);
    te_error_t err = {0};
    uint64_t size;
    ck_assert_msg(checkpoint_storage_write(path, s, &size, &err) == TE_OK, "%s", err.msg);
    uint8_t *enc;
    size_t enc_len, file_len;
    ck_assert_int_eq(snapshot_encode(s, &enc, &enc_len, NULL), TE_OK);
    char *file = slurp(path, &file_len);
    ck_assert_uint_eq(file_len, enc_len);
    ck_assert(memcmp(file, enc, enc_len) == 0);
    free(file);
    free(enc);
    snapshot_free(s);

    /* a 5 MB section written in odd pieces around a nested region whose header is
     * filled after it was flushed, then another section */
    static uint8_t big[5u << 20];
    srand(5);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)rand();
    te_ckpt_file_info_t info = {9, 1, 2, 128, 64, 127};
    te_ckpt_writer_t *w = checkpoint_writer_open(path, &info, NULL, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    checkpoint_writer_section_begin(w, 2, 0, 0, "op");
    checkpoint_writer_push(w);
    uint64_t h = checkpoint_writer_reserve(w, 8);
    for (size_t off = 0; off < sizeof(big);) {
        size_t n = 1 + (size_t)rand() % 70000;
        if (n > sizeof(big) - off)
            n = sizeof(big) - off;
        checkpoint_writer_write(w, big + off, n);
        off += n;
    }
    uint8_t hdr[8] = {'H', 'D', 'R', '!', 0, 0, 0, 0};
    put_le32(hdr + 4, (uint32_t)sizeof(big));
    checkpoint_writer_fill(w, h, hdr);
    uint32_t region = checkpoint_writer_pop(w);
    uint8_t c[4];
    put_le32(c, region);
    checkpoint_writer_write(w, c, 4);
    ck_assert_int_eq(checkpoint_writer_section_end(w), TE_OK);
    ck_assert_int_eq(checkpoint_writer_section(w, 1, 1, 0, "tail", "xyz", 3), TE_OK);
    ck_assert_msg(checkpoint_writer_commit(w, &size, &err) == TE_OK, "%s", err.msg);
    te_ckpt_snapshot_t *d = checkpoint_storage_read(path, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_uint_eq(d->n_sections, 2);
    ck_assert_uint_eq(d->checkpoint_id, 9);
    const te_ckpt_section_t *x = &d->sections[0];
    ck_assert_uint_eq(x->len, 8 + sizeof(big) + 4);
    ck_assert(memcmp(x->data, hdr, 8) == 0);
    ck_assert(memcmp(x->data + 8, big, sizeof(big)) == 0);
    /* the region's checksum is the CRC-32C of its bytes as they are in the file */
    ck_assert_uint_eq(region, crc32c_update(0, x->data, 8 + sizeof(big)));
    ck_assert(memcmp(x->data + 8 + sizeof(big), c, 4) == 0);
    ck_assert_str_eq(d->sections[1].name, "tail");
    snapshot_free(d);

    /* cancelled: TE_ECANCELED at the next flush, nothing left */
    _Atomic int cancel = 0;
    char path2[300];
    snprintf(path2, sizeof(path2), "%s/cancelled", dir);
    w = checkpoint_writer_open(path2, &info, &cancel, &err);
    ck_assert_ptr_nonnull(w);
    checkpoint_writer_section_begin(w, 2, 0, 0, "op");
    atomic_store(&cancel, 1);
    checkpoint_writer_write(w, big, sizeof(big));
    ck_assert_int_eq(checkpoint_writer_commit(w, &size, &err), TE_ECANCELED);
    ck_assert_ptr_nonnull(strstr(err.msg, "cancelled"));
    ck_assert_int_ne(access(path2, F_OK), 0);
    char tmp[320];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path2);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    ck_assert_int_eq(dir_remove_tree(dir), 0);
}
END_TEST

START_TEST(test_reader_rejects_corruption)
{
    char dir[] = "/tmp/check_ckptr_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/f", dir);
    kept_t k[N_SEC];
    te_ckpt_snapshot_t *s = build(k, 41);
    te_error_t err = {0};
    uint64_t size;
    ck_assert_int_eq(checkpoint_storage_write(path, s, &size, &err), TE_OK);
    snapshot_free(s);
    size_t len;
    char *good = slurp(path, &len);
    for (size_t pos = 0; pos < len; pos += 1 + pos / 50) {
        FILE *f = fopen(path, "wb");
        good[pos] ^= 0x04;
        fwrite(good, 1, len, f);
        fclose(f);
        good[pos] ^= 0x04;
        ck_assert_msg(checkpoint_reader_open(path, &err) == NULL, "flip at %zu not detected", pos);
        ck_assert_ptr_nonnull(strstr(err.msg, path));
    }
    for (size_t cut = 0; cut < len; cut += 1 + cut / 20) {
        FILE *f = fopen(path, "wb");
        fwrite(good, 1, cut, f);
        fclose(f);
        ck_assert_msg(checkpoint_reader_open(path, &err) == NULL, "cut to %zu not detected", cut);
    }
    FILE *f = fopen(path, "wb");
    fwrite(good, 1, len, f);
    fclose(f);
    te_ckpt_reader_t *r = checkpoint_reader_open(path, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_uint_eq(checkpoint_reader_count(r), N_SEC);
    uint8_t *data;
    ck_assert_int_eq(checkpoint_reader_load(r, checkpoint_reader_section(r, 5), &data, &err), TE_OK);
    ck_assert(k[5].len == 0 || memcmp(data, k[5].data, k[5].len) == 0);
    free(data);
    checkpoint_reader_close(r);
    free(good);
    ck_assert_int_eq(dir_remove_tree(dir), 0);
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
    tcase_add_test(tc, test_crc32c);
    tcase_add_test(tc, test_writer_matches_codec);
    tcase_add_test(tc, test_reader_rejects_corruption);
    suite_add_tcase(s, tc);
    return s;
}

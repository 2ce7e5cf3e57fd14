/* Unit tests: channel selectors and key groups — rebalance evenness and start,
 * hash partitioning against an independent implementation of the documented formula
 * (MurmurHash3_x86_32 seed 0, Flink's murmur mix, % maxp, * p / maxp), key-group
 * ranges covering 0..maxp-1 exactly once, te_record_field. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/byte_codec.h"
#include "common/proto_enum.h"
#include "te/row.h"
#include "shuffle/channel_selector.h"
#include "common/key_group.h"
#include "te/operator.h"

/* --- independent reference (written from the reference algorithm, not key_group.c) --- */
static uint32_t ref_rotl(uint32_t x, unsigned r) { return (x << r) | (x >> (32 - r)); }

static uint32_t ref_murmur3(const uint8_t *data, size_t len)
{
    uint32_t h = 0;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t k;
        memcpy(&k, data + i, 4); /* little-endian host (x86 / arm64) */
        k *= 0xcc9e2d51u;
        k = ref_rotl(k, 15);
        k *= 0x1b873593u;
        h ^= k;
        h = ref_rotl(h, 13);
        h = h * 5 + 0xe6546b64u;
    }
    uint32_t k = 0;
    for (size_t j = len - i; j > 0; j--)
        k = (k << 8) | data[i + j - 1];
    if (len - i > 0) {
        k *= 0xcc9e2d51u;
        k = ref_rotl(k, 15);
        k *= 0x1b873593u;
        h ^= k;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static uint32_t ref_flink_mix(uint32_t code)
{
    code = ref_rotl(code * 0xcc9e2d51u, 15) * 0x1b873593u;
    code = ref_rotl(code, 13) * 5 + 0xe6546b64u;
    code ^= 4;
    code ^= code >> 16;
    code *= 0x85ebca6bu;
    code ^= code >> 13;
    code *= 0xc2b2ae35u;
    code ^= code >> 16;
    int64_t s = (int32_t)code;
    if (s == INT32_MIN)
        return 0;
    return (uint32_t)(s < 0 ? -s : s);
}

START_TEST(test_murmur_vectors)
{
    ck_assert_uint_eq(key_group_hash_bytes((const uint8_t *)"", 0), 0);
    ck_assert_uint_eq(key_group_hash_bytes((const uint8_t *)"hello", 5), 0x248bfa47u);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    ck_assert_uint_eq(key_group_hash_bytes((const uint8_t *)fox, (uint32_t)strlen(fox)), 0x2e4ff723u);
    ck_assert_uint_eq(ref_murmur3((const uint8_t *)"hello", 5), 0x248bfa47u);
    for (int i = 0; i < 200; i++) {
        char k[32];
        int n = snprintf(k, sizeof(k), "key-%d", i * 7919);
        ck_assert_uint_eq(key_group_hash_bytes((const uint8_t *)k, (uint32_t)n), ref_murmur3((uint8_t *)k, n));
    }
    /* every tail length, each key in a buffer of exactly its size (a read past it is
     * an error under ASan and valgrind) */
    uint32_t x = 12345;
    for (uint32_t len = 0; len <= 40; len++)
        for (int rep = 0; rep < 20; rep++) {
            uint8_t *k = malloc(len ? len : 1);
            for (uint32_t i = 0; i < len; i++)
                k[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
            ck_assert_uint_eq(key_group_hash_bytes(len ? k : NULL, len), ref_murmur3(k, len));
            for (uint32_t maxp = 100; maxp <= 128; maxp += 28) /* a division and a power of two */
                ck_assert_uint_eq(key_group_for_key(len ? k : NULL, len, maxp),
                                  ref_flink_mix(ref_murmur3(k, len)) % maxp);
            free(k);
        }
    static const uint32_t maxps[] = {100, 128, 32767, 32768};
    for (size_t m = 0; m < sizeof(maxps) / sizeof(maxps[0]); m++)
        for (uint32_t p = 1, maxp = maxps[m]; p <= 9; p++)
            for (uint32_t kg = 0; kg < maxp; kg += 1 + kg / 64)
                ck_assert_uint_eq(key_group_operator_index(kg, maxp, p), (uint32_t)((uint64_t)kg * p / maxp));
}
END_TEST

/* The key-group cache answers as key_group_for_key: keys of every length 0-20 (cached up
 * to 16), near misses of one length differing in one byte (first, middle, last), far
 * more keys than slots (evictions), each asked several times in a scrambled order. */
START_TEST(test_key_group_cache)
{
    enum { NK = 3000 };
    static uint8_t keys[NK][20];
    static uint32_t lens[NK];
    uint32_t x = 99;
    for (int i = 0; i < NK; i++) {
        lens[i] = (uint32_t)(i % 21);
        if (i >= 21 && i % 3 == 0) { /* a near miss of the key before: one byte changed */
            memcpy(keys[i], keys[i - 3], sizeof(keys[i]));
            lens[i] = lens[i - 3];
            if (lens[i])
                keys[i][(uint32_t)(i / 3) % 3 == 0   ? 0
                        : (uint32_t)(i / 3) % 3 == 1 ? lens[i] / 2
                                                     : lens[i] - 1] ^= 1;
            continue;
        }
        for (int b = 0; b < 20; b++)
            keys[i][b] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    }
    for (uint32_t maxp = 100; maxp <= 128; maxp += 28) {
        te_key_group_cache_t c;
        key_group_cache_init(&c, maxp);
        for (int round = 0; round < 4; round++)
            for (int j = 0; j < NK; j++) {
                int i = round % 2 ? NK - 1 - j : (j * 7) % NK; /* 7 and NK are coprime */
                if (round == 3)
                    i = j % 50; /* a few hot keys: hits */
                ck_assert_uint_eq(key_group_cached(&c, keys[i], lens[i]),
                                  key_group_for_key(keys[i], lens[i], maxp));
            }
        /* Keys that share a slot with the key asked just before them and differ from it
         * in one word only (the first, the second, or the length): each candidate right
         * after the base key, thousands of them, so some land in the base key's slot. */
        static const uint8_t base[16] = "0123456789abcdef";
        for (int kind = 0; kind < 3; kind++)
            for (uint32_t v = 0; v < 16 * KEY_GROUP_CACHE_SLOTS; v++) {
                uint8_t k[16];
                uint32_t n = 16;
                memcpy(k, base, 16);
                if (kind == 0)
                    memcpy(k, &v, 4); /* the first word */
                else if (kind == 1)
                    memcpy(k + 12, &v, 4); /* the second word */
                else
                    n = 9 + v % 7; /* the length (the words of a shorter key overlap) */
                key_group_cached(&c, base, 16);
                ck_assert_uint_eq(key_group_cached(&c, k, n), key_group_for_key(k, n, maxp));
            }
        /* keys whose words are the same and only the length tells apart */
        static const struct {
            const char *k;
            uint32_t n;
        } same[] = {{"a", 1}, {"aa", 2}, {"aaa", 3}, {"abab", 4}, {"ababab", 6}, {"\0", 1}, {"\0\0", 2}, {"", 0}};
        for (int round = 0; round < 3; round++)
            for (size_t j = 0; j < sizeof(same) / sizeof(same[0]); j++) {
                size_t i = round == 1 ? sizeof(same) / sizeof(same[0]) - 1 - j : j;
                ck_assert_uint_eq(key_group_cached(&c, (const uint8_t *)same[i].k, same[i].n),
                                  key_group_for_key((const uint8_t *)same[i].k, same[i].n, maxp));
            }
    }
}
END_TEST

/* A text record as the row of one string field that edges of text carry. */
static const uint8_t *text_row(const char *text, uint32_t *len)
{
    static te_row_builder_t b;
    te_record_t r;
    te_row_builder_begin(&b, 1);
    te_row_set_str(&b, 0, text, (uint32_t)strlen(text));
    ck_assert_int_eq(te_row_builder_finish(&b, 0, &r), 0);
    *len = r.len;
    return r.data;
}

START_TEST(test_hash_selector_consistent)
{
    const uint32_t maxp = 128;
    for (uint32_t p = 1; p <= 7; p++) {
        te_error_t err;
        te_channel_selector_t *s = channel_selector_new(TE__PARTITIONER__HASH, p, 0, 1, ',', maxp, &err);
        ck_assert_ptr_nonnull(s);
        uint32_t count[7] = {0};
        for (int i = 0; i < 1000; i++) {
            char rec[64], key[32];
            int kl = snprintf(key, sizeof(key), "w%d", i);
            snprintf(rec, sizeof(rec), "%d,%s,x", i, key);
            uint32_t kg = ref_flink_mix(ref_murmur3((uint8_t *)key, kl)) % maxp;
            uint32_t want = kg * p / maxp;
            ck_assert_uint_eq(key_group_for_key((uint8_t *)key, kl, maxp), kg);
            uint32_t n;
            const uint8_t *row = text_row(rec, &n);
            uint32_t got = channel_selector_select(s, row, n);
            ck_assert_uint_eq(got, want);
            ck_assert_uint_eq(channel_selector_select(s, row, n), got); /* deterministic */
            uint32_t first, last;
            key_group_range(got, maxp, p, &first, &last);
            ck_assert(kg >= first && kg <= last);
            count[got]++;
        }
        for (uint32_t c = 0; c < p; c++)
            ck_assert_uint_gt(count[c], 0);
        /* missing key field: the empty key's group */
        uint32_t kg0 = ref_flink_mix(ref_murmur3((const uint8_t *)"", 0)) % maxp;
        uint32_t n;
        const uint8_t *row = text_row("nofield", &n);
        ck_assert_uint_eq(channel_selector_select(s, row, n), kg0 * p / maxp);
        channel_selector_free(s);
    }
}
END_TEST

/* byte_find_small against memchr: every length up to 16, the byte searched for at every
 * position (and twice, and absent), bytes equal to its complement's neighbours around
 * it, byte values 0x00, 0x09, 0x80, 0xff. */
START_TEST(test_find_small_vs_memchr)
{
    static const uint8_t cs[] = {0x00, 0x09, 0x2c, 0x7f, 0x80, 0xfe, 0xff};
    uint8_t buf[32];
    uint32_t x = 7;
    for (size_t ci = 0; ci < sizeof(cs); ci++) {
        uint8_t c = cs[ci];
        for (uint32_t n = 0; n <= 16; n++)
            for (int first = -1; first < (int)n; first++)
                for (int round = 0; round < 8; round++) {
                    for (size_t j = 0; j < sizeof(buf); j++) { /* bytes around, never c */
                        x = x * 1103515245u + 12345u;
                        uint8_t v = round < 2 ? (uint8_t)(c ^ (1u << (j % 8))) : (uint8_t)(x >> 16);
                        buf[j] = v == c ? (uint8_t)~c : v;
                    }
                    uint8_t *p = buf + 8; /* bytes before and after p[0..n) exist and are not c */
                    if (first >= 0) {
                        p[first] = c;
                        if (round % 2 && first + 1 < (int)n)
                            p[first + 1 + (int)(x % (n - (uint32_t)first - 1))] = c; /* a later one too */
                    }
                    const uint8_t *m = n ? memchr(p, c, n) : NULL;
                    uint32_t want = m ? (uint32_t)(m - p) : n;
                    ck_assert_msg(byte_find_small(p, n, c) == want, "c 0x%02x n %u first %d: %u, expected %u", c,
                                  n, first, byte_find_small(p, n, c), want);
                }
    }
}
END_TEST

/* Hash partitioning by field 0 of text rows (a word, a line's first field): the key is
 * the text up to the first delimiter (a plain loop here), for texts of 0-40 bytes with
 * delimiters at random places or none, every byte value, tab and comma delimiters. */
START_TEST(test_hash_selector_text_field0)
{
    const uint32_t maxp = 128, p = 5;
    static const char delims[] = {'\t', ','};
    uint32_t x = 4242;
    for (size_t d = 0; d < sizeof(delims); d++) {
        te_error_t err;
        te_channel_selector_t *s = channel_selector_new(TE__PARTITIONER__HASH, p, 0, 0, delims[d], maxp, &err);
        ck_assert_ptr_nonnull(s);
        for (int i = 0; i < 20000; i++) {
            uint8_t text[48];
            uint32_t n = (uint32_t)(i % 41);
            for (uint32_t j = 0; j < n; j++) {
                x = x * 1103515245u + 12345u;
                uint32_t r = (x >> 16) % 100;
                text[j] = r < 4 ? (uint8_t)delims[d] : r < 8 ? (uint8_t)delims[1 - d] : (uint8_t)(x >> 8);
            }
            uint32_t kl = 0;
            while (kl < n && text[kl] != (uint8_t)delims[d])
                kl++;
            uint32_t want = (ref_flink_mix(ref_murmur3(text, kl)) % maxp) * p / maxp;
            te_row_builder_t b = {0};
            te_record_t r;
            te_row_builder_begin(&b, 1);
            te_row_set_str(&b, 0, (const char *)text, n);
            ck_assert_int_eq(te_row_builder_finish(&b, 0, &r), 0);
            ck_assert_msg(channel_selector_select(s, r.data, r.len) == want, "text %d (%u bytes, key %u)", i, n,
                          kl);
            te_row_builder_free(&b);
        }
        channel_selector_free(s);
    }
}
END_TEST

START_TEST(test_key_group_ranges)
{
    uint32_t maxps[] = {1, 7, 128, 129, 1000};
    for (size_t m = 0; m < sizeof(maxps) / sizeof(maxps[0]); m++) {
        uint32_t maxp = maxps[m];
        for (uint32_t p = 1; p <= maxp && p <= 40; p++) {
            uint8_t *seen = calloc(maxp, 1);
            for (uint32_t i = 0; i < p; i++) {
                uint32_t first, last;
                key_group_range(i, maxp, p, &first, &last);
                ck_assert_uint_le(first, last);
                for (uint32_t kg = first; kg <= last; kg++) {
                    ck_assert_uint_lt(kg, maxp);
                    seen[kg]++;
                    ck_assert_uint_eq(key_group_operator_index(kg, maxp, p), i);
                }
            }
            for (uint32_t kg = 0; kg < maxp; kg++)
                ck_assert_uint_eq(seen[kg], 1);
            free(seen);
        }
    }
}
END_TEST

START_TEST(test_rebalance)
{
    te_error_t err;
    uint32_t firsts[4];
    for (uint32_t sub = 0; sub < 4; sub++) {
        te_channel_selector_t *s = channel_selector_new(TE__PARTITIONER__REBALANCE, 4, sub, -1, 0, 0, &err);
        ck_assert_ptr_nonnull(s);
        uint32_t count[4] = {0}, prev = 0;
        for (int i = 0; i < 400; i++) {
            uint32_t c = channel_selector_select(s, NULL, 0);
            ck_assert_uint_lt(c, 4);
            if (i == 0)
                firsts[sub] = c;
            else
                ck_assert_uint_eq(c, (prev + 1) % 4); /* round robin */
            prev = c;
            count[c]++;
        }
        for (int c = 0; c < 4; c++)
            ck_assert_uint_eq(count[c], 100);
        channel_selector_free(s);
    }
    /* subtask-dependent start: not every producer starts on the same channel */
    ck_assert(firsts[0] != firsts[1] || firsts[1] != firsts[2] || firsts[2] != firsts[3]);

    te_channel_selector_t *r = channel_selector_new(TE__PARTITIONER__RESCALE, 3, 5, -1, 0, 0, &err);
    uint32_t cnt[3] = {0};
    for (int i = 0; i < 30; i++)
        cnt[channel_selector_select(r, NULL, 0)]++;
    ck_assert(cnt[0] == 10 && cnt[1] == 10 && cnt[2] == 10);
    channel_selector_free(r);
}
END_TEST

START_TEST(test_forward_broadcast_parse)
{
    te_error_t err;
    te_channel_selector_t *f = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 3, -1, 0, 0, &err);
    ck_assert_uint_eq(channel_selector_select(f, (const uint8_t *)"x", 1), 0);
    ck_assert_int_eq(channel_selector_kind(f), TE__PARTITIONER__FORWARD);
    channel_selector_free(f);
    te_channel_selector_t *b = channel_selector_new(TE__PARTITIONER__BROADCAST, 5, 0, -1, 0, 0, &err);
    ck_assert_uint_eq(channel_selector_select(b, (const uint8_t *)"x", 1), TE_SELECT_BROADCAST);
    channel_selector_free(b);
    ck_assert_ptr_null(channel_selector_new(TE__PARTITIONER__HASH, 200, 0, 0, ',', 128, &err));
    ck_assert_int_eq(err.code, TE_EINVAL);
    ck_assert_ptr_null(channel_selector_new(TE__PARTITIONER__REBALANCE, 0, 0, 0, ',', 128, &err));
    /* Names come from the proto's enum: every value but UNSPECIFIED, in order. */
    const ProtobufCEnumDescriptor *d = &te__partitioner__descriptor;
    const char *names[] = {"forward", "rebalance", "rescale", "hash", "broadcast"};
    char buf[64];
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(proto_enum_parse(d, names[i]), i + 1);
        ck_assert_str_eq(proto_enum_name(d, i + 1, buf, sizeof(buf)), names[i]);
        ck_assert(proto_enum_valid(d, i + 1));
    }
    ck_assert_int_eq(proto_enum_parse(d, "HASH"), TE__PARTITIONER__HASH);
    ck_assert_int_eq(proto_enum_parse(d, "shuffle"), -1);
    ck_assert_int_eq(proto_enum_parse(d, "partitioner_unspecified"), -1);
    ck_assert(!proto_enum_valid(d, 0));
    ck_assert(!proto_enum_valid(d, 6));
    ck_assert_str_eq(proto_enum_name(d, 0, buf, sizeof(buf)), "?");
    ck_assert_str_eq(proto_enum_names(d, buf, sizeof(buf)), "forward, rebalance, rescale, hash or broadcast");
    ck_assert_ptr_null(channel_selector_new((te_partitioner_kind_t)6, 2, 0, 0, ',', 128, &err));
    ck_assert_ptr_null(channel_selector_new(TE__PARTITIONER__PARTITIONER_UNSPECIFIED, 2, 0, 0, ',', 128, &err));
    channel_selector_free(NULL);
}
END_TEST

START_TEST(test_record_field)
{
    uint32_t st, fl;
    const uint8_t *rec = (const uint8_t *)"a\tbb\t\tddd";
    ck_assert_int_eq(te_record_field(rec, 9, '\t', 0, &st, &fl), 0);
    ck_assert(fl == 1 && st == 0);
    ck_assert_int_eq(te_record_field(rec, 9, '\t', 1, &st, &fl), 0);
    ck_assert(fl == 2 && st == 2);
    ck_assert_int_eq(te_record_field(rec, 9, '\t', 2, &st, &fl), 0);
    ck_assert_uint_eq(fl, 0);
    ck_assert_int_eq(te_record_field(rec, 9, '\t', 3, &st, &fl), 0);
    ck_assert(fl == 3 && memcmp(rec + st, "ddd", 3) == 0);
    ck_assert_int_eq(te_record_field(rec, 9, '\t', 4, &st, &fl), -1);
    ck_assert_int_eq(te_record_field(rec, 0, '\t', 0, &st, &fl), 0);
    ck_assert_uint_eq(fl, 0);
    ck_assert_int_eq(te_record_field((const uint8_t *)"x\t", 2, '\t', 1, &st, &fl), 0);
    ck_assert_uint_eq(fl, 0);
}
END_TEST

Suite *channel_selector_suite(void)
{
    Suite *s = suite_create("channel_selector");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_murmur_vectors);
    tcase_add_test(tc, test_key_group_cache);
    tcase_add_test(tc, test_hash_selector_consistent);
    tcase_add_test(tc, test_find_small_vs_memchr);
    tcase_add_test(tc, test_hash_selector_text_field0);
    tcase_add_test(tc, test_key_group_ranges);
    tcase_add_test(tc, test_rebalance);
    tcase_add_test(tc, test_forward_broadcast_parse);
    tcase_add_test(tc, test_record_field);
    suite_add_tcase(s, tc);
    return s;
}

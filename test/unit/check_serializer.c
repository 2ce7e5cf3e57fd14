/* Unit tests: record serializer / deserializer — the wire layout against a hand-built
 * byte stream, round trips with records of 0 bytes, records spanning 1, 2 and 3
 * buffers and larger than a segment, the byte stream split at every position, and
 * corrupt lengths; the inline per-record writer against the same oracle. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "shuffle/buffer.h"
#include "shuffle/task_event.h"
#include "shuffle/record_deserializer.h"
#include "shuffle/record_serializer.h"

struct rec {
    uint32_t hdr_len;
    uint32_t len; /* header + payload */
    uint8_t *bytes;
};

static struct rec make_rec(uint32_t hdr_len, uint32_t len, uint32_t seed)
{
    struct rec r = {hdr_len, len, malloc(len ? len : 1)};
    for (uint32_t i = 0; i < len; i++)
        r.bytes[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
    return r;
}

/* The independent oracle: u32 BE length then the bytes. */
static uint8_t *expected_stream(const struct rec *r, int n, uint32_t *total)
{
    uint32_t t = 0;
    for (int i = 0; i < n; i++)
        t += 4 + r[i].len;
    uint8_t *s = malloc(t ? t : 1), *p = s;
    for (int i = 0; i < n; i++) {
        *p++ = (uint8_t)(r[i].len >> 24);
        *p++ = (uint8_t)(r[i].len >> 16);
        *p++ = (uint8_t)(r[i].len >> 8);
        *p++ = (uint8_t)r[i].len;
        memcpy(p, r[i].bytes, r[i].len);
        p += r[i].len;
    }
    *total = t;
    return s;
}

#define MAXBUF 64

/* Serializes all records into unpooled buffers of `cap` bytes; returns the count. */
static int serialize_all(const struct rec *r, int n, uint32_t cap, te_buffer_t **bufs, int *spans)
{
    int nb = 0;
    te_record_serializer_t ser;
    te_buffer_t *cur = NULL;
    for (int i = 0; i < n; i++) {
        record_serializer_set(&ser, r[i].bytes, r[i].hdr_len, r[i].bytes + r[i].hdr_len, r[i].len - r[i].hdr_len);
        ck_assert(record_serializer_has_pending(&ser));
        int used = 0;
        for (;;) {
            if (cur == NULL) {
                ck_assert_int_lt(nb, MAXBUF);
                cur = bufs[nb++] = buffer_new_unpooled(cap);
            }
            used++;
            te_ser_result_t res = record_serializer_copy_to_buffer(&ser, cur);
            if (res == TE_SER_FULL_RECORD) {
                ck_assert_uint_lt(atomic_load(&cur->committed), cap);
                break;
            }
            ck_assert_uint_eq(atomic_load(&cur->committed), cap);
            cur = NULL;
            if (res == TE_SER_FULL_RECORD_BUFFER_FULL)
                break;
        }
        ck_assert(!record_serializer_has_pending(&ser));
        if (spans)
            spans[i] = used;
    }
    return nb;
}

static te_buffer_slice_t slice_of(const uint8_t *data, uint32_t len)
{
    te_buffer_t *b = buffer_new_unpooled(len + 8);
    memcpy(b->data + 3, data, len); /* non-zero offset */
    atomic_store(&b->committed, len + 3);
    te_buffer_slice_t s = {b, 3, len, TE_BUFFER_DATA};
    return s;
}

/* Feeds slices (cut at the given points) and checks the records against r[]. */
static void deserialize_check(const uint8_t *stream, uint32_t total, const uint32_t *cuts, int ncuts,
                              const struct rec *r, int n)
{
    te_record_deserializer_t *d = record_deserializer_new(1u << 20);
    int next = 0, got = 0;
    uint32_t from = 0;
    for (;;) {
        const uint8_t *data;
        uint32_t len;
        te_des_result_t res = record_deserializer_next(d, &data, &len);
        ck_assert_int_ne(res, TE_DES_ERROR);
        if (res == TE_DES_RECORD) {
            ck_assert_int_lt(got, n);
            ck_assert_uint_eq(len, r[got].len);
            ck_assert(len == 0 || memcmp(data, r[got].bytes, len) == 0);
            got++;
            continue;
        }
        if (from >= total)
            break;
        uint32_t to = next < ncuts ? cuts[next++] : total;
        record_deserializer_set_next(d, slice_of(stream + from, to - from));
        from = to;
    }
    ck_assert_int_eq(got, n);
    ck_assert_int_eq(record_deserializer_has_partial(d), 0);
    record_deserializer_free(d);
}

START_TEST(test_round_trip_spanning)
{
    const uint32_t cap = 256;
    struct rec r[8];
    r[0] = make_rec(0, 0, 1);   /* empty record */
    r[1] = make_rec(2, 10, 2);  /* fits */
    r[2] = make_rec(1, 300, 3); /* spans 2 buffers */
    r[3] = make_rec(0, 0, 4);
    r[4] = make_rec(5, 600, 5);  /* spans 3 buffers, larger than a segment */
    r[5] = make_rec(0, 2000, 6); /* much larger than a segment */
    r[6] = make_rec(0, 1, 7);
    r[7] = make_rec(0, 0, 8);
    int n = 8;
    te_buffer_t *bufs[MAXBUF];
    int spans[8];
    int nb = serialize_all(r, n, cap, bufs, spans);
    ck_assert_int_eq(spans[1], 1);
    ck_assert_int_eq(spans[2], 2);
    ck_assert_int_ge(spans[4], 3);
    ck_assert_int_ge(spans[5], 8);

    /* the written bytes equal the oracle stream */
    uint32_t total;
    uint8_t *exp = expected_stream(r, n, &total);
    uint8_t *got = malloc(total);
    uint32_t off = 0;
    for (int i = 0; i < nb; i++) {
        uint32_t c = atomic_load(&bufs[i]->committed);
        ck_assert_uint_le(off + c, total);
        memcpy(got + off, bufs[i]->data, c);
        off += c;
    }
    ck_assert_uint_eq(off, total);
    ck_assert_int_eq(memcmp(got, exp, total), 0);

    /* deserialize from the serializer's own buffers (slices = whole buffers) */
    te_record_deserializer_t *d = record_deserializer_new(1u << 20);
    int k = 0, bi = 0;
    for (;;) {
        const uint8_t *data;
        uint32_t len;
        te_des_result_t res = record_deserializer_next(d, &data, &len);
        ck_assert_int_ne(res, TE_DES_ERROR);
        if (res == TE_DES_RECORD) {
            ck_assert_uint_eq(len, r[k].len);
            ck_assert(len == 0 || memcmp(data, r[k].bytes, len) == 0);
            if (k == 1) /* a record wholly inside a slice is returned in place */
                ck_assert(data >= bufs[0]->data && data < bufs[0]->data + cap);
            k++;
            continue;
        }
        if (bi == nb)
            break;
        te_buffer_slice_t s = {bufs[bi], 0, atomic_load(&bufs[bi]->committed), TE_BUFFER_DATA};
        bi++;
        record_deserializer_set_next(d, s); /* takes the reference */
    }
    ck_assert_int_eq(k, n);
    record_deserializer_free(d);

    /* and from arbitrary 3-way splits */
    uint32_t cuts[2] = {total / 3, 2 * total / 3};
    deserialize_check(exp, total, cuts, 2, r, n);
    for (int i = 0; i < n; i++)
        free(r[i].bytes);
    free(exp);
    free(got);
}
END_TEST

START_TEST(test_split_every_position)
{
    struct rec r[5];
    r[0] = make_rec(0, 3, 1);
    r[1] = make_rec(0, 0, 2);
    r[2] = make_rec(1, 9, 3);
    r[3] = make_rec(0, 0, 4);
    r[4] = make_rec(0, 5, 5);
    uint32_t total;
    uint8_t *exp = expected_stream(r, 5, &total);
    for (uint32_t a = 0; a <= total; a++) {
        uint32_t c1[1] = {a};
        deserialize_check(exp, total, c1, 1, r, 5);
        for (uint32_t b = a; b <= total; b++) {
            uint32_t c2[2] = {a, b};
            deserialize_check(exp, total, c2, 2, r, 5);
        }
    }
    /* one byte per slice */
    uint32_t cuts[64];
    for (uint32_t i = 0; i < total; i++)
        cuts[i] = i + 1;
    deserialize_check(exp, total, cuts, (int)total, r, 5);
    for (int i = 0; i < 5; i++)
        free(r[i].bytes);
    free(exp);
}
END_TEST

START_TEST(test_corrupt_length)
{
    te_record_deserializer_t *d = record_deserializer_new(100);
    uint8_t bad[8] = {0, 0, 3, 0xe8, 1, 2, 3, 4}; /* length 1000 */
    record_deserializer_set_next(d, slice_of(bad, sizeof(bad)));
    const uint8_t *data;
    uint32_t len;
    ck_assert_int_eq(record_deserializer_next(d, &data, &len), TE_DES_ERROR);
    record_deserializer_clear(d);
    /* a split length prefix that is corrupt */
    record_deserializer_set_next(d, slice_of(bad, 2));
    ck_assert_int_eq(record_deserializer_next(d, &data, &len), TE_DES_NEED_MORE);
    ck_assert_int_eq(record_deserializer_has_partial(d), 1);
    record_deserializer_set_next(d, slice_of(bad + 2, 6));
    ck_assert_int_eq(record_deserializer_next(d, &data, &len), TE_DES_ERROR);
    record_deserializer_free(d); /* recycles the held slice */
}
END_TEST

START_TEST(test_partial_at_end)
{
    te_record_deserializer_t *d = record_deserializer_new(100);
    uint8_t s[6] = {0, 0, 0, 10, 'a', 'b'};
    record_deserializer_set_next(d, slice_of(s, sizeof(s)));
    const uint8_t *data;
    uint32_t len;
    ck_assert_int_eq(record_deserializer_next(d, &data, &len), TE_DES_NEED_MORE);
    ck_assert_int_eq(record_deserializer_has_partial(d), 1);
    record_deserializer_clear(d);
    ck_assert_int_eq(record_deserializer_has_partial(d), 0);
    ck_assert_int_eq(record_deserializer_next(d, &data, &len), TE_DES_NEED_MORE);
    record_deserializer_free(d);
}
END_TEST

/* The per-record path (record_serializer_write_whole) writes exactly what set +
 * copy_to_buffer write (the oracle stream), at any offset, touches nothing past the
 * record, and declines a record that does not fit with a byte to spare. */
START_TEST(test_write_whole)
{
    static const uint32_t hdrs[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17};
    static const uint32_t pays[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 15, 16, 17, 24, 31, 40, 100, 1000};
    const uint32_t cap = 4096;
    te_buffer_t *b = buffer_new_unpooled(cap);
    for (size_t h = 0; h < sizeof(hdrs) / sizeof(hdrs[0]); h++) {
        for (size_t p = 0; p < sizeof(pays) / sizeof(pays[0]); p++) {
            for (uint32_t at = 0; at < 3; at++) {
                struct rec r = make_rec(hdrs[h], hdrs[h] + pays[p], (uint32_t)(h * 100 + p));
                uint32_t total;
                uint8_t *exp = expected_stream(&r, 1, &total);
                memset(b->data, 0xa5, cap);
                atomic_store(&b->committed, at * 13);
                ck_assert_int_eq(record_serializer_write_whole(b, r.bytes, hdrs[h], r.bytes + hdrs[h], pays[p]),
                                 1);
                ck_assert_uint_eq(atomic_load(&b->committed), at * 13 + total);
                ck_assert_int_eq(memcmp(b->data + at * 13, exp, total), 0);
                uint32_t touched = cap; /* the first byte outside the record that changed */
                for (uint32_t i = 0; i < cap && touched == cap; i++)
                    if ((i < at * 13 || i >= at * 13 + total) && b->data[i] != 0xa5)
                        touched = i;
                ck_assert_msg(touched == cap, "byte %u outside the record was written", touched);
                /* room = total: it would fill the buffer; room < total: it does not fit */
                atomic_store(&b->committed, cap - total);
                ck_assert_int_eq(record_serializer_write_whole(b, r.bytes, hdrs[h], r.bytes + hdrs[h], pays[p]),
                                 0);
                atomic_store(&b->committed, cap - total + 1);
                ck_assert_int_eq(record_serializer_write_whole(b, r.bytes, hdrs[h], r.bytes + hdrs[h], pays[p]),
                                 0);
                ck_assert_uint_eq(atomic_load(&b->committed), cap - total + 1);
                atomic_store(&b->committed, cap - total - 1);
                ck_assert_int_eq(record_serializer_write_whole(b, r.bytes, hdrs[h], r.bytes + hdrs[h], pays[p]),
                                 1);
                ck_assert_uint_eq(atomic_load(&b->committed), cap - 1);
                ck_assert_int_eq(memcmp(b->data + cap - total - 1, exp, total), 0);
                free(exp);
                free(r.bytes);
            }
        }
    }
    buffer_recycle(b);
}
END_TEST

START_TEST(test_event_codec)
{
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 0x0102030405060708ull, 42, 0}, out;
    uint8_t buf[TE_EVENT_ENCODED_LEN];
    task_event_encode(&ev, buf);
    ck_assert_uint_eq(buf[0], 2);
    ck_assert_uint_eq(buf[1], 1);
    ck_assert_uint_eq(buf[8], 8);
    ck_assert_uint_eq(buf[16], 42);
    ck_assert_int_eq(task_event_decode(buf, sizeof(buf), &out), 0);
    ck_assert_int_eq(out.type, ev.type);
    ck_assert(out.checkpoint_id == ev.checkpoint_id && out.timestamp == 42);
    ck_assert_int_eq(task_event_decode(buf, 16, &out), -1);
    buf[0] = 9;
    ck_assert_int_eq(task_event_decode(buf, sizeof(buf), &out), -1);
}
END_TEST

Suite *serializer_suite(void)
{
    Suite *s = suite_create("serializer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip_spanning);
    tcase_add_test(tc, test_split_every_position);
    tcase_add_test(tc, test_corrupt_length);
    tcase_add_test(tc, test_partial_at_end);
    tcase_add_test(tc, test_write_whole);
    tcase_add_test(tc, test_event_codec);
    suite_add_tcase(s, tc);
    return s;
}

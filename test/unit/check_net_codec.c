/* Unit tests: net_codec — the data-plane wire format (proto/NETWORK.md). Frames are
 * built byte by byte here from the documented layout (an oracle independent of the
 * encoder), decoded and compared field by field; a stream of every message kind is fed
 * with a split at every byte position; bad magic, unknown ids, wrong / oversized
 * lengths, bad BufferResponse fields and random garbage are rejected without reading
 * past the bytes given. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_codec.h"

/* ---- an independent frame builder (the layout of proto/NETWORK.md) ---- */

typedef struct fb {
    uint8_t b[4096];
    size_t n;
} fb_t;

static void put8(fb_t *f, uint8_t v) { f->b[f->n++] = v; }
static void put16(fb_t *f, uint16_t v)
{
    put8(f, (uint8_t)(v >> 8));
    put8(f, (uint8_t)v);
}
static void put32(fb_t *f, uint32_t v)
{
    for (int s = 24; s >= 0; s -= 8)
        put8(f, (uint8_t)(v >> s));
}
static void putid(fb_t *f, uint8_t seed)
{
    for (int i = 0; i < 16; i++)
        put8(f, (uint8_t)(seed + i));
}
static void begin(fb_t *f, uint8_t id)
{
    f->n = 0;
    put32(f, 0); /* patched by end() */
    put32(f, 0xBADC0FFEu);
    put8(f, id);
}
static size_t end(fb_t *f)
{
    uint32_t n = (uint32_t)f->n;
    f->b[0] = (uint8_t)(n >> 24);
    f->b[1] = (uint8_t)(n >> 16);
    f->b[2] = (uint8_t)(n >> 8);
    f->b[3] = (uint8_t)n;
    return n;
}
static int id_is(const uint8_t *id, uint8_t seed)
{
    for (int i = 0; i < 16; i++)
        if (id[i] != (uint8_t)(seed + i))
            return 0;
    return 1;
}

/* Decodes exactly-sized heap copies so ASan/valgrind catch over-reads. */
static int decode_copy(const uint8_t *buf, size_t len, uint32_t max, te_net_msg_t *m, size_t *used, te_error_t *e)
{
    uint8_t *c = malloc(len ? len : 1);
    memcpy(c, buf, len);
    int r = net_codec_decode(c, len, max, m, used, e);
    if (r == 1 && m->payload != NULL) {
        /* payload points into c: copy it out for the caller's checks */
        static uint8_t keep[4096];
        memcpy(keep, m->payload, m->size);
        m->payload = keep;
    }
    free(c);
    return r;
}

START_TEST(test_decode_every_kind)
{
    fb_t f;
    te_net_msg_t m;
    size_t used;
    te_error_t e;

    begin(&f, 0);
    putid(&f, 1);
    put32(&f, 7);
    put32(&f, 3);
    put8(&f, 0);
    put8(&f, 0);
    put32(&f, 5);
    memcpy(f.b + f.n, "hello", 5);
    f.n += 5;
    size_t n = end(&f);
    ck_assert_uint_eq(n, 39 + 5);
    ck_assert_int_eq(decode_copy(f.b, n, 1 << 20, &m, &used, &e), 1);
    ck_assert_uint_eq(used, n);
    ck_assert_uint_eq(m.id, TE_NET_BUFFER_RESPONSE);
    ck_assert(id_is(m.receiver_id, 1));
    ck_assert_uint_eq(m.sequence, 7);
    ck_assert_uint_eq(m.backlog, 3);
    ck_assert_uint_eq(m.data_type, 0);
    ck_assert_uint_eq(m.size, 5);
    ck_assert(memcmp(m.payload, "hello", 5) == 0);

    begin(&f, 1);
    putid(&f, 2);
    put16(&f, 1);
    put16(&f, 4);
    memcpy(f.b + f.n, "oops", 4);
    f.n += 4;
    n = end(&f);
    ck_assert_int_eq(decode_copy(f.b, n, 1 << 20, &m, &used, &e), 1);
    ck_assert_uint_eq(m.id, TE_NET_ERROR_RESPONSE);
    ck_assert(id_is(m.receiver_id, 2));
    ck_assert_uint_eq(m.error_code, TE_NET_ERR_PARTITION_NOT_FOUND);
    ck_assert_uint_eq(m.size, 4);
    ck_assert(memcmp(m.payload, "oops", 4) == 0);

    begin(&f, 2);
    putid(&f, 3);
    put32(&f, 9);
    putid(&f, 4);
    put32(&f, 2);
    n = end(&f);
    ck_assert_uint_eq(n, 49);
    ck_assert_int_eq(decode_copy(f.b, n, 1 << 20, &m, &used, &e), 1);
    ck_assert_uint_eq(m.id, TE_NET_PARTITION_REQUEST);
    ck_assert(id_is(m.partition_id, 3));
    ck_assert_uint_eq(m.subpartition, 9);
    ck_assert(id_is(m.receiver_id, 4));
    ck_assert_uint_eq(m.credit, 2);

    uint8_t ids[] = {4, 7};
    for (int k = 0; k < 2; k++) {
        begin(&f, ids[k]);
        putid(&f, 5);
        n = end(&f);
        ck_assert_int_eq(decode_copy(f.b, n, 1 << 20, &m, &used, &e), 1);
        ck_assert_uint_eq(m.id, ids[k]);
        ck_assert(id_is(m.receiver_id, 5));
    }
    begin(&f, 5);
    n = end(&f);
    ck_assert_int_eq(decode_copy(f.b, n, 1 << 20, &m, &used, &e), 1);
    ck_assert_uint_eq(m.id, TE_NET_CLOSE_REQUEST);

    begin(&f, 6);
    put32(&f, 11);
    putid(&f, 6);
    n = end(&f);
    ck_assert_int_eq(decode_copy(f.b, n, 1 << 20, &m, &used, &e), 1);
    ck_assert_uint_eq(m.id, TE_NET_ADD_CREDIT);
    ck_assert_uint_eq(m.credit, 11);
    ck_assert(id_is(m.receiver_id, 6));

    begin(&f, 9);
    put32(&f, 12);
    putid(&f, 8);
    n = end(&f);
    ck_assert_int_eq(decode_copy(f.b, n, 1 << 20, &m, &used, &e), 1);
    ck_assert_uint_eq(m.id, TE_NET_BACKLOG_ANNOUNCEMENT);
    ck_assert_uint_eq(m.backlog, 12);
    ck_assert(id_is(m.receiver_id, 8));

    begin(&f, 10); /* NewBufferSize (buffer debloating) */
    put32(&f, 4096);
    putid(&f, 9);
    n = end(&f);
    ck_assert_int_eq(decode_copy(f.b, n, 1 << 20, &m, &used, &e), 1);
    ck_assert_uint_eq(m.id, TE_NET_NEW_BUFFER_SIZE);
    ck_assert_uint_eq(m.buffer_size, 4096);
    ck_assert(id_is(m.receiver_id, 9));
    uint8_t enc[64];
    ck_assert_uint_eq(net_codec_encode(&m, enc, sizeof(enc)), n);
    ck_assert_int_eq(memcmp(enc, f.b, n), 0);
}
END_TEST

/* The encoder produces exactly the oracle's bytes. */
START_TEST(test_encode_matches_layout)
{
    fb_t f;
    uint8_t out[256], pid[16], rid[16];
    for (int i = 0; i < 16; i++) {
        pid[i] = (uint8_t)(3 + i);
        rid[i] = (uint8_t)(4 + i);
    }
    te_net_msg_t m;
    net_msg_partition_request(&m, pid, 9, rid, 2);
    begin(&f, 2);
    putid(&f, 3);
    put32(&f, 9);
    putid(&f, 4);
    put32(&f, 2);
    size_t n = end(&f);
    ck_assert_uint_eq(net_codec_encode(&m, out, sizeof(out)), n);
    ck_assert(memcmp(out, f.b, n) == 0);

    net_msg_receiver(&m, TE_NET_ADD_CREDIT, rid, 11);
    begin(&f, 6);
    put32(&f, 11);
    putid(&f, 4);
    n = end(&f);
    ck_assert_uint_eq(net_codec_encode(&m, out, sizeof(out)), n);
    ck_assert(memcmp(out, f.b, n) == 0);

    memset(&m, 0, sizeof(m));
    m.id = TE_NET_BUFFER_RESPONSE;
    memcpy(m.receiver_id, rid, 16);
    m.sequence = 7;
    m.backlog = 3;
    m.data_type = 1;
    m.size = 17;
    begin(&f, 0);
    putid(&f, 4);
    put32(&f, 7);
    put32(&f, 3);
    put8(&f, 1);
    put8(&f, 0);
    put32(&f, 17);
    end(&f);
    uint32_t want_len = 39 + 17; /* the length field counts the payload the caller appends */
    f.b[0] = (uint8_t)(want_len >> 24);
    f.b[1] = (uint8_t)(want_len >> 16);
    f.b[2] = (uint8_t)(want_len >> 8);
    f.b[3] = (uint8_t)want_len;
    ck_assert_uint_eq(net_codec_encode(&m, out, sizeof(out)), 39);
    ck_assert(memcmp(out, f.b, 39) == 0);
    ck_assert_uint_eq(net_codec_encode(&m, out, 10), 0); /* too small */
    m.id = 3;
    ck_assert_uint_eq(net_codec_encode(&m, out, sizeof(out)), 0); /* unknown id */
}
END_TEST

/* A stream holding one frame of each kind, fed split at every byte position (and byte
 * by byte): the same messages come out, in order. */
static size_t build_stream(uint8_t *s)
{
    fb_t f;
    size_t n = 0;
    begin(&f, 2);
    putid(&f, 3);
    put32(&f, 1);
    putid(&f, 4);
    put32(&f, 2);
    memcpy(s + n, f.b, end(&f));
    n += f.n;
    begin(&f, 0);
    putid(&f, 4);
    put32(&f, 0);
    put32(&f, 1);
    put8(&f, 0);
    put8(&f, 0);
    put32(&f, 3);
    put8(&f, 'a');
    put8(&f, 'b');
    put8(&f, 'c');
    memcpy(s + n, f.b, end(&f));
    n += f.n;
    begin(&f, 6);
    put32(&f, 5);
    putid(&f, 4);
    memcpy(s + n, f.b, end(&f));
    n += f.n;
    begin(&f, 1);
    putid(&f, 4);
    put16(&f, 3);
    put16(&f, 2);
    put8(&f, 'n');
    put8(&f, 'o');
    memcpy(s + n, f.b, end(&f));
    n += f.n;
    begin(&f, 9);
    put32(&f, 8);
    putid(&f, 4);
    memcpy(s + n, f.b, end(&f));
    n += f.n;
    begin(&f, 4);
    putid(&f, 4);
    memcpy(s + n, f.b, end(&f));
    n += f.n;
    begin(&f, 7);
    putid(&f, 4);
    memcpy(s + n, f.b, end(&f));
    n += f.n;
    begin(&f, 5);
    memcpy(s + n, f.b, end(&f));
    n += f.n;
    return n;
}
static const uint8_t expected_ids[] = {2, 0, 6, 1, 9, 4, 7, 5};

/* Feeds chunks into an accumulator, decoding whatever is complete. */
static int feed(uint8_t *acc, size_t *acc_len, const uint8_t *chunk, size_t len, uint8_t *ids, int *n_ids)
{
    memcpy(acc + *acc_len, chunk, len);
    *acc_len += len;
    for (;;) {
        te_net_msg_t m;
        size_t used = 0;
        te_error_t e;
        int r = decode_copy(acc, *acc_len, 1 << 16, &m, &used, &e);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        ids[(*n_ids)++] = m.id;
        if (m.id == TE_NET_BUFFER_RESPONSE && (m.size != 3 || memcmp(m.payload, "abc", 3) != 0))
            return -1;
        if (m.id == TE_NET_ADD_CREDIT && m.credit != 5)
            return -1;
        memmove(acc, acc + used, *acc_len - used);
        *acc_len -= used;
    }
}

START_TEST(test_split_every_position)
{
    uint8_t s[1024];
    size_t n = build_stream(s);
    for (size_t split = 0; split <= n; split++) {
        uint8_t acc[2048], ids[16];
        size_t acc_len = 0;
        int n_ids = 0;
        ck_assert_int_eq(feed(acc, &acc_len, s, split, ids, &n_ids), 0);
        ck_assert_int_eq(feed(acc, &acc_len, s + split, n - split, ids, &n_ids), 0);
        ck_assert_int_eq(n_ids, 8);
        ck_assert_uint_eq(acc_len, 0);
        ck_assert(memcmp(ids, expected_ids, 8) == 0);
    }
    uint8_t acc[2048], ids[16];
    size_t acc_len = 0;
    int n_ids = 0;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(feed(acc, &acc_len, s + i, 1, ids, &n_ids), 0);
    ck_assert_int_eq(n_ids, 8);
}
END_TEST

START_TEST(test_bad_magic)
{
    fb_t f;
    begin(&f, 5);
    size_t n = end(&f);
    f.b[4] = 0xDE;
    te_net_msg_t m;
    size_t used;
    te_error_t e;
    /* Detected as soon as the magic's bytes are there, before the id. */
    ck_assert_int_eq(decode_copy(f.b, 8, 1024, &m, &used, &e), -1);
    ck_assert_int_eq(e.code, TE_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg, "magic"));
    ck_assert_int_eq(decode_copy(f.b, n, 1024, &m, &used, &e), -1);
    /* HTTP sent to the data port */
    const char *http = "GET / HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(decode_copy((const uint8_t *)http, strlen(http), 1024, &m, &used, &e), -1);
}
END_TEST

START_TEST(test_unknown_id)
{
    uint8_t bad[] = {3, 8, 11, 255};
    for (size_t i = 0; i < sizeof(bad); i++) {
        fb_t f;
        begin(&f, bad[i]);
        putid(&f, 1);
        size_t n = end(&f);
        te_net_msg_t m;
        size_t used;
        te_error_t e;
        ck_assert_int_eq(decode_copy(f.b, n, 1024, &m, &used, &e), -1);
        ck_assert_ptr_nonnull(strstr(e.msg, "unknown message id"));
    }
}
END_TEST

START_TEST(test_lengths)
{
    te_net_msg_t m;
    size_t used;
    te_error_t e;
    fb_t f;
    /* Oversized: rejected from the header alone, whatever follows. */
    begin(&f, 0);
    putid(&f, 1);
    end(&f);
    f.b[0] = 0x7f; /* 2 GB */
    ck_assert_int_eq(decode_copy(f.b, 9, 1 << 20, &m, &used, &e), -1);
    ck_assert_int_eq(e.code, TE_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(e.msg, "exceeds"));
    /* Just above a small limit. */
    begin(&f, 0);
    putid(&f, 1);
    put32(&f, 0);
    put32(&f, 0);
    put8(&f, 0);
    put8(&f, 0);
    put32(&f, 2);
    put8(&f, 1);
    put8(&f, 2);
    size_t n = end(&f);
    ck_assert_int_eq(decode_copy(f.b, n, (uint32_t)n - 1, &m, &used, &e), -1);
    ck_assert_int_eq(decode_copy(f.b, n, (uint32_t)n, &m, &used, &e), 1);
    /* A fixed-size message with the wrong length. */
    begin(&f, 6);
    put32(&f, 1);
    putid(&f, 1);
    put8(&f, 0);
    n = end(&f);
    ck_assert_int_eq(decode_copy(f.b, n, 1024, &m, &used, &e), -1);
    /* A length below the minimum (0, 4, 8). */
    uint32_t small[] = {0, 4, 8};
    for (int i = 0; i < 3; i++) {
        begin(&f, 0);
        end(&f);
        f.b[3] = (uint8_t)small[i];
        f.b[0] = f.b[1] = f.b[2] = 0;
        ck_assert_int_eq(decode_copy(f.b, 9, 1024, &m, &used, &e), -1);
    }
    /* BufferResponse size field disagreeing with the frame. */
    begin(&f, 0);
    putid(&f, 1);
    put32(&f, 0);
    put32(&f, 0);
    put8(&f, 0);
    put8(&f, 0);
    put32(&f, 9);
    put8(&f, 1);
    n = end(&f);
    ck_assert_int_eq(decode_copy(f.b, n, 1024, &m, &used, &e), -1);
    /* Bad data type, compressed flag. */
    for (int k = 0; k < 2; k++) {
        begin(&f, 0);
        putid(&f, 1);
        put32(&f, 0);
        put32(&f, 0);
        put8(&f, k ? 0 : 7);
        put8(&f, k ? 1 : 0);
        put32(&f, 0);
        n = end(&f);
        ck_assert_int_eq(decode_copy(f.b, n, 1024, &m, &used, &e), -1);
    }
    /* ErrorResponse message length disagreeing with the frame. */
    begin(&f, 1);
    putid(&f, 1);
    put16(&f, 1);
    put16(&f, 50);
    put8(&f, 'x');
    n = end(&f);
    ck_assert_int_eq(decode_copy(f.b, n, 1024, &m, &used, &e), -1);
    /* Incomplete frames ask for more. */
    begin(&f, 2);
    putid(&f, 3);
    put32(&f, 9);
    putid(&f, 4);
    put32(&f, 2);
    n = end(&f);
    for (size_t k = 0; k < n; k++)
        ck_assert_int_eq(decode_copy(f.b, k, 1024, &m, &used, &e), 0);
}
END_TEST

/* Random bytes: decode never crashes or over-reads; when it accepts a frame, its
 * length is one the header announced and within the limit. */
START_TEST(test_garbage_fuzz)
{
    unsigned seed = 12345;
    for (int it = 0; it < 20000; it++) {
        uint8_t buf[96];
        size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rand_r(&seed);
        if (it % 2 && len >= 9) { /* valid magic, random rest */
            buf[4] = 0xBA;
            buf[5] = 0xDC;
            buf[6] = 0x0F;
            buf[7] = 0xFE;
            buf[0] = buf[1] = 0;
            buf[8] = (uint8_t)(rand_r(&seed) % 11);
        }
        te_net_msg_t m;
        size_t used = 0;
        te_error_t e;
        int r = decode_copy(buf, len, 64, &m, &used, &e);
        if (r == 1) {
            ck_assert_uint_le(used, len);
            ck_assert_uint_le(used, 64);
        }
    }
}
END_TEST

Suite *net_codec_suite(void)
{
    Suite *s = suite_create("net_codec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_decode_every_kind);
    tcase_add_test(tc, test_encode_matches_layout);
    tcase_add_test(tc, test_split_every_position);
    tcase_add_test(tc, test_bad_magic);
    tcase_add_test(tc, test_unknown_id);
    tcase_add_test(tc, test_lengths);
    tcase_add_test(tc, test_garbage_fuzz);
    suite_add_tcase(s, tc);
    return s;
}

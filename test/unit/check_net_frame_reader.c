/* Unit tests: net_frame_reader — the frame-header peek on a libevent input buffer that
 * the partition server and client share. Frames are built byte by byte (the layout of
 * proto/NETWORK.md). A header fed one byte at a time is "not yet" until its 9th byte
 * and never consumes anything; a header spread over several evbuffer chains (each byte
 * its own reference chain) peeks the same; a bad magic fails as soon as bytes 4..7 are
 * there; an unknown id, a wrong fixed length and a length over the limit fail with
 * their errors; two frames back to back peek one after the other once the first is
 * drained. */
#include <check.h>
#include <event2/buffer.h>
#include <stdint.h>
#include <string.h>

#include "net/net_codec.h"
#include "net/net_frame_reader.h"

static size_t header(uint8_t *b, uint32_t frame_len, uint32_t magic, uint8_t id)
{
    b[0] = (uint8_t)(frame_len >> 24);
    b[1] = (uint8_t)(frame_len >> 16);
    b[2] = (uint8_t)(frame_len >> 8);
    b[3] = (uint8_t)frame_len;
    b[4] = (uint8_t)(magic >> 24);
    b[5] = (uint8_t)(magic >> 16);
    b[6] = (uint8_t)(magic >> 8);
    b[7] = (uint8_t)magic;
    b[8] = id;
    return 9;
}

START_TEST(test_peek_byte_by_byte)
{
    uint8_t b[64];
    header(b, 29, TE_NET_MAGIC, TE_NET_ADD_CREDIT);
    memset(b + 9, 0x5a, 20);
    struct evbuffer *in = evbuffer_new();
    te_error_t e;
    uint32_t fl = 0;
    uint8_t id = 0xff;
    for (int i = 0; i < 9; i++) {
        ck_assert_int_eq(net_frame_peek(in, 256, &fl, &id, &e), 0);
        ck_assert_uint_eq(evbuffer_get_length(in), (size_t)i);
        evbuffer_add(in, b + i, 1);
    }
    ck_assert_int_eq(net_frame_peek(in, 256, &fl, &id, &e), 1);
    ck_assert_uint_eq(fl, 29);
    ck_assert_uint_eq(id, TE_NET_ADD_CREDIT);
    ck_assert_uint_eq(evbuffer_get_length(in), 9); /* nothing consumed */
    evbuffer_add(in, b + 9, 20);
    ck_assert_int_eq(net_frame_peek(in, 256, &fl, &id, &e), 1);
    ck_assert_uint_eq(evbuffer_get_length(in), 29);
    evbuffer_free(in);
}
END_TEST

static void unref_nothing(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    (void)arg;
}

START_TEST(test_peek_across_chains_then_next_frame)
{
    /* A BufferResponse header (39 + 5 payload bytes) then a CloseRequest, every byte
     * of the first 9 in a chain of its own. */
    uint8_t b[64];
    size_t n = header(b, TE_NET_BUFFER_RESPONSE_FIXED + 5, TE_NET_MAGIC, TE_NET_BUFFER_RESPONSE);
    memset(b + n, 0, TE_NET_BUFFER_RESPONSE_FIXED - n + 5);
    b[TE_NET_BUFFER_RESPONSE_FIXED - 1] = 5; /* size field */
    n = TE_NET_BUFFER_RESPONSE_FIXED + 5;
    n += header(b + n, 9, TE_NET_MAGIC, TE_NET_CLOSE_REQUEST);
    struct evbuffer *in = evbuffer_new();
    for (int i = 0; i < 9; i++)
        evbuffer_add_reference(in, b + i, 1, unref_nothing, NULL);
    evbuffer_add_reference(in, b + 9, n - 9, unref_nothing, NULL);
    te_error_t e;
    uint32_t fl;
    uint8_t id;
    ck_assert_int_eq(net_frame_peek(in, 1024, &fl, &id, &e), 1);
    ck_assert_uint_eq(fl, TE_NET_BUFFER_RESPONSE_FIXED + 5);
    ck_assert_uint_eq(id, TE_NET_BUFFER_RESPONSE);
    evbuffer_drain(in, fl);
    ck_assert_int_eq(net_frame_peek(in, 1024, &fl, &id, &e), 1);
    ck_assert_uint_eq(fl, 9);
    ck_assert_uint_eq(id, TE_NET_CLOSE_REQUEST);
    evbuffer_drain(in, fl);
    ck_assert_int_eq(net_frame_peek(in, 1024, &fl, &id, &e), 0);
    evbuffer_free(in);
}
END_TEST

START_TEST(test_peek_errors)
{
    uint8_t b[16];
    te_error_t e;
    uint32_t fl;
    uint8_t id;
    /* a bad magic: reported with 8 bytes, before the id arrived */
    struct evbuffer *in = evbuffer_new();
    header(b, 9, 0xDEADBEEFu, TE_NET_CLOSE_REQUEST);
    evbuffer_add(in, b, 7);
    ck_assert_int_eq(net_frame_peek(in, 256, &fl, &id, &e), 0);
    evbuffer_add(in, b + 7, 1);
    ck_assert_int_eq(net_frame_peek(in, 256, &fl, &id, &e), -1);
    ck_assert_int_eq(e.code, TE_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg, "magic"));
    evbuffer_free(in);
    /* an unknown id, a fixed-size message of the wrong length, a frame over the limit */
    struct {
        uint32_t len;
        uint8_t id;
        te_status_t code;
        const char *text;
    } bad[] = {
        {9, 3, TE_EPROTO, "unknown message id 3"},
        {30, TE_NET_ADD_CREDIT, TE_EPROTO, "expected 29"},
        {1u << 20, TE_NET_BUFFER_RESPONSE, TE_ETOOBIG, "exceeds the limit of 256"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        in = evbuffer_new();
        header(b, bad[k].len, TE_NET_MAGIC, bad[k].id);
        evbuffer_add(in, b, 9);
        te_error_clear(&e);
        ck_assert_int_eq(net_frame_peek(in, 256, &fl, &id, &e), -1);
        ck_assert_int_eq(e.code, bad[k].code);
        ck_assert_msg(strstr(e.msg, bad[k].text) != NULL, "case %zu: %s", k, e.msg);
        ck_assert_uint_eq(evbuffer_get_length(in), 9);
        evbuffer_free(in);
    }
}
END_TEST

Suite *net_frame_reader_suite(void)
{
    Suite *s = suite_create("net_frame_reader");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_peek_byte_by_byte);
    tcase_add_test(tc, test_peek_across_chains_then_next_frame);
    tcase_add_test(tc, test_peek_errors);
    suite_add_tcase(s, tc);
    return s;
}

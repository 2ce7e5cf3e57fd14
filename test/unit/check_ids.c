/* Unit tests: ids (hex round trip, parsing errors) and te_status messages. */
#include <check.h>
#include <string.h>

#include "common/ids.h"
#include "common/te_status.h"

START_TEST(test_hex_round_trip)
{
    te_id_t a, b;
    char hex[TE_ID_HEX_LEN + 1];
    te_id_random(&a);
    te_id_to_hex(&a, hex);
    ck_assert_uint_eq(strlen(hex), 32);
    ck_assert_int_eq(te_id_from_hex(hex, &b), 0);
    ck_assert(te_id_equal(&a, &b));
}
END_TEST

START_TEST(test_hex_rejects_bad)
{
    te_id_t a;
    ck_assert_int_eq(te_id_from_hex("abc", &a), -1);
    ck_assert_int_eq(te_id_from_hex("zz000000000000000000000000000000", &a), -1);
    ck_assert_int_eq(te_id_from_hex("00000000000000000000000000000000f", &a), -1);
    ck_assert_int_eq(te_id_from_hex("000000000000000000000000000000Ff", &a), 0);
    ck_assert_uint_eq(a.b[15], 0xff);
    ck_assert_int_eq(te_id_from_bytes("short", 5, &a), -1);
}
END_TEST

START_TEST(test_error_prefix)
{
    te_error_t e;
    ck_assert_int_eq(te_error_set(&e, TE_EINVAL, "bad %s", "value"), TE_EINVAL);
    te_error_prefix(&e, "key '%s'", "x");
    ck_assert_str_eq(e.msg, "key 'x': bad value");
    ck_assert_str_eq(te_status_name(TE_ENOBUFS), "ENOBUFS");
    ck_assert_int_eq(te_error_set(NULL, TE_EIO, "ignored"), TE_EIO);
}
END_TEST

Suite *ids_suite(void)
{
    Suite *s = suite_create("ids");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_hex_round_trip);
    tcase_add_test(tc, test_hex_rejects_bad);
    tcase_add_test(tc, test_error_prefix);
    suite_add_tcase(s, tc);
    return s;
}

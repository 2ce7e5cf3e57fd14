/*
 * check_auth — HMAC-SHA256 against RFC 4231 vectors and the shared-secret
 * challenge-response of lib/common/auth_handshake: success, wrong secret, replayed
 * answer, forged confirmation, bad magic, secret file loading.
 *
 * Threading: single-threaded.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/auth_handshake.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void check_vector(const uint8_t *key, size_t klen, const void *data, size_t dlen, const char *want)
{
    uint8_t mac[TE_AUTH_MAC_LEN];
    char got[2 * TE_AUTH_MAC_LEN + 1];
    auth_hmac_sha256(key, klen, data, dlen, mac);
    hex(mac, sizeof(mac), got);
    ck_assert_str_eq(got, want);
}

START_TEST(test_rfc4231)
{
    uint8_t k1[20], k3[20], k6[131], d3[50];
    memset(k1, 0x0b, sizeof(k1));
    check_vector(k1, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_vector((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28,
                 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(k3, 0xaa, sizeof(k3));
    memset(d3, 0xdd, sizeof(d3));
    check_vector(k3, 20, d3, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    memset(k6, 0xaa, sizeof(k6));
    check_vector(k6, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
                 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}
END_TEST

static te_auth_secret_t *secret(const char *s) { return auth_secret_new(s, strlen(s)); }

START_TEST(test_handshake_ok_and_wrong_secret)
{
    te_auth_secret_t *s = secret("0123456789abcdef-shared");
    te_auth_secret_t *w = secret("0123456789abcdef-wrong!");
    ck_assert_ptr_nonnull(s);
    uint8_t ch[TE_AUTH_CHALLENGE_LEN], sn[TE_AUTH_NONCE_LEN], ans[TE_AUTH_ANSWER_LEN], cn[TE_AUTH_NONCE_LEN];
    uint8_t conf[TE_AUTH_CONFIRM_LEN];
    te_error_t e;
    ck_assert_int_eq(auth_server_challenge(ch, sn, &e), TE_OK);
    ck_assert_int_eq(auth_client_answer(s, ch, ans, cn, &e), TE_OK);
    ck_assert_int_eq(auth_server_verify(s, sn, ans, conf, &e), TE_OK);
    ck_assert_int_eq(auth_client_check(s, sn, cn, conf, &e), TE_OK);
    /* A server with another secret rejects; a client with another secret rejects the
     * server's confirmation (mutual). */
    ck_assert_int_eq(auth_server_verify(w, sn, ans, conf + 0, &e), TE_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg, "authentication failed"));
    ck_assert_int_eq(auth_server_verify(s, sn, ans, conf, &e), TE_OK);
    ck_assert_int_eq(auth_client_check(w, sn, cn, conf, &e), TE_EPROTO);
    /* The confirmation is not the answer reflected back. */
    uint8_t refl[TE_AUTH_CONFIRM_LEN];
    memcpy(refl, TE_AUTH_MAGIC_CONFIRM, TE_AUTH_MAGIC_LEN);
    memcpy(refl + TE_AUTH_MAGIC_LEN, ans + TE_AUTH_MAGIC_LEN + TE_AUTH_NONCE_LEN, TE_AUTH_MAC_LEN);
    ck_assert_int_eq(auth_client_check(s, sn, cn, refl, &e), TE_EPROTO);
    auth_secret_free(s);
    auth_secret_free(w);
}
END_TEST

START_TEST(test_replay_rejected)
{
    te_auth_secret_t *s = secret("0123456789abcdef-shared");
    uint8_t ch1[TE_AUTH_CHALLENGE_LEN], sn1[TE_AUTH_NONCE_LEN], ch2[TE_AUTH_CHALLENGE_LEN], sn2[TE_AUTH_NONCE_LEN];
    uint8_t ans[TE_AUTH_ANSWER_LEN], cn[TE_AUTH_NONCE_LEN], conf[TE_AUTH_CONFIRM_LEN];
    te_error_t e;
    ck_assert_int_eq(auth_server_challenge(ch1, sn1, &e), TE_OK);
    ck_assert_int_eq(auth_server_challenge(ch2, sn2, &e), TE_OK);
    ck_assert(memcmp(sn1, sn2, TE_AUTH_NONCE_LEN) != 0); /* fresh nonces */
    ck_assert_int_eq(auth_client_answer(s, ch1, ans, cn, &e), TE_OK);
    ck_assert_int_eq(auth_server_verify(s, sn1, ans, conf, &e), TE_OK);
    /* The recorded answer replayed against a new challenge fails. */
    ck_assert_int_eq(auth_server_verify(s, sn2, ans, conf, &e), TE_EPROTO);
    /* A flipped bit in the proof fails. */
    ans[TE_AUTH_ANSWER_LEN - 1] ^= 1;
    ck_assert_int_eq(auth_server_verify(s, sn1, ans, conf, &e), TE_EPROTO);
    auth_secret_free(s);
}
END_TEST

START_TEST(test_bad_magic)
{
    te_auth_secret_t *s = secret("0123456789abcdef-shared");
    uint8_t ch[TE_AUTH_CHALLENGE_LEN] = {0, 0, 0, 8}, ans[TE_AUTH_ANSWER_LEN], cn[TE_AUTH_NONCE_LEN];
    uint8_t sn[TE_AUTH_NONCE_LEN] = {0}, conf[TE_AUTH_CONFIRM_LEN];
    te_error_t e;
    ck_assert_int_eq(auth_client_answer(s, ch, ans, cn, &e), TE_EPROTO);
    memset(ans, 'x', sizeof(ans));
    ck_assert_int_eq(auth_server_verify(s, sn, ans, conf, &e), TE_EPROTO);
    auth_secret_free(s);
}
END_TEST

START_TEST(test_secret_load)
{
    char path[] = "/tmp/check_auth_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "short\n", 6), 6);
    close(fd);
    te_error_t e;
    ck_assert_ptr_null(auth_secret_load(path, "security.auth.token-file", &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "security.auth.token-file"));
    ck_assert_ptr_nonnull(strstr(e.msg, "at least 16"));
    FILE *f = fopen(path, "w");
    fputs("0123456789abcdef\r\n", f);
    fclose(f);
    te_auth_secret_t *s = auth_secret_load(path, "security.auth.token-file", &e);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->len, 16); /* trailing CR/LF stripped */
    auth_secret_free(s);
    unlink(path);
    ck_assert_ptr_null(auth_secret_load(path, "security.auth.token-file", &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "cannot open"));
    ck_assert_ptr_null(auth_secret_new("tooshort", 8));
}
END_TEST

Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rfc4231);
    tcase_add_test(tc, test_handshake_ok_and_wrong_secret);
    tcase_add_test(tc, test_replay_rejected);
    tcase_add_test(tc, test_bad_magic);
    tcase_add_test(tc, test_secret_load);
    suite_add_tcase(s, tc);
    return s;
}

/*
 * Unit tests: suggest ("did you mean ...?") — the edit distance against a brute-force
 * recursive definition over random short strings, the thresholds, configuration keys;
 * and the examples of the configuration's size errors, each accepted by the parser.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "common/suggest.h"

/* Optimal string alignment distance by its recursive definition (no table): the
 * oracle of suggest_distance for short strings. Letters compare exactly; the inputs
 * are lower case. */
static int osa(const char *a, int i, const char *b, int j)
{
    if (i == 0)
        return j;
    if (j == 0)
        return i;
    int best = osa(a, i - 1, b, j) + 1;
    int v = osa(a, i, b, j - 1) + 1;
    if (v < best)
        best = v;
    v = osa(a, i - 1, b, j - 1) + (a[i - 1] != b[j - 1]);
    if (v < best)
        best = v;
    if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        v = osa(a, i - 2, b, j - 2) + 1;
        if (v < best)
            best = v;
    }
    return best;
}

static void random_word(char *w, unsigned *seed)
{
    int n = (int)(rand_r(seed) % 7);
    for (int i = 0; i < n; i++)
        w[i] = "abc."[rand_r(seed) % 4];
    w[n] = '\0';
}

START_TEST(test_distance_matches_definition)
{
    unsigned seed = 12345;
    for (int k = 0; k < 20000; k++) {
        char a[8], b[8];
        random_word(a, &seed);
        random_word(b, &seed);
        int want = osa(a, (int)strlen(a), b, (int)strlen(b));
        for (int cap = 0; cap <= 7; cap++) {
            int got = suggest_distance(a, b, cap);
            int expect = want > cap ? cap + 1 : want;
            ck_assert_msg(got == expect, "d('%s','%s') cap %d: %d, expected %d", a, b, cap, got, expect);
        }
    }
    ck_assert_int_eq(suggest_distance("Tokenize", "tOKENIZE", 3), 0); /* case does not count */
    ck_assert_int_eq(suggest_distance("ab", "ba", 3), 1);             /* a swap is one edit */
}
END_TEST

static const char *best_of(const char *word, const char *const *names)
{
    te_suggest_t s;
    suggest_init(&s, word);
    for (; *names; names++)
        suggest_consider(&s, *names);
    return suggest_best(&s);
}

START_TEST(test_suggest_thresholds)
{
    static const char *const ops[] = {"file_lines", "tokenize", "keyed_count", "keyed_sum", "map", "filter", NULL};
    ck_assert_str_eq(best_of("tokenise", ops), "tokenize");
    ck_assert_str_eq(best_of("keyed_cuont", ops), "keyed_count");
    ck_assert_str_eq(best_of("mpa", ops), "map");
    ck_assert_str_eq(best_of("filelines", ops), "file_lines");
    ck_assert_ptr_null(best_of("tokenize", ops)); /* known: nothing to suggest */
    ck_assert_ptr_null(best_of("sort", ops));     /* 1 edit allowed at 4 letters: none is that close */
    ck_assert_ptr_null(best_of("window_join", ops));
    ck_assert_ptr_null(best_of("", ops));
    ck_assert_ptr_null(best_of(NULL, ops));
    static const char *const none[] = {NULL};
    ck_assert_ptr_null(best_of("x", none));
}
END_TEST

START_TEST(test_suggest_config_keys)
{
    ck_assert_str_eq(suggest_config_key("taskmanager.numberOfTaskSlot"), "taskmanager.numberOfTaskSlots");
    ck_assert_str_eq(suggest_config_key("taskmanager.numberoftaskslots"), "taskmanager.numberOfTaskSlots");
    ck_assert_str_eq(suggest_config_key("numberOfTaskSlots"), "taskmanager.numberOfTaskSlots");
    ck_assert_str_eq(suggest_config_key("heartbeat.timout"), "heartbeat.timeout");
    ck_assert_ptr_null(suggest_config_key("no.such.key"));
    ck_assert_ptr_null(suggest_config_key("heartbeat.timeout"));
    /* Every key with one letter dropped finds its way back to a key within one edit
     * (another key may be equally close, e.g. .initial/.interval are not). */
    for (const te_config_key_t *k = config_keys(); k->name != NULL; k++) {
        char typo[128];
        size_t n = strlen(k->name);
        ck_assert_uint_lt(n, sizeof(typo));
        memcpy(typo, k->name, n - 1);
        typo[n - 1] = '\0';
        const char *got = suggest_config_key(typo);
        ck_assert_msg(got != NULL && suggest_distance(typo, got, 3) <= 1, "'%s' -> '%s'", typo,
                      got ? got : "(none)");
    }
}
END_TEST

/* The example in a size key's error ("e.g. 64mb") is a value the key accepts. */
START_TEST(test_size_error_examples_are_accepted)
{
    te_log_set_level(TE_LOG_OFF);
    int sizes = 0;
    for (const te_config_key_t *k = config_keys(); k->name != NULL; k++) {
        if (k->type != TE_CFG_SIZE)
            continue;
        sizes++;
        te_config_t *c =
            config_new_for(config_key_in_set(TE_CONFIG_TASKEXECUTOR, (te_config_key_id_t)(k - config_keys()))
                               ? TE_CONFIG_TASKEXECUTOR
                               : TE_CONFIG_JOBMANAGER);
        te_error_t err;
        /* below its least size, or not a size at all when 0 is allowed */
        ck_assert_int_ne(config_set(c, k->name, k->min > 0 ? "0b" : "x", &err), TE_OK);
        const char *eg = strstr(err.msg, "e.g. ");
        ck_assert_msg(eg != NULL, "%s: no example in '%s'", k->name, err.msg);
        char example[32];
        ck_assert_int_eq(sscanf(eg + 5, "%31[0-9a-z]", example), 1);
        te_error_t err2;
        ck_assert_msg(config_set(c, k->name, example, &err2) == TE_OK, "%s: its own example '%s' is refused: %s",
                      k->name, example, err2.msg);
        config_free(c);
    }
    ck_assert_int_ge(sizes, 3);
}
END_TEST

Suite *suggest_suite(void)
{
    Suite *s = suite_create("suggest");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_distance_matches_definition);
    tcase_add_test(tc, test_suggest_thresholds);
    tcase_add_test(tc, test_suggest_config_keys);
    tcase_add_test(tc, test_size_error_examples_are_accepted);
    suite_add_tcase(s, tc);
    return s;
}

/*
 * Unit tests: expressions (operators/expr.h) — every operator and function evaluated
 * over one row against values worked out by hand (dates from the epoch arithmetic of
 * `date -u`), result types, NULL handling (SQL's three-valued logic), SELECT lists and
 * their names, and compile errors naming the column and the problem; fixed expressions
 * (straight from the slots) against the general evaluator over random expressions and
 * rows.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_rows.h"
#include "operators/expr.h"
#include "operators/expr_internal.h" /* expr_eval_node: the general evaluator, as the oracle */

#define SCHEMA "a:int64, b:double, s:string, t:timestamp, n:int64?, u:string?, f:bool"
/* t = 1700000000123 ms = 2023-11-14T22:13:20.123Z (date -u -d @1700000000) */
#define ROW "7\t2.5\tHello World\t1700000000123\t\tx/y/z\ttrue"

static const struct {
    const char *expr, *want, *type;
} cases[] = {
    /* arithmetic */
    {"a + 3", "10", "int64"},
    {"a * b", "17.5", "double"},
    {"a / 2", "3", "int64"},
    {"-a / 2", "-3", "int64"},
    {"a % 4", "3", "int64"},
    {"a / 0", "NULL", "int64"},
    {"b / 0", "NULL", "double"},
    {"a * 0.908", "6.356", "double"},
    {"t + 877", "1700000001000", "timestamp"},
    {"t - t", "0", "int64"},
    {"-b", "-2.5", "double"},
    {"n + 1", "NULL", "int64"},
    {"(a + 1) * 2", "16", "int64"},
    /* strings */
    {"s || '!'", "Hello World!", "string"},
    {"lower(s)", "hello world", "string"},
    {"upper(s)", "HELLO WORLD", "string"},
    {"length(s)", "11", "int64"},
    {"trim('  x ')", "x", "string"},
    {"concat(s, '-', u)", "Hello World-x/y/z", "string"},
    {"substr(s, 7)", "World", "string"},
    {"substr(s, 1, 5)", "Hello", "string"},
    {"split_index(u, '/', 0)", "x", "string"},
    {"split_index(u, '/', 2)", "z", "string"},
    {"split_index(u, '/', 3)", "NULL", "string"},
    {"split_index('https://www.nexmark.com/Apple/item.htm', '/', 3)", "Apple", "string"},
    {"regexp_extract('q=1&channel_id=77&z', '(&|^)channel_id=([^&]*)', 2)", "77", "string"},
    {"regexp_extract(s, '(&|^)channel_id=([^&]*)', 2)", "NULL", "string"},
    {"regexp(s, '^H.*d$')", "true", "bool"},
    {"count_char('abcabcc', 'c')", "3", "int64"},
    /* comparisons and logic */
    {"a > 6.5", "true", "bool"},
    {"a = 7 AND b < 2", "false", "bool"},
    {"s = 'Hello World'", "true", "bool"},
    {"s < 'Hello'", "false", "bool"},
    {"n = 1", "NULL", "bool"},
    {"n = 1 OR a = 7", "true", "bool"},
    {"n = 1 AND a = 7", "NULL", "bool"},
    {"n = 1 AND a = 8", "false", "bool"},
    {"NOT f", "false", "bool"},
    {"n IS NULL", "true", "bool"},
    {"u IS NOT NULL", "true", "bool"},
    {"a IN (1, 7, 9)", "true", "bool"},
    {"a NOT IN (1, 2)", "true", "bool"},
    {"a IN (1, n)", "NULL", "bool"},
    {"lower(s) IN ('apple', 'hello world')", "true", "bool"},
    {"a BETWEEN 7 AND 8", "true", "bool"},
    {"b NOT BETWEEN 2 AND 3", "false", "bool"},
    {"s LIKE 'H%o W_rld'", "true", "bool"},
    {"s NOT LIKE '%x%'", "true", "bool"},
    {"a != 7 OR a <> 7", "false", "bool"},
    /* CASE, CAST, IF, COALESCE */
    {"CASE WHEN a > 8 THEN 'big' WHEN a > 5 THEN 'mid' ELSE 'small' END", "mid", "string"},
    {"CASE WHEN a > 8 THEN 'big' END", "NULL", "string"},
    {"CASE lower(s) WHEN 'x' THEN 1 ELSE 2 END", "", "error"},
    {"CASE a WHEN 1 THEN 'one' WHEN 7 THEN 'seven' END", "seven", "string"},
    {"CASE WHEN f THEN 1 ELSE 2.5 END", "1", "double"},
    {"CAST(a AS string) || 'x'", "7x", "string"},
    {"CAST('42' AS int64) + 1", "43", "int64"},
    {"CAST('4x' AS int64)", "NULL", "int64"},
    {"CAST(b AS int64)", "2", "int64"},
    {"CAST(a AS double) / 2", "3.5", "double"},
    {"CAST(f AS string)", "true", "string"},
    {"if(a > 1, 'yes', 'no')", "yes", "string"},
    {"coalesce(n, a, 0)", "7", "int64"},
    {"coalesce(n, NULL)", "NULL", "int64"},
    /* time (UTC) */
    {"hour(t)", "22", "int64"},
    {"minute(t)", "13", "int64"},
    {"second(t)", "20", "int64"},
    {"day(t)", "14", "int64"},
    {"month(t)", "11", "int64"},
    {"year(t)", "2023", "int64"},
    {"date_format(t, 'yyyy-MM-dd')", "2023-11-14", "string"},
    {"date_format(t, 'HH:mm')", "22:13", "string"},
    {"date_format(t, 'yyyy-MM-dd HH:mm:ss.SSS')", "2023-11-14 22:13:20.123", "string"},
    {"date_format(CAST(0 AS timestamp), 'yyyy-MM-dd HH')", "1970-01-01 00", "string"},
    {"date_format(CAST(-1 AS timestamp), 'yyyy-MM-dd HH:mm:ss.SSS')", "1969-12-31 23:59:59.999", "string"},
    {"date_format(CAST(951782400000 AS timestamp), 'yyyy-MM-dd')", "2000-02-29", "string"},
    {"rowtime()", "5", "timestamp"},
    /* numbers */
    {"floor(b)", "2", "double"},
    {"ceil(b)", "3", "double"},
    {"round(b)", "3", "double"},
    {"round(1.2345, 2)", "1.23", "double"},
    {"abs(-a)", "7", "int64"},
    {"mod(a, 3)", "1", "int64"},
    {"mod(-7, 3)", "-1", "int64"},
    {"$0 + $1", "9.5", "double"},
    {"`s`", "Hello World", "string"},
};

static char *value_text(const expr_value_t *v)
{
    char buf[256];
    if (v->null)
        snprintf(buf, sizeof(buf), "NULL");
    else if (v->type == TE_TYPE_DOUBLE)
        te_format_double(buf, sizeof(buf), v->d);
    else if (v->type == TE_TYPE_BOOL)
        snprintf(buf, sizeof(buf), "%s", v->i ? "true" : "false");
    else if (v->type == TE_TYPE_STRING)
        snprintf(buf, sizeof(buf), "%.*s", (int)v->s.n, (const char *)v->s.p);
    else
        snprintf(buf, sizeof(buf), "%lld", (long long)v->i);
    return strdup(buf);
}

START_TEST(test_eval)
{
    const te_schema_t *sc = h_schema(SCHEMA);
    te_row_builder_t b = {0};
    te_record_t row;
    h_tsv_row(sc, ROW, strlen(ROW), 5, &b, &row);
    char err[512] = "";
    expr_t *e = expr_compile(cases[_i].expr, sc, err, sizeof(err));
    if (strcmp(cases[_i].type, "error") == 0) {
        ck_assert_msg(e == NULL, "'%s' compiled", cases[_i].expr);
        te_row_builder_free(&b);
        return;
    }
    ck_assert_msg(e != NULL, "'%s': %s", cases[_i].expr, err);
    ck_assert_msg(strcmp(te_type_name(expr_type(e)), cases[_i].type) == 0, "'%s' is a %s, expected %s",
                  cases[_i].expr, te_type_name(expr_type(e)), cases[_i].type);
    expr_env_t env = {0};
    expr_value_t v;
    ck_assert_int_eq(expr_eval(e, &row, &env, &v), 0);
    char *got = value_text(&v);
    ck_assert_msg(strcmp(got, cases[_i].want) == 0, "'%s' = '%s', expected '%s'", cases[_i].expr, got,
                  cases[_i].want);
    if (v.null)
        ck_assert(expr_nullable(e));
    free(got);
    expr_env_free(&env);
    expr_free(e);
    te_row_builder_free(&b);
}
END_TEST

static const struct {
    const char *expr, *want;
} errors[] = {
    {"a +", "column 4: expected a value, a field or a function, got 'the end'"},
    {"nosuch * 2", "column 1: no field 'nosuch' in the input schema (a:int64, b:double, s:string"},
    {"s + 1", "column 3: '+' needs numbers, got string and int64"},
    {"a AND f", "column 3: AND needs a bool, got a int64"},
    {"frobnicate(a)", "unknown function 'frobnicate'"},
    {"lower(a)", "lower: argument 1 needs a string, got a int64"},
    {"substr(s)", "substr takes 2 to 3 arguments, got 1"},
    {"regexp_extract(s, u, 1)", "regexp_extract: argument 2 must be a string literal"},
    {"regexp(s, '(')", "regexp: bad regular expression '('"},
    {"'open", "unterminated string"},
    {"a = 1 extra", "unexpected 'extra'"},
    {"$9", "$9 is past the last field"},
    {"CAST(a AS int32)", "expected a type (int64, double, bool, string, timestamp), got 'int32'"},
    {"a NOT 3", "expected IN, BETWEEN or LIKE after NOT"},
    {"", "empty expression"},
    {"CASE WHEN a THEN 1 END", "CASE WHEN needs a bool condition, got a int64"},
    {"CASE WHEN f THEN 1 ELSE 'x' END", "CASE mixes a int64 and a string result"},
};

START_TEST(test_errors)
{
    const te_schema_t *sc = h_schema(SCHEMA);
    char err[512] = "";
    expr_t *e = expr_compile(errors[_i].expr, sc, err, sizeof(err));
    ck_assert_msg(e == NULL, "'%s' compiled", errors[_i].expr);
    ck_assert_msg(strstr(err, errors[_i].want) != NULL, "'%s': \"%s\" lacks \"%s\"", errors[_i].expr, err,
                  errors[_i].want);
}
END_TEST

START_TEST(test_lists)
{
    const te_schema_t *sc = h_schema(SCHEMA);
    expr_item_t items[8];
    uint32_t n;
    char err[512];
    ck_assert_int_eq(expr_list_compile("a, b * 2 AS double_b, upper(s), split_index(u, '/', 1) AS \"dir 1\"", sc,
                                       items, 8, &n, err, sizeof(err)),
                     0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(items[0].name, "a");
    ck_assert_int_eq(expr_field(items[0].e), 0);
    ck_assert_str_eq(items[1].name, "double_b");
    ck_assert_str_eq(items[2].name, "expr2");
    ck_assert_str_eq(items[3].name, "dir 1");
    ck_assert_int_eq(expr_field(items[1].e), -1);
    expr_list_free(items, n);
    ck_assert_int_eq(expr_list_compile("a, a", sc, items, 8, &n, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "two expressions are named 'a'"));
    ck_assert_int_eq(expr_list_compile("a, b, s", sc, items, 2, &n, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "more than 2 expressions"));
    ck_assert_int_eq(expr_list_compile("a b", sc, items, 8, &n, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "expected ','"));
}
END_TEST

/* Computed strings live in the arena until the next reset, however many. */
START_TEST(test_arena)
{
    const te_schema_t *sc = h_schema(SCHEMA);
    te_row_builder_t b = {0};
    te_record_t row;
    h_tsv_row(sc, ROW, strlen(ROW), 5, &b, &row);
    char err[256];
    expr_t *e = expr_compile("concat(lower(s), upper(s), lower(s), u, s || s)", sc, err, sizeof(err));
    ck_assert_msg(e != NULL, "%s", err);
    expr_env_t env = {0};
    for (int round = 0; round < 2000; round++) {
        expr_env_reset(&env);
        expr_value_t v;
        ck_assert_int_eq(expr_eval(e, &row, &env, &v), 0);
        ck_assert_uint_eq(v.s.n, 11 * 3 + 5 + 22);
        ck_assert(memcmp(v.s.p, "hello worldHELLO WORLDhello worldx/y/zHello WorldHello World", v.s.n) == 0);
    }
    expr_env_free(&env);
    expr_free(e);
    te_row_builder_free(&b);
}
END_TEST

/* Which expressions are fixed, and the fields they need. */
START_TEST(test_fixed_kinds)
{
    const te_schema_t *sc = h_schema(SCHEMA);
    static const struct {
        const char *expr;
        int need;
    } k[] = {
        {"a + 3", 1},
        {"0.908 * b", 2},
        {"t - t", 4},
        {"-b", 2},
        {"3 * 2", 0},
        {"n % 7 = 0", 5},
        {"a < b", 2},
        {"t + 877", 4},
        {"a", 1},
        {"s = 'x'", -1},
        {"f", -1},
        {"NOT (a > 1)", -1},
        {"a + NULL", -1},
        {"a IN (1, 2)", -1},
        {"length(s) + 1", -1},
        {"CAST(b AS int64)", -1},
        {"a = 1 AND a = 2", -1},
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        char err[256];
        expr_t *e = expr_compile(k[i].expr, sc, err, sizeof(err));
        ck_assert_msg(e != NULL, "'%s': %s", k[i].expr, err);
        ck_assert_msg(expr_fixed(e) == k[i].need, "'%s': expr_fixed %d, expected %d", k[i].expr, expr_fixed(e),
                      k[i].need);
        expr_free(e);
    }
}
END_TEST

static uint64_t fx_rand(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A random arithmetic expression over fields x (int64), y (double), z (timestamp), w
 * (int64), all nullable, with literals that reach the edge cases (0, -1, the extremes). */
static void fx_gen(uint64_t *s, int depth, char *out, size_t cap)
{
    static const char *const leaves[] = {"x",
                                         "y",
                                         "z",
                                         "w",
                                         "0",
                                         "-1",
                                         "1",
                                         "7",
                                         "123",
                                         "0.0",
                                         "2.5",
                                         "-0.5",
                                         "1e300",
                                         "9223372036854775807",
                                         "(-9223372036854775807 - 1)"};
    static const char *const ops[] = {"+", "-", "*", "/", "%"};
    uint64_t r = fx_rand(s);
    if (depth == 0 || r % 4 == 0) {
        snprintf(out, cap, "%s", leaves[(r >> 8) % (sizeof(leaves) / sizeof(leaves[0]))]);
        return;
    }
    char a[512], b[512];
    fx_gen(s, depth - 1, a, sizeof(a));
    if (r % 4 == 1) {
        snprintf(out, cap, "-(%s)", a);
        return;
    }
    fx_gen(s, depth - 1, b, sizeof(b));
    snprintf(out, cap, "(%s) %s (%s)", a, ops[(r >> 8) % (sizeof(ops) / sizeof(ops[0]))], b);
}

/* ... or a comparison of two of them. */
static void fx_gen_top(uint64_t *s, char *out, size_t cap)
{
    static const char *const cmps[] = {"=", "<>", "<", "<=", ">", ">="};
    uint64_t r = fx_rand(s);
    if (r % 2 == 0)
        return fx_gen(s, 3, out, cap);
    char a[900], b[900];
    fx_gen(s, 2, a, sizeof(a));
    fx_gen(s, 2, b, sizeof(b));
    snprintf(out, cap, "(%s) %s (%s)", a, cmps[(r >> 8) % (sizeof(cmps) / sizeof(cmps[0]))], b);
}

/* Random fixed expressions over random rows (nulls, zeros, -1, the extremes, NaN and
 * infinities; a null field whose slot is not zero): the slot and null flag that
 * expr_eval_fixed computes are exactly the general evaluator's value, and expr_eval /
 * expr_test agree with both. */
static const int64_t fx_ints[] = {0, 1, -1, 7, 123, -123, INT64_MAX, INT64_MIN, 1700000000123, 246};
static const double fx_dbls[] = {0.0, -0.0, 1.5, -2.5, 1e300, -1e-300, 1.0 / 0.0, -1.0 / 0.0, 0.0 / 0.0, 123.0};

/* Row number r over fields x, y, z, w from q's bits (a field left null when its bits
 * say so; every fifth row x null over a slot that is not zero); asserts that the slot
 * and null flag expr_eval_fixed computes are exactly the general evaluator's value and
 * that expr_eval / expr_test agree with both. Returns 1 when the value is null. */
static int fx_check_row(const expr_t *e, const char *text, int r, uint64_t q, te_row_builder_t *b, expr_env_t *env)
{
    te_row_builder_begin(b, 4);
    if (q & 1)
        te_row_set_i64(b, 0, fx_ints[(q >> 4) % 10]);
    if (q & 2)
        te_row_set_f64(b, 1, fx_dbls[(q >> 8) % 10]);
    if ((q >> 12) % 4 != 0)
        te_row_set_ts(b, 2, fx_ints[(q >> 16) % 10]);
    if ((q >> 20) % 4 != 0)
        te_row_set_i64(b, 3, fx_ints[(q >> 24) % 10]);
    te_record_t row;
    ck_assert_int_eq(te_row_builder_finish(b, 0, &row), 0);
    uint8_t odd[256];
    if (r % 5 == 4 && row.len <= sizeof(odd)) {
        memcpy(odd, row.data, row.len);
        odd[2] |= 1;
        odd[8] |= 0x5a;
        row.data = odd;
    }
    expr_value_t g;
    expr_eval_node(e, &row, env, &g);
    expr_fixed_value_t fv = expr_eval_fixed(e, row.data);
    uint64_t slot = fv.slot;
    int null = (int)fv.null;
    ck_assert_msg(null == g.null, "'%s' row %d: null %d, the general evaluator %d", text, r, null, g.null);
    if (!g.null) {
        ck_assert_msg(g.type == expr_type(e), "'%s': the general evaluator gives a %s, the type is %s", text,
                      te_type_name(g.type), te_type_name(expr_type(e)));
        uint64_t want = (uint64_t)g.i;
        double sd, wd;
        memcpy(&sd, &slot, 8);
        memcpy(&wd, &want, 8);
        if (g.type == TE_TYPE_DOUBLE && sd != sd && wd != wd)
            want = slot; /* a NaN's sign and payload depend on the operand order the compiler picked */
        ck_assert_msg(slot == want, "'%s' row %d: slot %016llx, the general evaluator %016llx", text, r,
                      (unsigned long long)slot, (unsigned long long)want);
    } else {
        ck_assert_uint_eq(slot, 0);
    }
    expr_value_t v;
    ck_assert_int_eq(expr_eval(e, &row, env, &v), 0);
    ck_assert(v.null == g.null &&
              (g.null || v.i == g.i || (g.type == TE_TYPE_DOUBLE && v.d != v.d && g.d != g.d)));
    if (expr_type(e) == TE_TYPE_BOOL)
        ck_assert_int_eq(expr_test(e, &row, env), !g.null && g.i != 0);
    return g.null;
}

START_TEST(test_fixed_matches_general)
{
    const te_schema_t *sc = h_schema("x:int64?, y:double?, z:timestamp?, w:int64?");
    uint64_t seed = 42;
    int fixed = 0, compared = 0, nulls = 0;
    te_row_builder_t b = {0};
    expr_env_t env = {0};
    for (int k = 0; k < 3000; k++) {
        char text[2048], err[512];
        fx_gen_top(&seed, text, sizeof(text));
        expr_t *e = expr_compile(text, sc, err, sizeof(err));
        if (e == NULL)
            continue; /* a literal out of range: not this test's business */
        ck_assert_msg(expr_fixed(e) >= 0, "'%s' is not a fixed expression", text);
        fixed++;
        for (int r = 0; r < 20; r++) {
            nulls += fx_check_row(e, text, r, fx_rand(&seed), &b, &env);
            compared++;
        }
        expr_free(e);
    }
    ck_assert_msg(fixed > 1500 && nulls > compared / 20 && nulls < compared * 9 / 10,
                  "too few cases: %d fixed expressions, %d rows, %d null results", fixed, compared, nulls);
    expr_env_free(&env);
    te_row_builder_free(&b);
}
END_TEST

/* Every operator over every pair of operand kinds (each field, an int and a double
 * literal, zero, -1) — what a fixed root over two leaves computes in one function —
 * over every value of its fields (nulls, zeros, -1, the extremes, NaN, infinities):
 * as the general evaluator. */
START_TEST(test_fixed_kernels_match_general)
{
    const te_schema_t *sc = h_schema("x:int64?, y:double?, z:timestamp?, w:int64?");
    static const char *const ops[] = {"+", "-", "*", "/", "%", "=", "<>", "<", "<=", ">", ">="};
    static const char *const leaves[] = {"x", "y", "z", "w", "7", "2.5", "0", "0.0", "-1"};
    const size_t nl = sizeof(leaves) / sizeof(leaves[0]);
    te_row_builder_t b = {0};
    expr_env_t env = {0};
    int exprs = 0;
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
        for (size_t i = 0; i < nl * nl; i++) {
            char text[64], err[256];
            snprintf(text, sizeof(text), "%s %s %s", leaves[i / nl], ops[o], leaves[i % nl]);
            expr_t *e = expr_compile(text, sc, err, sizeof(err));
            ck_assert_msg(e != NULL, "'%s': %s", text, err);
            ck_assert_msg(expr_fixed(e) >= 0, "'%s' is not a fixed expression", text);
            exprs++;
            /* x and y through every value and null; z and w through theirs alongside */
            for (uint64_t r = 0; r < 121; r++) {
                uint64_t vx = r % 11, vy = r / 11;
                uint64_t q = (vx < 10 ? 1 | vx << 4 : 0) | (vy < 10 ? 2 | vy << 8 : 0) | (r % 4) << 12 |
                             ((r + 3) % 10) << 16 | ((r + 1) % 4) << 20 | ((r + 7) % 10) << 24;
                fx_check_row(e, text, (int)r, q, &b, &env);
            }
            expr_free(e);
        }
    ck_assert_int_eq(exprs, 11 * 81);
    expr_env_free(&env);
    te_row_builder_free(&b);
}
END_TEST

Suite *expr_suite(void)
{
    Suite *s = suite_create("expr");
    TCase *tc = tcase_create("eval");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, test_eval, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(errors) / sizeof(errors[0])));
    tcase_add_test(tc, test_lists);
    tcase_add_test(tc, test_arena);
    tcase_add_test(tc, test_fixed_kinds);
    tcase_add_test(tc, test_fixed_matches_general);
    tcase_add_test(tc, test_fixed_kernels_match_general);
    suite_add_tcase(s, tc);
    return s;
}

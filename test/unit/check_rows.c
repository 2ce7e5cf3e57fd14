/*
 * Unit tests: typed rows (te/row.h, proto/ROWS.md) — the byte layout against rows
 * written by hand from the format's description, readers on malformed rows, keys of
 * one and several fields, text (doubles read back with strtod), schemas (text form,
 * validation, copies); the `parse` operator (tsv, csv, json; unparsable records to
 * the side output and the metric) and ABI v3 in the real operator chain (schemas
 * declared and propagated, rows of the wrong shape refused, v1/v2 operators bridged to
 * text).
 */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/schema.h"
#include "harness_chain.h"
#include "harness_rows.h"

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* (id:int64, name:string, score:double?, ok:bool, at:timestamp) = (-5, "ab", null, true, 1700000000000)
 * written by hand from proto/ROWS.md. */
static size_t hand_row(uint8_t *b)
{
    memset(b, 0, 64);
    put64(b, 5u | (1ull << (16 + 2))); /* 5 fields, field 2 null */
    put64(b + 8, (uint64_t)(int64_t)-5);
    put32(b + 16, 48); /* "ab" at 8 + 8*5 = 48 */
    put32(b + 20, 2);
    put64(b + 32, 1);
    put64(b + 40, 1700000000000ull);
    memcpy(b + 48, "ab", 2);
    return 50;
}

START_TEST(test_layout)
{
    const te_schema_t *s = h_schema("id:int64, name:string, score:double?, ok:bool, at:timestamp");
    te_row_builder_t b = {0};
    te_record_t r;
    ck_assert_int_eq(te_row_builder_begin(&b, 5), 0);
    te_row_set_ts(&b, 4, 1700000000000LL);
    te_row_set_str(&b, 1, "ab", 2);
    te_row_set_bool(&b, 3, 1);
    te_row_set_i64(&b, 0, -5);
    ck_assert_int_eq(te_row_builder_finish(&b, 7, &r), 0);
    uint8_t want[64];
    size_t wl = hand_row(want);
    ck_assert_uint_eq(r.len, wl);
    ck_assert_int_eq(memcmp(r.data, want, wl), 0);
    ck_assert_int_eq(r.timestamp, 7);
    ck_assert_int_eq(te_row_check(&r, s, NULL, 0), 0);

    te_record_t h = {want, (uint32_t)wl, 0};
    ck_assert_uint_eq(te_row_nfields(&h), 5);
    ck_assert_int_eq(te_row_get_i64(&h, 0), -5);
    uint32_t n;
    const uint8_t *p = te_row_get_str(&h, 1, &n);
    ck_assert(p != NULL && n == 2 && memcmp(p, "ab", 2) == 0);
    ck_assert(te_row_is_null(&h, 2));
    ck_assert(!te_row_is_null(&h, 3));
    ck_assert_int_eq(te_row_get_bool(&h, 3), 1);
    ck_assert_int_eq(te_row_get_i64(&h, 4), 1700000000000LL);
    ck_assert(te_row_is_null(&h, 5)); /* past the last field */
    char *t = h_row_tsv(s, &h);
    ck_assert_str_eq(t, "-5\tab\t\ttrue\t1700000000000");
    free(t);

    /* a double and an empty string */
    ck_assert_int_eq(te_row_builder_begin(&b, 2), 0);
    te_row_set_f64(&b, 0, 0.1);
    te_row_set_str(&b, 1, "", 0);
    ck_assert_int_eq(te_row_builder_finish(&b, 0, &r), 0);
    ck_assert_uint_eq(r.len, 24);
    double d;
    memcpy(&d, r.data + 8, 8);
    ck_assert(d == 0.1);
    p = te_row_get_str(&r, 1, &n);
    ck_assert(p != NULL && n == 0 && !te_row_is_null(&r, 1));
    /* setting a field out of range fails the row */
    te_row_set_i64(&b, 2, 1);
    ck_assert_int_eq(te_row_builder_finish(&b, 0, &r), -1);
    ck_assert_int_eq(te_row_builder_begin(&b, TE_ROW_MAX_FIELDS + 1), -1);
    te_row_builder_free(&b);
}
END_TEST

/* te_row_begin_str1 builds the bytes of begin(1) + set_str(0) + finish: the layout by
 * hand (header 1, slot 16 | n << 32, the bytes), for 0-600 bytes (the buffer grows from
 * empty), after rows of other shapes and a failed one in the same builder. */
START_TEST(test_one_string_row)
{
    te_row_builder_t b = {0};
    uint8_t text[600], want[616];
    for (uint32_t i = 0; i < sizeof(text); i++)
        text[i] = (uint8_t)(i * 7 + 1);
    for (uint32_t n = 0; n <= sizeof(text); n += n < 40 ? 1 : 37) {
        te_record_t r;
        if (n % 3 == 1) { /* another shape first */
            te_row_builder_begin(&b, 3);
            te_row_set_i64(&b, 2, 9);
            ck_assert_int_eq(te_row_builder_finish(&b, 0, &r), 0);
        } else if (n % 3 == 2) { /* a failed row first */
            te_row_builder_begin(&b, 1);
            te_row_set_i64(&b, 1, 9);
            ck_assert_int_eq(te_row_builder_finish(&b, 0, &r), -1);
        }
        uint8_t *d = te_row_begin_str1(&b, n);
        ck_assert_ptr_nonnull(d);
        memcpy(d, text, n);
        ck_assert_int_eq(te_row_builder_finish(&b, 5, &r), 0);
        put64(want, 1);
        put32(want + 8, 16);
        put32(want + 12, n);
        memcpy(want + 16, text, n);
        ck_assert_uint_eq(r.len, 16 + n);
        ck_assert_int_eq(memcmp(r.data, want, 16 + n), 0);
        ck_assert_int_eq(r.timestamp, 5);
        uint32_t got;
        const uint8_t *p = te_row_get_str(&r, 0, &got);
        ck_assert(p != NULL && got == n && memcmp(p, text, n) == 0);
    }
    te_row_builder_free(&b);
}
END_TEST

START_TEST(test_malformed)
{
    const te_schema_t *s = h_schema("id:int64, name:string, score:double?, ok:bool, at:timestamp");
    uint8_t b[64];
    size_t n = hand_row(b);
    te_record_t r = {b, (uint32_t)n, 0};
    char why[128];
    uint32_t len;
    /* a string running past the row reads as null; the check names the field */
    put32(b + 20, 3);
    ck_assert_ptr_null(te_row_get_str(&r, 1, &len));
    ck_assert_int_eq(te_row_check(&r, s, why, sizeof(why)), -1);
    ck_assert_ptr_nonnull(strstr(why, "field 1"));
    put32(b + 20, 2);
    /* truncated: the slots are cut off */
    te_record_t cut = {b, 20, 0};
    ck_assert_int_eq(te_row_get_i64(&cut, 4), 0);
    ck_assert(te_row_is_null(&cut, 4));
    ck_assert_int_eq(te_row_check(&cut, s, why, sizeof(why)), -1);
    /* null in a field that is not nullable; bool 2; wrong count */
    b[2] |= 1;
    ck_assert_int_eq(te_row_check(&r, s, why, sizeof(why)), -1);
    ck_assert_ptr_nonnull(strstr(why, "not nullable"));
    b[2] &= (uint8_t)~1;
    put64(b + 32, 2);
    ck_assert_int_eq(te_row_check(&r, s, why, sizeof(why)), -1);
    put64(b + 32, 1);
    b[0] = 4;
    ck_assert_int_eq(te_row_check(&r, s, why, sizeof(why)), -1);
    b[0] = 5;
    ck_assert_int_eq(te_row_check(&r, s, NULL, 0), 0);
    te_record_t tiny = {b, 3, 0};
    ck_assert_uint_eq(te_row_nfields(&tiny), 0);
    ck_assert(te_row_is_null(&tiny, 0));
}
END_TEST

START_TEST(test_keys)
{
    uint8_t b[64];
    size_t n = hand_row(b);
    te_record_t r = {b, (uint32_t)n, 0};
    te_row_key_t k1 = {1, {1}, {TE_TYPE_STRING}};
    uint32_t len;
    const uint8_t *k = te_row_key_bytes(&r, &k1, NULL, 0, &len);
    ck_assert(len == 2 && memcmp(k, "ab", 2) == 0);
    te_row_key_t k0 = {1, {0}, {TE_TYPE_INT64}};
    k = te_row_key_bytes(&r, &k0, NULL, 0, &len);
    ck_assert(len == 8 && memcmp(k, b + 8, 8) == 0);
    te_row_key_t kn = {1, {2}, {TE_TYPE_DOUBLE}};
    te_row_key_bytes(&r, &kn, NULL, 0, &len);
    ck_assert_uint_eq(len, 0); /* null: the empty key */
    /* several fields: 1 | 8 bytes, 1 | u32 len | bytes, 0 (null) */
    te_row_key_t km = {3, {0, 1, 2}, {TE_TYPE_INT64, TE_TYPE_STRING, TE_TYPE_DOUBLE}};
    uint8_t buf[64], want[64];
    ck_assert_ptr_null(te_row_key_bytes(&r, &km, buf, 4, &len));
    ck_assert_uint_eq(len, 1 + 8 + 1 + 4 + 2 + 1);
    k = te_row_key_bytes(&r, &km, buf, sizeof(buf), &len);
    want[0] = 1;
    memcpy(want + 1, b + 8, 8);
    want[9] = 1;
    put32(want + 10, 2);
    memcpy(want + 14, "ab", 2);
    want[16] = 0;
    ck_assert(k == buf && len == 17 && memcmp(buf, want, 17) == 0);
}
END_TEST

START_TEST(test_text_doubles)
{
    const double v[] = {0.1, 1.0 / 3.0, 1e20, -2.5, 1120.472, 123456789.123456789, 5e-324, 0.0};
    char buf[40];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int n = te_format_double(buf, sizeof(buf), v[i]);
        ck_assert_int_eq((int)strlen(buf), n);
        ck_assert_msg(strtod(buf, NULL) == v[i], "%s does not read back as %.17g", buf, v[i]);
        char p15[40];
        snprintf(p15, sizeof(p15), "%.15g", v[i]);
        if (strtod(p15, NULL) == v[i])
            ck_assert_str_eq(buf, p15); /* the shortest that reads back */
    }
    te_format_double(buf, sizeof(buf), 0.1);
    ck_assert_str_eq(buf, "0.1");
    te_format_double(buf, sizeof(buf), 5.0);
    ck_assert_str_eq(buf, "5");
}
END_TEST

/* Integers in decimal, against libc's printf: the extremes, every power of ten and its
 * neighbours (digit-count edges), and random values of every length. */
START_TEST(test_text_integers)
{
    int64_t v[200];
    size_t n = 0;
    v[n++] = INT64_MIN;
    v[n++] = INT64_MAX;
    v[n++] = 0;
    for (int k = 0; k <= 18; k++) {
        int64_t p = 1;
        for (int j = 0; j < k; j++)
            p *= 10;
        v[n++] = p - 1, v[n++] = p, v[n++] = p + 1;
        v[n++] = -(p - 1), v[n++] = -p, v[n++] = -(p + 1);
    }
    uint64_t x = 7;
    while (n < sizeof(v) / sizeof(v[0])) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        v[n++] = (int64_t)(x >> (x % 64)) * (x & 1 ? -1 : 1);
    }
    for (size_t i = 0; i < n; i++) {
        char got[24], want[24];
        size_t len = te_format_i64(got, v[i]);
        snprintf(want, sizeof(want), "%lld", (long long)v[i]);
        ck_assert_msg(len == strlen(want) && memcmp(got, want, len) == 0, "%lld formatted as '%.*s'",
                      (long long)v[i], (int)len, got);
        if (v[i] >= 0) {
            len = te_format_u64(got, (uint64_t)v[i]);
            ck_assert(len == strlen(want) && memcmp(got, want, len) == 0);
        }
    }
    char got[24];
    size_t len = te_format_u64(got, UINT64_MAX);
    ck_assert(len == 20 && memcmp(got, "18446744073709551615", 20) == 0);
    /* unsigned: every bit length's edges (the digit count comes from it) and 10^19's */
    uint64_t u[200];
    size_t nu = 0;
    for (int k = 0; k < 64; k++)
        u[nu++] = (1ull << k) - 1, u[nu++] = 1ull << k, u[nu++] = (1ull << k) + 1;
    u[nu++] = 9999999999999999999ull, u[nu++] = 10000000000000000000ull, u[nu++] = 10000000000000000001ull;
    for (size_t i = 0; i < nu; i++) {
        char want[24];
        snprintf(want, sizeof(want), "%llu", (unsigned long long)u[i]);
        len = te_format_u64(got, u[i]);
        ck_assert_msg(len == strlen(want) && memcmp(got, want, len) == 0, "%s formatted as '%.*s'", want, (int)len,
                      got);
    }
}
END_TEST

/* A row's text into a buffer of every capacity: the full length is returned whatever
 * the capacity, the text is complete when it fits, and nothing is written past the
 * capacity (integers are formatted in place when 20 bytes are left). */
START_TEST(test_text_row_capacity)
{
    const te_schema_t *sc = h_schema("a:int64,t:timestamp,s:string,b:int64,c:int64");
    te_row_builder_t b = {0};
    ck_assert_int_eq(te_row_builder_begin(&b, 5), 0);
    te_row_set_i64(&b, 0, INT64_MIN);
    te_row_set_ts(&b, 1, 1700000000000);
    te_row_set_str(&b, 2, "channel-42", 10);
    te_row_set_i64(&b, 3, 7);
    te_row_set_i64(&b, 4, -123456789);
    te_record_t r;
    ck_assert_int_eq(te_row_builder_finish(&b, 0, &r), 0);
    static const char want[] = "-9223372036854775808\t1700000000000\tchannel-42\t7\t-123456789";
    size_t n = strlen(want);
    char buf[128];
    for (size_t cap = 0; cap <= n + 30; cap++) {
        memset(buf, '#', sizeof(buf));
        size_t got = te_row_format_tsv(&r, sc, '\t', buf, cap);
        ck_assert_uint_eq(got, n);
        for (size_t j = cap; j < sizeof(buf); j++)
            ck_assert_msg(buf[j] == '#', "capacity %zu: byte %zu written", cap, j);
        if (cap >= n)
            ck_assert_msg(memcmp(buf, want, n) == 0, "capacity %zu: '%.*s'", cap, (int)n, buf);
    }
    te_row_builder_free(&b);
}
END_TEST

/* Random rows of every type (nulls, a string's slot pointing past the row or into the
 * header, a row shorter than its schema or with fewer fields, bools and doubles) at
 * random capacities: te_row_format_tsv's text and length are the fields' texts, one by
 * one through te_row_format_field, joined by the delimiter. */
START_TEST(test_text_row_matches_fields)
{
    const te_schema_t *sc = h_schema("a:int64?,b:double?,c:string?,d:bool?,e:timestamp?,f:bytes?,g:int64?");
    te_row_builder_t b = {0};
    uint64_t seed = 7;
    int malformed = 0;
    for (int k = 0; k < 20000; k++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t q = seed >> 8;
        ck_assert_int_eq(te_row_builder_begin(&b, 7), 0);
        static const int64_t ints[] = {0, 7, -1, INT64_MIN, INT64_MAX, 1700000000123, 99999, 100000};
        if (q & 1)
            te_row_set_i64(&b, 0, ints[(q >> 8) % 8]);
        if (q & 2)
            te_row_set_f64(&b, 1, (double)ints[(q >> 11) % 8] / 3.0);
        if (q & 4)
            te_row_set_str(&b, 2, "channel-1234", (uint32_t)((q >> 14) % 13));
        if (q & 8)
            te_row_set_bool(&b, 3, (int)((q >> 17) & 1));
        if (q & 16)
            te_row_set_ts(&b, 4, ints[(q >> 18) % 8]);
        if (q & 32)
            te_row_set_str(&b, 5, "xyz", 3);
        if (q & 64)
            te_row_set_i64(&b, 6, ints[(q >> 21) % 8]);
        te_record_t r;
        ck_assert_int_eq(te_row_builder_finish(&b, 0, &r), 0);
        uint8_t row[512];
        ck_assert_uint_le(r.len, sizeof(row));
        memcpy(row, r.data, r.len);
        r.data = row;
        switch ((q >> 24) % 8) { /* some rows malformed */
        case 0: {                /* string c's slot past the row's end, or into the header */
            uint32_t off = (q >> 27) & 1 ? r.len - 1 : 4, len = 5;
            memcpy(row + TE_ROW_HEADER + 8 * 2, &off, 4);
            memcpy(row + TE_ROW_HEADER + 8 * 2 + 4, &len, 4);
            row[2] &= (uint8_t) ~(1u << 2); /* c not null */
            malformed++;
            break;
        }
        case 1: /* shorter than its fixed part */
            r.len = TE_ROW_HEADER + 8u * (uint32_t)((q >> 27) % 7);
            malformed++;
            break;
        case 2: /* fewer fields than the schema */
            row[0] = (uint8_t)((q >> 27) % 7);
            malformed++;
            break;
        default: break;
        }
        char want[512], got[512];
        size_t wn = 0;
        for (uint32_t i = 0; i < 7; i++) {
            if (i)
                want[wn++] = '\t';
            te_row_format_field(&r, i, sc->fields[i].type, want, sizeof(want), &wn);
        }
        size_t cap = (q >> 30) % 2 ? sizeof(got) : (size_t)((q >> 31) % (wn + 2));
        memset(got, '#', sizeof(got));
        size_t gn = te_row_format_tsv(&r, sc, '\t', got, cap);
        ck_assert_uint_eq(gn, wn);
        if (cap >= wn)
            ck_assert_msg(memcmp(got, want, wn) == 0, "row %d: '%.*s', the fields '%.*s'", k, (int)gn, got,
                          (int)wn, want);
        for (size_t j = cap; j < sizeof(got); j++)
            ck_assert_msg(got[j] == '#', "row %d capacity %zu: byte %zu written", k, cap, j);
    }
    ck_assert_int_gt(malformed, 5000);
    te_row_builder_free(&b);
}
END_TEST

START_TEST(test_schemas)
{
    te_error_t err = {0};
    te_schema_t *s = schema_parse(" a:int64, b : STRING? ,c:timestamp", &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    char buf[128];
    ck_assert_str_eq(te_schema_format(s, buf, sizeof(buf)), "(a:int64, b:string?, c:timestamp)");
    te_schema_t *j = schema_parse("[\"a:bigint\", \"b:varchar?\", \"c:timestamp\"]", &err);
    ck_assert_msg(j != NULL, "%s", err.msg);
    ck_assert(te_schema_equal(s, j));
    te_schema_t *d = schema_dup(s);
    ck_assert(te_schema_equal(s, d) && d->fields[1].name != s->fields[1].name);
    ck_assert_int_eq(te_schema_find(d, "c"), 2);
    ck_assert_int_eq(te_schema_find(d, "x"), -1);
    schema_free(s);
    schema_free(j);
    schema_free(d);
    const struct {
        const char *spec, *expect;
    } bad[] = {
        {"a:int64, a:string", "duplicate name 'a'"},
        {"a:int32", "unknown type 'int32'"},
        {"a", "is not name:type"},
        {"1a:int64", "is not an identifier"},
        {"", "0 fields"},
        {"[1]", "entry 0 is not a \"name:type\" string"},
        {"[\"a:int64\"", "not a JSON array"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_ptr_null(schema_parse(bad[i].spec, &err));
        ck_assert_msg(strstr(err.msg, bad[i].expect) != NULL, "'%s': %s", bad[i].spec, err.msg);
    }
}
END_TEST

/* ---- parse, through the real chain ---- */

static test_chain_t g_chain;

static te_operator_chain_t *parse_chain(const char *format, const char *fields, te_error_t *err)
{
    static const char *keys[] = {"format", "fields", "side_output"};
    static const char *vals[3];
    vals[0] = format;
    vals[1] = fields;
    vals[2] = "bad";
    return test_chain_new(&g_chain, "parse", keys, vals, 3, 0, 1, 0, 1, err);
}

static void push_line(te_operator_chain_t *c, const char *line)
{
    te_error_t err = {0};
    te_record_t r = {(const uint8_t *)line, (uint32_t)strlen(line), 9};
    ck_assert_msg(push_text_rec(c, 0, &r, &err) == TE_OK, "%s", err.msg);
}

START_TEST(test_parse_formats)
{
    te_error_t err = {0};
    cap_reset_all();
    te_operator_chain_t *c = parse_chain("tsv", "a:int64, b:double, c:string?, d:bool", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    const te_schema_t *out = operator_chain_op_output_schema(c, 0);
    char buf[128];
    ck_assert_str_eq(te_schema_format(out, buf, sizeof(buf)), "(a:int64, b:double, c:string?, d:bool)");
    ck_assert_str_eq(te_schema_format(operator_chain_output_schema(c, "bad"), buf, sizeof(buf)),
                     "(input:string, error:string)");
    push_line(c, "1\t2.5\tx y\ttrue");
    push_line(c, "-7\t1e3\t\t0");
    push_line(c, "x\t1\tz\ttrue");    /* not an int64 */
    push_line(c, "1\t2\tz");          /* too few */
    push_line(c, "1\t2\tz\ttrue\tq"); /* too many */
    push_line(c, "1\t\tz\ttrue");     /* an empty double, not nullable */
    ck_assert_uint_eq(cap_slot[0].n, 2);
    ck_assert_str_eq(cap_slot[0].lines[0], "1\t2.5\tx y\ttrue");
    ck_assert_str_eq(cap_slot[0].lines[1], "-7\t1000\t\tfalse");
    ck_assert_int_eq(cap_slot[0].ts[0], 9);
    ck_assert_uint_eq(operator_chain_counter(c, 0, "numUnparsableRecords"), 4);
    ck_assert_uint_eq(operator_chain_side_dropped(c), 4); /* no edge carries "bad" here */
    operator_chain_free(c);
    cap_reset_all();

    c = parse_chain("csv", "name:string, n:int64", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    push_line(c, "\"a, \"\"b\"\"\",3");
    push_line(c, "plain,4");
    push_line(c, "\"open,5");
    push_line(c, "\"x\"y,5");
    ck_assert_uint_eq(cap_slot[0].n, 2);
    ck_assert_str_eq(cap_slot[0].lines[0], "a, \"b\"\t3");
    ck_assert_str_eq(cap_slot[0].lines[1], "plain\t4");
    ck_assert_uint_eq(operator_chain_counter(c, 0, "numUnparsableRecords"), 2);
    operator_chain_free(c);
    cap_reset_all();

    c = parse_chain("json", "[\"auction:int64\", \"price:double\", \"url:string?\"]", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    push_line(c, "{\"auction\": 12, \"price\": 3.25, \"url\": \"u\", \"extra\": 1}");
    push_line(c, "{\"price\": 1, \"auction\": 7}");
    push_line(c, "{\"auction\": \"x\", \"price\": 1}");
    push_line(c, "[1,2]");
    push_line(c, "{\"auction\": 1");
    ck_assert_uint_eq(cap_slot[0].n, 2);
    ck_assert_str_eq(cap_slot[0].lines[0], "12\t3.25\tu");
    ck_assert_str_eq(cap_slot[0].lines[1], "7\t1\t");
    ck_assert_uint_eq(operator_chain_counter(c, 0, "numUnparsableRecords"), 3);
    operator_chain_free(c);
    cap_reset_all();

    /* bad parameters name themselves */
    ck_assert_ptr_null(parse_chain("xml", "a:int64", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "parameter 'format' = 'xml'"));
    ck_assert_ptr_null(parse_chain("tsv", "a:int32", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "parameter 'fields': entry 0 'a:int32': unknown type 'int32'"));
}
END_TEST

/* ---- ABI v3 in the chain ---- */

typedef struct shape_op {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    te_row_builder_t b;
    int fields; /* of the rows it emits */
} shape_op_t;

/* Declares (x:int64, y:string) from any input; emits rows of `fields` fields. */
static void *shape_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const te_field_t f[] = {{"x", TE_TYPE_INT64, 0}, {"y", TE_TYPE_STRING, 0}};
    static const te_schema_t sc = {2, f};
    ck_assert_uint_eq(api->abi_version, TE_OPERATOR_ABI_VERSION);
    ck_assert_ptr_nonnull(api->input_schema(ctx, 0));
    if (api->set_output_schema(ctx, NULL, &sc, err, errlen) != 0)
        return NULL;
    static const te_field_t dup[] = {{"x", TE_TYPE_INT64, 0}, {"x", TE_TYPE_STRING, 0}};
    static const te_schema_t bad = {2, dup};
    char why[200];
    ck_assert_int_eq(api->set_output_schema(ctx, "side", &bad, why, sizeof(why)), -1);
    ck_assert_ptr_nonnull(strstr(why, "duplicate name 'x'"));
    shape_op_t *s = calloc(1, sizeof(*s));
    s->api = api;
    s->ctx = ctx;
    const char *f2 = api->param(ctx, "fields");
    s->fields = f2 ? atoi(f2) : 2;
    return s;
}

static int shape_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    shape_op_t *s = self;
    te_row_builder_begin(&s->b, (uint32_t)s->fields);
    te_row_set_i64(&s->b, 0, te_row_get_i64(rec, 0) * 10);
    if (s->fields > 1)
        te_row_set_str(&s->b, 1, "s", 1);
    te_record_t r;
    te_row_builder_finish(&s->b, rec->timestamp, &r);
    return s->api->emit(out, &r);
}

static void shape_dispose(void *self)
{
    shape_op_t *s = self;
    te_row_builder_free(&s->b);
    free(s);
}

static const te_operator_def_t shape_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "shape",
    .kind = TE_OP_ONE_INPUT,
    .setup = shape_setup,
    .process_element = shape_process,
    .dispose = shape_dispose,
};

START_TEST(test_v3_chain)
{
    te_error_t err = {0};
    cap_reset_all();
    const te_schema_t *in = h_schema("v:int64");
    /* v3 operator -> capture (a v2 operator: it receives the row's text) */
    te_operator_chain_t *c =
        test_chain_new_in(&g_chain, &shape_def, "shape", NULL, NULL, 0, 0, 1, 0, 1, in, NULL, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    char buf[128];
    ck_assert_str_eq(te_schema_format(operator_chain_op_output_schema(c, 0), buf, sizeof(buf)),
                     "(x:int64, y:string)");
    ck_assert_str_eq(te_schema_format(operator_chain_op_output_schema(c, 1), buf, sizeof(buf)), "(line:string)");
    ck_assert_int_eq(push_tsv(c, 0, in, "4", 3, &err), TE_OK);
    ck_assert_uint_eq(cap_slot[0].n, 1);
    ck_assert_str_eq(cap_slot[0].lines[0], "40\ts");
    operator_chain_free(c);
    cap_reset_all();

    /* a row of the wrong shape fails the task, naming the operator */
    const char *k[] = {"fields"}, *v[] = {"1"};
    c = test_chain_new_in(&g_chain, &shape_def, "shape", k, v, 1, 0, 1, 0, 1, in, NULL, &err);
    ck_assert_int_ne(push_tsv(c, 0, in, "4", 3, &err), TE_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "operator 'shape' (#0): emitted a malformed row"));
    operator_chain_free(c);
    cap_reset_all();
}
END_TEST

/* file_sink formats rows straight into its 256 KiB buffer: rows whose lines fill it
 * exactly (1024 bytes each with the newline), then one larger than the buffer. */
START_TEST(test_file_sink_buffer_edges)
{
    char dir[] = "/tmp/check_rows.XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/out.txt", dir);
    const char *k[] = {"path"}, *v[] = {path};
    te_error_t err = {0};
    te_operator_chain_t *c = test_chain_new(&g_chain, "file_sink", k, v, 1, 0, 1, 0, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    static char line[300000];
    for (int i = 0; i < 600; i++) {
        memset(line, 'a' + i % 26, 1023);
        te_record_t r = {(const uint8_t *)line, 1023, 0};
        ck_assert_int_eq(push_text_rec(c, 0, &r, &err), TE_OK);
    }
    memset(line, 'Z', sizeof(line) - 1);
    te_record_t big = {(const uint8_t *)line, (uint32_t)sizeof(line) - 1, 0};
    ck_assert_int_eq(push_text_rec(c, 0, &big, &err), TE_OK);
    ck_assert_int_eq(operator_chain_end_input(c, 0, &err), TE_OK);
    ck_assert_int_eq(operator_chain_close(c, &err), TE_OK);
    operator_chain_free(c);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char got[300001];
    for (int i = 0; i < 600; i++) {
        ck_assert_ptr_nonnull(fgets(got, sizeof(got), f));
        ck_assert_uint_eq(strlen(got), 1024);
        ck_assert(got[0] == 'a' + i % 26 && got[1022] == got[0] && got[1023] == '\n');
    }
    ck_assert_ptr_nonnull(fgets(got, sizeof(got), f));
    ck_assert_uint_eq(strlen(got), sizeof(line));
    ck_assert_ptr_null(fgets(got, sizeof(got), f));
    fclose(f);
    unlink(path);
    rmdir(dir);
    cap_reset_all();
}
END_TEST

Suite *rows_suite(void)
{
    Suite *s = suite_create("rows");
    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_one_string_row);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_text_doubles);
    tcase_add_test(tc, test_text_row_capacity);
    tcase_add_test(tc, test_text_row_matches_fields);
    tcase_add_test(tc, test_text_integers);
    tcase_add_test(tc, test_schemas);
    suite_add_tcase(s, tc);
    tc = tcase_create("operators");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_parse_formats);
    tcase_add_test(tc, test_v3_chain);
    tcase_add_test(tc, test_file_sink_buffer_edges);
    suite_add_tcase(s, tc);
    return s;
}

/*
 * te/row.h — typed binary rows and their schemas: part of the operator ABI (version 3),
 * included by te/operator.h. proto/ROWS.md is the normative description of the format;
 * everything here is static inline so a plugin compiles it in.
 *
 * A schema is a list of typed, named fields (at most TE_ROW_MAX_FIELDS). A row of a
 * schema with n fields is, all integers little endian:
 *
 *   offset 0        u64 header: bits 0-7 = n, bits 8-15 = 0 (reserved),
 *                   bit 16 + i = field i is null
 *   offset 8 + 8i   the 8-byte slot of field i:
 *                     INT64, TIMESTAMP  the value (timestamps: milliseconds since the epoch)
 *                     DOUBLE            the IEEE-754 binary64 bits
 *                     BOOL              0 or 1
 *                     STRING, BYTES     u32 offset of the bytes from the row's start,
 *                                       u32 length (the bytes lie in the tail)
 *                     null              all zero
 *   offset 8 + 8n   the variable-length tail: the bytes of the string fields
 *
 * so a fixed-size field is one load at a constant offset, and a row is copied, hashed
 * and stored as one byte string. A te_record_t of ABI v3 carries one such row
 * (data, len) plus its timestamp.
 *
 * Readers: te_row_get_i64 / _f64 / _bool / _str and te_row_is_null take the field
 * index; they check the index against the row and the string bounds against its length
 * (a missing or malformed field reads as null: 0, 0.0, false, NULL). Writers: a
 * te_row_builder_t, filled field by field (any order) and finished into a record; its
 * buffer grows geometrically, so a builder reused for every record stops allocating
 * once it has held the largest one.
 *
 * Keys (hash partitioning, keyed state, key groups): the key bytes of one field are
 * the string's bytes for STRING / BYTES, the 8 slot bytes for the fixed-size types and
 * the empty string for null. A key of several fields concatenates, per field, one byte
 * 0 (null) or 1, then the 8 slot bytes or u32 length + bytes. A hash partitioner and a
 * keyed operator that key by the same fields therefore agree on the key group.
 *
 * Text: te_row_format_tsv writes a row as delimiter-separated text — integers and
 * timestamps in decimal, doubles as the shortest of %.15g / %.16g / %.17g that reads
 * back as the same double, booleans as true / false, strings and bytes as they are,
 * null as the empty string.
 *
 * Threading: pure functions; a builder belongs to one thread.
 */
#ifndef TE_ROW_H
#define TE_ROW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "te/row.h: rows are little endian; this host is not"
#endif

#define TE_ROW_HEADER     8u
#define TE_ROW_MAX_FIELDS 48u
#define TE_ROW_NULL_SHIFT 16u

/* Timestamp value meaning "this record has none". */
#define TE_NO_TIMESTAMP INT64_MIN

/* A record as operators see it: for ABI v3 operators one row of the edge's schema;
 * for ABI v1/v2 operators a byte string (the row's tab-separated text). */
typedef struct te_record {
    const uint8_t *data; /* borrowed until the callback returns */
    uint32_t len;
    int64_t timestamp; /* TE_NO_TIMESTAMP when absent */
} te_record_t;

/* Field types. The values are part of the ABI and of the TDD (proto/tdd.proto). */
typedef enum te_type {
    TE_TYPE_INT64 = 1,
    TE_TYPE_DOUBLE = 2,
    TE_TYPE_BOOL = 3,
    TE_TYPE_STRING = 4,
    TE_TYPE_BYTES = 5,
    TE_TYPE_TIMESTAMP = 6, /* int64 milliseconds since the epoch */
} te_type_t;

typedef struct te_field {
    const char *name;
    te_type_t type;
    int nullable; /* 1: the field may be null */
} te_field_t;

typedef struct te_schema {
    uint32_t n_fields;
    const te_field_t *fields;
} te_schema_t;

static inline const char *te_type_name(te_type_t t)
{
    switch (t) {
    case TE_TYPE_INT64: return "int64";
    case TE_TYPE_DOUBLE: return "double";
    case TE_TYPE_BOOL: return "bool";
    case TE_TYPE_STRING: return "string";
    case TE_TYPE_BYTES: return "bytes";
    case TE_TYPE_TIMESTAMP: return "timestamp";
    }
    return "?";
}

static inline int te_type_is_var(te_type_t t) { return t == TE_TYPE_STRING || t == TE_TYPE_BYTES; }

/* Index of the field called `name`, or -1. */
static inline int te_schema_find(const te_schema_t *s, const char *name)
{
    for (uint32_t i = 0; s && name && i < s->n_fields; i++)
        if (s->fields[i].name && strcmp(s->fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Same field names, types and nullability, in the same order. */
static inline int te_schema_equal(const te_schema_t *a, const te_schema_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->n_fields != b->n_fields)
        return 0;
    for (uint32_t i = 0; i < a->n_fields; i++) {
        const te_field_t *x = &a->fields[i], *y = &b->fields[i];
        if (x->type != y->type || !x->nullable != !y->nullable ||
            strcmp(x->name ? x->name : "", y->name ? y->name : "") != 0)
            return 0;
    }
    return 1;
}

/* "(auction:int64, price:double, url:string?)" ("?" = nullable) into buf (always
 * NUL-terminated when len > 0, "..." when truncated). Returns buf. */
static inline const char *te_schema_format(const te_schema_t *s, char *buf, size_t len)
{
    size_t off = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    int n = snprintf(buf, len, "(");
    off = n > 0 ? (size_t)n : 0;
    for (uint32_t i = 0; s && i < s->n_fields && off < len; i++) {
        n = snprintf(buf + off, len - off, "%s%s:%s%s", i ? ", " : "", s->fields[i].name ? s->fields[i].name : "",
                     te_type_name(s->fields[i].type), s->fields[i].nullable ? "?" : "");
        if (n < 0)
            break;
        off += (size_t)n;
    }
    if (off < len)
        snprintf(buf + off, len - off, ")");
    if (off >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

/* ---- reading ---- */

static inline uint64_t te_row_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t te_row_nfields(const te_record_t *r) { return r->len >= TE_ROW_HEADER ? r->data[0] : 0; }

/* 1 when field i is null or not in the row. */
static inline int te_row_is_null(const te_record_t *r, uint32_t i)
{
    if (i >= TE_ROW_MAX_FIELDS || TE_ROW_HEADER + 8u * (size_t)i + 8u > r->len || i >= r->data[0])
        return 1;
    return (int)((te_row_load64(r->data) >> (TE_ROW_NULL_SHIFT + i)) & 1u);
}

/* The raw slot of field i (0 when missing). */
static inline uint64_t te_row_slot(const te_record_t *r, uint32_t i)
{
    if (i >= TE_ROW_MAX_FIELDS || TE_ROW_HEADER + 8u * (size_t)i + 8u > r->len)
        return 0;
    return te_row_load64(r->data + TE_ROW_HEADER + 8u * i);
}

static inline int64_t te_row_get_i64(const te_record_t *r, uint32_t i) { return (int64_t)te_row_slot(r, i); }

static inline double te_row_get_f64(const te_record_t *r, uint32_t i)
{
    uint64_t u = te_row_slot(r, i);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static inline int te_row_get_bool(const te_record_t *r, uint32_t i) { return te_row_slot(r, i) != 0; }

/* The bytes of string / bytes field i and their length; NULL (len 0) when null,
 * missing or out of the row's bounds. */
static inline const uint8_t *te_row_get_str(const te_record_t *r, uint32_t i, uint32_t *len)
{
    *len = 0;
    if (i >= TE_ROW_MAX_FIELDS || TE_ROW_HEADER + 8u * (size_t)i + 8u > r->len || i >= r->data[0] ||
        ((te_row_load64(r->data) >> (TE_ROW_NULL_SHIFT + i)) & 1u)) /* te_row_is_null, the slot in bounds */
        return NULL;
    uint64_t s = te_row_load64(r->data + TE_ROW_HEADER + 8u * i);
    uint32_t off = (uint32_t)s, n = (uint32_t)(s >> 32);
    if (off < TE_ROW_HEADER || (uint64_t)off + n > r->len)
        return NULL;
    *len = n;
    return r->data + off;
}

/* Checks that a record is a well-formed row of schema s (field count, string bounds,
 * bools, nulls only where nullable, no null bits past n). 0, or -1 with the first
 * problem in why (may be NULL). */
static inline int te_row_check(const te_record_t *r, const te_schema_t *s, char *why, size_t whylen)
{
    const char *msg = NULL;
    uint32_t bad = 0;
    if (r->len < TE_ROW_HEADER || r->data[0] != s->n_fields || r->data[1] != 0 ||
        r->len < TE_ROW_HEADER + 8u * s->n_fields)
        msg = "header does not match the schema's field count";
    else if ((te_row_load64(r->data) >> TE_ROW_NULL_SHIFT) >> s->n_fields)
        msg = "null bit set past the last field";
    for (uint32_t i = 0; msg == NULL && i < s->n_fields; i++) {
        bad = i;
        uint64_t v = te_row_slot(r, i);
        if (te_row_is_null(r, i)) {
            if (!s->fields[i].nullable)
                msg = "null in a field that is not nullable";
            else if (v != 0)
                msg = "null field with a non-zero slot";
        } else if (s->fields[i].type == TE_TYPE_BOOL && v > 1) {
            msg = "bool other than 0 or 1";
        } else if (te_type_is_var(s->fields[i].type)) {
            uint32_t off = (uint32_t)v, n = (uint32_t)(v >> 32);
            if (off < TE_ROW_HEADER + 8u * s->n_fields || (uint64_t)off + n > r->len)
                msg = "string outside the row";
        }
    }
    if (msg && why && whylen)
        snprintf(why, whylen, "field %u: %s", bad, msg);
    return msg ? -1 : 0;
}

/* ---- keys ---- */

#define TE_ROW_KEY_MAX_FIELDS 8u

/* Which fields make a key, and their types. */
typedef struct te_row_key {
    uint32_t n; /* 1..TE_ROW_KEY_MAX_FIELDS */
    uint32_t idx[TE_ROW_KEY_MAX_FIELDS];
    te_type_t type[TE_ROW_KEY_MAX_FIELDS];
} te_row_key_t;

/* The key bytes of one field (see above): a pointer into the row, or into `tmp` (8
 * bytes) for nothing. */
static inline const uint8_t *te_row_field_key(const te_record_t *r, uint32_t i, te_type_t t, uint32_t *len)
{
    if (te_type_is_var(t)) { /* null, missing or out of bounds: the empty key */
        const uint8_t *p = te_row_get_str(r, i, len);
        return p ? p : r->data;
    }
    if (te_row_is_null(r, i)) {
        *len = 0;
        return r->data;
    }
    *len = 8;
    return r->data + TE_ROW_HEADER + 8u * i;
}

/* The key bytes of fields k of row r. One field: a pointer into the row (buf unused).
 * Several: written into buf (cap bytes); returns NULL with *len = the size needed when
 * it does not fit. */
static inline const uint8_t *te_row_key_bytes(const te_record_t *r, const te_row_key_t *k, uint8_t *buf,
                                              size_t cap, uint32_t *len)
{
    if (k->n == 1)
        return te_row_field_key(r, k->idx[0], k->type[0], len);
    size_t off = 0;
    for (uint32_t f = 0; f < k->n; f++) {
        uint32_t n;
        const uint8_t *p = te_row_field_key(r, k->idx[f], k->type[f], &n);
        int null = te_row_is_null(r, k->idx[f]);
        size_t need = 1 + (null ? 0 : te_type_is_var(k->type[f]) ? 4 + (size_t)n : 8);
        if (off + need <= cap) {
            buf[off] = (uint8_t)!null;
            if (!null && te_type_is_var(k->type[f])) {
                memcpy(buf + off + 1, &n, 4);
                if (n)
                    memcpy(buf + off + 5, p, n);
            } else if (!null) {
                memcpy(buf + off + 1, p, 8);
            }
        }
        off += need;
    }
    *len = (uint32_t)off;
    return off <= cap ? buf : NULL;
}

/* ---- building ---- */

typedef struct te_row_builder {
    uint8_t *buf; /* owned; te_row_builder_free releases it */
    uint32_t cap;
    uint32_t len;   /* header + slots + tail so far */
    uint32_t n;     /* fields of the row being built */
    int failed;     /* an allocation failed or a field was out of range: finish returns -1 */
    uint64_t nulls; /* null bit of each field; written into the header by finish */
} te_row_builder_t;

static inline int te_row_builder_reserve(te_row_builder_t *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    if (need > UINT32_MAX / 2) {
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = (uint8_t *)realloc(b->buf, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->buf = p;
    b->cap = (uint32_t)cap;
    return 0;
}

/* Starts a row of n fields (all null until set). 0, or -1 (n too large / no memory). */
static inline int te_row_builder_begin(te_row_builder_t *b, uint32_t n)
{
    b->failed = 0;
    if (n > TE_ROW_MAX_FIELDS) {
        b->failed = 1;
        return -1;
    }
    size_t fixed = TE_ROW_HEADER + 8u * (size_t)n;
    if (te_row_builder_reserve(b, fixed) != 0)
        return -1;
    memset(b->buf + TE_ROW_HEADER, 0, fixed - TE_ROW_HEADER);
    b->nulls = n ? (1ull << n) - 1 : 0;
    b->n = n;
    b->len = (uint32_t)fixed;
    return 0;
}

static inline void te_row_set_slot(te_row_builder_t *b, uint32_t i, uint64_t v)
{
    if (i >= b->n) {
        b->failed = 1;
        return;
    }
    memcpy(b->buf + TE_ROW_HEADER + 8u * i, &v, 8);
    b->nulls &= ~(1ull << i);
}

static inline void te_row_set_i64(te_row_builder_t *b, uint32_t i, int64_t v)
{
    te_row_set_slot(b, i, (uint64_t)v);
}
static inline void te_row_set_ts(te_row_builder_t *b, uint32_t i, int64_t ms)
{
    te_row_set_slot(b, i, (uint64_t)ms);
}
static inline void te_row_set_bool(te_row_builder_t *b, uint32_t i, int v) { te_row_set_slot(b, i, v ? 1u : 0u); }

static inline void te_row_set_f64(te_row_builder_t *b, uint32_t i, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    te_row_set_slot(b, i, u);
}

static inline void te_row_set_null(te_row_builder_t *b, uint32_t i)
{
    if (i >= b->n) {
        b->failed = 1;
        return;
    }
    memset(b->buf + TE_ROW_HEADER + 8u * i, 0, 8);
    b->nulls |= 1ull << i;
}

/* Appends the bytes to the tail (p may be NULL when len is 0). */
static inline void te_row_set_str(te_row_builder_t *b, uint32_t i, const void *p, uint32_t len)
{
    if (i >= b->n || te_row_builder_reserve(b, (size_t)b->len + len) != 0) {
        b->failed = 1;
        return;
    }
    if (len)
        memcpy(b->buf + b->len, p, len);
    te_row_set_slot(b, i, (uint64_t)b->len | (uint64_t)len << 32);
    b->len += len;
}

/* Starts a row of one string field of n bytes in b (what begin(b, 1) and set_str(b, 0,
 * ., n) do, in one step): returns where the n bytes go, for the caller to write them
 * (a copy, or one that transforms them); te_row_builder_finish then gives the record.
 * NULL when out of memory. */
static inline uint8_t *te_row_begin_str1(te_row_builder_t *b, uint32_t n)
{
    size_t need = TE_ROW_HEADER + 8u + (size_t)n;
    if (te_row_builder_reserve(b, need) != 0)
        return NULL;
    uint64_t slot = (uint64_t)(TE_ROW_HEADER + 8u) | (uint64_t)n << 32;
    memcpy(b->buf + TE_ROW_HEADER, &slot, 8);
    b->failed = 0;
    b->nulls = 0;
    b->n = 1;
    b->len = (uint32_t)need;
    return b->buf + TE_ROW_HEADER + 8u;
}

/* Field i_in of row `in` (of type t) into field i_out. */
static inline void te_row_copy_field(te_row_builder_t *b, uint32_t i_out, const te_record_t *in, uint32_t i_in,
                                     te_type_t t)
{
    if (te_row_is_null(in, i_in)) {
        te_row_set_null(b, i_out);
    } else if (te_type_is_var(t)) {
        uint32_t n;
        const uint8_t *p = te_row_get_str(in, i_in, &n);
        te_row_set_str(b, i_out, p, n);
    } else {
        te_row_set_slot(b, i_out, te_row_slot(in, i_in));
    }
}

/* The row built so far as a record (valid until the builder's next change). 0, or -1
 * when a set failed (no memory, field index out of range). */
static inline int te_row_builder_finish(te_row_builder_t *b, int64_t timestamp, te_record_t *out)
{
    if (b->failed || b->buf == NULL)
        return -1;
    uint64_t hdr = (uint64_t)b->n | b->nulls << TE_ROW_NULL_SHIFT;
    memcpy(b->buf, &hdr, 8);
    out->data = b->buf;
    out->len = b->len;
    out->timestamp = timestamp;
    return 0;
}

static inline void te_row_builder_free(te_row_builder_t *b)
{
    free(b->buf);
    memset(b, 0, sizeof(*b));
}

/* ---- text ---- */

/* The two-digit decimals "00" .. "99", 200 bytes. */
static inline const char *te_digit_pairs(void)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    return pairs;
}

/* The number of decimal digits of v (1 for 0): log10 from the bit length (x 1233 / 4096),
 * corrected by one comparison. */
static inline size_t te_decimal_digits(uint64_t v)
{
    /* clang-format off */
    static const uint64_t pow10[20] = {0, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
        100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
        100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
        1000000000000000000ull, 10000000000000000000ull};
    /* clang-format on */
    unsigned t = ((unsigned)(64 - __builtin_clzll(v | 1)) * 1233u) >> 12;
    return t + (v >= pow10[t]);
}

/* v in decimal into buf (at least 20 bytes; no terminating NUL), two digits at a time
 * from the last, in place. Returns the length. */
static inline size_t te_format_u64(char *buf, uint64_t v)
{
    size_t n = te_decimal_digits(v);
    char *p = buf + n;
    while (v >= 10000) { /* four digits a step: half the dependent divisions */
        uint64_t q = v / 10000;
        uint32_t r = (uint32_t)(v - 10000 * q);
        p -= 4;
        memcpy(p, te_digit_pairs() + 2 * (r / 100), 2);
        memcpy(p + 2, te_digit_pairs() + 2 * (r % 100), 2);
        v = q;
    }
    while (v >= 100) {
        uint64_t q = v / 100;
        p -= 2;
        memcpy(p, te_digit_pairs() + 2 * (v - 100 * q), 2);
        v = q;
    }
    if (v >= 10)
        memcpy(p - 2, te_digit_pairs() + 2 * v, 2);
    else
        p[-1] = (char)('0' + v);
    return n;
}

/* v in decimal, a '-' first when negative, into buf (at least 20 bytes; no NUL).
 * Returns the length. */
static inline size_t te_format_i64(char *buf, int64_t v)
{
    if (v >= 0)
        return te_format_u64(buf, (uint64_t)v);
    buf[0] = '-';
    return 1 + te_format_u64(buf + 1, 0 - (uint64_t)v);
}

/* A double as the shortest of %.15g, %.16g, %.17g that reads back as the same value
 * ("nan", "inf", "-inf" for those). Returns the length (buf >= 32 bytes). */
static inline int te_format_double(char *buf, size_t len, double d)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, len, "%.*g", prec, d);
        if (prec == 17 || d != d || strtod(buf, NULL) == d)
            break;
    }
    return n < 0 ? 0 : (size_t)n >= len ? (int)len - 1 : n;
}

/* Appends field i of r (type t) as text into buf at *off (cap bytes); *off always
 * grows by the full length so a caller can size a retry. */
static inline void te_row_format_field(const te_record_t *r, uint32_t i, te_type_t t, char *buf, size_t cap,
                                       size_t *off)
{
    char tmp[40];
    const char *p = tmp;
    size_t n = 0;
    if (te_row_is_null(r, i)) {
        n = 0;
    } else if (te_type_is_var(t)) {
        uint32_t sl;
        p = (const char *)te_row_get_str(r, i, &sl);
        n = sl;
    } else if (t == TE_TYPE_DOUBLE) {
        n = (size_t)te_format_double(tmp, sizeof(tmp), te_row_get_f64(r, i));
    } else if (t == TE_TYPE_BOOL) {
        p = te_row_get_bool(r, i) ? "true" : "false";
        n = strlen(p);
    } else if (*off + 20 <= cap) { /* room for any integer: formatted in place */
        *off += te_format_i64(buf + *off, te_row_get_i64(r, i));
        return;
    } else {
        n = te_format_i64(tmp, te_row_get_i64(r, i));
    }
    if (*off + n <= cap && n)
        memcpy(buf + *off, p, n);
    *off += n;
}

/* Row r of schema s as text, fields separated by delim (no line end). Returns the
 * length; the text was written only when it is <= cap (else call again with more). */
static inline size_t te_row_format_tsv(const te_record_t *r, const te_schema_t *s, char delim, char *buf,
                                       size_t cap)
{
    size_t off = 0;
    uint32_t nf = s->n_fields;
    if (nf <= TE_ROW_MAX_FIELDS && r->len >= TE_ROW_HEADER + 8u * nf && r->data[0] >= nf) {
        /* the row holds every field: its slots read without a check per field, as
         * te_row_format_field reads them */
        uint64_t nulls = te_row_load64(r->data) >> TE_ROW_NULL_SHIFT;
        for (uint32_t i = 0; i < nf; i++) {
            if (i) {
                if (off < cap)
                    buf[off] = delim;
                off++;
            }
            te_type_t t = s->fields[i].type;
            uint64_t v = te_row_load64(r->data + TE_ROW_HEADER + 8u * i);
            if ((nulls >> i) & 1u)
                continue;
            if (te_type_is_var(t)) {
                uint32_t so = (uint32_t)v, n = (uint32_t)(v >> 32);
                if (so < TE_ROW_HEADER || (uint64_t)so + n > r->len)
                    continue; /* out of bounds: read as null */
                if (off + n <= cap && n)
                    memcpy(buf + off, r->data + so, n);
                off += n;
            } else if ((t == TE_TYPE_INT64 || t == TE_TYPE_TIMESTAMP) && off + 20 <= cap) {
                off += te_format_i64(buf + off, (int64_t)v);
            } else {
                te_row_format_field(r, i, t, buf, cap, &off);
            }
        }
        return off;
    }
    for (uint32_t i = 0; i < s->n_fields; i++) {
        if (i) {
            if (off < cap)
                buf[off] = delim;
            off++;
        }
        te_row_format_field(r, i, s->fields[i].type, buf, cap, &off);
    }
    return off;
}

#ifdef __cplusplus
}
#endif
#endif

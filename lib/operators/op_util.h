/*
 * op_util — helpers shared by the built-in operators: parameter parsing and
 * validation (with messages naming the operator, the parameter, its value and what is
 * allowed), delimited-field access on records, and a growable scratch buffer.
 *
 * Built-ins use only the public ABI (te/operator.h) and libc; this helper does too, so
 * a plugin could copy it verbatim.
 *
 * Threading: pure functions; an op_setup_t and an op_buf_t belong to one operator
 * instance (used on its task thread).
 */
#ifndef TE_OP_UTIL_H
#define TE_OP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "te/operator.h"

/* Everything a parameter helper needs to look up a value and report a problem. */
typedef struct op_setup {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *op; /* operator name, for messages */
    char *err;
    size_t errlen;
} op_setup_t;

/* Writes "operator '<op>': <message>" into s->err. Returns -1. */
int op_errorf(op_setup_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rejects any parameter whose key is not in `allowed` (NULL-terminated). Returns 0, or
 * -1 with "unknown parameter 'k' (allowed: a, b)" in s->err. */
int op_check_keys(op_setup_t *s, const char *const *allowed);
/* The same, also allowing every key that starts with prefix (e.g. "kafka.": settings
 * passed through to a client library). */
int op_check_keys_prefixed(op_setup_t *s, const char *const *allowed, const char *prefix);

/* String parameter. *out = value (borrowed for the operator's life) or `def` when
 * absent. required != 0: absence is an error. Returns 0 or -1. */
int op_get_string(op_setup_t *s, const char *key, int required, const char *def, const char **out);

/* Integer parameter in [min, max]; `def` when absent (unless required). */
int op_get_int(op_setup_t *s, const char *key, int required, int64_t def, int64_t min, int64_t max, int64_t *out);

/* Boolean: true/false/1/0/yes/no (case-insensitive). */
int op_get_bool(op_setup_t *s, const char *key, int def, int *out);

/* A single-character delimiter. Accepts one character or the escapes "\t", "\n",
 * "\r", "\\" (backslash + letter as typed in JSON/YAML: "\\t"). */
int op_get_delimiter(op_setup_t *s, const char *key, char def, char *out);

/* A file path parameter must lie under the daemon's io.allowed-dirs (the engine's
 * api->check_path). Returns 0, or -1 with "parameter 'path' = '...' is outside
 * io.allowed-dirs (...)". */
int op_check_path(op_setup_t *s, const char *param, const char *path);
/* A required, non-empty file path parameter that passes op_check_path. */
int op_get_path(op_setup_t *s, const char *key, const char **out);

/* Strict parsers: the whole string must be consumed, no leading/trailing space. */
int op_parse_int64(const char *str, int64_t *out);
int op_parse_double(const char *str, double *out);
/* The same over a byte range (not NUL-terminated); fails on ranges over 63 bytes. */
int op_parse_double_bytes(const uint8_t *p, size_t len, double *out);

/* Pacing of a rate-limited step-wise source: at most `rate` records per second since
 * the first step (0 = unlimited). */
typedef struct op_rate {
    double rate; /* records/s; 0 = unlimited */
    int started;
    int64_t t0_ns;    /* CLOCK_MONOTONIC at the first step */
    uint64_t emitted; /* records counted by op_rate_take */
} op_rate_t;

/* How many of `budget` records may go now. 0 = none yet: *idle_wait_ms says when to
 * step again (1..1000 ms). The caller then reports what it emitted via r->emitted. */
uint64_t op_rate_allow(op_rate_t *r, uint64_t budget, uint32_t *idle_wait_ms);

/* A source position as operator state: u8 done | u64 little-endian next (9 bytes). */
int op_position_snapshot(int done, uint64_t next, uint8_t **data, size_t *len);
int op_position_restore(const uint8_t *data, size_t len, int *done, uint64_t *next);

/* A growable byte buffer, grown geometrically (so no allocation per record once it
 * has reached the largest record size). */
typedef struct op_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} op_buf_t;

/* Ensures room for `need` bytes in total. Returns 0 or -1 (out of memory). */
int op_buf_reserve(op_buf_t *b, size_t need);
/* Appends bytes (reserve first or check the result). */
int op_buf_append(op_buf_t *b, const void *p, size_t n);
void op_buf_release(op_buf_t *b);

#endif

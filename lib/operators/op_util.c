/*
 * op_util — parameter parsing and field helpers shared by the built-in operators.
 *
 * Uses only te/operator.h and libc. Threading: pure; every helper works on state owned
 * by one operator instance, on that instance's task thread.
 */
#include "operators/op_util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int op_errorf(op_setup_t *s, const char *fmt, ...)
{
    if (s->err == NULL || s->errlen == 0)
        return -1;
    int n = snprintf(s->err, s->errlen, "operator '%s': ", s->op);
    if (n < 0 || (size_t)n >= s->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err + n, s->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

struct key_check {
    const char *const *allowed;
    const char *prefix; /* keys starting with it are allowed too; may be NULL */
    const char *bad;    /* first unknown key (borrowed) */
};

static void key_check_one(void *arg, const char *key, const char *value)
{
    struct key_check *kc = arg;
    (void)value;
    if (kc->bad != NULL)
        return;
    if (kc->prefix && strncmp(key, kc->prefix, strlen(kc->prefix)) == 0 && key[strlen(kc->prefix)] != '\0')
        return;
    for (const char *const *a = kc->allowed; *a; a++)
        if (strcmp(*a, key) == 0)
            return;
    kc->bad = key;
}

int op_check_keys_prefixed(op_setup_t *s, const char *const *allowed, const char *prefix)
{
    struct key_check kc = {allowed, prefix, NULL};
    s->api->param_foreach(s->ctx, key_check_one, &kc);
    if (kc.bad == NULL)
        return 0;
    char list[768];
    size_t off = 0;
    list[0] = '\0';
    for (const char *const *a = allowed; *a && off < sizeof(list); a++) {
        int n = snprintf(list + off, sizeof(list) - off, "%s%s", off ? ", " : "", *a);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    return op_errorf(s, "unknown parameter '%s' (allowed: %s%s%s%s)", kc.bad, allowed[0] ? list : "none",
                     prefix ? ", and " : "", prefix ? prefix : "",
                     prefix ? "<key> passed to the client library" : "");
}

int op_check_keys(op_setup_t *s, const char *const *allowed) { return op_check_keys_prefixed(s, allowed, NULL); }

int op_get_string(op_setup_t *s, const char *key, int required, const char *def, const char **out)
{
    const char *v = s->api->param(s->ctx, key);
    if (v == NULL) {
        if (required)
            return op_errorf(s, "missing required parameter '%s'", key);
        *out = def;
        return 0;
    }
    *out = v;
    return 0;
}

int op_parse_int64(const char *str, int64_t *out)
{
    if (str == NULL || *str == '\0' || isspace((unsigned char)*str))
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(str, &end, 10);
    if (errno != 0 || end == str || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

int op_parse_double(const char *str, double *out)
{
    if (str == NULL || *str == '\0' || isspace((unsigned char)*str))
        return -1;
    errno = 0;
    char *end = NULL;
    double v = strtod(str, &end);
    if (errno == ERANGE || end == str || *end != '\0' || isnan(v))
        return -1;
    *out = v;
    return 0;
}

int op_parse_double_bytes(const uint8_t *p, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    if (memchr(tmp, '\0', len) != NULL)
        return -1;
    return op_parse_double(tmp, out);
}

int op_get_int(op_setup_t *s, const char *key, int required, int64_t def, int64_t min, int64_t max, int64_t *out)
{
    const char *v = s->api->param(s->ctx, key);
    if (v == NULL) {
        if (required)
            return op_errorf(s, "missing required parameter '%s'", key);
        *out = def;
        return 0;
    }
    int64_t x;
    if (op_parse_int64(v, &x) != 0)
        return op_errorf(s, "parameter '%s' = '%s' is not an integer", key, v);
    if (x < min || x > max)
        return op_errorf(s, "parameter '%s' = '%s' is out of range [%lld, %lld]", key, v, (long long)min,
                         (long long)max);
    *out = x;
    return 0;
}

int op_get_bool(op_setup_t *s, const char *key, int def, int *out)
{
    const char *v = s->api->param(s->ctx, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0) {
        *out = 1;
        return 0;
    }
    if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0) {
        *out = 0;
        return 0;
    }
    return op_errorf(s, "parameter '%s' = '%s' is not a boolean (allowed: true, false)", key, v);
}

int op_get_delimiter(op_setup_t *s, const char *key, char def, char *out)
{
    const char *v = s->api->param(s->ctx, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    size_t n = strlen(v);
    if (n == 1) {
        *out = v[0];
        return 0;
    }
    if (n == 2 && v[0] == '\\') {
        switch (v[1]) {
        case 't': *out = '\t'; return 0;
        case 'n': *out = '\n'; return 0;
        case 'r': *out = '\r'; return 0;
        case '\\': *out = '\\'; return 0;
        default: break;
        }
    }
    return op_errorf(s,
                     "parameter '%s' = '%s' is not a single character (allowed: one character or "
                     "the escapes \\t, \\n, \\r, \\\\)",
                     key, v);
}

int op_buf_reserve(op_buf_t *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int op_buf_append(op_buf_t *b, const void *p, size_t n)
{
    if (op_buf_reserve(b, b->len + n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void op_buf_release(op_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int op_check_path(op_setup_t *s, const char *param, const char *path)
{
    if (s->api->abi_version < 2 || s->api->check_path == NULL)
        return 0;
    char why[512];
    if (s->api->check_path(s->ctx, path, why, sizeof(why)) == 0)
        return 0;
    return op_errorf(s, "parameter '%s' = %s", param, why);
}

int op_get_path(op_setup_t *s, const char *key, const char **out)
{
    if (op_get_string(s, key, 1, NULL, out) != 0)
        return -1;
    if ((*out)[0] == '\0')
        return op_errorf(s, "parameter '%s' is empty", key);
    return op_check_path(s, key, *out);
}

uint64_t op_rate_allow(op_rate_t *r, uint64_t budget, uint32_t *idle_wait_ms)
{
    if (r->rate <= 0)
        return budget;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    if (!r->started) {
        r->t0_ns = now_ns;
        r->started = 1;
    }
    double el = (double)(now_ns - r->t0_ns) / 1e9;
    uint64_t total = (uint64_t)(el * r->rate) + 1;
    if (total <= r->emitted) {
        double wait = ((double)r->emitted / r->rate - el) * 1000.0;
        if (idle_wait_ms)
            *idle_wait_ms = wait < 1.0 ? 1 : wait > 1000.0 ? 1000 : (uint32_t)(wait + 0.999);
        return 0;
    }
    return total - r->emitted < budget ? total - r->emitted : budget;
}

int op_position_snapshot(int done, uint64_t next, uint8_t **data, size_t *len)
{
    uint8_t *p = malloc(9);
    if (p == NULL)
        return -1;
    p[0] = (uint8_t)(done != 0);
    for (int i = 0; i < 8; i++)
        p[1 + i] = (uint8_t)(next >> (8 * i));
    *data = p;
    *len = 9;
    return 0;
}

int op_position_restore(const uint8_t *data, size_t len, int *done, uint64_t *next)
{
    if (len != 9 || data[0] > 1)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)data[1 + i] << (8 * i);
    *done = data[0];
    *next = v;
    return 0;
}

/*
 * op_keyed — helpers of the keyed / event-time / two-input built-ins (see op_keyed.h).
 *
 * Threading: pure functions.
 */
#define _GNU_SOURCE /* qsort_r */
#include "operators/op_keyed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int op_parse_duration_ms(const char *v, int64_t *out)
{
    size_t n = strlen(v), d = 0;
    while (d < n && v[d] >= '0' && v[d] <= '9')
        d++;
    int64_t mult = 0;
    const char *unit = v + d;
    if (*unit == '\0' || strcmp(unit, "ms") == 0)
        mult = 1;
    else if (strcmp(unit, "s") == 0)
        mult = 1000;
    else if (strcmp(unit, "min") == 0)
        mult = 60000;
    else if (strcmp(unit, "h") == 0)
        mult = 3600000;
    char digits[24];
    int64_t num = 0;
    if (d == 0 || d >= sizeof(digits) || mult == 0)
        return -1;
    memcpy(digits, v, d);
    digits[d] = '\0';
    if (op_parse_int64(digits, &num) != 0 || num > INT64_MAX / mult)
        return -1;
    *out = num * mult;
    return 0;
}

int op_get_duration_ms(op_setup_t *s, const char *key, int required, int64_t def_ms, int64_t min_ms,
                       int64_t max_ms, int64_t *out)
{
    const char *v = s->api->param(s->ctx, key);
    if (v == NULL) {
        if (required)
            return op_errorf(s, "missing required parameter '%s' (a duration such as 200ms, 5s, 1min)", key);
        *out = def_ms;
        return 0;
    }
    int64_t num;
    if (op_parse_duration_ms(v, &num) != 0)
        goto cleanup;
    if (num < min_ms || num > max_ms)
        return op_errorf(s, "parameter '%s' = '%s' is out of range (%lld ms to %lld ms)", key, v,
                         (long long)min_ms, (long long)max_ms);
    *out = num;
    return 0;
cleanup:
    return op_errorf(s, "parameter '%s' = '%s' is not a duration (a non-negative integer with ms, s, min or h)",
                     key, v);
}

int op_require_v2(op_setup_t *s)
{
    if (s->api->abi_version < 2)
        return op_errorf(s, "needs operator ABI version 2 (timers and keyed state); the engine offers %u",
                         s->api->abi_version);
    return 0;
}

/* ---- emit=final: every entry, sorted by key ---- */

typedef struct sorted_item {
    size_t off; /* key then value in the arena */
    uint32_t keylen, vallen;
} sorted_item_t;

typedef struct sorted_collect {
    sorted_item_t *items;
    size_t n, cap;
    op_buf_t arena;
    int oom;
} sorted_collect_t;

static int sorted_visit(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen)
{
    sorted_collect_t *c = arg;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        sorted_item_t *ni = realloc(c->items, nc * sizeof(*ni));
        if (ni == NULL)
            return c->oom = -1;
        c->items = ni;
        c->cap = nc;
    }
    c->items[c->n++] = (sorted_item_t){c->arena.len, keylen, vallen};
    if (op_buf_append(&c->arena, key, keylen) != 0 || op_buf_append(&c->arena, val, vallen) != 0)
        return c->oom = -1;
    return 0;
}

static int sorted_cmp(const void *a, const void *b, void *arg)
{
    const uint8_t *base = arg;
    const sorted_item_t *x = a, *y = b;
    uint32_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = n ? memcmp(base + x->off, base + y->off, n) : 0;
    if (c != 0)
        return c;
    return x->keylen < y->keylen ? -1 : x->keylen > y->keylen ? 1 : 0;
}

int op_keyed_foreach_sorted(const te_operator_api_t *api, te_operator_ctx_t *ctx,
                            int (*fn)(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val,
                                      uint32_t vallen),
                            void *arg)
{
    sorted_collect_t c = {0};
    int rc = op_buf_reserve(&c.arena, 64) == 0 ? 0 : -2;
    if (rc == 0) {
        api->state_foreach(ctx, sorted_visit, &c);
        if (c.oom)
            rc = -2;
    }
    if (rc == 0) {
        if (c.n > 1) /* c.items is NULL for an empty state */
            qsort_r(c.items, c.n, sizeof(*c.items), sorted_cmp, c.arena.data);
        for (size_t i = 0; i < c.n && rc == 0; i++) {
            const uint8_t *k = c.arena.data + c.items[i].off;
            if (fn(arg, k, c.items[i].keylen, k + c.items[i].keylen, c.items[i].vallen) != 0)
                rc = -1;
        }
    }
    free(c.items);
    op_buf_release(&c.arena);
    return rc;
}

/*
 * state_backend — the keyed-state interface: dispatch to an implementation, key-group
 * assignment and the per-key-group snapshot format with CRC-32C checksums (see
 * state_backend.h for the format).
 *
 * Threading: a backend is used by its operator's task thread only. The CRC table is
 * built once under pthread_once, so state_crc32c may be called from any thread.
 */
#include "state/state_backend.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/key_group.h"

struct te_state_backend {
    const te_state_backend_ops_t *ops;
    void *impl;
    uint32_t maxp;
};

/* ---- CRC-32C ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t state_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_table_init);
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- the interface ---- */

te_state_backend_t *state_backend_new(const char *kind, uint32_t max_parallelism, te_error_t *err)
{
    if (kind == NULL)
        kind = "hashmap";
    if (strcmp(kind, "hashmap") != 0) {
        te_error_set(err, TE_EINVAL, "unknown state backend '%s' (known: hashmap)", kind);
        return NULL;
    }
    if (max_parallelism == 0)
        max_parallelism = TE_STATE_DEFAULT_MAX_PARALLELISM;
    if (max_parallelism > TE_STATE_MAX_MAX_PARALLELISM) {
        te_error_set(err, TE_EINVAL, "state backend: max_parallelism %u is above %u", max_parallelism,
                     TE_STATE_MAX_MAX_PARALLELISM);
        return NULL;
    }
    te_state_backend_t *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory creating the state backend");
        return NULL;
    }
    b->ops = &hashmap_state_backend_ops;
    b->maxp = max_parallelism;
    b->impl = b->ops->create(max_parallelism);
    if (b->impl == NULL) {
        free(b);
        te_error_set(err, TE_ENOMEM, "out of memory creating the state backend");
        return NULL;
    }
    return b;
}

void state_backend_free(te_state_backend_t *b)
{
    if (b == NULL)
        return;
    b->ops->destroy(b->impl);
    free(b);
}

uint32_t state_backend_max_parallelism(const te_state_backend_t *b) { return b->maxp; }

uint32_t state_backend_key_group(const te_state_backend_t *b, const uint8_t *key, uint32_t keylen)
{
    static const uint8_t empty[1] = {0};
    return key_group_for_key(keylen ? key : empty, keylen, b->maxp);
}

int state_backend_get(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t **val, uint32_t *vallen)
{
    return b->ops->get(b->impl, state_backend_key_group(b, key, keylen), key, keylen, ns, nslen, val, vallen);
}

int state_backend_put(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    return b->ops->put(b->impl, state_backend_key_group(b, key, keylen), key, keylen, ns, nslen, val, vallen);
}

int state_backend_delete(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen)
{
    return b->ops->del(b->impl, state_backend_key_group(b, key, keylen), key, keylen, ns, nslen);
}

int state_backend_foreach_group(te_state_backend_t *b, uint32_t kg, te_state_visit_fn fn, void *arg)
{
    if (kg >= b->maxp)
        return 0;
    return b->ops->foreach_group(b->impl, kg, fn, arg);
}

int state_backend_foreach(te_state_backend_t *b, te_state_visit_fn fn, void *arg)
{
    for (uint32_t kg = 0; kg < b->maxp; kg++) {
        int rc = b->ops->foreach_group(b->impl, kg, fn, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

uint64_t state_backend_group_entries(te_state_backend_t *b, uint32_t kg)
{
    return kg < b->maxp ? b->ops->group_entries(b->impl, kg) : 0;
}

uint64_t state_backend_entries(te_state_backend_t *b)
{
    uint64_t n = 0;
    for (uint32_t kg = 0; kg < b->maxp; kg++)
        n += b->ops->group_entries(b->impl, kg);
    return n;
}

/* ---- snapshot ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

typedef struct snap_writer {
    uint8_t *buf;
    size_t len, cap;
    int oom;
} snap_writer_t;

static uint8_t *sw_reserve(snap_writer_t *w, size_t n)
{
    if (w->oom)
        return NULL;
    if (w->len + n > w->cap) {
        size_t nc = w->cap ? w->cap : 256;
        while (nc < w->len + n)
            nc *= 2;
        uint8_t *nb = realloc(w->buf, nc);
        if (nb == NULL) {
            w->oom = 1;
            return NULL;
        }
        w->buf = nb;
        w->cap = nc;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

static int snap_visit(void *arg, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    (void)kg;
    snap_writer_t *w = arg;
    uint8_t *p = sw_reserve(w, 12 + (size_t)keylen + nslen + vallen);
    if (p == NULL)
        return -1;
    put_u32(p, keylen);
    put_u32(p + 4, nslen);
    put_u32(p + 8, vallen);
    p += 12;
    if (keylen)
        memcpy(p, key, keylen);
    if (nslen)
        memcpy(p + keylen, ns, nslen);
    if (vallen)
        memcpy(p + keylen + nslen, val, vallen);
    return 0;
}

te_status_t state_backend_snapshot(te_state_backend_t *b, uint8_t **data, size_t *len, te_error_t *err)
{
    snap_writer_t w = {0};
    uint8_t *hdr = sw_reserve(&w, 16);
    uint32_t n_groups = 0;
    if (hdr == NULL)
        goto cleanup;
    for (uint32_t kg = 0; kg < b->maxp; kg++) {
        uint64_t n = b->ops->group_entries(b->impl, kg);
        if (n == 0)
            continue;
        if (n > UINT32_MAX)
            return te_error_set(err, TE_ETOOBIG, "key group %u holds %llu entries (more than a snapshot allows)",
                                kg, (unsigned long long)n);
        size_t start = w.len;
        if (sw_reserve(&w, 16) == NULL)
            goto cleanup;
        if (b->ops->foreach_group(b->impl, kg, snap_visit, &w) != 0)
            goto cleanup;
        uint8_t *gh = w.buf + start;
        put_u32(gh, kg);
        put_u32(gh + 4, (uint32_t)n);
        put_u64(gh + 8, (uint64_t)(w.len - start - 16));
        uint32_t crc = state_crc32c(0, w.buf + start, w.len - start);
        uint8_t *c = sw_reserve(&w, 4);
        if (c == NULL)
            goto cleanup;
        put_u32(c, crc);
        n_groups++;
    }
    memcpy(w.buf, "TEKS", 4);
    put_u32(w.buf + 4, 1);
    put_u32(w.buf + 8, b->maxp);
    put_u32(w.buf + 12, n_groups);
    uint32_t crc = state_crc32c(0, w.buf, w.len);
    uint8_t *c = sw_reserve(&w, 4);
    if (c == NULL)
        goto cleanup;
    put_u32(c, crc);
    *data = w.buf;
    *len = w.len;
    return TE_OK;
cleanup:
    free(w.buf);
    return te_error_set(err, TE_ENOMEM, "out of memory writing a keyed-state snapshot");
}

/* One pass over a snapshot: validate only (apply = 0) or add the entries of the key
 * groups in range (apply = 1, after a validating pass). */
static te_status_t restore_pass(te_state_backend_t *b, const uint8_t *data, size_t len, uint32_t kg_first,
                                uint32_t kg_last, int apply, te_error_t *err)
{
    if (len < 20)
        return te_error_set(err, TE_EPROTO, "keyed-state snapshot truncated: %zu bytes, a header needs 20", len);
    if (memcmp(data, "TEKS", 4) != 0)
        return te_error_set(err, TE_EPROTO, "not a keyed-state snapshot (bad magic)");
    if (get_u32(data + 4) != 1)
        return te_error_set(err, TE_EPROTO, "keyed-state snapshot version %u is not supported (expected 1)",
                            get_u32(data + 4));
    if (state_crc32c(0, data, len - 4) != get_u32(data + len - 4))
        return te_error_set(err, TE_EPROTO,
                            "keyed-state snapshot checksum mismatch (%zu bytes): corrupted or truncated", len);
    uint32_t maxp = get_u32(data + 8);
    if (maxp != b->maxp)
        return te_error_set(err, TE_EINVAL,
                            "keyed-state snapshot was taken with max_parallelism %u, this operator has %u", maxp,
                            b->maxp);
    uint32_t n_groups = get_u32(data + 12);
    size_t off = 16, end = len - 4;
    int64_t prev = -1;
    for (uint32_t g = 0; g < n_groups; g++) {
        if (end - off < 20)
            return te_error_set(err, TE_EPROTO, "keyed-state snapshot truncated in group section %u", g);
        uint32_t kg = get_u32(data + off);
        uint32_t n = get_u32(data + off + 4);
        uint64_t body = get_u64(data + off + 8);
        if ((int64_t)kg <= prev || kg >= maxp)
            return te_error_set(err, TE_EPROTO, "keyed-state snapshot: key group %u out of order or >= %u", kg,
                                maxp);
        prev = kg;
        if (body > end - off - 20)
            return te_error_set(err, TE_EPROTO, "keyed-state snapshot: key group %u claims %llu bytes, %zu remain",
                                kg, (unsigned long long)body, end - off - 20);
        const uint8_t *sec = data + off;
        if (state_crc32c(0, sec, 16 + (size_t)body) != get_u32(sec + 16 + body))
            return te_error_set(err, TE_EPROTO, "keyed-state snapshot: checksum mismatch in key group %u", kg);
        const uint8_t *p = sec + 16, *pe = p + body;
        for (uint32_t i = 0; i < n; i++) {
            if (pe - p < 12)
                return te_error_set(err, TE_EPROTO, "keyed-state snapshot: key group %u entry %u truncated", kg,
                                    i);
            uint64_t kl = get_u32(p), nl = get_u32(p + 4), vl = get_u32(p + 8);
            if (kl + nl + vl > (uint64_t)(pe - p - 12))
                return te_error_set(err, TE_EPROTO,
                                    "keyed-state snapshot: key group %u entry %u overruns its group", kg, i);
            const uint8_t *k = p + 12;
            if (apply && kg >= kg_first && kg <= kg_last &&
                b->ops->put(b->impl, kg, k, (uint32_t)kl, k + kl, (uint32_t)nl, k + kl + nl, (uint32_t)vl) != 0)
                return te_error_set(err, TE_ENOMEM, "out of memory restoring keyed state");
            p = k + kl + nl + vl;
        }
        if (p != pe)
            return te_error_set(err, TE_EPROTO,
                                "keyed-state snapshot: key group %u has %zu bytes after its %u entries", kg,
                                (size_t)(pe - p), n);
        off += 20 + (size_t)body;
    }
    if (off != end)
        return te_error_set(err, TE_EPROTO, "keyed-state snapshot: %zu unexpected bytes after the last key group",
                            end - off);
    return TE_OK;
}

te_status_t state_backend_restore(te_state_backend_t *b, const uint8_t *data, size_t len, uint32_t kg_first,
                                  uint32_t kg_last, te_error_t *err)
{
    if (data == NULL)
        return te_error_set(err, TE_EINVAL, "keyed-state snapshot: no data");
    te_status_t st = restore_pass(b, data, len, kg_first, kg_last, 0, err);
    if (st != TE_OK)
        return st;
    return restore_pass(b, data, len, kg_first, kg_last, 1, err);
}

/*
 * state_backend — the keyed-state interface: dispatch to an implementation, key-group
 * assignment and the per-key-group snapshot format with CRC-32C checksums (see
 * state_backend.h for the format).
 *
 * Threading: a backend is used by its operator's task thread only.
 */
#include "state/state_backend.h"

#include <stdlib.h>
#include <string.h>

#include "common/byte_codec.h"
#include "common/crc32c.h"
#include "common/key_group.h"
#include "state/checkpoint_reader.h"
#include "state/checkpoint_writer.h"
#include "state/state_backend_internal.h"

struct te_state_backend {
    const te_state_backend_ops_t *ops;
    void *impl;
    uint32_t maxp;
    /* The last call was a get that found its entry: a put next goes to the
     * implementation's put_again, which updates that entry without a lookup when the
     * put's key and namespace are its own. */
    int again;
    /* The key groups of recent keys of up to 16 bytes (a read-modify-write gets and puts
     * the same key; skewed streams see the same keys again). */
    te_key_group_cache_t kg_cache;
};

/* ---- the interface ---- */

te_state_backend_t *state_backend_wrap(const te_state_backend_ops_t *ops, void *impl, uint32_t max_parallelism)
{
    te_state_backend_t *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        ops->destroy(impl);
        return NULL;
    }
    b->ops = ops;
    b->impl = impl;
    b->maxp = max_parallelism;
    key_group_cache_init(&b->kg_cache, max_parallelism);
    return b;
}

te_state_backend_t *state_backend_new(const char *kind, uint32_t max_parallelism, te_error_t *err)
{
    if (kind == NULL)
        kind = "hashmap";
    if (strcmp(kind, "hashmap") != 0) {
        te_error_set(err, TE_EINVAL, "unknown standalone state backend '%s' (known: hashmap)", kind);
        return NULL;
    }
    if (max_parallelism == 0)
        max_parallelism = TE_STATE_DEFAULT_MAX_PARALLELISM;
    if (max_parallelism > TE_STATE_MAX_MAX_PARALLELISM) {
        te_error_set(err, TE_EINVAL, "state backend: max_parallelism %u is above %u", max_parallelism,
                     TE_STATE_MAX_MAX_PARALLELISM);
        return NULL;
    }
    void *impl = hashmap_state_backend_create(max_parallelism, NULL);
    te_state_backend_t *b = impl ? state_backend_wrap(&hashmap_state_backend_ops, impl, max_parallelism) : NULL;
    if (b == NULL)
        te_error_set(err, TE_ENOMEM, "out of memory creating the state backend");
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

/* state_backend_key_group through the cache. */
static inline uint32_t key_group_of(te_state_backend_t *b, const uint8_t *key, uint32_t keylen)
{
    if (keylen > 16)
        return state_backend_key_group(b, key, keylen);
    static const uint8_t empty[1] = {0};
    uint64_t w[2];
    byte_key_words(key, keylen, w);
    return key_group_cached_words(&b->kg_cache, keylen ? key : empty, keylen, w);
}

int state_backend_get(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t **val, uint32_t *vallen)
{
    int rc = b->ops->get(b->impl, key_group_of(b, key, keylen), key, keylen, ns, nslen, val, vallen);
    b->again = rc == 1 && b->ops->put_again != NULL;
    return rc;
}

int state_backend_put(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    if (b->again) {
        b->again = 0;
        int rc = b->ops->put_again(b->impl, key, keylen, ns, nslen, val, vallen);
        if (rc != 1)
            return rc;
    }
    return b->ops->put(b->impl, key_group_of(b, key, keylen), key, keylen, ns, nslen, val, vallen);
}

int state_backend_add_i64(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                          uint32_t nslen, int64_t delta, int64_t *sum)
{
    b->again = 0;
    uint32_t kg = key_group_of(b, key, keylen);
    if (b->ops->add_i64 != NULL)
        return b->ops->add_i64(b->impl, kg, key, keylen, ns, nslen, delta, sum);
    const uint8_t *v;
    uint32_t vl;
    uint64_t n = 0;
    int rc = b->ops->get(b->impl, kg, key, keylen, ns, nslen, &v, &vl);
    if (rc < 0)
        return -1;
    if (rc == 1 && vl == sizeof(n))
        memcpy(&n, v, sizeof(n));
    n += (uint64_t)delta;
    *sum = (int64_t)n;
    return b->ops->put(b->impl, kg, key, keylen, ns, nslen, (const uint8_t *)&n, sizeof(n));
}

int state_backend_put_kg(te_state_backend_t *b, uint32_t kg, const uint8_t *key, uint32_t keylen,
                         const uint8_t *ns, uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    b->again = 0;
    return b->ops->put(b->impl, kg, key, keylen, ns, nslen, val, vallen);
}

int state_backend_delete(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen)
{
    b->again = 0;
    return b->ops->del(b->impl, key_group_of(b, key, keylen), key, keylen, ns, nslen);
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

void state_backend_stats(te_state_backend_t *b, te_state_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    b->ops->stats(b->impl, out);
}

int state_backend_flush(te_state_backend_t *b)
{
    b->again = 0;
    return b->ops->flush ? b->ops->flush(b->impl) : 0;
}

int state_backend_capture(te_state_backend_t *b, te_state_batch_t *out, te_state_gate_t *gate)
{
    b->again = 0;
    return b->ops->capture ? b->ops->capture(b->impl, out, gate) : state_backend_flush(b);
}

const char *state_backend_error(te_state_backend_t *b)
{
    const char *e = b->ops->error(b->impl);
    return e && e[0] ? e : "unknown error";
}

const char *state_backend_kind(const te_state_backend_t *b) { return b->ops->name; }

/* ---- snapshot ---- */

#define TEKS_VERSION 2u /* 1: fixed u32 entry lengths (read, no longer written) */

/* A v2 entry header: varint keylen | varint nslen | varint vallen. Returns its bytes. */
static size_t entry_header(uint8_t *out, uint32_t kl, uint32_t nl, uint32_t vl)
{
    size_t n = byte_put_varint(out, kl);
    n += byte_put_varint(out + n, nl);
    return n + byte_put_varint(out + n, vl);
}

/* Decodes an entry header of `version` from p (avail bytes): 0 and the lengths and
 * its size, or -1 when it is cut short / malformed. */
static int entry_header_get(uint32_t version, const uint8_t *p, size_t avail, uint64_t len[3], size_t *hdr)
{
    if (version == 1) {
        if (avail < 12)
            return -1;
        for (int i = 0; i < 3; i++)
            len[i] = byte_get_le32(p + 4 * i);
        *hdr = 12;
        return 0;
    }
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        uint32_t x;
        size_t used = byte_get_varint(p + n, avail - n, &x);
        if (used == 0)
            return -1;
        len[i] = x;
        n += used;
    }
    *hdr = n;
    return 0;
}

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

typedef struct snap_group {
    snap_writer_t *w;
    uint64_t n;
} snap_group_t;

static int snap_visit(void *arg, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    (void)kg;
    snap_group_t *g = arg;
    uint8_t h[15];
    size_t hl = entry_header(h, keylen, nslen, vallen);
    uint8_t *p = sw_reserve(g->w, hl + (size_t)keylen + nslen + vallen);
    if (p == NULL)
        return -1;
    g->n++;
    memcpy(p, h, hl);
    p += hl;
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
        size_t start = w.len;
        if (sw_reserve(&w, 16) == NULL)
            goto cleanup;
        snap_group_t g = {&w, 0};
        if (b->ops->foreach_group(b->impl, kg, snap_visit, &g) != 0) {
            if (w.oom)
                goto cleanup;
            free(w.buf);
            return te_error_set(err, TE_EIO, "snapshotting keyed state: %s", state_backend_error(b));
        }
        if (g.n == 0) {
            w.len = start; /* empty groups are omitted */
            continue;
        }
        if (g.n > UINT32_MAX) {
            free(w.buf);
            return te_error_set(err, TE_ETOOBIG, "key group %u holds %llu entries (more than a snapshot allows)",
                                kg, (unsigned long long)g.n);
        }
        uint8_t *gh = w.buf + start;
        byte_put_le32(gh, kg);
        byte_put_le32(gh + 4, (uint32_t)g.n);
        byte_put_le64(gh + 8, (uint64_t)(w.len - start - 16));
        uint32_t crc = crc32c_update(0, w.buf + start, w.len - start);
        uint8_t *c = sw_reserve(&w, 4);
        if (c == NULL)
            goto cleanup;
        byte_put_le32(c, crc);
        n_groups++;
    }
    memcpy(w.buf, "TEKS", 4);
    byte_put_le32(w.buf + 4, TEKS_VERSION);
    byte_put_le32(w.buf + 8, b->maxp);
    byte_put_le32(w.buf + 12, n_groups);
    uint32_t crc = crc32c_update(0, w.buf, w.len);
    uint8_t *c = sw_reserve(&w, 4);
    if (c == NULL)
        goto cleanup;
    byte_put_le32(c, crc);
    *data = w.buf;
    *len = w.len;
    return TE_OK;
cleanup:
    free(w.buf);
    return te_error_set(err, TE_ENOMEM, "out of memory writing a keyed-state snapshot");
}

/* ---- restore: a snapshot in memory or a section of a snapshot file ---- */

/* Where TEKS bytes come from: memory, or a section of a verified snapshot file read
 * through a window. */
typedef struct teks_src {
    const uint8_t *mem;
    te_ckpt_reader_t *r;
    uint64_t base, len; /* the section in the file; len = bytes either way */
    uint8_t *win;
    size_t win_cap, win_len;
    uint64_t win_off; /* logical offset of win[0] */
} teks_src_t;

#define TEKS_WINDOW (1u << 20)

/* n contiguous bytes at logical offset off (the caller checked off + n <= len). */
static const uint8_t *src_at(teks_src_t *s, uint64_t off, size_t n, te_error_t *err)
{
    if (s->mem)
        return s->mem + off;
    if (off >= s->win_off && off + n <= s->win_off + s->win_len)
        return s->win + (off - s->win_off);
    size_t want = n > TEKS_WINDOW ? n : TEKS_WINDOW;
    if (want > s->len - off)
        want = (size_t)(s->len - off);
    if (want > s->win_cap) {
        uint8_t *p = realloc(s->win, want);
        if (p == NULL) {
            te_error_set(err, TE_ENOMEM, "out of memory reading keyed state (%zu bytes)", want);
            return NULL;
        }
        s->win = p;
        s->win_cap = want;
    }
    if (checkpoint_reader_pread(s->r, s->base + off, s->win, want, err) != TE_OK)
        return NULL;
    s->win_off = off;
    s->win_len = want;
    return s->win;
}

/* One pass over a snapshot: validate only (apply = 0: structure and every checksum) or
 * add the entries of the key groups in range (apply = 1; groups out of range are
 * skipped unread). */
static te_status_t restore_pass(te_state_backend_t *b, teks_src_t *src, uint32_t kg_first, uint32_t kg_last,
                                int apply, te_error_t *err)
{
    uint64_t len = src->len;
    if (len < 20)
        return te_error_set(err, TE_EPROTO, "keyed-state snapshot truncated: %llu bytes, a header needs 20",
                            (unsigned long long)len);
    const uint8_t *h = src_at(src, 0, 16, err);
    if (h == NULL)
        return err ? err->code : TE_EIO;
    if (memcmp(h, "TEKS", 4) != 0)
        return te_error_set(err, TE_EPROTO, "not a keyed-state snapshot (bad magic)");
    uint32_t version = byte_get_le32(h + 4);
    if (version != 1 && version != 2)
        return te_error_set(err, TE_EPROTO,
                            "keyed-state snapshot version %u is not supported (this build reads 1 and 2)",
                            version);
    uint32_t maxp = byte_get_le32(h + 8), n_groups = byte_get_le32(h + 12);
    if (maxp != b->maxp)
        return te_error_set(err, TE_EINVAL,
                            "keyed-state snapshot was taken with max_parallelism %u, this operator has %u", maxp,
                            b->maxp);
    uint32_t whole = apply ? 0 : crc32c_update(0, h, 16);
    uint64_t off = 16, end = len - 4;
    int64_t prev = -1;
    for (uint32_t g = 0; g < n_groups; g++) {
        if (end - off < 20)
            return te_error_set(err, TE_EPROTO, "keyed-state snapshot truncated in group section %u", g);
        const uint8_t *gh = src_at(src, off, 16, err);
        if (gh == NULL)
            return err ? err->code : TE_EIO;
        uint32_t kg = byte_get_le32(gh), n = byte_get_le32(gh + 4);
        uint64_t body = byte_get_le64(gh + 8);
        if ((int64_t)kg <= prev || kg >= maxp)
            return te_error_set(err, TE_EPROTO, "keyed-state snapshot: key group %u out of order or >= %u", kg,
                                maxp);
        prev = kg;
        if (body > end - off - 20)
            return te_error_set(err, TE_EPROTO,
                                "keyed-state snapshot: key group %u claims %llu bytes, %llu remain", kg,
                                (unsigned long long)body, (unsigned long long)(end - off - 20));
        int wanted = kg >= kg_first && kg <= kg_last;
        if (apply && !wanted) {
            off += 20 + body;
            continue;
        }
        uint64_t p = off + 16, pe = p + body;
        uint32_t crc = 0;
        if (!apply) { /* the group's checksum, streamed */
            crc = crc32c_update(0, gh, 16);
            for (uint64_t q = p; q < pe;) {
                size_t k = pe - q < TEKS_WINDOW ? (size_t)(pe - q) : TEKS_WINDOW;
                const uint8_t *d = src_at(src, q, k, err);
                if (d == NULL)
                    return err ? err->code : TE_EIO;
                crc = crc32c_update(crc, d, k);
                q += k;
            }
            const uint8_t *c = src_at(src, pe, 4, err);
            if (c == NULL)
                return err ? err->code : TE_EIO;
            if (crc != byte_get_le32(c))
                return te_error_set(err, TE_EPROTO, "keyed-state snapshot: checksum mismatch in key group %u", kg);
            whole = crc32c_update(crc32c_combine(whole, crc, 16 + body), c, 4);
        }
        if (apply && b->ops->reserve_group) /* an entry takes 3 bytes at least: a forged n asks no more */
            b->ops->reserve_group(b->impl, kg, n < body / 3 ? n : body / 3);
        for (uint32_t i = 0; i < n; i++) {
            size_t avail = pe - p < 15 ? (size_t)(pe - p) : 15, hl = 0;
            const uint8_t *eh = avail > 0 ? src_at(src, p, avail, err) : NULL;
            uint64_t len[3];
            if (eh == NULL && err && err->code == TE_ENOMEM)
                return TE_ENOMEM;
            if (eh == NULL || entry_header_get(version, eh, avail, len, &hl) != 0)
                return te_error_set(err, TE_EPROTO, "keyed-state snapshot: key group %u entry %u truncated", kg,
                                    i);
            uint64_t kl = len[0], nl = len[1], vl = len[2];
            if (kl + nl + vl > pe - p - hl)
                return te_error_set(err, TE_EPROTO,
                                    "keyed-state snapshot: key group %u entry %u overruns its group", kg, i);
            if (apply) {
                const uint8_t *k = src_at(src, p + hl, (size_t)(kl + nl + vl), err);
                if (k == NULL)
                    return err ? err->code : TE_EIO;
                if (b->ops->put(b->impl, kg, k, (uint32_t)kl, k + kl, (uint32_t)nl, k + kl + nl, (uint32_t)vl) !=
                    0)
                    return te_error_set(err, TE_EIO, "restoring keyed state: %s", state_backend_error(b));
            }
            p += hl + kl + nl + vl;
        }
        if (p != pe)
            return te_error_set(err, TE_EPROTO,
                                "keyed-state snapshot: key group %u has %llu bytes after its %u entries", kg,
                                (unsigned long long)(pe - p), n);
        off += 20 + body;
    }
    if (off != end)
        return te_error_set(err, TE_EPROTO, "keyed-state snapshot: %llu unexpected bytes after the last key group",
                            (unsigned long long)(end - off));
    if (!apply) {
        const uint8_t *t = src_at(src, end, 4, err);
        if (t == NULL)
            return err ? err->code : TE_EIO;
        if (whole != byte_get_le32(t))
            return te_error_set(err, TE_EPROTO,
                                "keyed-state snapshot checksum mismatch (%llu bytes): corrupted or truncated",
                                (unsigned long long)len);
    }
    return TE_OK;
}

te_status_t state_backend_restore(te_state_backend_t *b, const uint8_t *data, size_t len, uint32_t kg_first,
                                  uint32_t kg_last, te_error_t *err)
{
    if (data == NULL)
        return te_error_set(err, TE_EINVAL, "keyed-state snapshot: no data");
    teks_src_t src = {.mem = data, .len = len};
    te_status_t st = restore_pass(b, &src, kg_first, kg_last, 0, err);
    if (st != TE_OK)
        return st;
    return restore_pass(b, &src, kg_first, kg_last, 1, err);
}

te_status_t state_backend_restore_section(te_state_backend_t *b, te_ckpt_reader_t *r,
                                          const te_ckpt_section_info_t *sec, uint32_t kg_first, uint32_t kg_last,
                                          te_error_t *err)
{
    /* the reader checked the section's checksum when it opened the file: one pass */
    teks_src_t src = {.r = r, .base = sec->offset, .len = sec->len};
    te_status_t st = restore_pass(b, &src, kg_first, kg_last, 1, err);
    free(src.win);
    return st;
}

/* ---- views: the snapshot written from another thread ---- */

struct te_state_view {
    const te_state_backend_ops_t *ops;
    void *impl;
    uint32_t maxp;
};

te_state_view_t *state_backend_view(te_state_backend_t *b, te_error_t *err)
{
    te_state_view_t *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory taking a snapshot of keyed state");
        return NULL;
    }
    v->ops = b->ops;
    v->maxp = b->maxp;
    b->again = 0;
    v->impl = b->ops->view_take(b->impl, err);
    if (v->impl == NULL) {
        free(v);
        return NULL;
    }
    return v;
}

void state_backend_view_release(te_state_view_t *v)
{
    if (v == NULL)
        return;
    v->ops->view_release(v->impl);
    free(v);
}

typedef struct view_writer {
    te_ckpt_writer_t *w;
    te_state_ns_map_fn map;
    int64_t map_arg;
    uint8_t *ns_buf;
    size_t ns_cap;
    uint32_t kg;
    uint64_t n, body;
    uint64_t hdr; /* the group header's handle */
    int oom;
} view_writer_t;

static int view_visit(void *arg, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    (void)kg;
    view_writer_t *vw = arg;
    if (vw->n == 0) { /* the group's first entry: its section starts */
        checkpoint_writer_push(vw->w);
        vw->hdr = checkpoint_writer_reserve(vw->w, 16);
    }
    if (vw->map && nslen > 0) {
        if (nslen > vw->ns_cap) {
            uint8_t *p = realloc(vw->ns_buf, nslen);
            if (p == NULL)
                return vw->oom = -1;
            vw->ns_buf = p;
            vw->ns_cap = nslen;
        }
        memcpy(vw->ns_buf, ns, nslen);
        vw->map(vw->map_arg, vw->ns_buf, nslen);
        ns = vw->ns_buf;
    }
    uint8_t h[256];
    size_t hl = entry_header(h, keylen, nslen, vallen);
    if (hl + (uint64_t)keylen + nslen + vallen <= sizeof(h)) { /* the usual small entry: one write */
        memcpy(h + hl, key, keylen);
        memcpy(h + hl + keylen, ns, nslen);
        memcpy(h + hl + keylen + nslen, val, vallen);
        checkpoint_writer_write(vw->w, h, hl + keylen + nslen + vallen);
    } else {
        checkpoint_writer_write(vw->w, h, hl);
        checkpoint_writer_write(vw->w, key, keylen);
        checkpoint_writer_write(vw->w, ns, nslen);
        checkpoint_writer_write(vw->w, val, vallen);
    }
    vw->n++;
    vw->body += hl + (uint64_t)keylen + nslen + vallen;
    return checkpoint_writer_status(vw->w, NULL) == TE_OK ? 0 : -1;
}

te_status_t state_backend_view_write(te_state_view_t *v, te_ckpt_writer_t *w, uint32_t kg_first, uint32_t kg_last,
                                     te_state_ns_map_fn map, int64_t map_arg, te_error_t *err)
{
    uint8_t h[16];
    checkpoint_writer_push(w);
    uint64_t teks = checkpoint_writer_reserve(w, 16);
    uint32_t n_groups = 0;
    view_writer_t vw = {.w = w, .map = map, .map_arg = map_arg};
    te_status_t st = TE_OK;
    if (kg_last >= v->maxp)
        kg_last = v->maxp - 1;
    for (uint32_t kg = kg_first; kg <= kg_last && st == TE_OK; kg++) {
        if (v->ops->view_group_entries(v->impl, kg) == 0)
            continue;
        vw.kg = kg;
        vw.n = vw.body = 0;
        int rc = v->ops->view_foreach_group(v->impl, kg, view_visit, &vw);
        if (v->ops->view_group_done)
            v->ops->view_group_done(v->impl, kg);
        if ((st = checkpoint_writer_status(w, err)) != TE_OK)
            break;
        if (rc != 0) {
            st = vw.oom ? te_error_set(err, TE_ENOMEM, "out of memory snapshotting keyed state")
                        : te_error_set(err, TE_EIO, "snapshotting keyed state: %s", v->ops->view_error(v->impl));
            break;
        }
        if (vw.n == 0)
            continue;
        if (vw.n > UINT32_MAX) {
            st = te_error_set(err, TE_ETOOBIG, "key group %u holds %llu entries (more than a snapshot allows)", kg,
                              (unsigned long long)vw.n);
            break;
        }
        byte_put_le32(h, kg);
        byte_put_le32(h + 4, (uint32_t)vw.n);
        byte_put_le64(h + 8, vw.body);
        checkpoint_writer_fill(w, vw.hdr, h);
        uint8_t c[4];
        byte_put_le32(c, checkpoint_writer_pop(w));
        checkpoint_writer_write(w, c, 4);
        n_groups++;
    }
    free(vw.ns_buf);
    if (st != TE_OK)
        return st;
    memcpy(h, "TEKS", 4);
    byte_put_le32(h + 4, TEKS_VERSION);
    byte_put_le32(h + 8, v->maxp);
    byte_put_le32(h + 12, n_groups);
    checkpoint_writer_fill(w, teks, h);
    uint8_t c[4];
    byte_put_le32(c, checkpoint_writer_pop(w));
    checkpoint_writer_write(w, c, 4);
    return checkpoint_writer_status(w, err);
}

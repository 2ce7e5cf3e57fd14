/*
 * rocksdb_state_backend — the `rocksdb` keyed-state backend (Flink's
 * RocksDBKeyedStateBackend): one keyed state = one column family of the task's RocksDB
 * instance (rocksdb_instance.c).
 *
 * Key layout: u16 big-endian key group | varint32 key length | key | namespace; the
 * value is the state value's bytes. The key-group prefix makes a key group — and a
 * range of them — one contiguous key range: a key group is walked with an iterator
 * bounded to [kg, kg + 1), a restore at another parallelism reads exactly its ranges,
 * dropping groups is a delete-range.
 *
 * get returns a pinned slice (no copy), held until the next call on the backend;
 * delete reads first, so its result says whether the entry existed, as the ABI wants.
 *
 * Threading: the owning task thread; RocksDB itself is thread-safe (snapshot threads
 * read the same column family through their own iterators).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_backend_internal.h"

#include "common/byte_codec.h"

typedef struct rdb_backend {
    te_rocksdb_instance_t *inst; /* borrowed: the state store owns it */
    rocksdb_column_family_handle_t *cf;
    uint32_t maxp;
    uint8_t *key; /* the encoded key of the current call */
    size_t key_cap;
    rocksdb_pinnableslice_t *pin; /* the last get's value */
    char error[256];
} rdb_backend_t;

#define RDB_PREFIX 2u

static void kg_put(uint8_t *p, uint32_t kg)
{
    p[0] = (uint8_t)(kg >> 8);
    p[1] = (uint8_t)kg;
}

/* Encodes (kg, key, ns) into b->key; returns its length, 0 when out of memory. */
static size_t encode_key(rdb_backend_t *b, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen)
{
    size_t need = RDB_PREFIX + 5 + (size_t)keylen + nslen;
    if (need > b->key_cap) {
        size_t nc = b->key_cap ? b->key_cap : 64;
        while (nc < need)
            nc *= 2;
        uint8_t *p = realloc(b->key, nc);
        if (p == NULL) {
            snprintf(b->error, sizeof(b->error), "out of memory encoding a %u-byte key", keylen);
            return 0;
        }
        b->key = p;
        b->key_cap = nc;
    }
    kg_put(b->key, kg);
    size_t n = RDB_PREFIX + byte_put_varint(b->key + RDB_PREFIX, keylen);
    if (keylen)
        memcpy(b->key + n, key, keylen);
    if (nslen)
        memcpy(b->key + n + keylen, ns, nslen);
    return n + keylen + nslen;
}

static int set_error(rdb_backend_t *b, char *e, const char *what)
{
    snprintf(b->error, sizeof(b->error), "RocksDB %s in '%s': %s", what, rocksdb_instance_dir(b->inst),
             e ? e : "unknown error");
    rocksdb_free(e);
    return -1;
}

void *rocksdb_state_backend_create(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf,
                                   uint32_t max_parallelism, te_error_t *err)
{
    rdb_backend_t *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory creating a rocksdb state backend");
        return NULL;
    }
    b->inst = inst;
    b->cf = cf;
    b->maxp = max_parallelism;
    return b;
}

static void rdb_destroy(void *impl)
{
    rdb_backend_t *b = impl;
    if (b == NULL)
        return;
    if (b->pin)
        rocksdb_pinnableslice_destroy(b->pin);
    free(b->key);
    free(b);
}

static void drop_pin(rdb_backend_t *b)
{
    if (b->pin) {
        rocksdb_pinnableslice_destroy(b->pin);
        b->pin = NULL;
    }
}

static int rdb_get(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                   const uint8_t **val, uint32_t *vallen)
{
    rdb_backend_t *b = impl;
    drop_pin(b);
    size_t kl = encode_key(b, kg, key, keylen, ns, nslen);
    if (kl == 0)
        return -1;
    char *e = NULL;
    b->pin = rocksdb_get_pinned_cf(rocksdb_instance_db(b->inst), rocksdb_instance_read_options(b->inst), b->cf,
                                   (const char *)b->key, kl, &e);
    if (e != NULL)
        return set_error(b, e, "read");
    if (b->pin == NULL)
        return 0;
    size_t vl = 0;
    const char *v = rocksdb_pinnableslice_value(b->pin, &vl);
    *val = (const uint8_t *)v;
    *vallen = (uint32_t)vl;
    return 1;
}

static int rdb_put(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                   const uint8_t *val, uint32_t vallen)
{
    rdb_backend_t *b = impl;
    size_t kl = encode_key(b, kg, key, keylen, ns, nslen);
    if (kl == 0)
        return -1;
    char *e = NULL;
    rocksdb_put_cf(rocksdb_instance_db(b->inst), rocksdb_instance_write_options(b->inst), b->cf,
                   (const char *)b->key, kl, (const char *)val, vallen, &e);
    return e != NULL ? set_error(b, e, "write") : 0;
}

static int rdb_del(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen)
{
    rdb_backend_t *b = impl;
    const uint8_t *v;
    uint32_t vl;
    int found = rdb_get(impl, kg, key, keylen, ns, nslen, &v, &vl);
    drop_pin(b);
    if (found <= 0)
        return found;
    size_t kl = encode_key(b, kg, key, keylen, ns, nslen);
    char *e = NULL;
    rocksdb_delete_cf(rocksdb_instance_db(b->inst), rocksdb_instance_write_options(b->inst), b->cf,
                      (const char *)b->key, kl, &e);
    return e != NULL ? set_error(b, e, "delete") : 1;
}

static int rdb_write_batch(void *impl, const te_state_write_t *w, size_t n)
{
    rdb_backend_t *b = impl;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++) {
        size_t kl = encode_key(b, w[i].kg, w[i].key, w[i].keylen, w[i].ns, w[i].nslen);
        if (kl == 0) {
            rocksdb_writebatch_destroy(wb);
            return -1;
        }
        if (w[i].del)
            rocksdb_writebatch_delete_cf(wb, b->cf, (const char *)b->key, kl);
        else
            rocksdb_writebatch_put_cf(wb, b->cf, (const char *)b->key, kl, (const char *)w[i].val, w[i].vallen);
    }
    char *e = NULL;
    rocksdb_write(rocksdb_instance_db(b->inst), rocksdb_instance_write_options(b->inst), wb, &e);
    rocksdb_writebatch_destroy(wb);
    return e != NULL ? set_error(b, e, "write") : 0;
}

static int rdb_batch_encode(void *impl, te_state_batch_t *out, const te_state_write_t *w, size_t n)
{
    rdb_backend_t *b = impl;
    for (size_t i = 0; i < n; i++) {
        size_t kl = encode_key(b, w[i].kg, w[i].key, w[i].keylen, w[i].ns, w[i].nslen);
        if (kl == 0)
            return -1;
        if (state_batch_add(out, b->cf, b->key, kl, w[i].del ? NULL : w[i].val, w[i].vallen) != 0) {
            snprintf(b->error, sizeof(b->error), "out of memory copying cached state at a checkpoint");
            return -1;
        }
    }
    return 0;
}

/* Walks key group kg of cf (as of snapshot when not NULL): fn per entry. Returns fn's
 * non-zero, -1 on an iterator error (message in errbuf), else 0. */
static int walk_group(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf,
                      const rocksdb_snapshot_t *snapshot, uint32_t kg, te_state_visit_fn fn, void *arg,
                      char *errbuf, size_t errlen)
{
    uint8_t lo[RDB_PREFIX], hi[RDB_PREFIX + 1];
    kg_put(lo, kg);
    size_t hil = RDB_PREFIX;
    if (kg + 1 <= 0xffff) {
        kg_put(hi, kg + 1);
    } else { /* the last possible group: every key starting with ff ff */
        hi[0] = hi[1] = 0xff;
        hi[2] = 0xff;
        hil = 3;
    }
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)lo, sizeof(lo));
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, hil);
    rocksdb_readoptions_set_fill_cache(ro, 0);
    if (snapshot)
        rocksdb_readoptions_set_snapshot(ro, snapshot);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(rocksdb_instance_db(inst), ro, cf);
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)lo, sizeof(lo)); rc == 0 && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl, used;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        uint32_t keylen;
        if (kl < RDB_PREFIX || (used = byte_get_varint(k + RDB_PREFIX, kl - RDB_PREFIX, &keylen)) == 0 ||
            keylen > kl - RDB_PREFIX - used) {
            snprintf(errbuf, errlen, "RocksDB instance '%s': a malformed key (%zu bytes) in key group %u",
                     rocksdb_instance_dir(inst), kl, kg);
            rc = -1;
            break;
        }
        const uint8_t *key = k + RDB_PREFIX + used;
        rc = fn(arg, kg, key, keylen, key + keylen, (uint32_t)(kl - RDB_PREFIX - used - keylen), v, (uint32_t)vl);
    }
    char *e = NULL;
    if (rc == 0)
        rocksdb_iter_get_error(it, &e);
    if (e != NULL) {
        snprintf(errbuf, errlen, "RocksDB read in '%s': %s", rocksdb_instance_dir(inst), e);
        rocksdb_free(e);
        rc = -1;
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

static int rdb_foreach_group(void *impl, uint32_t kg, te_state_visit_fn fn, void *arg)
{
    rdb_backend_t *b = impl;
    drop_pin(b);
    return walk_group(b->inst, b->cf, NULL, kg, fn, arg, b->error, sizeof(b->error));
}

static int count_visit(void *arg, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                       uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    (void)kg, (void)key, (void)keylen, (void)ns, (void)nslen, (void)val, (void)vallen;
    (*(uint64_t *)arg)++;
    return 0;
}

static uint64_t rdb_group_entries(void *impl, uint32_t kg)
{
    rdb_backend_t *b = impl;
    uint64_t n = 0;
    (void)walk_group(b->inst, b->cf, NULL, kg, count_visit, &n, b->error, sizeof(b->error));
    return n;
}

static void rdb_stats(void *impl, te_state_stats_t *out)
{
    rdb_backend_t *b = impl;
    uint64_t v = 0;
    rocksdb_t *db = rocksdb_instance_db(b->inst);
    out->bytes = 0;
    if (rocksdb_property_int_cf(db, b->cf, "rocksdb.total-sst-files-size", &v) == 0)
        out->bytes += v;
    if (rocksdb_property_int_cf(db, b->cf, "rocksdb.cur-size-all-mem-tables", &v) == 0)
        out->bytes += v;
    out->entries = rocksdb_instance_estimate_keys(b->inst, b->cf);
}

static const char *rdb_error(void *impl) { return ((rdb_backend_t *)impl)->error; }

/* ---- views: a RocksDB snapshot, read by snapshot threads ---- */

typedef struct rdb_view {
    te_rocksdb_instance_t *inst;
    rocksdb_column_family_handle_t *cf;
    const rocksdb_snapshot_t *snap;
    char error[256];
} rdb_view_t;

static void *rdb_view_take(void *impl, te_error_t *err)
{
    rdb_backend_t *b = impl;
    rdb_view_t *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory taking a snapshot of rocksdb state");
        return NULL;
    }
    v->inst = b->inst;
    v->cf = b->cf;
    v->snap = rocksdb_create_snapshot(rocksdb_instance_db(b->inst));
    return v;
}

static int rdb_view_foreach_group(void *view, uint32_t kg, te_state_visit_fn fn, void *arg)
{
    rdb_view_t *v = view;
    return walk_group(v->inst, v->cf, v->snap, kg, fn, arg, v->error, sizeof(v->error));
}

static uint64_t rdb_view_group_entries(void *view, uint32_t kg)
{
    (void)view, (void)kg;
    return UINT64_MAX;
}

static void rdb_view_release(void *view)
{
    rdb_view_t *v = view;
    rocksdb_release_snapshot(rocksdb_instance_db(v->inst), v->snap);
    free(v);
}

static const char *rdb_view_error(void *view) { return ((rdb_view_t *)view)->error; }

te_status_t rocksdb_state_backend_keep_range(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf,
                                             uint32_t kg_first, uint32_t kg_last, te_error_t *err)
{
    uint8_t lo[RDB_PREFIX], hi[RDB_PREFIX + 1];
    char *e = NULL;
    rocksdb_t *db = rocksdb_instance_db(inst);
    const rocksdb_writeoptions_t *wo = rocksdb_instance_write_options(inst);
    if (kg_first > 0) {
        kg_put(lo, 0);
        kg_put(hi, kg_first);
        rocksdb_delete_range_cf(db, wo, cf, (const char *)lo, RDB_PREFIX, (const char *)hi, RDB_PREFIX, &e);
    }
    if (e == NULL && kg_last < 0xffff) {
        kg_put(lo, kg_last + 1);
        hi[0] = hi[1] = hi[2] = 0xff; /* past every key of the last possible group */
        rocksdb_delete_range_cf(db, wo, cf, (const char *)lo, RDB_PREFIX, (const char *)hi, sizeof(hi), &e);
    }
    if (e != NULL) {
        te_error_set(err, TE_EIO, "RocksDB delete-range in '%s': %s", rocksdb_instance_dir(inst), e);
        rocksdb_free(e);
        return TE_EIO;
    }
    return TE_OK;
}

const te_state_backend_ops_t rocksdb_state_backend_ops = {
    .name = "rocksdb",
    .destroy = rdb_destroy,
    .get = rdb_get,
    .put = rdb_put,
    .del = rdb_del,
    .write_batch = rdb_write_batch,
    .batch_encode = rdb_batch_encode,
    .foreach_group = rdb_foreach_group,
    .group_entries = rdb_group_entries,
    .stats = rdb_stats,
    .error = rdb_error,
    .view_take = rdb_view_take,
    .view_foreach_group = rdb_view_foreach_group,
    .view_group_entries = rdb_view_group_entries,
    .view_release = rdb_view_release,
    .view_error = rdb_view_error,
};

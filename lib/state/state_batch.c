/*
 * state_batch — writes into a RocksDB instance copied for a later write on another
 * thread (state_batch.h).
 *
 * Layout: one growing buffer of records, each
 *     column-family handle (pointer) | u8 delete | u32 key length | u32 value length |
 *     key | value
 * with no alignment (read back with memcpy). Filling it is a copy of the bytes (the
 * task's synchronous part); the RocksDB write batches are built by the writer.
 *
 * Threading: as state_batch.h.
 */
#include <stdlib.h>
#include <string.h>

#include "state/state_batch.h"

#include "common/byte_codec.h"

#define REC_HEAD    (sizeof(void *) + 1 + 4 + 4)
#define WRITE_CHUNK 8192u

struct te_state_batch {
    uint8_t *buf;
    size_t len, cap;
    size_t n;
};

te_state_batch_t *state_batch_new(void) { return calloc(1, sizeof(te_state_batch_t)); }

void state_batch_free(te_state_batch_t *b)
{
    if (b == NULL)
        return;
    free(b->buf);
    free(b);
}

int state_batch_add(te_state_batch_t *b, rocksdb_column_family_handle_t *cf, const uint8_t *key, size_t keylen,
                    const uint8_t *val, size_t vallen)
{
    if (keylen > UINT32_MAX || vallen > UINT32_MAX)
        return -1;
    if (val == NULL)
        vallen = 0;
    size_t need = b->len + REC_HEAD + keylen + vallen;
    if (need > b->cap) {
        size_t nc = b->cap ? b->cap : 1u << 16;
        while (nc < need)
            nc *= 2;
        uint8_t *p = realloc(b->buf, nc);
        if (p == NULL)
            return -1;
        b->buf = p;
        b->cap = nc;
    }
    uint8_t *p = b->buf + b->len;
    memcpy(p, &cf, sizeof(cf));
    p[sizeof(cf)] = val == NULL;
    byte_put_le32(p + sizeof(cf) + 1, (uint32_t)keylen);
    byte_put_le32(p + sizeof(cf) + 5, (uint32_t)vallen);
    if (keylen)
        memcpy(p + REC_HEAD, key, keylen);
    if (vallen)
        memcpy(p + REC_HEAD + keylen, val, vallen);
    b->len = need;
    b->n++;
    return 0;
}

size_t state_batch_count(const te_state_batch_t *b) { return b ? b->n : 0; }

te_status_t state_batch_write(const te_state_batch_t *b, te_rocksdb_instance_t *inst, te_error_t *err)
{
    if (b == NULL || b->n == 0)
        return TE_OK;
    /* in RocksDB write batches of WRITE_CHUNK: one of every write would hold a second
     * copy of them all (nothing needs them atomic: the task's writes wait meanwhile, and
     * the instance is scratch, never reopened after a crash) */
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    char *e = NULL;
    size_t in_wb = 0;
    for (size_t off = 0; off < b->len && e == NULL;) {
        const uint8_t *p = b->buf + off;
        rocksdb_column_family_handle_t *cf;
        memcpy(&cf, p, sizeof(cf));
        uint32_t kl = byte_get_le32(p + sizeof(cf) + 1), vl = byte_get_le32(p + sizeof(cf) + 5);
        const char *k = (const char *)p + REC_HEAD;
        if (p[sizeof(cf)])
            rocksdb_writebatch_delete_cf(wb, cf, k, kl);
        else
            rocksdb_writebatch_put_cf(wb, cf, k, kl, k + kl, vl);
        off += REC_HEAD + (size_t)kl + vl;
        if (++in_wb == WRITE_CHUNK || off == b->len) {
            rocksdb_write(rocksdb_instance_db(inst), rocksdb_instance_write_options(inst), wb, &e);
            rocksdb_writebatch_clear(wb);
            in_wb = 0;
        }
    }
    rocksdb_writebatch_destroy(wb);
    if (e == NULL)
        return TE_OK;
    te_error_set(err, TE_EIO, "RocksDB write of %zu cached entries at the barrier in '%s': %s", b->n,
                 rocksdb_instance_dir(inst), e);
    rocksdb_free(e);
    return TE_EIO;
}

/*
 * checkpoint_writer — streaming writer of snapshot files (see checkpoint_writer.h and
 * the format in checkpoint_storage.h).
 *
 * Pieces: the file is a sequence of pieces, each either written bytes (its CRC runs
 * as they are written) or a reserved field (CRC known once filled). push records the
 * index where a region starts; pop combines the CRCs of the region's pieces, collapses
 * them into one and merges it into the piece before when no open region starts
 * between them.
 *
 * Threading: one thread at a time; no locks.
 */
#include "state/checkpoint_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/byte_codec.h"
#include "common/crc32c.h"
#include "common/dir_util.h"
#include "state/checkpoint_storage.h"

#define WBUF_SIZE   (1u << 20)
#define MAX_RESERVE 64u
#define HDR_LEN     44u
#define SEC_HDR_LEN 24u
#define FILE_MAGIC  "TECK"
#define FILE_END    "TEND"

typedef struct wpiece {
    uint64_t off, len;
    uint64_t id; /* reserve handle, 0 for written bytes */
    uint32_t crc;
    int filled;
} wpiece_t;

struct te_ckpt_writer {
    int fd;
    char *path, *tmp;
    uint8_t *buf;
    size_t blen;      /* bytes in buf: file offsets [flushed, flushed + blen) */
    uint64_t flushed; /* bytes already written to fd */
    wpiece_t *p;
    size_t np, cap;
    size_t *marks;
    size_t nmarks, capm;
    int new_piece;
    uint64_t next_id;
    uint64_t hdr_handle;
    int in_section;
    uint64_t sec_handle, sec_data_start;
    uint32_t sec_type, sec_index, sec_sub, sec_name_len;
    uint32_t n_sections;
    te_ckpt_file_info_t info;
    _Atomic int *cancel;
    te_status_t st;
    char msg[TE_ERROR_MSG_MAX];
};

static te_status_t fail(te_ckpt_writer_t *w, te_status_t st, const char *fmt, const char *arg, int e)
{
    if (w->st != TE_OK)
        return w->st;
    w->st = st;
    char what[300];
    snprintf(what, sizeof(what), fmt, arg);
    if (e)
        snprintf(w->msg, sizeof(w->msg), "%s: %s", what, strerror(e));
    else
        snprintf(w->msg, sizeof(w->msg), "%s", what);
    return st;
}

uint64_t checkpoint_writer_offset(const te_ckpt_writer_t *w) { return w->flushed + w->blen; }

int checkpoint_writer_cancelled(const te_ckpt_writer_t *w) { return w->cancel && atomic_load(w->cancel); }

te_status_t checkpoint_writer_status(const te_ckpt_writer_t *w, te_error_t *err)
{
    if (w->st != TE_OK)
        te_error_set(err, w->st, "%s", w->msg);
    return w->st;
}

static te_status_t flush_buf(te_ckpt_writer_t *w)
{
    if (w->cancel && atomic_load(w->cancel))
        return fail(w, TE_ECANCELED, "writing '%s': the checkpoint was cancelled", w->tmp, 0);
    size_t off = 0;
    while (off < w->blen) {
        ssize_t n = write(w->fd, w->buf + off, w->blen - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(w, TE_EIO, "cannot write '%s'", w->tmp, errno);
        off += (size_t)n;
    }
    w->flushed += w->blen;
    w->blen = 0;
    return TE_OK;
}

/* Appends raw bytes to the buffer (no CRC bookkeeping). */
static te_status_t put_raw(te_ckpt_writer_t *w, const uint8_t *data, size_t len)
{
    while (len > 0 && w->st == TE_OK) {
        if (w->blen == WBUF_SIZE && flush_buf(w) != TE_OK)
            break;
        size_t n = WBUF_SIZE - w->blen < len ? WBUF_SIZE - w->blen : len;
        if (data)
            memcpy(w->buf + w->blen, data, n);
        else
            memset(w->buf + w->blen, 0, n);
        w->blen += n;
        if (data)
            data += n;
        len -= n;
    }
    return w->st;
}

static wpiece_t *new_piece(te_ckpt_writer_t *w)
{
    if (w->np == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        wpiece_t *p = realloc(w->p, nc * sizeof(*p));
        if (p == NULL) {
            fail(w, TE_ENOMEM, "out of memory writing '%s'", w->tmp, 0);
            return NULL;
        }
        w->p = p;
        w->cap = nc;
    }
    wpiece_t *x = &w->p[w->np++];
    memset(x, 0, sizeof(*x));
    x->off = checkpoint_writer_offset(w);
    return x;
}

te_status_t checkpoint_writer_write(te_ckpt_writer_t *w, const void *data, size_t len)
{
    if (w->st != TE_OK || len == 0)
        return w->st;
    wpiece_t *last = w->np ? &w->p[w->np - 1] : NULL;
    if (!w->new_piece && last != NULL && last->filled && len <= WBUF_SIZE - w->blen) { /* the common case */
        last->crc = crc32c_update(last->crc, data, len);
        last->len += len;
        memcpy(w->buf + w->blen, data, len);
        w->blen += len;
        return TE_OK;
    }
    if (w->new_piece || last == NULL || !last->filled) {
        if ((last = new_piece(w)) == NULL)
            return w->st;
        last->filled = 1;
        w->new_piece = 0;
    }
    last->crc = crc32c_update(last->crc, data, len);
    last->len += len;
    return put_raw(w, data, len);
}

uint64_t checkpoint_writer_reserve(te_ckpt_writer_t *w, size_t n)
{
    if (w->st != TE_OK)
        return 0;
    if (n == 0 || n > MAX_RESERVE) {
        fail(w, TE_EINTERNAL, "writing '%s': a reserved field of a bad size", w->tmp, 0);
        return 0;
    }
    wpiece_t *x = new_piece(w);
    if (x == NULL)
        return 0;
    x->len = n;
    x->id = ++w->next_id;
    w->new_piece = 1;
    put_raw(w, NULL, n);
    return x->id;
}

void checkpoint_writer_fill(te_ckpt_writer_t *w, uint64_t handle, const void *data)
{
    if (w->st != TE_OK)
        return;
    wpiece_t *x = NULL;
    for (size_t i = w->np; i-- > 0;)
        if (w->p[i].id == handle && !w->p[i].filled) {
            x = &w->p[i];
            break;
        }
    if (x == NULL) {
        fail(w, TE_EINTERNAL, "writing '%s': a reserved field filled twice or never reserved", w->tmp, 0);
        return;
    }
    x->crc = crc32c_update(0, data, x->len);
    x->filled = 1;
    const uint8_t *d = data;
    uint64_t off = x->off, len = x->len;
    if (off < w->flushed) { /* (partly) written out already */
        uint64_t n = w->flushed - off < len ? w->flushed - off : len;
        ssize_t r = pwrite(w->fd, d, n, (off_t)off);
        if (r != (ssize_t)n) {
            fail(w, TE_EIO, "cannot write '%s'", w->tmp, r < 0 ? errno : EIO);
            return;
        }
        d += n;
        off += n;
        len -= n;
    }
    if (len > 0)
        memcpy(w->buf + (off - w->flushed), d, len);
}

void checkpoint_writer_push(te_ckpt_writer_t *w)
{
    if (w->st != TE_OK)
        return;
    if (w->nmarks == w->capm) {
        size_t nc = w->capm ? w->capm * 2 : 8;
        size_t *m = realloc(w->marks, nc * sizeof(*m));
        if (m == NULL) {
            fail(w, TE_ENOMEM, "out of memory writing '%s'", w->tmp, 0);
            return;
        }
        w->marks = m;
        w->capm = nc;
    }
    w->marks[w->nmarks++] = w->np;
    w->new_piece = 1;
}

uint32_t checkpoint_writer_pop(te_ckpt_writer_t *w)
{
    if (w->st != TE_OK || w->nmarks == 0)
        return 0;
    size_t m = w->marks[--w->nmarks];
    if (m == w->np) { /* an empty region */
        w->new_piece = 1;
        return 0;
    }
    uint32_t crc = w->p[m].crc;
    uint64_t len = w->p[m].len;
    for (size_t i = m; i < w->np; i++) {
        if (!w->p[i].filled) {
            fail(w, TE_EINTERNAL, "writing '%s': a checksummed region has an unfilled field", w->tmp, 0);
            return 0;
        }
        if (i > m) {
            crc = crc32c_combine(crc, w->p[i].crc, w->p[i].len);
            len += w->p[i].len;
        }
    }
    w->p[m] = (wpiece_t){.off = w->p[m].off, .len = len, .crc = crc, .filled = 1};
    w->np = m + 1;
    size_t top = w->nmarks ? w->marks[w->nmarks - 1] : 0;
    if (m > 0 && m > top && w->p[m - 1].filled) {
        w->p[m - 1].crc = crc32c_combine(w->p[m - 1].crc, crc, len);
        w->p[m - 1].len += len;
        w->p[m - 1].id = 0;
        w->np = m;
    }
    w->new_piece = 0;
    return crc;
}

te_ckpt_writer_t *checkpoint_writer_open(const char *path, const te_ckpt_file_info_t *info, _Atomic int *cancel,
                                         te_error_t *err)
{
    te_ckpt_writer_t *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->path = strdup(path)) == NULL || (w->buf = malloc(WBUF_SIZE)) == NULL) {
        if (w)
            free(w->path);
        free(w);
        te_error_set(err, TE_ENOMEM, "out of memory writing '%s'", path);
        return NULL;
    }
    w->fd = -1;
    w->info = *info;
    w->cancel = cancel;
    size_t n = strlen(path) + 5;
    w->tmp = malloc(n);
    if (w->tmp == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory writing '%s'", path);
        goto fail;
    }
    snprintf(w->tmp, n, "%s.tmp", path);
    if (dir_make_parent(path) != 0) {
        te_error_set(err, TE_EIO, "cannot create the directory of '%s': %s", path, strerror(errno));
        goto fail;
    }
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        te_error_set(err, TE_EIO, "cannot create '%s': %s", w->tmp, strerror(errno));
        goto fail;
    }
    checkpoint_writer_push(w); /* the whole file, for the trailer */
    w->hdr_handle = checkpoint_writer_reserve(w, HDR_LEN);
    if (checkpoint_writer_status(w, err) != TE_OK)
        goto fail;
    return w;
fail:
    checkpoint_writer_abort(w);
    return NULL;
}

void checkpoint_writer_abort(te_ckpt_writer_t *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    free(w->p);
    free(w->marks);
    free(w->buf);
    free(w->tmp);
    free(w->path);
    free(w);
}

te_status_t checkpoint_writer_section_begin(te_ckpt_writer_t *w, uint32_t type, uint32_t index, uint32_t sub,
                                            const char *name)
{
    if (w->st != TE_OK)
        return w->st;
    if (w->in_section)
        return fail(w, TE_EINTERNAL, "writing '%s': a section inside a section", w->tmp, 0);
    if (w->n_sections >= TE_CKPT_MAX_SECTIONS)
        return fail(w, TE_ETOOBIG, "writing '%s': too many sections", w->tmp, 0);
    name = name ? name : "";
    w->in_section = 1;
    w->sec_type = type;
    w->sec_index = index;
    w->sec_sub = sub;
    w->sec_name_len = (uint32_t)strlen(name);
    checkpoint_writer_push(w);
    w->sec_handle = checkpoint_writer_reserve(w, SEC_HDR_LEN);
    checkpoint_writer_write(w, name, w->sec_name_len);
    w->sec_data_start = checkpoint_writer_offset(w);
    return w->st;
}

te_status_t checkpoint_writer_section_end(te_ckpt_writer_t *w)
{
    if (w->st != TE_OK)
        return w->st;
    if (!w->in_section)
        return fail(w, TE_EINTERNAL, "writing '%s': end of a section never begun", w->tmp, 0);
    uint8_t h[SEC_HDR_LEN];
    byte_put_le32(h, w->sec_type);
    byte_put_le32(h + 4, w->sec_index);
    byte_put_le32(h + 8, w->sec_sub);
    byte_put_le32(h + 12, w->sec_name_len);
    byte_put_le64(h + 16, checkpoint_writer_offset(w) - w->sec_data_start);
    checkpoint_writer_fill(w, w->sec_handle, h);
    uint8_t c[4];
    byte_put_le32(c, checkpoint_writer_pop(w));
    checkpoint_writer_write(w, c, 4);
    w->in_section = 0;
    w->n_sections++;
    return w->st;
}

te_status_t checkpoint_writer_section(te_ckpt_writer_t *w, uint32_t type, uint32_t index, uint32_t sub,
                                      const char *name, const void *data, size_t len)
{
    checkpoint_writer_section_begin(w, type, index, sub, name);
    checkpoint_writer_write(w, data, len);
    return checkpoint_writer_section_end(w);
}

te_status_t checkpoint_writer_commit(te_ckpt_writer_t *w, uint64_t *size, te_error_t *err)
{
    if (w->in_section)
        fail(w, TE_EINTERNAL, "writing '%s': a section was not ended", w->tmp, 0);
    uint8_t h[HDR_LEN];
    memcpy(h, FILE_MAGIC, 4);
    byte_put_le32(h + 4, 1);
    byte_put_le64(h + 8, w->info.checkpoint_id);
    byte_put_le32(h + 16, w->info.subtask_index);
    byte_put_le32(h + 20, w->info.parallelism);
    byte_put_le32(h + 24, w->info.max_parallelism);
    byte_put_le32(h + 28, w->info.kg_first);
    byte_put_le32(h + 32, w->info.kg_last);
    byte_put_le32(h + 36, w->n_sections);
    byte_put_le32(h + 40, crc32c_update(0, h, 40));
    checkpoint_writer_fill(w, w->hdr_handle, h);
    uint8_t t[8];
    memcpy(t, FILE_END, 4);
    byte_put_le32(t + 4, checkpoint_writer_pop(w));
    put_raw(w, t, sizeof(t));
    if (w->st == TE_OK)
        flush_buf(w);
    if (w->st == TE_OK && fsync(w->fd) != 0)
        fail(w, TE_EIO, "cannot fsync '%s'", w->tmp, errno);
    if (w->st == TE_OK) {
        int fd = w->fd;
        w->fd = -1;
        if (close(fd) != 0) {
            unlink(w->tmp);
            fail(w, TE_EIO, "cannot close '%s'", w->tmp, errno);
        } else if (rename(w->tmp, w->path) != 0) {
            int e = errno;
            unlink(w->tmp);
            char what[300];
            snprintf(what, sizeof(what), "cannot rename '%s' to '%s'", w->tmp, w->path);
            /* ENOENT: the checkpoint's directory went away meanwhile: the JobMaster
             * aborted the checkpoint and discarded it (its AbortCheckpoint is on the
             * way), so there is nothing to decline */
            fail(w, e == ENOENT ? TE_ECANCELED : TE_EIO, "%s", what, e);
        } else {
            dir_fsync_parent(w->path);
        }
    }
    te_status_t st = checkpoint_writer_status(w, err);
    if (st == TE_OK && size)
        *size = w->flushed;
    checkpoint_writer_abort(w);
    return st;
}

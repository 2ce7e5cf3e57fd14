/*
 * checkpoint_reader — the verifying open and random access to a snapshot file (see
 * checkpoint_reader.h and the format in checkpoint_storage.h).
 *
 * Threading: one thread per reader; no locks.
 */
#include "state/checkpoint_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/byte_codec.h"
#include "common/crc32c.h"
#include "state/checkpoint_storage.h"

#define HDR_LEN     44u
#define SEC_HDR_LEN 24u
#define NAME_MAX_   4096u
#define CHUNK       (1u << 20)

struct te_ckpt_reader {
    int fd;
    char *path;
    uint64_t size;
    te_ckpt_file_info_t info;
    te_ckpt_section_info_t *secs;
    size_t n;
};

te_status_t checkpoint_reader_pread(te_ckpt_reader_t *r, uint64_t offset, void *buf, size_t len, te_error_t *err)
{
    if (offset > r->size || len > r->size - offset)
        return te_error_set(err, TE_EPROTO, "%s: truncated (a read of %zu bytes at %llu runs past its end)",
                            r->path, len, (unsigned long long)offset);
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(r->fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return te_error_set(err, TE_EIO, "cannot read '%s': %s", r->path,
                                n < 0 ? strerror(errno) : "short read");
        p += n;
        offset += (uint64_t)n;
        len -= (size_t)n;
    }
    return TE_OK;
}

/* CRC-32C of the file bytes [off, off + len), streamed. */
static te_status_t crc_range(te_ckpt_reader_t *r, uint8_t *buf, uint64_t off, uint64_t len, uint32_t *crc,
                             te_error_t *err)
{
    uint32_t c = 0;
    while (len > 0) {
        size_t n = len < CHUNK ? (size_t)len : CHUNK;
        te_status_t st = checkpoint_reader_pread(r, off, buf, n, err);
        if (st != TE_OK)
            return st;
        c = crc32c_update(c, buf, n);
        off += n;
        len -= n;
    }
    *crc = c;
    return TE_OK;
}

static te_status_t bad(te_error_t *err, const char *path, const char *what, unsigned i)
{
    return te_error_set(err, TE_EPROTO, "%s: %s%s", path, what, i == UINT32_MAX ? "" : " (a section)");
}

/* Walks and checks the sections (one streaming pass). */
static te_status_t verify(te_ckpt_reader_t *r, uint8_t *buf, te_error_t *err)
{
    uint8_t h[HDR_LEN];
    if (r->size < HDR_LEN + 8)
        return te_error_set(err, TE_EPROTO, "%s: truncated (%llu bytes, a snapshot has at least %u)", r->path,
                            (unsigned long long)r->size, HDR_LEN + 8);
    te_status_t st = checkpoint_reader_pread(r, 0, h, HDR_LEN, err);
    if (st != TE_OK)
        return st;
    if (memcmp(h, "TECK", 4) != 0)
        return bad(err, r->path, "not a checkpoint snapshot (bad magic)", UINT32_MAX);
    if (byte_get_le32(h + 4) != 1)
        return te_error_set(err, TE_EPROTO, "%s: snapshot format version %u, this daemon reads 1", r->path,
                            byte_get_le32(h + 4));
    if (byte_get_le32(h + 40) != crc32c_update(0, h, 40))
        return bad(err, r->path, "header checksum mismatch (corrupt file)", UINT32_MAX);
    r->info = (te_ckpt_file_info_t){byte_get_le64(h + 8),  byte_get_le32(h + 16), byte_get_le32(h + 20),
                                    byte_get_le32(h + 24), byte_get_le32(h + 28), byte_get_le32(h + 32)};
    uint32_t n = byte_get_le32(h + 36);
    if (n > TE_CKPT_MAX_SECTIONS)
        return te_error_set(err, TE_EPROTO, "%s: %u sections (at most %u)", r->path, n, TE_CKPT_MAX_SECTIONS);
    uint8_t t[8];
    if ((st = checkpoint_reader_pread(r, r->size - 8, t, 8, err)) != TE_OK)
        return st;
    if (memcmp(t, "TEND", 4) != 0)
        return bad(err, r->path, "truncated or corrupt (no end marker)", UINT32_MAX);
    r->secs = calloc(n ? n : 1, sizeof(*r->secs));
    if (r->secs == NULL)
        return te_error_set(err, TE_ENOMEM, "%s: out of memory reading the snapshot", r->path);
    uint32_t file_crc = crc32c_update(0, h, HDR_LEN);
    uint64_t off = HDR_LEN, end = r->size - 8;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t sh[SEC_HDR_LEN];
        if (end - off < SEC_HDR_LEN + 4)
            return te_error_set(err, TE_EPROTO, "%s: section %u is truncated", r->path, i);
        if ((st = checkpoint_reader_pread(r, off, sh, SEC_HDR_LEN, err)) != TE_OK)
            return st;
        uint32_t nl = byte_get_le32(sh + 12);
        uint64_t dl = byte_get_le64(sh + 16);
        if (nl > NAME_MAX_ || nl > end - off - SEC_HDR_LEN - 4 || dl > end - off - SEC_HDR_LEN - 4 - nl)
            return te_error_set(err, TE_EPROTO, "%s: section %u length %llu runs past the end of the file",
                                r->path, i, (unsigned long long)dl);
        uint64_t body = SEC_HDR_LEN + (uint64_t)nl + dl;
        uint32_t c;
        uint8_t stored[4];
        if ((st = crc_range(r, buf, off, body, &c, err)) != TE_OK ||
            (st = checkpoint_reader_pread(r, off + body, stored, 4, err)) != TE_OK)
            return st;
        if (byte_get_le32(stored) != c)
            return te_error_set(err, TE_EPROTO, "%s: section %u checksum mismatch (corrupt file)", r->path, i);
        char *name = malloc(nl + 1);
        if (name == NULL)
            return te_error_set(err, TE_ENOMEM, "%s: out of memory reading the snapshot", r->path);
        if ((st = checkpoint_reader_pread(r, off + SEC_HDR_LEN, name, nl, err)) != TE_OK) {
            free(name);
            return st;
        }
        name[nl] = '\0';
        r->secs[r->n++] = (te_ckpt_section_info_t){
            byte_get_le32(sh), byte_get_le32(sh + 4), byte_get_le32(sh + 8), name, off + SEC_HDR_LEN + nl, dl};
        file_crc = crc32c_update(crc32c_combine(file_crc, c, body), stored, 4);
        off += body + 4;
    }
    if (off != end)
        return te_error_set(err, TE_EPROTO, "%s: %llu unexpected bytes after the last section", r->path,
                            (unsigned long long)(end - off));
    if (byte_get_le32(t + 4) != file_crc)
        return bad(err, r->path, "checksum mismatch (corrupt file)", UINT32_MAX);
    return TE_OK;
}

te_ckpt_reader_t *checkpoint_reader_open(const char *path, te_error_t *err)
{
    te_ckpt_reader_t *r = calloc(1, sizeof(*r));
    uint8_t *buf = malloc(CHUNK);
    if (r == NULL || buf == NULL || (r->path = strdup(path)) == NULL) {
        free(r);
        free(buf);
        te_error_set(err, TE_ENOMEM, "out of memory reading '%s'", path);
        return NULL;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        te_error_set(err, errno == ENOENT ? TE_ENOTFOUND : TE_EIO, "cannot open checkpoint snapshot '%s': %s",
                     path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(r->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        te_error_set(err, TE_EIO, "checkpoint snapshot '%s' is not a regular file", path);
        goto fail;
    }
    r->size = (uint64_t)sb.st_size;
    if (verify(r, buf, err) != TE_OK)
        goto fail;
    free(buf);
    return r;
fail:
    free(buf);
    checkpoint_reader_close(r);
    return NULL;
}

void checkpoint_reader_close(te_ckpt_reader_t *r)
{
    if (r == NULL)
        return;
    if (r->fd >= 0)
        close(r->fd);
    for (size_t i = 0; i < r->n; i++)
        free((char *)r->secs[i].name);
    free(r->secs);
    free(r->path);
    free(r);
}

const char *checkpoint_reader_path(const te_ckpt_reader_t *r) { return r->path; }

const te_ckpt_file_info_t *checkpoint_reader_info(const te_ckpt_reader_t *r) { return &r->info; }

size_t checkpoint_reader_count(const te_ckpt_reader_t *r) { return r->n; }

const te_ckpt_section_info_t *checkpoint_reader_section(const te_ckpt_reader_t *r, size_t i)
{
    return i < r->n ? &r->secs[i] : NULL;
}

const te_ckpt_section_info_t *checkpoint_reader_find(const te_ckpt_reader_t *r, uint32_t type, uint32_t index)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->secs[i].type == type && r->secs[i].index == index)
            return &r->secs[i];
    return NULL;
}

const te_ckpt_section_info_t *checkpoint_reader_find_type(const te_ckpt_reader_t *r, uint32_t type)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->secs[i].type == type)
            return &r->secs[i];
    return NULL;
}

te_status_t checkpoint_reader_load(te_ckpt_reader_t *r, const te_ckpt_section_info_t *s, uint8_t **data,
                                   te_error_t *err)
{
    *data = NULL;
    if (s->len == 0)
        return TE_OK;
    if (s->len > SIZE_MAX)
        return te_error_set(err, TE_ETOOBIG, "%s: a section of %llu bytes", r->path, (unsigned long long)s->len);
    uint8_t *d = malloc((size_t)s->len);
    if (d == NULL)
        return te_error_set(err, TE_ENOMEM, "%s: out of memory loading a %llu-byte section", r->path,
                            (unsigned long long)s->len);
    te_status_t st = checkpoint_reader_pread(r, s->offset, d, (size_t)s->len, err);
    if (st != TE_OK) {
        free(d);
        return st;
    }
    *data = d;
    return TE_OK;
}

/*
 * snapshot — the in-memory form of a subtask's snapshot and its codec (format in
 * snapshot.h).
 *
 * Threading: pure functions on the caller's thread. No locks.
 */
#include "state/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/byte_codec.h"
#include "common/crc32c.h"

#define CKPT_MAGIC    "TECK"
#define CKPT_END      "TEND"
#define CKPT_VERSION  1u
#define CKPT_HDR_LEN  44u /* 40 bytes + crc */
#define CKPT_SEC_HDR  24u
#define CKPT_NAME_MAX 4096u

te_ckpt_snapshot_t *snapshot_new(uint64_t checkpoint_id, uint32_t subtask_index, uint32_t parallelism,
                                 uint32_t max_parallelism, uint32_t kg_first, uint32_t kg_last)
{
    te_ckpt_snapshot_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->checkpoint_id = checkpoint_id;
    s->subtask_index = subtask_index;
    s->parallelism = parallelism;
    s->max_parallelism = max_parallelism;
    s->kg_first = kg_first;
    s->kg_last = kg_last;
    return s;
}

void snapshot_free(te_ckpt_snapshot_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_sections; i++) {
        free(s->sections[i].name);
        free(s->sections[i].data);
    }
    free(s->sections);
    free(s);
}

te_status_t snapshot_add(te_ckpt_snapshot_t *s, uint32_t type, uint32_t index, uint32_t sub, const char *name,
                         uint8_t *data, size_t len)
{
    if (s->n_sections >= TE_CKPT_MAX_SECTIONS)
        goto cleanup;
    if (s->n_sections == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        te_ckpt_section_t *ns = realloc(s->sections, nc * sizeof(*ns));
        if (ns == NULL)
            goto cleanup;
        s->sections = ns;
        s->cap = nc;
    }
    char *nm = strdup(name ? name : "");
    if (nm == NULL)
        goto cleanup;
    s->sections[s->n_sections++] = (te_ckpt_section_t){type, index, sub, nm, len ? data : NULL, len};
    if (len == 0)
        free(data);
    return TE_OK;
cleanup:
    free(data);
    return TE_ENOMEM;
}

const te_ckpt_section_t *snapshot_find(const te_ckpt_snapshot_t *s, uint32_t type, uint32_t index)
{
    for (size_t i = 0; i < s->n_sections; i++)
        if (s->sections[i].type == type && s->sections[i].index == index)
            return &s->sections[i];
    return NULL;
}

te_status_t snapshot_encode(const te_ckpt_snapshot_t *s, uint8_t **out, size_t *out_len, te_error_t *err)
{
    size_t total = CKPT_HDR_LEN + 8;
    for (size_t i = 0; i < s->n_sections; i++)
        total += CKPT_SEC_HDR + strlen(s->sections[i].name) + s->sections[i].len + 4;
    uint8_t *b = malloc(total);
    if (b == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory encoding a %zu-byte checkpoint snapshot", total);
    memcpy(b, CKPT_MAGIC, 4);
    byte_put_le32(b + 4, CKPT_VERSION);
    byte_put_le64(b + 8, s->checkpoint_id);
    byte_put_le32(b + 16, s->subtask_index);
    byte_put_le32(b + 20, s->parallelism);
    byte_put_le32(b + 24, s->max_parallelism);
    byte_put_le32(b + 28, s->kg_first);
    byte_put_le32(b + 32, s->kg_last);
    byte_put_le32(b + 36, (uint32_t)s->n_sections);
    byte_put_le32(b + 40, crc32c_update(0, b, 40));
    size_t off = CKPT_HDR_LEN;
    for (size_t i = 0; i < s->n_sections; i++) {
        const te_ckpt_section_t *sec = &s->sections[i];
        size_t nl = strlen(sec->name);
        uint8_t *p = b + off;
        byte_put_le32(p, sec->type);
        byte_put_le32(p + 4, sec->index);
        byte_put_le32(p + 8, sec->sub);
        byte_put_le32(p + 12, (uint32_t)nl);
        byte_put_le64(p + 16, sec->len);
        memcpy(p + CKPT_SEC_HDR, sec->name, nl);
        if (sec->len)
            memcpy(p + CKPT_SEC_HDR + nl, sec->data, sec->len);
        size_t body = CKPT_SEC_HDR + nl + sec->len;
        byte_put_le32(p + body, crc32c_update(0, p, body));
        off += body + 4;
    }
    memcpy(b + off, CKPT_END, 4);
    byte_put_le32(b + off + 4, crc32c_update(0, b, off));
    *out = b;
    *out_len = total;
    return TE_OK;
}

te_ckpt_snapshot_t *snapshot_decode(const uint8_t *d, size_t len, const char *what, te_error_t *err)
{
    te_ckpt_snapshot_t *s = NULL;
    what = what ? what : "checkpoint snapshot";
    if (len < CKPT_HDR_LEN + 8) {
        te_error_set(err, TE_EPROTO, "%s: truncated (%zu bytes, a snapshot has at least %u)", what, len,
                     CKPT_HDR_LEN + 8);
        return NULL;
    }
    if (memcmp(d, CKPT_MAGIC, 4) != 0) {
        te_error_set(err, TE_EPROTO, "%s: not a checkpoint snapshot (bad magic)", what);
        return NULL;
    }
    if (byte_get_le32(d + 4) != CKPT_VERSION) {
        te_error_set(err, TE_EPROTO, "%s: snapshot format version %u, this daemon reads %u", what,
                     byte_get_le32(d + 4), CKPT_VERSION);
        return NULL;
    }
    if (byte_get_le32(d + 40) != crc32c_update(0, d, 40)) {
        te_error_set(err, TE_EPROTO, "%s: header checksum mismatch (corrupt file)", what);
        return NULL;
    }
    if (memcmp(d + len - 8, CKPT_END, 4) != 0) {
        te_error_set(err, TE_EPROTO, "%s: truncated or corrupt (no end marker)", what);
        return NULL;
    }
    if (byte_get_le32(d + len - 4) != crc32c_update(0, d, len - 8)) {
        te_error_set(err, TE_EPROTO, "%s: checksum mismatch (corrupt file)", what);
        return NULL;
    }
    uint32_t n = byte_get_le32(d + 36);
    if (n > TE_CKPT_MAX_SECTIONS) {
        te_error_set(err, TE_EPROTO, "%s: %u sections (at most %u)", what, n, TE_CKPT_MAX_SECTIONS);
        return NULL;
    }
    s = snapshot_new(byte_get_le64(d + 8), byte_get_le32(d + 16), byte_get_le32(d + 20), byte_get_le32(d + 24),
                     byte_get_le32(d + 28), byte_get_le32(d + 32));
    if (s == NULL) {
        te_error_set(err, TE_ENOMEM, "%s: out of memory reading the snapshot", what);
        goto cleanup;
    }
    size_t off = CKPT_HDR_LEN, end = len - 8;
    for (uint32_t i = 0; i < n; i++) {
        if (end - off < CKPT_SEC_HDR + 4) {
            te_error_set(err, TE_EPROTO, "%s: section %u is truncated", what, i);
            goto cleanup;
        }
        const uint8_t *p = d + off;
        uint32_t nl = byte_get_le32(p + 12);
        uint64_t dl = byte_get_le64(p + 16);
        if (nl > CKPT_NAME_MAX || dl > end - off - CKPT_SEC_HDR - 4 - nl || nl > end - off - CKPT_SEC_HDR - 4) {
            te_error_set(err, TE_EPROTO, "%s: section %u length %llu runs past the end of the file", what, i,
                         (unsigned long long)dl);
            goto cleanup;
        }
        size_t body = CKPT_SEC_HDR + nl + (size_t)dl;
        if (byte_get_le32(p + body) != crc32c_update(0, p, body)) {
            te_error_set(err, TE_EPROTO, "%s: section %u checksum mismatch (corrupt file)", what, i);
            goto cleanup;
        }
        char *name = malloc(nl + 1);
        uint8_t *data = dl ? malloc((size_t)dl) : NULL;
        if (name == NULL || (dl && data == NULL)) {
            free(name);
            free(data);
            {
                te_error_set(err, TE_ENOMEM, "%s: out of memory reading the snapshot", what);
                goto cleanup;
            }
        }
        memcpy(name, p + CKPT_SEC_HDR, nl);
        name[nl] = '\0';
        if (dl)
            memcpy(data, p + CKPT_SEC_HDR + nl, (size_t)dl);
        te_status_t rc =
            snapshot_add(s, byte_get_le32(p), byte_get_le32(p + 4), byte_get_le32(p + 8), name, data, (size_t)dl);
        free(name);
        if (rc != TE_OK) {
            te_error_set(err, TE_ENOMEM, "%s: out of memory reading the snapshot", what);
            goto cleanup;
        }
        off += body + 4;
    }
    if (off != end) {
        te_error_set(err, TE_EPROTO, "%s: %zu unexpected bytes after the last section", what, end - off);
        goto cleanup;
    }
    return s;
cleanup:
    snapshot_free(s);
    return NULL;
}

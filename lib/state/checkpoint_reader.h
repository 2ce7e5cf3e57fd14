/*
 * checkpoint_reader — reads a subtask's snapshot file (the format of
 * checkpoint_storage.h) without loading it: open checks the whole file in one
 * streaming pass (header, every section's length and CRC-32C, the trailer and the
 * file's CRC, derived from the sections' CRCs with crc32c_combine) and keeps an index
 * of the sections; their data is then read at will (pread), so a restore streams keyed
 * state group by group and skips the key groups it does not own. Every error names
 * the file and what is wrong.
 *
 * Threading: a reader belongs to one thread (the restoring task thread); no locks.
 */
#ifndef TE_CHECKPOINT_READER_H
#define TE_CHECKPOINT_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "state/checkpoint_writer.h"

typedef struct te_ckpt_reader te_ckpt_reader_t;

typedef struct te_ckpt_section_info {
    uint32_t type, index, sub;
    const char *name; /* NUL-terminated, owned by the reader */
    uint64_t offset;  /* of the data in the file */
    uint64_t len;     /* of the data */
} te_ckpt_section_info_t;

/* NULL + err: ENOTFOUND when the file is missing, EPROTO when it is not a valid
 * snapshot (naming the file and the problem). */
te_ckpt_reader_t *checkpoint_reader_open(const char *path, te_error_t *err);
void checkpoint_reader_close(te_ckpt_reader_t *r);

const char *checkpoint_reader_path(const te_ckpt_reader_t *r);
const te_ckpt_file_info_t *checkpoint_reader_info(const te_ckpt_reader_t *r);
size_t checkpoint_reader_count(const te_ckpt_reader_t *r);
const te_ckpt_section_info_t *checkpoint_reader_section(const te_ckpt_reader_t *r, size_t i);
/* The first section of (type, index) / of type, or NULL. */
const te_ckpt_section_info_t *checkpoint_reader_find(const te_ckpt_reader_t *r, uint32_t type, uint32_t index);
const te_ckpt_section_info_t *checkpoint_reader_find_type(const te_ckpt_reader_t *r, uint32_t type);

/* len bytes of the file at offset into buf (EIO / EPROTO past the end). */
te_status_t checkpoint_reader_pread(te_ckpt_reader_t *r, uint64_t offset, void *buf, size_t len, te_error_t *err);
/* A malloc'd copy of a section's data (NULL *data when len 0). */
te_status_t checkpoint_reader_load(te_ckpt_reader_t *r, const te_ckpt_section_info_t *s, uint8_t **data,
                                   te_error_t *err);

#endif

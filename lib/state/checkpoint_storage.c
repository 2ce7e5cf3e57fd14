/*
 * checkpoint_storage — durable writing and reading of a subtask's snapshot file
 * (checkpoint_writer streams it: temp file, fsync, rename, directory fsync;
 * checkpoint_reader checks it; the format is in snapshot.h).
 *
 * Threading: no shared state; every function runs on the caller's thread (the task
 * thread for writes and restores). No locks.
 */
#include "state/checkpoint_storage.h"

#include <stdlib.h>

#include "state/checkpoint_reader.h"
#include "state/checkpoint_writer.h"

te_status_t checkpoint_storage_write(const char *path, const te_ckpt_snapshot_t *s, uint64_t *size,
                                     te_error_t *err)
{
    te_ckpt_file_info_t info = {s->checkpoint_id,   s->subtask_index, s->parallelism,
                                s->max_parallelism, s->kg_first,      s->kg_last};
    te_ckpt_writer_t *w = checkpoint_writer_open(path, &info, NULL, err);
    if (w == NULL)
        return err ? err->code : TE_EIO;
    for (size_t i = 0; i < s->n_sections; i++) {
        const te_ckpt_section_t *sec = &s->sections[i];
        checkpoint_writer_section(w, sec->type, sec->index, sec->sub, sec->name, sec->data, sec->len);
    }
    return checkpoint_writer_commit(w, size, err);
}

te_ckpt_snapshot_t *checkpoint_storage_read(const char *path, te_error_t *err)
{
    te_ckpt_reader_t *r = checkpoint_reader_open(path, err);
    if (r == NULL)
        return NULL;
    const te_ckpt_file_info_t *in = checkpoint_reader_info(r);
    te_ckpt_snapshot_t *s = snapshot_new(in->checkpoint_id, in->subtask_index, in->parallelism,
                                         in->max_parallelism, in->kg_first, in->kg_last);
    for (size_t i = 0; s != NULL && i < checkpoint_reader_count(r); i++) {
        const te_ckpt_section_info_t *sec = checkpoint_reader_section(r, i);
        uint8_t *data;
        if (checkpoint_reader_load(r, sec, &data, err) != TE_OK ||
            snapshot_add(s, sec->type, sec->index, sec->sub, sec->name, data, (size_t)sec->len) != TE_OK) {
            if (err && err->code == TE_OK)
                te_error_set(err, TE_ENOMEM, "%s: out of memory reading the snapshot", path);
            snapshot_free(s);
            s = NULL;
        }
    }
    if (s == NULL && err && err->code == TE_OK)
        te_error_set(err, TE_ENOMEM, "%s: out of memory reading the snapshot", path);
    checkpoint_reader_close(r);
    return s;
}

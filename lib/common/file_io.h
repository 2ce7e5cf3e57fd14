/*
 * file_io — whole-file helpers: a durable replace (write a hidden temporary next to
 * the file, fsync it, rename it over the file, fsync the directory: a reader sees the
 * old content or the new, never a part), reading a whole file, mkdir -p, placing a file by
 * hard link or copy. Used for
 * checkpoint _metadata, the JobManager's job store and the job files tectl reads.
 *
 * Threading: pure (blocking file I/O on the calling thread); reentrant.
 */
#ifndef TE_FILE_IO_H
#define TE_FILE_IO_H

#include <stddef.h>

#include "common/te_status.h"

/* Creates dir and its missing parents (mode 0755). */
te_status_t file_mkdirs(const char *dir, te_error_t *err);
/* Replaces path with data[0..len) durably (its directory must exist). Errors name the
 * path and the cause; a failure leaves the old file (and no temporary) behind. */
te_status_t file_write_durable(const char *path, const void *data, size_t len, te_error_t *err);
/* The whole file, NUL-terminated (*len = its length when len != NULL); NULL + err. */
char *file_read_all(const char *path, size_t *len, te_error_t *err);

/* Places src at dst, its data on disk: a hard link on the same file system (fsynced: the
 * writer of src may not have synced it), else a fsync'd copy (dst must not exist).
 * TE_ENOTFOUND when src is missing; other errors name the path. */
te_status_t file_place(const char *src, const char *dst, te_error_t *err);

/* rm -r dir (best effort: what cannot be deleted is logged). */
void file_remove_tree(const char *dir);

#endif

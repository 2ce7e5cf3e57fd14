/*
 * savepoint — materializes a completed checkpoint as a self-contained directory (see
 * savepoint.h).
 *
 * Threading: the calling thread; no shared state.
 */
#include "jobmaster/savepoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_io.h"

/* Copies src to dst (created exclusive), fsync'd. */
static te_status_t copy_file(const char *src, const char *dst, te_error_t *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return te_error_set(err, TE_EIO, "cannot read snapshot '%s': %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return te_error_set(err, TE_EIO, "cannot create '%s': %s", dst, strerror(e));
    }
    char buf[65536];
    te_status_t st = TE_OK;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                st = te_error_set(err, TE_EIO, "cannot read snapshot '%s': %s", src, strerror(errno));
            break;
        }
        for (ssize_t off = 0; off < n && st == TE_OK;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                st = te_error_set(err, TE_EIO, "cannot write '%s': %s", dst, strerror(errno));
            off += w > 0 ? w : 0;
        }
        if (st != TE_OK)
            break;
    }
    if (st == TE_OK && fsync(out) != 0)
        st = te_error_set(err, TE_EIO, "cannot fsync '%s': %s", dst, strerror(errno));
    close(in);
    close(out);
    return st;
}

/* A copy of m's handles with paths relative to the savepoint directory, each file
 * linked or copied there. */
static te_status_t place_files(const te_ckpt_metadata_t *m, te_ckpt_metadata_t *copy, const char *dir,
                               te_error_t *err)
{
    for (size_t v = 0; v < m->n_vertices; v++)
        for (size_t k = 0; k < m->vertices[v].n_handles; k++) {
            const te_ckpt_handle_t *h = &m->vertices[v].handles[k];
            te_ckpt_handle_t *c = &copy->vertices[v].handles[k];
            const char *base = strrchr(h->path, '/');
            base = base ? base + 1 : h->path;
            char dst[4400];
            snprintf(dst, sizeof(dst), "%s/%s", dir, base);
            if (access(dst, F_OK) == 0) /* two handles of one file (rescaled restores) */
                ;
            else if (link(h->path, dst) != 0 && copy_file(h->path, dst, err) != TE_OK)
                return err ? err->code : TE_EIO;
            char *rel = strdup(base);
            if (rel == NULL)
                return te_error_set(err, TE_ENOMEM, "out of memory");
            free(c->path);
            c->path = rel;
        }
    return TE_OK;
}

te_status_t savepoint_write(const te_ckpt_metadata_t *m, const char *root, char *out, size_t cap, te_error_t *err)
{
    char dir[4200];
    if ((size_t)snprintf(dir, sizeof(dir), "%s/savepoint-%.6s-%llu", root, m->job_id,
                         (unsigned long long)m->checkpoint_id) >= sizeof(dir))
        return te_error_set(err, TE_EINVAL, "savepoint directory '%s' is too long", root);
    if (access(dir, F_OK) == 0)
        return te_error_set(err, TE_EEXIST, "'%s' exists already", dir);
    if (file_mkdirs(dir, err) != TE_OK)
        return err ? err->code : TE_EIO;
    te_ckpt_metadata_t copy = *m;
    te_ckpt_vertex_t *vertices = calloc(m->n_vertices ? m->n_vertices : 1, sizeof(*vertices));
    te_status_t st = vertices ? TE_OK : te_error_set(err, TE_ENOMEM, "out of memory");
    for (size_t v = 0; v < m->n_vertices && st == TE_OK; v++) {
        vertices[v] = m->vertices[v];
        vertices[v].handles =
            calloc(m->vertices[v].n_handles ? m->vertices[v].n_handles : 1, sizeof(te_ckpt_handle_t));
        vertices[v].n_handles = 0;
        if (vertices[v].handles == NULL) {
            st = te_error_set(err, TE_ENOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < m->vertices[v].n_handles && st == TE_OK; k++)
            if ((st = checkpoint_metadata_handle_copy(&vertices[v].handles[k], &m->vertices[v].handles[k], err)) ==
                TE_OK)
                vertices[v].n_handles++;
    }
    copy.vertices = vertices;
    copy.dir = dir;
    if (st == TE_OK)
        st = place_files(m, &copy, dir, err);
    if (st == TE_OK)
        st = checkpoint_metadata_write_in(&copy, dir, err);
    for (size_t v = 0; vertices != NULL && v < m->n_vertices; v++) {
        for (size_t k = 0; k < vertices[v].n_handles; k++)
            checkpoint_metadata_handle_clear(&vertices[v].handles[k]);
        free(vertices[v].handles);
    }
    free(vertices);
    if (st != TE_OK) {
        file_remove_tree(dir);
        return st;
    }
    snprintf(out, cap, "%s", dir);
    return TE_OK;
}

/*
 * savepoint — materializes a completed checkpoint as a self-contained directory (see
 * savepoint.h).
 *
 * Threading: the calling thread; no shared state.
 */
#include "jobmaster/savepoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file_io.h"

/* Links or copies src into dir under its base name unless a file of that name is there
 * (two handles of one file after a rescaled restore; a shared file several snapshots
 * refer to); the base name goes to *base. */
static te_status_t place_one(const char *src, const char *dir, const char **base, te_error_t *err)
{
    const char *b = strrchr(src, '/');
    *base = b ? b + 1 : src;
    char dst[4400];
    snprintf(dst, sizeof(dst), "%s/%s", dir, *base);
    if (access(dst, F_OK) == 0)
        return TE_OK;
    te_status_t st = file_place(src, dst, err);
    if (st == TE_ENOTFOUND)
        return te_error_set(err, TE_ENOTFOUND, "cannot read snapshot '%s': it is missing", src);
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
            const char *base;
            te_status_t st = place_one(h->path, dir, &base, err);
            for (size_t i = 0; i < h->n_shared && st == TE_OK; i++) {
                const char *ignored;
                st = place_one(h->shared[i].path, dir, &ignored, err);
            }
            if (st != TE_OK)
                return st;
            char *rel = strdup(base);
            if (rel == NULL)
                return te_error_set(err, TE_ENOMEM, "out of memory");
            free(c->path);
            c->path = rel;
            for (size_t i = 0; i < c->n_shared; i++) /* the savepoint owns its copies */
                free(c->shared[i].path);
            free(c->shared);
            c->shared = NULL;
            c->n_shared = 0;
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

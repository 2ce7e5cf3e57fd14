/*
 * shared_state_registry — reference counts of shared checkpoint files (see
 * shared_state_registry.h). Files are kept in an array sorted by path (binary search;
 * a job has hundreds to thousands of them); each registered checkpoint keeps the
 * positions-independent list of the paths it referred to.
 *
 * Threading: one thread; no locks.
 */
#include "jobmaster/shared_state_registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

typedef struct reg_file {
    char *path;
    uint64_t size;
    unsigned refs;
} reg_file_t;

typedef struct reg_ckpt {
    uint64_t id;
    char **paths; /* distinct */
    size_t n;
} reg_ckpt_t;

struct te_shared_state_registry {
    reg_file_t *files;
    size_t n_files, cap_files;
    reg_ckpt_t *ckpts;
    size_t n_ckpts, cap_ckpts;
};

te_shared_state_registry_t *shared_state_registry_new(void)
{
    return calloc(1, sizeof(te_shared_state_registry_t));
}

static void ckpt_clear(reg_ckpt_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->paths[i]);
    free(c->paths);
}

void shared_state_registry_free(te_shared_state_registry_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_files; i++)
        free(r->files[i].path);
    free(r->files);
    for (size_t i = 0; i < r->n_ckpts; i++)
        ckpt_clear(&r->ckpts[i]);
    free(r->ckpts);
    free(r);
}

/* Index of path, or where it would go (*found 0). */
static size_t file_pos(const te_shared_state_registry_t *r, const char *path, int *found)
{
    size_t lo = 0, hi = r->n_files;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->files[mid].path, path);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

unsigned shared_state_registry_refs(const te_shared_state_registry_t *r, const char *path)
{
    int found;
    size_t i = file_pos(r, path, &found);
    return found ? r->files[i].refs : 0;
}

size_t shared_state_registry_files(const te_shared_state_registry_t *r) { return r->n_files; }

uint64_t shared_state_registry_bytes(const te_shared_state_registry_t *r)
{
    uint64_t b = 0;
    for (size_t i = 0; i < r->n_files; i++)
        b += r->files[i].size;
    return b;
}

/* +1 on path (inserted at 1). -1 when out of memory. *added = 1 when new. */
static int file_ref(te_shared_state_registry_t *r, const char *path, uint64_t size, int *added)
{
    int found;
    size_t i = file_pos(r, path, &found);
    *added = !found;
    if (found) {
        r->files[i].refs++;
        return 0;
    }
    if (r->n_files == r->cap_files) {
        size_t nc = r->cap_files ? r->cap_files * 2 : 64;
        reg_file_t *p = realloc(r->files, nc * sizeof(*p));
        if (p == NULL)
            return -1;
        r->files = p;
        r->cap_files = nc;
    }
    char *c = strdup(path);
    if (c == NULL)
        return -1;
    memmove(&r->files[i + 1], &r->files[i], (r->n_files - i) * sizeof(*r->files));
    r->files[i] = (reg_file_t){c, size, 1};
    r->n_files++;
    return 0;
}

/* -1 on path; deletes the file at zero. Returns 1 when deleted. */
static int file_unref(te_shared_state_registry_t *r, const char *path)
{
    int found;
    size_t i = file_pos(r, path, &found);
    if (!found || --r->files[i].refs > 0)
        return 0;
    if (unlink(path) != 0 && errno != ENOENT)
        TE_WARN("checkpoint", "cannot delete the shared checkpoint file '%s': %s", path, strerror(errno));
    free(r->files[i].path);
    memmove(&r->files[i], &r->files[i + 1], (r->n_files - i - 1) * sizeof(*r->files));
    r->n_files--;
    return 1;
}

static int has_path(const reg_ckpt_t *c, const char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->paths[i], path) == 0)
            return 1;
    return 0;
}

te_status_t shared_state_registry_register(te_shared_state_registry_t *r, const te_ckpt_metadata_t *m,
                                           uint64_t *new_bytes, te_error_t *err)
{
    if (new_bytes)
        *new_bytes = 0;
    for (size_t i = 0; i < r->n_ckpts; i++)
        if (r->ckpts[i].id == m->checkpoint_id)
            return TE_OK;
    if (r->n_ckpts == r->cap_ckpts) {
        size_t nc = r->cap_ckpts ? r->cap_ckpts * 2 : 8;
        reg_ckpt_t *p = realloc(r->ckpts, nc * sizeof(*p));
        if (p == NULL)
            return te_error_set(err, TE_ENOMEM, "out of memory registering shared checkpoint files");
        r->ckpts = p;
        r->cap_ckpts = nc;
    }
    size_t total = 0;
    for (size_t v = 0; v < m->n_vertices; v++)
        for (size_t h = 0; h < m->vertices[v].n_handles; h++)
            total += m->vertices[v].handles[h].n_shared;
    reg_ckpt_t c = {m->checkpoint_id, total ? calloc(total, sizeof(char *)) : NULL, 0};
    if (total && c.paths == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory registering shared checkpoint files");
    for (size_t v = 0; v < m->n_vertices; v++)
        for (size_t h = 0; h < m->vertices[v].n_handles; h++) {
            const te_ckpt_handle_t *hd = &m->vertices[v].handles[h];
            for (size_t k = 0; k < hd->n_shared; k++) {
                const te_ckpt_shared_file_t *f = &hd->shared[k];
                if (has_path(&c, f->path))
                    continue;
                int added;
                char *p = strdup(f->path);
                if (p == NULL || file_ref(r, f->path, f->size, &added) != 0) {
                    free(p);
                    for (size_t i = 0; i < c.n; i++)
                        file_unref(r, c.paths[i]); /* back out (nothing new is deleted: it is ours) */
                    ckpt_clear(&c);
                    return te_error_set(err, TE_ENOMEM, "out of memory registering shared checkpoint files");
                }
                c.paths[c.n++] = p;
                if (added && new_bytes)
                    *new_bytes += f->size;
            }
        }
    r->ckpts[r->n_ckpts++] = c;
    return TE_OK;
}

size_t shared_state_registry_unregister(te_shared_state_registry_t *r, uint64_t checkpoint_id)
{
    for (size_t i = 0; i < r->n_ckpts; i++) {
        if (r->ckpts[i].id != checkpoint_id)
            continue;
        reg_ckpt_t c = r->ckpts[i];
        r->ckpts[i] = r->ckpts[--r->n_ckpts];
        size_t deleted = 0;
        for (size_t k = 0; k < c.n; k++)
            deleted += (size_t)file_unref(r, c.paths[k]);
        ckpt_clear(&c);
        return deleted;
    }
    return 0;
}

size_t shared_state_registry_sync(te_shared_state_registry_t *r, const char *job_dir)
{
    size_t deleted = 0;
    for (size_t i = 0; i < r->n_ckpts;) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/chk-%llu/%s", job_dir, (unsigned long long)r->ckpts[i].id,
                 TE_CKPT_METADATA_FILE);
        if (access(path, F_OK) == 0) {
            i++;
            continue;
        }
        deleted += shared_state_registry_unregister(r, r->ckpts[i].id); /* moves the last into i */
    }
    return deleted;
}

te_status_t shared_state_registry_load(te_shared_state_registry_t *r, const char *job_dir, te_error_t *err)
{
    te_ckpt_metadata_t **list;
    size_t n;
    te_status_t st = checkpoint_metadata_list(job_dir, &list, &n, err);
    if (st != TE_OK)
        return st;
    for (size_t i = 0; st == TE_OK && i < n; i++)
        st = shared_state_registry_register(r, list[i], NULL, err);
    checkpoint_metadata_list_free(list, n);
    return st;
}

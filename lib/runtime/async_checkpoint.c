/*
 * async_checkpoint — a subtask's snapshot parts and the writing of them (see
 * async_checkpoint.h).
 *
 * Threading: parts are added on the task thread; write runs on one snapshot thread
 * after the task thread handed the checkpoint over (through the pool's queue: a
 * happens-before edge); `cancel` is atomic. No locks.
 */
#include "runtime/async_checkpoint.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "state/checkpoint_storage.h"

typedef enum part_kind { PART_BYTES, PART_VIEW, PART_CUSTOM } part_kind_t;

typedef struct ac_part {
    part_kind_t kind;
    uint32_t type, index, sub;
    char *name;
    uint8_t *data; /* PART_BYTES */
    size_t len;
    te_state_view_t *view; /* PART_VIEW */
    te_state_ns_map_fn map;
    int64_t map_arg;
    const te_async_part_ops_t *ops; /* PART_CUSTOM */
    void *arg;
} ac_part_t;

struct te_async_checkpoint {
    char *path;
    te_ckpt_file_info_t info;
    te_state_store_t *store;
    ac_part_t *parts;
    size_t n, cap;
    _Atomic int cancel;
    char **shared; /* shared files referred to */
    uint64_t *shared_sizes;
    size_t n_shared, cap_shared;
};

te_async_checkpoint_t *async_checkpoint_new(const char *path, const te_ckpt_file_info_t *info,
                                            te_state_store_t *store)
{
    te_async_checkpoint_t *ac = calloc(1, sizeof(*ac));
    if (ac == NULL || (ac->path = strdup(path)) == NULL) {
        free(ac);
        return NULL;
    }
    ac->info = *info;
    ac->store = store ? state_store_ref(store) : NULL;
    atomic_init(&ac->cancel, 0);
    return ac;
}

static void part_release(ac_part_t *p)
{
    free(p->name);
    free(p->data);
    state_backend_view_release(p->view);
    if (p->ops && p->ops->release)
        p->ops->release(p->arg);
    memset(p, 0, sizeof(*p));
}

void async_checkpoint_free(te_async_checkpoint_t *ac)
{
    if (ac == NULL)
        return;
    for (size_t i = 0; i < ac->n; i++)
        part_release(&ac->parts[i]);
    free(ac->parts);
    for (size_t i = 0; i < ac->n_shared; i++)
        free(ac->shared[i]);
    free(ac->shared);
    free(ac->shared_sizes);
    state_store_free(ac->store);
    free(ac->path);
    free(ac);
}

const char *async_checkpoint_path(const te_async_checkpoint_t *ac) { return ac->path; }

const te_ckpt_file_info_t *async_checkpoint_info(const te_async_checkpoint_t *ac) { return &ac->info; }

te_state_store_t *async_checkpoint_store(const te_async_checkpoint_t *ac) { return ac->store; }

/* A new part (name copied); NULL when out of memory. */
static ac_part_t *push(te_async_checkpoint_t *ac, part_kind_t kind, uint32_t type, uint32_t index, uint32_t sub,
                       const char *name)
{
    if (ac->n == ac->cap) {
        size_t nc = ac->cap ? ac->cap * 2 : 8;
        ac_part_t *p = realloc(ac->parts, nc * sizeof(*p));
        if (p == NULL)
            return NULL;
        ac->parts = p;
        ac->cap = nc;
    }
    char *nm = strdup(name ? name : "");
    if (nm == NULL)
        return NULL;
    ac_part_t *p = &ac->parts[ac->n++];
    *p = (ac_part_t){.kind = kind, .type = type, .index = index, .sub = sub, .name = nm};
    return p;
}

te_status_t async_checkpoint_add_bytes(te_async_checkpoint_t *ac, uint32_t type, uint32_t index, uint32_t sub,
                                       const char *name, uint8_t *data, size_t len)
{
    ac_part_t *p = push(ac, PART_BYTES, type, index, sub, name);
    if (p == NULL) {
        free(data);
        return TE_ENOMEM;
    }
    p->data = data;
    p->len = len;
    return TE_OK;
}

te_status_t async_checkpoint_add_view(te_async_checkpoint_t *ac, uint32_t type, uint32_t index, uint32_t sub,
                                      const char *name, te_state_view_t *view, te_state_ns_map_fn map,
                                      int64_t map_arg)
{
    ac_part_t *p = push(ac, PART_VIEW, type, index, sub, name);
    if (p == NULL) {
        state_backend_view_release(view);
        return TE_ENOMEM;
    }
    p->view = view;
    p->map = map;
    p->map_arg = map_arg;
    return TE_OK;
}

te_status_t async_checkpoint_add_part(te_async_checkpoint_t *ac, uint32_t type, uint32_t index, uint32_t sub,
                                      const char *name, const te_async_part_ops_t *ops, void *arg)
{
    ac_part_t *p = push(ac, PART_CUSTOM, type, index, sub, name);
    if (p == NULL) {
        if (ops->release)
            ops->release(arg);
        return TE_ENOMEM;
    }
    p->ops = ops;
    p->arg = arg;
    return TE_OK;
}

te_status_t async_checkpoint_append(te_async_checkpoint_t *ac, uint32_t type, uint32_t index, uint32_t sub,
                                    const char *name, const uint8_t *data, size_t len)
{
    ac_part_t *p = NULL;
    for (size_t i = 0; i < ac->n && p == NULL; i++)
        if (ac->parts[i].kind == PART_BYTES && ac->parts[i].type == type && ac->parts[i].index == index &&
            ac->parts[i].sub == sub)
            p = &ac->parts[i];
    if (p == NULL && (p = push(ac, PART_BYTES, type, index, sub, name)) == NULL)
        return TE_ENOMEM;
    if (len == 0)
        return TE_OK;
    uint8_t *nd = realloc(p->data, p->len + len);
    if (nd == NULL)
        return TE_ENOMEM;
    memcpy(nd + p->len, data, len);
    p->data = nd;
    p->len += len;
    return TE_OK;
}

uint64_t async_checkpoint_bytes_of(const te_async_checkpoint_t *ac, uint32_t type)
{
    uint64_t n = 0;
    for (size_t i = 0; i < ac->n; i++)
        if (ac->parts[i].kind == PART_BYTES && ac->parts[i].type == type)
            n += ac->parts[i].len;
    return n;
}

void async_checkpoint_cancel(te_async_checkpoint_t *ac) { atomic_store(&ac->cancel, 1); }

te_status_t async_checkpoint_add_shared(te_async_checkpoint_t *ac, const char *path, uint64_t size)
{
    if (ac->n_shared == ac->cap_shared) {
        size_t nc = ac->cap_shared ? ac->cap_shared * 2 : 16;
        char **p = realloc(ac->shared, nc * sizeof(*p));
        if (p == NULL)
            return TE_ENOMEM;
        ac->shared = p;
        uint64_t *z = realloc(ac->shared_sizes, nc * sizeof(*z));
        if (z == NULL)
            return TE_ENOMEM;
        ac->shared_sizes = z;
        ac->cap_shared = nc;
    }
    char *c = strdup(path);
    if (c == NULL)
        return TE_ENOMEM;
    ac->shared[ac->n_shared] = c;
    ac->shared_sizes[ac->n_shared++] = size;
    return TE_OK;
}

size_t async_checkpoint_n_shared(const te_async_checkpoint_t *ac) { return ac->n_shared; }

const char *const *async_checkpoint_shared_paths(const te_async_checkpoint_t *ac)
{
    return (const char *const *)ac->shared;
}

const uint64_t *async_checkpoint_shared_sizes(const te_async_checkpoint_t *ac) { return ac->shared_sizes; }

static te_status_t write_part(te_async_checkpoint_t *ac, ac_part_t *p, te_ckpt_writer_t *w, te_error_t *err)
{
    te_status_t st = checkpoint_writer_section_begin(w, p->type, p->index, p->sub, p->name);
    if (st != TE_OK)
        return checkpoint_writer_status(w, err);
    switch (p->kind) {
    case PART_BYTES: st = checkpoint_writer_write(w, p->data, p->len); break;
    case PART_VIEW:
        st = state_backend_view_write(p->view, w, 0, ac->info.max_parallelism - 1, p->map, p->map_arg, err);
        break;
    case PART_CUSTOM: st = p->ops->write(p->arg, w, ac, err); break;
    }
    if (st == TE_OK)
        st = checkpoint_writer_section_end(w);
    if (st != TE_OK && checkpoint_writer_status(w, NULL) != TE_OK)
        checkpoint_writer_status(w, err); /* the writer's error (e.g. cancelled) wins */
    part_release(p);                      /* a written view frees what it kept alive at once */
    return st;
}

te_status_t async_checkpoint_write(te_async_checkpoint_t *ac, uint64_t *size, te_error_t *err)
{
    te_ckpt_writer_t *w = checkpoint_writer_open(ac->path, &ac->info, &ac->cancel, err);
    if (w == NULL)
        return err ? err->code : TE_EIO;
    for (size_t i = 0; i < ac->n; i++) {
        te_status_t st = write_part(ac, &ac->parts[i], w, err);
        if (st != TE_OK) {
            checkpoint_writer_abort(w);
            return st;
        }
    }
    return checkpoint_writer_commit(w, size, err);
}

/*
 * rocksdb_incremental — native checkpoints, uploads by reference, the manifest, and
 * materialising a manifest on restore (see rocksdb_incremental.h).
 *
 * Threading: `mu` guards base and pending (a leaf lock; files are linked, copied and
 * unlinked outside it).
 */
#define _GNU_SOURCE
#include "state/rocksdb_incremental.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/byte_codec.h"
#include "common/crc32c.h"
#include "common/dir_util.h"
#include "common/file_io.h"

#define KIND_SHARED  1
#define KIND_PRIVATE 2
#define IO_CHUNK     (1u << 20)

typedef struct inc_file {
    char *name; /* in the instance: "000012.sst" */
    char *path; /* the shared file */
    uint64_t size;
    uint32_t crc;
    int is_new; /* uploaded by its checkpoint */
} inc_file_t;

typedef struct inc_ckpt {
    uint64_t id;
    inc_file_t *files;
    size_t n, cap;
} inc_ckpt_t;

struct te_rocksdb_incremental {
    pthread_mutex_t mu;
    char *shared_dir;
    char uid[96];
    inc_ckpt_t base;
    inc_ckpt_t *pending;
    size_t n_pending, cap_pending;
};

struct te_rocksdb_inc_snapshot {
    te_rocksdb_incremental_t *x;
    uint64_t id;
    uint32_t maxp, kgf, kgl;
    te_rocksdb_state_name_t *states;
    size_t n_states;
    char *dir;
    te_rocksdb_instance_t *inst;
    te_state_batch_t *batch;   /* the caches' dirty entries at the barrier */
    te_state_gate_t *gate;     /* the task's writes into inst wait for it */
    te_rocksdb_capture_t *cap; /* the native checkpoint into dir, once the batch is in */
};

/* ---- file lists ---- */

static void file_clear(inc_file_t *f)
{
    free(f->name);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

static void ckpt_clear(inc_ckpt_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        file_clear(&c->files[i]);
    free(c->files);
    memset(c, 0, sizeof(*c));
}

static int ckpt_push(inc_ckpt_t *c, const char *name, const char *path, uint64_t size, uint32_t crc, int is_new)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        inc_file_t *p = realloc(c->files, nc * sizeof(*p));
        if (p == NULL)
            return -1;
        c->files = p;
        c->cap = nc;
    }
    inc_file_t f = {strdup(name), strdup(path), size, crc, is_new};
    if (f.name == NULL || f.path == NULL) {
        file_clear(&f);
        return -1;
    }
    c->files[c->n++] = f;
    return 0;
}

static const inc_file_t *ckpt_find(const inc_ckpt_t *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->files[i].name, name) == 0)
            return &c->files[i];
    return NULL;
}

/* Under mu: the pending checkpoint `id`, created when missing (NULL out of memory). */
static inc_ckpt_t *pending_get(te_rocksdb_incremental_t *x, uint64_t id)
{
    for (size_t i = 0; i < x->n_pending; i++)
        if (x->pending[i].id == id)
            return &x->pending[i];
    if (x->n_pending == x->cap_pending) {
        size_t nc = x->cap_pending ? x->cap_pending * 2 : 4;
        inc_ckpt_t *p = realloc(x->pending, nc * sizeof(*p));
        if (p == NULL)
            return NULL;
        x->pending = p;
        x->cap_pending = nc;
    }
    inc_ckpt_t *c = &x->pending[x->n_pending++];
    memset(c, 0, sizeof(*c));
    c->id = id;
    return c;
}

/* Under mu: removes pending entry i into *out. */
static void pending_take(te_rocksdb_incremental_t *x, size_t i, inc_ckpt_t *out)
{
    *out = x->pending[i];
    x->pending[i] = x->pending[--x->n_pending];
}

/* Deletes the files a checkpoint uploaded itself. */
static void delete_new(inc_ckpt_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->files[i].is_new)
            unlink(c->files[i].path);
}

te_rocksdb_incremental_t *rocksdb_incremental_new(const char *shared_dir, const char *label)
{
    te_rocksdb_incremental_t *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->shared_dir = strdup(shared_dir)) == NULL) {
        free(x);
        return NULL;
    }
    pthread_mutex_init(&x->mu, NULL);
    /* unique per instance: a restarted task never writes a name an older one wrote */
    uint64_t r = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    }
    if (fd >= 0)
        close(fd);
    snprintf(x->uid, sizeof(x->uid), "%.64s-%016llx", label ? label : "task", (unsigned long long)r);
    return x;
}

void rocksdb_incremental_free(te_rocksdb_incremental_t *x)
{
    if (x == NULL)
        return;
    ckpt_clear(&x->base);
    for (size_t i = 0; i < x->n_pending; i++)
        ckpt_clear(&x->pending[i]);
    free(x->pending);
    pthread_mutex_destroy(&x->mu);
    free(x->shared_dir);
    free(x);
}

void rocksdb_incremental_complete(te_rocksdb_incremental_t *x, uint64_t id)
{
    inc_ckpt_t done = {0}, old = {0};
    inc_ckpt_t *gone = NULL;
    size_t n_gone = 0;
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < x->n_pending; i++)
        if (x->pending[i].id == id) {
            pending_take(x, i, &done);
            break;
        }
    if (done.id == id && id != 0) {
        old = x->base;
        x->base = done;
        for (size_t i = 0; i < x->base.n; i++)
            x->base.files[i].is_new = 0;
        /* checkpoints before `id` that were never confirmed were aborted */
        gone = malloc((x->n_pending ? x->n_pending : 1) * sizeof(*gone));
        for (size_t i = 0; gone != NULL && i < x->n_pending;)
            if (x->pending[i].id < id)
                pending_take(x, i, &gone[n_gone++]);
            else
                i++;
    }
    pthread_mutex_unlock(&x->mu);
    ckpt_clear(&old);
    for (size_t i = 0; i < n_gone; i++) {
        delete_new(&gone[i]);
        ckpt_clear(&gone[i]);
    }
    free(gone);
}

void rocksdb_incremental_abort(te_rocksdb_incremental_t *x, uint64_t id)
{
    inc_ckpt_t c = {0};
    int found = 0;
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < x->n_pending && !found; i++)
        if (x->pending[i].id == id) {
            pending_take(x, i, &c);
            found = 1;
        }
    pthread_mutex_unlock(&x->mu);
    if (found) {
        delete_new(&c);
        ckpt_clear(&c);
    }
}

/* ---- files ---- */

/* CRC-32C and size of the file at path. */
static te_status_t file_crc(const char *path, uint32_t *crc, uint64_t *size, te_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return te_error_set(err, errno == ENOENT ? TE_ENOTFOUND : TE_EIO, "cannot read '%s': %s", path,
                            strerror(errno));
    uint8_t *buf = malloc(IO_CHUNK);
    te_status_t st = buf ? TE_OK : te_error_set(err, TE_ENOMEM, "out of memory reading '%s'", path);
    uint32_t c = 0;
    uint64_t n = 0;
    for (ssize_t r; st == TE_OK && (r = read(fd, buf, IO_CHUNK)) != 0;) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = te_error_set(err, TE_EIO, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        c = crc32c_update(c, buf, (size_t)r);
        n += (uint64_t)r;
    }
    free(buf);
    close(fd);
    *crc = c;
    *size = n;
    return st;
}

/* ---- the synchronous part ---- */

te_rocksdb_inc_snapshot_t *rocksdb_incremental_snapshot(te_rocksdb_incremental_t *x, te_rocksdb_instance_t *inst,
                                                        uint64_t checkpoint_id, uint32_t max_parallelism,
                                                        uint32_t kg_first, uint32_t kg_last,
                                                        const te_rocksdb_state_name_t *states, size_t n_states,
                                                        const char *local_chk_dir, te_state_batch_t *batch,
                                                        te_state_gate_t *gate, te_error_t *err)
{
    te_rocksdb_inc_snapshot_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        state_batch_free(batch);
        state_gate_open(gate, 0);
        te_error_set(err, TE_ENOMEM, "out of memory taking an incremental snapshot");
        return NULL;
    }
    s->batch = batch;
    s->gate = state_gate_ref(gate);
    s->inst = inst;
    if ((s->dir = strdup(local_chk_dir)) == NULL ||
        (n_states && (s->states = calloc(n_states, sizeof(*s->states))) == NULL))
        goto oom;
    s->x = x;
    s->id = checkpoint_id;
    s->maxp = max_parallelism;
    s->kgf = kg_first;
    s->kgl = kg_last;
    for (size_t i = 0; i < n_states; i++) {
        s->states[i].op_index = states[i].op_index;
        if ((s->states[i].name = strdup(states[i].name ? states[i].name : "")) == NULL)
            goto oom;
        s->n_states = i + 1;
    }
    (void)dir_remove_tree(local_chk_dir); /* a leftover of an earlier attempt */
    return s;
oom:
    rocksdb_incremental_release(s);
    te_error_set(err, TE_ENOMEM, "out of memory taking an incremental snapshot");
    return NULL;
}

void rocksdb_incremental_release(te_rocksdb_inc_snapshot_t *s)
{
    if (s == NULL)
        return;
    if (s->gate) { /* released before the batch was written: the caches keep it dirty */
        state_gate_open(s->gate, 0);
        state_gate_unref(s->gate);
    }
    state_batch_free(s->batch);
    rocksdb_instance_capture_free(s->cap);
    if (s->dir)
        (void)dir_remove_tree(s->dir);
    for (size_t i = 0; i < s->n_states; i++)
        free((char *)s->states[i].name);
    free(s->states);
    free(s->dir);
    free(s);
}

/* ---- the asynchronous part ---- */

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in dir, sorted. */
static te_status_t list_dir(const char *dir, char ***names, size_t *n, te_error_t *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return te_error_set(err, TE_EIO, "cannot read '%s': %s", dir, strerror(errno));
    size_t cap = 0;
    te_status_t st = TE_OK;
    for (struct dirent *e; st == TE_OK && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            char **p = realloc(*names, cap * sizeof(*p));
            if (p == NULL) {
                st = te_error_set(err, TE_ENOMEM, "out of memory listing '%s'", dir);
                break;
            }
            *names = p;
        }
        if (((*names)[*n] = strdup(e->d_name)) == NULL)
            st = te_error_set(err, TE_ENOMEM, "out of memory listing '%s'", dir);
        else
            (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(*names, *n, sizeof(char *), name_cmp);
    return st;
}

static int is_sst(const char *name)
{
    size_t l = strlen(name);
    return l > 4 && strcmp(name + l - 4, ".sst") == 0;
}

/* Uploads one new SST as a shared file, recorded as pending (so an abort deletes it). */
static te_status_t upload(te_rocksdb_inc_snapshot_t *s, const char *name, inc_file_t *out, te_error_t *err)
{
    te_rocksdb_incremental_t *x = s->x;
    char src[4200], dst[4200], tmp[4300];
    snprintf(src, sizeof(src), "%s/%s", s->dir, name);
    snprintf(dst, sizeof(dst), "%s/%s-%llu-%s", x->shared_dir, x->uid, (unsigned long long)s->id, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    if (dir_make(x->shared_dir) != 0)
        return te_error_set(err, TE_EIO, "cannot create '%s': %s", x->shared_dir, strerror(errno));
    unlink(tmp);
    te_status_t st = file_place(src, tmp, err);
    uint32_t crc = 0;
    uint64_t size = 0;
    if (st == TE_OK)
        st = file_crc(tmp, &crc, &size, err);
    if (st == TE_OK && rename(tmp, dst) != 0)
        st = te_error_set(err, TE_EIO, "cannot rename '%s': %s", tmp, strerror(errno));
    if (st != TE_OK) {
        unlink(tmp);
        return st;
    }
    pthread_mutex_lock(&x->mu);
    inc_ckpt_t *p = pending_get(x, s->id);
    int rc = p ? ckpt_push(p, name, dst, size, crc, 1) : -1;
    pthread_mutex_unlock(&x->mu);
    if (rc != 0) {
        unlink(dst);
        return te_error_set(err, TE_ENOMEM, "out of memory uploading '%s'", dst);
    }
    *out = (inc_file_t){NULL, NULL, size, crc, 1};
    out->path = strdup(dst);
    return out->path ? TE_OK : te_error_set(err, TE_ENOMEM, "out of memory");
}

static te_status_t write_private(te_rocksdb_inc_snapshot_t *s, const char *name, te_ckpt_writer_t *w,
                                 te_error_t *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", s->dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        return te_error_set(err, TE_EIO, "cannot read '%s': %s", path, strerror(errno));
    }
    uint8_t h[3 + 256 + 8];
    size_t nl = strlen(name);
    h[0] = KIND_PRIVATE;
    byte_put_le16(h + 1, (uint16_t)nl);
    memcpy(h + 3, name, nl);
    byte_put_le64(h + 3 + nl, (uint64_t)sb.st_size);
    checkpoint_writer_write(w, h, 3 + nl + 8);
    uint8_t buf[65536];
    uint64_t left = (uint64_t)sb.st_size;
    te_status_t st = TE_OK;
    while (left > 0 && st == TE_OK) {
        ssize_t r = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            st = te_error_set(err, TE_EIO, "cannot read '%s': %s", path, r < 0 ? strerror(errno) : "it shrank");
        else {
            checkpoint_writer_write(w, buf, (size_t)r);
            left -= (uint64_t)r;
        }
    }
    close(fd);
    return st;
}

static void write_shared(te_ckpt_writer_t *w, const char *name, const inc_file_t *f)
{
    uint8_t h[3 + 256];
    size_t nl = strlen(name), pl = strlen(f->path);
    h[0] = KIND_SHARED;
    byte_put_le16(h + 1, (uint16_t)nl);
    memcpy(h + 3, name, nl);
    checkpoint_writer_write(w, h, 3 + nl);
    byte_put_le16(h, (uint16_t)pl);
    checkpoint_writer_write(w, h, 2);
    checkpoint_writer_write(w, f->path, pl);
    byte_put_le64(h, f->size);
    byte_put_le32(h + 8, f->crc);
    checkpoint_writer_write(w, h, 12);
}

/* One file of the checkpoint directory into the manifest. */
static te_status_t write_file(te_rocksdb_inc_snapshot_t *s, const inc_ckpt_t *base, const char *name,
                              te_ckpt_writer_t *w, te_rocksdb_shared_fn shared, void *arg, te_error_t *err)
{
    if (strlen(name) > 255)
        return te_error_set(err, TE_EINVAL, "RocksDB file name '%s' is too long", name);
    if (!is_sst(name))
        return write_private(s, name, w, err);
    const inc_file_t *known = ckpt_find(base, name);
    inc_file_t f = {0};
    te_status_t st = TE_OK;
    if (known != NULL) { /* referred to: a file of the last confirmed checkpoint */
        f = (inc_file_t){NULL, strdup(known->path), known->size, known->crc, 0};
        pthread_mutex_lock(&s->x->mu);
        inc_ckpt_t *p = pending_get(s->x, s->id);
        int rc = p && f.path ? ckpt_push(p, name, f.path, f.size, f.crc, 0) : -1;
        pthread_mutex_unlock(&s->x->mu);
        if (rc != 0)
            st = te_error_set(err, TE_ENOMEM, "out of memory");
    } else {
        st = upload(s, name, &f, err);
    }
    if (st == TE_OK) {
        if (strlen(f.path) > 4000)
            st = te_error_set(err, TE_EINVAL, "shared file path '%s' is too long", f.path);
        else {
            write_shared(w, name, &f);
            if (shared && shared(arg, f.path, f.size) != 0)
                st = te_error_set(err, TE_ENOMEM, "out of memory recording the shared file '%s'", f.path);
        }
    }
    free(f.path);
    return st;
}

te_status_t rocksdb_incremental_write(te_rocksdb_inc_snapshot_t *s, te_ckpt_writer_t *w,
                                      te_rocksdb_shared_fn shared, void *arg, te_error_t *err)
{
    te_rocksdb_incremental_t *x = s->x;
    char **names = NULL;
    size_t n = 0;
    /* the barrier's state: the batch into the instance, then the memtables switched;
     * the task's writes wait for the gate until then */
    te_status_t st = state_batch_write(s->batch, s->inst, err);
    if (st == TE_OK && (s->cap = rocksdb_instance_capture_begin(s->inst, s->dir, err)) == NULL)
        st = err ? err->code : TE_EIO;
    state_gate_open(s->gate, st == TE_OK);
    state_gate_unref(s->gate);
    s->gate = NULL;
    state_batch_free(s->batch);
    s->batch = NULL;
    if (st == TE_OK)
        st = rocksdb_instance_capture_end(s->cap, err);
    if (st == TE_OK)
        st = list_dir(s->dir, &names, &n, err);
    inc_ckpt_t base = {0};
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; st == TE_OK && i < x->base.n; i++)
        if (ckpt_push(&base, x->base.files[i].name, x->base.files[i].path, x->base.files[i].size,
                      x->base.files[i].crc, 0) != 0)
            st = te_error_set(err, TE_ENOMEM, "out of memory");
    pthread_mutex_unlock(&x->mu);
    uint8_t h[24];
    memcpy(h, "TERI", 4);
    byte_put_le32(h + 4, TE_ROCKSDB_MANIFEST_VERSION);
    byte_put_le32(h + 8, s->maxp);
    byte_put_le32(h + 12, s->kgf);
    byte_put_le32(h + 16, s->kgl);
    byte_put_le32(h + 20, (uint32_t)s->n_states);
    checkpoint_writer_write(w, h, 24);
    for (size_t i = 0; i < s->n_states; i++) {
        size_t nl = strlen(s->states[i].name);
        byte_put_le32(h, s->states[i].op_index);
        byte_put_le32(h + 4, (uint32_t)nl);
        checkpoint_writer_write(w, h, 8);
        checkpoint_writer_write(w, s->states[i].name, nl);
    }
    byte_put_le32(h, (uint32_t)n);
    checkpoint_writer_write(w, h, 4);
    for (size_t i = 0; i < n && st == TE_OK; i++) {
        if (checkpoint_writer_status(w, err) != TE_OK || checkpoint_writer_cancelled(w)) {
            st = checkpoint_writer_cancelled(w) ? te_error_set(err, TE_ECANCELED, "the checkpoint was cancelled")
                                                : err->code;
            break;
        }
        st = write_file(s, &base, names[i], w, shared, arg, err);
    }
    if (st == TE_OK)
        dir_fsync(x->shared_dir);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    ckpt_clear(&base);
    if (st == TE_OK)
        st = checkpoint_writer_status(w, err);
    return st;
}

/* ---- restore ---- */

typedef struct mf_file {
    uint8_t kind;
    char *name, *path;
    uint64_t size;
    uint32_t crc;
    const uint8_t *data; /* private: in raw */
} mf_file_t;

struct te_rocksdb_manifest {
    uint32_t maxp, kgf, kgl;
    te_rocksdb_state_name_t *states;
    size_t n_states;
    mf_file_t *files;
    size_t n_files;
    uint8_t *raw;
    char *what;
};

void rocksdb_incremental_manifest_free(te_rocksdb_manifest_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_states; i++)
        free((char *)m->states[i].name);
    free(m->states);
    for (size_t i = 0; i < m->n_files; i++) {
        free(m->files[i].name);
        free(m->files[i].path);
    }
    free(m->files);
    free(m->raw);
    free(m->what);
    free(m);
}

typedef struct mf_cursor {
    const uint8_t *p, *end;
    int bad;
} mf_cursor_t;

static const uint8_t *mf_take(mf_cursor_t *c, uint64_t n)
{
    if (c->bad || (uint64_t)(c->end - c->p) < n) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *r = c->p;
    c->p += n;
    return r;
}

static uint64_t mf_uint(mf_cursor_t *c, int bytes)
{
    const uint8_t *p = mf_take(c, (uint64_t)bytes);
    uint64_t v = 0;
    for (int i = bytes - 1; p && i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static char *mf_str(mf_cursor_t *c, uint64_t n)
{
    const uint8_t *p = mf_take(c, n);
    char *s = p ? strndup((const char *)p, (size_t)n) : NULL;
    if (p && (s == NULL || strlen(s) != n)) { /* out of memory, or a NUL inside */
        free(s);
        c->bad = 1;
        return NULL;
    }
    return s;
}

te_rocksdb_manifest_t *rocksdb_incremental_parse(const uint8_t *data, size_t len, uint32_t version,
                                                 const char *what, te_error_t *err)
{
    if (version != TE_ROCKSDB_MANIFEST_VERSION) {
        te_error_set(err, TE_EPROTO, "%s: RocksDB checkpoint format %u, this daemon reads %u", what, version,
                     TE_ROCKSDB_MANIFEST_VERSION);
        return NULL;
    }
    te_rocksdb_manifest_t *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->what = strdup(what)) == NULL || (m->raw = malloc(len ? len : 1)) == NULL) {
        rocksdb_incremental_manifest_free(m);
        te_error_set(err, TE_ENOMEM, "%s: out of memory reading the RocksDB checkpoint", what);
        return NULL;
    }
    memcpy(m->raw, data, len);
    mf_cursor_t c = {m->raw, m->raw + len, 0};
    const uint8_t *magic = mf_take(&c, 4);
    if (magic == NULL || memcmp(magic, "TERI", 4) != 0 || mf_uint(&c, 4) != TE_ROCKSDB_MANIFEST_VERSION)
        goto bad;
    m->maxp = (uint32_t)mf_uint(&c, 4);
    m->kgf = (uint32_t)mf_uint(&c, 4);
    m->kgl = (uint32_t)mf_uint(&c, 4);
    uint64_t ns = mf_uint(&c, 4);
    if (c.bad || ns > 65536 || (ns && (m->states = calloc(ns, sizeof(*m->states))) == NULL))
        goto bad;
    for (uint64_t i = 0; i < ns && !c.bad; i++) {
        m->states[i].op_index = (uint32_t)mf_uint(&c, 4);
        m->states[i].name = mf_str(&c, mf_uint(&c, 4));
        m->n_states = i + 1;
    }
    uint64_t nf = mf_uint(&c, 4);
    if (c.bad || nf > 1000000 || (nf && (m->files = calloc(nf, sizeof(*m->files))) == NULL))
        goto bad;
    for (uint64_t i = 0; i < nf && !c.bad; i++) {
        mf_file_t *f = &m->files[i];
        m->n_files = i + 1;
        f->kind = (uint8_t)mf_uint(&c, 1);
        f->name = mf_str(&c, mf_uint(&c, 2));
        if (f->name == NULL || strchr(f->name, '/') != NULL || f->name[0] == '.' || f->name[0] == '\0')
            c.bad = 1;
        if (f->kind == KIND_SHARED) {
            f->path = mf_str(&c, mf_uint(&c, 2));
            f->size = mf_uint(&c, 8);
            f->crc = (uint32_t)mf_uint(&c, 4);
            if (f->path == NULL || f->path[0] != '/')
                c.bad = 1;
        } else if (f->kind == KIND_PRIVATE) {
            f->size = mf_uint(&c, 8);
            f->data = mf_take(&c, f->size);
        } else {
            c.bad = 1;
        }
    }
    if (c.bad || c.p != c.end)
        goto bad;
    return m;
bad:
    te_error_set(err, TE_EPROTO, "%s: the RocksDB checkpoint manifest is malformed", what);
    rocksdb_incremental_manifest_free(m);
    return NULL;
}

void rocksdb_incremental_manifest_range(const te_rocksdb_manifest_t *m, uint32_t *max_parallelism,
                                        uint32_t *kg_first, uint32_t *kg_last)
{
    *max_parallelism = m->maxp;
    *kg_first = m->kgf;
    *kg_last = m->kgl;
}

size_t rocksdb_incremental_manifest_states(const te_rocksdb_manifest_t *m) { return m->n_states; }

const te_rocksdb_state_name_t *rocksdb_incremental_manifest_state(const te_rocksdb_manifest_t *m, size_t i)
{
    return i < m->n_states ? &m->states[i] : NULL;
}

static te_status_t write_all(const char *path, const uint8_t *data, uint64_t len, te_error_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return te_error_set(err, TE_EIO, "cannot create '%s': %s", path, strerror(errno));
    while (len > 0) {
        ssize_t w = write(fd, data, len > (1u << 30) ? (1u << 30) : (size_t)len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            close(fd);
            return te_error_set(err, TE_EIO, "cannot write '%s': %s", path, strerror(errno));
        }
        data += w;
        len -= (uint64_t)w;
    }
    close(fd);
    return TE_OK;
}

/* Where shared file f is read from: its copy beside the snapshot file (m->what) when
 * there is one, else the path it was uploaded to. */
static const char *shared_source(const te_rocksdb_manifest_t *m, const mf_file_t *f, char *buf, size_t cap)
{
    const char *slash = strrchr(m->what, '/'), *base = strrchr(f->path, '/');
    if (slash == NULL || base == NULL ||
        (size_t)snprintf(buf, cap, "%.*s%s", (int)(slash - m->what), m->what, base) >= cap)
        return f->path;
    return access(buf, F_OK) == 0 ? buf : f->path;
}

te_status_t rocksdb_incremental_materialize(const te_rocksdb_manifest_t *m, const char *dir, te_error_t *err)
{
    if (dir_make(dir) != 0)
        return te_error_set(err, TE_EIO, "cannot create '%s': %s", dir, strerror(errno));
    for (size_t i = 0; i < m->n_files; i++) {
        const mf_file_t *f = &m->files[i];
        char dst[4200];
        snprintf(dst, sizeof(dst), "%s/%s", dir, f->name);
        unlink(dst);
        if (f->kind == KIND_PRIVATE) {
            te_status_t st = write_all(dst, f->data, f->size, err);
            if (st != TE_OK)
                return st;
            continue;
        }
        char beside[4200];
        const char *src = shared_source(m, f, beside, sizeof(beside));
        te_status_t st = file_place(src, dst, err);
        if (st == TE_ENOTFOUND)
            return te_error_set(
                err, TE_ENOTFOUND,
                "checkpoint file '%s' is missing (a shared file of the incremental checkpoint '%s')", f->path,
                m->what);
        if (st != TE_OK)
            return st;
        uint32_t crc;
        uint64_t size;
        if ((st = file_crc(dst, &crc, &size, err)) != TE_OK)
            return st;
        if (size != f->size)
            return te_error_set(err, TE_EPROTO,
                                "checkpoint file '%s' has %llu bytes, the checkpoint '%s' says %llu: corrupt or "
                                "truncated",
                                src, (unsigned long long)size, m->what, (unsigned long long)f->size);
        if (crc != f->crc)
            return te_error_set(err, TE_EPROTO,
                                "checkpoint file '%s' is corrupt: its checksum does not match the one recorded "
                                "in '%s'",
                                src, m->what);
    }
    dir_fsync(dir);
    return TE_OK;
}

void rocksdb_incremental_adopt(te_rocksdb_incremental_t *x, const te_rocksdb_manifest_t *m)
{
    size_t pl = strlen(x->shared_dir);
    inc_ckpt_t base = {0};
    for (size_t i = 0; i < m->n_files; i++) {
        const mf_file_t *f = &m->files[i];
        if (f->kind != KIND_SHARED)
            continue;
        if (strncmp(f->path, x->shared_dir, pl) != 0 || f->path[pl] != '/' ||
            ckpt_push(&base, f->name, f->path, f->size, f->crc, 0) != 0) {
            ckpt_clear(&base); /* another job's files: the first checkpoint uploads everything */
            return;
        }
    }
    pthread_mutex_lock(&x->mu);
    inc_ckpt_t old = x->base;
    x->base = base;
    pthread_mutex_unlock(&x->mu);
    ckpt_clear(&old);
}

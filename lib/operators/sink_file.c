/*
 * sink_file — the `file_sink` operator: writes each record plus "\n" to a file.
 *
 * Each row is written as one line of text (te_row_format_tsv: fields separated by
 * `delimiter`, default a tab; a row of one string field is that string).
 *
 * Parameters: path (required), delimiter (between fields, default "\t"). Each
 * subtask writes its own file: every "{subtask}" in path is replaced by the subtask
 * index; without it, ".<subtask>" is appended when the parallelism is > 1. open
 * creates missing parent directories and creates/truncates the file; close flushes, fsyncs and closes it. Errors name the path.
 *
 * Exactly once with checkpoints (two-phase commit): records go to an in-progress file
 * `<file>.inprogress-<seq>`. Without any checkpoint, close renames it to `<file>` (the
 * plain behaviour). snapshot(n) flushes, fsyncs and closes it as pending for n (its
 * seq, n and size are the operator's non-keyed state) and starts `<seq+1>` lazily;
 * notify_checkpoint_complete(n) renames every pending file of a checkpoint <= n to
 * `<file>.part-<seq>` (seq zero-padded to 10 digits). At the end of a bounded input
 * (close of a finishing task) the in-progress and all pending files are committed as
 * parts. The committed output of a subtask is therefore `<file>` (if present) followed
 * by `<file>.part-*` in name order: `cat <file> <file>.part-*`. After a restore from
 * checkpoint n every pending file of the snapshot is committed (n completed; a part
 * already committed is left alone), and every part / pending / in-progress file with a
 * later seq is deleted (written after n: it will be produced again) — nothing lost,
 * nothing committed twice. open without a restore deletes the parts and temporary files
 * of an earlier run (as the plain mode truncates `<file>`). Restoring at another
 * parallelism is allowed: each subtask then commits the pending files of the old
 * subtasks it is given.
 * A path that exists and is a FIFO or a device is written directly (no temporary names,
 * no two-phase commit: a snapshot only flushes).
 *
 * A path naming fields of the rows ("/out/dt={dt}/hm={hm}/part-{subtask}.txt") makes
 * the sink partitioned: each row goes to the file its values name, every such file
 * (bucket) written as above (sink_buckets.c; Flink's FileSink with a bucket assigner).
 *
 * Writes go through a 256 KiB buffer (one write(2) per full buffer; a record larger
 * than the buffer is written directly), so there is no per-record syscall.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "operators/sink_file.h"

#define FILE_SINK_BUF (256 * 1024)

typedef struct pending_file {
    uint64_t seq, checkpoint_id, size;
} pending_file_t;

struct file_sink {
    int buckets; /* 0: this is one file (sink_file.h: the partitioned mode's starts with 1) */
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    char *path; /* owned */
    int fd;
    uint8_t *buf;
    size_t len;
    /* two-phase commit */
    uint64_t seq;     /* seq of the in-progress file */
    uint64_t written; /* bytes written to it */
    int ckpt_mode;    /* a snapshot or restore happened: the output goes to parts */
    int direct;       /* the path is a FIFO or device: written directly, no two-phase commit */
    int restored;
    const te_schema_t *schema; /* of the input rows (borrowed for the operator's life) */
    char delim;
    op_buf_t big; /* a row whose text exceeds the buffer */
    pending_file_t *pending;
    size_t n_pending, cap_pending;
};

static void sink_name_of(const char *path, const char *kind, uint64_t seq, char *out, size_t n)
{
    snprintf(out, n, "%s.%s-%010" PRIu64, path, kind, seq);
}

static void sink_name(const file_sink_t *fs, const char *kind, uint64_t seq, char *out, size_t n)
{
    sink_name_of(fs->path, kind, seq, out, n);
}

/* Builds the subtask's path (malloc'd), or NULL when out of memory. */
static char *file_sink_path(const char *pattern, uint32_t subtask, uint32_t parallelism)
{
    static const char token[] = "{subtask}";
    char idx[16];
    int idxlen = snprintf(idx, sizeof(idx), "%u", subtask);
    size_t n = 0;
    int found = 0;
    for (const char *p = pattern; *p;) {
        if (strncmp(p, token, sizeof(token) - 1) == 0) {
            n += (size_t)idxlen;
            p += sizeof(token) - 1;
            found = 1;
        } else {
            n++;
            p++;
        }
    }
    char *out = malloc(n + (size_t)idxlen + 2);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const char *p = pattern; *p;) {
        if (strncmp(p, token, sizeof(token) - 1) == 0) {
            memcpy(o, idx, (size_t)idxlen);
            o += idxlen;
            p += sizeof(token) - 1;
        } else {
            *o++ = *p++;
        }
    }
    if (!found && parallelism > 1) {
        *o++ = '.';
        memcpy(o, idx, (size_t)idxlen);
        o += idxlen;
    }
    *o = '\0';
    return out;
}

file_sink_t *file_sink_new(op_setup_t *s, const char *pattern, int expand, const te_schema_t *in, char delim)
{
    file_sink_t *fs = calloc(1, sizeof(*fs));
    if (fs == NULL)
        goto oom;
    fs->schema = in;
    fs->delim = delim;
    fs->api = s->api;
    fs->ctx = s->ctx;
    fs->fd = -1;
    fs->seq = 1;
    fs->path = expand ? file_sink_path(pattern, s->api->subtask_index(s->ctx), s->api->parallelism(s->ctx))
                      : strdup(pattern);
    if (fs->path == NULL)
        goto oom;
    return fs;
oom:
    free(fs);
    op_errorf(s, "out of memory");
    return NULL;
}

const char *file_sink_file(const file_sink_t *fs) { return fs->path; }

static void *file_sink_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"path", "delimiter", NULL};
    op_setup_t s = {api, ctx, "file_sink", err, errlen};
    const char *path;
    char delim;
    const te_schema_t *in;
    if (op_check_keys(&s, allowed) != 0 || op_get_path(&s, "path", &path) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 || (in = op_input_schema(&s, 0)) == NULL)
        return NULL;
    if (sink_buckets_wanted(path))
        return sink_buckets_new(&s, path, in, delim);
    return file_sink_new(&s, path, 1, in, delim);
}

/* Creates the missing parent directories of path (mkdir -p of its dirname), as
 * Flink's file sinks do. Returns 0 or -1 (errno set). */
static int make_parents(const char *path)
{
    char dir[4096];
    size_t n = strlen(path);
    if (n >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Deletes `<file>.{part,pending,inprogress}-<seq>` with seq >= from_seq. */
static void remove_files_from(const file_sink_t *fs, uint64_t from_seq)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", fs->path);
    char *slash = strrchr(dir, '/');
    const char *base = fs->path;
    if (slash) {
        base = fs->path + (slash - dir) + 1;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    } else {
        snprintf(dir, sizeof(dir), ".");
    }
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) != 0 || n[bl] != '.')
            continue;
        const char *k = n + bl + 1, *dash = strrchr(k, '-');
        if (dash == NULL)
            continue;
        size_t kl = (size_t)(dash - k);
        if (!((kl == 4 && strncmp(k, "part", 4) == 0) || (kl == 7 && strncmp(k, "pending", 7) == 0) ||
              (kl == 10 && strncmp(k, "inprogress", 10) == 0)))
            continue;
        char *end;
        uint64_t seq = strtoull(dash + 1, &end, 10);
        if (*end != '\0' || seq < from_seq)
            continue;
        char full[8192];
        snprintf(full, sizeof(full), "%s/%s", dir, n);
        unlink(full);
    }
    closedir(d);
}

static int file_sink_open_inprogress(file_sink_t *fs)
{
    char name[4200];
    sink_name(fs, "inprogress", fs->seq, name, sizeof(name));
    fs->fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    fs->written = 0;
    return fs->fd < 0 ? -1 : 0;
}

int file_sink_open(void *self, char *err, size_t errlen)
{
    file_sink_t *fs = self;
    op_setup_t s = {fs->api, fs->ctx, "file_sink", err, errlen};
    fs->buf = malloc(FILE_SINK_BUF);
    if (fs->buf == NULL)
        return op_errorf(&s, "out of memory");
    if (make_parents(fs->path) != 0)
        return op_errorf(&s, "cannot create the directory of '%s': %s", fs->path, strerror(errno));
    struct stat stt;
    if (stat(fs->path, &stt) == 0 && !S_ISREG(stt.st_mode) && !S_ISDIR(stt.st_mode)) {
        fs->direct = 1; /* a FIFO or device: no rename possible, records go straight to it */
        fs->fd = open(fs->path, O_WRONLY | O_CLOEXEC);
        if (fs->fd < 0)
            return op_errorf(&s, "cannot open '%s' for writing: %s", fs->path, strerror(errno));
        return 0;
    }
    if (!fs->restored) {
        unlink(fs->path); /* a fresh run: forget an earlier run's output */
        remove_files_from(fs, 0);
    }
    if (file_sink_open_inprogress(fs) != 0)
        return op_errorf(&s, "cannot open '%s.inprogress-%010" PRIu64 "' for writing: %s", fs->path, fs->seq,
                         strerror(errno));
    return 0;
}

/* Writes all of p. Returns 0, or -1 after api->fail naming the path. */
static int file_sink_write_all(file_sink_t *fs, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fs->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            fs->api->fail(fs->ctx, "operator 'file_sink': cannot write '%s': %s", fs->path, strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
        fs->written += (uint64_t)w;
    }
    return 0;
}

static int file_sink_flush(file_sink_t *fs)
{
    int rc = file_sink_write_all(fs, fs->buf, fs->len);
    fs->len = 0;
    return rc;
}

int file_sink_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    file_sink_t *fs = self;
    (void)input;
    (void)out;
    if (fs->fd < 0) {
        fs->api->fail(fs->ctx, "operator 'file_sink': '%s' is not open", fs->path);
        return -1;
    }
    /* the row's text straight into the buffer, room for the newline kept */
    if (fs->len + 1 >= FILE_SINK_BUF && file_sink_flush(fs) != 0)
        return -1;
    size_t room = FILE_SINK_BUF - fs->len - 1;
    size_t need = te_row_format_tsv(rec, fs->schema, fs->delim, (char *)fs->buf + fs->len, room);
    if (need > room) {
        if (file_sink_flush(fs) != 0)
            return -1;
        if (need + 1 > FILE_SINK_BUF) {
            if (op_row_text(&fs->big, rec, fs->schema, fs->delim) != 0) {
                fs->api->fail(fs->ctx, "operator 'file_sink': out of memory for a %zu-byte row", need);
                return -1;
            }
            if (file_sink_write_all(fs, fs->big.data, fs->big.len) != 0)
                return -1;
        } else {
            te_row_format_tsv(rec, fs->schema, fs->delim, (char *)fs->buf, FILE_SINK_BUF - 1);
            fs->len = need;
        }
    } else {
        fs->len += need;
    }
    fs->buf[fs->len++] = '\n';
    return 0;
}

/* Flushes, fsyncs and closes the in-progress file. 0 or -1 (after api->fail). */
static int file_sink_finish_file(file_sink_t *fs)
{
    int rc = file_sink_flush(fs);
    if (rc == 0 && fsync(fs->fd) != 0 && errno != EINVAL) { /* EINVAL: a pipe or device, nothing to sync */
        fs->api->fail(fs->ctx, "operator 'file_sink': cannot fsync '%s': %s", fs->path, strerror(errno));
        rc = -1;
    }
    if (close(fs->fd) != 0 && rc == 0) {
        fs->api->fail(fs->ctx, "operator 'file_sink': cannot close '%s': %s", fs->path, strerror(errno));
        rc = -1;
    }
    fs->fd = -1;
    return rc;
}

/* Renames pending file i to its part name (a missing pending file whose part exists
 * was committed already). */
static int commit_pending_of(file_sink_t *fs, const char *path, const pending_file_t *p)
{
    char from[4200], to[4200];
    sink_name_of(path, "pending", p->seq, from, sizeof(from));
    sink_name_of(path, "part", p->seq, to, sizeof(to));
    if (rename(from, to) == 0)
        return 0;
    if (errno == ENOENT && access(to, F_OK) == 0)
        return 0;
    fs->api->fail(fs->ctx, "operator 'file_sink': cannot commit '%s' as '%s': %s", from, to, strerror(errno));
    return -1;
}

static int commit_pending(file_sink_t *fs, const pending_file_t *p) { return commit_pending_of(fs, fs->path, p); }

static int add_pending(file_sink_t *fs, uint64_t seq, uint64_t ckpt, uint64_t size)
{
    if (fs->n_pending == fs->cap_pending) {
        size_t nc = fs->cap_pending ? fs->cap_pending * 2 : 8;
        pending_file_t *np = realloc(fs->pending, nc * sizeof(*np));
        if (np == NULL)
            return -1;
        fs->pending = np;
        fs->cap_pending = nc;
    }
    fs->pending[fs->n_pending++] = (pending_file_t){seq, ckpt, size};
    return 0;
}

int file_sink_close(void *self, te_output_t *out)
{
    file_sink_t *fs = self;
    (void)out;
    if (fs->fd < 0)
        return 0;
    if (file_sink_finish_file(fs) != 0)
        return -1;
    if (fs->direct)
        return 0;
    char name[4200];
    sink_name(fs, "inprogress", fs->seq, name, sizeof(name));
    if (!fs->ckpt_mode) {
        if (rename(name, fs->path) != 0) {
            fs->api->fail(fs->ctx, "operator 'file_sink': cannot rename '%s' to '%s': %s", name, fs->path,
                          strerror(errno));
            return -1;
        }
        return 0;
    }
    /* end of a bounded input: everything is final */
    char to[4200];
    sink_name(fs, "part", fs->seq, to, sizeof(to));
    if (rename(name, to) != 0) {
        fs->api->fail(fs->ctx, "operator 'file_sink': cannot commit '%s': %s", name, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < fs->n_pending; i++)
        if (commit_pending(fs, &fs->pending[i]) != 0)
            return -1;
    fs->n_pending = 0;
    return 0;
}

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* State: u64 next_seq | u64 checkpoint_id | u64 n | n x (u64 seq | u64 checkpoint | u64 size) |
 * the subtask's file path (the rest). */
int file_sink_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    file_sink_t *fs = self;
    if (fs->fd < 0) {
        fs->api->fail(fs->ctx, "operator 'file_sink': snapshot of checkpoint %" PRIu64 " while '%s' is not open",
                      checkpoint_id, fs->path);
        return -1;
    }
    if (fs->direct) { /* not transactional: flush only, no state */
        *data = NULL;
        *len = 0;
        return file_sink_flush(fs);
    }
    if (file_sink_finish_file(fs) != 0)
        return -1;
    char from[4200], to[4200];
    sink_name(fs, "inprogress", fs->seq, from, sizeof(from));
    sink_name(fs, "pending", fs->seq, to, sizeof(to));
    if (rename(from, to) != 0) {
        fs->api->fail(fs->ctx, "operator 'file_sink': cannot rename '%s' to '%s': %s", from, to, strerror(errno));
        return -1;
    }
    if (add_pending(fs, fs->seq, checkpoint_id, fs->written) != 0) {
        fs->api->fail(fs->ctx, "operator 'file_sink': out of memory");
        return -1;
    }
    fs->ckpt_mode = 1;
    fs->seq++;
    if (file_sink_open_inprogress(fs) != 0) {
        fs->api->fail(fs->ctx, "operator 'file_sink': cannot open the next in-progress file of '%s': %s", fs->path,
                      strerror(errno));
        return -1;
    }
    size_t pl = strlen(fs->path);
    size_t n = 24 + fs->n_pending * 24 + pl;
    uint8_t *b = malloc(n);
    if (b == NULL)
        return -1;
    put_u64le(b, fs->seq);
    put_u64le(b + 8, checkpoint_id);
    put_u64le(b + 16, fs->n_pending);
    for (size_t i = 0; i < fs->n_pending; i++) {
        put_u64le(b + 24 + 24 * i, fs->pending[i].seq);
        put_u64le(b + 32 + 24 * i, fs->pending[i].checkpoint_id);
        put_u64le(b + 40 + 24 * i, fs->pending[i].size);
    }
    memcpy(b + 24 + 24 * fs->n_pending, fs->path, pl);
    *data = b;
    *len = n;
    return 0;
}

int file_sink_notify_complete(void *self, uint64_t checkpoint_id)
{
    file_sink_t *fs = self;
    size_t keep = 0;
    for (size_t i = 0; i < fs->n_pending; i++) {
        if (fs->pending[i].checkpoint_id <= checkpoint_id) {
            if (commit_pending(fs, &fs->pending[i]) != 0)
                return -1;
        } else {
            fs->pending[keep++] = fs->pending[i];
        }
    }
    fs->n_pending = keep;
    return 0;
}

int file_sink_snapshot_path(const uint8_t *data, size_t len, char *out, size_t outlen)
{
    uint64_t n = len >= 24 ? get_u64le(data + 16) : 0;
    if (len < 24 || n > (len - 24) / 24 || len - 24 - 24 * n == 0 || len - 24 - 24 * n >= outlen)
        return -1;
    size_t pl = len - 24 - 24 * n;
    memcpy(out, data + 24 + 24 * n, pl);
    out[pl] = '\0';
    return 0;
}

/* Called before open, once per snapshot given to this subtask (several when rescaled). */
int file_sink_restore(void *self, const uint8_t *data, size_t len)
{
    file_sink_t *fs = self;
    if (len == 0)
        return 0; /* a FIFO / device sink: nothing to restore */
    uint64_t n = len >= 24 ? get_u64le(data + 16) : 0;
    if (len < 24 || n > (len - 24) / 24 || len - 24 - 24 * n == 0 || len - 24 - 24 * n >= 4096) {
        fs->api->fail(fs->ctx, "operator 'file_sink': corrupt restored state (%zu bytes)", len);
        return -1;
    }
    uint64_t next = get_u64le(data);
    char old_path[4096];
    size_t pl = len - 24 - 24 * n;
    memcpy(old_path, data + 24 + 24 * n, pl);
    old_path[pl] = '\0';
    for (uint64_t i = 0; i < n; i++) {
        pending_file_t p = {get_u64le(data + 24 + 24 * i), get_u64le(data + 32 + 24 * i),
                            get_u64le(data + 40 + 24 * i)};
        char from[4200];
        sink_name_of(old_path, "pending", p.seq, from, sizeof(from));
        if (access(from, F_OK) == 0 && truncate(from, (off_t)p.size) != 0) {
            fs->api->fail(fs->ctx, "operator 'file_sink': cannot truncate '%s': %s", from, strerror(errno));
            return -1;
        }
        if (commit_pending_of(fs, old_path, &p) != 0)
            return -1;
    }
    if (!fs->restored || next > fs->seq) {
        if (!fs->restored)
            remove_files_from(fs, next);
        fs->seq = next;
    }
    fs->restored = 1;
    fs->ckpt_mode = 1;
    return 0;
}

void file_sink_dispose(void *self)
{
    file_sink_t *fs = self;
    if (fs == NULL)
        return;
    if (fs->fd >= 0)
        close(fs->fd); /* after a failure or cancellation: buffered records are dropped */
    free(fs->buf);
    op_buf_release(&fs->big);
    free(fs->pending);
    free(fs->path);
    free(fs);
}

/* ---- the def: one file, or buckets (sink_buckets.c) by the instance's first field ---- */

static int is_buckets(const void *self) { return self != NULL && *(const int *)self; }

static int sink_open(void *self, char *err, size_t errlen)
{
    return is_buckets(self) ? sink_buckets_open(self, err, errlen) : file_sink_open(self, err, errlen);
}

static int sink_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    return is_buckets(self) ? sink_buckets_process(self, input, rec, out)
                            : file_sink_process(self, input, rec, out);
}

static int sink_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    return is_buckets(self) ? sink_buckets_snapshot(self, checkpoint_id, data, len)
                            : file_sink_snapshot(self, checkpoint_id, data, len);
}

static int sink_restore(void *self, const uint8_t *data, size_t len)
{
    return is_buckets(self) ? sink_buckets_restore(self, data, len) : file_sink_restore(self, data, len);
}

static int sink_notify(void *self, uint64_t checkpoint_id)
{
    return is_buckets(self) ? sink_buckets_notify_complete(self, checkpoint_id)
                            : file_sink_notify_complete(self, checkpoint_id);
}

static int sink_close(void *self, te_output_t *out)
{
    return is_buckets(self) ? sink_buckets_close(self, out) : file_sink_close(self, out);
}

static void sink_dispose(void *self)
{
    if (is_buckets(self))
        sink_buckets_dispose(self);
    else
        file_sink_dispose(self);
}

const te_operator_def_t op_file_sink_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "file_sink",
    .kind = TE_OP_ONE_INPUT,
    .setup = file_sink_setup,
    .open = sink_open,
    .process_element = sink_process,
    .snapshot = sink_snapshot,
    .restore = sink_restore,
    .notify_checkpoint_complete = sink_notify,
    .close = sink_close,
    .dispose = sink_dispose,
};

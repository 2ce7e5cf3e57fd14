/*
 * sink_buckets — file_sink's partitioned mode (Flink's FileSink with a bucket
 * assigner; Nexmark q10): the path names fields of the rows,
 *     "/out/dt={dt}/hm={hm}/part-{subtask}.txt",
 * and each row goes to the file its values name. Every such file is a bucket written
 * by file_sink's one-file engine (sink_file.h: in-progress, pending, committed parts,
 * two-phase commit with checkpoints), opened when its first row comes. A value is
 * written as its text (te_row_format_field) with '/' made '_' and ".." made "__", so a
 * row cannot place a file outside the path's directory.
 *
 * State: every bucket ever opened, as "BKT1" | u32 n | n x (u32 length | the bucket's
 * file_sink snapshot, which holds its path), so a restore (also at another
 * parallelism) commits or discards every bucket's files as file_sink does.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/sink_file.h"

typedef struct bucket {
    char *path; /* the file's path (subtask included) */
    file_sink_t *fs;
    char *pattern; /* the path pattern with a row's values (bucket_pattern), NULL until a row named it */
    size_t pattern_len;
} bucket_t;

typedef struct sink_buckets {
    int buckets; /* 1: see sink_file.h */
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *pattern;
    const te_schema_t *in;
    char delim;
    int opened;
    uint32_t fields[16]; /* the fields named in the pattern, in order */
    uint32_t n_fields;
    bucket_t *b;
    size_t n, cap;
    size_t last; /* the bucket of the previous row (rows come mostly in time order) */
    op_buf_t path;
} sink_buckets_t;

int sink_buckets_wanted(const char *pattern)
{
    for (const char *p = strchr(pattern, '{'); p; p = strchr(p + 1, '{'))
        if (strncmp(p, "{subtask}", 9) != 0 && strchr(p, '}'))
            return 1;
    return 0;
}

void sink_buckets_dispose(void *self)
{
    sink_buckets_t *k = self;
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->n; i++) {
        file_sink_dispose(k->b[i].fs);
        free(k->b[i].path);
        free(k->b[i].pattern);
    }
    free(k->b);
    op_buf_release(&k->path);
    free(k);
}

void *sink_buckets_new(op_setup_t *s, const char *pattern, const te_schema_t *in, char delim)
{
    sink_buckets_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        op_errorf(s, "out of memory");
        return NULL;
    }
    *k =
        (sink_buckets_t){.buckets = 1, .api = s->api, .ctx = s->ctx, .pattern = pattern, .in = in, .delim = delim};
    for (const char *p = strchr(pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (e == NULL || strncmp(p, "{subtask}", 9) == 0)
            continue;
        char name[64];
        size_t n = (size_t)(e - p - 1);
        if (n == 0 || n >= sizeof(name) || k->n_fields == 16) {
            op_errorf(s, "parameter 'path' = '%s': a field name in braces is empty or too long, or more than 16",
                      pattern);
            goto fail;
        }
        memcpy(name, p + 1, n);
        name[n] = '\0';
        if (op_field_resolve(s, in, "path", name, &k->fields[k->n_fields]) != 0)
            goto fail;
        k->n_fields++;
    }
    return k;
fail:
    sink_buckets_dispose(k);
    return NULL;
}

/* The pattern with row r's values for its fields (the subtask left to file_sink). */
static int bucket_pattern(sink_buckets_t *k, const te_record_t *r)
{
    k->path.len = 0;
    uint32_t f = 0;
    for (const char *p = k->pattern; *p;) {
        const char *e = *p == '{' ? strchr(p, '}') : NULL;
        if (e == NULL || strncmp(p, "{subtask}", 9) == 0) {
            size_t n = e ? (size_t)(e - p + 1) : 1;
            if (op_buf_append(&k->path, p, n) != 0)
                return -1;
            p += n;
            continue;
        }
        uint32_t idx = k->fields[f++];
        char tmp[256];
        size_t off = 0;
        te_row_format_field(r, idx, k->in->fields[idx].type, tmp, sizeof(tmp) - 1, &off);
        if (off > sizeof(tmp) - 1)
            off = sizeof(tmp) - 1;
        for (size_t i = 0; i < off; i++)
            if (tmp[i] == '/' || tmp[i] == '\0')
                tmp[i] = '_';
        if ((off == 2 && memcmp(tmp, "..", 2) == 0) || (off == 1 && tmp[0] == '.'))
            memset(tmp, '_', off);
        if (op_buf_append(&k->path, tmp, off) != 0)
            return -1;
        p = e + 1;
    }
    return op_buf_append(&k->path, "", 1);
}

/* The bucket of this pattern (`restored`: a final path from a snapshot, not expanded
 * and not opened yet; else a row's, opened when new); its index in *at. */
static file_sink_t *bucket_for(sink_buckets_t *k, const char *pattern, int restored, char *err, size_t errlen,
                               size_t *at)
{
    op_setup_t s = {k->api, k->ctx, "file_sink", err, errlen};
    file_sink_t *fs = file_sink_new(&s, pattern, !restored, k->in, k->delim);
    if (fs == NULL)
        return NULL;
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->b[i].path, file_sink_file(fs)) == 0) {
            file_sink_dispose(fs);
            *at = i;
            return k->b[i].fs;
        }
    if (k->n == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 8;
        bucket_t *nb = realloc(k->b, nc * sizeof(*nb));
        if (nb == NULL) {
            file_sink_dispose(fs);
            return NULL;
        }
        k->b = nb;
        k->cap = nc;
    }
    char *path = strdup(file_sink_file(fs));
    if (path == NULL || (!restored && file_sink_open(fs, err, errlen) != 0)) {
        free(path);
        file_sink_dispose(fs);
        return NULL;
    }
    *at = k->n;
    k->b[k->n++] = (bucket_t){path, fs, NULL, 0};
    return fs;
}

int sink_buckets_open(void *self, char *err, size_t errlen)
{
    sink_buckets_t *k = self;
    k->opened = 1;
    for (size_t i = 0; i < k->n; i++) /* restored buckets */
        if (file_sink_open(k->b[i].fs, err, errlen) != 0)
            return -1;
    return 0;
}

static int bucket_named(const bucket_t *b, const op_buf_t *pattern)
{
    return b->pattern != NULL && b->pattern_len == pattern->len &&
           memcmp(b->pattern, pattern->data, pattern->len) == 0;
}

/* The bucket of row rec: the previous row's when the row names the same pattern, else
 * one found by its pattern, else bucket_for (which expands the subtask, finds a restored
 * bucket by its path or opens a new one) — file_sink_new and the path expansion only
 * once per bucket, not per row. */
static file_sink_t *row_bucket(sink_buckets_t *k, const te_record_t *rec, char *err, size_t errlen)
{
    if (bucket_pattern(k, rec) != 0)
        return NULL;
    if (k->last < k->n && bucket_named(&k->b[k->last], &k->path))
        return k->b[k->last].fs;
    for (size_t i = 0; i < k->n; i++)
        if (bucket_named(&k->b[i], &k->path)) {
            k->last = i;
            return k->b[i].fs;
        }
    size_t at;
    file_sink_t *fs = bucket_for(k, (const char *)k->path.data, 0, err, errlen, &at);
    if (fs == NULL)
        return NULL;
    bucket_t *b = &k->b[at];
    if (b->pattern == NULL && (b->pattern = malloc(k->path.len)) != NULL) { /* else found by path next time */
        memcpy(b->pattern, k->path.data, k->path.len);
        b->pattern_len = k->path.len;
    }
    k->last = at;
    return fs;
}

int sink_buckets_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    sink_buckets_t *k = self;
    char err[512];
    err[0] = '\0'; /* not the whole buffer: this runs per row */
    file_sink_t *fs = row_bucket(k, rec, err, sizeof(err));
    if (fs == NULL) {
        k->api->fail(k->ctx, "%s", err[0] ? err : "operator 'file_sink': out of memory opening a bucket");
        return -1;
    }
    return file_sink_process(fs, input, rec, out);
}

int sink_buckets_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    sink_buckets_t *k = self;
    op_buf_t b = {0};
    uint32_t n = (uint32_t)k->n;
    int rc = op_buf_append(&b, "BKT1", 4) || op_buf_append(&b, &n, 4);
    for (size_t i = 0; i < k->n && rc == 0; i++) {
        uint8_t *d = NULL;
        size_t l = 0;
        if (file_sink_snapshot(k->b[i].fs, checkpoint_id, &d, &l) != 0) {
            free(d);
            op_buf_release(&b);
            return -1;
        }
        uint32_t l32 = (uint32_t)l;
        rc = op_buf_append(&b, &l32, 4) || op_buf_append(&b, d, l);
        free(d);
    }
    if (rc != 0) {
        op_buf_release(&b);
        k->api->fail(k->ctx, "operator 'file_sink': out of memory");
        return -1;
    }
    *data = b.data; /* handed over */
    *len = b.len;
    return 0;
}

int sink_buckets_restore(void *self, const uint8_t *data, size_t len)
{
    sink_buckets_t *k = self;
    uint32_t n;
    if (len < 8 || memcmp(data, "BKT1", 4) != 0)
        goto corrupt;
    memcpy(&n, data + 4, 4);
    size_t off = 8;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t l;
        char path[4096], err[512] = "";
        if (len - off < 4)
            goto corrupt;
        memcpy(&l, data + off, 4);
        off += 4;
        if (len - off < l || file_sink_snapshot_path(data + off, l, path, sizeof(path)) != 0)
            goto corrupt;
        size_t at;
        file_sink_t *fs = bucket_for(k, path, 1, err, sizeof(err), &at); /* the saved path is final */
        if (fs == NULL) {
            k->api->fail(k->ctx, "%s", err[0] ? err : "operator 'file_sink': out of memory");
            return -1;
        }
        if (file_sink_restore(fs, data + off, l) != 0)
            return -1;
        off += l;
    }
    return off == len ? 0 : (k->api->fail(k->ctx, "operator 'file_sink': corrupt restored state"), -1);
corrupt:
    k->api->fail(k->ctx, "operator 'file_sink': corrupt restored state of a partitioned sink (%zu bytes)", len);
    return -1;
}

int sink_buckets_notify_complete(void *self, uint64_t checkpoint_id)
{
    sink_buckets_t *k = self;
    for (size_t i = 0; i < k->n; i++)
        if (file_sink_notify_complete(k->b[i].fs, checkpoint_id) != 0)
            return -1;
    return 0;
}

int sink_buckets_close(void *self, te_output_t *out)
{
    sink_buckets_t *k = self;
    for (size_t i = 0; i < k->n; i++)
        if (file_sink_close(k->b[i].fs, out) != 0)
            return -1;
    return 0;
}

/*
 * sink_file — the `file_sink` operator: writes each record plus "\n" to a file.
 *
 * Parameters: path (required), delimiter (accepted for uniformity, unused). Each
 * subtask writes its own file: every "{subtask}" in path is replaced by the subtask
 * index; without it, ".<subtask>" is appended when the parallelism is > 1. open
 * creates missing parent directories and creates/truncates the file; close flushes, fsyncs and closes it. Errors name the path.
 *
 * Writes go through a 256 KiB buffer (one write(2) per full buffer; a record larger
 * than the buffer is written directly), so there is no per-record syscall.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "operators/op_util.h"

#define FILE_SINK_BUF (256 * 1024)

typedef struct file_sink {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    char *path; /* owned */
    int fd;
    uint8_t *buf;
    size_t len;
} file_sink_t;

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

static void *file_sink_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"path", "delimiter", NULL};
    op_setup_t s = {api, ctx, "file_sink", err, errlen};
    const char *path;
    char delim;
    if (op_check_keys(&s, allowed) != 0 || op_get_string(&s, "path", 1, NULL, &path) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0)
        return NULL;
    if (path[0] == '\0') {
        op_errorf(&s, "parameter 'path' is empty");
        return NULL;
    }
    file_sink_t *fs = calloc(1, sizeof(*fs));
    if (fs == NULL)
        goto oom;
    fs->api = api;
    fs->ctx = ctx;
    fs->fd = -1;
    fs->path = file_sink_path(path, api->subtask_index(ctx), api->parallelism(ctx));
    if (fs->path == NULL)
        goto oom;
    return fs;
oom:
    free(fs);
    op_errorf(&s, "out of memory");
    return NULL;
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

static int file_sink_open(void *self, char *err, size_t errlen)
{
    file_sink_t *fs = self;
    op_setup_t s = {fs->api, fs->ctx, "file_sink", err, errlen};
    fs->buf = malloc(FILE_SINK_BUF);
    if (fs->buf == NULL)
        return op_errorf(&s, "out of memory");
    if (make_parents(fs->path) != 0)
        return op_errorf(&s, "cannot create the directory of '%s': %s", fs->path, strerror(errno));
    fs->fd = open(fs->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fs->fd < 0)
        return op_errorf(&s, "cannot open '%s' for writing: %s", fs->path, strerror(errno));
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
    }
    return 0;
}

static int file_sink_flush(file_sink_t *fs)
{
    int rc = file_sink_write_all(fs, fs->buf, fs->len);
    fs->len = 0;
    return rc;
}

static int file_sink_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    file_sink_t *fs = self;
    (void)input;
    (void)out;
    if (fs->fd < 0) {
        fs->api->fail(fs->ctx, "operator 'file_sink': '%s' is not open", fs->path);
        return -1;
    }
    if (fs->len + rec->len + 1 > FILE_SINK_BUF && file_sink_flush(fs) != 0)
        return -1;
    if ((size_t)rec->len + 1 > FILE_SINK_BUF) {
        if (file_sink_write_all(fs, rec->data, rec->len) != 0)
            return -1;
    } else {
        memcpy(fs->buf + fs->len, rec->data, rec->len);
        fs->len += rec->len;
    }
    fs->buf[fs->len++] = '\n';
    return 0;
}

static int file_sink_close(void *self, te_output_t *out)
{
    file_sink_t *fs = self;
    (void)out;
    if (fs->fd < 0)
        return 0;
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

static void file_sink_dispose(void *self)
{
    file_sink_t *fs = self;
    if (fs == NULL)
        return;
    if (fs->fd >= 0)
        close(fs->fd); /* after a failure or cancellation: buffered records are dropped */
    free(fs->buf);
    free(fs->path);
    free(fs);
}

const te_operator_def_t op_file_sink_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "file_sink",
    .kind = TE_OP_ONE_INPUT,
    .setup = file_sink_setup,
    .open = file_sink_open,
    .process_element = file_sink_process,
    .close = file_sink_close,
    .dispose = file_sink_dispose,
};

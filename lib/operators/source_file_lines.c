/*
 * source_file_lines — the `file_lines` source: the lines of a file, split among the
 * source's subtasks without overlap or gaps.
 *
 * Parameters: path (required; a readable regular file at setup, i.e. at deployment),
 * delimiter (accepted for uniformity, unused). Output: (line:string).
 * Subtask i of p owns the byte range [i*size/p, (i+1)*size/p) of the file as it is at
 * open; a line belongs to the subtask whose range contains its first byte. So the
 * subtask skips the tail of a line that began before its range (unless it starts at 0
 * or right after a '\n') and reads on past its end to finish its last line. A trailing
 * "\n" (and "\r") is stripped; a final line without "\n" is a line; the empty piece
 * after a final "\n" is not. Records carry no timestamp.
 *
 * Reading is buffered (a 256 KiB buffer, grown only for longer lines); records point
 * into the buffer, so there is no per-line syscall or allocation.
 *
 * Snapshot: the absolute offset of the next line start (8 bytes, little endian);
 * restore before open resumes there.
 *
 * Threading: a step-wise source; every callback runs on the task thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "operators/op_row.h"

#define FILE_LINES_BUF (256 * 1024)

typedef struct file_lines {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *path;
    int fd;
    uint64_t end;     /* first byte not owned by this subtask */
    uint64_t buf_off; /* file offset of buf[0] */
    uint8_t *buf;
    size_t cap, len, pos;
    int eof;
    int need_skip; /* still skipping the tail of a line owned by the previous subtask */
    int done;
    int restored;
    uint64_t restore_off;
    te_row_builder_t row;
} file_lines_t;

static void *file_lines_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"path", "delimiter", NULL};
    op_setup_t s = {api, ctx, "file_lines", err, errlen};
    const char *path;
    char delim;
    if (op_check_keys(&s, allowed) != 0 || op_get_path(&s, "path", &path) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
        op_declare_schema(&s, NULL, &op_text_line_schema) != 0)
        return NULL;
    /* At deployment (not while the scheduler derives schemas: the file lives on the
     * TaskExecutor's host) a file that cannot be read fails the deployment
     * (INVALID_CHAIN naming the path), not the running job. */
    int deploying = api->job_id(ctx)[0] != '\0';
    struct stat st;
    if (deploying && (stat(path, &st) != 0 || access(path, R_OK) != 0)) {
        op_errorf(&s, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (deploying && !S_ISREG(st.st_mode)) {
        op_errorf(&s, "'%s' is not a regular file", path);
        return NULL;
    }
    file_lines_t *fl = calloc(1, sizeof(*fl));
    if (fl == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    fl->api = api;
    fl->ctx = ctx;
    fl->path = path;
    fl->fd = -1;
    return fl;
}

static int file_lines_open(void *self, char *err, size_t errlen)
{
    file_lines_t *fl = self;
    op_setup_t s = {fl->api, fl->ctx, "file_lines", err, errlen};
    struct stat st;
    fl->fd = open(fl->path, O_RDONLY | O_CLOEXEC);
    if (fl->fd < 0)
        return op_errorf(&s, "cannot open '%s': %s", fl->path, strerror(errno));
    if (fstat(fl->fd, &st) != 0)
        return op_errorf(&s, "cannot stat '%s': %s", fl->path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return op_errorf(&s, "'%s' is not a regular file", fl->path);
    fl->cap = FILE_LINES_BUF;
    fl->buf = malloc(fl->cap);
    if (fl->buf == NULL)
        return op_errorf(&s, "out of memory");

    uint64_t size = (uint64_t)st.st_size;
    uint64_t p = fl->api->parallelism(fl->ctx);
    uint64_t i = fl->api->subtask_index(fl->ctx);
    if (p == 0)
        p = 1;
    /* size * i fits in 64 bits for any realistic file; use 128-bit to be exact. */
    uint64_t start = (uint64_t)(((unsigned __int128)size * i) / p);
    fl->end = (uint64_t)(((unsigned __int128)size * (i + 1)) / p);
    if (fl->restored) {
        start = fl->restore_off; /* need_skip as restored */
        fl->buf_off = start;
    } else if (start > 0) {
        /* A line starts at `start` only when the byte before it is '\n': read from
         * start-1 and skip through the first '\n'. */
        fl->buf_off = start - 1;
        fl->need_skip = 1;
    } else {
        fl->buf_off = 0;
    }
    if (start >= fl->end && !fl->restored)
        fl->done = 1;
    if (!fl->done && lseek(fl->fd, (off_t)fl->buf_off, SEEK_SET) < 0)
        return op_errorf(&s, "cannot seek in '%s': %s", fl->path, strerror(errno));
    return 0;
}

/* Reads more bytes, keeping buf[pos..len) (moved to the front). Grows the buffer when
 * it is full of one line. Returns 0, or -1 after api->fail. */
static int file_lines_fill(file_lines_t *fl)
{
    if (fl->pos > 0) {
        memmove(fl->buf, fl->buf + fl->pos, fl->len - fl->pos);
        fl->buf_off += fl->pos;
        fl->len -= fl->pos;
        fl->pos = 0;
    }
    if (fl->len == fl->cap) {
        uint8_t *nb = realloc(fl->buf, fl->cap * 2);
        if (nb == NULL) {
            fl->api->fail(fl->ctx, "operator 'file_lines': out of memory reading a long line of '%s'", fl->path);
            return -1;
        }
        fl->buf = nb;
        fl->cap *= 2;
    }
    for (;;) {
        ssize_t n = read(fl->fd, fl->buf + fl->len, fl->cap - fl->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fl->api->fail(fl->ctx, "operator 'file_lines': cannot read '%s': %s", fl->path, strerror(errno));
            return -1;
        }
        if (n == 0)
            fl->eof = 1;
        fl->len += (size_t)n;
        return 0;
    }
}

static te_source_status_t file_lines_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms)
{
    file_lines_t *fl = self;
    (void)idle_wait_ms;
    uint32_t emitted = 0;
    while (fl->need_skip) {
        uint8_t *nl = memchr(fl->buf + fl->pos, '\n', fl->len - fl->pos);
        if (nl != NULL) {
            fl->pos = (size_t)(nl - fl->buf) + 1;
            fl->need_skip = 0;
            break;
        }
        fl->pos = fl->len;
        if (fl->eof) {
            fl->done = 1;
            break;
        }
        if (file_lines_fill(fl) != 0)
            return TE_SOURCE_ERROR;
    }
    while (!fl->done && emitted < budget) {
        if (fl->buf_off + fl->pos >= fl->end) {
            fl->done = 1;
            break;
        }
        uint8_t *line = fl->buf + fl->pos;
        uint8_t *nl = memchr(line, '\n', fl->len - fl->pos);
        size_t n;
        if (nl != NULL) {
            n = (size_t)(nl - line);
            fl->pos += n + 1;
        } else if (fl->eof) {
            n = fl->len - fl->pos;
            if (n == 0) {
                fl->done = 1;
                break;
            }
            fl->pos = fl->len;
        } else {
            if (file_lines_fill(fl) != 0)
                return TE_SOURCE_ERROR;
            continue;
        }
        if (n > 0 && line[n - 1] == '\r')
            n--;
        emitted++;
        if (op_emit_text(fl->api, fl->ctx, out, &fl->row, line, (uint32_t)n, TE_NO_TIMESTAMP) != 0)
            return TE_SOURCE_MORE; /* cancelling: the engine stops calling step */
    }
    return fl->done ? TE_SOURCE_END : TE_SOURCE_MORE;
}

static int file_lines_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    file_lines_t *fl = self;
    (void)checkpoint_id;
    uint64_t off = fl->buf_off + fl->pos;
    if (fl->need_skip) /* not yet at a line of ours: restart from the range start */
        off = fl->buf_off;
    uint8_t *p = malloc(9);
    if (p == NULL)
        return -1;
    p[0] = (uint8_t)(fl->need_skip ? 1 : 0);
    for (int i = 0; i < 8; i++)
        p[1 + i] = (uint8_t)(off >> (8 * i));
    *data = p;
    *len = 9;
    return 0;
}

static int file_lines_restore(void *self, const uint8_t *data, size_t len)
{
    file_lines_t *fl = self;
    if (len != 9 || data[0] > 1)
        return -1;
    uint64_t off = 0;
    for (int i = 0; i < 8; i++)
        off |= (uint64_t)data[1 + i] << (8 * i);
    fl->restored = 1;
    fl->restore_off = off;
    fl->need_skip = data[0];
    return 0;
}

static int file_lines_close(void *self, te_output_t *out)
{
    file_lines_t *fl = self;
    (void)out;
    if (fl->fd >= 0)
        close(fl->fd);
    fl->fd = -1;
    return 0;
}

static void file_lines_dispose(void *self)
{
    file_lines_t *fl = self;
    if (fl == NULL)
        return;
    if (fl->fd >= 0)
        close(fl->fd);
    free(fl->buf);
    te_row_builder_free(&fl->row);
    free(fl);
}

const te_operator_def_t op_file_lines_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "file_lines",
    .kind = TE_OP_SOURCE,
    .blocking_source = 0,
    .setup = file_lines_setup,
    .open = file_lines_open,
    .step = file_lines_step,
    .snapshot = file_lines_snapshot,
    .restore = file_lines_restore,
    .close = file_lines_close,
    .dispose = file_lines_dispose,
};

/*
 * file_io — durable replace, whole-file read, mkdir -p, link-or-copy (see file_io.h).
 *
 * Threading: reentrant; no shared state.
 */
#include "common/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dir_util.h"
#include "common/log.h"

te_status_t file_mkdirs(const char *dir, te_error_t *err)
{
    if (dir_make(dir) != 0)
        return te_error_set(err, errno == ENAMETOOLONG || errno == ENOENT ? TE_EINVAL : TE_EIO,
                            "cannot create directory '%s': %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return te_error_set(err, TE_EIO, "'%s' is not a directory", dir);
    return TE_OK;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

te_status_t file_write_durable(const char *path, const void *data, size_t len, te_error_t *err)
{
    char dir[4096], tmp[4300];
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", dir, name, (long)getpid()) >= sizeof(tmp))
        return te_error_set(err, TE_EINVAL, "path too long: '%s'", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return te_error_set(err, TE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return te_error_set(err, TE_EIO, "cannot write '%s': %s", tmp, strerror(e));
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return te_error_set(err, TE_EIO, "cannot commit '%s': %s", path, strerror(e));
    }
    dir_fsync(dir);
    return TE_OK;
}

char *file_read_all(const char *path, size_t *len, te_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        te_error_set(err, errno == ENOENT ? TE_ENOTFOUND : TE_EIO, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad) {
        free(buf);
        te_error_set(err, bad ? TE_EIO : TE_ENOMEM, "cannot read '%s'", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

void file_remove_tree(const char *dir)
{
    if (dir_remove_tree(dir) != 0)
        TE_WARN("file", "cannot delete all of '%s': %s", dir, strerror(errno));
}

#define COPY_CHUNK (1u << 20)

/* Copies src to dst (created), fsynced. */
static te_status_t file_copy(const char *src, const char *dst, te_error_t *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return te_error_set(err, errno == ENOENT ? TE_ENOTFOUND : TE_EIO, "cannot read '%s': %s", src,
                            strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    uint8_t *buf = malloc(COPY_CHUNK);
    te_status_t st = TE_OK;
    if (out < 0 || buf == NULL)
        st = te_error_set(err, TE_EIO, "cannot create '%s': %s", dst, out < 0 ? strerror(errno) : "out of memory");
    for (ssize_t r; st == TE_OK && (r = read(in, buf, COPY_CHUNK)) != 0;) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = te_error_set(err, TE_EIO, "cannot read '%s': %s", src, strerror(errno));
            break;
        }
        for (ssize_t off = 0; off < r && st == TE_OK;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno != EINTR)
                st = te_error_set(err, TE_EIO, "cannot write '%s': %s", dst, strerror(errno));
            else if (w > 0)
                off += w;
        }
    }
    if (st == TE_OK && fsync(out) != 0)
        st = te_error_set(err, TE_EIO, "cannot fsync '%s': %s", dst, strerror(errno));
    free(buf);
    close(in);
    if (out >= 0)
        close(out);
    if (st != TE_OK)
        unlink(dst);
    return st;
}

/* fsync of path's data (a link shares its inode with the file it names). */
static te_status_t file_fsync(const char *path, te_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return te_error_set(err, TE_EIO, "cannot open '%s': %s", path, strerror(errno));
    te_status_t st = TE_OK;
    if (fsync(fd) != 0)
        st = te_error_set(err, TE_EIO, "cannot fsync '%s': %s", path, strerror(errno));
    close(fd);
    return st;
}

te_status_t file_place(const char *src, const char *dst, te_error_t *err)
{
    if (link(src, dst) == 0) {
        te_status_t st = file_fsync(dst, err);
        if (st != TE_OK)
            unlink(dst);
        return st;
    }
    if (errno == ENOENT)
        return te_error_set(err, TE_ENOTFOUND, "'%s' is missing", src);
    return file_copy(src, dst, err);
}

/*
 * checkpoint_storage — durable writing and reading of a subtask's snapshot file
 * (paths and durability in checkpoint_storage.h, the format in snapshot.h).
 *
 * Threading: no shared state; every function runs on the caller's thread (the task
 * thread for writes and restores). No locks.
 */
#include "state/checkpoint_storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dirs(const char *path)
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

te_status_t checkpoint_storage_write_file(const char *path, const uint8_t *data, size_t len, te_error_t *err)
{
    if (make_dirs(path) != 0)
        return te_error_set(err, TE_EIO, "cannot create the directory of '%s': %s", path, strerror(errno));
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return te_error_set(err, TE_EINVAL, "checkpoint path too long: '%s'", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return te_error_set(err, TE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return te_error_set(err, TE_EIO, "cannot write '%s': %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return te_error_set(err, TE_EIO, "cannot fsync '%s': %s", tmp, strerror(e));
    }
    if (close(fd) != 0) {
        unlink(tmp);
        return te_error_set(err, TE_EIO, "cannot close '%s': %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return te_error_set(err, TE_EIO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    return TE_OK;
}

te_status_t checkpoint_storage_write(const char *path, const te_ckpt_snapshot_t *s, uint64_t *size,
                                     te_error_t *err)
{
    uint8_t *buf;
    size_t len;
    te_status_t rc = snapshot_encode(s, &buf, &len, err);
    if (rc != TE_OK)
        return rc;
    rc = checkpoint_storage_write_file(path, buf, len, err);
    free(buf);
    if (rc == TE_OK && size)
        *size = len;
    return rc;
}

te_ckpt_snapshot_t *checkpoint_storage_read(const char *path, te_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        te_error_set(err, errno == ENOENT ? TE_ENOTFOUND : TE_EIO, "cannot open checkpoint snapshot '%s': %s",
                     path, strerror(errno));
        return NULL;
    }
    struct stat stt;
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
        close(fd);
        te_error_set(err, TE_EIO, "checkpoint snapshot '%s' is not a regular file", path);
        return NULL;
    }
    size_t len = (size_t)stt.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        close(fd);
        te_error_set(err, TE_ENOMEM, "out of memory reading '%s' (%zu bytes)", path, len);
        return NULL;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t r = read(fd, buf + off, len - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    te_ckpt_snapshot_t *s = snapshot_decode(buf, off, path, err);
    free(buf);
    return s;
}

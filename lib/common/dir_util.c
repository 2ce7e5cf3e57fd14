/*
 * dir_util — mkdir -p, rm -rf and directory fsync (see dir_util.h).
 *
 * Threading: no shared state (nftw's callback state is per call through a
 * thread-local); any thread.
 */
#define _GNU_SOURCE /* nftw FTW_ACTIONRETVAL-free use, O_DIRECTORY */
#include "common/dir_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dir_make(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) {
        errno = n ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        buf[i] = c;
    }
    return 0;
}

int dir_make_parent(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    char *slash = strrchr(buf, '/');
    if (slash == NULL || slash == buf)
        return 0;
    *slash = '\0';
    return dir_make(buf);
}

static __thread int remove_errno;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int r = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (r != 0 && errno != ENOENT && remove_errno == 0)
        remove_errno = errno;
    return 0;
}

int dir_remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : -1;
    remove_errno = 0;
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && remove_errno == 0)
        remove_errno = errno;
    if (remove_errno != 0) {
        errno = remove_errno;
        return -1;
    }
    return 0;
}

void dir_fsync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

void dir_fsync_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        dir_fsync(".");
        return;
    }
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    dir_fsync(dir);
}

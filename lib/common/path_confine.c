/*
 * path_confine — confinement of deployment file paths to io.allowed-dirs, and the
 * daemon's own files no job may touch.
 *
 * Threading: pure functions over the file system; any thread.
 */
#include "common/path_confine.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The real path of path's longest existing ancestor followed by the components that
 * do not exist yet, into out (PATH_MAX bytes). -1 when too long or when a component
 * that does not exist yet is "..". */
static int resolve_future_path(const char *path, char *out)
{
    char buf[PATH_MAX];
    if (path[0] == '\0')
        return -1;
    if (path[0] == '/') {
        if (strlen(path) >= sizeof(buf))
            return -1;
        strcpy(buf, path);
    } else {
        if (getcwd(buf, sizeof(buf)) == NULL || strlen(buf) + strlen(path) + 2 > sizeof(buf))
            return -1;
        strcat(buf, "/");
        strcat(buf, path);
    }
    size_t cut = strlen(buf);
    while (cut > 1 && buf[cut - 1] == '/')
        buf[--cut] = '\0';
    for (;;) {
        char save = buf[cut], real[PATH_MAX];
        buf[cut] = '\0';
        int ok = realpath(cut == 0 ? "/" : buf, real) != NULL;
        buf[cut] = save;
        if (ok) {
            const char *rest = buf + cut; /* "" or "/a/b" */
            for (const char *p = rest; *p;) {
                while (*p == '/')
                    p++;
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.')
                    return -1;
                p += n;
            }
            if (strlen(real) + strlen(rest) + 1 > PATH_MAX)
                return -1;
            strcpy(out, strcmp(real, "/") == 0 && rest[0] == '/' ? "" : real);
            strcat(out, rest);
            return 0;
        }
        if (cut == 0)
            return -1;
        size_t i = cut; /* drop the last component */
        while (i > 0 && buf[i - 1] != '/')
            i--;
        cut = i > 0 ? i - 1 : 0;
    }
}

/* path resolved into target, or TE_EINVAL saying why it cannot be. */
static te_status_t resolve_target(const char *path, char *target, te_error_t *err)
{
    if (path == NULL || resolve_future_path(path, target) != 0)
        return te_error_set(err, TE_EINVAL,
                            "'%s' cannot be resolved safely (too long, or '..' in a part that does not exist yet)",
                            path ? path : "");
    return TE_OK;
}

te_status_t path_confine_check_protected(const char *protected_list, const char *path, te_error_t *err)
{
    if (protected_list == NULL || protected_list[0] == '\0')
        return TE_OK;
    char target[PATH_MAX];
    if (resolve_target(path, target, err) != TE_OK)
        return TE_EINVAL;
    for (const char *line = protected_list; *line;) {
        size_t len = strcspn(line, "\n");
        const char *eq = memchr(line, '=', len);
        char what[128], file[PATH_MAX], real[PATH_MAX];
        if (eq != NULL && (size_t)(eq - line) < sizeof(what) && len - (size_t)(eq - line) - 1 < sizeof(file)) {
            snprintf(what, sizeof(what), "%.*s", (int)(eq - line), line);
            snprintf(file, sizeof(file), "%.*s", (int)(len - (size_t)(eq - line) - 1), eq + 1);
            size_t wl = strlen(what);
            int is_dir = wl > 4 && strcmp(what + wl - 4, ".dir") == 0;
            if (file[0] != '\0' && resolve_future_path(file, real) == 0) {
                size_t n = strlen(real);
                int inside = strncmp(target, real, n) == 0 && (target[n] == '\0' || (is_dir && target[n] == '/'));
                if (inside && is_dir)
                    return te_error_set(
                        err, TE_EINVAL,
                        "'%s' is inside %s (%s): a job may never read or write the daemon's own files", path, what,
                        real);
                if (inside)
                    return te_error_set(
                        err, TE_EINVAL,
                        "'%s' is the daemon's %s (%s): a job may never read or write the daemon's own "
                        "files",
                        path, what, real);
            }
        }
        line += len;
        while (*line == '\n')
            line++;
    }
    return TE_OK;
}

te_status_t path_confine_check(const char *allowed_csv, const char *path, te_error_t *err)
{
    if (allowed_csv == NULL || allowed_csv[0] == '\0')
        return TE_OK;
    char target[PATH_MAX];
    if (resolve_target(path, target, err) != TE_OK)
        return TE_EINVAL;
    char list[1024];
    snprintf(list, sizeof(list), "%s", allowed_csv);
    for (char *save = NULL, *d = strtok_r(list, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        while (*d == ' ')
            d++;
        char real[PATH_MAX];
        if (*d == '\0' || realpath(d, real) == NULL)
            continue;
        size_t n = strlen(real);
        if (strcmp(real, "/") == 0 || (strncmp(target, real, n) == 0 && (target[n] == '/' || target[n] == '\0')))
            return TE_OK;
    }
    return te_error_set(err, TE_EINVAL, "'%s' is outside io.allowed-dirs (%s)", path, allowed_csv);
}

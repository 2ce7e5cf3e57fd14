/*
 * plugin_loader — dlopen of operator plugins confined to plugins.dir. A library is
 * loaded only when nobody but the daemon's user (or root) can change it: the file and
 * every directory from it up to plugins.dir must be owned by the daemon's effective
 * user or root and not writable by group or others (as ssh treats its keys).
 *
 * Threading: any thread; a global mutex guards the list of loaded libraries. Loading
 * happens at deployment on the control thread; task threads only use the returned
 * definitions, which stay valid until plugin_loader_unload_all().
 */
#include "operators/plugin_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct loaded {
    char path[PATH_MAX];
    void *handle;
    const te_operator_def_t *def;
    struct loaded *next;
} loaded_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static loaded_t *g_loaded;

static int has_dotdot(const char *p)
{
    for (const char *s = p; *s; s++) {
        if (s[0] == '.' && s[1] == '.' && (s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            return 1;
    }
    return 0;
}

/* 0 when `path` (the library or a directory above it) can be changed only by the
 * daemon's user or root; -1 with err naming the path, its owner or mode, and the rule. */
static int check_owner_mode(const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "operator 'plugin': cannot stat %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    uid_t me = geteuid();
    if (st.st_uid != me && st.st_uid != 0) {
        snprintf(
            err, errlen,
            "operator 'plugin': refusing to load from %s '%s': it is owned by uid %u, not by the daemon's user "
            "(uid %u) or root, so someone else can change the code the daemon would run",
            what, path, (unsigned)st.st_uid, (unsigned)me);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "operator 'plugin': refusing to load from %s '%s': it is writable by %s (mode %04o); plugins and "
                 "their directories must be writable only by the daemon's user (chmod go-w '%s')",
                 what, path, (st.st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st.st_mode & 07777),
                 path);
        return -1;
    }
    return 0;
}

/* The library and each directory from its own up to plugins.dir (dir_real). */
static int check_library_safe(const char *lib_real, const char *dir_real, char *err, size_t errlen)
{
    if (check_owner_mode(lib_real, "the library", err, errlen) != 0)
        return -1;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", lib_real);
    size_t dl = strlen(dir_real);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL || (size_t)(slash - dir) < dl)
            break;
        *slash = '\0';
        if (check_owner_mode(dir, strlen(dir) == dl ? "plugins.dir" : "the directory", err, errlen) != 0)
            return -1;
    }
    return 0;
}

const te_operator_def_t *plugin_loader_load(const char *plugins_dir, const char *library, char *err, size_t errlen)
{
    char dir_real[PATH_MAX], lib_path[PATH_MAX * 2], lib_real[PATH_MAX];
    if (library == NULL || library[0] == '\0') {
        snprintf(err, errlen,
                 "operator 'plugin': missing required parameter 'library' (a file under plugins.dir)");
        return NULL;
    }
    if (library[0] == '/' || has_dotdot(library)) {
        snprintf(err, errlen,
                 "operator 'plugin': library '%s' is not inside plugins.dir: give a relative path without '..'",
                 library);
        return NULL;
    }
    if (plugins_dir == NULL || realpath(plugins_dir, dir_real) == NULL) {
        snprintf(err, errlen, "operator 'plugin': plugins.dir '%s' cannot be resolved: %s",
                 plugins_dir ? plugins_dir : "(unset)", strerror(errno));
        return NULL;
    }
    snprintf(lib_path, sizeof(lib_path), "%s/%s", dir_real, library);
    if (realpath(lib_path, lib_real) == NULL) {
        snprintf(err, errlen, "operator 'plugin': library '%s' not found in plugins.dir '%s': %s", library,
                 dir_real, strerror(errno));
        return NULL;
    }
    size_t dl = strlen(dir_real);
    if (strncmp(lib_real, dir_real, dl) != 0 || lib_real[dl] != '/') {
        snprintf(err, errlen, "operator 'plugin': library '%s' resolves to '%s', outside plugins.dir '%s'",
                 library, lib_real, dir_real);
        return NULL;
    }

    if (check_library_safe(lib_real, dir_real, err, errlen) != 0)
        return NULL;

    pthread_mutex_lock(&g_lock);
    for (loaded_t *l = g_loaded; l; l = l->next) {
        if (strcmp(l->path, lib_real) == 0) {
            const te_operator_def_t *def = l->def;
            pthread_mutex_unlock(&g_lock);
            return def;
        }
    }
    const te_operator_def_t *def = NULL;
    void *h = dlopen(lib_real, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(err, errlen, "operator 'plugin': cannot load '%s': %s", lib_real, dlerror());
        goto cleanup;
    }
    te_operator_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, TE_OPERATOR_PLUGIN_ENTRY);
    if (entry == NULL) {
        snprintf(err, errlen, "operator 'plugin': '%s' does not export %s()", lib_real, TE_OPERATOR_PLUGIN_ENTRY);
        dlclose(h);
        goto cleanup;
    }
    const te_operator_def_t *d = entry();
    if (d == NULL || d->abi_version < 1 || d->abi_version > TE_OPERATOR_ABI_VERSION) {
        snprintf(
            err, errlen,
            "operator 'plugin': '%s' was built for operator ABI version %u; this daemon supports versions 1 to %u",
            lib_real, d ? d->abi_version : 0, (unsigned)TE_OPERATOR_ABI_VERSION);
        dlclose(h);
        goto cleanup;
    }
    if (d->name == NULL || d->setup == NULL) {
        snprintf(err, errlen, "operator 'plugin': '%s' returned a definition without a name or setup", lib_real);
        dlclose(h);
        goto cleanup;
    }
    loaded_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        dlclose(h);
        goto cleanup;
    }
    snprintf(l->path, sizeof(l->path), "%s", lib_real);
    l->handle = h;
    l->def = d;
    l->next = g_loaded;
    g_loaded = l;
    def = d;
cleanup:
    pthread_mutex_unlock(&g_lock);
    return def;
}

void plugin_loader_unload_all(void)
{
    pthread_mutex_lock(&g_lock);
    while (g_loaded) {
        loaded_t *l = g_loaded;
        g_loaded = l->next;
        dlclose(l->handle);
        free(l);
    }
    pthread_mutex_unlock(&g_lock);
}

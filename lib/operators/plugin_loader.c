/*
 * plugin_loader — dlopen of operator plugins confined to plugins.dir.
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

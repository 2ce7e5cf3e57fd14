/*
 * builtin_module — dlopen of the modules that hold some built-in operators (see
 * builtin_module.h for where they are looked for and why they exist).
 *
 * Threading: any thread; g_lock guards the list of loaded modules. Loading happens
 * when a job is planned or deployed (control threads); the returned definitions stay
 * valid for the life of the process (modules are never unloaded).
 */
#include "operators/builtin_module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TE_VERSION
#define TE_VERSION "dev"
#endif

#define MODULE_DIR_ENV     "TE_MODULE_DIR"
#define MODULE_INSTALL_REL "../lib/taskexecutord"
#define MAX_CANDIDATES     3

typedef struct loaded_module {
    char name[64];
    void *handle;
    struct loaded_module *next;
} loaded_module_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static loaded_module_t *g_loaded;

/* The directory of the running program into buf (no trailing slash); -1 if unknown. */
static int program_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    if ((size_t)snprintf(buf, len, "%s", exe[0] ? exe : "/") >= len)
        return -1;
    return 0;
}

/* The candidate paths of `module`, in search order; their number. */
static size_t candidates(const char *module, char out[MAX_CANDIDATES][PATH_MAX])
{
    size_t n = 0;
    const char *env = getenv(MODULE_DIR_ENV);
    if (env != NULL && env[0] != '\0' && (size_t)snprintf(out[n], PATH_MAX, "%s/%s.so", env, module) < PATH_MAX)
        n++;
    char dir[PATH_MAX];
    if (program_dir(dir, sizeof(dir)) == 0) {
        if ((size_t)snprintf(out[n], PATH_MAX, "%s/%s.so", dir, module) < PATH_MAX)
            n++;
        if ((size_t)snprintf(out[n], PATH_MAX, "%s/" MODULE_INSTALL_REL "/%s.so", dir, module) < PATH_MAX)
            n++;
    }
    return n;
}

int builtin_module_path(const char *module, char *buf, size_t len)
{
    char c[MAX_CANDIDATES][PATH_MAX];
    size_t n = candidates(module, c);
    if (n == 0)
        return -1;
    const char *env = getenv(MODULE_DIR_ENV);
    size_t pick = env != NULL && env[0] != '\0' && n > 1 ? 1 : 0; /* none exists: the program directory's */
    for (size_t i = 0; i < n; i++)
        if (access(c[i], F_OK) == 0) {
            pick = i;
            break;
        }
    return (size_t)snprintf(buf, len, "%s", c[pick]) < len ? 0 : -1;
}

/* Opens `module` from its first candidate that exists; the handle, or NULL with err
 * saying what each candidate was. Caller holds g_lock. */
static void *open_module(const char *module, char *err, size_t errlen)
{
    char c[MAX_CANDIDATES][PATH_MAX];
    size_t n = candidates(module, c), off = 0;
    err[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (access(c[i], F_OK) != 0) {
            int w = snprintf(err + off, errlen - off, "%s%s: %s", off ? "; " : "", c[i], strerror(errno));
            if (w > 0)
                off = (size_t)w < errlen - off ? off + (size_t)w : errlen - 1; /* full: keep what fits */
            continue;
        }
        void *h = dlopen(c[i], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            snprintf(err, errlen, "%s: %s", c[i], dlerror());
            return NULL;
        }
        const char *version = dlsym(h, "te_builtin_module_version");
        if (version == NULL || strcmp(version, TE_VERSION) != 0) {
            snprintf(err, errlen, "%s was built for version %s, this program is %s", c[i],
                     version ? version : "(none: not a module of this project)", TE_VERSION);
            dlclose(h);
            return NULL;
        }
        return h;
    }
    if (n == 0)
        snprintf(err, errlen, "the running program's directory is unknown (/proc/self/exe) and %s is not set",
                 MODULE_DIR_ENV);
    return NULL;
}

const te_operator_def_t *builtin_module_def(const char *module, const char *symbol, char *err, size_t errlen)
{
    char why[2 * PATH_MAX];
    pthread_mutex_lock(&g_lock);
    loaded_module_t *m = g_loaded;
    while (m != NULL && strcmp(m->name, module) != 0)
        m = m->next;
    if (m == NULL) {
        void *h = open_module(module, why, sizeof(why));
        if (h != NULL && (m = calloc(1, sizeof(*m))) == NULL) {
            dlclose(h);
            snprintf(why, sizeof(why), "out of memory");
        }
        if (m == NULL) {
            pthread_mutex_unlock(&g_lock);
            if (err != NULL)
                snprintf(err, errlen, "module %s.so could not be loaded (%s; %s overrides where it is looked for)",
                         module, why, MODULE_DIR_ENV);
            return NULL;
        }
        snprintf(m->name, sizeof(m->name), "%s", module);
        m->handle = h;
        m->next = g_loaded;
        g_loaded = m;
    }
    const te_operator_def_t *def = dlsym(m->handle, symbol);
    pthread_mutex_unlock(&g_lock);
    if (def == NULL && err != NULL)
        snprintf(err, errlen, "module %s.so has no definition %s", module, symbol);
    return def;
}

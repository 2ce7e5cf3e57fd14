/*
 * executor_confine — the daemon's own files that no job may read or write, whatever
 * io.allowed-dirs says: plugins.dir and the connectors module (the daemon loads code
 * from them: a job writing a shared object there would have the next job run it), the
 * token, key and certificate files of security.*, and the configuration file main
 * names. They go to
 * every task as the enforced job-config key "io.protected-paths" (lines
 * "<what>=<path>", see path_confine_check_protected), which the operator API's
 * check_path and the checkpoint/restore paths of a deployment are checked against.
 *
 * Threading: the control thread (executor start, reload, main). No locks.
 */
#include <stdio.h>
#include <string.h>

#include "executor/task_executor_internal.h"
#include "operators/builtin_module.h"

static void confine_add(char *buf, size_t cap, const char *what, const char *path)
{
    size_t n = strlen(buf);
    if (path == NULL || path[0] == '\0' || n >= cap)
        return;
    snprintf(buf + n, cap - n, "%s%s=%s", n ? "\n" : "", what, path);
}

void executor_confine_build(te_task_executor_t *te, const te_config_t *cfg)
{
    static const te_config_key_id_t keys[] = {TE_KEY_PLUGINS_DIR,      TE_KEY_SECURITY_AUTH_TOKEN_FILE,
                                              TE_KEY_SECURITY_SSL_KEY, TE_KEY_SECURITY_SSL_CERTIFICATE,
                                              TE_KEY_SECURITY_SSL_CA,  TE_KEY_TASKMANAGER_STATUS_TOKEN_FILE};
    te->protected_paths[0] = '\0';
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        confine_add(te->protected_paths, sizeof(te->protected_paths), config_key_name(keys[i]),
                    config_get_str(cfg, keys[i]));
    char module[4096];
    if (builtin_module_path("te_connectors", module, sizeof(module)) == 0) /* code it may load later */
        confine_add(te->protected_paths, sizeof(te->protected_paths), "connectors module", module);
    if (te->config_file[0] != '\0')
        confine_add(te->protected_paths, sizeof(te->protected_paths), "configuration file", te->config_file);
}

void task_executor_protect_config_file(te_task_executor_t *te, const char *path)
{
    snprintf(te->config_file, sizeof(te->config_file), "%s", path ? path : "");
    executor_confine_build(te, te->cfg);
}

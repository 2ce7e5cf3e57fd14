/*
 * executor_operators — how the TaskExecutor finds the operators a chain names: the
 * te_operator_resolver_t it hands every Task. A name is a built-in of
 * operators/operator_registry (at the head of a source task, the source of a name a
 * source and a sink share), or `plugin`: the user operator its `library` parameter
 * names, loaded from plugins.dir by operators/plugin_loader (`library` is not passed on
 * to it). An unknown name gets the known names and, for a near miss, "did you mean".
 * The executor assembles the engine here so that task/ never includes operators/.
 *
 * Threading: the control thread (deployment). The registry is constant; the plugin
 * loader takes its own lock.
 */
#include <stdio.h>
#include <string.h>

#include "common/suggest.h"
#include "executor/task_executor.h"
#include "operators/operator_registry.h"
#include "operators/plugin_loader.h"

static const te_operator_def_t *resolve_operator(void *plugins_dir, const char *name, size_t position,
                                                 int source_head, const char *const *keys,
                                                 const char *const *values, size_t n, int *consumed, char *err,
                                                 size_t errlen)
{
    *consumed = -1;
    if (strcmp(name, "plugin") == 0) {
        const char *library = NULL;
        for (size_t j = 0; j < n; j++)
            if (strcmp(keys[j], "library") == 0) {
                library = values[j];
                *consumed = (int)j;
            }
        char perr[512];
        const te_operator_def_t *def = plugin_loader_load(plugins_dir, library, perr, sizeof(perr));
        if (def == NULL)
            snprintf(err, errlen, "chain position %zu: %s", position, perr);
        return def;
    }
    char why[1536];
    const te_operator_def_t *def = operator_registry_lookup(name, source_head != 0, why, sizeof(why));
    if (def != NULL)
        return def;
    if (why[0] != '\0') { /* its module could not be loaded */
        snprintf(err, errlen, "chain position %zu: %s", position, why);
        return NULL;
    }
    char known[512];
    operator_registry_names(known, sizeof(known));
    te_suggest_t s;
    suggest_init(&s, name);
    for (size_t j = 0; operator_registry_at(j) != NULL; j++)
        suggest_consider(&s, operator_registry_at(j)->name);
    suggest_consider(&s, "plugin");
    const char *hint = suggest_best(&s);
    snprintf(err, errlen,
             "unknown operator '%s' at chain position %zu%s%s%s (known operators: %s, and 'plugin' with a "
             "'library' under plugins.dir)",
             name, position, hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "", known);
    return NULL;
}

te_operator_resolver_t task_executor_operator_resolver(const char *plugins_dir)
{
    return (te_operator_resolver_t){resolve_operator, (void *)plugins_dir};
}

/*
 * plugin_loader — loads user operators from shared objects under `plugins.dir` (the C
 * analogue of Flink's user-code class loader). A plugin exports
 * te_operator_plugin_entry() returning its te_operator_def_t (lib/include/te/operator.h).
 *
 * Only files inside plugins.dir are loaded: the library name must be a relative path
 * without "..", and its resolved real path must lie under the resolved plugins.dir.
 * A loaded library stays loaded until plugin_loader_unload_all() at shutdown (tasks
 * may hold its definition at any time).
 *
 * Threading: thread-safe (one mutex); called on the control thread at deployment.
 */
#ifndef TE_PLUGIN_LOADER_H
#define TE_PLUGIN_LOADER_H

#include <stddef.h>

#include "te/operator.h"

/* Resolves `library` under `plugins_dir`, loads it (once) and returns its definition.
 * NULL with a message naming the file and the problem (outside plugins.dir, missing
 * file, dlopen error, missing te_operator_plugin_entry symbol, ABI mismatch). */
const te_operator_def_t *plugin_loader_load(const char *plugins_dir, const char *library, char *err,
                                            size_t errlen);
/* dlcloses every library (process exit). */
void plugin_loader_unload_all(void);

#endif

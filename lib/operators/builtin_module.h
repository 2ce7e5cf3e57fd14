/*
 * builtin_module — built-in operators kept in a shared module beside the programs
 * (builtins.def's MODULE_BUILTIN rows), loaded on first use. A program that never runs
 * a connector never loads the connectors' client libraries.
 *
 * Where a module `m` is looked for, first found wins:
 *   1. $TE_MODULE_DIR/m.so (an override for packagers and tests);
 *   2. <directory of the running program>/m.so (the build tree: build/te_connectors.so);
 *   3. <directory of the running program>/../lib/taskexecutord/m.so (`make install`:
 *      PREFIX/sbin/taskexecutord -> PREFIX/lib/taskexecutord/).
 * A module must say it was built for this version (te_builtin_module_version); it
 * stays loaded for the life of the process.
 *
 * Threading: any thread; a mutex guards the loaded modules.
 */
#ifndef TE_BUILTIN_MODULE_H
#define TE_BUILTIN_MODULE_H

#include <stddef.h>

#include "te/operator.h"

/* The definition called `symbol` in module `module`: loaded (once) and returned; NULL
 * with err naming every path tried and what was wrong when the module cannot be
 * found or loaded, was built for another version, or lacks the symbol. */
const te_operator_def_t *builtin_module_def(const char *module, const char *symbol, char *err, size_t errlen);

/* The path `module` is loaded from, or would be (the first candidate that exists;
 * else the program directory's), into buf. 0, or -1 when no candidate can be formed. */
int builtin_module_path(const char *module, char *buf, size_t len);

#endif

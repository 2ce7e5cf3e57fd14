/*
 * operator_registry — the table of built-in operators, looked up by name when a job
 * graph names an operator (`"operator": "tokenize"`). Plugins are loaded elsewhere
 * (plugin loader); this registry knows only the built-ins, which are written against
 * the public ABI of te/operator.h and nothing else of the engine.
 *
 * Threading: the table is constant; any thread may call these functions.
 */
#ifndef TE_OPERATOR_REGISTRY_H
#define TE_OPERATOR_REGISTRY_H

#include <stddef.h>

#include "te/operator.h"

/* The built-in operator called `name` of the wanted role (source > 0: a source; 0: not
 * a source; < 0: either, the first in table order), falling back to one of another role
 * when none of that role has the name (a source and a sink may share a name: the
 * connectors `postgres`, `kafka`, `mqtt`). A built-in kept in a module (builtins.def's
 * MODULE_BUILTIN) is loaded here on first use. NULL when there is none — err (may be
 * NULL) then empty — or when its module cannot be loaded — err then says why, naming
 * the operator and the paths tried. The definition is static (never freed). */
const te_operator_def_t *operator_registry_lookup(const char *name, int source, char *err, size_t errlen);

/* operator_registry_lookup(name, -1, NULL, 0). */
const te_operator_def_t *operator_registry_find(const char *name);

/* operator_registry_lookup(name, source != 0, NULL, 0). */
const te_operator_def_t *operator_registry_find_kind(const char *name, int source);

/* Writes the known names, comma-separated ("file_lines, sequence, ..."), into buf
 * (always NUL-terminated when len > 0; truncated when too small). For error messages. */
void operator_registry_names(char *buf, size_t len);

/* The i-th built-in (0-based, table order), or NULL past the last: for listings
 * (GET /v1/operators) and "did you mean" hints. For a built-in kept in a module only
 * its identity (name, kind) without loading it: look it up to run it. */
const te_operator_def_t *operator_registry_at(size_t i);

/* The module the i-th built-in is kept in ("te_connectors"), or NULL when it is linked
 * into the program (or past the last). */
const char *operator_registry_module_at(size_t i);

/* "source", "one-input" or "two-input" ("unknown" for anything else). */
const char *operator_registry_kind_name(te_operator_kind_t kind);

#endif

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

/* The built-in operator called `name`, or NULL when there is none. The definition is
 * static (never freed). */
const te_operator_def_t *operator_registry_find(const char *name);

/* The same, preferring the definition of the wanted role when a source and a sink
 * share a name (the connectors: `postgres`, `kafka`, `mqtt`): source != 0 wants the
 * TE_OP_SOURCE one (a source vertex's chain head). Falls back to any of that name. */
const te_operator_def_t *operator_registry_find_kind(const char *name, int source);

/* Writes the known names, comma-separated ("file_lines, sequence, ..."), into buf
 * (always NUL-terminated when len > 0; truncated when too small). For error messages. */
void operator_registry_names(char *buf, size_t len);

/* The i-th built-in (0-based, table order), or NULL past the last: for listings
 * (GET /v1/operators) and "did you mean" hints. */
const te_operator_def_t *operator_registry_at(size_t i);

/* "source", "one-input" or "two-input" ("unknown" for anything else). */
const char *operator_registry_kind_name(te_operator_kind_t kind);

#endif

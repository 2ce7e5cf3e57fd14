/*
 * operator_registry — name → built-in te_operator_def_t (the table is generated from
 * builtins.def).
 *
 * Threading: a constant table; safe from any thread.
 */
#include "operators/operator_registry.h"

#include <stdio.h>
#include <string.h>

/* The built-ins: builtins.def is the list. */
#define BUILTIN(x) extern const te_operator_def_t op_##x##_def;
#include "operators/builtins.def"
#undef BUILTIN

static const te_operator_def_t *const builtins[] = {
#define BUILTIN(x) &op_##x##_def,
#include "operators/builtins.def"
#undef BUILTIN
};

#define N_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

const te_operator_def_t *operator_registry_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < N_BUILTINS; i++)
        if (strcmp(builtins[i]->name, name) == 0)
            return builtins[i];
    return NULL;
}

const te_operator_def_t *operator_registry_find_kind(const char *name, int source)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < N_BUILTINS; i++)
        if (strcmp(builtins[i]->name, name) == 0 && (builtins[i]->kind == TE_OP_SOURCE) == (source != 0))
            return builtins[i];
    return operator_registry_find(name);
}

const te_operator_def_t *operator_registry_at(size_t i) { return i < N_BUILTINS ? builtins[i] : NULL; }

const char *operator_registry_kind_name(te_operator_kind_t kind)
{
    switch (kind) {
    case TE_OP_SOURCE: return "source";
    case TE_OP_ONE_INPUT: return "one-input";
    case TE_OP_TWO_INPUT: return "two-input";
    default: return "unknown";
    }
}

void operator_registry_names(char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_BUILTINS && off < len; i++) {
        if (i > 0 && strcmp(builtins[i - 1]->name, builtins[i]->name) == 0)
            continue; /* a source and a sink of one name */
        int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", builtins[i]->name);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

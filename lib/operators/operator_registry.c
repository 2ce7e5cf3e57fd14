/*
 * operator_registry — name → built-in te_operator_def_t (the table is generated from
 * builtins.def; the rows of a module are loaded through builtin_module on first use).
 *
 * Threading: a constant table; safe from any thread (builtin_module locks its own).
 */
#include "operators/operator_registry.h"

#include <stdio.h>
#include <string.h>

#include "operators/builtin_module.h"

/* The built-ins linked in: builtins.def is the list. */
#define BUILTIN(x)                      extern const te_operator_def_t op_##x##_def;
#define MODULE_BUILTIN(x, m, name, kind)
#include "operators/builtins.def"
#undef BUILTIN
#undef MODULE_BUILTIN

/* One built-in: linked in (def) or in a module (module, symbol; def is then its
 * identity — name, kind — until loaded). */
typedef struct builtin {
    const te_operator_def_t *def;
    const char *module, *symbol;
} builtin_t;

#define BUILTIN(x) {&op_##x##_def, NULL, NULL},
#define MODULE_BUILTIN(x, m, nm, k)                                                                                    \
    {&(const te_operator_def_t){.abi_version = TE_OPERATOR_ABI_VERSION, .name = nm, .kind = k}, #m, "op_" #x "_def"},
static const builtin_t builtins[] = {
#include "operators/builtins.def"
};
#undef BUILTIN
#undef MODULE_BUILTIN

#define N_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

/* Builtin b's definition (its module loaded on first use); NULL with err set when the
 * module cannot be loaded or disagrees with builtins.def. */
static const te_operator_def_t *resolve(const builtin_t *b, char *err, size_t errlen)
{
    if (b->module == NULL)
        return b->def;
    char why[1024];
    const te_operator_def_t *d = builtin_module_def(b->module, b->symbol, why, sizeof(why));
    if (d != NULL && (d->name == NULL || strcmp(d->name, b->def->name) != 0 || d->kind != b->def->kind)) {
        snprintf(why, sizeof(why), "module %s.so defines %s as '%s' (%s), builtins.def says '%s' (%s)", b->module,
                 b->symbol, d->name ? d->name : "", operator_registry_kind_name(d->kind), b->def->name,
                 operator_registry_kind_name(b->def->kind));
        d = NULL;
    }
    if (d == NULL && err != NULL)
        snprintf(err, errlen, "operator '%s' (%s) is not available: %s", b->def->name,
                 operator_registry_kind_name(b->def->kind), why);
    return d;
}

const te_operator_def_t *operator_registry_lookup(const char *name, int source, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (name == NULL)
        return NULL;
    const builtin_t *any = NULL;
    for (size_t i = 0; i < N_BUILTINS; i++) {
        if (strcmp(builtins[i].def->name, name) != 0)
            continue;
        if (source < 0 || (builtins[i].def->kind == TE_OP_SOURCE) == (source != 0))
            return resolve(&builtins[i], err, errlen);
        if (any == NULL)
            any = &builtins[i];
    }
    return any ? resolve(any, err, errlen) : NULL;
}

const te_operator_def_t *operator_registry_find(const char *name) { return operator_registry_lookup(name, -1, NULL, 0); }

const te_operator_def_t *operator_registry_find_kind(const char *name, int source)
{
    return operator_registry_lookup(name, source != 0, NULL, 0);
}

const te_operator_def_t *operator_registry_at(size_t i) { return i < N_BUILTINS ? builtins[i].def : NULL; }

const char *operator_registry_module_at(size_t i) { return i < N_BUILTINS ? builtins[i].module : NULL; }

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
        if (i > 0 && strcmp(builtins[i - 1].def->name, builtins[i].def->name) == 0)
            continue; /* a source and a sink of one name */
        int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", builtins[i].def->name);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

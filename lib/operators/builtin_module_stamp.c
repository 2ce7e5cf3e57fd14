/*
 * builtin_module_stamp — linked into each module of built-in operators (never into
 * libte.a): the version the module was built for, which builtin_module checks before
 * it uses any definition of it.
 *
 * Threading: a constant.
 */
#ifndef TE_VERSION
#define TE_VERSION "dev"
#endif

extern const char te_builtin_module_version[];
const char te_builtin_module_version[] = TE_VERSION;

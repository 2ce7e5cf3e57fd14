/*
 * path_confine — io.allowed-dirs: is a file path (that may not exist yet) inside one
 * of a list of directories? The longest existing ancestor of the path is resolved
 * (symlinks followed); the components that do not exist yet may not contain "..".
 *
 * Threading: pure (reads the file system); any thread.
 */
#ifndef TE_PATH_CONFINE_H
#define TE_PATH_CONFINE_H

#include "common/te_status.h"

/* allowed_csv: comma-separated directories; NULL or "" = no restriction. TE_OK, or
 * TE_EINVAL with "'<path>' is outside io.allowed-dirs (<list>)". */
te_status_t path_confine_check(const char *allowed_csv, const char *path, te_error_t *err);

/* The daemon's own files, which no job may read or write whatever io.allowed-dirs
 * says: `protected_list` holds lines "<what>=<path>" ('\n'-separated); a <what> ending
 * in ".dir" protects everything under that directory (plugins.dir: the daemon loads
 * code from it), others the file itself (its configuration, token, key and
 * certificates). Both sides are resolved as path_confine_check does (symlinks, parts
 * that do not exist yet). NULL or "" = nothing protected. TE_OK, or TE_EINVAL with
 * "'<path>' is inside plugins.dir (<dir>): a job may never read or write the
 * daemon's own files" (or "is the daemon's <what> (<file>)..."). */
te_status_t path_confine_check_protected(const char *protected_list, const char *path, te_error_t *err);

#endif

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

#endif

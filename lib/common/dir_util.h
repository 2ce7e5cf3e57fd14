/*
 * dir_util — directory helpers over POSIX calls: create a directory with its missing
 * parents, delete a tree, fsync a directory (so a rename or a new entry in it is
 * durable).
 *
 * Threading: pure functions over the file system; any thread.
 */
#ifndef TE_DIR_UTIL_H
#define TE_DIR_UTIL_H

/* mkdir -p path (mode 0755). 0, or -1 with errno. */
int dir_make(const char *path);
/* mkdir -p of the directory that holds path (everything before its last '/'). */
int dir_make_parent(const char *path);
/* rm -rf path (symlinks are removed, not followed); a missing path is fine. 0, or -1
 * with errno of the first failure (the walk goes on). */
int dir_remove_tree(const char *path);
/* fsync of the directory `dir` (errors ignored: some file systems refuse it). */
void dir_fsync(const char *dir);
/* fsync of the directory holding path. */
void dir_fsync_parent(const char *path);

#endif

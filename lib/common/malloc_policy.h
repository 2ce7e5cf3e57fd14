/*
 * malloc_policy — the daemon's settings for glibc's malloc, so that memory a finished
 * task freed goes back to the system.
 *
 * glibc raises its mmap threshold to the size of the largest mmapped block freed so
 * far (up to 32 MiB) and its trim threshold to twice that. After a task with large
 * state (RocksDB frees memtable blocks of several MiB) every thread's arena then keeps
 * up to that much free memory at the top of its heap, resident, and malloc_trim does
 * not give a thread arena's top back. Fixing both thresholds (which turns the dynamic
 * raise off) bounds what each arena keeps to TE_MALLOC_THRESHOLD: blocks at least that
 * large are mapped and unmapped on their own, and a heap's free top beyond it is
 * returned when it grows past it.
 *
 * Threading: call malloc_policy_apply once, before the process starts threads.
 */
#ifndef TE_MALLOC_POLICY_H
#define TE_MALLOC_POLICY_H

#define TE_MALLOC_THRESHOLD (256u * 1024u)

/* Fixes glibc's mmap and trim thresholds at TE_MALLOC_THRESHOLD. Returns 1 when set,
 * or 0 with *why saying why not: the environment's GLIBC_TUNABLES sets either (the
 * operator's choice is kept), or the allocator is not glibc's (a sanitizer's,
 * valgrind's), or mallopt refused. *why is a static string. */
int malloc_policy_apply(const char **why);

#endif

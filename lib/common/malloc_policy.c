/*
 * malloc_policy — glibc malloc's thresholds for the daemon (see malloc_policy.h).
 *
 * Threading: malloc_policy_apply before the process starts threads (mallopt changes
 * process-wide settings).
 */
#include "common/malloc_policy.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZER_ALLOCATOR 1
#endif
#endif

#ifndef SANITIZER_ALLOCATOR
/* Whether valgrind's allocator replaces malloc (its preload library is mapped). */
static int under_valgrind(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, "/vgpreload_") != NULL;
    fclose(f);
    return found;
}
#endif

int malloc_policy_apply(const char **why)
{
#ifdef SANITIZER_ALLOCATOR
    *why = "a sanitizer's allocator replaces glibc's malloc";
    return 0;
#else
    const char *t = getenv("GLIBC_TUNABLES");
    if (t != NULL && (strstr(t, "malloc.mmap_threshold") != NULL || strstr(t, "malloc.trim_threshold") != NULL)) {
        *why = "GLIBC_TUNABLES sets malloc's thresholds";
        return 0;
    }
    if (under_valgrind()) {
        *why = "valgrind's allocator replaces glibc's malloc";
        return 0;
    }
    if (mallopt(M_MMAP_THRESHOLD, (int)TE_MALLOC_THRESHOLD) != 1 ||
        mallopt(M_TRIM_THRESHOLD, (int)TE_MALLOC_THRESHOLD) != 1) {
        *why = "mallopt refused the thresholds";
        return 0;
    }
    *why = "mmap and trim thresholds fixed";
    return 1;
#endif
}

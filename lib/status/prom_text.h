/*
 * prom_text — building a Prometheus text exposition (format 0.0.4): a growable string
 * with printf, escaped label values, the # HELP / # TYPE header of a family, and the
 * process_* families every Prometheus client library exports (from /proc/self). Used
 * by the TaskExecutor's and the JobManager's /metrics.
 *
 * Threading: a builder belongs to its caller; reentrant.
 */
#ifndef TE_PROM_TEXT_H
#define TE_PROM_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* A growable string; `failed` once an allocation failed (the text is then dropped). */
typedef struct te_prom {
    char *p;
    size_t len, cap;
    int failed;
} te_prom_t;

void prom_printf(te_prom_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* `in` as a label value: backslash, double quote and newline escaped. */
void prom_label_value(te_prom_t *b, const char *in);
/* "# HELP name help\n# TYPE name type\n" */
void prom_family(te_prom_t *b, const char *name, const char *type, const char *help);
/* process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_start_time_seconds (from started_ms, wall clock), process_cpu_seconds_total,
 * process_open_fds, process_max_fds; a /proc file that cannot be read leaves its
 * sample out. */
void prom_process(te_prom_t *b, int64_t started_ms);
/* The text (malloc'd; the caller frees it), or NULL when an allocation failed. */
char *prom_take(te_prom_t *b);

#endif

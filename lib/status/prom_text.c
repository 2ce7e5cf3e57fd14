/*
 * prom_text — Prometheus text exposition helpers (see prom_text.h).
 *
 * Threading: reentrant; a builder belongs to its caller.
 */
#include "status/prom_text.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void prom_printf(te_prom_t *b, const char *fmt, ...)
{
    while (!b->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* Appends `in` as a label value: backslash, double quote and newline escaped. */
void prom_label_value(te_prom_t *b, const char *in)
{
    const char *run = in;
    for (; *in; in++) {
        const char *esc = *in == '"' ? "\\\"" : *in == '\\' ? "\\\\" : *in == '\n' ? "\\n" : NULL;
        if (esc == NULL)
            continue;
        prom_printf(b, "%.*s%s", (int)(in - run), run, esc);
        run = in + 1;
    }
    prom_printf(b, "%s", run);
}

void prom_family(te_prom_t *b, const char *name, const char *type, const char *help)
{
    prom_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Process figures from /proc/self; a file that cannot be read leaves its sample out. */
void prom_process(te_prom_t *b, int64_t started_ms)
{
    long page = sysconf(_SC_PAGESIZE), ticks = sysconf(_SC_CLK_TCK);
    unsigned long long size_pages = 0, rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    int have_statm = f != NULL && fscanf(f, "%llu %llu", &size_pages, &rss_pages) == 2;
    if (f != NULL)
        fclose(f);
    prom_family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    if (have_statm)
        prom_printf(b, "process_resident_memory_bytes %llu\n", rss_pages * (unsigned long long)page);
    prom_family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    if (have_statm)
        prom_printf(b, "process_virtual_memory_bytes %llu\n", size_pages * (unsigned long long)page);
    prom_family(b, "process_start_time_seconds", "gauge",
                "Start time of the process since the Unix epoch in seconds.");
    prom_printf(b, "process_start_time_seconds %.3f\n", (double)started_ms / 1000.0);

    /* /proc/self/stat: utime and stime are fields 14 and 15; the command name (field
     * 2) may hold spaces and parentheses, so parse from the last ')'. */
    char stat[1024];
    size_t n = 0;
    f = fopen("/proc/self/stat", "r");
    if (f != NULL) {
        n = fread(stat, 1, sizeof(stat) - 1, f);
        fclose(f);
    }
    stat[n] = '\0';
    const char *p = strrchr(stat, ')');
    unsigned long long utime = 0, stime = 0;
    /* after ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15) */
    int have_cpu = p != NULL && ticks > 0 &&
                   sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) == 2;
    prom_family(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    if (have_cpu)
        prom_printf(b, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)ticks);

    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            if (e->d_name[0] != '.')
                fds++;
        closedir(d);
        fds--; /* the descriptor of this very listing */
    }
    prom_family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
    if (d != NULL)
        prom_printf(b, "process_open_fds %d\n", fds);
    struct rlimit rl;
    prom_family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        prom_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
}

char *prom_take(te_prom_t *b)
{
    if (b->failed) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    if (b->p == NULL)
        return strdup("");
    return b->p;
}

/*
 * log — leveled, single-write log lines.
 *
 * Threading: any thread. The level and the output fd are atomics; a line is built
 * in a stack buffer and emitted with one write(2).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = TE_LOG_INFO;
static _Atomic int g_fd = 2;

void te_log_set_level(te_log_level_t level) { atomic_store(&g_level, (int)level); }
te_log_level_t te_log_get_level(void) { return (te_log_level_t)atomic_load_explicit(&g_level, memory_order_relaxed); }

int te_log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return TE_LOG_WARN;
    return -1;
}

int te_log_set_file(const char *path)
{
    int fd = 2;
    if (path != NULL && path[0] != '\0') {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
    }
    int old = atomic_exchange(&g_fd, fd);
    if (old > 2)
        close(old);
    return 0;
}

void te_log_write(te_log_level_t level, const char *ctx, const char *fmt, ...)
{
    static const char *lv[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
    char line[2048];
    struct timespec ts;
    struct tm tm;
    int saved = errno;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, lv[level < 0 || level > 4 ? 4 : level],
                     ctx ? ctx : "-");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(atomic_load(&g_fd), line, (size_t)n);
    (void)w;
    errno = saved;
}

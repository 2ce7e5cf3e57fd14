/*
 * log — leveled, single-write log lines, to stderr or log.file; journald level
 * prefixes instead of timestamps when stderr is the journal.
 *
 * Threading: any thread writes. The level, the output fd and the journal flag are
 * atomics; a line is built in a stack buffer and emitted with one write(2). The file
 * path (g_path) is only touched by te_log_set_file / te_log_reopen / te_log_file,
 * which one thread calls (main, then the control thread on SIGHUP). Once a file was
 * opened its fd number stays the log fd: switching files (or back to stderr) dup2()s
 * onto it, so a writer racing with a switch writes to the old or the new target,
 * never to a closed or reused descriptor.
 */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = TE_LOG_INFO;
static _Atomic int g_fd = 2;
static _Atomic int g_journal; /* 1: "<N>" prefixes, no timestamp, when writing to stderr */
static _Atomic int g_is_file; /* 1: g_fd refers to log.file, 0: to stderr */
static char g_path[4096];     /* "" = stderr */

void te_log_set_level(te_log_level_t level) { atomic_store(&g_level, (int)level); }
te_log_level_t te_log_get_level(void)
{
    return (te_log_level_t)atomic_load_explicit(&g_level, memory_order_relaxed);
}

int te_log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    if (s == NULL)
        return -1;
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return TE_LOG_WARN;
    return -1;
}

static int log_open(const char *path) { return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644); }

/* Makes the log fd refer to what `fd` refers to. The first file gets its own fd
 * number; later switches dup2 onto that number, so a writer that loaded g_fd just
 * before never writes to a descriptor that was closed (or reused) under it. */
static int log_install(int fd, int is_file)
{
    int cur = atomic_load(&g_fd);
    if (cur == 2) {
        if (fd != 2)
            atomic_store(&g_fd, fd);
    } else {
        if (dup2(fd, cur) < 0) {
            int saved = errno;
            if (fd != 2)
                close(fd);
            errno = saved;
            return -1;
        }
        (void)fcntl(cur, F_SETFD, FD_CLOEXEC);
        if (fd != 2)
            close(fd);
    }
    atomic_store(&g_is_file, is_file);
    return 0;
}

int te_log_set_file(const char *path)
{
    if (path == NULL || path[0] == '\0') {
        if (log_install(2, 0) != 0)
            return -1;
        g_path[0] = '\0';
        return 0;
    }
    if (strlen(path) >= sizeof(g_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = log_open(path);
    if (fd < 0 || log_install(fd, 1) != 0)
        return -1;
    snprintf(g_path, sizeof(g_path), "%s", path);
    return 0;
}

int te_log_reopen(void)
{
    if (g_path[0] == '\0')
        return 0;
    int fd = log_open(g_path);
    if (fd < 0)
        return -1;
    return log_install(fd, 1);
}

const char *te_log_file(void) { return g_path; }

int te_log_detect_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    int on = 0;
    if (js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
        (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
        on = 1;
    atomic_store(&g_journal, on);
    return on;
}

void te_log_write(te_log_level_t level, const char *ctx, const char *fmt, ...)
{
    static const char *lv[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
    static const char *prio[] = {"<7>", "<6>", "<4>", "<3>", "<3>"}; /* sd-daemon(3) */
    char line[2048];
    int saved = errno;
    int li = level < 0 || level > 4 ? 4 : (int)level;
    int fd = atomic_load(&g_fd);
    int n;
    if (!atomic_load_explicit(&g_is_file, memory_order_relaxed) &&
        atomic_load_explicit(&g_journal, memory_order_relaxed)) {
        n = snprintf(line, sizeof(line), "%s[%s] ", prio[li], ctx ? ctx : "-");
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, lv[li],
                     ctx ? ctx : "-");
    }
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
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
    errno = saved;
}

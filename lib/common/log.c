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
 *
 * Repeats: WARN and ERROR lines are rate-limited per call site (ctx + format string):
 * the first g_rl_burst lines of a window of g_rl_window_ms are written, the rest only
 * counted; when the window is over (at the next line of that site, or at
 * te_log_flush_repeats) one line "repeated N times in the last W s: <the last one>"
 * sums them up. A fixed table of RL_SLOTS sites (the least recently started window is
 * reused), guarded by g_rl_mu; lines are written outside it.
 */
#include "common/log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
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

#define RL_SLOTS 64
#define RL_TEXT  480

typedef struct rl_slot {
    uint64_t key; /* 0 = free */
    int64_t start_ms;
    uint32_t shown, suppressed;
    int level;
    char ctx[64];
    char last[RL_TEXT]; /* the last suppressed message */
} rl_slot_t;

static pthread_mutex_t g_rl_mu = PTHREAD_MUTEX_INITIALIZER;
static rl_slot_t g_rl[RL_SLOTS];
static uint32_t g_rl_burst = 5;
static int64_t g_rl_window_ms = 10000;

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

/* Writes one line: prefix (time or journal priority, level, ctx) + text. */
static void log_emit(int li, const char *ctx, const char *text)
{
    static const char *lv[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
    static const char *prio[] = {"<7>", "<6>", "<4>", "<3>", "<3>"}; /* sd-daemon(3) */
    char line[2048];
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
    if (n > 0 && (size_t)n < sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%s", text);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
}

static int64_t rl_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static uint64_t rl_key(const char *ctx, const char *fmt)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)fmt;
    for (const char *p = ctx ? ctx : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h ? h : 1;
}

/* Under g_rl_mu: the summary of a finished window into out (1 when there is one). */
static int rl_take_summary_locked(rl_slot_t *s, int64_t now, char *out, size_t len, int *li, char *ctx,
                                  size_t clen)
{
    if (s->key == 0 || s->suppressed == 0 || now - s->start_ms < g_rl_window_ms)
        return 0;
    snprintf(out, len, "repeated %u times in the last %lld s: %s", s->suppressed,
             (long long)((now - s->start_ms + 999) / 1000), s->last);
    *li = s->level;
    snprintf(ctx, clen, "%s", s->ctx);
    s->suppressed = 0;
    return 1;
}

/* 1 when the line may be written; a summary of the site's finished window is written
 * first. */
static int rl_admit(int li, const char *ctx, const char *fmt, const char *text)
{
    uint64_t key = rl_key(ctx, fmt);
    int64_t now = rl_now_ms();
    char sum[RL_TEXT + 64], sctx[64];
    int sli = li, have = 0, ok;
    pthread_mutex_lock(&g_rl_mu);
    rl_slot_t *s = NULL, *lru = NULL;
    for (int i = 0; i < RL_SLOTS && s == NULL; i++)
        if (g_rl[i].key == key)
            s = &g_rl[i];
    for (int i = 0; i < RL_SLOTS && s == NULL && (lru == NULL || lru->key != 0); i++)
        if (lru == NULL || g_rl[i].key == 0 || g_rl[i].start_ms < lru->start_ms)
            lru = &g_rl[i];
    if (s == NULL) {
        s = lru;
        have = rl_take_summary_locked(s, now + g_rl_window_ms, sum, sizeof(sum), &sli, sctx, sizeof(sctx));
        memset(s, 0, sizeof(*s));
        s->key = key;
        s->start_ms = now;
        s->level = li;
        snprintf(s->ctx, sizeof(s->ctx), "%s", ctx ? ctx : "-");
    } else if (now - s->start_ms >= g_rl_window_ms) {
        have = rl_take_summary_locked(s, now, sum, sizeof(sum), &sli, sctx, sizeof(sctx));
        s->start_ms = now;
        s->shown = 0;
    }
    ok = s->shown < g_rl_burst;
    if (ok)
        s->shown++;
    else {
        size_t l = strlen(text);
        if (l >= sizeof(s->last))
            l = sizeof(s->last) - 1;
        memcpy(s->last, text, l);
        s->last[l] = '\0';
        s->suppressed++;
    }
    pthread_mutex_unlock(&g_rl_mu);
    if (have)
        log_emit(sli, sctx, sum);
    return ok;
}

void te_log_flush_repeats(void)
{
    int64_t now = rl_now_ms();
    for (int i = 0; i < RL_SLOTS; i++) {
        char sum[RL_TEXT + 64], sctx[64];
        int sli = 0, have;
        pthread_mutex_lock(&g_rl_mu);
        have = rl_take_summary_locked(&g_rl[i], now, sum, sizeof(sum), &sli, sctx, sizeof(sctx));
        if (have)
            g_rl[i].start_ms = now, g_rl[i].shown = g_rl_burst; /* keep suppressing the flood */
        pthread_mutex_unlock(&g_rl_mu);
        if (have)
            log_emit(sli, sctx, sum);
    }
}

void te_log_set_rate_limit(unsigned burst, int64_t window_ms)
{
    pthread_mutex_lock(&g_rl_mu);
    g_rl_burst = burst;
    g_rl_window_ms = window_ms > 0 ? window_ms : 1;
    memset(g_rl, 0, sizeof(g_rl));
    pthread_mutex_unlock(&g_rl_mu);
}

void te_log_write(te_log_level_t level, const char *ctx, const char *fmt, ...)
{
    char text[1800];
    int saved = errno;
    int li = level < 0 || level > 4 ? 4 : (int)level;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (li < TE_LOG_WARN || g_rl_burst == 0 || rl_admit(li, ctx, fmt, text))
        log_emit(li, ctx, text);
    errno = saved;
}

static void log_from_libevent(int severity, const char *msg)
{
    te_log_level_t l = severity == EVENT_LOG_DEBUG  ? TE_LOG_DEBUG
                       : severity == EVENT_LOG_MSG  ? TE_LOG_INFO
                       : severity == EVENT_LOG_WARN ? TE_LOG_WARN
                                                    : TE_LOG_ERROR;
    TE_LOG(l, "libevent", "%s", msg);
}

void te_log_capture_libevent(void) { event_set_log_callback(log_from_libevent); }

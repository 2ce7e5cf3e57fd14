/*
 * log — the one logging macro family: level + context (component, task, execution
 * id, peer) + message, one line per call, to stderr (or log.file).
 *
 * Line format: "2024-05-01T12:00:00.123Z INFO  [ctx] message" (UTC ISO-8601 time);
 * when stderr is the systemd journal (te_log_detect_journal) and no log.file is set:
 * "<6>[ctx] message" — an sd-daemon(3) level prefix (<7> debug, <6> info, <4> warn,
 * <3> error) and no timestamp (journald adds its own).
 *
 * Threading: writers: any thread; each line is written with a single write(2) so
 * lines from different threads never interleave. WARN and ERROR lines repeated from
 * one call site are rate-limited (te_log_set_rate_limit). The level, the output fd and the
 * journal flag are atomics. te_log_set_file / te_log_reopen / te_log_detect_journal
 * are called by one thread (main / the control thread), never concurrently.
 */
#ifndef TE_LOG_H
#define TE_LOG_H

#include <stdint.h>

typedef enum te_log_level {
    TE_LOG_DEBUG = 0,
    TE_LOG_INFO = 1,
    TE_LOG_WARN = 2,
    TE_LOG_ERROR = 3,
    TE_LOG_OFF = 4,
} te_log_level_t;

void te_log_set_level(te_log_level_t level);
te_log_level_t te_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 when unknown. */
int te_log_level_parse(const char *s);
/* Redirects output to a file (append). NULL or "" = stderr. Returns 0 or -1 (errno
 * set; the previous output stays). The path is remembered for te_log_reopen. */
int te_log_set_file(const char *path);
/* Reopens the current log file under its path (after logrotate moved it); a no-op
 * returning 0 when logging to stderr. Returns -1 (errno set) when the file cannot be
 * opened; the old file stays in use. */
int te_log_reopen(void);
/* The current log file path ("" = stderr). Owned by the log module. */
const char *te_log_file(void);
/* Switches to journald's format when $JOURNAL_STREAM names the device:inode of fd 2
 * (systemd sets it when stderr is connected to the journal). Returns 1 when the
 * journal format is on, 0 otherwise. */
int te_log_detect_journal(void);

void te_log_write(te_log_level_t level, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Repeated WARN/ERROR lines of one call site (ctx + format) beyond `burst` per window
 * are counted instead of written, then summed up in one line "repeated N times in the
 * last W s: <the last one>" (defaults 5 per 10 s; burst 0 = no limit). Resets the
 * table. Any thread. */
void te_log_set_rate_limit(unsigned burst, int64_t window_ms);
/* Writes the summaries of windows that are over (call it periodically so a flood's
 * count shows up even when the site stays silent afterwards). Any thread. */
void te_log_flush_repeats(void);
/* Routes libevent's own messages (e.g. "Error from accept() call") through this log,
 * rate-limited like the rest. Call once, before the event loops run. */
void te_log_capture_libevent(void);

#define TE_LOG(level, ctx, ...)                        \
    do {                                               \
        if ((level) >= te_log_get_level())             \
            te_log_write((level), (ctx), __VA_ARGS__); \
    } while (0)

#define TE_DEBUG(ctx, ...) TE_LOG(TE_LOG_DEBUG, ctx, __VA_ARGS__)
#define TE_INFO(ctx, ...)  TE_LOG(TE_LOG_INFO, ctx, __VA_ARGS__)
#define TE_WARN(ctx, ...)  TE_LOG(TE_LOG_WARN, ctx, __VA_ARGS__)
#define TE_ERROR(ctx, ...) TE_LOG(TE_LOG_ERROR, ctx, __VA_ARGS__)

#endif

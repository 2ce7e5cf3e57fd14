/*
 * log — the one logging macro family: level + context (component, task, execution
 * id, peer) + message, one line per call, to stderr (or log.file).
 *
 * Threading: any thread; each line is written with a single write(2) so lines from
 * different threads never interleave. The level is an atomic global.
 */
#ifndef TE_LOG_H
#define TE_LOG_H

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
/* Redirects output to a file (append). NULL = stderr. Returns 0 or -1 (errno set). */
int te_log_set_file(const char *path);

void te_log_write(te_log_level_t level, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TE_LOG(level, ctx, ...)                                                     \
    do {                                                                            \
        if ((level) >= te_log_get_level())                                          \
            te_log_write((level), (ctx), __VA_ARGS__);                              \
    } while (0)

#define TE_DEBUG(ctx, ...) TE_LOG(TE_LOG_DEBUG, ctx, __VA_ARGS__)
#define TE_INFO(ctx, ...) TE_LOG(TE_LOG_INFO, ctx, __VA_ARGS__)
#define TE_WARN(ctx, ...) TE_LOG(TE_LOG_WARN, ctx, __VA_ARGS__)
#define TE_ERROR(ctx, ...) TE_LOG(TE_LOG_ERROR, ctx, __VA_ARGS__)

#endif

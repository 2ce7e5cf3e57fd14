/*
 * te_status — the one status type of the engine, plus an error record that carries a
 * message a person can act on.
 *
 * Threading: pure; a te_error_t belongs to the caller that passed it in.
 */
#ifndef TE_STATUS_H
#define TE_STATUS_H

#include <stddef.h>

typedef enum te_status {
    TE_OK = 0,
    TE_EINVAL,    /* bad argument, parameter or config value */
    TE_ENOMEM,    /* allocation failed */
    TE_ENOTFOUND, /* unknown id / name / path */
    TE_ESTATE,    /* operation not allowed in the current state */
    TE_EIO,       /* I/O failure (file, socket) */
    TE_ECANCELED, /* the operation was cancelled */
    TE_EAGAIN,    /* nothing available now; try again later */
    TE_ETIMEOUT,  /* a deadline passed */
    TE_EPROTO,    /* malformed frame or message */
    TE_ENOBUFS,   /* not enough network buffers */
    TE_EEXIST,    /* already exists (duplicate id) */
    TE_ETOOBIG,   /* a size limit was exceeded */
    TE_EFENCED,   /* a fencing token did not match */
    TE_EINTERNAL, /* a bug: an invariant did not hold */
} te_status_t;

#define TE_ERROR_MSG_MAX 512

/* An error: a code plus a human-readable message. Functions that can fail take a
 * `te_error_t *err` which may be NULL when the caller does not want the message. */
typedef struct te_error {
    te_status_t code;
    char msg[TE_ERROR_MSG_MAX];
} te_error_t;

/* Sets *err (when err != NULL) and returns code, so callers can `return te_error_set(...)`. */
te_status_t te_error_set(te_error_t *err, te_status_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to err->msg (keeps the code). No-op when err is NULL. */
void te_error_prefix(te_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void te_error_clear(te_error_t *err);

/* Stable upper-case name of a status ("EINVAL"), for logs and wire error codes. */
const char *te_status_name(te_status_t s);

#endif

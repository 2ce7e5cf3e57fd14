/*
 * te_status — error codes and the te_error_t message record.
 *
 * Threading: pure functions; no shared state.
 */
#include "common/te_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

te_status_t te_error_set(te_error_t *err, te_status_t code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void te_error_prefix(te_error_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[TE_ERROR_MSG_MAX];
    char old[TE_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Built piecewise: prefix, ": ", old message, truncated to fit. */
    size_t cap = sizeof(err->msg) - 1, n = strnlen(prefix, cap);
    memcpy(err->msg, prefix, n);
    for (const char *p = ": "; *p && n < cap; p++)
        err->msg[n++] = *p;
    size_t m = strnlen(old, sizeof(old));
    if (m > cap - n)
        m = cap - n;
    memcpy(err->msg + n, old, m);
    err->msg[n + m] = '\0';
}

void te_error_clear(te_error_t *err)
{
    if (err != NULL) {
        err->code = TE_OK;
        err->msg[0] = '\0';
    }
}

const char *te_status_name(te_status_t s)
{
    switch (s) {
    case TE_OK: return "OK";
    case TE_EINVAL: return "EINVAL";
    case TE_ENOMEM: return "ENOMEM";
    case TE_ENOTFOUND: return "ENOTFOUND";
    case TE_ESTATE: return "ESTATE";
    case TE_EIO: return "EIO";
    case TE_ECANCELED: return "ECANCELED";
    case TE_EAGAIN: return "EAGAIN";
    case TE_ETIMEOUT: return "ETIMEOUT";
    case TE_EPROTO: return "EPROTO";
    case TE_ENOBUFS: return "ENOBUFS";
    case TE_EEXIST: return "EEXIST";
    case TE_ETOOBIG: return "ETOOBIG";
    case TE_EFENCED: return "EFENCED";
    case TE_EINTERNAL: return "EINTERNAL";
    }
    return "EUNKNOWN";
}

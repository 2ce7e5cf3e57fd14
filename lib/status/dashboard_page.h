/*
 * dashboard_page — the self-contained HTML dashboard served at GET / by the status
 * server (see dashboard_page.c). Threading: immutable; any thread.
 */
#ifndef TE_DASHBOARD_PAGE_H
#define TE_DASHBOARD_PAGE_H

#include <stddef.h>

extern const char te_dashboard_html[];     /* NUL-terminated UTF-8 (ASCII) HTML */
extern const size_t te_dashboard_html_len; /* strlen(te_dashboard_html) */

#endif

/*
 * jm_dashboard_page — the JobManager's dashboard served at GET / of the REST port (see
 * jm_dashboard_page.c). Threading: immutable; any thread.
 */
#ifndef TE_JM_DASHBOARD_PAGE_H
#define TE_JM_DASHBOARD_PAGE_H

#include <stddef.h>

extern const char te_jm_dashboard_html[];     /* NUL-terminated UTF-8 (ASCII) HTML */
extern const size_t te_jm_dashboard_html_len; /* strlen(te_jm_dashboard_html) */

#endif

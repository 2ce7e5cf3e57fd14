/*
 * jm_dashboard_page — the JobManager's live dashboard (placeholder until the full page).
 *
 * Threading: an immutable constant; any thread may read it.
 */
#include "cluster/jm_dashboard_page.h"

const char te_jm_dashboard_html[] =
    "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>tejobmanager</title></head>"
    "<body><h1>tejobmanager</h1></body></html>\n";
const size_t te_jm_dashboard_html_len = sizeof(te_jm_dashboard_html) - 1;

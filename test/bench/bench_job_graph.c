/*
 * bench_job_graph — what a JobMaster spends on a job before and while it runs, as the
 * job grows: parsing + validating the job JSON, planning (placement, ids), building
 * every TaskDeploymentDescriptor and looking every task up by its execution id (once
 * per state push), for jobs of N vertices in a chain (parallelism 1, forward edges:
 * N tasks, N - 1 edges).
 *
 * Prints one JSON line per size and one with the growth ratios: linear work doubles
 * when N doubles (ratio ~2), quadratic work quadruples (~4).
 *
 * Usage: bench_job_graph [N ...]   (default 5000 10000 20000)
 *
 * Threading: single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/ids.h"
#include "jobmaster/job_graph.h"
#include "jobmaster/job_plan.h"

static char *chain_job(size_t n)
{
    size_t cap = 256 + n * 160, len = 0;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    len += (size_t)snprintf(s + len, cap - len, "{\"name\": \"chain\", \"vertices\": [");
    for (size_t v = 0; v < n; v++)
        len += (size_t)snprintf(s + len, cap - len,
                                "%s{\"id\": \"v%zu\", \"parallelism\": 1, \"chain\": [{\"op\": \"%s\"}]}",
                                v ? "," : "", v, v == 0 ? "sequence" : "map");
    len += (size_t)snprintf(s + len, cap - len, "], \"edges\": [");
    for (size_t v = 1; v < n; v++)
        len += (size_t)snprintf(s + len, cap - len,
                                "%s{\"from\": \"v%zu\", \"to\": \"v%zu\", \"partitioner\": \"forward\"}",
                                v > 1 ? "," : "", v - 1, v);
    snprintf(s + len, cap - len, "]}");
    return s;
}

/* Seconds for parse + plan + build + one lookup per task; -1 on error. */
static double run(size_t n)
{
    char *json = chain_job(n);
    te_error_t err = {0};
    te_id_t job;
    const char *addrs[1] = {"127.0.0.1:1"};
    if (json == NULL)
        return -1;
    te_id_random(&job);
    int64_t t0 = te_clock_mono_ns();
    te_job_graph_t *g = job_graph_parse_string(json, &err);
    te_job_plan_t *p = g ? job_plan_new(g, &job, 1, &err) : NULL;
    if (p == NULL || job_plan_build(p, addrs, &err) != TE_OK) {
        fprintf(stderr, "bench_job_graph: %s\n", err.msg);
        return -1;
    }
    for (size_t t = 0; t < job_plan_n_tasks(p); t++)
        if (job_plan_find_task(p, &job_plan_task(p, t)->execution_id) != (long)t)
            return -1;
    double s = (double)(te_clock_mono_ns() - t0) / 1e9;
    job_plan_free(p);
    job_graph_free(g);
    free(json);
    return s;
}

int main(int argc, char **argv)
{
    size_t sizes[8] = {5000, 10000, 20000};
    size_t n = 3;
    if (argc > 1) {
        n = 0;
        for (int i = 1; i < argc && n < 8; i++)
            sizes[n++] = (size_t)strtoull(argv[i], NULL, 10);
    }
    double secs[8];
    for (size_t i = 0; i < n; i++) {
        secs[i] = run(sizes[i]);
        if (secs[i] < 0)
            return 1;
        printf("{\"figure\": \"job_graph_plan_seconds\", \"vertices\": %zu, \"seconds\": %.4f, \"us_per_vertex\": "
               "%.2f}\n",
               sizes[i], secs[i], secs[i] * 1e6 / (double)sizes[i]);
    }
    if (n >= 2)
        printf("{\"figure\": \"job_graph_plan_growth\", \"from_vertices\": %zu, \"to_vertices\": %zu, "
               "\"size_ratio\": "
               "%.2f, \"time_ratio\": %.2f, \"linear_time_ratio\": %.2f, \"quadratic_time_ratio\": %.2f}\n",
               sizes[0], sizes[n - 1], (double)sizes[n - 1] / (double)sizes[0], secs[n - 1] / secs[0],
               (double)sizes[n - 1] / (double)sizes[0],
               ((double)sizes[n - 1] / (double)sizes[0]) * ((double)sizes[n - 1] / (double)sizes[0]));
    return 0;
}

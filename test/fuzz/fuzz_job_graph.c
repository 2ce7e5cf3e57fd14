/*
 * fuzz_job_graph — libFuzzer harness for tectl's job-graph JSON parser and the
 * planner: a graph that validates is placed on 1..3 executors and every TDD is built
 * and packed, as `tectl submit` would.
 *
 * Threading: single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobmaster/job_graph.h"
#include "jobmaster/job_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n_exec = (size_t)data[0] % 3 + 1;
    char *json = malloc(size);
    memcpy(json, data + 1, size - 1);
    json[size - 1] = '\0';
    te_error_t err;
    te_job_graph_t *g = job_graph_parse_string(json, &err);
    if (g != NULL && job_graph_max_vertex_parallelism(g) <= 64) {
        te_id_t job;
        memset(&job, 7, sizeof(job));
        te_job_plan_t *p = job_plan_new(g, &job, n_exec, &err);
        if (p != NULL) {
            const char *addrs[3] = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
            for (size_t s = 0; s < job_plan_n_slots(p); s++)
                job_plan_set_slot_number(p, s, (int32_t)s);
            if (job_plan_build(p, addrs, &err) == TE_OK) {
                for (size_t t = 0; t < job_plan_n_tasks(p); t++) {
                    const Te__TaskDeploymentDescriptor *tdd = job_plan_task(p, t)->tdd;
                    size_t len = te__task_deployment_descriptor__get_packed_size(tdd);
                    uint8_t *buf = malloc(len ? len : 1);
                    te__task_deployment_descriptor__pack(tdd, buf);
                    free(buf);
                }
            }
            job_plan_free(p);
        }
    }
    job_graph_free(g);
    free(json);
    return 0;
}

/*
 * fuzz_status_server — libFuzzer harness for the live HTTP status port: a real
 * status_server (evhttp, the routing, the JSON errors, the connection cap, the bearer
 * token) with a provider returning small fixed reports; every input is a byte stream
 * a client sends on a fresh loopback connection (several pipelined requests are
 * fine), the loop run by the harness until the server closes or goes quiet.
 *
 * Input: byte 0 chooses the mode (mod 2): 0 no token, 1 a bearer token required
 * except for /metrics and / (the token is "fuzz-token-0123456789abcdef").
 *
 * Threading: single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fuzz_live.h"
#include "status/status_server.h"

static struct event_base *g_base;
static te_status_server_t *g_srv[2];

static json_t *report(void *arg)
{
    (void)arg;
    return json_pack("{s:s, s:i}", "resource_id", "fuzz", "slots", 2);
}

static json_t *task(void *arg, const char *id)
{
    (void)arg;
    return id[0] == '0' ? json_pack("{s:s}", "execution_id", id) : NULL;
}

static char *metrics(void *arg)
{
    (void)arg;
    return strdup("# HELP te_x x\n# TYPE te_x gauge\nte_x 1\n");
}

static void setup_once(void)
{
    te_error_t err;
    te_log_set_level(TE_LOG_OFF);
    g_base = event_base_new();
    te_status_provider_t p = {.overview = report,
                              .slots = report,
                              .tasks = report,
                              .task = task,
                              .operators = report,
                              .metrics_text = metrics};
    for (int i = 0; i < 2; i++) {
        g_srv[i] = g_base ? status_server_new(g_base, "127.0.0.1", 0, &p, &err) : NULL;
        if (g_srv[i] == NULL)
            abort();
        status_server_set_max_connections(g_srv[i], 256);
    }
    static const char token[] = "fuzz-token-0123456789abcdef";
    status_server_set_token(g_srv[1], token, strlen(token), "/metrics,/");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_base == NULL)
        setup_once();
    if (size < 1)
        return 0;
    fuzz_session(g_base, status_server_port(g_srv[data[0] % 2]), NULL, data + 1, size - 1);
    return 0;
}

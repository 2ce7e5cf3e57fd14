/*
 * fuzz_rpc_server — libFuzzer harness for the live RPC port: a real TaskExecutor (the
 * daemon's glue: RPC server, call handlers, slot table, task registry) is created once
 * per process, twice - without and with security.auth.token-file - and every input is
 * a byte stream a peer sends on a fresh loopback connection, the executor's control
 * loop run by the harness until the daemon closes the connection or goes quiet.
 *
 * Input: byte 0 chooses the mode (mod 3): 0 plain executor, the rest as RPC frames;
 * 1 authenticating executor, the rest as the raw handshake (pre-authentication state
 * machine); 2 authenticating executor, the harness answers the challenge correctly
 * and the rest are frames after authentication. State carries over between inputs
 * (registered JobManagers, allocated slots, deployed tasks), as on a long-lived daemon.
 *
 * Threading: the harness thread runs the control loop; the executor's I/O, flusher
 * and task threads run on their own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/thread.h>

#include "common/log.h"
#include "executor/task_executor.h"
#include "fuzz_live.h"

static struct event_base *g_base;
static te_task_executor_t *g_te[2];
static te_auth_secret_t *g_secret;

static void on_fatal(void *arg, const char *why)
{
    (void)arg;
    fprintf(stderr, "fuzz_rpc_server: fatal: %s\n", why);
    abort();
}

static te_task_executor_t *executor(const char *dir, const char *token_file)
{
    te_config_t *cfg = config_new();
    static const char *const kv[][2] = {
        {"taskmanager.rpc.port", "0"},
        {"taskmanager.data.port", "0"},
        {"taskmanager.status.port", "0"},
        {"taskmanager.numberOfTaskSlots", "2"},
        {"taskmanager.memory.network.size", "4mb"},
    };
    te_error_t err;
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (config_set(cfg, kv[i][0], kv[i][1], &err) != TE_OK)
            abort();
    char path[512];
    snprintf(path, sizeof(path), "%s/checkpoints", dir);
    config_set(cfg, "state.checkpoints.dir", path, &err);
    snprintf(path, sizeof(path), "%s/plugins", dir);
    config_set(cfg, "plugins.dir", path, &err);
    if (token_file != NULL)
        config_set(cfg, "security.auth.token-file", token_file, &err);
    te_task_executor_t *te = task_executor_new(g_base, cfg, on_fatal, NULL, &err);
    if (te == NULL) {
        fprintf(stderr, "fuzz_rpc_server: %s\n", err.msg);
        abort();
    }
    return te; /* cfg lives as long as the executor: the process */
}

static void setup_once(void)
{
    te_log_set_level(TE_LOG_OFF);
    evthread_use_pthreads();
    g_base = event_base_new();
    char dir[] = "/tmp/te-fuzz-rpc.XXXXXX";
    if (g_base == NULL || mkdtemp(dir) == NULL)
        abort();
    static const char token[] = "fuzz-token-0123456789abcdef";
    char tf[600];
    snprintf(tf, sizeof(tf), "%s/token", dir);
    FILE *f = fopen(tf, "w");
    if (f == NULL)
        abort();
    fputs(token, f);
    fclose(f);
    chmod(tf, 0600);
    g_secret = auth_secret_new(token, strlen(token));
    g_te[0] = executor(dir, NULL);
    g_te[1] = executor(dir, tf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_base == NULL)
        setup_once();
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    te_task_executor_t *te = g_te[mode == 0 ? 0 : 1];
    fuzz_session(g_base, task_executor_rpc_port(te), mode == 2 ? g_secret : NULL, data + 1, size - 1);
    return 0;
}

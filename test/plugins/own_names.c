/*
 * own_names — a plugin that defines non-static functions named like engine functions
 * (`task_name`, `buffer_new`, `config_get_int`) and calls them: it must get its own.
 * The daemon exports no engine symbol (plugins reach the engine only through
 * te_operator_api_t), so nothing can interpose on the plugin's names. Each record is
 * emitted as "<task_name()>|<buffer_new(record length)>|<config_get_int()>|<record>".
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "te/operator.h"

/* Same names as engine functions, other meanings. Kept out of line so each call goes
 * through the dynamic linker's resolution of the name. */
__attribute__((noinline)) const char *task_name(const void *ignored)
{
    (void)ignored;
    return "own-task-name";
}
__attribute__((noinline)) long buffer_new(long n) { return n * 1000 + 7; }
__attribute__((noinline)) long config_get_int(const void *a, const char *b)
{
    (void)a;
    (void)b;
    return 4242;
}

typedef struct own {
    const te_operator_api_t *api;
    char buf[512];
} own_t;

static void *own_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)ctx;
    own_t *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->api = api;
    return o;
}

static int own_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    own_t *o = self;
    int n = snprintf(o->buf, sizeof(o->buf), "%s|%ld|%ld|%.*s", task_name(NULL), buffer_new((long)rec->len),
                     config_get_int(NULL, "x"), (int)rec->len, (const char *)rec->data);
    if (n < 0 || (size_t)n >= sizeof(o->buf))
        n = (int)sizeof(o->buf) - 1;
    te_record_t r = {(const uint8_t *)o->buf, (uint32_t)n, rec->timestamp};
    return o->api->emit(out, &r);
}

static void own_dispose(void *self) { free(self); }

static const te_operator_def_t OWN = {
    .abi_version = 1,
    .name = "own_names",
    .kind = TE_OP_ONE_INPUT,
    .setup = own_setup,
    .process_element = own_process,
    .dispose = own_dispose,
};

const te_operator_def_t *te_operator_plugin_entry(void) { return &OWN; }

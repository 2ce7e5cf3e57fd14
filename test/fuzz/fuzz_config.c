/*
 * fuzz_config — libFuzzer harness for the configuration parser: the input is a YAML
 * file (read by libyaml through config_load_file from an in-memory file) and, after a
 * NUL, one "-D key=value" override.
 *
 * Threading: single-threaded.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        te_log_set_level(TE_LOG_OFF);
        quiet = 1;
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t yaml_len = nul ? (size_t)(nul - data) : size;
    int fd = memfd_create("fuzz-config", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, yaml_len) != (ssize_t)yaml_len) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    te_config_t *c = config_new();
    te_error_t err;
    (void)config_load_file(c, path, &err);
    if (nul != NULL) {
        size_t kvlen = size - yaml_len - 1;
        char *kv = malloc(kvlen + 1);
        memcpy(kv, nul + 1, kvlen);
        kv[kvlen] = '\0';
        (void)config_set_kv(c, kv, &err);
        free(kv);
    }
    for (int i = 0; i < TE_KEY_COUNT; i++)
        (void)config_get_str(c, (te_config_key_id_t)i);
    config_free(c);
    close(fd);
    return 0;
}

/*
 * ids — 16-byte identifiers and their hex form.
 *
 * Threading: all functions are reentrant; te_id_str uses a thread-local ring.
 */
#include "common/ids.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

char *te_id_to_hex(const te_id_t *id, char *out)
{
    static const char hexd[] = "0123456789abcdef";
    for (int i = 0; i < TE_ID_LEN; i++) {
        out[2 * i] = hexd[id->b[i] >> 4];
        out[2 * i + 1] = hexd[id->b[i] & 15];
    }
    out[TE_ID_HEX_LEN] = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int te_id_from_hex(const char *hex, te_id_t *out)
{
    if (hex == NULL || strlen(hex) != TE_ID_HEX_LEN)
        return -1;
    for (int i = 0; i < TE_ID_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out->b[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int te_id_from_bytes(const void *data, size_t len, te_id_t *out)
{
    if (len != TE_ID_LEN || data == NULL)
        return -1;
    memcpy(out->b, data, TE_ID_LEN);
    return 0;
}

void te_id_random(te_id_t *out)
{
    if (getrandom(out->b, TE_ID_LEN, 0) == TE_ID_LEN)
        return;
    /* Fallback: time and pid mixed; ids only need to be unique, not secret. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t a = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    uint64_t b = (uint64_t)ts.tv_sec * 6364136223846793005ULL + (uint64_t)(uintptr_t)out;
    memcpy(out->b, &a, 8);
    memcpy(out->b + 8, &b, 8);
}

int te_id_equal(const te_id_t *a, const te_id_t *b) { return memcmp(a->b, b->b, TE_ID_LEN) == 0; }

int te_id_is_zero(const te_id_t *id)
{
    static const te_id_t zero;
    return te_id_equal(id, &zero);
}

uint64_t te_id_hash(const te_id_t *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int i = 0; i < TE_ID_LEN; i++) {
        h ^= id->b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

const char *te_id_str(const te_id_t *id)
{
    static __thread char ring[8][TE_ID_HEX_LEN + 1];
    static __thread unsigned next;
    char *out = ring[next++ & 7];
    return te_id_to_hex(id, out);
}

/*
 * thread_name — see the header. Threading: names the calling thread only.
 */
#define _GNU_SOURCE
#include "common/thread_name.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Length of a trailing " (i/n)" (digits, one slash), else 0. */
static size_t subtask_suffix_len(const char *s, size_t n)
{
    if (n < 6 || s[n - 1] != ')')
        return 0;
    size_t i = n - 1, slash = 0, digits = 0;
    while (i > 0) {
        char c = s[--i];
        if (c == '(')
            break;
        if (c == '/')
            slash++;
        else if (c >= '0' && c <= '9')
            digits++;
        else
            return 0;
    }
    if (s[i] != '(' || slash != 1 || digits < 2 || i == 0 || s[i - 1] != ' ')
        return 0;
    return n - (i - 1);
}

void te_thread_name_shorten(const char *prefix, const char *name, char out[16])
{
    char full[256];
    snprintf(full, sizeof(full), "%s%s", prefix ? prefix : "", name ? name : "");
    size_t n = strlen(full);
    if (n <= 15) {
        memcpy(out, full, n + 1);
        return;
    }
    size_t suf = subtask_suffix_len(full, n);
    if (suf == 0 || suf > 10) {
        memcpy(out, full, 15);
        out[15] = '\0';
        return;
    }
    size_t head = 15 - suf;
    while (head > 0 && full[head - 1] == ' ')
        head--;
    memcpy(out, full, head);
    memcpy(out + head, full + n - suf, suf);
    out[head + suf] = '\0';
}

void te_thread_set_name(const char *prefix, const char *name)
{
    char n[16];
    te_thread_name_shorten(prefix, name, n);
    pthread_setname_np(pthread_self(), n);
}

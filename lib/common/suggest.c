/*
 * suggest — the closest known name to an unknown one, for "did you mean ...?" hints in
 * error messages (configuration keys, operator names). See suggest.h.
 *
 * Threading: pure functions over caller-owned state; no locks.
 */
#include "common/suggest.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"

/* Names longer than this are never close to anything (keeps the rows on the stack). */
#define SUGGEST_MAX_LEN 127

static int min3(int a, int b, int c)
{
    int m = a < b ? a : b;
    return m < c ? m : c;
}

static int same(char a, char b) { return tolower((unsigned char)a) == tolower((unsigned char)b); }

int suggest_distance(const char *a, const char *b, int cap)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > SUGGEST_MAX_LEN || m > SUGGEST_MAX_LEN)
        return cap + 1;
    if ((n > m ? n - m : m - n) > (size_t)cap)
        return cap + 1;
    /* Three rows of the optimal-string-alignment table: i-2, i-1, i. */
    int rows[3][SUGGEST_MAX_LEN + 1];
    int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = (int)i;
        int row_min = cur[0];
        for (size_t j = 1; j <= m; j++) {
            int cost = same(a[i - 1], b[j - 1]) ? 0 : 1;
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1]) &&
                prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1;
            if (cur[j] < row_min)
                row_min = cur[j];
        }
        if (row_min > cap)
            return cap + 1;
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m] > cap ? cap + 1 : prev[m];
}

void suggest_init(te_suggest_t *s, const char *word)
{
    size_t n = word != NULL ? strlen(word) : 0;
    s->word = word != NULL ? word : "";
    s->best = NULL;
    s->max_distance = n == 0 ? 0 : n <= 4 ? 1 : n <= 8 ? 2 : 3;
    s->best_distance = s->max_distance + 1;
}

void suggest_consider(te_suggest_t *s, const char *candidate)
{
    if (candidate == NULL || s->max_distance == 0)
        return;
    if (strcmp(candidate, s->word) == 0) { /* the word is known: nothing to suggest */
        s->max_distance = 0;
        s->best = NULL;
        return;
    }
    int d = suggest_distance(s->word, candidate, s->max_distance);
    const char *dot = strrchr(candidate, '.');
    if (d > 1 && strchr(s->word, '.') == NULL && dot != NULL && strcasecmp(dot + 1, s->word) == 0)
        d = 1;
    if (d < s->best_distance) {
        s->best = candidate;
        s->best_distance = d;
    }
}

const char *suggest_best(const te_suggest_t *s) { return s->max_distance > 0 ? s->best : NULL; }

const char *suggest_config_key(const char *key)
{
    te_suggest_t s;
    suggest_init(&s, key);
    for (const te_config_key_t *k = config_keys(); k->name != NULL; k++)
        suggest_consider(&s, k->name);
    return suggest_best(&s);
}

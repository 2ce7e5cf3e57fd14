/*
 * suggest — "did you mean ...?" for a name nobody knows: the known name closest to it
 * by edit distance (Damerau–Levenshtein, optimal string alignment: insert, delete,
 * substitute, swap two neighbours; letters compared without case), offered only when
 * it is close enough to be a typo: at most 1 edit for names up to 4 characters, 2 up
 * to 8, 3 beyond. A dotted candidate whose last part is the name exactly
 * (`numberOfTaskSlots` for `taskmanager.numberOfTaskSlots`) counts as one edit.
 *
 *   te_suggest_t s;
 *   suggest_init(&s, "tokenise");
 *   for (each known name) suggest_consider(&s, name);
 *   const char *best = suggest_best(&s);     // "tokenize", or NULL
 *
 * Threading: pure; a te_suggest_t belongs to its caller. Candidates are borrowed:
 * suggest_best returns one of them.
 */
#ifndef TE_SUGGEST_H
#define TE_SUGGEST_H

#include <stddef.h>

typedef struct te_suggest {
    const char *word;
    const char *best; /* borrowed candidate, or NULL */
    int best_distance;
    int max_distance;
} te_suggest_t;

void suggest_init(te_suggest_t *s, const char *word);
void suggest_consider(te_suggest_t *s, const char *candidate);
/* The closest candidate considered, or NULL when none is close enough (or the word is
 * one of them). Ties keep the first considered. */
const char *suggest_best(const te_suggest_t *s);

/* The edit distance between a and b (letters without case), at most `cap` + 1:
 * computation stops once it exceeds `cap`. */
int suggest_distance(const char *a, const char *b, int cap);

/* The configuration key closest to an unknown `key` (the table of config.c), or NULL. */
const char *suggest_config_key(const char *key);

#endif

/*
 * channel_selector — Flink's ChannelSelectors: forward (channel 0), rebalance and
 * rescale (round robin; rebalance starts at subtask_index % n so producers spread
 * their first records, rescale starts at 0), hash (the key field's key group, then the
 * consumer subtask owning it, see key_group.c), broadcast (every channel).
 *
 * max_parallelism 0 for HASH means Flink's default: roundUpToPowerOfTwo(n + n/2)
 * clamped to [128, 32768].
 *
 * Records are rows (te/row.h). A HASH selector keys either by typed fields
 * (channel_selector_set_key: the key bytes te_row_key_bytes gives, as keyed operators
 * compute them) or, as created, by text: field `key_field` of the row's first (string)
 * field split at `delim` — the rule of text records, kept for edges of one string field.
 *
 * Threading: owned by one RecordWriter; used by its task thread only. No locks.
 */
#include "shuffle/channel_selector.h"

#include <stdlib.h>
#include <string.h>

#include "common/byte_codec.h"
#include "common/key_group.h"
#include "common/proto_enum.h"
#include "te/operator.h"

struct te_channel_selector {
    te_partitioner_kind_t kind;
    uint32_t n;
    uint32_t next;
    int key_field;
    char delim;
    uint32_t max_parallelism;
    int typed; /* channel_selector_set_key was called */
    te_row_key_t key;
    uint8_t *keybuf; /* a key of several fields is assembled here (grown as needed) */
    size_t keycap;
    te_key_group_cache_t kg_cache; /* HASH: recent keys' key groups */
};

static uint32_t default_max_parallelism(uint32_t n)
{
    uint64_t want = (uint64_t)n + n / 2, p = 1;
    while (p < want)
        p <<= 1;
    if (p < 128)
        p = 128;
    if (p > 32768)
        p = 32768;
    return (uint32_t)p;
}

te_channel_selector_t *channel_selector_new(te_partitioner_kind_t kind, uint32_t n_channels,
                                            uint32_t subtask_index, int key_field, char delim,
                                            uint32_t max_parallelism, te_error_t *err)
{
    if (n_channels == 0) {
        te_error_set(err, TE_EINVAL, "a channel selector needs at least one channel");
        return NULL;
    }
    if (!proto_enum_valid(&te__partitioner__descriptor, (int)kind)) {
        te_error_set(err, TE_EINVAL, "unknown partitioner kind %d", (int)kind);
        return NULL;
    }
    if (kind == TE__PARTITIONER__HASH) {
        if (key_field < 0) {
            te_error_set(err, TE_EINVAL, "hash partitioning needs a key field >= 0 (got %d)", key_field);
            return NULL;
        }
        if (max_parallelism == 0)
            max_parallelism = default_max_parallelism(n_channels);
        if (max_parallelism < n_channels) {
            te_error_set(err, TE_EINVAL, "max parallelism %u is lower than the number of consumer channels %u",
                         max_parallelism, n_channels);
            return NULL;
        }
    }
    te_channel_selector_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    s->kind = kind;
    s->n = n_channels;
    s->key_field = key_field;
    s->delim = delim;
    s->max_parallelism = max_parallelism;
    key_group_cache_init(&s->kg_cache, max_parallelism);
    /* select() advances before returning, so `next` holds the channel before the first one. */
    uint32_t first = kind == TE__PARTITIONER__REBALANCE ? subtask_index % n_channels : 0;
    s->next = (first + n_channels - 1) % n_channels;
    return s;
}

te_status_t channel_selector_set_key(te_channel_selector_t *s, const te_row_key_t *key, te_error_t *err)
{
    if (key->n == 0 || key->n > TE_ROW_KEY_MAX_FIELDS)
        return te_error_set(err, TE_EINVAL, "a key has 1 to %u fields (got %u)", TE_ROW_KEY_MAX_FIELDS, key->n);
    s->key = *key;
    s->typed = 1;
    return TE_OK;
}

void channel_selector_free(te_channel_selector_t *s)
{
    if (s == NULL)
        return;
    free(s->keybuf);
    free(s);
}

/* The key bytes of a typed key (assembled in keybuf for several fields). */
static const uint8_t *typed_key(te_channel_selector_t *s, const uint8_t *rec, uint32_t len, uint32_t *klen)
{
    te_record_t r = {rec, len, 0};
    for (;;) {
        const uint8_t *k = te_row_key_bytes(&r, &s->key, s->keybuf, s->keycap, klen);
        if (k != NULL)
            return k;
        size_t cap = s->keycap ? s->keycap * 2 : 256;
        while (cap < *klen)
            cap *= 2;
        uint8_t *nb = realloc(s->keybuf, cap);
        if (nb == NULL) { /* keep going: such a record goes with the empty key */
            *klen = 0;
            return rec;
        }
        s->keybuf = nb;
        s->keycap = cap;
    }
}

/* The text key: field key_field of the row's string field 0, split at delim. */
static const uint8_t *text_key(const te_channel_selector_t *s, const uint8_t *rec, uint32_t len, uint32_t *klen)
{
    te_record_t r = {rec, len, 0};
    uint32_t tl = 0, kstart = 0;
    const uint8_t *text = te_row_get_str(&r, 0, &tl);
    if (text != NULL && s->key_field == 0 && tl <= 16) { /* a word, a short line: no call */
        *klen = byte_find_small(text, tl, (uint8_t)s->delim);
        return text;
    }
    if (text == NULL || s->key_field < 0 ||
        te_record_field(text, tl, s->delim, (uint32_t)s->key_field, &kstart, klen) != 0) {
        *klen = 0; /* a record lacking the key field: the empty key */
        return rec;
    }
    return text + kstart;
}

uint32_t channel_selector_select(te_channel_selector_t *s, const uint8_t *rec, uint32_t len)
{
    switch (s->kind) {
    case TE__PARTITIONER__FORWARD: return 0;
    case TE__PARTITIONER__REBALANCE:
    case TE__PARTITIONER__RESCALE: s->next = s->next + 1 == s->n ? 0 : s->next + 1; return s->next;
    case TE__PARTITIONER__HASH: {
        uint32_t klen = 0;
        const uint8_t *key = s->typed ? typed_key(s, rec, len, &klen) : text_key(s, rec, len, &klen);
        uint32_t kg = key_group_cached(&s->kg_cache, key, klen);
        return key_group_operator_index(kg, s->max_parallelism, s->n);
    }
    case TE__PARTITIONER__BROADCAST: return TE_SELECT_BROADCAST;
    case TE__PARTITIONER__PARTITIONER_UNSPECIFIED:
    case _TE__PARTITIONER_IS_INT_SIZE: break; /* refused by channel_selector_new */
    }
    return 0;
}

te_partitioner_kind_t channel_selector_kind(const te_channel_selector_t *s) { return s->kind; }

uint32_t channel_selector_round_robin_last(const te_channel_selector_t *s) { return s->next; }

/*
 * net_id_map — a small chained hash map from 16-byte ids (receiver / InputChannel ids)
 * to pointers, for the partition server's and client's per-connection / per-thread
 * tables. Grows by doubling.
 *
 * Threading: none; each map is used by one net I/O thread (or by the control thread
 * after the I/O threads stopped).
 */
#ifndef TE_NET_ID_MAP_H
#define TE_NET_ID_MAP_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct net_id_entry {
    struct net_id_entry *next;
    uint8_t key[16];
    void *val;
} net_id_entry_t;

typedef struct net_id_map {
    net_id_entry_t **b;
    uint32_t nb, count;
} net_id_map_t;

static inline uint32_t net_id_hash(const uint8_t *k)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

static inline void *net_id_map_get(const net_id_map_t *m, const uint8_t *key)
{
    if (m->nb == 0)
        return NULL;
    for (net_id_entry_t *e = m->b[net_id_hash(key) & (m->nb - 1)]; e; e = e->next)
        if (memcmp(e->key, key, 16) == 0)
            return e->val;
    return NULL;
}

/* 0, or -1 when out of memory. The key must not be present. */
static inline int net_id_map_put(net_id_map_t *m, const uint8_t *key, void *val)
{
    if (m->count + 1 > m->nb) {
        uint32_t nnb = m->nb ? m->nb * 2 : 64;
        net_id_entry_t **nbk = calloc(nnb, sizeof(*nbk));
        if (nbk == NULL)
            return -1;
        for (uint32_t i = 0; i < m->nb; i++) {
            net_id_entry_t *e = m->b[i];
            while (e) {
                net_id_entry_t *n = e->next;
                uint32_t h = net_id_hash(e->key) & (nnb - 1);
                e->next = nbk[h];
                nbk[h] = e;
                e = n;
            }
        }
        free(m->b);
        m->b = nbk;
        m->nb = nnb;
    }
    net_id_entry_t *e = malloc(sizeof(*e));
    if (e == NULL)
        return -1;
    memcpy(e->key, key, 16);
    e->val = val;
    uint32_t h = net_id_hash(key) & (m->nb - 1);
    e->next = m->b[h];
    m->b[h] = e;
    m->count++;
    return 0;
}

static inline void *net_id_map_remove(net_id_map_t *m, const uint8_t *key)
{
    if (m->nb == 0)
        return NULL;
    for (net_id_entry_t **pp = &m->b[net_id_hash(key) & (m->nb - 1)]; *pp; pp = &(*pp)->next) {
        net_id_entry_t *e = *pp;
        if (memcmp(e->key, key, 16) == 0) {
            void *v = e->val;
            *pp = e->next;
            free(e);
            m->count--;
            return v;
        }
    }
    return NULL;
}

/* Removes any one entry (for teardown); NULL when empty. */
static inline void *net_id_map_pop(net_id_map_t *m)
{
    for (uint32_t i = 0; i < m->nb; i++)
        if (m->b[i])
            return net_id_map_remove(m, m->b[i]->key);
    return NULL;
}

static inline void net_id_map_clear(net_id_map_t *m)
{
    while (net_id_map_pop(m) != NULL)
        ;
    free(m->b);
    m->b = NULL;
    m->nb = m->count = 0;
}

#endif

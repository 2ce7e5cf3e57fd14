/*
 * leader_election — JobManager leadership in etcd (Flink's LeaderElectionService on
 * etcd's primitives). Each JobManager holds a lease (high-availability.etcd.lease-ttl,
 * kept alive every third of it) and campaigns with a transaction that creates the
 * leader key, bound to its lease, only if it does not exist. The one that creates it
 * leads; its epoch is the key's create revision (a later leader always has a higher
 * one). The others stand by: they watch the key (and campaign again every third of the
 * TTL) and know the leader from its value.
 *
 * A leader is deposed — `revoked` runs once, and the election is over for this object —
 * when its lease is found expired, when it could not renew it for a whole TTL (etcd
 * unreachable or without quorum: it must assume a standby took over), or when the
 * watch shows the leader key deleted or created by another. The owner then stops
 * acting as leader (the JobManager starts over as a standby). Guarded writes
 * (leader_election_guard) fail in etcd as soon as the key is no longer ours.
 *
 * Threading: the event-loop thread of the etcd client; callbacks run on it.
 */
#ifndef TE_LEADER_ELECTION_H
#define TE_LEADER_ELECTION_H

#include <jansson.h>
#include <stdint.h>

#include "cluster/etcd_client.h"
#include "common/te_status.h"

typedef struct te_leader_election te_leader_election_t;

typedef struct te_leader_election_cbs {
    void (*granted)(void *arg, int64_t epoch);
    void (*revoked)(void *arg, const char *why);
} te_leader_election_cbs_t;

/* key: the leader key; value: what this JobManager publishes there while it leads (a
 * JSON object text: its addresses). The etcd client is borrowed. */
te_leader_election_t *leader_election_new(te_etcd_client_t *etcd, const char *key, const char *value,
                                          int64_t ttl_ms, const te_leader_election_cbs_t *cbs, void *arg,
                                          te_error_t *err);
/* A leader resigns (its lease is revoked, so a standby takes over at once). NULL: no-op. */
void leader_election_free(te_leader_election_t *le);

int leader_election_is_leader(const te_leader_election_t *le);
int64_t leader_election_epoch(const te_leader_election_t *le);
/* The leader as last seen: its published value plus "epoch" (NEW reference; null when
 * none is known). */
json_t *leader_election_leader_json(const te_leader_election_t *le);
/* The compare that makes a transaction apply only while we lead (NEW reference, for
 * etcd_txn_body's compare array). */
json_t *leader_election_guard(const te_leader_election_t *le);
/* "leader", "standby", ... for views. */
const char *leader_election_state_name(const te_leader_election_t *le);
/* A guarded write found that we no longer lead: deposed now. */
void leader_election_lost(te_leader_election_t *le, const char *why);

#endif

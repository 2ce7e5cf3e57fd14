/*
 * etcd_job_store — the job store in etcd (high-availability.type: etcd): job <id> is the
 * key <prefix>jobs/<id> (prefix = /taskexecutord/<cluster-id>/), its value the record
 * text; its latest completed checkpoint <prefix>checkpoints/<id> ({"id", "path": the
 * chk-<n> directory}) and its checkpoint id counter <prefix>checkpoint-counter/<id>. Every put and remove is a transaction guarded by the leader key still being
 * ours (leader_election_guard): a deposed leader cannot write, and a refused write
 * deposes it (leader_election_lost). load reads every record with one range request
 * (synchronously, when leadership is granted).
 *
 * Threading: as job_store.h (the event loop's thread).
 */
#ifndef TE_ETCD_JOB_STORE_H
#define TE_ETCD_JOB_STORE_H

#include "cluster/etcd_client.h"
#include "cluster/job_store.h"
#include "cluster/leader_election.h"

/* The client and the election are borrowed; free the store before them. The election
 * may be given later (etcd_job_store_set_election), before the first put or remove. */
te_job_store_t *etcd_job_store_new(te_etcd_client_t *etcd, te_leader_election_t *election, const char *prefix,
                                   te_error_t *err);
void etcd_job_store_set_election(te_job_store_t *store, te_leader_election_t *election);

#endif

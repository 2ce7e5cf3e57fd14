/*
 * partition_client — Flink's PartitionRequestClient + CreditBasedPartitionRequestClient
 * Handler: one TCP connection per producer address, multiplexing every remote input
 * channel of this daemon that reads from it. Implements te_channel_transport_t for
 * lib/shuffle/remote_input_channel: sends PartitionRequest (with the channel's initial
 * credit), AddCredit, CancelPartitionRequest; feeds BufferResponse / BacklogAnnouncement
 * / ErrorResponse to the channels; retries PartitionNotFound with backoff (initial,
 * doubling, up to max, then fails); fails every channel of a connection that is lost or
 * speaks garbage with a cause naming the peer and the partition.
 *
 * Threading: new / transport / free on the control thread (free after the I/O threads
 * stopped). The transport entry points are called from task threads and only submit
 * work to the I/O thread owning the address (hash of "host:port" over the threads);
 * connections are created, used and freed on that thread only.
 */
#ifndef TE_PARTITION_CLIENT_H
#define TE_PARTITION_CLIENT_H

#include <stdint.h>

#include "common/te_status.h"
#include "shuffle/remote_input_channel.h"
#include "net/net_io_thread.h"

typedef struct te_partition_client te_partition_client_t;

/* max_payload: the largest BufferResponse payload accepted (this daemon's segment size). */
te_partition_client_t *partition_client_new(te_net_io_thread_t **threads, int n_threads, uint32_t max_payload,
                                            te_error_t *err);
struct te_security;
/* TLS (sec->tls_client: the producer's certificate verified against the CA; our own
 * certificate presented for mutual TLS) and the shared-secret handshake (sec->auth)
 * on every connection made from now on. Call before the I/O threads start; `sec`
 * borrowed, must outlive the client. NULL = plaintext. */
void partition_client_set_security(te_partition_client_t *c, const struct te_security *sec);
const te_channel_transport_t *partition_client_transport(te_partition_client_t *c);
/* BufferResponse payload bytes received so far: read from the socket straight into
 * channel buffers, and copied into them from an input evbuffer (TLS, or bytes read
 * ahead). Any thread (relaxed counters, for tests and benchmarks). */
void partition_client_payload_bytes(te_partition_client_t *c, uint64_t *direct, uint64_t *copied);
void partition_client_free(te_partition_client_t *c);

#endif

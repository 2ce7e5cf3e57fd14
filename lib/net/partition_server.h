/*
 * partition_server — serves this daemon's produced subpartitions to consumers in other
 * daemons (Flink's PartitionRequestServerHandler + PartitionRequestQueue) on
 * taskmanager.data.port, over the wire format of proto/NETWORK.md.
 *
 * Per connection: one reader per PartitionRequest (receiver id -> subpartition view +
 * credit + sequence number), a queue of readers with something to send. A data buffer
 * is sent only against credit; events without. Payloads are written with
 * evbuffer_add_reference and recycled in its cleanup callback (no copy). The output
 * is bounded: the server stops polling views while the socket's output buffer is
 * above its high watermark. PartitionNotFound, unknown receivers and released
 * partitions are answered with ErrorResponse; a malformed frame gets an ErrorResponse
 * and the connection is closed.
 *
 * Threading: new / port / free on the control thread (free after the I/O threads were
 * stopped). The listener runs on the first I/O thread; accepted connections are spread
 * round robin over all I/O threads and live on theirs. Views' data listeners run on
 * producer threads and only submit a wake-up to the connection's I/O thread.
 */
#ifndef TE_PARTITION_SERVER_H
#define TE_PARTITION_SERVER_H

#include "common/te_status.h"
#include "shuffle/partition_manager.h"
#include "net/net_io_thread.h"

typedef struct te_partition_server te_partition_server_t;

te_partition_server_t *partition_server_new(te_net_io_thread_t **threads, int n_threads, const char *bind_host,
                                            int port, te_partition_manager_t *pm, te_error_t *err);
struct te_security;
/* Authentication / TLS for accepted connections (call before the I/O threads start;
 * `sec` borrowed, must outlive the server; NULL = plaintext, no authentication). A
 * peer that fails the challenge-response is logged and disconnected. */
void partition_server_set_security(te_partition_server_t *s, const struct te_security *sec);
int partition_server_port(const te_partition_server_t *s);
/* Connection limits (any thread; 0 = none): at most max_conns open connections (more
 * wait in the listen backlog); each must deliver a valid frame within handshake_ms of
 * accept (after authentication, when on) or it is closed. */
void partition_server_set_limits(te_partition_server_t *s, int max_conns, int64_t handshake_ms);
/* Connections open now. */
int partition_server_open_connections(const te_partition_server_t *s);
/* Connections accepted so far / open now (for tests and status). */
unsigned long partition_server_connections_accepted(const te_partition_server_t *s);
/* The I/O threads must be stopped. Releases every view and closes every connection. */
void partition_server_free(te_partition_server_t *s);

#endif

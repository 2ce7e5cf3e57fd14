/*
 * rpc_server — the daemon side of the control-plane RPC (DESIGN §3): a TCP listener
 * on taskmanager.rpc.port, one bufferevent per connection, frames checked against
 * the maximum frame size, each valid call handed to the daemon's call callback.
 *
 * Errors on the wire (each answered with a Response carrying call_id 0 unless the
 * call_id is known):
 *   - frame length above max_frame_size -> FRAME_TOO_LARGE, the connection is closed
 *     after the reply is flushed (the stream cannot be resynchronised);
 *   - a frame whose bytes do not decode -> MALFORMED_MESSAGE, connection KEPT (the
 *     framing is still in sync);
 *   - a message with no body, or a Response / push sent by a client ->
 *     MALFORMED_MESSAGE "unknown or missing call" with its call_id, connection KEPT;
 *   - more than max_conns connections -> INTERNAL "connection limit" reply, closed.
 * A connection whose pending output exceeds RPC_SERVER_MAX_OUTPUT is closed.
 *
 * Pre-authentication limits (te_rpc_limits_t): a connection is *pending* from accept
 * until it proves itself — the authentication handshake done, or without
 * authentication its first complete frame decoded. Pending connections have an
 * absolute deadline (handshake_timeout_ms, not restarted by traffic), a cap of their
 * own (max_pending) and per peer address (max_pending_per_addr); when a cap is reached,
 * or the connection limit, the *oldest pending* connection is closed to make room, so
 * connections that never finish a handshake cannot lock out a peer that does. Input
 * buffering: with authentication a pending connection may buffer RPC_PENDING_MAX_INPUT
 * bytes; every connection's buffered input counts against max_buffered_bytes — when
 * the total exceeds it, the connection holding the most (pending ones first) is
 * closed with an error naming the limit. Freed frame memory is returned to the
 * system (malloc_trim) after large frames.
 *
 * Threading: everything here — every function of this header and both callbacks —
 * runs on the thread that runs `base` (the daemon's control thread). Other threads
 * hand work to that thread (control queue) and never call these functions. No locks.
 */
#ifndef TE_RPC_SERVER_H
#define TE_RPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "rpc.pb-c.h"

struct event_base;

typedef struct rpc_server te_rpc_server_t;
typedef struct rpc_conn te_rpc_conn_t;

/* Pending output above which a connection is dropped (a peer that does not read). */
#define RPC_SERVER_MAX_OUTPUT ((size_t)64 * 1024 * 1024)
/* Input a connection still in the authentication handshake may buffer. */
#define RPC_PENDING_MAX_INPUT ((size_t)4096)

/* Connection limits before authentication (see above). 0 = no limit / no deadline. */
typedef struct te_rpc_limits {
    int64_t handshake_timeout_ms;
    size_t max_pending;
    size_t max_pending_per_addr;
    size_t max_buffered_bytes;
} te_rpc_limits_t;

/* A valid call arrived. `conn` and `call` are borrowed until the callback returns;
 * keep rpc_conn_id(conn) to reach the connection later. The callback answers with
 * rpc_conn_reply*, now or later (by id). It must not free the server. */
typedef void (*rpc_call_fn)(void *arg, te_rpc_conn_t *conn, const Te__RpcMessage *call);
/* A connection that delivered (or could have delivered) calls went away: EOF, error,
 * reset, output overflow, protocol error. Called once per such connection, from the
 * event loop (never from inside rpc_conn_* calls), not from rpc_server_free. */
typedef void (*rpc_close_fn)(void *arg, uint64_t conn_id);

/* Listens on host:port (port 0 = ephemeral, see rpc_server_port; host NULL or "" =
 * all interfaces). max_frame_size bounds incoming frames; max_conns bounds open
 * connections (<= 0 = unlimited). NULL + err (naming the address) on failure. */
te_rpc_server_t *rpc_server_new(struct event_base *base, const char *host, int port, size_t max_frame_size,
                                int max_conns, rpc_call_fn call_fn, rpc_close_fn close_fn, void *arg,
                                te_error_t *err);
/* Closes the listener and every connection (without calling close_fn). NULL: no-op. */
void rpc_server_free(te_rpc_server_t *srv);
struct te_security;
/* Authentication / TLS for connections accepted from now on (call right after new;
 * NULL or all-off = plaintext, no authentication). `sec` must outlive the server.
 * With a token, a connection completes the challenge-response before any frame is
 * read; a wrong proof gets Response{MALFORMED_MESSAGE, "authentication failed ..."}
 * and the connection is closed. */
void rpc_server_set_security(te_rpc_server_t *srv, const struct te_security *sec);
/* The bound port (the real one when 0 was asked for). */
int rpc_server_port(const te_rpc_server_t *srv);
/* Connections that send nothing for `ms` (after authentication) are closed; 0 = never.
 * Applies to connections accepted afterwards. */
void rpc_server_set_idle_timeout(te_rpc_server_t *srv, int64_t ms);
/* Changes max_conns (connections accepted from now on count against it). */
void rpc_server_set_max_connections(te_rpc_server_t *srv, int max_conns);
/* Pre-authentication limits and the input budget, for connections accepted from now
 * on (the input budget at once). Default: all 0 (none). */
void rpc_server_set_limits(te_rpc_server_t *srv, const te_rpc_limits_t *lim);
/* Connections still pending (in the handshake) and input bytes buffered now. */
size_t rpc_server_pending_count(const te_rpc_server_t *srv);
size_t rpc_server_buffered_bytes(const te_rpc_server_t *srv);
/* Changes the output bound (default RPC_SERVER_MAX_OUTPUT); for tests. */
void rpc_server_set_max_output(te_rpc_server_t *srv, size_t bytes);
/* Open connections (not counting ones being closed). */
size_t rpc_server_conn_count(const te_rpc_server_t *srv);
/* The open connection with this id, or NULL when it closed or is closing. */
te_rpc_conn_t *rpc_server_find_conn(te_rpc_server_t *srv, uint64_t conn_id);

/* Stable id of a connection (never reused within a server; never 0). */
uint64_t rpc_conn_id(const te_rpc_conn_t *conn);
/* "host:port" of the peer. */
const char *rpc_conn_peer(const te_rpc_conn_t *conn);

/* Sends Response{code, message} with call_id. message may be NULL (empty). */
te_status_t rpc_conn_reply(te_rpc_conn_t *conn, uint64_t call_id, Te__ErrorCode code, const char *message);
/* Same with a printf-style message. */
te_status_t rpc_conn_replyf(te_rpc_conn_t *conn, uint64_t call_id, Te__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sends a full reply (body must be a Response; resp->call_id set by the caller, e.g.
 * a Response carrying a SlotReport). `resp` is borrowed. */
te_status_t rpc_conn_reply_msg(te_rpc_conn_t *conn, const Te__RpcMessage *resp);
/* Sends `resp` (borrowed: a Response with its payload, e.g. a SlotReport) as the reply
 * to call_id. */
te_status_t rpc_conn_reply_response(te_rpc_conn_t *conn, uint64_t call_id, Te__Response *resp);
/* Sends any message (a push: TaskExecutionState, AcknowledgeCheckpoint, ...; call_id
 * normally 0). `msg` is borrowed. TE_ESTATE when the connection is closing; TE_EIO
 * when the output bound was exceeded (the connection is then closed). */
te_status_t rpc_conn_send(te_rpc_conn_t *conn, const Te__RpcMessage *msg);

#endif

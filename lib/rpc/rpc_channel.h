/*
 * rpc_channel — the scheduler side of the control-plane RPC on an event loop: one
 * non-blocking connection to a daemon's taskmanager.rpc.port driven by a libevent
 * bufferevent (TLS and the shared-secret handshake included), calls matched to their
 * Response by call_id and completed through a callback, pushes handed to a callback.
 * The JobMaster library talks to TaskExecutors through it (many channels, many jobs,
 * one event_base); rpc_client is the blocking variant the one-shot tectl commands use.
 *
 * Life cycle: rpc_channel_connect starts connecting at once and reports the outcome
 * through on_connected (never from inside rpc_channel_connect). Calls are accepted
 * once connected. A connection that fails later reports on_closed once, after every
 * pending call has been completed with the error. Nothing is reported after
 * rpc_channel_free.
 *
 * Threading: a channel and every callback belong to the thread running `base`. The
 * callbacks may call rpc_channel_call and rpc_channel_free (on any channel, this one
 * included). No locks.
 */
#ifndef TE_RPC_CHANNEL_H
#define TE_RPC_CHANNEL_H

#include "common/te_status.h"
#include "rpc.pb-c.h"

struct event_base;
struct te_security;

typedef struct te_rpc_channel te_rpc_channel_t;

typedef struct te_rpc_channel_cbs {
    /* err NULL: connected (TLS and authentication done). Else the connect failed
     * (err names the address and why); the channel is then closed: free it. */
    void (*on_connected)(void *arg, te_rpc_channel_t *ch, const te_error_t *err);
    /* A push (call_id 0: TaskExecutionState, Acknowledge/DeclineCheckpoint);
     * borrowed until the callback returns. */
    void (*on_push)(void *arg, te_rpc_channel_t *ch, const Te__RpcMessage *push);
    /* A connected channel failed (EOF, error, undecodable frame, connection-level
     * error reply). Pending calls were completed with the error first. */
    void (*on_closed)(void *arg, te_rpc_channel_t *ch, const te_error_t *err);
} te_rpc_channel_cbs_t;

/* The reply to a call: `reply` (a Response; borrowed until the callback returns) or,
 * when reply is NULL, err says why there is none (I/O failure, closed connection,
 * timeout, rpc_channel_free is NOT reported). A Response with an error code is a
 * reply, not an err. */
typedef void (*te_rpc_reply_fn)(void *arg, const Te__RpcMessage *reply, const te_error_t *err);

/* "host:port" (numeric or a name, resolved blocking). sec NULL = plaintext, no
 * authentication. timeout_ms bounds connect + TLS + authentication. cbs is copied;
 * NULL + err on an immediate failure (bad address, out of memory). */
te_rpc_channel_t *rpc_channel_connect(struct event_base *base, const char *host_port, int timeout_ms,
                                      const struct te_security *sec, const te_rpc_channel_cbs_t *cbs, void *arg,
                                      te_error_t *err);
/* Closes the connection; pending calls are dropped without a callback. NULL: no-op.
 * Safe inside the channel's own callbacks (the memory goes when they return). */
void rpc_channel_free(te_rpc_channel_t *ch);

const char *rpc_channel_address(const te_rpc_channel_t *ch);
/* Connected and not failed. */
int rpc_channel_is_open(const te_rpc_channel_t *ch);

/* Assigns msg->call_id, queues the frame and returns; fn runs when the Response
 * arrives, the call times out (timeout_ms > 0; the late Response is then dropped and
 * the channel stays usable) or the connection fails — always later, from the event
 * loop. An error return (not connected / closed, encoding failure) means fn will not
 * be called. `msg` is borrowed (packed before the call returns). */
te_status_t rpc_channel_call(te_rpc_channel_t *ch, Te__RpcMessage *msg, int timeout_ms, te_rpc_reply_fn fn,
                             void *arg, te_error_t *err);

/* Calls in flight. */
size_t rpc_channel_pending(const te_rpc_channel_t *ch);

#endif

/*
 * rpc_client — the scheduler side of the control-plane RPC (used by tectl): one
 * blocking TCP connection to a daemon's taskmanager.rpc.port, calls matched to their
 * Response by call_id, pushes (TaskExecutionState, checkpoint acks) handed to a
 * callback as they arrive.
 *
 * Threading: a client is used by one thread at a time.
 */
#ifndef TE_RPC_CLIENT_H
#define TE_RPC_CLIENT_H

#include "common/te_status.h"
#include "rpc.pb-c.h"

typedef struct te_rpc_client te_rpc_client_t;

/* Called for every push (call_id 0) received; `push` is borrowed until it returns. */
typedef void (*te_rpc_push_fn)(void *arg, te_rpc_client_t *c, const Te__RpcMessage *push);

struct te_security;

/* "host:port". NULL + err (naming the address) on failure. Uses the process-wide
 * security set with rpc_client_set_default_security (none by default). */
te_rpc_client_t *rpc_client_connect(const char *host_port, int timeout_ms, te_error_t *err);
/* Same with explicit security: sec->tls_client on = TLS handshake (server certificate
 * verified against its CA); sec->auth on = the shared-secret challenge-response (both
 * sides prove the secret) before the first call. NULL sec = plaintext. */
te_rpc_client_t *rpc_client_connect_secure(const char *host_port, int timeout_ms, const struct te_security *sec,
                                           te_error_t *err);
/* Sets the security rpc_client_connect uses (borrowed; must outlive every client).
 * Call once at startup before other threads use rpc_client_connect (tectl options). */
void rpc_client_set_default_security(const struct te_security *sec);
/* What rpc_client_set_default_security set (NULL = none). */
const struct te_security *rpc_client_default_security(void);
void rpc_client_free(te_rpc_client_t *c);
const char *rpc_client_address(const te_rpc_client_t *c);

void rpc_client_set_push_handler(te_rpc_client_t *c, te_rpc_push_fn fn, void *arg);

/* Assigns msg->call_id, sends, and waits for the matching Response; pushes received
 * meanwhile go to the push handler. Returns the whole reply message (free it with
 * te__rpc_message__free_unpacked(reply, NULL)); NULL + err on I/O error, timeout or a
 * malformed reply. A Response with an error code is returned, not turned into err. */
Te__RpcMessage *rpc_client_call(te_rpc_client_t *c, Te__RpcMessage *msg, int timeout_ms, te_error_t *err);

/* rpc_client_call that also checks the Response. On success returns TE_OK and, when
 * reply != NULL, hands over the reply (free it as above). A daemon error sets *code
 * (when given) and err to "CODE: message" (TE_EINVAL); an I/O failure sets err and
 * leaves *code at OK (the connection is then broken); a reply that is not a Response
 * is TE_EPROTO. */
te_status_t rpc_client_call_checked(te_rpc_client_t *c, Te__RpcMessage *msg, int timeout_ms,
                                    Te__RpcMessage **reply, Te__ErrorCode *code, te_error_t *err);

/* Waits up to timeout_ms for pushes and dispatches them. Returns the number handled,
 * 0 on timeout, -1 + err when the connection failed or closed. */
int rpc_client_poll(te_rpc_client_t *c, int timeout_ms, te_error_t *err);

/* The socket, for callers that multiplex several clients with poll(2). */
int rpc_client_fd(const te_rpc_client_t *c);

#endif

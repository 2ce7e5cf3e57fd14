/*
 * auth_handshake — shared-secret mutual challenge-response for the RPC and data ports
 * (security.auth.token-file). Nothing replayable crosses the wire: each side proves
 * the secret with HMAC-SHA256 over both sides' fresh 32-byte nonces and a role label.
 *
 *   server -> client  CHALLENGE  "TEA1" | server_nonce[32]                     (36 bytes)
 *   client -> server  ANSWER     "TEA1" | client_nonce[32] |
 *                                HMAC(secret, "te-auth-client-v1" | sn | cn)   (68 bytes)
 *   server -> client  CONFIRM    "TEAS" | HMAC(secret, "te-auth-server-v1" | cn | sn)
 *                                                                            (36 bytes)
 * A server that rejects the answer does not send CONFIRM: the RPC server answers a
 * Response frame "authentication failed" and closes; the data server closes.
 * Proofs are compared in constant time (CRYPTO_memcmp).
 *
 * The pure functions are used by the blocking rpc_client and the unit tests; the
 * te_auth_bev_* driver runs the handshake on a libevent bufferevent (rpc_server,
 * partition_server, partition_client) before the owner installs its own callbacks.
 *
 * Threading: the pure functions are reentrant. A te_auth_bev_t belongs to the thread
 * running its bufferevent's event_base. A te_auth_secret_t is immutable after load
 * and may be shared by every thread.
 */
#ifndef TE_AUTH_HANDSHAKE_H
#define TE_AUTH_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"

#define TE_AUTH_NONCE_LEN     32
#define TE_AUTH_MAC_LEN       32
#define TE_AUTH_MAGIC_LEN     4
#define TE_AUTH_CHALLENGE_LEN (TE_AUTH_MAGIC_LEN + TE_AUTH_NONCE_LEN)
#define TE_AUTH_ANSWER_LEN    (TE_AUTH_MAGIC_LEN + TE_AUTH_NONCE_LEN + TE_AUTH_MAC_LEN)
#define TE_AUTH_CONFIRM_LEN   (TE_AUTH_MAGIC_LEN + TE_AUTH_MAC_LEN)
#define TE_AUTH_MIN_SECRET    16
#define TE_AUTH_TIMEOUT_SEC   10 /* absolute bound on a peer that never completes the handshake */
#define TE_AUTH_TIMEOUT_TEXT  "10 s"

extern const uint8_t TE_AUTH_MAGIC_HELLO[TE_AUTH_MAGIC_LEN];   /* "TEA1" */
extern const uint8_t TE_AUTH_MAGIC_CONFIRM[TE_AUTH_MAGIC_LEN]; /* "TEAS" */

typedef struct te_auth_secret {
    uint8_t *bytes;
    size_t len;
} te_auth_secret_t;

/* Reads the shared secret from `path` (trailing CR/LF stripped). The file must exist
 * and hold at least TE_AUTH_MIN_SECRET bytes; `what` names the setting in errors
 * (e.g. "security.auth.token-file"). NULL + err otherwise. */
te_auth_secret_t *auth_secret_load(const char *path, const char *what, te_error_t *err);
/* From memory (tests). NULL when len < TE_AUTH_MIN_SECRET or out of memory. */
te_auth_secret_t *auth_secret_new(const void *bytes, size_t len);
void auth_secret_free(te_auth_secret_t *s); /* wipes the bytes; NULL: no-op */

/* HMAC-SHA256(key, data) -> out[32]. */
void auth_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[TE_AUTH_MAC_LEN]);

/* Server: a fresh challenge; *nonce_out keeps the server nonce for verify. */
te_status_t auth_server_challenge(uint8_t out[TE_AUTH_CHALLENGE_LEN], uint8_t nonce_out[TE_AUTH_NONCE_LEN],
                                  te_error_t *err);
/* Client: answers a challenge; keeps its own nonce for auth_client_check. TE_EPROTO
 * when the challenge does not start with the magic (the peer does not speak it). */
te_status_t auth_client_answer(const te_auth_secret_t *s, const uint8_t challenge[TE_AUTH_CHALLENGE_LEN],
                               uint8_t answer[TE_AUTH_ANSWER_LEN], uint8_t client_nonce_out[TE_AUTH_NONCE_LEN],
                               te_error_t *err);
/* Server: checks an answer against its nonce; on success fills the confirmation. */
te_status_t auth_server_verify(const te_auth_secret_t *s, const uint8_t server_nonce[TE_AUTH_NONCE_LEN],
                               const uint8_t answer[TE_AUTH_ANSWER_LEN], uint8_t confirm[TE_AUTH_CONFIRM_LEN],
                               te_error_t *err);
/* Client: checks the server's confirmation (mutual authentication). */
te_status_t auth_client_check(const te_auth_secret_t *s, const uint8_t server_nonce[TE_AUTH_NONCE_LEN],
                              const uint8_t client_nonce[TE_AUTH_NONCE_LEN],
                              const uint8_t confirm[TE_AUTH_CONFIRM_LEN], te_error_t *err);

/* ---- libevent driver ---- */

struct bufferevent;
typedef struct te_auth_bev te_auth_bev_t;

/* ok = 1: the peer proved the secret; the bufferevent's callbacks are cleared (the
 * owner installs its own and should process any input already buffered). ok = 0: the
 * peer's proof or challenge was wrong (an error reply makes sense); ok = -1: the
 * connection was lost or timed out. `why` says what failed. The driver is freed
 * before the call; the owner must not call auth_bev_cancel afterwards. */
typedef void (*te_auth_done_fn)(void *arg, int ok, const char *why);

/* Starts the handshake on `bev` (server: sends the challenge now; client: waits for
 * it). Replaces bev's callbacks and arms a deadline TE_AUTH_TIMEOUT_SEC from now that
 * no traffic restarts (a peer trickling bytes cannot hold the connection). NULL when out of
 * memory or the random source failed. */
te_auth_bev_t *auth_bev_start(struct bufferevent *bev, int is_server, const te_auth_secret_t *s,
                              te_auth_done_fn done, void *arg);
/* Abandons a pending handshake (the owner is closing the connection). NULL: no-op. */
void auth_bev_cancel(te_auth_bev_t *h);

#endif

/*
 * tls — the security settings of the RPC and data ports (issue #6): OpenSSL SSL_CTX
 * setup (TLS 1.2+, certificate + key, CA, optional mutual authentication) and the
 * shared-secret token, bundled as te_security_t and handed to rpc_server,
 * partition_server, partition_client and rpc_client.
 *
 * Client contexts verify the server's certificate chain against the CA (no host
 * name check: daemons are addressed by IP and all share one CA). Server contexts
 * with require_client_cert demand a client certificate signed by the CA.
 *
 * Threading: build and free on one thread (startup / shutdown); a te_security_t is
 * read-only while in use and may be shared by every thread (SSL_CTX is thread-safe
 * for SSL_new in OpenSSL 1.1+).
 */
#ifndef TE_TLS_H
#define TE_TLS_H

#include "common/auth_handshake.h"
#include "common/config.h"
#include "common/te_status.h"

typedef struct ssl_ctx_st SSL_CTX;

typedef struct te_security {
    te_auth_secret_t *auth; /* NULL = no authentication */
    SSL_CTX *tls_server;    /* NULL = plaintext listeners */
    SSL_CTX *tls_client;    /* NULL = plaintext outgoing connections */
} te_security_t;

/* From security.* keys. All NULL when both are off. NULL + err (naming the key and
 * the file) when a file is missing or unusable. */
te_security_t *security_from_config(const te_config_t *cfg, te_error_t *err);
/* A secret file (named by config key `key`) must not be readable or writable by group
 * or others: TE_EINVAL naming the file and its mode, or with allow_insecure a WARN and
 * TE_OK. A missing file is TE_OK (its loader reports it). */
te_status_t security_check_secret_file(const char *key, const char *path, int allow_insecure, te_error_t *err);
/* For tools (tectl): token_file may be NULL (no auth); ca NULL = no TLS; cert/key
 * optional (mutual TLS). `what` prefixes errors (e.g. "--tls-ca"). */
te_security_t *security_for_client(const char *token_file, const char *ca, const char *cert, const char *key,
                                   te_error_t *err);
void security_free(te_security_t *s);

/* SSL_CTX constructors (TLS 1.2 minimum). NULL + err. */
SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, const char *ca, int require_client_cert,
                            te_error_t *err);
SSL_CTX *tls_client_ctx_new(const char *ca, const char *cert, const char *key, te_error_t *err);
struct bufferevent;
/* A TLS client filter over `under` (a connecting or connected socket bufferevent, which
 * the filter then owns): SSL from ctx in the connecting state, dirty shutdown allowed.
 * NULL when out of memory (`under` is then still the caller's). */
struct bufferevent *tls_client_filter_new(SSL_CTX *ctx, struct bufferevent *under);
/* The most recent OpenSSL error queue entries as text (clears the queue). */
void tls_error_string(char *out, size_t cap);

#endif

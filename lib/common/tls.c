/*
 * tls — SSL_CTX setup and the te_security_t bundle (see tls.h). The daemon's secrets
 * (token file, TLS key) must not be accessible by group or others: start-up is refused
 * naming the file and its mode, unless security.allow-insecure-permissions (then WARN).
 *
 * Threading: constructors and free run on one thread at startup / shutdown; the
 * resulting contexts are shared read-only. OpenSSL 1.1+ initialises itself.
 */
#include "common/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/log.h"

void tls_error_string(char *out, size_t cap)
{
    unsigned long e;
    size_t used = 0;
    out[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        if (used == 0 || used + strlen(buf) + 3 < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "; " : "", buf);
    }
    if (used == 0)
        snprintf(out, cap, "unknown TLS error");
}

static SSL_CTX *ctx_base(const SSL_METHOD *m, te_error_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(m);
    if (ctx == NULL) {
        char e[256];
        tls_error_string(e, sizeof(e));
        te_error_set(err, TE_ENOMEM, "cannot create a TLS context: %s", e);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    return ctx;
}

static te_status_t ctx_load_pair(SSL_CTX *ctx, const char *cert, const char *key, const char *cert_what,
                                 const char *key_what, te_error_t *err)
{
    char e[256];
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        tls_error_string(e, sizeof(e));
        return te_error_set(err, TE_EINVAL, "%s: cannot load certificate '%s': %s", cert_what, cert, e);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        tls_error_string(e, sizeof(e));
        return te_error_set(err, TE_EINVAL, "%s: cannot load private key '%s': %s", key_what, key, e);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_error_string(e, sizeof(e));
        return te_error_set(err, TE_EINVAL, "%s: '%s' does not match certificate '%s'", key_what, key, cert);
    }
    return TE_OK;
}

static te_status_t ctx_load_ca(SSL_CTX *ctx, const char *ca, const char *what, te_error_t *err)
{
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        char e[256];
        tls_error_string(e, sizeof(e));
        return te_error_set(err, TE_EINVAL, "%s: cannot load CA certificate(s) '%s': %s", what, ca, e);
    }
    return TE_OK;
}

static int empty(const char *s) { return s == NULL || s[0] == '\0'; }

SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, const char *ca, int require_client_cert,
                            te_error_t *err)
{
    if (empty(cert) || empty(key)) {
        te_error_set(err, TE_EINVAL, "security.ssl.enabled is true but security.ssl.%s is empty",
                     empty(cert) ? "certificate" : "key");
        return NULL;
    }
    SSL_CTX *ctx = ctx_base(TLS_server_method(), err);
    if (ctx == NULL)
        return NULL;
    if (ctx_load_pair(ctx, cert, key, "security.ssl.certificate", "security.ssl.key", err) != TE_OK)
        goto cleanup;
    if (require_client_cert) {
        if (empty(ca)) {
            te_error_set(err, TE_EINVAL, "security.ssl.require-client-cert is true but security.ssl.ca is empty");
            goto cleanup;
        }
        if (ctx_load_ca(ctx, ca, "security.ssl.ca", err) != TE_OK)
            goto cleanup;
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
cleanup:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_client_ctx_new(const char *ca, const char *cert, const char *key, te_error_t *err)
{
    if (empty(ca)) {
        te_error_set(err, TE_EINVAL,
                     "TLS is on but no CA is given (security.ssl.ca / --tls-ca): the server's "
                     "certificate cannot be verified");
        return NULL;
    }
    SSL_CTX *ctx = ctx_base(TLS_client_method(), err);
    if (ctx == NULL)
        return NULL;
    if (ctx_load_ca(ctx, ca, "security.ssl.ca", err) != TE_OK)
        goto cleanup;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!empty(cert) || !empty(key)) {
        if (empty(cert) || empty(key)) {
            te_error_set(err, TE_EINVAL, "a client certificate needs both a certificate and a key file");
            goto cleanup;
        }
        if (ctx_load_pair(ctx, cert, key, "client certificate", "client key", err) != TE_OK)
            goto cleanup;
    }
    return ctx;
cleanup:
    SSL_CTX_free(ctx);
    return NULL;
}

void security_free(te_security_t *s)
{
    if (s == NULL)
        return;
    auth_secret_free(s->auth);
    SSL_CTX_free(s->tls_server);
    SSL_CTX_free(s->tls_client);
    free(s);
}

/* A secret must be accessible by its owner only (as ssh demands of private keys):
 * otherwise refuse, naming the file and its mode - or, when allowed, warn loudly. */
te_status_t security_check_secret_file(const char *key, const char *path, int allow_insecure, te_error_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return TE_OK; /* the loader reports a missing file */
    unsigned mode = (unsigned)(st.st_mode & 07777);
    if ((mode & 077) == 0)
        return TE_OK;
    if (allow_insecure) {
        TE_WARN("security",
                "%s '%s' has mode %04o: it is accessible by group or others, who can impersonate this daemon "
                "(starting anyway: security.allow-insecure-permissions is true; chmod 600 '%s')",
                key, path, mode, path);
        return TE_OK;
    }
    return te_error_set(err, TE_EINVAL,
                        "%s '%s' has mode %04o: it must not be readable or writable by group or others "
                        "(chmod 600 '%s'), or set security.allow-insecure-permissions: true to start anyway",
                        key, path, mode, path);
}

te_security_t *security_from_config(const te_config_t *cfg, te_error_t *err)
{
    te_security_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    int insecure_ok = config_get_bool(cfg, TE_KEY_SECURITY_ALLOW_INSECURE_PERMISSIONS);
    const char *tf = config_get_str(cfg, TE_KEY_SECURITY_AUTH_TOKEN_FILE);
    if (!empty(tf) && security_check_secret_file("security.auth.token-file", tf, insecure_ok, err) != TE_OK)
        goto cleanup;
    if (!empty(tf) && (s->auth = auth_secret_load(tf, "security.auth.token-file", err)) == NULL)
        goto cleanup;
    if (config_get_bool(cfg, TE_KEY_SECURITY_SSL_ENABLED)) {
        const char *cert = config_get_str(cfg, TE_KEY_SECURITY_SSL_CERTIFICATE);
        const char *key = config_get_str(cfg, TE_KEY_SECURITY_SSL_KEY);
        const char *ca = config_get_str(cfg, TE_KEY_SECURITY_SSL_CA);
        if (!empty(key) && security_check_secret_file("security.ssl.key", key, insecure_ok, err) != TE_OK)
            goto cleanup;
        if (empty(ca)) {
            te_error_set(err, TE_EINVAL,
                         "security.ssl.enabled is true but security.ssl.ca is empty (peers' "
                         "certificates cannot be verified)");
            goto cleanup;
        }
        s->tls_server =
            tls_server_ctx_new(cert, key, ca, config_get_bool(cfg, TE_KEY_SECURITY_SSL_REQUIRE_CLIENT_CERT), err);
        if (s->tls_server == NULL)
            goto cleanup;
        s->tls_client = tls_client_ctx_new(ca, cert, key, err);
        if (s->tls_client == NULL)
            goto cleanup;
    }
    return s;
cleanup:
    security_free(s);
    return NULL;
}

te_security_t *security_for_client(const char *token_file, const char *ca, const char *cert, const char *key,
                                   te_error_t *err)
{
    te_security_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    if (!empty(token_file) && (s->auth = auth_secret_load(token_file, "--token-file", err)) == NULL)
        goto cleanup;
    if (!empty(ca) && (s->tls_client = tls_client_ctx_new(ca, cert, key, err)) == NULL)
        goto cleanup;
    return s;
cleanup:
    security_free(s);
    return NULL;
}

struct bufferevent *tls_client_filter_new(SSL_CTX *ctx, struct bufferevent *under)
{
    SSL *ssl = SSL_new(ctx);
    struct bufferevent *f =
        ssl == NULL ? NULL
                    : bufferevent_openssl_filter_new(bufferevent_get_base(under), under, ssl,
                                                     BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (f == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
    return f;
}

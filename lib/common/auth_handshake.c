/*
 * auth_handshake — shared-secret mutual challenge-response (see auth_handshake.h for
 * the wire format), HMAC-SHA256 from OpenSSL's libcrypto, nonces from getrandom(2).
 *
 * Threading: the pure functions are reentrant; a te_auth_bev_t is used only on the
 * thread running its bufferevent's event_base; secrets are immutable once loaded.
 */
#include "common/auth_handshake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

const uint8_t TE_AUTH_MAGIC_HELLO[TE_AUTH_MAGIC_LEN] = {'T', 'E', 'A', '1'};
const uint8_t TE_AUTH_MAGIC_CONFIRM[TE_AUTH_MAGIC_LEN] = {'T', 'E', 'A', 'S'};

#define LABEL_CLIENT     "te-auth-client-v1"
#define LABEL_SERVER     "te-auth-server-v1"
#define SECRET_MAX_BYTES (64 * 1024)

/* ---- secrets ---- */

te_auth_secret_t *auth_secret_new(const void *bytes, size_t len)
{
    if (bytes == NULL || len < TE_AUTH_MIN_SECRET)
        return NULL;
    te_auth_secret_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->bytes = malloc(len)) == NULL) {
        free(s);
        return NULL;
    }
    memcpy(s->bytes, bytes, len);
    s->len = len;
    return s;
}

void auth_secret_free(te_auth_secret_t *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s->bytes, s->len);
    free(s->bytes);
    free(s);
}

te_auth_secret_t *auth_secret_load(const char *path, const char *what, te_error_t *err)
{
    if (path == NULL || path[0] == '\0') {
        te_error_set(err, TE_EINVAL, "%s: no token file given", what);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        te_error_set(err, TE_EINVAL, "%s: cannot open '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    uint8_t *buf = malloc(SECRET_MAX_BYTES + 1);
    if (buf == NULL) {
        fclose(f);
        te_error_set(err, TE_ENOMEM, "%s: out of memory", what);
        return NULL;
    }
    size_t n = fread(buf, 1, SECRET_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    te_auth_secret_t *s = NULL;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (bad)
        te_error_set(err, TE_EIO, "%s: cannot read '%s'", what, path);
    else if (n > SECRET_MAX_BYTES)
        te_error_set(err, TE_EINVAL, "%s: '%s' is larger than %d bytes", what, path, SECRET_MAX_BYTES);
    else if (n < TE_AUTH_MIN_SECRET)
        te_error_set(err, TE_EINVAL, "%s: '%s' holds %zu bytes; the shared secret needs at least %d", what, path,
                     n, TE_AUTH_MIN_SECRET);
    else if ((s = auth_secret_new(buf, n)) == NULL)
        te_error_set(err, TE_ENOMEM, "%s: out of memory", what);
    OPENSSL_cleanse(buf, SECRET_MAX_BYTES + 1);
    free(buf);
    return s;
}

/* ---- primitives ---- */

void auth_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[TE_AUTH_MAC_LEN])
{
    unsigned int olen = TE_AUTH_MAC_LEN;
    if (HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &olen) == NULL)
        memset(out, 0, TE_AUTH_MAC_LEN); /* cannot match a real proof of a non-empty key */
}

static void proof(const te_auth_secret_t *s, const char *label, const uint8_t a[TE_AUTH_NONCE_LEN],
                  const uint8_t b[TE_AUTH_NONCE_LEN], uint8_t out[TE_AUTH_MAC_LEN])
{
    uint8_t msg[32 + 2 * TE_AUTH_NONCE_LEN];
    size_t ll = strlen(label);
    memcpy(msg, label, ll);
    memcpy(msg + ll, a, TE_AUTH_NONCE_LEN);
    memcpy(msg + ll + TE_AUTH_NONCE_LEN, b, TE_AUTH_NONCE_LEN);
    auth_hmac_sha256(s->bytes, s->len, msg, ll + 2 * TE_AUTH_NONCE_LEN, out);
}

static te_status_t nonce_fill(uint8_t out[TE_AUTH_NONCE_LEN], te_error_t *err)
{
    size_t got = 0;
    while (got < TE_AUTH_NONCE_LEN) {
        ssize_t n = getrandom(out + got, TE_AUTH_NONCE_LEN - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return te_error_set(err, TE_EIO, "getrandom failed: %s", strerror(errno));
        }
        got += (size_t)n;
    }
    return TE_OK;
}

te_status_t auth_server_challenge(uint8_t out[TE_AUTH_CHALLENGE_LEN], uint8_t nonce_out[TE_AUTH_NONCE_LEN],
                                  te_error_t *err)
{
    if (nonce_fill(nonce_out, err) != TE_OK)
        return TE_EIO;
    memcpy(out, TE_AUTH_MAGIC_HELLO, TE_AUTH_MAGIC_LEN);
    memcpy(out + TE_AUTH_MAGIC_LEN, nonce_out, TE_AUTH_NONCE_LEN);
    return TE_OK;
}

te_status_t auth_client_answer(const te_auth_secret_t *s, const uint8_t challenge[TE_AUTH_CHALLENGE_LEN],
                               uint8_t answer[TE_AUTH_ANSWER_LEN], uint8_t client_nonce_out[TE_AUTH_NONCE_LEN],
                               te_error_t *err)
{
    if (memcmp(challenge, TE_AUTH_MAGIC_HELLO, TE_AUTH_MAGIC_LEN) != 0)
        return te_error_set(err, TE_EPROTO,
                            "the peer did not send an authentication challenge (is security.auth.token-file set "
                            "on it, and TLS configured the same on both sides?)");
    if (nonce_fill(client_nonce_out, err) != TE_OK)
        return TE_EIO;
    memcpy(answer, TE_AUTH_MAGIC_HELLO, TE_AUTH_MAGIC_LEN);
    memcpy(answer + TE_AUTH_MAGIC_LEN, client_nonce_out, TE_AUTH_NONCE_LEN);
    proof(s, LABEL_CLIENT, challenge + TE_AUTH_MAGIC_LEN, client_nonce_out,
          answer + TE_AUTH_MAGIC_LEN + TE_AUTH_NONCE_LEN);
    return TE_OK;
}

te_status_t auth_server_verify(const te_auth_secret_t *s, const uint8_t server_nonce[TE_AUTH_NONCE_LEN],
                               const uint8_t answer[TE_AUTH_ANSWER_LEN], uint8_t confirm[TE_AUTH_CONFIRM_LEN],
                               te_error_t *err)
{
    if (memcmp(answer, TE_AUTH_MAGIC_HELLO, TE_AUTH_MAGIC_LEN) != 0)
        return te_error_set(err, TE_EPROTO, "authentication failed: the peer did not answer the challenge");
    const uint8_t *cn = answer + TE_AUTH_MAGIC_LEN;
    uint8_t want[TE_AUTH_MAC_LEN];
    proof(s, LABEL_CLIENT, server_nonce, cn, want);
    if (CRYPTO_memcmp(want, cn + TE_AUTH_NONCE_LEN, TE_AUTH_MAC_LEN) != 0)
        return te_error_set(err, TE_EPROTO, "authentication failed: wrong proof of the shared secret");
    memcpy(confirm, TE_AUTH_MAGIC_CONFIRM, TE_AUTH_MAGIC_LEN);
    proof(s, LABEL_SERVER, cn, server_nonce, confirm + TE_AUTH_MAGIC_LEN);
    return TE_OK;
}

te_status_t auth_client_check(const te_auth_secret_t *s, const uint8_t server_nonce[TE_AUTH_NONCE_LEN],
                              const uint8_t client_nonce[TE_AUTH_NONCE_LEN],
                              const uint8_t confirm[TE_AUTH_CONFIRM_LEN], te_error_t *err)
{
    if (memcmp(confirm, TE_AUTH_MAGIC_CONFIRM, TE_AUTH_MAGIC_LEN) != 0)
        return te_error_set(err, TE_EPROTO, "authentication failed: the server rejected the token");
    uint8_t want[TE_AUTH_MAC_LEN];
    proof(s, LABEL_SERVER, client_nonce, server_nonce, want);
    if (CRYPTO_memcmp(want, confirm + TE_AUTH_MAGIC_LEN, TE_AUTH_MAC_LEN) != 0)
        return te_error_set(err, TE_EPROTO, "authentication failed: the server does not know the shared secret");
    return TE_OK;
}

/* ---- libevent driver ---- */

struct te_auth_bev {
    struct bufferevent *bev;
    struct event *deadline; /* absolute: traffic does not restart it */
    const te_auth_secret_t *secret;
    int is_server;
    int answered; /* client: ANSWER sent, waiting for CONFIRM */
    uint8_t server_nonce[TE_AUTH_NONCE_LEN];
    uint8_t client_nonce[TE_AUTH_NONCE_LEN];
    te_auth_done_fn done;
    void *arg;
};

static void bev_finish(te_auth_bev_t *h, int ok, const char *why)
{
    struct bufferevent *bev = h->bev;
    te_auth_done_fn done = h->done;
    void *arg = h->arg;
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    event_free(h->deadline);
    OPENSSL_cleanse(h, sizeof(*h));
    free(h);
    done(arg, ok, why);
}

static void bev_read_cb(struct bufferevent *bev, void *ctx)
{
    te_auth_bev_t *h = ctx;
    struct evbuffer *in = bufferevent_get_input(bev);
    te_error_t e;
    te_error_clear(&e);
    if (h->is_server) {
        uint8_t ans[TE_AUTH_ANSWER_LEN], conf[TE_AUTH_CONFIRM_LEN];
        size_t have = evbuffer_get_length(in);
        if (have >= TE_AUTH_MAGIC_LEN) { /* fail fast on a peer that skips the handshake */
            evbuffer_copyout(in, ans, TE_AUTH_MAGIC_LEN);
            if (memcmp(ans, TE_AUTH_MAGIC_HELLO, TE_AUTH_MAGIC_LEN) != 0) {
                bev_finish(h, 0, "authentication failed: the peer did not answer the challenge");
                return;
            }
        }
        if (have < TE_AUTH_ANSWER_LEN)
            return;
        evbuffer_remove(in, ans, TE_AUTH_ANSWER_LEN);
        if (auth_server_verify(h->secret, h->server_nonce, ans, conf, &e) != TE_OK) {
            bev_finish(h, 0, e.msg);
            return;
        }
        bufferevent_write(bev, conf, sizeof(conf));
        bev_finish(h, 1, NULL);
        return;
    }
    if (!h->answered) {
        uint8_t ch[TE_AUTH_CHALLENGE_LEN], ans[TE_AUTH_ANSWER_LEN];
        if (evbuffer_get_length(in) < TE_AUTH_CHALLENGE_LEN)
            return;
        evbuffer_remove(in, ch, sizeof(ch));
        memcpy(h->server_nonce, ch + TE_AUTH_MAGIC_LEN, TE_AUTH_NONCE_LEN);
        if (auth_client_answer(h->secret, ch, ans, h->client_nonce, &e) != TE_OK) {
            bev_finish(h, 0, e.msg);
            return;
        }
        bufferevent_write(bev, ans, sizeof(ans));
        h->answered = 1;
    }
    uint8_t conf[TE_AUTH_CONFIRM_LEN];
    if (evbuffer_get_length(in) < TE_AUTH_CONFIRM_LEN)
        return;
    evbuffer_remove(in, conf, sizeof(conf));
    if (auth_client_check(h->secret, h->server_nonce, h->client_nonce, conf, &e) != TE_OK) {
        bev_finish(h, 0, e.msg);
        return;
    }
    bev_finish(h, 1, NULL);
}

static void bev_deadline_cb(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    bev_finish(ctx, -1, "authentication not completed within " TE_AUTH_TIMEOUT_TEXT);
}

static void bev_event_cb(struct bufferevent *bev, short what, void *ctx)
{
    te_auth_bev_t *h = ctx;
    if (what & BEV_EVENT_EOF)
        bev_finish(h, -1, "the peer closed the connection during authentication (wrong token?)");
    else if (what & BEV_EVENT_ERROR) {
        unsigned long ssl_err = bufferevent_get_openssl_error(bev);
        char why[300];
        if (ssl_err != 0) {
            char text[256];
            ERR_error_string_n(ssl_err, text, sizeof(text));
            snprintf(why, sizeof(why), "TLS error before authentication: %s", text);
        } else {
            snprintf(why, sizeof(why), "connection error during authentication");
        }
        bev_finish(h, -1, why);
    }
}

te_auth_bev_t *auth_bev_start(struct bufferevent *bev, int is_server, const te_auth_secret_t *s,
                              te_auth_done_fn done, void *arg)
{
    te_auth_bev_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->bev = bev;
    h->deadline = evtimer_new(bufferevent_get_base(bev), bev_deadline_cb, h);
    if (h->deadline == NULL) {
        free(h);
        return NULL;
    }
    h->secret = s;
    h->is_server = is_server;
    h->done = done;
    h->arg = arg;
    if (is_server) {
        uint8_t ch[TE_AUTH_CHALLENGE_LEN];
        if (auth_server_challenge(ch, h->server_nonce, NULL) != TE_OK) {
            event_free(h->deadline);
            free(h);
            return NULL;
        }
        bufferevent_write(bev, ch, sizeof(ch));
    }
    struct timeval tv = {TE_AUTH_TIMEOUT_SEC, 0};
    evtimer_add(h->deadline, &tv);
    bufferevent_setcb(bev, bev_read_cb, NULL, bev_event_cb, h);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    return h;
}

void auth_bev_cancel(te_auth_bev_t *h)
{
    if (h == NULL)
        return;
    bufferevent_setcb(h->bev, NULL, NULL, NULL, NULL);
    event_free(h->deadline);
    OPENSSL_cleanse(h, sizeof(*h));
    free(h);
}

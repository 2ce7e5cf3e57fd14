/*
 * leader_election — see leader_election.h. One state machine, driven by `tick` (every
 * third of the TTL), the etcd answers and the watch:
 *
 *   NO_LEASE --grant ok--> CAMPAIGNING --txn succeeded--> LEADER --(lease lost, key
 *   gone or taken, a guarded write refused)--> DEPOSED (final)
 *                               \--txn failed (another leads)--> STANDBY --tick / the
 *                                   key deleted--> CAMPAIGNING
 *   a lease found expired in any state but LEADER --> NO_LEASE
 *
 * The lease counts as valid until `lease_ok_sent + ttl`, where lease_ok_sent is when the
 * last keepalive that etcd confirmed was sent (etcd restarted its TTL no earlier): a
 * leader past that point steps down without waiting for an answer.
 *
 * Calls in flight carry `le`: the owner frees the election and then the etcd client
 * (which drops those calls) without running the loop in between.
 *
 * Threading: the event-loop thread only; no locks.
 */
#include "cluster/leader_election.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"

#define CTX                "leader-election"
#define KEEPALIVE_RETRY_MS 250 /* a failed keepalive is tried again this soon (another endpoint) */

typedef enum le_state {
    LE_NO_LEASE = 0,
    LE_CAMPAIGNING,
    LE_STANDBY,
    LE_LEADER,
    LE_DEPOSED,
} le_state_t;

static const char *const state_names[] = {"no lease", "campaigning", "standby", "leader", "deposed"};

struct te_leader_election {
    te_etcd_client_t *etcd;
    char *key, *value;
    int64_t ttl_ms;
    te_leader_election_cbs_t cbs;
    void *arg;
    le_state_t state;
    int64_t lease_id;
    int64_t lease_ok_sent; /* monotonic ms */
    int grant_pending, campaign_pending, keepalive_pending;
    int64_t keepalive_sent;
    int64_t grant_failures, grant_warned_ms; /* lease requests failed in a row; last WARN */
    int64_t epoch;  /* ours while LEADER */
    json_t *leader; /* the leader as last seen (value + "epoch"), or NULL */
    struct event *tick;
    struct event *retry; /* a keepalive again soon after a failed one */
    te_etcd_watch_t *watch;
};

static void campaign(te_leader_election_t *le);

static void set_leader(te_leader_election_t *le, json_t *leader)
{
    json_decref(le->leader);
    le->leader = leader;
}

/* The leader from the key's kv (value + its create revision). */
static json_t *leader_from_kv(const json_t *kv)
{
    char *v = etcd_b64_field(kv, "value", NULL);
    json_t *doc = v ? json_loads(v, 0, NULL) : NULL;
    free(v);
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    json_object_set_new(doc, "epoch", json_integer(etcd_int(kv, "create_revision")));
    return doc;
}

static void depose(te_leader_election_t *le, const char *why)
{
    if (le->state != LE_LEADER)
        return;
    le->state = LE_DEPOSED;
    TE_WARN(CTX, "no longer the leader (epoch %lld): %s", (long long)le->epoch, why);
    set_leader(le, NULL);
    if (le->cbs.revoked)
        le->cbs.revoked(le->arg, why);
}

void leader_election_lost(te_leader_election_t *le, const char *why) { depose(le, why); }

static void lease_gone(te_leader_election_t *le, const char *why)
{
    if (le->state == LE_LEADER) {
        depose(le, why);
        return;
    }
    if (le->state == LE_DEPOSED)
        return;
    TE_INFO(CTX, "%s: asking for a new lease", why);
    le->state = LE_NO_LEASE;
    le->lease_id = 0;
}

/* ---- lease ------------------------------------------------------------------------------- */

static void on_grant(void *arg, const json_t *reply, const te_error_t *err)
{
    te_leader_election_t *le = arg;
    le->grant_pending = 0;
    if (le->state != LE_NO_LEASE)
        return;
    if (reply == NULL || etcd_int(reply, "ID") == 0) {
        /* the next tick asks again: said at once, then once a minute */
        int64_t now = te_clock_mono_ms();
        le->grant_failures++;
        te_log_level_t level = TE_LOG_DEBUG;
        if (le->grant_warned_ms == 0 || now - le->grant_warned_ms >= 60000) {
            le->grant_warned_ms = now;
            level = TE_LOG_WARN;
        }
        TE_LOG(level, CTX, "cannot get an etcd lease (%lld attempt(s) so far; asking again every %lld ms): %s",
               (long long)le->grant_failures, (long long)(le->ttl_ms / 3),
               err ? err->msg : "no lease in the answer");
        return;
    }
    if (le->grant_failures > 0)
        TE_INFO(CTX, "got an etcd lease after %lld failed attempt(s)", (long long)le->grant_failures);
    le->grant_failures = le->grant_warned_ms = 0;
    le->lease_id = etcd_int(reply, "ID");
    le->lease_ok_sent = le->keepalive_sent;
    TE_DEBUG(CTX, "lease %llx granted (TTL %lld s)", (unsigned long long)le->lease_id,
             (long long)etcd_int(reply, "TTL"));
    le->state = LE_CAMPAIGNING;
    campaign(le);
}

static void grant(te_leader_election_t *le)
{
    if (le->grant_pending)
        return;
    le->grant_pending = 1;
    le->keepalive_sent = te_clock_mono_ms();
    etcd_client_call(le->etcd, "/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)(le->ttl_ms / 1000)),
                     on_grant, le);
}

static void on_keepalive(void *arg, const json_t *reply, const te_error_t *err)
{
    te_leader_election_t *le = arg;
    le->keepalive_pending = 0;
    if (le->lease_id == 0 || le->state == LE_DEPOSED)
        return;
    if (reply == NULL) {
        TE_WARN(CTX, "cannot renew the etcd lease: %s", err->msg);
        struct timeval tv = {0, KEEPALIVE_RETRY_MS * 1000};
        evtimer_add(le->retry, &tv); /* the tick decides when it counts as lost */
        return;
    }
    if (etcd_int(json_object_get(reply, "result"), "TTL") <= 0) {
        lease_gone(le, "the etcd lease expired");
        return;
    }
    le->lease_ok_sent = le->keepalive_sent;
}

static void keepalive(te_leader_election_t *le)
{
    if (le->keepalive_pending || le->lease_id == 0)
        return;
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)le->lease_id);
    le->keepalive_pending = 1;
    le->keepalive_sent = te_clock_mono_ms();
    etcd_client_call(le->etcd, "/v3/lease/keepalive", json_pack("{s:s}", "ID", id), on_keepalive, le);
}

/* ---- campaign -------------------------------------------------------------------------- */

static void on_campaign(void *arg, const json_t *reply, const te_error_t *err)
{
    te_leader_election_t *le = arg;
    le->campaign_pending = 0;
    if (le->state != LE_CAMPAIGNING && le->state != LE_STANDBY)
        return;
    if (reply == NULL) {
        TE_WARN(CTX, "campaign for %s failed: %s", le->key, err->msg);
        return;
    }
    if (json_is_true(json_object_get(reply, "succeeded"))) {
        le->epoch = etcd_int(json_object_get(reply, "header"), "revision");
        le->state = LE_LEADER;
        json_t *me = json_loads(le->value, 0, NULL);
        if (!json_is_object(me)) {
            json_decref(me);
            me = json_object();
        }
        json_object_set_new(me, "epoch", json_integer(le->epoch));
        set_leader(le, me);
        TE_INFO(CTX, "leading with epoch %lld (%s)", (long long)le->epoch, le->key);
        if (le->cbs.granted)
            le->cbs.granted(le->arg, le->epoch);
        return;
    }
    const json_t *kv = json_array_get(
        json_object_get(json_object_get(json_array_get(json_object_get(reply, "responses"), 0), "response_range"),
                        "kvs"),
        0);
    int was = le->state;
    le->state = LE_STANDBY;
    if (kv != NULL) {
        json_t *l = leader_from_kv(kv);
        if (le->leader == NULL || !json_equal(l, le->leader) || was != LE_STANDBY)
            TE_INFO(CTX, "standing by: the leader is %s (epoch %lld)",
                    json_string_value(json_object_get(l, "rest_address")) ?: "?",
                    (long long)json_integer_value(json_object_get(l, "epoch")));
        set_leader(le, l);
    }
}

static void campaign(te_leader_election_t *le)
{
    if (le->campaign_pending || le->lease_id == 0)
        return;
    json_t *cmp = json_array(), *succ = json_array(), *fail = json_array();
    json_array_append_new(cmp, etcd_cmp(le->key, "CREATE", "EQUAL", 0));
    json_array_append_new(succ, etcd_op_put(le->key, le->value, le->lease_id));
    json_array_append_new(fail, etcd_op_range(le->key));
    le->campaign_pending = 1;
    etcd_client_call(le->etcd, "/v3/kv/txn", etcd_txn_body(cmp, succ, fail), on_campaign, le);
}

/* ---- watch and tick -------------------------------------------------------------------- */

static void on_event(void *arg, int is_delete, const json_t *kv)
{
    te_leader_election_t *le = arg;
    if (le->state == LE_LEADER) {
        if (is_delete)
            depose(le, "the leader key was deleted (the lease ended)");
        else if (etcd_int(kv, "create_revision") != le->epoch)
            depose(le, "another JobManager created the leader key");
        return;
    }
    if (le->state == LE_DEPOSED)
        return;
    if (is_delete) {
        TE_INFO(CTX, "the leader key was deleted: campaigning");
        set_leader(le, NULL);
        if (le->state == LE_STANDBY)
            le->state = LE_CAMPAIGNING;
        campaign(le);
    } else {
        set_leader(le, leader_from_kv(kv));
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    te_leader_election_t *le = arg;
    (void)fd;
    (void)what;
    if (le->state != LE_DEPOSED)
        keepalive(le);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    te_leader_election_t *le = arg;
    (void)fd;
    (void)what;
    int64_t now = te_clock_mono_ms();
    if (le->state == LE_DEPOSED)
        return;
    if (le->lease_id != 0 && now >= le->lease_ok_sent + le->ttl_ms) {
        char why[160];
        snprintf(why, sizeof(why), "the etcd lease could not be renewed for %lld ms (the TTL)",
                 (long long)(now - le->lease_ok_sent));
        lease_gone(le, why);
        if (le->state == LE_DEPOSED)
            return;
    }
    if (le->state == LE_NO_LEASE) {
        grant(le);
        return;
    }
    keepalive(le);
    if (le->state != LE_LEADER)
        campaign(le);
}

/* ---- API ----------------------------------------------------------------------------------- */

te_leader_election_t *leader_election_new(te_etcd_client_t *etcd, const char *key, const char *value,
                                          int64_t ttl_ms, const te_leader_election_cbs_t *cbs, void *arg,
                                          te_error_t *err)
{
    te_leader_election_t *le = calloc(1, sizeof(*le));
    struct event_base *base = NULL;
    if (le == NULL || (le->key = strdup(key)) == NULL || (le->value = strdup(value)) == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    le->etcd = etcd;
    le->ttl_ms = ttl_ms < 2000 ? 2000 : ttl_ms;
    le->cbs = *cbs;
    le->arg = arg;
    base = etcd_client_base(etcd);
    if ((le->tick = event_new(base, -1, EV_PERSIST, on_tick, le)) == NULL ||
        (le->retry = evtimer_new(base, on_retry, le)) == NULL ||
        (le->watch = etcd_watch_new(etcd, key, 0, 0, on_event, le, err)) == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    int64_t period = le->ttl_ms / 3;
    struct timeval tv = {(time_t)(period / 1000), (suseconds_t)((period % 1000) * 1000)};
    event_add(le->tick, &tv);
    grant(le);
    return le;
cleanup:
    leader_election_free(le);
    return NULL;
}

void leader_election_free(te_leader_election_t *le)
{
    if (le == NULL)
        return;
    if (le->state == LE_LEADER && le->lease_id != 0) {
        char id[32];
        te_error_t err = {0};
        snprintf(id, sizeof(id), "%lld", (long long)le->lease_id);
        json_t *r = etcd_client_call_sync(le->etcd, "/v3/lease/revoke", json_pack("{s:s}", "ID", id), &err);
        if (r == NULL)
            TE_WARN(CTX, "cannot resign (revoke the lease): %s; a standby takes over after the TTL", err.msg);
        else
            TE_INFO(CTX, "resigned the leadership (epoch %lld)", (long long)le->epoch);
        json_decref(r);
    }
    etcd_watch_free(le->watch);
    if (le->tick != NULL)
        event_free(le->tick);
    if (le->retry != NULL)
        event_free(le->retry);
    json_decref(le->leader);
    free(le->key);
    free(le->value);
    free(le);
}

int leader_election_is_leader(const te_leader_election_t *le) { return le->state == LE_LEADER; }
int64_t leader_election_epoch(const te_leader_election_t *le) { return le->state == LE_LEADER ? le->epoch : 0; }

json_t *leader_election_leader_json(const te_leader_election_t *le)
{
    return le->leader ? json_deep_copy(le->leader) : json_null();
}

json_t *leader_election_guard(const te_leader_election_t *le)
{
    return etcd_cmp(le->key, "CREATE", "EQUAL", le->epoch);
}

const char *leader_election_state_name(const te_leader_election_t *le) { return state_names[le->state]; }

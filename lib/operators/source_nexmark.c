/*
 * source_nexmark — the `nexmark` source: the Nexmark benchmark's event stream of
 * Persons, Auctions and Bids, generated deterministically from a seed (the same seed
 * and count give the same events, whatever the parallelism).
 *
 * Event n (0-based, global) is, by n mod 50 as in Nexmark: 0 → a Person, 1..3 → an
 * Auction, 4..49 → a Bid. Subtask i of p generates the events n ≡ i (mod p). Every
 * field of event n comes from a splitmix64 stream keyed by (seed, n), so events do not
 * depend on each other or on the split. Ids start at 1000 as in Nexmark; a bid goes to
 * a "hot" auction (every 100th id) half the time, otherwise to one of the 100 most
 * recent auctions; bidders likewise among recent persons. Prices are
 * round(10^(6u) * 100) cents, u uniform in [0,1), as in Nexmark. Event time (ms) =
 * first_event_time + n * event_interval_us / 1000.
 *
 * Records are tab-separated text, the first field the kind:
 *   P  id  name  email  credit_card  city  state  date_time
 *   A  id  item_name  description  initial_bid  reserve  date_time  expires  seller  category
 *   B  auction  bidder  price  channel  url  date_time
 * and carry date_time as their timestamp.
 *
 * Parameters: count (events in all; required unless unbounded=true), unbounded,
 * rate (events/s for the whole source; 0 = full speed), seed (default 42), events =
 * all | bids | auctions | persons (which kinds to emit; all kinds are still generated
 * and counted), first_event_time (ms, default 1700000000000), event_interval_us
 * (virtual time between events, default 100).
 *
 * Snapshot: the next event number. Hot path: records are formatted into a per-instance
 * buffer with hand-written integer formatting; no allocation.
 *
 * Threading: a step-wise source; every callback runs on the task thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/op_util.h"

enum { KIND_ALL = 0, KIND_BIDS, KIND_AUCTIONS, KIND_PERSONS };

typedef struct nexmark {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    uint64_t count, next, stride;
    int unbounded, kinds, done;
    uint64_t seed;
    int64_t first_time, interval_us;
    op_rate_t pace; /* per subtask */
    char buf[512];
} nexmark_t;

static const char *const FIRST[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                    "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
static const char *const LAST[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                   "Walton", "Smith",  "Jones",   "Noris"};
static const char *const CITY[] = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
                                   "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
static const char *const STATE[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const CHANNEL[] = {"Google", "Facebook", "Baidu", "Apple"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static inline uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* The k-th random number of event n. */
static inline uint64_t rnd(const nexmark_t *q, uint64_t n, unsigned k) { return mix(q->seed ^ mix(n * 64 + k)); }

static inline char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static inline char *put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

static inline char *tab(char *p)
{
    *p++ = '\t';
    return p;
}

/* Ids: persons 1000 + n/50, auctions 1000 + 3*(n/50) + (n%50 - 1). */
static uint64_t last_person(uint64_t n) { return 1000 + n / 50; }
static uint64_t last_auction(uint64_t n)
{
    uint64_t epoch = n / 50, off = n % 50;
    if (off == 0)
        return epoch == 0 ? 1000 : 1000 + 3 * epoch - 1;
    return 1000 + 3 * epoch + (off >= 3 ? 2 : off - 1);
}

static uint32_t format_event(nexmark_t *q, uint64_t n, int64_t ts, int *kind)
{
    char *p = q->buf;
    uint64_t off = n % 50;
    if (off == 0) {
        *kind = KIND_PERSONS;
        uint64_t id = last_person(n);
        const char *f = FIRST[rnd(q, n, 0) % N_OF(FIRST)], *l = LAST[rnd(q, n, 1) % N_OF(LAST)];
        p = put_str(p, "P\t");
        p = put_u64(p, id);
        p = tab(p);
        p = put_str(p, f);
        *p++ = ' ';
        p = put_str(p, l);
        p = tab(p);
        p = put_str(p, f);
        *p++ = '.';
        p = put_str(p, l);
        p = put_str(p, "@example.com\t");
        uint64_t cc = rnd(q, n, 2);
        for (int g = 0; g < 4; g++) {
            uint64_t four = (cc >> (16 * g)) % 10000;
            *p++ = (char)('0' + four / 1000);
            *p++ = (char)('0' + four / 100 % 10);
            *p++ = (char)('0' + four / 10 % 10);
            *p++ = (char)('0' + four % 10);
            if (g < 3)
                *p++ = ' ';
        }
        p = tab(p);
        p = put_str(p, CITY[rnd(q, n, 3) % N_OF(CITY)]);
        p = tab(p);
        p = put_str(p, STATE[rnd(q, n, 4) % N_OF(STATE)]);
        p = tab(p);
        p = put_i64(p, ts);
    } else if (off <= 3) {
        *kind = KIND_AUCTIONS;
        uint64_t id = last_auction(n);
        uint64_t initial = 100 + rnd(q, n, 0) % 10000;
        uint64_t persons = last_person(n) - 1000 + 1;
        uint64_t seller = rnd(q, n, 3) % 2 ? (last_person(n) / 100) * 100
                                           : last_person(n) - rnd(q, n, 4) % (persons < 100 ? persons : 100);
        if (seller < 1000)
            seller = 1000;
        p = put_str(p, "A\t");
        p = put_u64(p, id);
        p = put_str(p, "\titem-");
        p = put_u64(p, rnd(q, n, 1) % 100000);
        p = put_str(p, "\tdescription-");
        p = put_u64(p, rnd(q, n, 2) % 100000);
        p = tab(p);
        p = put_u64(p, initial);
        p = tab(p);
        p = put_u64(p, initial + rnd(q, n, 5) % 10000);
        p = tab(p);
        p = put_i64(p, ts);
        p = tab(p);
        p = put_i64(p, ts + 10000 + (int64_t)(rnd(q, n, 6) % 100000));
        p = tab(p);
        p = put_u64(p, seller);
        p = tab(p);
        p = put_u64(p, 10 + rnd(q, n, 7) % 5);
    } else {
        *kind = KIND_BIDS;
        uint64_t la = last_auction(n), lp = last_person(n);
        uint64_t na = la - 1000 + 1, np = lp - 1000 + 1;
        uint64_t r0 = rnd(q, n, 0), r1 = rnd(q, n, 1), r2 = rnd(q, n, 2);
        uint64_t auction = r0 & 1 ? (la / 100) * 100 : la - (r0 >> 1) % (na < 100 ? na : 100);
        uint64_t bidder = r1 & 1 ? (lp / 100) * 100 : lp - (r1 >> 1) % (np < 100 ? np : 100);
        if (auction < 1000)
            auction = 1000;
        if (bidder < 1000)
            bidder = 1000;
        /* round(10^(6u) * 100), u uniform in [0,1): computed with exp10 via doubles. */
        double u = (double)(r2 >> 11) / 9007199254740992.0;
        double price_d = __builtin_exp(u * 6.0 * 2.302585092994046) * 100.0;
        uint64_t price = (uint64_t)(price_d + 0.5);
        const char *ch = CHANNEL[rnd(q, n, 3) % N_OF(CHANNEL)];
        p = put_str(p, "B\t");
        p = put_u64(p, auction);
        p = tab(p);
        p = put_u64(p, bidder);
        p = tab(p);
        p = put_u64(p, price);
        p = tab(p);
        p = put_str(p, ch);
        p = put_str(p, "\thttps://www.nexmark.com/");
        p = put_str(p, ch);
        p = put_str(p, "/item.htm?query=1&id=");
        p = put_u64(p, rnd(q, n, 4) % 1000);
        p = tab(p);
        p = put_i64(p, ts);
    }
    return (uint32_t)(p - q->buf);
}

static void *nexmark_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {
        "count", "unbounded", "rate", "seed", "events", "first_event_time", "event_interval_us", NULL};
    op_setup_t s = {api, ctx, "nexmark", err, errlen};
    int64_t count = 0, rate, seed, first, interval;
    int unbounded;
    const char *events;
    if (op_check_keys(&s, allowed) != 0 || op_get_bool(&s, "unbounded", 0, &unbounded) != 0 ||
        op_get_int(&s, "count", !unbounded, 0, 0, INT64_MAX, &count) != 0 ||
        op_get_int(&s, "rate", 0, 0, 0, 1000000000, &rate) != 0 ||
        op_get_int(&s, "seed", 0, 42, INT64_MIN, INT64_MAX, &seed) != 0 ||
        op_get_int(&s, "first_event_time", 0, 1700000000000LL, 0, INT64_MAX / 2, &first) != 0 ||
        op_get_int(&s, "event_interval_us", 0, 100, 0, 1000000000, &interval) != 0 ||
        op_get_string(&s, "events", 0, "all", &events) != 0)
        return NULL;
    int kinds;
    if (strcmp(events, "all") == 0)
        kinds = KIND_ALL;
    else if (strcmp(events, "bids") == 0)
        kinds = KIND_BIDS;
    else if (strcmp(events, "auctions") == 0)
        kinds = KIND_AUCTIONS;
    else if (strcmp(events, "persons") == 0)
        kinds = KIND_PERSONS;
    else {
        op_errorf(&s, "parameter 'events' = '%s' is not one of all, bids, auctions, persons", events);
        return NULL;
    }
    nexmark_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    uint32_t p = api->parallelism(ctx);
    q->api = api;
    q->ctx = ctx;
    q->stride = p ? p : 1;
    q->next = api->subtask_index(ctx);
    q->count = unbounded ? UINT64_MAX : (uint64_t)count;
    q->unbounded = unbounded;
    q->kinds = kinds;
    q->seed = (uint64_t)seed;
    q->first_time = first;
    q->interval_us = interval;
    q->pace.rate = rate > 0 ? (double)rate / (double)q->stride : 0.0;
    q->done = q->next >= q->count;
    return q;
}

static te_source_status_t nexmark_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms)
{
    nexmark_t *q = self;
    if (q->done)
        return TE_SOURCE_END;
    uint64_t allowed = op_rate_allow(&q->pace, budget, idle_wait_ms);
    if (allowed == 0)
        return TE_SOURCE_IDLE;
    for (uint64_t k = 0; k < allowed; k++) {
        uint64_t n = q->next;
        int64_t ts = q->first_time + (int64_t)(n * (uint64_t)q->interval_us / 1000);
        int kind;
        uint32_t len = format_event(q, n, ts, &kind);
        q->pace.emitted++;
        int rc = 0;
        if (q->kinds == KIND_ALL || q->kinds == kind) {
            te_record_t rec = {(const uint8_t *)q->buf, len, ts};
            rc = q->api->emit(out, &rec);
        }
        if (q->count - n <= q->stride) {
            q->done = 1;
            return TE_SOURCE_END;
        }
        q->next = n + q->stride;
        if (rc != 0)
            return TE_SOURCE_MORE; /* cancelling: the engine stops calling step */
    }
    return TE_SOURCE_MORE;
}

static int nexmark_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    nexmark_t *q = self;
    (void)checkpoint_id;
    return op_position_snapshot(q->done, q->next, data, len);
}

static int nexmark_restore(void *self, const uint8_t *data, size_t len)
{
    nexmark_t *q = self;
    int done;
    uint64_t v;
    if (op_position_restore(data, len, &done, &v) != 0 ||
        v % q->stride != q->api->subtask_index(q->ctx) % q->stride)
        return -1;
    q->done = done;
    q->next = v;
    return 0;
}

static void nexmark_dispose(void *self) { free(self); }

const te_operator_def_t op_nexmark_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "nexmark",
    .kind = TE_OP_SOURCE,
    .setup = nexmark_setup,
    .step = nexmark_step,
    .snapshot = nexmark_snapshot,
    .restore = nexmark_restore,
    .dispose = nexmark_dispose,
};

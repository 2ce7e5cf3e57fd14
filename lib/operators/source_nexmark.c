/*
 * source_nexmark — the `nexmark` source: the Nexmark benchmark's event stream of
 * Persons, Auctions and Bids as typed rows, generated deterministically from a seed
 * (the same seed and count give the same events, whatever the parallelism; a change of
 * the generator may change them between builds).
 *
 * Event n (0-based, global) is, by n mod 50 as in Nexmark: 0 → a Person, 1..3 → an
 * Auction, 4..49 → a Bid. Subtask i of p generates the events n ≡ i (mod p). Every
 * field of event n comes from splitmix64 values keyed by (seed, n), so events do not
 * depend on each other or on the split. Ids start at 1000 as in Nexmark; a bid goes to
 * a "hot" auction (every 100th id) half the time, otherwise to one of the 100 most
 * recent auctions; bidders likewise among recent persons. Prices are
 * round(10^(6u) * 100) cents, u uniform in [0,1), as in Nexmark (10^(6u) by a
 * table and a cubic, relative error < 3e-12). Three bids in four go to a hot channel
 * (Google, Facebook, Baidu, Apple), the rest to "channel-<k>" (k < 10000) whose url
 * carries "&channel_id=<k>", as Nexmark's generator does. Event time
 * (ms) = first_event_time + n * event_interval_us / 1000. `extra` is one of 64 short
 * strings of letters drawn per seed.
 *
 * Schemas (the kind first, so the field numbers are those of Nexmark's text records):
 *   bid      kind:string ("B"), auction:int64, bidder:int64, price:int64, channel:string,
 *            url:string, date_time:timestamp, extra:string
 *   auction  kind:string ("A"), id:int64, item_name:string, description:string,
 *            initial_bid:int64, reserve:int64, date_time:timestamp, expires:timestamp,
 *            seller:int64, category:int64, extra:string
 *   person   kind:string ("P"), id:int64, name:string, email_address:string,
 *            credit_card:string, city:string, state:string, date_time:timestamp,
 *            extra:string
 * Records carry date_time as their timestamp.
 *
 * Parameters: count (events in all; required unless unbounded=true), unbounded,
 * rate (events/s for the whole source; 0 = full speed), seed (default 42), events =
 * bids (default) | auctions | persons: the kind on the main output (all kinds are
 * still generated and counted); side_outputs (default false): also emit every kind to
 * the side outputs "persons", "auctions" and "bids", so one source feeds a join of
 * kinds; first_event_time (ms, default 1700000000000), event_interval_us (virtual time
 * between events, default 100).
 *
 * Snapshot: the next event number. Hot path: rows are built field by field in a
 * per-instance row builder (the url prefixes of the hot channels built at setup, small
 * numbers written from a table of digit pairs); no allocation once the builder has
 * grown. Projection (ABI v5): the fields of the main output that no consumer reads
 * (api->output_fields_read) are left empty ("" or 0; a bid's ids, price, url and extra
 * are not even computed); open logs which. Not with side_outputs (they share the row).
 *
 * Threading: a step-wise source; every callback runs on the task thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/op_row.h"

enum { KIND_BIDS = 0, KIND_AUCTIONS, KIND_PERSONS, N_KINDS };

#define N_EXTRA   64
#define N_URL_IDS 1000

static const char *const KIND_TAG[N_KINDS] = {"bids", "auctions", "persons"};

typedef struct nexmark {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    uint64_t count, next, stride;
    int unbounded, kinds, done, sides;
    uint64_t seed;
    int64_t first_time, interval_us;
    op_rate_t pace; /* per subtask */
    te_row_builder_t row;
    char extra[N_EXTRA][16];
    uint8_t extra_len[N_EXTRA];
    char hot_url[4][64]; /* "https://www.nexmark.com/<channel>/item.htm?query=1&id=", zero-padded */
    uint8_t hot_url_len[4];
    double price_table[256]; /* 100 * 2^(j/256) */
    uint64_t unread;         /* main output fields no consumer reads: left empty (api->output_fields_read) */
} nexmark_t;

/* Field i of the row being built is read by some consumer; value v of field i, or 0
 * (an empty number) when it is not. */
#define WANT(q, i)    (!(((q)->unread >> (i)) & 1))
#define KEEP(q, i, v) (WANT(q, i) ? (v) : 0)

static const te_field_t bid_fields[] = {
    {"kind", TE_TYPE_STRING, 0},         {"auction", TE_TYPE_INT64, 0},  {"bidder", TE_TYPE_INT64, 0},
    {"price", TE_TYPE_INT64, 0},         {"channel", TE_TYPE_STRING, 0}, {"url", TE_TYPE_STRING, 0},
    {"date_time", TE_TYPE_TIMESTAMP, 0}, {"extra", TE_TYPE_STRING, 0},
};
static const te_field_t auction_fields[] = {
    {"kind", TE_TYPE_STRING, 0},         {"id", TE_TYPE_INT64, 0},          {"item_name", TE_TYPE_STRING, 0},
    {"description", TE_TYPE_STRING, 0},  {"initial_bid", TE_TYPE_INT64, 0}, {"reserve", TE_TYPE_INT64, 0},
    {"date_time", TE_TYPE_TIMESTAMP, 0}, {"expires", TE_TYPE_TIMESTAMP, 0}, {"seller", TE_TYPE_INT64, 0},
    {"category", TE_TYPE_INT64, 0},      {"extra", TE_TYPE_STRING, 0},
};
static const te_field_t person_fields[] = {
    {"kind", TE_TYPE_STRING, 0},        {"id", TE_TYPE_INT64, 0},
    {"name", TE_TYPE_STRING, 0},        {"email_address", TE_TYPE_STRING, 0},
    {"credit_card", TE_TYPE_STRING, 0}, {"city", TE_TYPE_STRING, 0},
    {"state", TE_TYPE_STRING, 0},       {"date_time", TE_TYPE_TIMESTAMP, 0},
    {"extra", TE_TYPE_STRING, 0},
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
static const te_schema_t kind_schema[N_KINDS] = {
    {N_OF(bid_fields), bid_fields},
    {N_OF(auction_fields), auction_fields},
    {N_OF(person_fields), person_fields},
};

static const char *const FIRST[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                    "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
static const char *const LAST[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                   "Walton", "Smith",  "Jones",   "Noris"};
static const char *const CITY[] = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
                                   "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
static const char *const STATE[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const CHANNEL[] = {"Google", "Facebook", "Baidu", "Apple"};
static const char CHANNEL_PADDED[][8] = {"Google", "Facebook", "Baidu", "Apple"}; /* set_str_padded */
static const uint32_t CHANNEL_LEN[] = {6, 8, 5, 5};

static inline uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* Random number k (< 4) of event n: splitmix64's value number 4n + k of the sequence
 * seeded with seed. Each is one mix of (n, k), so an event's numbers are computed side
 * by side, not one after another. */
static inline uint64_t rk(const nexmark_t *q, uint64_t n, unsigned k)
{
    return mix(q->seed ^ ((4 * n + k) * 0x9E3779B97F4A7C15ULL));
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

/* Prices: 10^(6u) * 100 for u = r / 2^64 uniform in [0, 1), i.e. 2^x * 100 with
 * x = u * 6 log2(10) in [0, 19.94). x * 256 as a 64.50 fixed-point number comes from
 * one 64x64 -> 128-bit multiply of r; its integer part j gives 100 * 2^(j/256) =
 * 100 * 2^((j mod 256)/256) from a table of 256, times 2^(j div 256) added to the
 * exponent bits, and its fraction f in [0, 1) gives 2^(f/256) by a cubic
 * (f ln2/256 < 0.0028: relative error < 3e-12). The dependent chain is a multiply, a
 * conversion and four floating-point operations (the Taylor polynomial of 2^x over
 * |x| <= 1/2 this replaced had fourteen, and held a third of the generator's time). */
#define PRICE_SCALE_FIX 0x4fb9ed1c6cea5400ULL /* round(6 log2(10) * 256 * 2^50) */
static inline double price_of(const nexmark_t *q, uint64_t r)
{
    unsigned __int128 t = (unsigned __int128)r * PRICE_SCALE_FIX;
    uint64_t hi = (uint64_t)(t >> 64); /* x * 256 * 2^50 */
    uint32_t j = (uint32_t)(hi >> 50);
    double y = (double)(hi & ((1ULL << 50) - 1)) * (0.6931471805599453 / 256.0 / 1125899906842624.0);
    double p = (1.0 + y) + (y * y) * (0.5 + y * (1.0 / 6));
    uint64_t bits;
    double base = q->price_table[j & 255];
    memcpy(&bits, &base, sizeof(bits));
    bits += (uint64_t)(j >> 8) << 52; /* times 2^(j div 256), at most 2^19 */
    memcpy(&base, &bits, sizeof(base));
    return base * p;
}

/* x % m for the small bounds of the id picks: the usual m = 100 as a constant. */
static inline uint64_t mod_bound(uint64_t x, uint64_t m) { return m == 100 ? x % 100 : x % m; }
static inline uint32_t mod_bound32(uint32_t x, uint32_t m) { return m == 100 ? x % 100u : x % m; }

/* A bid's auction or bidder from random word r, the last id and the ids so far: with r's
 * bit 0 a hot one (the last multiple of 100), else one of the last 100. Both computed
 * and one picked by a mask, not a branch: a branch on a random bit mispredicts half the
 * time (two of those per bid were most of the generator's mispredictions). */
static inline uint64_t bid_id(uint64_t r, uint64_t last, uint64_t ids)
{
    uint64_t hot = (last / 100) * 100,
             cold = last - mod_bound32((uint32_t)(r >> 1), ids < 100 ? (uint32_t)ids : 100u);
    uint64_t m = 0 - (r & 1);
    return (hot & m) | (cold & ~m);
}

static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *put_u(char *p, uint64_t v) { return p + te_format_u64(p, v); }

/* v < 10000 as its decimal digits (no leading zeros), in *n <= 4 bytes of the result in
 * memory order: two lookups in a table of digit pairs, no division loop and no branch
 * on the length. */
static inline uint32_t digits4(uint32_t v, uint32_t *n)
{
    uint16_t hi, lo;
    memcpy(&hi, te_digit_pairs() + 2 * (v / 100), 2);
    memcpy(&lo, te_digit_pairs() + 2 * (v % 100), 2);
    uint32_t d = hi | (uint32_t)lo << 16; /* four digits, leading zeros first (little endian) */
    *n = 1 + (v >= 10) + (v >= 100) + (v >= 1000);
    return d >> (8 * (4 - *n));
}

/* An event's row is built without a check per field: nexmark_step reserves room for
 * the largest row of any kind (EVENT_ROW_MAX: its fixed part, its strings and the
 * bytes the fixed-size copies below write past them) before building one,
 * begin_event starts it, and every field of the kind is then set exactly once (no
 * field stays null, no index is out of range). */
#define EVENT_ROW_MAX (TE_ROW_HEADER + 8u * 16u + 512u)
_Static_assert(N_OF(bid_fields) <= 16 && N_OF(auction_fields) <= 16 && N_OF(person_fields) <= 16,
               "EVENT_ROW_MAX holds the slots of at most 16 fields");

static inline void begin_event(te_row_builder_t *b, uint32_t n)
{
    b->failed = 0;
    b->n = n;
    b->nulls = 0;
    b->len = TE_ROW_HEADER + 8u * n;
}

static inline void put_slot(te_row_builder_t *b, uint32_t i, uint64_t v)
{
    memcpy(b->buf + TE_ROW_HEADER + 8u * i, &v, 8);
}

static inline void put_bytes(te_row_builder_t *b, uint32_t i, const void *p, uint32_t len)
{
    memcpy(b->buf + b->len, p, len);
    put_slot(b, i, (uint64_t)b->len | (uint64_t)len << 32);
    b->len += len;
}

static void put_cstr(te_row_builder_t *b, uint32_t i, const char *s) { put_bytes(b, i, s, (uint32_t)strlen(s)); }

/* String field i of len <= cap bytes, copying cap bytes from p (readable that far):
 * one fixed-size copy instead of memcpy's branches on a random length, which the
 * branch predictor cannot learn (the tail past len is overwritten by the next field). */
static inline void put_str_padded(te_row_builder_t *b, uint32_t i, const char *p, uint32_t len, uint32_t cap)
{
    memcpy(b->buf + b->len, p, cap);
    put_slot(b, i, (uint64_t)b->len | (uint64_t)len << 32);
    b->len += len;
}

/* String field i = prefix (plen bytes, readable to 64) + the digits of v < 10000. */
static inline void put_str_prefix_digits(te_row_builder_t *b, uint32_t i, const char *prefix, uint32_t plen,
                                         uint32_t v)
{
    uint32_t nd, d = digits4(v, &nd);
    memcpy(b->buf + b->len, prefix, 64);
    memcpy(b->buf + b->len + plen, &d, 4);
    put_slot(b, i, (uint64_t)b->len | (uint64_t)(plen + nd) << 32);
    b->len += plen + nd;
}

static inline void set_extra(const nexmark_t *q, te_row_builder_t *b, uint32_t i, uint64_t r)
{
    unsigned e = (unsigned)(r % N_EXTRA);
    if (WANT(q, i))
        put_str_padded(b, i, q->extra[e], q->extra_len[e], 16);
    else
        put_bytes(b, i, "", 0);
}

static inline void build_person(const nexmark_t *q, te_row_builder_t *b, uint64_t n, int64_t ts)
{
    uint64_t r0 = rk(q, n, 0), r1 = rk(q, n, 1);
    char name[64], email[96], cc[24], *p;
    const char *f = FIRST[r0 % N_OF(FIRST)], *l = LAST[(r0 >> 8) % N_OF(LAST)];
    p = put_str(put_str(put_str(name, f), " "), l);
    uint32_t nl = (uint32_t)(p - name);
    p = put_str(put_str(put_str(put_str(email, f), "."), l), "@example.com");
    uint32_t el = (uint32_t)(p - email);
    for (int g = 0; g < 4; g++) { /* four groups of 4 digits */
        unsigned four = (unsigned)((r1 >> (16 * g)) % 10000);
        char *d = cc + 5 * g;
        d[0] = (char)('0' + four / 1000);
        d[1] = (char)('0' + four / 100 % 10);
        d[2] = (char)('0' + four / 10 % 10);
        d[3] = (char)('0' + four % 10);
        d[4] = ' ';
    }
    begin_event(b, N_OF(person_fields));
    put_bytes(b, 0, "P", WANT(q, 0));
    put_slot(b, 1, (uint64_t)KEEP(q, 1, (int64_t)last_person(n)));
    put_bytes(b, 2, name, WANT(q, 2) ? nl : 0);
    put_bytes(b, 3, email, WANT(q, 3) ? el : 0);
    put_bytes(b, 4, cc, WANT(q, 4) ? 19 : 0);
    put_cstr(b, 5, WANT(q, 5) ? CITY[(r0 >> 16) % N_OF(CITY)] : "");
    put_cstr(b, 6, WANT(q, 6) ? STATE[(r0 >> 24) % N_OF(STATE)] : "");
    put_slot(b, 7, (uint64_t)KEEP(q, 7, ts));
    set_extra(q, b, 8, r0 >> 32);
}

static inline void build_auction(const nexmark_t *q, te_row_builder_t *b, uint64_t n, int64_t ts)
{
    uint64_t r0 = rk(q, n, 0), r1 = rk(q, n, 1), r2 = rk(q, n, 2);
    uint64_t initial = 100 + r0 % 10000;
    uint64_t persons = last_person(n) - 1000 + 1;
    uint64_t seller =
        r1 & 1 ? (last_person(n) / 100) * 100 : last_person(n) - mod_bound(r1 >> 1, persons < 100 ? persons : 100);
    if (seller < 1000)
        seller = 1000;
    char item[32], desc[40];
    char *ie = put_u(put_str(item, "item-"), (r0 >> 16) % 100000);
    char *de = put_u(put_str(desc, "description-"), (r0 >> 40) % 100000);
    begin_event(b, N_OF(auction_fields));
    put_bytes(b, 0, "A", WANT(q, 0));
    put_slot(b, 1, (uint64_t)KEEP(q, 1, (int64_t)last_auction(n)));
    put_bytes(b, 2, item, WANT(q, 2) ? (uint32_t)(ie - item) : 0);
    put_bytes(b, 3, desc, WANT(q, 3) ? (uint32_t)(de - desc) : 0);
    put_slot(b, 4, (uint64_t)KEEP(q, 4, (int64_t)initial));
    put_slot(b, 5, (uint64_t)KEEP(q, 5, (int64_t)(initial + r2 % 10000)));
    put_slot(b, 6, (uint64_t)KEEP(q, 6, ts));
    put_slot(b, 7, (uint64_t)KEEP(q, 7, ts + 10000 + (int64_t)((r2 >> 16) % 100000)));
    put_slot(b, 8, (uint64_t)KEEP(q, 8, (int64_t)seller));
    put_slot(b, 9, (uint64_t)KEEP(q, 9, (int64_t)(10 + (r1 >> 40) % 5)));
    set_extra(q, b, 10, r2 >> 40);
}

static inline void build_bid(const nexmark_t *q, te_row_builder_t *b, uint64_t n, int64_t ts)
{
    /* the random words of the fields a consumer reads only (the same words, so the same
     * values, as when every field is read): r0 auction and url, r1 bidder, channel and
     * url, r2 price and extra */
    uint64_t r0 = WANT(q, 1) || WANT(q, 5) ? rk(q, n, 0) : 0;
    uint64_t r1 = WANT(q, 2) || WANT(q, 4) || WANT(q, 5) ? rk(q, n, 1) : 0;
    uint64_t r2 = WANT(q, 3) || WANT(q, 7) ? rk(q, n, 2) : 0;
    uint64_t auction = 0, bidder = 0;
    if (WANT(q, 1)) {
        uint64_t la = last_auction(n);
        auction = bid_id(r0, la, la - 1000 + 1);
    }
    if (WANT(q, 2)) {
        uint64_t lp = last_person(n);
        bidder = bid_id(r1, lp, lp - 1000 + 1);
    }
    if (auction < 1000 && WANT(q, 1))
        auction = 1000;
    if (bidder < 1000 && WANT(q, 2))
        bidder = 1000;
    /* price = round(10^(6u) * 100), u = r2 / 2^64 */
    double price_d = WANT(q, 3) ? price_of(q, r2) : 0.0;
    begin_event(b, N_OF(bid_fields));
    put_bytes(b, 0, "B", WANT(q, 0));
    put_slot(b, 1, (uint64_t)(int64_t)auction);
    put_slot(b, 2, (uint64_t)(int64_t)bidder);
    put_slot(b, 3, (uint64_t)KEEP(q, 3, (int64_t)(price_d + 0.5)));
    unsigned id = (unsigned)((r0 >> 33) % N_URL_IDS), pick = (unsigned)(r1 >> 33);
    if (!WANT(q, 4) && !WANT(q, 5)) { /* neither read: no digits, no branch on the pick */
        put_bytes(b, 4, "", 0);
        put_bytes(b, 5, "", 0);
    } else if ((pick & 3) != 3) {
        unsigned c = (pick >> 2) % N_OF(CHANNEL);
        if (WANT(q, 4))
            put_str_padded(b, 4, CHANNEL_PADDED[c], CHANNEL_LEN[c], 8);
        else
            put_bytes(b, 4, "", 0);
        if (WANT(q, 5))
            put_str_prefix_digits(b, 5, q->hot_url[c], q->hot_url_len[c], id);
        else
            put_bytes(b, 5, "", 0);
    } else { /* channel-<k>, https://www.nexmark.com/channel-<k>/item.htm?query=1&id=<id>&channel_id=<k> */
        uint32_t nk, dk = digits4((pick >> 2) % 10000, &nk);
        char ch[16] = "channel-";
        memcpy(ch + 8, &dk, 4);
        put_bytes(b, 4, ch, WANT(q, 4) ? 8 + nk : 0);
        if (WANT(q, 5)) {
            uint32_t ni, di = digits4(id, &ni);
            char url[128], *u = url;
            memcpy(u, "https://www.nexmark.com/", 24);
            memcpy(u += 24, ch, 16);
            memcpy(u += 8 + nk, "/item.htm?query=1&id=", 21);
            memcpy(u += 21, &di, 4);
            memcpy(u += ni, "&channel_id=", 12);
            memcpy(u += 12, &dk, 4);
            u += nk;
            put_bytes(b, 5, url, (uint32_t)(u - url));
        } else {
            put_bytes(b, 5, "", 0);
        }
    }
    put_slot(b, 6, (uint64_t)KEEP(q, 6, ts));
    set_extra(q, b, 7, r2 >> 3);
}

/* Builds event n into q->row; its kind in *kind. */
static inline void build_event(const nexmark_t *q, te_row_builder_t *b, uint64_t n, int64_t ts, int *kind)
{
    uint64_t off = n % 50;
    if (off == 0) {
        *kind = KIND_PERSONS;
        build_person(q, b, n, ts);
    } else if (off <= 3) {
        *kind = KIND_AUCTIONS;
        build_auction(q, b, n, ts);
    } else {
        *kind = KIND_BIDS;
        build_bid(q, b, n, ts);
    }
}

static void *nexmark_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {
        "count", "unbounded", "rate", "seed", "events", "side_outputs", "first_event_time", "event_interval_us",
        NULL};
    op_setup_t s = {api, ctx, "nexmark", err, errlen};
    int64_t count = 0, rate, seed, first, interval;
    int unbounded, sides;
    const char *events;
    if (op_check_keys(&s, allowed) != 0 || op_get_bool(&s, "unbounded", 0, &unbounded) != 0 ||
        op_get_int(&s, "count", !unbounded, 0, 0, INT64_MAX, &count) != 0 ||
        op_get_int(&s, "rate", 0, 0, 0, 1000000000, &rate) != 0 ||
        op_get_int(&s, "seed", 0, 42, INT64_MIN, INT64_MAX, &seed) != 0 ||
        op_get_int(&s, "first_event_time", 0, 1700000000000LL, 0, INT64_MAX / 2, &first) != 0 ||
        op_get_int(&s, "event_interval_us", 0, 100, 0, 1000000000, &interval) != 0 ||
        op_get_bool(&s, "side_outputs", 0, &sides) != 0 || op_get_string(&s, "events", 0, "bids", &events) != 0)
        return NULL;
    int kinds = -1;
    for (int k = 0; k < N_KINDS; k++)
        if (strcmp(events, KIND_TAG[k]) == 0)
            kinds = k;
    if (kinds < 0) {
        op_errorf(&s,
                  "parameter 'events' = '%s' is not one of bids, auctions, persons (an edge carries one kind: "
                  "with side_outputs=true the other kinds go to the side outputs of those names)",
                  events);
        return NULL;
    }
    if (op_declare_schema(&s, NULL, &kind_schema[kinds]) != 0)
        return NULL;
    for (int k = 0; sides && k < N_KINDS; k++)
        if (op_declare_schema(&s, KIND_TAG[k], &kind_schema[k]) != 0)
            return NULL;
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
    q->sides = sides;
    q->seed = (uint64_t)seed;
    q->first_time = first;
    q->interval_us = interval;
    q->pace.rate = rate > 0 ? (double)rate / (double)q->stride : 0.0;
    q->done = q->next >= q->count;
    /* projection: fields of the main output no consumer reads stay empty (side outputs
     * share the row and have consumers of their own: then nothing is left out) */
    if (!sides && api->abi_version >= 5 && api->output_fields_read)
        q->unread = ~api->output_fields_read(ctx);
    for (int j = 0; j < 256; j++)
        q->price_table[j] = 100.0 * exp2(j / 256.0);
    for (size_t c = 0; c < N_OF(CHANNEL); c++) /* the rest of hot_url stays zero (calloc) */
        q->hot_url_len[c] = (uint8_t)snprintf(q->hot_url[c], sizeof(q->hot_url[c]),
                                              "https://www.nexmark.com/%s/item.htm?query=1&id=", CHANNEL[c]);
    for (int e = 0; e < N_EXTRA; e++) {
        uint64_t r = mix(q->seed ^ mix(0xE47EA000u + (uint64_t)e));
        unsigned len = (unsigned)(r % 16);
        for (unsigned c = 0; c < len; c++)
            q->extra[e][c] = (char)('a' + (r >> (4 + 4 * c)) % 26);
        q->extra_len[e] = (uint8_t)len;
    }
    return q;
}

/* Says which fields the projection leaves empty, once per task. */
static int nexmark_open(void *self, char *err, size_t errlen)
{
    nexmark_t *q = self;
    (void)err;
    (void)errlen;
    const te_schema_t *sc = &kind_schema[q->kinds];
    char names[512] = "";
    size_t len = 0;
    for (uint32_t i = 0; i < sc->n_fields && len < sizeof(names); i++)
        if (!WANT(q, i))
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "", sc->fields[i].name);
    if (len)
        q->api->log(q->ctx, TE_OP_INFO, "fields no consumer reads are left empty: %s", names);
    return 0;
}

static int kind_of(uint64_t n)
{
    uint64_t off = n % 50;
    return off == 0 ? KIND_PERSONS : off <= 3 ? KIND_AUCTIONS : KIND_BIDS;
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
        int kind, rc = 0;
        q->pace.emitted++;
        if (q->kinds == kind_of(n) || q->sides) {
            te_record_t rec;
            if (te_row_builder_reserve(&q->row, EVENT_ROW_MAX) != 0) {
                q->api->fail(q->ctx, "operator 'nexmark': out of memory");
                return TE_SOURCE_ERROR;
            }
            /* a local copy, its fields in registers; building does not grow the buffer,
             * so nothing of it goes back */
            te_row_builder_t b = q->row;
            build_event(q, &b, n, ts, &kind);
            if (te_row_builder_finish(&b, ts, &rec) != 0) {
                q->api->fail(q->ctx, "operator 'nexmark': out of memory");
                return TE_SOURCE_ERROR;
            }
            if (q->kinds == kind)
                rc = q->api->emit(out, &rec);
            if (rc == 0 && q->sides)
                rc = q->api->emit_side(out, KIND_TAG[kind], &rec);
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

static void nexmark_dispose(void *self)
{
    nexmark_t *q = self;
    if (q == NULL)
        return;
    te_row_builder_free(&q->row);
    free(q);
}

const te_operator_def_t op_nexmark_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "nexmark",
    .kind = TE_OP_SOURCE,
    .setup = nexmark_setup,
    .open = nexmark_open,
    .step = nexmark_step,
    .snapshot = nexmark_snapshot,
    .restore = nexmark_restore,
    .dispose = nexmark_dispose,
};

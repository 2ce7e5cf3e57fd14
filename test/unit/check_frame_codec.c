/* Unit tests: frame_codec — the control-plane framing decoder fed at every split
 * point, byte by byte, back-to-back frames, oversized lengths (rejected before any
 * allocation), zero-length frames, a garbage fuzz loop checked against an
 * independent reference parser, and RpcMessage encode/decode round trips. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/frame_codec.h"
#include "tdd.pb-c.h"

/* ---- helpers ------------------------------------------------------------------ */

#define MAX_FRAMES 64

typedef struct collected {
    size_t n;
    uint8_t *data[MAX_FRAMES];
    size_t len[MAX_FRAMES];
    int error;
    te_error_t err;
} collected_t;

static void collected_free(collected_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->data[i]);
    memset(c, 0, sizeof(*c));
}

/* Feeds one chunk completely (several frames may come out of it). The chunk is
 * copied into an exactly-sized heap block so valgrind/ASan see any over-read. */
static void feed_chunk(frame_decoder_t *dec, const uint8_t *chunk, size_t len, collected_t *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, chunk, len);
    size_t off = 0;
    while (!out->error) {
        size_t used = 99999, flen = 0;
        const uint8_t *frame = NULL;
        frame_result_t r = frame_decoder_feed(dec, copy + off, len - off, &used, &frame, &flen, &out->err);
        ck_assert_uint_le(used, len - off);
        off += used;
        if (r == FRAME_ERROR) {
            out->error = 1;
            break;
        }
        if (r == FRAME_READY) {
            ck_assert_ptr_nonnull(frame);
            ck_assert_uint_lt(out->n, MAX_FRAMES);
            out->data[out->n] = malloc(flen ? flen : 1);
            memcpy(out->data[out->n], frame, flen);
            out->len[out->n] = flen;
            out->n++;
            continue; /* a zero-length frame may complete with nothing left to feed */
        }
        ck_assert_int_eq(r, FRAME_NEED_MORE);
        ck_assert_uint_eq(off, len); /* NEED_MORE means everything was consumed */
        break;
    }
    free(copy);
}

static Te__TaskDeploymentDescriptor *make_tdd(void)
{
    static uint8_t job[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static uint8_t exe[16] = {0xaa, 0xbb, 0xcc, 0xdd};
    static Te__TaskDeploymentDescriptor tdd = TE__TASK_DEPLOYMENT_DESCRIPTOR__INIT;
    static Te__TaskInformation ti = TE__TASK_INFORMATION__INIT;
    static Te__OperatorConfig op0 = TE__OPERATOR_CONFIG__INIT, op1 = TE__OPERATOR_CONFIG__INIT;
    static Te__OperatorConfig *ops[2];
    static Te__KeyValue kv = TE__KEY_VALUE__INIT;
    static Te__KeyValue *kvs[1];
    static Te__JobInformation ji = TE__JOB_INFORMATION__INIT;

    kv.key = "path";
    kv.value = "/tmp/in.txt";
    kvs[0] = &kv;
    op0.name = "file_lines";
    op0.n_params = 1;
    op0.params = kvs;
    op1.name = "tokenize";
    ops[0] = &op0;
    ops[1] = &op1;
    ti.task_name = "Source: file_lines -> tokenize";
    ti.number_of_subtasks = 4;
    ti.max_parallelism = 128;
    ti.invokable = TE__INVOKABLE__SOURCE_STREAM_TASK;
    ti.n_chain = 2;
    ti.chain = ops;
    ji.job_name = "wordcount";
    tdd.job_id.data = job;
    tdd.job_id.len = 16;
    tdd.execution_attempt_id.data = exe;
    tdd.execution_attempt_id.len = 16;
    tdd.subtask_index = 3;
    tdd.attempt_number = 1;
    tdd.target_slot_number = 2;
    tdd.job_information = &ji;
    tdd.task_information = &ti;
    return &tdd;
}

/* Fills *m as a SubmitTask carrying the TDD (pointers to statics). */
static void make_submit(Te__RpcMessage *m, Te__SubmitTask *st, uint64_t call_id)
{
    static uint8_t jm[16] = {7, 7, 7};
    te__submit_task__init(st);
    st->job_master_id.data = jm;
    st->job_master_id.len = 16;
    st->tdd = make_tdd();
    te__rpc_message__init(m);
    m->call_id = call_id;
    m->body_case = TE__RPC_MESSAGE__BODY_SUBMIT_TASK;
    m->submit_task = st;
}

/* Three frames back to back: a SubmitTask, a zero-length frame, a Heartbeat. The
 * expected payloads (without prefixes) are returned too. */
typedef struct stream {
    uint8_t *bytes;
    size_t len;
    size_t n;
    uint8_t *payload[3];
    size_t payload_len[3];
} stream_t;

static void stream_build(stream_t *s)
{
    Te__RpcMessage a, c;
    Te__SubmitTask st;
    Te__Heartbeat hb = TE__HEARTBEAT__INIT;
    uint8_t *fa, *fc;
    size_t la, lc;
    te_error_t err;

    make_submit(&a, &st, 41);
    te__rpc_message__init(&c);
    c.call_id = 300;
    c.body_case = TE__RPC_MESSAGE__BODY_HEARTBEAT;
    c.heartbeat = &hb;
    ck_assert_int_eq(frame_encode_message(&a, &fa, &la, &err), TE_OK);
    ck_assert_int_eq(frame_encode_message(&c, &fc, &lc, &err), TE_OK);

    s->len = la + FRAME_HEADER_LEN + lc;
    s->bytes = malloc(s->len);
    memcpy(s->bytes, fa, la);
    memset(s->bytes + la, 0, FRAME_HEADER_LEN); /* zero-length frame */
    memcpy(s->bytes + la + FRAME_HEADER_LEN, fc, lc);
    s->n = 3;
    s->payload_len[0] = la - FRAME_HEADER_LEN;
    s->payload_len[1] = 0;
    s->payload_len[2] = lc - FRAME_HEADER_LEN;
    for (int i = 0; i < 3; i++)
        s->payload[i] = malloc(s->payload_len[i] + 1);
    memcpy(s->payload[0], fa + FRAME_HEADER_LEN, s->payload_len[0]);
    memcpy(s->payload[2], fc + FRAME_HEADER_LEN, s->payload_len[2]);
    /* Independent check of the prefix: big-endian length of the packed message. */
    ck_assert_uint_eq(((size_t)fa[0] << 24 | (size_t)fa[1] << 16 | (size_t)fa[2] << 8 | fa[3]),
                      te__rpc_message__get_packed_size(&a));
    free(fa);
    free(fc);
}

static void stream_free(stream_t *s)
{
    free(s->bytes);
    for (size_t i = 0; i < s->n; i++)
        free(s->payload[i]);
}

static void assert_frames(const collected_t *got, const stream_t *s)
{
    ck_assert_int_eq(got->error, 0);
    ck_assert_uint_eq(got->n, s->n);
    for (size_t i = 0; i < s->n; i++) {
        ck_assert_uint_eq(got->len[i], s->payload_len[i]);
        ck_assert(memcmp(got->data[i], s->payload[i], s->payload_len[i]) == 0);
    }
}

/* ---- tests -------------------------------------------------------------------- */

START_TEST(test_split_every_position)
{
    stream_t s;
    stream_build(&s);
    for (size_t cut = 0; cut <= s.len; cut++) {
        frame_decoder_t dec;
        collected_t got = {0};
        frame_decoder_init(&dec, 4096);
        feed_chunk(&dec, s.bytes, cut, &got);
        feed_chunk(&dec, s.bytes + cut, s.len - cut, &got);
        assert_frames(&got, &s);
        collected_free(&got);
        frame_decoder_free(&dec);
    }
    /* Two cuts: every (i, j) pair over the first frame's region and beyond. */
    for (size_t i = 0; i <= s.len; i += 3) {
        for (size_t j = i; j <= s.len; j += 5) {
            frame_decoder_t dec;
            collected_t got = {0};
            frame_decoder_init(&dec, 4096);
            feed_chunk(&dec, s.bytes, i, &got);
            feed_chunk(&dec, s.bytes + i, j - i, &got);
            feed_chunk(&dec, s.bytes + j, s.len - j, &got);
            assert_frames(&got, &s);
            collected_free(&got);
            frame_decoder_free(&dec);
        }
    }
    stream_free(&s);
}
END_TEST

START_TEST(test_byte_by_byte)
{
    stream_t s;
    frame_decoder_t dec;
    collected_t got = {0};
    stream_build(&s);
    frame_decoder_init(&dec, 4096);
    for (size_t i = 0; i < s.len; i++)
        feed_chunk(&dec, s.bytes + i, 1, &got);
    assert_frames(&got, &s);
    /* Each decoded payload unpacks to what was sent. */
    Te__RpcMessage *m0 = frame_decode_message(got.data[0], got.len[0], NULL);
    Te__RpcMessage *m1 = frame_decode_message(got.data[1], got.len[1], NULL);
    Te__RpcMessage *m2 = frame_decode_message(got.data[2], got.len[2], NULL);
    ck_assert_ptr_nonnull(m0);
    ck_assert_ptr_nonnull(m1);
    ck_assert_ptr_nonnull(m2);
    ck_assert_uint_eq(m0->call_id, 41);
    ck_assert_int_eq(m0->body_case, TE__RPC_MESSAGE__BODY_SUBMIT_TASK);
    ck_assert_int_eq(m1->body_case, TE__RPC_MESSAGE__BODY__NOT_SET);
    ck_assert_uint_eq(m2->call_id, 300);
    ck_assert_int_eq(m2->body_case, TE__RPC_MESSAGE__BODY_HEARTBEAT);
    te__rpc_message__free_unpacked(m0, NULL);
    te__rpc_message__free_unpacked(m1, NULL);
    te__rpc_message__free_unpacked(m2, NULL);
    collected_free(&got);
    frame_decoder_free(&dec);
    stream_free(&s);
}
END_TEST

START_TEST(test_back_to_back_one_chunk)
{
    /* 20 copies of the 3-frame stream in a single buffer. */
    stream_t s;
    stream_build(&s);
    size_t reps = 20, total = s.len * reps;
    uint8_t *big = malloc(total);
    for (size_t r = 0; r < reps; r++)
        memcpy(big + r * s.len, s.bytes, s.len);
    frame_decoder_t dec;
    collected_t got = {0};
    frame_decoder_init(&dec, 4096);
    feed_chunk(&dec, big, total, &got);
    ck_assert_int_eq(got.error, 0);
    ck_assert_uint_eq(got.n, 3 * reps);
    for (size_t i = 0; i < got.n; i++) {
        ck_assert_uint_eq(got.len[i], s.payload_len[i % 3]);
        ck_assert(memcmp(got.data[i], s.payload[i % 3], got.len[i]) == 0);
    }
    /* A complete frame in one chunk is handed out without being buffered. */
    ck_assert_uint_eq(frame_decoder_capacity(&dec), 0);
    collected_free(&got);
    frame_decoder_free(&dec);
    free(big);
    stream_free(&s);
}
END_TEST

START_TEST(test_oversized_rejected_before_allocation)
{
    const size_t max = 1000;
    uint8_t hdr[FRAME_HEADER_LEN + 8];
    frame_decoder_t dec;
    te_error_t err;
    size_t used, flen;
    const uint8_t *frame;

    frame_header_write(hdr, 1001);
    memset(hdr + FRAME_HEADER_LEN, 'x', 8);
    frame_decoder_init(&dec, max);
    /* Byte by byte: the first three bytes need more, the fourth fails at once. */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(frame_decoder_feed(&dec, hdr + i, 1, &used, &frame, &flen, &err), FRAME_NEED_MORE);
        ck_assert_uint_eq(used, 1);
    }
    te_error_clear(&err);
    ck_assert_int_eq(frame_decoder_feed(&dec, hdr + 3, 1, &used, &frame, &flen, &err), FRAME_ERROR);
    ck_assert_uint_eq(used, 1);
    ck_assert_int_eq(err.code, TE_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "1001"));
    ck_assert_ptr_nonnull(strstr(err.msg, "1000"));
    ck_assert_uint_eq(frame_decoder_capacity(&dec), 0);
    /* Stays failed until reset. */
    ck_assert_int_eq(frame_decoder_feed(&dec, hdr + 4, 8, &used, &frame, &flen, &err), FRAME_ERROR);
    ck_assert_uint_eq(used, 0);

    /* The maximum possible length announced in one chunk: same, nothing allocated. */
    frame_decoder_reset(&dec);
    frame_header_write(hdr, UINT32_MAX);
    ck_assert_int_eq(frame_decoder_feed(&dec, hdr, sizeof(hdr), &used, &frame, &flen, &err), FRAME_ERROR);
    ck_assert_uint_eq(used, FRAME_HEADER_LEN);
    ck_assert_ptr_nonnull(strstr(err.msg, "4294967295"));
    ck_assert_uint_eq(frame_decoder_capacity(&dec), 0);

    /* Exactly the maximum is accepted. */
    frame_decoder_reset(&dec);
    uint8_t *ok = calloc(1, FRAME_HEADER_LEN + max);
    frame_header_write(ok, (uint32_t)max);
    collected_t got = {0};
    feed_chunk(&dec, ok, 100, &got);
    feed_chunk(&dec, ok + 100, FRAME_HEADER_LEN + max - 100, &got);
    ck_assert_int_eq(got.error, 0);
    ck_assert_uint_eq(got.n, 1);
    ck_assert_uint_eq(got.len[0], max);
    collected_free(&got);
    free(ok);

    /* frame_header_parse gives the same verdict. */
    frame_header_write(hdr, 1001);
    ck_assert_int_eq(frame_header_parse(hdr, max, &flen, &err), TE_ETOOBIG);
    ck_assert_uint_eq(flen, 1001);
    frame_header_write(hdr, 1000);
    ck_assert_int_eq(frame_header_parse(hdr, max, &flen, NULL), TE_OK);
    frame_decoder_free(&dec);
}
END_TEST

START_TEST(test_zero_length_frame)
{
    uint8_t z[FRAME_HEADER_LEN] = {0, 0, 0, 0};
    frame_decoder_t dec;
    size_t used, flen = 123;
    const uint8_t *frame = NULL;
    te_error_t err;
    frame_decoder_init(&dec, 0); /* even with a maximum of 0 */
    ck_assert_int_eq(frame_decoder_feed(&dec, z, sizeof(z), &used, &frame, &flen, &err), FRAME_READY);
    ck_assert_uint_eq(used, 4);
    ck_assert_uint_eq(flen, 0);
    ck_assert_ptr_nonnull(frame);
    Te__RpcMessage *m = frame_decode_message(frame, flen, &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->call_id, 0);
    ck_assert_int_eq(m->body_case, TE__RPC_MESSAGE__BODY__NOT_SET);
    ck_assert_int_eq(frame_message_kind(m), FRAME_MSG_NONE);
    ck_assert_str_eq(frame_message_body_name(m), "none");
    te__rpc_message__free_unpacked(m, NULL);
    /* The next frame follows normally; an empty feed just needs more. */
    ck_assert_int_eq(frame_decoder_feed(&dec, z, 0, &used, &frame, &flen, &err), FRAME_NEED_MORE);
    ck_assert_uint_eq(used, 0);
    frame_decoder_free(&dec);
}
END_TEST

/* xorshift64*: a fixed-seed generator independent of libc's rand. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

START_TEST(test_garbage_fuzz)
{
    uint64_t seed = 0x5eed1234abcdULL;
    size_t total_frames = 0, total_errors = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = rng_next(&seed) % 400;
        static const size_t maxes[] = {0, 16, 64, 4096};
        size_t max = maxes[rng_next(&seed) % 4];
        uint8_t *buf = malloc(len ? len : 1);
        for (size_t i = 0; i < len;) {
            uint64_t r = rng_next(&seed);
            if (r % 10 < 7 && i + 4 <= len) {
                /* A plausible header (small length, sometimes above max) ... */
                uint32_t l = (uint32_t)((r >> 8) % 40);
                frame_header_write(buf + i, l);
                i += 4;
                for (uint32_t k = 0; k < l && i < len; k++)
                    buf[i++] = (uint8_t)rng_next(&seed);
            } else {
                /* ... or pure noise. */
                buf[i++] = (uint8_t)(r >> 16);
            }
        }

        /* Reference: walk the whole buffer at once. */
        size_t ref_n = 0, ref_off[MAX_FRAMES], ref_len[MAX_FRAMES];
        int ref_err = 0;
        size_t p = 0;
        while (p + 4 <= len && ref_n < MAX_FRAMES) {
            size_t l = (size_t)buf[p] << 24 | (size_t)buf[p + 1] << 16 | (size_t)buf[p + 2] << 8 | buf[p + 3];
            if (l > max) {
                ref_err = 1;
                break;
            }
            if (p + 4 + l > len)
                break;
            ref_off[ref_n] = p + 4;
            ref_len[ref_n++] = l;
            p += 4 + l;
        }
        if (ref_n == MAX_FRAMES) {
            free(buf);
            continue;
        }

        /* Decoder: random chunking. */
        frame_decoder_t dec;
        collected_t got = {0};
        frame_decoder_init(&dec, max);
        size_t off = 0;
        while (off < len && !got.error) {
            size_t n = 1 + rng_next(&seed) % 50;
            if (n > len - off)
                n = len - off;
            feed_chunk(&dec, buf + off, n, &got);
            off += n;
        }
        ck_assert_int_eq(got.error, ref_err);
        if (got.error)
            ck_assert_int_eq(got.err.code, TE_ETOOBIG);
        ck_assert_uint_eq(got.n, ref_n);
        for (size_t i = 0; i < ref_n; i++) {
            ck_assert_uint_eq(got.len[i], ref_len[i]);
            ck_assert(memcmp(got.data[i], buf + ref_off[i], ref_len[i]) == 0);
            /* Unpacking garbage must fail cleanly or succeed; never crash. */
            te_error_t err;
            Te__RpcMessage *m = frame_decode_message(got.data[i], got.len[i], &err);
            if (m != NULL) {
                (void)frame_message_kind(m);
                (void)frame_message_body_name(m);
                te__rpc_message__free_unpacked(m, NULL);
            } else {
                ck_assert_int_eq(err.code, TE_EPROTO);
            }
        }
        total_frames += got.n;
        total_errors += (size_t)got.error;
        collected_free(&got);
        frame_decoder_free(&dec);
        free(buf);
    }
    /* The generator exercised both outcomes. */
    ck_assert_uint_gt(total_frames, 100);
    ck_assert_uint_gt(total_errors, 100);
}
END_TEST

START_TEST(test_round_trip_submit_task)
{
    Te__RpcMessage m;
    Te__SubmitTask st;
    uint8_t *buf = NULL;
    size_t len = 0;
    te_error_t err;
    make_submit(&m, &st, 0xfedcba9876ULL);
    ck_assert_int_eq(frame_message_kind(&m), FRAME_MSG_CALL);
    ck_assert_str_eq(frame_message_body_name(&m), "submit_task");
    ck_assert_int_eq(frame_encode_message(&m, &buf, &len, &err), TE_OK);
    ck_assert_uint_eq(len, frame_encoded_size(&m));

    size_t flen = 0;
    ck_assert_int_eq(frame_header_parse(buf, FRAME_DEFAULT_MAX_SIZE, &flen, &err), TE_OK);
    ck_assert_uint_eq(flen + FRAME_HEADER_LEN, len);
    Te__RpcMessage *d = frame_decode_message(buf + FRAME_HEADER_LEN, flen, &err);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(d->call_id, 0xfedcba9876ULL);
    ck_assert_int_eq(d->body_case, TE__RPC_MESSAGE__BODY_SUBMIT_TASK);
    Te__TaskDeploymentDescriptor *t = d->submit_task->tdd;
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(d->submit_task->job_master_id.len, 16);
    ck_assert_uint_eq(d->submit_task->job_master_id.data[0], 7);
    ck_assert_uint_eq(t->job_id.len, 16);
    ck_assert_uint_eq(t->job_id.data[15], 16);
    ck_assert_uint_eq(t->execution_attempt_id.data[1], 0xbb);
    ck_assert_uint_eq(t->subtask_index, 3);
    ck_assert_int_eq(t->target_slot_number, 2);
    ck_assert_str_eq(t->job_information->job_name, "wordcount");
    ck_assert_str_eq(t->task_information->task_name, "Source: file_lines -> tokenize");
    ck_assert_int_eq(t->task_information->invokable, TE__INVOKABLE__SOURCE_STREAM_TASK);
    ck_assert_uint_eq(t->task_information->n_chain, 2);
    ck_assert_str_eq(t->task_information->chain[0]->name, "file_lines");
    ck_assert_str_eq(t->task_information->chain[0]->params[0]->value, "/tmp/in.txt");
    ck_assert_str_eq(t->task_information->chain[1]->name, "tokenize");
    te__rpc_message__free_unpacked(d, NULL);

    /* Into a caller buffer: too small fails, exact size gives identical bytes. */
    uint8_t *exact = malloc(len);
    size_t got = 0;
    ck_assert_int_eq(frame_encode_into(&m, exact, len - 1, &got, &err), TE_ETOOBIG);
    ck_assert_int_eq(frame_encode_into(&m, exact, len, &got, &err), TE_OK);
    ck_assert_uint_eq(got, len);
    ck_assert(memcmp(exact, buf, len) == 0);
    free(exact);
    free(buf);
}
END_TEST

START_TEST(test_decode_garbage_and_kinds)
{
    te_error_t err;
    static const uint8_t truncated_varint[] = {0x08};
    static const uint8_t short_submessage[] = {0x62, 0x05, 0x01};
    static const uint8_t bad_tag[] = {0x00, 0x01};
    te_error_clear(&err);
    ck_assert_ptr_null(frame_decode_message(truncated_varint, sizeof(truncated_varint), &err));
    ck_assert_int_eq(err.code, TE_EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "malformed"));
    ck_assert_ptr_null(frame_decode_message(short_submessage, sizeof(short_submessage), &err));
    ck_assert_ptr_null(frame_decode_message(bad_tag, sizeof(bad_tag), NULL));

    Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
    Te__Response r = TE__RESPONSE__INIT;
    Te__TaskExecutionState tes = TE__TASK_EXECUTION_STATE__INIT;
    m.body_case = TE__RPC_MESSAGE__BODY_RESPONSE;
    m.response = &r;
    ck_assert_int_eq(frame_message_kind(&m), FRAME_MSG_RESPONSE);
    m.body_case = TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE;
    m.task_execution_state = &tes;
    ck_assert_int_eq(frame_message_kind(&m), FRAME_MSG_PUSH);
    ck_assert_str_eq(frame_message_body_name(&m), "task_execution_state");
}
END_TEST

/* Every body field of RpcMessage is a call, the Response or a push by its number, and
 * frame_message_body finds its message: a call added to rpc.proto in its range is a
 * call without another table to edit. */
START_TEST(test_kind_from_field_ranges)
{
    const ProtobufCMessageDescriptor *d = &te__rpc_message__descriptor;
    int calls = 0, pushes = 0, responses = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue; /* call_id, epoch */
        Te__RpcMessage m = TE__RPC_MESSAGE__INIT;
        Te__Heartbeat any = TE__HEARTBEAT__INIT; /* only the pointer matters here */
        m.body_case = (Te__RpcMessage__BodyCase)f->id;
        *(void **)((char *)&m + f->offset) = &any;
        frame_msg_kind_t k = frame_message_kind(&m);
        ck_assert_ptr_eq(frame_message_body(&m), &any);
        ck_assert_str_eq(frame_message_body_name(&m), f->name);
        if (f->id >= FRAME_CALL_FIRST && f->id <= FRAME_CALL_LAST) {
            ck_assert_msg(k == FRAME_MSG_CALL, "%s (%u) is not a call", f->name, f->id);
            calls++;
        } else if (f->id == FRAME_RESPONSE_FIELD) {
            ck_assert_int_eq(k, FRAME_MSG_RESPONSE);
            responses++;
        } else {
            ck_assert_msg(f->id >= FRAME_PUSH_FIRST && f->id <= FRAME_PUSH_LAST,
                          "%s has field number %u, outside the call, response and push ranges", f->name, f->id);
            ck_assert_int_eq(k, FRAME_MSG_PUSH);
            pushes++;
        }
    }
    ck_assert_int_ge(calls, 12);
    ck_assert_int_eq(responses, 1);
    ck_assert_int_ge(pushes, 3);
    Te__RpcMessage none = TE__RPC_MESSAGE__INIT;
    ck_assert_int_eq(frame_message_kind(&none), FRAME_MSG_NONE);
    ck_assert_ptr_null(frame_message_body(&none));
}
END_TEST

Suite *frame_codec_suite(void)
{
    Suite *s = suite_create("frame_codec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_split_every_position);
    tcase_add_test(tc, test_byte_by_byte);
    tcase_add_test(tc, test_back_to_back_one_chunk);
    tcase_add_test(tc, test_oversized_rejected_before_allocation);
    tcase_add_test(tc, test_zero_length_frame);
    tcase_add_test(tc, test_garbage_fuzz);
    tcase_add_test(tc, test_round_trip_submit_task);
    tcase_add_test(tc, test_decode_garbage_and_kinds);
    tcase_add_test(tc, test_kind_from_field_ranges);
    suite_add_tcase(s, tc);
    return s;
}

/*
 * stream_task_network_input — the network input of one/two-input stream tasks (see
 * stream_task_network_input.h).
 *
 * Unaligned checkpoints: the in-flight input of checkpoint n on flat channel f is, in
 * stream order, (1) what f's deserializer holds unconsumed (and f's recovered bytes
 * not yet replayed) when the first barrier n arrives, (2) every buffer polled from f
 * after that until f's barrier n, (3) the buffers queued in f that barrier n overtook
 * when it arrived there. (1) is taken by snapshot_inflight (from the aligner's
 * trigger), (2) in poll_gates, (3) right after the barrier went to the aligner, or in
 * flush_overtaken when that barrier completed the checkpoint. Priority events are
 * polled ahead of data, also in the middle of a buffer (every few records). Recovered
 * channel state is replayed before the gates are polled at all.
 *
 * Threading: task thread only; no locks of its own (the gates lock internally).
 */
#include "runtime/stream_task_network_input.h"

#include <stdlib.h>
#include <string.h>

#include "shuffle/record_deserializer.h"
#include "runtime/stream_element.h"
#include "runtime/watermark_valve.h"

/* A length prefix above this is corruption. */
#define NETWORK_INPUT_MAX_RECORD (64u * 1024 * 1024)

typedef struct input_gate_state {
    te_input_gate_t *gate;
    uint32_t base; /* index of its channel 0 in the flat channel array */
    int input;     /* 0 or 1 */
    int ended;
    uint32_t n_finished_seen; /* channels whose EndOfPartition was passed to the aligner */
} input_gate_state_t;

struct te_stream_task_network_input {
    te_operator_chain_t *chain;
    te_task_metrics_t *metrics;
    input_gate_state_t *gates;
    size_t n_gates;
    size_t n_ended;
    size_t next_gate;               /* round-robin cursor */
    te_record_deserializer_t **des; /* per flat channel */
    int *ch_input;                  /* per flat channel */
    uint32_t n_channels;
    te_watermark_valve_t *valve;
    te_chain_head_t head;          /* the chain head's per-record entry */
    int64_t current;               /* flat channel being drained, -1 none */
    te_barrier_aligner_t *aligner; /* borrowed; NULL = events skipped */
    int unaligned;                 /* poll priority events, record channel state */
    te_channel_state_sink_fn sink;
    void *sink_arg;
    /* a priority barrier whose overtaken buffers are still to be recorded */
    int ovt_pending;
    size_t ovt_gate;
    uint32_t ovt_ch;
    uint64_t ovt_id;
    te_buffer_slice_t *recovered; /* per flat channel: recovered state to replay (buf NULL = none) */
    uint32_t n_recovered;
    uint64_t progress; /* elements and events handled */
};

te_stream_task_network_input_t *stream_task_network_input_new(te_input_gate_t **gates, size_t n_gates,
                                                              te_operator_chain_t *chain,
                                                              te_task_metrics_t *metrics, te_error_t *err)
{
    te_stream_task_network_input_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        goto cleanup;
    in->chain = chain;
    operator_chain_head(chain, &in->head);
    in->metrics = metrics;
    in->current = -1;
    in->n_gates = n_gates;
    in->gates = calloc(n_gates ? n_gates : 1, sizeof(*in->gates));
    if (in->gates == NULL)
        goto cleanup;
    for (size_t g = 0; g < n_gates; g++) {
        in->gates[g].gate = gates[g];
        in->gates[g].base = in->n_channels;
        in->gates[g].input = input_gate_index(gates[g]) == 1 ? 1 : 0;
        in->n_channels += input_gate_num_channels(gates[g]);
    }
    in->des = calloc(in->n_channels ? in->n_channels : 1, sizeof(*in->des));
    in->ch_input = calloc(in->n_channels ? in->n_channels : 1, sizeof(*in->ch_input));
    in->valve = watermark_valve_new(in->n_channels);
    if (in->des == NULL || in->ch_input == NULL || in->valve == NULL)
        goto cleanup;
    for (size_t g = 0; g < n_gates; g++) {
        uint32_t nc = input_gate_num_channels(gates[g]);
        for (uint32_t c = 0; c < nc; c++) {
            uint32_t f = in->gates[g].base + c;
            in->ch_input[f] = in->gates[g].input;
            in->des[f] = record_deserializer_new(NETWORK_INPUT_MAX_RECORD);
            if (in->des[f] == NULL)
                goto cleanup;
        }
    }
    return in;

cleanup:
    te_error_set(err, TE_ENOMEM, "out of memory building the network input");
    stream_task_network_input_free(in);
    return NULL;
}

void stream_task_network_input_free(te_stream_task_network_input_t *in)
{
    if (in == NULL)
        return;
    if (in->des)
        for (uint32_t i = 0; i < in->n_channels; i++)
            record_deserializer_free(in->des[i]);
    if (in->recovered)
        for (uint32_t i = 0; i < in->n_channels; i++)
            if (in->recovered[i].buf != NULL)
                buffer_recycle(in->recovered[i].buf);
    free(in->recovered);
    free(in->des);
    free(in->ch_input);
    free(in->gates);
    watermark_valve_free(in->valve);
    free(in);
}

static te_status_t apply_valve(te_stream_task_network_input_t *in, int flags, int64_t wm, te_error_t *err)
{
    te_status_t st = TE_OK;
    if (flags & TE_VALVE_WATERMARK) {
        if (in->metrics)
            atomic_store_explicit(&in->metrics->current_input_watermark, wm, memory_order_relaxed);
        st = operator_chain_process_watermark(in->chain, wm, err);
    }
    if (st == TE_OK && (flags & TE_VALVE_STATUS_IDLE))
        st = operator_chain_emit_status(in->chain, 1, err);
    if (st == TE_OK && (flags & TE_VALVE_STATUS_ACTIVE))
        st = operator_chain_emit_status(in->chain, 0, err);
    return st;
}

/* Hands one element that is not a record to the chain (watermarks, stream status). */
static TE_NOINLINE te_status_t dispatch_other(te_stream_task_network_input_t *in, uint32_t ch, const uint8_t *data,
                                              uint32_t len, te_error_t *err)
{
    te_stream_element_t e;
    in->progress++;
    if (stream_element_decode(data, len, &e) != 0)
        return te_error_set(err, TE_EPROTO, "corrupt stream element (%u bytes, tag %u) on input channel %u", len,
                            len ? data[0] : 0, ch);
    int64_t wm = 0;
    switch (e.tag) {
    case TE_SE_WATERMARK: {
        /* flags first: the valve writes wm (argument evaluation order is unspecified) */
        int flags = watermark_valve_input_watermark(in->valve, ch, e.watermark, &wm);
        return apply_valve(in, flags, wm, err);
    }
    case TE_SE_STREAM_STATUS: {
        int flags = watermark_valve_input_status(in->valve, ch, e.idle, &wm);
        return apply_valve(in, flags, wm, err);
    }
    case TE_SE_RECORD:
    case TE_SE_RECORD_TS: /* stream_element_record_view takes every well-formed record */
    case TE_SE_LATENCY_MARKER:
    default: return TE_OK; /* latency markers are not tracked yet */
    }
}

void stream_task_network_input_set_aligner(te_stream_task_network_input_t *in, te_barrier_aligner_t *a)
{
    in->aligner = a;
}

void stream_task_network_input_set_unaligned(te_stream_task_network_input_t *in, te_channel_state_sink_fn sink,
                                             void *arg)
{
    in->unaligned = 1;
    in->sink = sink;
    in->sink_arg = arg;
}

typedef struct sink_ctx {
    te_stream_task_network_input_t *in;
    uint64_t id;
    uint32_t ch;
} sink_ctx_t;

static void sink_bytes(void *arg, const uint8_t *data, uint32_t len)
{
    sink_ctx_t *c = arg;
    if (len > 0 && c->in->sink != NULL)
        c->in->sink(c->in->sink_arg, c->id, c->ch, data, len);
}

void stream_task_network_input_snapshot_inflight(te_stream_task_network_input_t *in, uint64_t id)
{
    for (uint32_t f = 0; f < in->n_channels; f++) {
        sink_ctx_t c = {in, id, f};
        record_deserializer_unconsumed(in->des[f], sink_bytes, &c);
        if (in->recovered && in->recovered[f].buf != NULL)
            sink_bytes(&c, in->recovered[f].buf->data + in->recovered[f].offset, in->recovered[f].len);
    }
}

void stream_task_network_input_flush_overtaken(te_stream_task_network_input_t *in)
{
    if (!in->ovt_pending)
        return;
    in->ovt_pending = 0;
    input_gate_state_t *g = &in->gates[in->ovt_gate];
    te_buffer_slice_t *s = NULL;
    size_t n = input_gate_take_overtaken(g->gate, in->ovt_ch, in->ovt_id, &s);
    sink_ctx_t c = {in, in->ovt_id, g->base + in->ovt_ch};
    for (size_t i = 0; i < n; i++) {
        sink_bytes(&c, s[i].buf->data + s[i].offset, s[i].len);
        buffer_recycle(s[i].buf);
    }
    free(s);
}

te_status_t stream_task_network_input_add_recovered(te_stream_task_network_input_t *in, uint32_t flat,
                                                    const uint8_t *data, size_t len, te_error_t *err)
{
    if (flat >= in->n_channels)
        return te_error_set(err, TE_EINVAL, "recovered channel state for input channel %u; the task has %u", flat,
                            in->n_channels);
    if (len == 0)
        return TE_OK;
    if (len > UINT32_MAX / 2)
        return te_error_set(err, TE_EINVAL, "recovered channel state of input channel %u is too large (%zu bytes)",
                            flat, len);
    if (in->recovered == NULL) {
        in->recovered = calloc(in->n_channels, sizeof(*in->recovered));
        if (in->recovered == NULL)
            return te_error_set(err, TE_ENOMEM, "out of memory");
    }
    if (in->recovered[flat].buf != NULL)
        return te_error_set(err, TE_EEXIST, "input channel %u has recovered channel state already", flat);
    te_buffer_t *b = buffer_new_unpooled((uint32_t)len);
    if (b == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    memcpy(b->data, data, len);
    atomic_store_explicit(&b->committed, (uint32_t)len, memory_order_relaxed);
    in->recovered[flat] = (te_buffer_slice_t){b, 0, (uint32_t)len, TE_BUFFER_DATA};
    in->n_recovered++;
    return TE_OK;
}

/* Hands the next recovered slice to its deserializer. 1 when one was set. */
static int replay_recovered(te_stream_task_network_input_t *in)
{
    for (uint32_t f = 0; in->n_recovered > 0 && f < in->n_channels; f++) {
        if (in->recovered[f].buf == NULL)
            continue;
        record_deserializer_set_next(in->des[f], in->recovered[f]);
        in->recovered[f].buf = NULL;
        in->n_recovered--;
        in->current = f;
        return 1;
    }
    return 0;
}

uint32_t stream_task_network_input_num_channels(const te_stream_task_network_input_t *in)
{
    return in->n_channels;
}

void stream_task_network_input_block_channel(te_stream_task_network_input_t *in, uint32_t flat)
{
    for (size_t g = 0; g < in->n_gates; g++) {
        uint32_t nc = input_gate_num_channels(in->gates[g].gate);
        if (flat >= in->gates[g].base && flat < in->gates[g].base + nc) {
            input_gate_block_channel(in->gates[g].gate, flat - in->gates[g].base);
            return;
        }
    }
}

void stream_task_network_input_resume_all(te_stream_task_network_input_t *in)
{
    for (size_t g = 0; g < in->n_gates; g++)
        input_gate_resume_channels(in->gates[g].gate);
}

/* Tells the aligner about channels of gate gi that delivered EndOfPartition since the
 * last look (they count as having delivered every barrier). */
static te_status_t pass_finished(te_stream_task_network_input_t *in, size_t gi, te_error_t *err)
{
    input_gate_state_t *g = &in->gates[gi];
    if (in->aligner == NULL || input_gate_num_finished(g->gate) == g->n_finished_seen)
        return TE_OK;
    g->n_finished_seen = input_gate_num_finished(g->gate);
    for (uint32_t c = 0; c < input_gate_num_channels(g->gate); c++)
        if (input_gate_channel_finished(g->gate, c)) {
            te_status_t st = barrier_aligner_on_channel_finished(in->aligner, g->base + c, err);
            if (st != TE_OK)
                return st;
        }
    return TE_OK;
}

static te_status_t handle_event(te_stream_task_network_input_t *in, size_t gi, const te_gate_element_t *el,
                                te_error_t *err)
{
    in->progress++;
    if (in->aligner == NULL)
        return TE_OK;
    uint32_t f = in->gates[gi].base + el->channel;
    switch (el->event.type) {
    case TE_EVENT_CHECKPOINT_BARRIER: {
        if (!el->event.priority || !in->unaligned)
            return barrier_aligner_on_barrier(in->aligner, f, el->event.checkpoint_id, el->event.timestamp, err);
        in->ovt_pending = 1;
        in->ovt_gate = gi;
        in->ovt_ch = el->channel;
        in->ovt_id = el->event.checkpoint_id;
        te_status_t st =
            barrier_aligner_on_barrier(in->aligner, f, el->event.checkpoint_id, el->event.timestamp, err);
        stream_task_network_input_flush_overtaken(in); /* when the aligner did not complete it */
        return st;
    }
    case TE_EVENT_CANCEL_CHECKPOINT_MARKER:
        barrier_aligner_on_cancel_marker(in->aligner, f, el->event.checkpoint_id);
        return TE_OK;
    default: return TE_OK;
    }
}

/* Takes one announced priority event (an unaligned barrier) ahead of data.
 * *got = 1 when one was handled. */
static te_status_t poll_priority(te_stream_task_network_input_t *in, int *got, te_error_t *err)
{
    *got = 0;
    for (size_t gi = 0; gi < in->n_gates; gi++) {
        input_gate_state_t *g = &in->gates[gi];
        if (g->ended || !input_gate_has_priority(g->gate))
            continue;
        te_gate_element_t el;
        te_gate_result_t r = input_gate_poll_priority(g->gate, &el);
        te_status_t fs = pass_finished(in, gi, err);
        if (fs != TE_OK)
            return fs;
        if (r == TE_GATE_EVENT) {
            *got = 1;
            return handle_event(in, gi, &el, err);
        }
        if (r == TE_GATE_ERROR) {
            const char *why = input_gate_failure(g->gate);
            return te_error_set(err, TE_EIO, "input gate %zu failed: %s", gi, why ? why : "unknown error");
        }
    }
    return TE_OK;
}

/* Polls the live gates round robin once each. Returns the gate result of the first
 * gate that had something (BUFFER sets in->current), or NOTHING / END. */
static te_status_t poll_gates(te_stream_task_network_input_t *in, te_gate_result_t *res, te_error_t *err)
{
    for (size_t k = 0; k < in->n_gates; k++) {
        size_t gi = (in->next_gate + k) % in->n_gates;
        input_gate_state_t *g = &in->gates[gi];
        if (g->ended)
            continue;
        te_gate_element_t el;
        te_gate_result_t r = input_gate_poll_next(g->gate, &el);
        if (r != TE_GATE_ERROR) {
            te_status_t fs = pass_finished(in, gi, err);
            if (fs != TE_OK) {
                if (r == TE_GATE_BUFFER)
                    buffer_recycle(el.slice.buf);
                return fs;
            }
        }
        switch (r) {
        case TE_GATE_NOTHING: continue;
        case TE_GATE_BUFFER: {
            if (el.channel >= input_gate_num_channels(g->gate)) {
                buffer_recycle(el.slice.buf);
                return te_error_set(err, TE_EINTERNAL, "gate %zu returned channel %u out of range", gi,
                                    el.channel);
            }
            uint32_t f = g->base + el.channel;
            if (in->metrics)
                task_metrics_add(&in->metrics->num_bytes_in, el.slice.len);
            if (in->unaligned && barrier_aligner_is_recording(in->aligner, f)) {
                sink_ctx_t c = {in, barrier_aligner_pending(in->aligner), f};
                sink_bytes(&c, el.slice.buf->data + el.slice.offset, el.slice.len);
            }
            record_deserializer_set_next(in->des[f], el.slice);
            in->current = f;
            in->next_gate = (gi + 1) % in->n_gates;
            *res = r;
            return TE_OK;
        }
        case TE_GATE_EVENT: {
            /* barriers / cancel markers: the CheckpointedInputGate's handler */
            in->next_gate = (gi + 1) % in->n_gates;
            *res = r;
            return handle_event(in, gi, &el, err);
        }
        case TE_GATE_END:
            for (uint32_t c = 0; c < input_gate_num_channels(g->gate); c++)
                if (record_deserializer_has_partial(in->des[g->base + c]))
                    return te_error_set(err, TE_EPROTO, "input channel %u of gate %zu ended inside a record", c,
                                        gi);
            g->ended = 1;
            in->n_ended++;
            *res = r;
            return TE_OK;
        case TE_GATE_ERROR:
        default: {
            const char *why = input_gate_failure(g->gate);
            return te_error_set(err, TE_EIO, "input gate %zu failed: %s", gi, why ? why : "unknown error");
        }
        }
    }
    *res = in->n_ended == in->n_gates ? TE_GATE_END : TE_GATE_NOTHING;
    return TE_OK;
}

/* A text head's per-record case: a record without timestamp holding a text row
 * (operator_chain.h's), read as the text in one step. 1 with *text set; 0 for any other
 * element, which goes the general way (stream_element_record_view, then
 * operator_chain_text_view). */
static TE_ALWAYS_INLINE int text_element(const uint8_t *data, uint32_t len, te_record_t *text)
{
    if (TE_UNLIKELY(len < 1 + TEXT_ROW_PREFIX || data[0] != TE_SE_RECORD))
        return 0;
    uint64_t hdr, slot;
    memcpy(&hdr, data + 1, 8);
    memcpy(&slot, data + 1 + TE_ROW_HEADER, 8);
    if (TE_UNLIKELY(hdr != TEXT_ROW_HEADER || slot != text_row_slot(len - 1 - TEXT_ROW_PREFIX)))
        return 0;
    text->data = data + 1 + TEXT_ROW_PREFIX;
    text->len = len - 1 - TEXT_ROW_PREFIX;
    text->timestamp = TE_NO_TIMESTAMP;
    return 1;
}

/* The head's process_element on one record, and what its failure makes of the chain. */
static TE_ALWAYS_INLINE te_status_t head_call(te_stream_task_network_input_t *in, const te_chain_head_t *h,
                                              int input, const te_record_t *rec, te_error_t *err)
{
    int rc = h->process_element(h->self, input, rec, h->out);
    if (TE_UNLIKELY(rc != 0 || atomic_load_explicit(h->failed, memory_order_relaxed)))
        return operator_chain_head_failed(in->chain, rc, err);
    return TE_OK;
}

/* Processes the elements of the current channel's slice until *done reaches stop or the
 * slice is used up (in->current = -1): the per-record loop, with the deserializer's and
 * the record view's fast paths inline. */
static TE_NOINLINE te_status_t drain_current(te_stream_task_network_input_t *in, uint32_t stop, uint32_t *done,
                                             uint64_t *records, te_error_t *err)
{
    uint32_t ch = (uint32_t)in->current;
    te_record_deserializer_t *d = in->des[ch];
    int input = in->ch_input[ch];
    const te_chain_head_t *h = &in->head;
    uint32_t n = *done;
    uint64_t recs = 0;
    te_status_t st = TE_OK;
    const int text_fast = h->text_input && h->process_element != NULL;
    while (n < stop) {
        const uint8_t *data;
        uint32_t len;
        te_des_result_t r = record_deserializer_next(d, &data, &len);
        if (TE_UNLIKELY(r != TE_DES_RECORD)) {
            if (r == TE_DES_ERROR)
                st = te_error_set(err, TE_EPROTO, "corrupt record length on input channel %u", ch);
            else
                in->current = -1; /* NEED_MORE */
            break;
        }
        te_record_t rec;
        if (text_fast && TE_LIKELY(text_element(data, len, &rec))) {
            recs++;
            st = head_call(in, h, input, &rec, err);
        } else if (TE_LIKELY(stream_element_record_view(data, len, &rec.data, &rec.len, &rec.timestamp))) {
            recs++;
            if (TE_LIKELY(h->process_element != NULL)) {
                te_record_t text;
                const te_record_t *r = TE_LIKELY(!h->text_input) ? &rec : operator_chain_text_view(&rec, &text);
                st = head_call(in, h, input, r, err);
            } else {
                st = operator_chain_process_element(in->chain, input, &rec, err);
            }
        } else {
            st = dispatch_other(in, ch, data, len, err);
        }
        if (TE_UNLIKELY(st != TE_OK))
            break;
        n++;
    }
    *done = n;
    *records += recs;
    if (recs > 0 && h->process_element != NULL) /* operator_chain_process_element counts its own */
        operator_chain_head_count(in->chain, recs);
    return st;
}

static te_status_t input_emit_next(te_stream_task_network_input_t *in, uint32_t budget, te_input_status_t *status,
                                   uint64_t *records, te_error_t *err)
{
    uint32_t done = 0;
    *status = TE_INPUT_MORE;
    while (done < budget) {
        if (in->unaligned && (in->current < 0 || (done & 15) == 0)) {
            int got = 0;
            te_status_t st = poll_priority(in, &got, err);
            if (st != TE_OK)
                return st;
            if (got) {
                done++;
                continue;
            }
        }
        if (in->current >= 0) {
            /* with unaligned checkpoints, priority events are looked at every 16 elements */
            uint32_t stop = in->unaligned && (done | 15) + 1 < budget ? (done | 15) + 1 : budget;
            te_status_t st = drain_current(in, stop, &done, records, err);
            if (st != TE_OK)
                return st;
            if (in->current >= 0)
                continue; /* stopped at `stop` */
        }
        if (in->n_recovered > 0 && replay_recovered(in))
            continue; /* recovered state before anything from the gates */
        if (in->n_ended == in->n_gates) {
            *status = TE_INPUT_END;
            return TE_OK;
        }
        te_gate_result_t res = TE_GATE_NOTHING;
        te_status_t st = poll_gates(in, &res, err);
        if (st != TE_OK)
            return st;
        if (res == TE_GATE_NOTHING) {
            *status = TE_INPUT_NOTHING;
            return TE_OK;
        }
        if (res == TE_GATE_END && in->n_ended == in->n_gates) {
            *status = TE_INPUT_END;
            return TE_OK;
        }
        if (res == TE_GATE_EVENT)
            done++;
    }
    return TE_OK;
}

te_status_t stream_task_network_input_emit_next(te_stream_task_network_input_t *in, uint32_t budget,
                                                te_input_status_t *status, te_error_t *err)
{
    uint64_t records = 0;
    te_status_t st = input_emit_next(in, budget, status, &records, err);
    if (records > 0 && in->metrics)
        task_metrics_add(&in->metrics->num_records_in, records);
    return st;
}

uint64_t stream_task_network_input_progress(const te_stream_task_network_input_t *in) { return in->progress; }

uint32_t stream_task_network_input_num_queued(te_stream_task_network_input_t *in)
{
    uint32_t n = 0;
    for (size_t g = 0; g < in->n_gates; g++)
        if (!in->gates[g].ended)
            n += input_gate_num_queued(in->gates[g].gate);
    return n;
}

uint32_t stream_task_network_input_num_blocked_with_data(te_stream_task_network_input_t *in)
{
    uint32_t n = 0;
    for (size_t g = 0; g < in->n_gates; g++)
        if (!in->gates[g].ended)
            n += input_gate_num_blocked_with_data(in->gates[g].gate);
    return n;
}

int64_t stream_task_network_input_pending_deadline_ms(te_stream_task_network_input_t *in)
{
    int64_t best = -1;
    for (size_t g = 0; g < in->n_gates; g++) {
        if (in->gates[g].ended)
            continue;
        int64_t d = input_gate_pending_deadline_ms(in->gates[g].gate);
        if (d >= 0 && (best < 0 || d < best))
            best = d;
    }
    return best;
}

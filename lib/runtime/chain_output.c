/*
 * chain_output — the Outputs of an operator chain (see operator_chain.h): elements an
 * operator emits go to the next operator (ChainingOutput), or at the tail to the record
 * writers as a stream-element header + the payload (RecordWriterOutput; several writers
 * through a BroadcastingOutputCollector, side outputs to the writers of their tag).
 *
 * The per-record path: api emit -> emit_from -> (next operator's process_element, or)
 * record_writer_emit on the chain's one main-output writer when it has exactly one,
 * which is the common case, without matching writer tags; when that writer sends every
 * record to channel 0 and the stream is active (fixed_writer), straight into its open
 * buffer. Every step is a tail call with no stack frame. Counters are single-writer
 * (task_metrics_add).
 *
 * Threading: as operator_chain.c — the task thread, or the source thread of a blocking
 * source holding head_emit_lock (taken here around each emit of operator 0).
 */
#include <stdio.h>
#include <string.h>

#include "common/compiler.h"
#include "runtime/operator_chain_internal.h"
#include "runtime/stream_element.h"

/* The side-output tag of writer w, or NULL for a main-output writer. */
static const char *writer_tag(const te_operator_chain_t *c, size_t w)
{
    const char *t = c->cfg.writer_tags ? c->cfg.writer_tags[w] : NULL;
    return t && t[0] ? t : NULL;
}

/* main_writer: the only writer when it has no side-output tag (records then skip the
 * tag match); fixed_writer: that writer while every record goes to its channel 0 and
 * the stream is active. */
void chain_set_main_writer(te_operator_chain_t *c)
{
    c->main_writer = c->cfg.n_writers == 1 && writer_tag(c, 0) == NULL ? c->cfg.writers[0] : NULL;
    c->fixed_writer = c->main_writer != NULL && !c->out_idle && record_writer_fixed_channel(c->main_writer) == 0
                          ? c->main_writer
                          : NULL;
}

static int writer_failed(te_operator_chain_t *c, size_t w, te_status_t st)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "record writer %zu failed: %s", w, te_status_name(st));
    chain_fail_output(c, st, msg);
    return -1;
}

/* RecordWriterOutput (+ BroadcastingOutputCollector over several writers). Records go
 * to the writers of `tag` (NULL = the main output); broadcast elements (watermarks,
 * stream status) go to every writer, side outputs included, as in Flink. Returns the
 * number of writers written, or -1 on failure. */
static int writers_emit_tagged(te_operator_chain_t *c, const char *tag, const uint8_t *hdr, uint32_t hdr_len,
                               const uint8_t *payload, uint32_t payload_len, int broadcast)
{
    int written = 0;
    for (size_t w = 0; w < c->cfg.n_writers; w++) {
        if (!broadcast) {
            const char *wt = writer_tag(c, w);
            if (tag == NULL ? wt != NULL : (wt == NULL || strcmp(wt, tag) != 0))
                continue;
        }
        written++;
        te_status_t st = broadcast
                             ? record_writer_broadcast_emit(c->cfg.writers[w], hdr, hdr_len, payload, payload_len)
                             : record_writer_emit(c->cfg.writers[w], hdr, hdr_len, payload, payload_len);
        if (st != TE_OK)
            return writer_failed(c, w, st);
    }
    return written;
}

static int writers_emit(te_operator_chain_t *c, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *payload,
                        uint32_t payload_len, int broadcast)
{
    return writers_emit_tagged(c, NULL, hdr, hdr_len, payload, payload_len, broadcast) < 0 ? -1 : 0;
}

static int emit_from(te_operator_chain_t *c, size_t i, const te_record_t *rec);

/* A record into operator j (input 0/1 of a two-input head). Inline: the per-record
 * path of operator_chain_process_element and of ChainingOutput. is_text (a constant):
 * rec is already what a v1/v2 operator j reads (another v1/v2 operator's text). */
static TE_ALWAYS_INLINE int push_element(te_operator_chain_t *c, size_t j, int input, const te_record_t *rec,
                                         int is_text)
{
    te_operator_ctx_t *x = &c->ctx[j];
    task_metrics_add(&x->records_in, 1);
    te_record_t tmp;
    if (!is_text && TE_UNLIKELY(x->legacy) && (rec = chain_rows_to_text(x, input, rec, &tmp)) == NULL)
        return -1; /* a v1/v2 operator reads the row as text */
    if (TE_UNLIKELY(x->process_element == NULL))
        return emit_from(c, j, rec); /* no callback: pass through */
    int rc = x->process_element(x->self, input, rec, &c->out[j]);
    if (TE_UNLIKELY(rc != 0)) {
        chain_fail_op(c, j, "process_element failed");
        return -1;
    }
    return atomic_load_explicit(&c->failed, memory_order_relaxed) ? -1 : 0;
}

/* The tail's record to the writers, but for emit_tail's fast case: several writers,
 * none (a sink: dropped and counted), an idle stream status to end first, a record the
 * writer's inline path does not take. */
static TE_NOINLINE int emit_to_writers(te_operator_chain_t *c, const te_record_t *rec)
{
    if (c->cfg.n_writers == 0) {
        task_metrics_add(&c->dropped, 1);
        return 0;
    }
    if (c->out_idle && chain_set_status(c, 0) != 0)
        return -1;
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_record_header(hdr, rec->timestamp);
    int rc;
    if (c->main_writer != NULL) {
        te_status_t st = record_writer_emit(c->main_writer, hdr, hl, rec->data, rec->len);
        rc = st == TE_OK ? 0 : writer_failed(c, 0, st);
    } else {
        rc = writers_emit(c, hdr, hl, rec->data, rec->len, 0);
    }
    if (rc == 0)
        task_metrics_add(c->num_records_out, 1);
    return rc;
}

/* The tail's record through a main writer whose selector picks each record's channel
 * (rebalance, hash): the channel, then its open buffer inline. */
static TE_NOINLINE int emit_selected(te_operator_chain_t *c, const te_record_t *rec)
{
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_record_header(hdr, rec->timestamp);
    te_status_t st = record_writer_emit(c->main_writer, hdr, hl, rec->data, rec->len);
    if (TE_UNLIKELY(st != TE_OK))
        return writer_failed(c, 0, st);
    task_metrics_add(c->num_records_out, 1);
    return 0;
}

/* rec with its stream-element header (and row prefix) hdr into channel 0's open buffer
 * of the fixed writer w, counted: 1, or 0 when that buffer does not take it. */
static TE_ALWAYS_INLINE int tail_write_open(te_operator_chain_t *c, te_record_writer_t *w, const uint8_t *hdr,
                                            uint32_t hdr_len, const te_record_t *rec)
{
    if (!record_writer_write_open(w, 0, hdr, hdr_len, rec->data, rec->len, 0, 0))
        return 0;
    task_metrics_add(c->num_records_out, 1);
    return 1;
}

/* The tail operator's record (RecordWriterOutput). The common case — one main-output
 * writer sending every record to one channel, whose open buffer takes it inline — makes
 * no call, so it needs no stack frame; everything else is a tail call. */
static TE_NOINLINE int emit_tail(te_operator_chain_t *c, const te_record_t *rec)
{
    te_record_writer_t *w = c->fixed_writer;
    if (TE_LIKELY(w != NULL)) {
        int done;
        if (rec->timestamp == TE_NO_TIMESTAMP) { /* the header length a constant for the inline writer */
            static const uint8_t hdr = TE_SE_RECORD;
            done = tail_write_open(c, w, &hdr, 1, rec);
        } else {
            uint8_t hdr[TE_SE_MAX_HEADER];
            done = tail_write_open(c, w, hdr, stream_element_record_header(hdr, rec->timestamp), rec);
        }
        if (TE_LIKELY(done))
            return 0;
    } else if (c->main_writer != NULL && !c->out_idle) { /* a selected or round-robin channel */
        return emit_selected(c, rec);
    }
    return emit_to_writers(c, rec);
}

/* ChainingOutput: into operator j's process_element. */
static TE_NOINLINE int emit_chained(te_operator_chain_t *c, size_t j, const te_record_t *rec)
{
    return push_element(c, j, 0, rec, 0);
}

/* Operator i's row to what follows it: the next operator or the writers. */
static int emit_row(te_operator_chain_t *c, size_t i, const te_record_t *rec)
{
    if (i + 1 < c->n)
        return emit_chained(c, i + 1, rec);
    return emit_tail(c, rec);
}

/* Operator i's record that is not yet a row of its output's field count — a v1/v2
 * operator's text (wrapped into a row) or a row of another field count (which fails
 * the operator): through chain_rows_emitted, then emitted. */
static TE_NOINLINE int emit_unshaped(te_operator_chain_t *c, size_t i, const te_record_t *rec)
{
    te_record_t tmp;
    if ((rec = chain_rows_emitted(&c->ctx[i], NULL, rec, &tmp)) == NULL)
        return -1;
    return emit_row(c, i, rec);
}

/* The header and string slot of the text row (operator_chain.h) a v1/v2 operator's text
 * record is wrapped into, so that the tail writes that row without building it. */
static inline void text_row_prefix(uint8_t *p, uint32_t len)
{
    uint64_t hdr = TEXT_ROW_HEADER, slot = text_row_slot(len);
    memcpy(p, &hdr, 8);
    memcpy(p + 8, &slot, 8);
}

/* A v1/v2 operator i's text record: to a v1/v2 operator after it as it is (it would read
 * the row it is wrapped into back as the same text); otherwise wrapped into a row
 * (chain_rows_emitted) and emitted as one. */
static TE_NOINLINE int emit_text_wrapped(te_operator_chain_t *c, size_t i, const te_record_t *rec)
{
    if (i + 1 < c->n && c->ctx[i + 1].legacy && c->ctx[i + 1].in_text[0])
        return push_element(c, i + 1, 0, rec, 1);
    return emit_unshaped(c, i, rec);
}

/* A v1/v2 operator i's text record with a timestamp, or one emit_text's case did not
 * take: at the tail, a small one for one fixed channel whose open buffer takes it is
 * written as its row's prefix + the text; everything else is wrapped. */
static TE_NOINLINE int emit_text_other(te_operator_chain_t *c, size_t i, const te_record_t *rec)
{
    te_record_writer_t *w = c->fixed_writer;
    if (i + 1 == c->n && w != NULL && rec->timestamp != TE_NO_TIMESTAMP) {
        uint8_t hdr[TE_SE_MAX_HEADER + TEXT_ROW_PREFIX];
        uint32_t hl = stream_element_record_header(hdr, rec->timestamp);
        text_row_prefix(hdr + hl, rec->len);
        if (tail_write_open(c, w, hdr, hl + TEXT_ROW_PREFIX, rec))
            return 0;
    }
    return emit_text_wrapped(c, i, rec);
}

/* A v1/v2 operator i's text record. At the tail, a small one without timestamp for one
 * fixed channel whose open buffer takes it is written as its row's prefix + the text,
 * without building the row and without a call (the timestamped case is out of line: its
 * header of variable length made this path longer); everything else is a tail call. */
static TE_NOINLINE int emit_text(te_operator_chain_t *c, size_t i, const te_record_t *rec)
{
    te_record_writer_t *w = c->fixed_writer;
    if (TE_LIKELY(i + 1 == c->n && w != NULL && rec->timestamp == TE_NO_TIMESTAMP)) {
        uint8_t hdr[1 + TEXT_ROW_PREFIX];
        hdr[0] = TE_SE_RECORD;
        text_row_prefix(hdr + 1, rec->len);
        if (TE_LIKELY(tail_write_open(c, w, hdr, sizeof(hdr), rec)))
            return 0;
    }
    return emit_text_other(c, i, rec);
}

/* Operator i's record to what follows it: the next operator (ChainingOutput) or the
 * writers (RecordWriterOutput), or dropped and counted at a sink. Every way on is a
 * tail call, so the per-record path sets up no stack frame here. */
static int emit_from(te_operator_chain_t *c, size_t i, const te_record_t *rec)
{
    if (TE_UNLIKELY(atomic_load_explicit(&c->failed, memory_order_relaxed) || chain_cancelled(c)))
        return -1;
    const te_operator_ctx_t *x = &c->ctx[i];
    if (TE_UNLIKELY(x->legacy))
        return emit_text(c, i, rec);
    if (TE_UNLIKELY(rec->len < TE_ROW_HEADER || rec->data[0] != x->out_fields))
        return emit_unshaped(c, i, rec);
    return emit_row(c, i, rec);
}

/* The chain's failure after the head failed (or a cancelled pass-through). */
static te_status_t head_failure(te_operator_chain_t *c, te_error_t *err)
{
    te_status_t st = operator_chain_failure(c, err);
    if (st == TE_OK && chain_cancelled(c))
        return te_error_set(err, TE_ECANCELED, "task cancelled");
    return st;
}

te_status_t operator_chain_process_element(te_operator_chain_t *c, int input, const te_record_t *rec,
                                           te_error_t *err)
{
    if (TE_LIKELY(push_element(c, 0, input, rec, 0) == 0))
        return TE_OK;
    return head_failure(c, err);
}

void operator_chain_head(te_operator_chain_t *c, te_chain_head_t *h)
{
    /* a v1/v2 head reads the string of one-string-field rows (the caller takes the view
     * inline); rows of other schemas go through operator_chain_process_element (text) */
    const te_operator_ctx_t *x = &c->ctx[0];
    h->text_input = x->legacy && x->in_text[0] && (x->cfg->def->kind != TE_OP_TWO_INPUT || x->in_text[1]);
    h->process_element = !x->legacy || h->text_input ? x->process_element : NULL;
    h->self = c->ctx[0].self;
    h->out = &c->out[0];
    h->failed = &c->failed;
}

void operator_chain_head_count(te_operator_chain_t *c, uint64_t records)
{
    task_metrics_add(&c->ctx[0].records_in, records);
}

te_status_t operator_chain_head_failed(te_operator_chain_t *c, int rc, te_error_t *err)
{
    if (rc != 0)
        chain_fail_op(c, 0, "process_element failed");
    return head_failure(c, err);
}

int chain_emit_watermark_from(te_operator_chain_t *c, size_t i, int64_t wm)
{
    if (atomic_load(&c->failed) || chain_cancelled(c))
        return -1;
    if (i + 1 < c->n)
        return chain_push_watermark(c, i + 1, wm);
    if (c->cfg.n_writers == 0)
        return 0;
    if (c->out_idle && chain_set_status(c, 0) != 0)
        return -1;
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_watermark_header(hdr, wm);
    return writers_emit(c, hdr, hl, NULL, 0, 1);
}

int chain_set_status(te_operator_chain_t *c, int idle)
{
    if (c->out_idle == idle || c->cfg.n_writers == 0)
        return 0;
    c->out_idle = idle;
    chain_set_main_writer(c);
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_status_header(hdr, idle);
    return writers_emit(c, hdr, hl, NULL, 0, 1);
}

int chain_push_watermark(te_operator_chain_t *c, size_t j, int64_t wm)
{
    te_operator_ctx_t *x = &c->ctx[j];
    if (wm <= x->current_wm)
        return 0; /* watermarks only advance */
    x->current_wm = wm;
    if (chain_fire_timers(c, j, TE_TIMER_EVENT, wm) != 0)
        return -1;
    if (x->cfg->def->process_watermark == NULL)
        return chain_emit_watermark_from(c, j, wm);
    if (x->cfg->def->process_watermark(x->self, wm, &c->out[j]) != 0) {
        chain_fail_op(c, j, "process_watermark failed");
        return -1;
    }
    return atomic_load(&c->failed) ? -1 : 0;
}

static TE_NOINLINE int emit_locked(te_output_t *out, const te_record_t *rec)
{
    pthread_mutex_lock(out->lock);
    int rc = emit_from(out->chain, out->from, rec);
    pthread_mutex_unlock(out->lock);
    return rc;
}

int chain_api_emit(te_output_t *out, const te_record_t *rec)
{
    if (TE_LIKELY(out->lock == NULL))
        return emit_from(out->chain, out->from, rec);
    return emit_locked(out, rec);
}

/* A side output: the record goes to the writers whose edge carries `tag` (from any
 * operator of the chain); a tag with no edge is dropped and counted. */
static int side_emit(te_operator_chain_t *c, size_t from, const char *tag, const te_record_t *rec)
{
    if (atomic_load(&c->failed) || chain_cancelled(c))
        return -1;
    if (tag == NULL || tag[0] == '\0') {
        task_metrics_add(&c->side_dropped, 1);
        return 0;
    }
    te_record_t tmp;
    if ((rec = chain_rows_emitted(&c->ctx[from], tag, rec, &tmp)) == NULL)
        return -1;
    if (c->out_idle && chain_set_status(c, 0) != 0)
        return -1;
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_record_header(hdr, rec->timestamp);
    int n = writers_emit_tagged(c, tag, hdr, hl, rec->data, rec->len, 0);
    if (n < 0)
        return -1;
    if (n == 0)
        task_metrics_add(&c->side_dropped, 1);
    else
        task_metrics_add(c->num_records_out, 1);
    return 0;
}

int chain_api_emit_side(te_output_t *out, const char *tag, const te_record_t *rec)
{
    if (out->lock == NULL)
        return side_emit(out->chain, out->from, tag, rec);
    pthread_mutex_lock(out->lock);
    int rc = side_emit(out->chain, out->from, tag, rec);
    pthread_mutex_unlock(out->lock);
    return rc;
}

int chain_api_emit_watermark(te_output_t *out, int64_t wm)
{
    if (out->lock == NULL)
        return chain_emit_watermark_from(out->chain, out->from, wm);
    pthread_mutex_lock(out->lock);
    int rc = chain_emit_watermark_from(out->chain, out->from, wm);
    pthread_mutex_unlock(out->lock);
    return rc;
}

/*
 * watermark_valve — StatusWatermarkValve (see watermark_valve.h).
 *
 * Threading: no locks; one task thread owns a valve.
 */
#include "runtime/watermark_valve.h"

#include <stdlib.h>

typedef struct valve_channel {
    int64_t wm;
    int active;
    int aligned;
} valve_channel_t;

struct te_watermark_valve {
    uint32_t n;
    int64_t last_out;
    int idle; /* combined status */
    valve_channel_t ch[];
};

te_watermark_valve_t *watermark_valve_new(uint32_t n_channels)
{
    te_watermark_valve_t *v = calloc(1, sizeof(*v) + (size_t)n_channels * sizeof(valve_channel_t));
    if (v == NULL)
        return NULL;
    v->n = n_channels;
    v->last_out = INT64_MIN;
    for (uint32_t i = 0; i < n_channels; i++) {
        v->ch[i].wm = INT64_MIN;
        v->ch[i].active = 1;
        v->ch[i].aligned = 1;
    }
    return v;
}

void watermark_valve_free(te_watermark_valve_t *v) { free(v); }

/* Min over aligned channels; advances last_out. */
static int find_and_output_min(te_watermark_valve_t *v, int64_t *wm_out)
{
    int any = 0;
    int64_t min = INT64_MAX;
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->ch[i].aligned) {
            any = 1;
            if (v->ch[i].wm < min)
                min = v->ch[i].wm;
        }
    }
    if (any && min > v->last_out) {
        v->last_out = min;
        *wm_out = min;
        return TE_VALVE_WATERMARK;
    }
    return 0;
}

int watermark_valve_input_watermark(te_watermark_valve_t *v, uint32_t ch, int64_t wm, int64_t *wm_out)
{
    if (ch >= v->n || !v->ch[ch].active)
        return 0;
    valve_channel_t *c = &v->ch[ch];
    if (wm <= c->wm)
        return 0;
    c->wm = wm;
    if (!c->aligned && wm >= v->last_out)
        c->aligned = 1;
    return find_and_output_min(v, wm_out);
}

int watermark_valve_input_status(te_watermark_valve_t *v, uint32_t ch, int idle, int64_t *wm_out)
{
    if (ch >= v->n)
        return 0;
    valve_channel_t *c = &v->ch[ch];
    int flags = 0;
    if (idle && c->active) {
        c->active = 0;
        c->aligned = 0;
        int all_idle = 1;
        for (uint32_t i = 0; i < v->n; i++)
            if (v->ch[i].active)
                all_idle = 0;
        if (all_idle) {
            /* flush the max watermark over all channels, then go idle */
            int64_t max = INT64_MIN;
            for (uint32_t i = 0; i < v->n; i++)
                if (v->ch[i].wm > max)
                    max = v->ch[i].wm;
            if (max > v->last_out) {
                v->last_out = max;
                *wm_out = max;
                flags |= TE_VALVE_WATERMARK;
            }
            if (!v->idle) {
                v->idle = 1;
                flags |= TE_VALVE_STATUS_IDLE;
            }
        } else {
            flags |= find_and_output_min(v, wm_out);
        }
    } else if (!idle && !c->active) {
        c->active = 1;
        if (c->wm >= v->last_out)
            c->aligned = 1;
        if (v->idle) {
            v->idle = 0;
            flags |= TE_VALVE_STATUS_ACTIVE;
        }
    }
    return flags;
}

int64_t watermark_valve_current(const te_watermark_valve_t *v) { return v->last_out; }

int watermark_valve_is_idle(const te_watermark_valve_t *v) { return v->idle; }

/*
 * watermark_valve — Flink's StatusWatermarkValve: merges the watermarks and stream
 * statuses of the input channels of a task into one watermark and one status.
 *
 * The combined watermark is the minimum over the ACTIVE channels that are aligned (an
 * active channel whose watermark is below the last combined watermark — e.g. one that
 * just came back from idle — does not hold the output back until it catches up). An
 * IDLE channel never holds the watermark back. When every channel is idle the valve
 * reports IDLE (and first flushes the maximum watermark over all channels, as Flink
 * does); when one becomes active again it reports ACTIVE. The combined watermark only
 * advances.
 *
 * Threading: owned by one task thread.
 */
#ifndef TE_WATERMARK_VALVE_H
#define TE_WATERMARK_VALVE_H

#include <stdint.h>

typedef struct te_watermark_valve te_watermark_valve_t;

/* What an input produced (bit flags). */
#define TE_VALVE_WATERMARK     1 /* *wm_out holds a new combined watermark */
#define TE_VALVE_STATUS_IDLE   2 /* the combined status became IDLE */
#define TE_VALVE_STATUS_ACTIVE 4 /* the combined status became ACTIVE */

te_watermark_valve_t *watermark_valve_new(uint32_t n_channels);
void watermark_valve_free(te_watermark_valve_t *v);

/* A watermark from channel ch. Returns flags (0 or TE_VALVE_WATERMARK). */
int watermark_valve_input_watermark(te_watermark_valve_t *v, uint32_t ch, int64_t wm, int64_t *wm_out);
/* A stream status from channel ch. Returns flags. */
int watermark_valve_input_status(te_watermark_valve_t *v, uint32_t ch, int idle, int64_t *wm_out);

/* The last combined watermark (INT64_MIN before the first). */
int64_t watermark_valve_current(const te_watermark_valve_t *v);
int watermark_valve_is_idle(const te_watermark_valve_t *v);

#endif

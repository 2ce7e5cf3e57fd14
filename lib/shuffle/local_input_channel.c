/*
 * local_input_channel — reads subpartition `sub` of a partition of this daemon
 * directly (no copy): request = partition_manager_create_view; when the partition is
 * not registered yet, a registration listener is armed and the gate is told to retry
 * the request when it fires (the gate owns the timeout).
 *
 * Threading: request / poll / failure / release on the consuming task thread. The
 * view listeners (producer or releasing thread) and the registration listener (the
 * registering thread) only call input_gate_notify_channel_available / _priority (the gate's queue
 * mutex) and touch the atomic `armed`. release() disarms both (view detach and
 * partition_manager_cancel_listener wait for callbacks in progress), so no callback
 * runs after it returns.
 */
#include "shuffle/local_input_channel.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct te_local_input_channel {
    te_input_gate_t *gate;
    uint32_t index;
    te_partition_manager_t *pm;
    te_id_t pid;
    uint32_t sub;
    te_subpartition_view_t *view;
    _Atomic int armed;    /* registration listener armed */
    int ever_armed;       /* task thread only */
    uint32_t buffer_size; /* debloating's size, 0 = none (task thread) */
};

static void lic_on_data(void *arg)
{
    te_local_input_channel_t *c = arg;
    input_gate_notify_channel_available(c->gate, c->index);
}

static void lic_on_priority(void *arg)
{
    te_local_input_channel_t *c = arg;
    input_gate_notify_priority(c->gate, c->index);
}

static void lic_on_registered(void *arg)
{
    te_local_input_channel_t *c = arg;
    atomic_store(&c->armed, 0);
    input_gate_notify_channel_available(c->gate, c->index);
}

te_local_input_channel_t *local_input_channel_new(te_input_gate_t *gate, uint32_t index,
                                                  te_partition_manager_t *pm, const te_id_t *partition_id,
                                                  uint32_t sub)
{
    te_local_input_channel_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->gate = gate;
    c->index = index;
    c->pm = pm;
    c->pid = *partition_id;
    c->sub = sub;
    atomic_init(&c->armed, 0);
    return c;
}

static te_status_t lic_request(void *ch, te_error_t *err)
{
    te_local_input_channel_t *c = ch;
    if (c->view != NULL)
        return TE_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        te_error_t e;
        te_error_clear(&e);
        te_notifier_t on_data = {lic_on_data, c};
        c->view = partition_manager_create_view(c->pm, &c->pid, c->sub, on_data, &e);
        if (c->view != NULL) {
            subpartition_view_set_priority_listener(c->view, (te_notifier_t){lic_on_priority, c});
            if (c->buffer_size > 0)
                subpartition_view_set_buffer_size(c->view, c->buffer_size);
            /* The listener fires on transitions only: data queued before now needs a nudge. */
            if (subpartition_view_is_available(c->view))
                input_gate_notify_channel_available(c->gate, c->index);
            return TE_OK;
        }
        if (e.code != TE_ENOTFOUND)
            return te_error_set(err, e.code, "%s", e.msg);
        if (atomic_load(&c->armed))
            return TE_EAGAIN;
        atomic_store(&c->armed, 1);
        c->ever_armed = 1;
        te_notifier_t on_reg = {lic_on_registered, c};
        if (partition_manager_notify_when_registered(c->pm, &c->pid, on_reg) == 0)
            return TE_EAGAIN;
        /* Registered in between (the listener already fired): try once more. */
    }
    return TE_EAGAIN;
}

static int lic_poll(void *ch, te_buffer_slice_t *out)
{
    te_local_input_channel_t *c = ch;
    if (c->view == NULL)
        return 0;
    return subpartition_view_poll(c->view, out, NULL);
}

static int lic_poll_priority(void *ch, te_buffer_slice_t *out)
{
    te_local_input_channel_t *c = ch;
    if (c->view == NULL)
        return 0;
    return subpartition_view_poll_priority(c->view, out);
}

static int lic_has_data(void *ch)
{
    te_local_input_channel_t *c = ch;
    return c->view != NULL && subpartition_view_is_available(c->view);
}

static int lic_failure(void *ch, char *cause, size_t len)
{
    te_local_input_channel_t *c = ch;
    if (c->view == NULL)
        return 0;
    return subpartition_view_failure(c->view, cause, len);
}

static void lic_release(void *ch)
{
    te_local_input_channel_t *c = ch;
    if (c == NULL)
        return;
    /* Disarms, and waits out a registration callback in progress. */
    if (c->ever_armed)
        partition_manager_cancel_listener(c->pm, (te_notifier_t){lic_on_registered, c});
    subpartition_view_release(c->view);
    free(c);
}

static int lic_describe(void *ch, char *buf, size_t len)
{
    te_local_input_channel_t *c = ch;
    char hex[TE_ID_HEX_LEN + 1];
    snprintf(buf, len, "partition %s subpartition %u", te_id_to_hex(&c->pid, hex), c->sub);
    return 1;
}

/* Buffer debloating: the producer is in this daemon, its subpartition is told at once
 * (and when the view is made, if later). */
static void lic_set_buffer_size(void *ch, uint32_t size)
{
    te_local_input_channel_t *c = ch;
    c->buffer_size = size;
    if (c->view != NULL)
        subpartition_view_set_buffer_size(c->view, size);
}

/* Buffer debloating counts the buffers queued in the subpartition (as Flink's
 * LocalInputChannel does): the finished ones and the one being filled. */
static uint32_t lic_buffers_in_use(void *ch)
{
    te_local_input_channel_t *c = ch;
    return c->view != NULL ? subpartition_view_backlog(c->view) + 1 : 0;
}

const te_input_channel_ops_t local_input_channel_ops = {
    .request = lic_request,
    .poll = lic_poll,
    .failure = lic_failure,
    .release = lic_release,
    .poll_priority = lic_poll_priority,
    .describe = lic_describe,
    .has_data = lic_has_data,
    .set_buffer_size = lic_set_buffer_size,
    .buffers_in_use = lic_buffers_in_use,
};

te_status_t local_input_channel_attach(te_input_gate_t *gate, uint32_t index, te_partition_manager_t *pm,
                                       const te_id_t *partition_id, uint32_t sub, te_error_t *err)
{
    te_local_input_channel_t *c = local_input_channel_new(gate, index, pm, partition_id, sub);
    if (c == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    te_status_t st = input_gate_set_channel(gate, index, &local_input_channel_ops, c, err);
    if (st != TE_OK)
        lic_release(c);
    return st;
}

/*
 * state_gate — one checkpoint's hold on the task's writes into its RocksDB instance.
 *
 * An incremental checkpoint's synchronous part copies what the state caches hold dirty
 * (state_batch.h) instead of writing it back; its asynchronous part writes that batch,
 * then switches the memtables (rocksdb_capture.h), then opens the gate. Until then the
 * task must not write into the instance (a write after the barrier would land before
 * the switch, and an older value of the batch after a newer one of the task): a cache
 * waits for the gate before any write-back. Opened failed (the batch not written, the
 * checkpoint declined or dropped), the caches mark what they captured dirty again.
 *
 * Threading: any thread; the first open wins. Reference counted: the caches that
 * captured into the batch and the checkpoint's part each hold one. Lock: the gate's
 * mutex, a leaf.
 */
#ifndef TE_STATE_GATE_H
#define TE_STATE_GATE_H

typedef struct te_state_gate te_state_gate_t;

/* A closed gate with one reference. NULL when out of memory. */
te_state_gate_t *state_gate_new(void);
te_state_gate_t *state_gate_ref(te_state_gate_t *g);
/* Drops a reference; the last frees. NULL is a no-op. */
void state_gate_unref(te_state_gate_t *g);
/* Opens it: ok 1 = the batch is in the instance and the memtables are switched; 0 =
 * it is not. Later calls do nothing. */
void state_gate_open(te_state_gate_t *g, int ok);
/* Waits until it is open: 1 opened ok, 0 opened failed. */
int state_gate_wait(te_state_gate_t *g);

#endif

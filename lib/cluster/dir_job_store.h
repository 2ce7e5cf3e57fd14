/*
 * dir_job_store — the job store in a directory (jobmanager.store.dir): job <id> is the
 * file <dir>/<id>.json, written as <dir>/.<id>.json.tmp, fsync'd, renamed over the old
 * one and the directory fsync'd, on an io_worker thread, so the event loop never waits
 * on the disk. Leftover temporary files (a crash mid-write) are deleted by load.
 *
 * Threading: as job_store.h (the event loop's thread); the file work runs on the
 * worker.
 */
#ifndef TE_DIR_JOB_STORE_H
#define TE_DIR_JOB_STORE_H

#include "cluster/job_store.h"

struct event_base;

/* Creates `dir` (and its parents) when missing; NULL + err when it cannot be created
 * or is not a writable directory. */
te_job_store_t *dir_job_store_new(struct event_base *base, const char *dir, te_error_t *err);

#endif

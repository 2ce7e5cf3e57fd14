/*
 * Unit tests: checkpoint_coordinator (the state machine tectl drives: acks from every
 * task complete a checkpoint, a decline / timeout / a task that ended abort it, events
 * for unknown checkpoints or tasks are ignored, a newer completion subsumes older
 * pending ones) and checkpoint_metadata (write / read / list round trip, retention,
 * and corruption: a truncated _metadata is skipped when listing and picking the
 * latest). Expected values are written out here, not computed by the code under test.
 *
 * Threading: single-threaded; files go to a mkdtemp directory removed at the end.
 */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobmaster/checkpoint_coordinator.h"
#include "jobmaster/checkpoint_metadata.h"
#include "common/log.h"

/* ---- coordinator -------------------------------------------------------------- */

static te_ckpt_handle_t handle(const char *path, uint64_t size, uint32_t subtask, uint32_t par)
{
    static uint32_t kgs[2] = {3, 4};
    te_ckpt_handle_t h = {.path = (char *)path,
                          .size = size,
                          .key_groups = kgs,
                          .n_key_groups = 2,
                          .subtask_index = subtask,
                          .parallelism = par};
    return h;
}

START_TEST(test_acks_complete)
{
    te_error_t err = {0};
    te_ckpt_coord_t *c = checkpoint_coordinator_new(3, 1000, 1, 5, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 100, 1700000000000LL), 5);
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 101, 0), 0); /* one at a time */
    te_ckpt_handle_t h0 = handle("/x/a-0", 10, 0, 3), h1 = handle("/x/a-1", 20, 1, 3),
                     h2 = handle("/x/a-2", 30, 2, 3);
    checkpoint_coordinator_ack_metrics(c, 5, 3000000, 100, 40);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 5, 1, &h1, 1, 20, 110), TE_CKPT_ACKED);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 5, 1, &h1, 1, 20, 111), TE_CKPT_IGNORED); /* duplicate */
    checkpoint_coordinator_ack_metrics(c, 5, 7000000, 0, 5);
    checkpoint_coordinator_ack_metrics(c, 9, 9000000, 999, 999); /* not pending: ignored */
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 5, 0, &h0, 1, 10, 120), TE_CKPT_ACKED);
    checkpoint_coordinator_ack_metrics(c, 5, 1000000, 23, 7);
    ck_assert_ptr_null(checkpoint_coordinator_completed(c));
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 5, 2, &h2, 1, 30, 150), TE_CKPT_COMPLETED);
    const te_ckpt_checkpoint_t *cp = checkpoint_coordinator_completed(c);
    ck_assert_ptr_nonnull(cp);
    ck_assert_uint_eq(cp->id, 5);
    ck_assert_int_eq(cp->complete_ms - cp->trigger_ms, 50);
    ck_assert_int_eq(cp->timestamp_ms, 1700000000000LL);
    ck_assert_uint_eq(cp->state_size, 60);
    ck_assert_uint_eq(cp->alignment_ns_max, 7000000); /* the longest of the tasks' */
    ck_assert_uint_eq(cp->inflight_bytes, 123);       /* the sum */
    ck_assert_uint_eq(cp->start_delay_ms_max, 40);
    ck_assert_uint_eq(cp->tasks[2].n_handles, 1);
    ck_assert_str_eq(cp->tasks[2].handles[0].path, "/x/a-2");
    ck_assert_uint_eq(cp->tasks[2].handles[0].key_groups[1], 4);
    ck_assert_ptr_ne(cp->tasks[2].handles[0].path, h2.path); /* copied */
    ck_assert_uint_eq(checkpoint_coordinator_n_pending(c), 0);
    /* acks for the completed checkpoint are ignored; the next one gets id 6 */
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 5, 0, &h0, 1, 10, 160), TE_CKPT_IGNORED);
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 200, 0), 6);
    checkpoint_coordinator_free(c);
}
END_TEST

START_TEST(test_decline_aborts)
{
    te_ckpt_coord_t *c = checkpoint_coordinator_new(2, 1000, 1, 1, NULL);
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 0, 0), 1);
    te_ckpt_handle_t h = handle("/p", 1, 0, 2);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 1, 0, &h, 1, 1, 5), TE_CKPT_ACKED);
    ck_assert_int_eq(checkpoint_coordinator_decline(c, 1, 1, "disk full"), TE_CKPT_ABORTED);
    ck_assert_ptr_nonnull(strstr(checkpoint_coordinator_abort_cause(c), "disk full"));
    ck_assert_uint_eq(checkpoint_coordinator_n_pending(c), 0);
    /* the late ack of the aborted checkpoint, a second decline: ignored */
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 1, 1, &h, 1, 1, 6), TE_CKPT_IGNORED);
    ck_assert_int_eq(checkpoint_coordinator_decline(c, 1, 0, "again"), TE_CKPT_IGNORED);
    ck_assert_ptr_null(checkpoint_coordinator_completed(c));
    /* ids are not reused */
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 10, 0), 2);
    checkpoint_coordinator_free(c);
}
END_TEST

START_TEST(test_timeout)
{
    te_ckpt_coord_t *c = checkpoint_coordinator_new(2, 100, 1, 1, NULL);
    ck_assert_int_eq(checkpoint_coordinator_next_deadline(c), -1);
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 1000, 0), 1);
    ck_assert_int_eq(checkpoint_coordinator_next_deadline(c), 1100);
    ck_assert_uint_eq(checkpoint_coordinator_expire(c, 1099), 0);
    te_ckpt_handle_t h = handle("/p", 1, 0, 2);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 1, 0, &h, 1, 1, 1050), TE_CKPT_ACKED);
    ck_assert_uint_eq(checkpoint_coordinator_expire(c, 1100), 1);
    ck_assert_ptr_nonnull(strstr(checkpoint_coordinator_abort_cause(c), "1 of 2"));
    ck_assert_uint_eq(checkpoint_coordinator_expire(c, 5000), 0);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 1, 1, &h, 1, 1, 1101), TE_CKPT_IGNORED);
    ck_assert_uint_eq(checkpoint_coordinator_n_pending(c), 0);
    checkpoint_coordinator_free(c);
}
END_TEST

START_TEST(test_unknown_ignored)
{
    te_ckpt_coord_t *c = checkpoint_coordinator_new(2, 1000, 1, 1, NULL);
    te_ckpt_handle_t h = handle("/p", 1, 0, 2);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 1, 0, &h, 1, 1, 0), TE_CKPT_IGNORED); /* nothing triggered */
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 0, 0), 1);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 7, 0, &h, 1, 1, 0), TE_CKPT_IGNORED); /* unknown checkpoint */
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 1, 2, &h, 1, 1, 0), TE_CKPT_IGNORED); /* unknown task */
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 1, 99, &h, 1, 1, 0), TE_CKPT_IGNORED);
    ck_assert_int_eq(checkpoint_coordinator_decline(c, 7, 0, "x"), TE_CKPT_IGNORED);
    ck_assert_int_eq(checkpoint_coordinator_decline(c, 1, 5, "x"), TE_CKPT_IGNORED);
    ck_assert_uint_eq(checkpoint_coordinator_n_pending(c), 1);
    /* ack without handles (a stateless task) counts */
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 1, 0, NULL, 0, 0, 1), TE_CKPT_ACKED);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 1, 1, NULL, 0, 0, 2), TE_CKPT_COMPLETED);
    checkpoint_coordinator_free(c);
    te_error_t err = {0};
    ck_assert_ptr_null(checkpoint_coordinator_new(0, 1000, 1, 1, &err));
    ck_assert_int_eq(err.code, TE_EINVAL);
    ck_assert_ptr_null(checkpoint_coordinator_new(2, 0, 1, 1, NULL));
}
END_TEST

START_TEST(test_newer_supersedes)
{
    te_ckpt_coord_t *c = checkpoint_coordinator_new(2, 1000, 3, 10, NULL);
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 0, 0), 10);
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 1, 0), 11);
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 2, 0), 12);
    ck_assert_uint_eq(checkpoint_coordinator_trigger(c, 3, 0), 0);
    ck_assert_uint_eq(checkpoint_coordinator_pending_id(c, 0), 10);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 10, 0, NULL, 0, 0, 4), TE_CKPT_ACKED);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 11, 0, NULL, 0, 0, 4), TE_CKPT_ACKED);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 11, 1, NULL, 0, 0, 5), TE_CKPT_COMPLETED);
    ck_assert_uint_eq(checkpoint_coordinator_completed(c)->id, 11);
    ck_assert_uint_eq(checkpoint_coordinator_n_subsumed(c), 1); /* 10 dropped */
    ck_assert_uint_eq(checkpoint_coordinator_n_pending(c), 1);  /* 12 stays */
    ck_assert_uint_eq(checkpoint_coordinator_pending_id(c, 0), 12);
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 10, 1, NULL, 0, 0, 6), TE_CKPT_IGNORED);
    /* a task that ended aborts what it has not acknowledged */
    ck_assert_int_eq(checkpoint_coordinator_ack(c, 12, 0, NULL, 0, 0, 7), TE_CKPT_ACKED);
    ck_assert_uint_eq(checkpoint_coordinator_task_gone(c, 0), 0); /* acked already */
    ck_assert_uint_eq(checkpoint_coordinator_task_gone(c, 1), 12);
    ck_assert_uint_eq(checkpoint_coordinator_n_pending(c), 0);
    ck_assert_uint_eq(checkpoint_coordinator_completed(c)->id, 11);
    checkpoint_coordinator_free(c);
}
END_TEST

/* ---- metadata ------------------------------------------------------------------ */

static char g_tmp[256];

static void tmp_setup(void)
{
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/te-ckpt-unit.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_tmp));
}

static void tmp_teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *JOB = "0123456789abcdef0123456789abcdef";
static const char *GRAPH = "{\"name\":\"wc\",\"vertices\":[{\"id\":\"count\",\"parallelism\":2,"
                           "\"chain\":[{\"op\":\"keyed_count\"}]}]}";

/* A metadata record with one vertex of two handles; fields chosen by hand. */
static te_ckpt_metadata_t *sample(uint64_t id)
{
    static uint32_t kg0[] = {0, 1, 2}, kg1[] = {3, 4};
    te_ckpt_metadata_t *m = calloc(1, sizeof(*m));
    m->job_id = strdup(JOB);
    m->job_name = strdup("wc");
    m->job_graph = strdup(GRAPH);
    m->max_parallelism = 5;
    m->checkpoint_id = id;
    m->timestamp_ms = 1700000000123LL;
    m->duration_ms = 42;
    m->state_size = 300;
    m->n_vertices = 1;
    m->vertices = calloc(1, sizeof(*m->vertices));
    m->vertices[0].id = strdup("count");
    m->vertices[0].vertex_id = strdup("ffffffffffffffffffffffffffffffff");
    m->vertices[0].parallelism = 2;
    m->vertices[0].n_handles = 2;
    m->vertices[0].handles = calloc(2, sizeof(te_ckpt_handle_t));
    te_ckpt_handle_t h0 = {.path = (char *)"/c/chk/v-0",
                           .size = 100,
                           .key_groups = kg0,
                           .n_key_groups = 3,
                           .subtask_index = 0,
                           .parallelism = 2},
                     h1 = {.path = (char *)"/c/chk/v-1",
                           .size = 200,
                           .key_groups = kg1,
                           .n_key_groups = 2,
                           .subtask_index = 1,
                           .parallelism = 2};
    ck_assert_int_eq(checkpoint_metadata_handle_copy(&m->vertices[0].handles[0], &h0, NULL), TE_OK);
    ck_assert_int_eq(checkpoint_metadata_handle_copy(&m->vertices[0].handles[1], &h1, NULL), TE_OK);
    return m;
}

static char *job_dir(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", g_tmp, JOB);
    return buf;
}

static void write_sample(uint64_t id)
{
    char jd[512];
    te_error_t err = {0};
    te_ckpt_metadata_t *m = sample(id);
    ck_assert_msg(checkpoint_metadata_write(m, job_dir(jd, sizeof(jd)), &err) == TE_OK, "%s", err.msg);
    checkpoint_metadata_free(m);
}

START_TEST(test_metadata_round_trip)
{
    char jd[512], chk[600];
    te_error_t err = {0};
    write_sample(7);
    snprintf(chk, sizeof(chk), "%s/chk-7", job_dir(jd, sizeof(jd)));
    te_ckpt_metadata_t *m = checkpoint_metadata_read(chk, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_str_eq(m->job_id, JOB);
    ck_assert_str_eq(m->job_name, "wc");
    ck_assert_uint_eq(m->checkpoint_id, 7);
    ck_assert_uint_eq(m->max_parallelism, 5);
    ck_assert_int_eq(m->timestamp_ms, 1700000000123LL);
    ck_assert_int_eq(m->duration_ms, 42);
    ck_assert_uint_eq(m->state_size, 300);
    ck_assert_ptr_nonnull(strstr(m->job_graph, "\"keyed_count\""));
    ck_assert_uint_eq(m->n_vertices, 1);
    ck_assert_str_eq(m->vertices[0].id, "count");
    ck_assert_uint_eq(m->vertices[0].n_handles, 2);
    ck_assert_str_eq(m->vertices[0].handles[1].path, "/c/chk/v-1");
    ck_assert_uint_eq(m->vertices[0].handles[1].size, 200);
    ck_assert_uint_eq(m->vertices[0].handles[1].subtask_index, 1);
    ck_assert_uint_eq(m->vertices[0].handles[1].parallelism, 2);
    ck_assert_uint_eq(m->vertices[0].handles[0].n_key_groups, 3);
    ck_assert_uint_eq(m->vertices[0].handles[0].key_groups[2], 2);
    ck_assert_str_eq(m->dir, chk);
    checkpoint_metadata_free(m);
    /* no temp file left behind */
    char tmp[700];
    snprintf(tmp, sizeof(tmp), "%s/._metadata.tmp.%ld", chk, (long)getpid());
    ck_assert_int_ne(access(tmp, F_OK), 0);
    /* resolve: the chk dir itself, or the job dir -> its latest */
    write_sample(9);
    m = checkpoint_metadata_resolve(chk, &err);
    ck_assert_uint_eq(m->checkpoint_id, 7);
    checkpoint_metadata_free(m);
    m = checkpoint_metadata_resolve(jd, &err);
    ck_assert_uint_eq(m->checkpoint_id, 9);
    checkpoint_metadata_free(m);
    ck_assert_ptr_null(checkpoint_metadata_resolve("/nonexistent/te-ckpt", &err));
    ck_assert_int_eq(err.code, TE_ENOTFOUND);
}
END_TEST

START_TEST(test_metadata_list_and_retain)
{
    char jd[512], dir[600];
    te_error_t err = {0};
    job_dir(jd, sizeof(jd));
    for (uint64_t id = 1; id <= 5; id++)
        write_sample(id);
    /* an in-progress checkpoint (no _metadata) is not listed */
    snprintf(dir, sizeof(dir), "%s/chk-6", jd);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_uint_eq(checkpoint_metadata_max_id(jd), 6);
    te_ckpt_metadata_t **list;
    size_t n;
    ck_assert_int_eq(checkpoint_metadata_list(jd, &list, &n, &err), TE_OK);
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(list[i]->checkpoint_id, i + 1);
    checkpoint_metadata_list_free(list, n);
    ck_assert_int_eq(checkpoint_metadata_list_root(g_tmp, NULL, &list, &n, &err), TE_OK);
    ck_assert_uint_eq(n, 5);
    checkpoint_metadata_list_free(list, n);
    /* keep 3 (3, 4, 5) and chk-6 (newer, in progress); protect 1 */
    size_t deleted = 0;
    ck_assert_int_eq(checkpoint_metadata_retain(jd, 3, 1, &deleted, &err), TE_OK);
    ck_assert_uint_eq(deleted, 1);
    snprintf(dir, sizeof(dir), "%s/chk-2", jd);
    ck_assert_int_ne(access(dir, F_OK), 0);
    snprintf(dir, sizeof(dir), "%s/chk-1/_metadata", jd);
    ck_assert_int_eq(access(dir, F_OK), 0);
    snprintf(dir, sizeof(dir), "%s/chk-6", jd);
    ck_assert_int_eq(access(dir, F_OK), 0);
    ck_assert_int_eq(checkpoint_metadata_retain(jd, 3, 0, &deleted, &err), TE_OK);
    ck_assert_uint_eq(deleted, 1);
    ck_assert_int_eq(checkpoint_metadata_list(jd, &list, &n, &err), TE_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(list[0]->checkpoint_id, 3);
    checkpoint_metadata_list_free(list, n);
}
END_TEST

START_TEST(test_metadata_truncated_skipped)
{
    char jd[512], path[700];
    te_error_t err = {0};
    job_dir(jd, sizeof(jd));
    write_sample(1);
    write_sample(2);
    /* cut chk-2/_metadata in half: the latest valid one is 1 */
    snprintf(path, sizeof(path), "%s/chk-2/_metadata", jd);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(truncate(path, sb.st_size / 2), 0);
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/chk-2", jd);
    ck_assert_ptr_null(checkpoint_metadata_read(dir, &err));
    ck_assert_int_eq(err.code, TE_EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    te_log_level_t lvl = te_log_get_level();
    te_log_set_level(TE_LOG_ERROR); /* the skip warning is expected */
    te_ckpt_metadata_t *m = checkpoint_metadata_latest(jd, &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->checkpoint_id, 1);
    checkpoint_metadata_free(m);
    te_ckpt_metadata_t **list;
    size_t n;
    ck_assert_int_eq(checkpoint_metadata_list(jd, &list, &n, &err), TE_OK);
    ck_assert_uint_eq(n, 1);
    checkpoint_metadata_list_free(list, n);
    /* valid JSON but not metadata (a field missing) is rejected too */
    FILE *f = fopen(path, "w");
    fputs("{\"format\":1,\"job_id\":\"0123456789abcdef0123456789abcdef\"}\n", f);
    fclose(f);
    ck_assert_ptr_null(checkpoint_metadata_read(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "job_name"));
    /* nothing valid at all */
    snprintf(path, sizeof(path), "%s/chk-1/_metadata", jd);
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert_ptr_null(checkpoint_metadata_latest(jd, &err));
    ck_assert_int_eq(err.code, TE_ENOTFOUND);
    te_log_set_level(lvl);
}
END_TEST

/* Replaces the first `from` in the file with `to` (same JSON shape). */
static void edit_file(const char *path, const char *from, const char *to)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *at = strstr(buf, from);
    ck_assert_ptr_nonnull(at);
    f = fopen(path, "w");
    fwrite(buf, 1, (size_t)(at - buf), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
}

START_TEST(test_metadata_checksum)
{
    char jd[512], dir[600], path[700];
    te_error_t err = {0};
    job_dir(jd, sizeof(jd));
    write_sample(1);
    write_sample(2);
    snprintf(dir, sizeof(dir), "%s/chk-2", jd);
    snprintf(path, sizeof(path), "%s/_metadata", dir);
    /* a changed value that keeps the JSON valid: the checksum no longer matches */
    edit_file(path, "\"duration_ms\": 42", "\"duration_ms\": 43");
    ck_assert_ptr_null(checkpoint_metadata_read(dir, &err));
    ck_assert_int_eq(err.code, TE_EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "checksum"));
    te_log_level_t lvl = te_log_get_level();
    te_log_set_level(TE_LOG_ERROR);
    te_ckpt_metadata_t *m = checkpoint_metadata_latest(jd, &err);
    te_log_set_level(lvl);
    ck_assert_uint_eq(m->checkpoint_id, 1);
    checkpoint_metadata_free(m);
    /* without a checksum member (written before it existed): read as it is */
    edit_file(path, "\"checksum\"", "\"no_checksum\"");
    m = checkpoint_metadata_read(dir, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_int_eq(m->duration_ms, 43);
    checkpoint_metadata_free(m);
}
END_TEST

/* Aborted and abandoned chk-<n> (no valid _metadata) go once a newer checkpoint
 * completed; sweep and discard remove them on request. */
START_TEST(test_metadata_dead_directories)
{
    char jd[512], dir[600];
    te_error_t err = {0};
    job_dir(jd, sizeof(jd));
    for (uint64_t id = 1; id <= 5; id++)
        write_sample(id);
    snprintf(dir, sizeof(dir), "%s/chk-3/_metadata", jd); /* chk-3 aborted: a snapshot, no _metadata */
    ck_assert_int_eq(unlink(dir), 0);
    snprintf(dir, sizeof(dir), "%s/chk-3/v-0", jd);
    fclose(fopen(dir, "w"));
    snprintf(dir, sizeof(dir), "%s/chk-7", jd); /* in progress */
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    size_t deleted = 0;
    ck_assert_int_eq(checkpoint_metadata_retain(jd, 3, 0, &deleted, &err), TE_OK);
    ck_assert_uint_eq(deleted, 2); /* chk-1 (older than the kept 2, 4, 5) and chk-3 */
    for (uint64_t id = 1; id <= 7; id++) {
        snprintf(dir, sizeof(dir), "%s/chk-%llu", jd, (unsigned long long)id);
        ck_assert_msg((access(dir, F_OK) == 0) == (id == 2 || id == 4 || id == 5 || id == 7), "chk-%llu",
                      (unsigned long long)id);
    }
    ck_assert_int_eq(checkpoint_metadata_sweep(jd, 1, 7, &deleted, &err), TE_OK); /* 7 not in range */
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(checkpoint_metadata_sweep(jd, 6, 8, &deleted, &err), TE_OK);
    ck_assert_uint_eq(deleted, 1);
    ck_assert_int_ne(access(dir, F_OK), 0);
    checkpoint_metadata_discard(jd, 5);
    snprintf(dir, sizeof(dir), "%s/chk-5", jd);
    ck_assert_int_ne(access(dir, F_OK), 0);
}
END_TEST

Suite *checkpoint_coordinator_suite(void)
{
    Suite *s = suite_create("checkpoint_coordinator");
    TCase *tc = tcase_create("coordinator");
    tcase_add_test(tc, test_acks_complete);
    tcase_add_test(tc, test_decline_aborts);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_unknown_ignored);
    tcase_add_test(tc, test_newer_supersedes);
    suite_add_tcase(s, tc);
    tc = tcase_create("metadata");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_metadata_round_trip);
    tcase_add_test(tc, test_metadata_checksum);
    tcase_add_test(tc, test_metadata_dead_directories);
    tcase_add_test(tc, test_metadata_list_and_retain);
    tcase_add_test(tc, test_metadata_truncated_skipped);
    suite_add_tcase(s, tc);
    return s;
}

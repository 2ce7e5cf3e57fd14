/*
 * Unit tests: the coordinator side of incremental checkpoints.
 *
 * `_metadata` keeps each handle's shared files through a write and a read (and a
 * metadata file without them, as older builds wrote, still reads, with none).
 *
 * The shared-state registry against real files in a mkdtemp directory: three
 * checkpoints sharing files; the bytes each adds are those no earlier one referred to;
 * registering a checkpoint twice counts once; unregistering the oldest deletes exactly
 * the files only it referred to; sync after retention removed a checkpoint's
 * `_metadata` unregisters it; load rebuilds the counts from a job directory (a resumed
 * job), and pruning then deletes nothing a retained checkpoint needs.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dir_util.h"
#include "jobmaster/checkpoint_metadata.h"
#include "jobmaster/shared_state_registry.h"

static char g_dir[64];

static void dir_setup(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/check_ssr.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void dir_teardown(void) { ck_assert_int_eq(dir_remove_tree(g_dir), 0); }

static char *shared_path(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/job/shared/%s", g_dir, name);
    return p;
}

static void make_file(const char *name, size_t size)
{
    char *p = shared_path(name);
    ck_assert_int_eq(dir_make_parent(p), 0);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < size; i++)
        fputc('x', f);
    fclose(f);
}

static int file_exists(const char *name) { return access(shared_path(name), F_OK) == 0; }

/* Checkpoint id with one vertex, one handle referring to the named shared files. */
static te_ckpt_metadata_t *meta(uint64_t id, const char *const *names, const size_t *sizes, size_t n)
{
    te_ckpt_metadata_t *m = calloc(1, sizeof(*m));
    m->job_id = strdup("0123456789abcdef0123456789abcdef");
    m->job_name = strdup("j");
    m->job_graph = strdup("{\"name\": \"j\"}");
    m->max_parallelism = 128;
    m->checkpoint_id = id;
    m->n_vertices = 1;
    m->vertices = calloc(1, sizeof(*m->vertices));
    m->vertices[0].id = strdup("count");
    m->vertices[0].vertex_id = strdup("ab");
    m->vertices[0].parallelism = 1;
    m->vertices[0].n_handles = 1;
    m->vertices[0].handles = calloc(1, sizeof(te_ckpt_handle_t));
    te_ckpt_handle_t *h = &m->vertices[0].handles[0];
    char p[256];
    snprintf(p, sizeof(p), "%s/job/chk-%llu/v-0", g_dir, (unsigned long long)id);
    h->path = strdup(p);
    h->size = 100;
    h->parallelism = 1;
    h->n_shared = n;
    h->shared = n ? calloc(n, sizeof(*h->shared)) : NULL;
    for (size_t i = 0; i < n; i++)
        h->shared[i] = (te_ckpt_shared_file_t){strdup(shared_path(names[i])), sizes[i]};
    return m;
}

START_TEST(test_metadata_keeps_shared_files)
{
    static const char *const names[] = {"a.sst", "b.sst"};
    static const size_t sizes[] = {10, 20};
    te_ckpt_metadata_t *m = meta(4, names, sizes, 2);
    char job[200];
    snprintf(job, sizeof(job), "%s/job", g_dir);
    te_error_t err = {0};
    ck_assert_msg(checkpoint_metadata_write(m, job, &err) == TE_OK, "%s", err.msg);
    char chk[256];
    snprintf(chk, sizeof(chk), "%s/chk-4", job);
    te_ckpt_metadata_t *r = checkpoint_metadata_read(chk, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    const te_ckpt_handle_t *h = &r->vertices[0].handles[0];
    ck_assert_uint_eq(h->n_shared, 2);
    ck_assert_str_eq(h->shared[1].path, shared_path("b.sst"));
    ck_assert_uint_eq(h->shared[1].size, 20);
    te_ckpt_handle_t copy;
    ck_assert_int_eq(checkpoint_metadata_handle_copy(&copy, h, &err), TE_OK);
    ck_assert_uint_eq(copy.n_shared, 2);
    ck_assert_str_eq(copy.shared[0].path, h->shared[0].path);
    checkpoint_metadata_handle_clear(&copy);
    checkpoint_metadata_free(r);
    /* no shared files (a full checkpoint, or an older build): none read */
    checkpoint_metadata_free(m);
    m = meta(5, NULL, NULL, 0);
    ck_assert_int_eq(checkpoint_metadata_write(m, job, &err), TE_OK);
    snprintf(chk, sizeof(chk), "%s/chk-5", job);
    r = checkpoint_metadata_read(chk, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->vertices[0].handles[0].n_shared, 0);
    checkpoint_metadata_free(r);
    checkpoint_metadata_free(m);
}
END_TEST

START_TEST(test_registry_counts_and_deletes)
{
    static const char *const n1[] = {"a.sst", "b.sst"}, *const n2[] = {"a.sst", "b.sst", "c.sst"},
                             *const n3[] = {"b.sst", "c.sst", "d.sst"};
    static const size_t s1[] = {100, 200}, s2[] = {100, 200, 300}, s3[] = {200, 300, 400};
    make_file("a.sst", 100);
    make_file("b.sst", 200);
    make_file("c.sst", 300);
    make_file("d.sst", 400);
    make_file("orphan.sst", 5); /* no checkpoint refers to it: the registry leaves it alone */
    te_ckpt_metadata_t *m1 = meta(1, n1, s1, 2), *m2 = meta(2, n2, s2, 3), *m3 = meta(3, n3, s3, 3);
    te_shared_state_registry_t *r = shared_state_registry_new();
    uint64_t added;
    te_error_t err = {0};
    ck_assert_int_eq(shared_state_registry_register(r, m1, &added, &err), TE_OK);
    ck_assert_uint_eq(added, 300);
    ck_assert_int_eq(shared_state_registry_register(r, m2, &added, &err), TE_OK);
    ck_assert_uint_eq(added, 300); /* only c is new */
    ck_assert_int_eq(shared_state_registry_register(r, m2, &added, &err), TE_OK);
    ck_assert_uint_eq(added, 0); /* twice = once */
    ck_assert_uint_eq(shared_state_registry_refs(r, shared_path("a.sst")), 2);
    ck_assert_int_eq(shared_state_registry_register(r, m3, &added, &err), TE_OK);
    ck_assert_uint_eq(added, 400);
    ck_assert_uint_eq(shared_state_registry_refs(r, shared_path("b.sst")), 3);
    ck_assert_uint_eq(shared_state_registry_files(r), 4);
    ck_assert_uint_eq(shared_state_registry_bytes(r), 1000);
    /* retention drops checkpoint 1: a is still needed by 2, nothing is deleted */
    ck_assert_uint_eq(shared_state_registry_unregister(r, 1), 0);
    ck_assert(file_exists("a.sst"));
    /* then 2: a was needed by 1 and 2 only */
    ck_assert_uint_eq(shared_state_registry_unregister(r, 2), 1);
    ck_assert(!file_exists("a.sst") && file_exists("b.sst") && file_exists("c.sst") && file_exists("d.sst"));
    ck_assert_uint_eq(shared_state_registry_unregister(r, 2), 0); /* already gone */
    ck_assert(file_exists("orphan.sst"));
    /* sync: checkpoint 3's _metadata removed by retention -> its files go */
    char job[200];
    snprintf(job, sizeof(job), "%s/job", g_dir);
    ck_assert_int_eq(checkpoint_metadata_write(m3, job, &err), TE_OK);
    ck_assert_uint_eq(shared_state_registry_sync(r, job), 0); /* still there */
    char md[300];
    snprintf(md, sizeof(md), "%s/chk-3/_metadata", job);
    ck_assert_int_eq(unlink(md), 0);
    ck_assert_uint_eq(shared_state_registry_sync(r, job), 3);
    ck_assert(!file_exists("b.sst") && !file_exists("c.sst") && !file_exists("d.sst"));
    ck_assert_uint_eq(shared_state_registry_files(r), 0);
    shared_state_registry_free(r);
    checkpoint_metadata_free(m1);
    checkpoint_metadata_free(m2);
    checkpoint_metadata_free(m3);
}
END_TEST

START_TEST(test_registry_loaded_by_a_resumed_job)
{
    static const char *const n4[] = {"x.sst", "y.sst"}, *const n5[] = {"y.sst", "z.sst"};
    static const size_t s4[] = {1, 2}, s5[] = {2, 3};
    make_file("x.sst", 1);
    make_file("y.sst", 2);
    make_file("z.sst", 3);
    te_ckpt_metadata_t *m4 = meta(4, n4, s4, 2), *m5 = meta(5, n5, s5, 2);
    char job[200];
    snprintf(job, sizeof(job), "%s/job", g_dir);
    te_error_t err = {0};
    ck_assert_int_eq(checkpoint_metadata_write(m4, job, &err), TE_OK);
    ck_assert_int_eq(checkpoint_metadata_write(m5, job, &err), TE_OK);
    te_shared_state_registry_t *r = shared_state_registry_new();
    ck_assert_msg(shared_state_registry_load(r, job, &err) == TE_OK, "%s", err.msg);
    ck_assert_uint_eq(shared_state_registry_refs(r, shared_path("y.sst")), 2);
    /* retention keeps only 5 */
    ck_assert_int_eq(checkpoint_metadata_retain(job, 1, 0, NULL, &err), TE_OK);
    ck_assert_uint_eq(shared_state_registry_sync(r, job), 1);
    ck_assert(!file_exists("x.sst") && file_exists("y.sst") && file_exists("z.sst"));
    shared_state_registry_free(r);
    checkpoint_metadata_free(m4);
    checkpoint_metadata_free(m5);
}
END_TEST

Suite *shared_state_registry_suite(void)
{
    Suite *s = suite_create("shared_state_registry");
    TCase *tc = tcase_create("registry");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_metadata_keeps_shared_files);
    tcase_add_test(tc, test_registry_counts_and_deletes);
    tcase_add_test(tc, test_registry_loaded_by_a_resumed_job);
    suite_add_tcase(s, tc);
    return s;
}

/* Unit tests: path_confine (io.allowed-dirs) over a real directory tree: inside,
 * outside, not yet existing paths, "..", symlinks out of and into the allowed tree,
 * relative paths, several directories, no restriction; and the protected paths (the
 * daemon's own files): a directory entry covers everything under it (also before it
 * exists, and through symlinks), a file entry only that file. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/path_confine.h"

static char root[PATH_MAX], ok_dir[PATH_MAX + 16], other[PATH_MAX + 16];

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/te-confine-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(ok_dir, sizeof(ok_dir), "%s/ok", root);
    snprintf(other, sizeof(other), "%s/other", root);
    ck_assert_int_eq(mkdir(ok_dir, 0755), 0);
    ck_assert_int_eq(mkdir(other, 0755), 0);
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}

static int allowed(const char *list, const char *fmt, const char *a)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), fmt, a);
    te_error_t e;
    return path_confine_check(list, path, &e) == TE_OK;
}

START_TEST(test_confinement)
{
    char link_out[PATH_MAX + 32], link_in[PATH_MAX + 32];
    snprintf(link_out, sizeof(link_out), "%s/ok/escape", root);
    ck_assert_int_eq(symlink(other, link_out), 0);
    snprintf(link_in, sizeof(link_in), "%s/other/into-ok", root);
    ck_assert_int_eq(symlink(ok_dir, link_in), 0);

    ck_assert(allowed(ok_dir, "%s", ok_dir));
    ck_assert(allowed(ok_dir, "%s/file", ok_dir));
    ck_assert(allowed(ok_dir, "%s/new/deeper/file", ok_dir)); /* need not exist */
    ck_assert(!allowed(ok_dir, "%s/file", other));
    ck_assert(!allowed(ok_dir, "%s/../other/file", ok_dir));     /* existing '..' resolved */
    ck_assert(!allowed(ok_dir, "%s/new/../../other/f", ok_dir)); /* '..' after a missing part */
    ck_assert(!allowed(ok_dir, "%s/escape/file", ok_dir));       /* symlink out */
    ck_assert(allowed(ok_dir, "%s/into-ok/file", other));        /* symlink in */
    ck_assert(!allowed(ok_dir, "%sx/file", ok_dir));             /* prefix is not enough */
    char list[PATH_MAX * 3];
    snprintf(list, sizeof(list), "/nonexistent-dir, %s", other); /* several; spaces; a missing one */
    ck_assert(allowed(list, "%s/f", other));
    ck_assert(!allowed(list, "%s/f", ok_dir));
    ck_assert(allowed("", "%s", "/etc/passwd")); /* no restriction */
    ck_assert(allowed(NULL, "%s", "/etc/passwd"));
    ck_assert(allowed("/", "%s", "/etc/passwd"));

    char cwd[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(ok_dir), 0);
    ck_assert(allowed(ok_dir, "%s", "relative/file"));
    ck_assert(!allowed(ok_dir, "%s", "../other/file"));
    ck_assert_int_eq(chdir(cwd), 0);

    te_error_t e;
    char bad[PATH_MAX + 32];
    snprintf(bad, sizeof(bad), "%s/f", other);
    ck_assert_int_eq(path_confine_check(ok_dir, bad, &e), TE_EINVAL);
    ck_assert_msg(strstr(e.msg, "outside io.allowed-dirs") && strstr(e.msg, bad), "%s", e.msg);
}
END_TEST

START_TEST(test_protected)
{
    char list[PATH_MAX * 3], path[PATH_MAX * 2], link[PATH_MAX * 2];
    snprintf(list, sizeof(list), "plugins.dir=%s/ok/plugins\nsecurity.auth.token-file=%s/other/token", root, root);
    FILE *f = fopen(strcat(strcpy(path, other), "/token"), "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    te_error_t e;
    /* plugins.dir does not exist yet: still covered */
    snprintf(path, sizeof(path), "%s/ok/plugins/evil.so", root);
    ck_assert_int_eq(path_confine_check_protected(list, path, &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "is inside plugins.dir"));
    ck_assert_ptr_nonnull(strstr(e.msg, "a job may never read or write the daemon's own files"));
    snprintf(path, sizeof(path), "%s/ok/plugins", root);
    ck_assert_int_eq(path_confine_check_protected(list, path, &e), TE_EINVAL);
    snprintf(path, sizeof(path), "%s/ok/plugins2/x.so", root);
    ck_assert_int_eq(path_confine_check_protected(list, path, &e), TE_OK);
    snprintf(path, sizeof(path), "%s/ok/x/../plugins/evil.so", root);
    ck_assert_int_eq(path_confine_check_protected(list, path, &e), TE_EINVAL); /* unresolvable '..' */
    /* once it exists, a symlink into it is seen through */
    snprintf(path, sizeof(path), "%s/ok/plugins", root);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(link, sizeof(link), "%s/other/l", root);
    ck_assert_int_eq(symlink(path, link), 0);
    snprintf(path, sizeof(path), "%s/other/l/evil.so", root);
    ck_assert_int_eq(path_confine_check_protected(list, path, &e), TE_EINVAL);
    /* a file entry: that file only */
    snprintf(path, sizeof(path), "%s/other/token", root);
    ck_assert_int_eq(path_confine_check_protected(list, path, &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "is the daemon's security.auth.token-file"));
    snprintf(path, sizeof(path), "%s/other/token2", root);
    ck_assert_int_eq(path_confine_check_protected(list, path, &e), TE_OK);
    snprintf(path, sizeof(path), "%s/other/token/x", root);
    ck_assert_int_eq(path_confine_check_protected(list, path, &e), TE_OK);
    ck_assert_int_eq(path_confine_check_protected(NULL, path, &e), TE_OK);
    ck_assert_int_eq(path_confine_check_protected("", path, &e), TE_OK);
}
END_TEST

Suite *path_confine_suite(void)
{
    Suite *s = suite_create("path_confine");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_confinement);
    tcase_add_test(tc, test_protected);
    suite_add_tcase(s, tc);
    return s;
}

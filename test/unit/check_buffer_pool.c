/* Unit tests: network buffer pool (arena) and local buffer pools — exhaustion, min/max,
 * blocking requests woken by recycling or cancel, one-shot notifiers, the ENOBUFS
 * message, destroy with buffers outstanding, batch recycling (buffers of several
 * pools, shared and unpooled ones, a blocked requester woken by the batch; more pools
 * than the batch groups at once); a reservation owed by a pool that borrowed the arena
 * dry and paid back as it recycles. */
#include <check.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "shuffle/buffer.h"
#include "shuffle/local_buffer_pool.h"
#include "shuffle/network_buffer_pool.h"

#define SEG 4096

START_TEST(test_arena_basics)
{
    te_error_t err;
    te_network_buffer_pool_t *p = network_buffer_pool_new(10 * SEG + 100, SEG, &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(network_buffer_pool_total_segments(p), 10);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 10);
    ck_assert_uint_eq(network_buffer_pool_segment_size(p), SEG);
    network_buffer_pool_free(p);
    ck_assert_ptr_null(network_buffer_pool_new(100, SEG, &err));
    ck_assert_int_eq(err.code, TE_EINVAL);
}
END_TEST

START_TEST(test_exhaustion_and_max)
{
    te_error_t err;
    te_network_buffer_pool_t *p = network_buffer_pool_new(4 * SEG, SEG, &err);
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(p, "t", 2, 3, &err);
    ck_assert_ptr_nonnull(lp);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 2);
    te_buffer_t *b[4];
    for (int i = 0; i < 3; i++) {
        b[i] = local_buffer_pool_request(lp);
        ck_assert_ptr_nonnull(b[i]);
        ck_assert_uint_eq(b[i]->capacity, SEG);
        ck_assert_int_eq(atomic_load(&b[i]->refcnt), 1);
        ck_assert_uint_eq(atomic_load(&b[i]->committed), 0);
        memset(b[i]->data, i, SEG); /* the segment is writable */
    }
    /* distinct segments */
    ck_assert_ptr_ne(b[0]->data, b[1]->data);
    ck_assert_ptr_ne(b[1]->data, b[2]->data);
    ck_assert_ptr_null(local_buffer_pool_request(lp)); /* max reached although the arena has one */
    ck_assert_int_eq(local_buffer_pool_is_available(lp), 0);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 1);
    ck_assert_uint_eq(local_buffer_pool_in_use(lp), 3);
    ck_assert_uint_eq(local_buffer_pool_max(lp), 3);
    ck_assert(local_buffer_pool_usage(lp) > 0.99);

    /* a second pool can borrow the last free segment, then the arena is empty */
    te_local_buffer_pool_t *lp2 = network_buffer_pool_create_local(p, "t2", 0, 5, &err);
    ck_assert_ptr_nonnull(lp2);
    b[3] = local_buffer_pool_request(lp2);
    ck_assert_ptr_nonnull(b[3]);
    ck_assert_ptr_null(local_buffer_pool_request(lp2));
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 0);

    /* retain + recycle: only the last reference returns the segment */
    buffer_retain(b[0]);
    buffer_recycle(b[0]);
    ck_assert_ptr_null(local_buffer_pool_request(lp));
    buffer_recycle(b[0]);
    te_buffer_t *again = local_buffer_pool_request(lp);
    ck_assert_ptr_nonnull(again);
    buffer_recycle(again);
    for (int i = 1; i < 4; i++)
        buffer_recycle(b[i]);
    ck_assert_uint_eq(local_buffer_pool_in_use(lp), 0);
    /* lp keeps its reservation of 2; the borrowed segments went back */
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 2);
    local_buffer_pool_destroy(lp);
    local_buffer_pool_destroy(lp2);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 4);
    network_buffer_pool_free(p);
}
END_TEST

START_TEST(test_enobufs_message)
{
    te_error_t err;
    te_network_buffer_pool_t *p = network_buffer_pool_new(4 * SEG, SEG, &err);
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(p, "a", 3, 3, &err);
    ck_assert_ptr_nonnull(lp);
    te_error_clear(&err);
    ck_assert_ptr_null(network_buffer_pool_create_local(p, "Map (2/4)", 2, 8, &err));
    ck_assert_int_eq(err.code, TE_ENOBUFS);
    ck_assert_ptr_nonnull(strstr(err.msg, "Map (2/4)"));
    ck_assert_ptr_nonnull(strstr(err.msg, "required 2"));
    ck_assert_ptr_nonnull(strstr(err.msg, "only 1 available"));
    ck_assert_ptr_nonnull(strstr(err.msg, "currently set to 4 of 4096 bytes"));
    ck_assert_ptr_nonnull(strstr(err.msg, "'taskmanager.memory.network.size'"));
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 1); /* nothing taken */
    local_buffer_pool_destroy(lp);
    network_buffer_pool_free(p);
}
END_TEST

struct blocker {
    te_local_buffer_pool_t *lp;
    te_buffer_t *got;
    int done;
};

static void *blocking_requester(void *arg)
{
    struct blocker *bl = arg;
    bl->got = local_buffer_pool_request_blocking(bl->lp);
    __atomic_store_n(&bl->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

START_TEST(test_recycle_wakes_blocked)
{
    te_error_t err;
    te_network_buffer_pool_t *p = network_buffer_pool_new(2 * SEG, SEG, &err);
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(p, "t", 1, 1, &err);
    te_buffer_t *b = local_buffer_pool_request(lp);
    ck_assert_ptr_nonnull(b);
    struct blocker bl = {lp, NULL, 0};
    pthread_t th;
    pthread_create(&th, NULL, blocking_requester, &bl);
    usleep(50000); /* let it block (the outcome does not depend on it) */
    ck_assert_int_eq(__atomic_load_n(&bl.done, __ATOMIC_ACQUIRE), 0);
    uint8_t *seg = b->data;
    buffer_recycle(b);
    pthread_join(th, NULL);
    ck_assert_ptr_nonnull(bl.got);
    ck_assert_ptr_eq(bl.got->data, seg);
    buffer_recycle(bl.got);
    local_buffer_pool_destroy(lp);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 2);
    network_buffer_pool_free(p);
}
END_TEST

START_TEST(test_recycle_batch)
{
    te_error_t err;
    te_network_buffer_pool_t *p = network_buffer_pool_new(16 * SEG, SEG, &err);
    te_local_buffer_pool_t *a = network_buffer_pool_create_local(p, "a", 1, 6, &err);
    te_local_buffer_pool_t *b = network_buffer_pool_create_local(p, "b", 2, 4, &err);
    te_buffer_t *ab[6], *bb[2];
    for (int i = 0; i < 6; i++)
        ck_assert_ptr_nonnull(ab[i] = local_buffer_pool_request(a));
    for (int i = 0; i < 2; i++)
        ck_assert_ptr_nonnull(bb[i] = local_buffer_pool_request(b));
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 8);
    struct blocker bl = {a, NULL, 0};
    pthread_t th;
    pthread_create(&th, NULL, blocking_requester, &bl);
    usleep(50000); /* let it block (the outcome does not depend on it) */
    buffer_retain(ab[0]);
    te_buffer_t *side = buffer_new_unpooled(17);
    te_buffer_t *batch[] = {ab[0], ab[1], bb[0], side, NULL, ab[2], bb[1], ab[3]};
    buffer_recycle_batch(batch, sizeof(batch) / sizeof(batch[0]));
    pthread_join(th, NULL);
    ck_assert_ptr_nonnull(bl.got);
    ck_assert(bl.got == ab[1] || bl.got == ab[2] || bl.got == ab[3]);
    /* a: ab[0] (still referenced), ab[4], ab[5] and the requester's; b: none */
    ck_assert_uint_eq(local_buffer_pool_in_use(a), 4);
    ck_assert_uint_eq(local_buffer_pool_in_use(b), 0);
    /* kept for the waiter (a) and within b's reservation: nothing went to the arena */
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 8);
    te_buffer_t *rest[] = {ab[0], ab[4], ab[5], bl.got};
    buffer_recycle_batch(rest, 4);
    ck_assert_uint_eq(local_buffer_pool_in_use(a), 0);
    local_buffer_pool_destroy(a);
    local_buffer_pool_destroy(b);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 16);

    /* more pools in one batch than it groups at once */
    te_local_buffer_pool_t *many[11];
    te_buffer_t *one[11];
    for (int i = 0; i < 11; i++) {
        many[i] = network_buffer_pool_create_local(p, "m", 1, 1, &err);
        ck_assert_ptr_nonnull(many[i]);
        ck_assert_ptr_nonnull(one[i] = local_buffer_pool_request(many[i]));
    }
    buffer_recycle_batch(one, 11);
    for (int i = 0; i < 11; i++) {
        ck_assert_uint_eq(local_buffer_pool_in_use(many[i]), 0);
        local_buffer_pool_destroy(many[i]);
    }
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 16);
    network_buffer_pool_free(p);
}
END_TEST

START_TEST(test_cancel_wakes_blocked)
{
    te_error_t err;
    te_network_buffer_pool_t *p = network_buffer_pool_new(2 * SEG, SEG, &err);
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(p, "t", 1, 1, &err);
    te_buffer_t *b = local_buffer_pool_request(lp);
    struct blocker bl = {lp, NULL, 0};
    pthread_t th;
    pthread_create(&th, NULL, blocking_requester, &bl);
    usleep(20000);
    local_buffer_pool_cancel(lp);
    pthread_join(th, NULL);
    ck_assert_ptr_null(bl.got);
    ck_assert_ptr_null(local_buffer_pool_request_blocking(lp)); /* later ones fail at once */
    buffer_recycle(b);
    local_buffer_pool_destroy(lp);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 2);
    network_buffer_pool_free(p);
}
END_TEST

static int fired;
static void on_avail(void *arg)
{
    ck_assert_ptr_eq(arg, &fired);
    fired++;
}

START_TEST(test_notifier_one_shot)
{
    te_error_t err;
    te_network_buffer_pool_t *p = network_buffer_pool_new(2 * SEG, SEG, &err);
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(p, "t", 2, 2, &err);
    fired = 0;
    te_notifier_t n = {on_avail, &fired};
    ck_assert_int_eq(local_buffer_pool_notify_when_available(lp, n), 1); /* available: fires now */
    ck_assert_int_eq(fired, 1);
    te_buffer_t *a = local_buffer_pool_request(lp), *b = local_buffer_pool_request(lp);
    ck_assert_int_eq(local_buffer_pool_notify_when_available(lp, n), 0);
    ck_assert_int_eq(fired, 1);
    buffer_recycle(a);
    ck_assert_int_eq(fired, 2);
    a = local_buffer_pool_request(lp);
    buffer_recycle(a);
    ck_assert_int_eq(fired, 2); /* one-shot */
    buffer_recycle(b);
    ck_assert_int_eq(fired, 2);
    local_buffer_pool_destroy(lp);
    network_buffer_pool_free(p);
}
END_TEST

START_TEST(test_destroy_with_outstanding)
{
    te_error_t err;
    te_network_buffer_pool_t *p = network_buffer_pool_new(8 * SEG, SEG, &err);
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(p, "t", 3, 6, &err);
    te_buffer_t *b[5];
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(b[i] = local_buffer_pool_request(lp));
    buffer_retain(b[4]);
    local_buffer_pool_destroy(lp);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 3);
    for (int i = 0; i < 5; i++)
        buffer_recycle(b[i]);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 7);
    buffer_recycle(b[4]);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), network_buffer_pool_total_segments(p));
    network_buffer_pool_free(p);
}
END_TEST

/* A pool admitted while another borrowed the arena dry: its reservation is owed (and
 * overdrawn from the heap meanwhile, never more than owed), paid as the borrower
 * recycles (even with a waiter of its own), and borrowing stops while the arena is in
 * debt. */
START_TEST(test_reservation_owed_by_borrower)
{
    te_error_t err;
    te_network_buffer_pool_t *p = network_buffer_pool_new(8 * SEG, SEG, &err);
    te_local_buffer_pool_t *a = network_buffer_pool_create_local(p, "a", 2, 8, &err);
    te_buffer_t *ab[8];
    for (int i = 0; i < 8; i++)
        ck_assert_ptr_nonnull(ab[i] = local_buffer_pool_request(a));
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 0);
    te_local_buffer_pool_t *b = network_buffer_pool_create_local(p, "b", 3, 6, &err);
    ck_assert_ptr_nonnull(b); /* admitted: 2 + 3 reserved of 8 */
    ck_assert_uint_eq(network_buffer_pool_debt(p), 3);
    /* the arena cannot pay: up to the 3 owed segments are overdrawn from the heap */
    te_buffer_t *od[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(od[i] = local_buffer_pool_request(b));
        ck_assert_uint_eq(od[i]->capacity, SEG);
        memset(od[i]->data, 0xab, SEG);
    }
    uint32_t owed, over;
    local_buffer_pool_owed(b, &owed, &over);
    ck_assert_uint_eq(over, 3);
    ck_assert_ptr_null(local_buffer_pool_request(b));
    ck_assert_int_eq(local_buffer_pool_is_available(b), 0);
    buffer_recycle(od[0]); /* freed: another may be overdrawn */
    ck_assert_int_eq(local_buffer_pool_is_available(b), 1);
    local_buffer_pool_owed(b, &owed, &over);
    ck_assert_uint_eq(over, 2);
    buffer_recycle(od[1]);
    buffer_recycle(od[2]);
    local_buffer_pool_owed(b, &owed, &over);
    ck_assert_uint_eq(over, 0);
    ck_assert_uint_eq(owed, 3);
    te_error_clear(&err);
    ck_assert_ptr_null(network_buffer_pool_create_local(p, "c", 4, 4, &err)); /* 9 > 8 */
    ck_assert_int_eq(err.code, TE_ENOBUFS);
    ck_assert_ptr_nonnull(strstr(err.msg, "only 3 available"));
    /* a has a waiter: before, its recycled segments stayed with it; now they pay b */
    struct blocker bl = {a, NULL, 0};
    pthread_t th;
    pthread_create(&th, NULL, blocking_requester, &bl);
    te_buffer_t *bb[3];
    for (int i = 0; i < 3; i++) {
        buffer_recycle(ab[i]);
        ck_assert_ptr_nonnull(bb[i] = local_buffer_pool_request(b));
    }
    buffer_recycle(ab[3]); /* the debt is paid: this one is a's waiter's */
    pthread_join(th, NULL);
    ck_assert_ptr_eq(bl.got, ab[3]);
    ck_assert_uint_eq(network_buffer_pool_debt(p), 0);
    local_buffer_pool_owed(b, &owed, &over);
    ck_assert_uint_eq(owed, 0);
    ck_assert_uint_eq(over, 0);
    for (int i = 0; i < 3; i++)
        buffer_recycle(bb[i]);
    buffer_recycle(bl.got);
    for (int i = 4; i < 8; i++)
        buffer_recycle(ab[i]);
    local_buffer_pool_destroy(a);
    local_buffer_pool_destroy(b);
    ck_assert_uint_eq(network_buffer_pool_available_segments(p), 8);
    ck_assert_uint_eq(network_buffer_pool_debt(p), 0);
    network_buffer_pool_free(p);
}
END_TEST

START_TEST(test_unpooled)
{
    te_buffer_t *b = buffer_new_unpooled(17);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(b->owner);
    memset(b->data, 1, 17);
    buffer_retain(b);
    buffer_recycle(b);
    buffer_recycle(b); /* freed (valgrind checks) */
}
END_TEST

Suite *buffer_pool_suite(void)
{
    Suite *s = suite_create("buffer_pool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_arena_basics);
    tcase_add_test(tc, test_exhaustion_and_max);
    tcase_add_test(tc, test_enobufs_message);
    tcase_add_test(tc, test_recycle_wakes_blocked);
    tcase_add_test(tc, test_cancel_wakes_blocked);
    tcase_add_test(tc, test_notifier_one_shot);
    tcase_add_test(tc, test_destroy_with_outstanding);
    tcase_add_test(tc, test_unpooled);
    tcase_add_test(tc, test_recycle_batch);
    tcase_add_test(tc, test_reservation_owed_by_borrower);
    suite_add_tcase(s, tc);
    return s;
}

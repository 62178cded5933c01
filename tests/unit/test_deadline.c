/*
 * test_deadline.c: the monotonic clock and the request deadline
 * (IMGPROXY_TIMEOUT) helpers. Whole requests meeting their deadline, in
 * processing and in the slot queue, are in test_handler.c; the scheduler's
 * own queue and budget in test_sched.c.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "deadline.h"

static void test_start_and_left(void **state)
{
    struct deadline d;

    (void)state;
    deadline_start(&d, 5000, 1000);
    assert_int_equal(d.end_ms, 6000);
    assert_int_equal(deadline_left_ms(&d, 5000), 1000);
    assert_int_equal(deadline_left_ms(&d, 5999), 1);
    assert_int_equal(deadline_left_ms(&d, 6000), 0);
    assert_true(deadline_left_ms(&d, 7000) < 0);
    /* No deadline: zero or negative timeouts, and NULL. */
    deadline_start(&d, 5000, 0);
    assert_int_equal(deadline_left_ms(&d, 1LL << 40), LLONG_MAX);
    deadline_start(&d, 5000, -3);
    assert_int_equal(d.end_ms, 0);
    assert_int_equal(deadline_left_ms(NULL, 0), LLONG_MAX);
    assert_false(deadline_passed(NULL));
    assert_false(deadline_passed(&d));
}

static void test_passed_reads_the_clock(void **state)
{
    struct deadline d;
    long long now = deadline_now_ms();

    (void)state;
    deadline_start(&d, now, 60000);
    assert_false(deadline_passed(&d));
    deadline_start(&d, now - 10, 5);
    assert_true(deadline_passed(&d));
}

static void test_cap(void **state)
{
    struct deadline d;

    (void)state;
    deadline_start(&d, 0, 1000);
    /* The smaller of the limit and the time left. */
    assert_int_equal(deadline_cap_ms(&d, 0, 5000), 1000);
    assert_int_equal(deadline_cap_ms(&d, 600, 5000), 400);
    assert_int_equal(deadline_cap_ms(&d, 0, 300), 300);
    assert_int_equal(deadline_cap_ms(&d, 999, 300), 1);
    /* Passed: 0, never a "no timeout" for the caller to misread. */
    assert_int_equal(deadline_cap_ms(&d, 1000, 300), 0);
    assert_int_equal(deadline_cap_ms(&d, 2000, 300), 0);
    /* No limit of its own: the time left. */
    assert_int_equal(deadline_cap_ms(&d, 250, 0), 750);
    /* No deadline: the limit, or LLONG_MAX. */
    assert_int_equal(deadline_cap_ms(NULL, 0, 300), 300);
    assert_int_equal(deadline_cap_ms(NULL, 0, 0), LLONG_MAX);
}

static void test_timespec(void **state)
{
    struct deadline d;
    struct timespec ts = {7, 7};

    (void)state;
    deadline_start(&d, 12345, 1000);
    assert_true(deadline_timespec(&d, &ts));
    assert_int_equal(ts.tv_sec, 13);
    assert_int_equal(ts.tv_nsec, 345000000L);
    deadline_start(&d, 12345, 0);
    assert_false(deadline_timespec(&d, &ts));
    assert_false(deadline_timespec(NULL, &ts));
    assert_int_equal(ts.tv_sec, 13);
}

/* Microseconds and milliseconds read the same clock. */
static void test_now_us(void **state)
{
    long long ms = deadline_now_ms(), us = deadline_now_us();

    (void)state;
    assert_true(us / 1000 >= ms);
    assert_true(us / 1000 - ms < 1000);
}

/* A condition variable from deadline_cond_init() times out at a deadline_timespec(). */
static void test_cond_init(void **state)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    struct deadline d;
    struct timespec ts;
    long long t0 = deadline_now_ms();
    int rc = 0;

    (void)state;
    assert_int_equal(deadline_cond_init(&c), 0);
    deadline_start(&d, t0, 50);
    assert_true(deadline_timespec(&d, &ts));
    pthread_mutex_lock(&m);
    while (rc == 0)
        rc = pthread_cond_timedwait(&c, &m, &ts);
    pthread_mutex_unlock(&m);
    assert_int_equal(rc, ETIMEDOUT);
    assert_true(deadline_now_ms() - t0 >= 49);
    assert_true(deadline_now_ms() - t0 < 1000);
    pthread_cond_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest helpers[] = {
        cmocka_unit_test(test_start_and_left),
        cmocka_unit_test(test_passed_reads_the_clock),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_timespec),
        cmocka_unit_test(test_now_us),
        cmocka_unit_test(test_cond_init),
    };

    return cmocka_run_group_tests_name("deadline", helpers, NULL, NULL);
}

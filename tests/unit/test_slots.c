/* test_slots.c: processing slots, the bounded FIFO queue and deadlines while waiting. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "deadline.h"
#include "slots.h"

struct taker {
    struct slots *s;
    struct deadline dl;
    int got;
    long long done_ms;
    atomic_int finished;
};

static void *take(void *arg)
{
    struct taker *t = arg;

    t->got = slots_acquire(t->s, &t->dl);
    t->done_ms = deadline_now_ms();
    atomic_store(&t->finished, 1);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Waits (up to 5 s) until exactly n threads queue in s. */
static void wait_waiting(struct slots *s, int n)
{
    int waiting = -1;

    for (int i = 0; i < 500; i++) {
        slots_counts(s, NULL, &waiting);
        if (waiting == n)
            return;
        sleep_ms(10);
    }
    fail_msg("%d threads waiting, want %d", waiting, n);
}

static void test_free_slots_and_full_queue(void **state)
{
    struct slots *s = slots_new(2, 1);
    struct taker t = {.s = s};
    pthread_t th;
    int a, b, in_use, waiting;

    (void)state;
    assert_non_null(s);
    a = slots_acquire(s, NULL);
    b = slots_acquire(s, NULL);
    assert_true(a >= 0 && a < 2 && b >= 0 && b < 2 && a != b);
    /* One may wait; the next is refused at once. */
    assert_int_equal(pthread_create(&th, NULL, take, &t), 0);
    wait_waiting(s, 1);
    {
        long long t0 = deadline_now_ms();

        assert_int_equal(slots_acquire(s, NULL), SLOTS_FULL);
        assert_true(deadline_now_ms() - t0 < 100);
    }
    slots_counts(s, &in_use, &waiting);
    assert_int_equal(in_use, 2);
    assert_int_equal(waiting, 1);
    /* A release goes straight to the waiting thread. */
    slots_release(s, a);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.got, a);
    slots_counts(s, &in_use, &waiting);
    assert_int_equal(in_use, 2);
    assert_int_equal(waiting, 0);
    slots_release(s, t.got);
    slots_release(s, b);
    slots_counts(s, &in_use, NULL);
    assert_int_equal(in_use, 0);
    slots_free(s);
}

static void test_fifo_order(void **state)
{
    struct slots *s = slots_new(1, 0);
    struct taker t[3];
    pthread_t th[3];
    int held;

    (void)state;
    held = slots_acquire(s, NULL);
    assert_int_equal(held, 0);
    for (int i = 0; i < 3; i++) {
        t[i] = (struct taker){.s = s};
        assert_int_equal(pthread_create(&th[i], NULL, take, &t[i]), 0);
        wait_waiting(s, i + 1);
    }
    /* Each release serves the longest waiter, and only it. */
    for (int i = 0; i < 3; i++) {
        slots_release(s, held);
        for (int n = 0; n < 500 && !atomic_load(&t[i].finished); n++)
            sleep_ms(10);
        for (int j = 0; j < 3; j++)
            assert_int_equal(atomic_load(&t[j].finished), j <= i);
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(t[i].got, 0);
        wait_waiting(s, 2 - i);
        held = t[i].got;
    }
    slots_release(s, held);
    slots_free(s);
}

static void test_deadline_while_waiting(void **state)
{
    struct slots *s = slots_new(1, 0);
    struct taker t = {.s = s};
    pthread_t th;
    long long t0;
    int held;

    (void)state;
    held = slots_acquire(s, NULL);
    t0 = deadline_now_ms();
    deadline_start(&t.dl, t0, 200);
    assert_int_equal(pthread_create(&th, NULL, take, &t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.got, SLOTS_TIMEOUT);
    assert_true(t.done_ms - t0 >= 200);
    assert_true(t.done_ms - t0 < 1000);
    /* The timed-out waiter left the queue: the slot comes back to the free set. */
    wait_waiting(s, 0);
    slots_release(s, held);
    assert_int_equal(slots_acquire(s, &t.dl), 0); /* a free slot is taken even late */
    /* No slot free and the deadline already passed: no wait at all. */
    t0 = deadline_now_ms();
    assert_int_equal(slots_acquire(s, &t.dl), SLOTS_TIMEOUT);
    assert_true(deadline_now_ms() - t0 < 100);
    slots_release(s, 0);
    slots_free(s);
}

/* A timed-out waiter in the middle of the queue must not break the order of the others. */
static void test_timeout_in_the_middle(void **state)
{
    struct slots *s = slots_new(1, 3);
    struct taker t[3];
    pthread_t th[3];
    long long now = deadline_now_ms();
    int held = slots_acquire(s, NULL);

    (void)state;
    for (int i = 0; i < 3; i++) {
        t[i] = (struct taker){.s = s};
        if (i == 1)
            deadline_start(&t[i].dl, now, 150);
        assert_int_equal(pthread_create(&th[i], NULL, take, &t[i]), 0);
        wait_waiting(s, i + 1);
    }
    assert_int_equal(pthread_join(th[1], NULL), 0);
    assert_int_equal(t[1].got, SLOTS_TIMEOUT);
    wait_waiting(s, 2);
    slots_release(s, held);
    assert_int_equal(pthread_join(th[0], NULL), 0);
    assert_int_equal(t[0].got, 0);
    slots_release(s, t[0].got);
    assert_int_equal(pthread_join(th[2], NULL), 0);
    assert_int_equal(t[2].got, 0);
    slots_release(s, t[2].got);
    slots_free(s);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(slots_new(0, 0));
    assert_null(slots_new(1, -1));
    slots_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_slots_and_full_queue),
        cmocka_unit_test(test_fifo_order),
        cmocka_unit_test(test_deadline_while_waiting),
        cmocka_unit_test(test_timeout_in_the_middle),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests_name("slots", tests, NULL, NULL);
}

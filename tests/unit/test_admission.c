/* test_admission.c: the memory budget's decisions, waits, fairness and calibration, with threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "admission.h"
#include "config.h"
#include "process.h"
#include "scheduler.h"
#include "testutil.h"

/* A deadline ms milliseconds from now, for one call. */
#define IN_MS(ms) (&(struct deadline){deadline_now_ms() + (ms)})

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static struct admission_stats stats(struct admission *adm)
{
    struct admission_stats st;

    admission_get_stats(adm, &st);
    return st;
}

static void test_fits_and_releases(void **state)
{
    struct admission *adm = admission_new(100, 1000);
    struct admission_ticket a, b;

    (void)state;
    assert_non_null(adm);
    assert_int_equal(admission_acquire(adm, 60, 60, IN_MS(1000), &a), ADMISSION_OK);
    /* 100 - 100/16: the last 6 bytes are kept for small requests. */
    assert_int_equal(admission_acquire(adm, 34, 34, IN_MS(1000), &b), ADMISSION_OK);
    assert_int_equal(stats(adm).in_use, 94);
    assert_int_equal(stats(adm).in_flight, 2);
    admission_release(&a);
    assert_null(a.adm);
    admission_release(&a); /* a released ticket is a no-op */
    assert_int_equal(stats(adm).in_use, 34);
    admission_release(&b);
    assert_int_equal(stats(adm).in_use, 0);
    assert_int_equal(stats(adm).admitted, 2);
    assert_int_equal(stats(adm).waited, 0);
    admission_free(adm);
    admission_free(NULL);
}

/* Over the whole budget: refused at once, even with the budget empty and a long deadline. */
static void test_too_big(void **state)
{
    struct admission *adm = admission_new(100, 1000);
    struct admission_ticket t;
    long long t0 = deadline_now_ms();

    (void)state;
    assert_int_equal(admission_acquire(adm, 101, 101, &(struct deadline){t0 + 5000}, &t),
                     ADMISSION_TOO_BIG);
    assert_true(deadline_now_ms() - t0 < 100);
    assert_null(t.adm);
    assert_int_equal(stats(adm).rejected, 1);
    assert_int_equal(stats(adm).in_use, 0);
    admission_free(adm);
}

/* Does not fit until the deadline: ADMISSION_TIMEOUT after the deadline, not before. */
static void test_timeout(void **state)
{
    struct admission *adm = admission_new(100, 10000);
    struct admission_ticket hold, t;
    long long t0;

    (void)state;
    assert_int_equal(admission_acquire(adm, 80, 80, IN_MS(1000), &hold), ADMISSION_OK);
    t0 = deadline_now_ms();
    assert_int_equal(admission_acquire(adm, 30, 30, &(struct deadline){t0 + 150}, &t),
                     ADMISSION_TIMEOUT);
    assert_true(deadline_now_ms() - t0 >= 149);
    assert_true(deadline_now_ms() - t0 < 2000);
    assert_int_equal(stats(adm).timed_out, 1);
    assert_int_equal(stats(adm).waiting, 0);
    assert_int_equal(stats(adm).in_use, 80);
    /* A deadline already past: no wait at all. */
    t0 = deadline_now_ms();
    assert_int_equal(admission_acquire(adm, 30, 30, &(struct deadline){t0 - 1}, &t),
                     ADMISSION_TIMEOUT);
    admission_release(&hold);
    admission_free(adm);
}

struct waiter_arg {
    struct admission *adm;
    size_t need;
    struct deadline deadline;
    int result;
    long long admitted_at;
    struct admission_ticket t;
};

static void *waiter(void *p)
{
    struct waiter_arg *w = p;

    w->result = admission_acquire(w->adm, w->need, w->need, &w->deadline, &w->t);
    w->admitted_at = deadline_now_ms();
    return NULL;
}

static void wait_for_waiters(struct admission *adm, size_t n)
{
    for (int i = 0; i < 400 && stats(adm).waiting < n; i++)
        sleep_ms(5);
    assert_int_equal(stats(adm).waiting, n);
}

/* A thread asking adm for need bytes (5 s deadline), once it waits. */
static void start_waiter(struct waiter_arg *w, struct admission *adm, size_t need, pthread_t *th)
{
    memset(w, 0, sizeof(*w));
    w->adm = adm;
    w->need = need;
    w->result = -99;
    w->deadline = (struct deadline){deadline_now_ms() + 5000};
    assert_int_equal(pthread_create(th, NULL, waiter, w), 0);
    wait_for_waiters(adm, 1);
}

/* The waiter's thread has ended, admitted. */
static void join_admitted(struct waiter_arg *w, pthread_t th)
{
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(w->result, ADMISSION_OK);
}

/* need bytes of adm are admitted without waiting (within 100 ms). */
static void acquire_at_once(struct admission *adm, size_t need, struct admission_ticket *t)
{
    long long t0 = deadline_now_ms();

    assert_int_equal(admission_acquire(adm, need, need, IN_MS(5000), t), ADMISSION_OK);
    assert_true(deadline_now_ms() - t0 < 100);
}

/* A waiter goes as soon as enough is released. */
static void test_wait_then_admitted(void **state)
{
    struct admission *adm = admission_new(100, 10000);
    struct admission_ticket hold;
    struct waiter_arg w;
    pthread_t th;
    long long released;

    (void)state;
    assert_int_equal(admission_acquire(adm, 80, 80, IN_MS(1000), &hold), ADMISSION_OK);
    start_waiter(&w, adm, 50, &th);
    sleep_ms(50);
    released = deadline_now_ms();
    admission_release(&hold);
    pthread_join(th, NULL);
    assert_int_equal(w.result, ADMISSION_OK);
    assert_true(w.admitted_at >= released);
    assert_true(w.admitted_at - released < 1000);
    assert_true(w.t.waited);
    assert_int_equal(stats(adm).waited, 1);
    assert_int_equal(stats(adm).in_use, 50);
    admission_release(&w.t);
    admission_free(adm);
}

/* Not FIFO: a small request that fits passes a big one that waits. */
static void test_no_head_of_line(void **state)
{
    struct admission *adm = admission_new(100, 10000);
    struct admission_ticket hold, small;
    struct waiter_arg big;
    pthread_t th;

    (void)state;
    assert_int_equal(admission_acquire(adm, 50, 50, IN_MS(1000), &hold), ADMISSION_OK);
    start_waiter(&big, adm, 60, &th);
    acquire_at_once(adm, 30, &small);
    assert_false(small.waited);
    admission_release(&small);
    admission_release(&hold);
    join_admitted(&big, th);
    admission_release(&big.t);
    admission_free(adm);
}

/* ... but once the big one has waited starve_ms, nobody that would keep it out goes first. */
static void test_no_starvation(void **state)
{
    struct admission *adm = admission_new(100, 100);
    struct admission_ticket hold, small, small2;
    struct waiter_arg big;
    pthread_t th;

    (void)state;
    assert_int_equal(admission_acquire(adm, 50, 50, IN_MS(1000), &hold), ADMISSION_OK);
    start_waiter(&big, adm, 60, &th);
    sleep_ms(150); /* past starve_ms */
    /* 50 + 30 fits the budget, but 50 + 30 + 60 would leave the big one out. */
    assert_int_equal(admission_acquire(adm, 30, 30, IN_MS(100), &small), ADMISSION_TIMEOUT);
    admission_release(&hold);
    join_admitted(&big, th);
    /* With the big one running, a request that fits beside it goes at once. */
    assert_int_equal(admission_acquire(adm, 30, 30, IN_MS(100), &small2), ADMISSION_OK);
    assert_int_equal(stats(adm).in_use, 90);
    admission_release(&small2);
    admission_release(&big.t);
    assert_int_equal(stats(adm).timed_out, 1);
    admission_free(adm);
}

/* Small requests (<= budget/64) live in the reserve (budget/16) and pass a reserved waiter. */
static void test_small_requests_keep_flowing(void **state)
{
    struct admission *adm = admission_new(640, 100);
    struct admission_ticket hold, small, mid;
    struct waiter_arg big;
    pthread_t th;

    (void)state;
    /* Others may fill 600 of 640; a 20 does not fit past that, a 10 (small) does. */
    assert_int_equal(admission_acquire(adm, 590, 590, IN_MS(1000), &hold), ADMISSION_OK);
    assert_int_equal(admission_acquire(adm, 20, 20, IN_MS(50), &mid), ADMISSION_TIMEOUT);
    assert_int_equal(admission_acquire(adm, 10, 10, IN_MS(50), &small), ADMISSION_OK);
    assert_int_equal(stats(adm).in_use, 600);
    admission_release(&small);
    admission_release(&hold);

    /* A reserved big waiter blocks a 100, but not a 10. */
    assert_int_equal(admission_acquire(adm, 300, 300, IN_MS(1000), &hold), ADMISSION_OK);
    start_waiter(&big, adm, 400, &th);
    sleep_ms(150);
    assert_int_equal(admission_acquire(adm, 100, 100, IN_MS(50), &mid), ADMISSION_TIMEOUT);
    acquire_at_once(adm, 10, &small);
    admission_release(&small);
    admission_release(&hold);
    join_admitted(&big, th);
    admission_release(&big.t);
    admission_free(adm);
}

/* Many threads, random sizes: the sum in flight never passes the budget. */
struct stress_arg {
    struct admission *adm;
    unsigned seed;
    int ok, timeouts;
};

static _Atomic long stress_in_use;
static _Atomic long stress_max;

static void *stress(void *p)
{
    struct stress_arg *s = p;

    for (int i = 0; i < 200; i++) {
        struct admission_ticket t;
        size_t need = 1 + (size_t)(rand_r(&s->seed) % 60);

        if (admission_acquire(s->adm, need, need, IN_MS(2000), &t) != ADMISSION_OK) {
            s->timeouts++;
            continue;
        }
        long now = atomic_fetch_add(&stress_in_use, (long)need) + (long)need;
        long m = atomic_load(&stress_max);

        while (now > m && !atomic_compare_exchange_weak(&stress_max, &m, now))
            ;
        sleep_ms(rand_r(&s->seed) % 2);
        atomic_fetch_sub(&stress_in_use, (long)need);
        admission_release(&t);
        s->ok++;
    }
    return NULL;
}

static void test_stress_never_over(void **state)
{
    struct admission *adm = admission_new(100, 20);
    struct stress_arg args[8];
    pthread_t th[8];
    int ok = 0;

    (void)state;
    for (int i = 0; i < 8; i++) {
        args[i] = (struct stress_arg){adm, (unsigned)i * 7919u + 1, 0, 0};
        pthread_create(&th[i], NULL, stress, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
        assert_int_equal(args[i].timeouts, 0);
    }
    assert_int_equal(ok, 1600);
    assert_true(atomic_load(&stress_max) <= 100);
    assert_true(atomic_load(&stress_max) > 60); /* it did run several at once */
    assert_int_equal(stats(adm).in_use, 0);
    assert_int_equal(stats(adm).admitted, 1600);
    admission_free(adm);
}

/* A request alone is measured: 24 MB touched shows as RSS growth; overlapping ones are not. */
static void test_calibration(void **state)
{
    struct admission *adm = admission_new((size_t)1 << 30, 1000);
    struct admission_ticket a, b;
    struct admission_stats st;
    size_t n = 24u << 20;
    unsigned char *p;

    (void)state;
    assert_int_equal(admission_acquire(adm, n, n, IN_MS(1000), &a), ADMISSION_OK);
    p = malloc(n);
    assert_non_null(p);
    memset(p, 0x5a, n);
    admission_release(&a);
    free(p);
    st = stats(adm);
    assert_int_equal(st.measured, 1);
    assert_true(st.rss_bytes >= n - (1u << 20));
    assert_true(st.measured_bytes >= st.rss_bytes);
    assert_int_equal(st.estimate_bytes, n);
    assert_int_equal(st.ratio_buckets[ADMISSION_RATIO_BUCKETS], 0);

    assert_int_equal(admission_acquire(adm, 10, 10, IN_MS(1000), &a), ADMISSION_OK);
    assert_int_equal(admission_acquire(adm, 10, 10, IN_MS(1000), &b), ADMISSION_OK);
    admission_release(&a);
    admission_release(&b);
    st = stats(adm);
    assert_int_equal(st.measured, 1);
    assert_int_equal(st.unmeasured, 2);
    admission_free(adm);
}

/*
 * IMGFCGI_MEMORY_BUDGET: auto (the default) sizes a budget from the machine,
 * an explicit value wins; with 0 there is no budget, and a request holds nothing.
 */
static void test_auto_by_default(void **state)
{
    struct admission_ticket t;
    struct procopts po;
    struct errinfo e;
    struct sched_config sc;

    (void)state;
    assert_true(cfg.memory_budget < 0);
    sched_config_from(&sc, &cfg);
    assert_true(sc.memory_budget > 0);
    cfg.memory_budget = 1000;
    sched_config_from(&sc, &cfg);
    assert_int_equal(sc.memory_budget, 1000);
    cfg.memory_budget = 0;
    sched_config_from(&sc, &cfg);
    assert_int_equal(sc.memory_budget, 0);
    options_init(&po);
    err_clear(&e);
    assert_int_equal(admission_request_begin(NULL, &t, NULL, 0, IMGTYPE_JPEG, &po, NULL,
                                             IN_MS(1000), NULL, NULL, &e),
                     0);
    assert_null(t.adm);
    assert_false(admission_ticket_small(&t));
    admission_request_end(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_and_releases),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_wait_then_admitted),
        cmocka_unit_test(test_no_head_of_line),
        cmocka_unit_test(test_no_starvation),
        cmocka_unit_test(test_small_requests_keep_flowing),
        cmocka_unit_test(test_stress_never_over),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_auto_by_default),
    };

    return cmocka_run_group_tests(tests, tu_process_setup, tu_process_teardown);
}

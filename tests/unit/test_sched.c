/*
 * test_sched.c: the scheduler (scheduler.h) as the handler drives it, with
 * threads: slots and their FIFO queue, a full queue, deadlines while
 * queued, the memory ticket, and the slot given back while a request waits
 * for memory.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <vips/vips.h>

#include "config.h"
#include "process.h"
#include "scheduler.h"
#include "testutil.h"

/* A 600x400 JPEG in memory: a real header for the memory estimate. */
static void *jpeg;
static size_t jpeg_len;
static VipsImage *jpeg_hdr; /* jpeg opened, header only, as process_open() opens a source */

static int group_setup(void **state)
{
    VipsImage *x = NULL, *u8 = NULL;

    (void)state;
    if (tu_load_default_cfg() < 0 || process_global_init("test_sched") < 0)
        return -1;
    if (vips_xyz(&x, 600, 400, NULL) || vips_cast(x, &u8, VIPS_FORMAT_UCHAR, NULL) ||
        vips_jpegsave_buffer(u8, &jpeg, &jpeg_len, NULL))
        return -1;
    jpeg_hdr =
        vips_image_new_from_buffer(jpeg, jpeg_len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (jpeg_hdr == NULL)
        return -1;
    g_object_unref(x);
    g_object_unref(u8);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    g_object_unref(jpeg_hdr);
    g_free(jpeg);
    config_release(&cfg);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static struct sched *make(int slots, int queue_max, size_t budget)
{
    struct sched_config sc = {.slots = slots,
                              .queue_max = queue_max,
                              .memory_budget = budget,
                              .starve_ms = 10000,
                              .cpu_gate = false};
    struct sched *s = sched_new(&sc);

    assert_non_null(s);
    return s;
}

/* A request on s takes a slot (with_slot) and asks sched_admit() for the JPEG until d. */
static int admit_jpeg(struct sched_req *r, struct sched *s, bool with_slot,
                      const struct deadline *d, struct errinfo *e)
{
    struct procopts po;

    options_init(&po);
    err_clear(e);
    sched_req_init(r, s);
    if (with_slot)
        assert_int_equal(sched_slot_take(r, NULL), 0);
    return sched_admit(r, jpeg_hdr, jpeg_len, IMGTYPE_JPEG, &po, NULL, d, e);
}

/* Everything r holds, given back. */
static void end(struct sched_req *r)
{
    sched_admit_end(r);
    sched_slot_put(r);
}

/* Waits (up to 5 s) until s has in_use slots held and waiting requests queued for one. */
static void wait_slots(struct sched *s, int in_use, int waiting)
{
    struct sched_stats st = {0};

    for (int i = 0; i < 1000; i++) {
        sched_get_stats(s, &st);
        if (st.slots_in_use == in_use && st.slots_waiting == waiting)
            return;
        sleep_ms(5);
    }
    fail_msg("slots %d in use, %d waiting; want %d, %d", st.slots_in_use, st.slots_waiting, in_use,
             waiting);
}

/* Waits (up to 5 s) until n requests wait for memory. */
static void wait_memory_waiters(struct sched *s, size_t n)
{
    struct sched_stats st = {0};

    for (int i = 0; i < 1000; i++) {
        sched_get_stats(s, &st);
        if (st.memory.waiting == n)
            return;
        sleep_ms(5);
    }
    fail_msg("%zu requests wait for memory; want %zu", st.memory.waiting, n);
}

/* A request on a thread of its own: takes a slot (and admits, with admit), notes when. */
struct bg {
    struct sched *s;
    struct sched_req r;
    struct deadline dl;
    bool admit;
    int take_rc, admit_rc;
    int order; /* the how-manieth to get its slot */
    struct errinfo e;
    pthread_t th;
};

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static int order_next;

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    struct procopts po;

    sched_req_init(&b->r, b->s);
    err_clear(&b->e);
    b->take_rc = sched_slot_take(&b->r, &b->dl);
    pthread_mutex_lock(&order_lock);
    b->order = b->take_rc == 0 ? order_next++ : -1;
    pthread_mutex_unlock(&order_lock);
    if (b->take_rc == 0 && b->admit) {
        options_init(&po);
        b->admit_rc =
            sched_admit(&b->r, jpeg_hdr, jpeg_len, IMGTYPE_JPEG, &po, NULL, &b->dl, &b->e);
    }
    end(&b->r);
    return NULL;
}

/* A deadline ms milliseconds from now (ms <= 0: already past). */
static struct deadline in_ms(long long ms)
{
    return (struct deadline){deadline_now_ms() + ms};
}

static void bg_start(struct bg *b, struct sched *s, struct deadline dl, bool admit)
{
    memset(b, 0, sizeof(*b));
    b->s = s;
    b->admit = admit;
    b->dl = dl;
    assert_int_equal(pthread_create(&b->th, NULL, bg_main, b), 0);
}

/* Slots are handed out at once while free; each has its own fetcher. */
static void test_slots_and_fetchers(void **state)
{
    struct sched *s = make(2, 0, 0);
    struct sched_req a, b;

    (void)state;
    sched_req_init(&a, s);
    sched_req_init(&b, s);
    assert_null(sched_fetcher(&a));
    assert_int_equal(sched_slot_take(&a, NULL), 0);
    assert_int_equal(sched_slot_take(&b, NULL), 0);
    assert_non_null(sched_fetcher(&a));
    assert_non_null(sched_fetcher(&b));
    assert_ptr_not_equal(sched_fetcher(&a), sched_fetcher(&b));
    wait_slots(s, 2, 0);
    sched_slot_put(&a);
    sched_slot_put(&a); /* a slot given back is a no-op */
    assert_null(sched_fetcher(&a));
    wait_slots(s, 1, 0);
    sched_slot_put(&b);
    wait_slots(s, 0, 0);
    assert_false(sched_budget_on(s));
    sched_free(s);
    sched_free(NULL);
    assert_null(sched_new(&(struct sched_config){.slots = 0}));
    assert_null(sched_new(&(struct sched_config){.slots = 1, .queue_max = -1}));
}

/* Requests waiting for a slot get it in the order they came. */
static void test_queue_fifo(void **state)
{
    struct sched *s = make(1, 0, 0);
    struct sched_req held;
    struct bg b[4];

    (void)state;
    order_next = 0;
    sched_req_init(&held, s);
    assert_int_equal(sched_slot_take(&held, NULL), 0);
    for (int i = 0; i < 4; i++) {
        bg_start(&b[i], s, in_ms(10000), false);
        wait_slots(s, 1, i + 1);
    }
    sched_slot_put(&held);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(b[i].th, NULL), 0);
        assert_int_equal(b[i].take_rc, 0);
        assert_int_equal(b[i].order, i);
    }
    wait_slots(s, 0, 0);
    sched_free(s);
}

/* A full queue refuses at once (the handler's 429); a queued request keeps its place. */
static void test_queue_full(void **state)
{
    struct sched *s = make(1, 1, 0);
    struct sched_req held, late;
    struct bg b;
    long long t0;

    (void)state;
    sched_req_init(&held, s);
    sched_req_init(&late, s);
    assert_int_equal(sched_slot_take(&held, NULL), 0);
    bg_start(&b, s, in_ms(10000), false);
    wait_slots(s, 1, 1);
    t0 = deadline_now_ms();
    assert_int_equal(sched_slot_take(&late, NULL), SCHED_QUEUE_FULL);
    assert_true(deadline_now_ms() - t0 < 100);
    assert_null(sched_fetcher(&late));
    sched_slot_put(&late); /* nothing held: a no-op */
    sched_slot_put(&held);
    assert_int_equal(pthread_join(b.th, NULL), 0);
    assert_int_equal(b.take_rc, 0);
    wait_slots(s, 0, 0);
    sched_free(s);
}

/* The deadline passing while queued: SCHED_TIMEOUT (the handler's 503), the queue left. */
static void test_deadline_while_queued(void **state)
{
    struct sched *s = make(1, 0, 0);
    struct sched_req held;
    struct bg b;
    long long t0 = deadline_now_ms();

    (void)state;
    sched_req_init(&held, s);
    assert_int_equal(sched_slot_take(&held, NULL), 0);
    bg_start(&b, s, in_ms(150), false);
    assert_int_equal(pthread_join(b.th, NULL), 0);
    assert_int_equal(b.take_rc, SCHED_TIMEOUT);
    assert_true(deadline_now_ms() - t0 >= 149);
    wait_slots(s, 1, 0);
    /* Already past: no wait at all. */
    t0 = deadline_now_ms();
    bg_start(&b, s, in_ms(-1), false);
    assert_int_equal(pthread_join(b.th, NULL), 0);
    assert_int_equal(b.take_rc, SCHED_TIMEOUT);
    assert_true(deadline_now_ms() - t0 < 100);
    sched_slot_put(&held);
    wait_slots(s, 0, 0);
    sched_free(s);
}

/* The ticket's bytes as the budget counts them while r holds it. */
static size_t estimate_of_jpeg(void)
{
    struct sched *s = make(1, 0, (size_t)1 << 40);
    struct sched_req r;
    struct sched_stats st;
    struct errinfo e;

    assert_int_equal(admit_jpeg(&r, s, true, NULL, &e), 0);
    sched_get_stats(s, &st);
    assert_int_equal(st.memory.in_flight, 1);
    end(&r);
    sched_free(s);
    return st.memory.in_use;
}

/* The ticket is taken at admission and returned at its end; the slot is held again. */
static void test_ticket_taken_and_returned(void **state)
{
    size_t need = estimate_of_jpeg();
    struct sched *s = make(1, 0, need * 2);
    struct sched_req r;
    struct sched_stats st;
    struct errinfo e;

    (void)state;
    assert_true(need > 0);
    assert_true(sched_budget_on(s));
    assert_int_equal(admit_jpeg(&r, s, true, NULL, &e), 0);
    assert_non_null(sched_fetcher(&r));
    sched_get_stats(s, &st);
    assert_int_equal(st.memory.in_use, need);
    assert_int_equal(st.memory.admitted, 1);
    assert_int_equal(st.slots_in_use, 1);
    sched_admit_end(&r);
    sched_admit_end(&r); /* returned already: a no-op */
    sched_get_stats(s, &st);
    assert_int_equal(st.memory.in_use, 0);
    assert_int_equal(st.memory.in_flight, 0);
    assert_int_equal(st.slots_in_use, 1);
    sched_slot_put(&r);
    sched_free(s);
}

/* Over the whole budget: refused at once with a 422; past the deadline for memory: a 503. */
static void test_refused_by_budget(void **state)
{
    size_t need = estimate_of_jpeg();
    struct sched *s = make(2, 0, need * 3 / 2);
    struct sched_req r, big;
    struct deadline soon = in_ms(100);
    struct errinfo e;

    (void)state;
    assert_int_equal(admit_jpeg(&big, s, false, NULL, &e), 0);
    assert_int_equal(admit_jpeg(&r, s, true, &soon, &e), SCHED_REFUSED);
    assert_int_equal(e.code, ERR_TIMEOUT);
    assert_int_equal(e.status, 503);
    end(&r);
    end(&big);
    sched_free(s);

    s = make(1, 0, need / 2);
    assert_int_equal(admit_jpeg(&r, s, true, NULL, &e), SCHED_REFUSED);
    assert_int_equal(e.status, 422);
    end(&r);
    sched_free(s);
}

/*
 * IMGFCGI_ADMISSION_WAIT_MS: a request that does not fit gets its 503 after the
 * wait, long before its own deadline (and with no deadline at all).
 */
static void test_admission_wait_cap(void **state)
{
    size_t need = estimate_of_jpeg();
    struct sched_config sc = {
        .slots = 2, .memory_budget = need * 3 / 2, .starve_ms = 10000, .admit_wait_ms = 150};
    struct sched *s = sched_new(&sc);
    struct sched_req r, big;
    struct deadline later = in_ms(10000);
    struct errinfo e;
    long long t0;

    (void)state;
    assert_non_null(s);
    assert_int_equal(admit_jpeg(&big, s, false, NULL, &e), 0);
    for (int i = 0; i < 2; i++) {
        t0 = deadline_now_ms();
        assert_int_equal(admit_jpeg(&r, s, true, i == 0 ? &later : NULL, &e), SCHED_REFUSED);
        assert_int_equal(e.status, 503);
        assert_in_range(deadline_now_ms() - t0, 140, 2000);
        end(&r);
    }
    end(&big);
    /* With room, the cap changes nothing. */
    assert_int_equal(admit_jpeg(&r, s, true, &later, &e), 0);
    end(&r);
    sched_free(s);
}

/*
 * While a request waits for memory its slot is free for others; once the
 * memory comes, it takes a slot again before it processes.
 */
static void test_give_back_and_retake(void **state)
{
    size_t need = estimate_of_jpeg();
    struct sched *s = make(2, 0, need * 3 / 2);
    struct sched_req first, other;
    struct deadline soon;
    struct sched_stats st;
    struct errinfo e;
    struct bg b;

    (void)state;
    assert_int_equal(admit_jpeg(&first, s, true, NULL, &e), 0);
    bg_start(&b, s, in_ms(10000), true);
    wait_memory_waiters(s, 1);
    /* The waiting request gave its slot back: only `first` holds one ... */
    wait_slots(s, 1, 0);
    /* ... so another request gets a slot at once. */
    sched_req_init(&other, s);
    soon = in_ms(100);
    assert_int_equal(sched_slot_take(&other, &soon), 0);
    sched_slot_put(&other);
    /* The memory comes back: the waiter is admitted and had a slot again. */
    end(&first);
    assert_int_equal(pthread_join(b.th, NULL), 0);
    assert_int_equal(b.admit_rc, 0);
    sched_get_stats(s, &st);
    assert_int_equal(st.memory.waited, 1);
    assert_int_equal(st.memory.in_use, 0);
    assert_int_equal(st.slots_in_use, 0);
    sched_free(s);
}

/* With the budget off, admission changes nothing: the slot stays held. */
static void test_admit_without_budget(void **state)
{
    struct sched *s = make(1, 0, 0);
    struct sched_req r;
    struct procopts po;
    struct errinfo e;

    (void)state;
    options_init(&po);
    err_clear(&e);
    sched_req_init(&r, s);
    assert_int_equal(sched_slot_take(&r, NULL), 0);
    assert_int_equal(sched_admit(&r, NULL, 4, IMGTYPE_JPEG, &po, NULL, NULL, &e), 0);
    assert_int_equal(r.slot, 0);
    assert_null(r.ticket.adm);
    end(&r);
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_and_fetchers),
        cmocka_unit_test(test_queue_fifo),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_deadline_while_queued),
        cmocka_unit_test(test_ticket_taken_and_returned),
        cmocka_unit_test(test_refused_by_budget),
        cmocka_unit_test(test_admission_wait_cap),
        cmocka_unit_test(test_give_back_and_retake),
        cmocka_unit_test(test_admit_without_budget),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

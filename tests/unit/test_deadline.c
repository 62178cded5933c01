/*
 * test_deadline.c: the request deadline (IMGPROXY_TIMEOUT) and the slot queue
 * (IMGPROXY_REQUESTS_QUEUE_SIZE): the helpers, then whole requests through
 * handler_serve() with real libvips work under the real scheduler.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <vips/vips.h>

#include "config.h"
#include "deadline.h"
#include "errors.h"
#include "handler.h"
#include "process.h"
#include "scheduler.h"
#include "testutil.h"

/* ---------------------------------------------------------------- helpers */

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

/* ---------------------------------------------------------------- whole requests */

static char root[] = "/tmp/imgfcgi-deadline-XXXXXX";
static struct sched *sched; /* one slot, no queue */

/* What a request sent: bytes are counted, only the first 64 KB kept. */
struct sent {
    int status;
    size_t len;
    unsigned char head[65536];
    int aborted;
};

static int sent_head(void *ctx, int status, const struct header *h, size_t n)
{
    (void)h;
    (void)n;
    ((struct sent *)ctx)->status = status;
    return 0;
}

static int sent_body(void *ctx, const void *data, size_t len)
{
    struct sent *s = ctx;

    if (s->len < sizeof(s->head))
        memcpy(s->head + s->len, data,
               len < sizeof(s->head) - s->len ? len : sizeof(s->head) - s->len);
    s->len += len;
    return 0;
}

static void sent_abort(void *ctx)
{
    ((struct sent *)ctx)->aborted = 1;
}

/* The scheduler of the queue tests; NULL: sched. */
static struct sched *queue;

static struct sched *sched_make(int slots, int queue_max)
{
    struct sched *s = sched_new(&(struct sched_config){.slots = slots, .queue_max = queue_max});

    assert_non_null(s);
    return s;
}

/* One GET through the handler, under `queue` when it is set. Returns ms taken. */
static long long get(const char *uri, struct sent *s)
{
    struct request rq = {"GET", uri, NULL, NULL};
    struct output out = {sent_head, sent_body, sent_abort, s};
    long long t0 = deadline_now_ms();

    memset(s, 0, sizeof(*s));
    handler_serve(queue != NULL ? queue : sched, &rq, &out);
    return deadline_now_ms() - t0;
}

/* A 3000x2000 noise JPEG (blurs slowly) and a 2240x1400 gradient (encodes fast). */
static int setup(void **state)
{
    VipsImage *n = NULL, *x = NULL, *rgb = NULL, *u8 = NULL;
    char path[600];

    (void)state;
    if (tu_load_default_cfg() < 0 || mkdtemp(root) == NULL)
        return -1;
    free(cfg.local_root);
    cfg.local_root = strdup(root);
    cfg.development_errors_mode = true; /* bodies carry the detailed message */
    if (process_global_init("test_deadline") < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/noise.jpg", root);
    if (vips_gaussnoise(&n, 3000, 2000, "mean", 128.0, "sigma", 40.0, NULL) ||
        vips_cast(n, &u8, VIPS_FORMAT_UCHAR, NULL) || vips_jpegsave(u8, path, NULL))
        return -1;
    g_object_unref(u8);
    u8 = NULL;
    snprintf(path, sizeof(path), "%s/photo.jpg", root);
    if (vips_xyz(&x, 2240, 1400, NULL) || vips_bandjoin_const1(x, &rgb, 128, NULL) ||
        vips_cast(rgb, &u8, VIPS_FORMAT_UCHAR, NULL) || vips_jpegsave(u8, path, NULL))
        return -1;
    g_object_unref(n);
    g_object_unref(x);
    g_object_unref(rgb);
    g_object_unref(u8);
    sched = sched_new(&(struct sched_config){.slots = 1});
    return sched == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[600];

    (void)state;
    sched_free(sched);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        return -1;
    config_release(&cfg);
    return 0;
}

/* A blur that needs seconds meets a 1 s deadline: 503 soon after it, then normal service. */
static void test_processing_deadline(void **state)
{
    struct sent s;
    long long ms;

    (void)state;
    cfg.timeout = 1;
    ms = get("/x/bl:60/plain/local:///noise.jpg@png", &s);
    assert_int_equal(s.status, 503);
    assert_true(ms >= 1000);
    if (ms > 1500)
        fail_msg("503 after %lld ms, want within 1500", ms);
    assert_false(s.aborted);
    assert_non_null(strstr((const char *)s.head, "IMGPROXY_TIMEOUT (1 s) passed while processing"));
    ms = get("/x/rs:fit:200:200/plain/local:///photo.jpg", &s);
    assert_int_equal(s.status, 200);
    cfg.timeout = 10;
}

/* Past the deadline while the result streams: the response is aborted, not finished. */
static void test_streaming_deadline(void **state)
{
    struct sent s;
    long long ms;

    (void)state;
    cfg.timeout = 1;
    /* 8960x5600 PNG rows come out while they are computed, for several seconds. */
    ms = get("/x/rs:fill:8960:5600:1/plain/local:///photo.jpg@png", &s);
    assert_int_equal(s.status, 200);
    assert_true(s.len > 0);
    assert_true(s.aborted);
    if (ms > 1500)
        fail_msg("aborted after %lld ms, want within 1500", ms);
    cfg.timeout = 10;
}

struct bg {
    const char *uri;
    struct sent s;
    long long ms;
};

static void *bg_get(void *arg)
{
    struct bg *b = arg;

    b->ms = get(b->uri, &b->s);
    return NULL;
}

static void wait_queue(int in_use, int waiting)
{
    struct sched_stats st = {0};

    for (int i = 0; i < 500; i++) {
        struct timespec t = {0, 10 * 1000000L};

        sched_get_stats(queue, &st);
        if (st.slots_in_use == in_use && st.slots_waiting == waiting)
            return;
        nanosleep(&t, NULL);
    }
    fail_msg("slots %d in use, %d waiting; want %d, %d", st.slots_in_use, st.slots_waiting, in_use,
             waiting);
}

/* One slot, a queue of one: the third request is refused at once; /health needs no slot. */
static void test_queue_full(void **state)
{
    struct bg b = {.uri = "/x/rs:fit:100:100/plain/local:///photo.jpg"};
    pthread_t th;
    struct sched_req held; /* a request being processed */
    struct sent s;
    long long ms;

    (void)state;
    queue = sched_make(1, 1);
    cfg.requests_queue_size = 1;
    sched_req_init(&held, queue);
    assert_int_equal(sched_slot_take(&held, NULL), 0);
    assert_int_equal(pthread_create(&th, NULL, bg_get, &b), 0);
    wait_queue(1, 1);
    ms = get("/x/rs:fit:100:100/plain/local:///photo.jpg", &s);
    assert_int_equal(s.status, 429);
    assert_true(ms < 200);
    assert_non_null(strstr((const char *)s.head, "Too many requests"));
    /* Errors found in the URL and health checks never queue. */
    get("/x/bad:option/plain/local:///photo.jpg", &s);
    assert_int_equal(s.status, 404);
    get("/health", &s);
    assert_int_equal(s.status, 200);
    /* The slot comes back: the waiting request is served. */
    sched_slot_put(&held);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(b.s.status, 200);
    wait_queue(0, 0);
    sched_free(queue);
    queue = NULL;
    cfg.requests_queue_size = 0;
}

/* Waiting for a slot counts against the deadline. */
static void test_deadline_in_queue(void **state)
{
    struct sched_req held;
    struct sent s;
    long long ms;

    (void)state;
    queue = sched_make(1, 0);
    cfg.timeout = 1;
    sched_req_init(&held, queue);
    assert_int_equal(sched_slot_take(&held, NULL), 0);
    ms = get("/x/rs:fit:100:100/plain/local:///photo.jpg", &s);
    assert_int_equal(s.status, 503);
    assert_true(ms >= 1000 && ms < 1500);
    assert_non_null(strstr((const char *)s.head, "passed waiting for a worker"));
    wait_queue(1, 0);
    sched_slot_put(&held);
    get("/x/rs:fit:100:100/plain/local:///photo.jpg", &s);
    assert_int_equal(s.status, 200);
    wait_queue(0, 0);
    sched_free(queue);
    queue = NULL;
    cfg.timeout = 10;
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
    const struct CMUnitTest requests[] = {
        cmocka_unit_test(test_processing_deadline),
        cmocka_unit_test(test_streaming_deadline),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_deadline_in_queue),
    };
    int failed = cmocka_run_group_tests_name("deadline", helpers, NULL, NULL);

    return failed + cmocka_run_group_tests_name("deadline-requests", requests, setup, teardown);
}

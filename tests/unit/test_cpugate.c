/* test_cpugate.c: big requests' strips yield to small requests (nice values or waits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <vips/vips.h>

#include "cpugate.h"
#include "deadline.h"
#include "testutil.h"
#include "tsan.h"
#include "watch.h"

/* The highest nice value a source strip was computed at, and whether one ran under SCHED_IDLE. */
static atomic_int source_nice_max;
static atomic_bool source_idle_seen;
/* Strips computed, and how long each sleeps first (a strip of slow work). */
static atomic_int source_strips;
static atomic_int source_sleep_ms;
/* Whether a strip that slept ended under SCHED_IDLE. */
static atomic_bool source_idle_at_end;

static int source_gen(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
    VipsRect *r = &out->valid;
    int n;

    (void)seq;
    (void)a;
    (void)b;
    (void)stop;
    atomic_fetch_add(&source_strips, 1);
    errno = 0;
    n = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    if (errno == 0 && n > atomic_load(&source_nice_max))
        atomic_store(&source_nice_max, n);
    if (sched_getscheduler(0) == SCHED_IDLE)
        atomic_store(&source_idle_seen, true);
    if (atomic_load(&source_sleep_ms) > 0) {
        usleep((useconds_t)atomic_load(&source_sleep_ms) * 1000);
        if (sched_getscheduler(0) == SCHED_IDLE)
            atomic_store(&source_idle_at_end, true);
    }
    for (int y = 0; y < r->height; y++)
        memset(VIPS_REGION_ADDR(out, r->left, r->top + y), (r->top + y) & 0xff, (size_t)r->width);
    return 0;
}

/* A w x h one-band image whose rows hold their number (mod 256), computed on demand. */
static VipsImage *source(int w, int h)
{
    VipsImage *img = vips_image_new();

    vips_image_init_fields(img, w, h, 1, VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
                           VIPS_INTERPRETATION_B_W, 1.0, 1.0);
    assert_int_equal(vips_image_pipelinev(img, VIPS_DEMAND_STYLE_THINSTRIP, NULL), 0);
    assert_int_equal(vips_image_generate(img, NULL, source_gen, NULL, NULL, NULL), 0);
    return img;
}

static void on_finalize(gpointer data, GObject *gone)
{
    (void)gone;
    *(bool *)data = true;
}

static void test_off_and_unclassified_pass_through(void **state)
{
    VipsImage *img = source(64, 64);

    (void)state;
    cpugate_disable();
    cpugate_request_begin(CPUGATE_BIG);
    assert_ptr_equal(cpugate_wrap(img), img); /* gate off */
    cpugate_request_end();
    cpugate_enable(2, false);
    assert_ptr_equal(cpugate_wrap(img), img); /* no request class */
    cpugate_request_begin(CPUGATE_SMALL);
    assert_ptr_equal(cpugate_wrap(img), img); /* small, cooperative mode: nothing to do */
    cpugate_request_end();
    assert_null(cpugate_wrap(NULL));
    cpugate_disable();
    g_object_unref(img);
}

static void test_big_wrap_keeps_pixels_and_owns_input(void **state)
{
    VipsImage *in = source(300, 500), *ref = source(300, 500), *out;
    bool gone = false;
    size_t n1 = 0, n2 = 0;
    void *a, *b;

    (void)state;
    cpugate_enable(2, false);
    cpugate_request_begin(CPUGATE_BIG);
    g_object_weak_ref(G_OBJECT(in), on_finalize, &gone);
    out = cpugate_wrap(in);
    assert_ptr_not_equal(out, in);
    assert_int_equal(vips_image_get_width(out), 300);
    assert_int_equal(vips_image_get_height(out), 500);
    a = vips_image_write_to_memory(out, &n1);
    b = vips_image_write_to_memory(ref, &n2);
    assert_non_null(a);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    g_free(a);
    g_free(b);
    assert_false(gone);
    g_object_unref(out); /* takes the input with it */
    assert_true(gone);
    cpugate_request_end();
    cpugate_disable();
    g_object_unref(ref);
}

struct big_run {
    long long ms;
    double avg;
    int nice_during; /* the request thread's nice value while it ran */
};

/* A big request on its own thread: a wrapped 400 x 3000 image averaged (many strips). */
static void *big_request(void *arg)
{
    struct big_run *run = arg;
    VipsImage *img;
    long long t0 = deadline_now_ms();

    cpugate_request_begin(CPUGATE_BIG);
    errno = 0;
    run->nice_during = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    img = cpugate_wrap(source(400, 3000));
    if (vips_avg(img, &run->avg, NULL) != 0)
        run->avg = -1;
    g_object_unref(img);
    cpugate_request_end();
    run->ms = deadline_now_ms() - t0;
    return NULL;
}

static void test_cooperative_big_waits_while_small_runs(void **state)
{
    struct cpugate_stats before, after;
    struct big_run run = {0, 0, 0};
    pthread_t t;
    long long t0;

    (void)state;
    cpugate_enable(1, false); /* one core: a small request leaves no room for big strips */
    assert_false(cpugate_uses_nice());
    cpugate_get_stats(&before);
    cpugate_request_begin(CPUGATE_SMALL);
    t0 = deadline_now_ms();
    assert_int_equal(pthread_create(&t, NULL, big_request, &run), 0);
    usleep(200 * 1000);
    cpugate_request_end(); /* the small request ends: big strips go at once */
    assert_int_equal(pthread_join(t, NULL), 0);
    cpugate_get_stats(&after);
    cpugate_disable();

    assert_true(run.avg > 0);
    /* It waited for the small request, in bounded steps, and then ran on. */
    assert_true(after.waits > before.waits);
    assert_true(after.timeouts > before.timeouts); /* 200 ms > CPUGATE_MAX_WAIT_MS */
    assert_true(run.ms >= 150);
    assert_true(deadline_now_ms() - t0 < 3000);
}

static void test_cooperative_big_runs_freely_alone(void **state)
{
    struct cpugate_stats before, after;
    struct big_run run = {0, 0, 0};
    pthread_t t;

    (void)state;
    cpugate_enable(1, false);
    cpugate_get_stats(&before);
    assert_int_equal(pthread_create(&t, NULL, big_request, &run), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    cpugate_get_stats(&after);
    cpugate_disable();
    assert_true(run.avg > 0);
    assert_int_equal(after.waits, before.waits);
}

/* Highest nice value among this process's threads, from /proc/self/task. */
static int highest_thread_nice(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    int hi = -100;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char path[300], buf[1024], *p, *save = NULL;
        FILE *f;
        int field = 0;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL) {
            /* fields after ") ": state is 3, nice is 19 */
            for (char *tok = strtok_r(p + 2, " ", &save); tok != NULL;
                 tok = strtok_r(NULL, " ", &save)) {
                if (++field == 17) {
                    int n = atoi(tok);

                    hi = n > hi ? n : hi;
                    break;
                }
            }
        }
        fclose(f);
    }
    closedir(d);
    return hi;
}

/* How many of this process's threads run under SCHED_IDLE. */
static int threads_under_idle_policy(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && sched_getscheduler((pid_t)atoi(de->d_name)) == SCHED_IDLE)
            n++;
    closedir(d);
    return n;
}

/* Every strip of img (taken) is computed at nice 0, under SCHED_OTHER. */
static void assert_computed_at_normal_priority(VipsImage *img)
{
    double avg;

    atomic_store(&source_nice_max, -100);
    atomic_store(&source_idle_seen, false);
    assert_int_equal(vips_avg(img, &avg, NULL), 0);
    assert_int_equal(atomic_load(&source_nice_max), 0);
    assert_false(atomic_load(&source_idle_seen));
    g_object_unref(img);
}

static void test_nice_mode(void **state)
{
    struct big_run run = {0, 0, 0};
    pthread_t t;

    (void)state;
    cpugate_enable(2, true);
    if (!cpugate_uses_nice()) {
        cpugate_disable();
        skip(); /* no CAP_SYS_NICE and RLIMIT_NICE < 20: the cooperative tests cover it */
    }
    atomic_store(&source_nice_max, -100);
    atomic_store(&source_idle_seen, false);
    assert_int_equal(pthread_create(&t, NULL, big_request, &run), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(run.avg > 0);
    /*
     * The libvips threads computing its strips ran niced; the request thread
     * did not (the pool threads libvips starts from it would inherit it)...
     */
    assert_int_equal(run.nice_during, 0);
    assert_int_equal(atomic_load(&source_nice_max), CPUGATE_BIG_NICE);
    assert_true(atomic_load(&source_idle_seen));
    /* ...and every thread is back at 0: the pool's next job may be a thumbnail's. */
    assert_int_equal(highest_thread_nice(), 0);
    assert_int_equal(threads_under_idle_policy(), 0);

    /* A small request's strips run at 0 even on a pool thread a big strip left niced. */
    cpugate_request_begin(CPUGATE_SMALL);
    assert_computed_at_normal_priority(cpugate_wrap(source(400, 300)));
    cpugate_request_end();
    cpugate_disable();
}

/* What the target saw of the threads writing to it. */
struct writes {
    pid_t request_tid;
    int other_threads;  /* writes from a thread other than the request's */
    int other_nice_max; /* the highest nice value among those */
    bool other_idle;    /* whether one of those ran under SCHED_IDLE */
};

static gint64 on_write(VipsTargetCustom *target, const void *data, gint64 length, void *user)
{
    struct writes *w = user;
    pid_t tid = (pid_t)syscall(SYS_gettid);

    (void)target;
    (void)data;
    if (tid != w->request_tid) {
        int n;

        errno = 0;
        n = getpriority(PRIO_PROCESS, (id_t)tid);
        w->other_threads++;
        if (errno == 0 && n > w->other_nice_max)
            w->other_nice_max = n;
        if (sched_getscheduler(0) == SCHED_IDLE)
            w->other_idle = true;
    }
    return length;
}

/* A request of class c saves a noisy 800 x 2400 JPEG (about 1 MB: many writes). */
static void save_as(enum cpugate_class c, struct writes *w)
{
    VipsImage *noise, *img;
    VipsTargetCustom *target = vips_target_custom_new();

    memset(w, 0, sizeof(*w));
    w->request_tid = (pid_t)syscall(SYS_gettid);
    w->other_nice_max = -100;
    g_signal_connect(target, "write", G_CALLBACK(on_write), w);
    cpugate_request_begin(c);
    assert_int_equal(vips_gaussnoise(&noise, 800, 2400, "sigma", 80.0, NULL), 0);
    assert_int_equal(vips_cast_uchar(noise, &img, NULL), 0);
    assert_int_equal(vips_jpegsave_target(img, VIPS_TARGET(target), "Q", 95, NULL), 0);
    cpugate_request_end();
    g_object_unref(img);
    g_object_unref(noise);
    g_object_unref(target);
}

static void test_big_writer_thread_runs_niced(void **state)
{
    struct writes big, small;

    (void)state;
    cpugate_enable(2, true);
    if (!cpugate_uses_nice()) {
        cpugate_disable();
        skip();
    }
    /*
     * libjpeg encodes on libvips' writer thread: the big priority reaches it
     * (through cpugate's vips_sink_disc)...
     */
    save_as(CPUGATE_BIG, &big);
    assert_true(big.other_threads > 0);
    assert_int_equal(big.other_nice_max, CPUGATE_BIG_NICE);
    assert_true(big.other_idle);
    /*
     * ...and every thread is back at 0.
     */
    assert_int_equal(highest_thread_nice(), 0);
    assert_int_equal(threads_under_idle_policy(), 0);
    /* A small request's writer runs at 0. */
    save_as(CPUGATE_SMALL, &small);
    assert_true(small.other_threads > 0);
    assert_int_equal(small.other_nice_max, 0);
    assert_false(small.other_idle);
    cpugate_disable();
}

/* A big request whose deadline passed: its wrapped strips are not computed at all. */
static void test_past_deadline_strips_not_computed(void **state)
{
    struct watch w;
    struct deadline dl;
    VipsImage *img;
    double avg;

    (void)state;
    cpugate_enable(2, false);
    deadline_start(&dl, deadline_now_ms() - 2000, 1000); /* passed a second ago */
    watch_init(&w, &dl);
    cpugate_request_begin(CPUGATE_BIG);
    img = cpugate_wrap(watch_attach(&w, source(400, 3000)));
    atomic_store(&source_strips, 0);
    assert_int_not_equal(vips_avg(img, &avg, NULL), 0);
    assert_int_equal(atomic_load(&source_strips), 0);
    tsan_acquire(&w); /* libvips threads read it: see tsan.h */
    assert_int_equal(watch_reason(&w), WATCH_DEADLINE);
    vips_error_clear();
    g_object_unref(img);
    cpugate_request_end();
    cpugate_disable();
}

/*
 * Nice mode: a big request within CPUGATE_BOOST_MS of its deadline computes
 * at 0; a strip niced earlier is put back to 0 by the watchdog when its
 * request gets there, while it is still computing.
 */
static void test_late_work_runs_at_normal_priority(void **state)
{
    struct watch w, w2;
    struct deadline dl;
    VipsImage *img;
    double avg;

    (void)state;
    cpugate_enable(2, true);
    if (!cpugate_uses_nice()) {
        cpugate_disable();
        skip();
    }
    cpugate_request_begin(CPUGATE_BIG);
    /* near its deadline from the start */
    deadline_start(&dl, deadline_now_ms(), CPUGATE_BOOST_MS - 1);
    watch_init(&w, &dl);
    assert_computed_at_normal_priority(cpugate_wrap(watch_attach(&w, source(64, 64))));
    tsan_acquire(&w); /* libvips threads read it: see tsan.h */
    /* niced at first, boosted mid-strip: one strip sleeping past the boost time */
    deadline_start(&dl, deadline_now_ms(), CPUGATE_BOOST_MS + 300);
    watch_init(&w2, &dl); /* a new request's watch: libvips threads read the first one */
    img = cpugate_wrap(watch_attach(&w2, source(64, 1)));
    atomic_store(&source_idle_seen, false);
    atomic_store(&source_idle_at_end, false);
    atomic_store(&source_sleep_ms, 700);
    assert_int_equal(vips_avg(img, &avg, NULL), 0);
    atomic_store(&source_sleep_ms, 0);
    tsan_acquire(&w2);
    assert_true(atomic_load(&source_idle_seen));
    assert_false(atomic_load(&source_idle_at_end));
    g_object_unref(img);
    cpugate_request_end();
    assert_int_equal(highest_thread_nice(), 0);
    assert_int_equal(threads_under_idle_policy(), 0);
    cpugate_disable();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_and_unclassified_pass_through),
        cmocka_unit_test(test_big_wrap_keeps_pixels_and_owns_input),
        cmocka_unit_test(test_cooperative_big_waits_while_small_runs),
        cmocka_unit_test(test_cooperative_big_runs_freely_alone),
        cmocka_unit_test(test_nice_mode),
        cmocka_unit_test(test_big_writer_thread_runs_niced),
        cmocka_unit_test(test_past_deadline_strips_not_computed),
        cmocka_unit_test(test_late_work_runs_at_normal_priority),
    };

    return cmocka_run_group_tests_name("cpugate", tests, tu_vips_setup, tu_vips_teardown);
}

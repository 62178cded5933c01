/*
 * test_cpuhome.c: home CPUs for requests; a request's strips and its writer
 * pinned to its home while every CPU is a home, free otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vips/vips.h>

#include "cpugate.h"
#include "cpuhome.h"
#include "testutil.h"
#include "tsan.h"

#define MAX_REQ 256

/* CPUs in the calling thread's mask, and the one CPU when it is pinned (else -1). */
static int mask_count(int *only)
{
    cpu_set_t set;
    int n = 0;

    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    *only = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) {
            n++;
            *only = c;
        }
    if (n != 1)
        *only = -1;
    return n;
}

static int process_cpus(void)
{
    int only;

    return mask_count(&only);
}

/* A request on its own thread: begins, reports, waits to be told to end. */
struct req {
    pthread_t thread;
    sem_t begun, end, ended;
    int home;
    int mask_n, mask_only; /* its own mask just after cpuhome_begin */
};

static void *req_main(void *arg)
{
    struct req *r = arg;

    r->home = cpuhome_begin(true);
    r->mask_n = mask_count(&r->mask_only);
    sem_post(&r->begun);
    sem_wait(&r->end);
    cpuhome_end(r->home);
    sem_post(&r->ended);
    return NULL;
}

static void req_start(struct req *r)
{
    sem_init(&r->begun, 0, 0);
    sem_init(&r->end, 0, 0);
    sem_init(&r->ended, 0, 0);
    assert_int_equal(pthread_create(&r->thread, NULL, req_main, r), 0);
    sem_wait(&r->begun);
}

static void req_stop(struct req *r)
{
    sem_post(&r->end);
    sem_wait(&r->ended);
    pthread_join(r->thread, NULL);
    sem_destroy(&r->begun);
    sem_destroy(&r->end);
    sem_destroy(&r->ended);
}

static void test_off(void **state)
{
    VipsImage *img;
    int only;

    (void)state;
    cpuhome_enable(false);
    assert_false(cpuhome_enabled());
    assert_int_equal(cpuhome_begin(true), -1);
    assert_int_equal(cpuhome_current(), -1);
    cpuhome_pin(-1);
    cpuhome_end(-1);
    assert_int_equal(mask_count(&only), process_cpus());
    /* No home, gate off: the image is not wrapped. */
    assert_int_equal(vips_black(&img, 8, 8, NULL), 0);
    assert_ptr_equal(cpugate_wrap(img), img);
    g_object_unref(img);
}

/* One request per CPU: distinct homes, balanced; each request pinned once the last begins. */
static void test_homes_balance(void **state)
{
    static struct req r[MAX_REQ];
    int n = process_cpus(), only, seen[CPU_SETSIZE] = {0};

    (void)state;
    if (n < 2 || n > MAX_REQ)
        skip();
    cpuhome_enable(true);
    assert_true(cpuhome_enabled());
    for (int i = 0; i < n; i++) {
        req_start(&r[i]);
        assert_true(r[i].home >= 0 && r[i].home < CPU_SETSIZE);
        assert_int_equal(seen[r[i].home]++, 0); /* the least used CPU: a new one each time */
        /* Until every CPU is a home, nothing is pinned. */
        if (i < n - 1) {
            assert_false(cpuhome_balanced());
            assert_int_equal(r[i].mask_n, n);
        }
    }
    assert_true(cpuhome_balanced());
    assert_int_equal(r[n - 1].mask_n, 1);
    assert_int_equal(r[n - 1].mask_only, r[n - 1].home);
    /* A thread working for the first request goes to its home... */
    cpuhome_pin(r[0].home);
    assert_int_equal(mask_count(&only), 1);
    assert_int_equal(only, r[0].home);
    assert_int_equal(sched_getcpu(), r[0].home);
    /* ...a request more (one CPU with two) keeps the balance... */
    {
        struct req extra;

        req_start(&extra);
        assert_true(cpuhome_balanced());
        assert_int_equal(extra.mask_n, 1);
        assert_int_equal(extra.mask_only, extra.home);
        req_stop(&extra);
    }
    /* ...and once a CPU is nobody's home, the same call frees the thread. */
    req_stop(&r[1]);
    assert_false(cpuhome_balanced());
    cpuhome_pin(r[0].home);
    assert_int_equal(mask_count(&only), n);
    for (int i = 0; i < n; i++)
        if (i != 1)
            req_stop(&r[i]);
    /* Every count went back: a new round gives distinct homes again. */
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < n; i++) {
        req_start(&r[i]);
        assert_int_equal(seen[r[i].home]++, 0);
    }
    assert_true(cpuhome_balanced());
    for (int i = 0; i < n; i++)
        req_stop(&r[i]);
    assert_false(cpuhome_balanced());
    cpuhome_enable(false);
}

static void test_nested_begin_counts_once(void **state)
{
    int n = process_cpus(), home, only;

    (void)state;
    if (n < 2)
        skip();
    cpuhome_enable(true);
    home = cpuhome_begin(true);
    assert_true(home >= 0);
    assert_int_equal(cpuhome_begin(true), home);
    assert_int_equal(cpuhome_current(), home);
    cpuhome_end(home);
    assert_int_equal(cpuhome_current(), home); /* the outer request goes on */
    cpuhome_end(home);
    assert_int_equal(cpuhome_current(), -1);
    assert_int_equal(mask_count(&only), n); /* a thread whose request ended is free */
    cpuhome_end(home);                      /* an extra end is a no-op */
    cpuhome_enable(false);
}

/* The CPUs a pipeline's strips and a saver's writes ran on. */
static atomic_int strip_cpu_bad, strips;
static atomic_int strip_home;
/* >= 0: a warm-up, whose strips and writes pin their threads to this CPU (away from home). */
static atomic_int pin_away = -1;

static void pin_self_to(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    assert_int_equal(sched_setaffinity(0, sizeof(set), &set), 0);
}

/* Whether the calling thread may run on one CPU only (no cmocka: libvips' threads call it). */
static bool thread_pinned(void)
{
    cpu_set_t set;

    return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1;
}

/* Whether the calling thread is where strip_home says: on that CPU, or free for CPUHOME_ANY. */
static bool strip_where_wanted(void)
{
    int home = atomic_load(&strip_home);

    return home == CPUHOME_ANY ? !thread_pinned() : sched_getcpu() == home;
}

/*
 * The warm-up's pin of a libvips thread to cpu: through cpuhome (which then
 * knows the thread's pin, as for any thread it pinned: while the homes are
 * balanced), and directly (while they are not, it frees the thread).
 */
static void warm_up_pin(int cpu)
{
    cpuhome_pin(cpu);
    pin_self_to(cpu);
}

static int record_gen(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
    VipsRect *r = &out->valid;

    (void)seq;
    (void)a;
    (void)b;
    (void)stop;
    if (atomic_load(&pin_away) >= 0)
        warm_up_pin(atomic_load(&pin_away));
    atomic_fetch_add(&strips, 1);
    if (!strip_where_wanted())
        atomic_fetch_add(&strip_cpu_bad, 1);
    for (int y = 0; y < r->height; y++)
        memset(VIPS_REGION_ADDR(out, r->left, r->top + y), (r->top + y) * 7 & 0xff,
               (size_t)r->width);
    return 0;
}

struct writes {
    pid_t request_tid;
    int others, others_away; /* writes from other threads; of those, misplaced */
    int home;
};

static gint64 on_write(VipsTargetCustom *target, const void *data, gint64 length, void *user)
{
    struct writes *w = user;

    (void)target;
    (void)data;
    tsan_acquire(w); /* runs on a libvips thread: see tsan.h */
    if ((pid_t)syscall(SYS_gettid) != w->request_tid) {
        if (atomic_load(&pin_away) >= 0)
            warm_up_pin(atomic_load(&pin_away));
        w->others++;
        if (w->home == CPUHOME_ANY ? thread_pinned() : sched_getcpu() != w->home)
            w->others_away++;
    }
    tsan_release(w);
    return length;
}

/* An 8-bit 512 x 2048 image whose strips run record_gen. */
static VipsImage *recorded(void)
{
    VipsImage *src = vips_image_new();

    vips_image_init_fields(src, 512, 2048, 1, VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
                           VIPS_INTERPRETATION_B_W, 1.0, 1.0);
    assert_int_equal(vips_image_pipelinev(src, VIPS_DEMAND_STYLE_THINSTRIP, NULL), 0);
    assert_int_equal(vips_image_generate(src, NULL, record_gen, NULL, NULL, NULL), 0);
    return src;
}

/* Saves a noisy JPEG of about 1 MB (libjpeg writes on libvips' writer thread) to w. */
static void save_noise(struct writes *w)
{
    VipsTargetCustom *target = vips_target_custom_new();
    VipsImage *noise, *big;

    w->request_tid = (pid_t)syscall(SYS_gettid);
    w->others = w->others_away = 0;
    g_signal_connect(target, "write", G_CALLBACK(on_write), w);
    assert_int_equal(vips_gaussnoise(&noise, 800, 2400, "sigma", 80.0, NULL), 0);
    assert_int_equal(vips_cast_uchar(noise, &big, NULL), 0);
    tsan_release(w);
    assert_int_equal(vips_jpegsave_target(big, VIPS_TARGET(target), "Q", 95, NULL), 0);
    tsan_acquire(w);
    g_object_unref(big);
    g_object_unref(noise);
    g_object_unref(target);
}

/* The warm-up: a pipeline computed and a JPEG saved by pool threads pinned to cpu. */
static void warm_up(int cpu)
{
    struct writes w = {0};
    VipsImage *img = recorded();
    double avg;

    atomic_store(&pin_away, cpu);
    assert_int_equal(vips_avg(img, &avg, NULL), 0);
    g_object_unref(img);
    save_noise(&w);
    atomic_store(&pin_away, -1);
}

/*
 * This thread's request computes a pipeline (through cpugate_wrap) and
 * saves a JPEG: every strip and every write of another thread ran where
 * home says (a CPU, or free for CPUHOME_ANY).
 */
static void check_strips_and_writes(int home)
{
    struct writes w = {0};
    VipsImage *img;
    double avg;

    atomic_store(&strip_home, home);
    img = cpugate_wrap(recorded());
    atomic_store(&strips, 0);
    atomic_store(&strip_cpu_bad, 0);
    assert_int_equal(vips_avg(img, &avg, NULL), 0);
    assert_true(atomic_load(&strips) > 1);
    assert_int_equal(atomic_load(&strip_cpu_bad), 0);
    g_object_unref(img);

    w.home = home;
    save_noise(&w);
    assert_true(w.others > 0);
    assert_int_equal(w.others_away, 0);
}

/*
 * With every other CPU the home of a request, this thread's request is
 * pinned to its home, and so are the libvips threads computing its strips
 * (the home stage cpugate_wrap adds) and the saver's writer, even threads
 * last pinned elsewhere (a warm-up puts libvips' pool threads on another
 * CPU first; threads started later would inherit the home from this one).
 */
static void test_strips_and_writer_run_at_home(void **state)
{
    static struct req r[MAX_REQ];
    int n = process_cpus(), home;

    (void)state;
    if (n < 2 || n > MAX_REQ)
        skip();
    cpuhome_enable(true);
    for (int i = 0; i < n - 1; i++)
        req_start(&r[i]);
    /*
     * The warm-up, before this thread's request begins (so imgfcgi does not
     * pin them itself): the pool threads that compute strips or write go to
     * another request's home.
     */
    warm_up(r[0].home);

    home = cpuhome_begin(true); /* the one CPU left */
    assert_true(cpuhome_balanced());
    assert_int_not_equal(home, r[0].home);
    check_strips_and_writes(home);
    cpuhome_end(home);
    for (int i = 0; i < n - 1; i++)
        req_stop(&r[i]);
    cpuhome_enable(false);
}

/*
 * A big request takes no home: its thread is freed, the balance does not
 * count it, and its strips and writer run free even on pool threads last
 * pinned for another request, while the small requests beside it are
 * pinned.
 */
static void test_big_request_runs_free(void **state)
{
    static struct req r[MAX_REQ];
    int n = process_cpus(), only;

    (void)state;
    if (n < 2 || n > MAX_REQ)
        skip();
    cpuhome_enable(true);
    for (int i = 0; i < n; i++)
        req_start(&r[i]);
    /* The warm-up, balanced: cpuhome pins the pool threads (and this one) to a request's home. */
    assert_true(cpuhome_balanced());
    warm_up(r[0].home);
    cpuhome_pin(r[0].home);
    assert_int_equal(mask_count(&only), 1);
    req_stop(&r[n - 1]);

    assert_int_equal(cpuhome_begin(false), CPUHOME_ANY);
    assert_int_equal(cpuhome_current(), CPUHOME_ANY);
    assert_int_equal(mask_count(&only), n);
    assert_false(cpuhome_balanced()); /* one CPU is still nobody's home */
    /* A small request takes the last CPU: balanced, and pinned; the big one is not. */
    req_start(&r[n - 1]);
    assert_true(cpuhome_balanced());
    assert_int_equal(r[n - 1].mask_n, 1);
    cpuhome_pin(r[0].home); /* as a request's thread: pinned while balanced... */
    assert_int_equal(mask_count(&only), 1);
    cpuhome_pin(CPUHOME_ANY); /* ...freed as the big one's */
    assert_int_equal(mask_count(&only), n);

    check_strips_and_writes(CPUHOME_ANY);

    cpuhome_end(CPUHOME_ANY);
    assert_int_equal(cpuhome_current(), -1);
    assert_true(cpuhome_balanced()); /* the small requests' counts are untouched */
    for (int i = 0; i < n; i++)
        req_stop(&r[i]);
    assert_false(cpuhome_balanced());
    cpuhome_enable(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_homes_balance),
        cmocka_unit_test(test_nested_begin_counts_once),
        cmocka_unit_test(test_strips_and_writer_run_at_home),
        cmocka_unit_test(test_big_request_runs_free),
    };

    return cmocka_run_group_tests_name("cpuhome", tests, tu_vips_setup, tu_vips_teardown);
}

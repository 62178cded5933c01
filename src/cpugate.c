/*
 * cpugate.c: CPU priority for small requests (see cpugate.h).
 *
 * With nice values: a big strip sets its thread to CPUGATE_BIG_NICE and
 * back to 0 when it ends, so no pool thread goes back to libvips' pool
 * niced (its next job may be a thumbnail's writer). Keeping threads niced
 * between strips, or also pausing big strips, would be more complex and
 * gained nothing measurable; this is the simplest.
 *
 * Without: counters under one mutex: small = small requests processing, big = big
 * strips being computed. A big strip may start when no small request is
 * processing, or when big < ncpu - small; otherwise it sleeps on the
 * condition variable until a strip or a small request ends, or its
 * CPUGATE_MAX_WAIT_MS pass. Nested stages on one thread (a gate after the
 * loader inside the gate before the saver) ask once: tl_depth.
 *
 * Writers. A saver hands its pixels to vips_sink_disc(), which calls the
 * saver's write function on one of libvips' pool threads, strip by strip;
 * the encoders do their heavy work there (libjpeg and libpng per strip,
 * libwebp's and libaom's whole encode at the last strip, libaom's own
 * threads created there and inheriting its priority). No stage reaches that
 * thread, so imgfcgi defines vips_sink_disc itself (exported from the
 * executable: the Makefile's EXPORT_LDFLAGS): libvips' savers call it
 * through the PLT, so the dynamic linker binds them to this definition,
 * which runs on the request's thread, where the class and the request's
 * home CPU (cpuhome.h) are known. It wraps the write function: with a
 * home, each call first pins the writer there (cpuhome_pin); in nice mode,
 * for a big request each call runs at the big priority and puts the thread
 * back to 0 after, for a small one it puts the thread at 0 first. Without
 * either, and in a binary that does not export it, libvips' own is called
 * unchanged.
 *
 * The same wrapper splits writes. libvips hands the writer its buffer of
 * lines (128 at the default tile size) in one call, which the deadline
 * cannot stop: for a PNG 16000 px wide that is 2 MP of zlib with adaptive
 * filters, most of a second of CPU, and several seconds at SCHED_IDLE or on
 * a busy host. A save marked with cpugate_split_writes() (PNG and JPEG,
 * whose block writers take any run of whole lines) hands the lines over in
 * parts of CPUGATE_WRITE_LINES, and checks the request's watch before each.
 *
 * Late work. Under SCHED_IDLE a thread gets a core only when nothing else
 * wants it, and on a busy host (other processes too) a strip in flight can
 * then take many seconds, while the deadline is seen only between strips.
 * So big work runs at the big priority only until CPUGATE_BOOST_MS before
 * its request's deadline: work starting later runs at 0, and a watchdog
 * thread puts the threads still at the big priority then back to 0 (each
 * such thread is on a list while it is niced: struct boost). A big strip
 * whose request's deadline has passed, or whose client is gone, is not
 * computed at all (gate_gen fails it, as the watch's kill would).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpugate.h"
#include "cpuhome.h"
#include "deadline.h"
#include "tsan.h"
#include "watch.h"
#include "banned.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;
static atomic_bool enabled;
static int ncpus = 1;
static int small_running;
static int big_running;
static struct cpugate_stats stats;

static atomic_bool use_nice;

/* A thread at the big priority for a request with a deadline; on boost_list while so. */
struct boost {
    pid_t tid;
    long long end_ms; /* the request's deadline */
    bool boosted;     /* the watchdog put it back to 0 */
    struct boost *next, **pprev;
};

static struct boost *boost_list;  /* under lock */
static long long watchdog_wake;   /* under lock: when the watchdog wakes next, 0 if it waits */
static pthread_cond_t boost_cond; /* wakes the watchdog */
static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;
static __thread struct boost tl_boost;

static __thread enum cpugate_class tl_class;
static __thread bool tl_split; /* cpugate_split_writes() */
static __thread int tl_depth;
static __thread bool tl_nice_known;
static __thread int tl_nice;

/*
 * A thread's priority for big work: policy SCHED_IDLE and nice 19; for
 * anything else SCHED_OTHER at nice 0. SCHED_IDLE, because a waking
 * SCHED_OTHER thread always preempts a SCHED_IDLE one, where against nice 19
 * it may wait out the running thread's slice, which shows in the
 * thumbnails' tail latency under load.
 * The nice value is set too, so that top and ps show which threads are big.
 */
static int thread_prio_set(pid_t tid, int n)
{
    struct sched_param sp = {0};

    if (n > 0)
        return setpriority(PRIO_PROCESS, (id_t)tid, n) == 0 &&
                       sched_setscheduler(tid, SCHED_IDLE, &sp) == 0
                   ? 0
                   : -1;
    return sched_setscheduler(tid, SCHED_OTHER, &sp) == 0 &&
                   setpriority(PRIO_PROCESS, (id_t)tid, n) == 0
               ? 0
               : -1;
}

/*
 * Sets the calling thread's priority to nice n (see thread_prio_set), when
 * the gate may (use_nice). The thread's present value is read once: libvips
 * pool threads inherit whatever their creator had.
 */
static void thread_nice(int n)
{
    pid_t tid;

    if (!atomic_load(&use_nice))
        return;
    tid = (pid_t)syscall(SYS_gettid);
    if (!tl_nice_known) {
        errno = 0;
        tl_nice = getpriority(PRIO_PROCESS, (id_t)tid);
        if (errno != 0)
            return;
        tl_nice_known = true;
    }
    if (tl_nice != n && thread_prio_set(tid, n) == 0)
        tl_nice = n;
}

/* Runs once, from cpugate_enable() at start-up: a failure there is fatal. */
static void cond_init(void)
{
    if (deadline_cond_init(&cond) != 0 || deadline_cond_init(&boost_cond) != 0)
        abort();
}

/* The watchdog ("Late work"): puts big threads back to 0 CPUGATE_BOOST_MS before their deadline. */
static void *watchdog(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        long long now = deadline_now_ms(), next = 0;
        struct deadline wake;
        struct timespec ts;

        for (struct boost *b = boost_list; b != NULL; b = b->next) {
            long long at = b->end_ms - CPUGATE_BOOST_MS;

            if (b->boosted)
                continue;
            if (now >= at) {
                (void)thread_prio_set(b->tid, 0);
                b->boosted = true;
            } else if (next == 0 || at < next) {
                next = at;
            }
        }
        wake.end_ms = next;
        watchdog_wake = next;
        if (next == 0 || !deadline_timespec(&wake, &ts))
            pthread_cond_wait(&boost_cond, &lock);
        else
            (void)pthread_cond_timedwait(&boost_cond, &lock, &ts);
    }
    return NULL;
}

/* Starts the watchdog once; without it (no thread) late work keeps the big priority. */
static void watchdog_start(void)
{
    pthread_attr_t attr;
    pthread_t t;

    if (pthread_attr_init(&attr) != 0)
        return;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    (void)pthread_create(&t, &attr, watchdog, NULL);
    pthread_attr_destroy(&attr);
}

/*
 * The calling thread starts big work for a request whose deadline is end_ms
 * (0: none), in nice mode: at the big priority unless the deadline is
 * near, and on boost_list while so ("Late work").
 */
static void big_begin(long long end_ms)
{
    pthread_mutex_lock(&lock);
    if (end_ms != 0 && deadline_now_ms() >= end_ms - CPUGATE_BOOST_MS) {
        thread_nice(0);
    } else {
        thread_nice(CPUGATE_BIG_NICE);
        if (end_ms != 0 && tl_boost.pprev == NULL) {
            tl_boost.tid = (pid_t)syscall(SYS_gettid);
            tl_boost.end_ms = end_ms;
            tl_boost.boosted = false;
            tl_boost.next = boost_list;
            tl_boost.pprev = &boost_list;
            if (boost_list != NULL)
                boost_list->pprev = &tl_boost.next;
            boost_list = &tl_boost;
            if (watchdog_wake == 0 || end_ms - CPUGATE_BOOST_MS < watchdog_wake)
                pthread_cond_signal(&boost_cond);
        }
    }
    pthread_mutex_unlock(&lock);
}

/* The end of big_begin's work: off boost_list, back to 0. */
static void big_end(void)
{
    pthread_mutex_lock(&lock);
    if (tl_boost.pprev != NULL) {
        *tl_boost.pprev = tl_boost.next;
        if (tl_boost.next != NULL)
            tl_boost.next->pprev = tl_boost.pprev;
        tl_boost.pprev = NULL;
        tl_boost.next = NULL;
    }
    pthread_mutex_unlock(&lock);
    /* The watchdog may have set 0 behind thread_nice's back: this sets it (again). */
    thread_nice(0);
}

/* Tries, on a thread of its own, to take a big request's priority and come back. */
static void *probe_nice(void *arg)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    bool *ok = arg;

    *ok = thread_prio_set(tid, CPUGATE_BIG_NICE) == 0 && thread_prio_set(tid, 0) == 0;
    return NULL;
}

/* Whether this process may lower a thread's nice value back (CAP_SYS_NICE or RLIMIT_NICE). */
static bool nice_allowed(void)
{
    pthread_t t;
    bool ok = false;

    if (getpriority(PRIO_PROCESS, 0) != 0 || sched_getscheduler(0) != SCHED_OTHER)
        return false; /* started niced: leave the administrator's choice alone */
    if (pthread_create(&t, NULL, probe_nice, &ok) != 0)
        return false;
    pthread_join(t, NULL);
    return ok;
}

void cpugate_enable(int ncpu, bool try_nice)
{
    if (ncpu < 1) {
        cpu_set_t set;

        ncpu = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
        if (ncpu < 1)
            ncpu = 1;
    }
    pthread_once(&cond_once, cond_init);
    pthread_mutex_lock(&lock);
    ncpus = ncpu;
    pthread_mutex_unlock(&lock);
    atomic_store(&use_nice, try_nice && nice_allowed());
    if (atomic_load(&use_nice))
        pthread_once(&watchdog_once, watchdog_start);
    atomic_store(&enabled, true);
}

bool cpugate_uses_nice(void)
{
    return atomic_load(&use_nice);
}

void cpugate_disable(void)
{
    atomic_store(&enabled, false);
    atomic_store(&use_nice, false);
}

bool cpugate_enabled(void)
{
    return atomic_load(&enabled);
}

void cpugate_request_begin(enum cpugate_class c)
{
    tl_class = CPUGATE_NONE;
    if (!atomic_load(&enabled) || c == CPUGATE_NONE)
        return;
    tl_class = c;
    /*
     * The request's own thread keeps its priority: it does little once the
     * request is classified (builds the pipeline, waits for the sink), and
     * libvips 8.14 starts its pool threads from the thread that needs one,
     * so a niced request thread would seed the pool with niced threads.
     */
    if (c == CPUGATE_SMALL) {
        pthread_mutex_lock(&lock);
        small_running++;
        pthread_mutex_unlock(&lock);
    }
}

enum cpugate_class cpugate_request_class(void)
{
    return tl_class;
}

void cpugate_request_end(void)
{
    if (tl_class == CPUGATE_SMALL) {
        pthread_mutex_lock(&lock);
        small_running--;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    tl_class = CPUGATE_NONE;
}

/*
 * A saver's write function and argument, and the nice value to write at
 * (see "Writers"); with a watch, the lines are handed over in parts.
 */
struct sink {
    VipsRegionWrite write_fn;
    void *a;
    int nice;
    long long end_ms;    /* the request's deadline, 0 if none */
    bool niced;          /* nice mode: the writer's priority is set */
    struct watch *watch; /* split the writes, checking it between parts (or NULL) */
    int home;            /* the request's home CPU (cpuhome.h): a CPU, CPUHOME_ANY or -1 */
};

void cpugate_split_writes(bool on)
{
    tl_split = on;
}

/*
 * area in parts of at most CPUGATE_WRITE_LINES lines, in order, each after
 * the request's watch says go on; the whole of it at once without a watch.
 */
static int write_parts(struct sink *s, VipsRegion *region, VipsRect *area)
{
    VipsRect part = *area;
    int bottom = area->top + area->height;

    if (s->watch == NULL || (long long)area->width * area->height <= CPUGATE_SPLIT_MIN_PIXELS)
        return s->write_fn(region, area, s->a);
    for (part.top = area->top; part.top < bottom; part.top += part.height) {
        part.height = VIPS_MIN(CPUGATE_WRITE_LINES, bottom - part.top);
        if (watch_check(s->watch)) {
            vips_error("cpugate", "%s", "write stopped: the deadline passed or the client left");
            return -1;
        }
        if (s->write_fn(region, &part, s->a) != 0)
            return -1;
    }
    return 0;
}

/*
 * The writer thread at the request's priority while it writes: a big
 * request's goes back to 0 after, not to what it had before (libvips 8.14
 * starts pool threads from whichever thread needs one, and a thread started
 * from a niced one begins niced); a small request's writes at 0 whatever
 * the pool thread had.
 */
static int class_write(VipsRegion *region, VipsRect *area, void *a)
{
    struct sink *s = a;
    int ret;

    tsan_acquire(s); /* runs on a libvips thread: see tsan.h */
    cpuhome_pin(s->home);
    if (s->nice != 0)
        big_begin(s->end_ms);
    else if (s->niced)
        thread_nice(0);
    ret = write_parts(s, region, area);
    if (s->nice != 0)
        big_end();
    tsan_release(s);
    return ret;
}

typedef int (*sink_disc_fn)(VipsImage *im, VipsRegionWrite write_fn, void *a);
static sink_disc_fn libvips_sink_disc;
static pthread_once_t sink_disc_once = PTHREAD_ONCE_INIT;

static void find_sink_disc(void)
{
    void *f = dlsym(RTLD_NEXT, "vips_sink_disc");

    memcpy(&libvips_sink_disc, &f, sizeof(f));
}

int vips_sink_disc(VipsImage *im, VipsRegionWrite write_fn, void *a)
{
    struct watch *w = watch_of(im);
    bool niced = tl_class != CPUGATE_NONE && atomic_load(&enabled) && atomic_load(&use_nice);
    struct sink s = {write_fn,
                     a,
                     niced && tl_class == CPUGATE_BIG ? CPUGATE_BIG_NICE : 0,
                     w != NULL ? w->dl.end_ms : 0,
                     niced,
                     tl_split ? w : NULL,
                     cpuhome_current()};
    int ret;

    pthread_once(&sink_disc_once, find_sink_disc);
    if (libvips_sink_disc == NULL) {
        vips_error("cpugate", "libvips' vips_sink_disc not found");
        return -1;
    }
    if (!niced && s.watch == NULL && s.home == -1)
        return libvips_sink_disc(im, write_fn, a);
    if (s.watch != NULL)
        tsan_release(s.watch);
    tsan_release(&s);
    ret = libvips_sink_disc(im, class_write, &s);
    tsan_acquire(&s);
    return ret;
}

/*
 * A big strip of a request whose deadline is end_ms (0: none) asks to run;
 * returns whether this call counted it (the outermost).
 */
static bool enter(long long end_ms)
{
    struct timespec until;
    struct deadline wait_end;
    long long t0 = 0;
    bool waited = false, timed_out = false;

    if (tl_depth++ > 0)
        return false;
    if (atomic_load(&use_nice)) {
        big_begin(end_ms);
        return true;
    }
    pthread_mutex_lock(&lock);
    while (small_running > 0 && big_running >= ncpus - small_running) {
        if (!waited) {
            waited = true;
            t0 = deadline_now_ms();
            deadline_start(&wait_end, t0, CPUGATE_MAX_WAIT_MS);
            (void)deadline_timespec(&wait_end, &until);
        }
        if (pthread_cond_timedwait(&cond, &lock, &until) == ETIMEDOUT) {
            timed_out = true;
            break;
        }
    }
    big_running++;
    if (waited) {
        stats.waits++;
        stats.wait_ms += (uint64_t)(deadline_now_ms() - t0);
        stats.timeouts += timed_out;
    }
    pthread_mutex_unlock(&lock);
    return true;
}

static void leave(bool counted)
{
    tl_depth--;
    if (!counted)
        return;
    if (atomic_load(&use_nice)) {
        /*
         * Back to 0 before the thread returns to libvips' pool: its next job
         * may be a thumbnail's writer, which no stage of ours reaches.
         */
        big_end();
        return;
    }
    pthread_mutex_lock(&lock);
    big_running--;
    if (small_running > 0)
        pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

/* Both stages: the input's pixels for r, by reference (no copy). */
static int pass_through(VipsRegion *out, VipsRegion *ir, VipsRect *r)
{
    if (vips_region_prepare(ir, r) != 0)
        return -1;
    return vips_region_region(out, ir, r, r->left, r->top);
}

/*
 * The stage: the input's pixels by reference (no copy), computed after the
 * gate says so; not at all once the request's watch (b) says stop.
 */
static int gate_gen(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
    VipsRegion *ir = seq;
    VipsRect *r = &out->valid;
    struct watch *w = b;
    bool counted, late = false;
    int ret;

    (void)a;
    (void)stop;
    if (w != NULL) {
        tsan_acquire(w); /* runs on a libvips thread: see tsan.h */
        late = watch_check(w);
        tsan_release(w);
    }
    if (late) {
        vips_error("cpugate", "%s", "stopped: the request's deadline passed or its client left");
        return -1;
    }
    counted = enter(w != NULL ? w->dl.end_ms : 0);
    ret = pass_through(out, ir, r);
    leave(counted);
    return ret;
}

/* The home stage: the thread computing the strip keeps to the request's home CPU (b). */
static int home_gen(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
    (void)a;
    (void)stop;
    cpuhome_pin((int)(intptr_t)b);
    return pass_through(out, seq, &out->valid);
}

/*
 * A pass-through stage over in whose strips run gen (client b); takes in
 * (the new image holds it). in itself if libvips cannot make the stage.
 */
static VipsImage *stage(VipsImage *in, VipsGenerateFn gen, void *b)
{
    VipsImage *out = vips_image_new();

    if (vips_image_pipelinev(out, VIPS_DEMAND_STYLE_ANY, in, NULL) != 0 ||
        vips_image_generate(out, vips_start_one, gen, vips_stop_one, in, b) != 0) {
        g_object_unref(out);
        return in;
    }
    /* out holds in from here: in goes when out closes. */
    vips_object_local(out, in);
    return out;
}

/*
 * in behind a home stage when homes are on for the calling thread's request
 * (a home, or CPUHOME_ANY: its strips free a thread pinned for another); takes in.
 */
static VipsImage *home_wrap(VipsImage *in)
{
    int home = cpuhome_current();

    if (in == NULL || home == -1)
        return in;
    return stage(in, home_gen, (void *)(intptr_t)home);
}

VipsImage *cpugate_wrap(VipsImage *in)
{
    struct watch *w;

    in = home_wrap(in);

    /*
     * A small request's pipeline is left as it is: a big strip puts its
     * thread back to 0 when it ends (leave()), and the watchdog lifts any
     * thread still at the big priority, so a small request never computes
     * niced; a stage of its own would cost every tile of every thumbnail.
     */
    if (in == NULL || !atomic_load(&enabled) || tl_class != CPUGATE_BIG)
        return in;
    w = watch_of(in);
    if (w != NULL)
        tsan_release(w);
    return stage(in, gate_gen, w);
}

void cpugate_get_stats(struct cpugate_stats *st)
{
    pthread_mutex_lock(&lock);
    *st = stats;
    pthread_mutex_unlock(&lock);
}

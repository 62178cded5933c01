/*
 * memory.c: allocator detection, release of free memory, and the sidecar.
 *
 * Design. The allocator is looked up once (pthread_once) and the release
 * call is a function pointer found with dlsym, so jemalloc and tcmalloc are
 * never link-time dependencies. The sidecar is one thread sleeping on a
 * condition variable with a deadline; stop sets a flag under the mutex and
 * signals, so shutdown never waits a whole interval. Counters are atomics.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vips/vips.h>

#include "bufpool.h"
#include "config.h"
#include "log.h"
#include "memory.h"
#include "banned.h"

/* jemalloc_macros.h: MALLCTL_ARENAS_ALL */
#define JEMALLOC_PURGE_ALL "arena.4096.purge"

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef void (*tc_release_fn)(void);
typedef int (*tc_property_fn)(const char *, size_t *);

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static enum memory_allocator detected = MEMORY_OTHER;
static char library[256] = "unknown";
static char arena_setting[128] = "-";
static char thresholds[96] = "";
static mallctl_fn je_mallctl;
static tc_release_fn tc_release;
static tc_property_fn tc_property;

static _Atomic uint64_t releases, released_bytes;

static bool contains(const char *s, const char *what)
{
    return s != NULL && strstr(s, what) != NULL;
}

static void detect(void)
{
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    void *je = dlsym(RTLD_DEFAULT, "mallctl");
    void *tc = dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory");
    Dl_info info;
    const char *file = NULL;

    memset(&info, 0, sizeof(info));
    if (m != NULL && dladdr(m, &info) != 0)
        file = info.dli_fname;
    snprintf(library, sizeof(library), "%s", file != NULL ? file : "unknown");
    /* The symbols say what is loaded; the library of malloc says what serves it. */
    if (je != NULL && contains(file, "jemalloc")) {
        detected = MEMORY_JEMALLOC;
        je_mallctl = (mallctl_fn)je;
    } else if (tc != NULL && contains(file, "tcmalloc")) {
        detected = MEMORY_TCMALLOC;
        tc_release = (tc_release_fn)tc;
        tc_property = (tc_property_fn)dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty");
    } else if (contains(file, "libc.so") || contains(file, "libc-")) {
        detected = MEMORY_GLIBC;
    } else {
        detected = MEMORY_OTHER;
    }

    switch (detected) {
    case MEMORY_GLIBC:
        if (cfg.malloc_arena_max != NULL && *cfg.malloc_arena_max != '\0')
            snprintf(arena_setting, sizeof(arena_setting), "MALLOC_ARENA_MAX=%s",
                     cfg.malloc_arena_max);
        else
            snprintf(arena_setting, sizeof(arena_setting),
                     "glibc default (up to 8 x cores arenas)");
        break;
    case MEMORY_JEMALLOC: {
        unsigned narenas = 0;
        size_t sz = sizeof(narenas);

        if (je_mallctl("opt.narenas", &narenas, &sz, NULL, 0) == 0)
            snprintf(arena_setting, sizeof(arena_setting), "jemalloc narenas=%u%s%s", narenas,
                     cfg.malloc_conf != NULL && *cfg.malloc_conf ? " MALLOC_CONF=" : "",
                     cfg.malloc_conf != NULL ? cfg.malloc_conf : "");
        break;
    }
    case MEMORY_TCMALLOC:
        snprintf(arena_setting, sizeof(arena_setting), "tcmalloc (no arenas)");
        break;
    case MEMORY_OTHER:
        break;
    }
}

enum memory_allocator memory_allocator(void)
{
    pthread_once(&detect_once, detect);
    return detected;
}

const char *memory_allocator_name(enum memory_allocator a)
{
    switch (a) {
    case MEMORY_GLIBC:
        return "glibc";
    case MEMORY_JEMALLOC:
        return "jemalloc";
    case MEMORY_TCMALLOC:
        return "tcmalloc";
    case MEMORY_OTHER:
        break;
    }
    return "other";
}

const char *memory_allocator_library(void)
{
    memory_allocator();
    return library;
}

const char *memory_arena_setting(void)
{
    memory_allocator();
    return arena_setting;
}

size_t memory_rss(void)
{
    char text[128];
    long pages = 0, resident = 0;
    ssize_t n;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    if (sscanf(text, "%ld %ld", &pages, &resident) != 2 || resident < 0)
        return 0;
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* jemalloc's stats.resident after refreshing its statistics; 0 if unknown. */
static size_t je_resident(void)
{
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch), resident = 0, rsz = sizeof(resident);

    if (je_mallctl("epoch", &epoch, &sz, &epoch, sz) != 0)
        return 0;
    if (je_mallctl("stats.resident", &resident, &rsz, NULL, 0) != 0)
        return 0;
    return resident;
}

static size_t tc_unmapped(void)
{
    size_t v = 0;

    if (tc_property == NULL || !tc_property("tcmalloc.pageheap_unmapped_bytes", &v))
        return 0;
    return v;
}

long long memory_release(void)
{
    size_t before, after;

    switch (memory_allocator()) {
    case MEMORY_GLIBC:
        before = memory_rss();
        malloc_trim(0);
        after = memory_rss();
        break;
    case MEMORY_JEMALLOC:
        before = je_resident();
        if (je_mallctl(JEMALLOC_PURGE_ALL, NULL, NULL, NULL, 0) != 0)
            return -1;
        after = je_resident();
        break;
    case MEMORY_TCMALLOC:
        /* Unmapped bytes rise by what was released. */
        after = tc_unmapped();
        tc_release();
        before = tc_unmapped();
        break;
    default:
        return -1;
    }
    atomic_fetch_add(&releases, 1);
    if (before > after) {
        atomic_fetch_add(&released_bytes, before - after);
        return (long long)(before - after);
    }
    return 0;
}

uint64_t memory_releases(void)
{
    return atomic_load(&releases);
}

uint64_t memory_released_bytes(void)
{
    return atomic_load(&released_bytes);
}

bool memory_tune(long long trim_threshold)
{
    /* glibc's limit for M_MMAP_THRESHOLD: HEAP_MAX_SIZE / 2, 32 MB on 64-bit. */
    long long mmap_max = 4LL * 1024 * 1024 * (long long)sizeof(long);
    long long mmap_threshold = trim_threshold;

    if (memory_allocator() != MEMORY_GLIBC)
        return false;
    if (cfg.malloc_thresholds_env) {
        snprintf(thresholds, sizeof(thresholds), "; thresholds from the environment");
        return false;
    }
    if (trim_threshold <= 0) {
        snprintf(thresholds, sizeof(thresholds), "; glibc's dynamic thresholds");
        return false;
    }
    /* Each arena may keep trim_threshold: only when their number is bounded. */
    if (cfg.malloc_arena_max == NULL || strtol(cfg.malloc_arena_max, NULL, 10) < 1) {
        snprintf(thresholds, sizeof(thresholds),
                 "; glibc's dynamic thresholds (no MALLOC_ARENA_MAX)");
        return false;
    }
    if (mmap_threshold > mmap_max)
        mmap_threshold = mmap_max;
    if (trim_threshold > INT_MAX)
        trim_threshold = INT_MAX;
    /* Either call ends glibc's dynamic adjustment of both. */
    if (mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) != 1 ||
        mallopt(M_TRIM_THRESHOLD, (int)trim_threshold) != 1) {
        log_warn("memory: mallopt refused the thresholds (%lld, %lld)", mmap_threshold,
                 trim_threshold);
        return false;
    }
    snprintf(thresholds, sizeof(thresholds), "; trim threshold %lld kB, mmap threshold %lld kB",
             trim_threshold / 1024, mmap_threshold / 1024);
    return true;
}

void memory_log_allocator(void)
{
    enum memory_allocator a = memory_allocator();

    log_info("memory: malloc is %s (%s), %s%s; release %s every %d s", memory_allocator_name(a),
             memory_allocator_library(), memory_arena_setting(), thresholds,
             a == MEMORY_OTHER    ? "unavailable"
             : cfg.memory_release ? "on"
                                  : "off",
             cfg.free_memory_interval);
}

void memory_log_stats(void)
{
    struct bufpool_stats st;

    bufpool_get_stats(bufpool_download, &st);
    log_info("memory: rss=%zu vips_mem=%zu vips_mem_highwater=%zu vips_allocs=%d "
             "pool_buffers=%zu pool_bytes=%zu pool_default=%zu pool_max=%zu releases=%llu "
             "released_bytes=%llu",
             memory_rss(), vips_tracked_get_mem(), vips_tracked_get_mem_highwater(),
             vips_tracked_get_allocs(), st.pooled, st.pooled_bytes, st.default_size, st.max_size,
             (unsigned long long)memory_releases(), (unsigned long long)memory_released_bytes());
}

/* --- the sidecar ---------------------------------------------------------- */

/* Guarded by side_lock: side_stop, side_running. */
static pthread_mutex_t side_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t side_cond;
static bool side_stop, side_running;
static pthread_t side_thread;
static int side_interval;
static bool side_release, side_log;
static _Atomic uint64_t side_ticks;

static void *sidecar_main(void *arg)
{
    struct timespec deadline;

    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    pthread_mutex_lock(&side_lock);
    for (;;) {
        deadline.tv_sec += side_interval;
        while (!side_stop) {
            if (pthread_cond_timedwait(&side_cond, &side_lock, &deadline) == ETIMEDOUT)
                break;
        }
        if (side_stop)
            break;
        pthread_mutex_unlock(&side_lock);
        /* The work runs unlocked so stop never waits for more than one round. */
        bufpool_trim(bufpool_download);
        if (side_release)
            memory_release();
        if (side_log)
            memory_log_stats();
        atomic_fetch_add(&side_ticks, 1);
        pthread_mutex_lock(&side_lock);
    }
    pthread_mutex_unlock(&side_lock);
    return NULL;
}

int memory_sidecar_start(int interval_s, bool release, bool log_stats)
{
    pthread_condattr_t ca;
    int rc;

    /*
     * jemalloc's own purging thread, switched on at run time as its docs
     * advise (opt.background_thread at start-up can deadlock in init): it
     * applies dirty_decay_ms between our rounds.
     */
    if (memory_allocator() == MEMORY_JEMALLOC && release) {
        bool on = true;

        if (je_mallctl("background_thread", NULL, NULL, &on, sizeof(on)) != 0)
            log_warn("memory: cannot start jemalloc's background thread");
    }
    pthread_mutex_lock(&side_lock);
    if (side_running) {
        pthread_mutex_unlock(&side_lock);
        return -1;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&side_cond, &ca);
    pthread_condattr_destroy(&ca);
    side_interval = interval_s > 0 ? interval_s : 1;
    side_release = release;
    side_log = log_stats;
    side_stop = false;
    atomic_store(&side_ticks, 0);
    rc = pthread_create(&side_thread, NULL, sidecar_main, NULL);
    side_running = rc == 0;
    if (rc != 0)
        pthread_cond_destroy(&side_cond);
    pthread_mutex_unlock(&side_lock);
    return rc == 0 ? 0 : -1;
}

void memory_sidecar_stop(void)
{
    pthread_mutex_lock(&side_lock);
    if (!side_running) {
        pthread_mutex_unlock(&side_lock);
        return;
    }
    side_stop = true;
    pthread_cond_signal(&side_cond);
    pthread_mutex_unlock(&side_lock);
    pthread_join(side_thread, NULL);
    pthread_mutex_lock(&side_lock);
    side_running = false;
    pthread_cond_destroy(&side_cond);
    pthread_mutex_unlock(&side_lock);
}

uint64_t memory_sidecar_ticks(void)
{
    return atomic_load(&side_ticks);
}

/* test_memory.c: allocator detection, release, RSS, the sidecar's start/stop, metrics text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "bufpool.h"
#include "config.h"
#include "memory.h"
#include "metrics.h"
#include "testutil.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The test binary runs with whatever malloc the environment gives it: glibc
 * normally, jemalloc or tcmalloc under LD_PRELOAD (tests/run.sh does not,
 * but `LD_PRELOAD=.../libjemalloc.so.2 build/tests/test_memory` checks that
 * case by hand), the ASan runtime in the ASan build.
 */
static void test_detection(void **state)
{
    enum memory_allocator a = memory_allocator();
    const char *lib = memory_allocator_library();
    const char *preload = getenv("LD_PRELOAD");

    (void)state;
    assert_non_null(lib);
    assert_string_not_equal(memory_allocator_name(a), "");
    assert_int_equal(memory_allocator(), a); /* cached */
    if (preload != NULL && strstr(preload, "jemalloc") != NULL) {
        assert_int_equal(a, MEMORY_JEMALLOC);
        assert_non_null(strstr(lib, "jemalloc"));
    } else if (preload != NULL && strstr(preload, "tcmalloc") != NULL) {
        assert_int_equal(a, MEMORY_TCMALLOC);
    } else {
#if defined(IMGFCGI_ASAN) || defined(IMGFCGI_TSAN)
        /* ASan and TSan serve malloc themselves: no release call. */
        assert_int_equal(a, MEMORY_OTHER);
#else
        assert_int_equal(a, MEMORY_GLIBC);
        assert_non_null(strstr(lib, "libc.so"));
        assert_null(dlsym(RTLD_DEFAULT, "mallctl"));
#endif
    }
    printf("# malloc: %s (%s), %s\n", memory_allocator_name(a), lib, memory_arena_setting());
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(memory_allocator_name(MEMORY_GLIBC), "glibc");
    assert_string_equal(memory_allocator_name(MEMORY_JEMALLOC), "jemalloc");
    assert_string_equal(memory_allocator_name(MEMORY_TCMALLOC), "tcmalloc");
    assert_string_equal(memory_allocator_name(MEMORY_OTHER), "other");
}

static void test_rss(void **state)
{
    size_t before = memory_rss(), after;
    size_t n = 64 * 1024 * 1024;
    volatile unsigned char *p = malloc(n);

    (void)state;
    assert_true(before > 0);
    assert_non_null(p);
    for (size_t i = 0; i < n; i += 4096)
        p[i] = 1;
    after = memory_rss();
    assert_true(after >= before + n / 2);
    free((void *)p);
}

static void test_release_counts(void **state)
{
    uint64_t n = memory_releases();
    long long r = memory_release();

    (void)state;
    if (memory_allocator() == MEMORY_OTHER) {
        assert_int_equal(r, -1);
        assert_int_equal(memory_releases(), n);
    } else {
        assert_true(r >= 0);
        assert_int_equal(memory_releases(), n + 1);
    }
}

/* glibc: freed small chunks in a thread's arena come back with malloc_trim. */
static void test_release_gives_back(void **state)
{
    enum { N = 20000 };
    void **v;
    size_t peak, after;
    long long r;

    (void)state;
    if (memory_allocator() != MEMORY_GLIBC)
        skip();
    v = calloc(N, sizeof(*v));
    assert_non_null(v);
    for (int i = 0; i < N; i++) {
        v[i] = malloc(2000); /* below the mmap threshold: heap memory */
        assert_non_null(v[i]);
        memset(v[i], 1, 2000);
    }
    /* Keep the last one so the heap top cannot simply shrink. */
    for (int i = 0; i < N - 1; i++)
        free(v[i]);
    peak = memory_rss();
    r = memory_release();
    after = memory_rss();
    printf("# released %lld bytes (rss %zu -> %zu)\n", r, peak, after);
    assert_true(r > 0);
    assert_true(after < peak);
    free(v[N - 1]);
    free(v);
}

/*
 * In a child process (the thresholds are process-wide and cannot be undone):
 * tunes with TRIM, then frees a touched 24 MB buffer - the size of libjpeg's
 * luma coefficients for a 12 MP progressive JPEG - and reports in its exit
 * code whether the memory stayed resident (1) or went back to the OS (0), and
 * whether memory_release() then gave it back (+2). 99: something failed.
 */
static int child_keeps_freed(long long trim)
{
    size_t n = 24u << 20, held, freed, released;
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        volatile unsigned char *p;
        int code = 0;

        memory_tune(trim);
        p = malloc(n);
        if (p == NULL)
            _exit(99);
        for (size_t i = 0; i < n; i += 4096)
            p[i] = 1;
        held = memory_rss();
        free((void *)p);
        freed = memory_rss();
        memory_release();
        released = memory_rss();
        printf("# trim %lld: rss %zu, after free %zu, after release %zu kB\n", trim, held / 1024,
               freed / 1024, released / 1024);
        fflush(stdout);
        if (freed + n / 2 > held)
            code |= 1;
        if (released + n / 2 <= held)
            code |= 2;
        _exit(code);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_tune_keeps_big_buffers_for_the_next_request(void **state)
{
    (void)state;
    if (memory_allocator() != MEMORY_GLIBC) {
        assert_false(memory_tune(64LL << 20)); /* nothing to tune */
        skip();
    }
    char *saved = cfg.malloc_arena_max;

    /* As spawn.sh and conf/ start it: arenas bounded. */
    cfg.malloc_arena_max = (char *)"2";
    /* glibc's dynamic thresholds: a first 24 MB buffer is mmapped, unmapped on free. */
    assert_int_equal(child_keeps_freed(0), 0 | 2);
    /* Tuned: it stays for the next request until the sidecar's release. */
    assert_int_equal(child_keeps_freed(64LL << 20), 1 | 2);
    /* A threshold from the environment wins: nothing is set. */
    cfg.malloc_thresholds_env = true;
    assert_false(memory_tune(64LL << 20));
    cfg.malloc_thresholds_env = false;
    /* glibc's default arenas (8 per core) would each keep it: nothing is set. */
    cfg.malloc_arena_max = NULL;
    assert_int_equal(child_keeps_freed(64LL << 20), 0 | 2);
    cfg.malloc_arena_max = saved;
}

static void test_sidecar_start_stop(void **state)
{
    struct buf b;
    struct bufpool_stats st;
    uint64_t releases = memory_releases();
    double t0;

    (void)state;
    bufpool_download = bufpool_new("download", 2, 0, 64, 0);
    assert_non_null(bufpool_download);
    assert_int_equal(bufpool_acquire(bufpool_download, 100000, &b), 0);
    bufpool_release(bufpool_download, &b);

    assert_int_equal(memory_sidecar_start(1, true, true), 0);
    /* A second start while running is refused. */
    assert_int_equal(memory_sidecar_start(1, true, false), -1);
    t0 = now_s();
    while (memory_sidecar_ticks() < 2 && now_s() - t0 < 5)
        usleep(20000);
    assert_true(memory_sidecar_ticks() >= 2);
    if (memory_allocator() != MEMORY_OTHER)
        assert_true(memory_releases() >= releases + 2);
    /* Two idle rounds: the pool holds nothing any more. */
    bufpool_get_stats(bufpool_download, &st);
    assert_int_equal(st.pooled, 0);

    /* Stop wakes the thread at once instead of waiting out the interval. */
    t0 = now_s();
    memory_sidecar_stop();
    assert_true(now_s() - t0 < 0.5);
    memory_sidecar_stop(); /* no-op */

    /* It can start again, and stop right away. */
    assert_int_equal(memory_sidecar_start(60, false, false), 0);
    t0 = now_s();
    memory_sidecar_stop();
    assert_true(now_s() - t0 < 0.5);
    assert_int_equal(memory_sidecar_ticks(), 0);

    bufpool_free(bufpool_download);
    bufpool_download = NULL;
}

static void test_metrics_text(void **state)
{
    struct buf out;
    const char *want[] = {
        "imgfcgi_process_resident_memory_bytes ",
        "imgfcgi_allocator_info{allocator=\"",
        "imgfcgi_buffer_pool_default_size_bytes{pool=\"download\"} 4096\n",
        "imgfcgi_buffer_pool_max_size_bytes{pool=\"download\"} 0\n",
        "imgfcgi_buffer_pool_calibrations_total{pool=\"download\"} 0\n",
        "imgfcgi_buffer_pool_hits_total{pool=\"download\"} ",
        "imgfcgi_buffer_pool_misses_total{pool=\"download\"} ",
        "imgfcgi_buffer_pool_dropped_total{pool=\"download\"} ",
        "imgfcgi_memory_releases_total ",
        "imgfcgi_memory_released_bytes_total ",
        "imgfcgi_vips_memory_bytes ",
        "imgfcgi_vips_max_memory_bytes ",
        "imgfcgi_requests_in_flight 1\n",
        "imgfcgi_request_duration_seconds_bucket{le=\"0.05\"} 1\n",
        "imgfcgi_request_duration_seconds_bucket{le=\"+Inf\"} 2\n",
        "imgfcgi_request_duration_seconds_count 2\n",
        "imgfcgi_download_duration_seconds_count 0\n",
        "imgfcgi_processing_duration_seconds_bucket{le=\"+Inf\"} 1\n",
        "imgfcgi_responses_total{status=\"200\"} 1\n",
        "imgfcgi_responses_total{status=\"404\"} 1\n",
    };

    (void)state;
    bufpool_download = bufpool_new("download", 2, 4096, 64, 0);
    metrics_request_start();
    metrics_request_start();
    metrics_request_start();
    metrics_request_end(200);
    metrics_request_end(404);
    metrics_observe(METRICS_REQUEST, 0.03);
    metrics_observe(METRICS_REQUEST, 3);
    metrics_observe(METRICS_PROCESSING, 0.2);
    buf_init(&out);
    assert_int_equal(metrics_render(&out, NULL), 0);
    assert_int_equal(buf_append(&out, "", 1), 0);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr((const char *)out.data, want[i]) == NULL)
            fail_msg("missing \"%s\" in:\n%s", want[i], (const char *)out.data);
    }
    metrics_request_end(200);
    buf_release(&out);
    bufpool_free(bufpool_download);
    bufpool_download = NULL;
}

static int setup(void **state)
{
    (void)state;
    return tu_load_default_cfg();
}

static int teardown(void **state)
{
    (void)state;
    config_release(&cfg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_rss),
        cmocka_unit_test(test_release_counts),
        cmocka_unit_test(test_release_gives_back),
        cmocka_unit_test(test_tune_keeps_big_buffers_for_the_next_request),
        cmocka_unit_test(test_sidecar_start_stop),
        cmocka_unit_test(test_metrics_text),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_bufpool.c: buckets, calibration on synthetic size streams, bounds and drop rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bufpool.h"

#define MiB (1024 * 1024)

/* The ASan build does not pool (every buffer is fresh): tests of pooling itself skip there. */
#ifdef IMGFCGI_ASAN
#define POOLING_ONLY() skip()
#else
#define POOLING_ONLY() ((void)0)
#endif

/* A deterministic PRNG (splitmix64), so every run sees the same streams. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(void)
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

/* Log-normal lengths: median m bytes, sigma s (natural log). */
static size_t lognormal(double m, double s)
{
    double u1 = rng_uniform(), u2 = rng_uniform();
    double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);

    return (size_t)(m * exp(s * z)) + 1;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

/* The exact quantile of a sample (the smallest value covering permille/1000 of it). */
static size_t exact_quantile(size_t *v, size_t n, unsigned permille)
{
    size_t k = (n * permille + 999) / 1000;

    qsort(v, n, sizeof(*v), cmp_size);
    return v[k > 0 ? k - 1 : 0];
}

/* imgproxy v3's buffer-pool statistic: power-of-two buckets from 64 B, first cum > q * sum. */
static size_t imgproxy_quantile(const size_t *v, size_t n, double q)
{
    uint64_t calls[20] = {0}, cum = 0;

    for (size_t i = 0; i < n; i++) {
        size_t x = (v[i] - 1) >> 6;
        unsigned idx = 0;

        while (x > 0) {
            idx++;
            x >>= 1;
        }
        calls[idx > 19 ? 19 : idx]++;
    }
    for (unsigned i = 0; i < 20; i++) {
        cum += calls[i];
        if ((double)cum > q * (double)n)
            return (size_t)64 << i;
    }
    return (size_t)64 << 19;
}

static void test_buckets(void **state)
{
    (void)state;
    assert_int_equal(bufpool_bucket_bound(0), 64);
    assert_int_equal(bufpool_bucket_bound(8), 128);
    assert_int_equal(bufpool_bucket_bound(8 * 14), 1 * MiB);
    assert_int_equal(bufpool_bucket(1), 0);
    assert_int_equal(bufpool_bucket(64), 0);
    assert_int_equal(bufpool_bucket(65), 1);
    for (unsigned i = 0; i + 1 < BUFPOOL_BUCKETS - 1; i++) {
        size_t b = bufpool_bucket_bound(i), next = bufpool_bucket_bound(i + 1);

        assert_true(next > b);
        /* A step is at most 2^(1/8) = 1.0905 (plus rounding on tiny sizes). */
        assert_true((double)next <= (double)b * 1.0906 + 1);
        assert_int_equal(bufpool_bucket(b), i);
        assert_int_equal(bufpool_bucket(b + 1), i + 1);
    }
    assert_int_equal(bufpool_bucket(SIZE_MAX), BUFPOOL_BUCKETS - 1);
}

static void test_quantile_known(void **state)
{
    uint64_t hist[BUFPOOL_BUCKETS] = {0};

    (void)state;
    assert_int_equal(bufpool_quantile(hist, 500), 0);
    /* 900 x 100 KB, 90 x 1 MiB, 10 x 5 MB. */
    hist[bufpool_bucket(100000)] = 900;
    hist[bufpool_bucket(1 * MiB)] = 90;
    hist[bufpool_bucket(5000000)] = 10;
    assert_int_equal(bufpool_quantile(hist, 500), bufpool_bucket_bound(bufpool_bucket(100000)));
    assert_int_equal(bufpool_quantile(hist, 900), bufpool_bucket_bound(bufpool_bucket(100000)));
    assert_int_equal(bufpool_quantile(hist, 950), 1 * MiB);
    assert_int_equal(bufpool_quantile(hist, 990), 1 * MiB);
    assert_int_equal(bufpool_quantile(hist, 991), bufpool_bucket_bound(bufpool_bucket(5000000)));
    /* Bounds are within 9.05% above the value. */
    assert_true(bufpool_bucket_bound(bufpool_bucket(100000)) >= 100000);
    assert_true(bufpool_bucket_bound(bufpool_bucket(100000)) <= 109051);
}

/* Returns n buffers of the given lengths through p, one at a time. */
static void feed(struct bufpool *p, const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct buf b;

        assert_int_equal(bufpool_acquire(p, lens[i], &b), 0);
        assert_true(b.cap >= lens[i]);
        memset(b.data, 0xab, lens[i]);
        b.len = lens[i];
        bufpool_release(p, &b);
        assert_null(b.data);
    }
}

/* Feeds n buffers of one length through p, then reads its statistics into st. */
static void feed_same(struct bufpool *p, size_t len, size_t n, struct bufpool_stats *st)
{
    for (size_t i = 0; i < n; i++)
        feed(p, &len, 1);
    bufpool_get_stats(p, st);
}

static void test_calibration_stream(void **state)
{
    struct bufpool *p = bufpool_new("t", 2, 0, 100, 0);
    size_t lens[100];
    struct bufpool_stats st;

    (void)state;
    assert_non_null(p);
    /* 90 x 200 KB, 6 x 1.5 MB, 4 x 3 MB: p95 = 1.5 MB, p99 = 3 MB (as bucket bounds). */
    for (size_t i = 0; i < 100; i++)
        lens[i] = i < 90 ? 200000 : i < 96 ? 1500000 : 3000000;
    feed(p, lens, 99);
    bufpool_get_stats(p, &st);
    assert_int_equal(st.calibrations, 0);
    assert_int_equal(st.max_size, 0);
    feed(p, lens + 99, 1);
    bufpool_get_stats(p, &st);
    assert_int_equal(st.calibrations, 1);
    assert_int_equal(st.default_size, bufpool_bucket_bound(bufpool_bucket(1500000)));
    assert_int_equal(st.max_size, bufpool_bucket_bound(bufpool_bucket(3000000)));
    assert_true(st.max_size >= 3000000 && st.max_size <= 3000000 * 1.0906);
    assert_int_equal(st.oversize_pooled, 0);
    assert_true(st.pooled <= 2);
    bufpool_free(p);
}

static void test_floor_and_limit(void **state)
{
    struct bufpool *p;
    struct buf b;

    (void)state;
    POOLING_ONLY();
    p = bufpool_new("t", 2, 2 * MiB, 64, 3 * MiB);
    assert_non_null(p);
    /* Unknown length: the floor (IMGPROXY_DOWNLOAD_BUFFER_SIZE). */
    assert_int_equal(bufpool_acquire(p, 0, &b), 0);
    assert_true(b.cap >= 2 * MiB);
    bufpool_release(p, &b);
    /* Known small length: the pooled 2 MiB buffer is reused. */
    assert_int_equal(bufpool_acquire(p, 1000, &b), 0);
    assert_true(b.cap >= 2 * MiB);
    bufpool_release(p, &b);
    /* Never above the limit (IMGPROXY_MAX_SRC_FILE_SIZE) when rounding up. */
    assert_int_equal(bufpool_acquire(p, 3 * MiB - 10, &b), 0);
    assert_true(b.cap >= 3 * MiB - 10 && b.cap <= 3 * MiB);
    bufpool_release(p, &b);
    bufpool_free(p);
}

static void test_capacity_keeps_largest(void **state)
{
    struct bufpool *p;
    struct buf b[4];
    struct bufpool_stats st;

    (void)state;
    POOLING_ONLY();
    p = bufpool_new("t", 2, 0, 1000, 0);
    assert_non_null(p);
    for (int i = 0; i < 4; i++)
        assert_int_equal(bufpool_acquire(p, (size_t)(i + 1) * 100000, &b[i]), 0);
    bufpool_get_stats(p, &st);
    assert_int_equal(st.in_use, 4);
    for (int i = 0; i < 4; i++) {
        b[i].len = 10;
        bufpool_release(p, &b[i]);
    }
    bufpool_get_stats(p, &st);
    assert_int_equal(st.pooled, 2);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.dropped, 2);
    /* The two largest stay. */
    assert_true(st.pooled_bytes >= 700000);
    assert_true(st.largest_pooled >= 400000);
    bufpool_free(p);
}

static void test_drop_above_max(void **state)
{
    struct bufpool *p;
    struct bufpool_stats st;
    struct buf b;
    uint64_t dropped;

    (void)state;
    POOLING_ONLY();
    p = bufpool_new("t", 4, 0, 64, 0);
    assert_non_null(p);
    feed_same(p, 100000, 64, &st);
    assert_int_equal(st.calibrations, 1);
    dropped = st.dropped;
    /* An outlier above max: sized exactly, not kept. */
    assert_int_equal(bufpool_acquire(p, 10 * MiB, &b), 0);
    assert_int_equal(b.cap, 10 * MiB);
    b.len = 10 * MiB;
    bufpool_release(p, &b);
    bufpool_get_stats(p, &st);
    assert_int_equal(st.dropped, dropped + 1);
    assert_true(st.largest_pooled <= st.max_size);
    assert_int_equal(st.oversize_pooled, 0);
    bufpool_free(p);
}

static void test_recalibration_evicts(void **state)
{
    struct bufpool *p;
    struct bufpool_stats st;

    (void)state;
    POOLING_ONLY();
    p = bufpool_new("t", 2, 0, 64, 0);
    assert_non_null(p);
    feed_same(p, 4 * MiB, 64, &st);
    assert_true(st.largest_pooled >= 4 * MiB);
    /* The traffic changes to small images: the next calibration lowers max and evicts. */
    feed_same(p, 50000, 64, &st);
    assert_int_equal(st.calibrations, 2);
    assert_true(st.max_size < 60000);
    assert_int_equal(st.oversize_pooled, 0);
    assert_true(st.largest_pooled <= st.max_size);
    bufpool_free(p);
}

static void test_trim(void **state)
{
    struct bufpool *p;
    struct buf b[3];
    struct bufpool_stats st;

    (void)state;
    POOLING_ONLY();
    p = bufpool_new("t", 4, 0, 1000, 0);
    assert_non_null(p);
    for (int i = 0; i < 3; i++)
        assert_int_equal(bufpool_acquire(p, 100000, &b[i]), 0);
    for (int i = 0; i < 3; i++)
        bufpool_release(p, &b[i]);
    /* Three were in use at once: the first trim keeps three. */
    assert_int_equal(bufpool_trim(p), 0);
    bufpool_get_stats(p, &st);
    assert_int_equal(st.pooled, 3);
    /* Idle since: the next trim frees them all. */
    assert_true(bufpool_trim(p) >= 300000);
    bufpool_get_stats(p, &st);
    assert_int_equal(st.pooled, 0);
    bufpool_free(p);
}

/* Hit rate after the first calibration on a log-normal stream, two workers. */
static void test_hit_rate(void **state)
{
    struct bufpool *p;
    struct bufpool_stats st;
    double rate;

    (void)state;
    POOLING_ONLY();
    p = bufpool_new("t", 2, 0, 1024, 0);
    assert_non_null(p);
    rng_state = 42;
    for (int i = 0; i < 6000; i++) {
        struct buf a, b;
        size_t la = lognormal(500000, 0.8), lb = lognormal(500000, 0.8);

        /* Two requests overlap, as with two workers. */
        assert_int_equal(bufpool_acquire(p, la, &a), 0);
        assert_int_equal(bufpool_acquire(p, lb, &b), 0);
        a.len = la;
        b.len = lb;
        bufpool_release(p, &a);
        bufpool_release(p, &b);
        if (i % 500 == 0)
            bufpool_trim(p);
    }
    bufpool_get_stats(p, &st);
    assert_true(st.calibrations >= 10);
    rate = (double)st.hits_calibrated / (double)(st.hits_calibrated + st.misses_calibrated);
    printf("# hit rate after calibration: %.4f (max %zu, default %zu)\n", rate, st.max_size,
           st.default_size);
    assert_true(rate >= 0.97);
    assert_int_equal(st.oversize_pooled, 0);
    bufpool_free(p);
}

/*
 * The statistic against imgproxy's on synthetic streams: at the same
 * quantile ours overshoots the true value by at most 9.05% (imgproxy's by up
 * to 100%) and is never larger; and our max (p99) covers >= 99% of lengths.
 */
static void test_statistic_vs_imgproxy(void **state)
{
    static const struct {
        double median, sigma;
    } streams[] = {{300000, 0.5}, {500000, 0.8}, {700000, 1.0}, {90000, 1.2}, {2000000, 0.3}};
    enum { N = 4096 };
    size_t *v = malloc(N * sizeof(*v)), *w = malloc(N * sizeof(*w));
    double worst_ours = 0, worst_imgproxy = 0;

    (void)state;
    assert_non_null(v);
    assert_non_null(w);
    rng_state = 7;
    for (size_t s = 0; s < sizeof(streams) / sizeof(streams[0]); s++) {
        uint64_t hist[BUFPOOL_BUCKETS] = {0};
        size_t p95, ours95, theirs95, ours99, covered = 0;

        for (size_t i = 0; i < N; i++) {
            v[i] = lognormal(streams[s].median, streams[s].sigma);
            hist[bufpool_bucket(v[i])]++;
        }
        memcpy(w, v, N * sizeof(*v));
        theirs95 = imgproxy_quantile(v, N, 0.95);
        p95 = exact_quantile(w, N, 950);
        ours95 = bufpool_quantile(hist, 950);
        ours99 = bufpool_quantile(hist, BUFPOOL_MAX_PERMILLE);
        for (size_t i = 0; i < N; i++)
            covered += v[i] <= ours99;
        assert_true(ours95 >= p95);
        assert_true((double)ours95 <= (double)p95 * 1.0906);
        assert_true(ours95 <= theirs95);
        assert_true(covered * 1000 >= (size_t)N * BUFPOOL_MAX_PERMILLE);
        if ((double)ours95 / p95 > worst_ours)
            worst_ours = (double)ours95 / p95;
        if ((double)theirs95 / p95 > worst_imgproxy)
            worst_imgproxy = (double)theirs95 / p95;
        printf("# median %.0f sigma %.1f: p95 %zu, ours %zu (+%.1f%%), imgproxy %zu (+%.1f%%); "
               "our max (p99) %zu covers %.2f%%\n",
               streams[s].median, streams[s].sigma, p95, ours95, 100.0 * ((double)ours95 / p95 - 1),
               theirs95, 100.0 * ((double)theirs95 / p95 - 1), ours99, 100.0 * covered / N);
    }
    printf("# worst overshoot of p95: ours %.1f%%, imgproxy %.1f%%\n", 100 * (worst_ours - 1),
           100 * (worst_imgproxy - 1));
    free(v);
    free(w);
}

static void test_null_pool(void **state)
{
    struct buf b;
    struct bufpool_stats st;

    (void)state;
    assert_int_equal(bufpool_acquire(NULL, 100, &b), 0);
    assert_true(b.cap >= 100);
    bufpool_release(NULL, &b);
    assert_null(b.data);
    bufpool_get_stats(NULL, &st);
    assert_int_equal(st.pooled, 0);
    assert_int_equal(bufpool_trim(NULL), 0);
    bufpool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_quantile_known),
        cmocka_unit_test(test_calibration_stream),
        cmocka_unit_test(test_floor_and_limit),
        cmocka_unit_test(test_capacity_keeps_largest),
        cmocka_unit_test(test_drop_above_max),
        cmocka_unit_test(test_recalibration_evicts),
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_hit_rate),
        cmocka_unit_test(test_statistic_vs_imgproxy),
        cmocka_unit_test(test_null_pool),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * bufpool.h: a self-calibrating pool of download buffers (the design of
 * imgproxy's bufpool, with a finer statistic).
 *
 * What it does. Download buffers are the biggest allocations imgfcgi makes
 * itself; allocating and freeing a fresh multi-megabyte buffer per request is
 * what fragments malloc's arenas. The pool keeps at most `capacity` idle
 * buffers (IMGPROXY_WORKERS: at most one per request thread can be in use)
 * and hands the best-fitting one out again.
 *
 * Calibration. Every buffer returned with len > 0 records its length in a
 * histogram. After `threshold` returns (IMGPROXY_BUFFER_POOL_CALIBRATION_THRESHOLD)
 * the pool recomputes two sizes from that histogram and starts a new one:
 *
 *   default size  new buffers start at least this large (p95 of the lengths);
 *   max size      returned buffers with a capacity above it are freed, not
 *                 kept (p99 of the lengths).
 *
 * The statistic. imgproxy counts lengths in power-of-two buckets and takes
 * the upper bound of the p50 bucket as default and of the p95 bucket as max,
 * so its quantiles overshoot the true value by up to 100% (every pooled
 * buffer may be twice what it needs) and sit at an arbitrary place between
 * p95 and 2 x p95. Here the buckets are eighth-octaves (bounds 64 * 2^(i/8),
 * steps of 9%), so a quantile is overestimated by at most 9.05% and is never
 * larger than imgproxy's at the same quantile (tests/unit/test_bufpool.c
 * compares the two on synthetic log-normal streams). The precision buys a
 * deliberate choice of quantile instead of a rounding accident:
 *   max = p99: about 99% of downloads fit a pooled buffer after
 *   calibration, at the cost of keeping `capacity` buffers of p99 size;
 *   for wide spreads of sizes that is more than imgproxy's max (the upper
 *   bound of the p95 power-of-two bucket), for narrow ones less.
 *   default = p95, imgproxy's own advice for IMGPROXY_DOWNLOAD_BUFFER_SIZE
 *   ("the estimated 95 percentile of your image sizes"): a body of unknown
 *   length then rarely regrows the buffer while it arrives.
 * IMGPROXY_DOWNLOAD_BUFFER_SIZE stays a floor for the default size.
 *
 * Threads. One mutex guards the idle list (at most `capacity` entries, so
 * every operation under it is short). Lengths are counted in atomics;
 * calibration runs on the thread whose return crossed the threshold under a
 * second mutex taken with trylock, so no request thread ever waits for it.
 *
 * Sizes a request controls are capped: with max_src_file_size > 0 no buffer
 * is made bigger than that (fetch checks the limit before asking).
 */
#ifndef IMGFCGI_BUFPOOL_H
#define IMGFCGI_BUFPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Bucket i holds lengths in (64 * 2^((i-1)/8), 64 * 2^(i/8)]; the last one everything above 64 GiB.
 */
#define BUFPOOL_SUBSTEPS 8
#define BUFPOOL_BUCKETS (BUFPOOL_SUBSTEPS * 30 + 1)
/* Quantiles in per mille. */
#define BUFPOOL_DEFAULT_PERMILLE 950
#define BUFPOOL_MAX_PERMILLE 990

struct bufpool;

/* A snapshot of the pool's counters (for metrics and tests). */
struct bufpool_stats {
    size_t default_size;        /* current default size of new buffers */
    size_t max_size;            /* current max size of a kept buffer; 0 = not calibrated yet */
    size_t pooled;              /* idle buffers in the pool */
    size_t pooled_bytes;        /* their capacity, summed */
    size_t largest_pooled;      /* capacity of the largest idle buffer */
    size_t in_use;              /* buffers handed out and not returned */
    uint64_t calibrations;      /* calibrations done */
    uint64_t hits;              /* acquire served by an idle buffer big enough (no regrowth) */
    uint64_t misses;            /* acquire that had to allocate or grow */
    uint64_t hits_calibrated;   /* hits after the first calibration */
    uint64_t misses_calibrated; /* misses after the first calibration */
    uint64_t dropped;           /* buffers freed instead of kept (too big, pool full, trimmed) */
    size_t oversize_pooled;     /* idle buffers above max size: always 0 (checked by tests) */
};

/*
 * Creates a pool. name is borrowed (a string literal) and used in metrics.
 * capacity: idle buffers kept (>= 1). default_size: the floor for the size of
 * new buffers (IMGPROXY_DOWNLOAD_BUFFER_SIZE, may be 0). threshold: returns
 * between calibrations (>= 1). limit: the largest buffer ever made, 0 = none
 * (IMGPROXY_MAX_SRC_FILE_SIZE). NULL on allocation failure; free with
 * bufpool_free().
 */
struct bufpool *bufpool_new(const char *name, size_t capacity, size_t default_size,
                            unsigned threshold, size_t limit);

/* Frees the pool and every idle buffer; NULL is a no-op. Buffers still out must not be returned
 * afterwards. */
void bufpool_free(struct bufpool *p);

/*
 * Fills out (which must own nothing) with an empty buffer for a body of
 * size_hint bytes (0 = unknown): the idle buffer with the smallest capacity
 * >= size_hint, else a new one of max(size_hint, default size) rounded up to
 * a bucket bound (never past limit, never past max size unless size_hint
 * itself is larger, in which case the buffer is exactly size_hint and will
 * be dropped when it comes back). With size_hint = 0 the largest idle buffer
 * is taken, else a new one of default size (or none, if that is 0).
 * p may be NULL: then out simply gets a fresh malloc'd buffer.
 * Returns 0, or -1 when the allocation fails (out owns nothing).
 * Under IMGFCGI_ASAN nothing is pooled: every buffer is fresh and freed on return.
 */
int bufpool_acquire(struct bufpool *p, size_t size_hint, struct buf *out)
    __attribute__((warn_unused_result));

/*
 * Takes ownership of b's memory (b is left empty): records b->len for
 * calibration, then keeps the buffer or frees it: a capacity above max size
 * is freed; when the pool already holds `capacity` buffers the smaller of
 * b and the smallest idle one is freed. p may be NULL (b is freed).
 * The caller must be sure nothing reads b anymore: in particular no libvips
 * image made from it may still exist (libvips does not copy memory sources).
 */
void bufpool_release(struct bufpool *p, struct buf *b);

/*
 * The sidecar's periodic clean-up (calibration does the first part too):
 * frees idle buffers above max size and
 * idle buffers beyond the most that were in use at once since the last trim
 * (so an idle process ends up holding none). Returns the bytes freed.
 */
size_t bufpool_trim(struct bufpool *p);

/* Fills st with a consistent snapshot. p may be NULL (all zero). */
void bufpool_get_stats(struct bufpool *p, struct bufpool_stats *st);

/* The pool's name, borrowed. */
const char *bufpool_name(const struct bufpool *p);

/*
 * The calibration statistic on a histogram of BUFPOOL_BUCKETS counts (exposed
 * for tests): the upper bound of the bucket holding the given quantile
 * (per mille), or 0 when the histogram is empty.
 */
size_t bufpool_quantile(const uint64_t *hist, unsigned permille);
/* The bucket a length falls into, and a bucket's upper bound in bytes. */
unsigned bufpool_bucket(size_t len);
size_t bufpool_bucket_bound(unsigned i);

/*
 * The download pool: made by main before the workers start (NULL until then,
 * in which case fetch allocates plainly). Freed by main after they stopped.
 */
extern struct bufpool *bufpool_download;

#endif

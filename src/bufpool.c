/*
 * bufpool.c: pooled download buffers that calibrate their sizes from what
 * comes back. Design and the statistic: bufpool.h.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bufpool.h"
#include "banned.h"

struct bufpool *bufpool_download;

struct bufpool {
    const char *name;
    size_t capacity;
    size_t floor_size; /* IMGPROXY_DOWNLOAD_BUFFER_SIZE */
    unsigned threshold;
    size_t limit;

    /* Guarded by lock. */
    pthread_mutex_t lock;
    struct buf *idle; /* capacity entries, the first npooled used */
    size_t npooled;
    size_t in_use;
    size_t in_use_peak; /* since the last trim */

    /* Written under calib (trylock), read anywhere. */
    pthread_mutex_t calib;
    _Atomic size_t default_size;
    _Atomic size_t max_size;

    _Atomic uint64_t hist[BUFPOOL_BUCKETS];
    atomic_uint returns; /* since the last calibration */
    _Atomic uint64_t calibrations, hits, misses, hits_cal, misses_cal, dropped;
};

/* round(2^(j/8) * 2^20), j = 0..7 */
static const uint64_t eighth_octave[BUFPOOL_SUBSTEPS] = {
    1048576, 1143480, 1246974, 1359836, 1482910, 1617125, 1763487, 1923096,
};

size_t bufpool_bucket_bound(unsigned i)
{
    unsigned k = i / BUFPOOL_SUBSTEPS, j = i % BUFPOOL_SUBSTEPS;
    uint64_t base = (uint64_t)64 << k;

    if (i >= BUFPOOL_BUCKETS - 1)
        return SIZE_MAX;
    /* Rounded up, and never below the exact power of two. */
    return (size_t)((base * eighth_octave[j] + ((uint64_t)1 << 20) - 1) >> 20);
}

unsigned bufpool_bucket(size_t len)
{
    unsigned lo = 0, hi = BUFPOOL_BUCKETS - 1;

    /* The first bucket whose bound is >= len. */
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;

        if (bufpool_bucket_bound(mid) >= len)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

size_t bufpool_quantile(const uint64_t *hist, unsigned permille)
{
    uint64_t sum = 0, cum = 0, target;

    for (unsigned i = 0; i < BUFPOOL_BUCKETS; i++)
        sum += hist[i];
    if (sum == 0)
        return 0;
    /* The smallest bucket bound that covers at least permille/1000 of the lengths. */
    target = (sum * permille + 999) / 1000;
    if (target == 0)
        target = 1;
    for (unsigned i = 0; i < BUFPOOL_BUCKETS; i++) {
        cum += hist[i];
        if (cum >= target)
            return bufpool_bucket_bound(i);
    }
    return bufpool_bucket_bound(BUFPOOL_BUCKETS - 1);
}

struct bufpool *bufpool_new(const char *name, size_t capacity, size_t default_size,
                            unsigned threshold, size_t limit)
{
    struct bufpool *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->name = name;
    p->capacity = capacity > 0 ? capacity : 1;
    p->floor_size = default_size;
    p->threshold = threshold > 0 ? threshold : 1;
    p->limit = limit;
    p->idle = calloc(p->capacity, sizeof(*p->idle));
    if (p->idle == NULL) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->calib, NULL);
    atomic_store(&p->default_size, default_size);
    atomic_store(&p->max_size, 0);
    return p;
}

void bufpool_free(struct bufpool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->npooled; i++)
        buf_release(&p->idle[i]);
    free(p->idle);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->calib);
    free(p);
}

const char *bufpool_name(const struct bufpool *p)
{
    return p != NULL ? p->name : "";
}

static size_t cap_limit(const struct bufpool *p, size_t n)
{
    return p->limit > 0 && n > p->limit ? p->limit : n;
}

/* Removes idle entry i (lock held) and moves it to out. */
static void take_idle(struct bufpool *p, size_t i, struct buf *out)
{
    *out = p->idle[i];
    p->idle[i] = p->idle[p->npooled - 1];
    buf_init(&p->idle[p->npooled - 1]);
    p->npooled--;
}

/*
 * Frees the ndrop buffers taken out of the pool (lock not held: returning big
 * blocks to the OS can take a while) and counts them; returns the bytes freed.
 */
static size_t free_dropped(struct bufpool *p, struct buf *drop, size_t ndrop)
{
    size_t freed = 0;

    for (size_t i = 0; i < ndrop; i++) {
        freed += drop[i].cap;
        buf_release(&drop[i]);
    }
    atomic_fetch_add(&p->dropped, ndrop);
    return freed;
}

static void count(struct bufpool *p, bool hit)
{
    bool calibrated = atomic_load(&p->calibrations) > 0;

    if (hit) {
        atomic_fetch_add(&p->hits, 1);
        if (calibrated)
            atomic_fetch_add(&p->hits_cal, 1);
    } else {
        atomic_fetch_add(&p->misses, 1);
        if (calibrated)
            atomic_fetch_add(&p->misses_cal, 1);
    }
}

/* The size of a new buffer for size_hint (0 = unknown). */
static size_t new_size(const struct bufpool *p, size_t size_hint)
{
    size_t def = atomic_load(&p->default_size);
    size_t max = atomic_load(&p->max_size);
    size_t want;

    if (def < p->floor_size)
        def = p->floor_size;
    if (size_hint == 0)
        return cap_limit(p, def);
    if (max > 0 && size_hint > max)
        return cap_limit(p, size_hint); /* an outlier: exact, dropped on return */
    want = size_hint > def ? size_hint : def;
    /* Room to the bucket bound, so a slightly bigger body later fits too. */
    want = bufpool_bucket_bound(bufpool_bucket(want));
    if (max > 0 && want > max)
        want = max;
    if (want < size_hint)
        want = size_hint;
    return cap_limit(p, want);
}

int bufpool_acquire(struct bufpool *p, size_t size_hint, struct buf *out)
{
    size_t best = SIZE_MAX, n;
    bool hit = false;

    buf_init(out);
    if (p == NULL)
        return size_hint > 0 ? buf_reserve(out, size_hint) : 0;
    pthread_mutex_lock(&p->lock);
    p->in_use++;
    if (p->in_use > p->in_use_peak)
        p->in_use_peak = p->in_use;
#ifndef IMGFCGI_ASAN
    for (size_t i = 0; i < p->npooled; i++) {
        size_t cap = p->idle[i].cap;

        if (size_hint == 0) {
            /* Unknown length: the largest. */
            if (best == SIZE_MAX || cap > p->idle[best].cap)
                best = i;
        } else if (cap >= size_hint && (best == SIZE_MAX || cap < p->idle[best].cap)) {
            best = i;
        }
    }
#endif
    /* Under ASan nothing is pooled, so best stays SIZE_MAX: every buffer is fresh. */
    if (best != SIZE_MAX) {
        take_idle(p, best, out);
        hit = true;
    }
    pthread_mutex_unlock(&p->lock);
    out->len = 0;
    if (hit) {
        count(p, true);
        return 0;
    }
    /*
     * No idle buffer fits. A pooled buffer that is too small is not grown
     * here: it stays for smaller bodies and the new one is sized once.
     */
    count(p, false);
    n = new_size(p, size_hint);
    if (n > 0 && buf_reserve(out, n) < 0) {
        pthread_mutex_lock(&p->lock);
        p->in_use--;
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    return 0;
}

/* Frees idle buffers with a capacity above max; returns the bytes freed. */
static size_t evict_oversize(struct bufpool *p, size_t max)
{
    struct buf drop[64];
    size_t ndrop = 0;

    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->npooled && ndrop < 64;) {
        if (p->idle[i].cap > max)
            take_idle(p, i, &drop[ndrop++]);
        else
            i++;
    }
    pthread_mutex_unlock(&p->lock);
    return free_dropped(p, drop, ndrop);
}

/* Recomputes default and max from the histogram; never waits for another calibration. */
static void calibrate(struct bufpool *p)
{
    uint64_t hist[BUFPOOL_BUCKETS];
    size_t def, max;

    if (pthread_mutex_trylock(&p->calib) != 0)
        return;
    if (atomic_load(&p->returns) < p->threshold) {
        pthread_mutex_unlock(&p->calib);
        return;
    }
    atomic_store(&p->returns, 0);
    for (unsigned i = 0; i < BUFPOOL_BUCKETS; i++)
        hist[i] = atomic_exchange(&p->hist[i], 0);
    def = bufpool_quantile(hist, BUFPOOL_DEFAULT_PERMILLE);
    max = bufpool_quantile(hist, BUFPOOL_MAX_PERMILLE);
    if (max > 0) {
        if (def < p->floor_size)
            def = p->floor_size;
        if (max < def)
            max = def;
        atomic_store(&p->default_size, cap_limit(p, def));
        atomic_store(&p->max_size, max);
        atomic_fetch_add(&p->calibrations, 1);
    }
    pthread_mutex_unlock(&p->calib);
    /* No idle buffer may stay above a lowered max. */
    if (max > 0)
        evict_oversize(p, max);
}

void bufpool_release(struct bufpool *p, struct buf *b)
{
    struct buf out;
    size_t max;

    buf_init(&out);
    if (p == NULL) {
        buf_release(b);
        return;
    }
    if (b->len > 0) {
        atomic_fetch_add(&p->hist[bufpool_bucket(b->len)], 1);
        if (atomic_fetch_add(&p->returns, 1) + 1 >= p->threshold)
            calibrate(p);
    }
    max = atomic_load(&p->max_size);
    pthread_mutex_lock(&p->lock);
    if (p->in_use > 0)
        p->in_use--;
#ifndef IMGFCGI_ASAN
    if (b->data != NULL && (max == 0 || b->cap <= max)) {
        b->len = 0;
        if (p->npooled < p->capacity) {
            p->idle[p->npooled++] = *b;
            buf_init(b);
        } else {
            /* Full: the larger buffer stays, so the pool converges on buffers that fit. */
            size_t small = 0;

            for (size_t i = 1; i < p->npooled; i++)
                if (p->idle[i].cap < p->idle[small].cap)
                    small = i;
            if (p->idle[small].cap < b->cap) {
                out = p->idle[small];
                p->idle[small] = *b;
                buf_init(b);
            }
        }
    }
#else
    (void)max;
#endif
    pthread_mutex_unlock(&p->lock);
    /* Whatever is left is freed outside the lock. */
    if (b->data != NULL) {
        atomic_fetch_add(&p->dropped, 1);
        buf_release(b);
    }
    if (out.data != NULL) {
        atomic_fetch_add(&p->dropped, 1);
        buf_release(&out);
    }
    buf_init(b);
}

size_t bufpool_trim(struct bufpool *p)
{
    struct buf drop[64];
    size_t ndrop = 0, freed, max, keep;

    if (p == NULL)
        return 0;
    max = atomic_load(&p->max_size);
    freed = max > 0 ? evict_oversize(p, max) : 0;
    pthread_mutex_lock(&p->lock);
    /* Keep as many idle buffers as were in use at once since the last trim, minus those out now. */
    keep = p->in_use_peak > p->in_use ? p->in_use_peak - p->in_use : 0;
    while (p->npooled > keep && ndrop < 64) {
        size_t small = 0;

        for (size_t i = 1; i < p->npooled; i++)
            if (p->idle[i].cap < p->idle[small].cap)
                small = i;
        take_idle(p, small, &drop[ndrop++]);
    }
    p->in_use_peak = p->in_use;
    pthread_mutex_unlock(&p->lock);
    return freed + free_dropped(p, drop, ndrop);
}

void bufpool_get_stats(struct bufpool *p, struct bufpool_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (p == NULL)
        return;
    st->max_size = atomic_load(&p->max_size);
    pthread_mutex_lock(&p->lock);
    st->pooled = p->npooled;
    st->in_use = p->in_use;
    for (size_t i = 0; i < p->npooled; i++) {
        st->pooled_bytes += p->idle[i].cap;
        if (p->idle[i].cap > st->largest_pooled)
            st->largest_pooled = p->idle[i].cap;
        if (st->max_size > 0 && p->idle[i].cap > st->max_size)
            st->oversize_pooled++;
    }
    pthread_mutex_unlock(&p->lock);
    st->default_size = atomic_load(&p->default_size);
    if (st->default_size < p->floor_size)
        st->default_size = p->floor_size;
    st->calibrations = atomic_load(&p->calibrations);
    st->hits = atomic_load(&p->hits);
    st->misses = atomic_load(&p->misses);
    st->hits_calibrated = atomic_load(&p->hits_cal);
    st->misses_calibrated = atomic_load(&p->misses_cal);
    st->dropped = atomic_load(&p->dropped);
}

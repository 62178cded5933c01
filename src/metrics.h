/*
 * metrics.h: process-wide request counters and histograms, and the
 * Prometheus text exposition (format 0.0.4) served at IMGFCGI_METRICS_PATH.
 *
 * Every recorder is lock-free (atomics) and may be called from any thread.
 */
#ifndef IMGFCGI_METRICS_H
#define IMGFCGI_METRICS_H

#include <stdbool.h>

#include "buf.h"

struct sched;

enum metrics_hist {
    METRICS_REQUEST,    /* whole request, seconds */
    METRICS_DOWNLOAD,   /* source download */
    METRICS_PROCESSING, /* libvips pipeline and saving */
    METRICS_NHIST,
};

/* A request starts (in flight +1) and ends (in flight -1, its status counted). */
void metrics_request_start(void);
void metrics_request_end(int status);

/* Adds one observation (seconds) to histogram h. */
void metrics_observe(enum metrics_hist h, double seconds);

/*
 * Appends the exposition to out (caller owns out and frees it with
 * buf_release): process RSS, allocator, download pool, releases, libvips
 * tracked memory, the scheduler sched (borrowed; NULL: none, the budget shown
 * as off), in flight, histograms, responses by status.
 * Returns 0, or -1 on allocation failure (out may hold part of the text).
 */
int metrics_render(struct buf *out, struct sched *sched) __attribute__((warn_unused_result));

/* The figures of the live memory view (src/playground.c), taken at one moment. */
struct metrics_snapshot {
    unsigned long long rss;            /* bytes, /proc/self/statm */
    const char *allocator;             /* memory_allocator_name() */
    const char *allocator_library;     /* memory_allocator_library() */
    unsigned long long releases;       /* memory_releases() */
    unsigned long long released_bytes; /* memory_released_bytes() */
    unsigned long long vips_mem;       /* vips_tracked_get_mem() */
    unsigned long long vips_mem_highwater;
    unsigned long long pool_default_size, pool_max_size, pool_calibrations;
    unsigned long long pool_buffers, pool_bytes, pool_in_use;
    long in_flight;                  /* requests being served, this one included */
    int slots_in_use, slots_waiting; /* processing slots taken, requests queued for one */
    bool budget_on;
    unsigned long long budget, budget_used, budget_waiting;
};

/* Fills st; sched may be NULL (no slots, budget off). */
void metrics_snapshot(struct metrics_snapshot *st, struct sched *sched);

#endif

/*
 * metrics.h: process-wide request counters and histograms, and the
 * Prometheus text exposition (format 0.0.4) served at IMGFCGI_METRICS_PATH.
 *
 * Every recorder is lock-free (atomics) and may be called from any thread.
 */
#ifndef IMGFCGI_METRICS_H
#define IMGFCGI_METRICS_H

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

#endif

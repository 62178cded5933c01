/*
 * admission.h: memory-budget admission (IMGFCGI_MEMORY_BUDGET), a part of the scheduler
 * (scheduler.h).
 *
 * A request is admitted to processing only while the sum of the estimates
 * (estimate.h) of the requests in flight stays within the budget.
 *
 * Policy. Not first-in-first-out: whenever memory is released every waiter
 * re-checks, and any request that fits goes, so a big request waiting never
 * holds up small ones behind it. To keep the big one from starving, the
 * oldest waiter becomes "reserved" once it has waited `starve_ms` (the
 * scheduler gives a quarter of IMGPROXY_TIMEOUT): from then on a request is
 * admitted only if the reserved one would still fit beside it (used +
 * estimate + reserved estimate <= budget). In practice that is priority for
 * the reserved request: the running ones drain, nothing that would keep it
 * out starts, it goes next, and the others follow. Small requests (an
 * estimate of at most 1/ADMISSION_SMALL_DIVISOR of the budget: thumbnails)
 * are exempt from that priority, and the last 1/ADMISSION_RESERVE_DIVISOR of
 * the budget is kept for them (others may use it only when they cannot fit
 * otherwise), so a stream of thumbnails keeps flowing while big requests
 * queue for memory. A request waits until it
 * fits or its deadline passes
 * (ADMISSION_TIMEOUT: the caller answers 503 with Retry-After); one whose
 * estimate alone is over the whole budget is refused at once
 * (ADMISSION_TOO_BIG: 422).
 *
 * Calibration. When a request ran alone (no other was admitted while it was
 * in flight), its measured peak is compared with its estimate: the growth of
 * the process's peak RSS (VmHWM, reset through /proc/self/clear_refs when the
 * request starts) and of libvips' tracked memory high-water mark (global and
 * never reset in libvips 8.14, so it only counts when this request raised
 * it). Requests that overlapped others are counted but not measured: with
 * concurrency no per-request figure would be honest. The figures go to the
 * metrics (admission_get_stats) and, at debug level, to the log.
 *
 * Threads: one mutex guards the counters and the waiter list; waiters sleep
 * on one condition variable (CLOCK_MONOTONIC) that every release broadcasts.
 */
#ifndef IMGFCGI_ADMISSION_H
#define IMGFCGI_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deadline.h"
#include "errors.h"
#include "estimate.h"
#include "imagetype.h"
#include "options.h"

struct admission;

/* Small: estimate <= budget / 64 (4 MB of 256 MB); kept for them: budget / 16. */
#define ADMISSION_SMALL_DIVISOR 64
#define ADMISSION_RESERVE_DIVISOR 16

enum admission_result {
    ADMISSION_OK = 0,
    ADMISSION_TOO_BIG = -1, /* estimate > budget: never fits */
    ADMISSION_TIMEOUT = -2, /* the deadline passed while waiting */
};

/* What a request holds between acquire and release. */
struct admission_ticket {
    struct admission *adm; /* NULL: nothing held (budget off, or not admitted) */
    size_t charged;        /* bytes counted against the budget */
    size_t work;           /* the estimate's processing part, compared with the measurement */
    bool waited;
    /* calibration */
    bool solo;
    uint64_t generation;
    size_t rss0, vips_mem0, vips_hw0;
};

/* Ratio histogram bounds (estimate / measured). */
#define ADMISSION_RATIO_BUCKETS 10

struct admission_stats {
    size_t budget;      /* bytes; 0 = off */
    size_t in_use;      /* estimates of admitted requests in flight */
    size_t in_flight;   /* admitted requests in flight */
    size_t waiting;     /* requests waiting */
    uint64_t admitted;  /* admitted, at once or after waiting */
    uint64_t waited;    /* admitted after waiting */
    uint64_t rejected;  /* over the whole budget: 422 */
    uint64_t timed_out; /* deadline passed while waiting: 503 */
    /* Calibration over the requests that ran alone. */
    uint64_t measured;       /* requests measured */
    uint64_t unmeasured;     /* overlapped another: not measured */
    uint64_t estimate_bytes; /* sum of their estimates (work part) */
    uint64_t measured_bytes; /* sum of their measured peaks */
    uint64_t rss_bytes;      /* sum of their RSS peak growth */
    uint64_t vips_bytes;     /* sum of their libvips high-water growth (when raised) */
    uint64_t ratio_buckets[ADMISSION_RATIO_BUCKETS + 1]; /* non-cumulative, last = +Inf */
    double ratio_sum;
};

extern const double admission_ratio_bounds[ADMISSION_RATIO_BUCKETS];

/*
 * A budget of `budget` bytes (> 0); the oldest waiter is reserved after
 * starve_ms milliseconds. Returns NULL on allocation failure. Free with
 * admission_free() once no request uses it; admission_free(NULL) is a no-op.
 */
struct admission *admission_new(size_t budget, long starve_ms);
void admission_free(struct admission *adm);

/*
 * Waits until `estimate` bytes fit in the budget, or until the deadline d
 * (borrowed; NULL or none = wait until it fits) passes. On ADMISSION_OK the
 * ticket holds the bytes; give them back with admission_release(). work is
 * the part of the estimate the calibration compares (may equal estimate).
 * Returns ADMISSION_OK, ADMISSION_TOO_BIG (at once) or ADMISSION_TIMEOUT;
 * on failure the ticket holds nothing.
 */
int admission_acquire(struct admission *adm, size_t estimate, size_t work, const struct deadline *d,
                      struct admission_ticket *t) __attribute__((warn_unused_result));

/* Called once, with no lock held, when a request is about to wait for memory. */
typedef void (*admission_wait_fn)(void *arg);

/*
 * admission_acquire(), calling before_wait(arg) (if not NULL) when the
 * estimate does not fit at once, before the request starts waiting.
 */
int admission_acquire_or(struct admission *adm, size_t estimate, size_t work,
                         const struct deadline *d, admission_wait_fn before_wait, void *arg,
                         struct admission_ticket *t) __attribute__((warn_unused_result));

/*
 * Gives the ticket's bytes back, wakes the waiters and, when the request ran
 * alone, records its measured peak against its estimate. A ticket holding
 * nothing is a no-op; the ticket is cleared.
 */
void admission_release(struct admission_ticket *t);

/* A snapshot of the counters. */
void admission_get_stats(struct admission *adm, struct admission_stats *st);

/*
 * A request's admission before processing: with adm NULL (the budget off),
 * returns 0 and holds nothing. Otherwise takes the source's header from
 * `header` (process_open()'s image of the len bytes of type `type`,
 * borrowed), estimates the request (po, the Accept header) and
 * acquires it until the deadline d (borrowed), calling before_wait(arg) (if
 * not NULL) first when it has to wait. Returns 0 (t holds the bytes: release with
 * admission_request_end), or an error recorded in e: ERR_SOURCE_TYPE (422)
 * when the estimate is over the budget, ERR_TIMEOUT (503) when the deadline
 * passed. Sources over
 * po->max_src_resolution are let through uncharged: process_prepare()
 * rejects them from the header.
 */
int admission_request_begin(struct admission *adm, struct admission_ticket *t, VipsImage *header,
                            size_t len, enum imgtype type, const struct procopts *po,
                            const char *accept, const struct deadline *d,
                            admission_wait_fn before_wait, void *arg, struct errinfo *e)
    __attribute__((warn_unused_result));

/* Whether t holds a small request (a thumbnail: cpugate.h gives it the CPU first). */
bool admission_ticket_small(const struct admission_ticket *t);

/* Releases what admission_request_begin() acquired; a no-op when nothing was. */
void admission_request_end(struct admission_ticket *t);

#endif

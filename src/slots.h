/* slots.h: processing slots (IMGPROXY_WORKERS) and the bounded queue in front of them. */
#ifndef IMGFCGI_SLOTS_H
#define IMGFCGI_SLOTS_H

#include "deadline.h"

/* slots_acquire() failures. */
enum {
    SLOTS_FULL = -1,    /* the queue is full (IMGPROXY_REQUESTS_QUEUE_SIZE): answer 429 */
    SLOTS_TIMEOUT = -2, /* the deadline passed while waiting: answer 503 */
};

/*
 * nslots numbered slots shared by many threads. A thread that finds none
 * free waits in a FIFO queue of at most queue_max threads (0 = no limit),
 * each until its own deadline; a returned slot goes straight to the
 * longest-waiting thread, so nobody is overtaken. Thread-safe.
 */
struct slots;

/* nslots >= 1, queue_max >= 0. NULL when out of memory. Free with slots_free(). */
struct slots *slots_new(int nslots, int queue_max);

/* Frees s; NULL is a no-op. No thread may be inside slots_acquire() any more. */
void slots_free(struct slots *s);

/*
 * Takes a free slot, or queues for one until d (borrowed; NULL = no
 * deadline). Returns the slot, 0..nslots-1, which the caller gives back
 * with slots_release(); SLOTS_FULL at once when queue_max threads already
 * wait; SLOTS_TIMEOUT when d passes first (at once if it already has and no
 * slot is free).
 */
int slots_acquire(struct slots *s, const struct deadline *d) __attribute__((warn_unused_result));

/* Gives slot back: to the first waiting thread, else to the free set. */
void slots_release(struct slots *s, int slot);

/* Slots held and threads waiting right now (for metrics, logs and tests). */
void slots_counts(struct slots *s, int *in_use, int *waiting);

#endif

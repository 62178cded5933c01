/* deadline.h: the monotonic clock, and whole-request deadlines on it (IMGPROXY_TIMEOUT). */
#ifndef IMGFCGI_DEADLINE_H
#define IMGFCGI_DEADLINE_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

/*
 * A point in time a request must finish by, in CLOCK_MONOTONIC milliseconds.
 * A plain value: copy it freely. end_ms 0 means "no deadline"; a NULL
 * pointer is accepted everywhere and means the same.
 */
struct deadline {
    long long end_ms;
};

/* Now on CLOCK_MONOTONIC, in milliseconds. */
long long deadline_now_ms(void);

/* Now on CLOCK_MONOTONIC, in microseconds: for durations that may be under a millisecond. */
long long deadline_now_us(void);

/* Sets d to timeout_ms after now_ms; timeout_ms <= 0 gives no deadline. */
void deadline_start(struct deadline *d, long long now_ms, long long timeout_ms);

/*
 * Milliseconds left at now_ms: > 0 while the deadline is ahead, <= 0 once it
 * has passed, LLONG_MAX without a deadline.
 */
long long deadline_left_ms(const struct deadline *d, long long now_ms);

/* True once the deadline has passed (never without one). Reads the clock. */
bool deadline_passed(const struct deadline *d);

/*
 * limit_ms capped at the time left at now_ms, for a timeout given to
 * something else (libcurl, poll): at least 1 while time is left, so a
 * result of 0 never means "wait forever"; 0 once the deadline has passed.
 * limit_ms <= 0 means no limit of its own (the result is then the time
 * left, or LLONG_MAX without a deadline).
 */
long long deadline_cap_ms(const struct deadline *d, long long now_ms, long long limit_ms);

/*
 * The deadline as an absolute CLOCK_MONOTONIC time for
 * pthread_cond_timedwait() on a condition variable created with that clock.
 * Returns false (ts untouched) without a deadline.
 */
bool deadline_timespec(const struct deadline *d, struct timespec *ts);

/*
 * Initialises c as a condition variable timed on CLOCK_MONOTONIC, so that
 * deadline_timespec() gives its pthread_cond_timedwait() deadlines. Returns
 * 0 or a pthread error number; destroy c with pthread_cond_destroy().
 */
int deadline_cond_init(pthread_cond_t *c) __attribute__((warn_unused_result));

#endif

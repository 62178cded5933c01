/* deadline.c: the monotonic clock, and whole-request deadlines on it. */
#include <limits.h>

#include "deadline.h"
#include "banned.h"

long long deadline_now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

long long deadline_now_ms(void)
{
    return deadline_now_us() / 1000;
}

void deadline_start(struct deadline *d, long long now_ms, long long timeout_ms)
{
    /* now_ms + timeout_ms is 0 only if the clock were negative: never "none" by accident. */
    d->end_ms = timeout_ms > 0 ? now_ms + timeout_ms : 0;
}

long long deadline_left_ms(const struct deadline *d, long long now_ms)
{
    if (d == NULL || d->end_ms == 0)
        return LLONG_MAX;
    return d->end_ms - now_ms;
}

bool deadline_passed(const struct deadline *d)
{
    return d != NULL && d->end_ms != 0 && deadline_left_ms(d, deadline_now_ms()) <= 0;
}

long long deadline_cap_ms(const struct deadline *d, long long now_ms, long long limit_ms)
{
    long long left = deadline_left_ms(d, now_ms);

    if (left <= 0)
        return 0;
    if (limit_ms > 0 && limit_ms < left)
        return limit_ms;
    return left;
}

bool deadline_timespec(const struct deadline *d, struct timespec *ts)
{
    if (d == NULL || d->end_ms == 0)
        return false;
    ts->tv_sec = (time_t)(d->end_ms / 1000);
    ts->tv_nsec = (long)(d->end_ms % 1000) * 1000000L;
    return true;
}

int deadline_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);

    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

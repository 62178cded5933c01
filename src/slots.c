/*
 * slots.c: processing slots and the bounded FIFO queue in front of them.
 *
 * Locking: slots.lock guards every field of struct slots and the queue
 * links and `slot` of every queued waiter. A waiter lives on its thread's
 * stack and leaves the queue under the lock, either handed a slot by
 * slots_release() (which unlinks it) or by itself on its deadline. Each
 * waiter has its own condition variable, so a release wakes exactly the
 * thread it serves; it is signalled with the lock held, so the waiter (and
 * its condition variable) cannot be gone yet.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "slots.h"
#include "banned.h"

struct waiter {
    struct waiter *prev, *next;
    pthread_cond_t cond; /* CLOCK_MONOTONIC, as deadlines are */
    int slot;            /* -1 until a release hands one over */
};

struct slots {
    pthread_mutex_t lock;
    int nslots;
    int queue_max; /* 0 = no limit */
    int *free;     /* a stack of the slots nobody holds */
    int nfree;
    int waiting;
    struct waiter *head, *tail; /* oldest first */
};

struct slots *slots_new(int nslots, int queue_max)
{
    struct slots *s;

    if (nslots < 1 || queue_max < 0)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->free = calloc((size_t)nslots, sizeof(*s->free));
    if (s->free == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s->free);
        free(s);
        return NULL;
    }
    s->nslots = nslots;
    s->queue_max = queue_max;
    /* Highest first on the stack, so slot 0 is handed out first. */
    for (int i = nslots - 1; i >= 0; i--)
        s->free[s->nfree++] = i;
    return s;
}

void slots_free(struct slots *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->free);
    free(s);
}

static void unlink_waiter(struct slots *s, struct waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        s->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        s->tail = w->prev;
    w->prev = w->next = NULL;
    s->waiting--;
}

int slots_acquire(struct slots *s, const struct deadline *d)
{
    struct waiter w = {.slot = -1};
    struct timespec until;
    bool timed = deadline_timespec(d, &until);
    int ret;

    pthread_mutex_lock(&s->lock);
    if (s->nfree > 0) {
        ret = s->free[--s->nfree];
        pthread_mutex_unlock(&s->lock);
        return ret;
    }
    if (s->queue_max > 0 && s->waiting >= s->queue_max) {
        pthread_mutex_unlock(&s->lock);
        return SLOTS_FULL;
    }
    if (deadline_passed(d) || deadline_cond_init(&w.cond) != 0) {
        pthread_mutex_unlock(&s->lock);
        return SLOTS_TIMEOUT;
    }
    w.prev = s->tail;
    if (s->tail != NULL)
        s->tail->next = &w;
    else
        s->head = &w;
    s->tail = &w;
    s->waiting++;
    while (w.slot < 0) {
        int rc = timed ? pthread_cond_timedwait(&w.cond, &s->lock, &until)
                       : pthread_cond_wait(&w.cond, &s->lock);

        if (rc == ETIMEDOUT && w.slot < 0) {
            unlink_waiter(s, &w);
            break;
        }
    }
    ret = w.slot >= 0 ? w.slot : SLOTS_TIMEOUT;
    pthread_mutex_unlock(&s->lock);
    pthread_cond_destroy(&w.cond);
    return ret;
}

void slots_release(struct slots *s, int slot)
{
    pthread_mutex_lock(&s->lock);
    if (s->head != NULL) {
        struct waiter *w = s->head;

        unlink_waiter(s, w);
        w->slot = slot;
        pthread_cond_signal(&w->cond);
    } else {
        s->free[s->nfree++] = slot;
    }
    pthread_mutex_unlock(&s->lock);
}

void slots_counts(struct slots *s, int *in_use, int *waiting)
{
    pthread_mutex_lock(&s->lock);
    if (in_use != NULL)
        *in_use = s->nslots - s->nfree;
    if (waiting != NULL)
        *waiting = s->waiting;
    pthread_mutex_unlock(&s->lock);
}

/*
 * cpuhome.c: home CPUs for requests (see cpuhome.h).
 *
 * The counts of requests per home are kept under one mutex, taken twice a
 * request; the balance they give is published as an atomic flag, which the
 * strips read; the mask, written by cpuhome_enable, is read under the mutex
 * too (from libvips' threads, whose own locks TSan does not see). A thread
 * remembers the pin it last set (tl_pinned) and calls
 * sched_setaffinity only when the one it wants differs; a new thread's state
 * is unknown, since a thread inherits the mask of the thread that created it.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "cpuhome.h"
#include "log.h"
#include "banned.h"

#define PIN_UNKNOWN (-2) /* a thread's pin before its first cpuhome_pin */
#define PIN_FREE (-1)    /* any CPU of the mask */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool enabled;
static atomic_bool balanced;
static cpu_set_t mask;            /* the process's CPUs, read at cpuhome_enable */
static int ncpu;                  /* how many */
static int cpus[CPU_SETSIZE];     /* their numbers */
static int requests[CPU_SETSIZE]; /* under lock: requests at home on cpus[i] */

static __thread int tl_home = -1; /* the request this thread serves: its home */
static __thread int tl_depth;     /* cpuhome_begin calls not yet ended */
static __thread int tl_pinned = PIN_UNKNOWN;

/* Under lock: every CPU a home, none with two more requests than another. */
static void rebalance(void)
{
    int lo = requests[0], hi = requests[0];

    for (int i = 1; i < ncpu; i++) {
        if (requests[i] < lo)
            lo = requests[i];
        if (requests[i] > hi)
            hi = requests[i];
    }
    atomic_store(&balanced, lo >= 1 && hi - lo <= 1);
}

/* Pins the calling thread to cpu, or frees it (PIN_FREE), unless it is so already. */
static void pin_to(int cpu)
{
    cpu_set_t set;

    if (tl_pinned == cpu)
        return;
    if (cpu == PIN_FREE) {
        pthread_mutex_lock(&lock); /* written by cpuhome_enable */
        set = mask;
        pthread_mutex_unlock(&lock);
    } else {
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
    }
    /* A failure (a CPU taken away since) is not retried: the thread runs where it may. */
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        log_debug("cpuhome: sched_setaffinity to %d failed", cpu);
    tl_pinned = cpu;
}

void cpuhome_enable(bool on)
{
    pthread_mutex_lock(&lock);
    ncpu = 0;
    if (on && sched_getaffinity(0, sizeof(mask), &mask) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &mask)) {
                requests[ncpu] = 0;
                cpus[ncpu++] = c;
            }
    atomic_store(&balanced, false);
    atomic_store(&enabled, ncpu >= 2);
    pthread_mutex_unlock(&lock);
}

bool cpuhome_enabled(void)
{
    return atomic_load(&enabled);
}

bool cpuhome_balanced(void)
{
    return atomic_load(&balanced);
}

int cpuhome_begin(bool take)
{
    int best = 0, here;

    if (!atomic_load(&enabled))
        return -1;
    if (tl_depth > 0) {
        tl_depth++;
        return tl_home;
    }
    if (!take) {
        tl_home = CPUHOME_ANY;
        tl_depth = 1;
        pin_to(PIN_FREE);
        return tl_home;
    }
    here = sched_getcpu();
    pthread_mutex_lock(&lock);
    /* The least used CPU; of equals, the one this thread is on (no move). */
    for (int i = 1; i < ncpu; i++)
        if (requests[i] < requests[best] || (requests[i] == requests[best] && cpus[i] == here))
            best = i;
    requests[best]++;
    rebalance();
    pthread_mutex_unlock(&lock);
    tl_home = cpus[best];
    tl_depth = 1;
    cpuhome_pin(tl_home);
    return tl_home;
}

void cpuhome_end(int home)
{
    if (home == -1 || tl_depth == 0)
        return;
    if (--tl_depth > 0)
        return;
    if (home != CPUHOME_ANY) {
        pthread_mutex_lock(&lock);
        for (int i = 0; i < ncpu; i++)
            if (cpus[i] == home) {
                requests[i]--;
                break;
            }
        rebalance();
        pthread_mutex_unlock(&lock);
    }
    tl_home = -1;
    pin_to(PIN_FREE);
}

int cpuhome_current(void)
{
    return tl_home;
}

void cpuhome_pin(int home)
{
    if (home == -1 || !atomic_load(&enabled))
        return;
    pin_to(home != CPUHOME_ANY && atomic_load(&balanced) ? home : PIN_FREE);
}

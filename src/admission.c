/*
 * admission.c: the memory budget: estimates in flight, waiters, calibration.
 *
 * Design (see admission.h for the policy). One mutex `lock` guards every
 * field of struct admission, the waiter list included; waiters sleep on
 * `cond` (CLOCK_MONOTONIC) and every release or give-up broadcasts, so each
 * waiter re-checks its own fit: no head-of-line blocking. The list is in
 * arrival order, so its head is the oldest waiter, the one that may become
 * reserved. Nothing slow happens under the lock (the /proc reads for the
 * calibration are outside it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vips/vips.h>

#include "admission.h"
#include "log.h"
#include "memory.h"
#include "banned.h"

const double admission_ratio_bounds[ADMISSION_RATIO_BUCKETS] = {0.5,  0.75, 0.9, 1.0, 1.1,
                                                                1.25, 1.5,  2.0, 3.0, 5.0};

struct waiter {
    size_t need;
    long long since; /* CLOCK_MONOTONIC ms */
    struct waiter *prev, *next;
};

struct admission {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t budget;
    long long starve_ms;
    size_t used;
    size_t in_flight;
    size_t waiting;
    struct waiter *head, *tail;
    uint64_t generation; /* admissions so far: a solo request sees it unchanged at its end */
    struct admission_stats st;
};

struct admission *admission_new(size_t budget, long starve_ms)
{
    struct admission *adm = calloc(1, sizeof(*adm));

    if (adm == NULL)
        return NULL;
    adm->budget = budget;
    adm->starve_ms = starve_ms;
    if (deadline_cond_init(&adm->cond) != 0) {
        free(adm);
        return NULL;
    }
    pthread_mutex_init(&adm->lock, NULL);
    return adm;
}

void admission_free(struct admission *adm)
{
    if (adm == NULL)
        return;
    pthread_cond_destroy(&adm->cond);
    pthread_mutex_destroy(&adm->lock);
    free(adm);
}

/* A small request: a thumbnail, next to the budget. */
static bool is_small(const struct admission *adm, size_t need)
{
    return need <= adm->budget / ADMISSION_SMALL_DIVISOR;
}

/*
 * The most a request of this size may bring the budget's use to: small ones
 * the whole budget, others all but the reserve (unless they need it to fit
 * at all), so small requests always find room.
 */
static size_t limit_for(const struct admission *adm, size_t need)
{
    size_t reserve = adm->budget / ADMISSION_RESERVE_DIVISOR;

    if (is_small(adm, need) || need > adm->budget - reserve)
        return adm->budget;
    return adm->budget - reserve;
}

/* Under lock: may `self` (NULL for a newcomer) take need bytes now? */
static bool fits(const struct admission *adm, size_t need, const struct waiter *self, long long now)
{
    const struct waiter *r = adm->head;

    if (adm->used + need > limit_for(adm, need))
        return false;
    /*
     * The oldest waiter, once it has waited starve_ms, must still fit beside
     * us; small requests pass (they last milliseconds and live in the reserve).
     */
    if (r != NULL && r != self && now - r->since >= adm->starve_ms && !is_small(adm, need) &&
        adm->used + need + r->need > limit_for(adm, r->need))
        return false;
    return true;
}

static void unlink_waiter(struct admission *adm, struct waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        adm->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        adm->tail = w->prev;
    adm->waiting--;
}

/* /proc/self/status VmHWM in bytes; 0 when unreadable. */
static size_t peak_rss(void)
{
    char line[256];
    size_t kb = 0;
    FILE *f = fopen("/proc/self/status", "re");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0); false when not allowed. */
static bool reset_peak_rss(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    bool ok;

    if (fd < 0)
        return false;
    ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

/* Takes the bytes (under lock) and starts the calibration snapshot when alone. */
static void take(struct admission *adm, size_t need, size_t work, bool waited,
                 struct admission_ticket *t)
{
    memset(t, 0, sizeof(*t));
    t->adm = adm;
    t->charged = need;
    t->work = work;
    t->waited = waited;
    t->solo = adm->in_flight == 0;
    adm->used += need;
    adm->in_flight++;
    t->generation = ++adm->generation;
    adm->st.admitted++;
    if (waited)
        adm->st.waited++;
}

static void snapshot(struct admission_ticket *t)
{
    if (!t->solo)
        return;
    if (!reset_peak_rss()) {
        t->rss0 = 0; /* no RSS figure: libvips' only */
    } else {
        t->rss0 = memory_rss();
        if (t->rss0 == 0)
            t->rss0 = 1;
    }
    t->vips_mem0 = (size_t)vips_tracked_get_mem();
    t->vips_hw0 = (size_t)vips_tracked_get_mem_highwater();
}

int admission_acquire(struct admission *adm, size_t estimate, size_t work, const struct deadline *d,
                      struct admission_ticket *t)
{
    return admission_acquire_or(adm, estimate, work, d, NULL, NULL, t);
}

int admission_acquire_or(struct admission *adm, size_t estimate, size_t work,
                         const struct deadline *d, admission_wait_fn before_wait, void *arg,
                         struct admission_ticket *t)
{
    struct waiter w;
    struct timespec ts;
    bool timed = deadline_timespec(d, &ts);
    long long now = deadline_now_ms();
    int ret = ADMISSION_OK;

    memset(t, 0, sizeof(*t));
    pthread_mutex_lock(&adm->lock);
    if (estimate > adm->budget) {
        adm->st.rejected++;
        pthread_mutex_unlock(&adm->lock);
        return ADMISSION_TOO_BIG;
    }
    if (fits(adm, estimate, NULL, now)) {
        take(adm, estimate, work, false, t);
        pthread_mutex_unlock(&adm->lock);
        snapshot(t);
        return ADMISSION_OK;
    }
    if (before_wait != NULL) {
        /* Outside the lock: it may take others (a slot given back). The loop checks again. */
        pthread_mutex_unlock(&adm->lock);
        before_wait(arg);
        pthread_mutex_lock(&adm->lock);
    }
    memset(&w, 0, sizeof(w));
    w.need = estimate;
    w.since = now;
    w.prev = adm->tail;
    if (adm->tail != NULL)
        adm->tail->next = &w;
    else
        adm->head = &w;
    adm->tail = &w;
    adm->waiting++;
    for (;;) {
        int rc;

        now = deadline_now_ms();
        if (fits(adm, estimate, &w, now)) {
            unlink_waiter(adm, &w);
            take(adm, estimate, work, true, t);
            break;
        }
        if (deadline_left_ms(d, now) <= 0) {
            unlink_waiter(adm, &w);
            adm->st.timed_out++;
            /* It may have been the reserved one: the others re-check. */
            pthread_cond_broadcast(&adm->cond);
            ret = ADMISSION_TIMEOUT;
            break;
        }
        rc = timed ? pthread_cond_timedwait(&adm->cond, &adm->lock, &ts)
                   : pthread_cond_wait(&adm->cond, &adm->lock);
        if (rc != 0 && rc != ETIMEDOUT && rc != EINTR) {
            unlink_waiter(adm, &w);
            adm->st.timed_out++;
            pthread_cond_broadcast(&adm->cond);
            ret = ADMISSION_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&adm->lock);
    log_debug("memory: %s after %lld ms waiting for %zu bytes",
              ret == ADMISSION_OK ? "admitted" : "timed out", deadline_now_ms() - w.since,
              estimate);
    if (ret == ADMISSION_OK)
        snapshot(t);
    return ret;
}

/* Under lock: one measured request into the calibration figures. */
static void record(struct admission *adm, size_t work, size_t rss, size_t vips, size_t measured)
{
    double ratio = (double)work / (double)measured;
    int i = 0;

    adm->st.measured++;
    adm->st.estimate_bytes += work;
    adm->st.measured_bytes += measured;
    adm->st.rss_bytes += rss;
    adm->st.vips_bytes += vips;
    while (i < ADMISSION_RATIO_BUCKETS && ratio > admission_ratio_bounds[i])
        i++;
    adm->st.ratio_buckets[i]++;
    adm->st.ratio_sum += ratio;
}

void admission_release(struct admission_ticket *t)
{
    struct admission *adm = t->adm;
    size_t rss = 0, vips = 0, measured = 0;
    bool clean;

    if (adm == NULL)
        return;
    /* Read before taking the lock: /proc reads are not short. */
    if (t->solo) {
        size_t hw = (size_t)vips_tracked_get_mem_highwater();

        if (t->rss0 > 0) {
            size_t peak = peak_rss();

            rss = peak > t->rss0 ? peak - t->rss0 : 0;
        }
        /* libvips' high-water is global and never reset: it counts only when raised. */
        if (hw > t->vips_hw0 && hw > t->vips_mem0)
            vips = hw - t->vips_mem0;
        measured = rss > vips ? rss : vips;
    }
    /*
     * A big request's pages go back to the OS before its bytes go back to the
     * budget: else the allocator keeps them (jemalloc's decay, glibc's free
     * lists) while the next big request, admitted on those bytes, maps its
     * own, and RSS overshoots the budget by what was just freed.
     */
    if (!is_small(adm, t->charged))
        (void)memory_release();
    pthread_mutex_lock(&adm->lock);
    adm->used -= t->charged;
    adm->in_flight--;
    clean = t->solo && t->generation == adm->generation && measured > 0;
    if (clean)
        record(adm, t->work, rss, vips, measured);
    else
        adm->st.unmeasured++;
    pthread_cond_broadcast(&adm->cond);
    pthread_mutex_unlock(&adm->lock);
    if (clean)
        log_debug("memory: estimate=%zu measured=%zu rss=%zu vips=%zu ratio=%.3f", t->work,
                  measured, rss, vips, (double)t->work / (double)measured);
    memset(t, 0, sizeof(*t));
}

void admission_get_stats(struct admission *adm, struct admission_stats *st)
{
    pthread_mutex_lock(&adm->lock);
    *st = adm->st;
    st->budget = adm->budget;
    st->in_use = adm->used;
    st->in_flight = adm->in_flight;
    st->waiting = adm->waiting;
    pthread_mutex_unlock(&adm->lock);
}

int admission_request_begin(struct admission *adm, struct admission_ticket *t, VipsImage *header,
                            size_t len, enum imgtype type, const struct procopts *po,
                            const char *accept, const struct deadline *d,
                            admission_wait_fn before_wait, void *arg, struct errinfo *e)
{
    struct estimate_header h;
    struct estimate est;
    int ret;

    memset(t, 0, sizeof(*t));
    if (adm == NULL)
        return 0;
    estimate_header_of(header, type, &h);
    if ((long long)h.width * h.height > po->max_src_resolution)
        return 0;
    estimate_compute(&h, len, po, estimate_out_type(&h, po, accept), &est);
    log_debug("memory: %dx%d %s -> %dx%d %s shrink=%d scale=%.3f reasons=0x%x estimate=%zu "
              "(source %zu fixed %zu stream %zu in-memory %zu encoder %zu)",
              h.width, h.height, imagetype_name(type), est.out_w, est.out_h,
              imagetype_name(est.out_type), est.shrink, est.load_scale, est.reasons, est.total,
              est.source, est.fixed, est.stream, est.in_memory, est.encoder);
    ret = admission_acquire_or(adm, est.total, est.work, d, before_wait, arg, t);
    if (ret == ADMISSION_TOO_BIG)
        return err_set(e, ERR_SOURCE_TYPE,
                       "Source image needs more memory (%zu bytes estimated) than the whole "
                       "memory budget (%zu)",
                       est.total, adm->budget);
    if (ret == ADMISSION_TIMEOUT)
        return err_set(e, ERR_TIMEOUT, "Timed out waiting for %zu bytes of the memory budget",
                       est.total);
    return 0;
}

bool admission_ticket_small(const struct admission_ticket *t)
{
    return t->adm != NULL && is_small(t->adm, t->charged);
}

void admission_request_end(struct admission_ticket *t)
{
    admission_release(t);
}

/*
 * watch.c: killing libvips pipelines from their progress reports.
 *
 * libvips emits "eval" on an image's progress_signal image, which every
 * image made from it inherits; the handler gets the VipsProgress of the
 * image actually being computed (progress->im) and kills that one. A memory
 * copy does not inherit progress_signal, hence watch_copy_memory(). The
 * watch pointer rides on the reporting image as object data so that a copy
 * can find it. Reports arrive on the thread that runs the sink, while
 * watch_cancel() may come from another (a saver's writer), hence atomics.
 */
#include <stdbool.h>

#include "log.h"
#include "memimage.h"
#include "tsan.h"
#include "watch.h"
#include "banned.h"

#define WATCH_KEY "imgfcgi-watch"

void watch_init(struct watch *w, const struct deadline *dl)
{
    w->dl.end_ms = dl != NULL ? dl->end_ms : 0;
    atomic_init(&w->cancelled, false);
    atomic_init(&w->reason, WATCH_RUNNING);
}

/* Records reason unless one was recorded; returns whether this call recorded it. */
static bool stop_first(struct watch *w, enum watch_reason reason)
{
    int expected = WATCH_RUNNING;

    return atomic_compare_exchange_strong(&w->reason, &expected, (int)reason);
}

void watch_stop(struct watch *w, enum watch_reason reason)
{
    (void)stop_first(w, reason);
}

enum watch_reason watch_reason(struct watch *w)
{
    return (enum watch_reason)atomic_load(&w->reason);
}

void watch_cancel(struct watch *w)
{
    atomic_store(&w->cancelled, true);
}

bool watch_check(struct watch *w)
{
    enum watch_reason why;

    if (atomic_load(&w->cancelled))
        why = WATCH_CLIENT;
    else if (deadline_passed(&w->dl))
        why = WATCH_DEADLINE;
    else
        return false;
    if (stop_first(w, why) && why == WATCH_DEADLINE)
        log_debug("deadline: libvips work stopped %lld ms after the deadline",
                  deadline_now_ms() - w->dl.end_ms);
    return true;
}

static void on_eval(VipsImage *img, VipsProgress *progress, void *user)
{
    struct watch *w = user;

    (void)img;
    tsan_acquire(w); /* runs on a libvips thread: see tsan.h */
    /* libvips clears the flag when it acts on it: set it again on every report. */
    if (watch_check(w))
        vips_image_set_kill(progress->im, TRUE);
    tsan_release(w);
}

VipsImage *watch_attach(struct watch *w, VipsImage *img)
{
    if (img == NULL || w == NULL || img->progress_signal != NULL)
        return img;
    vips_image_set_progress(img, TRUE);
    g_object_set_data(G_OBJECT(img), WATCH_KEY, w);
    g_signal_connect(img, "eval", G_CALLBACK(on_eval), w);
    tsan_release(w);
    return img;
}

struct watch *watch_of(VipsImage *img)
{
    if (img == NULL || img->progress_signal == NULL)
        return NULL;
    return g_object_get_data(G_OBJECT(img->progress_signal), WATCH_KEY);
}

VipsImage *watch_copy_memory(VipsImage *in)
{
    VipsImage *out = memimage_copy(in);
    struct watch *w = out != NULL ? watch_of(in) : NULL;

    if (w != NULL && out != in)
        watch_attach(w, out);
    return out;
}

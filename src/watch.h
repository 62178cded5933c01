/* watch.h: stopping a request's libvips work on its deadline or when its client goes away. */
#ifndef IMGFCGI_WATCH_H
#define IMGFCGI_WATCH_H

#include <stdatomic.h>
#include <stdbool.h>

#include <vips/vips.h>

#include "deadline.h"

/* Why a watch stopped its pipeline. */
enum watch_reason {
    WATCH_RUNNING = 0,
    WATCH_DEADLINE = 1, /* the request's deadline passed */
    WATCH_CLIENT = 2,   /* watch_cancel(): the client is gone */
};

/*
 * One per request, embedded where it outlives every image attached to it
 * (process.c's job). libvips reports progress ("eval") after each tile or
 * strip it computes, in any sink: memory copies and savers alike. On each
 * report the watch checks its deadline and its cancel flag and, when either
 * fired, kills the image being computed (vips_image_set_kill()), so the sink
 * fails at its next tile with a libvips error instead of running to the end.
 * Only computation is interruptible: an encoder's own work after the last
 * tile (libaom for AVIF, libwebp) runs to its end.
 */
struct watch {
    struct deadline dl;
    atomic_bool cancelled;
    atomic_int reason; /* enum watch_reason: the first reason that stopped it */
};

/* Initialises w with a copy of dl (NULL = no deadline). */
void watch_init(struct watch *w, const struct deadline *dl);

/*
 * Watches img and every image libvips derives from it later: their sinks
 * report to w. img must not already report elsewhere; an image that does
 * is left as it is. Returns img (NULL passes through), so a result can be
 * wrapped: `img = watch_attach(w, load(...))`. w is borrowed and must outlive
 * img and everything derived from it.
 */
VipsImage *watch_attach(struct watch *w, VipsImage *img);

/*
 * memimage_copy() (vips_image_copy_memory(), the copy's pixels not cleared
 * first), keeping in's watch (if any) on the copy: a
 * memory image starts a new pipeline that would otherwise report to nobody.
 * Returns a new reference, or NULL with the libvips error set.
 */
VipsImage *watch_copy_memory(VipsImage *in);

/* The watch img reports to (its own or inherited), or NULL. */
struct watch *watch_of(VipsImage *img);

/*
 * Whether w's work must stop now (its deadline passed or its client is
 * gone), recording why; for stages that check before they compute a strip,
 * where a progress report would come only after it. Thread-safe.
 */
bool watch_check(struct watch *w);

/* The client is gone: the next progress report kills the pipeline. Thread-safe. */
void watch_cancel(struct watch *w);

/*
 * Records reason as why w stopped, unless an earlier reason was recorded.
 * For stops the watch cannot see itself (a saver's write refused on the deadline).
 */
void watch_stop(struct watch *w, enum watch_reason reason);

/* Why w stopped its pipeline, or WATCH_RUNNING. */
enum watch_reason watch_reason(struct watch *w);

#endif

/*
 * vipsop.h: how a failed libvips call becomes the request's own error.
 *
 * libvips keeps one error buffer for the whole process, so its text cannot
 * say whose failure it describes. A request's status and public message
 * therefore come only from which of its own calls failed (the stage); the
 * buffer's text is best-effort detail for the log line.
 *
 * A loader reads the header when it is called and decodes pixels only when
 * a later step or the saver asks for them, so a broken file often shows up
 * in a later call. vipsop_decode_guard() puts a pass-through stage behind
 * each loaded image that records, per request, that the loader failed to
 * deliver pixels; the caller then reports VIPSOP_DECODE instead of
 * VIPSOP_PROCESS.
 */
#ifndef IMGFCGI_VIPSOP_H
#define IMGFCGI_VIPSOP_H

#include <stdatomic.h>
#include <stdbool.h>

#include <vips/vips.h>

#include "errors.h"

/* Which call failed; each maps to one error code. */
enum vipsop_stage {
    VIPSOP_LOAD,    /* a loader or header read refused the source: ERR_BROKEN_IMAGE (422) */
    VIPSOP_DECODE,  /* a later call failed as the loader decoded pixels: ERR_BROKEN_IMAGE (422) */
    VIPSOP_PROCESS, /* a processing step or the saver failed by itself: ERR_INTERNAL (500) */
};

/* Per request: set by libvips threads when a guarded loader fails to decode. */
struct vipsop_decode {
    atomic_bool failed;
};

/* Starts d as "nothing failed". */
void vipsop_decode_init(struct vipsop_decode *d);

/*
 * Returns a pass-through image of in whose pixel requests record a failure
 * in d; takes ownership of in (the new image holds it). NULL passes through.
 * If libvips cannot make the stage, in is returned unguarded. d is borrowed
 * and must outlive the result and every image made from it.
 */
VipsImage *vipsop_decode_guard(struct vipsop_decode *d, VipsImage *in);

/* Whether a guarded loader of d failed to decode. Thread-safe. */
bool vipsop_decode_failed(struct vipsop_decode *d);

/*
 * The stage of a failure after the loader returned: VIPSOP_DECODE when d saw
 * the loader fail, else VIPSOP_PROCESS. d may be NULL (nothing guarded).
 */
enum vipsop_stage vipsop_stage_after_load(struct vipsop_decode *d);

/*
 * Records in e (NULL allowed) the error of stage: its code, status and the
 * message "what: <libvips text>". The text is taken from libvips' buffer
 * (which that empties) and may belong to another request: it is detail only.
 * Returns the code.
 */
int vipsop_fail(struct errinfo *e, enum vipsop_stage stage, const char *what);

/*
 * libvips' error text, taken out of its buffer (which that empties); never
 * NULL. Caller frees with g_free().
 */
char *vipsop_error_text(void);

/*
 * Empties libvips' error buffer after a failure that was handled (a fallback
 * taken, or a stop whose reason is known), so its text does not end up in a
 * later request's detail.
 */
void vipsop_discard(void);

#endif

/* watermark.h: the watermark image, loaded once at start-up, and its placement. */
#ifndef IMGFCGI_WATERMARK_H
#define IMGFCGI_WATERMARK_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

#include "options.h"

/*
 * Loads the watermark from IMGPROXY_WATERMARK_DATA (base64), _PATH or _URL,
 * first one set wins, and checks that libvips can decode it. Call once after
 * libvips and libcurl are initialised, before threads start. Returns 0 (also
 * when none is configured) or -1 with a message in err.
 */
int watermark_init(char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees the watermark bytes. */
void watermark_release(void);

/* Is a watermark configured? */
bool watermark_available(void);

/*
 * Draws the watermark over img (borrowed) with po's opacity, position, offsets
 * and scale; dpr scales absolute offsets. Returns a new reference, or NULL
 * with the libvips error buffer set.
 */
VipsImage *watermark_apply(VipsImage *img, const struct procopts *po, double dpr);

#endif

/* animation.h: animated GIF/WebP as libvips 8.14 holds them: one tall strip of frames. */
#ifndef IMGFCGI_ANIMATION_H
#define IMGFCGI_ANIMATION_H

#include <vips/vips.h>

/* Processes one frame: replaces *frame (a new reference) or returns a negative code. */
typedef int (*animation_frame_fn)(VipsImage **frame, void *ctx);

/*
 * Cuts *imgp (borrowed, replaced on success) into n frames of its
 * `page-height`, runs fn on each, joins the results into a new strip and
 * carries the first n delays (40 ms where missing, as imgproxy) and the loop
 * count over. All frames must come out the same size. Returns 0, fn's code,
 * or -1 with the libvips error buffer set.
 */
int animation_map(VipsImage **imgp, int n, animation_frame_fn fn, void *ctx);

#endif

/* filters.h: pipeline steps beyond sizing: trim, blur/sharpen/pixelate, embed, flatten. */
#ifndef IMGFCGI_FILTERS_H
#define IMGFCGI_FILTERS_H

#include <vips/vips.h>

#include "options.h"

/*
 * Each step borrows in and returns a new reference the caller unrefs, or NULL
 * with the libvips error buffer set. A step with nothing to do returns a new
 * reference to in.
 */

/*
 * imgproxy's trim: finds the border of the background colour (the top-left
 * pixel, or po->trim_color) within po->trim_threshold, optionally equalising
 * opposite sides, and crops it away. in should be in memory already.
 */
VipsImage *filters_trim(VipsImage *in, const struct procopts *po);

/* blur, sharpen and pixelate (imgproxy applyFilters), alpha premultiplied. */
VipsImage *filters_apply(VipsImage *in, const struct procopts *po);

/*
 * Places in at (left, top) of a transparent w x h canvas (an alpha band is
 * added when in has none): extend, extend_aspect_ratio and padding.
 */
VipsImage *filters_embed(VipsImage *in, int left, int top, int w, int h);

/* Flattens the alpha band onto rgb; in without alpha is returned as it is. */
VipsImage *filters_flatten(VipsImage *in, const unsigned char rgb[3]);

#endif

/*
 * adjust.h: imgproxy Pro's colour adjustments and filters (brightness,
 * contrast, saturation, monochrome, duotone, colorize, gradient), unsharp
 * masking, the translucent flatten background (background_alpha) and the
 * output colour profile (color_profile).
 */
#ifndef IMGFCGI_ADJUST_H
#define IMGFCGI_ADJUST_H

#include <stdbool.h>

#include <vips/vips.h>

#include "imagetype.h"
#include "options.h"

/*
 * Each step borrows in and returns a new reference the caller unrefs, or NULL
 * with the libvips error buffer set. A step with nothing to do returns a new
 * reference to in. Inputs are the 8-bit sRGB (or grey) images of the
 * pipeline, with or without an alpha band; outputs are 8-bit too.
 */

/* Whether po asks for any colour adjustment or filter adjust_colour() applies. */
bool adjust_colour_active(const struct procopts *po);

/*
 * Brightness and contrast (on the sRGB values), saturation (chroma scaled in
 * LCh), then monochrome, duotone, colorize and gradient, in that order. A grey
 * image becomes sRGB when a step needs colour. The alpha band is kept, except
 * that colorize (without keep_alpha) and gradient lay a translucent colour
 * layer over the image, which makes transparent areas as opaque as the layer.
 */
VipsImage *adjust_colour(VipsImage *in, const struct procopts *po);

/*
 * blur_areas: a Gaussian blur of sigma po->ba_sigma / scale inside each of
 * po's rectangles (fractions of in's size; scale: result pixels per pixel of
 * in), on a memory copy of in. Nothing to do without a sigma or a rectangle.
 */
VipsImage *adjust_blur_areas(VipsImage *in, const struct procopts *po, double scale);

/*
 * Whether unsharp masking runs for po (po->ush_mode): always; auto only on a
 * downscaled image without `sharpen`; none never.
 */
bool adjust_unsharp_runs(const struct procopts *po, bool downscaled);

/*
 * Unsharp masking with a 3x3 kernel: centre divider + 8 x weight, the eight
 * neighbours -weight, the sum divided by divider (the identity as weight goes
 * to 0). The colour bands only; alpha is kept.
 */
VipsImage *adjust_unsharp(VipsImage *in, const struct procopts *po);

/*
 * Flattens in onto the colour rgb at opacity alpha (0..1): a translucent
 * background for formats with alpha (background_alpha). in without alpha
 * is returned as it is; alpha >= 1 is an ordinary flatten.
 */
VipsImage *adjust_flatten(VipsImage *in, const unsigned char rgb[3], double alpha);

/*
 * Converts in to the colour profile name (po->color_profile: "srgb", "cmyk"
 * or a file in IMGPROXY_COLOR_PROFILES_DIR) and embeds it. Returns a new
 * reference to in when name is empty, when result type t cannot carry a
 * profile, or for cmyk when t is neither JPEG nor TIFF.
 */
VipsImage *adjust_color_profile(VipsImage *in, const char *name, enum imgtype t);

#endif

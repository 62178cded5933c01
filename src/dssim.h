/*
 * dssim.h: the structural dissimilarity (DSSIM) of two images of one size,
 * computed by imgfcgi itself over CIE L*a*b* pixels.
 *
 * The definition (docs/best-format.md has it with the reasons):
 *
 *   Both images are converted to CIE L*a*b* (D65 white) by libvips; alpha
 *   is ignored. Each channel is scaled to 0..1 by the sRGB gamut's extent in
 *   it: L* / 100, (a* + 86.185) / 184.439, (b* + 107.863) / 202.345. For each
 *   channel and each pixel whose 11x11 window lies wholly inside the image
 *   (no edge padding), with Gaussian
 *   weights w (sigma 1.5, the 11 weights of one axis normalised to sum 1,
 *   the window their outer product):
 *
 *     mx = sum w x          my = sum w y
 *     vx = sum w x^2 - mx^2 vy = sum w y^2 - my^2   cxy = sum w x y - mx my
 *     ssim = (2 mx my + C1) (2 cxy + C2) / ((mx^2 + my^2 + C1) (vx + vy + C2))
 *
 *   with C1 = 0.01^2 and C2 = 0.03^2 (the scaled channels' range is 1).
 *   SSIM is the mean of ssim over those pixels, averaged over the three
 *   channels with equal weights, and DSSIM = 1 / SSIM - 1: 0 for identical
 *   images, growing as they differ.
 */
#ifndef IMGFCGI_DSSIM_H
#define IMGFCGI_DSSIM_H

#include <vips/vips.h>

#include "deadline.h"

/* The side of the SSIM window: images smaller than this on a side have no DSSIM. */
#define DSSIM_WINDOW 11

/* An image converted for comparisons: interleaved L*a*b* floats. */
struct dssim_image {
    float *lab; /* 3 floats a pixel, row by row; owned */
    int width, height;
};

/*
 * Converts img (borrowed; sRGB or grey, 8 or 16 bits, alpha ignored) to
 * L*a*b*, computing its pixels. Returns 0 with *out filled (release with
 * dssim_image_release()), or -1 with the libvips error buffer set (also for
 * an image smaller than DSSIM_WINDOW on a side).
 */
int dssim_image_init(struct dssim_image *out, VipsImage *img) __attribute__((warn_unused_result));

/* Frees what dssim_image_init() made; a zeroed struct is fine. */
void dssim_image_release(struct dssim_image *im);

/*
 * The DSSIM of the interleaved L*a*b* pixels a and b (borrowed; w x h each),
 * as defined above. dl (NULL = none) is checked every few rows. Returns the
 * DSSIM (>= 0), -1 when the images are smaller than DSSIM_WINDOW on a side
 * or memory runs out, -2 when dl passed.
 */
double dssim_compute(const float *a, const float *b, int w, int h, const struct deadline *dl);

/*
 * The DSSIM of ref against img (borrowed; decoded from an encoded result,
 * same size). Returns it, or -1 (libvips error set, or sizes differ) or -2
 * (dl passed).
 */
double dssim_compare(const struct dssim_image *ref, VipsImage *img, const struct deadline *dl);

#endif

/*
 * encbound.h: the encode-time bound. Some encoders run as one call that the
 * request's deadline cannot stop: libwebp's WebPEncode (libvips 8.14.1's
 * webpsave does not pass libvips' kill to libwebp's progress hook), libheif
 * with libaom or x265 (AVIF, HEIC), and the GIF saver's quantisation of a
 * whole frame. For those the work is bounded before it starts: the time to
 * encode a result of that many pixels, from the table in encbound.c, must fit
 * in a share of what is left of the deadline.
 *
 * The savers that stream strips (JPEG, PNG, TIFF) are stopped by the deadline
 * at their next strip (watch.h), but a result that cannot be finished in the
 * time left would only be cut short there, after using the CPU all that time:
 * a result far beyond the time left is refused too (ENCBOUND_STREAM_FACTOR).
 * Other formats have no bound.
 */
#ifndef IMGFCGI_ENCBOUND_H
#define IMGFCGI_ENCBOUND_H

#include <stdbool.h>

#include "imagetype.h"

/*
 * The share of the time left that an unstoppable encode may take: the rest
 * is for the pipeline that computes its pixels (stoppable, but it runs
 * first) and for writing the response.
 */
#define ENCBOUND_SHARE 0.6

/*
 * A streaming saver's result is refused when its estimate is over this many
 * times the time left. Its figures are an unloaded machine's (encbound.c),
 * and the deadline stops a streamed result at its next strip anyway: the
 * bound only spares the CPU results that could never finish, not ones that
 * merely run into their deadline (a 50 MP PNG under a 1 s deadline is left
 * to the deadline).
 */
#define ENCBOUND_STREAM_FACTOR 25.0

/* Seconds to encode one megapixel as t on the build machine; 0 when t has no bound. */
double encbound_seconds_per_mp(enum imgtype t);

/* Whether t's saver streams strips (the deadline stops it); false for a format without a bound. */
bool encbound_streams(enum imgtype t);

/* Estimated milliseconds to encode `pixels` pixels (all frames) as t; 0 without a bound. */
long long encbound_estimate_ms(enum imgtype t, long long pixels);

/*
 * Whether an encode of `pixels` pixels as t fits in left_ms milliseconds (the
 * time left of the deadline; ENCBOUND_SHARE of it for an encoder the deadline
 * cannot stop, ENCBOUND_STREAM_FACTOR times it for a streaming one; LLONG_MAX or <= 0 handled: no
 * deadline fits everything, a passed one nothing with a bound).
 */
bool encbound_fits(enum imgtype t, long long pixels, long long left_ms);

/*
 * The compute bound: work the deadline cannot stop in time is not started.
 * The deadline is seen between tiles; a tile that takes longer than
 * ENCBOUND_TILE_MS would outlast it. A Gaussian blur's tile grows with the
 * square of its sigma (encbound.c), whatever the image's size.
 */
#define ENCBOUND_TILE_MS 250

/*
 * CPU nanoseconds per mask tap per band of libvips' integer convolution,
 * measured on the build machine (sigma 60 to 500 on 1024 x 1024 RGB, one
 * thread: 0.36-0.63), the highest kept.
 */
#define ENCBOUND_NS_PER_TAP 0.6

/* Estimated milliseconds of one tile of a Gaussian blur of sigma on `bands` bands; 0 if none. */
long long encbound_blur_tile_ms(double sigma, int bands);

/* Whether a blur of sigma may start with left_ms left (LLONG_MAX: no deadline, anything may). */
bool encbound_blur_fits(double sigma, int bands, long long left_ms);

#endif

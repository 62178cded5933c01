/*
 * encbound.h: the encode-time bound. Some encoders run as one call that the
 * request's deadline cannot stop: libwebp's WebPEncode (libvips 8.14.1's
 * webpsave does not pass libvips' kill to libwebp's progress hook), libheif
 * with libaom or x265 (AVIF, HEIC), and the GIF saver's quantisation of a
 * whole frame. For those the work is bounded before it starts: the time to
 * encode a result of that many pixels, from the table in encbound.c, must fit
 * in what is left of the deadline. Every other saver streams strips, and the
 * deadline stops it at its next strip (watch.h).
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

/* Seconds to encode one megapixel as t on the build machine; 0 when the deadline stops t's saver.
 */
double encbound_seconds_per_mp(enum imgtype t);

/* Estimated milliseconds to encode `pixels` pixels (all frames) as t; 0 when stoppable. */
long long encbound_estimate_ms(enum imgtype t, long long pixels);

/*
 * Whether an encode of `pixels` pixels as t fits in left_ms milliseconds (the
 * time left of the deadline; LLONG_MAX or <= 0 handled: no deadline fits
 * everything, a passed one nothing unstoppable).
 */
bool encbound_fits(enum imgtype t, long long pixels, long long left_ms);

#endif

/*
 * bestfmt.h: format:best (`f:best`, `@best`, `.best`): the result encoded
 * in each candidate format from the one processed image, the smallest kept.
 *
 * The candidates come from the formats allowed (bestfmt_formats()) and the
 * image's complexity (bestfmt_complexity()): below
 * IMGPROXY_BEST_FORMAT_COMPLEXITY_THRESHOLD the lossless encodings (PNG,
 * lossless WebP; a 256-colour palette PNG too when the image is nearly flat),
 * at or above it the lossy ones (JPEG, WebP, AVIF, JPEG XL, HEIC); a
 * threshold of 0 tries all but the palette PNG. docs/best-format.md has the
 * measure and the rules.
 */
#ifndef IMGFCGI_BESTFMT_H
#define IMGFCGI_BESTFMT_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

#include "autoq.h"
#include "imagetype.h"
#include "options.h"
#include "save.h"

/* Complexity below which the palette PNG is tried as well (a nearly flat image). */
#define BESTFMT_VERY_SIMPLE 2.0

/* At most this many candidates (every format and variant once). */
#define BESTFMT_MAX_CANDIDATES 16

struct bestfmt_candidate {
    enum imgtype type;
    enum save_variant variant;
    bool lossless;
};

/* Whether format:best applies to the options po. */
bool bestfmt_wanted(const struct procopts *po);

/*
 * The formats format:best may choose from, in order: JPEG XL, AVIF and WebP
 * when their IMGPROXY_AUTO_* or IMGPROXY_ENFORCE_* setting is on and accept
 * (the Accept header) lists them, then IMGPROXY_PREFERRED_FORMATS; each
 * once. accept NULL stands for a client that accepts every format (the
 * memory estimate's worst case). Writes at most max into out; returns the count.
 */
size_t bestfmt_formats(const char *accept, enum imgtype *out, size_t max);

/*
 * The complexity of img (borrowed; computes its pixels): the mean absolute
 * difference of the luma (0.2126 R + 0.7152 G + 0.0722 B of the 8-bit
 * values, or the grey band) between horizontally and between vertically
 * neighbouring pixels, averaged over both directions, on a subsample of at
 * most about one megapixel (every n-th pixel and row). 0 for a flat image,
 * 0..255. Returns -1 with the libvips error set on failure.
 */
double bestfmt_complexity(VipsImage *img);

/*
 * The candidates for the formats (n of them), a result w x h (one frame)
 * with or without alpha, animated or not, of that complexity (< 0: not
 * measured, every candidate). Formats that cannot hold the alpha or the
 * animation, or that the size is outside of (AVIF under 16 px, WebP over
 * 16383, AVIF/HEIC over 16384), are left out; GIF only for animations;
 * TIFF, BMP and ICO never. When the complexity leaves nothing, every
 * candidate stays. Writes at most BESTFMT_MAX_CANDIDATES; returns the count.
 */
size_t bestfmt_candidates(const enum imgtype *formats, size_t n, bool alpha, bool animated, int w,
                          int h, double complexity, struct bestfmt_candidate *out);

/*
 * format:best on img (borrowed; a memory image: every encode reads it again
 * without recomputing the pipeline): each candidate encoded at its quality
 * (options_quality()), the sizes logged at debug level, the smallest kept;
 * then, when the winner is lossy, autoquality tunes it (autoq_applies()) or
 * max_bytes lowers its quality until it fits, with the encodes left in b.
 * Over IMGPROXY_BEST_FORMAT_MAX_RESOLUTION only the first candidate is
 * encoded. fallback is the format used when no candidate is left.
 * Returns 0 with the result in *out; AUTOQ_NO_BUDGET when the deadline left
 * no time for any encode; -1 when every encode failed (libvips error set).
 */
int bestfmt_encode(VipsImage *img, const struct procopts *po, const char *accept, bool animated,
                   bool strip, enum imgtype fallback, struct encode_budget *b, struct encoded *out)
    __attribute__((warn_unused_result));

#endif

/*
 * encbound.c: the per-format encode times behind the encode-time bound.
 *
 * Unstoppable encoders (WebP, AVIF, HEIC, GIF): measured with the default
 * settings (WebP effort 4, AVIF speed 8, Q 80) on a photo enlarged to
 * 6.4 MP, one libvips thread, on the project's 2-core build machine, while
 * other work shared it; each figure is the measured time per megapixel
 * rounded up by about half again, so that a loaded machine still finishes
 * in time. GIF's quantisation grows faster than the pixel count, so its
 * figure is from the larger image.
 *
 * Streaming savers (JPEG, PNG, TIFF): the other way round, the CPU time of
 * the whole request (enlargement and encode, 6.4 and 25.6 MP, default
 * settings: PNG with adaptive filters at zlib level 6, which is most of its
 * cost) with nothing rounded up, so that only a result no machine like this
 * could finish is refused; the deadline stops the rest.
 *
 * Machines differ: a slower one needs larger figures here.
 */
#include "encbound.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>

/*
 * Seconds per megapixel; formats not listed have no bound. A PDF result is
 * its JPEG (encoded strip by strip like a JPEG result) wrapped in a file by
 * a copy of its bytes (save_pdf.c): JPEG's figure.
 */
static const struct {
    enum imgtype type;
    double s_per_mp;
    bool streams; /* the saver writes strip by strip: the deadline stops it (encbound.h) */
} table[] = {
    {IMGTYPE_WEBP, 0.3, false}, {IMGTYPE_AVIF, 0.75, false}, {IMGTYPE_HEIC, 7.0, false},
    {IMGTYPE_GIF, 2.0, false},  {IMGTYPE_JPEG, 0.03, true},  {IMGTYPE_PNG, 0.35, true},
    {IMGTYPE_TIFF, 0.03, true}, {IMGTYPE_PDF, 0.03, true},
};

static int find(enum imgtype t)
{
    for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].type == t)
            return (int)i;
    return -1;
}

double encbound_seconds_per_mp(enum imgtype t)
{
    int i = find(t);

    return i < 0 ? 0 : table[i].s_per_mp;
}

bool encbound_streams(enum imgtype t)
{
    int i = find(t);

    return i >= 0 && table[i].streams;
}

long long encbound_estimate_ms(enum imgtype t, long long pixels)
{
    double s = encbound_seconds_per_mp(t), ms = ceil(s * (double)pixels / 1000.0);

    if (s == 0)
        return 0;
    if (ms < 1)
        return 1; /* an unstoppable encoder takes some time, however small the image */
    return ms >= (double)LLONG_MAX / 2 ? LLONG_MAX / 2 : (long long)ms;
}

bool encbound_fits(enum imgtype t, long long pixels, long long left_ms)
{
    long long need = encbound_estimate_ms(t, pixels);

    if (need == 0 || left_ms == LLONG_MAX)
        return true;
    return left_ms > 0 &&
           (double)need <=
               (double)left_ms * (encbound_streams(t) ? ENCBOUND_STREAM_FACTOR : ENCBOUND_SHARE);
}

/*
 * libvips' Gaussian blur (integer precision) convolves rows, then columns,
 * with a mask reaching out to where the Gaussian falls to 0.2 of its peak:
 * sigma * sqrt(2 ln 5) pixels each side. The blur's output is computed in
 * 128 x 128 tiles (its demand style), and for each tile the first pass runs
 * over the tile's width and its height plus the mask's, in one call: the
 * deadline cannot stop a tile once begun.
 */
long long encbound_blur_tile_ms(double sigma, int bands)
{
    double taps, ops, ms;

    if (sigma <= 0)
        return 0;
    taps = 2 * ceil(sigma * 1.7941) + 1; /* sqrt(2 ln 5) */
    ops = (128.0 * (128 + taps - 1) * taps + 128.0 * 128 * taps) * (bands > 0 ? bands : 1);
    ms = ceil(ops * ENCBOUND_NS_PER_TAP / 1e6);
    return ms >= (double)LLONG_MAX / 2 ? LLONG_MAX / 2 : (long long)ms;
}

bool encbound_blur_fits(double sigma, int bands, long long left_ms)
{
    return left_ms == LLONG_MAX || encbound_blur_tile_ms(sigma, bands) <= ENCBOUND_TILE_MS;
}

/*
 * encbound.c: the per-format encode times behind the encode-time bound.
 *
 * Measured with the default settings (WebP effort 4, AVIF speed 8, Q 80) on
 * a photo enlarged to 6.4 MP, one libvips thread, on the project's 2-core
 * build machine, while other work shared it; each figure is the measured
 * time per megapixel rounded up by about half again, so that a loaded
 * machine still finishes in time. GIF's quantisation grows faster than the
 * pixel count, so its figure is from the larger image. `make bench-budget`
 * machines differ: a slower one needs larger figures here.
 */
#include "encbound.h"

#include <limits.h>
#include <math.h>

/*
 * Seconds per megapixel; formats not listed are stopped by the deadline.
 * PDF is one of them: its JPEG is encoded strip by strip like a JPEG result,
 * and putting the file in a PDF (save_pdf.c) is a copy of its bytes.
 */
static const struct {
    enum imgtype type;
    double s_per_mp;
} table[] = {
    {IMGTYPE_WEBP, 0.3},
    {IMGTYPE_AVIF, 0.75},
    {IMGTYPE_HEIC, 7.0},
    {IMGTYPE_GIF, 2.0},
};

double encbound_seconds_per_mp(enum imgtype t)
{
    for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].type == t)
            return table[i].s_per_mp;
    return 0;
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
    return left_ms > 0 && (double)need <= (double)left_ms * ENCBOUND_SHARE;
}

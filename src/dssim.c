/* dssim.c: SSIM over L*a*b* with an 11x11 Gaussian window, as dssim.h defines it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "dssim.h"
#include "banned.h"

#define HALF (DSSIM_WINDOW / 2)
#define SIGMA 1.5
/* The channels are scaled to 0..1 (below), so SSIM's constants are those of a range of 1. */
#define C1 (0.01 * 0.01)
#define C2 (0.03 * 0.03)
/* The five windowed sums of a pixel: x, y, x^2, y^2, xy. */
#define NSUMS 5
/*
 * Each channel scaled to 0..1 by the extent of the sRGB gamut in it: L* 0..100,
 * a* -86.185..98.254, b* -107.863..94.482. a* and b* are signed and sit near
 * 0 in grey areas, where SSIM's luminance term would turn a difference of a
 * fraction of a unit into a large dissimilarity.
 */
static const double chan_offset[3] = {0.0, 86.185, 107.863};
static const double chan_scale[3] = {1.0 / 100.0, 1.0 / 184.439, 1.0 / 202.345};

/* Rows between two looks at the deadline. */
#define DEADLINE_ROWS 32

static void gauss_weights(double w[DSSIM_WINDOW])
{
    double sum = 0;

    for (int i = 0; i < DSSIM_WINDOW; i++) {
        double d = i - HALF;

        w[i] = exp(-d * d / (2.0 * SIGMA * SIGMA));
        sum += w[i];
    }
    for (int i = 0; i < DSSIM_WINDOW; i++)
        w[i] /= sum;
}

/*
 * The mean ssim of channel c. The window is separable: each input row is
 * filtered horizontally into a ring of DSSIM_WINDOW rows of the five sums
 * (valid columns only), and each output row is the vertical filter of the
 * ring, so the work is 2 x 11 taps a sum and the memory a few rows.
 */
static double channel_ssim(const float *a, const float *b, int w, int h, int c, const double *wt,
                           double *ring, const struct deadline *dl, int *late)
{
    int ow = w - DSSIM_WINDOW + 1, oh = h - DSSIM_WINDOW + 1;
    size_t rowlen = (size_t)NSUMS * (size_t)ow;
    double total = 0;

    for (int y = 0; y < h; y++) {
        double *row = ring + (size_t)(y % DSSIM_WINDOW) * rowlen;

        if (y % DEADLINE_ROWS == 0 && dl != NULL && deadline_passed(dl)) {
            *late = 1;
            return 0;
        }
        for (int x = 0; x < ow; x++) {
            double s[NSUMS] = {0, 0, 0, 0, 0};
            const float *pa = a + ((size_t)y * (size_t)w + (size_t)x) * 3 + c;
            const float *pb = b + ((size_t)y * (size_t)w + (size_t)x) * 3 + c;

            for (int k = 0; k < DSSIM_WINDOW; k++) {
                double va = (pa[(size_t)k * 3] + chan_offset[c]) * chan_scale[c];
                double vb = (pb[(size_t)k * 3] + chan_offset[c]) * chan_scale[c];

                s[0] += wt[k] * va;
                s[1] += wt[k] * vb;
                s[2] += wt[k] * va * va;
                s[3] += wt[k] * vb * vb;
                s[4] += wt[k] * va * vb;
            }
            for (int q = 0; q < NSUMS; q++)
                row[(size_t)q * (size_t)ow + (size_t)x] = s[q];
        }
        if (y < DSSIM_WINDOW - 1)
            continue;
        for (int x = 0; x < ow; x++) {
            double m[NSUMS] = {0, 0, 0, 0, 0};
            double mx, my, vx, vy, cxy;

            for (int k = 0; k < DSSIM_WINDOW; k++) {
                const double *r =
                    ring + (size_t)((y - DSSIM_WINDOW + 1 + k) % DSSIM_WINDOW) * rowlen;

                for (int q = 0; q < NSUMS; q++)
                    m[q] += wt[k] * r[(size_t)q * (size_t)ow + (size_t)x];
            }
            mx = m[0];
            my = m[1];
            vx = m[2] - mx * mx;
            vy = m[3] - my * my;
            cxy = m[4] - mx * my;
            total +=
                (2 * mx * my + C1) * (2 * cxy + C2) / ((mx * mx + my * my + C1) * (vx + vy + C2));
        }
    }
    return total / ((double)ow * (double)oh);
}

double dssim_compute(const float *a, const float *b, int w, int h, const struct deadline *dl)
{
    double wt[DSSIM_WINDOW];
    double *ring;
    double ssim = 0;
    int late = 0;

    if (w < DSSIM_WINDOW || h < DSSIM_WINDOW)
        return -1;
    ring = malloc(sizeof(double) * NSUMS * DSSIM_WINDOW * (size_t)(w - DSSIM_WINDOW + 1));
    if (ring == NULL)
        return -1;
    gauss_weights(wt);
    for (int c = 0; c < 3 && !late; c++)
        ssim += channel_ssim(a, b, w, h, c, wt, ring, dl, &late) / 3.0;
    free(ring);
    if (late)
        return -2;
    /* Anti-correlated windows can push SSIM to 0 or below: as dissimilar as it gets. */
    if (ssim <= 1e-9)
        return 1e9;
    return ssim >= 1.0 ? 0.0 : 1.0 / ssim - 1.0;
}

/* img's colour bands as float L*a*b*, computed into memory (*out: g_free). */
static int to_lab(VipsImage *img, float **out, int *w, int *h)
{
    VipsImage *t[3] = {NULL, NULL, NULL};
    int bands = vips_image_get_bands(img);
    VipsInterpretation in = vips_image_get_interpretation(img);
    size_t len = 0;
    int r = -1;

    *out = NULL;
    if (vips_image_hasalpha(img))
        bands--;
    if (bands != 1 && bands != 3) {
        vips_error("dssim", "cannot compare an image of %d colour bands", bands);
        return -1;
    }
    /* Grey is B_W (or GREY16) for vips_colourspace; anything else with three bands is sRGB. */
    if (vips_extract_band(img, &t[0], 0, "n", bands, NULL) ||
        vips_copy(t[0], &t[1], "interpretation",
                  bands == 1 ? (in == VIPS_INTERPRETATION_GREY16 ? VIPS_INTERPRETATION_GREY16
                                                                 : VIPS_INTERPRETATION_B_W)
                             : (in == VIPS_INTERPRETATION_RGB16 ? VIPS_INTERPRETATION_RGB16
                                                                : VIPS_INTERPRETATION_sRGB),
                  NULL) ||
        vips_colourspace(t[1], &t[2], VIPS_INTERPRETATION_LAB, NULL))
        goto out;
    if (vips_image_get_bands(t[2]) != 3 || vips_image_get_format(t[2]) != VIPS_FORMAT_FLOAT) {
        vips_error("dssim", "unexpected L*a*b* image");
        goto out;
    }
    *out = vips_image_write_to_memory(t[2], &len);
    if (*out == NULL)
        goto out;
    *w = vips_image_get_width(t[2]);
    *h = vips_image_get_height(t[2]);
    r = 0;
out:
    for (size_t i = 0; i < 3; i++)
        if (t[i] != NULL)
            g_object_unref(t[i]);
    return r;
}

int dssim_image_init(struct dssim_image *out, VipsImage *img)
{
    memset(out, 0, sizeof(*out));
    if (vips_image_get_width(img) < DSSIM_WINDOW || vips_image_get_height(img) < DSSIM_WINDOW) {
        vips_error("dssim", "image under %dx%d", DSSIM_WINDOW, DSSIM_WINDOW);
        return -1;
    }
    return to_lab(img, &out->lab, &out->width, &out->height);
}

void dssim_image_release(struct dssim_image *im)
{
    g_free(im->lab);
    im->lab = NULL;
}

double dssim_compare(const struct dssim_image *ref, VipsImage *img, const struct deadline *dl)
{
    float *lab = NULL;
    int w = 0, h = 0;
    double d;

    if (to_lab(img, &lab, &w, &h) < 0)
        return -1;
    if (w != ref->width || h != ref->height) {
        vips_error("dssim", "sizes differ: %dx%d and %dx%d", w, h, ref->width, ref->height);
        g_free(lab);
        return -1;
    }
    d = dssim_compute(ref->lab, lab, w, h, dl);
    g_free(lab);
    return d;
}

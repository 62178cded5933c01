/* adjust.c: colour adjustments and layers, blur areas, unsharp masking, bga, colour profile. */
#include <math.h>
#include <string.h>

#include "adjust.h"
#include "colour.h"
#include "config.h"
#include "watch.h"
#include "banned.h"

/*
 * Every step below builds a short libvips graph. Its intermediate images live
 * in a local array of a scratch object (libvips' vips_object_local_array
 * idiom): unreffing the scratch object releases them all, on success and on
 * failure alike, and the result is returned with a reference of its own.
 */
#define SCRATCH 64 /* more than the longest chain (every colour step at once) needs */

struct scratch {
    VipsObject *owner;
    VipsImage **t;
    int n;
};

static int scratch_init(struct scratch *s)
{
    s->owner = VIPS_OBJECT(vips_image_new());
    s->n = 0;
    if (s->owner == NULL)
        return -1;
    s->t = (VipsImage **)vips_object_local_array(s->owner, SCRATCH);
    return 0;
}

/* The next free slot, or NULL (with the libvips error set) when the array is full. */
static VipsImage **slot(struct scratch *s)
{
    if (s->n >= SCRATCH) {
        vips_error("adjust", "too many steps");
        return NULL;
    }
    return &s->t[s->n++];
}

/* Releases every intermediate; returns a new reference to keep (may be NULL) first. */
static VipsImage *scratch_finish(struct scratch *s, VipsImage *keep)
{
    if (keep != NULL)
        g_object_ref(keep);
    g_object_unref(s->owner);
    return keep;
}

static VipsImage *ref(VipsImage *in)
{
    g_object_ref(in);
    return in;
}

/* Splits in into its colour bands *colour and its alpha band *alpha (NULL when it has none). */
static int split_alpha(struct scratch *s, VipsImage *in, VipsImage **colour, VipsImage **alpha)
{
    int bands = vips_image_get_bands(in);
    VipsImage **c, **a;

    *colour = in;
    *alpha = NULL;
    if (!vips_image_hasalpha(in))
        return 0;
    c = slot(s);
    if (c == NULL || vips_extract_band(in, c, 0, "n", bands - 1, NULL))
        return -1;
    a = slot(s);
    if (a == NULL || vips_extract_band(in, a, bands - 1, NULL))
        return -1;
    *colour = *c;
    *alpha = *a;
    return 0;
}

/* colour (any format) rounded and clipped to 8 bits, tagged interp; alpha joined back when set. */
static int finish_8bit(struct scratch *s, VipsImage *colour, VipsImage *alpha,
                       VipsInterpretation interp, VipsImage **out)
{
    VipsImage **u = slot(s), **c, *cur;

    if (u == NULL || vips_linear1(colour, u, 1.0, 0.0, "uchar", TRUE, NULL))
        return -1;
    cur = *u;
    if (alpha != NULL) {
        VipsImage **j = slot(s);

        if (j == NULL || vips_bandjoin2(cur, alpha, j, NULL))
            return -1;
        cur = *j;
    }
    c = slot(s);
    if (c == NULL || vips_copy(cur, c, "interpretation", interp, NULL))
        return -1;
    *out = *c;
    return 0;
}

bool adjust_colour_active(const struct procopts *po)
{
    return po->brightness != 0 || po->contrast != 1 || po->saturation != 1 ||
           po->mc_intensity > 0 || po->dt_intensity > 0 || po->col_opacity > 0 ||
           po->gr_opacity > 0;
}

/* *rgb (8-bit sRGB) mixed with tone (3 bands, any format): rgb x (1 - k) + tone x k, 8-bit. */
static int mix(struct scratch *s, VipsImage **rgb, VipsImage *tone, double k)
{
    VipsImage **a = slot(s), **b, **sum, **u;

    if (a == NULL || vips_linear1(*rgb, a, 1.0 - k, 0.0, NULL))
        return -1;
    b = slot(s);
    if (b == NULL || vips_linear1(tone, b, k, 0.0, NULL))
        return -1;
    sum = slot(s);
    if (sum == NULL || vips_add(*a, *b, sum, NULL))
        return -1;
    u = slot(s);
    if (u == NULL || vips_linear1(*sum, u, 1.0, 0.0, "uchar", TRUE, NULL))
        return -1;
    *rgb = *u;
    return 0;
}

/*
 * A monochrome picture of *rgb: its luminance Y (0..1) mapped to
 * dark + (light - dark) x Y, blended with *rgb by intensity k.
 * monochrome is dark = black, light = the colour; duotone its two colours.
 */
static int tone_map(struct scratch *s, VipsImage **rgb, const unsigned char dark[3],
                    const unsigned char light[3], double k)
{
    VipsImage **y = slot(s), **tone;
    double a[3], b[3];

    if (y == NULL || vips_colourspace(*rgb, y, VIPS_INTERPRETATION_B_W, "source_space",
                                      VIPS_INTERPRETATION_sRGB, NULL))
        return -1;
    for (int i = 0; i < 3; i++) {
        a[i] = ((double)light[i] - dark[i]) / 255.0;
        b[i] = dark[i];
    }
    tone = slot(s);
    if (tone == NULL || vips_linear(*y, tone, a, b, 3, NULL))
        return -1;
    return mix(s, rgb, *tone, k);
}

/*
 * Lays the colour col over *rgb through the coverage g (1 band, 0..1 floats):
 * Porter-Duff "over" with the image's alpha *alpha (NULL: opaque). With
 * keep_alpha (or no alpha) the colour values are mixed as if the image were
 * opaque and the alpha band is left alone; otherwise the alpha grows to
 * g + a x (1 - g). *rgb and *alpha are replaced (8-bit).
 */
static int lay_colour(struct scratch *s, VipsImage **rgb, VipsImage **alpha,
                      const unsigned char col[3], VipsImage *g, bool keep_alpha)
{
    double c[3] = {col[0], col[1], col[2]}, zero[3] = {0, 0, 0};
    VipsImage **inv = slot(s), **w, **part, **paint, **num, **cover, **res;

    /* w: what is left of the image under the layer, a x (1 - g). */
    if (inv == NULL || vips_linear1(g, inv, -1.0, 1.0, NULL))
        return -1;
    if (*alpha == NULL || keep_alpha) {
        w = inv;
    } else {
        VipsImage **a01 = slot(s);

        if (a01 == NULL || vips_linear1(*alpha, a01, 1.0 / 255.0, 0.0, NULL))
            return -1;
        w = slot(s);
        if (w == NULL || vips_multiply(*a01, *inv, w, NULL))
            return -1;
    }
    part = slot(s);
    if (part == NULL || vips_multiply(*rgb, *w, part, NULL))
        return -1;
    paint = slot(s);
    if (paint == NULL || vips_linear(g, paint, c, zero, 3, NULL))
        return -1;
    num = slot(s);
    if (num == NULL || vips_add(*part, *paint, num, NULL))
        return -1;
    if (*alpha == NULL || keep_alpha) {
        res = num;
    } else {
        VipsImage **na;

        cover = slot(s);
        if (cover == NULL || vips_add(*w, g, cover, NULL))
            return -1;
        /* Where nothing covers the pixel (0 / 0) libvips gives 0: a transparent black. */
        res = slot(s);
        if (res == NULL || vips_divide(*num, *cover, res, NULL))
            return -1;
        na = slot(s);
        if (na == NULL || vips_linear1(*cover, na, 255.0, 0.0, "uchar", TRUE, NULL))
            return -1;
        *alpha = *na;
    }
    {
        VipsImage **u = slot(s);

        if (u == NULL || vips_linear1(*res, u, 1.0, 0.0, "uchar", TRUE, NULL))
            return -1;
        *rgb = *u;
    }
    return 0;
}

/* A w x h coverage image of the constant v. */
static int constant(struct scratch *s, int w, int h, double v, VipsImage **out)
{
    VipsImage **b = slot(s), **c;

    if (b == NULL || vips_black(b, w, h, NULL))
        return -1;
    c = slot(s);
    if (c == NULL || vips_linear1(*b, c, 0.0, v, NULL))
        return -1;
    *out = *c;
    return 0;
}

/*
 * The gradient's coverage for a w x h image: t runs from 0 to 1 along the
 * direction (po->gr_angle degrees clockwise from "down") across the image;
 * the coverage is 0 up to gr_start, rises linearly to gr_opacity at gr_stop
 * and stays there (a step when start = stop).
 */
static int gradient_cover(struct scratch *s, const struct procopts *po, int w, int h,
                          VipsImage **out)
{
    double th = po->gr_angle * M_PI / 180.0;
    double dx = -sin(th), dy = cos(th);
    double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    double len = fabs((w - 1) * dx) + fabs((h - 1) * dy);
    double a[2], b[2];
    VipsImage **xy = slot(s), **lin, **x, **y, **t, **ramp, **g;

    if (len < 1e-9)
        len = 1;
    a[0] = dx / len;
    a[1] = dy / len;
    b[0] = -cx * dx / len + 0.5;
    b[1] = -cy * dy / len;
    if (xy == NULL || vips_xyz(xy, w, h, NULL))
        return -1;
    lin = slot(s);
    if (lin == NULL || vips_linear(*xy, lin, a, b, 2, NULL))
        return -1;
    x = slot(s);
    if (x == NULL || vips_extract_band(*lin, x, 0, NULL))
        return -1;
    y = slot(s);
    if (y == NULL || vips_extract_band(*lin, y, 1, NULL))
        return -1;
    t = slot(s);
    if (t == NULL || vips_add(*x, *y, t, NULL))
        return -1;
    ramp = slot(s);
    if (ramp == NULL)
        return -1;
    if (po->gr_stop != po->gr_start) {
        double k = 255.0 / (po->gr_stop - po->gr_start);

        if (vips_linear1(*t, ramp, k, -k * po->gr_start, "uchar", TRUE, NULL))
            return -1;
    } else if (vips_relational_const1(*t, ramp, VIPS_OPERATION_RELATIONAL_MOREEQ, po->gr_start,
                                      NULL)) {
        return -1;
    }
    g = slot(s);
    if (g == NULL || vips_linear1(*ramp, g, po->gr_opacity / 255.0, 0.0, NULL))
        return -1;
    *out = *g;
    return 0;
}

/* The steps of adjust_colour() on the colour bands *rgb (and alpha *alpha). */
static int colour_steps(struct scratch *s, const struct procopts *po, VipsImage **rgb,
                        VipsImage **alpha)
{
    int w = vips_image_get_width(*rgb), h = vips_image_get_height(*rgb);
    static const unsigned char black[3] = {0, 0, 0};

    if (po->brightness != 0 || po->contrast != 1) {
        /* Brightness first, then contrast around the middle grey. */
        VipsImage **t = slot(s);
        double b = (po->brightness - 128.0) * po->contrast + 128.0;

        if (t == NULL || vips_linear1(*rgb, t, po->contrast, b, "uchar", TRUE, NULL))
            return -1;
        *rgb = *t;
    }
    if (po->saturation != 1) {
        /* Chroma scaled in CIE LCh: hue and lightness stay. */
        double a[3] = {1, po->saturation, 1}, b[3] = {0, 0, 0};
        VipsImage **lch = slot(s), **sc, **back;

        if (lch == NULL || vips_colourspace(*rgb, lch, VIPS_INTERPRETATION_LCH, "source_space",
                                            VIPS_INTERPRETATION_sRGB, NULL))
            return -1;
        sc = slot(s);
        if (sc == NULL || vips_linear(*lch, sc, a, b, 3, NULL))
            return -1;
        back = slot(s);
        if (back == NULL || vips_colourspace(*sc, back, VIPS_INTERPRETATION_sRGB, "source_space",
                                             VIPS_INTERPRETATION_LCH, NULL))
            return -1;
        *rgb = *back;
    }
    if (po->mc_intensity > 0 && tone_map(s, rgb, black, po->mc_color, po->mc_intensity) < 0)
        return -1;
    if (po->dt_intensity > 0 &&
        tone_map(s, rgb, po->dt_color1, po->dt_color2, po->dt_intensity) < 0)
        return -1;
    if (po->col_opacity > 0) {
        VipsImage *g;

        if (constant(s, w, h, po->col_opacity, &g) < 0 ||
            lay_colour(s, rgb, alpha, po->col_color, g, po->col_keep_alpha) < 0)
            return -1;
    }
    if (po->gr_opacity > 0) {
        VipsImage *g;

        if (gradient_cover(s, po, w, h, &g) < 0 ||
            lay_colour(s, rgb, alpha, po->gr_color, g, false) < 0)
            return -1;
    }
    return 0;
}

VipsImage *adjust_colour(VipsImage *in, const struct procopts *po)
{
    struct scratch s;
    VipsImage *rgb, *alpha, *out = NULL;
    bool grey;

    if (!adjust_colour_active(po))
        return ref(in);
    if (scratch_init(&s) < 0)
        return NULL;
    if (split_alpha(&s, in, &rgb, &alpha) < 0)
        goto out;
    grey = vips_image_get_bands(rgb) < 3;
    /* Only brightness and contrast work on grey as it is; the rest need colour. */
    if (grey && (po->saturation != 1 || po->mc_intensity > 0 || po->dt_intensity > 0 ||
                 po->col_opacity > 0 || po->gr_opacity > 0)) {
        VipsImage **c = slot(&s);

        if (c == NULL || vips_colourspace(rgb, c, VIPS_INTERPRETATION_sRGB, "source_space",
                                          VIPS_INTERPRETATION_B_W, NULL))
            goto out;
        rgb = *c;
        grey = false;
    }
    if (colour_steps(&s, po, &rgb, &alpha) < 0 ||
        finish_8bit(&s, rgb, alpha, grey ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB,
                    &out) < 0)
        out = NULL;
out:
    return scratch_finish(&s, out);
}

/* Sigmas above this blur a shrunk copy of the region instead (see blur_region). */
#define BLUR_DIRECT_MAX 16.0

/*
 * A Gaussian blur of part (w x h) by sigma into *out, of the same size. A
 * large sigma (the URL's, in result pixels, over a source shrunk many times)
 * would need a mask of thousands of pixels: the region is shrunk so that the
 * sigma becomes BLUR_DIRECT_MAX / 2, blurred and enlarged back, which costs
 * what the region's pixels cost whatever the sigma.
 */
static int blur_region(VipsImage *part, double sigma, VipsImage **out)
{
    int w = vips_image_get_width(part), h = vips_image_get_height(part);
    VipsImage *t[4] = {NULL, NULL, NULL, NULL};
    double f, hs, vs;
    int r = -1;

    /* Past the region's size a larger sigma changes nothing: the edges are copies. */
    if (sigma > (w > h ? w : h))
        sigma = w > h ? w : h;
    if (sigma <= BLUR_DIRECT_MAX)
        return vips_gaussblur(part, out, sigma, NULL);
    f = sigma / (BLUR_DIRECT_MAX / 2);
    hs = fmax(1.0 / f, 1.0 / w);
    vs = fmax(1.0 / f, 1.0 / h);
    if (vips_resize(part, &t[0], hs, "vscale", vs, NULL) ||
        vips_gaussblur(t[0], &t[1], BLUR_DIRECT_MAX / 2, NULL) ||
        vips_resize(t[1], &t[2], (double)w / vips_image_get_width(t[1]), "vscale",
                    (double)h / vips_image_get_height(t[1]), "kernel", VIPS_KERNEL_LINEAR, NULL))
        goto done;
    /* vips_resize rounds its output size: copy edge pixels or cut to exactly w x h. */
    if (vips_embed(t[2], &t[3], 0, 0, w, h, "extend", VIPS_EXTEND_COPY, NULL))
        goto done;
    *out = t[3];
    t[3] = NULL;
    r = 0;
done:
    for (int i = 0; i < 4; i++)
        if (t[i] != NULL)
            g_object_unref(t[i]);
    return r;
}

VipsImage *adjust_blur_areas(VipsImage *in, const struct procopts *po, double scale)
{
    int w = vips_image_get_width(in), h = vips_image_get_height(in);
    double sigma = po->ba_sigma / (scale > 0 ? scale : 1);
    VipsImage *cur;

    if (!(po->ba_sigma > 0) || po->ba_n <= 0)
        return ref(in);
    /* libvips' Gaussian mask is at least 1 px; below ~0.3 it would do nothing anyway. */
    if (sigma < 0.3)
        sigma = 0.3;
    /* A blur reads rows around each output row: in memory, not from a sequential loader. */
    cur = watch_copy_memory(in);
    for (int i = 0; cur != NULL && i < po->ba_n && i < OPTIONS_BLUR_AREAS; i++) {
        const double *r = po->ba_rects[i];
        int left = (int)floor(r[0] * w), top = (int)floor(r[1] * h);
        int right = (int)ceil((r[0] + r[2]) * w), bottom = (int)ceil((r[1] + r[3]) * h);
        VipsImage *part = NULL, *blurred = NULL, *next = NULL;

        if (right > w)
            right = w;
        if (bottom > h)
            bottom = h;
        if (right <= left || bottom <= top)
            continue;
        if (vips_extract_area(cur, &part, left, top, right - left, bottom - top, NULL) == 0 &&
            blur_region(part, sigma, &blurred) == 0)
            vips_insert(cur, blurred, &next, left, top, NULL);
        if (part != NULL)
            g_object_unref(part);
        if (blurred != NULL)
            g_object_unref(blurred);
        g_object_unref(cur);
        cur = next != NULL ? watch_copy_memory(next) : NULL;
        if (next != NULL)
            g_object_unref(next);
    }
    return cur;
}

bool adjust_unsharp_runs(const struct procopts *po, bool downscaled)
{
    switch (po->ush_mode) {
    case USH_ALWAYS:
        return true;
    case USH_AUTO:
        return downscaled && po->sharpen <= 0;
    default:
        return false;
    }
}

VipsImage *adjust_unsharp(VipsImage *in, const struct procopts *po)
{
    double w = po->ush_weight, d = po->ush_divider;
    double n = -w / d, c = (d + 8.0 * w) / d;
    struct scratch s;
    VipsImage *colour, *alpha, *out = NULL, **m, **conv;
    VipsInterpretation interp = vips_image_get_interpretation(in);

    if (!(w > 0) || !(d > 0))
        return ref(in);
    if (scratch_init(&s) < 0)
        return NULL;
    if (split_alpha(&s, in, &colour, &alpha) < 0)
        goto out;
    m = slot(&s);
    if (m == NULL)
        goto out;
    *m = vips_image_new_matrixv(3, 3, n, n, n, n, c, n, n, n, n);
    if (*m == NULL)
        goto out;
    conv = slot(&s);
    if (conv == NULL || vips_conv(colour, conv, *m, "precision", VIPS_PRECISION_FLOAT, NULL) ||
        finish_8bit(&s, *conv, alpha, interp, &out) < 0)
        out = NULL;
out:
    return scratch_finish(&s, out);
}

VipsImage *adjust_flatten(VipsImage *in, const unsigned char rgb[3], double alpha)
{
    struct scratch s;
    VipsImage *colour, *a, *out = NULL, **a01, **w, **part, **paint, **num, **cover, **res, **na;
    double bg[3] = {rgb[0], rgb[1], rgb[2]}, zero[3] = {0, 0, 0};
    int nb;

    if (!vips_image_hasalpha(in))
        return ref(in);
    if (scratch_init(&s) < 0)
        return NULL;
    if (split_alpha(&s, in, &colour, &a) < 0)
        goto out;
    nb = vips_image_get_bands(colour);
    /* Grey with alpha takes the mean of the colour, as filters_flatten() does. */
    if (nb < 3)
        bg[0] = (bg[0] + bg[1] + bg[2]) / 3.0;
    /* Background "under" the image: w = alpha x (1 - a) of it shows through. */
    a01 = slot(&s);
    if (a01 == NULL || vips_linear1(a, a01, 1.0 / 255.0, 0.0, NULL))
        goto out;
    w = slot(&s);
    if (w == NULL || vips_linear1(*a01, w, -alpha, alpha, NULL))
        goto out;
    part = slot(&s);
    if (part == NULL || vips_multiply(colour, *a01, part, NULL))
        goto out;
    paint = slot(&s);
    if (paint == NULL || vips_linear(*w, paint, bg, zero, nb >= 3 ? 3 : 1, NULL))
        goto out;
    num = slot(&s);
    if (num == NULL || vips_add(*part, *paint, num, NULL))
        goto out;
    cover = slot(&s);
    if (cover == NULL || vips_add(*a01, *w, cover, NULL))
        goto out;
    res = slot(&s);
    if (res == NULL || vips_divide(*num, *cover, res, NULL))
        goto out;
    na = slot(&s);
    if (na == NULL || vips_linear1(*cover, na, 255.0, 0.0, "uchar", TRUE, NULL))
        goto out;
    if (finish_8bit(&s, *res, *na, vips_image_get_interpretation(in), &out) < 0)
        out = NULL;
out:
    return scratch_finish(&s, out);
}

VipsImage *adjust_color_profile(VipsImage *in, const char *name, enum imgtype t)
{
    bool cmyk = strcmp(name, "cmyk") == 0, builtin = cmyk || strcmp(name, "srgb") == 0;
    bool has_icc = vips_image_get_typeof(in, VIPS_META_ICC_NAME) != 0;
    VipsImage *cur = in, *grey_rgb = NULL, *out = NULL;
    char *path;

    if (name[0] == '\0' || !colour_format_keeps_profile(t) ||
        (cmyk && t != IMGTYPE_JPEG && t != IMGTYPE_TIFF))
        return ref(in);
    path = builtin ? g_strdup(name) : g_build_filename(cfg.color_profiles_dir, name, NULL);
    if (vips_image_get_bands(in) - (vips_image_hasalpha(in) ? 1 : 0) < 3) {
        if (vips_colourspace(in, &grey_rgb, VIPS_INTERPRETATION_sRGB, NULL))
            goto out;
        cur = grey_rgb;
    }
    /* Pixels without a profile of their own are sRGB, as everywhere in the pipeline. */
    if (vips_icc_transform(cur, &out, path, "input_profile", "srgb", "embedded", has_icc, "intent",
                           VIPS_INTENT_RELATIVE, "black_point_compensation", TRUE, NULL))
        out = NULL;
out:
    if (grey_rgb != NULL)
        g_object_unref(grey_rgb);
    g_free(path);
    return out;
}

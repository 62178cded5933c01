/* filters.c: trim, blur, sharpen, pixelate, embed and flatten the way imgproxy's vips.c does them.
 */
#include <math.h>

#include "filters.h"
#include "watch.h"
#include "banned.h"

static VipsImage *ref(VipsImage *in)
{
    g_object_ref(in);
    return in;
}

/*
 * trim_equal_hor/ver on one axis of length full: the trimmed span *start,
 * *len grows so that the margins on both sides are equal (the smaller one).
 */
static void equal_margins(int full, int *start, int *len)
{
    int end = full - *start - *len, diff = end - *start;

    if (diff > 0) {
        *len += diff;
    } else if (diff < 0) {
        *start = end;
        *len -= diff;
    }
}

VipsImage *filters_trim(VipsImage *in, const struct procopts *po)
{
    VipsImage *t[3] = {NULL, NULL, NULL};
    VipsImage *cur = in, *out = NULL;
    VipsArrayDouble *bga = NULL;
    double *bg = NULL, rgb[3];
    int nbg = 0, left, top, width, height, iw = vips_image_get_width(in),
        ih = vips_image_get_height(in);

    if (vips_image_guess_interpretation(cur) != VIPS_INTERPRETATION_sRGB) {
        if (vips_colourspace(cur, &t[0], VIPS_INTERPRETATION_sRGB, NULL))
            goto out;
        cur = t[0];
    }
    /* Transparent pixels become magenta so they never look like the background. */
    if (vips_image_hasalpha(cur)) {
        double magenta[3] = {255, 0, 255};
        VipsArrayDouble *m = vips_array_double_new(magenta, 3);
        int r = vips_flatten(cur, &t[1], "background", m, NULL);

        vips_area_unref(VIPS_AREA(m));
        if (r)
            goto out;
        cur = t[1];
    }
    if (po->trim_has_color) {
        for (int i = 0; i < 3; i++)
            rgb[i] = po->trim_color[i];
        bga = vips_array_double_new(rgb, 3);
    } else {
        if (vips_getpoint(cur, &bg, &nbg, 0, 0, NULL))
            goto out;
        bga = vips_array_double_new(bg, nbg);
    }
    if (vips_find_trim(cur, &left, &top, &width, &height, "background", bga, "threshold",
                       po->trim_threshold, NULL))
        goto out;
    if (po->trim_equal_hor)
        equal_margins(iw, &left, &width);
    if (po->trim_equal_ver)
        equal_margins(ih, &top, &height);
    if (width <= 0 || height <= 0) {
        out = ref(in);
        goto out;
    }
    if (vips_extract_area(in, &t[2], left, top, width, height, NULL))
        goto out;
    out = t[2];
    t[2] = NULL;
out:
    if (bga != NULL)
        vips_area_unref(VIPS_AREA(bga));
    g_free(bg);
    for (int i = 0; i < 3; i++)
        if (t[i] != NULL)
            g_object_unref(t[i]);
    return out;
}

/* libvips' pixelate as imgproxy does it: mirror to a multiple, shrink, zoom, crop back. */
static int pixelate(VipsImage *in, VipsImage **out, int pixels)
{
    VipsImage *t[3] = {NULL, NULL, NULL};
    int w = vips_image_get_width(in), h = vips_image_get_height(in);
    int tw = (int)ceil((double)w / pixels) * pixels, th = (int)ceil((double)h / pixels) * pixels;
    int r = -1;

    if (tw > w || th > h) {
        if (vips_embed(in, &t[0], 0, 0, tw, th, "extend", VIPS_EXTEND_MIRROR, NULL))
            goto out;
    } else {
        t[0] = ref(in);
    }
    if (vips_shrink(t[0], &t[1], pixels, pixels, NULL) ||
        vips_zoom(t[1], &t[2], pixels, pixels, NULL) ||
        vips_extract_area(t[2], out, 0, 0, w, h, NULL))
        goto out;
    r = 0;
out:
    for (int i = 0; i < 3; i++)
        if (t[i] != NULL)
            g_object_unref(t[i]);
    return r;
}

VipsImage *filters_apply(VipsImage *in, const struct procopts *po)
{
    VipsImage *cur, *next = NULL;
    bool alpha;

    if (po->blur <= 0 && po->sharpen <= 0 && po->pixelate <= 1)
        return ref(in);
    cur = watch_copy_memory(in);
    if (cur == NULL)
        return NULL;
    alpha = vips_image_hasalpha(cur);
    /* Premultiplied alpha keeps transparent pixels from bleeding black into edges. */
    if (alpha) {
        if (vips_premultiply(cur, &next, NULL))
            goto fail;
        g_object_unref(cur);
        cur = next;
    }
    if (po->blur > 0) {
        if (vips_gaussblur(cur, &next, po->blur, NULL))
            goto fail;
        g_object_unref(cur);
        cur = next;
    }
    if (po->sharpen > 0) {
        if (vips_sharpen(cur, &next, "sigma", po->sharpen, NULL))
            goto fail;
        g_object_unref(cur);
        cur = next;
    }
    if (po->pixelate > 1) {
        int w = vips_image_get_width(cur), h = vips_image_get_height(cur);
        int mx = w > h ? w : h;

        if (pixelate(cur, &next, po->pixelate < mx ? po->pixelate : mx))
            goto fail;
        g_object_unref(cur);
        cur = next;
    }
    if (alpha) {
        if (vips_unpremultiply(cur, &next, NULL))
            goto fail;
        g_object_unref(cur);
        cur = next;
    }
    if (vips_image_get_format(cur) != VIPS_FORMAT_UCHAR) {
        if (vips_cast(cur, &next, VIPS_FORMAT_UCHAR, NULL))
            goto fail;
        g_object_unref(cur);
        cur = next;
    }
    next = watch_copy_memory(cur);
    g_object_unref(cur);
    return next;
fail:
    g_object_unref(cur);
    return NULL;
}

VipsImage *filters_embed(VipsImage *in, int left, int top, int w, int h)
{
    VipsImage *a = NULL, *out = NULL;
    VipsArrayDouble *bga;
    double bg[4] = {0, 0, 0, 0};
    int r;

    if (left == 0 && top == 0 && w == vips_image_get_width(in) && h == vips_image_get_height(in))
        return ref(in);
    if (!vips_image_hasalpha(in)) {
        if (vips_bandjoin_const1(in, &a, 255, NULL))
            return NULL;
    } else {
        a = ref(in);
    }
    bga = vips_array_double_new(bg, vips_image_get_bands(a));
    r = vips_embed(a, &out, left, top, w, h, "extend", VIPS_EXTEND_BACKGROUND, "background", bga,
                   NULL);
    vips_area_unref(VIPS_AREA(bga));
    g_object_unref(a);
    return r ? NULL : out;
}

VipsImage *filters_flatten(VipsImage *in, const unsigned char rgb[3])
{
    VipsImage *out = NULL;
    VipsArrayDouble *bga;
    double bg[3] = {rgb[0], rgb[1], rgb[2]};
    int nb = vips_image_get_bands(in) - 1;
    int r;

    if (!vips_image_hasalpha(in))
        return ref(in);
    /* Grey with alpha flattens onto one value: the mean of the colour. */
    if (nb < 3)
        bg[0] = (bg[0] + bg[1] + bg[2]) / 3.0;
    bga = vips_array_double_new(bg, nb >= 3 ? 3 : 1);
    r = vips_flatten(in, &out, "background", bga, NULL);
    vips_area_unref(VIPS_AREA(bga));
    return r ? NULL : out;
}

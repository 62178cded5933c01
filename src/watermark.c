/*
 * watermark.c: the configured watermark (loaded once), per-request ones
 * (watermark_url through a bounded cache, watermark_text rendered by
 * libvips/Pango), shaped (size, rotation, shadow) and drawn as imgproxy does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fetch.h"
#include "geometry.h"
#include "imgcache.h"
#include "svg.h"
#include "watermark.h"
#include "vipsop.h"
#include "banned.h"

/* Read-only after watermark_init(): the encoded watermark, decoded per request. */
static unsigned char *wm_data;
static size_t wm_len;
/* watermark_url images by URL; NULL with IMGPROXY_WATERMARKS_CACHE_SIZE=0. Thread-safe. */
static struct imgcache *wm_cache;

bool watermark_available(void)
{
    return wm_data != NULL;
}

bool watermark_wanted(const struct procopts *po)
{
    return po->wm_opacity > 0 &&
           (po->wm_text[0] != '\0' || po->wm_image != NULL || (po->wm_url[0] == '\0' && wm_data));
}

void watermark_release(void)
{
    imgcache_free(wm_cache);
    wm_cache = NULL;
    g_free(wm_data);
    wm_data = NULL;
    wm_len = 0;
}

int watermark_init(char *err, size_t errlen)
{
    VipsImage *probe;

    if (cfg.watermarks_cache_size > 0) {
        wm_cache =
            imgcache_new((size_t)cfg.watermarks_cache_size, (size_t)cfg.watermarks_cache_bytes);
        if (wm_cache == NULL) {
            snprintf(err, errlen, "watermark cache: out of memory");
            return -1;
        }
    }
    if (cfg.watermark_data != NULL && cfg.watermark_data[0] != '\0') {
        gsize n = 0;

        wm_data = g_base64_decode(cfg.watermark_data, &n);
        wm_len = n;
        if (wm_data == NULL || n == 0) {
            snprintf(err, errlen, "IMGPROXY_WATERMARK_DATA: not base64");
            return -1;
        }
    } else if (cfg.watermark_path != NULL && cfg.watermark_path[0] != '\0') {
        gchar *d = NULL;
        gsize n = 0;

        if (!g_file_get_contents(cfg.watermark_path, &d, &n, NULL)) {
            snprintf(err, errlen, "IMGPROXY_WATERMARK_PATH: can't read %s", cfg.watermark_path);
            return -1;
        }
        wm_data = (unsigned char *)d;
        wm_len = n;
    } else if (cfg.watermark_url != NULL && cfg.watermark_url[0] != '\0') {
        struct fetcher *f = fetcher_new();
        struct fetch_result r;
        struct errinfo e;
        int ret;

        if (f == NULL) {
            snprintf(err, errlen, "IMGPROXY_WATERMARK_URL: out of memory");
            return -1;
        }
        fetch_result_init(&r);
        err_clear(&e);
        ret = fetch_source(f, cfg.watermark_url, &r, &e);
        if (ret == 0) {
            wm_data = g_memdup2(r.body.data, r.body.len);
            wm_len = r.body.len;
        }
        fetch_result_release(&r);
        fetcher_free(f);
        if (ret < 0) {
            snprintf(err, errlen, "IMGPROXY_WATERMARK_URL: %s", e.msg);
            return -1;
        }
    } else {
        return 0;
    }
    probe = vips_image_new_from_buffer(wm_data, wm_len, "", NULL);
    if (probe == NULL) {
        char *msg = vipsop_error_text();

        snprintf(err, errlen, "watermark: libvips can't load it: %s", msg);
        g_free(msg);
        watermark_release();
        return -1;
    }
    g_object_unref(probe);
    return 0;
}

/* Replaces *img by next (taking ownership); -1 if next is NULL. */
static int swap(VipsImage **img, VipsImage *next)
{
    if (next == NULL)
        return -1;
    g_object_unref(*img);
    *img = next;
    return 0;
}

/* A failed step of making the watermark: drops wm, records the failure in e; NULL. */
static VipsImage *dropped(VipsImage *wm, struct errinfo *e, enum vipsop_stage stage,
                          const char *what)
{
    g_object_unref(wm);
    vipsop_fail(e, stage, what);
    return NULL;
}

int watermark_fetch(struct fetcher *f, const char *url, const struct fetch_opts *o, GBytes **out,
                    struct errinfo *e)
{
    struct fetch_result r;
    enum imgtype t;
    int ret;

    *out = wm_cache != NULL ? imgcache_get(wm_cache, url) : NULL;
    if (*out != NULL)
        return 0;
    fetch_result_init(&r);
    ret = fetch_source_with(f, url, o, &r, e);
    if (ret < 0)
        goto out;
    t = imagetype_sniff(r.body.data, r.body.len, (size_t)cfg.max_svg_check_bytes);
    /* Raster images and SVG only: a document loader never sees a watermark. */
    if (t == IMGTYPE_UNKNOWN || t == IMGTYPE_PDF || r.body.len == 0) {
        ret = err_set(e, ERR_SOURCE_TYPE, "Watermark image type not supported: %s", url);
        goto out;
    }
    *out = g_bytes_new(r.body.data, r.body.len);
    if (wm_cache != NULL)
        (void)imgcache_put(wm_cache, url, *out, r.body.len);
out:
    fetch_result_release(&r);
    return ret;
}

/*
 * The watermark text rendered at IMGFCGI_WATERMARK_TEXT_DPI x dpr. Markup
 * was checked when the option was parsed (markup.h); the rendered size is
 * bounded here as well: a draft at DRAFT_DPI (a few pixels a glyph, small
 * whatever the markup within its bounds) predicts it, and a text that would
 * pass IMGFCGI_WATERMARK_TEXT_MAX_PIXELS is refused before it is drawn in
 * full. The full rendering is checked again.
 */
#define DRAFT_DPI 9
static VipsImage *render_text(const char *markup, double dpr, struct errinfo *e)
{
    double want = cfg.watermark_text_dpi * dpr;
    int dpi = want > 100000 ? 100000 : want < 1 ? 1 : (int)lround(want);
    int draft_dpi = dpi < DRAFT_DPI ? dpi : DRAFT_DPI;
    double f = (double)dpi / draft_dpi, px;
    VipsImage *t = NULL;

    if (vips_text(&t, markup, "font", cfg.watermark_font, "dpi", draft_dpi, "rgba", TRUE, NULL)) {
        vipsop_fail(e, VIPSOP_LOAD, "Can't render the watermark text");
        return NULL;
    }
    px = (double)vips_image_get_width(t) * vips_image_get_height(t) * f * f;
    g_object_unref(t);
    t = NULL;
    if (px > (double)cfg.watermark_text_max_pixels) {
        err_set(e, ERR_SOURCE_TYPE,
                "Watermark text would be about %.0f pixels at %d dpi, over "
                "IMGFCGI_WATERMARK_TEXT_MAX_PIXELS (%lld)",
                px, dpi, cfg.watermark_text_max_pixels);
        return NULL;
    }
    if (vips_text(&t, markup, "font", cfg.watermark_font, "dpi", dpi, "rgba", TRUE, NULL)) {
        vipsop_fail(e, VIPSOP_LOAD, "Can't render the watermark text");
        return NULL;
    }
    px = (double)vips_image_get_width(t) * vips_image_get_height(t);
    if (px > (double)cfg.watermark_text_max_pixels) {
        g_object_unref(t);
        err_set(e, ERR_SOURCE_TYPE,
                "Watermark text is %.0f pixels, over "
                "IMGFCGI_WATERMARK_TEXT_MAX_PIXELS (%lld)",
                px, cfg.watermark_text_max_pixels);
        return NULL;
    }
    return t;
}

/*
 * Encoded watermark bytes (borrowed: they must outlive the image); with
 * max_px > 0 a header over that many pixels is refused.
 */
static VipsImage *load_bytes(const unsigned char *data, size_t len, long long max_px,
                             struct errinfo *e)
{
    VipsImage *wm = NULL;

    if (imagetype_sniff(data, len, (size_t)cfg.max_svg_check_bytes) == IMGTYPE_SVG &&
        svg_declares_entities((const char *)data, len)) {
        err_set(e, ERR_SOURCE_TYPE, "Watermark SVGs with DTD entities are not rasterised");
        return NULL;
    }
    wm = vips_image_new_from_buffer(data, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (wm == NULL) {
        vipsop_fail(e, VIPSOP_LOAD, "Can't load the watermark");
        return NULL;
    }
    if (max_px > 0 && (long long)vips_image_get_width(wm) * vips_image_get_height(wm) > max_px) {
        err_set(e, ERR_SOURCE_TYPE, "Watermark image resolution is too big (%dx%d)",
                vips_image_get_width(wm), vips_image_get_height(wm));
        g_object_unref(wm);
        return NULL;
    }
    return wm;
}

/*
 * The watermark for po as 8-bit RGBA in memory: the text, the request's
 * watermark_url image, or the configured one. NULL with e set.
 */
static VipsImage *load_watermark(const struct procopts *po, double dpr, struct errinfo *e)
{
    VipsImage *wm, *o = NULL;

    if (po->wm_text[0] != '\0')
        wm = render_text(po->wm_text, dpr, e);
    else if (po->wm_image != NULL)
        wm = load_bytes(po->wm_image, po->wm_image_len, po->max_src_resolution, e);
    else
        wm = load_bytes(wm_data, wm_len, 0, e);
    if (wm == NULL)
        return NULL;
    if (swap(&wm, vips_image_copy_memory(wm)) < 0)
        goto fail;
    if (vips_image_get_interpretation(wm) != VIPS_INTERPRETATION_sRGB ||
        vips_image_get_format(wm) != VIPS_FORMAT_UCHAR) {
        if (vips_colourspace(wm, &o, VIPS_INTERPRETATION_sRGB, NULL) || swap(&wm, o) < 0)
            goto fail;
    }
    if (vips_image_get_format(wm) != VIPS_FORMAT_UCHAR &&
        (vips_cast(wm, &o, VIPS_FORMAT_UCHAR, NULL) || swap(&wm, o) < 0))
        goto fail;
    if (!vips_image_hasalpha(wm)) {
        if (vips_bandjoin_const1(wm, &o, 255, NULL) || swap(&wm, o) < 0)
            goto fail;
    }
    return wm;
fail:
    return dropped(wm, e, VIPSOP_LOAD, "Can't load the watermark");
}

/* f(in) with alpha premultiplied around it, back to 8 bits; NULL on failure. */
static VipsImage *premultiplied(VipsImage *in, int (*f)(VipsImage *, VipsImage **, void *),
                                void *arg)
{
    VipsImage *p = NULL, *t = NULL, *u = NULL, *out = NULL;

    if (vips_premultiply(in, &p, NULL) == 0 && f(p, &t, arg) == 0 &&
        vips_unpremultiply(t, &u, NULL) == 0)
        (void)vips_cast(u, &out, VIPS_FORMAT_UCHAR, NULL);
    if (p != NULL)
        g_object_unref(p);
    if (t != NULL)
        g_object_unref(t);
    if (u != NULL)
        g_object_unref(u);
    return out;
}

struct size2 {
    int w, h;
};

static int do_resize(VipsImage *in, VipsImage **out, void *arg)
{
    const struct size2 *s = arg;
    int ww = vips_image_get_width(in), wh = vips_image_get_height(in);

    return vips_resize(in, out, (double)s->w / ww, "vscale", (double)s->h / wh, NULL);
}

/* vips_rotate turns anticlockwise: a clockwise angle goes in negated. */
static int do_rotate(VipsImage *in, VipsImage **out, void *arg)
{
    return vips_rotate(in, out, -*(const double *)arg, NULL);
}

/*
 * The watermark fitted (enlarging too) into tw x th, a side <= 0 following
 * from the other and the aspect ratio; its sides are rounded as imgproxy's
 * resize rounds them, at least 1 px.
 */
static VipsImage *fit_into(VipsImage *wm, int tw, int th)
{
    int ww = vips_image_get_width(wm), wh = vips_image_get_height(wm);
    double s = tw > 0 && th > 0 ? fmin((double)tw / ww, (double)th / wh)
               : tw > 0         ? (double)tw / ww
                                : (double)th / wh;
    struct size2 n = {geom_scale(ww, s), geom_scale(wh, s)};

    n.w = n.w < 1 ? 1 : n.w;
    n.h = n.h < 1 ? 1 : n.h;
    if (n.w == ww && n.h == wh) {
        g_object_ref(wm);
        return wm;
    }
    return premultiplied(wm, do_resize, &n);
}

/* Turned clockwise by deg (0..360): exact for right angles, else on a grown transparent canvas. */
static VipsImage *turned(VipsImage *wm, double deg)
{
    VipsImage *out = NULL;

    if (fmod(deg, 90.0) == 0.0)
        return vips_rot(wm, &out, (VipsAngle)((int)deg / 90), NULL) == 0 ? out : NULL;
    return premultiplied(wm, do_rotate, &deg);
}

/*
 * A shadow under the watermark: its alpha blurred with sigma, black at 60 %
 * opacity, not offset; the canvas grows by 3 sigma each side so that the
 * shadow is not clipped.
 */
static VipsImage *shadowed(VipsImage *wm, double sigma)
{
    int pad = (int)ceil(3 * sigma);
    int w = vips_image_get_width(wm) + 2 * pad, h = vips_image_get_height(wm) + 2 * pad;
    VipsImage *t[7] = {NULL};
    VipsImage *out = NULL;

    if (vips_embed(wm, &t[0], pad, pad, w, h, "extend", VIPS_EXTEND_BLACK, NULL) ||
        vips_extract_band(t[0], &t[1], 3, NULL) || vips_gaussblur(t[1], &t[2], sigma, NULL) ||
        vips_linear1(t[2], &t[3], 0.6, 0, "uchar", TRUE, NULL) ||
        vips_black(&t[4], w, h, "bands", 3, NULL) ||
        vips_cast(t[4], &t[5], VIPS_FORMAT_UCHAR, NULL) || vips_bandjoin2(t[5], t[3], &t[6], NULL))
        goto out;
    {
        VipsImage *c = NULL, *s = NULL;

        if (vips_copy(t[6], &s, "interpretation", VIPS_INTERPRETATION_sRGB, NULL) == 0 &&
            vips_composite2(s, t[0], &c, VIPS_BLEND_MODE_OVER, "compositing_space",
                            VIPS_INTERPRETATION_sRGB, NULL) == 0)
            (void)vips_cast(c, &out, VIPS_FORMAT_UCHAR, NULL);
        if (s != NULL)
            g_object_unref(s);
        if (c != NULL)
            g_object_unref(c);
    }
out:
    for (size_t i = 0; i < 7; i++)
        if (t[i] != NULL)
            g_object_unref(t[i]);
    return out;
}

/*
 * The tiled positions, re and ch: x/y are the spacing between tiles
 * (absolute px x dpr, or a fraction of the result's side), split around each
 * tile. The tiling is centred: an odd number of cells each way, the middle
 * one in the middle of the result and filled. ch leaves every other cell
 * empty, alternating from row to row.
 */
static VipsImage *tiled(VipsImage *wm, int W, int H, const struct procopts *po, double dpr)
{
    double gx = po->wm_gravity.x, gy = po->wm_gravity.y;
    int offx = fabs(gx) >= 1 ? geom_round_to_even(gx * dpr) : geom_round_to_even(W * gx);
    int offy = fabs(gy) >= 1 ? geom_round_to_even(gy * dpr) : geom_round_to_even(H * gy);
    int ww = vips_image_get_width(wm) + offx, wh = vips_image_get_height(wm) + offy;
    bool chess = po->wm_gravity.type == GRAV_CHESSBOARD;
    int across, down, x0 = 0;
    VipsImage *cell = NULL, *t = NULL, *o = NULL;

    if (ww < 1 || wh < 1) {
        vips_error("watermark", "tile spacing leaves no tile");
        return NULL;
    }
    if (vips_embed(wm, &cell, offx / 2, offy / 2, ww, wh, "extend", VIPS_EXTEND_BLACK, NULL))
        return NULL;
    across = (W + ww - 1) / ww;
    down = (H + wh - 1) / wh;
    across += across % 2 == 0;
    down += down % 2 == 0;
    if (chess) {
        /* A 2 x 2 block, filled top left and bottom right; shifted a cell when the middle
         * cell would fall on an empty one. */
        VipsImage *blk = NULL;

        if (vips_embed(cell, &t, 0, 0, 2 * ww, 2 * wh, "extend", VIPS_EXTEND_BLACK, NULL) ||
            vips_embed(cell, &o, ww, wh, 2 * ww, 2 * wh, "extend", VIPS_EXTEND_BLACK, NULL) ||
            vips_add(t, o, &blk, NULL)) {
            if (t != NULL)
                g_object_unref(t);
            if (o != NULL)
                g_object_unref(o);
            g_object_unref(cell);
            return NULL;
        }
        g_object_unref(t);
        g_object_unref(o);
        t = o = NULL;
        if (swap(&cell, blk) < 0 ||
            (vips_cast(cell, &o, VIPS_FORMAT_UCHAR, NULL) || swap(&cell, o) < 0))
            goto fail;
        x0 = (((across - 1) / 2 + (down - 1) / 2) % 2) * ww;
        if (vips_replicate(cell, &t, across / 2 + 2, down / 2 + 1, NULL))
            goto fail;
    } else if (vips_replicate(cell, &t, across, down, NULL)) {
        goto fail;
    }
    g_object_unref(cell);
    cell = NULL;
    if (vips_extract_area(t, &o, x0 + (across * ww - W) / 2, (down * wh - H) / 2, W, H, NULL)) {
        g_object_unref(t);
        return NULL;
    }
    g_object_unref(t);
    return o;
fail:
    g_object_unref(cell);
    return NULL;
}

/*
 * The watermark shaped and placed on a transparent canvas of W x H: loaded,
 * sized (wm scale, else watermark_size), rotated, shadowed, then at its
 * position or tiled. NULL with e set.
 */
static VipsImage *prepare(int W, int H, const struct procopts *po, double dpr, struct errinfo *e)
{
    VipsImage *wm = load_watermark(po, dpr, e);

    if (wm == NULL)
        return NULL;
    /*
     * scale: the watermark is fitted (enlarging too) into the result's size
     * times scale, each side rounded half to even and at least 1 px.
     * watermark_size (scale 0): into that box, x dpr.
     */
    if (po->wm_scale > 0) {
        int tw = geom_round_to_even(W * po->wm_scale), th = geom_round_to_even(H * po->wm_scale);

        if (swap(&wm, fit_into(wm, tw < 1 ? 1 : tw, th < 1 ? 1 : th)) < 0)
            goto fail;
    } else if (po->wm_size_w > 0 || po->wm_size_h > 0) {
        if (swap(&wm, fit_into(wm, geom_round_to_even(po->wm_size_w * dpr),
                               geom_round_to_even(po->wm_size_h * dpr))) < 0)
            goto fail;
    }
    if (po->wm_rotate != 0 && swap(&wm, turned(wm, po->wm_rotate)) < 0)
        goto fail;
    if (po->wm_shadow > 0 && swap(&wm, shadowed(wm, po->wm_shadow)) < 0)
        goto fail;
    if (po->wm_gravity.type == GRAV_REPLICATE || po->wm_gravity.type == GRAV_CHESSBOARD) {
        if (swap(&wm, tiled(wm, W, H, po, dpr)) < 0)
            goto fail;
    } else {
        int ww = vips_image_get_width(wm), wh = vips_image_get_height(wm);
        int left, top;
        VipsImage *o = NULL;

        geom_position(W, H, ww, wh, &po->wm_gravity, dpr, true, &left, &top);
        if (vips_embed(wm, &o, left, top, W, H, "extend", VIPS_EXTEND_BLACK, NULL) ||
            swap(&wm, o) < 0)
            goto fail;
    }
    return wm;
fail:
    return dropped(wm, e, VIPSOP_PROCESS, "Can't shape the watermark");
}

VipsImage *watermark_apply(VipsImage *img, const struct procopts *po, double dpr, struct errinfo *e)
{
    VipsImage *base = NULL, *wm = NULL, *o = NULL, *out = NULL;
    double opacity = po->wm_opacity * cfg.watermark_opacity;
    bool alpha = vips_image_hasalpha(img);

    if (!(opacity > 0) || !watermark_wanted(po)) {
        g_object_ref(img);
        return img;
    }
    wm = prepare(vips_image_get_width(img), vips_image_get_height(img), po, dpr, e);
    if (wm == NULL)
        return NULL;
    if (opacity < 1) {
        double mul[4] = {1, 1, 1, opacity}, add[4] = {0, 0, 0, 0};

        if (vips_linear(wm, &o, mul, add, 4, "uchar", TRUE, NULL) || swap(&wm, o) < 0)
            goto out;
    }
    g_object_ref(img);
    base = img;
    if (vips_image_get_bands(base) < 3 &&
        (vips_colourspace(base, &o, VIPS_INTERPRETATION_sRGB, NULL) || swap(&base, o) < 0))
        goto out;
    if (vips_composite2(base, wm, &o, VIPS_BLEND_MODE_OVER, "compositing_space",
                        VIPS_INTERPRETATION_sRGB, NULL))
        goto out;
    if (swap(&base, o) < 0 || (vips_cast(base, &o, VIPS_FORMAT_UCHAR, NULL) || swap(&base, o) < 0))
        goto out;
    /* No alpha came in: none goes out. */
    if (!alpha && vips_image_get_bands(base) > 3 &&
        (vips_extract_band(base, &o, 0, "n", 3, NULL) || swap(&base, o) < 0))
        goto out;
    out = base;
    base = NULL;
out:
    if (out == NULL)
        vipsop_fail(e, VIPSOP_PROCESS, "Can't apply the watermark");
    if (base != NULL)
        g_object_unref(base);
    g_object_unref(wm);
    return out;
}

/* watermark.c: loading the watermark once and drawing it as imgproxy does (watermark.go). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fetch.h"
#include "geometry.h"
#include "watermark.h"
#include "vipsop.h"
#include "banned.h"

/* Read-only after watermark_init(): the encoded watermark, decoded per request. */
static unsigned char *wm_data;
static size_t wm_len;

bool watermark_available(void)
{
    return wm_data != NULL;
}

void watermark_release(void)
{
    g_free(wm_data);
    wm_data = NULL;
    wm_len = 0;
}

int watermark_init(char *err, size_t errlen)
{
    VipsImage *probe;

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

/* The watermark scaled, made RGBA and placed on a transparent canvas of W x H. */
static VipsImage *prepare(int W, int H, const struct procopts *po, double dpr)
{
    VipsImage *wm =
        vips_image_new_from_buffer(wm_data, wm_len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    VipsImage *o = NULL;
    double bg[4] = {0, 0, 0, 0};

    if (wm == NULL)
        return NULL;
    if (swap(&wm, vips_image_copy_memory(wm)) < 0)
        goto fail;
    if (vips_image_get_interpretation(wm) != VIPS_INTERPRETATION_sRGB ||
        vips_image_get_format(wm) != VIPS_FORMAT_UCHAR) {
        if (vips_colourspace(wm, &o, VIPS_INTERPRETATION_sRGB, NULL) || swap(&wm, o) < 0)
            goto fail;
    }
    if (!vips_image_hasalpha(wm)) {
        if (vips_bandjoin_const1(wm, &o, 255, NULL) || swap(&wm, o) < 0)
            goto fail;
    }
    /*
     * scale: the watermark is fitted (enlarging too) into the result's size
     * times scale, each side rounded half to even and at least 1 px; its
     * sides are then rounded as imgproxy's resize rounds them.
     */
    if (po->wm_scale > 0) {
        int tw = geom_round_to_even(W * po->wm_scale), th = geom_round_to_even(H * po->wm_scale);
        int ww = vips_image_get_width(wm), wh = vips_image_get_height(wm);
        int nw, nh;
        double s;

        tw = tw < 1 ? 1 : tw;
        th = th < 1 ? 1 : th;
        s = fmin((double)tw / ww, (double)th / wh);
        nw = geom_scale(ww, s);
        nh = geom_scale(wh, s);
        nw = nw < 1 ? 1 : nw;
        nh = nh < 1 ? 1 : nh;
        if (nw != ww || nh != wh) {
            VipsImage *p = NULL, *u = NULL;

            if (vips_premultiply(wm, &p, NULL) ||
                vips_resize(p, &u, (double)nw / ww, "vscale", (double)nh / wh, NULL)) {
                if (p)
                    g_object_unref(p);
                goto fail;
            }
            g_object_unref(p);
            if (swap(&wm, u) < 0 || (vips_unpremultiply(wm, &o, NULL) || swap(&wm, o) < 0) ||
                (vips_cast(wm, &o, VIPS_FORMAT_UCHAR, NULL) || swap(&wm, o) < 0))
                goto fail;
        }
    }
    {
        int ww = vips_image_get_width(wm), wh = vips_image_get_height(wm);
        VipsArrayDouble *bga = vips_array_double_new(bg, 4);
        int r;

        if (po->wm_gravity.type == GRAV_REPLICATE) {
            /*
             * x/y are the spacing between tiles (absolute px x dpr, or a
             * fraction of the result's side), split around each tile. The
             * tiling is centred: an odd number of tiles each way, the middle
             * one in the middle of the result.
             */
            double gx = po->wm_gravity.x, gy = po->wm_gravity.y;
            int offx = fabs(gx) >= 1 ? geom_round_to_even(gx * dpr) : geom_round_to_even(W * gx);
            int offy = fabs(gy) >= 1 ? geom_round_to_even(gy * dpr) : geom_round_to_even(H * gy);
            int pl = offx / 2, pt = offy / 2, across, down;

            r = vips_embed(wm, &o, pl, pt, ww + offx, wh + offy, "extend", VIPS_EXTEND_BACKGROUND,
                           "background", bga, NULL);
            vips_area_unref(VIPS_AREA(bga));
            if (r || swap(&wm, o) < 0)
                goto fail;
            ww += offx;
            wh += offy;
            if (ww < 1 || wh < 1) {
                vips_error("watermark", "tile spacing leaves no tile");
                goto fail;
            }
            across = (W + ww - 1) / ww;
            down = (H + wh - 1) / wh;
            across += across % 2 == 0;
            down += down % 2 == 0;
            if ((vips_replicate(wm, &o, across, down, NULL) || swap(&wm, o) < 0) ||
                (vips_extract_area(wm, &o, (across * ww - W) / 2, (down * wh - H) / 2, W, H,
                                   NULL) ||
                 swap(&wm, o) < 0))
                goto fail;
        } else {
            int left, top;

            geom_position(W, H, ww, wh, &po->wm_gravity, dpr, true, &left, &top);
            r = vips_embed(wm, &o, left, top, W, H, "extend", VIPS_EXTEND_BACKGROUND, "background",
                           bga, NULL);
            vips_area_unref(VIPS_AREA(bga));
            if (r || swap(&wm, o) < 0)
                goto fail;
        }
    }
    return wm;
fail:
    g_object_unref(wm);
    return NULL;
}

VipsImage *watermark_apply(VipsImage *img, const struct procopts *po, double dpr)
{
    VipsImage *base = NULL, *wm = NULL, *o = NULL, *out = NULL;
    double opacity = po->wm_opacity * cfg.watermark_opacity;
    bool alpha = vips_image_hasalpha(img);

    if (!(opacity > 0) || wm_data == NULL) {
        g_object_ref(img);
        return img;
    }
    wm = prepare(vips_image_get_width(img), vips_image_get_height(img), po, dpr);
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
    if (base != NULL)
        g_object_unref(base);
    g_object_unref(wm);
    return out;
}

/* process.c: the libvips pipeline: header, plan, shrink-on-load, crop, scale, extend, save. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "adjust.h"
#include "animation.h"
#include "autoq.h"
#include "bestfmt.h"
#include "colour.h"
#include "config.h"
#include "encbound.h"
#include "filters.h"
#include "geometry.h"
#include "log.h"
#include "metadata.h"
#include "orient.h"
#include "save.h"
#include "watch.h"
#include "cpugate.h"
#include "cpuhome.h"
#include "watermark.h"
#include "process.h"
#include "svg.h"
#include "plan.h"
#include "tsan.h"
#include "vipsop.h"
#include "banned.h"

struct process_job {
    VipsImage *img; /* the last image of the pipeline; owns the chain behind it */
    enum imgtype out_type;
    int quality;
    bool strip;
    int max_bytes;        /* 0 = no limit */
    struct save_opts enc; /* the savers' settings, the request's encoder options applied */
    /* An SVG source with the `style` option's CSS injected; the loaders read it in place. */
    struct buf styled;
    /*
     * Stops the pipeline on the request's deadline or when the client goes
     * away; every image of the job reports to it, so the job outlives them.
     */
    struct watch watch;
    /* Set when a loader of the job fails to decode pixels: a broken source. */
    struct vipsop_decode decode;
    /* format:best or autoquality: the result, encoded before the headers (else empty). */
    struct encoded ahead;
    int home; /* cpuhome_begin()'s CPU, CPUHOME_ANY or -1 */
};

/* libvips warnings (truncated files, odd EXIF) go to our log at debug level, not raw stderr. */
static void on_vips_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
    (void)data;
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        log_error("%s: %s", domain ? domain : "glib", msg);
    else
        log_debug("%s: %s", domain ? domain : "glib", msg);
}

int process_global_init(const char *argv0)
{
    if (VIPS_INIT(argv0) != 0)
        return -1;
    if (colour_global_init(cfg.color_intent) != 0)
        return -1;
    g_log_set_handler("VIPS", G_LOG_LEVEL_MASK, on_vips_log, NULL);
    /* The operation cache only costs memory in a proxy: every request is new. */
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    vips_concurrency_set(cfg.vips_concurrency);
    /* A request's several libvips threads would share its one core. */
    cpuhome_enable(cfg.cpu_homes && cfg.vips_concurrency == 1);
    /*
     * Only the loaders imgfcgi supports: libvips' untrusted ones (magick, pdf,
     * openslide, ...) stay blocked; SVG (librsvg) is untrusted in 8.14 and
     * deliberately allowed, as imgproxy serves SVG sources.
     */
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoadSvg", FALSE);
    /* The JPEG XL encoder is untrusted in 8.14 too; it only ever sees our own pixels. */
    vips_operation_block_set("VipsForeignSaveJxl", FALSE);
    /* poppler reads PDF sources only when asked for: it is untrusted code. */
    if (cfg.enable_pdf)
        vips_operation_block_set("VipsForeignLoadPdf", FALSE);
    if (getenv("IMGPROXY_VIPS_LEAK_CHECK") != NULL)
        vips_leak_set(TRUE);
    return 0;
}

void process_global_shutdown(void)
{
    vips_shutdown();
}

void process_thread_cleanup(void)
{
    vips_thread_shutdown();
}

/* Which pages of a multi-page source (PDF, TIFF, GIF, WebP) a load reads. */
struct pages {
    int first, n;
};

/*
 * PDF pages at 72 dpi times scale, pages of different sizes left-aligned.
 * pdfload gives RGBA, over opaque white by default (its `background`, also
 * the canvas right of narrower pages): the alpha band carries nothing and is
 * dropped. IMGPROXY_PDF_NO_BACKGROUND paints a transparent canvas instead
 * and keeps the alpha band.
 */
static int load_pdf(const unsigned char *data, size_t len, double scale, int page, int n,
                    VipsImage **out)
{
    VipsImage *rgb = NULL;
    int r;

    if (cfg.pdf_no_background) {
        VipsArrayDouble *clear = vips_array_double_newv(4, 255.0, 255.0, 255.0, 0.0);

        r = vips_pdfload_buffer((void *)data, len, out, "scale", scale, "page", page, "n", n,
                                "background", clear, NULL);
        vips_area_unref(VIPS_AREA(clear));
        return r;
    }
    r = vips_pdfload_buffer((void *)data, len, out, "scale", scale, "page", page, "n", n, NULL);
    if (r != 0 || vips_image_get_bands(*out) != 4)
        return r;
    r = vips_extract_band(*out, &rgb, 0, "n", 3, NULL);
    g_object_unref(*out);
    *out = rgb;
    return r;
}

/*
 * Loads data as type t, shrinking by jpeg_shrink (JPEG) or scale (WebP, SVG,
 * PDF); thumb: HEIC/AVIF load their embedded thumbnail when they have one;
 * pg: the pages of a multi-page source, stacked top to bottom (NULL: the first).
 */
static VipsImage *load_image(const unsigned char *data, size_t len, enum imgtype t, int jpeg_shrink,
                             double scale, bool thumb, const struct pages *pg)
{
    VipsImage *out = NULL;
    int page = pg != NULL ? pg->first : 0, n = pg != NULL ? pg->n : 1;
    int r;

    switch (t) {
    case IMGTYPE_JPEG:
        r = vips_jpegload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL,
                                 "shrink", jpeg_shrink, NULL);
        break;
    case IMGTYPE_WEBP:
        r = vips_webpload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, "scale",
                                 scale, "page", page, "n", n, NULL);
        break;
    case IMGTYPE_PNG:
        r = vips_pngload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
        break;
    case IMGTYPE_GIF:
        r = vips_gifload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, "page",
                                page, "n", n, NULL);
        break;
    case IMGTYPE_HEIC:
    case IMGTYPE_AVIF:
        r = vips_heifload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL,
                                 "thumbnail", thumb, NULL);
        break;
    case IMGTYPE_TIFF:
        r = vips_tiffload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, "page",
                                 page, "n", n, NULL);
        break;
    case IMGTYPE_PDF:
        r = load_pdf(data, len, scale, page, n, &out);
        break;
    case IMGTYPE_SVG:
        if (svg_declares_entities((const char *)data, len)) {
            vips_error("svgload_buffer", "SVGs with DTD entities are not rasterised");
            r = -1;
            break;
        }
        r = vips_svgload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, "scale",
                                scale, NULL);
        break;
    default:
        out = vips_image_new_from_buffer(data, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
        r = out == NULL ? -1 : 0;
        break;
    }
    if (r != 0) {
        if (out != NULL)
            g_object_unref(out);
        return NULL;
    }
    return out;
}

/*
 * What building one request's pipeline needs: the job its images report to,
 * the source and options, and what the phases below work out in turn.
 */
struct build {
    struct process_job *job;
    const unsigned char *data; /* the source, borrowed */
    size_t len;
    enum imgtype src_type;
    const struct procopts *po;
    const char *accept;
    struct process_info *info;
    struct errinfo *e;
    VipsImage *img; /* the pipeline so far; owned */
    int w, h;       /* its size (of one frame) */
    int orientation;
    double vector_scale; /* what a vector source is drawn at before the plan's scale */
    int frames;          /* frames processed; 1 for a still image */
    struct pages pages;  /* the pages read of a multi-page still source */
    bool animated, alpha;
    struct geom_plan plan;
    enum imgtype out_type;
    bool chained;      /* a pipeline after the first of a chain: the input is the previous result */
    VipsImage *opened; /* process_open()'s image of data, borrowed; NULL: load_source opens */
};

/*
 * A freshly loaded image: it reports to the job's watch, a failure to decode
 * its pixels is recorded in the job, and for a big request under the memory
 * budget its strips yield to thumbnails (cpugate.h).
 */
static VipsImage *loaded(struct process_job *job, VipsImage *img)
{
    return cpugate_wrap(vipsop_decode_guard(&job->decode, watch_attach(&job->watch, img)));
}

/*
 * Replaces *img by next (taking ownership of next). A NULL next is the
 * failure of the step what, recorded in b's error: a broken source when the
 * loader failed to decode the pixels the step asked for, else an internal
 * error. Returns 0 or the error code.
 */
static int apply(struct build *b, VipsImage **img, VipsImage *next, const char *what)
{
    if (next == NULL)
        return vipsop_fail(b->e, vipsop_stage_after_load(&b->job->decode), what);
    g_object_unref(*img);
    *img = next;
    return 0;
}

/* Replaces b's image by the loader's result fresh (NULL: the loader failed). */
static int reload(struct build *b, VipsImage *fresh)
{
    VipsImage *next = loaded(b->job, fresh);

    if (next == NULL)
        return vipsop_fail(b->e, VIPSOP_LOAD, "Can't load the source image");
    g_object_unref(b->img);
    b->img = next;
    return 0;
}

/*
 * Crops img to w x h at gravity g (smart: libvips attention). With pending
 * (the orientation steps of a plan, not applied to img yet), sizes and
 * position are those of the oriented image, mapped to img's orientation.
 */
static VipsImage *crop_to(VipsImage *img, int w, int h, const struct gravity *g, double dpr,
                          const struct geom_plan *pending, const struct procopts *po)
{
    VipsImage *out = NULL;
    bool swap = pending != NULL && plan_swaps_sides(pending);
    int iw = vips_image_get_width(img), ih = vips_image_get_height(img);
    int r[4];

    if (swap) {
        iw = vips_image_get_height(img);
        ih = vips_image_get_width(img);
    }
    if (w <= 0 || w > iw)
        w = iw;
    if (h <= 0 || h > ih)
        h = ih;
    if (w >= iw && h >= ih) {
        g_object_ref(img);
        return img;
    }
    if (g->type == GRAV_SMART) {
        if (vips_smartcrop(img, &out, w, h, "interesting", VIPS_INTERESTING_ATTENTION, NULL))
            return NULL;
        return out;
    }
    geom_position(iw, ih, w, h, g, dpr, false, &r[0], &r[1]);
    r[2] = w;
    r[3] = h;
    if (pending != NULL)
        plan_unorient_rect(pending, po, iw, ih, r);
    if (vips_extract_area(img, &out, r[0], r[1], r[2], r[3], NULL))
        return NULL;
    return out;
}

/* n pixels of nb bands premultiplied (premultiply_u16): colour x alpha, alpha x 255. */
static inline void premultiply_line(unsigned short *q, const VipsPel *p, int n, int nb)
{
    for (int x = 0; x < n; x++, p += nb, q += nb) {
        unsigned int alpha = p[nb - 1];

        for (int k = 0; k < nb - 1; k++)
            q[k] = (unsigned short)(p[k] * alpha);
        q[nb - 1] = (unsigned short)(alpha * 255);
    }
}

/* premultiply_u16's pixels; RGBA and grey-alpha get loops of a fixed band count. */
static int premultiply_gen(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
    VipsRegion *ir = seq;
    const VipsRect *r = &out->valid;
    int nb = out->im->Bands;

    (void)a;
    (void)b;
    (void)stop;
    tsan_acquire(out->im); /* runs on a libvips thread: see tsan.h */
    if (vips_region_prepare(ir, r) != 0) {
        tsan_release(out->im);
        return -1;
    }
    for (int y = 0; y < r->height; y++) {
        const VipsPel *p = VIPS_REGION_ADDR(ir, r->left, r->top + y);
        unsigned short *q = (unsigned short *)VIPS_REGION_ADDR(out, r->left, r->top + y);

        if (nb == 4)
            premultiply_line(q, p, r->width, 4);
        else if (nb == 2)
            premultiply_line(q, p, r->width, 2);
        else
            premultiply_line(q, p, r->width, nb);
    }
    tsan_release(out->im);
    return 0;
}

/*
 * img (8 bits, alpha last) premultiplied as 16-bit integers: each colour band
 * times alpha, and alpha times 255 (both at most 65025, exact). libvips'
 * premultiply works in float, and an integer one put together from its
 * operations (a multiply by factors looked up from alpha) takes two passes
 * over the full-size image; this stage is one.
 */
static int premultiply_u16(VipsImage *img, VipsImage **out)
{
    VipsImage *o = vips_image_new();

    if (vips_image_pipelinev(o, VIPS_DEMAND_STYLE_THINSTRIP, img, NULL) != 0) {
        g_object_unref(o);
        return -1;
    }
    o->BandFmt = VIPS_FORMAT_USHORT;
    tsan_release(o);
    if (vips_image_generate(o, vips_start_one, premultiply_gen, vips_stop_one, img, NULL) != 0) {
        g_object_unref(o);
        return -1;
    }
    /* o holds img from here: img goes when o closes. */
    g_object_ref(img);
    vips_object_local(o, img);
    *out = o;
    return 0;
}

/*
 * Resizes an 8-bit image whose last band is alpha, premultiplied as 16-bit
 * integers (premultiply_u16). The resampler then takes its integer path
 * rather than the much slower float one a float premultiplied image leads it
 * to; dividing afterwards gives the float path's colours to within 16-bit
 * rounding.
 */
static int resize_premultiplied_u8(VipsImage *img, VipsImage **out, double hs, double vs,
                                   VipsKernel kernel)
{
    int nb = vips_image_get_bands(img);
    VipsImage *t[6] = {NULL};
    int ret;

    ret = premultiply_u16(img, &t[0]) ||
                  vips_resize(t[0], &t[1], hs, "vscale", vs, "kernel", kernel, NULL) ||
                  /* colour x 255 / (alpha x 255); the alpha band it leaves is replaced below */
                  vips_unpremultiply(t[1], &t[2], "max_alpha", 255.0, NULL) ||
                  vips_extract_band(t[2], &t[3], 0, "n", nb - 1, NULL) ||
                  vips_extract_band(t[1], &t[4], nb - 1, NULL) ||
                  /* rounded: the integer resampler's weights need not sum to exactly 1 */
                  vips_linear1(t[4], &t[5], 1.0 / 255.0, 0.5, NULL) ||
                  vips_bandjoin2(t[3], t[5], out, NULL)
              ? -1
              : 0;
    for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
        if (t[i] != NULL)
            g_object_unref(t[i]);
    return ret;
}

/* Resizes to exactly w x h with kernel (resizing_algorithm), premultiplying alpha around it. */
static VipsImage *resize_to(VipsImage *img, int w, int h, VipsKernel kernel)
{
    int iw = vips_image_get_width(img), ih = vips_image_get_height(img);
    double hs = (double)w / iw, vs = (double)h / ih;
    VipsImage *t[6] = {NULL};
    VipsImage *out = NULL;
    VipsBandFormat fmt = vips_image_get_format(img);

    if (w == iw && h == ih) {
        g_object_ref(img);
        return img;
    }
    if (vips_image_hasalpha(img) && fmt == VIPS_FORMAT_UCHAR) {
        if (resize_premultiplied_u8(img, &t[2], hs, vs, kernel) ||
            vips_cast(t[2], &t[3], fmt, NULL))
            goto out;
        out = t[3];
        t[3] = NULL;
    } else if (vips_image_hasalpha(img)) {
        if (vips_premultiply(img, &t[0], NULL) ||
            vips_resize(t[0], &t[1], hs, "vscale", vs, "kernel", kernel, NULL) ||
            vips_unpremultiply(t[1], &t[2], NULL) || vips_cast(t[2], &t[3], fmt, NULL))
            goto out;
        out = t[3];
        t[3] = NULL;
    } else {
        if (vips_resize(img, &out, hs, "vscale", vs, "kernel", kernel, NULL))
            goto out;
    }
    /* libvips rounds the size itself; make sure it is the size imgproxy computes. */
    if (vips_image_get_width(out) != w || vips_image_get_height(out) != h) {
        int ow = vips_image_get_width(out), oh = vips_image_get_height(out);

        if (ow >= w && oh >= h) {
            if (vips_extract_area(out, &t[4], 0, 0, w, h, NULL))
                goto fail;
        } else if (vips_embed(out, &t[4], 0, 0, w, h, "extend", VIPS_EXTEND_COPY, NULL)) {
            goto fail;
        }
        g_object_unref(out);
        out = t[4];
        t[4] = NULL;
        if (vips_image_get_width(out) != w || vips_image_get_height(out) != h) {
            VipsImage *fixed = NULL;

            if (vips_embed(out, &fixed, 0, 0, w, h, "extend", VIPS_EXTEND_COPY, NULL))
                goto fail;
            g_object_unref(out);
            out = fixed;
        }
    }
    goto out;
fail:
    g_object_unref(out);
    out = NULL;
out:
    for (size_t i = 0; i < 6; i++)
        if (t[i] != NULL)
            g_object_unref(t[i]);
    return out;
}

/* Is the embedded ICC profile (if any) some flavour of sRGB? Then converting is a no-op. */
static bool profile_is_srgb(VipsImage *img)
{
    const void *data;
    size_t len;

    if (vips_image_get_blob(img, VIPS_META_ICC_NAME, &data, &len) != 0)
        return false;
    return memmem(data, len, "sRGB", 4) != NULL;
}

/*
 * To 8-bit sRGB (or grey). CMYK is always converted through its profile (or
 * the CMYK fallback profile): no result format takes CMYK with the sRGB
 * backgrounds and watermarks of the pipeline. Another embedded profile is
 * converted unless keep_profile (strip_color_profile:false and a result
 * format that carries it); an sRGB profile is not converted at all, so sRGB
 * sources pay for no ICC transform.
 */
static VipsImage *to_srgb(VipsImage *img, bool keep_profile)
{
    VipsImage *out = NULL;
    VipsInterpretation in = vips_image_get_interpretation(img);
    bool has_icc = vips_image_get_typeof(img, VIPS_META_ICC_NAME) != 0;

    if (in == VIPS_INTERPRETATION_CMYK || (has_icc && !keep_profile && !profile_is_srgb(img))) {
        if (colour_import_srgb(img, &out) == 0)
            return out;
        /* A broken profile: fall back to the plain colourspace conversion. */
        vipsop_discard();
    }
    if ((in != VIPS_INTERPRETATION_sRGB && in != VIPS_INTERPRETATION_B_W) ||
        vips_image_get_format(img) != VIPS_FORMAT_UCHAR) {
        if (vips_colourspace(img, &out,
                             in == VIPS_INTERPRETATION_GREY16 ? VIPS_INTERPRETATION_B_W
                                                              : VIPS_INTERPRETATION_sRGB,
                             NULL))
            return NULL;
        return out;
    }
    g_object_ref(img);
    return img;
}

/*
 * strip_metadata / keep_copyright (metadata.c) and strip_color_profile on a
 * copy of img: libvips savers write whatever metadata fields are left (and
 * webpsave in 8.14 ignores `strip`). Stripping resets the resolution to
 * 72 dpi, as imgproxy does; the dpi option sets it in any case.
 */
static VipsImage *strip_meta(VipsImage *img, const struct procopts *po)
{
    VipsImage *out = NULL;
    double ppmm = po->dpi > 0 ? po->dpi / 25.4 : 72.0 / 25.4;
    int r = po->strip_metadata || po->dpi > 0
                ? vips_copy(img, &out, "xres", ppmm, "yres", ppmm, NULL)
                : vips_copy(img, &out, NULL);

    if (r)
        return NULL;
    vips_image_remove(out, VIPS_META_ORIENTATION);
    if (po->strip_metadata)
        metadata_strip(out, po->keep_copyright);
    if (po->strip_color_profile)
        vips_image_remove(out, VIPS_META_ICC_NAME);
    return out;
}

/* imgproxy's extendImage: embeds img in a w x h transparent canvas at gravity g. */
static VipsImage *extend_to(VipsImage *img, int w, int h, const struct gravity *g, double dpr)
{
    int iw = vips_image_get_width(img), ih = vips_image_get_height(img);
    int left, top;

    geom_extend_size(iw, ih, w, h, &w, &h);
    if (w == iw && h == ih) {
        g_object_ref(img);
        return img;
    }
    geom_position(w, h, iw, ih, g, dpr, false, &left, &top);
    return filters_embed(img, left, top, w, h);
}

/* img with pad (top, right, bottom, left) transparent pixels around it. */
static VipsImage *padded(VipsImage *img, const int pad[4])
{
    int iw = vips_image_get_width(img), ih = vips_image_get_height(img);

    return filters_embed(img, pad[3], pad[0], iw + pad[1] + pad[3], ih + pad[0] + pad[2]);
}

/*
 * The orientation steps of b's plan that transform() has not applied to an
 * image yet when it crops and scales: all of them unless they ran first.
 */
static const struct geom_plan *pending_orientation(const struct build *b)
{
    return plan_orients(&b->plan, b->po) && !plan_orients_first(&b->plan, b->po) ? &b->plan : NULL;
}

/*
 * EXIF orientation, rotate and flips, in that order (imgproxy's), written
 * to memory as *img is computed: a turn or a vertical flip reads the image
 * out of order.
 */
static int orient(struct build *b, VipsImage **img)
{
    const struct geom_plan *p = &b->plan;
    const struct procopts *po = b->po;
    struct orient_map m;

    orient_map_init(&m, vips_image_get_width(*img), vips_image_get_height(*img));
    orient_map_rotate(&m, p->angle);
    if (p->flip)
        orient_map_flip(&m, true);
    orient_map_rotate(&m, p->rotate);
    if (po->flip_h)
        orient_map_flip(&m, true);
    if (po->flip_v)
        orient_map_flip(&m, false);
    return apply(b, img, orient_to_memory(*img, &m), "Can't decode the source image");
}

/*
 * The phases of transform() below, for one image or one animation frame
 * (*img is replaced); each returns 0 or the error code recorded in b->e.
 *
 * Orientation runs first only before a smart crop; otherwise after scaling,
 * on the small image, as imgproxy does (crop, scale, rotate and flip).
 */
/*
 * blur_areas, first: its rectangles are fractions of the source in its
 * stored orientation, so crop, rotation and flips then carry the blur along.
 * Its sigma is in result pixels, converted to the pixels of this image.
 */
static int blur_areas(struct build *b, VipsImage **img)
{
    const struct geom_plan *p = &b->plan;
    double cur = (double)vips_image_get_width(*img) * vips_image_get_height(*img);
    double pre = sqrt((double)p->src_w * p->src_h / (cur > 0 ? cur : 1));

    if (!(b->po->ba_sigma > 0) || b->po->ba_n <= 0)
        return 0;
    return apply(b, img, adjust_blur_areas(*img, b->po, sqrt(p->wscale * p->hscale) * pre),
                 "Can't blur areas");
}

static int orient_first(struct build *b, VipsImage **img)
{
    return plan_orients_first(&b->plan, b->po) ? orient(b, img) : 0;
}

static int orient_scaled(struct build *b, VipsImage **img)
{
    return pending_orientation(b) != NULL ? orient(b, img) : 0;
}

/*
 * Crop before scaling, in the coordinates of the (possibly pre-shrunk)
 * image: those of the oriented image, mapped to the stored orientation while
 * orientation is pending.
 */
static int crop_source(struct build *b, VipsImage **img)
{
    const struct geom_plan *p = &b->plan;
    const struct geom_plan *pending = pending_orientation(b);
    bool swap = pending != NULL && plan_swaps_sides(pending);
    int cur_w = vips_image_get_width(*img), cur_h = vips_image_get_height(*img);
    double wpre, hpre;
    int cw, ch;
    struct gravity g = plan_crop_gravity(b->po);
    int ret = 0;

    if (p->crop_w <= 0 && p->crop_h <= 0)
        return 0;
    if (swap) {
        cur_w = vips_image_get_height(*img);
        cur_h = vips_image_get_width(*img);
    }
    wpre = (double)p->src_w / cur_w;
    hpre = (double)p->src_h / cur_h;
    cw = p->crop_w > 0 ? geom_shrink(p->crop_w, wpre) : 0;
    ch = p->crop_h > 0 ? geom_shrink(p->crop_h, hpre) : 0;
    if (p->crop_w > 0 && cw < 1)
        cw = 1;
    if (p->crop_h > 0 && ch < 1)
        ch = 1;
    if (g.type != GRAV_FOCUS_POINT) {
        if (g.x >= 1.0 || g.x <= -1.0)
            g.x = geom_round_to_even(g.x / wpre);
        if (g.y >= 1.0 || g.y <= -1.0)
            g.y = geom_round_to_even(g.y / hpre);
    }
    if (plan_smart_crop(p, b->po))
        ret = apply(b, img, watch_copy_memory(*img), "Can't decode the source image");
    if (ret == 0)
        ret = apply(b, img, crop_to(*img, cw, ch, &g, 1.0, pending, b->po), "Can't crop");
    return ret;
}

/* Scaling (in the stored orientation while orientation is pending), then 8-bit sRGB. */
static int scale(struct build *b, VipsImage **img)
{
    const struct geom_plan *pending = pending_orientation(b);
    bool swap = pending != NULL && plan_swaps_sides(pending);
    int w = swap ? b->plan.scaled_h : b->plan.scaled_w,
        h = swap ? b->plan.scaled_w : b->plan.scaled_h;
    int ret =
        apply(b, img, resize_to(*img, w, h, (VipsKernel)b->po->resize_kernel), "Can't resize");

    if (ret == 0)
        ret = apply(
            b, img,
            to_srgb(*img, !b->po->strip_color_profile && colour_format_keeps_profile(b->out_type)),
            "Can't convert to sRGB");
    return ret;
}

static int crop_result(struct build *b, VipsImage **img)
{
    const struct geom_plan *p = &b->plan;
    int ret = 0;

    if (p->result_crop_w <= 0 && p->result_crop_h <= 0)
        return 0;
    if (plan_smart_result_crop(p, b->po))
        ret = apply(b, img, watch_copy_memory(*img), "Can't decode the source image");
    if (ret == 0)
        ret = apply(b, img,
                    crop_to(*img, p->result_crop_w, p->result_crop_h, &b->po->gravity, p->dpr_scale,
                            NULL, NULL),
                    "Can't crop");
    return ret;
}

/*
 * Colour adjustments, unsharp masking and the filters (adjust.c, filters.c),
 * then extend, extend_aspect_ratio and padding.
 */
static int decorate(struct build *b, VipsImage **img)
{
    const struct geom_plan *p = &b->plan;
    const struct procopts *po = b->po;
    int ret = apply(b, img, adjust_colour(*img, po), "Can't adjust colours");

    if (ret == 0 && adjust_unsharp_runs(po, p->wscale < 1 || p->hscale < 1))
        ret = apply(b, img, adjust_unsharp(*img, po), "Can't apply unsharp masking");
    if (ret == 0)
        ret = apply(b, img, filters_apply(*img, po), "Can't apply filters");

    if (ret == 0 && po->extend)
        ret = apply(b, img,
                    extend_to(*img, p->target_w, p->target_h, &po->extend_gravity, p->dpr_scale),
                    "Can't extend");
    if (ret == 0 && po->extend_ar && p->extend_ar_w > 0 && p->extend_ar_h > 0)
        ret = apply(
            b, img,
            extend_to(*img, p->extend_ar_w, p->extend_ar_h, &po->extend_ar_gravity, p->dpr_scale),
            "Can't extend");
    if (ret == 0 && plan_padded(p))
        ret = apply(b, img, padded(*img, p->padding), "Can't add padding");
    return ret;
}

/* The result format's size limits (imgproxy fixSize), flatten, watermark. */
static int finish(struct build *b, VipsImage **img)
{
    const struct procopts *po = b->po;
    int iw = vips_image_get_width(*img), ih = vips_image_get_height(*img), fw, fh;
    int ret = 0;

    if (save_fit_limits(b->out_type, iw, ih, &fw, &fh)) {
        log_warn("%s size is limited: the %dx%d result is scaled to %dx%d",
                 imagetype_name(b->out_type), iw, ih, fw, fh);
        ret = apply(b, img, resize_to(*img, fw, fh, (VipsKernel)po->resize_kernel),
                    "Can't fit the result size");
    }
    /* background_alpha: a translucent background where the result format holds alpha. */
    if (ret == 0 && po->flatten && po->background_alpha < 1 &&
        imagetype_supports_alpha(b->out_type))
        ret = apply(b, img, adjust_flatten(*img, po->background, po->background_alpha),
                    "Can't flatten");
    /* In a chain, the format's flatten waits for the last pipeline. */
    else if (ret == 0 &&
             (po->flatten || (po->next == NULL && !imagetype_supports_alpha(b->out_type))))
        ret = apply(b, img, filters_flatten(*img, po->background), "Can't flatten");
    if (ret == 0 && watermark_wanted(po)) {
        VipsImage *w = watermark_apply(*img, po, b->plan.dpr_scale, b->e);

        if (w == NULL)
            return b->e->code;
        g_object_unref(*img);
        *img = w;
    }
    return ret;
}

/*
 * Everything after decoding and before metadata stripping, for one image (or
 * one animation frame), phase by phase. *img is replaced.
 */
static int transform(struct build *b, VipsImage **img)
{
    static int (*const phases[])(struct build *, VipsImage **) = {
        blur_areas, orient_first, crop_source, scale, orient_scaled, crop_result, decorate, finish,
    };

    for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
        int ret = phases[i](b, img);

        if (ret < 0)
            return ret;
    }
    return 0;
}

static int transform_one_frame(VipsImage **frame, void *ctx)
{
    return transform(ctx, frame);
}

/* Loads up to n frames of an animated GIF or WebP as one strip. */
static VipsImage *load_frames(const unsigned char *data, size_t len, enum imgtype t, int n)
{
    VipsImage *out = NULL;
    int r;

    if (t == IMGTYPE_GIF)
        r = vips_gifload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, "n", n,
                                NULL);
    else
        r = vips_webpload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, "n", n,
                                 NULL);
    return r == 0 ? out : NULL;
}

/*
 * The source loaded with load_image() at b's pages: several pages are one
 * still image, not an animation of them. NULL on failure.
 */
static VipsImage *load_still(struct build *b, int jpeg_shrink, double scale, bool thumb)
{
    VipsImage *img = load_image(b->data, b->len, b->src_type, jpeg_shrink, scale, thumb, &b->pages);
    VipsImage *still = NULL;

    if (img == NULL || b->pages.n == 1)
        return img;
    if (vips_copy(img, &still, NULL) == 0) {
        vips_image_remove(still, VIPS_META_PAGE_HEIGHT);
        vips_image_remove(still, VIPS_META_N_PAGES);
    }
    g_object_unref(img);
    return still;
}

/*
 * page and pages on a still result (an animation that stays animated keeps
 * its frames instead): the pages from page on (past the last: the last),
 * loaded again as one image of pages stacked top to bottom, left-aligned.
 * Only the header is read: the resolution check that follows sees the
 * stacked size before any page is rendered.
 */
static int select_pages(struct build *b)
{
    b->pages.n =
        plan_stacked_pages(b->src_type, vips_image_get_n_pages(b->img), b->po, &b->pages.first);
    if (b->pages.n > cfg.max_pages)
        return err_set(b->e, ERR_SOURCE_TYPE, "Too many pages: %d (IMGFCGI_MAX_PAGES is %d)",
                       b->pages.n, cfg.max_pages);
    if (b->pages.first == 0 && b->pages.n == 1)
        return 0;
    return reload(b, load_still(b, 1, 1.0, false));
}

/*
 * The phases of process_prepare(), in order; each returns 0 or the error code
 * recorded in b->e.
 *
 * The source, loaded (header only); a vector source over the resolution
 * limit is drawn at the scale that fits the limit (imgproxy's guard scale).
 */
static int load_source(struct build *b)
{
    const struct procopts *po = b->po;
    long long px;
    int ret;

    if (b->opened != NULL)
        g_object_ref(b->opened);
    b->img = loaded(b->job, b->opened != NULL ? b->opened
                                              : load_image(b->data, b->len, b->src_type, 1, 1.0,
                                                           po->enforce_thumbnail, NULL));
    if (b->img == NULL)
        return vipsop_fail(b->e, VIPSOP_LOAD, "Can't load the source image");
    ret = select_pages(b);
    if (ret < 0)
        return ret;
    b->w = b->info->src_w = vips_image_get_width(b->img);
    b->h = b->info->src_h = vips_image_get_height(b->img);
    px = (long long)b->w * b->h;
    if (px > po->max_src_resolution && b->src_type != IMGTYPE_SVG)
        return err_set(b->e, ERR_SOURCE_TYPE, "Source image resolution is too big (%dx%d)", b->w,
                       b->h);
    if (px > po->max_src_resolution) {
        b->vector_scale = sqrt((double)po->max_src_resolution / ((double)b->w * (double)b->h));
        ret = reload(b, load_still(b, 1, b->vector_scale, false));
        if (ret < 0)
            return ret;
        b->w = vips_image_get_width(b->img);
        b->h = vips_image_get_height(b->img);
    }
    b->orientation = vips_image_get_typeof(b->img, VIPS_META_ORIENTATION)
                         ? vips_image_get_orientation(b->img)
                         : 1;
    return 0;
}

/* An animation (plan_frames()): its frames, loaded as one strip, within the resolution limits. */
static int load_animation(struct build *b)
{
    const struct procopts *po = b->po;
    long long px = (long long)b->w * b->h;
    int ret;

    b->frames = plan_frames(b->src_type, vips_image_get_n_pages(b->img), po);
    if (b->frames < 2)
        return 0;
    b->animated = true;
    if (po->max_animation_frame_resolution > 0 ? px > po->max_animation_frame_resolution
                                               : px * b->frames > po->max_src_resolution)
        return err_set(b->e, ERR_SOURCE_TYPE, "Source image resolution is too big (%dx%dx%d)", b->w,
                       b->h, b->frames);
    ret = reload(b, load_frames(b->data, b->len, b->src_type, b->frames));
    if (ret < 0)
        return ret;
    b->h = vips_image_get_page_height(b->img);
    if (po->trim)
        log_warn("Trim is not supported for animated images");
    return 0;
}

/* trim runs first, on the decoded source (plan_load() turns shrink-on-load off for it). */
static int trim(struct build *b)
{
    int ret;

    if (!b->po->trim || b->animated)
        return 0;
    ret = apply(b, &b->img, watch_copy_memory(b->img), "Can't trim");
    if (ret == 0)
        ret = apply(b, &b->img, filters_trim(b->img, b->po), "Can't trim");
    b->w = vips_image_get_width(b->img);
    b->h = vips_image_get_height(b->img);
    return ret;
}

/* The first frame of an animation strip whose frames are w x h, as a still image. */
static VipsImage *first_frame(VipsImage *img, int w, int h)
{
    VipsImage *first = NULL;

    if (vips_extract_area(img, &first, 0, 0, w, h, NULL) != 0)
        return NULL;
    vips_image_remove(first, VIPS_META_PAGE_HEIGHT);
    vips_image_remove(first, VIPS_META_N_PAGES);
    return first;
}

/*
 * The encode-time bound (encbound.h): a result whose encoder the deadline
 * cannot stop must be able to finish in the time left. A format chosen by
 * Accept negotiation falls back to the one chosen without it; a format the
 * URL asks for is refused: 422 when even the whole IMGPROXY_TIMEOUT would
 * not do, 503 when only the time already spent is missing.
 */
static int bound_encode(struct build *b)
{
    long long px = (long long)b->plan.out_w * b->plan.out_h * (b->animated ? b->frames : 1);
    long long left = deadline_left_ms(&b->job->watch.dl, deadline_now_ms());
    long long need;
    enum imgtype t;

    if (encbound_fits(b->out_type, px, left))
        return 0;
    t = plan_format(b->po, b->src_type, b->alpha, b->animated, NULL);
    if (t != b->out_type && imagetype_saveable(t) && (!b->animated || plan_can_animate(t)) &&
        encbound_fits(t, px, left)) {
        log_debug("encode bound: %dx%d as %s would not finish in %lld ms: %s instead",
                  b->plan.out_w, b->plan.out_h, imagetype_name(b->out_type), left,
                  imagetype_name(t));
        b->out_type = t;
        return 0;
    }
    need = encbound_estimate_ms(b->out_type, px);
    return err_set(b->e,
                   encbound_fits(b->out_type, px, (long long)cfg.timeout * 1000) ? ERR_TIMEOUT
                                                                                 : ERR_SOURCE_TYPE,
                   "Result %dx%d%s would take about %lld ms to encode as %s, more than the "
                   "deadline allows (%lld ms left)",
                   b->plan.out_w, b->plan.out_h, b->animated ? " (animated)" : "", need,
                   imagetype_name(b->out_type), left);
}

/*
 * The compute bound (encbound.h): a blur whose tiles the deadline could not
 * stop in time is refused (422) before any pixel is computed.
 */
static int bound_blur(struct build *b)
{
    int bands = b->alpha ? 4 : 3;
    long long left = deadline_left_ms(&b->job->watch.dl, deadline_now_ms());

    if (encbound_blur_fits(b->po->blur, bands, left))
        return 0;
    return err_set(b->e, ERR_SOURCE_TYPE,
                   "Blur sigma %g: one tile would take about %lld ms, longer than the deadline "
                   "can wait for (%d ms)",
                   b->po->blur, encbound_blur_tile_ms(b->po->blur, bands), ENCBOUND_TILE_MS);
}

/*
 * The plan and the result format; an animation whose result format cannot
 * animate keeps its first frame only.
 */
static int choose_output(struct build *b)
{
    const struct procopts *po = b->po;
    int ret;

    geom_plan(&b->plan, b->w, b->h, b->orientation, b->src_type == IMGTYPE_SVG && !b->chained, po);
    b->alpha = plan_alpha(vips_image_hasalpha(b->img), po, &b->plan);
    b->out_type = plan_format(po, b->src_type, b->alpha, b->animated, b->accept);
    if (b->animated && !plan_can_animate(b->out_type)) {
        ret = apply(b, &b->img, first_frame(b->img, b->w, b->h), "Can't take the first frame");
        if (ret < 0)
            return ret;
        b->animated = false;
    }
    if (!imagetype_saveable(b->out_type))
        return err_set(b->e, ERR_UNSAVEABLE, "Can't save the result as %s",
                       imagetype_name(b->out_type));
    /* AVIF can't be smaller than 16 px on a side: PNG or JPEG instead, as imgproxy. */
    if (b->out_type == IMGTYPE_AVIF && (b->plan.out_w < 16 || b->plan.out_h < 16))
        b->out_type = b->alpha ? IMGTYPE_PNG : IMGTYPE_JPEG;
    ret = bound_blur(b);
    if (ret < 0)
        return ret;
    /* Only the last pipeline of a chain is encoded. */
    return po->next != NULL ? 0 : bound_encode(b);
}

/* Shrink-on-load: the source loaded again, smaller, when the codec can decode it so. */
static int shrink_on_load(struct build *b)
{
    struct plan_load l;

    plan_load(&b->plan, b->src_type, b->po->trim, b->animated, &l);
    if (!l.reload)
        return 0;
    /* A PDF drawn larger than 72 dpi (enlarge) stays within the resolution limit. */
    if (b->src_type == IMGTYPE_PDF && l.scale > 1.0 &&
        (double)b->w * b->h * l.scale * l.scale > (double)b->po->max_src_resolution)
        l.scale = sqrt((double)b->po->max_src_resolution / ((double)b->w * b->h));
    if (b->src_type == IMGTYPE_PDF)
        log_debug("PDF: %d page(s) of %dx%d drawn at scale %.4f", b->pages.n, b->w, b->h, l.scale);
    return reload(
        b, load_still(b, l.jpeg_shrink, l.scale * b->vector_scale, b->po->enforce_thumbnail));
}

/* transform(), on the image or on each frame of the animation. */
static int run_transform(struct build *b)
{
    int ret;

    if (!b->animated)
        return transform(b, &b->img);
    err_clear(b->e);
    ret = animation_map(&b->img, b->frames, transform_one_frame, b);
    if (ret == 0)
        return 0;
    if (b->e->code != ERR_OK)
        return b->e->code;
    return vipsop_fail(b->e, vipsop_stage_after_load(&b->job->decode),
                       "Can't process the animation");
}

/*
 * Chained pipelines (chain.h): each pipeline after the first runs trim,
 * the plan and transform() again, on the previous pipeline's result as it
 * stands in the same libvips graph: nothing is encoded or decoded between
 * pipelines, and the source is not read again. The previous result is
 * oriented and in sRGB already; an animation stays one strip of frames.
 */
static int run_chain(struct build *b)
{
    for (const struct procopts *p = b->po->next; p != NULL; p = p->next) {
        int ret;

        b->po = p;
        b->chained = true;
        b->orientation = 1;
        b->vector_scale = 1.0;
        b->w = vips_image_get_width(b->img);
        b->h = b->animated ? vips_image_get_page_height(b->img) : vips_image_get_height(b->img);
        ret = trim(b);
        if (ret == 0)
            ret = choose_output(b);
        if (ret == 0)
            ret = run_transform(b);
        if (ret < 0)
            return ret;
    }
    return 0;
}

/* Metadata, then color_profile: its profile is embedded after stripping, so it always stays. */
static int strip(struct build *b)
{
    int ret = apply(b, &b->img, strip_meta(b->img, b->po), "Can't strip metadata");

    if (ret == 0 && b->po->color_profile[0] != '\0')
        ret = apply(b, &b->img, adjust_color_profile(b->img, b->po->color_profile, b->out_type),
                    "Can't convert to the color profile");
    return ret;
}

/*
 * format:best and autoquality (bestfmt.h, autoq.h): the result is encoded
 * here, before any header is sent, because the encodes decide the format
 * (Content-Type) and the bytes; the pipeline is computed once into memory
 * and every encode reads that copy. The bytes wait in the job for
 * process_save(). At most IMGFCGI_MAX_ENCODES encodes, each checked
 * against the deadline first.
 */
static int encode_ahead(struct build *b)
{
    const struct procopts *po = b->po;
    struct process_job *job = b->job;
    long long px = (long long)vips_image_get_width(b->img) * vips_image_get_height(b->img);
    struct encode_budget budget = {
        .left = cfg.max_encodes, .dl = &job->watch.dl, .pixels = px, .so = &po->enc};
    bool best = bestfmt_wanted(po), strip_saver;
    int r, ret;

    if (!best && !autoq_applies(po, b->out_type, px))
        return 0;
    ret = apply(b, &b->img, watch_copy_memory(b->img), "Can't process the image");
    if (ret < 0)
        return ret;
    strip_saver = po->strip_metadata && !metadata_any(b->img);
    if (best)
        r = bestfmt_encode(b->img, po, b->accept, b->animated, strip_saver, b->out_type, &budget,
                           &job->ahead);
    else
        r = autoq_run(b->img, b->out_type, SAVE_PLAIN, po, AQ_NONE, -1, 0, 0, strip_saver, &budget,
                      &job->ahead);
    if (r != 0 && (r == AUTOQ_NO_BUDGET || watch_reason(&job->watch) == WATCH_DEADLINE)) {
        vipsop_discard();
        return err_set(b->e, ERR_TIMEOUT,
                       "Timeout: IMGPROXY_TIMEOUT (%d s) left no time to encode the result",
                       cfg.timeout);
    }
    if (r != 0)
        return vipsop_fail(b->e, vipsop_stage_after_load(&job->decode), "Can't save the result");
    b->out_type = job->ahead.type;
    return 0;
}

/* Hands the finished pipeline to the job and reports its result. */
static void fill_job(struct build *b)
{
    struct process_job *job = b->job;

    /* The last stage asks too: a strip's whole computation on its thread counts. */
    job->img = cpugate_wrap(b->img);
    b->img = NULL;
    job->out_type = b->out_type;
    job->quality = options_quality(b->po, b->out_type);
    /*
     * Savers strip only when nothing is kept: else they would drop a kept
     * copyright or ICC, or (jpegsave) the resolution the dpi option set.
     */
    job->strip = b->po->strip_metadata && !metadata_any(job->img) && !(b->po->dpi > 0);
    job->max_bytes = imagetype_supports_quality(b->out_type) ? b->po->max_bytes : 0;
    job->enc = b->po->enc;
    b->info->out_type = b->out_type;
    b->info->out_w = vips_image_get_width(job->img);
    b->info->out_h = vips_image_get_height(job->img);
}

VipsImage *process_open(const unsigned char *data, size_t len, enum imgtype src_type,
                        const struct procopts *po, struct errinfo *e)
{
    VipsImage *img = load_image(data, len, src_type, 1, 1.0, po->enforce_thumbnail, NULL);

    if (img == NULL)
        vipsop_fail(e, VIPSOP_LOAD, "Can't load the source image");
    return img;
}

int process_prepare(struct process_job **jobp, const unsigned char *data, size_t len,
                    enum imgtype src_type, const struct procopts *po, const char *accept,
                    const struct deadline *dl, struct process_info *info, struct errinfo *e)
{
    return process_prepare_opened(jobp, NULL, data, len, src_type, po, accept, dl, info, e);
}

int process_prepare_opened(struct process_job **jobp, VipsImage *opened, const unsigned char *data,
                           size_t len, enum imgtype src_type, const struct procopts *po,
                           const char *accept, const struct deadline *dl, struct process_info *info,
                           struct errinfo *e)
{
    static int (*const phases[])(struct build *) = {
        load_source,   load_animation, trim,  choose_output, shrink_on_load,
        run_transform, run_chain,      strip, encode_ahead,
    };
    struct build b = {.data = data,
                      .len = len,
                      .src_type = src_type,
                      .po = po,
                      .accept = accept,
                      .info = info,
                      .e = e,
                      .vector_scale = 1.0,
                      .frames = 1};
    int ret = 0;

    *jobp = NULL;
    memset(info, 0, sizeof(*info));
    info->src_type = src_type;
    /* First: every image below reports to its watch. */
    b.job = calloc(1, sizeof(*b.job));
    if (b.job == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    watch_init(&b.job->watch, dl);
    vipsop_decode_init(&b.job->decode);
    buf_init(&b.job->styled);
    if (src_type == IMGTYPE_SVG && po->style[0] != '\0') {
        if (svg_inject_style((const char *)data, len, po->style, strlen(po->style),
                             &b.job->styled) < 0) {
            buf_release(&b.job->styled);
            free(b.job);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
        b.data = b.job->styled.data;
        b.len = b.job->styled.len;
    } else {
        b.opened = opened; /* opened from these bytes: a styled SVG is opened again */
    }
    /*
     * Its threads keep to one core while every core has a request (until
     * process_job_free); a big one's run free (cpuhome.h).
     */
    b.job->home = cpuhome_begin(cpugate_request_class() != CPUGATE_BIG);

    for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]) && ret == 0; i++)
        ret = phases[i](&b);
    if (ret == 0) {
        fill_job(&b);
        *jobp = b.job;
        return 0;
    }
    if (watch_reason(&b.job->watch) == WATCH_DEADLINE)
        ret = err_set(e, ERR_TIMEOUT,
                      "Timeout: IMGPROXY_TIMEOUT (%d s) passed while processing; libvips work "
                      "stopped",
                      cfg.timeout);
    /* The images first: they report to the job's watch until they are gone. */
    if (b.img != NULL)
        g_object_unref(b.img);
    buf_release(&b.job->styled);
    encoded_release(&b.job->ahead);
    cpuhome_end(b.job->home);
    free(b.job);
    return ret;
}

/*
 * The first bytes of a result are held back until there are
 * PROCESS_HOLD_BYTES of them (or the save ends): a deadline that comes
 * before then still gets a clean 503. Handed on sooner, a few bytes (a PNG's
 * signature and IHDR) would commit the response while they still sit in
 * libfcgi's 8 KB buffer, which an abort drops: the front would have only a
 * header and a cut connection to show. Four times that buffer is sure to
 * have reached the front.
 */
#define PROCESS_HOLD_BYTES 32768

struct sink {
    process_write_fn write;
    void *ctx;
    struct watch *watch;
    size_t sent;
    bool failed;
    size_t held;
    unsigned char hold[PROCESS_HOLD_BYTES];
};

/* Hands the held bytes on; -1 when the client is gone. */
static int release_held(struct sink *s)
{
    if (s->held == 0)
        return 0;
    if (s->write(s->ctx, s->hold, s->held) < 0)
        return -1;
    s->sent += s->held;
    s->held = 0;
    return 0;
}

static gint64 on_target_write(VipsTargetCustom *target, const void *data, gint64 length, void *user)
{
    struct sink *s = user;
    gint64 ret = length;

    (void)target;
    tsan_acquire(s); /* runs on a libvips thread: see tsan.h */
    if (s->failed) {
        ret = -1;
    } else if (s->sent == 0 && deadline_passed(&s->watch->dl)) {
        /*
         * Before the first byte a late result can still become a 503; an
         * encoder that ran past the deadline in one uninterruptible call (AVIF)
         * ends here.
         */
        watch_stop(s->watch, WATCH_DEADLINE);
        s->failed = true;
        ret = -1;
    } else if (s->sent == 0 && s->held + (size_t)length <= sizeof(s->hold)) {
        memcpy(s->hold + s->held, data, (size_t)length);
        s->held += (size_t)length;
    } else if (release_held(s) < 0 || s->write(s->ctx, data, (size_t)length) < 0) {
        /* The client is gone: stop computing what nobody will read. */
        watch_cancel(s->watch);
        watch_stop(s->watch, WATCH_CLIENT);
        s->failed = true;
        ret = -1;
    } else {
        s->sent += (size_t)length;
    }
    tsan_release(s);
    return ret;
}

int process_save(struct process_job *job, process_write_fn write, void *ctx, struct errinfo *e)
{
    struct sink s = {write, ctx, &job->watch, 0, false, 0, {0}};
    VipsTargetCustom *target;
    VipsTarget *t;
    int r;

    if (deadline_passed(&job->watch.dl))
        watch_stop(&job->watch, WATCH_DEADLINE);
    if (watch_reason(&job->watch) != WATCH_RUNNING)
        goto stopped;
    target = vips_target_custom_new();
    t = VIPS_TARGET(target);
    g_signal_connect(target, "write", G_CALLBACK(on_target_write), &s);
    tsan_release(&s);
    if (job->ahead.data != NULL)
        r = vips_target_write(t, job->ahead.data, job->ahead.len) == 0 ? 0 : -1;
    else if (job->max_bytes > 0)
        r = save_image_fit_opts(job->img, job->out_type, job->quality, job->strip, job->max_bytes,
                                &job->enc, t);
    else
        r = save_image_opts(job->img, job->out_type, job->quality, job->strip, &job->enc, t);
    tsan_acquire(&s);
    if (r == 0 && !s.failed && vips_target_end(t) != 0)
        r = -1;
    g_object_unref(target);
    if (r == 0 && !s.failed && release_held(&s) < 0) {
        watch_cancel(&job->watch);
        watch_stop(&job->watch, WATCH_CLIENT);
        s.failed = true;
    }
    if (r == 0 && !s.failed)
        return 0;
stopped:
    switch (watch_reason(&job->watch)) {
    case WATCH_CLIENT:
        vipsop_discard();
        return err_set(e, ERR_CANCELLED,
                       "The client went away after %zu bytes of the response; libvips work "
                       "stopped",
                       s.sent);
    case WATCH_DEADLINE:
        vipsop_discard();
        log_debug("deadline: the saver returned %lld ms after the deadline",
                  deadline_now_ms() - job->watch.dl.end_ms);
        return err_set(e, ERR_TIMEOUT,
                       "Timeout: IMGPROXY_TIMEOUT (%d s) passed after %zu bytes of the response; "
                       "libvips work stopped",
                       cfg.timeout, s.sent);
    default:
        return vipsop_fail(e, vipsop_stage_after_load(&job->decode), "Can't save the result");
    }
}

void process_job_free(struct process_job *job)
{
    if (job == NULL)
        return;
    if (job->img != NULL)
        g_object_unref(job->img);
    encoded_release(&job->ahead);
    tsan_acquire(&job->watch); /* the last eval report on a libvips thread */
    buf_release(&job->styled);
    cpuhome_end(job->home);
    free(job);
}

int process_health(void)
{
    VipsImage *img = NULL, *mem;

    if (vips_black(&img, 4, 4, NULL))
        return -1;
    mem = vips_image_copy_memory(img);
    g_object_unref(img);
    if (mem == NULL)
        return -1;
    g_object_unref(mem);
    return 0;
}

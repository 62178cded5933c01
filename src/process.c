/* process.c: the libvips pipeline: header, plan, shrink-on-load, crop, scale, extend, save. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "animation.h"
#include "colour.h"
#include "config.h"
#include "filters.h"
#include "geometry.h"
#include "log.h"
#include "metadata.h"
#include "save.h"
#include "watch.h"
#include "cpugate.h"
#include "watermark.h"
#include "process.h"
#include "svg.h"
#include "tsan.h"
#include "banned.h"

struct process_job {
    VipsImage *img; /* the last image of the pipeline; owns the chain behind it */
    enum imgtype out_type;
    int quality;
    bool strip;
    int max_bytes; /* 0 = no limit */
    /*
     * Stops the pipeline on the request's deadline or when the client goes
     * away; every image of the job reports to it, so the job outlives them.
     */
    struct watch watch;
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
    /*
     * Only the loaders imgfcgi supports: libvips' untrusted ones (magick, pdf,
     * openslide, ...) stay blocked; SVG (librsvg) is untrusted in 8.14 and
     * deliberately allowed, as imgproxy serves SVG sources.
     */
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoadSvg", FALSE);
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
    vips_error_clear();
    vips_thread_shutdown();
}

/*
 * Records the libvips error text (best effort: the buffer is process-global)
 * as code, or as ERR_BROKEN_IMAGE when it comes from a loader, as imgproxy
 * classifies it.
 */
static int vips_fail(struct errinfo *e, int code, const char *what)
{
    char *msg = vips_error_buffer_copy();
    int ret;

    if (msg != NULL && code == ERR_INTERNAL &&
        (strstr(msg, "load_buffer: ") != NULL || strstr(msg, "load_source: ") != NULL ||
         strstr(msg, "2vips: ") != NULL || strstr(msg, "VipsJpeg: ") != NULL ||
         strstr(msg, "XML parse error: ") != NULL || strstr(msg, "load: ") != NULL))
        code = ERR_BROKEN_IMAGE;
    ret = err_set(e, code, "%s: %s", what, msg ? g_strchomp(msg) : "libvips error");
    g_free(msg);
    return ret;
}

/*
 * Loads data as type t, shrinking by jpeg_shrink (JPEG) or scale (WebP, SVG);
 * thumb: HEIC/AVIF load their embedded thumbnail when they have one.
 */
static VipsImage *load_image(const unsigned char *data, size_t len, enum imgtype t, int jpeg_shrink,
                             double scale, bool thumb)
{
    VipsImage *out = NULL;
    int r;

    switch (t) {
    case IMGTYPE_JPEG:
        r = vips_jpegload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL,
                                 "shrink", jpeg_shrink, NULL);
        break;
    case IMGTYPE_WEBP:
        r = vips_webpload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, "scale",
                                 scale, NULL);
        break;
    case IMGTYPE_PNG:
        r = vips_pngload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
        break;
    case IMGTYPE_GIF:
        r = vips_gifload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
        break;
    case IMGTYPE_HEIC:
    case IMGTYPE_AVIF:
        r = vips_heifload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL,
                                 "thumbnail", thumb, NULL);
        break;
    case IMGTYPE_TIFF:
        r = vips_tiffload_buffer((void *)data, len, &out, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
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
 * A freshly loaded image: it reports to the job's watch, and for a big
 * request under the memory budget its strips yield to thumbnails (cpugate.h).
 */
static VipsImage *loaded(struct process_job *job, VipsImage *img)
{
    return cpugate_wrap(watch_attach(&job->watch, img));
}

/* Replaces *img by next (taking ownership of next); returns -1 if next is NULL. */
static int step(VipsImage **img, VipsImage *next)
{
    if (next == NULL)
        return -1;
    g_object_unref(*img);
    *img = next;
    return 0;
}

static bool accepts(const char *accept, const char *mime)
{
    return accept != NULL && strstr(accept, mime) != NULL;
}

/* Result format when the URL names none, or when enforcement overrides it (REFERENCE §2.3). */
static bool can_animate(enum imgtype t)
{
    return t == IMGTYPE_GIF || t == IMGTYPE_WEBP;
}

enum imgtype process_choose_format(const struct procopts *po, enum imgtype src, bool alpha,
                                   bool animated, const char *accept)
{
    if (po->format != IMGTYPE_UNKNOWN) {
        if (cfg.enforce_avif && !animated && accepts(accept, "image/avif"))
            return IMGTYPE_AVIF;
        if (cfg.enforce_webp && accepts(accept, "image/webp"))
            return IMGTYPE_WEBP;
        return po->format;
    }
    if ((cfg.auto_avif || cfg.enforce_avif) && !animated && accepts(accept, "image/avif"))
        return IMGTYPE_AVIF;
    if ((cfg.auto_webp || cfg.enforce_webp) && accepts(accept, "image/webp"))
        return IMGTYPE_WEBP;
    for (size_t i = 0; i < cfg.npreferred_formats; i++)
        if (cfg.preferred_formats[i] == src)
            return src;
    for (size_t i = 0; i < cfg.npreferred_formats; i++) {
        enum imgtype t = cfg.preferred_formats[i];

        if ((!animated || can_animate(t)) && (!alpha || imagetype_supports_alpha(t)))
            return t;
    }
    return cfg.npreferred_formats > 0 ? cfg.preferred_formats[0] : IMGTYPE_JPEG;
}

int process_jpeg_shrink(double shrink)
{
    if (shrink >= 8)
        return 8;
    if (shrink >= 4)
        return 4;
    if (shrink >= 2)
        return 2;
    return 1;
}

/* Crops img to w x h at gravity g (smart: libvips attention). */
static VipsImage *crop_to(VipsImage *img, int w, int h, const struct gravity *g, double dpr)
{
    VipsImage *out = NULL;
    int iw = vips_image_get_width(img), ih = vips_image_get_height(img);
    int left, top;

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
    geom_position(iw, ih, w, h, g, dpr, false, &left, &top);
    if (vips_extract_area(img, &out, left, top, w, h, NULL))
        return NULL;
    return out;
}

/* Resizes to exactly w x h, premultiplying alpha around the resampler. */
static VipsImage *resize_to(VipsImage *img, int w, int h)
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
    if (vips_image_hasalpha(img)) {
        if (vips_premultiply(img, &t[0], NULL) ||
            vips_resize(t[0], &t[1], hs, "vscale", vs, NULL) ||
            vips_unpremultiply(t[1], &t[2], NULL) || vips_cast(t[2], &t[3], fmt, NULL))
            goto out;
        out = t[3];
        t[3] = NULL;
    } else {
        if (vips_resize(img, &out, hs, "vscale", vs, NULL))
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
        vips_error_clear();
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
 * 72 dpi, as imgproxy does.
 */
static VipsImage *strip_meta(VipsImage *img, const struct procopts *po)
{
    VipsImage *out = NULL;
    int r = po->strip_metadata
                ? vips_copy(img, &out, "xres", 72.0 / 25.4, "yres", 72.0 / 25.4, NULL)
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

/*
 * Everything after decoding and before metadata stripping, for one image (or
 * one animation frame): orientation, crop, scale, sRGB, result crop, filters,
 * extend, extend_aspect_ratio, padding, flatten, watermark. *imgp is replaced.
 */
static int transform(VipsImage **imgp, const struct geom_plan *plan, const struct procopts *po,
                     enum imgtype out_type, struct errinfo *e)
{
    VipsImage *img = *imgp;
    int ret = 0;

    /* Orientation first: the image is as small as it will get before the crop. */
    if (plan->angle != 0 || plan->flip || plan->rotate != 0 || po->flip_h || po->flip_v) {
        VipsImage *mem = watch_copy_memory(img);

        if (step(&img, mem) < 0) {
            ret = vips_fail(e, ERR_INTERNAL, "Can't decode the source image");
            goto out;
        }
        if (plan->angle != 0) {
            VipsImage *r = NULL;

            vips_rot(img, &r, (VipsAngle)(plan->angle / 90), NULL);
            if (step(&img, r) < 0) {
                ret = vips_fail(e, ERR_INTERNAL, "Can't rotate");
                goto out;
            }
        }
        if (plan->flip) {
            VipsImage *f = NULL;

            vips_flip(img, &f, VIPS_DIRECTION_HORIZONTAL, NULL);
            if (step(&img, f) < 0) {
                ret = vips_fail(e, ERR_INTERNAL, "Can't flip");
                goto out;
            }
        }
        if (plan->rotate != 0) {
            VipsImage *r = NULL;

            vips_rot(img, &r, (VipsAngle)(plan->rotate / 90), NULL);
            if (step(&img, r) < 0) {
                ret = vips_fail(e, ERR_INTERNAL, "Can't rotate");
                goto out;
            }
        }
        for (int d = 0; d < 2; d++) {
            VipsImage *f = NULL;

            if (!(d == 0 ? po->flip_h : po->flip_v))
                continue;
            vips_flip(img, &f, d == 0 ? VIPS_DIRECTION_HORIZONTAL : VIPS_DIRECTION_VERTICAL, NULL);
            if (step(&img, f) < 0) {
                ret = vips_fail(e, ERR_INTERNAL, "Can't flip");
                goto out;
            }
        }
    }

    /* Crop before scaling, in the coordinates of the (possibly pre-shrunk) image. */
    if (plan->crop_w > 0 || plan->crop_h > 0) {
        int cur_w = vips_image_get_width(img), cur_h = vips_image_get_height(img);
        double wpre = (double)plan->src_w / cur_w, hpre = (double)plan->src_h / cur_h;
        int cw = plan->crop_w > 0 ? geom_shrink(plan->crop_w, wpre) : 0;
        int ch = plan->crop_h > 0 ? geom_shrink(plan->crop_h, hpre) : 0;
        struct gravity g = po->crop_gravity.type != GRAV_UNKNOWN ? po->crop_gravity : po->gravity;

        if (plan->crop_w > 0 && cw < 1)
            cw = 1;
        if (plan->crop_h > 0 && ch < 1)
            ch = 1;
        if (g.type != GRAV_FOCUS_POINT) {
            if (g.x >= 1.0 || g.x <= -1.0)
                g.x = geom_round_to_even(g.x / wpre);
            if (g.y >= 1.0 || g.y <= -1.0)
                g.y = geom_round_to_even(g.y / hpre);
        }
        if (g.type == GRAV_SMART) {
            VipsImage *mem = watch_copy_memory(img);

            if (step(&img, mem) < 0) {
                ret = vips_fail(e, ERR_INTERNAL, "Can't decode the source image");
                goto out;
            }
        }
        if (step(&img, crop_to(img, cw, ch, &g, 1.0)) < 0) {
            ret = vips_fail(e, ERR_INTERNAL, "Can't crop");
            goto out;
        }
    }

    if (step(&img, resize_to(img, plan->scaled_w, plan->scaled_h)) < 0) {
        ret = vips_fail(e, ERR_INTERNAL, "Can't resize");
        goto out;
    }
    if (step(&img,
             to_srgb(img, !po->strip_color_profile && colour_format_keeps_profile(out_type))) < 0) {
        ret = vips_fail(e, ERR_INTERNAL, "Can't convert to sRGB");
        goto out;
    }

    if (plan->result_crop_w > 0 || plan->result_crop_h > 0) {
        if (po->gravity.type == GRAV_SMART) {
            VipsImage *mem = watch_copy_memory(img);

            if (step(&img, mem) < 0) {
                ret = vips_fail(e, ERR_INTERNAL, "Can't decode the source image");
                goto out;
            }
        }
        if (step(&img, crop_to(img, plan->result_crop_w, plan->result_crop_h, &po->gravity,
                               plan->dpr_scale)) < 0) {
            ret = vips_fail(e, ERR_INTERNAL, "Can't crop");
            goto out;
        }
    }

    if (step(&img, filters_apply(img, po)) < 0) {
        ret = vips_fail(e, ERR_INTERNAL, "Can't apply filters");
        goto out;
    }
    if (po->extend && step(&img, extend_to(img, plan->target_w, plan->target_h, &po->extend_gravity,
                                           plan->dpr_scale)) < 0) {
        ret = vips_fail(e, ERR_INTERNAL, "Can't extend");
        goto out;
    }
    if (po->extend_ar && plan->extend_ar_w > 0 && plan->extend_ar_h > 0 &&
        step(&img, extend_to(img, plan->extend_ar_w, plan->extend_ar_h, &po->extend_ar_gravity,
                             plan->dpr_scale)) < 0) {
        ret = vips_fail(e, ERR_INTERNAL, "Can't extend");
        goto out;
    }
    if (plan->padding[0] || plan->padding[1] || plan->padding[2] || plan->padding[3]) {
        int iw = vips_image_get_width(img), ih = vips_image_get_height(img);

        if (step(&img, filters_embed(img, plan->padding[3], plan->padding[0],
                                     iw + plan->padding[1] + plan->padding[3],
                                     ih + plan->padding[0] + plan->padding[2])) < 0) {
            ret = vips_fail(e, ERR_INTERNAL, "Can't add padding");
            goto out;
        }
    }
    {
        /* fixSize: the result format's size limits (WebP, AVIF/HEIC, GIF, ICO). */
        int iw = vips_image_get_width(img), ih = vips_image_get_height(img), fw, fh;

        if (save_fit_limits(out_type, iw, ih, &fw, &fh)) {
            log_warn("%s size is limited: the %dx%d result is scaled to %dx%d",
                     imagetype_name(out_type), iw, ih, fw, fh);
            if (step(&img, resize_to(img, fw, fh)) < 0) {
                ret = vips_fail(e, ERR_INTERNAL, "Can't fit the result size");
                goto out;
            }
        }
    }
    if ((po->flatten || !imagetype_supports_alpha(out_type)) &&
        step(&img, filters_flatten(img, po->background)) < 0) {
        ret = vips_fail(e, ERR_INTERNAL, "Can't flatten");
        goto out;
    }

    if (po->wm_opacity > 0 && watermark_available() &&
        step(&img, watermark_apply(img, po, plan->dpr_scale)) < 0) {
        ret = vips_fail(e, ERR_INTERNAL, "Can't apply the watermark");
        goto out;
    }

out:
    *imgp = img;
    return ret;
}

struct frame_ctx {
    const struct geom_plan *plan;
    const struct procopts *po;
    enum imgtype out_type;
    struct errinfo *e;
};

static int transform_one_frame(VipsImage **frame, void *ctx)
{
    struct frame_ctx *c = ctx;

    return transform(frame, c->plan, c->po, c->out_type, c->e);
}

/* The animated path: each of the n frames through transform(). */
static int transform_frames(VipsImage **imgp, const struct geom_plan *plan,
                            const struct procopts *po, enum imgtype out_type, int n,
                            struct errinfo *e)
{
    struct frame_ctx c = {plan, po, out_type, e};
    int r;

    err_clear(e);
    r = animation_map(imgp, n, transform_one_frame, &c);
    if (r == 0)
        return 0;
    if (e->code != ERR_OK)
        return e->code;
    return vips_fail(e, ERR_INTERNAL, "Can't process the animation");
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

int process_prepare(struct process_job **jobp, const unsigned char *data, size_t len,
                    enum imgtype src_type, const struct procopts *po, const char *accept,
                    const struct deadline *dl, struct process_info *info, struct errinfo *e)
{
    struct process_job *job = NULL;
    VipsImage *img = NULL;
    struct geom_plan plan;
    int w, h, orientation, ret;
    bool vector = src_type == IMGTYPE_SVG;
    double vector_scale = 1.0; /* what a vector source is drawn at before the plan's scale */
    bool alpha, animated = false;
    int frames = 1;
    enum imgtype out_type;

    *jobp = NULL;
    memset(info, 0, sizeof(*info));
    info->src_type = src_type;
    /* First: every image below reports to its watch. */
    job = calloc(1, sizeof(*job));
    if (job == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    watch_init(&job->watch, dl);

    img = loaded(job, load_image(data, len, src_type, 1, 1.0, po->enforce_thumbnail));
    if (img == NULL) {
        ret = vips_fail(e, ERR_BROKEN_IMAGE, "Can't load the source image");
        goto out;
    }
    w = vips_image_get_width(img);
    h = vips_image_get_height(img);
    info->src_w = w;
    info->src_h = h;
    if ((long long)w * h > po->max_src_resolution && !vector) {
        ret = err_set(e, ERR_SOURCE_TYPE, "Source image resolution is too big (%dx%d)", w, h);
        goto out;
    } else if ((long long)w * h > po->max_src_resolution) {
        /* A vector source is drawn at the scale that fits the limit (imgproxy's guard scale). */
        vector_scale = sqrt((double)po->max_src_resolution / ((double)w * (double)h));
        if (step(&img, loaded(job, load_image(data, len, src_type, 1, vector_scale, false))) < 0) {
            ret = vips_fail(e, ERR_BROKEN_IMAGE, "Can't load the source image");
            goto out;
        }
        w = vips_image_get_width(img);
        h = vips_image_get_height(img);
    }
    orientation =
        vips_image_get_typeof(img, VIPS_META_ORIENTATION) ? vips_image_get_orientation(img) : 1;
    /*
     * Animation: more than one frame allowed, a GIF or WebP source with more
     * than one page, and a result format that can animate (or none named).
     */
    if (po->max_animation_frames > 1 && (src_type == IMGTYPE_GIF || src_type == IMGTYPE_WEBP) &&
        (po->format == IMGTYPE_UNKNOWN || po->format == IMGTYPE_GIF ||
         po->format == IMGTYPE_WEBP) &&
        vips_image_get_n_pages(img) > 1) {
        int pages = vips_image_get_n_pages(img);

        frames = pages < po->max_animation_frames ? pages : po->max_animation_frames;
        animated = true;
        if (po->max_animation_frame_resolution > 0
                ? (long long)w * h > po->max_animation_frame_resolution
                : (long long)w * h * frames > po->max_src_resolution) {
            ret = err_set(e, ERR_SOURCE_TYPE, "Source image resolution is too big (%dx%dx%d)", w, h,
                          frames);
            goto out;
        }
        if (step(&img, loaded(job, load_frames(data, len, src_type, frames))) < 0) {
            ret = vips_fail(e, ERR_BROKEN_IMAGE, "Can't load the source image");
            goto out;
        }
        h = vips_image_get_page_height(img);
        if (po->trim)
            log_warn("Trim is not supported for animated images");
    }
    /* trim runs first, on the decoded source, and turns shrink-on-load off. */
    if (po->trim && !animated) {
        if (step(&img, watch_copy_memory(img)) < 0 || step(&img, filters_trim(img, po)) < 0) {
            ret = vips_fail(e, ERR_INTERNAL, "Can't trim");
            goto out;
        }
        w = vips_image_get_width(img);
        h = vips_image_get_height(img);
    }
    geom_plan(&plan, w, h, orientation, vector, po);

    alpha =
        !po->flatten && (vips_image_hasalpha(img) || po->extend || po->extend_ar ||
                         plan.padding[0] || plan.padding[1] || plan.padding[2] || plan.padding[3]);
    out_type = process_choose_format(po, src_type, alpha, animated, accept);
    if (animated && out_type != IMGTYPE_GIF && out_type != IMGTYPE_WEBP) {
        /* No animated format in reach: the first frame only. */
        VipsImage *first = NULL;

        if (vips_extract_area(img, &first, 0, 0, w, h, NULL) == 0) {
            vips_image_remove(first, VIPS_META_PAGE_HEIGHT);
            vips_image_remove(first, VIPS_META_N_PAGES);
        }
        if (step(&img, first) < 0) {
            ret = vips_fail(e, ERR_INTERNAL, "Can't take the first frame");
            goto out;
        }
        animated = false;
    }
    if (!imagetype_saveable(out_type)) {
        ret = err_set(e, ERR_UNSAVEABLE, "Can't save the result as %s", imagetype_name(out_type));
        goto out;
    }
    /* AVIF can't be smaller than 16 px on a side: PNG or JPEG instead, as imgproxy. */
    if (out_type == IMGTYPE_AVIF && (plan.out_w < 16 || plan.out_h < 16))
        out_type = alpha ? IMGTYPE_PNG : IMGTYPE_JPEG;

    /* Shrink-on-load: decode smaller when the codec can (imgproxy scaleOnLoad). */
    {
        double wshrink = (double)plan.src_w / (double)geom_scale(plan.src_w, plan.wscale);
        double hshrink = (double)plan.src_h / (double)geom_scale(plan.src_h, plan.hscale);
        double preshrink = wshrink < hshrink ? wshrink : hshrink;
        double prescale = 1.0 / preshrink;
        int jpeg_shrink = process_jpeg_shrink(preshrink);
        bool can = po->trim || animated ? false
                   : vector             ? prescale != 1.0
                                        : !cfg.disable_shrink_on_load && prescale < 1.0 &&
                                  ((src_type == IMGTYPE_JPEG && jpeg_shrink > 1) ||
                                   src_type == IMGTYPE_WEBP);

        if (can) {
            VipsImage *again =
                loaded(job, load_image(data, len, src_type, jpeg_shrink, prescale * vector_scale,
                                       po->enforce_thumbnail));

            if (step(&img, again) < 0) {
                ret = vips_fail(e, ERR_BROKEN_IMAGE, "Can't load the source image");
                goto out;
            }
        }
    }

    if (animated) {
        ret = transform_frames(&img, &plan, po, out_type, frames, e);
        if (ret < 0)
            goto out;
    } else {
        ret = transform(&img, &plan, po, out_type, e);
        if (ret < 0)
            goto out;
    }

    if (step(&img, strip_meta(img, po)) < 0) {
        ret = vips_fail(e, ERR_INTERNAL, "Can't strip metadata");
        goto out;
    }

    /* The last stage asks too: a strip's whole computation on its thread counts. */
    job->img = cpugate_wrap(img);
    img = NULL;
    job->out_type = out_type;
    job->quality = options_quality(po, out_type);
    /* Savers strip only when nothing is kept: else they would drop a kept copyright or ICC. */
    job->strip = po->strip_metadata && !metadata_any(job->img);
    job->max_bytes = imagetype_supports_quality(out_type) ? po->max_bytes : 0;
    info->out_type = out_type;
    info->out_w = vips_image_get_width(job->img);
    info->out_h = vips_image_get_height(job->img);
    *jobp = job;
    return 0;
out:
    if (watch_reason(&job->watch) == WATCH_DEADLINE)
        ret = err_set(e, ERR_TIMEOUT,
                      "Timeout: IMGPROXY_TIMEOUT (%d s) passed while processing; libvips work "
                      "stopped",
                      cfg.timeout);
    /* The images first: they report to the job's watch until they are gone. */
    if (img != NULL)
        g_object_unref(img);
    free(job);
    return ret;
}

struct sink {
    process_write_fn write;
    void *ctx;
    struct watch *watch;
    size_t sent;
    bool failed;
};

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
    } else if (s->write(s->ctx, data, (size_t)length) < 0) {
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
    struct sink s = {write, ctx, &job->watch, 0, false};
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
    if (job->max_bytes > 0)
        r = save_image_fit(job->img, job->out_type, job->quality, job->strip, job->max_bytes, t);
    else
        r = save_image(job->img, job->out_type, job->quality, job->strip, t);
    tsan_acquire(&s);
    if (r == 0 && !s.failed && vips_target_end(t) != 0)
        r = -1;
    g_object_unref(target);
    if (r == 0 && !s.failed)
        return 0;
stopped:
    switch (watch_reason(&job->watch)) {
    case WATCH_CLIENT:
        vips_error_clear();
        return err_set(e, ERR_CANCELLED,
                       "The client went away after %zu bytes of the response; libvips work "
                       "stopped",
                       s.sent);
    case WATCH_DEADLINE:
        vips_error_clear();
        return err_set(e, ERR_TIMEOUT,
                       "Timeout: IMGPROXY_TIMEOUT (%d s) passed after %zu bytes of the response; "
                       "libvips work stopped",
                       cfg.timeout, s.sent);
    default:
        return vips_fail(e, ERR_INTERNAL, "Can't save the result");
    }
}

void process_job_free(struct process_job *job)
{
    if (job == NULL)
        return;
    if (job->img != NULL)
        g_object_unref(job->img);
    tsan_acquire(&job->watch); /* the last eval report on a libvips thread */
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

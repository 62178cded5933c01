/* plan.c: decisions shared by the pipeline and the memory estimate. */
#include <string.h>

#include "config.h"
#include "plan.h"
#include "banned.h"

bool plan_can_animate(enum imgtype t)
{
    return t == IMGTYPE_GIF || t == IMGTYPE_WEBP;
}

int plan_frames(enum imgtype src, int pages, const struct procopts *po)
{
    if (po->disable_animation)
        return 1;
    if (po->max_animation_frames > 1 && plan_can_animate(src) &&
        (po->format == IMGTYPE_UNKNOWN || plan_can_animate(po->format)) && pages > 1)
        return pages < po->max_animation_frames ? pages : po->max_animation_frames;
    return 1;
}

int plan_stacked_pages(enum imgtype src, int pages, const struct procopts *po, int *first)
{
    int f, n;

    *first = 0;
    if (!(src == IMGTYPE_PDF || src == IMGTYPE_TIFF || src == IMGTYPE_GIF || src == IMGTYPE_WEBP) ||
        (po->page == 0 && po->pages <= 1) || plan_frames(src, pages, po) > 1)
        return 1;
    pages = pages < 1 ? 1 : pages;
    f = po->page < pages ? po->page : pages - 1;
    n = po->pages < pages - f ? po->pages : pages - f;
    *first = f;
    return n;
}

bool plan_padded(const struct geom_plan *g)
{
    return g->padding[0] || g->padding[1] || g->padding[2] || g->padding[3];
}

bool plan_alpha(bool src_alpha, const struct procopts *po, const struct geom_plan *g)
{
    return !po->flatten && (src_alpha || po->extend || po->extend_ar || plan_padded(g));
}

static bool accepts(const char *accept, const char *mime)
{
    return accept != NULL && strstr(accept, mime) != NULL;
}

enum imgtype plan_format(const struct procopts *po, enum imgtype src, bool alpha, bool animated,
                         const char *accept)
{
    /* A document asked for stays a document: IMGPROXY_ENFORCE_* replace images only. */
    if (po->format == IMGTYPE_PDF)
        return IMGTYPE_PDF;
    if (po->format != IMGTYPE_UNKNOWN) {
        if (cfg.enforce_jxl && !animated && accepts(accept, "image/jxl"))
            return IMGTYPE_JXL;
        if (cfg.enforce_avif && !animated && accepts(accept, "image/avif"))
            return IMGTYPE_AVIF;
        if (cfg.enforce_webp && accepts(accept, "image/webp"))
            return IMGTYPE_WEBP;
        return po->format;
    }
    if ((cfg.auto_jxl || cfg.enforce_jxl) && !animated && accepts(accept, "image/jxl"))
        return IMGTYPE_JXL;
    if ((cfg.auto_avif || cfg.enforce_avif) && !animated && accepts(accept, "image/avif"))
        return IMGTYPE_AVIF;
    if ((cfg.auto_webp || cfg.enforce_webp) && accepts(accept, "image/webp"))
        return IMGTYPE_WEBP;
    for (size_t i = 0; i < cfg.npreferred_formats; i++)
        if (cfg.preferred_formats[i] == src)
            return src;
    for (size_t i = 0; i < cfg.npreferred_formats; i++) {
        enum imgtype t = cfg.preferred_formats[i];

        if ((!animated || plan_can_animate(t)) && (!alpha || imagetype_supports_alpha(t)))
            return t;
    }
    return cfg.npreferred_formats > 0 ? cfg.preferred_formats[0] : IMGTYPE_JPEG;
}

/* libjpeg's DCT scaling (1, 2, 4 or 8) for a wanted shrink factor. */
static int jpeg_shrink(double shrink)
{
    if (shrink >= 8)
        return 8;
    if (shrink >= 4)
        return 4;
    if (shrink >= 2)
        return 2;
    return 1;
}

void plan_load(const struct geom_plan *g, enum imgtype src, bool trim, bool animated,
               struct plan_load *l)
{
    double wshrink = (double)g->src_w / (double)geom_scale(g->src_w, g->wscale);
    double hshrink = (double)g->src_h / (double)geom_scale(g->src_h, g->hscale);
    double preshrink = wshrink < hshrink ? wshrink : hshrink;
    double prescale = 1.0 / preshrink;
    int js = jpeg_shrink(preshrink);

    l->reload = false;
    l->jpeg_shrink = 1;
    l->scale = 1.0;
    if (trim || animated)
        return;
    /* Vector sources and PDF pages are drawn at the scale the result needs. */
    if (src == IMGTYPE_SVG || src == IMGTYPE_PDF)
        l->reload = prescale != 1.0;
    else if (!cfg.disable_shrink_on_load && prescale < 1.0)
        l->reload = (src == IMGTYPE_JPEG && js > 1) || src == IMGTYPE_WEBP;
    if (!l->reload)
        return;
    if (src == IMGTYPE_JPEG)
        l->jpeg_shrink = js;
    else
        l->scale = prescale;
}

bool plan_orients(const struct geom_plan *g, const struct procopts *po)
{
    return g->angle != 0 || g->flip || g->rotate != 0 || po->flip_h || po->flip_v;
}

bool plan_orients_first(const struct geom_plan *g, const struct procopts *po)
{
    return plan_orients(g, po) && plan_smart_crop(g, po);
}

bool plan_swaps_sides(const struct geom_plan *g)
{
    return ((g->angle + g->rotate) / 90) % 2 == 1;
}

/*
 * Undoes a clockwise turn by angle of an image that is *w x *h after it:
 * r becomes the rectangle before the turn, and *w, *h the size before it.
 */
static void unturn(int angle, int *w, int *h, int r[4])
{
    int x = r[0], y = r[1], rw = r[2], rh = r[3], t;

    if (angle == 180) {
        r[0] = *w - x - rw;
        r[1] = *h - y - rh;
        return;
    }
    if (angle != 90 && angle != 270)
        return;
    /* A quarter turn swaps the sides of the rectangle and of the image. */
    r[0] = angle == 90 ? y : *h - y - rh;
    r[1] = angle == 90 ? *w - x - rw : x;
    r[2] = rh;
    r[3] = rw;
    t = *w;
    *w = *h;
    *h = t;
}

void plan_unorient_rect(const struct geom_plan *g, const struct procopts *po, int ow, int oh,
                        int r[4])
{
    /* The steps run: EXIF angle, EXIF flip, rotate, flip_h, flip_v; undone backwards. */
    if (po->flip_v)
        r[1] = oh - r[1] - r[3];
    if (po->flip_h)
        r[0] = ow - r[0] - r[2];
    unturn(g->rotate, &ow, &oh, r);
    if (g->flip)
        r[0] = ow - r[0] - r[2];
    unturn(g->angle, &ow, &oh, r);
}

struct gravity plan_crop_gravity(const struct procopts *po)
{
    return po->crop_gravity.type != GRAV_UNKNOWN ? po->crop_gravity : po->gravity;
}

bool plan_smart_crop(const struct geom_plan *g, const struct procopts *po)
{
    return (g->crop_w > 0 || g->crop_h > 0) && plan_crop_gravity(po).type == GRAV_SMART;
}

bool plan_smart_result_crop(const struct geom_plan *g, const struct procopts *po)
{
    return (g->result_crop_w > 0 || g->result_crop_h > 0) && po->gravity.type == GRAV_SMART;
}

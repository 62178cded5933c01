/* geometry.c: imgproxy's sizing and position math (prepare.go, calc_position.go) in C. */
#include <math.h>

#include "geometry.h"
#include "banned.h"

int geom_round(double v)
{
    return (int)round(v);
}

int geom_round_to_even(double v)
{
    return (int)rint(v);
}

int geom_scale(int a, double scale)
{
    if (a == 0)
        return 0;
    return geom_round((double)a * scale);
}

int geom_shrink(int a, double shrink)
{
    if (a == 0)
        return 0;
    return geom_round((double)a / shrink);
}

static int min_non_zero(int a, int b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

int geom_crop_size(int orig, double c)
{
    int v;

    if (c == 0.0)
        return 0;
    if (c >= 1.0)
        return c > 2147483647.0 ? 2147483647 : (int)c;
    v = geom_scale(orig, c);
    return v > 1 ? v : 1;
}

/* calcScale: returns wscale/hscale and dpr_scale. Written in the same
 * operation order as imgproxy so the doubles round identically. */
static void calc_scale(int width, int height, const struct procopts *po, bool vector,
                       double *wscale, double *hscale, double *dpr_scale)
{
    double srcW = width, srcH = height;
    double dstW = po->width, dstH = po->height;
    double wshrink, hshrink, dpr;

    if (po->width == 0)
        dstW = srcW;
    wshrink = dstW == srcW ? 1 : srcW / dstW;
    if (po->height == 0)
        dstH = srcH;
    hshrink = dstH == srcH ? 1 : srcH / dstH;

    if (wshrink != 1 || hshrink != 1) {
        enum resize_type rt = po->resizing_type;

        if (rt == RT_AUTO) {
            double srcD = srcW - srcH, dstD = dstW - dstH;

            rt = (srcD >= 0 && dstD >= 0) || (srcD < 0 && dstD < 0) ? RT_FILL : RT_FIT;
        }
        if (po->width == 0 && rt != RT_FORCE) {
            wshrink = hshrink;
        } else if (po->height == 0 && rt != RT_FORCE) {
            hshrink = wshrink;
        } else if (rt == RT_FIT) {
            wshrink = fmax(wshrink, hshrink);
            hshrink = wshrink;
        } else if (rt == RT_FILL || rt == RT_FILL_DOWN) {
            wshrink = fmin(wshrink, hshrink);
            hshrink = wshrink;
        }
    }

    wshrink /= po->zoom_w;
    hshrink /= po->zoom_h;

    dpr = po->dpr;
    if (!po->enlarge && !vector) {
        double min_shrink = fmin(wshrink, hshrink);

        if (min_shrink < 1) {
            wshrink /= min_shrink;
            hshrink /= min_shrink;
            if (!po->extend)
                dpr /= min_shrink;
        }
        /* The smaller shrink is the largest dpr that still does not enlarge. */
        dpr = fmin(dpr, fmin(wshrink, hshrink));
    }

    if (po->min_width > 0) {
        double min_shrink = srcW / (double)po->min_width;

        if (min_shrink < wshrink) {
            hshrink /= wshrink / min_shrink;
            wshrink = min_shrink;
        }
    }
    if (po->min_height > 0) {
        double min_shrink = srcH / (double)po->min_height;

        if (min_shrink < hshrink) {
            wshrink /= hshrink / min_shrink;
            hshrink = min_shrink;
        }
    }

    wshrink /= dpr;
    hshrink /= dpr;
    if (wshrink > srcW)
        wshrink = srcW;
    if (hshrink > srcH)
        hshrink = srcH;

    *wscale = 1.0 / wshrink;
    *hscale = 1.0 / hshrink;
    *dpr_scale = dpr;
}

/* calcSizes: target, scaled, result-crop and extend_aspect_ratio sizes. */
static void calc_sizes(struct geom_plan *p, int wts, int hts, const struct procopts *po)
{
    p->target_w = geom_scale(po->width, p->dpr_scale * po->zoom_w);
    p->target_h = geom_scale(po->height, p->dpr_scale * po->zoom_h);
    p->scaled_w = geom_scale(wts, p->wscale);
    p->scaled_h = geom_scale(hts, p->hscale);
    if (p->scaled_w < 1)
        p->scaled_w = 1;
    if (p->scaled_h < 1)
        p->scaled_h = 1;

    p->result_crop_w = p->target_w;
    p->result_crop_h = p->target_h;
    if (po->resizing_type == RT_FILL_DOWN && !po->enlarge) {
        double diff_w = (double)p->target_w / (double)p->scaled_w;
        double diff_h = (double)p->target_h / (double)p->scaled_h;

        if (diff_w > diff_h && diff_w > 1.0) {
            p->result_crop_h = geom_scale(p->scaled_w, (double)p->target_h / (double)p->target_w);
            p->result_crop_w = p->scaled_w;
        } else if (diff_h > diff_w && diff_h > 1.0) {
            p->result_crop_w = geom_scale(p->scaled_h, (double)p->target_w / (double)p->target_h);
            p->result_crop_h = p->scaled_h;
        }
    }

    p->extend_ar_w = 0;
    p->extend_ar_h = 0;
    if (po->extend_ar && p->target_w > 0 && p->target_h > 0) {
        int ow = min_non_zero(p->scaled_w, p->result_crop_w);
        int oh = min_non_zero(p->scaled_h, p->result_crop_h);
        double diff_w = (double)p->target_w / (double)ow;
        double diff_h = (double)p->target_h / (double)oh;

        if (diff_h > diff_w) {
            p->extend_ar_h = geom_scale(ow, (double)p->target_h / (double)p->target_w);
            p->extend_ar_w = ow;
        } else if (diff_w > diff_h) {
            p->extend_ar_w = geom_scale(oh, (double)p->target_w / (double)p->target_h);
            p->extend_ar_h = oh;
        }
    }
    for (int i = 0; i < 4; i++)
        p->padding[i] = geom_round_to_even((double)po->padding[i] * p->dpr_scale);
}

/* max_result_dimension: scale everything down when the final size is too big. */
static void limit_scale(struct geom_plan *p, int wts, int hts, const struct procopts *po)
{
    int limit = po->max_result_dimension;
    int ow, oh, mx;
    double down;

    if (limit <= 0)
        return;
    ow = min_non_zero(p->scaled_w, p->result_crop_w);
    oh = min_non_zero(p->scaled_h, p->result_crop_h);
    if (po->extend) {
        ow = ow > p->target_w ? ow : p->target_w;
        oh = oh > p->target_h ? oh : p->target_h;
    } else if (po->extend_ar) {
        ow = ow > p->extend_ar_w ? ow : p->extend_ar_w;
        oh = oh > p->extend_ar_h ? oh : p->extend_ar_h;
    }
    ow += p->padding[1] + p->padding[3];
    oh += p->padding[0] + p->padding[2];
    if (ow <= limit && oh <= limit)
        return;
    mx = ow > oh ? ow : oh;
    down = (double)limit / (double)mx;
    p->wscale *= down;
    p->hscale *= down;
    /* Never below one pixel. */
    if (p->wscale < 1.0 / wts)
        p->wscale = 1.0 / wts;
    if (p->hscale < 1.0 / hts)
        p->hscale = 1.0 / hts;
    p->dpr_scale *= down;
    calc_sizes(p, wts, hts, po);
}

/* The size after cropToResult, extend, extend_aspect_ratio and padding. */
static void calc_out(struct geom_plan *p, const struct procopts *po)
{
    int cw = min_non_zero(p->result_crop_w, p->scaled_w);
    int ch = min_non_zero(p->result_crop_h, p->scaled_h);

    /* cropToResult: cropImage clamps to the image and skips a no-op crop. */
    if (cw >= p->scaled_w && ch >= p->scaled_h) {
        p->out_w = p->scaled_w;
        p->out_h = p->scaled_h;
    } else {
        p->out_w = cw > p->scaled_w ? p->scaled_w : cw;
        p->out_h = ch > p->scaled_h ? p->scaled_h : ch;
    }
    if (po->extend)
        geom_extend_size(p->out_w, p->out_h, p->target_w, p->target_h, &p->out_w, &p->out_h);
    if (po->extend_ar && p->extend_ar_w > 0 && p->extend_ar_h > 0)
        geom_extend_size(p->out_w, p->out_h, p->extend_ar_w, p->extend_ar_h, &p->out_w, &p->out_h);
    p->out_w += p->padding[1] + p->padding[3];
    p->out_h += p->padding[0] + p->padding[2];
}

void geom_extend_size(int iw, int ih, int w, int h, int *ow, int *oh)
{
    if (w <= iw && h <= ih) {
        *ow = iw;
        *oh = ih;
        return;
    }
    *ow = w <= 0 ? iw : w;
    *oh = h <= 0 ? ih : h;
}

void geom_crop_aspect(int src_w, int src_h, double ar, bool enlarge, int *cw, int *ch)
{
    double w = *cw > 0 && *cw < src_w ? *cw : src_w, h = *ch > 0 && *ch < src_h ? *ch : src_h;

    if (!(ar > 0))
        return;
    if ((w / h > ar) != enlarge)
        w = h * ar; /* too wide and shrinking, or too tall and growing: change the width */
    else
        h = w / ar;
    /* A grown area that no longer fits shrinks, keeping the ratio, until it does. */
    if (w > src_w || h > src_h) {
        double k = fmin(src_w / w, src_h / h);

        w *= k;
        h *= k;
    }
    *cw = w < 1 ? 1 : geom_round(w);
    *ch = h < 1 ? 1 : geom_round(h);
    if (*cw > src_w)
        *cw = src_w;
    if (*ch > src_h)
        *ch = src_h;
}

void geom_plan(struct geom_plan *p, int w, int h, int orientation, bool vector,
               const struct procopts *po)
{
    int angle = 0;
    bool flip = false;
    int wts, hts;

    if (po->auto_rotate) {
        if (orientation == 3 || orientation == 4)
            angle = 180;
        if (orientation == 5 || orientation == 6)
            angle = 90;
        if (orientation == 7 || orientation == 8)
            angle = 270;
        flip = orientation == 2 || orientation == 4 || orientation == 5 || orientation == 7;
    }
    p->angle = angle;
    p->flip = flip;
    p->rotate = ((po->rotate % 360) + 360) % 360;
    if ((angle + p->rotate) % 180 != 0) {
        p->src_w = h;
        p->src_h = w;
    } else {
        p->src_w = w;
        p->src_h = h;
    }

    p->crop_w = geom_crop_size(p->src_w, po->crop_w);
    p->crop_h = geom_crop_size(p->src_h, po->crop_h);
    if (po->crop_ar > 0)
        geom_crop_aspect(p->src_w, p->src_h, po->crop_ar, po->crop_ar_enlarge, &p->crop_w,
                         &p->crop_h);
    wts = min_non_zero(p->crop_w, p->src_w);
    hts = min_non_zero(p->crop_h, p->src_h);

    calc_scale(wts, hts, po, vector, &p->wscale, &p->hscale, &p->dpr_scale);
    calc_sizes(p, wts, hts, po);
    limit_scale(p, wts, hts, po);
    calc_out(p, po);
}

void geom_position(int w, int h, int iw, int ih, const struct gravity *g, double dpr,
                   bool allow_overflow, int *left, int *top)
{
    int l, t, min_x, max_x, min_y, max_y;

    if (g->type == GRAV_FOCUS_POINT) {
        l = geom_round_to_even((double)w * g->x) - iw / 2;
        t = geom_round_to_even((double)h * g->y) - ih / 2;
    } else {
        int off_x, off_y;
        enum gravity_type ty = g->type;

        off_x = fabs(g->x) >= 1.0 ? geom_round_to_even(g->x * dpr)
                                  : geom_round_to_even((double)w * g->x);
        off_y = fabs(g->y) >= 1.0 ? geom_round_to_even(g->y * dpr)
                                  : geom_round_to_even((double)h * g->y);
        l = geom_round_to_even((double)(w - iw + 1) / 2.0) + off_x;
        t = geom_round_to_even((double)(h - ih + 1) / 2.0) + off_y;
        if (ty == GRAV_NORTH || ty == GRAV_NORTH_EAST || ty == GRAV_NORTH_WEST)
            t = off_y;
        if (ty == GRAV_EAST || ty == GRAV_NORTH_EAST || ty == GRAV_SOUTH_EAST)
            l = w - iw - off_x;
        if (ty == GRAV_SOUTH || ty == GRAV_SOUTH_EAST || ty == GRAV_SOUTH_WEST)
            t = h - ih - off_y;
        if (ty == GRAV_WEST || ty == GRAV_NORTH_WEST || ty == GRAV_SOUTH_WEST)
            l = off_x;
    }
    if (allow_overflow) {
        min_x = -iw + 1;
        max_x = w - 1;
        min_y = -ih + 1;
        max_y = h - 1;
    } else {
        min_x = 0;
        max_x = w - iw;
        min_y = 0;
        max_y = h - ih;
    }
    *left = l < min_x ? min_x : (l > max_x ? max_x : l);
    *top = t < min_y ? min_y : (t > max_y ? max_y : t);
    /* A box bigger than the outer one: the lower bound wins, as Go's max(min()) does. */
    if (max_x < min_x)
        *left = min_x;
    if (max_y < min_y)
        *top = min_y;
}

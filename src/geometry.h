/* geometry.h: imgproxy's sizing and position math as pure functions. */
#ifndef IMGFCGI_GEOMETRY_H
#define IMGFCGI_GEOMETRY_H

#include <stdbool.h>

#include "options.h"

/* Go's math.Round (half away from zero) and math.RoundToEven, as ints. */
int geom_round(double v);
int geom_round_to_even(double v);

/* imath.Scale: round(a * scale); imath.Shrink: round(a / shrink). */
int geom_scale(int a, double scale);
int geom_shrink(int a, double shrink);

/*
 * The plan for one image: every size the pipeline needs, computed from the
 * source dimensions (as stored) and the options. All sizes are in pixels of
 * the oriented image (after EXIF orientation and `rotate`); the pipeline
 * crops and scales in the stored orientation and maps these through the
 * orientation steps (plan_unorient_rect), then turns the scaled image.
 */
struct geom_plan {
    int src_w, src_h;      /* oriented source size */
    int angle;             /* EXIF rotation to apply first: 0, 90, 180, 270 (clockwise) */
    bool flip;             /* then a horizontal flip (EXIF orientations 2, 4, 5, 7) */
    int rotate;            /* then the `rotate` option: 0, 90, 180, 270 */
    int crop_w, crop_h;    /* crop before scaling; 0 = no crop on that side */
    double wscale, hscale; /* scale applied to the (cropped) source */
    double dpr_scale;
    int scaled_w, scaled_h;           /* size after scaling */
    int result_crop_w, result_crop_h; /* crop to result; 0 = none on that side */
    int target_w, target_h;           /* extend target */
    int extend_ar_w, extend_ar_h;     /* extend_aspect_ratio target; 0 = none */
    int padding[4];                   /* top, right, bottom, left, scaled by dpr */
    int out_w, out_h;                 /* final size */
};

/*
 * Computes the plan for a source of stored size w x h with EXIF orientation
 * orientation (1..8, anything else means 1), vector source or not. Never fails:
 * every size is at least 1.
 */
void geom_plan(struct geom_plan *p, int w, int h, int orientation, bool vector,
               const struct procopts *po);

/*
 * imgproxy's calcPosition: the top-left corner of an inner box (iw x ih) in an
 * outer one (w x h) for gravity g, offsets scaled by dpr when absolute. With
 * allow_overflow the box may stick out (watermarks), else it is clamped.
 */
void geom_position(int w, int h, int iw, int ih, const struct gravity *g, double dpr,
                   bool allow_overflow, int *left, int *top);

/*
 * imgproxy's extendImage size rule: an iw x ih image extended to w x h stays
 * as it is when it already covers both; a side <= 0 keeps the image's side.
 * (A side smaller than the image crops it, as vips_embed does.)
 */
void geom_extend_size(int iw, int ih, int w, int h, int *ow, int *oh);

/*
 * crop_aspect_ratio: the crop area *cw x *ch (0 or >= the source side = the
 * whole side) of a src_w x src_h image changed to the ratio ar (width /
 * height, > 0). Without enlarge one side shrinks; with enlarge one side grows,
 * and an area that then sticks out of the image shrinks, keeping the ratio,
 * until it fits. Sides are rounded, at least 1 and at most the source's.
 */
void geom_crop_aspect(int src_w, int src_h, double ar, bool enlarge, int *cw, int *ch);

/* The crop size for one side: 0 -> 0, >= 1 -> (int)c, else max(1, round(orig*c)). */
int geom_crop_size(int orig, double c);

#endif

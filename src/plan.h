/*
 * plan.h: the decisions that both the pipeline (process.c) and the memory
 * estimate (estimate.c) take from a source's header and the options, in one
 * place so that the estimate describes the pipeline that will run.
 */
#ifndef IMGFCGI_PLAN_H
#define IMGFCGI_PLAN_H

#include <stdbool.h>

#include "geometry.h"
#include "imagetype.h"
#include "options.h"

/*
 * How many frames of a source with pages pages are processed: several when
 * po allows more than one, the source is a GIF or WebP of several pages and
 * the URL names no format or one that can animate (GIF, WebP); at most
 * po->max_animation_frames. 1 means a still image, as always with
 * disable_animation.
 */
int plan_frames(enum imgtype src, int pages, const struct procopts *po);

/*
 * page and pages for a multi-page source (PDF, TIFF, GIF, WebP) of pages
 * pages that is not processed as an animation: how many pages are stacked
 * into one still image, from *first on (a page past the last is the last).
 * 1 with *first 0 for every other source.
 */
int plan_stacked_pages(enum imgtype src, int pages, const struct procopts *po, int *first);

/* Whether imgtype t can hold an animation (GIF, WebP). */
bool plan_can_animate(enum imgtype t);

/*
 * Whether the result has an alpha channel: the source has one, or extend,
 * extend_aspect_ratio or padding (g's, scaled by dpr) add transparent
 * areas; never with flatten.
 */
bool plan_alpha(bool src_alpha, const struct procopts *po, const struct geom_plan *g);

/*
 * The result format: the URL's, unless enforce_jxl/enforce_avif/enforce_webp
 * and the Accept header (may be NULL) override it (never a PDF); without one, JPEG XL, AVIF
 * or WebP (in that order) when auto/enforce allows and Accept lists it, else the source's type when
 * it is a preferred format, else the first preferred format that holds alpha and animation as
 * needed.
 */
enum imgtype plan_format(const struct procopts *po, enum imgtype src, bool alpha, bool animated,
                         const char *accept);

/* Shrink-on-load: how a loader can decode smaller than the source (imgproxy scaleOnLoad). */
struct plan_load {
    bool reload;     /* decoding smaller is possible: load again with the values below */
    int jpeg_shrink; /* libjpeg's DCT scaling 1, 2, 4 or 8 (JPEG), else 1 */
    double scale;    /* load scale for WebP and SVG, else 1 */
};

/*
 * Shrink-on-load for src and plan g: JPEG by DCT scaling when it divides by
 * 2 or more, WebP at any smaller scale (both unless
 * IMGFCGI_DISABLE_SHRINK_ON_LOAD), SVG drawn at its scale; never with trim or
 * for an animation.
 */
void plan_load(const struct geom_plan *g, enum imgtype src, bool trim, bool animated,
               struct plan_load *l);

/* Whether EXIF orientation, rotate or flips apply: those steps work on a memory copy. */
bool plan_orients(const struct geom_plan *g, const struct procopts *po);

/*
 * Whether orientation runs first, on the decoded image: only before a smart
 * crop, which looks at the oriented picture. Otherwise the crop and the scale
 * work in the stored orientation and the scaled image is turned (imgproxy's
 * order: crop, scale, rotate and flip).
 */
bool plan_orients_first(const struct geom_plan *g, const struct procopts *po);

/* Whether the orientation steps turn the image by an odd number of quarter turns. */
bool plan_swaps_sides(const struct geom_plan *g);

/*
 * Maps the rectangle r (left, top, width, height) of the oriented image of
 * size ow x oh to the same pixels of the image in its stored orientation,
 * undoing the orientation steps (EXIF rotation and flip, rotate, flips) in
 * reverse order.
 */
void plan_unorient_rect(const struct geom_plan *g, const struct procopts *po, int ow, int oh,
                        int r[4]);

/* The gravity of the crop before scaling: crop's own, else the resize gravity. */
struct gravity plan_crop_gravity(const struct procopts *po);

/* Whether a smart crop before scaling runs (it works on a memory copy). */
bool plan_smart_crop(const struct geom_plan *g, const struct procopts *po);

/* Whether a smart crop of the scaled result runs (it works on a memory copy). */
bool plan_smart_result_crop(const struct geom_plan *g, const struct procopts *po);

/* Whether the plan adds padding on any side. */
bool plan_padded(const struct geom_plan *g);

#endif

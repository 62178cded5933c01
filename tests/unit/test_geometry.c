/* test_geometry.c: imgproxy's sizing and position math, as tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "geometry.h"
#include "options.h"
#include "plan.h"
#include "testutil.h"

static int group_setup(void **state)
{
    (void)state;
    return tu_load_default_cfg();
}

static int group_teardown(void **state)
{
    (void)state;
    config_release(&cfg);
    return 0;
}

/* ---- rounding ---- */

static void test_round(void **state)
{
    (void)state;
    /* Go math.Round: half away from zero. */
    assert_int_equal(geom_round(0.0), 0);
    assert_int_equal(geom_round(0.5), 1);
    assert_int_equal(geom_round(1.5), 2);
    assert_int_equal(geom_round(2.5), 3);
    assert_int_equal(geom_round(187.5), 188);
    assert_int_equal(geom_round(2.4999), 2);
    assert_int_equal(geom_round(2.5001), 3);
    assert_int_equal(geom_round(-0.5), -1);
    assert_int_equal(geom_round(-2.5), -3);
    assert_int_equal(geom_round(-2.4), -2);
    /* The largest double below 0.5: floor(x + 0.5) would wrongly give 1. */
    assert_int_equal(geom_round(0.49999999999999994), 0);
    assert_int_equal(geom_round(-0.49999999999999994), 0);
}

static void test_round_to_even(void **state)
{
    (void)state;
    /* Go math.RoundToEven: ties to the even neighbour. */
    assert_int_equal(geom_round_to_even(0.5), 0);
    assert_int_equal(geom_round_to_even(1.5), 2);
    assert_int_equal(geom_round_to_even(2.5), 2);
    assert_int_equal(geom_round_to_even(3.5), 4);
    assert_int_equal(geom_round_to_even(100.5), 100);
    assert_int_equal(geom_round_to_even(75.5), 76);
    assert_int_equal(geom_round_to_even(-0.5), 0);
    assert_int_equal(geom_round_to_even(-1.5), -2);
    assert_int_equal(geom_round_to_even(-2.5), -2);
    assert_int_equal(geom_round_to_even(2.6), 3);
    assert_int_equal(geom_round_to_even(2.4), 2);
    assert_int_equal(geom_round_to_even(7.0), 7);
}

static void test_scale_shrink(void **state)
{
    (void)state;
    /* imath.Scale = round(a * scale), imath.Shrink = round(a / shrink), half away from zero. */
    assert_int_equal(geom_scale(300, 2.0), 600);
    assert_int_equal(geom_scale(5, 0.5), 3);                 /* 2.5 -> 3 */
    assert_int_equal(geom_scale(1400, 300.0 / 2240.0), 188); /* 187.5 -> 188 */
    assert_int_equal(geom_scale(0, 3.0), 0);
    assert_int_equal(geom_scale(100, 1.0 / 3.0), 33);
    assert_int_equal(geom_shrink(2240, 7.0), 320);
    assert_int_equal(geom_shrink(5, 2.0), 3); /* 2.5 -> 3 */
    assert_int_equal(geom_shrink(7, 2.0), 4); /* 3.5 -> 4 */
    assert_int_equal(geom_shrink(100, 3.0), 33);
}

static void test_crop_size(void **state)
{
    (void)state;
    /* 0 -> 0, >= 1 -> (int)c, else max(1, round(orig * c)). */
    assert_int_equal(geom_crop_size(2240, 0.0), 0);
    assert_int_equal(geom_crop_size(2240, 1.0), 1);
    assert_int_equal(geom_crop_size(2240, 1000.0), 1000);
    assert_int_equal(geom_crop_size(2240, 1000.7), 1000); /* truncated, not rounded */
    assert_int_equal(geom_crop_size(2240, 3000.0), 3000);
    assert_int_equal(geom_crop_size(2240, 0.5), 1120);
    assert_int_equal(geom_crop_size(1400, 0.25), 350);
    assert_int_equal(geom_crop_size(5, 0.5), 3); /* 2.5 -> 3 */
    assert_int_equal(geom_crop_size(3, 0.1), 1); /* round(0.3) = 0 -> at least 1 */
}

/* ---- geom_plan ---- */

struct plan_want {
    int src_w, src_h;   /* oriented */
    int crop_w, crop_h; /* NC = not checked */
    int scaled_w, scaled_h;
    int rcrop_w, rcrop_h; /* effective result crop: min_nonzero(result_crop, scaled) */
    int out_w, out_h;
};

struct plan_case {
    const char *why;    /* the arithmetic */
    int sw, sh, orient; /* stored source size, EXIF orientation (0 = 1) */
    int rot;            /* the rotate option */
    bool vector;
    enum resize_type rt;
    int w, h;
    bool el, ex;
    double dpr, zw, zh; /* 0 = default 1 */
    int mw, mh;
    double cw, ch;
    struct plan_want want;
};

#define NC -1

/* clang-format off */
static const struct plan_case plan_cases[] = {
    /* -- fit -- */
    {.why = "fit 300x300 on 2240x1400: ws=2240/300=7.467 hs=1400/300=4.667, fit max=7.467; scaled "
             "2240/7.467=300, 1400/7.467=187.5 -> 188 (half away); target 300x300, crop keeps "
             "300x188",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300,
     .want = {2240, 1400, 0, 0, 300, 188, 300, 188, 300, 188}},
    {.why = "fit 300x300 on 1400x2240: ws=4.667 hs=7.467, max=7.467 -> 187.5->188 x 300",
     .sw = 1400, .sh = 2240, .rt = RT_FIT, .w = 300, .h = 300,
     .want = {1400, 2240, 0, 0, 188, 300, 188, 300, 188, 300}},
    {.why = "fit 300x300 on 4272x2848: ws=14.24 hs=9.493, max 14.24 -> 300 x 2848/14.24=200",
     .sw = 4272, .sh = 2848, .rt = RT_FIT, .w = 300, .h = 300,
     .want = {4272, 2848, 0, 0, 300, 200, 300, 200, 300, 200}},
    {.why = "fit 300x0 on 2240x1400: h=0 -> hs=ws=7.467 -> 300x188; target h 0 = no crop",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300,
     .want = {2240, 1400, 0, 0, 300, 188, 300, 188, 300, 188}},
    {.why = "fit 0x300 on 2240x1400: w=0 -> ws=hs=4.667 -> 2240/4.667=480 x 300",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .h = 300,
     .want = {2240, 1400, 0, 0, 480, 300, 480, 300, 480, 300}},
    {.why = "fit 0x0 on 2240x1400: both shrinks 1, nothing changes",
     .sw = 2240, .sh = 1400, .rt = RT_FIT,
     .want = {2240, 1400, 0, 0, 2240, 1400, 2240, 1400, 2240, 1400}},
    {.why = "fit 300x300 on 100x100, no enlarge: ws=hs=1/3 < 1 -> divided by 1/3 = 1; 100x100, "
             "crop 300x300 clamps to 100x100",
     .sw = 100, .sh = 100, .rt = RT_FIT, .w = 300, .h = 300,
     .want = {100, 100, 0, 0, 100, 100, 100, 100, 100, 100}},
    {.why = "fit 300x300 on 100x100, enlarge: ws=hs=1/3 -> scale 3 -> 300x300",
     .sw = 100, .sh = 100, .rt = RT_FIT, .w = 300, .h = 300, .el = true,
     .want = {100, 100, 0, 0, 300, 300, 300, 300, 300, 300}},
    {.why = "fit 300x300 on 100x100 vector, no enlarge: the enlarge rule skips vectors -> 300x300",
     .sw = 100, .sh = 100, .vector = true, .rt = RT_FIT, .w = 300, .h = 300,
     .want = {100, 100, 0, 0, 300, 300, 300, 300, 300, 300}},
    {.why = "fit 1x0 on 2240x1400: ws=hs=2240; clamp hs <= srcH=1400 -> 2240/2240=1, 1400/1400=1",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 1,
     .want = {2240, 1400, 0, 0, 1, 1, 1, 1, 1, 1}},
    /* -- fill / fill-down -- */
    {.why = "fill 300x200 on 2240x1400: ws=7.467 hs=7, fill min=7 -> 320x200; crop to 300x200",
     .sw = 2240, .sh = 1400, .rt = RT_FILL, .w = 300, .h = 200,
     .want = {2240, 1400, 0, 0, 320, 200, 300, 200, 300, 200}},
    {.why = "fill 300x300 on 1400x2240: ws=4.667 hs=7.467, min 4.667 -> 300x480 -> crop 300x300",
     .sw = 1400, .sh = 2240, .rt = RT_FILL, .w = 300, .h = 300,
     .want = {1400, 2240, 0, 0, 300, 480, 300, 300, 300, 300}},
    {.why = "fill 300x300 on 4272x2848: ws=14.24 hs=9.493, min -> 4272/9.493=450 x 300 -> 300x300",
     .sw = 4272, .sh = 2848, .rt = RT_FILL, .w = 300, .h = 300,
     .want = {4272, 2848, 0, 0, 450, 300, 300, 300, 300, 300}},
    {.why = "fill 300x0 on 2240x1400: h=0 -> hs=ws -> 300x188 like fit",
     .sw = 2240, .sh = 1400, .rt = RT_FILL, .w = 300,
     .want = {2240, 1400, 0, 0, 300, 188, 300, 188, 300, 188}},
    {.why = "fill 400x200 on 100x100, no enlarge: ws=.25 hs=.5 min .25 -> /.25 = 1 -> 100x100; "
             "crop 400x200 clamps to 100x100",
     .sw = 100, .sh = 100, .rt = RT_FILL, .w = 400, .h = 200,
     .want = {100, 100, 0, 0, 100, 100, 100, 100, 100, 100}},
    {.why = "fill-down 400x200 on 100x100: scaled 100x100; diffW=4 > diffH=2 > 1 -> crop keeps "
             "the 2:1 target ratio: h = round(100 * 200/400) = 50 -> 100x50",
     .sw = 100, .sh = 100, .rt = RT_FILL_DOWN, .w = 400, .h = 200,
     .want = {100, 100, 0, 0, 100, 100, 100, 50, 100, 50}},
    {.why = "fill-down 200x400 on 100x100: diffH=4 > diffW=2 -> w = round(100 * 200/400) = 50 -> "
             "50x100",
     .sw = 100, .sh = 100, .rt = RT_FILL_DOWN, .w = 200, .h = 400,
     .want = {100, 100, 0, 0, 100, 100, 50, 100, 50, 100}},
    {.why = "fill-down 300x200 on 2240x1400: a downscale is plain fill -> 320x200 -> 300x200",
     .sw = 2240, .sh = 1400, .rt = RT_FILL_DOWN, .w = 300, .h = 200,
     .want = {2240, 1400, 0, 0, 320, 200, 300, 200, 300, 200}},
    {.why = "fill-down 400x200 on 100x100 with enlarge: fill-down's rule is off; ws=.25 -> "
             "400x400 -> crop 400x200",
     .sw = 100, .sh = 100, .rt = RT_FILL_DOWN, .w = 400, .h = 200, .el = true,
     .want = {100, 100, 0, 0, 400, 400, 400, 200, 400, 200}},
    /* -- force -- */
    {.why = "force 300x200 on 2240x1400: ws=7.467 hs=7 independent -> 300x200",
     .sw = 2240, .sh = 1400, .rt = RT_FORCE, .w = 300, .h = 200,
     .want = {2240, 1400, 0, 0, 300, 200, 300, 200, 300, 200}},
    {.why = "force 300x0 on 2240x1400: h=0 keeps the source height (hs=1) -> 300x1400",
     .sw = 2240, .sh = 1400, .rt = RT_FORCE, .w = 300,
     .want = {2240, 1400, 0, 0, 300, 1400, 300, 1400, 300, 1400}},
    {.why = "force 0x200 on 2240x1400: ws=1, hs=7 -> 2240x200",
     .sw = 2240, .sh = 1400, .rt = RT_FORCE, .h = 200,
     .want = {2240, 1400, 0, 0, 2240, 200, 2240, 200, 2240, 200}},
    /* -- auto -- */
    {.why = "auto 300x200 on 2240x1400: both landscape -> fill -> 320x200 -> 300x200",
     .sw = 2240, .sh = 1400, .rt = RT_AUTO, .w = 300, .h = 200,
     .want = {2240, 1400, 0, 0, 320, 200, 300, 200, 300, 200}},
    {.why = "auto 200x300 on 2240x1400: orientations differ -> fit: ws=11.2 hs=4.667 max -> "
             "200x125",
     .sw = 2240, .sh = 1400, .rt = RT_AUTO, .w = 200, .h = 300,
     .want = {2240, 1400, 0, 0, 200, 125, 200, 125, 200, 125}},
    {.why = "auto 200x300 on 1400x2240: both portrait -> fill: ws=7 hs=7.467 min 7 -> 200x320 -> "
             "200x300",
     .sw = 1400, .sh = 2240, .rt = RT_AUTO, .w = 200, .h = 300,
     .want = {1400, 2240, 0, 0, 200, 320, 200, 300, 200, 300}},
    /* -- extend -- */
    {.why = "fit 300x300 on 100x100, extend, no enlarge: 100x100 embedded in the 300x300 target",
     .sw = 100, .sh = 100, .rt = RT_FIT, .w = 300, .h = 300, .ex = true,
     .want = {100, 100, 0, 0, 100, 100, 100, 100, 300, 300}},
    {.why = "fit 300x300 on 2240x1400, extend: 300x188 extended to 300x300",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .ex = true,
     .want = {2240, 1400, 0, 0, 300, 188, 300, 188, 300, 300}},
    {.why = "fill 300x200 on 2240x1400, extend: the result already is 300x200, nothing to extend",
     .sw = 2240, .sh = 1400, .rt = RT_FILL, .w = 300, .h = 200, .ex = true,
     .want = {2240, 1400, 0, 0, 320, 200, 300, 200, 300, 200}},
    /* -- dpr -- */
    {.why = "fit 300x300 dpr 2 on 2240x1400: ws=7.467, dprScale=min(2, 7.467)=2 -> ws=3.733 -> "
             "600x375; target 600x600",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .dpr = 2,
     .want = {2240, 1400, 0, 0, 600, 375, 600, 375, 600, 375}},
    {.why = "fit 300x300 dpr 2 on 100x100, no enlarge: shrinks -> 1, dprScale=min(2*3, 1)=1 -> "
             "100x100",
     .sw = 100, .sh = 100, .rt = RT_FIT, .w = 300, .h = 300, .dpr = 2,
     .want = {100, 100, 0, 0, 100, 100, 100, 100, 100, 100}},
    {.why = "fit 300x300 dpr 2 on 100x100, enlarge: ws=1/3 / 2 = 1/6 -> 600x600",
     .sw = 100, .sh = 100, .rt = RT_FIT, .w = 300, .h = 300, .el = true, .dpr = 2,
     .want = {100, 100, 0, 0, 600, 600, 600, 600, 600, 600}},
    {.why = "fit 300x300 dpr 2 on 400x400, no enlarge: ws=1.333 >= 1, dprScale=min(2, "
             "1.333)=1.333 -> ws=1 -> 400x400 (dpr never enlarges); target round(300*1.333)=400",
     .sw = 400, .sh = 400, .rt = RT_FIT, .w = 300, .h = 300, .dpr = 2,
     .want = {400, 400, 0, 0, 400, 400, 400, 400, 400, 400}},
    /* -- zoom -- */
    {.why = "fit 300x300 zoom 0.5 on 2240x1400: ws=7.467/0.5=14.933 -> 150 x 93.75->94; target "
             "150x150",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .zw = 0.5, .zh = 0.5,
     .want = {2240, 1400, 0, 0, 150, 94, 150, 94, 150, 94}},
    {.why = "fit 300x300 zoom 2 on 2240x1400: ws=3.733 -> 600x375; target 600x600",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .zw = 2, .zh = 2,
     .want = {2240, 1400, 0, 0, 600, 375, 600, 375, 600, 375}},
    {.why = "fit 300x300 zoom 2:1 on 2240x1400: ws=7.467/2=3.733 -> 600, hs=7.467 -> 187.5->188",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .zw = 2, .zh = 1,
     .want = {2240, 1400, 0, 0, 600, 188, 600, 188, 600, 188}},
    /* -- min-width / min-height -- */
    {.why = "fit 300x300 mw 400 on 2240x1400: 2240/400=5.6 < 7.467 -> both 5.6 -> 400x250; the "
             "crop to width 300 gives 300x250",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .mw = 400,
     .want = {2240, 1400, 0, 0, 400, 250, 300, 250, 300, 250}},
    {.why = "fit 300x0 mh 300 on 2240x1400: hs=ws=7.467; 1400/300=4.667 < 7.467 -> both 4.667 -> "
             "480x300; crop to width 300 -> 300x300",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .mh = 300,
     .want = {2240, 1400, 0, 0, 480, 300, 300, 300, 300, 300}},
    {.why = "fit 300x300 mw 200 on 2240x1400: 2240/200=11.2 is not < 7.467, no change -> 300x188",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .mw = 200,
     .want = {2240, 1400, 0, 0, 300, 188, 300, 188, 300, 188}},
    /* -- crop (before resize) -- */
    {.why = "crop 1000x1000 then fit 300x300 on 2240x1400: 1000/300=3.333 both -> 300x300",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .cw = 1000, .ch = 1000,
     .want = {2240, 1400, 1000, 1000, 300, 300, 300, 300, 300, 300}},
    {.why = "crop 0.5x0.5 then fit 300x300 on 2240x1400: crop 1120x700, ws=3.733 hs=2.333 max -> "
             "300 x 187.5->188",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .cw = 0.5, .ch = 0.5,
     .want = {2240, 1400, 1120, 700, 300, 188, 300, 188, 300, 188}},
    {.why = "crop 0.5x0.25, no resize, on 2240x1400: crop 1120x350 -> out 1120x350",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .cw = 0.5, .ch = 0.25,
     .want = {2240, 1400, 1120, 350, 1120, 350, 1120, 350, 1120, 350}},
    {.why = "crop 3000 wide on 2240x1400: min_nonzero(3000, 2240) = 2240 is scaled -> fit 300x188",
     .sw = 2240, .sh = 1400, .rt = RT_FIT, .w = 300, .h = 300, .cw = 3000,
     .want = {2240, 1400, NC, 0, 300, 188, 300, 188, 300, 188}},
    {.why = "crop 0x700 (full width) then fill 300x300: 2240x700, ws=7.467 hs=2.333 min -> "
             "960x300 -> 300x300",
     .sw = 2240, .sh = 1400, .rt = RT_FILL, .w = 300, .h = 300, .ch = 700,
     .want = {2240, 1400, 0, 700, 960, 300, 300, 300, 300, 300}},
    /* -- EXIF orientation -- */
    {.why = "orientation 6 (90 deg) swaps 2240x1400 to 1400x2240; fit 300x300 -> 188x300",
     .sw = 2240, .sh = 1400, .orient = 6, .rt = RT_FIT, .w = 300, .h = 300,
     .want = {1400, 2240, 0, 0, 188, 300, 188, 300, 188, 300}},
    {.why = "orientation 6, fill 300x200: 1400x2240, ws=4.667 hs=11.2 min 4.667 -> 300x480 -> "
             "300x200",
     .sw = 2240, .sh = 1400, .orient = 6, .rt = RT_FILL, .w = 300, .h = 200,
     .want = {1400, 2240, 0, 0, 300, 480, 300, 200, 300, 200}},
    {.why = "orientation 8 (270 deg) swaps too",
     .sw = 2240, .sh = 1400, .orient = 8, .rt = RT_FIT, .w = 300, .h = 300,
     .want = {1400, 2240, 0, 0, 188, 300, 188, 300, 188, 300}},
    {.why = "orientation 3 (180 deg) keeps 2240x1400",
     .sw = 2240, .sh = 1400, .orient = 3, .rt = RT_FIT, .w = 300, .h = 300,
     .want = {2240, 1400, 0, 0, 300, 188, 300, 188, 300, 188}},
    {.why = "orientation 9 is invalid and means 1",
     .sw = 2240, .sh = 1400, .orient = 9, .rt = RT_FIT, .w = 300, .h = 300,
     .want = {2240, 1400, 0, 0, 300, 188, 300, 188, 300, 188}},
    {.why = "orientation 6, crop 0.5x0.25 is taken of the oriented 1400x2240: 700x560",
     .sw = 2240, .sh = 1400, .orient = 6, .rt = RT_FIT, .cw = 0.5, .ch = 0.25,
     .want = {1400, 2240, 700, 560, 700, 560, 700, 560, 700, 560}},
    /* -- the rotate option -- */
    {.why = "rotate 90 swaps the sides like an EXIF rotation",
     .sw = 2240, .sh = 1400, .rot = 90, .rt = RT_FIT,
     .want = {1400, 2240, 0, 0, 1400, 2240, 1400, 2240, 1400, 2240}},
    {.why = "EXIF 6 (90) + rotate 90 = 180: no swap",
     .sw = 2240, .sh = 1400, .orient = 6, .rot = 90, .rt = RT_FIT,
     .want = {2240, 1400, 0, 0, 2240, 1400, 2240, 1400, 2240, 1400}},
    {.why = "rotate 180: no swap",
     .sw = 2240, .sh = 1400, .rot = 180, .rt = RT_FIT,
     .want = {2240, 1400, 0, 0, 2240, 1400, 2240, 1400, 2240, 1400}},
    /* -- never 0 -- */
    {.why = "force 1x1 on 5000x1: every size at least 1",
     .sw = 5000, .sh = 1, .rt = RT_FORCE, .w = 1, .h = 1,
     .want = {5000, 1, 0, 0, 1, 1, 1, 1, 1, 1}},
    {.why = "fit width 1 on 10000x3: ws=hs=10000, 3/10000 clamped to 1 -> 1x1",
     .sw = 10000, .sh = 3, .rt = RT_FIT, .w = 1,
     .want = {10000, 3, 0, 0, 1, 1, 1, 1, 1, 1}},
};
/* clang-format on */

static int min_nonzero(int a, int b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

static void make_opts(struct procopts *po, const struct plan_case *c)
{
    options_init(po);
    po->auto_rotate = true;
    po->rotate = c->rot;
    po->resizing_type = c->rt;
    po->width = c->w;
    po->height = c->h;
    po->enlarge = c->el;
    po->extend = c->ex;
    po->dpr = c->dpr > 0 ? c->dpr : 1.0;
    po->zoom_w = c->zw > 0 ? c->zw : 1.0;
    po->zoom_h = c->zh > 0 ? c->zh : 1.0;
    po->min_width = c->mw;
    po->min_height = c->mh;
    po->crop_w = c->cw;
    po->crop_h = c->ch;
}

#define CHECK(field, want)                                                                         \
    do {                                                                                           \
        if ((field) != (want)) {                                                                   \
            print_error("row %zu (%s):\n  %s = %d, want %d\n", i, c->why, #field, (int)(field),    \
                        (int)(want));                                                              \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void test_plan_table(void **state)
{
    int failures = 0;

    (void)state;
    for (size_t i = 0; i < sizeof plan_cases / sizeof plan_cases[0]; i++) {
        const struct plan_case *c = &plan_cases[i];
        struct procopts po;
        struct geom_plan p;

        make_opts(&po, c);
        memset(&p, 0x5a, sizeof p);
        geom_plan(&p, c->sw, c->sh, c->orient ? c->orient : 1, c->vector, &po);

        CHECK(p.src_w, c->want.src_w);
        CHECK(p.src_h, c->want.src_h);
        if (c->want.crop_w != NC)
            CHECK(p.crop_w, c->want.crop_w);
        if (c->want.crop_h != NC)
            CHECK(p.crop_h, c->want.crop_h);
        CHECK(p.scaled_w, c->want.scaled_w);
        CHECK(p.scaled_h, c->want.scaled_h);
        CHECK(min_nonzero(p.result_crop_w, p.scaled_w), c->want.rcrop_w);
        CHECK(min_nonzero(p.result_crop_h, p.scaled_h), c->want.rcrop_h);
        CHECK(p.out_w, c->want.out_w);
        CHECK(p.out_h, c->want.out_h);
    }
    if (failures)
        fail_msg("%d geom_plan mismatches", failures);
}

static void test_plan_targets_and_scales(void **state)
{
    struct procopts po;
    struct geom_plan p;

    (void)state;
    /* Extend target = round(req * dprScale * zoom) (§2.1). */
    options_init(&po);
    po.width = 300;
    po.height = 300;
    po.extend = true;
    po.dpr = 2;
    geom_plan(&p, 2240, 1400, 1, false, &po);
    assert_int_equal(p.target_w, 600);
    assert_int_equal(p.target_h, 600);
    TU_ASSERT_NEAR(p.dpr_scale, 2.0);
    /* wscale = 1 / (7.4667 / 2) = 600 / 2240. */
    assert_true(tu_near(p.wscale, 600.0 / 2240.0, 1e-9));
    assert_true(tu_near(p.hscale, 600.0 / 2240.0, 1e-9));
    assert_int_equal(p.out_w, 600);
    assert_int_equal(p.out_h, 600);

    /* dpr 2 on 400x400 without enlarge: dprScale capped at min shrink 4/3. */
    options_init(&po);
    po.width = 300;
    po.height = 300;
    po.extend = true;
    po.dpr = 2;
    geom_plan(&p, 400, 400, 1, false, &po);
    assert_true(tu_near(p.dpr_scale, 4.0 / 3.0, 1e-9));
    assert_int_equal(p.target_w, 400);
    assert_int_equal(p.scaled_w, 400);
    assert_int_equal(p.out_w, 400);

    /* Force keeps independent scales. */
    options_init(&po);
    po.resizing_type = RT_FORCE;
    po.width = 300;
    po.height = 200;
    geom_plan(&p, 2240, 1400, 1, false, &po);
    assert_true(tu_near(p.wscale, 300.0 / 2240.0, 1e-9));
    assert_true(tu_near(p.hscale, 200.0 / 1400.0, 1e-9));
}

static void test_plan_orientation(void **state)
{
    /* EXIF orientation -> clockwise angle and flip (imgproxy extractMeta). */
    static const struct {
        int orient, angle;
        bool flip, swap;
    } cases[] = {
        {1, 0, false, false}, {2, 0, true, false},  {3, 180, false, false}, {4, 180, true, false},
        {5, 90, true, true},  {6, 90, false, true}, {7, 270, true, true},   {8, 270, false, true},
    };
    struct procopts po;
    struct geom_plan p;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        options_init(&po);
        po.auto_rotate = true;
        geom_plan(&p, 300, 200, cases[i].orient, false, &po);
        if (p.angle != cases[i].angle || p.flip != cases[i].flip)
            fail_msg("orientation %d: angle %d flip %d, want %d %d", cases[i].orient, p.angle,
                     p.flip, cases[i].angle, cases[i].flip);
        assert_int_equal(p.src_w, cases[i].swap ? 200 : 300);
        assert_int_equal(p.src_h, cases[i].swap ? 300 : 200);
        assert_int_equal(p.out_w, cases[i].swap ? 200 : 300);
        assert_int_equal(p.out_h, cases[i].swap ? 300 : 200);
    }

    /* auto_rotate off: orientation is ignored. */
    options_init(&po);
    po.auto_rotate = false;
    geom_plan(&p, 300, 200, 6, false, &po);
    assert_int_equal(p.angle, 0);
    assert_false(p.flip);
    assert_int_equal(p.src_w, 300);
    assert_int_equal(p.src_h, 200);
}

/* ---- plan_unorient_rect: against turning and flipping a grid of numbered pixels ---- */

#define GRID 8 /* the largest side of the test image */

struct grid {
    int w, h;
    int px[GRID][GRID]; /* [y][x] */
};

/* g turned clockwise by a quarter turns (vips_rot), or flipped (vips_flip). */
static void grid_turn(struct grid *g, int quarters)
{
    for (int q = 0; q < quarters; q++) {
        struct grid t = {.w = g->h, .h = g->w};

        for (int y = 0; y < g->h; y++)
            for (int x = 0; x < g->w; x++)
                t.px[x][g->h - 1 - y] = g->px[y][x];
        *g = t;
    }
}

static void grid_flip(struct grid *g, bool horizontal)
{
    struct grid t = *g;

    for (int y = 0; y < g->h; y++)
        for (int x = 0; x < g->w; x++)
            t.px[y][x] = horizontal ? g->px[y][g->w - 1 - x] : g->px[g->h - 1 - y][x];
    *g = t;
}

/*
 * A bit per pixel number in rectangle r of g (numbers are below 64): equal
 * sets of pixels give equal sums. stored_sum: the same for the unturned
 * image, whose pixel (x, y) is numbered y * GRID + x.
 */
static long stored_sum(const int r[4])
{
    long sum = 0;

    for (int y = r[1]; y < r[1] + r[3]; y++)
        for (int x = r[0]; x < r[0] + r[2]; x++)
            sum += 1L << (y * GRID + x);
    return sum;
}

static long grid_sum(const struct grid *g, const int r[4])
{
    long sum = 0;

    for (int y = r[1]; y < r[1] + r[3]; y++)
        for (int x = r[0]; x < r[0] + r[2]; x++)
            sum += 1L << g->px[y][x];
    return sum;
}

static void test_unorient_rect(void **state)
{
    static const int rotates[] = {0, 90, 180, 270};
    struct procopts po;
    struct geom_plan p;

    (void)state;
    for (int o = 1; o <= 8; o++)
        for (int ri = 0; ri < 4; ri++)
            for (int f = 0; f < 4; f++) {
                struct grid g = {.w = 7, .h = 5};
                int r[4] = {1, 2, 3, 2};
                long want;

                options_init(&po);
                po.auto_rotate = true;
                po.rotate = rotates[ri];
                po.flip_h = f & 1;
                po.flip_v = f & 2;
                geom_plan(&p, 7, 5, o, false, &po);
                for (int y = 0; y < g.h; y++)
                    for (int x = 0; x < g.w; x++)
                        g.px[y][x] = y * GRID + x;
                /* The pipeline's steps, in its order. */
                grid_turn(&g, p.angle / 90);
                if (p.flip)
                    grid_flip(&g, true);
                grid_turn(&g, p.rotate / 90);
                if (po.flip_h)
                    grid_flip(&g, true);
                if (po.flip_v)
                    grid_flip(&g, false);
                assert_int_equal(g.w, p.src_w);
                assert_int_equal(g.h, p.src_h);
                assert_int_equal(plan_swaps_sides(&p), g.w == 5);
                /* The oriented rectangle's pixels are those of the mapped stored one. */
                want = grid_sum(&g, r);
                plan_unorient_rect(&p, &po, g.w, g.h, r);
                if (stored_sum(r) != want)
                    fail_msg("orientation %d rotate %d flips %d: mapped to %d,%d %dx%d", o,
                             rotates[ri], f, r[0], r[1], r[2], r[3]);
            }
}

/* ---- geom_position ---- */

struct pos_case {
    enum gravity_type g;
    double x, y, dpr;
    bool overflow;
    int left, top;
};

/*
 * Outer 300x200, inner 100x50.
 * centre: left = RoundToEven((300-100+1)/2) = RoundToEven(100.5) = 100,
 *         top  = RoundToEven((200-50+1)/2)  = RoundToEven(75.5)  = 76.
 * edges:  east left = 300-100 = 200, south top = 200-50 = 150.
 */
static const struct pos_case pos_cases[] = {
    {GRAV_CENTER, 0, 0, 1, false, 100, 76},
    {GRAV_NORTH, 0, 0, 1, false, 100, 0},
    {GRAV_SOUTH, 0, 0, 1, false, 100, 150},
    {GRAV_EAST, 0, 0, 1, false, 200, 76},
    {GRAV_WEST, 0, 0, 1, false, 0, 76},
    {GRAV_NORTH_EAST, 0, 0, 1, false, 200, 0},
    {GRAV_NORTH_WEST, 0, 0, 1, false, 0, 0},
    {GRAV_SOUTH_EAST, 0, 0, 1, false, 200, 150},
    {GRAV_SOUTH_WEST, 0, 0, 1, false, 0, 150},
    /* Absolute offsets x=10 y=20: centre/north/west add, east/south subtract. */
    {GRAV_CENTER, 10, 20, 1, false, 110, 96},
    {GRAV_NORTH, 10, 20, 1, false, 110, 20},
    {GRAV_SOUTH, 10, 20, 1, false, 110, 130},
    {GRAV_EAST, 10, 20, 1, false, 190, 96},
    {GRAV_WEST, 10, 20, 1, false, 10, 96},
    {GRAV_NORTH_EAST, 10, 20, 1, false, 190, 20},
    {GRAV_NORTH_WEST, 10, 20, 1, false, 10, 20},
    {GRAV_SOUTH_EAST, 10, 20, 1, false, 190, 130},
    {GRAV_SOUTH_WEST, 10, 20, 1, false, 10, 130},
    /* Absolute offsets scale with dpr: 10*2 = 20, 20*2 = 40. */
    {GRAV_CENTER, 10, 20, 2, false, 120, 116},
    {GRAV_EAST, 10, 20, 2, false, 180, 116},
    {GRAV_SOUTH_WEST, 10, 20, 2, false, 20, 110},
    /* RoundToEven(x*dpr): 5.25*2 = 10.5 -> 10; 7.25*2 = 14.5 -> 14. */
    {GRAV_NORTH_WEST, 5.25, 7.25, 2, false, 10, 14},
    /* Negative absolute offsets. */
    {GRAV_CENTER, -10, -20, 1, false, 90, 56},
    /*
     * Relative offsets (|v| < 1) are fractions of the outer size, not scaled by dpr:
     * 0.1*300 = 30, 0.25*200 = 50.
     */
    {GRAV_CENTER, 0.1, 0.25, 1, false, 130, 126},
    {GRAV_CENTER, 0.1, 0.25, 2, false, 130, 126},
    {GRAV_SOUTH_EAST, 0.1, 0.25, 1, false, 170, 100},
    /* Focus point: RoundToEven(W*x) - w/2. 0.5 -> 150-50=100, 100-25=75. */
    {GRAV_FOCUS_POINT, 0.5, 0.5, 1, false, 100, 75},
    /* 0.25/0.75 -> 75-50=25, 150-25=125. */
    {GRAV_FOCUS_POINT, 0.25, 0.75, 1, false, 25, 125},
    /* dpr does not touch the focus point. */
    {GRAV_FOCUS_POINT, 0.25, 0.75, 3, false, 25, 125},
    /* 0/0 -> -50, -25 clamped to 0; 1/1 -> 250, 175 clamped to 200, 150. */
    {GRAV_FOCUS_POINT, 0, 0, 1, false, 0, 0},
    {GRAV_FOCUS_POINT, 1, 1, 1, false, 200, 150},
    /* With overflow allowed (watermarks) those stay. */
    {GRAV_FOCUS_POINT, 0, 0, 1, true, -50, -25},
    {GRAV_FOCUS_POINT, 1, 1, 1, true, 250, 175},
    /* Offsets past the edge: clamped to [0, W-w] x [0, H-h] ... */
    {GRAV_CENTER, 150, 100, 1, false, 200, 150},
    /* west: left -30 -> 0, top 76-40 = 36; east: left 200+30 = 230 -> 200, top 36. */
    {GRAV_WEST, -30, -40, 1, false, 0, 36},
    {GRAV_EAST, -30, -40, 1, false, 200, 36},
    /* ... unless overflow is allowed. */
    {GRAV_CENTER, 150, 100, 1, true, 250, 176},
    {GRAV_WEST, -30, -40, 1, true, -30, 36},
    {GRAV_EAST, -30, -40, 1, true, 230, 36},
};

static void test_position_table(void **state)
{
    int failures = 0;

    (void)state;
    for (size_t i = 0; i < sizeof pos_cases / sizeof pos_cases[0]; i++) {
        const struct pos_case *c = &pos_cases[i];
        struct gravity g = {c->g, c->x, c->y};
        int left = -9999, top = -9999;

        geom_position(300, 200, 100, 50, &g, c->dpr, c->overflow, &left, &top);
        if (left != c->left || top != c->top) {
            print_error("row %zu: gravity %s x=%g y=%g dpr=%g overflow=%d: (%d,%d), want (%d,%d)\n",
                        i, options_gravity_name(c->g), c->x, c->y, c->dpr, c->overflow, left, top,
                        c->left, c->top);
            failures++;
        }
    }
    if (failures)
        fail_msg("%d geom_position mismatches", failures);
}

static void test_position_round_to_even(void **state)
{
    struct gravity g = {GRAV_CENTER, 0, 0};
    int left, top;

    (void)state;
    /* (302-100+1)/2 = 101.5 -> 102; (201-50+1)/2 = 76 -> 76. */
    geom_position(302, 201, 100, 50, &g, 1, false, &left, &top);
    assert_int_equal(left, 102);
    assert_int_equal(top, 76);
    /* (304-100+1)/2 = 102.5 -> 102; (203-50+1)/2 = 77 -> 77. */
    geom_position(304, 203, 100, 50, &g, 1, false, &left, &top);
    assert_int_equal(left, 102);
    assert_int_equal(top, 77);
    /* Same size: 0, 0 (RoundToEven(0.5) = 0). */
    geom_position(100, 50, 100, 50, &g, 1, false, &left, &top);
    assert_int_equal(left, 0);
    assert_int_equal(top, 0);
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_round),
        T(test_round_to_even),
        T(test_scale_shrink),
        T(test_crop_size),
        T(test_plan_table),
        T(test_plan_targets_and_scales),
        T(test_plan_orientation),
        T(test_unorient_rect),
        T(test_position_table),
        T(test_position_round_to_even),
    };
    return cmocka_run_group_tests_name("geometry", tests, group_setup, group_teardown);
}

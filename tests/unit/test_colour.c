/* test_colour.c: rendering-intent names, which formats keep a profile, ICC import to sRGB. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "colour.h"
#include "testutil.h"

static void test_intent_names(void **state)
{
    static const struct {
        const char *s;
        int ret;
        VipsIntent want;
    } cases[] = {
        {"perceptual", 0, VIPS_INTENT_PERCEPTUAL},
        {"relative", 0, VIPS_INTENT_RELATIVE},
        {"saturation", 0, VIPS_INTENT_SATURATION},
        {"absolute", 0, VIPS_INTENT_ABSOLUTE},
        {"Relative", -1, 0},
        {"relativ", -1, 0},
        {"relative ", -1, 0},
        {"", -1, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].s);
        char *copy = tu_memdup(cases[i].s, n);
        VipsIntent got = VIPS_INTENT_ABSOLUTE;

        assert_int_equal(colour_intent_parse(copy, n, &got), cases[i].ret);
        if (cases[i].ret == 0)
            assert_int_equal(got, cases[i].want);
        free(copy);
    }
}

static void test_global_init(void **state)
{
    (void)state;
    assert_int_equal(colour_global_init("perceptual"), 0);
    assert_int_equal(colour_intent(), VIPS_INTENT_PERCEPTUAL);
    assert_int_equal(colour_global_init("sideways"), -1);
    assert_int_equal(colour_global_init(""), 0);
    assert_int_equal(colour_intent(), VIPS_INTENT_RELATIVE);
    assert_int_equal(colour_global_init(NULL), 0);
    assert_int_equal(colour_intent(), VIPS_INTENT_RELATIVE);
}

static void test_formats_keeping_profiles(void **state)
{
    static const enum imgtype keep[] = {IMGTYPE_JPEG, IMGTYPE_JXL,  IMGTYPE_PNG, IMGTYPE_WEBP,
                                        IMGTYPE_AVIF, IMGTYPE_HEIC, IMGTYPE_TIFF};
    static const enum imgtype drop[] = {IMGTYPE_GIF, IMGTYPE_BMP, IMGTYPE_ICO, IMGTYPE_SVG,
                                        IMGTYPE_UNKNOWN};

    (void)state;
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        assert_true(colour_format_keeps_profile(keep[i]));
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        assert_false(colour_format_keeps_profile(drop[i]));
}

/* An 8 x 8 image of n uchar bands, every pixel v, tagged as interpretation. */
static VipsImage *flat(int n, double v, VipsInterpretation interpretation)
{
    VipsImage *black = NULL, *lin = NULL, *cast = NULL, *out = NULL;

    assert_int_equal(vips_black(&black, 8, 8, "bands", n, NULL), 0);
    assert_int_equal(vips_linear1(black, &lin, 1.0, v, NULL), 0);
    assert_int_equal(vips_cast(lin, &cast, VIPS_FORMAT_UCHAR, NULL), 0);
    assert_int_equal(vips_copy(cast, &out, "interpretation", interpretation, NULL), 0);
    g_object_unref(black);
    g_object_unref(lin);
    g_object_unref(cast);
    return out;
}

static double band_avg(VipsImage *img, int band)
{
    VipsImage *b = NULL;
    double avg = -1;

    assert_int_equal(vips_extract_band(img, &b, band, NULL), 0);
    assert_int_equal(vips_avg(b, &avg, NULL), 0);
    g_object_unref(b);
    return avg;
}

/*
 * CMYK without a profile goes through the fallback CMYK profile: no ink is
 * near white; full ink, which that profile's black point lifts to about
 * (33, 33, 44) without compensation, comes out at most 25 with it.
 */
static void test_cmyk_without_profile(void **state)
{
    VipsImage *paper = flat(4, 0, VIPS_INTERPRETATION_CMYK);
    VipsImage *ink = flat(4, 255, VIPS_INTERPRETATION_CMYK);
    VipsImage *out = NULL;

    (void)state;
    assert_int_equal(colour_global_init("relative"), 0);
    assert_int_equal(colour_import_srgb(paper, &out), 0);
    assert_int_equal(vips_image_get_bands(out), 3);
    assert_int_equal(vips_image_get_format(out), VIPS_FORMAT_UCHAR);
    for (int b = 0; b < 3; b++)
        assert_true(band_avg(out, b) > 235);
    assert_true(vips_image_get_typeof(out, VIPS_META_ICC_NAME) != 0);
    g_object_unref(out);
    assert_int_equal(colour_import_srgb(ink, &out), 0);
    for (int b = 0; b < 3; b++)
        assert_true(band_avg(out, b) <= 25);
    g_object_unref(out);
    g_object_unref(paper);
    g_object_unref(ink);
}

/*
 * The configured intent reaches the transform: absolute colorimetric keeps
 * the fallback profile's paper white (not mapped to sRGB white), so a cyan
 * patch comes out darker than with relative colorimetric.
 */
static void test_intent_is_used(void **state)
{
    VipsImage *black = NULL, *patch = NULL, *cmyk = NULL, *rel = NULL, *abs_ = NULL;
    double ink[4] = {200, 30, 10, 0}, ones[4] = {1, 1, 1, 1};

    (void)state;
    assert_int_equal(vips_black(&black, 8, 8, "bands", 4, NULL), 0);
    assert_int_equal(vips_linear(black, &patch, ones, ink, 4, "uchar", TRUE, NULL), 0);
    assert_int_equal(vips_copy(patch, &cmyk, "interpretation", VIPS_INTERPRETATION_CMYK, NULL), 0);
    assert_int_equal(colour_global_init("relative"), 0);
    assert_int_equal(colour_import_srgb(cmyk, &rel), 0);
    assert_int_equal(colour_global_init("absolute"), 0);
    assert_int_equal(colour_import_srgb(cmyk, &abs_), 0);
    assert_int_equal(colour_global_init("relative"), 0);
    assert_true(band_avg(abs_, 1) < band_avg(rel, 1) - 2);
    assert_true(band_avg(abs_, 2) < band_avg(rel, 2) - 2);
    g_object_unref(abs_);
    g_object_unref(rel);
    g_object_unref(cmyk);
    g_object_unref(patch);
    g_object_unref(black);
}

/*
 * A profile that does not fit the pixels (a CMYK profile on 3 bands) is
 * ignored with a libvips warning: the fallback for the image's kind (sRGB
 * here) is used, so the pixels come out as they were.
 */
static void test_mismatched_profile_ignored(void **state)
{
    VipsImage *rgb = flat(3, 128, VIPS_INTERPRETATION_sRGB), *tagged = NULL, *out = NULL;
    VipsBlob *profile = NULL;
    const void *data;
    size_t len = 0;

    (void)state;
    assert_int_equal(vips_profile_load("cmyk", &profile, NULL), 0);
    data = vips_blob_get(profile, &len);
    assert_true(len > 0);
    assert_int_equal(vips_copy(rgb, &tagged, NULL), 0);
    vips_image_set_blob_copy(tagged, VIPS_META_ICC_NAME, data, len);
    assert_int_equal(colour_import_srgb(tagged, &out), 0);
    for (int b = 0; b < 3; b++)
        assert_true(band_avg(out, b) > 126 && band_avg(out, b) < 130);
    g_object_unref(out);
    vips_area_unref(VIPS_AREA(profile));
    g_object_unref(tagged);
    g_object_unref(rgb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intent_names),
        cmocka_unit_test(test_global_init),
        cmocka_unit_test(test_formats_keeping_profiles),
        cmocka_unit_test(test_cmyk_without_profile),
        cmocka_unit_test(test_intent_is_used),
        cmocka_unit_test(test_mismatched_profile_ignored),
    };

    return cmocka_run_group_tests(tests, tu_vips_setup, tu_vips_teardown);
}

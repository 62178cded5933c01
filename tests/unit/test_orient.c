/* test_orient.c: turns and flips written to memory against libvips' vips_rot and vips_flip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <vips/vips.h>

#include "deadline.h"
#include "orient.h"
#include "watch.h"
#include "testutil.h"

/* A w x h image of bands bands in fmt whose every pixel differs from its neighbours. */
static VipsImage *pattern(int w, int h, int bands, VipsBandFormat fmt)
{
    VipsImage *xyz = NULL, *band = NULL, *joined = NULL, *wrapped = NULL, *out = NULL;
    VipsImage *parts[8];
    int i;

    assert_true(bands <= 8);
    assert_int_equal(vips_xyz(&xyz, w, h, NULL), 0);
    for (i = 0; i < bands; i++) {
        /* (x * (7 + i) + y * (13 + 2i)) / 2: each band its own slope. */
        double a[2] = {7.0 + i, 13.0 + 2 * i}, c[2] = {0, 0};

        assert_int_equal(vips_linear(xyz, &band, a, c, 2, NULL), 0);
        assert_int_equal(vips_bandmean(band, &parts[i], NULL), 0);
        g_object_unref(band);
    }
    assert_int_equal(vips_bandjoin(parts, &joined, bands, NULL), 0);
    for (i = 0; i < bands; i++)
        g_object_unref(parts[i]);
    /* Wrapped below 251, so that no sample clips to a format's maximum. */
    assert_int_equal(vips_remainder_const1(joined, &wrapped, 251, NULL), 0);
    assert_int_equal(vips_cast(wrapped, &out, fmt, NULL), 0);
    g_object_unref(xyz);
    g_object_unref(joined);
    g_object_unref(wrapped);
    return out;
}

/* libvips' own: vips_rot by angle, then the flips (h: left-right, v: top-bottom). */
static VipsImage *reference(VipsImage *in, int angle, bool h, bool v)
{
    VipsImage *mem = vips_image_copy_memory(in), *t = NULL;

    assert_non_null(mem);
    if (angle != 0) {
        assert_int_equal(vips_rot(mem, &t, (VipsAngle)(angle / 90), NULL), 0);
        g_object_unref(mem);
        mem = t;
    }
    if (h) {
        assert_int_equal(vips_flip(mem, &t, VIPS_DIRECTION_HORIZONTAL, NULL), 0);
        g_object_unref(mem);
        mem = t;
    }
    if (v) {
        assert_int_equal(vips_flip(mem, &t, VIPS_DIRECTION_VERTICAL, NULL), 0);
        g_object_unref(mem);
        mem = t;
    }
    return mem;
}

/* Whether a and b have the same size, bands, format and every sample. */
static void assert_same_pixels(VipsImage *a, VipsImage *b)
{
    VipsImage *eq = NULL;
    double min = 0;

    assert_int_equal(vips_image_get_width(a), vips_image_get_width(b));
    assert_int_equal(vips_image_get_height(a), vips_image_get_height(b));
    assert_int_equal(vips_image_get_bands(a), vips_image_get_bands(b));
    assert_int_equal(vips_image_get_format(a), vips_image_get_format(b));
    assert_int_equal(vips_equal(a, b, &eq, NULL), 0);
    assert_int_equal(vips_min(eq, &min, NULL), 0);
    assert_true(min == 255.0);
    g_object_unref(eq);
}

/* Every turn with and without each flip, in pixel sizes 1 to 16 bytes, sizes not a multiple of a
 * block. */
static void test_matches_rot_and_flip(void **state)
{
    static const struct {
        int bands;
        VipsBandFormat fmt;
    } kinds[] = {
        {1, VIPS_FORMAT_UCHAR}, {2, VIPS_FORMAT_UCHAR},  {3, VIPS_FORMAT_UCHAR},
        {4, VIPS_FORMAT_UCHAR}, {3, VIPS_FORMAT_USHORT}, {4, VIPS_FORMAT_USHORT},
        {3, VIPS_FORMAT_FLOAT}, {4, VIPS_FORMAT_FLOAT},  {5, VIPS_FORMAT_UCHAR},
    };
    static const int sizes[][2] = {{37, 23}, {301, 170}};
    size_t k, s;
    int angle, flips;

    (void)state;
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            VipsImage *in = pattern(sizes[s][0], sizes[s][1], kinds[k].bands, kinds[k].fmt);

            for (angle = 0; angle < 360; angle += 90)
                for (flips = 0; flips < 4; flips++) {
                    bool h = flips & 1, v = flips & 2;
                    struct orient_map m;
                    VipsImage *want = reference(in, angle, h, v), *got;

                    orient_map_init(&m, sizes[s][0], sizes[s][1]);
                    orient_map_rotate(&m, angle);
                    if (h)
                        orient_map_flip(&m, true);
                    if (v)
                        orient_map_flip(&m, false);
                    assert_int_equal(orient_map_is_identity(&m),
                                     (angle == 0 && !h && !v) || (angle == 180 && h && v));
                    got = orient_to_memory(in, &m);
                    assert_non_null(got);
                    assert_same_pixels(got, want);
                    g_object_unref(got);
                    g_object_unref(want);
                }
            g_object_unref(in);
        }
}

/* Two steps of the same kind compose: EXIF 6 then rot:90 is a half turn; a flip twice is none. */
static void test_steps_compose(void **state)
{
    struct orient_map m, half;

    (void)state;
    orient_map_init(&m, 40, 30);
    orient_map_rotate(&m, 90);
    orient_map_rotate(&m, 90);
    orient_map_init(&half, 40, 30);
    orient_map_rotate(&half, 180);
    assert_memory_equal(&m, &half, sizeof(m));
    orient_map_init(&m, 40, 30);
    orient_map_flip(&m, true);
    orient_map_flip(&m, true);
    assert_true(orient_map_is_identity(&m));
    orient_map_rotate(&m, 270);
    assert_int_equal(m.w, 30);
    assert_int_equal(m.h, 40);
    orient_map_rotate(&m, 90);
    assert_true(orient_map_is_identity(&m));
}

/* A JPEG read sequentially (the way imgfcgi loads it) turns without reading out of order. */
static void test_sequential_source(void **state)
{
    VipsImage *src = pattern(640, 480, 3, VIPS_FORMAT_UCHAR), *seq = NULL, *rnd = NULL, *got, *want;
    void *jpeg = NULL;
    size_t len = 0;
    struct orient_map m;

    (void)state;
    assert_int_equal(vips_jpegsave_buffer(src, &jpeg, &len, "Q", 90, NULL), 0);
    seq = vips_image_new_from_buffer(jpeg, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    rnd = vips_image_new_from_buffer(jpeg, len, "", NULL);
    assert_non_null(seq);
    assert_non_null(rnd);
    vips_image_set_string(seq, "imgfcgi-test", "kept");
    orient_map_init(&m, 640, 480);
    orient_map_rotate(&m, 90);
    got = orient_to_memory(seq, &m);
    assert_non_null(got);
    want = reference(rnd, 90, false, false);
    assert_same_pixels(got, want);
    /* The metadata and resolution of the source, as vips_rot keeps them. */
    assert_true(vips_image_get_typeof(got, "imgfcgi-test") != 0);
    assert_true(vips_image_get_xres(got) == vips_image_get_xres(seq));
    g_object_unref(got);
    g_object_unref(want);
    g_object_unref(seq);
    g_object_unref(rnd);
    g_object_unref(src);
    g_free(jpeg);
}

/* A deadline stops the computation inside the write, and the watch goes on to the result. */
static void test_deadline_stops_it(void **state)
{
    struct watch w;
    struct deadline dl;
    VipsImage *noise = NULL, *blur = NULL, *small = NULL, *got, *slow = NULL;
    struct orient_map m;
    long long t0 = deadline_now_ms();

    (void)state;
    deadline_start(&dl, t0, 300);
    watch_init(&w, &dl);
    assert_int_equal(vips_gaussnoise(&noise, 3000, 2000, NULL), 0);
    watch_attach(&w, noise);
    assert_int_equal(vips_gaussblur(noise, &blur, 40, NULL), 0);
    orient_map_init(&m, 3000, 2000);
    orient_map_rotate(&m, 90);
    assert_null(orient_to_memory(blur, &m));
    assert_true(deadline_now_ms() - t0 < 1000);
    assert_int_equal(watch_reason(&w), WATCH_DEADLINE);
    vips_error_clear();
    g_object_unref(blur);

    /* Not stopped: the result carries the watch, so work made from it stops too. */
    watch_init(&w, NULL);
    assert_int_equal(vips_crop(noise, &small, 0, 0, 300, 200, NULL), 0);
    orient_map_init(&m, 300, 200);
    orient_map_rotate(&m, 270);
    got = orient_to_memory(small, &m);
    assert_non_null(got);
    assert_ptr_equal(watch_of(got), &w);
    watch_cancel(&w);
    assert_int_equal(vips_gaussblur(got, &slow, 40, NULL), 0);
    assert_null(watch_copy_memory(slow));
    assert_int_equal(watch_reason(&w), WATCH_CLIENT);
    vips_error_clear();
    g_object_unref(slow);
    g_object_unref(got);
    g_object_unref(small);
    g_object_unref(noise);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_rot_and_flip),
        cmocka_unit_test(test_steps_compose),
        cmocka_unit_test(test_sequential_source),
        cmocka_unit_test(test_deadline_stops_it),
    };

    return cmocka_run_group_tests(tests, tu_vips_setup, tu_vips_teardown);
}

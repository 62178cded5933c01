/* test_memimage.c: uncleared memory images against libvips' own memory copies. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <vips/vips.h>

#include "memimage.h"
#include "testutil.h"

/* A computed (not yet in memory) image: 3-band ushort noise, cropped so its edges are odd. */
static VipsImage *computed(void)
{
    VipsImage *noise = NULL, *bands = NULL, *cast = NULL, *out = NULL;

    assert_int_equal(vips_gaussnoise(&noise, 301, 203, "mean", 30000.0, "sigma", 9000.0, NULL), 0);
    assert_int_equal(vips_bandjoin_const1(noise, &bands, 7.0, NULL), 0);
    assert_int_equal(vips_cast_ushort(bands, &cast, NULL), 0);
    assert_int_equal(vips_crop(cast, &out, 3, 5, 291, 197, NULL), 0);
    vips_image_set_int(out, "memimage-test", 42);
    g_object_unref(noise);
    g_object_unref(bands);
    g_object_unref(cast);
    return out;
}

/* The copy has the pixels, header and metadata libvips' own copy has. */
static void test_copy_matches_libvips(void **state)
{
    VipsImage *in = computed(), *mine, *theirs;
    int v = 0;

    (void)state;
    assert_int_equal(in->dtype, VIPS_IMAGE_PARTIAL);
    mine = memimage_copy(in);
    theirs = vips_image_copy_memory(in);
    assert_non_null(mine);
    assert_non_null(theirs);
    assert_int_equal(mine->dtype, VIPS_IMAGE_SETBUF_FOREIGN);
    assert_int_equal(mine->Xsize, 291);
    assert_int_equal(mine->Ysize, 197);
    assert_int_equal(mine->Bands, 2);
    assert_int_equal(mine->BandFmt, VIPS_FORMAT_USHORT);
    assert_int_equal(mine->Type, theirs->Type);
    assert_int_equal(vips_image_get_int(mine, "memimage-test", &v), 0);
    assert_int_equal(v, 42);
    assert_memory_equal(mine->data, theirs->data, VIPS_IMAGE_SIZEOF_IMAGE(theirs));
    g_object_unref(theirs);
    g_object_unref(mine);
    g_object_unref(in);
}

/* An image already in memory is returned itself, as libvips does. */
static void test_copy_of_memory_is_itself(void **state)
{
    VipsImage *in = computed(), *mem = memimage_copy(in), *again;

    (void)state;
    assert_non_null(mem);
    again = memimage_copy(mem);
    assert_ptr_equal(again, mem);
    g_object_unref(again);
    g_object_unref(mem);
    g_object_unref(in);
}

/* A new image has like's bands and format at the asked size, and its pixels can be written. */
static void test_new(void **state)
{
    VipsImage *like = computed(), *img = memimage_new(like, 17, 9);
    double avg = 0;

    (void)state;
    assert_non_null(img);
    assert_int_equal(img->Xsize, 17);
    assert_int_equal(img->Ysize, 9);
    assert_int_equal(img->Bands, like->Bands);
    assert_int_equal(img->BandFmt, like->BandFmt);
    memset(img->data, 0, VIPS_IMAGE_SIZEOF_IMAGE(img));
    ((unsigned short *)img->data)[0] = 17 * 9 * 2;
    assert_int_equal(vips_avg(img, &avg, NULL), 0);
    assert_true(tu_near(avg, 1.0, 1e-9));
    g_object_unref(img);
    g_object_unref(like);
}

/* A size that overflows, or none, is an error before any allocation. */
static void test_bad_size(void **state)
{
    VipsImage *black = NULL, *like = NULL;

    (void)state;
    assert_int_equal(vips_black(&black, 1, 1, "bands", 4, NULL), 0);
    assert_int_equal(vips_cast_double(black, &like, NULL), 0);
    g_object_unref(black);
    vips_error_clear();
    assert_null(memimage_new(like, INT_MAX, INT_MAX)); /* 32 x ~2^62 bytes: past size_t */
    assert_non_null(strstr(vips_error_buffer(), "no such memory image"));
    vips_error_clear();
    assert_null(memimage_new(like, 0, 5));
    assert_null(memimage_new(like, 5, -1));
    vips_error_clear();
    g_object_unref(like);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_matches_libvips),
        cmocka_unit_test(test_copy_of_memory_is_itself),
        cmocka_unit_test(test_new),
        cmocka_unit_test(test_bad_size),
    };

    return cmocka_run_group_tests(tests, tu_vips_setup, tu_vips_teardown);
}

/* test_save_pdf: PDF results, a JPEG file embedded as it is in a one-page PDF by cairo. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "save_pdf.h"
#include "testutil.h"

#define W 64
#define H 32

/* A W x H JPEG: the left half red, the right half blue. Caller frees with g_free(). */
static void *two_colour_jpeg(size_t *len)
{
    unsigned char *px = malloc(W * H * 3);
    VipsImage *img;
    void *out = NULL;

    assert_non_null(px);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *p = px + (y * W + x) * 3;

            p[0] = x < W / 2 ? 220 : 20;
            p[1] = 30;
            p[2] = x < W / 2 ? 20 : 220;
        }
    img = vips_image_new_from_memory(px, W * H * 3, W, H, 3, VIPS_FORMAT_UCHAR);
    assert_non_null(img);
    assert_int_equal(vips_jpegsave_buffer(img, &out, len, "Q", 90, NULL), 0);
    g_object_unref(img);
    free(px);
    return out;
}

static int collect(void *ctx, const unsigned char *data, size_t len)
{
    g_byte_array_append(ctx, data, (guint)len);
    return 0;
}

static int refuse_after_100(void *ctx, const unsigned char *data, size_t len)
{
    size_t *seen = ctx;

    (void)data;
    *seen += len;
    return *seen > 100 ? -1 : 0;
}

static bool has(const GByteArray *a, const void *needle, size_t n)
{
    return memmem(a->data, a->len, needle, n) != NULL;
}

/* The JPEG's bytes are in the PDF as they are, on a W x H point page, as DCTDecode. */
static void test_jpeg_embedded_as_is(void **state)
{
    size_t len = 0;
    void *jpeg = two_colour_jpeg(&len);
    GByteArray *pdf = g_byte_array_new();
    const char *why = "unset";

    (void)state;
    assert_int_equal(save_pdf_jpeg(jpeg, len, W, H, collect, pdf, &why), 0);
    assert_null(why);
    assert_true(pdf->len > len);
    assert_memory_equal(pdf->data, "%PDF-", 5);
    assert_true(has(pdf, jpeg, len));
    assert_true(has(pdf, "/DCTDecode", 10));
    assert_true(has(pdf, "/MediaBox [ 0 0 64 32 ]", 23));
    assert_true(has(pdf, "/Width 64", 9));
    assert_true(has(pdf, "/Height 32", 10));
    g_byte_array_unref(pdf);
    g_free(jpeg);
}

/* poppler reads it back: one W x H page at 72 dpi, red left, blue right, as the JPEG decodes. */
static void test_page_decodes_like_the_jpeg(void **state)
{
    size_t len = 0;
    void *jpeg = two_colour_jpeg(&len);
    GByteArray *pdf = g_byte_array_new();
    VipsImage *page = NULL, *ref = NULL;
    const char *why = NULL;
    double *pv = NULL, *rv = NULL;
    int pn = 0, rn = 0;

    (void)state;
    assert_int_equal(save_pdf_jpeg(jpeg, len, W, H, collect, pdf, &why), 0);
    assert_int_equal(vips_pdfload_buffer(pdf->data, pdf->len, &page, NULL), 0);
    assert_int_equal(vips_image_get_width(page), W);
    assert_int_equal(vips_image_get_height(page), H);
    assert_int_equal(vips_image_get_int(page, "n-pages", &pn), 0);
    assert_int_equal(pn, 1);
    assert_int_equal(vips_jpegload_buffer(jpeg, len, &ref, NULL), 0);
    for (int x = 4; x < W; x += 8) {
        assert_int_equal(vips_getpoint(page, &pv, &pn, x, H / 2, NULL), 0);
        assert_int_equal(vips_getpoint(ref, &rv, &rn, x, H / 2, NULL), 0);
        for (int b = 0; b < 3; b++)
            assert_true(tu_near(pv[b], rv[b], 8));
        assert_true(x < W / 2 ? pv[0] > 180 && pv[2] < 60 : pv[2] > 180 && pv[0] < 60);
        g_free(pv);
        g_free(rv);
    }
    g_object_unref(page);
    g_object_unref(ref);
    g_byte_array_unref(pdf);
    g_free(jpeg);
}

/* A write that fails stops the document: -1 with a reason. */
static void test_failed_write(void **state)
{
    size_t len = 0, seen = 0;
    void *jpeg = two_colour_jpeg(&len);
    const char *why = NULL;

    (void)state;
    assert_int_equal(save_pdf_jpeg(jpeg, len, W, H, refuse_after_100, &seen, &why), -1);
    assert_non_null(why);
    g_free(jpeg);
}

/* No JPEG, or no size: nothing written. */
static void test_nothing_to_wrap(void **state)
{
    GByteArray *pdf = g_byte_array_new();
    const char *why = NULL;
    static const unsigned char byte = 0xff;

    (void)state;
    assert_int_equal(save_pdf_jpeg(NULL, 0, W, H, collect, pdf, &why), -1);
    assert_non_null(why);
    assert_int_equal(save_pdf_jpeg(&byte, 1, 0, H, collect, pdf, &why), -1);
    assert_int_equal(pdf->len, 0);
    g_byte_array_unref(pdf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_embedded_as_is),
        cmocka_unit_test(test_page_decodes_like_the_jpeg),
        cmocka_unit_test(test_failed_write),
        cmocka_unit_test(test_nothing_to_wrap),
    };

    return cmocka_run_group_tests(tests, tu_vips_setup, tu_vips_teardown);
}

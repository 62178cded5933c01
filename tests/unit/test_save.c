/*
 * test_save.c: per-format size limits (fixSize), the BMP and ICO encoders
 * decoded back, and the PNG row filter setting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "config.h"
#include "save.h"
#include "save_bmp_ico.h"
#include "testutil.h"

static void expect_fit(enum imgtype t, int w, int h, bool shrinks, int ew, int eh)
{
    int nw = -1, nh = -1;

    assert_int_equal(save_fit_limits(t, w, h, &nw, &nh), shrinks);
    assert_int_equal(nw, ew);
    assert_int_equal(nh, eh);
}

static void test_fit_limits(void **state)
{
    (void)state;
    expect_fit(IMGTYPE_WEBP, 16383, 100, false, 16383, 100);
    expect_fit(IMGTYPE_WEBP, 20000, 100, true, 16383, 82);
    expect_fit(IMGTYPE_WEBP, 100, 40000, true, 41, 16383);
    expect_fit(IMGTYPE_AVIF, 16384, 16384, false, 16384, 16384);
    expect_fit(IMGTYPE_AVIF, 20000, 10000, true, 16384, 8192);
    expect_fit(IMGTYPE_HEIC, 32768, 1, true, 16384, 1); /* never below 1 px */
    expect_fit(IMGTYPE_ICO, 256, 256, false, 256, 256);
    expect_fit(IMGTYPE_ICO, 512, 128, true, 256, 64);
    expect_fit(IMGTYPE_ICO, 300, 1, true, 256, 1);
    expect_fit(IMGTYPE_GIF, 65535, 100, false, 65535, 100);
    expect_fit(IMGTYPE_GIF, 70000, 100, true, 65535, 94);
    /* Area: INT_MAX / 4 = 536870911 px; 40000 x 40000 scales by sqrt(536870911 / 1.6e9). */
    expect_fit(IMGTYPE_GIF, 40000, 40000, true, 23170, 23170);
    expect_fit(IMGTYPE_JPEG, 70000, 70000, false, 70000, 70000);
    expect_fit(IMGTYPE_PNG, 100000, 10, false, 100000, 10);
    expect_fit(IMGTYPE_BMP, 100000, 10, false, 100000, 10);
}

/* A w x h sRGB image whose pixel (x, y) is (x * 40, y * 80, 200[, alpha 255 - x * 10]). */
static VipsImage *pattern(int w, int h, int bands)
{
    unsigned char *px = malloc((size_t)w * h * bands);
    VipsImage *m, *out = NULL;

    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + ((size_t)y * w + x) * bands;

            p[0] = (unsigned char)(x * 40);
            p[1] = (unsigned char)(y * 80);
            p[2] = 200;
            if (bands == 4)
                p[3] = (unsigned char)(255 - x * 10);
        }
    m = vips_image_new_from_memory_copy(px, (size_t)w * h * bands, w, h, bands, VIPS_FORMAT_UCHAR);
    free(px);
    assert_non_null(m);
    assert_int_equal(vips_copy(m, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
    g_object_unref(m);
    return out;
}

/* Runs saver on img into memory; returns the bytes (caller frees with g_free). */
static unsigned char *encode(int (*saver)(VipsImage *, VipsTarget *), VipsImage *img, size_t *len)
{
    VipsTarget *t = vips_target_new_to_memory();
    VipsBlob *blob = NULL;
    const void *d;
    unsigned char *copy;

    assert_non_null(t);
    if (saver(img, t) != 0 || vips_target_end(t) != 0)
        fail_msg("saver: %s", vips_error_buffer());
    g_object_get(t, "blob", &blob, NULL);
    assert_non_null(blob);
    d = vips_blob_get(blob, len);
    copy = g_memdup2(d, *len);
    vips_area_unref(VIPS_AREA(blob));
    g_object_unref(t);
    return copy;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned rd16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* Decodes with libvips' own loaders (ImageMagick for BMP and ICO, not blocked in this test). */
static VipsImage *decode(const unsigned char *d, size_t len)
{
    VipsImage *img = vips_image_new_from_buffer(d, len, "", NULL);
    VipsImage *mem;

    if (img == NULL) {
        vips_error_clear();
        return NULL;
    }
    mem = vips_image_copy_memory(img);
    g_object_unref(img);
    return mem;
}

static void pixel(VipsImage *img, int x, int y, double *out, int n)
{
    double *v = NULL;
    int nv = 0;

    assert_int_equal(vips_getpoint(img, &v, &nv, x, y, NULL), 0);
    assert_true(nv >= n);
    memcpy(out, v, sizeof(double) * (size_t)n);
    g_free(v);
}

static void test_bmp(void **state)
{
    VipsImage *img = pattern(5, 3, 4), *dec;
    size_t len = 0;
    unsigned char *b = encode(save_bmp, img, &len);

    (void)state;
    /* Headers: 5 px x 3 bytes = 15, padded to 16 per row. */
    assert_int_equal(len, 54 + 16 * 3);
    assert_memory_equal(b, "BM", 2);
    assert_int_equal(rd32(b + 2), len);
    assert_int_equal(rd32(b + 10), 54);
    assert_int_equal(rd32(b + 14), 40);
    assert_int_equal((int32_t)rd32(b + 18), 5);
    assert_int_equal((int32_t)rd32(b + 22), -3);
    assert_int_equal(rd16(b + 28), 24);
    assert_int_equal(rd32(b + 30), 0);
    /* Hand decode: top-down BGR rows, alpha dropped. */
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++) {
            const unsigned char *p = b + 54 + y * 16 + x * 3;

            assert_int_equal(p[2], x * 40);
            assert_int_equal(p[1], y * 80);
            assert_int_equal(p[0], 200);
        }
    /* An independent decoder agrees, when this libvips has one. */
    dec = decode(b, len);
    if (dec != NULL) {
        double v[3];

        assert_int_equal(vips_image_get_width(dec), 5);
        assert_int_equal(vips_image_get_height(dec), 3);
        pixel(dec, 4, 2, v, 3);
        assert_int_equal((int)v[0], 160);
        assert_int_equal((int)v[1], 160);
        assert_int_equal((int)v[2], 200);
        g_object_unref(dec);
    } else {
        print_message("no BMP loader in this libvips: hand decode only\n");
    }
    g_free(b);
    g_object_unref(img);
}

static void test_bmp_many_strips(void **state)
{
    VipsImage *img = pattern(301, 203, 3);
    size_t len = 0, stride = (301 * 3 + 3) & ~(size_t)3;
    unsigned char *b = encode(save_bmp, img, &len);

    (void)state;
    assert_int_equal(len, 54 + stride * 203);
    for (int y = 0; y < 203; y++)
        for (int x = 0; x < 301; x++) {
            const unsigned char *p = b + 54 + y * stride + x * 3;

            assert_int_equal(p[2], (unsigned char)(x * 40));
            assert_int_equal(p[1], (unsigned char)(y * 80));
            assert_int_equal(p[0], 200);
        }
    g_free(b);
    g_object_unref(img);
}

static void test_ico(void **state)
{
    VipsImage *img = pattern(20, 3, 4), *png, *dec;
    size_t len = 0;
    unsigned char *b = encode(save_ico, img, &len);
    double v[4];

    (void)state;
    assert_int_equal(rd16(b), 0);
    assert_int_equal(rd16(b + 2), 1);
    assert_int_equal(rd16(b + 4), 1);
    assert_int_equal(b[6], 20);
    assert_int_equal(b[7], 3);
    assert_int_equal(rd16(b + 12), 32);
    assert_int_equal(rd32(b + 14), len - 22);
    assert_int_equal(rd32(b + 18), 22);
    assert_memory_equal(b + 22, "\x89PNG", 4);
    /* The embedded PNG through libvips' PNG loader: pixels and alpha as drawn. */
    png = decode(b + 22, len - 22);
    assert_non_null(png);
    assert_int_equal(vips_image_get_width(png), 20);
    assert_int_equal(vips_image_get_bands(png), 4);
    pixel(png, 3, 2, v, 4);
    assert_int_equal((int)v[0], 120);
    assert_int_equal((int)v[1], 160);
    assert_int_equal((int)v[2], 200);
    assert_int_equal((int)v[3], 225);
    g_object_unref(png);
    dec = decode(b, len);
    if (dec != NULL) {
        assert_int_equal(vips_image_get_width(dec), 20);
        assert_int_equal(vips_image_get_height(dec), 3);
        g_object_unref(dec);
    } else {
        print_message("no ICO loader in this libvips: directory and PNG checked only\n");
    }
    g_free(b);
    g_object_unref(img);
}

static void test_ico_sizes(void **state)
{
    VipsImage *big = pattern(256, 256, 3), *too_big = pattern(257, 2, 3);
    VipsTarget *t = vips_target_new_to_memory();
    size_t len = 0;
    unsigned char *b = encode(save_ico, big, &len);

    (void)state;
    assert_int_equal(b[6], 0); /* 256 is written as 0 */
    assert_int_equal(b[7], 0);
    g_free(b);
    assert_int_equal(save_ico(too_big, t), -1);
    vips_error_clear();
    g_object_unref(t);
    g_object_unref(big);
    g_object_unref(too_big);
}

static void test_bmp_grey_source(void **state)
{
    VipsImage *g = NULL;
    size_t len = 0;
    unsigned char *b;

    (void)state;
    assert_int_equal(vips_black(&g, 3, 2, NULL), 0);
    b = encode(save_bmp, g, &len);
    assert_int_equal(len, 54 + 12 * 2);
    assert_int_equal(rd16(b + 28), 24);
    g_free(b);
    g_object_unref(g);
}

static int webp_saver(VipsImage *img, VipsTarget *t)
{
    return save_image(img, IMGTYPE_WEBP, 80, false, t);
}

static unsigned char *encode_webp_len(VipsImage *img, size_t *len)
{
    return encode(webp_saver, img, len);
}

static void test_webp_no_default_exif(void **state)
{
    VipsImage *b = NULL, *c = NULL, *src, *dec;
    void *jpg = NULL;
    size_t jlen = 0, len = 0;
    unsigned char *w;
    const char *v = NULL;

    (void)state;
    /* No EXIF in: none out (libvips 8.14's webpsave would add a default block). */
    assert_int_equal(vips_black(&b, 16, 8, NULL), 0);
    w = encode_webp_len(b, &len);
    assert_memory_equal(w, "RIFF", 4);
    assert_int_equal(w[4] | w[5] << 8 | w[6] << 16 | w[7] << 24, len - 8);
    assert_null(memmem(w, len, "EXIF", 4));
    dec = decode(w, len);
    assert_non_null(dec);
    assert_int_equal(vips_image_get_typeof(dec, VIPS_META_EXIF_NAME), 0);
    g_object_unref(dec);
    g_free(w);
    /* EXIF in (a JPEG with a Copyright): it stays. */
    assert_int_equal(vips_copy(b, &c, NULL), 0);
    vips_image_set_string(c, "exif-ifd0-Copyright", "(c) webp test");
    assert_int_equal(vips_jpegsave_buffer(c, &jpg, &jlen, NULL), 0);
    src = vips_image_new_from_buffer(jpg, jlen, "", NULL);
    assert_non_null(src);
    w = encode_webp_len(src, &len);
    dec = decode(w, len);
    assert_non_null(dec);
    assert_int_equal(vips_image_get_string(dec, "exif-ifd0-Copyright", &v), 0);
    assert_non_null(strstr(v, "(c) webp test"));
    g_object_unref(dec);
    g_object_unref(src);
    g_free(w);
    g_free(jpg);
    g_object_unref(c);
    g_object_unref(b);
}

static int quality_under_test;

static int jxl_saver(VipsImage *img, VipsTarget *t)
{
    return save_image(img, IMGTYPE_JXL, quality_under_test, true, t);
}

static int heic_saver(VipsImage *img, VipsTarget *t)
{
    return save_image(img, IMGTYPE_HEIC, quality_under_test, true, t);
}

/*
 * JPEG XL and HEIC results: the container's signature, decoded size and
 * bands, pixels near the source at high quality, and a lower quality
 * giving fewer bytes. HEIC is HEVC-coded, not AV1.
 */
static void expect_lossy(int (*saver)(VipsImage *, VipsTarget *), const char *loader, int bands)
{
    VipsImage *src = pattern(96, 64, bands), *noise = NULL, *big = NULL, *dec;
    size_t len = 0, len_lo = 0;
    unsigned char *hi, *lo;
    const char *got = NULL;
    double a[4], b[4];

    quality_under_test = 95;
    hi = encode(saver, src, &len);
    dec = decode(hi, len);
    assert_non_null(dec);
    assert_int_equal(vips_image_get_string(dec, "vips-loader", &got), 0);
    assert_non_null(strstr(got, loader)); /* jxlload_buffer, heifload_buffer */
    assert_int_equal(vips_image_get_width(dec), 96);
    assert_int_equal(vips_image_get_height(dec), 64);
    assert_int_equal(vips_image_get_bands(dec), bands);
    pixel(src, 3, 2, a, bands);
    pixel(dec, 3, 2, b, bands);
    for (int i = 0; i < bands; i++)
        if (fabs(a[i] - b[i]) > 12)
            fail_msg("%s band %d: %g, source %g", loader, i, b[i], a[i]);
    if (strcmp(loader, "heifload") == 0) {
        assert_int_equal(vips_image_get_string(dec, "heif-compression", &got), 0);
        assert_string_equal(got, "hevc");
    }
    g_object_unref(dec);
    g_free(hi);
    /* Quality: noise makes the encoded size follow it. */
    assert_int_equal(vips_gaussnoise(&noise, 96, 64, "mean", 128.0, "sigma", 40.0, NULL), 0);
    assert_int_equal(vips_cast_uchar(noise, &big, NULL), 0);
    quality_under_test = 90;
    hi = encode(saver, big, &len);
    quality_under_test = 30;
    lo = encode(saver, big, &len_lo);
    if (len_lo >= len)
        fail_msg("%s: q30 %zu bytes, q90 %zu", loader, len_lo, len);
    g_free(hi);
    g_free(lo);
    g_object_unref(big);
    g_object_unref(noise);
    g_object_unref(src);
}

static void test_jxl(void **state)
{
    const unsigned char sig[2] = {0xff, 0x0a};
    VipsImage *src = pattern(8, 8, 3);
    size_t len = 0;
    unsigned char *d;

    (void)state;
    quality_under_test = 77;
    d = encode(jxl_saver, src, &len);
    /* A bare codestream, as libjxl 0.7 writes without metadata boxes. */
    assert_true(len > 2);
    assert_memory_equal(d, sig, 2);
    g_free(d);
    g_object_unref(src);
    expect_lossy(jxl_saver, "jxlload", 3);
    expect_lossy(jxl_saver, "jxlload", 4);
}

static void test_heic(void **state)
{
    VipsImage *src = pattern(8, 8, 3), *thin = NULL;
    VipsTarget *t = vips_target_new_to_memory();
    size_t len = 0;
    unsigned char *d;

    (void)state;
    /* A shape x265 writes no image for: an error, not a broken file. */
    assert_int_equal(vips_black(&thin, 5000, 19, "bands", 3, NULL), 0);
    assert_int_not_equal(save_image(thin, IMGTYPE_HEIC, 80, true, t), 0);
    assert_non_null(strstr(vips_error_buffer(), "wrote no image"));
    vips_error_clear();
    g_object_unref(t);
    g_object_unref(thin);
    quality_under_test = 80;
    d = encode(heic_saver, src, &len);
    assert_true(len > 12);
    assert_memory_equal(d + 4, "ftypheic", 8);
    g_free(d);
    g_object_unref(src);
    expect_lossy(heic_saver, "heifload", 3);
    expect_lossy(heic_saver, "heifload", 4);
}

static int png_saver(VipsImage *img, VipsTarget *t)
{
    return save_image(img, IMGTYPE_PNG, 0, true, t);
}

static uint32_t rd32be(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/*
 * The filter byte of each of the h rows of a PNG written at zlib level 0: its
 * IDAT chunks joined are a zlib stream of stored blocks (a 1-byte header,
 * 2-byte LEN, 2-byte NLEN, then LEN bytes as they are), readable without zlib.
 * Each row is its filter byte and stride bytes. Returns how many rows had
 * filter type f.
 */
static int rows_with_filter(const unsigned char *d, size_t len, int h, size_t stride, int f)
{
    unsigned char *z = malloc(len);
    size_t zn = 0, pos = 8, at = 2;
    unsigned char *raw = malloc((stride + 1) * (size_t)h);
    size_t rn = 0;
    int n = 0;

    assert_non_null(z);
    assert_non_null(raw);
    while (pos + 12 <= len) {
        uint32_t clen = rd32be(d + pos);

        assert_true(pos + 12 + clen <= len);
        if (memcmp(d + pos + 4, "IDAT", 4) == 0) {
            memcpy(z + zn, d + pos + 8, clen);
            zn += clen;
        }
        pos += 12 + clen;
    }
    /* at = 2: past the zlib header; stored blocks until the last one. */
    for (;;) {
        unsigned blen;
        bool last;

        assert_true(at + 5 <= zn);
        last = z[at] & 1;
        assert_int_equal(z[at] >> 1 & 3, 0); /* stored */
        blen = rd16(z + at + 1);
        assert_int_equal(blen ^ rd16(z + at + 3), 0xffff);
        assert_true(at + 5 + blen <= zn && rn + blen <= (stride + 1) * (size_t)h);
        memcpy(raw + rn, z + at + 5, blen);
        rn += blen;
        at += 5 + blen;
        if (last)
            break;
    }
    assert_int_equal(rn, (stride + 1) * (size_t)h);
    for (int y = 0; y < h; y++)
        n += raw[(size_t)y * (stride + 1)] == f;
    free(raw);
    free(z);
    return n;
}

/* IMGFCGI_PNG_FILTER: one filter on every row, or libvips' adaptive choice (all). */
static void test_png_filter(void **state)
{
    const int w = 7, h = 5;
    VipsImage *src = pattern(w, h, 4);
    static const struct {
        int setting; /* index in config_png_filters */
        int type;    /* PNG filter type byte */
    } one[] = {{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 4}};
    int saved_level = cfg.png_compression, saved_filter = cfg.png_filter;
    size_t len = 0;
    unsigned char *d;
    int counts[5] = {0}, kinds = 0;

    (void)state;
    assert_string_equal(config_png_filters[0], "all");
    assert_string_equal(config_png_filters[3], "up");
    cfg.png_compression = 0;
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
        VipsImage *back;
        double px[4];

        cfg.png_filter = one[i].setting;
        d = encode(png_saver, src, &len);
        assert_int_equal(rows_with_filter(d, len, h, (size_t)w * 4, one[i].type), h);
        /* Whatever the filter, the pixels come back. */
        back = decode(d, len);
        assert_non_null(back);
        pixel(back, 3, 2, px, 4);
        assert_true(px[0] == 120 && px[1] == 160 && px[2] == 200 && px[3] == 225);
        g_object_unref(back);
        g_free(d);
    }
    /* Adaptive: the pattern's first row (nothing above) and the others differ. */
    cfg.png_filter = 0;
    d = encode(png_saver, src, &len);
    for (int f = 0; f < 5; f++) {
        counts[f] = rows_with_filter(d, len, h, (size_t)w * 4, f);
        kinds += counts[f] > 0;
    }
    assert_int_equal(counts[0] + counts[1] + counts[2] + counts[3] + counts[4], h);
    assert_true(kinds >= 2);
    g_free(d);
    cfg.png_compression = saved_level;
    cfg.png_filter = saved_filter;
    g_object_unref(src);
}

static int setup(void **state)
{
    (void)state;
    if (tu_load_default_cfg() != 0)
        return -1;
    return VIPS_INIT("test_save") == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_limits),
        cmocka_unit_test(test_bmp),
        cmocka_unit_test(test_bmp_many_strips),
        cmocka_unit_test(test_ico),
        cmocka_unit_test(test_ico_sizes),
        cmocka_unit_test(test_bmp_grey_source),
        cmocka_unit_test(test_webp_no_default_exif),
        cmocka_unit_test(test_jxl),
        cmocka_unit_test(test_heic),
        cmocka_unit_test(test_png_filter),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}

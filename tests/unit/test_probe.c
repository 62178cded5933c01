/* test_probe.c: header dimensions of real encoded images, crafted bombs, and every prefix. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "probe.h"
#include "testutil.h"

#define W 301
#define H 203

/* A W x H test card: a gradient with some noise so encoders produce real data. */
static VipsImage *card(int bands)
{
    VipsImage *xy = NULL, *x = NULL, *y = NULL, *out = NULL;

    if (vips_xyz(&xy, W, H, NULL))
        return NULL;
    if (vips_extract_band(xy, &x, 0, NULL)) {
        g_object_unref(xy);
        return NULL;
    }
    g_object_unref(xy);
    if (vips_cast(x, &y, VIPS_FORMAT_UCHAR, NULL)) {
        g_object_unref(x);
        return NULL;
    }
    g_object_unref(x);
    if (bands == 4) {
        VipsImage *parts[2] = {y, y};
        VipsImage *two = NULL;

        if (vips_bandjoin(parts, &two, 2, NULL) == 0) {
            VipsImage *p2[2] = {two, two};

            vips_bandjoin(p2, &out, 2, NULL);
            g_object_unref(two);
        }
    } else {
        VipsImage *parts[3] = {y, y, y};

        vips_bandjoin(parts, &out, 3, NULL);
    }
    g_object_unref(y);
    return out;
}

struct encoded {
    const char *name;
    void *data;
    size_t len;
    enum imgtype type;
};

/*
 * Every prefix of a real file is either "more" or the right answer, never a
 * wrong size; the whole file with complete=true is found; and it is found
 * early (well before the end of a larger body).
 */
static void check_all_prefixes(const struct encoded *e, size_t must_find_by)
{
    struct probe_info p;
    size_t first = 0;

    for (size_t k = 0; k <= e->len; k++) {
        enum probe_status s = probe_header(e->data, k, false, &p);

        if (s == PROBE_FOUND) {
            if (p.width != W || p.height != H || p.type != e->type)
                fail_msg("%s: prefix %zu gave %llux%llu type %d", e->name, k, p.width, p.height,
                         (int)p.type);
            if (first == 0)
                first = k;
        } else if (s != PROBE_MORE) {
            fail_msg("%s: prefix %zu gave status %d", e->name, k, (int)s);
        } else if (first != 0) {
            fail_msg("%s: prefix %zu asked for more after finding at %zu", e->name, k, first);
        }
        /* A cut-short file (complete) must never claim a wrong size either. */
        s = probe_header(e->data, k, true, &p);
        if (s == PROBE_FOUND && (p.width != W || p.height != H))
            fail_msg("%s: complete prefix %zu gave %llux%llu", e->name, k, p.width, p.height);
    }
    if (first == 0 || first > must_find_by)
        fail_msg("%s: found at %zu of %zu bytes (limit %zu)", e->name, first, e->len, must_find_by);
    assert_int_equal(probe_header(e->data, e->len, true, &p), PROBE_FOUND);
    assert_int_equal(p.width, W);
    assert_int_equal(p.height, H);
}

/* Saves a test card with the saver a suffix names (".webp[lossless]") and checks every prefix. */
static void encode_and_check(const char *name, const char *suffix, enum imgtype type, int bands,
                             bool header_at_end)
{
    VipsImage *img = card(bands);
    struct encoded e = {name, NULL, 0, type};
    int r;

    assert_non_null(img);
    r = vips_image_write_to_buffer(img, suffix, &e.data, &e.len, NULL);
    g_object_unref(img);
    if (r != 0)
        fail_msg("%s: saving %s failed: %s", name, suffix, vips_error_buffer());
    check_all_prefixes(&e, header_at_end ? e.len : 4096);
    g_free(e.data);
}

static void test_jpeg(void **state)
{
    (void)state;
    encode_and_check("jpeg", ".jpg", IMGTYPE_JPEG, 3, false);
    encode_and_check("jpeg-progressive", ".jpg[interlace]", IMGTYPE_JPEG, 3, false);
}

static void test_png(void **state)
{
    (void)state;
    encode_and_check("png", ".png", IMGTYPE_PNG, 3, false);
    encode_and_check("png-alpha", ".png", IMGTYPE_PNG, 4, false);
}

static void test_gif(void **state)
{
    (void)state;
    encode_and_check("gif", ".gif", IMGTYPE_GIF, 3, false);
}

static void test_webp(void **state)
{
    (void)state;
    encode_and_check("webp-lossy", ".webp", IMGTYPE_WEBP, 3, false);              /* VP8 */
    encode_and_check("webp-lossless", ".webp[lossless]", IMGTYPE_WEBP, 3, false); /* VP8L */
    encode_and_check("webp-alpha", ".webp", IMGTYPE_WEBP, 4, false);              /* VP8X + ALPH */
}

static void test_tiff(void **state)
{
    (void)state;
    /* libtiff writes the IFD after the pixels: found only once the file is in. */
    encode_and_check("tiff", ".tif", IMGTYPE_TIFF, 3, true);
    encode_and_check("tiff-tiled", ".tif[tile]", IMGTYPE_TIFF, 3, true);
}

static void test_avif(void **state)
{
    (void)state;
    encode_and_check("avif", ".avif", IMGTYPE_AVIF, 3, false);
}

static void test_jxl(void **state)
{
    (void)state;
    encode_and_check("jxl", ".jxl", IMGTYPE_JXL, 3, false);
}

static void test_bmp(void **state)
{
    VipsImage *img = card(3);
    struct encoded e = {"bmp", NULL, 0, IMGTYPE_BMP};

    (void)state;
    assert_non_null(img);
    if (vips_magicksave_buffer(img, &e.data, &e.len, "format", "bmp", NULL) != 0) {
        g_object_unref(img);
        skip(); /* no ImageMagick saver here */
    }
    g_object_unref(img);
    check_all_prefixes(&e, 64);
    g_free(e.data);
}

/* A JPEG whose SOF sits behind a 60 KB APP1 segment: still found, and only once it arrives. */
static void test_jpeg_late_sof(void **state)
{
    VipsImage *img = card(3);
    void *jpg = NULL;
    size_t len = 0, seg = 60000;
    unsigned char *big;
    struct encoded e = {"jpeg-app1", NULL, 0, IMGTYPE_JPEG};
    struct probe_info p;

    (void)state;
    assert_int_equal(vips_jpegsave_buffer(img, &jpg, &len, NULL), 0);
    g_object_unref(img);
    big = malloc(len + seg + 4);
    assert_non_null(big);
    memcpy(big, jpg, 2);
    big[2] = 0xff;
    big[3] = 0xe1;
    big[4] = (unsigned char)((seg + 2) >> 8);
    big[5] = (unsigned char)((seg + 2) & 0xff);
    memset(big + 6, 'x', seg);
    memcpy(big + 6 + seg, (unsigned char *)jpg + 2, len - 2);
    e.data = big;
    e.len = len + seg + 4;
    assert_int_equal(probe_header(big, 6 + seg, false, &p), PROBE_MORE);
    check_all_prefixes(&e, seg + 4096);
    free(big);
    g_free(jpg);
}

/* Headers claiming 65535 x 65535 (or more): found from the first few dozen bytes. */
static void test_bombs(void **state)
{
    static const unsigned char png[] = {0x89, 'P', 'N',  'G',  '\r', '\n', 0x1a, '\n', 0,    0,
                                        0,    13,  'I',  'H',  'D',  'R',  0,    0,    0xff, 0xff,
                                        0,    0,   0xff, 0xff, 8,    2,    0,    0,    0};
    static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 16,   'J',  'F',  'I',  'F',
                                         0,    1,    1,    0,    0, 1,    0,    1,    0,    0,
                                         0xff, 0xc2, 0,    17,   8, 0xff, 0xff, 0xff, 0xff, 3};
    static const unsigned char gif[] = {'G',  'I',  'F',  '8',  '9', 'a', 0xff,
                                        0xff, 0xff, 0xff, 0xf7, 0,   0};
    static const unsigned char webp_x[] = {'R',  'I', 'F', 'F', 0xff, 0xff, 0xff, 0x7f, 'W',  'E',
                                           'B',  'P', 'V', 'P', '8',  'X',  10,   0,    0,    0,
                                           0x10, 0,   0,   0,   0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const unsigned char webp_l[] = {
        'R', 'I',  'F',  'F',  0xff, 0xff, 0xff, 0x7f, 'W',  'E',  'B', 'P', 'V', 'P', '8',
        'L', 0xff, 0xff, 0xff, 0x7f, 0x2f, 0xff, 0xff, 0xff, 0x0f, 0,   0,   0,   0,   0};
    struct probe_info p;

    (void)state;
    assert_int_equal(probe_header(png, sizeof(png), false, &p), PROBE_FOUND);
    assert_int_equal(p.width, 65535);
    assert_int_equal(p.height, 65535);
    assert_true(probe_exceeds(&p, 50000000));
    assert_int_equal(probe_header(png, 23, false, &p), PROBE_MORE);
    assert_int_equal(probe_header(jpeg, sizeof(jpeg), false, &p), PROBE_FOUND);
    assert_int_equal(p.type, IMGTYPE_JPEG);
    assert_int_equal(p.width, 65535);
    assert_int_equal(p.height, 65535);
    assert_int_equal(probe_header(gif, sizeof(gif), false, &p), PROBE_FOUND);
    assert_int_equal(p.width, 65535);
    assert_int_equal(probe_header(webp_x, sizeof(webp_x), false, &p), PROBE_FOUND);
    assert_int_equal(p.width, 1 << 24);
    assert_int_equal(p.height, 1 << 24);
    assert_true(probe_exceeds(&p, LLONG_MAX / 2 / (1LL << 24) - 1));
    assert_int_equal(probe_header(webp_l, sizeof(webp_l), false, &p), PROBE_FOUND);
    assert_int_equal(p.width, 16384);
    assert_int_equal(p.height, 16384);
}

static void test_exceeds(void **state)
{
    struct probe_info p = {IMGTYPE_PNG, 7072, 7071};

    (void)state;
    assert_false(probe_exceeds(&p, 0)); /* 0 = no limit */
    assert_false(probe_exceeds(&p, 7072LL * 7071));
    assert_true(probe_exceeds(&p, 7072LL * 7071 - 1));
    p.width = p.height = 0xffffffffULL;
    assert_true(probe_exceeds(&p, LLONG_MAX));
    p.width = 1;
    p.height = 1;
    assert_false(probe_exceeds(&p, 1));
}

/* Headers that cannot be read give NONE, not a guess. */
static void test_unreadable(void **state)
{
    static const unsigned char sos_first[] = {0xff, 0xd8, 0xff, 0xda, 0, 8, 1, 2, 3, 4, 5, 6};
    static const unsigned char bad_len[] = {0xff, 0xd8, 0xff, 0xe0, 0, 1, 0, 0, 0, 0, 0, 0};
    static const unsigned char not_marker[] = {0xff, 0xd8, 0x12, 0x34, 0, 8, 0, 0, 0, 0, 0, 0};
    static const unsigned char png_no_ihdr[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,
                                                0,    0,   13,  'I', 'D',  'A',  'T',  0,    0,
                                                0,    1,   0,   0,   0,    1,    8};
    static const unsigned char zero_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,
                                             0,    0,   13,  'I', 'H',  'D',  'R',  0,    0,
                                             0,    0,   0,   0,   0,    1,    8};
    static const unsigned char tiff_far[] = {'I', 'I', 42, 0, 0, 0, 0, 0x40, 0, 0, 0, 0};
    static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"9e9\"/>";
    static const char text[] = "hello, this is not an image at all";
    struct probe_info p;

    (void)state;
    assert_int_equal(probe_header(sos_first, sizeof(sos_first), false, &p), PROBE_NONE);
    assert_int_equal(probe_header(bad_len, sizeof(bad_len), false, &p), PROBE_NONE);
    assert_int_equal(probe_header(not_marker, sizeof(not_marker), false, &p), PROBE_NONE);
    assert_int_equal(probe_header(png_no_ihdr, sizeof(png_no_ihdr), false, &p), PROBE_NONE);
    assert_int_equal(probe_header(zero_png, sizeof(zero_png), false, &p), PROBE_NONE);
    assert_int_equal(probe_header(tiff_far, sizeof(tiff_far), false, &p), PROBE_NONE);
    assert_int_equal(probe_header((const unsigned char *)svg, strlen(svg), true, &p), PROBE_NONE);
    assert_int_equal(probe_header((const unsigned char *)text, strlen(text), true, &p), PROBE_NONE);
    assert_int_equal(probe_header((const unsigned char *)text, 5, false, &p), PROBE_MORE);
    assert_int_equal(probe_header((const unsigned char *)text, 0, true, &p), PROBE_NONE);
}

/*
 * Mutated real headers, each in an exact-size heap copy: whatever comes
 * back, nothing is read outside the buffer (ASan watches in `make asan`).
 */
static void test_mutations(void **state)
{
    static const char *const savers[] = {".jpg", ".png", ".gif", ".webp", ".tif", ".avif", ".jxl"};
    uint32_t seed = 12345;
    VipsImage *img = card(3);

    (void)state;
    assert_non_null(img);
    for (size_t s = 0; s < sizeof(savers) / sizeof(savers[0]); s++) {
        void *data = NULL;
        size_t len = 0;

        assert_int_equal(vips_image_write_to_buffer(img, savers[s], &data, &len, NULL), 0);
        for (int round = 0; round < 400; round++) {
            size_t cut = len < 600 ? len : 600;
            unsigned char *copy;
            struct probe_info p;

            seed = seed * 1103515245u + 12345u;
            cut = 1 + (seed >> 8) % cut;
            copy = (unsigned char *)tu_memdup(data, cut);
            for (int m = 0; m < 4; m++) {
                seed = seed * 1103515245u + 12345u;
                copy[(seed >> 4) % cut] ^= (unsigned char)(seed >> 20);
            }
            probe_header(copy, cut, round & 1, &p);
            free(copy);
        }
        g_free(data);
    }
    g_object_unref(img);
}

static int group_setup(void **state)
{
    (void)state;
    if (VIPS_INIT("test_probe"))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    vips_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg),          cmocka_unit_test(test_png),
        cmocka_unit_test(test_gif),           cmocka_unit_test(test_webp),
        cmocka_unit_test(test_tiff),          cmocka_unit_test(test_avif),
        cmocka_unit_test(test_jxl),           cmocka_unit_test(test_bmp),
        cmocka_unit_test(test_jpeg_late_sof), cmocka_unit_test(test_bombs),
        cmocka_unit_test(test_exceeds),       cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_mutations),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* test_imagetype.c: magic bytes, SVG detection and format tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "imagetype.h"
#include "testutil.h"

#define SVG_CHECK 32768 /* IMGPROXY_MAX_SVG_CHECK_BYTES default */

/* Sniffs an exact-size heap copy so reads past len show up under ASan. */
static enum imgtype sniff_n(const void *p, size_t n, size_t svg_check)
{
    char *copy = tu_memdup(p, n);
    enum imgtype t = imagetype_sniff((const unsigned char *)copy, n, svg_check);

    free(copy);
    return t;
}

static enum imgtype sniff_str(const char *s)
{
    return sniff_n(s, strlen(s), SVG_CHECK);
}

#define SNIFF(arr) sniff_n((arr), sizeof(arr), SVG_CHECK)

/* §6 magic table, one per format, followed by plausible header bytes. */
static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10,
                                     'J',  'F',  'I',  'F',  0x00, 0x01};
static const unsigned char png[] = {0x89, 'P',  'N',  'G',  '\r', '\n', 0x1a, '\n',
                                    0x00, 0x00, 0x00, 0x0d, 'I',  'H',  'D',  'R'};
static const unsigned char gif87[] = {'G', 'I', 'F', '8', '7', 'a', 0x01, 0x00, 0x01, 0x00};
static const unsigned char gif89[] = {'G', 'I', 'F', '8', '9', 'a', 0x01, 0x00, 0x01, 0x00};
static const unsigned char webp_lossy[] = {'R', 'I', 'F', 'F', 0x24, 0x00, 0x00, 0x00, 'W',  'E',
                                           'B', 'P', 'V', 'P', '8',  ' ',  0x18, 0x00, 0x00, 0x00};
static const unsigned char webp_lossless[] = {'R',  'I', 'F',  'F',  0x24, 0x00, 0x00,
                                              0x00, 'W', 'E',  'B',  'P',  'V',  'P',
                                              '8',  'L', 0x18, 0x00, 0x00, 0x00};
static const unsigned char webp_ext[] = {'R', 'I', 'F', 'F', 0x24, 0x00, 0x00, 0x00, 'W',  'E',
                                         'B', 'P', 'V', 'P', '8',  'X',  0x0a, 0x00, 0x00, 0x00};
static const unsigned char tiff_le[] = {'I', 'I', '*', 0x00, 0x08, 0x00, 0x00, 0x00};
static const unsigned char tiff_be[] = {'M', 'M', 0x00, '*', 0x00, 0x00, 0x00, 0x08};
static const unsigned char bmp[] = {'B',  'M',  0x46, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x36, 0x00, 0x00, 0x00};
static const unsigned char ico[] = {0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x10, 0x10, 0x00, 0x00};
static const unsigned char jxl_code[] = {0xff, 0x0a, 0xfa, 0x1f, 0x00, 0x00};
static const unsigned char jxl_box[] = {0x00, 0x00, 0x00, 0x0c, 'J',  'X',  'L',  ' ',
                                        0x0d, 0x0a, 0x87, 0x0a, 0x00, 0x00, 0x00, 0x14};

static void ftyp(unsigned char out[24], const char brand[4])
{
    static const unsigned char head[] = {0x00, 0x00, 0x00, 0x18, 'f', 't', 'y', 'p'};

    memcpy(out, head, 8);
    memcpy(out + 8, brand, 4);
    memset(out + 12, 0, 4);      /* minor version */
    memcpy(out + 16, "mif1", 4); /* compatible brands */
    memcpy(out + 20, brand, 4);
}

static void test_sniff_magic(void **state)
{
    (void)state;
    assert_int_equal(SNIFF(jpeg), IMGTYPE_JPEG);
    assert_int_equal(SNIFF(png), IMGTYPE_PNG);
    assert_int_equal(SNIFF(gif87), IMGTYPE_GIF);
    assert_int_equal(SNIFF(gif89), IMGTYPE_GIF);
    assert_int_equal(SNIFF(webp_lossy), IMGTYPE_WEBP);
    assert_int_equal(SNIFF(webp_lossless), IMGTYPE_WEBP);
    assert_int_equal(SNIFF(webp_ext), IMGTYPE_WEBP);
    assert_int_equal(SNIFF(tiff_le), IMGTYPE_TIFF);
    assert_int_equal(SNIFF(tiff_be), IMGTYPE_TIFF);
    assert_int_equal(SNIFF(bmp), IMGTYPE_BMP);
    assert_int_equal(SNIFF(ico), IMGTYPE_ICO);
    assert_int_equal(SNIFF(jxl_code), IMGTYPE_JXL);
    assert_int_equal(SNIFF(jxl_box), IMGTYPE_JXL);
}

static void test_sniff_pdf(void **state)
{
    static const unsigned char pdf[] = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj";
    unsigned char junk[1100];

    (void)state;
    assert_int_equal(sniff_n(pdf, sizeof pdf - 1, SVG_CHECK), IMGTYPE_PDF);
    /* Within the first 1024 bytes, after other bytes, as PDF readers accept it. */
    memset(junk, ' ', sizeof junk);
    memcpy(junk + 1000, "%PDF-1.4", 8);
    assert_int_equal(sniff_n(junk, sizeof junk, SVG_CHECK), IMGTYPE_PDF);
    memset(junk, ' ', sizeof junk);
    memcpy(junk + 1020, "%PDF-1.4", 8); /* starts in, ends past byte 1024 */
    assert_int_equal(sniff_n(junk, sizeof junk, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(pdf, 4, SVG_CHECK), IMGTYPE_UNKNOWN); /* "%PDF" alone */
    /* A result too (format:pdf), without alpha or a quality of its own. */
    assert_true(imagetype_saveable(IMGTYPE_PDF));
    assert_false(imagetype_supports_alpha(IMGTYPE_PDF));
    assert_false(imagetype_supports_quality(IMGTYPE_PDF));
    assert_string_equal(imagetype_mime(IMGTYPE_PDF), "application/pdf");
}

static void test_sniff_heif_brands(void **state)
{
    /* §6: ????ftyp + heic heix hevc heim heis hevm hevs mif1 | avif. */
    static const char *heic_brands[] = {"heic", "heix", "hevc", "heim", "heis", "hevm", "hevs"};
    unsigned char b[24];

    (void)state;
    for (size_t i = 0; i < sizeof heic_brands / sizeof heic_brands[0]; i++) {
        ftyp(b, heic_brands[i]);
        if (sniff_n(b, sizeof b, SVG_CHECK) != IMGTYPE_HEIC)
            fail_msg("ftyp%s not sniffed as HEIC", heic_brands[i]);
    }
    ftyp(b, "avif");
    assert_int_equal(sniff_n(b, sizeof b, SVG_CHECK), IMGTYPE_AVIF);

    /* mif1 is the generic HEIF brand: HEIC or AVIF, never unknown. */
    ftyp(b, "mif1");
    enum imgtype t = sniff_n(b, sizeof b, SVG_CHECK);
    assert_true(t == IMGTYPE_HEIC || t == IMGTYPE_AVIF);

    /* An ISO-BMFF file of another brand (mp4) is not an image. */
    ftyp(b, "isom");
    memcpy(b + 16, "isommp41", 8);
    assert_int_equal(sniff_n(b, sizeof b, SVG_CHECK), IMGTYPE_UNKNOWN);
}

static void test_sniff_too_short(void **state)
{
    (void)state;
    /* An empty body (no buffer at all) is nothing; the UBSan build checks no NULL is passed on. */
    assert_int_equal(imagetype_sniff(NULL, 0, SVG_CHECK), IMGTYPE_UNKNOWN);
    /* Every magic cut one byte short must not match (and must not be over-read). */
    assert_int_equal(sniff_n(jpeg, 1, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(png, 7, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(gif89, 5, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(webp_lossy, 14, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(webp_lossy, 12, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(tiff_le, 3, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(tiff_be, 3, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(bmp, 1, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(ico, 3, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(jxl_code, 1, SVG_CHECK), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_n(jxl_box, 11, SVG_CHECK), IMGTYPE_UNKNOWN);

    unsigned char b[24];
    ftyp(b, "heic");
    assert_int_equal(sniff_n(b, 11, SVG_CHECK), IMGTYPE_UNKNOWN);
    ftyp(b, "avif");
    assert_int_equal(sniff_n(b, 11, SVG_CHECK), IMGTYPE_UNKNOWN);

    /* Empty input. */
    assert_int_equal(sniff_n("", 0, SVG_CHECK), IMGTYPE_UNKNOWN);
}

static void test_sniff_garbage(void **state)
{
    static const unsigned char wave[] = {'R', 'I', 'F', 'F', 0x24, 0x00, 0x00, 0x00,
                                         'W', 'A', 'V', 'E', 'f',  'm',  't',  ' '};
    static const unsigned char tiff_bad1[] = {'M', 'M', '*', 0x00, 0, 0, 0, 8};
    static const unsigned char tiff_bad2[] = {'I', 'I', 0x00, '*', 8, 0, 0, 0};
    /* GIF8?a: the fifth byte is free, the sixth must be 'a'. */
    static const unsigned char gif_bad[] = {'G', 'I', 'F', '8', '9', 'b', 1, 0, 1, 0};
    static const unsigned char gif_any[] = {'G', 'I', 'F', '8', '8', 'a', 1, 0, 1, 0};
    static const unsigned char png_bad[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, 0x0d, 0, 0};
    unsigned char bin[256];

    (void)state;
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 37 + 11);
    bin[0] = 0x13; /* no magic starts with 0x13 */

    assert_int_equal(sniff_str("hello world, this is not an image"), IMGTYPE_UNKNOWN);
    assert_int_equal(SNIFF(bin), IMGTYPE_UNKNOWN);
    assert_int_equal(SNIFF(wave), IMGTYPE_UNKNOWN);
    assert_int_equal(SNIFF(tiff_bad1), IMGTYPE_UNKNOWN);
    assert_int_equal(SNIFF(tiff_bad2), IMGTYPE_UNKNOWN);
    assert_int_equal(SNIFF(gif_bad), IMGTYPE_UNKNOWN);
    assert_int_equal(SNIFF(gif_any), IMGTYPE_GIF);
    assert_int_equal(SNIFF(png_bad), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_str("{\"json\": true}"), IMGTYPE_UNKNOWN);
}

static void test_sniff_svg(void **state)
{
    (void)state;
    assert_int_equal(sniff_str("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" "
                               "height=\"10\"></svg>"),
                     IMGTYPE_SVG);
    assert_int_equal(sniff_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                               "<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>"),
                     IMGTYPE_SVG);
    assert_int_equal(sniff_str("<?xml version=\"1.0\"?>\n"
                               "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
                               "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n"
                               "<!-- drawn by hand -->\n<svg width=\"1\" height=\"1\"/>"),
                     IMGTYPE_SVG);
    /* Prefixed root element. */
    assert_int_equal(sniff_str("<svg:svg xmlns:svg=\"http://www.w3.org/2000/svg\"/>"), IMGTYPE_SVG);
    /* The tag name compares case-insensitively. */
    assert_int_equal(sniff_str("<SVG></SVG>"), IMGTYPE_SVG);
    /* Leading whitespace is character data, not a start tag. */
    assert_int_equal(sniff_str("\n  \t<svg/>"), IMGTYPE_SVG);
}

static void test_sniff_not_svg(void **state)
{
    (void)state;
    /* An HTML document with inline SVG: the first start tag is <html>. */
    assert_int_equal(sniff_str("<!DOCTYPE html>\n<html><body><svg width=\"1\" height=\"1\">"
                               "</svg></body></html>"),
                     IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_str("<?xml version=\"1.0\"?><root><svg/></root>"), IMGTYPE_UNKNOWN);
    /* Only the tag name counts, not a prefix of it. */
    assert_int_equal(sniff_str("<svgx/>"), IMGTYPE_UNKNOWN);
    assert_int_equal(sniff_str("<foo:svgfoo/>"), IMGTYPE_UNKNOWN);
    /* "<svg>" inside a comment is not a start tag. */
    assert_int_equal(sniff_str("<!-- <svg> --><html></html>"), IMGTYPE_UNKNOWN);
    /* Plain text that mentions svg. */
    assert_int_equal(sniff_str("this is svg: <b>no</b>"), IMGTYPE_UNKNOWN);
}

static void test_sniff_svg_check_limit(void **state)
{
    char doc[512];
    size_t n = 0;

    (void)state;
    /* A 300-byte comment, then <svg>: the start tag begins at byte 311. */
    memcpy(doc, "<!-- ", 5);
    n = 5;
    memset(doc + n, 'a', 300);
    n += 300;
    memcpy(doc + n, " --><svg width=\"1\" height=\"1\"/>", 31);
    n += 31;

    assert_int_equal(sniff_n(doc, n, SVG_CHECK), IMGTYPE_SVG);
    /* Looking at no more than 64 bytes, the tag is never reached. */
    assert_int_equal(sniff_n(doc, n, 64), IMGTYPE_UNKNOWN);
}

struct name_case {
    const char *name;
    enum imgtype type;
};

static void test_from_name(void **state)
{
    /* §1.1 Notes: jpeg jpg jxl png webp gif ico svg heic avif bmp tiff. */
    static const struct name_case cases[] = {
        {"jpeg", IMGTYPE_JPEG}, {"jpg", IMGTYPE_JPEG},  {"jxl", IMGTYPE_JXL},
        {"png", IMGTYPE_PNG},   {"webp", IMGTYPE_WEBP}, {"gif", IMGTYPE_GIF},
        {"ico", IMGTYPE_ICO},   {"svg", IMGTYPE_SVG},   {"heic", IMGTYPE_HEIC},
        {"avif", IMGTYPE_AVIF}, {"bmp", IMGTYPE_BMP},   {"tiff", IMGTYPE_TIFF},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *copy = tu_memdup(cases[i].name, strlen(cases[i].name));
        enum imgtype t = imagetype_from_name(copy, strlen(cases[i].name));
        free(copy);
        if (t != cases[i].type)
            fail_msg("imagetype_from_name(\"%s\") = %d, want %d", cases[i].name, t, cases[i].type);
    }
    assert_int_equal(imagetype_from_name("xyz", 3), IMGTYPE_UNKNOWN);
    assert_int_equal(imagetype_from_name("", 0), IMGTYPE_UNKNOWN);
    assert_int_equal(imagetype_from_name("jpgx", 4), IMGTYPE_UNKNOWN);
    assert_int_equal(imagetype_from_name("jp", 2), IMGTYPE_UNKNOWN);
    /* The length bounds the name: the first 3 bytes of "pngx" are "png". */
    assert_int_equal(imagetype_from_name("pngx", 3), IMGTYPE_PNG);
    assert_int_equal(imagetype_from_name("webpjunk", 4), IMGTYPE_WEBP);
}

struct table_case {
    enum imgtype type;
    const char *mime;
    const char *ext;
};

static void test_mime_ext(void **state)
{
    /* §8 Content-Type and Content-Disposition extensions. */
    static const struct table_case cases[] = {
        {IMGTYPE_JPEG, "image/jpeg", ".jpg"},   {IMGTYPE_JXL, "image/jxl", ".jxl"},
        {IMGTYPE_PNG, "image/png", ".png"},     {IMGTYPE_WEBP, "image/webp", ".webp"},
        {IMGTYPE_GIF, "image/gif", ".gif"},     {IMGTYPE_ICO, "image/x-icon", ".ico"},
        {IMGTYPE_SVG, "image/svg+xml", ".svg"}, {IMGTYPE_HEIC, "image/heif", ".heic"},
        {IMGTYPE_AVIF, "image/avif", ".avif"},  {IMGTYPE_BMP, "image/bmp", ".bmp"},
        {IMGTYPE_TIFF, "image/tiff", ".tiff"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_non_null(imagetype_mime(cases[i].type));
        assert_non_null(imagetype_ext(cases[i].type));
        assert_string_equal(imagetype_mime(cases[i].type), cases[i].mime);
        assert_string_equal(imagetype_ext(cases[i].type), cases[i].ext);
    }
}

static void test_names_round_trip(void **state)
{
    (void)state;
    assert_string_equal(imagetype_name(IMGTYPE_JPEG), "jpeg");
    assert_string_equal(imagetype_name(IMGTYPE_PNG), "png");
    assert_string_equal(imagetype_name(IMGTYPE_WEBP), "webp");
    assert_string_equal(imagetype_name(IMGTYPE_AVIF), "avif");
    /* Every known type's canonical name parses back to itself. */
    for (int t = IMGTYPE_JPEG; t < IMGTYPE_COUNT; t++) {
        const char *n = imagetype_name((enum imgtype)t);
        assert_non_null(n);
        if (imagetype_from_name(n, strlen(n)) != (enum imgtype)t)
            fail_msg("imagetype_name(%d) = \"%s\" does not parse back", t, n);
    }
}

static void test_saveable(void **state)
{
    (void)state;
    assert_true(imagetype_saveable(IMGTYPE_JPEG));
    assert_true(imagetype_saveable(IMGTYPE_PNG));
    assert_true(imagetype_saveable(IMGTYPE_WEBP));
    assert_true(imagetype_saveable(IMGTYPE_AVIF));
    assert_true(imagetype_saveable(IMGTYPE_GIF));
    assert_true(imagetype_saveable(IMGTYPE_TIFF));
    assert_true(imagetype_saveable(IMGTYPE_BMP)); /* save_bmp_ico.c */
    assert_true(imagetype_saveable(IMGTYPE_ICO));
    assert_true(imagetype_saveable(IMGTYPE_HEIC)); /* heifsave, HEVC */
    assert_true(imagetype_saveable(IMGTYPE_JXL));  /* jxlsave */
    assert_false(imagetype_saveable(IMGTYPE_SVG));
    assert_false(imagetype_saveable(IMGTYPE_UNKNOWN));
}

static void test_supports_quality(void **state)
{
    (void)state;
    /* §2 max_bytes: SupportsQuality = jpeg, webp, heic, avif, jxl, tiff. */
    assert_true(imagetype_supports_quality(IMGTYPE_JPEG));
    assert_true(imagetype_supports_quality(IMGTYPE_WEBP));
    assert_true(imagetype_supports_quality(IMGTYPE_HEIC));
    assert_true(imagetype_supports_quality(IMGTYPE_AVIF));
    assert_true(imagetype_supports_quality(IMGTYPE_JXL));
    assert_true(imagetype_supports_quality(IMGTYPE_TIFF));
    assert_false(imagetype_supports_quality(IMGTYPE_PNG));
    assert_false(imagetype_supports_quality(IMGTYPE_GIF));
    assert_false(imagetype_supports_quality(IMGTYPE_BMP));
}

static void test_supports_alpha(void **state)
{
    (void)state;
    /* §2.2 flatten: jpeg and bmp have no alpha; png and webp do. */
    assert_false(imagetype_supports_alpha(IMGTYPE_JPEG));
    assert_false(imagetype_supports_alpha(IMGTYPE_BMP));
    assert_true(imagetype_supports_alpha(IMGTYPE_PNG));
    assert_true(imagetype_supports_alpha(IMGTYPE_WEBP));
}

static void test_supports_animation(void **state)
{
    (void)state;
    /* §2.2 animated path: gif and webp results keep animation, jpeg does not. */
    assert_true(imagetype_supports_animation(IMGTYPE_GIF));
    assert_true(imagetype_supports_animation(IMGTYPE_WEBP));
    assert_false(imagetype_supports_animation(IMGTYPE_JPEG));
    assert_false(imagetype_supports_animation(IMGTYPE_PNG));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_magic),        cmocka_unit_test(test_sniff_pdf),
        cmocka_unit_test(test_sniff_heif_brands),  cmocka_unit_test(test_sniff_too_short),
        cmocka_unit_test(test_sniff_garbage),      cmocka_unit_test(test_sniff_svg),
        cmocka_unit_test(test_sniff_not_svg),      cmocka_unit_test(test_sniff_svg_check_limit),
        cmocka_unit_test(test_from_name),          cmocka_unit_test(test_mime_ext),
        cmocka_unit_test(test_names_round_trip),   cmocka_unit_test(test_saveable),
        cmocka_unit_test(test_supports_quality),   cmocka_unit_test(test_supports_alpha),
        cmocka_unit_test(test_supports_animation),
    };
    return cmocka_run_group_tests_name("imagetype", tests, NULL, NULL);
}

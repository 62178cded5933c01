/* test_metadata.c: strip_metadata with keep_copyright: the IPTC and XMP filters and real JPEGs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "metadata.h"
#include "testutil.h"

/* Appends one IIM dataset 0x1C record:dataset with a short value. */
static void iim(GByteArray *a, unsigned record, unsigned dataset, const char *v)
{
    guint8 h[5] = {0x1C, (guint8)record, (guint8)dataset, 0, (guint8)strlen(v)};

    g_byte_array_append(a, h, 5);
    g_byte_array_append(a, (const guint8 *)v, (guint)strlen(v));
}

/* Appends an 8BIM resource with a Pascal name and data, both padded to even length. */
static void resource(GByteArray *a, unsigned id, const char *name, const guint8 *d, size_t n)
{
    guint8 h[6] = {'8', 'B', 'I', 'M', (guint8)(id >> 8), (guint8)id};
    guint8 nl = (guint8)strlen(name),
           sz[4] = {(guint8)(n >> 24), (guint8)(n >> 16), (guint8)(n >> 8), (guint8)n};

    g_byte_array_append(a, h, 6);
    g_byte_array_append(a, &nl, 1);
    g_byte_array_append(a, (const guint8 *)name, nl);
    if (((1 + nl) & 1) != 0)
        g_byte_array_append(a, (const guint8 *)"", 1);
    g_byte_array_append(a, sz, 4);
    g_byte_array_append(a, d, (guint)n);
    if (n & 1)
        g_byte_array_append(a, (const guint8 *)"", 1);
}

/* A Photoshop block: a thumbnail-ish resource first, then IPTC with kept and dropped datasets. */
static GByteArray *ps3_block(bool prefix)
{
    GByteArray *a = g_byte_array_new(), *d = g_byte_array_new();

    if (prefix)
        g_byte_array_append(a, (const guint8 *)"Photoshop 3.0", 14);
    resource(a, 0x040C, "thumb", (const guint8 *)"abc", 3);
    iim(d, 1, 90, "\x1b%G");
    iim(d, 2, 0, "\x00\x04");
    iim(d, 2, 5, "Object name");
    iim(d, 2, 80, "Jane Artist");
    iim(d, 2, 90, "Paris");
    iim(d, 2, 110, "Agency");
    iim(d, 2, 116, "(c) 2026 Jane");
    resource(a, 0x0404, "", d->data, d->len);
    g_byte_array_free(d, TRUE);
    return a;
}

static bool has(const unsigned char *p, size_t n, const char *s)
{
    return memmem(p, n, s, strlen(s)) != NULL;
}

static void test_iptc_keeps_copyright_datasets(void **state)
{
    (void)state;
    for (int prefix = 0; prefix < 2; prefix++) {
        GByteArray *a = ps3_block(prefix);
        unsigned char *copy = (unsigned char *)tu_memdup(a->data, a->len);
        size_t n = 0;
        unsigned char *out = metadata_filter_iptc(copy, a->len, &n);
        const unsigned char *body;

        assert_non_null(out);
        body = out + (prefix ? 14 : 0);
        if (prefix)
            assert_memory_equal(out, "Photoshop 3.0", 14);
        assert_memory_equal(body, "8BIM\x04\x04\0\0", 8);
        /* 1:90 (5+3), 2:80 (5+11), 2:110 (5+6), 2:116 (5+13): 53 bytes, padded to 54. */
        assert_int_equal((body[8] << 24 | body[9] << 16 | body[10] << 8 | body[11]), 53);
        assert_int_equal(n, (size_t)(prefix ? 14 : 0) + 12 + 54);
        assert_true(has(out, n, "Jane Artist"));
        assert_true(has(out, n, "Agency"));
        assert_true(has(out, n, "(c) 2026 Jane"));
        assert_true(has(out, n, "\x1b%G"));
        assert_false(has(out, n, "Object name"));
        assert_false(has(out, n, "Paris"));
        assert_false(has(out, n, "thumb"));
        g_free(out);
        free(copy);
        g_byte_array_free(a, TRUE);
    }
}

static void test_iptc_nothing_kept_or_broken(void **state)
{
    GByteArray *a = g_byte_array_new(), *d = g_byte_array_new();
    size_t n = 99;
    unsigned char *copy;

    (void)state;
    iim(d, 2, 5, "Object name");
    resource(a, 0x0404, "", d->data, d->len);
    assert_null(metadata_filter_iptc(a->data, a->len, &n));
    assert_int_equal(n, 0);
    g_byte_array_free(a, TRUE);
    g_byte_array_free(d, TRUE);

    /* Every truncation of a good block either fails or keeps less: never reads past it. */
    a = ps3_block(true);
    for (size_t cut = 0; cut < a->len; cut++) {
        unsigned char *out;

        copy = (unsigned char *)tu_memdup(a->data, cut);
        out = metadata_filter_iptc(copy, cut, &n);
        if (out != NULL)
            assert_true(n <= a->len);
        g_free(out);
        free(copy);
    }
    g_byte_array_free(a, TRUE);
    assert_null(metadata_filter_iptc((const unsigned char *)"8BIM", 4, &n));
}

static const char xmp_doc[] =
    "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
    " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
    "  <rdf:Description rdf:about=\"\"\n"
    "    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n"
    "    xmlns:xmpRights=\"http://ns.adobe.com/xap/1.0/rights/\"\n"
    "    xmlns:photoshop=\"http://ns.adobe.com/photoshop/1.0/\"\n"
    "    xmlns:exif=\"http://ns.adobe.com/exif/1.0/\"\n"
    "    xmlns:st=\"http://example.com/struct/\"\n"
    "    xmpRights:Marked=\"True\" photoshop:City=\"Paris\">\n"
    "   <dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">Secret "
    "title</rdf:li></rdf:Alt></dc:title>\n"
    "   <dc:creator><rdf:Seq><rdf:li>Jane &amp; Co</rdf:li></rdf:Seq></dc:creator>\n"
    "   <dc:rights><rdf:Alt><rdf:li xml:lang=\"x-default\">(c) 2026 "
    "Jane</rdf:li></rdf:Alt></dc:rights>\n"
    "   <exif:GPSLatitude>48,51.4N</exif:GPSLatitude>\n"
    "   <st:thing><rdf:Description><dc:rights>nested, "
    "dropped</dc:rights></rdf:Description></st:thing>\n"
    "  </rdf:Description>\n"
    "  <rdf:Description rdf:about=\"\" xmlns:d=\"http://purl.org/dc/elements/1.1/\"\n"
    "    xmlns:cc=\"http://creativecommons.org/ns#\">\n"
    "   <d:publisher><rdf:Bag><rdf:li>Publisher Ltd</rdf:li></rdf:Bag></d:publisher>\n"
    "   <d:subject><rdf:Bag><rdf:li>keyword</rdf:li></rdf:Bag></d:subject>\n"
    "   <cc:license rdf:resource=\"https://creativecommons.org/licenses/by/4.0/\"/>\n"
    "  </rdf:Description>\n"
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
    "<?xpacket end=\"w\"?>\0\0";

static void test_xmp_keeps_rights(void **state)
{
    /* What the filtered document keeps (true) and drops (false). */
    static const struct {
        const char *text;
        bool kept;
    } parts[] = {
        {"xmpRights:Marked=\"True\"", true},
        {"<rdf:li>Jane &amp; Co</rdf:li>", true},
        {"(c) 2026 Jane", true},
        /* The source's own prefix for the Dublin Core namespace. */
        {"<d:publisher>", true},
        {"Publisher Ltd", true},
        {"cc:license", true},
        {"xmlns:dc=\"http://purl.org/dc/elements/1.1/\"", true},
        {"Secret title", false},
        {"Paris", false},
        {"48,51.4N", false},
        {"nested, dropped", false},
        {"keyword", false},
    };
    size_t n = 0, n2 = 0;
    char *copy = tu_memdup(xmp_doc, sizeof(xmp_doc) - 1);
    char *out = metadata_filter_xmp(copy, sizeof(xmp_doc) - 1, &n);
    char *again;

    (void)state;
    assert_non_null(out);
    assert_int_equal(strlen(out), n);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if ((strstr(out, parts[i].text) != NULL) != parts[i].kept)
            fail_msg("%s should be %s", parts[i].text, parts[i].kept ? "kept" : "dropped");
    /* The result is well-formed XMP: filtering it again changes nothing. */
    again = metadata_filter_xmp(out, n, &n2);
    assert_non_null(again);
    assert_string_equal(again, out);
    g_free(again);
    g_free(out);
    free(copy);
}

static void test_xmp_nothing_kept_or_broken(void **state)
{
    static const char plain[] = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
                                "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
                                "<rdf:Description xmlns:exif=\"http://ns.adobe.com/exif/1.0/\" "
                                "exif:Make=\"Cam\"/></rdf:RDF></x:xmpmeta>";
    size_t n = 5;
    char *copy;

    (void)state;
    assert_null(metadata_filter_xmp(plain, strlen(plain), &n));
    assert_int_equal(n, 0);
    assert_null(metadata_filter_xmp("", 0, &n));
    assert_null(metadata_filter_xmp("<a><b></a>", 10, &n));
    assert_null(metadata_filter_xmp("<a>\0</a>", 8, &n));
    for (size_t cut = 0; cut < sizeof(xmp_doc) - 30; cut += 7) {
        char *out;

        copy = tu_memdup(xmp_doc, cut);
        out = metadata_filter_xmp(copy, cut, &n);
        g_free(out); /* a truncated document does not parse: NULL */
        assert_null(out);
        free(copy);
    }
}

/*
 * Packets as edited photos carry them: a property written twice (not valid
 * RDF) does not cost the copyright; a DOCTYPE (never in XMP, the door to
 * entity tricks) is refused whole.
 */
static void test_xmp_repeated_property_and_dtd(void **state)
{
    static const char repeated[] =
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
        "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
        "<rdf:Description xmlns:photoshop=\"http://ns.adobe.com/photoshop/1.0/\">"
        "<photoshop:LegacyIPTCDigest>00FF</photoshop:LegacyIPTCDigest>"
        "<photoshop:LegacyIPTCDigest>00FF</photoshop:LegacyIPTCDigest></rdf:Description>"
        "<rdf:Description xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
        "<dc:creator><rdf:Seq><rdf:li>Jane</rdf:li></rdf:Seq></dc:creator>"
        "<dc:description><rdf:Alt><rdf:li>a caption</rdf:li></rdf:Alt></dc:description>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>";
    static const char dtd[] =
        "<!DOCTYPE x [<!ENTITY e \"Jane\">]>"
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
        "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
        "<rdf:Description xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
        "<dc:creator>&e;</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>";
    size_t n = 0;
    char *out = metadata_filter_xmp(repeated, strlen(repeated), &n);

    (void)state;
    assert_non_null(out);
    assert_non_null(strstr(out, "<rdf:li>Jane</rdf:li>"));
    assert_null(strstr(out, "LegacyIPTCDigest"));
    assert_null(strstr(out, "a caption"));
    g_free(out);
    assert_null(metadata_filter_xmp(dtd, strlen(dtd), &n));
}

/* A real JPEG through libvips: EXIF tags as fields, IPTC and XMP blobs; then strip and reload. */
static VipsImage *roundtrip(bool keep)
{
    VipsImage *b = NULL, *c = NULL, *loaded = NULL, *s = NULL, *out = NULL;
    GByteArray *ps3 = ps3_block(true);
    void *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;

    assert_int_equal(vips_black(&b, 64, 32, NULL), 0);
    assert_int_equal(vips_copy(b, &c, NULL), 0);
    vips_image_set_string(c, "exif-ifd0-Copyright", "(c) 2026 Jane");
    vips_image_set_string(c, "exif-ifd0-Artist", "Jane Artist");
    vips_image_set_string(c, "exif-ifd0-Make", "TestMake");
    vips_image_set_string(c, "exif-ifd3-GPSLatitudeRef", "N");
    vips_image_set_blob_copy(c, VIPS_META_XMP_NAME, xmp_doc, sizeof(xmp_doc) - 1);
    vips_image_set_blob_copy(c, VIPS_META_IPTC_NAME, ps3->data, ps3->len);
    if (vips_jpegsave_buffer(c, &buf, &len, NULL) != 0)
        fail_msg("%s", vips_error_buffer());
    loaded = vips_image_new_from_buffer(buf, len, "", NULL);
    assert_non_null(loaded);
    assert_true(vips_image_get_typeof(loaded, "exif-ifd3-GPSLatitudeRef") != 0);
    assert_int_equal(vips_copy(loaded, &s, NULL), 0);
    metadata_strip(s, keep);
    /* libvips reads the source buffer lazily: buf lives until the pixels are out. */
    if (vips_jpegsave_buffer(s, &buf2, &len2, "strip", !metadata_any(s), NULL) != 0)
        fail_msg("%s", vips_error_buffer());
    out = vips_image_new_from_buffer(buf2, len2, "", NULL);
    assert_non_null(out);
    assert_int_equal(vips_image_get_width(out), 64);
    assert_int_equal(vips_image_get_height(out), 32);
    g_object_unref(b);
    g_object_unref(c);
    g_object_unref(loaded);
    g_object_unref(s);
    g_byte_array_free(ps3, TRUE);
    g_free(buf);
    /* out's header is read; keep its bytes alive with it. */
    g_signal_connect_swapped(out, "close", G_CALLBACK(g_free), buf2);
    return out;
}

static bool blob_has(VipsImage *img, const char *name, const char *s)
{
    const void *d;
    size_t n;

    if (vips_image_get_typeof(img, name) == 0 || vips_image_get_blob(img, name, &d, &n) != 0)
        return false;
    return memmem(d, n, s, strlen(s)) != NULL;
}

static void test_jpeg_keep_copyright(void **state)
{
    VipsImage *out = roundtrip(true);
    const char *v = NULL;

    (void)state;
    assert_int_equal(vips_image_get_string(out, "exif-ifd0-Copyright", &v), 0);
    assert_non_null(strstr(v, "(c) 2026 Jane"));
    assert_int_equal(vips_image_get_string(out, "exif-ifd0-Artist", &v), 0);
    assert_non_null(strstr(v, "Jane Artist"));
    assert_int_equal(vips_image_get_typeof(out, "exif-ifd0-Make"), 0);
    assert_int_equal(vips_image_get_typeof(out, "exif-ifd3-GPSLatitudeRef"), 0);
    assert_true(blob_has(out, VIPS_META_XMP_NAME, "(c) 2026 Jane"));
    assert_false(blob_has(out, VIPS_META_XMP_NAME, "48,51.4N"));
    assert_true(blob_has(out, VIPS_META_IPTC_NAME, "Jane Artist"));
    assert_false(blob_has(out, VIPS_META_IPTC_NAME, "Paris"));
    g_object_unref(out);
}

static void test_jpeg_strip_all(void **state)
{
    VipsImage *out = roundtrip(false);

    (void)state;
    assert_int_equal(vips_image_get_typeof(out, VIPS_META_EXIF_NAME), 0);
    assert_int_equal(vips_image_get_typeof(out, VIPS_META_XMP_NAME), 0);
    assert_int_equal(vips_image_get_typeof(out, VIPS_META_IPTC_NAME), 0);
    g_object_unref(out);
}

static int setup(void **state)
{
    (void)state;
    return VIPS_INIT("test_metadata") == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iptc_keeps_copyright_datasets),
        cmocka_unit_test(test_iptc_nothing_kept_or_broken),
        cmocka_unit_test(test_xmp_keeps_rights),
        cmocka_unit_test(test_xmp_nothing_kept_or_broken),
        cmocka_unit_test(test_xmp_repeated_property_and_dtd),
        cmocka_unit_test(test_jpeg_keep_copyright),
        cmocka_unit_test(test_jpeg_strip_all),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}

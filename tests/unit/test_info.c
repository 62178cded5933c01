/* test_info.c: /info options, presets, the signature vector, BlurHash and the JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <vips/vips.h>

#include "config.h"
#include "info.h"
#include "inforeport.h"
#include "process.h"
#include "signature.h"
#include "url.h"
#include "testutil.h"

/* Applies seg to io; returns the error code. */
static int apply(struct infoopts *io, const char *seg)
{
    struct errinfo e;
    char *copy = tu_memdup(seg, strlen(seg));
    int ret;

    err_clear(&e);
    ret = info_options_apply(io, copy, strlen(seg), ':', &e);
    free(copy);
    return ret;
}

static void test_defaults(void **state)
{
    struct infoopts io;

    (void)state;
    info_options_init(&io);
    assert_true(io.size && io.format && io.dimensions && io.exif && io.iptc && io.xmp);
    assert_false(io.exif_canonical);
    assert_false(io.colorspace || io.bands || io.sample_format || io.pages_number || io.alpha);
    assert_true(io.average_ignore_transparent);
    assert_int_equal(io.palette, 0);
    assert_int_equal(io.blurhash_x, 0);
    assert_int_equal(io.hashsums, 0);
    assert_true(info_needs_body(&io));
    assert_false(info_needs_pixels(&io));
}

static void test_names_and_aliases(void **state)
{
    struct infoopts io;

    (void)state;
    info_options_init(&io);
    assert_int_equal(apply(&io, "s:0"), 0);
    assert_int_equal(apply(&io, "f:false"), 0);
    assert_int_equal(apply(&io, "d:0"), 0);
    assert_false(io.size || io.format || io.dimensions);
    assert_int_equal(apply(&io, "cs:1"), 0);
    assert_int_equal(apply(&io, "b:t"), 0);
    assert_int_equal(apply(&io, "sf:true"), 0);
    assert_int_equal(apply(&io, "pn:1"), 0);
    assert_true(io.colorspace && io.bands && io.sample_format && io.pages_number);
    /* `a` is alpha here, not adjust; two booleans. */
    assert_int_equal(apply(&io, "a:1:1"), 0);
    assert_true(io.alpha && io.alpha_check_transparency);
    assert_int_equal(apply(&io, "exif:1:1"), 0);
    assert_true(io.exif && io.exif_canonical);
    assert_int_equal(apply(&io, "avg:1:0"), 0);
    assert_true(io.average);
    assert_false(io.average_ignore_transparent);
    assert_int_equal(apply(&io, "dc:1:1"), 0);
    assert_true(io.dominant_colors && io.dominant_build_missed);
    assert_int_equal(apply(&io, "bh:4:3"), 0);
    assert_int_equal(io.blurhash_x, 4);
    assert_int_equal(io.blurhash_y, 3);
    assert_int_equal(apply(&io, "p:16"), 0);
    assert_int_equal(io.palette, 16);
    assert_int_equal(apply(&io, "pg:2"), 0);
    assert_int_equal(io.page, 2);
    assert_int_equal(apply(&io, "chs:md5:sha512"), 0);
    assert_int_equal(io.hashsums, INFO_HASH_MD5 | INFO_HASH_SHA512);
    assert_int_equal(apply(&io, "cb:abc"), 0);
    assert_string_equal(io.cachebuster, "abc");
    assert_int_equal(apply(&io, "vm:0"), 0);
    assert_int_equal(apply(&io, "vts:1.5"), 0);
    assert_int_equal(apply(&io, "vtk:1"), 0);
    assert_int_equal(apply(&io, "do:1"), 0);
    assert_int_equal(apply(&io, "op:fp:0.5:0.5"), 0);
    assert_true(info_needs_pixels(&io));
}

static void test_crop(void **state)
{
    struct infoopts io;

    (void)state;
    info_options_init(&io);
    assert_int_equal(apply(&io, "c:100:50:nowe"), 0);
    assert_true(io.crop_w == 100 && io.crop_h == 50);
    assert_int_equal(io.crop_gravity.type, GRAV_NORTH_WEST);
    assert_int_equal(apply(&io, "crop:0.5:0.5:fp:0.2:0.8"), 0);
    assert_int_equal(io.crop_gravity.type, GRAV_FOCUS_POINT);
    assert_int_equal(apply(&io, "c:-1:5"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "c:1:1:nowhere"), ERR_INVALID_URL);
}

static void test_bad_arguments(void **state)
{
    struct infoopts io;

    (void)state;
    info_options_init(&io);
    assert_int_equal(apply(&io, "rs:fit:100:100"), ERR_INVALID_URL); /* processing only */
    assert_int_equal(apply(&io, "nonsense:1"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "s:maybe"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "s"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "s:1:1"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "p:1"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "p:257"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "p:-2"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "bh:10:1"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "bh:4"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "bh:x:1"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "chs:md4"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "hs:sha256"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "hs:sha256:xyz"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "hs:crc:00"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "pg:-1"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "vts:soon"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "op:obj"), ERR_INVALID_URL);
    assert_int_equal(apply(&io, "exp:1"), ERR_INVALID_URL); /* long expired */
    /* Security options need IMGPROXY_ALLOW_SECURITY_OPTIONS. */
    assert_int_equal(apply(&io, "msr:10"), ERR_SECURITY_OPTION);
    assert_int_equal(apply(&io, "msfs:1000"), ERR_SECURITY_OPTION);
    cfg.allow_security_options = true;
    assert_int_equal(apply(&io, "msr:10"), 0);
    assert_int_equal(io.max_src_resolution, 10000000);
    assert_int_equal(apply(&io, "msfs:1000"), 0);
    assert_int_equal(io.max_src_file_size, 1000);
}

static void test_hashsum_and_expires(void **state)
{
    struct infoopts io;
    char seg[64];

    (void)state;
    info_options_init(&io);
    assert_int_equal(apply(&io, "hs:md5:D41D8CD98F00B204E9800998ECF8427E"), 0);
    assert_int_equal(io.hashsum_type, INFO_HASH_MD5);
    assert_int_equal(apply(&io, "hs:none"), 0);
    assert_int_equal(io.hashsum_type, 0);
    snprintf(seg, sizeof(seg), "exp:%lld", (long long)time(NULL) + 3600);
    assert_int_equal(apply(&io, seg), 0);
    assert_true(io.has_expires);
    assert_int_equal(apply(&io, "chs:"), 0);
    assert_int_equal(io.hashsums, 0);
}

static void test_allowed_info_options(void **state)
{
    static char bh[] = "bh", size[] = "size";
    static char *allowed[] = {bh, size};
    struct infoopts io;
    struct errinfo e;

    (void)state;
    cfg.allowed_info_options.items = allowed;
    cfg.allowed_info_options.len = 2;
    info_options_init(&io);
    err_clear(&e);
    assert_int_equal(info_options_apply_url(&io, "bh:3:3", 6, ':', &e), 0);
    assert_int_equal(info_options_apply_url(&io, "size:0", 6, ':', &e), 0);
    /* Full and short names are counted separately. */
    assert_int_equal(info_options_apply_url(&io, "blurhash:3:3", 12, ':', &e), ERR_INVALID_URL);
    assert_int_equal(info_options_apply_url(&io, "s:0", 3, ':', &e), ERR_INVALID_URL);
    assert_int_equal(e.status, 404);
}

static void test_presets(void **state)
{
    struct infoopts io;
    struct errinfo e;
    char err[256];

    (void)state;
    info_presets_release();
    assert_int_equal(info_presets_add("default=xmp:0/blurhash:4:3", 26, err, sizeof(err)), 0);
    assert_int_equal(info_presets_add("loop=pr:loop/s:0", 16, err, sizeof(err)), 0);
    assert_int_equal(info_presets_add("broken", 6, err, sizeof(err)), -1);
    assert_true(info_presets_has("default", 7));
    info_options_init(&io);
    err_clear(&e);
    assert_int_equal(info_options_apply_preset(&io, "default", 7, ':', &e), 0);
    assert_false(io.xmp);
    assert_int_equal(io.blurhash_x, 4);
    /* A preset naming itself is applied once. */
    assert_int_equal(info_options_apply_preset(&io, "loop", 4, ':', &e), 0);
    assert_false(io.size);
    assert_int_equal(info_options_apply_preset(&io, "nope", 4, ':', &e), ERR_INVALID_URL);
    /* Info presets are not processing presets: pr: in an info URL finds info presets only. */
    assert_int_equal(apply(&io, "pr:default"), 0);
    info_presets_release();
    assert_false(info_presets_has("default", 7));
}

static void test_only_presets_setting(void **state)
{
    static char empty[] = "", no[] = "false", yes[] = "1";

    (void)state;
    cfg.only_presets = true;
    cfg.info_only_presets = empty;
    assert_true(info_only_presets());
    cfg.info_only_presets = no;
    assert_false(info_only_presets());
    cfg.only_presets = false;
    cfg.info_only_presets = yes;
    assert_true(info_only_presets());
}

/* The reference's /info vector: key "secret", salt "hello", over what follows the signature. */
static void test_info_signature_vector(void **state)
{
    static const unsigned char key[] = "secret", salt[] = "hello";
    static struct bytes k, s;
    const char *uri = "/info/JEhqgzEF3Ot7h7LUDEovBgU4NOKe2ucMqPPbfY0cTGA/size:1/dimensions:1/"
                      "plain/http://example.com/images/curiosity.jpg";
    struct urlparts u;
    struct errinfo e;
    char *copy = tu_memdup(uri, strlen(uri));

    (void)state;
    k.data = (unsigned char *)key;
    k.len = 6;
    s.data = (unsigned char *)salt;
    s.len = 5;
    cfg.keys = &k;
    cfg.nkeys = 1;
    cfg.salts = &s;
    cfg.nsalts = 1;
    cfg.signature_size = 32;
    err_clear(&e);
    assert_int_equal(url_split(&u, copy, strlen(uri), "/info", &e), 0);
    assert_string_equal(u.signature, "JEhqgzEF3Ot7h7LUDEovBgU4NOKe2ucMqPPbfY0cTGA");
    assert_string_equal(u.path,
                        "/size:1/dimensions:1/plain/http://example.com/images/curiosity.jpg");
    assert_int_equal(signature_verify(u.signature, strlen(u.signature), u.path, u.path_len, &e), 0);
    u.presets_override = true;
    u.only_presets = false;
    assert_int_equal(url_parse_path(&u, ':', &e), 0);
    assert_int_equal(u.nsegments, 2);
    assert_string_equal(u.source, "http://example.com/images/curiosity.jpg");
    url_release(&u);
    /* One byte of the path changed: refused. */
    copy[strlen(uri) - 5] = 'X';
    assert_int_equal(url_split(&u, copy, strlen(uri), "/info", &e), 0);
    assert_int_equal(signature_verify(u.signature, strlen(u.signature), u.path, u.path_len, &e),
                     ERR_SIGNATURE);
    url_release(&u);
    free(copy);
}

/* A flat image: the DC component is the colour itself; the structure is BlurHash's. */
static void test_blurhash_flat(void **state)
{
    static const char digits[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
    unsigned char px[32 * 32 * 3];
    char bh[INFOREPORT_BLURHASH_MAX];
    int v = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(px); i += 3) {
        px[i] = 200;
        px[i + 1] = 100;
        px[i + 2] = 50;
    }
    assert_int_equal(inforeport_blurhash(px, 32, 32, 3, 4, 3, bh, sizeof(bh)), 0);
    assert_int_equal(strlen(bh), 1 + 1 + 4 + 2 * 11);
    assert_int_equal(bh[0], 'L'); /* (4 - 1) + (3 - 1) * 9 = 21 */
    for (size_t i = 0; i < strlen(bh); i++)
        assert_non_null(strchr(digits, bh[i]));
    /* DC: (200 << 16) + (100 << 8) + 50 in four base-83 digits. */
    for (int i = 2; i < 6; i++)
        v = v * 83 + (int)(strchr(digits, bh[i]) - digits);
    assert_int_equal(v, (200 << 16) + (100 << 8) + 50);
    /* One component: the size flag, a zero maximum and the DC only. */
    assert_int_equal(inforeport_blurhash(px, 32, 32, 3, 1, 1, bh, sizeof(bh)), 0);
    assert_int_equal(strlen(bh), 6);
    assert_int_equal(bh[0], '0');
    assert_int_equal(bh[1], '0');
    assert_int_equal(inforeport_blurhash(px, 32, 32, 3, 0, 1, bh, sizeof(bh)), -1);
    assert_int_equal(inforeport_blurhash(px, 32, 32, 3, 10, 1, bh, sizeof(bh)), -1);
    assert_int_equal(inforeport_blurhash(px, 32, 32, 2, 1, 1, bh, sizeof(bh)), -1);
}

/* A horizontal ramp: the x components carry energy, so the AC maximum is above zero. */
static void test_blurhash_ramp(void **state)
{
    unsigned char px[16 * 8 * 4];
    char bh[INFOREPORT_BLURHASH_MAX];

    (void)state;
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 16; x++) {
            unsigned char *p = px + (y * 16 + x) * 4;

            p[0] = p[1] = p[2] = (unsigned char)(x * 17);
            p[3] = 255;
        }
    assert_int_equal(inforeport_blurhash(px, 16, 8, 4, 3, 3, bh, sizeof(bh)), 0);
    assert_int_equal(strlen(bh), 1 + 1 + 4 + 2 * 8);
    assert_true(bh[1] != '0');
}

/* Reads a fixture file into *len bytes (g_free). */
static unsigned char *fixture(const char *name, size_t *len)
{
    const char *dir = getenv("IMGFCGI_TEST_FIXTURES");
    char *path = g_build_filename(dir != NULL ? dir : "tests/fixtures", name, NULL);
    gchar *data = NULL;
    gsize n = 0;

    assert_true(g_file_get_contents(path, &data, &n, NULL));
    g_free(path);
    *len = n;
    return (unsigned char *)data;
}

/* inforeport_build() on data with io; the parsed JSON object (caller unrefs the parser). */
static JsonObject *build_bytes(const unsigned char *data, size_t len, enum imgtype type,
                               const struct infoopts *io, JsonParser **parser)
{
    struct info_source src;
    struct errinfo e;
    char *json = NULL;

    src.data = data;
    src.len = len;
    src.complete = true;
    src.size = (long long)len;
    src.type = type;
    err_clear(&e);
    if (inforeport_build(io, &src, NULL, &json, &e) != 0)
        fail_msg("inforeport_build: %s", e.msg);
    *parser = json_parser_new();
    assert_true(json_parser_load_from_data(*parser, json, -1, NULL));
    g_free(json);
    return json_node_get_object(json_parser_get_root(*parser));
}

/* build_bytes() on a fixture. */
static JsonObject *build(const char *name, enum imgtype type, const struct infoopts *io,
                         JsonParser **parser)
{
    size_t len;
    unsigned char *data = fixture(name, &len);
    JsonObject *o = build_bytes(data, len, type, io, parser);

    g_free(data);
    return o;
}

static void test_report_jpeg(void **state)
{
    struct infoopts io;
    JsonParser *p;
    JsonObject *o;

    (void)state;
    info_options_init(&io);
    io.blurhash_x = 4;
    io.blurhash_y = 3;
    io.average = true;
    io.colorspace = io.bands = io.sample_format = io.pages_number = true;
    io.hashsums = INFO_HASH_MD5 | INFO_HASH_SHA256;
    io.palette = 8;
    io.dominant_colors = true;
    io.dominant_build_missed = true;
    o = build("orientation-6.jpg", IMGTYPE_JPEG, &io, &p);
    assert_string_equal(json_object_get_string_member(o, "format"), "jpeg");
    assert_string_equal(json_object_get_string_member(o, "mime_type"), "image/jpeg");
    /* Stored 250x400 with orientation 6: answered as shown, 400x250. */
    assert_int_equal(json_object_get_int_member(o, "width"), 400);
    assert_int_equal(json_object_get_int_member(o, "height"), 250);
    assert_int_equal(json_object_get_int_member(o, "orientation"), 6);
    /* libexif's value keeps the field's padding: "E-M1" and spaces. */
    assert_true(g_str_has_prefix(
        json_object_get_string_member(json_object_get_object_member(o, "exif"), "Model"), "E-M1"));
    assert_true(json_object_has_member(o, "iptc"));
    assert_true(json_object_has_member(o, "xmp"));
    assert_string_equal(json_object_get_string_member(o, "colorspace"), "srgb");
    assert_int_equal(json_object_get_int_member(o, "bands"), 3);
    assert_string_equal(json_object_get_string_member(o, "sample_format"), "uchar");
    assert_int_equal(json_object_get_int_member(o, "pages_number"), 1);
    assert_int_equal(strlen(json_object_get_string_member(o, "blurhash")), 28);
    assert_int_equal(json_object_get_int_member(json_object_get_object_member(o, "average"), "A"),
                     255);
    assert_int_equal(
        strlen(json_object_get_string_member(json_object_get_object_member(o, "hashsums"), "md5")),
        32);
    assert_int_equal(json_array_get_length(json_object_get_array_member(o, "palette")), 8);
    assert_int_equal(json_object_get_size(json_object_get_object_member(o, "dominant_colors")), 6);
    g_object_unref(p);

    /* Canonical EXIF names. */
    info_options_init(&io);
    io.exif_canonical = true;
    o = build("orientation-6.jpg", IMGTYPE_JPEG, &io, &p);
    assert_string_equal(
        json_object_get_string_member(json_object_get_object_member(o, "exif"), "DateTime"),
        "2015:11:14 19:27:56");
    g_object_unref(p);
}

static void test_report_alpha_and_pages(void **state)
{
    struct infoopts io;
    JsonParser *p;
    JsonObject *o;

    (void)state;
    info_options_init(&io);
    io.alpha = true;
    io.alpha_check_transparency = true;
    io.pages_number = true;
    io.crop_w = 60;
    io.crop_h = 40;
    io.crop_gravity.type = GRAV_NORTH_WEST;
    o = build("animated.gif", IMGTYPE_GIF, &io, &p);
    assert_int_equal(json_object_get_int_member(o, "width"), 120);
    assert_int_equal(json_object_get_int_member(o, "height"), 80);
    assert_true(json_object_get_int_member(o, "pages_number") > 1);
    assert_true(json_object_has_member(o, "alpha"));
    {
        JsonObject *c = json_object_get_object_member(o, "crop");

        TU_ASSERT_NEAR(json_object_get_double_member(c, "left"), 0);
        TU_ASSERT_NEAR(json_object_get_double_member(c, "width"), 0.5);
        TU_ASSERT_NEAR(json_object_get_double_member(c, "height"), 0.5);
    }
    g_object_unref(p);
    /* Only size and format: nothing else. */
    info_options_init(&io);
    io.dimensions = io.exif = io.iptc = io.xmp = false;
    assert_false(info_needs_body(&io));
    o = build("alpha.png", IMGTYPE_PNG, &io, &p);
    assert_int_equal(json_object_get_size(o), 3);
    g_object_unref(p);
}

static void test_report_hashsum_mismatch(void **state)
{
    struct infoopts io;
    struct info_source src;
    struct errinfo e;
    char *json = NULL;

    (void)state;
    info_options_init(&io);
    assert_int_equal(apply(&io, "hs:md5:00000000000000000000000000000000"), 0);
    src.data = (const unsigned char *)"GIF89a";
    src.len = 6;
    src.complete = true;
    src.size = 6;
    src.type = IMGTYPE_GIF;
    err_clear(&e);
    assert_int_equal(inforeport_build(&io, &src, NULL, &json, &e), ERR_SOURCE_TYPE);
    assert_int_equal(e.status, 422);
    assert_null(json);
    /* A broken source: 422, no crash. */
    info_options_init(&io);
    assert_int_equal(inforeport_build(&io, &src, NULL, &json, &e), ERR_BROKEN_IMAGE);
    assert_int_equal(e.status, 422);
}

/* Appends one 8BIM resource (id, Pascal name, data) to b, padded as Photoshop writes it. */
static void ps_resource(GByteArray *b, unsigned id, const char *name, const unsigned char *d,
                        size_t n)
{
    unsigned char head[7] = {'8',
                             'B',
                             'I',
                             'M',
                             (unsigned char)(id >> 8),
                             (unsigned char)id,
                             (unsigned char)strlen(name)};
    unsigned char size[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                             (unsigned char)(n >> 8), (unsigned char)n};
    static const unsigned char zero = 0;

    g_byte_array_append(b, head, sizeof(head));
    g_byte_array_append(b, (const unsigned char *)name, (guint)strlen(name));
    if ((1 + strlen(name)) % 2 != 0)
        g_byte_array_append(b, &zero, 1);
    g_byte_array_append(b, size, sizeof(size));
    g_byte_array_append(b, d, (guint)n);
    if (n % 2 != 0)
        g_byte_array_append(b, &zero, 1);
}

/* ResolutionInfo: 240 dpi wide in inches, 72.5 px/cm high in picas. */
static const unsigned char ps_resinfo[16] = {0x00, 0xF0, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
                                             0x00, 0x48, 0x80, 0x00, 0x00, 0x02, 0x00, 0x04};

/* A Photoshop block: "Photoshop 3.0", an IPTC resource (one dataset), a named resource of odd size,
 * then ResolutionInfo. */
static GByteArray *ps_block(void)
{
    static const unsigned char iptc[] = {0x1C, 0x02, 0x78, 0x00, 0x02, 'h', 'i'};
    static const unsigned char odd[] = {1, 2, 3};
    GByteArray *b = g_byte_array_new();

    g_byte_array_append(b, (const unsigned char *)"Photoshop 3.0", 14);
    ps_resource(b, 0x0404, "", iptc, sizeof(iptc));
    ps_resource(b, 0x0FA0, "abc", odd, sizeof(odd));
    ps_resource(b, 0x03ED, "", ps_resinfo, sizeof(ps_resinfo));
    return b;
}

/* A small JPEG made by libvips with block as an APP13 segment right after SOI. */
static unsigned char *jpeg_with_app13(const unsigned char *block, size_t n, size_t *len)
{
    VipsImage *img = NULL;
    void *jpg = NULL;
    size_t jlen = 0;
    GByteArray *b = g_byte_array_new();
    unsigned char app13[4] = {0xFF, 0xED, (unsigned char)((n + 2) >> 8), (unsigned char)(n + 2)};

    assert_true(n + 2 <= 0xFFFF);
    assert_int_equal(vips_black(&img, 16, 8, NULL), 0);
    assert_int_equal(vips_jpegsave_buffer(img, &jpg, &jlen, NULL), 0);
    g_object_unref(img);
    g_byte_array_append(b, jpg, 2);
    g_byte_array_append(b, app13, sizeof(app13));
    g_byte_array_append(b, block, (guint)n);
    g_byte_array_append(b, (const unsigned char *)jpg + 2, (guint)(jlen - 2));
    g_free(jpg);
    *len = b->len;
    return g_byte_array_free(b, FALSE);
}

static void test_report_photoshop(void **state)
{
    struct infoopts io;
    JsonParser *p;
    JsonObject *o, *r;
    GByteArray *b = ps_block();
    unsigned char *jpg;
    size_t len;
    char *text;

    (void)state;
    info_options_init(&io);
    jpg = jpeg_with_app13(b->data, b->len, &len);
    o = build_bytes(jpg, len, IMGTYPE_JPEG, &io, &p);
    g_free(jpg);
    assert_string_equal(
        json_object_get_string_member(json_object_get_object_member(o, "iptc"), "Caption"), "hi");
    r = json_object_get_object_member(json_object_get_object_member(o, "photoshop"), "resolution");
    assert_non_null(r);
    assert_int_equal(json_object_get_size(r), 6);
    /* 240.0 is a whole number: a JSON integer. */
    assert_int_equal(json_node_get_value_type(json_object_get_member(r, "XResolution")),
                     G_TYPE_INT64);
    assert_int_equal(json_object_get_int_member(r, "XResolution"), 240);
    assert_string_equal(json_object_get_string_member(r, "XResolutionUnit"), "inches");
    assert_string_equal(json_object_get_string_member(r, "WidthUnit"), "inches");
    assert_int_equal(json_node_get_value_type(json_object_get_member(r, "YResolution")),
                     G_TYPE_DOUBLE);
    TU_ASSERT_NEAR(json_object_get_double_member(r, "YResolution"), 72.5);
    assert_string_equal(json_object_get_string_member(r, "YResolutionUnit"), "cm");
    assert_string_equal(json_object_get_string_member(r, "HeightUnit"), "picas");
    g_object_unref(p);

    /* iptc off: no photoshop either. */
    io.iptc = false;
    jpg = jpeg_with_app13(b->data, b->len, &len);
    o = build_bytes(jpg, len, IMGTYPE_JPEG, &io, &p);
    g_free(jpg);
    assert_false(json_object_has_member(o, "iptc") || json_object_has_member(o, "photoshop"));
    g_object_unref(p);

    /* The walker alone gives the same object, also without the "Photoshop 3.0" name. */
    o = inforeport_photoshop(b->data + 14, b->len - 14);
    assert_non_null(o);
    {
        JsonNode *n = json_node_init_object(json_node_alloc(), o);

        text = json_to_string(n, FALSE);
        json_node_unref(n);
    }
    json_object_unref(o);
    assert_string_equal(text, "{\"resolution\":{\"XResolution\":240,\"XResolutionUnit\":\"inches\","
                              "\"WidthUnit\":\"inches\",\"YResolution\":72.5,"
                              "\"YResolutionUnit\":\"cm\",\"HeightUnit\":\"picas\"}}");
    g_free(text);
    g_byte_array_free(b, TRUE);
}

/* A block the walker refuses: no photoshop object, nor a photoshop key through /info. */
static void assert_no_photoshop(const unsigned char *block, size_t n)
{
    struct infoopts io;
    JsonParser *p;
    JsonObject *o;
    unsigned char *copy = g_memdup2(block, n), *jpg;
    size_t len;

    /* An exact-size copy, so that ASan sees any read past the end. */
    assert_null(inforeport_photoshop(copy, n));
    g_free(copy);
    info_options_init(&io);
    jpg = jpeg_with_app13(block, n, &len);
    o = build_bytes(jpg, len, IMGTYPE_JPEG, &io, &p);
    g_free(jpg);
    assert_false(json_object_has_member(o, "photoshop"));
    g_object_unref(p);
}

static void test_report_photoshop_malformed(void **state)
{
    GByteArray *b = ps_block();
    GByteArray *m;
    size_t res; /* where the ResolutionInfo resource starts */

    (void)state;
    res = b->len - (4 + 2 + 2 + 4 + 16);
    assert_memory_equal(b->data + res, "8BIM\x03\xED", 6);
    /* Cut anywhere inside the ResolutionInfo resource: in its name, its size, its data. */
    for (size_t cut = res; cut < b->len; cut++)
        assert_no_photoshop(b->data, cut);
    /* The size says more than the block holds. */
    m = g_byte_array_new();
    g_byte_array_append(m, b->data, b->len);
    m->data[res + 8 + 3] = 17;
    assert_no_photoshop(m->data, m->len);
    m->data[res + 8] = 0xFF; /* size near 4 GB */
    assert_no_photoshop(m->data, m->len);
    g_byte_array_free(m, TRUE);
    /* Too short for ResolutionInfo (size 8, the block ends there). */
    m = g_byte_array_new();
    g_byte_array_append(m, b->data, (guint)(res + 8));
    {
        static const unsigned char eight[4] = {0, 0, 0, 8};

        g_byte_array_append(m, eight, 4);
        g_byte_array_append(m, ps_resinfo, 8);
    }
    assert_no_photoshop(m->data, m->len);
    g_byte_array_free(m, TRUE);
    /* An odd name length without its padding: the next field is off by one. */
    m = g_byte_array_new();
    g_byte_array_append(m, (const unsigned char *)"Photoshop 3.0", 14);
    {
        static const unsigned char head[] = {'8', 'B', 'I', 'M', 0x03, 0xED, 0x00};
        static const unsigned char size[4] = {0, 0, 0, 16};

        g_byte_array_append(m, head, sizeof(head)); /* no pad byte after the empty name */
        g_byte_array_append(m, size, 4);
        g_byte_array_append(m, ps_resinfo, 16);
    }
    assert_no_photoshop(m->data, m->len);
    /* A name length past the end. */
    m->data[14 + 6] = 0xFF;
    assert_no_photoshop(m->data, m->len);
    g_byte_array_free(m, TRUE);
    /* An unknown unit code. */
    m = g_byte_array_new();
    g_byte_array_append(m, b->data, b->len);
    m->data[b->len - 16 + 5] = 9;
    assert_no_photoshop(m->data, m->len);
    g_byte_array_free(m, TRUE);
    /* Not 8BIM, and nothing at all. */
    assert_no_photoshop((const unsigned char *)"Photoshop 3.0\0XXXX", 18);
    assert_no_photoshop((const unsigned char *)"Photoshop 3.0", 14);
    assert_null(inforeport_photoshop(NULL, 0));
    g_byte_array_free(b, TRUE);
}

/* The default cfg (restored around each test) and libvips as imgfcgi starts it. */
static int group_setup(void **state)
{
    if (tu_cfg_setup(state) != 0)
        return -1;
    return process_global_init("imgfcgi-unit-test");
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_cfg_reset, tu_cfg_reset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_names_and_aliases),
        T(test_crop),
        T(test_bad_arguments),
        T(test_hashsum_and_expires),
        T(test_allowed_info_options),
        T(test_presets),
        T(test_only_presets_setting),
        T(test_info_signature_vector),
        T(test_blurhash_flat),
        T(test_blurhash_ramp),
        T(test_report_jpeg),
        T(test_report_alpha_and_pages),
        T(test_report_hashsum_mismatch),
        T(test_report_photoshop),
        T(test_report_photoshop_malformed),
    };

    return cmocka_run_group_tests_name("info", tests, group_setup, tu_cfg_teardown);
}

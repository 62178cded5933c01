/*
 * test_adjust.c: imgproxy Pro's colour, geometry and encoder options: their
 * parsing and errors, their ETag canonical form, crop_aspect_ratio's
 * arithmetic, the settings behind them, and adjust.c's steps on small
 * synthetic images measured with libvips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "adjust.h"
#include "config.h"
#include "estimate.h"
#include "geometry.h"
#include "options.h"
#include "process.h"
#include "svg.h"
#include "testutil.h"

/* options_apply of seg (an exact-size copy) on po; returns its code. */
static int apply(struct procopts *po, const char *seg)
{
    size_t n = strlen(seg);
    char *copy = tu_memdup(seg, n);
    struct errinfo e;
    int rc;

    err_clear(&e);
    rc = options_apply(po, copy, n, ':', &e);
    free(copy);
    if (rc == ERR_INVALID_URL)
        assert_int_equal(e.status, 404);
    return rc;
}

#define APPLY_OK(po, seg)                                                                          \
    do {                                                                                           \
        if (apply((po), (seg)) != 0)                                                               \
            fail_msg("options_apply(\"%s\") failed", (seg));                                       \
    } while (0)

static void expect_invalid(const char *seg)
{
    struct procopts po;
    int rc;

    options_init(&po);
    rc = apply(&po, seg);
    if (rc != ERR_INVALID_URL)
        fail_msg("options_apply(\"%s\") = %d, want ERR_INVALID_URL", seg, rc);
}

static void test_defaults(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    assert_int_equal(po.brightness, 0);
    TU_ASSERT_NEAR(po.contrast, 1);
    TU_ASSERT_NEAR(po.saturation, 1);
    assert_int_equal(po.mc_color[0], 0xb3);
    assert_int_equal(po.dt_color1[2], 0);
    assert_int_equal(po.dt_color2[0], 0xff);
    TU_ASSERT_NEAR(po.gr_stop, 1);
    TU_ASSERT_NEAR(po.background_alpha, 1);
    /* The open-source result by default: no unsharp masking. */
    assert_int_equal(po.ush_mode, USH_NONE);
    TU_ASSERT_NEAR(po.ush_weight, 1);
    TU_ASSERT_NEAR(po.ush_divider, 24);
    assert_int_equal(po.resize_kernel, VIPS_KERNEL_LANCZOS3);
    assert_false(po.enc.jpeg_progressive);
    assert_int_equal(po.enc.png_quantization_colors, 256);
    assert_int_equal(po.enc.webp_compression, WEBP_LOSSY);
    assert_int_equal(po.enc.webp_preset, VIPS_FOREIGN_WEBP_PRESET_DEFAULT);
    assert_int_equal(po.enc.avif_subsample, AVIF_SUBSAMPLE_AUTO);
    assert_string_equal(po.color_profile, "");
    assert_false(adjust_colour_active(&po));
    assert_false(adjust_unsharp_runs(&po, true));
}

static void test_adjust_family(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "br:40");
    assert_int_equal(po.brightness, 40);
    APPLY_OK(&po, "brightness:-255");
    assert_int_equal(po.brightness, -255);
    APPLY_OK(&po, "co:1.5");
    TU_ASSERT_NEAR(po.contrast, 1.5);
    APPLY_OK(&po, "sa:0");
    TU_ASSERT_NEAR(po.saturation, 0);
    /* adjust: empty parts keep the value. */
    APPLY_OK(&po, "a:10::2");
    assert_int_equal(po.brightness, 10);
    TU_ASSERT_NEAR(po.contrast, 1.5);
    TU_ASSERT_NEAR(po.saturation, 2);
    APPLY_OK(&po, "adjust::0.5");
    assert_int_equal(po.brightness, 10);
    TU_ASSERT_NEAR(po.contrast, 0.5);
    assert_true(adjust_colour_active(&po));
    expect_invalid("br:256");
    expect_invalid("br:-256");
    expect_invalid("br:1.5");
    expect_invalid("br:");
    expect_invalid("co:-1");
    expect_invalid("sa:x");
    expect_invalid("a:1:2:3:4");
    expect_invalid("a:300");
}

static void test_tones_and_layers(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "mc:0.5");
    TU_ASSERT_NEAR(po.mc_intensity, 0.5);
    assert_int_equal(po.mc_color[1], 0xb3);
    APPLY_OK(&po, "monochrome:1:f00");
    assert_int_equal(po.mc_color[0], 255);
    assert_int_equal(po.mc_color[1], 0);
    APPLY_OK(&po, "dt:1:102030:405060");
    assert_int_equal(po.dt_color1[0], 0x10);
    assert_int_equal(po.dt_color2[2], 0x60);
    APPLY_OK(&po, "col:0.25:00ff00:true");
    TU_ASSERT_NEAR(po.col_opacity, 0.25);
    assert_int_equal(po.col_color[1], 255);
    assert_true(po.col_keep_alpha);
    APPLY_OK(&po, "gr:1:fff:up:0.2:0.8");
    TU_ASSERT_NEAR(po.gr_angle, 180);
    TU_ASSERT_NEAR(po.gr_start, 0.2);
    TU_ASSERT_NEAR(po.gr_stop, 0.8);
    APPLY_OK(&po, "gr:1::right");
    TU_ASSERT_NEAR(po.gr_angle, 270);
    APPLY_OK(&po, "gr:1::-90");
    TU_ASSERT_NEAR(po.gr_angle, 270);
    APPLY_OK(&po, "gr:0.5::left");
    TU_ASSERT_NEAR(po.gr_angle, 90);
    APPLY_OK(&po, "bga:0.5");
    TU_ASSERT_NEAR(po.background_alpha, 0.5);
    expect_invalid("mc:1.5");
    expect_invalid("mc:-0.1");
    expect_invalid("mc:1:ggg");
    expect_invalid("mc:1:ffff");
    expect_invalid("dt:1:000:fff:000");
    expect_invalid("col:2");
    expect_invalid("gr:1:000:sideways");
    expect_invalid("gr:1:000:down:1.5");
    expect_invalid("gr:1:000:down:0:0:0");
    expect_invalid("gr:nan");
    expect_invalid("bga:1.1");
}

static void test_unsharp_masking(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "ush:auto");
    assert_int_equal(po.ush_mode, USH_AUTO);
    assert_true(adjust_unsharp_runs(&po, true));
    assert_false(adjust_unsharp_runs(&po, false));
    APPLY_OK(&po, "sh:1");
    assert_false(adjust_unsharp_runs(&po, true));
    APPLY_OK(&po, "unsharp_masking:always:2:10");
    assert_int_equal(po.ush_mode, USH_ALWAYS);
    TU_ASSERT_NEAR(po.ush_weight, 2);
    TU_ASSERT_NEAR(po.ush_divider, 10);
    assert_true(adjust_unsharp_runs(&po, false));
    APPLY_OK(&po, "ush::3");
    assert_int_equal(po.ush_mode, USH_ALWAYS);
    TU_ASSERT_NEAR(po.ush_weight, 3);
    APPLY_OK(&po, "ush:none");
    assert_false(adjust_unsharp_runs(&po, true));
    expect_invalid("ush:sometimes");
    expect_invalid("ush:auto:0");
    expect_invalid("ush:auto:1:-1");
}

static void test_geometry_options(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "car:1.7778");
    TU_ASSERT_NEAR(po.crop_ar, 1.7778);
    assert_false(po.crop_ar_enlarge);
    APPLY_OK(&po, "crop_ar:1:1");
    assert_true(po.crop_ar_enlarge);
    APPLY_OK(&po, "crop_aspect_ratio:0");
    TU_ASSERT_NEAR(po.crop_ar, 0);
    expect_invalid("car:-1");
    expect_invalid("car:16:9:1");
    expect_invalid("car:16/9");
    APPLY_OK(&po, "ra:nearest");
    assert_int_equal(po.resize_kernel, VIPS_KERNEL_NEAREST);
    APPLY_OK(&po, "resizing_algorithm:lanczos2");
    assert_int_equal(po.resize_kernel, VIPS_KERNEL_LANCZOS2);
    APPLY_OK(&po, "ra:linear");
    assert_int_equal(po.resize_kernel, VIPS_KERNEL_LINEAR);
    APPLY_OK(&po, "ra:cubic");
    assert_int_equal(po.resize_kernel, VIPS_KERNEL_CUBIC);
    expect_invalid("ra:mitchell");
    expect_invalid("ra:");
}

static void test_crop_aspect_arithmetic(void **state)
{
    int w, h;

    (void)state;
    /* The documented example: crop 100x200 with car:1:1 grows to 200x200. */
    w = 100, h = 200;
    geom_crop_aspect(1000, 1000, 1, true, &w, &h);
    assert_int_equal(w, 200);
    assert_int_equal(h, 200);
    /* Without enlarge the longer side shrinks. */
    w = 100, h = 200;
    geom_crop_aspect(1000, 1000, 1, false, &w, &h);
    assert_int_equal(w, 100);
    assert_int_equal(h, 100);
    /* No crop: the whole image is the area. */
    w = 0, h = 0;
    geom_crop_aspect(300, 200, 1, false, &w, &h);
    assert_int_equal(w, 200);
    assert_int_equal(h, 200);
    /* Growing past the image shrinks back, keeping the ratio. */
    w = 0, h = 0;
    geom_crop_aspect(300, 200, 1, true, &w, &h);
    assert_int_equal(w, 200);
    assert_int_equal(h, 200);
    w = 0, h = 0;
    geom_crop_aspect(300, 200, 2, false, &w, &h);
    assert_int_equal(w, 300);
    assert_int_equal(h, 150);
    w = 0, h = 0;
    geom_crop_aspect(300, 200, 1e6, false, &w, &h);
    assert_int_equal(w, 300);
    assert_int_equal(h, 1);
}

static void test_plan_with_crop_aspect(void **state)
{
    struct procopts po;
    struct geom_plan p;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "car:1");
    geom_plan(&p, 300, 200, 1, false, &po);
    assert_int_equal(p.crop_w, 200);
    assert_int_equal(p.crop_h, 200);
    assert_int_equal(p.out_w, 200);
    assert_int_equal(p.out_h, 200);
}

static void test_blur_areas(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "ba:5:0.1:0.2:0.3:0.4");
    TU_ASSERT_NEAR(po.ba_sigma, 5);
    assert_int_equal(po.ba_n, 1);
    TU_ASSERT_NEAR(po.ba_rects[0][3], 0.4);
    APPLY_OK(&po, "blur_areas:2:0:0:1:1:0:0:0.5:0.5:0.5:0.5:0.5:0.5");
    assert_int_equal(po.ba_n, 3);
    TU_ASSERT_NEAR(po.ba_rects[2][0], 0.5);
    APPLY_OK(&po, "ba:3");
    assert_int_equal(po.ba_n, 0);
    expect_invalid("ba:-1");
    expect_invalid("ba:5:0:0:1");
    expect_invalid("ba:5:0:0:1:1.5");
    expect_invalid("ba:5:0:0:1:1:0:0:1:1:0:0:1:1:0:0:1:1");
}

static void test_encoder_options(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "jpgo:1:1:1:1:1:3");
    assert_true(po.enc.jpeg_progressive);
    assert_true(po.enc.jpeg_no_subsample);
    assert_true(po.enc.jpeg_trellis_quant);
    assert_true(po.enc.jpeg_overshoot_deringing);
    assert_true(po.enc.jpeg_optimize_scans);
    assert_int_equal(po.enc.jpeg_quant_table, 3);
    APPLY_OK(&po, "jpego:0");
    assert_false(po.enc.jpeg_progressive);
    assert_true(po.enc.jpeg_no_subsample);
    APPLY_OK(&po, "pngo:1:1:16");
    assert_true(po.enc.png_interlaced);
    assert_true(po.enc.png_quantize);
    assert_int_equal(po.enc.png_quantization_colors, 16);
    APPLY_OK(&po, "webpo:lossless:1:drawing");
    assert_int_equal(po.enc.webp_compression, WEBP_LOSSLESS);
    assert_true(po.enc.webp_smart_subsample);
    assert_int_equal(po.enc.webp_preset, VIPS_FOREIGN_WEBP_PRESET_DRAWING);
    APPLY_OK(&po, "webp_options:near_lossless");
    assert_int_equal(po.enc.webp_compression, WEBP_NEAR_LOSSLESS);
    APPLY_OK(&po, "avifo:off");
    assert_int_equal(po.enc.avif_subsample, AVIF_SUBSAMPLE_OFF);
    expect_invalid("jpgo:1:1:1:1:1:9");
    expect_invalid("jpgo:1:1:1:1:1:1:1");
    expect_invalid("pngo:1:1:1");
    expect_invalid("pngo:1:1:257");
    expect_invalid("webpo:lossier");
    expect_invalid("webpo:lossy:0:portrait");
    expect_invalid("avifo:maybe");
}

static void test_color_profile(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "cp:srgb");
    assert_string_equal(po.color_profile, "srgb");
    APPLY_OK(&po, "icc:cmyk");
    assert_string_equal(po.color_profile, "cmyk");
    APPLY_OK(&po, "color_profile:");
    assert_string_equal(po.color_profile, "");
    expect_invalid("cp:..%2Fetc%2Fpasswd");
    expect_invalid("cp:a/b");
    expect_invalid("cp:.hidden");
    expect_invalid("cp:%zz");
    expect_invalid("cp:no-such-profile-here");
    /* A file in IMGPROXY_COLOR_PROFILES_DIR, with or without its extension. */
    {
        char dir[] = "/tmp/imgfcgi-cp-XXXXXX";
        char path[256];
        FILE *f;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/My Profile.icc", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("not really a profile", f);
        fclose(f);
        cfg.color_profiles_dir = dir;
        options_init(&po);
        APPLY_OK(&po, "cp:My%20Profile");
        assert_string_equal(po.color_profile, "My Profile.icc");
        APPLY_OK(&po, "cp:My%20Profile.icc");
        assert_string_equal(po.color_profile, "My Profile.icc");
        unlink(path);
        rmdir(dir);
    }
}

/* Every new field reaches the ETag's canonical form. */
static void test_canonical(void **state)
{
    static const char *const segs[] = {
        "br:1",
        "co:2",
        "sa:0",
        "mc:1",
        "mc:0:fff",
        "dt:1",
        "dt:0:111",
        "dt:0:000:eee",
        "col:1",
        "col:0:f00",
        "col:0:000:1",
        "gr:1",
        "gr:0:f00",
        "gr:0:000:up",
        "gr:0:000:down:0.5",
        "gr:0::down:0:0.5",
        "ush:always",
        "ush::2",
        "ush:::3",
        "bga:0",
        "car:1",
        "car:0:1",
        "ra:nearest",
        "jpgo:1",
        "jpgo::1",
        "jpgo:::1",
        "jpgo::::1",
        "jpgo:::::1",
        "jpgo::::::1",
        "pngo:1",
        "pngo::1",
        "pngo:::2",
        "webpo:lossless",
        "webpo::1",
        "webpo:::photo",
        "avifo:on",
        "cp:srgb",
        "st:YXt9",
        "ba:1",
        "ba:0:0:0:1:1",
        "ba:0:0.5:0:0:0",
        "ba:0:0:0.5:0:0",
        "ba:0:0:0:0.5:0",
        "ba:0:0:0:0:0.5",
        "ba:0:0:0:0:0:0:0:0:0.5",
        "ba:0:0:0:0:0:0:0:0:0:0:0:0:0.5",
    };
    struct procopts po;
    char out[OPTIONS_CANONICAL_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
        options_init(&po);
        APPLY_OK(&po, segs[i]);
        if (options_canonical(&po, out, sizeof(out)) == 0)
            fail_msg("\"%s\" does not change the canonical options", segs[i]);
    }
    options_init(&po);
    APPLY_OK(&po, "br:0");
    APPLY_OK(&po, "ush:none");
    assert_int_equal(options_canonical(&po, out, sizeof(out)), 0);
}

static void test_allowed_names(void **state)
{
    char br[] = "br", saturation[] = "saturation";
    char *allowed[] = {br, saturation};
    struct procopts po;
    struct errinfo e;

    (void)state;
    cfg.allowed_processing_options.items = allowed;
    cfg.allowed_processing_options.len = 2;
    options_init(&po);
    err_clear(&e);
    assert_int_equal(options_apply_url(&po, "br:5", 4, ':', &e), 0);
    assert_int_equal(options_apply_url(&po, "saturation:2", 12, ':', &e), 0);
    assert_int_equal(options_apply_url(&po, "brightness:5", 12, ':', &e), ERR_INVALID_URL);
    assert_int_equal(options_apply_url(&po, "sa:2", 4, ':', &e), ERR_INVALID_URL);
    assert_int_equal(options_apply_url(&po, "car:1", 5, ':', &e), ERR_INVALID_URL);
    cfg.allowed_processing_options.items = NULL;
    cfg.allowed_processing_options.len = 0;
}

static void test_settings(void **state)
{
    struct config c;
    char err[256];

    (void)state;
    tu_clear_env();
    setenv("IMGPROXY_UNSHARP_MASKING_MODE", "auto", 1);
    setenv("IMGPROXY_WEBP_COMPRESSION", "near_lossless", 1);
    setenv("IMGPROXY_WEBP_PRESET", "text", 1);
    setenv("IMGPROXY_AVIF_SUBSAMPLE", "on", 1);
    setenv("IMGPROXY_UNSHARP_MASKING_WEIGHT", "0.5", 1);
    assert_int_equal(config_load(&c, err, sizeof(err)), 0);
    assert_int_equal(c.unsharp_masking_mode, USH_AUTO);
    assert_int_equal(c.webp_compression, WEBP_NEAR_LOSSLESS);
    assert_int_equal(c.webp_preset, VIPS_FOREIGN_WEBP_PRESET_TEXT);
    assert_int_equal(c.avif_subsample, AVIF_SUBSAMPLE_ON);
    assert_true(tu_near(c.unsharp_masking_weight, 0.5, 1e-9));
    config_release(&c);
    setenv("IMGPROXY_UNSHARP_MASKING_MODE", "sometimes", 1);
    assert_int_not_equal(config_load(&c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "IMGPROXY_UNSHARP_MASKING_MODE"));
    config_release(&c);
    setenv("IMGPROXY_UNSHARP_MASKING_MODE", "none", 1);
    setenv("IMGFCGI_PNG_FILTER", "up", 1);
    assert_int_equal(config_load(&c, err, sizeof(err)), 0);
    assert_int_equal(c.png_filter, 3);
    assert_int_equal(c.png_compression, 6);
    config_release(&c);
    setenv("IMGFCGI_PNG_FILTER", "adaptive", 1);
    assert_int_not_equal(config_load(&c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "IMGFCGI_PNG_FILTER"));
    config_release(&c);
    unsetenv("IMGFCGI_PNG_FILTER");
    setenv("IMGPROXY_UNSHARP_MASKING_DIVIDER", "0", 1);
    assert_int_not_equal(config_load(&c, err, sizeof(err)), 0);
    config_release(&c);
    tu_clear_env();
}

/* svg_inject_style() of doc with css, as a NUL-terminated string the caller frees. */
static char *inject(const char *doc, const char *css)
{
    struct buf out;
    char *s;

    buf_init(&out);
    assert_int_equal(svg_inject_style(doc, strlen(doc), css, strlen(css), &out), 0);
    s = malloc(out.len + 1);
    assert_non_null(s);
    memcpy(s, out.data, out.len);
    s[out.len] = '\0';
    buf_release(&out);
    return s;
}

static void expect_injected(const char *doc, const char *want)
{
    char *got = inject(doc, "a{b:c}");

    assert_string_equal(got, want);
    free(got);
}

static void test_style(void **state)
{
    struct procopts po;

    (void)state;
    expect_injected("<svg width=\"1\"><rect/></svg>",
                    "<svg width=\"1\"><style>a{b:c}</style><rect/></svg>");
    expect_injected(
        "<?xml version=\"1.0\"?>\n<!-- <svg> -->\n<!DOCTYPE svg [ <!ATTLIST a b CDATA \">\"> ]>"
        "<svg a=\"x>y\">text</svg>",
        "<?xml version=\"1.0\"?>\n<!-- <svg> -->\n<!DOCTYPE svg [ <!ATTLIST a b CDATA \">\"> ]>"
        "<svg a=\"x>y\"><style>a{b:c}</style>text</svg>");
    expect_injected("<svg/>", "<svg><style>a{b:c}</style></svg>");
    expect_injected("<s:svg xmlns:s=\"u\" />",
                    "<s:svg xmlns:s=\"u\" ><style>a{b:c}</style></s:svg>");
    expect_injected("<html><svg/></html>", "<html><svg/></html>");
    expect_injected("no markup", "no markup");
    expect_injected("<svg", "<svg");
    assert_true(svg_style_acceptable("rect{fill:#f00;stroke-width:2}", 30));
    assert_false(svg_style_acceptable("</style><script>", 16));
    assert_false(svg_style_acceptable("a{b:c}&amp;", 11));
    assert_false(svg_style_acceptable("@IMPORT 'x';", 12));
    assert_false(svg_style_acceptable("a{fill:URL(#x)}", 15));
    assert_false(svg_style_acceptable("a{fill:\\75rl(x)}", 16));
    assert_false(svg_style_acceptable("a\001", 2));
    options_init(&po);
    /* base64url of "rect{fill:#f00}", unpadded. */
    APPLY_OK(&po, "st:cmVjdHtmaWxsOiNmMDB9");
    assert_string_equal(po.style, "rect{fill:#f00}");
    APPLY_OK(&po, "style:cmVjdHtmaWxsOiNmMDB9");
    assert_string_equal(po.style, "rect{fill:#f00}");
    /* "a<b" and "url(x)" */
    expect_invalid("st:YTxi");
    expect_invalid("st:dXJsKHgp");
    expect_invalid("st:***");
}

/* The memory estimate of a 2000x1500 JPEG scaled to 500 wide, with options opts. */
static void estimate_with(const char *opts, enum imgtype out, struct estimate *est)
{
    struct estimate_header h = {.type = IMGTYPE_JPEG,
                                .width = 2000,
                                .height = 1500,
                                .bands = 3,
                                .sample_bytes = 1,
                                .pages = 1,
                                .orientation = 1,
                                .alpha = false};
    struct procopts po;
    char seg[256];

    options_init(&po);
    APPLY_OK(&po, "w:500");
    for (const char *p = opts; *p != '\0';) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);

        assert_true(n < sizeof(seg));
        memcpy(seg, p, n);
        seg[n] = '\0';
        APPLY_OK(&po, seg);
        p += n + (slash ? 1 : 0);
    }
    estimate_compute(&h, 100000, &po, out, est);
}

/* Every new option that costs memory shows in the estimate (ESTIMATE_FILTER, more bytes). */
static void test_estimate(void **state)
{
    static const char *const costly[] = {
        "br:10", "sa:0",       "mc:1",           "dt:1",    "col:0.5",
        "gr:1",  "ush:always", "bg:fff/bga:0.5", "cp:srgb", "ba:5:0:0:0.5:0.5",
    };
    struct estimate base, e;

    (void)state;
    estimate_with("", IMGTYPE_JPEG, &base);
    assert_false(base.reasons & ESTIMATE_FILTER);
    for (size_t i = 0; i < sizeof(costly) / sizeof(costly[0]); i++) {
        estimate_with(costly[i], IMGTYPE_JPEG, &e);
        if (!(e.reasons & ESTIMATE_FILTER) || e.total <= base.total)
            fail_msg("%s: reasons %#x, total %zu vs %zu", costly[i], e.reasons, e.total,
                     base.total);
    }
    /* blur_areas holds the decoded image: much more than a colour step. */
    estimate_with("ba:5:0:0:0.5:0.5", IMGTYPE_JPEG, &e);
    assert_true(e.in_memory >= (size_t)(500 * 375 * 3));
    /* pngo quantize: the palette encoder's whole-image cost, as IMGPROXY_PNG_QUANTIZE. */
    estimate_with("", IMGTYPE_PNG, &base);
    estimate_with("pngo::1", IMGTYPE_PNG, &e);
    assert_true(e.encoder > base.encoder);
    assert_true(e.reasons & ESTIMATE_WHOLE_ENC);
    /* car makes the crop (and the result) square. */
    estimate_with("car:1", IMGTYPE_JPEG, &e);
    assert_int_equal(e.out_w, 500);
    assert_int_equal(e.out_h, 500);
}

/* ---------------------------------------------------------------- pixels */

/* A w x h 3-band sRGB image of the constant (r, g, b). */
static VipsImage *solid(int w, int h, double r, double g, double b)
{
    VipsImage *black = NULL, *lin = NULL, *out = NULL;
    double a[3] = {0, 0, 0}, c[3] = {r, g, b};

    assert_int_equal(vips_black(&black, w, h, NULL), 0);
    assert_int_equal(vips_linear(black, &lin, a, c, 3, "uchar", TRUE, NULL), 0);
    assert_int_equal(vips_copy(lin, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
    g_object_unref(black);
    g_object_unref(lin);
    return out;
}

/* Band b's value at (x, y). */
static double pixel(VipsImage *img, int x, int y, int b)
{
    double *v = NULL;
    int n = 0;
    double r;

    assert_int_equal(vips_getpoint(img, &v, &n, x, y, NULL), 0);
    assert_true(b < n);
    r = v[b];
    g_free(v);
    return r;
}

static void test_pixels_brightness_saturation(void **state)
{
    struct procopts po;
    VipsImage *in = solid(8, 8, 128, 128, 128), *out;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "br:40");
    out = adjust_colour(in, &po);
    assert_non_null(out);
    assert_true(tu_near(pixel(out, 3, 3, 0), 168, 0.5));
    assert_int_equal(vips_image_get_format(out), VIPS_FORMAT_UCHAR);
    g_object_unref(out);
    g_object_unref(in);

    in = solid(8, 8, 200, 60, 40);
    options_init(&po);
    APPLY_OK(&po, "sa:0");
    out = adjust_colour(in, &po);
    assert_non_null(out);
    assert_true(tu_near(pixel(out, 0, 0, 0), pixel(out, 0, 0, 1), 2));
    assert_true(tu_near(pixel(out, 0, 0, 1), pixel(out, 0, 0, 2), 2));
    g_object_unref(out);
    g_object_unref(in);
}

static void test_pixels_layers(void **state)
{
    struct procopts po;
    VipsImage *in = solid(10, 10, 255, 255, 255), *out;

    (void)state;
    /* Monochrome of white is the colour; duotone of white is the highlight colour. */
    options_init(&po);
    APPLY_OK(&po, "mc:1:804020");
    out = adjust_colour(in, &po);
    assert_non_null(out);
    assert_true(tu_near(pixel(out, 5, 5, 0), 0x80, 1.5));
    assert_true(tu_near(pixel(out, 5, 5, 2), 0x20, 1.5));
    g_object_unref(out);
    options_init(&po);
    APPLY_OK(&po, "dt:1:000:00ff00");
    out = adjust_colour(in, &po);
    assert_true(tu_near(pixel(out, 5, 5, 1), 255, 1.5));
    assert_true(tu_near(pixel(out, 5, 5, 0), 0, 1.5));
    g_object_unref(out);
    /* colorize half red over white. */
    options_init(&po);
    APPLY_OK(&po, "col:0.5:f00");
    out = adjust_colour(in, &po);
    assert_true(tu_near(pixel(out, 5, 5, 0), 255, 1));
    assert_true(tu_near(pixel(out, 5, 5, 1), 127.5, 1));
    g_object_unref(out);
    /* A black gradient down: top row untouched, bottom row black. */
    options_init(&po);
    APPLY_OK(&po, "gr:1");
    out = adjust_colour(in, &po);
    assert_true(tu_near(pixel(out, 5, 0, 0), 255, 1));
    assert_true(tu_near(pixel(out, 5, 9, 0), 0, 1));
    assert_true(pixel(out, 5, 4, 0) > pixel(out, 5, 6, 0));
    g_object_unref(out);
    /* To the right: the left column untouched. */
    options_init(&po);
    APPLY_OK(&po, "gr:1:000:right");
    out = adjust_colour(in, &po);
    assert_true(tu_near(pixel(out, 0, 5, 0), 255, 1));
    assert_true(tu_near(pixel(out, 9, 5, 0), 0, 1));
    g_object_unref(out);
    g_object_unref(in);
}

static void test_pixels_alpha(void **state)
{
    struct procopts po;
    VipsImage *rgb = solid(4, 4, 0, 0, 255), *rgba = NULL, *out;
    unsigned char white[3] = {255, 255, 255};

    (void)state;
    /* Fully transparent blue. */
    assert_int_equal(vips_bandjoin_const1(rgb, &rgba, 0, NULL), 0);
    options_init(&po);
    APPLY_OK(&po, "col:0.5:f00:true");
    out = adjust_colour(rgba, &po);
    assert_int_equal(vips_image_get_bands(out), 4);
    assert_true(tu_near(pixel(out, 1, 1, 3), 0, 0.5));
    g_object_unref(out);
    options_init(&po);
    APPLY_OK(&po, "col:0.5:f00");
    out = adjust_colour(rgba, &po);
    assert_true(tu_near(pixel(out, 1, 1, 3), 127.5, 1));
    assert_true(tu_near(pixel(out, 1, 1, 0), 255, 1));
    g_object_unref(out);
    /* background_alpha: a transparent pixel over white at 0.5. */
    out = adjust_flatten(rgba, white, 0.5);
    assert_non_null(out);
    assert_int_equal(vips_image_get_bands(out), 4);
    assert_true(tu_near(pixel(out, 1, 1, 3), 127.5, 1));
    assert_true(tu_near(pixel(out, 1, 1, 0), 255, 1));
    g_object_unref(out);
    g_object_unref(rgba);
    g_object_unref(rgb);
}

static void test_pixels_unsharp(void **state)
{
    struct procopts po;
    VipsImage *in = solid(9, 9, 100, 100, 100), *edge = NULL, *joined = NULL, *out;

    (void)state;
    /* A flat area stays flat; an edge gets more contrast. */
    options_init(&po);
    APPLY_OK(&po, "ush:always");
    out = adjust_unsharp(in, &po);
    assert_non_null(out);
    assert_int_equal(vips_image_get_width(out), 9);
    assert_true(tu_near(pixel(out, 4, 4, 0), 100, 0.5));
    g_object_unref(out);
    edge = solid(9, 9, 200, 200, 200);
    assert_int_equal(vips_insert(in, edge, &joined, 9, 0, "expand", TRUE, NULL), 0);
    out = adjust_unsharp(joined, &po);
    assert_true(pixel(out, 8, 4, 0) < 100);
    assert_true(pixel(out, 9, 4, 0) > 200);
    g_object_unref(out);
    g_object_unref(joined);
    g_object_unref(edge);
    g_object_unref(in);
}

static void test_pixels_blur_areas(void **state)
{
    struct procopts po;
    VipsImage *black = solid(10, 10, 0, 0, 0), *white = solid(10, 10, 255, 255, 255);
    VipsImage *img = NULL, *out;
    double v;

    (void)state;
    /* White left, black right; blur the middle third only. */
    assert_int_equal(vips_insert(white, black, &img, 10, 0, "expand", TRUE, NULL), 0);
    options_init(&po);
    APPLY_OK(&po, "ba:2:0.3:0:0.4:1");
    out = adjust_blur_areas(img, &po, 1.0);
    assert_non_null(out);
    assert_int_equal(vips_image_get_width(out), 20);
    v = pixel(out, 9, 5, 0);
    assert_true(v > 128 && v < 250);
    v = pixel(out, 10, 5, 0);
    assert_true(v > 5 && v < 128);
    assert_true(tu_near(pixel(out, 0, 5, 0), 255, 0));
    assert_true(tu_near(pixel(out, 19, 5, 0), 0, 0));
    g_object_unref(out);
    g_object_unref(img);
    g_object_unref(white);
    g_object_unref(black);
}

static void test_pixels_color_profile(void **state)
{
    VipsImage *in = solid(4, 4, 200, 100, 50), *out;

    (void)state;
    out = adjust_color_profile(in, "cmyk", IMGTYPE_JPEG);
    assert_non_null(out);
    assert_int_equal(vips_image_get_bands(out), 4);
    assert_int_equal(vips_image_get_interpretation(out), VIPS_INTERPRETATION_CMYK);
    assert_true(vips_image_get_typeof(out, VIPS_META_ICC_NAME) != 0);
    g_object_unref(out);
    /* PNG cannot hold CMYK: unchanged. */
    out = adjust_color_profile(in, "cmyk", IMGTYPE_PNG);
    assert_ptr_equal(out, in);
    g_object_unref(out);
    out = adjust_color_profile(in, "srgb", IMGTYPE_PNG);
    assert_int_equal(vips_image_get_bands(out), 3);
    assert_true(vips_image_get_typeof(out, VIPS_META_ICC_NAME) != 0);
    g_object_unref(out);
    g_object_unref(in);
}

/* The default cfg, kept for tu_cfg_reset(), and libvips started as imgfcgi starts it. */
static int group_setup(void **state)
{
    if (tu_cfg_setup(state) != 0)
        return -1;
    return process_global_init("test_adjust");
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_cfg_reset, tu_cfg_reset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_adjust_family),
        T(test_tones_and_layers),
        T(test_unsharp_masking),
        T(test_geometry_options),
        T(test_crop_aspect_arithmetic),
        T(test_plan_with_crop_aspect),
        T(test_blur_areas),
        T(test_encoder_options),
        T(test_color_profile),
        T(test_canonical),
        T(test_allowed_names),
        T(test_settings),
        T(test_style),
        T(test_estimate),
        T(test_pixels_brightness_saturation),
        T(test_pixels_layers),
        T(test_pixels_alpha),
        T(test_pixels_unsharp),
        T(test_pixels_blur_areas),
        T(test_pixels_color_profile),
    };
    return cmocka_run_group_tests_name("adjust", tests, group_setup, tu_cfg_teardown);
}

/* test_estimate.c: header reads of real images, and the memory model's terms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <glib.h>

#include "config.h"
#include "estimate.h"
#include "imagetype.h"
#include "options.h"
#include "process.h"
#include "testutil.h"

#define MB (1024.0 * 1024.0)

static unsigned char *fixture(const char *name, size_t *len)
{
    const char *dir = getenv("IMGFCGI_TEST_FIXTURES");
    char path[512];
    gchar *data = NULL;
    gsize n = 0;

    snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "tests/fixtures", name);
    if (!g_file_get_contents(path, &data, &n, NULL))
        fail_msg("cannot read %s", path);
    *len = n;
    return (unsigned char *)data;
}

static void read_header(const char *name, struct estimate_header *h)
{
    size_t len;
    unsigned char *data = fixture(name, &len);
    struct errinfo e;

    err_clear(&e);
    assert_int_equal(estimate_read_header(data, len, imagetype_sniff(data, len, 32768), h, &e), 0);
    g_free(data);
}

static void test_header_fixtures(void **state)
{
    struct estimate_header h;

    (void)state;
    read_header("photo.jpg", &h);
    assert_int_equal(h.type, IMGTYPE_JPEG);
    assert_int_equal(h.width, 800);
    assert_int_equal(h.height, 500);
    assert_int_equal(h.bands, 3);
    assert_int_equal(h.sample_bytes, 1);
    assert_int_equal(h.pages, 1);
    assert_false(h.alpha);

    read_header("alpha.png", &h);
    assert_int_equal(h.type, IMGTYPE_PNG);
    assert_int_equal(h.bands, 4);
    assert_true(h.alpha);

    read_header("orientation-6.jpg", &h);
    assert_int_equal(h.orientation, 6);
    assert_int_equal(h.width, 250);
    assert_int_equal(h.height, 400);

    /* One page's height, and the page count. */
    read_header("animated.gif", &h);
    assert_int_equal(h.type, IMGTYPE_GIF);
    assert_int_equal(h.width, 120);
    assert_int_equal(h.height, 80);
    assert_int_equal(h.pages, 10);
}

static void test_header_broken(void **state)
{
    static const unsigned char junk[] = {0xff, 0xd8, 0xff, 0xe0, 0, 0, 'x', 'y', 'z'};
    struct estimate_header h;
    struct errinfo e;

    (void)state;
    err_clear(&e);
    assert_int_equal(estimate_read_header(junk, sizeof(junk), IMGTYPE_JPEG, &h, &e),
                     ERR_BROKEN_IMAGE);
    assert_int_equal(e.status, 422);
}

static struct estimate_header hdr(enum imgtype t, int w, int h, int bands)
{
    struct estimate_header x;

    memset(&x, 0, sizeof(x));
    x.type = t;
    x.width = w;
    x.height = h;
    x.bands = bands;
    x.sample_bytes = 1;
    x.pages = 1;
    x.orientation = 1;
    x.alpha = bands == 2 || bands == 4;
    return x;
}

static void opts(struct procopts *po, const char *seg)
{
    struct errinfo e;

    options_init(po);
    while (seg != NULL && *seg != '\0') {
        const char *next = strchr(seg, '/');
        size_t n = next != NULL ? (size_t)(next - seg) : strlen(seg);

        assert_int_equal(options_apply(po, seg, n, ':', &e), 0);
        seg = next != NULL ? next + 1 : NULL;
    }
}

static void est(const struct estimate_header *h, const char *seg, enum imgtype out,
                struct estimate *e)
{
    struct procopts po;

    opts(&po, seg);
    estimate_compute(h, 1000, &po, out, e);
    assert_int_equal(e->total, e->work + e->source);
    if (e->reasons & ESTIMATE_SPLIT) {
        /* Two phases: the larger counts, never more than the sum of the parts. */
        assert_true(e->work >= e->fixed + e->stream && e->work > e->fixed + e->encoder);
        assert_true(e->work <= e->fixed + e->stream + e->in_memory + e->encoder);
    } else {
        assert_int_equal(e->work, e->fixed + e->stream + e->in_memory + e->encoder);
    }
}

/* JPEG shrinks on load by 8, PNG cannot: the PNG's lines are 8x wider. */
static void test_shrink_on_load(void **state)
{
    struct estimate_header j = hdr(IMGTYPE_JPEG, 8640, 5760, 3);
    struct estimate_header p = hdr(IMGTYPE_PNG, 8640, 5760, 3);
    struct estimate_header w = hdr(IMGTYPE_WEBP, 8640, 5760, 3);
    struct estimate ej, ep, ew, e2;

    (void)state;
    est(&j, "rs:fit:300:300", IMGTYPE_JPEG, &ej);
    est(&p, "rs:fit:300:300", IMGTYPE_JPEG, &ep);
    est(&w, "rs:fit:300:300", IMGTYPE_JPEG, &ew);
    assert_int_equal(ej.shrink, 8);
    assert_int_equal(ej.decode_w, 1080);
    assert_int_equal(ej.decode_h, 720);
    assert_int_equal(ep.shrink, 1);
    assert_int_equal(ep.decode_w, 8640);
    assert_true(ew.load_scale < 0.04 && ew.load_scale > 0.03);
    assert_int_equal(ej.out_w, 300);
    assert_int_equal(ej.out_h, 200);
    assert_true(ep.stream > 7 * ej.stream);
    assert_int_equal(ej.reasons, 0u);
    /* A 1/3 size asks for shrink 2 only. */
    est(&j, "rs:fit:2880:2880", IMGTYPE_JPEG, &e2);
    assert_int_equal(e2.shrink, 2);
    /* IMGPROXY_DISABLE_SHRINK_ON_LOAD. */
    cfg.disable_shrink_on_load = true;
    est(&j, "rs:fit:300:300", IMGTYPE_JPEG, &e2);
    cfg.disable_shrink_on_load = false;
    assert_int_equal(e2.shrink, 1);
    assert_int_equal(e2.decode_w, 8640);
}

/* The calibration case: a 50 MP PNG to a 300 px thumbnail, whose measured work was 31.7 MB. */
static void test_calibrated_png_thumbnail(void **state)
{
    struct estimate_header p = hdr(IMGTYPE_PNG, 8640, 5760, 3);
    struct estimate e;

    (void)state;
    est(&p, "rs:fit:300:300", IMGTYPE_JPEG, &e);
    assert_true(e.work >= 31.7 * MB && e.work <= 1.5 * 31.7 * MB);
}

/*
 * A small shrink holds more lines than a large one: vips_resize's box shrink
 * and its residual reduce each keep a line cache of the decoded width, up to
 * the rows they make. Both fit a 50 MP PNG (no shrink-on-load).
 */
static void test_stream_line_caches(void **state)
{
    struct estimate_header p = hdr(IMGTYPE_PNG, 8640, 5760, 3);
    struct estimate thumb, fit, same;

    (void)state;
    est(&p, "rs:fit:300:300", IMGTYPE_JPEG, &thumb);
    est(&p, "rs:fit:2000:2000", IMGTYPE_JPEG, &fit);
    est(&p, "rs:fit:8640:8640", IMGTYPE_JPEG, &same);
    /* Loader + box cache (412 rows) + reduce cache (200) against loader + 512 + 512 lines. */
    assert_true(fit.stream > thumb.stream + 300.0 * 8640 * 3);
    assert_true(fit.stream >= 1700.0 * 8640 * 3 && fit.stream <= 1.15 * 1800.0 * 8640 * 3);
    /* No scaling: the loader's lines only. */
    assert_true(same.stream < thumb.stream && same.stream >= 700.0 * 8640 * 3);
}

/*
 * Calibration (tests/bench/budget, classes png50-rot-*, png50-fit-jpeg): the
 * measured peaks of rot:90/rs:fit:2000:2000 of a 50 MP PNG, one request at a
 * time under a 256 MB budget (medians of 4): 48.6 MB as JPEG, 54.7 MB as
 * WebP, 94.9 MB as AVIF; unrotated to JPEG 42.4 MB. Each estimate within
 * 1.0-1.5x, and under a 256 MB budget.
 */
static void test_calibrated_png_rotations(void **state)
{
    struct estimate_header p = hdr(IMGTYPE_PNG, 8640, 5760, 3);
    const enum imgtype types[] = {IMGTYPE_JPEG, IMGTYPE_WEBP, IMGTYPE_AVIF};
    const double measured[] = {48.6 * MB, 54.7 * MB, 94.9 * MB};
    struct estimate e[3], fit;

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        est(&p, "rot:90/rs:fit:2000:2000", types[i], &e[i]);
        assert_true(e[i].reasons & ESTIMATE_ROTATE);
        assert_true(e[i].reasons & ESTIMATE_SPLIT);
        assert_int_equal(e[i].out_w, 1333);
        assert_int_equal(e[i].out_h, 2000);
        assert_true(e[i].work >= measured[i] && e[i].work <= 1.5 * measured[i]);
        assert_true(e[i].total < 256 * MB);
    }
    /* JPEG and WebP peak while streaming into the copy: the encoder does not add to it. */
    assert_int_equal(e[0].work, e[1].work);
    assert_true(e[2].work > e[1].work);
    /* Unrotated, the saver pulls the pipeline: one phase, the sum. */
    est(&p, "rs:fit:2000:2000", IMGTYPE_JPEG, &fit);
    assert_false(fit.reasons & ESTIMATE_SPLIT);
    assert_true(fit.work >= 42.5 * MB && fit.work <= 1.5 * 42.5 * MB);
    /* A rotation before a smart crop copies the decoded image: no split. */
    est(&p, "c:6000:4000:sm/rs:fill:600:400/rot:90", IMGTYPE_JPEG, &fit);
    assert_false(fit.reasons & ESTIMATE_SPLIT);
}

static void test_random_access_steps(void **state)
{
    struct estimate_header p = hdr(IMGTYPE_PNG, 4000, 3000, 3);
    struct estimate_header r = hdr(IMGTYPE_JPEG, 4000, 3000, 3);
    struct estimate plain, rot, trim, smart, fill_sm, blur;

    (void)state;
    est(&p, "rs:fit:1000:1000", IMGTYPE_JPEG, &plain);
    assert_int_equal(plain.in_memory, 0);

    est(&p, "rs:fit:1000:1000/rot:90", IMGTYPE_JPEG, &rot);
    assert_true(rot.reasons & ESTIMATE_ROTATE);
    /* The scaled image (750x1000) is turned, not the 36 MB decoded one. */
    assert_true(rot.in_memory >= 750.0 * 1000 * 3 && rot.in_memory < 4000.0 * 3000 * 3 / 8);

    /* Before a smart crop the orientation steps run first, on the decoded image. */
    est(&p, "c:2000:2000:sm/rs:fill:200:200/rot:90", IMGTYPE_JPEG, &rot);
    assert_true(rot.reasons & ESTIMATE_ROTATE);
    assert_true(rot.in_memory >= 2 * 4000.0 * 3000 * 3);

    /* EXIF orientation alone does the same. */
    r.orientation = 6;
    est(&r, "rs:fit:1000:1000", IMGTYPE_JPEG, &rot);
    assert_true(rot.reasons & ESTIMATE_ROTATE);
    assert_int_equal(rot.shrink, 4);
    assert_int_equal(rot.decode_w, 1000);
    assert_true(rot.in_memory >= 1000.0 * 750 * 3 && rot.in_memory < 2000.0 * 1500 * 3);

    /* Trim decodes the full source, even of a JPEG, with no shrink-on-load. */
    r.orientation = 1;
    est(&r, "rs:fit:300:300/t:10", IMGTYPE_JPEG, &trim);
    assert_true(trim.reasons & ESTIMATE_TRIM);
    assert_int_equal(trim.shrink, 1);
    assert_true(trim.in_memory >= 4000.0 * 3000 * 3);

    /* Smart crop before scaling holds the decoded image; after scaling, only the scaled one. */
    est(&p, "c:2000:2000:sm/rs:fill:200:200", IMGTYPE_JPEG, &smart);
    assert_true(smart.reasons & ESTIMATE_SMART);
    assert_true(smart.in_memory >= 4000.0 * 3000 * 3);
    est(&p, "rs:fill:200:200/g:sm", IMGTYPE_JPEG, &fill_sm);
    assert_true(fill_sm.reasons & ESTIMATE_SMART);
    assert_true(fill_sm.in_memory < smart.in_memory / 10);

    est(&p, "rs:fit:1000:1000/bl:5", IMGTYPE_JPEG, &blur);
    assert_true(blur.reasons & ESTIMATE_FILTER);
    assert_true(blur.in_memory >= 2.0 * 1000 * 750 * 3);
}

static void test_encoders(void **state)
{
    struct estimate_header j = hdr(IMGTYPE_JPEG, 8640, 5760, 3);
    struct estimate jpg, webp, avif, png, pngq, tiff;

    (void)state;
    est(&j, "rs:fit:2048:2048", IMGTYPE_JPEG, &jpg);
    est(&j, "rs:fit:2048:2048", IMGTYPE_WEBP, &webp);
    est(&j, "rs:fit:2048:2048", IMGTYPE_AVIF, &avif);
    est(&j, "rs:fit:2048:2048", IMGTYPE_PNG, &png);
    est(&j, "rs:fit:2048:2048", IMGTYPE_TIFF, &tiff);
    cfg.png_quantize = true;
    est(&j, "rs:fit:2048:2048", IMGTYPE_PNG, &pngq);
    cfg.png_quantize = false;
    /* A 2.8 MP result: JPEG streams (over 1 MP, no optimised tables), the others hold it. */
    assert_true(jpg.encoder < 1 * MB);
    assert_false(jpg.reasons & ESTIMATE_WHOLE_ENC);
    assert_true(png.encoder < 1 * MB);
    assert_true(webp.reasons & ESTIMATE_WHOLE_ENC);
    assert_true(webp.encoder > 2048.0 * 1365 * 4);
    assert_true(avif.encoder > webp.encoder);
    assert_true(tiff.encoder >= 2048.0 * 1365 * 3);
    assert_true(pngq.reasons & ESTIMATE_WHOLE_ENC);
    assert_true(pngq.encoder > 2048.0 * 1365 * 4);
    /* A small JPEG keeps its DCT coefficients for optimised Huffman tables. */
    est(&j, "rs:fit:1000:1000", IMGTYPE_JPEG, &jpg);
    assert_true(jpg.encoder >= 1000.0 * 667 * 3);
    /* max_bytes holds the result and one attempt. */
    est(&j, "rs:fit:1000:1000/mb:10000", IMGTYPE_JPEG, &webp);
    assert_true(webp.reasons & ESTIMATE_FIT_BYTES);
}

static void test_animation(void **state)
{
    struct estimate_header g = hdr(IMGTYPE_GIF, 400, 300, 4);
    struct estimate one, many;
    struct procopts po;

    (void)state;
    g.pages = 50;
    est(&g, "rs:fit:200:200", IMGTYPE_GIF, &one);
    assert_int_equal(one.frames, 1); /* IMGPROXY_MAX_ANIMATION_FRAMES defaults to 1 */
    opts(&po, "rs:fit:200:200");
    po.max_animation_frames = 20;
    estimate_compute(&g, 1000, &po, IMGTYPE_GIF, &many);
    assert_int_equal(many.frames, 20);
    assert_true(many.reasons & ESTIMATE_ANIMATION);
    assert_true(many.in_memory >= 20.0 * 200 * 150 * 4);
    assert_int_equal(estimate_out_type(&g, &po, NULL), IMGTYPE_GIF);
}

/*
 * A PDF result: the JPEG encoder, the JPEG file and the PDF, held whole; the
 * URL's format stays PDF even when WebP is enforced; the JPEG's quality.
 */
static void test_pdf_result(void **state)
{
    struct estimate_header j = hdr(IMGTYPE_JPEG, 8640, 5760, 3);
    struct estimate jpg, pdf;
    struct procopts po;

    (void)state;
    est(&j, "rs:fit:2048:2048", IMGTYPE_JPEG, &jpg);
    est(&j, "rs:fit:2048:2048", IMGTYPE_PDF, &pdf);
    assert_true(pdf.reasons & ESTIMATE_WHOLE_ENC);
    assert_true(pdf.encoder >= jpg.encoder + 2.0 * 2048 * 1365 * 3);
    cfg.enforce_webp = true;
    opts(&po, "rs:fit:50:50/f:pdf");
    assert_int_equal(estimate_out_type(&j, &po, "image/webp,*/*"), IMGTYPE_PDF);
    opts(&po, "rs:fit:50:50/f:png");
    assert_int_equal(estimate_out_type(&j, &po, "image/webp,*/*"), IMGTYPE_WEBP);
    cfg.enforce_webp = false;
    /* Quality: the JPEG's. */
    opts(&po, "fq:jpeg:42");
    assert_int_equal(options_quality(&po, IMGTYPE_PDF), 42);
}

static void test_out_type(void **state)
{
    struct estimate_header p = hdr(IMGTYPE_PNG, 100, 100, 4);
    struct estimate_header j = hdr(IMGTYPE_JPEG, 100, 100, 3);
    struct procopts po;

    (void)state;
    opts(&po, "rs:fit:50:50");
    /* Preferred formats keep a JPEG or PNG source as it is. */
    assert_int_equal(estimate_out_type(&p, &po, NULL), IMGTYPE_PNG);
    assert_int_equal(estimate_out_type(&j, &po, NULL), IMGTYPE_JPEG);
    opts(&po, "rs:fit:50:50/f:webp");
    assert_int_equal(estimate_out_type(&j, &po, NULL), IMGTYPE_WEBP);
    cfg.auto_avif = true;
    opts(&po, "rs:fit:50:50");
    assert_int_equal(estimate_out_type(&j, &po, "image/avif,image/webp,*/*"), IMGTYPE_AVIF);
    assert_int_equal(estimate_out_type(&j, &po, "image/webp,*/*"), IMGTYPE_JPEG);
    cfg.auto_avif = false;
}

/*
 * Negotiation with JPEG XL: it comes before AVIF and WebP (imgproxy's order);
 * auto_* leaves a format the URL names alone, enforce_* overrides it.
 */
static void test_out_type_jxl(void **state)
{
    static const struct {
        bool auto_jxl, enforce_jxl;
        const char *opts, *accept;
        enum imgtype want;
    } cases[] = {
        {true, false, "rs:fit:50:50", "image/avif,image/jxl,*/*", IMGTYPE_JXL},
        {true, false, "rs:fit:50:50", "image/avif,*/*", IMGTYPE_AVIF},
        {true, false, "rs:fit:50:50/f:png", "image/jxl,*/*", IMGTYPE_PNG},
        {false, true, "rs:fit:50:50/f:png", "image/jxl,*/*", IMGTYPE_JXL},
        {false, true, "rs:fit:50:50/f:png", "image/avif,*/*", IMGTYPE_PNG},
        {false, true, "rs:fit:50:50", "image/jxl", IMGTYPE_JXL},
        {false, false, "rs:fit:50:50", "image/jxl", IMGTYPE_JPEG},
    };
    struct estimate_header j = hdr(IMGTYPE_JPEG, 100, 100, 3);
    struct procopts po;

    (void)state;
    cfg.auto_avif = true;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg.auto_jxl = cases[i].auto_jxl;
        cfg.enforce_jxl = cases[i].enforce_jxl;
        opts(&po, cases[i].opts);
        if (estimate_out_type(&j, &po, cases[i].accept) != cases[i].want)
            fail_msg("case %zu: %s with Accept %s", i, cases[i].opts, cases[i].accept);
    }
    cfg.auto_jxl = false;
    cfg.enforce_jxl = false;
    cfg.auto_avif = false;
}

/*
 * The JPEG XL and HEIC encoders hold the whole frame at their per-pixel
 * cost (50 and 26 bytes); JPEG XL costs more than AVIF, HEIC more than PNG.
 */
static void test_jxl_heic_encoders(void **state)
{
    static const enum imgtype types[] = {IMGTYPE_JXL, IMGTYPE_HEIC, IMGTYPE_AVIF, IMGTYPE_PNG};
    struct estimate_header j = hdr(IMGTYPE_JPEG, 2000, 2000, 3);
    struct estimate e[4];
    struct procopts po;

    (void)state;
    opts(&po, "rs:fit:1000:1000");
    for (size_t i = 0; i < 4; i++)
        estimate_compute(&j, 100000, &po, types[i], &e[i]);
    assert_true(e[0].reasons & e[1].reasons & ESTIMATE_WHOLE_ENC);
    assert_true(e[0].encoder >= 1000.0 * 1000 * 50);
    assert_true(e[1].encoder >= 1000.0 * 1000 * 26);
    assert_true(e[0].total > e[2].total);
    assert_true(e[1].total > e[3].total);
}

/* The source counts; bigger sources and results cost more. */
static void test_monotonic(void **state)
{
    struct estimate_header a = hdr(IMGTYPE_PNG, 2000, 1500, 3);
    struct estimate_header b = hdr(IMGTYPE_PNG, 4000, 3000, 3);
    struct estimate ea, eb, ec;
    struct procopts po;

    (void)state;
    opts(&po, "rs:fit:800:800");
    estimate_compute(&a, 1000, &po, IMGTYPE_WEBP, &ea);
    estimate_compute(&b, 1000, &po, IMGTYPE_WEBP, &eb);
    estimate_compute(&b, 5000000, &po, IMGTYPE_WEBP, &ec);
    assert_true(eb.total > ea.total);
    assert_int_equal(ec.source, 5000000);
    assert_int_equal(ec.total, eb.total + 5000000 - 1000);
    opts(&po, "rs:fit:1600:1600");
    estimate_compute(&b, 1000, &po, IMGTYPE_WEBP, &ec);
    assert_true(ec.encoder > eb.encoder);
}

/* pages stacks pages of a document: the estimate grows with the stack; a watermark adds its canvas.
 */
static void test_pages_and_watermark(void **state)
{
    struct estimate_header t = hdr(IMGTYPE_TIFF, 1000, 800, 3);
    struct estimate one, three, wm;
    struct procopts po;

    (void)state;
    t.pages = 5;
    est(&t, "w:1000", IMGTYPE_PNG, &one);
    est(&t, "pg:1/pgs:3/w:1000", IMGTYPE_PNG, &three);
    assert_int_equal(three.out_h, 3 * one.out_h);
    assert_int_equal(three.decode_h, 3 * one.decode_h);
    assert_true(three.total >= one.total); /* streamed: taller costs lines, not pages */
    /* pgs past the last page: only the pages there are. */
    est(&t, "pg:4/pgs:3/w:1000", IMGTYPE_PNG, &three);
    assert_int_equal(three.out_h, one.out_h);
    opts(&po, "w:1000/wm:1/wmt:eA");
    estimate_compute(&t, 1000, &po, IMGTYPE_PNG, &wm);
    assert_true(wm.in_memory >= one.in_memory + 1000.0 * 800 * 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_fixtures),     cmocka_unit_test(test_header_broken),
        cmocka_unit_test(test_shrink_on_load),      cmocka_unit_test(test_calibrated_png_thumbnail),
        cmocka_unit_test(test_stream_line_caches),  cmocka_unit_test(test_calibrated_png_rotations),
        cmocka_unit_test(test_random_access_steps), cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_animation),           cmocka_unit_test(test_out_type),
        cmocka_unit_test(test_out_type_jxl),        cmocka_unit_test(test_jxl_heic_encoders),
        cmocka_unit_test(test_monotonic),           cmocka_unit_test(test_pages_and_watermark),
        cmocka_unit_test(test_pdf_result),
    };

    return cmocka_run_group_tests(tests, tu_process_setup, tu_process_teardown);
}

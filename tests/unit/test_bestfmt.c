/* test_bestfmt.c: DSSIM, the autoquality searches, format:best's candidates and encodes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "autoq.h"
#include "bestfmt.h"
#include "config.h"
#include "dssim.h"
#include "estimate.h"
#include "options.h"
#include "process.h"
#include "save.h"
#include "testutil.h"

/* ------------------------------------------------------------------ DSSIM */

/* w x h interleaved L*a*b* with every pixel (l, a, b). */
static float *flat_lab(int w, int h, float l, float a, float b)
{
    float *p = malloc(sizeof(float) * 3 * (size_t)w * h);

    assert_non_null(p);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        p[i * 3] = l;
        p[i * 3 + 1] = a;
        p[i * 3 + 2] = b;
    }
    return p;
}

static void test_dssim_identical_and_small(void **state)
{
    float *a = flat_lab(20, 15, 50, 10, -10);

    (void)state;
    assert_true(dssim_compute(a, a, 20, 15, NULL) == 0.0);
    /* Under the 11x11 window on a side: no DSSIM. */
    assert_true(dssim_compute(a, a, 10, 15, NULL) == -1);
    assert_true(dssim_compute(a, a, 20, 10, NULL) == -1);
    free(a);
}

/*
 * Flat images: every window's variances are 0, so ssim is the luminance term
 * (2 m1 m2 + C1) / (m1^2 + m2^2 + C1) with C1 = 0.0001 on L* / 100; a* and b*
 * equal give 1.
 */
static void test_dssim_flat_exact(void **state)
{
    float *a = flat_lab(16, 16, 50, 0, 0), *b = flat_lab(16, 16, 60, 0, 0);
    double l = (2.0 * 0.5 * 0.6 + 1e-4) / (0.5 * 0.5 + 0.6 * 0.6 + 1e-4);
    double ssim = (l + 1 + 1) / 3;

    (void)state;
    assert_true(tu_near(dssim_compute(a, b, 16, 16, NULL), 1 / ssim - 1, 1e-9));
    /* Symmetric. */
    assert_true(tu_near(dssim_compute(b, a, 16, 16, NULL), 1 / ssim - 1, 1e-9));
    free(a);
    free(b);
}

/* Noise of growing amplitude added to a textured image: DSSIM grows with it. */
static void test_dssim_monotone_in_noise(void **state)
{
    int w = 40, h = 30;
    float *ref = flat_lab(w, h, 0, 0, 0), *noisy = flat_lab(w, h, 0, 0, 0);
    double last = 0;

    (void)state;
    for (int i = 0; i < w * h; i++) {
        ref[i * 3] = (float)(50 + 30 * sin(i * 0.37));
        ref[i * 3 + 1] = (float)(20 * cos(i * 0.11));
        ref[i * 3 + 2] = (float)(10 * sin(i * 0.05));
    }
    for (int amp = 1; amp <= 16; amp *= 2) {
        double d;

        srand(7);
        for (int i = 0; i < w * h * 3; i++)
            noisy[i] = ref[i] + (float)amp * ((float)rand() / (float)RAND_MAX - 0.5f);
        d = dssim_compute(ref, noisy, w, h, NULL);
        assert_true(d > last);
        last = d;
    }
    free(ref);
    free(noisy);
}

/* dssim_image_init/dssim_compare on libvips images: same image 0, a changed one more. */
static void test_dssim_vips_images(void **state)
{
    VipsImage *g = NULL, *img = NULL, *other = NULL;
    struct dssim_image ref;
    double d;

    (void)state;
    assert_int_equal(vips_xyz(&g, 64, 48, NULL), 0);
    /* A colour ramp: x in red, y in green, a constant blue. */
    {
        VipsImage *x = NULL, *y = NULL, *xy = NULL, *c = NULL;

        assert_int_equal(vips_extract_band(g, &x, 0, NULL), 0);
        assert_int_equal(vips_extract_band(g, &y, 1, NULL), 0);
        assert_int_equal(vips_linear1(x, &c, 4.0, 0.0, NULL), 0);
        assert_int_equal(vips_bandjoin_const1(y, &xy, 128, NULL), 0);
        g_object_unref(x);
        x = NULL;
        assert_int_equal(vips_bandjoin2(c, xy, &x, NULL), 0);
        assert_int_equal(vips_cast_uchar(x, &img, NULL), 0);
        g_object_unref(x);
        g_object_unref(xy);
        g_object_unref(c);
        g_object_unref(y);
        g_object_unref(g);
    }
    assert_int_equal(vips_image_get_bands(img), 3);
    assert_int_equal(dssim_image_init(&ref, img), 0);
    assert_int_equal(ref.width, 64);
    d = dssim_compare(&ref, img, NULL);
    assert_true(d >= 0 && d < 1e-6);
    /* Contrast halved. */
    assert_int_equal(vips_linear1(img, &g, 0.5, 10.0, NULL), 0);
    assert_int_equal(vips_cast_uchar(g, &other, NULL), 0);
    d = dssim_compare(&ref, other, NULL);
    assert_true(d > 0.01);
    dssim_image_release(&ref);
    g_object_unref(other);
    g_object_unref(g);
    g_object_unref(img);
}

/* ------------------------------------------------------------- searches */

/* A synthetic encoder: the metric of quality q, probes counted, a budget. */
struct fake {
    double (*metric)(int q);
    int probes, budget;
    int seen[128];
};

static int fake_probe(void *ctx, int q, double *metric)
{
    struct fake *f = ctx;

    if (f->probes >= f->budget)
        return AUTOQ_NO_BUDGET;
    f->seen[f->probes++] = q;
    *metric = f->metric(q);
    return 0;
}

static double size_of_q(int q)
{
    return 1000.0 * q; /* bytes grow with quality */
}

static double dssim_of_q(int q)
{
    return (100 - q) / 1000.0; /* DSSIM falls as quality rises */
}

static int search(enum aq_method m, int lo, int hi, double target, double err, double (*fn)(int),
                  int budget, int *probes)
{
    struct fake f = {.metric = fn, .budget = budget};
    int q = -1;

    assert_int_equal(autoq_search(m, lo, hi, target, err, fake_probe, &f, &q), 0);
    *probes = f.probes;
    return q;
}

static void test_search_size(void **state)
{
    int n;

    (void)state;
    /* The highest quality that fits 55500 bytes is 55. */
    assert_int_equal(search(AQ_SIZE, 10, 95, 55500, 0, size_of_q, 64, &n), 55);
    assert_true(n <= 2 + 7);
    /* max fits: one encode. */
    assert_int_equal(search(AQ_SIZE, 70, 80, 1e9, 0, size_of_q, 64, &n), 80);
    assert_int_equal(n, 1);
    /* Not even min fits: min, after two encodes. */
    assert_int_equal(search(AQ_SIZE, 70, 80, 100, 0, size_of_q, 64, &n), 70);
    assert_int_equal(n, 2);
    /* The default range 70..80 within the default budget of 8. */
    assert_int_equal(search(AQ_SIZE, 70, 80, 75999, 0, size_of_q, 8, &n), 75);
    assert_true(n <= 6);
    /* Three encodes only: max, min, one bisection: the best fitting one so far. */
    assert_int_equal(search(AQ_SIZE, 10, 95, 55500, 0, size_of_q, 3, &n), 53);
    assert_int_equal(n, 3);
    /* lo == hi */
    assert_int_equal(search(AQ_SIZE, 50, 50, 100, 0, size_of_q, 8, &n), 50);
    assert_int_equal(n, 1);
}

static void test_search_dssim(void **state)
{
    int n;

    (void)state;
    /* DSSIM 0.02 at q 80; allowed error 0.001 accepts 79..81. */
    {
        int q = search(AQ_DSSIM, 10, 95, 0.02, 0.001, dssim_of_q, 64, &n);

        assert_true(q >= 79 && q <= 81);
        assert_true(n <= 7);
    }
    /* Exact: q 80 found by bisection. */
    assert_int_equal(search(AQ_DSSIM, 10, 95, 0.02, 0, dssim_of_q, 64, &n), 80);
    /* Unreachable: even max is worse than the target, max is the closest. */
    assert_int_equal(search(AQ_DSSIM, 10, 50, 0.02, 0.001, dssim_of_q, 64, &n), 50);
    /* Min is already better than the target: min, the cheapest. */
    assert_int_equal(search(AQ_DSSIM, 90, 95, 0.02, 0.001, dssim_of_q, 64, &n), 90);
    /* One encode: the middle. */
    assert_int_equal(search(AQ_DSSIM, 10, 90, 0.02, 0.001, dssim_of_q, 1, &n), 50);
}

static void test_search_no_budget(void **state)
{
    struct fake f = {.metric = size_of_q, .budget = 0};
    int q = -1;

    (void)state;
    assert_int_equal(autoq_search(AQ_SIZE, 10, 95, 1000, 0, fake_probe, &f, &q), AUTOQ_NO_BUDGET);
    assert_int_equal(q, 0);
}

static void test_better(void **state)
{
    (void)state;
    /* size: fitting beats not fitting; the higher fitting quality; the lower of the rest. */
    assert_true(autoq_better(AQ_SIZE, 100, 0, 50, 90, 60, 110));
    assert_true(autoq_better(AQ_SIZE, 100, 0, 60, 99, 50, 90));
    assert_true(autoq_better(AQ_SIZE, 100, 0, 40, 150, 50, 160));
    /* dssim: closer wins; within the error all equal, the lower quality wins. */
    assert_true(autoq_better(AQ_DSSIM, 0.02, 0.001, 70, 0.021, 80, 0.015));
    assert_true(autoq_better(AQ_DSSIM, 0.02, 0.001, 70, 0.0205, 75, 0.0199));
    assert_false(autoq_better(AQ_DSSIM, 0.02, 0.001, 75, 0.0199, 70, 0.0205));
}

static void test_range_and_applies(void **state)
{
    struct procopts po;
    int lo, hi;

    (void)state;
    options_init(&po);
    /* Defaults: 70..80, AVIF 60..65 (IMGPROXY_AUTOQUALITY_FORMAT_MIN/MAX). */
    autoq_range(&po, IMGTYPE_JPEG, &lo, &hi);
    assert_int_equal(lo, 70);
    assert_int_equal(hi, 80);
    autoq_range(&po, IMGTYPE_AVIF, &lo, &hi);
    assert_int_equal(lo, 60);
    assert_int_equal(hi, 65);
    po.aq_min = 30;
    po.aq_max = 20; /* raised to min */
    autoq_range(&po, IMGTYPE_AVIF, &lo, &hi);
    assert_int_equal(lo, 30);
    assert_int_equal(hi, 30);

    options_init(&po);
    assert_false(autoq_applies(&po, IMGTYPE_JPEG, 1000)); /* method none by default */
    po.aq_method = AQ_DSSIM;
    assert_true(autoq_applies(&po, IMGTYPE_JPEG, 1000));
    assert_true(autoq_applies(&po, IMGTYPE_WEBP, 1000));
    assert_false(autoq_applies(&po, IMGTYPE_PNG, 1000));
    assert_false(autoq_applies(&po, IMGTYPE_JXL, 1000)); /* not decoded in-process */
    po.aq_method = AQ_SIZE;
    assert_true(autoq_applies(&po, IMGTYPE_JXL, 1000));
    po.quality = 50; /* an explicit quality wins */
    assert_false(autoq_applies(&po, IMGTYPE_JPEG, 1000));
    po.quality = 0;
    po.max_bytes = 1000; /* max_bytes wins */
    assert_false(autoq_applies(&po, IMGTYPE_JPEG, 1000));
    po.max_bytes = 0;
    cfg.autoquality_max_resolution = 500;
    assert_false(autoq_applies(&po, IMGTYPE_JPEG, 1000));
    cfg.autoquality_max_resolution = 0;
}

static void test_options(void **state)
{
    struct procopts po;
    struct errinfo e;

    (void)state;
    options_init(&po);
    assert_int_equal(options_apply(&po, "aq:dssim:0.03:20:90:0.002", 25, ':', &e), 0);
    assert_int_equal(po.aq_method, AQ_DSSIM);
    TU_ASSERT_NEAR(po.aq_target, 0.03);
    assert_int_equal(po.aq_min, 20);
    assert_int_equal(po.aq_max, 90);
    TU_ASSERT_NEAR(po.aq_allowed_error, 0.002);
    /* Empty parts keep what was there. */
    assert_int_equal(options_apply(&po, "autoquality:size::30", 20, ':', &e), 0);
    assert_int_equal(po.aq_method, AQ_SIZE);
    TU_ASSERT_NEAR(po.aq_target, 0.03);
    assert_int_equal(po.aq_min, 30);
    assert_int_equal(po.aq_max, 90);
    assert_int_equal(options_apply(&po, "aq:fast", 7, ':', &e), ERR_INVALID_URL);
    assert_int_equal(options_apply(&po, "aq:size:-1", 10, ':', &e), ERR_INVALID_URL);
    assert_int_equal(options_apply(&po, "aq:size:1:0", 11, ':', &e), ERR_INVALID_URL);
    assert_int_equal(options_apply(&po, "aq:size:1:1:101", 15, ':', &e), ERR_INVALID_URL);
    assert_int_equal(options_apply(&po, "aq:size:1:1:1:x", 15, ':', &e), ERR_INVALID_URL);
    assert_int_equal(options_apply(&po, "aq:a:b:c:d:e:f", 14, ':', &e), ERR_INVALID_URL);

    /* IMGPROXY_ALLOWED_PROCESSING_OPTIONS covers aq by the name as written. */
    {
        char *names[] = {(char *)"rs", (char *)"aq"};

        cfg.allowed_processing_options.items = names;
        cfg.allowed_processing_options.len = 1;
        assert_int_equal(options_apply_url(&po, "aq:size", 7, ':', &e), ERR_INVALID_URL);
        cfg.allowed_processing_options.len = 2;
        assert_int_equal(options_apply_url(&po, "aq:size", 7, ':', &e), 0);
        assert_int_equal(options_apply_url(&po, "autoquality:size", 16, ':', &e), ERR_INVALID_URL);
        cfg.allowed_processing_options.items = NULL;
        cfg.allowed_processing_options.len = 0;
    }

    options_init(&po);
    assert_false(bestfmt_wanted(&po));
    assert_int_equal(options_apply(&po, "f:best", 6, ':', &e), 0);
    assert_true(bestfmt_wanted(&po));
    assert_int_equal(po.format, IMGTYPE_UNKNOWN);
    assert_int_equal(options_apply_format(&po, "png", 3, &e), 0);
    assert_false(bestfmt_wanted(&po));
    assert_int_equal(options_apply_format(&po, "best", 4, &e), 0);
    assert_true(bestfmt_wanted(&po));
    {
        char canon[OPTIONS_CANONICAL_MAX];

        options_canonical(&po, canon, sizeof(canon));
        assert_non_null(strstr(canon, "best_format=1\n"));
    }
}

/* The memory estimate counts the copy, the kept encodings and, for dssim, the L*a*b* images. */
static void test_estimate(void **state)
{
    struct estimate_header h = {.type = IMGTYPE_JPEG,
                                .width = 4000,
                                .height = 3000,
                                .bands = 3,
                                .sample_bytes = 1,
                                .pages = 1,
                                .orientation = 1};
    struct procopts po;
    struct estimate plain_est, best_est, dssim_est;

    (void)state;
    options_init(&po);
    po.width = 1000;
    estimate_compute(&h, 1000000, &po, IMGTYPE_JPEG, &plain_est);
    assert_false(plain_est.reasons & ESTIMATE_MULTI_ENC);
    po.best_format = true;
    estimate_compute(&h, 1000000, &po, IMGTYPE_JPEG, &best_est);
    assert_true(best_est.reasons & ESTIMATE_MULTI_ENC);
    /* The 1000x750 result in memory and two encodings of at most its raw size. */
    assert_true(best_est.in_memory >= plain_est.in_memory + 3 * 1000 * 750 * 3);
    po.best_format = false;
    po.aq_method = AQ_DSSIM;
    estimate_compute(&h, 1000000, &po, IMGTYPE_JPEG, &dssim_est);
    assert_true(dssim_est.reasons & ESTIMATE_MULTI_ENC);
    assert_true(dssim_est.in_memory >= best_est.in_memory + 28 * 1000 * 750);
}

/* ----------------------------------------------------------- candidates */

static bool has(const struct bestfmt_candidate *c, size_t n, enum imgtype t, enum save_variant v)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].type == t && c[i].variant == v)
            return true;
    return false;
}

static void test_candidates(void **state)
{
    enum imgtype f[] = {IMGTYPE_JPEG, IMGTYPE_PNG, IMGTYPE_GIF, IMGTYPE_WEBP, IMGTYPE_AVIF};
    struct bestfmt_candidate c[BESTFMT_MAX_CANDIDATES];
    size_t n;

    (void)state;
    /* Complex (>= 5.5): the lossy encodings. */
    n = bestfmt_candidates(f, 5, false, false, 300, 200, 12.0, c);
    assert_int_equal(n, 3);
    assert_true(has(c, n, IMGTYPE_JPEG, SAVE_PLAIN));
    assert_true(has(c, n, IMGTYPE_WEBP, SAVE_PLAIN));
    assert_true(has(c, n, IMGTYPE_AVIF, SAVE_PLAIN));
    /* Simple: the lossless ones; nearly flat: the palette PNG too. */
    n = bestfmt_candidates(f, 5, false, false, 300, 200, 3.0, c);
    assert_int_equal(n, 2);
    assert_true(has(c, n, IMGTYPE_PNG, SAVE_PLAIN));
    assert_true(has(c, n, IMGTYPE_WEBP, SAVE_LOSSLESS));
    n = bestfmt_candidates(f, 5, false, false, 300, 200, 0.2, c);
    assert_int_equal(n, 3);
    assert_true(has(c, n, IMGTYPE_PNG, SAVE_PALETTE));
    /* Not measured (threshold 0): everything but the palette. */
    n = bestfmt_candidates(f, 5, false, false, 300, 200, -1, c);
    assert_int_equal(n, 5);
    assert_false(has(c, n, IMGTYPE_PNG, SAVE_PALETTE));
    /* Alpha: no JPEG. */
    n = bestfmt_candidates(f, 5, true, false, 300, 200, 12.0, c);
    assert_false(has(c, n, IMGTYPE_JPEG, SAVE_PLAIN));
    /* Animated: GIF and WebP only. */
    n = bestfmt_candidates(f, 5, false, true, 300, 200, 12.0, c);
    assert_int_equal(n, 2);
    assert_true(has(c, n, IMGTYPE_GIF, SAVE_PLAIN));
    assert_true(has(c, n, IMGTYPE_WEBP, SAVE_PLAIN));
    /* AVIF under 16 px is left out; WebP over 16383. */
    n = bestfmt_candidates(f, 5, false, false, 15, 200, 12.0, c);
    assert_false(has(c, n, IMGTYPE_AVIF, SAVE_PLAIN));
    n = bestfmt_candidates(f, 5, false, false, 20000, 20, 12.0, c);
    assert_false(has(c, n, IMGTYPE_WEBP, SAVE_PLAIN));
    /* Only lossless formats and a complex image: they stay. */
    n = bestfmt_candidates(f + 1, 1, false, false, 300, 200, 12.0, c);
    assert_int_equal(n, 1);
    assert_true(has(c, n, IMGTYPE_PNG, SAVE_PLAIN));
}

static void test_formats(void **state)
{
    enum imgtype f[IMGTYPE_COUNT + 3];
    size_t n;

    (void)state;
    n = bestfmt_formats("image/webp,*/*", f, sizeof(f) / sizeof(f[0]));
    /* Defaults: no Accept detection; IMGPROXY_PREFERRED_FORMATS jpeg,png,gif. */
    assert_int_equal(n, 3);
    assert_int_equal(f[0], IMGTYPE_JPEG);
    cfg.auto_webp = true;
    cfg.auto_avif = true;
    n = bestfmt_formats("image/webp,*/*", f, sizeof(f) / sizeof(f[0]));
    assert_int_equal(n, 4);
    assert_int_equal(f[0], IMGTYPE_WEBP);
    n = bestfmt_formats(NULL, f, sizeof(f) / sizeof(f[0]));
    assert_int_equal(n, 5);
    cfg.auto_webp = false;
    cfg.auto_avif = false;
}

/* ------------------------------------------------------------ encoding */

enum kind { FLAT, NOISY, TEXTURED };

/*
 * A w x h sRGB image: FLAT (one colour with two rectangles), NOISY (strong
 * noise) or TEXTURED (waves and light noise: a photo stand-in that JPEG
 * encodes well).
 */
static VipsImage *test_image(int w, int h, enum kind kind)
{
    unsigned char *px = malloc((size_t)w * h * 3);
    VipsImage *m, *out;

    assert_non_null(px);
    srand(11);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + ((size_t)y * w + x) * 3;

            if (kind == NOISY) {
                p[0] = (unsigned char)(128 + 60 * sin(x * 0.05) + rand() % 50);
                p[1] = (unsigned char)(100 + 50 * cos(y * 0.07) + rand() % 50);
                p[2] = (unsigned char)(80 + rand() % 80);
            } else if (kind == TEXTURED) {
                int n = rand() % 12; /* grain in the luma only, as in a photograph */

                p[0] = (unsigned char)(120 + 50 * sin(x * 0.45) * cos(y * 0.13) + n);
                p[1] = (unsigned char)(110 + 45 * cos(y * 0.4 + x * 0.2) + n);
                p[2] = (unsigned char)(90 + 30 * sin((x + y) * 0.2) + n);
            } else {
                bool box = (x > w / 4 && x < w / 2 && y > h / 4 && y < h / 2);
                bool bar = y > h * 3 / 4;

                p[0] = box ? 200 : bar ? 20 : 240;
                p[1] = box ? 30 : bar ? 90 : 240;
                p[2] = box ? 30 : bar ? 200 : 240;
            }
        }
    m = vips_image_new_from_memory_copy(px, (size_t)w * h * 3, w, h, 3, VIPS_FORMAT_UCHAR);
    free(px);
    assert_non_null(m);
    out = vips_image_copy_memory(m);
    g_object_unref(m);
    assert_non_null(out);
    return out;
}

static void test_complexity(void **state)
{
    VipsImage *flat = test_image(200, 150, FLAT), *noisy = test_image(200, 150, NOISY);
    VipsImage *tex = test_image(200, 150, TEXTURED);
    double cf = bestfmt_complexity(flat), cn = bestfmt_complexity(noisy);
    double ct = bestfmt_complexity(tex);

    (void)state;
    fprintf(stderr, "complexity: flat %.2f, textured %.2f, noisy %.2f\n", cf, ct, cn);
    assert_true(cf >= 0 && cf < BESTFMT_VERY_SIMPLE);
    assert_true(ct > cfg.best_format_complexity_threshold);
    assert_true(cn > ct);
    g_object_unref(flat);
    g_object_unref(noisy);
    g_object_unref(tex);
}

static size_t encoded_size(VipsImage *img, enum imgtype t, enum save_variant v, int q)
{
    void *data = NULL;
    size_t len = 0;

    assert_int_equal(save_to_memory(img, t, q, true, v, NULL, &data, &len), 0);
    g_free(data);
    return len;
}

/* format:best keeps the smallest of the candidates it tried, each encoded here again. */
static void check_best(VipsImage *img, bool want_lossless)
{
    struct procopts po;
    struct encode_budget b = {.left = 8, .pixels = 200 * 150};
    struct encoded out = {0};
    enum imgtype f[IMGTYPE_COUNT + 3];
    struct bestfmt_candidate c[BESTFMT_MAX_CANDIDATES];
    size_t nf, n;

    options_init(&po);
    po.best_format = true;
    cfg.auto_webp = true;
    assert_int_equal(bestfmt_encode(img, &po, "image/webp", false, true, IMGTYPE_JPEG, &b, &out),
                     0);
    nf = bestfmt_formats("image/webp", f, sizeof(f) / sizeof(f[0]));
    n = bestfmt_candidates(f, nf, false, false, 200, 150, bestfmt_complexity(img), c);
    assert_int_equal(b.used, (int)n);
    for (size_t i = 0; i < n; i++)
        assert_true(out.len <=
                    encoded_size(img, c[i].type, c[i].variant, options_quality(&po, c[i].type)));
    if (want_lossless)
        assert_true(out.type == IMGTYPE_PNG ||
                    (out.type == IMGTYPE_WEBP && out.variant == SAVE_LOSSLESS));
    else
        assert_true(out.variant == SAVE_PLAIN &&
                    (out.type == IMGTYPE_JPEG || out.type == IMGTYPE_WEBP));
    encoded_release(&out);
    cfg.auto_webp = false;
}

static void test_best_encode(void **state)
{
    VipsImage *flat = test_image(200, 150, FLAT), *noisy = test_image(200, 150, NOISY);

    (void)state;
    check_best(flat, true);
    check_best(noisy, false);
    g_object_unref(flat);
    g_object_unref(noisy);
}

/* Over IMGPROXY_BEST_FORMAT_MAX_RESOLUTION: one encode, the first candidate the complexity leaves.
 */
static void test_best_max_resolution(void **state)
{
    VipsImage *flat = test_image(200, 150, FLAT), *noisy = test_image(200, 150, NOISY);
    struct encode_budget b = {.left = 8, .pixels = 200 * 150};
    struct encoded out = {0};
    struct procopts po;

    (void)state;
    options_init(&po);
    po.best_format = true;
    cfg.best_format_max_resolution = 20000; /* 0.02 MP */
    assert_int_equal(bestfmt_encode(noisy, &po, NULL, false, true, IMGTYPE_PNG, &b, &out), 0);
    assert_int_equal(b.used, 1);
    assert_int_equal(out.type, IMGTYPE_JPEG);
    encoded_release(&out);
    b = (struct encode_budget){.left = 8, .pixels = 200 * 150};
    assert_int_equal(bestfmt_encode(flat, &po, NULL, false, true, IMGTYPE_JPEG, &b, &out), 0);
    assert_int_equal(b.used, 1);
    assert_int_equal(out.type, IMGTYPE_PNG);
    encoded_release(&out);
    g_object_unref(flat);
    g_object_unref(noisy);
}

/* aq:size: the result fits the target, or it is at the minimum quality. */
static void test_autoq_size_run(void **state)
{
    VipsImage *img = test_image(200, 150, NOISY);
    struct procopts po;
    struct encoded out = {0};
    size_t at_min = encoded_size(img, IMGTYPE_JPEG, SAVE_PLAIN, 10);
    size_t at_max = encoded_size(img, IMGTYPE_JPEG, SAVE_PLAIN, 90);
    size_t target = (at_min + at_max) / 2;

    (void)state;
    options_init(&po);
    po.aq_method = AQ_SIZE;
    po.aq_target = (double)target;
    po.aq_min = 10;
    po.aq_max = 90;
    {
        struct encode_budget b = {.left = 8, .pixels = 200 * 150};

        assert_int_equal(
            autoq_run(img, IMGTYPE_JPEG, SAVE_PLAIN, &po, AQ_NONE, -1, 0, 0, true, &b, &out), 0);
        assert_true(out.len <= target);
        assert_true(out.quality > 10 && out.quality < 90);
        assert_true(b.used <= 8);
        /* One step up no longer fits (the search found the highest that does), given the budget. */
        encoded_release(&out);
    }
    po.aq_target = 10; /* unreachable: the minimum quality */
    {
        struct encode_budget b = {.left = 8, .pixels = 200 * 150};

        assert_int_equal(
            autoq_run(img, IMGTYPE_JPEG, SAVE_PLAIN, &po, AQ_NONE, -1, 0, 0, true, &b, &out), 0);
        assert_int_equal(out.quality, 10);
        assert_int_equal(b.used, 2);
        encoded_release(&out);
    }
    /* No budget: nothing encoded. */
    {
        struct encode_budget b = {.left = 0, .pixels = 200 * 150};

        assert_int_equal(
            autoq_run(img, IMGTYPE_JPEG, SAVE_PLAIN, &po, AQ_NONE, -1, 0, 0, true, &b, &out),
            AUTOQ_NO_BUDGET);
        assert_null(out.data);
    }
    g_object_unref(img);
}

/* aq:dssim: the chosen result's DSSIM, measured again, is near the target. */
static void test_autoq_dssim_run(void **state)
{
    VipsImage *img = test_image(200, 150, TEXTURED), *dec;
    struct procopts po;
    struct encoded out = {0};
    struct encode_budget b = {.left = 8, .pixels = 200 * 150};
    struct dssim_image ref;
    double d;

    (void)state;
    options_init(&po);
    po.aq_method = AQ_DSSIM;
    po.aq_target = 0.02;
    po.aq_min = 5;
    po.aq_max = 95;
    po.aq_allowed_error = 0.002;
    assert_int_equal(
        autoq_run(img, IMGTYPE_JPEG, SAVE_PLAIN, &po, AQ_NONE, -1, 0, 0, true, &b, &out), 0);
    dec = vips_image_new_from_buffer(out.data, out.len, "", NULL);
    assert_non_null(dec);
    assert_int_equal(dssim_image_init(&ref, img), 0);
    d = dssim_compare(&ref, dec, NULL);
    fprintf(stderr, "aq:dssim:0.02:5:95:0.002: q=%d, DSSIM %.5f, %d encodes\n", out.quality, d,
            b.used);
    assert_true(fabs(d - 0.02) <= 0.005);
    dssim_image_release(&ref);
    g_object_unref(dec);
    encoded_release(&out);
    g_object_unref(img);
}

/* The default cfg kept for tu_cfg_reset(), and libvips started as imgfcgi starts it. */
static int setup(void **state)
{
    if (tu_cfg_setup(state) != 0)
        return -1;
    return process_global_init("test_bestfmt");
}

/* A passed deadline allows no encode: nothing is encoded and the budget is untouched. */
static void test_deadline_stops_encodes(void **state)
{
    VipsImage *img = test_image(64, 48, TEXTURED);
    struct deadline dl;
    struct encode_budget b = {.left = 8, .dl = &dl, .pixels = 64 * 48};
    struct encoded out = {0};
    struct procopts po;

    (void)state;
    deadline_start(&dl, deadline_now_ms() - 2000, 1000); /* ended a second ago */
    assert_int_equal(autoq_encode_once(img, IMGTYPE_JPEG, SAVE_PLAIN, 80, true, &b, &out),
                     AUTOQ_NO_BUDGET);
    assert_null(out.data);
    assert_int_equal(b.used, 0);
    options_init(&po);
    po.best_format = true;
    assert_int_equal(bestfmt_encode(img, &po, NULL, false, true, IMGTYPE_JPEG, &b, &out),
                     AUTOQ_NO_BUDGET);
    assert_int_equal(b.used, 0);
    /* With time left, the same budget encodes. */
    deadline_start(&dl, deadline_now_ms(), 60000);
    assert_int_equal(autoq_encode_once(img, IMGTYPE_JPEG, SAVE_PLAIN, 80, true, &b, &out), 0);
    assert_int_equal(b.used, 1);
    assert_int_equal(b.left, 7);
    encoded_release(&out);
    g_object_unref(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dssim_identical_and_small),
        cmocka_unit_test(test_dssim_flat_exact),
        cmocka_unit_test(test_dssim_monotone_in_noise),
        cmocka_unit_test(test_dssim_vips_images),
        cmocka_unit_test(test_search_size),
        cmocka_unit_test(test_search_dssim),
        cmocka_unit_test(test_search_no_budget),
        cmocka_unit_test(test_better),
        cmocka_unit_test_setup(test_range_and_applies, tu_cfg_reset),
        cmocka_unit_test_setup(test_options, tu_cfg_reset),
        cmocka_unit_test_setup(test_estimate, tu_cfg_reset),
        cmocka_unit_test_setup(test_candidates, tu_cfg_reset),
        cmocka_unit_test_setup(test_formats, tu_cfg_reset),
        cmocka_unit_test_setup(test_complexity, tu_cfg_reset),
        cmocka_unit_test_setup(test_best_encode, tu_cfg_reset),
        cmocka_unit_test_setup(test_best_max_resolution, tu_cfg_reset),
        cmocka_unit_test_setup(test_autoq_size_run, tu_cfg_reset),
        cmocka_unit_test_setup(test_autoq_dssim_run, tu_cfg_reset),
        cmocka_unit_test_setup(test_deadline_stops_encodes, tu_cfg_reset),
    };

    return cmocka_run_group_tests(tests, setup, tu_cfg_teardown);
}

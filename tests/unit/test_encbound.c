/* test_encbound: the encode-time bound, and the compute bound for blurs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <string.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "config.h"
#include "deadline.h"
#include "encbound.h"
#include "errors.h"
#include "options.h"
#include "process.h"
#include "testutil.h"

#define MP 1000000LL

/*
 * Streaming savers: refused only far beyond the time left; ordinary large
 * results fit in IMGPROXY_TIMEOUT=10, and 12 MP and 50 MP PNGs in most of
 * a 1 s deadline (test_deadline.py and test_handler run them into their
 * deadline); results of gigapixels do not.
 */
static void test_streaming_formats(void **state)
{
    static const enum imgtype t[] = {IMGTYPE_JPEG, IMGTYPE_PNG, IMGTYPE_TIFF};

    (void)state;
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        long long need = encbound_estimate_ms(t[i], 40 * MP);

        assert_true(encbound_streams(t[i]));
        assert_true(encbound_seconds_per_mp(t[i]) > 0);
        assert_true(need > 0);
        assert_true(encbound_fits(t[i], 40 * MP, (long long)(need / ENCBOUND_STREAM_FACTOR) + 2));
        assert_false(encbound_fits(t[i], 40 * MP, (long long)(need / ENCBOUND_STREAM_FACTOR) - 2));
        assert_true(encbound_fits(t[i], 25 * MP, 10000));
        assert_true(encbound_fits(t[i], 12 * MP, 800));
        assert_true(
            encbound_fits(t[i], 8960LL * 5600, 950)); /* test_handler's, into its deadline */
        assert_false(encbound_fits(t[i], 60000LL * 60000, 1000));
        assert_true(encbound_fits(t[i], 4000 * MP, LLONG_MAX));
        assert_false(encbound_fits(t[i], 1, 0));
    }
    /* the bounded suite's: z:80, pd:30000 and ex:1 to 60000 px as PNG */
    assert_false(encbound_fits(IMGTYPE_PNG, 64000LL * 40000, 10000));
    assert_false(encbound_fits(IMGTYPE_PNG, 60800LL * 60500, 10000));
    assert_false(encbound_fits(IMGTYPE_PNG, 60000LL * 60000, 10000));
    assert_false(encbound_streams(IMGTYPE_WEBP));
    assert_false(encbound_streams(IMGTYPE_BMP));
    assert_true(encbound_seconds_per_mp(IMGTYPE_BMP) == 0);
    assert_true(encbound_fits(IMGTYPE_BMP, 4000 * MP, 1));
}

/* A blur's tile grows with sigma squared: a huge sigma is refused, an ordinary one is not. */
static void test_blur_tiles(void **state)
{
    (void)state;
    assert_int_equal(encbound_blur_tile_ms(0, 3), 0);
    assert_true(encbound_blur_fits(0, 3, 10000));
    assert_true(encbound_blur_fits(60, 4, 10000));
    assert_true(encbound_blur_fits(60, 4, 500));
    assert_false(encbound_blur_fits(500, 3, 10000));
    assert_true(encbound_blur_tile_ms(500, 3) > ENCBOUND_TILE_MS);
    assert_true(encbound_blur_tile_ms(200, 3) > encbound_blur_tile_ms(100, 3) * 3);
    assert_true(encbound_blur_tile_ms(100, 4) > encbound_blur_tile_ms(100, 3));
    assert_true(encbound_blur_fits(500, 3, LLONG_MAX)); /* no deadline: nothing to outlast */
}

/* The issue's requests: WebP at 16383 x 16383 and AVIF at 16380 x 12888 do not fit in 10 s. */
static void test_issue_requests_refused(void **state)
{
    (void)state;
    assert_false(encbound_fits(IMGTYPE_WEBP, 16383LL * 16383, 10000));
    assert_false(encbound_fits(IMGTYPE_AVIF, 16380LL * 12888, 10000));
    assert_false(encbound_fits(IMGTYPE_GIF, 16000LL * 10000, 10000));
    assert_true(encbound_estimate_ms(IMGTYPE_AVIF, 16380LL * 12888) > 10000);
}

/* Ordinary results fit easily; the share of the time left is the limit. */
static void test_ordinary_results_fit(void **state)
{
    static const enum imgtype t[] = {IMGTYPE_WEBP, IMGTYPE_AVIF, IMGTYPE_GIF, IMGTYPE_HEIC};

    (void)state;
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        long long need = encbound_estimate_ms(t[i], 2 * MP);

        assert_true(need > 0);
        assert_true(encbound_fits(t[i], 2 * MP, 10000) || t[i] == IMGTYPE_HEIC);
        assert_true(encbound_fits(t[i], 2 * MP, (long long)(need / ENCBOUND_SHARE) + 2));
        assert_false(encbound_fits(t[i], 2 * MP, (long long)(need / ENCBOUND_SHARE) - 2));
    }
    assert_true(encbound_fits(IMGTYPE_WEBP, 1920LL * 1080, 10000));
    assert_true(encbound_fits(IMGTYPE_AVIF, 1920LL * 1080, 10000));
}

/* No deadline: everything fits; a passed one: nothing unstoppable. */
static void test_deadline_edges(void **state)
{
    (void)state;
    assert_true(encbound_fits(IMGTYPE_AVIF, 1000 * MP, LLONG_MAX));
    assert_false(encbound_fits(IMGTYPE_WEBP, 1, 0));
    assert_false(encbound_fits(IMGTYPE_WEBP, 1000, -5));
    assert_true(encbound_fits(IMGTYPE_WEBP, 1, 2));
    assert_true(encbound_estimate_ms(IMGTYPE_WEBP, LLONG_MAX) > 0);
}

/* A 40 x 30 grey JPEG source; caller frees with g_free(). */
static void *small_jpeg(size_t *len)
{
    VipsImage *grey = NULL;
    void *jpeg = NULL;
    int r = vips_grey(&grey, 40, 30, NULL);

    if (r == 0)
        r = vips_jpegsave_buffer(grey, &jpeg, len, "Q", 90, NULL);
    VIPS_UNREF(grey);
    assert_int_equal(r, 0);
    return jpeg;
}

/*
 * process_prepare() for the source enlarged to w x h as `format` (UNKNOWN:
 * chosen from accept) with left_ms of the deadline; returns its code and
 * the chosen format in *out.
 */
static double prep_blur; /* the blur sigma prepare() asks for */

static int prepare(int w, int h, enum imgtype format, const char *accept, long long left_ms,
                   struct errinfo *e, enum imgtype *out)
{
    struct procopts po;
    struct process_info info;
    struct process_job *job = NULL;
    struct deadline dl;
    size_t len = 0;
    void *src = small_jpeg(&len);
    int ret;

    options_init(&po);
    po.width = w;
    po.height = h;
    po.enlarge = true;
    po.format = format;
    po.blur = prep_blur;
    deadline_start(&dl, deadline_now_ms(), left_ms);
    err_clear(e);
    ret = process_prepare(&job, src, len, IMGTYPE_JPEG, &po, accept, &dl, &info, e);
    *out = info.out_type;
    process_job_free(job);
    process_thread_cleanup();
    g_free(src);
    return ret;
}

/* A WebP in the URL too big to encode in time: 422 before any pixel, with the figures logged. */
static void test_url_format_refused(void **state)
{
    struct errinfo e;
    enum imgtype out;

    (void)state;
    assert_int_equal(prepare(8000, 6000, IMGTYPE_WEBP, NULL, 10000, &e, &out), ERR_SOURCE_TYPE);
    assert_non_null(strstr(e.msg, "to encode as webp"));
    /* a small one goes through */
    assert_int_equal(prepare(800, 600, IMGTYPE_WEBP, NULL, 10000, &e, &out), 0);
    assert_int_equal(out, IMGTYPE_WEBP);
}

/* It would fit in the whole IMGPROXY_TIMEOUT but not in what is left: 503. */
static void test_time_spent_is_503(void **state)
{
    struct errinfo e;
    enum imgtype out;

    (void)state;
    assert_int_equal(cfg.timeout, 10);
    assert_int_equal(prepare(4000, 2500, IMGTYPE_WEBP, NULL, 10000, &e, &out), 0);
    assert_int_equal(prepare(4000, 2500, IMGTYPE_WEBP, NULL, 2000, &e, &out), ERR_TIMEOUT);
}

/* Chosen by Accept: the format chosen without it (the source's JPEG) instead of a refusal. */
static void test_accept_falls_back(void **state)
{
    struct errinfo e;
    enum imgtype out;

    (void)state;
    cfg.auto_webp = true;
    cfg.auto_avif = true;
    assert_int_equal(
        prepare(8000, 6000, IMGTYPE_UNKNOWN, "image/avif,image/webp,*/*", 10000, &e, &out), 0);
    assert_int_equal(out, IMGTYPE_JPEG);
    assert_int_equal(
        prepare(300, 200, IMGTYPE_UNKNOWN, "image/avif,image/webp,*/*", 10000, &e, &out), 0);
    assert_int_equal(out, IMGTYPE_AVIF);
    cfg.auto_webp = cfg.auto_avif = false;
}

/* A gigapixel PNG is refused at once; a 12 MP one goes through; so does a 1 s deadline's. */
static void test_streaming_refused_before_work(void **state)
{
    struct errinfo e;
    enum imgtype out;
    long long t0 = deadline_now_ms();

    (void)state;
    assert_int_equal(prepare(64000, 40000, IMGTYPE_PNG, NULL, 10000, &e, &out), ERR_SOURCE_TYPE);
    assert_non_null(strstr(e.msg, "to encode as png"));
    assert_true(deadline_now_ms() - t0 < 2000);
    assert_int_equal(prepare(4000, 3000, IMGTYPE_PNG, NULL, 10000, &e, &out), 0);
    assert_int_equal(prepare(4000, 3000, IMGTYPE_PNG, NULL, 900, &e, &out), 0);
    assert_int_equal(prepare(6000, 4000, IMGTYPE_JPEG, NULL, 10000, &e, &out), 0);
}

/* bl:500 is refused before any pixel; bl:60 is not. */
static void test_huge_blur_refused(void **state)
{
    struct errinfo e;
    enum imgtype out;

    (void)state;
    prep_blur = 500;
    assert_int_equal(prepare(800, 600, IMGTYPE_JPEG, NULL, 10000, &e, &out), ERR_SOURCE_TYPE);
    assert_non_null(strstr(e.msg, "Blur sigma 500"));
    prep_blur = 60;
    assert_int_equal(prepare(800, 600, IMGTYPE_JPEG, NULL, 10000, &e, &out), 0);
    prep_blur = 0;
}

/* libvips as imgfcgi runs it, and the default settings (IMGPROXY_TIMEOUT 10 s). */
static int setup(void **state)
{
    return tu_vips_setup(state) == 0 && tu_load_default_cfg() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    config_release(&cfg);
    return tu_vips_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streaming_formats),
        cmocka_unit_test(test_blur_tiles),
        cmocka_unit_test(test_issue_requests_refused),
        cmocka_unit_test(test_ordinary_results_fit),
        cmocka_unit_test(test_deadline_edges),
        cmocka_unit_test(test_url_format_refused),
        cmocka_unit_test(test_time_spent_is_503),
        cmocka_unit_test(test_accept_falls_back),
        cmocka_unit_test(test_streaming_refused_before_work),
        cmocka_unit_test(test_huge_blur_refused),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

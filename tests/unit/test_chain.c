/*
 * test_chain.c: chained pipelines (options_parse_url, the pipeline, the
 * estimate), hashsum and fallback_image_url with its cache.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <glib.h>
#include <vips/vips.h>

#include "config.h"
#include "estimate.h"
#include "fallback.h"
#include "fetch.h"
#include "chain.h"
#include "options.h"
#include "presets.h"
#include "process.h"
#include "signature.h"
#include "testutil.h"
#include "url.h"

/* IMGFCGI_TEST_FIXTURES, read in main(): the group setup clears IMGFCGI_* variables. */
static const char *fixtures_dir = "tests/fixtures";

/* Parses the '/'-split option path s as a URL's options into po (a chain). */
static int parse(struct procopts *po, const char *s, struct errinfo *e)
{
    gchar **parts = g_strsplit(s, "/", 64);
    char *segs[64];
    size_t n = 0;
    int rc;

    for (size_t i = 0; parts[i] != NULL && n < 64; i++)
        segs[n++] = parts[i];
    options_init(po);
    err_clear(e);
    rc = chain_parse_url(po, segs, n, ':', e);
    g_strfreev(parts);
    return rc;
}

/* The pipeline k of po's chain. */
static const struct procopts *pipeline(const struct procopts *po, size_t k)
{
    while (k-- > 0 && po != NULL)
        po = po->next;
    assert_non_null(po);
    return po;
}

static void test_chain_split(void **state)
{
    struct procopts po;
    struct errinfo e;

    (void)state;
    assert_int_equal(parse(&po, "rs:fit:500:500/-/trim:10/w:20", &e), 0);
    assert_int_equal(chain_length(&po), 2);
    assert_int_equal(po.width, 500);
    assert_false(po.trim);
    assert_int_equal(pipeline(&po, 1)->width, 20);
    assert_true(pipeline(&po, 1)->trim);
    assert_int_equal(pipeline(&po, 1)->height, 0);
    chain_free(&po);
    assert_null(po.next);

    /* Empty pipelines are passes with the defaults. */
    assert_int_equal(parse(&po, "w:10/-/-", &e), 0);
    assert_int_equal(chain_length(&po), 3);
    chain_free(&po);
}

/* The documented example: a preset's parts merge position by position. */
static void test_chain_presets(void **state)
{
    static const char def[] = "test=width:300/height:300/-/width:200/height:200/-/width:100/"
                              "height:200";
    struct procopts po;
    struct errinfo e;
    char err[256];

    (void)state;
    assert_int_equal(presets_add(def, strlen(def), err, sizeof(err)), 0);
    assert_int_equal(parse(&po, "width:400/-/preset:test/width:500/-/width:600", &e), 0);
    assert_int_equal(chain_length(&po), 4);
    assert_int_equal(pipeline(&po, 0)->width, 400);
    assert_int_equal(pipeline(&po, 0)->height, 0);
    assert_int_equal(pipeline(&po, 1)->width, 500);
    assert_int_equal(pipeline(&po, 1)->height, 300);
    assert_int_equal(pipeline(&po, 2)->width, 600);
    assert_int_equal(pipeline(&po, 2)->height, 200);
    assert_int_equal(pipeline(&po, 3)->width, 100);
    assert_int_equal(pipeline(&po, 3)->height, 200);
    chain_free(&po);

    /* Presets' pipelines are not counted by IMGPROXY_MAX_CHAINED_PIPELINES... */
    cfg.max_chained_pipelines = 2;
    assert_int_equal(parse(&po, "width:400/-/preset:test", &e), 0);
    assert_int_equal(chain_length(&po), 4);
    chain_free(&po);
    /* ...the URL's are, the first one too. */
    assert_int_equal(parse(&po, "w:1/-/w:2/-/w:3", &e), ERR_INVALID_URL);
    assert_int_equal(e.status, 404);
    chain_free(&po);
    cfg.max_chained_pipelines = 0;
    /* The hard cap holds without the setting. */
    {
        GString *s = g_string_new("w:1");

        for (int i = 0; i < CHAIN_MAX_PIPELINES; i++)
            g_string_append(s, "/-");
        assert_int_equal(parse(&po, s->str, &e), ERR_INVALID_URL);
        chain_free(&po);
        g_string_free(s, TRUE);
    }
    presets_release();
}

/* url_parse_path keeps "-" among the option segments, and only there. */
static void test_chain_url_segments(void **state)
{
    static const char uri[] = "/sig/w:1/-/w:2/plain/http://x/a-/-/b.jpg";
    struct urlparts u;
    struct errinfo e;

    (void)state;
    err_clear(&e);
    assert_int_equal(url_split(&u, uri, strlen(uri), "", &e), 0);
    assert_int_equal(url_parse_path(&u, ':', &e), 0);
    assert_int_equal(u.nsegments, 3);
    assert_string_equal(u.segments[0], "w:1");
    assert_string_equal(u.segments[1], "-");
    assert_string_equal(u.segments[2], "w:2");
    assert_string_equal(u.source, "http://x/a-/-/b.jpg");
    url_release(&u);
}

/* The documented signature of a chained URL (key "secret", salt "hello"), through url_split. */
static void test_chain_signature_vector(void **state)
{
    static const char uri[] = "/yXqhFgF3G53GU7BcujfNg5yi_hGaGpYQokDkF_xasP8/rs:fit:500:500/-/"
                              "trim:10/plain/http://example.com/images/curiosity.jpg";
    static struct bytes key = {(unsigned char *)"secret", 6}, salt = {(unsigned char *)"hello", 5};
    struct urlparts u;
    struct errinfo e;
    char sig[64];
    size_t n;

    (void)state;
    err_clear(&e);
    assert_int_equal(url_split(&u, uri, strlen(uri), "", &e), 0);
    n = signature_compute(key.data, key.len, salt.data, salt.len, u.path, u.path_len, 32, sig);
    sig[n] = '\0';
    assert_string_equal(sig, "yXqhFgF3G53GU7BcujfNg5yi_hGaGpYQokDkF_xasP8");
    cfg.keys = &key;
    cfg.salts = &salt;
    cfg.nkeys = cfg.nsalts = 1;
    assert_int_equal(signature_verify(u.signature, strlen(u.signature), u.path, u.path_len, &e), 0);
    url_release(&u);
}

/* Request-level options hold in every pipeline, the last one naming them winning. */
static void test_chain_request_level(void **state)
{
    struct procopts po;
    struct errinfo e;

    (void)state;
    assert_int_equal(parse(&po, "f:jpeg/q:50/w:10/-/w:20/f:webp/-/bl:2", &e), 0);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(pipeline(&po, k)->format, IMGTYPE_WEBP);
        assert_int_equal(pipeline(&po, k)->quality, 50);
    }
    assert_int_equal(pipeline(&po, 0)->width, 10);
    assert_int_equal(pipeline(&po, 1)->width, 20);
    assert_int_equal(pipeline(&po, 2)->width, 0);
    assert_true(pipeline(&po, 2)->blur == 2.0);
    assert_true(pipeline(&po, 0)->blur == 0.0);
    chain_free(&po);
    /* An error in any pipeline fails the URL. */
    assert_int_equal(parse(&po, "w:10/-/w:x", &e), ERR_INVALID_URL);
    chain_free(&po);
}

/* The ETag's options hash sees every pipeline. */
static void test_chain_canonical(void **state)
{
    struct procopts a, b;
    struct errinfo e;
    char ca[OPTIONS_CANONICAL_MAX], cb[OPTIONS_CANONICAL_MAX];

    (void)state;
    assert_int_equal(parse(&a, "w:10/-/w:20", &e), 0);
    assert_int_equal(parse(&b, "w:10/-/w:21", &e), 0);
    options_canonical(&a, ca, sizeof(ca));
    options_canonical(&b, cb, sizeof(cb));
    assert_string_not_equal(ca, cb);
    assert_non_null(strstr(ca, "pipeline.1="));
    chain_free(&a);
    chain_free(&b);
    assert_int_equal(parse(&a, "w:10", &e), 0);
    options_canonical(&a, ca, sizeof(ca));
    assert_null(strstr(ca, "pipeline."));
}

static void test_hashsum(void **state)
{
    static const char data[] = "abc";
    struct procopts po;
    struct errinfo e;

    (void)state;
    assert_int_equal(parse(&po, "hs:md5:900150983CD24FB0D6963F7D28E17F72", &e), 0);
    assert_int_equal(po.hashsum_type, HASHSUM_MD5);
    assert_int_equal(options_hashsum_verify(&po, data, 3, &e), 0);
    assert_int_equal(options_hashsum_verify(&po, data, 2, &e), ERR_SOURCE_TYPE);
    assert_int_equal(e.status, 422);
    assert_int_equal(parse(&po, "hashsum:sha1:a9993e364706816aba3e25717850c26c9cd0d89d", &e), 0);
    assert_int_equal(options_hashsum_verify(&po, data, 3, &e), 0);
    assert_int_equal(
        parse(&po, "hs:sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
              &e),
        0);
    assert_int_equal(options_hashsum_verify(&po, data, 3, &e), 0);
    assert_int_equal(parse(&po,
                           "hs:sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d"
                           "39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
                           &e),
                     0);
    assert_int_equal(options_hashsum_verify(&po, data, 3, &e), 0);
    assert_int_equal(parse(&po, "hs:none", &e), 0);
    assert_int_equal(options_hashsum_verify(&po, data, 1, &e), 0);
    assert_int_equal(parse(&po, "hs:md5", &e), ERR_INVALID_URL);
    assert_int_equal(parse(&po, "hs:md5:900150983cd24fb0d6963f7d28e17f7", &e), ERR_INVALID_URL);
    assert_int_equal(parse(&po, "hs:md5:g00150983cd24fb0d6963f7d28e17f72", &e), ERR_INVALID_URL);
    assert_int_equal(parse(&po, "hs:crc32:00", &e), ERR_INVALID_URL);
}

static void test_fallback_url_option(void **state)
{
    struct procopts po;
    struct errinfo e;

    (void)state;
    assert_int_equal(parse(&po, "fiu:aHR0cDovL2V4YW1wbGUuY29tL3dhdGVybWFyay5wbmc", &e), 0);
    assert_string_equal(po.fallback_url, "http://example.com/watermark.png");
    assert_int_equal(parse(&po, "fiu:a*b", &e), ERR_INVALID_URL);
    assert_int_equal(parse(&po, "fiu:", &e), 0);
    assert_string_equal(po.fallback_url, "");
}

/* The fallback_image_url cache on local:// files: one fetch per URL, bounded by count. */
static void test_fallback_cache(void **state)
{
    const char *fixtures = fixtures_dir;
    struct fetcher *f = fetcher_new();
    GBytes *r1 = NULL, *r2 = NULL, *r3 = NULL;
    const struct fetch_result *i1, *i2, *i3;
    struct errinfo e;
    size_t count, bytes;
    char err[256];

    (void)state;
    if (fixtures == NULL)
        skip();
    assert_non_null(f);
    cfg.local_root = realpath(fixtures, NULL);
    cfg.fallback_images_cache_size = 1;
    cfg.fallback_images_cache_bytes = 64 << 20;
    assert_int_equal(fallback_global_init(err, sizeof(err)), 0);
    err_clear(&e);
    assert_int_equal(fallback_url_get(f, "local:///alpha.png", NULL, &r1, &i1, &e), 0);
    assert_int_equal(fallback_url_get(f, "local:///alpha.png", NULL, &r2, &i2, &e), 0);
    assert_ptr_equal(r1, r2);
    assert_ptr_equal(i1, i2);
    fallback_url_cache_stats(&count, &bytes);
    assert_int_equal(count, 1);
    assert_true(bytes >= i1->body.len);
    /* A second URL evicts the first (size 1); the first stays alive for its users. */
    assert_int_equal(fallback_url_get(f, "local:///photo.webp", NULL, &r3, &i3, &e), 0);
    fallback_url_cache_stats(&count, &bytes);
    assert_int_equal(count, 1);
    assert_true(i1->body.len > 0);
    fallback_url_put(r1);
    fallback_url_put(r2);
    fallback_url_put(r3);
    /* A missing file is the fetch's error, and nothing is cached. */
    assert_int_equal(fallback_url_get(f, "local:///nope.png", NULL, &r1, &i1, &e),
                     ERR_SOURCE_NOT_FOUND);
    assert_null(r1);
    /* Larger than the byte bound: served, not cached. */
    fallback_url_cache_clear();
    fallback_url_cache_stats(&count, &bytes);
    assert_int_equal(count, 0);
    assert_int_equal(bytes, 0);
    cfg.fallback_images_cache_bytes = 16;
    assert_int_equal(fallback_global_init(err, sizeof(err)), 0);
    assert_int_equal(fallback_url_get(f, "local:///alpha.png", NULL, &r1, &i1, &e), 0);
    fallback_url_cache_stats(&count, &bytes);
    assert_int_equal(count, 0);
    fallback_url_put(r1);
    fallback_global_shutdown();
    fetcher_free(f);
    free(cfg.local_root);
    cfg.local_root = NULL;
}

/* Reads a fixture into a GLib buffer. */
static guchar *fixture(const char *name, gsize *len)
{
    const char *dir = fixtures_dir;
    gchar *path, *data = NULL;

    if (dir == NULL)
        return NULL;
    path = g_build_filename(dir, name, NULL);
    if (!g_file_get_contents(path, &data, len, NULL))
        data = NULL;
    g_free(path);
    return (guchar *)data;
}

static int collect(void *ctx, const void *data, size_t len)
{
    return buf_append(ctx, data, len);
}

/* Runs po on data into a PNG (lossless); returns the encoded bytes (caller buf_release()s). */
static void run_png(const guchar *data, gsize len, enum imgtype t, struct procopts *po,
                    struct buf *out, struct process_info *info)
{
    struct process_job *job = NULL;
    struct errinfo e;

    err_clear(&e);
    po->format = IMGTYPE_PNG;
    for (struct procopts *p = po->next; p != NULL; p = p->next)
        p->format = IMGTYPE_PNG;
    buf_init(out);
    if (process_prepare(&job, data, len, t, po, NULL, NULL, info, &e) != 0)
        fail_msg("process_prepare: %s", e.msg);
    if (process_save(job, collect, out, &e) != 0)
        fail_msg("process_save: %s", e.msg);
    process_job_free(job);
}

/*
 * A crop-then-resize chain gives the pixels of the two steps run one after
 * the other (the first result, lossless, as the second's source).
 */
static void test_chain_pixels(void **state)
{
    struct procopts chain, one, two;
    struct errinfo e;
    struct process_info info;
    struct buf a, b1, b2;
    gsize len;
    guchar *src = fixture("photo.jpg", &len);
    VipsImage *ia, *ib, *diff = NULL, *absd = NULL;
    double mx = 0, avg = 0;

    (void)state;
    if (src == NULL)
        skip();
    assert_int_equal(parse(&chain, "c:400:300:nowe/-/rs:fit:120:120", &e), 0);
    run_png(src, len, IMGTYPE_JPEG, &chain, &a, &info);
    assert_int_equal(info.out_w, 120);
    assert_int_equal(info.out_h, 90);
    assert_int_equal(parse(&one, "c:400:300:nowe", &e), 0);
    run_png(src, len, IMGTYPE_JPEG, &one, &b1, &info);
    assert_int_equal(info.out_w, 400);
    assert_int_equal(parse(&two, "rs:fit:120:120", &e), 0);
    run_png(b1.data, b1.len, IMGTYPE_PNG, &two, &b2, &info);
    ia = vips_image_new_from_buffer(a.data, a.len, "", NULL);
    ib = vips_image_new_from_buffer(b2.data, b2.len, "", NULL);
    assert_non_null(ia);
    assert_non_null(ib);
    assert_int_equal(vips_subtract(ia, ib, &diff, NULL), 0);
    assert_int_equal(vips_abs(diff, &absd, NULL), 0);
    assert_int_equal(vips_max(absd, &mx, NULL), 0);
    assert_int_equal(vips_avg(absd, &avg, NULL), 0);
    /* Rounding only: the chain keeps the crop in the same graph, unencoded. */
    assert_true(mx <= 2.0);
    assert_true(avg < 0.1);
    g_object_unref(absd);
    g_object_unref(diff);
    g_object_unref(ia);
    g_object_unref(ib);
    buf_release(&a);
    buf_release(&b1);
    buf_release(&b2);
    chain_free(&chain);
    g_free(src);
}

/* An animation stays one strip of frames through every pipeline of a chain. */
static void test_chain_animation(void **state)
{
    struct procopts chain;
    struct errinfo e;
    struct process_info info;
    struct process_job *job = NULL;
    struct buf out;
    gsize len;
    guchar *src = fixture("animated.gif", &len);
    VipsImage *img;

    (void)state;
    if (src == NULL)
        skip();
    cfg.max_animation_frames = 4;
    assert_int_equal(parse(&chain, "rs:fit:60:60/-/rs:fit:30:30/f:gif", &e), 0);
    buf_init(&out);
    err_clear(&e);
    if (process_prepare(&job, src, len, IMGTYPE_GIF, &chain, NULL, NULL, &info, &e) != 0)
        fail_msg("process_prepare: %s", e.msg);
    if (process_save(job, collect, &out, &e) != 0)
        fail_msg("process_save: %s", e.msg);
    process_job_free(job);
    img = vips_image_new_from_buffer(out.data, out.len, "n=-1", NULL);
    assert_non_null(img);
    /* 120x80 frames: 60x40, then 30x20; the first 4 of 10 frames. */
    assert_int_equal(vips_image_get_width(img), 30);
    assert_int_equal(vips_image_get_page_height(img), 20);
    assert_int_equal(vips_image_get_n_pages(img), 4);
    g_object_unref(img);
    buf_release(&out);
    chain_free(&chain);
    g_free(src);
}

/* The estimate of a chain covers its later pipelines' whole-image steps. */
static void test_chain_estimate(void **state)
{
    struct estimate_header h = {IMGTYPE_JPEG, 4000, 3000, 3, 1, 1, 1, false};
    struct procopts one, chain;
    struct estimate e1, e2;
    struct errinfo e;

    (void)state;
    assert_int_equal(parse(&one, "rs:fit:1000:1000", &e), 0);
    assert_int_equal(parse(&chain, "rs:fit:1000:1000/-/bl:5/-/rot:90", &e), 0);
    estimate_compute(&h, 1 << 20, &one, IMGTYPE_JPEG, &e1);
    estimate_compute(&h, 1 << 20, &chain, IMGTYPE_JPEG, &e2);
    assert_true(e2.total > e1.total);
    assert_true(e2.in_memory >= e1.in_memory + 1000 * 750 * 3);
    assert_true((e2.reasons & ESTIMATE_FILTER) != 0);
    assert_true((e2.reasons & ESTIMATE_ROTATE) != 0);
    assert_int_equal(e2.out_w, 750);
    assert_int_equal(e2.out_h, 1000);
    chain_free(&chain);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_cfg_reset, tu_cfg_reset)

/* The default cfg kept for tu_cfg_reset(), and libvips started as imgfcgi starts it. */
static int group_setup(void **state)
{
    if (tu_cfg_setup(state) != 0)
        return -1;
    return process_global_init("imgfcgi-unit-test");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chain_url_segments),
        T(test_chain_signature_vector),
        T(test_chain_split),
        T(test_chain_presets),
        T(test_chain_request_level),
        T(test_chain_canonical),
        T(test_hashsum),
        T(test_fallback_url_option),
        T(test_fallback_cache),
        T(test_chain_pixels),
        T(test_chain_animation),
        T(test_chain_estimate),
    };

    if (getenv("IMGFCGI_TEST_FIXTURES") != NULL)
        fixtures_dir = g_strdup(getenv("IMGFCGI_TEST_FIXTURES"));
    return cmocka_run_group_tests_name("chain", tests, group_setup, tu_cfg_teardown);
}

/*
 * test_handler.c: whole requests through handler_serve() with an in-memory
 * output and libvips, under the real scheduler: routes, options, formats,
 * errors, and the request deadline and the slot queue.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <vips/vips.h>

#include "config.h"
#include "deadline.h"
#include "fallback.h"
#include "handler.h"
#include "presets.h"
#include "process.h"
#include "scheduler.h"
#include "testutil.h"

static char root[] = "/tmp/imgfcgi-handler-XXXXXX";
static struct sched *sched; /* one slot: the tests serve one request at a time */
static struct sched *queue; /* the queue tests' scheduler; NULL: sched */

struct captured {
    int status;
    char headers[2048];
    unsigned char *body;
    size_t len;
    int fail_after; /* body() fails once this many bytes were written; -1 = never */
    int aborted;
};

static int cap_head(void *ctx, int status, const struct header *h, size_t n)
{
    struct captured *c = ctx;
    size_t used = 0;

    c->status = status;
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(c->headers + used, sizeof(c->headers) - used, "%s: %s\n",
                                 h[i].name, h[i].value);
    return 0;
}

static int cap_body(void *ctx, const void *data, size_t len)
{
    struct captured *c = ctx;

    if (c->fail_after >= 0 && c->len + len > (size_t)c->fail_after)
        return -1;
    c->body = realloc(c->body, c->len + len);
    assert_non_null(c->body);
    memcpy(c->body + c->len, data, len);
    c->len += len;
    return 0;
}

static void cap_abort(void *ctx)
{
    ((struct captured *)ctx)->aborted = 1;
}

static const char *param(void *ctx, const char *name)
{
    const char *accept = ctx;

    if (strcmp(name, "HTTP_ACCEPT") == 0)
        return accept;
    return NULL;
}

static int run(const char *method, const char *uri, const char *accept, struct captured *c)
{
    struct request rq = {method, uri, param, (void *)accept};
    struct output out = {cap_head, cap_body, cap_abort, c};

    memset(c, 0, sizeof(*c));
    c->fail_after = -1;
    return handler_serve(queue != NULL ? queue : sched, &rq, &out);
}

static int run_failing(const char *uri, int fail_after, struct captured *c)
{
    struct request rq = {"GET", uri, param, NULL};
    struct output out = {cap_head, cap_body, cap_abort, c};

    memset(c, 0, sizeof(*c));
    c->fail_after = fail_after;
    return handler_serve(queue != NULL ? queue : sched, &rq, &out);
}

/* Decodes the captured body and checks its loader and size. */
static void assert_image(const struct captured *c, const char *loader, int w, int h)
{
    VipsImage *img;
    const char *got;

    assert_int_equal(c->status, 200);
    assert_true(c->len > 0);
    img = vips_image_new_from_buffer(c->body, c->len, "", NULL);
    assert_non_null(img);
    assert_int_equal(vips_image_get_string(img, "vips-loader", &got), 0);
    if (strncmp(got, loader, strlen(loader)) != 0)
        fail_msg("loader %s, expected %s", got, loader);
    assert_int_equal(vips_image_get_width(img), w);
    assert_int_equal(vips_image_get_height(img), h);
    g_object_unref(img);
}

static void write_file(const char *name, const void *data, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A 2240x1400 gradient photo stand-in, an alpha PNG, an EXIF-rotated JPEG, noise, junk. */
static int setup(void **state)
{
    VipsImage *x = NULL, *rgb = NULL, *alpha = NULL, *rgba = NULL, *cast = NULL, *rot = NULL;
    VipsImage *noise = NULL, *noise8 = NULL;
    void *buf;
    size_t len;
    char path[600];

    (void)state;
    if (tu_load_default_cfg() < 0 || mkdtemp(root) == NULL)
        return -1;
    free(cfg.local_root);
    cfg.local_root = strdup(root);
    if (process_global_init("test_handler") < 0)
        return -1;

    if (vips_xyz(&x, 2240, 1400, NULL) || vips_extract_band(x, &alpha, 0, NULL) ||
        vips_bandjoin_const1(x, &rgb, 128, NULL) || vips_cast(rgb, &cast, VIPS_FORMAT_UCHAR, NULL))
        return -1;
    if (vips_jpegsave_buffer(cast, &buf, &len, "Q", 80, NULL))
        return -1;
    write_file("photo.jpg", buf, len);
    g_free(buf);
    if (vips_bandjoin2(cast, alpha, &rgba, NULL) || vips_pngsave_buffer(rgba, &buf, &len, NULL))
        return -1;
    write_file("alpha.png", buf, len);
    g_free(buf);
    /* Stored 1400x2240 with orientation 6: displays as 2240x1400. */
    if (vips_rot(cast, &rot, VIPS_ANGLE_D90, NULL))
        return -1;
    vips_image_set_int(rot, VIPS_META_ORIENTATION, 6);
    if (vips_jpegsave_buffer(rot, &buf, &len, "Q", 80, NULL))
        return -1;
    write_file("rotated.jpg", buf, len);
    g_free(buf);
    write_file("text.txt", "hello, not an image\n", 20);
    /* 3000x2000 noise blurs slowly: the deadline tests' work that takes seconds. */
    if (vips_gaussnoise(&noise, 3000, 2000, "mean", 128.0, "sigma", 40.0, NULL) ||
        vips_cast(noise, &noise8, VIPS_FORMAT_UCHAR, NULL) ||
        vips_jpegsave_buffer(noise8, &buf, &len, NULL))
        return -1;
    write_file("noise.jpg", buf, len);
    g_free(buf);
    g_object_unref(noise);
    g_object_unref(noise8);
    write_file("broken.jpg", "\xff\xd8\xff\xe0garbage garbage garbage", 28);
    snprintf(path, sizeof(path), "%s/sub", root);
    assert_int_equal(mkdir(path, 0755), 0);
    g_object_unref(x);
    g_object_unref(rgb);
    g_object_unref(alpha);
    g_object_unref(rgba);
    g_object_unref(cast);
    g_object_unref(rot);
    sched = sched_new(&(struct sched_config){.slots = 1});
    return sched == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[600];

    (void)state;
    sched_free(sched);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        return -1;
    config_release(&cfg);
    return 0;
}

static void free_cap(struct captured *c)
{
    free(c->body);
    c->body = NULL;
}

/* GET uri answers with an image that loader decodes to w x h. */
static void expect_image(const char *uri, const char *loader, int w, int h)
{
    struct captured c;

    run("GET", uri, NULL, &c);
    assert_image(&c, loader, w, h);
    free_cap(&c);
}

static void test_fit_jpeg(void **state)
{
    struct captured c;

    (void)state;
    /* 1400 * 300 / 2240 = 187.5, rounded half away from zero. */
    assert_int_equal(run("GET", "/insecure/rs:fit:300:300/plain/local:///photo.jpg", NULL, &c),
                     200);
    assert_non_null(strstr(c.headers, "Content-Type: image/jpeg\n"));
    assert_non_null(strstr(c.headers, "Content-Disposition: inline; filename=\"photo.jpg\"\n"));
    assert_image(&c, "jpegload", 300, 188);
    free_cap(&c);
}

static void test_formats(void **state)
{
    static const struct {
        const char *uri, *mime, *loader;
    } cases[] = {
        {"/x/rs:fill:300:200/plain/local:///photo.jpg@webp", "image/webp", "webpload"},
        {"/x/rs:fill:300:200/plain/local:///photo.jpg@png", "image/png", "pngload"},
        {"/x/rs:fill:300:200/plain/local:///photo.jpg@avif", "image/avif", "heifload"},
        {"/x/rs:fill:300:200/plain/local:///photo.jpg@gif", "image/gif", "gifload"},
        {"/x/rs:fill:300:200/plain/local:///photo.jpg@tiff", "image/tiff", "tiffload"},
        {"/x/rs:fill:300:200/f:jpg/plain/local:///photo.jpg", "image/jpeg", "jpegload"},
        /* base64 of local:///photo.jpg with .png */
        {"/x/rs:fill:300:200/bG9jYWw6Ly8vcGhvdG8uanBn.png", "image/png", "pngload"},
    };
    struct captured c;
    char want[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run("GET", cases[i].uri, NULL, &c);
        snprintf(want, sizeof(want), "Content-Type: %s\n", cases[i].mime);
        if (strstr(c.headers, want) == NULL)
            fail_msg("%s: headers %s", cases[i].uri, c.headers);
        assert_image(&c, cases[i].loader, 300, 200);
        free_cap(&c);
    }
}

static void test_alpha_and_extend(void **state)
{
    struct captured c;
    VipsImage *img;

    (void)state;
    /* PNG source keeps PNG and its alpha. */
    run("GET", "/x/w:400/plain/local:///alpha.png", NULL, &c);
    assert_image(&c, "pngload", 400, 250);
    img = vips_image_new_from_buffer(c.body, c.len, "", NULL);
    assert_true(vips_image_hasalpha(img));
    g_object_unref(img);
    free_cap(&c);
    /* Extend without enlarge: the image stays 2240x1400 inside a 3000x3000 canvas. */
    expect_image("/x/rs:fit:3000:3000:0:1/plain/local:///photo.jpg", "jpegload", 3000, 3000);
    /* No enlarge: the size stays. */
    expect_image("/x/rs:fit:3000:3000/plain/local:///photo.jpg", "jpegload", 2240, 1400);
    expect_image("/x/rs:fit:3000:3000:1/plain/local:///photo.jpg", "jpegload", 3000, 1875);
}

static void test_orientation(void **state)
{
    (void)state;
    expect_image("/x/w:560/plain/local:///rotated.jpg", "jpegload", 560, 350);
    expect_image("/x/w:350/ar:0/plain/local:///rotated.jpg", "jpegload", 350, 560);
}

static void test_errors(void **state)
{
    static const struct {
        const char *uri;
        int status;
        const char *body;
    } cases[] = {
        {"/x/rs:bad:300:300/plain/local:///photo.jpg", 404, "Invalid URL"},
        {"/x/unknown:1/plain/local:///photo.jpg", 404, "Invalid URL"},
        {"/x/fill/300/300/plain/local:///photo.jpg", 404, "Invalid URL"},
        {"/x/plain/local:///photo.jpg@bogus", 404, "Invalid URL"},
        {"/onlysignature", 404, "Invalid URL"},
        {"/x/plain/local:///missing.jpg", 404, "Source image is unreachable"},
        {"/x/plain/local:///../../etc/passwd", 404, "Source image is unreachable"},
        {"/x/plain/local:///%2e%2e/%2e%2e/etc/passwd", 404, "Source image is unreachable"},
        {"/x/plain/local:///sub", 404, "Source image is unreachable"},
        {"/x/plain/local:///text.txt", 422, "Invalid source image"},
        {"/x/plain/local:///broken.jpg", 422, "Broken or unsupported image"},
        {"/x/plain/local:///photo.jpg@svg", 422, "Invalid URL"},
        {"/x/plain/ftp://example.com/a.jpg", 404, "Source image is unreachable"},
        {"/favicon.ico", 404, " "},
    };
    struct captured c;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run("GET", cases[i].uri, NULL, &c);
        if (c.status != cases[i].status)
            fail_msg("%s: status %d, expected %d", cases[i].uri, c.status, cases[i].status);
        assert_non_null(strstr(c.headers, "Content-Type: text/plain\n"));
        assert_int_equal(c.len, strlen(cases[i].body));
        assert_memory_equal(c.body, cases[i].body, c.len);
        free_cap(&c);
    }
}

/* method uri answers status with a header line `has` and without any `lacks` (NULL: no check). */
static void expect_headers(const char *method, const char *uri, int status, const char *has,
                           const char *lacks)
{
    struct captured c;

    assert_int_equal(run(method, uri, NULL, &c), status);
    if (has != NULL && strstr(c.headers, has) == NULL)
        fail_msg("%s %s: no \"%s\" in:\n%s", method, uri, has, c.headers);
    if (lacks != NULL && strstr(c.headers, lacks) != NULL)
        fail_msg("%s %s: \"%s\" in:\n%s", method, uri, lacks, c.headers);
    free_cap(&c);
}

static void test_routes(void **state)
{
    struct captured c;

    (void)state;
    expect_headers("GET", "/health", 200, "Content-Type: text/plain\n", NULL);
    expect_headers("GET", "/", 200, "Content-Type: text/html\n", NULL);
    assert_int_equal(run("HEAD", "/x/plain/local:///photo.jpg", NULL, &c), 200);
    assert_int_equal(c.len, 0);
    free_cap(&c);
}

/* Client hints for test_client_hints: the DPR and Width headers. */
static const char *hints_param(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "HTTP_DPR") == 0)
        return "2";
    if (strcmp(name, "HTTP_WIDTH") == 0)
        return "200";
    return NULL;
}

static void test_client_hints(void **state)
{
    struct captured c;
    struct request rq = {"GET", "/x/plain/local:///photo.jpg@png", hints_param, NULL};
    struct output out = {cap_head, cap_body, cap_abort, &c};

    (void)state;
    cfg.enable_client_hints = true;
    memset(&c, 0, sizeof(c));
    c.fail_after = -1;
    handler_serve(queue != NULL ? queue : sched, &rq, &out);
    cfg.enable_client_hints = false;
    /* Width 200 at DPR 2 is width 100 at dpr 2: 200 px wide. */
    assert_image(&c, "pngload", 200, 125);
    free_cap(&c);
    memset(&c, 0, sizeof(c));
    c.fail_after = -1;
    handler_serve(queue != NULL ? queue : sched, &rq, &out);
    assert_image(&c, "pngload", 2240, 1400);
    free_cap(&c);
}

static void test_base_url_and_b64_filename(void **state)
{
    struct captured c;
    char *saved = cfg.base_url;

    (void)state;
    cfg.base_url = (char *)"local:///";
    assert_int_equal(run("GET", "/x/w:100/plain/photo.jpg", NULL, &c), 200);
    assert_image(&c, "jpegload", 100, 63);
    free_cap(&c);
    cfg.base_url = saved;

    cfg.base64_url_includes_filename = true;
    assert_int_equal(run("GET", "/x/w:100/bG9jYWw6Ly8vcGhvdG8uanBn/my-name.png", NULL, &c), 200);
    cfg.base64_url_includes_filename = false;
    assert_image(&c, "jpegload", 100, 63);
    free_cap(&c);
}

static void test_png_quantize(void **state)
{
    struct captured c;
    VipsImage *img;
    int depth = 0;

    (void)state;
    cfg.png_quantize = true;
    cfg.png_quantization_colors = 16;
    assert_int_equal(run("GET", "/x/w:100/plain/local:///photo.jpg@png", NULL, &c), 200);
    cfg.png_quantize = false;
    img = vips_image_new_from_buffer(c.body, c.len, "", NULL);
    assert_non_null(img);
    assert_int_equal(vips_image_get_int(img, "palette-bit-depth", &depth), 0);
    assert_int_equal(depth, 4);
    g_object_unref(img);
    free_cap(&c);
}

static void test_only_presets(void **state)
{
    struct captured c;
    char err[128];

    (void)state;
    assert_int_equal(presets_add("small=w:100", 11, err, sizeof(err)), 0);
    assert_int_equal(presets_add("png=f:png", 9, err, sizeof(err)), 0);
    cfg.only_presets = true;
    assert_int_equal(run("GET", "/x/small/plain/local:///photo.jpg", NULL, &c), 200);
    assert_image(&c, "jpegload", 100, 63);
    free_cap(&c);
    assert_int_equal(run("GET", "/x/small:png/plain/local:///photo.jpg", NULL, &c), 200);
    assert_image(&c, "pngload", 100, 63);
    free_cap(&c);
    /* Options are not options any more: w:100 is an unknown preset. */
    assert_int_equal(run("GET", "/x/w:100/plain/local:///photo.jpg", NULL, &c), 404);
    free_cap(&c);
    cfg.only_presets = false;
    presets_release();
}

static void test_auto_webp(void **state)
{
    struct captured c;

    (void)state;
    cfg.auto_webp = true;
    run("GET", "/x/rs:fill:100:100/plain/local:///photo.jpg", "image/avif,image/webp,*/*", &c);
    cfg.auto_webp = false;
    assert_non_null(strstr(c.headers, "Vary: Accept\n"));
    assert_image(&c, "webpload", 100, 100);
    free_cap(&c);
}

/*
 * Accept negotiation: JPEG XL before AVIF and WebP with IMGPROXY_AUTO_JXL;
 * Vary: Accept. jxlload stays blocked in imgfcgi (an untrusted loader), so
 * this test unblocks it to check the result and blocks it again.
 */
static void test_auto_jxl(void **state)
{
    const unsigned char sig[2] = {0xff, 0x0a};
    struct captured c;

    (void)state;
    cfg.auto_jxl = true;
    cfg.auto_avif = true;
    run("GET", "/x/rs:fill:100:100/plain/local:///photo.jpg", "image/avif,image/jxl,*/*", &c);
    cfg.auto_jxl = false;
    cfg.auto_avif = false;
    assert_int_equal(c.status, 200);
    assert_non_null(strstr(c.headers, "Vary: Accept\n"));
    assert_non_null(strstr(c.headers, "Content-Type: image/jxl\n"));
    assert_true(c.len > 2);
    assert_memory_equal(c.body, sig, 2);
    vips_operation_block_set("VipsForeignLoadJxl", FALSE);
    assert_image(&c, "jxlload", 100, 100);
    vips_operation_block_set("VipsForeignLoadJxl", TRUE);
    free_cap(&c);
    /* A HEIC result by extension, read back by heifload. */
    assert_int_equal(run("GET", "/x/rs:fit:120:120/plain/local:///photo.jpg@heic", NULL, &c), 200);
    assert_non_null(strstr(c.headers, "Content-Type: image/heif\n"));
    assert_image(&c, "heifload", 120, 75);
    free_cap(&c);
    /* A shape x265 writes no image for: 500, not a 200 with a broken file. */
    assert_int_equal(run("GET", "/x/rs:force:5000:19:1/plain/local:///photo.jpg@heic", NULL, &c),
                     500);
    free_cap(&c);
}

static void test_client_gone(void **state)
{
    struct captured c;

    (void)state;
    /* The client disappears after 1 KB of a large PNG: 499, and the next request works. */
    assert_int_equal(run_failing("/x/plain/local:///photo.jpg@png", 1024, &c), 499);
    free_cap(&c);
    assert_int_equal(run("GET", "/x/rs:fit:300:300/plain/local:///photo.jpg", NULL, &c), 200);
    free_cap(&c);
}

/* Request headers as CGI parameters: name/value pairs, NULL-terminated. */
static const char *param_pairs(void *ctx, const char *name)
{
    const char *const *kv = ctx;

    for (size_t i = 0; kv != NULL && kv[i] != NULL; i += 2)
        if (strcmp(kv[i], name) == 0)
            return kv[i + 1];
    return NULL;
}

static int run_with(const char *method, const char *uri, const char *const *kv, struct captured *c)
{
    struct request rq = {method, uri, param_pairs, (void *)kv};
    struct output out = {cap_head, cap_body, cap_abort, c};

    memset(c, 0, sizeof(*c));
    c->fail_after = -1;
    return handler_serve(queue != NULL ? queue : sched, &rq, &out);
}

/* Copies header name's value from c into out ("" when absent). */
static void header_value(const struct captured *c, const char *name, char *out, size_t outlen)
{
    char key[128];
    const char *p;

    snprintf(key, sizeof(key), "%s: ", name);
    out[0] = '\0';
    p = strstr(c->headers, key);
    if (p != NULL)
        snprintf(out, outlen, "%.*s", (int)strcspn(p + strlen(key), "\n"), p + strlen(key));
}

static void test_secret(void **state)
{
    const char *const good[] = {"HTTP_AUTHORIZATION", "Bearer s3", NULL};
    const char *const bad[] = {"HTTP_AUTHORIZATION", "Bearer s4", NULL};
    char *saved = cfg.secret;
    struct captured c;

    (void)state;
    cfg.secret = (char *)"s3";
    assert_int_equal(run_with("GET", "/x/rs:fit:30:30/plain/local:///photo.jpg", NULL, &c), 403);
    free_cap(&c);
    assert_int_equal(run_with("GET", "/x/rs:fit:30:30/plain/local:///photo.jpg", bad, &c), 403);
    free_cap(&c);
    assert_int_equal(run_with("GET", "/x/rs:fit:30:30/plain/local:///photo.jpg", good, &c), 200);
    free_cap(&c);
    assert_int_equal(run_with("HEAD", "/x/rs:fit:30:30/plain/local:///photo.jpg", NULL, &c), 200);
    free_cap(&c);
    assert_int_equal(run_with("GET", "/health", NULL, &c), 200);
    free_cap(&c);
    cfg.secret = saved;
}

static void test_etag_304(void **state)
{
    const char *uri = "/x/rs:fit:30:30/plain/local:///photo.jpg";
    char etag[512], lm[64], cc[64];
    const char *kv[3] = {"HTTP_IF_NONE_MATCH", etag, NULL};
    struct captured c;

    (void)state;
    cfg.use_etag = true;
    cfg.use_last_modified = true;
    assert_int_equal(run_with("GET", uri, NULL, &c), 200);
    header_value(&c, "ETag", etag, sizeof(etag));
    header_value(&c, "Last-Modified", lm, sizeof(lm));
    assert_true(etag[0] == '"' && strstr(etag, "/R") != NULL);
    assert_true(strlen(lm) == 29);
    free_cap(&c);
    /* The same ETag back: 304, no body, the ETag and Cache-Control again. */
    assert_int_equal(run_with("GET", uri, kv, &c), 304);
    assert_int_equal(c.len, 0);
    header_value(&c, "Cache-Control", cc, sizeof(cc));
    assert_string_equal(cc, "max-age=31536000, public");
    assert_non_null(strstr(c.headers, etag));
    free_cap(&c);
    /* Other options: another options hash, a full answer. */
    assert_int_equal(run_with("GET", "/x/rs:fit:31:31/plain/local:///photo.jpg", kv, &c), 200);
    free_cap(&c);
    /* If-Modified-Since at the file's time: 304. */
    kv[0] = "HTTP_IF_MODIFIED_SINCE";
    snprintf(etag, sizeof(etag), "%s", lm);
    assert_int_equal(run_with("GET", uri, kv, &c), 304);
    free_cap(&c);
    cfg.use_etag = false;
    cfg.use_last_modified = false;
}

static void test_fallback(void **state)
{
    VipsImage *img = NULL;
    void *png;
    size_t len;
    struct captured c;

    (void)state;
    assert_int_equal(vips_black(&img, 37, 23, NULL), 0);
    assert_int_equal(vips_pngsave_buffer(img, &png, &len, NULL), 0);
    g_object_unref(img);
    assert_int_equal(fallback_set_for_tests(png, len), 0);
    g_free(png);
    run_with("GET", "/x/plain/local:///missing.jpg", NULL, &c);
    assert_image(&c, "pngload", 37, 23);
    free_cap(&c);
    /* Status 0: the download error's own status, with the image. */
    cfg.fallback_image_http_code = 0;
    assert_int_equal(run_with("GET", "/x/plain/local:///missing.jpg", NULL, &c), 404);
    assert_non_null(strstr(c.headers, "Content-Type: image/png\n"));
    free_cap(&c);
    cfg.fallback_image_http_code = 200;
    /* Not for URL or image errors. */
    assert_int_equal(run_with("GET", "/x/foo:1/plain/local:///missing.jpg", NULL, &c), 404);
    assert_non_null(strstr(c.headers, "Content-Type: text/plain\n"));
    free_cap(&c);
    /* A source of no known type fails the download (imgproxy's readAndCheckImage): fallback. */
    run_with("GET", "/x/plain/local:///text.txt", NULL, &c);
    assert_image(&c, "pngload", 37, 23);
    free_cap(&c);
    assert_int_equal(fallback_set_for_tests(NULL, 0), 0);
    assert_int_equal(run_with("GET", "/x/plain/local:///text.txt", NULL, &c), 422);
    free_cap(&c);
    assert_int_equal(run_with("GET", "/x/plain/local:///missing.jpg", NULL, &c), 404);
    free_cap(&c);
}

static void test_cors_debug_canonical(void **state)
{
    char *saved = cfg.allow_origin;
    struct captured c;

    (void)state;
    cfg.allow_origin = (char *)"*";
    cfg.enable_debug_headers = true;
    assert_int_equal(run_with("GET", "/x/rs:fit:300:300/plain/local:///photo.jpg", NULL, &c), 200);
    assert_non_null(strstr(c.headers, "Access-Control-Allow-Origin: *\n"));
    assert_non_null(strstr(c.headers, "Access-Control-Allow-Methods: GET, OPTIONS\n"));
    assert_non_null(strstr(c.headers, "X-Origin-Width: 2240\nX-Origin-Height: 1400\n"));
    assert_non_null(strstr(c.headers, "X-Result-Width: 300\nX-Result-Height: 188\n"));
    free_cap(&c);
    expect_headers("GET", "/x/foo:1/plain/local:///photo.jpg", 404,
                   "Access-Control-Allow-Origin: *\n", NULL);
    expect_headers("OPTIONS", "/x/plain/local:///photo.jpg", 200,
                   "Access-Control-Allow-Origin: *\n", NULL);
    expect_headers("GET", "/health", 200, NULL, "Access-Control");
    cfg.allow_origin = saved;
    cfg.enable_debug_headers = false;
}

/* ---------------------------------------------------------------- deadline and queue */

/* Whether the captured body holds text (bodies are not NUL-terminated). */
static bool body_has(const struct captured *c, const char *text)
{
    return c->body != NULL && memmem(c->body, c->len, text, strlen(text)) != NULL;
}

/* run("GET", uri) with detailed error bodies; returns the milliseconds it took. */
static long long timed_get(const char *uri, struct captured *c)
{
    long long t0 = deadline_now_ms();

    cfg.development_errors_mode = true;
    run("GET", uri, NULL, c);
    cfg.development_errors_mode = false;
    return deadline_now_ms() - t0;
}

/*
 * GET uri, work of seconds, with IMGPROXY_TIMEOUT at 1 s: answered with
 * status within 1.5 s. Returns the milliseconds it took.
 */
static long long get_past_deadline(const char *uri, int status, struct captured *c)
{
    long long ms;

    cfg.timeout = 1;
    ms = timed_get(uri, c);
    cfg.timeout = 10;
    assert_int_equal(c->status, status);
    if (ms > 1500)
        fail_msg("%d after %lld ms, want within 1500", status, ms);
    return ms;
}

/* A blur that needs seconds meets a 1 s deadline: 503 soon after it, then normal service. */
static void test_processing_deadline(void **state)
{
    struct captured c;

    (void)state;
    assert_true(get_past_deadline("/x/bl:60/plain/local:///noise.jpg@png", 503, &c) >= 1000);
    assert_false(c.aborted);
    assert_true(body_has(&c, "IMGPROXY_TIMEOUT (1 s) passed while processing"));
    free_cap(&c);
    timed_get("/x/rs:fit:200:200/plain/local:///photo.jpg", &c);
    assert_int_equal(c.status, 200);
    free_cap(&c);
}

/* Past the deadline while the result streams: the response is aborted, not finished. */
static void test_streaming_deadline(void **state)
{
    struct captured c;

    (void)state;
    /* 8960x5600 PNG rows come out while they are computed, for several seconds. */
    get_past_deadline("/x/rs:fill:8960:5600:1/plain/local:///photo.jpg@png", 200, &c);
    assert_true(c.len > 0);
    assert_true(c.aborted);
    free_cap(&c);
}

/*
 * IMGFCGI_BUFFER_RESULT: the same bytes as streamed; and past the deadline
 * while encoding, nothing has left, so the answer is a clean 503.
 */
static void test_buffered_result(void **state)
{
    const char *uri = "/x/rs:fit:1600:1600/plain/local:///photo.jpg@png";
    struct captured streamed, buffered, late;

    (void)state;
    timed_get(uri, &streamed);
    assert_int_equal(streamed.status, 200);
    cfg.buffer_result = true;
    timed_get(uri, &buffered);
    assert_int_equal(buffered.status, 200);
    assert_int_equal(buffered.len, streamed.len);
    assert_memory_equal(buffered.body, streamed.body, streamed.len);
    assert_false(buffered.aborted);
    get_past_deadline("/x/rs:fill:8960:5600:1/plain/local:///photo.jpg@png", 503, &late);
    assert_false(late.aborted);
    assert_true(body_has(&late, "IMGPROXY_TIMEOUT (1 s) passed"));
    cfg.buffer_result = false;
    free_cap(&streamed);
    free_cap(&buffered);
    free_cap(&late);
}

static void *bg_get(void *arg)
{
    timed_get("/x/rs:fit:100:100/plain/local:///photo.jpg", arg);
    return NULL;
}

static void wait_queue(int in_use, int waiting)
{
    struct sched_stats st = {0};

    for (int i = 0; i < 500; i++) {
        struct timespec t = {0, 10 * 1000000L};

        sched_get_stats(queue, &st);
        if (st.slots_in_use == in_use && st.slots_waiting == waiting)
            return;
        nanosleep(&t, NULL);
    }
    fail_msg("slots %d in use, %d waiting; want %d, %d", st.slots_in_use, st.slots_waiting, in_use,
             waiting);
}

/* The queue tests' scheduler, one slot, already held by `held` (a request being processed). */
static void queue_start(int queue_max, struct sched_req *held)
{
    queue = sched_new(&(struct sched_config){.slots = 1, .queue_max = queue_max});
    assert_non_null(queue);
    sched_req_init(held, queue);
    assert_int_equal(sched_slot_take(held, NULL), 0);
}

static void queue_end(void)
{
    wait_queue(0, 0);
    sched_free(queue);
    queue = NULL;
}

/* One slot, a queue of one: the third request is refused at once; /health needs no slot. */
static void test_queue_full(void **state)
{
    struct captured waiting, c;
    struct sched_req held;
    pthread_t th;
    long long ms;

    (void)state;
    cfg.requests_queue_size = 1;
    queue_start(1, &held);
    assert_int_equal(pthread_create(&th, NULL, bg_get, &waiting), 0);
    wait_queue(1, 1);
    ms = timed_get("/x/rs:fit:100:100/plain/local:///photo.jpg", &c);
    assert_int_equal(c.status, 429);
    assert_true(ms < 200);
    assert_true(body_has(&c, "Too many requests"));
    free_cap(&c);
    /* Errors found in the URL and health checks never queue. */
    assert_int_equal(run("GET", "/x/bad:option/plain/local:///photo.jpg", NULL, &c), 404);
    free_cap(&c);
    assert_int_equal(run("GET", "/health", NULL, &c), 200);
    free_cap(&c);
    /* The slot comes back: the waiting request is served. */
    sched_slot_put(&held);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(waiting.status, 200);
    free_cap(&waiting);
    queue_end();
    cfg.requests_queue_size = 0;
}

/* Waiting for a slot counts against the deadline. */
static void test_deadline_in_queue(void **state)
{
    struct sched_req held;
    struct captured c;
    long long ms;

    (void)state;
    cfg.timeout = 1;
    queue_start(0, &held);
    ms = timed_get("/x/rs:fit:100:100/plain/local:///photo.jpg", &c);
    assert_int_equal(c.status, 503);
    assert_true(ms >= 1000 && ms < 1500);
    assert_true(body_has(&c, "passed waiting for a worker"));
    free_cap(&c);
    wait_queue(1, 0);
    sched_slot_put(&held);
    assert_int_equal(run("GET", "/x/rs:fit:100:100/plain/local:///photo.jpg", NULL, &c), 200);
    free_cap(&c);
    queue_end();
    cfg.timeout = 10;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_jpeg),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_alpha_and_extend),
        cmocka_unit_test(test_orientation),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_auto_webp),
        cmocka_unit_test(test_auto_jxl),
        cmocka_unit_test(test_client_gone),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_etag_304),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_cors_debug_canonical),
        cmocka_unit_test(test_client_hints),
        cmocka_unit_test(test_base_url_and_b64_filename),
        cmocka_unit_test(test_png_quantize),
        cmocka_unit_test(test_only_presets),
        cmocka_unit_test(test_processing_deadline),
        cmocka_unit_test(test_streaming_deadline),
        cmocka_unit_test(test_buffered_result),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_deadline_in_queue),
    };

    return cmocka_run_group_tests_name("handler", tests, setup, teardown);
}

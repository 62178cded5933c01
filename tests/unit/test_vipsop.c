/*
 * test_vipsop.c: a request's libvips error comes from the stage of its own
 * failed call (loader, decode, later step), whatever other threads put in
 * libvips' shared error buffer.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "config.h"
#include "errors.h"
#include "options.h"
#include "process.h"
#include "vipsop.h"
#include "testutil.h"

#define ROUNDS 200

/* Whether e is code with its table status, public message, and a detail starting with what. */
static bool error_is(const struct errinfo *e, int code, const char *what)
{
    return e->code == code && e->status == err_status(code) && e->status != 200 &&
           strncmp(e->msg, what, strlen(what)) == 0 && e->msg[strlen(what)] == ':';
}

static void test_stage_codes(void **state)
{
    static const struct {
        enum vipsop_stage stage;
        int code, status;
        const char *public_msg;
    } cases[] = {
        {VIPSOP_LOAD, ERR_BROKEN_IMAGE, 422, "Broken or unsupported image"},
        {VIPSOP_DECODE, ERR_BROKEN_IMAGE, 422, "Broken or unsupported image"},
        {VIPSOP_PROCESS, ERR_INTERNAL, 500, "Internal error"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct errinfo e;

        err_clear(&e);
        vips_error("somewhere", "went wrong");
        assert_int_equal(vipsop_fail(&e, cases[i].stage, "Can't step"), cases[i].code);
        assert_int_equal(e.code, cases[i].code);
        assert_int_equal(e.status, cases[i].status);
        assert_string_equal(err_public_message(e.code), cases[i].public_msg);
        assert_string_equal(e.msg, "Can't step: somewhere: went wrong");
    }
    /* No text at all: the detail says so, the code is the same. */
    {
        struct errinfo e;

        assert_int_equal(vipsop_fail(&e, VIPSOP_PROCESS, "Can't step"), ERR_INTERNAL);
        assert_string_equal(e.msg, "Can't step: libvips error");
        assert_int_equal(vipsop_fail(NULL, VIPSOP_LOAD, "x"), ERR_BROKEN_IMAGE);
    }
}

/* A stand-in loader whose header reads fine and whose pixels cannot be decoded. */
static int broken_gen(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
    (void)out;
    (void)seq;
    (void)a;
    (void)b;
    (void)stop;
    vips_error("fakeload", "pixels are missing");
    return -1;
}

static VipsImage *broken_source(void)
{
    VipsImage *img = vips_image_new();

    vips_image_init_fields(img, 64, 64, 3, VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
                           VIPS_INTERPRETATION_sRGB, 1.0, 1.0);
    assert_int_equal(vips_image_pipelinev(img, VIPS_DEMAND_STYLE_ANY, NULL), 0);
    assert_int_equal(vips_image_generate(img, NULL, broken_gen, NULL, NULL, NULL), 0);
    return img;
}

static void test_guard_sees_decode_failure(void **state)
{
    struct vipsop_decode d;
    VipsImage *black = NULL, *img, *mem;

    (void)state;
    vipsop_decode_init(&d);
    assert_int_equal(vips_black(&black, 16, 16, NULL), 0);
    img = vipsop_decode_guard(&d, black);
    mem = vips_image_copy_memory(img);
    assert_non_null(mem);
    assert_int_equal(vips_image_get_width(mem), 16);
    assert_false(vipsop_decode_failed(&d));
    assert_int_equal(vipsop_stage_after_load(&d), VIPSOP_PROCESS);
    g_object_unref(mem);
    g_object_unref(img);

    img = vipsop_decode_guard(&d, broken_source());
    assert_null(vips_image_copy_memory(img));
    assert_true(vipsop_decode_failed(&d));
    assert_int_equal(vipsop_stage_after_load(&d), VIPSOP_DECODE);
    assert_int_equal(vipsop_stage_after_load(NULL), VIPSOP_PROCESS);
    vipsop_discard();
    g_object_unref(img);
    assert_null(vipsop_decode_guard(&d, NULL));
}

static int to_bytes(void *ctx, const void *data, size_t len)
{
    g_byte_array_append(ctx, data, (guint)len);
    return 0;
}

/* A small PNG made by libvips; caller frees with g_free(). */
static void *small_png(size_t *len)
{
    VipsImage *img = NULL;
    void *buf = NULL;

    assert_int_equal(vips_black(&img, 32, 24, "bands", 3, NULL), 0);
    assert_int_equal(vips_pngsave_buffer(img, &buf, len, NULL), 0);
    g_object_unref(img);
    return buf;
}

/* Garbage that claims to be a JPEG: the loader refuses it. */
static const unsigned char garbage_jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 'n', 'o', 't', ' ',
                                             'a',  ' ',  'j',  'p',  'e', 'g', '!', '!'};

/* One request through process.c: 0, or the error in e. */
static int run_request(const unsigned char *data, size_t len, enum imgtype t, struct errinfo *e)
{
    struct procopts po;
    struct process_info info;
    struct process_job *job = NULL;
    GByteArray *out = g_byte_array_new();
    int ret;

    options_init(&po);
    po.format = IMGTYPE_PNG;
    err_clear(e);
    ret = process_prepare(&job, data, len, t, &po, NULL, NULL, &info, e);
    if (ret == 0)
        ret = process_save(job, to_bytes, out, e);
    if (ret == 0 && out->len == 0)
        ret = err_set(e, ERR_INTERNAL, "no bytes");
    process_job_free(job);
    g_byte_array_unref(out);
    process_thread_cleanup();
    return ret;
}

static void test_process_load_failure(void **state)
{
    struct errinfo e;

    (void)state;
    assert_int_equal(run_request(garbage_jpeg, sizeof(garbage_jpeg), IMGTYPE_JPEG, &e),
                     ERR_BROKEN_IMAGE);
    assert_true(error_is(&e, ERR_BROKEN_IMAGE, "Can't load the source image"));
}

/*
 * A deflate TIFF (its directory after the pixel data) with the middle of its
 * data overwritten: the header reads, the pixels do not decode. Caller frees
 * with g_free().
 */
static unsigned char *broken_tiff(size_t *len)
{
    VipsImage *noise = NULL, *img = NULL;
    unsigned char *buf = NULL;

    assert_int_equal(vips_gaussnoise(&noise, 256, 256, NULL), 0);
    assert_int_equal(vips_cast(noise, &img, VIPS_FORMAT_UCHAR, NULL), 0);
    assert_int_equal(vips_tiffsave_buffer(img, (void **)&buf, len, "compression",
                                          VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE, NULL),
                     0);
    g_object_unref(img);
    g_object_unref(noise);
    memset(buf + *len / 4, 0xff, *len / 4);
    return buf;
}

static void test_process_decode_failure(void **state)
{
    size_t len = 0;
    unsigned char *buf = broken_tiff(&len);
    struct errinfo e;

    (void)state;
    assert_int_equal(run_request(buf, len, IMGTYPE_TIFF, &e), ERR_BROKEN_IMAGE);
    assert_int_equal(e.status, 422);
    /* The loader read the header: a later call met the decode failure. */
    assert_false(error_is(&e, ERR_BROKEN_IMAGE, "Can't load the source image"));
    g_free(buf);
}

/* What one thread saw go wrong: counted there, asserted on the main thread. */
struct worker {
    pthread_t thread;
    int wrong;
    char first[320];
    void *src; /* loader_failures: a broken TIFF; step_failures: a good PNG */
    size_t src_len;
};

static void note(struct worker *w, const char *what, const struct errinfo *e)
{
    if (w->wrong++ == 0)
        snprintf(w->first, sizeof(w->first), "%s: code %d status %d msg %s", what, e->code,
                 e->status, e->msg);
}

/*
 * Fails in the loader, and in decoding after the loader read the header, in
 * turns: always 422 Broken or unsupported image.
 */
static void *loader_failures(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < ROUNDS; i++) {
        struct errinfo e;

        if (run_request(garbage_jpeg, sizeof(garbage_jpeg), IMGTYPE_JPEG, &e) != ERR_BROKEN_IMAGE ||
            !error_is(&e, ERR_BROKEN_IMAGE, "Can't load the source image"))
            note(w, "loader failure", &e);
        if (run_request(w->src, w->src_len, IMGTYPE_TIFF, &e) != ERR_BROKEN_IMAGE ||
            e.status != 422)
            note(w, "decode failure", &e);
    }
    vips_thread_shutdown();
    return NULL;
}

/*
 * Fails in a later step of a loaded image (an extract outside the image:
 * 500 Internal error), and runs a whole good request (success), in turns.
 */
static void *step_failures(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < ROUNDS; i++) {
        struct vipsop_decode d;
        struct errinfo e;
        VipsImage *src = NULL, *img, *out = NULL;

        vipsop_decode_init(&d);
        err_clear(&e);
        if (vips_black(&src, 8, 8, NULL) != 0) {
            note(w, "vips_black", &e);
            continue;
        }
        img = vipsop_decode_guard(&d, src);
        if (vips_extract_area(img, &out, 4, 4, 100, 100, NULL) == 0) {
            g_object_unref(out);
            note(w, "extract did not fail", &e);
        } else if (vipsop_fail(&e, vipsop_stage_after_load(&d), "Can't crop") != ERR_INTERNAL ||
                   !error_is(&e, ERR_INTERNAL, "Can't crop")) {
            note(w, "step failure", &e);
        }
        g_object_unref(img);
        if (run_request(w->src, w->src_len, IMGTYPE_PNG, &e) != 0)
            note(w, "good request", &e);
    }
    vips_thread_shutdown();
    return NULL;
}

static void test_concurrent_failures_stay_apart(void **state)
{
    struct worker a, b;

    (void)state;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.src = broken_tiff(&a.src_len);
    b.src = small_png(&b.src_len);
    assert_int_equal(pthread_create(&a.thread, NULL, loader_failures, &a), 0);
    assert_int_equal(pthread_create(&b.thread, NULL, step_failures, &b), 0);
    assert_int_equal(pthread_join(a.thread, NULL), 0);
    assert_int_equal(pthread_join(b.thread, NULL), 0);
    g_free(a.src);
    g_free(b.src);
    if (a.wrong != 0)
        fail_msg("%d of %d loader failures wrong; first: %s", a.wrong, ROUNDS, a.first);
    if (b.wrong != 0)
        fail_msg("%d of %d step rounds wrong; first: %s", b.wrong, ROUNDS, b.first);
}

/*
 * Orc's lock: libvips resolves orc_program_compile and orc_program_free to
 * the executable's (the same lookup as dlsym's default scope), and integer
 * blurs built and freed from several threads at once, each compiling and
 * freeing Orc programs, run clean.
 */
int orc_program_compile(void *program);
void orc_program_free(void *program);

static void *blur_loop(void *arg)
{
    intptr_t failed = 0;

    (void)arg;
    for (int i = 0; i < 150; i++) {
        VipsImage *in = NULL, *out = NULL;
        double avg = 0;

        if (vips_black(&in, 64, 64, NULL) != 0 ||
            vips_gaussblur(in, &out, 1.0 + (i % 5) * 0.5, "precision", VIPS_PRECISION_INTEGER,
                           NULL) != 0 ||
            vips_avg(out, &avg, NULL) != 0)
            failed++;
        VIPS_UNREF(out);
        VIPS_UNREF(in);
    }
    return (void *)failed;
}

static void test_orc_calls_serialised(void **state)
{
    pthread_t t[4];
    void *ret;

    (void)state;
    assert_ptr_equal(dlsym(RTLD_DEFAULT, "orc_program_compile"), (void *)orc_program_compile);
    assert_ptr_equal(dlsym(RTLD_DEFAULT, "orc_program_free"), (void *)orc_program_free);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, blur_loop, NULL), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_int_equal((intptr_t)ret, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stage_codes),
        cmocka_unit_test(test_guard_sees_decode_failure),
        cmocka_unit_test(test_process_load_failure),
        cmocka_unit_test(test_process_decode_failure),
        cmocka_unit_test(test_concurrent_failures_stay_apart),
        cmocka_unit_test(test_orc_calls_serialised),
    };

    return cmocka_run_group_tests(tests, tu_process_setup, tu_process_teardown);
}

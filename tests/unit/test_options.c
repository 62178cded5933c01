/* test_options.c: processing options, their defaults and their errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "options.h"
#include "presets.h"
#include "testutil.h"

/* options_apply on an exact-size copy of seg with separator sep. */
static int apply_sep(struct procopts *po, const char *seg, char sep)
{
    size_t n = strlen(seg);
    char *copy = tu_memdup(seg, n);
    struct errinfo e;
    int rc;

    err_clear(&e);
    rc = options_apply(po, copy, n, sep, &e);
    free(copy);
    if (rc != 0) {
        assert_int_equal(e.code, rc);
        if (rc == ERR_INVALID_URL)
            assert_int_equal(e.status, 404);
    }
    return rc;
}

static int apply(struct procopts *po, const char *seg)
{
    return apply_sep(po, seg, ':');
}

/* Applies seg to fresh defaults and expects success. */
#define APPLY_OK(po, seg)                                                                          \
    do {                                                                                           \
        if (apply((po), (seg)) != 0)                                                               \
            fail_msg("options_apply(\"%s\") failed", (seg));                                       \
    } while (0)

/* Expects seg to be rejected with ERR_INVALID_URL on fresh defaults. */
static void expect_invalid(const char *seg)
{
    struct procopts po;

    options_init(&po);
    int rc = apply(&po, seg);
    if (rc != ERR_INVALID_URL)
        fail_msg("options_apply(\"%s\") = %d, want ERR_INVALID_URL (%d)", seg, rc, ERR_INVALID_URL);
}

static void test_defaults(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    assert_int_equal(po.resizing_type, RT_FIT);
    assert_int_equal(po.width, 0);
    assert_int_equal(po.height, 0);
    assert_int_equal(po.min_width, 0);
    assert_int_equal(po.min_height, 0);
    TU_ASSERT_NEAR(po.zoom_w, 1.0);
    TU_ASSERT_NEAR(po.zoom_h, 1.0);
    TU_ASSERT_NEAR(po.dpr, 1.0);
    assert_false(po.enlarge);
    assert_false(po.extend);
    assert_int_equal(po.extend_gravity.type, GRAV_CENTER);
    TU_ASSERT_NEAR(po.extend_gravity.x, 0.0);
    TU_ASSERT_NEAR(po.extend_gravity.y, 0.0);
    assert_int_equal(po.gravity.type, GRAV_CENTER);
    TU_ASSERT_NEAR(po.gravity.x, 0.0);
    TU_ASSERT_NEAR(po.gravity.y, 0.0);
    TU_ASSERT_NEAR(po.crop_w, 0.0);
    TU_ASSERT_NEAR(po.crop_h, 0.0);
    assert_int_equal(po.crop_gravity.type, GRAV_UNKNOWN);
    assert_int_equal(po.quality, 0);
    assert_int_equal(po.format, IMGTYPE_UNKNOWN);
    assert_int_equal(po.rotate, 0);
    /* Config-driven defaults: IMGPROXY_AUTO_ROTATE, _STRIP_METADATA, _STRIP_COLOR_PROFILE. */
    assert_true(po.auto_rotate);
    assert_true(po.strip_metadata);
    assert_true(po.strip_color_profile);
}

static void test_defaults_follow_cfg(void **state)
{
    struct procopts po;

    (void)state;
    cfg.auto_rotate = false;
    cfg.strip_metadata = false;
    cfg.strip_color_profile = false;
    options_init(&po);
    assert_false(po.auto_rotate);
    assert_false(po.strip_metadata);
    assert_false(po.strip_color_profile);
}

/* ---- resize / size ---- */

static void test_resize_full(void **state)
{
    struct procopts po;

    (void)state;
    /* type:w:h:enlarge:extend:gravity:x:y (8 args). */
    options_init(&po);
    APPLY_OK(&po, "rs:fill:300:400:1:1:so:10:20");
    assert_int_equal(po.resizing_type, RT_FILL);
    assert_int_equal(po.width, 300);
    assert_int_equal(po.height, 400);
    assert_true(po.enlarge);
    assert_true(po.extend);
    assert_int_equal(po.extend_gravity.type, GRAV_SOUTH);
    TU_ASSERT_NEAR(po.extend_gravity.x, 10.0);
    TU_ASSERT_NEAR(po.extend_gravity.y, 20.0);
    /* The main gravity is not the extend gravity. */
    assert_int_equal(po.gravity.type, GRAV_CENTER);

    /* The documented example: enlarge 0. */
    options_init(&po);
    APPLY_OK(&po, "rs:fill:300:400:0");
    assert_int_equal(po.resizing_type, RT_FILL);
    assert_int_equal(po.width, 300);
    assert_int_equal(po.height, 400);
    assert_false(po.enlarge);
    assert_false(po.extend);

    options_init(&po);
    APPLY_OK(&po, "resize:force:10:20");
    assert_int_equal(po.resizing_type, RT_FORCE);
    assert_int_equal(po.width, 10);
    assert_int_equal(po.height, 20);

    /* Type only. */
    options_init(&po);
    APPLY_OK(&po, "rs:auto");
    assert_int_equal(po.resizing_type, RT_AUTO);
    assert_int_equal(po.width, 0);
}

static void test_resize_empty_args_skipped(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "rt:fill");
    APPLY_OK(&po, "w:50");
    APPLY_OK(&po, "h:60");
    /* Empty type keeps fill, empty width keeps 50. */
    APPLY_OK(&po, "rs:::200");
    assert_int_equal(po.resizing_type, RT_FILL);
    assert_int_equal(po.width, 50);
    assert_int_equal(po.height, 200);

    APPLY_OK(&po, "rs::300");
    assert_int_equal(po.resizing_type, RT_FILL);
    assert_int_equal(po.width, 300);
    assert_int_equal(po.height, 200);

    /* Only enlarge. */
    APPLY_OK(&po, "rs::::1");
    assert_true(po.enlarge);
    assert_int_equal(po.width, 300);

    /* One empty argument ("rs:") and all empty: nothing changes. */
    APPLY_OK(&po, "rs:");
    APPLY_OK(&po, "s:");
    APPLY_OK(&po, "rs:::::");
    assert_int_equal(po.resizing_type, RT_FILL);
    assert_int_equal(po.width, 300);
    assert_int_equal(po.height, 200);
    assert_true(po.enlarge);
    assert_false(po.extend);
}

static void test_resize_errors(void **state)
{
    (void)state;
    /* 9 arguments: more than 8. */
    expect_invalid("rs:fit:1:2:0:1:ce:0:0:1");
    expect_invalid("resize:fit:1:2:0:1:ce:0:0:");
    expect_invalid("rs:bad:1:1");
    expect_invalid("rs:fit:-1:1");
    expect_invalid("rs:fit:1:x");
    /* extend gravity: sm is not allowed. */
    expect_invalid("rs:fit:1:1:1:1:sm");
    expect_invalid("rs:fit:1:1:1:1:xx");
    /* 8 arguments are fine. */
    struct procopts po;
    options_init(&po);
    APPLY_OK(&po, "rs:fit:1:2:0:1:ce:5:6");
    assert_int_equal(po.width, 1);
    assert_int_equal(po.height, 2);
    assert_true(po.extend);
    TU_ASSERT_NEAR(po.extend_gravity.x, 5.0);
    TU_ASSERT_NEAR(po.extend_gravity.y, 6.0);
}

static void test_size(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "s:300:400:1:1:nowe:5:6");
    assert_int_equal(po.resizing_type, RT_FIT); /* size does not touch the type */
    assert_int_equal(po.width, 300);
    assert_int_equal(po.height, 400);
    assert_true(po.enlarge);
    assert_true(po.extend);
    assert_int_equal(po.extend_gravity.type, GRAV_NORTH_WEST);
    TU_ASSERT_NEAR(po.extend_gravity.x, 5.0);
    TU_ASSERT_NEAR(po.extend_gravity.y, 6.0);

    options_init(&po);
    APPLY_OK(&po, "size:10");
    assert_int_equal(po.width, 10);
    assert_int_equal(po.height, 0);

    options_init(&po);
    APPLY_OK(&po, "w:77");
    APPLY_OK(&po, "s::20");
    assert_int_equal(po.width, 77);
    assert_int_equal(po.height, 20);

    APPLY_OK(&po, "s:::1");
    assert_true(po.enlarge);
    assert_int_equal(po.width, 77);
    assert_int_equal(po.height, 20);

    /* Errors: 8 arguments, bad width, bad height. */
    expect_invalid("s:1:2:1:1:ce:5:6:7");
    expect_invalid("size:-1");
    expect_invalid("s:1:abc");
    expect_invalid("s:1:2:1:1:sm");
}

/* ---- resizing_type ---- */

static void test_resizing_type(void **state)
{
    static const struct {
        const char *seg;
        enum resize_type rt;
    } cases[] = {
        {"rt:fit", RT_FIT},
        {"rt:fill", RT_FILL},
        {"rt:fill-down", RT_FILL_DOWN},
        {"rt:force", RT_FORCE},
        {"rt:auto", RT_AUTO},
        {"resizing_type:fill", RT_FILL},
        {"resizing_type:force", RT_FORCE},
    };
    struct procopts po;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        options_init(&po);
        APPLY_OK(&po, "rt:force"); /* a different starting value */
        APPLY_OK(&po, cases[i].seg);
        if (po.resizing_type != cases[i].rt)
            fail_msg("\"%s\": resizing_type %d, want %d", cases[i].seg, po.resizing_type,
                     cases[i].rt);
    }
    expect_invalid("rt:bad");
    expect_invalid("rt:");
    expect_invalid("rt:fill_down");
    expect_invalid("rt:FIT");
    expect_invalid("rt:fit:fill"); /* 1 argument only */
}

/* ---- width / height / min-width / min-height ---- */

static void test_dimensions(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "w:300");
    APPLY_OK(&po, "h:200");
    assert_int_equal(po.width, 300);
    assert_int_equal(po.height, 200);
    APPLY_OK(&po, "width:0");
    APPLY_OK(&po, "height:17");
    assert_int_equal(po.width, 0);
    assert_int_equal(po.height, 17);

    APPLY_OK(&po, "mw:100");
    APPLY_OK(&po, "mh:50");
    assert_int_equal(po.min_width, 100);
    assert_int_equal(po.min_height, 50);
    APPLY_OK(&po, "min-width:7");
    APPLY_OK(&po, "min-height:8");
    assert_int_equal(po.min_width, 7);
    assert_int_equal(po.min_height, 8);
}

static void test_dimension_errors(void **state)
{
    static const char *names[] = {"w",  "width",     "h",  "height",
                                  "mw", "min-width", "mh", "min-height"};
    static const char *bad[] = {"-1", "abc", "", "1.5", "12abc", " 1", "0x10"};
    char seg[64];

    (void)state;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            int n = snprintf(seg, sizeof seg, "%s:%s", names[i], bad[j]);
            assert_true(n > 0 && (size_t)n < sizeof seg);
            expect_invalid(seg);
        }
    }
}

/* ---- zoom / dpr ---- */

static void test_zoom(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "z:2");
    TU_ASSERT_NEAR(po.zoom_w, 2.0);
    TU_ASSERT_NEAR(po.zoom_h, 2.0);
    APPLY_OK(&po, "zoom:1.5:0.25");
    TU_ASSERT_NEAR(po.zoom_w, 1.5);
    TU_ASSERT_NEAR(po.zoom_h, 0.25);

    expect_invalid("z:0");
    expect_invalid("z:-1");
    expect_invalid("z:abc");
    expect_invalid("z:");
    expect_invalid("z:1:0");
    expect_invalid("z:1:-2");
    expect_invalid("z:1:x");
    expect_invalid("z:1:2:3");
}

static void test_dpr(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "dpr:2");
    TU_ASSERT_NEAR(po.dpr, 2.0);
    APPLY_OK(&po, "dpr:1.5");
    TU_ASSERT_NEAR(po.dpr, 1.5);
    APPLY_OK(&po, "dpr:0.5");
    TU_ASSERT_NEAR(po.dpr, 0.5);

    expect_invalid("dpr:0");
    expect_invalid("dpr:-1");
    expect_invalid("dpr:abc");
    expect_invalid("dpr:");
}

/* ---- booleans ---- */

static void test_enlarge_booleans(void **state)
{
    /* strconv.ParseBool. */
    static const char *trues[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *falses[] = {"0", "f", "F", "FALSE", "false", "False"};
    /* Invalid values are false, not an error. */
    static const char *invalid[] = {"yes", "2", "tRUE", "", "on", "-1", "truee"};
    struct procopts po;
    char seg[32];

    (void)state;
    for (size_t i = 0; i < sizeof trues / sizeof trues[0]; i++) {
        snprintf(seg, sizeof seg, "el:%s", trues[i]);
        options_init(&po);
        APPLY_OK(&po, seg);
        if (!po.enlarge)
            fail_msg("\"%s\" should set enlarge", seg);
    }
    for (size_t i = 0; i < sizeof falses / sizeof falses[0]; i++) {
        snprintf(seg, sizeof seg, "enlarge:%s", falses[i]);
        options_init(&po);
        APPLY_OK(&po, "el:1");
        APPLY_OK(&po, seg);
        if (po.enlarge)
            fail_msg("\"%s\" should clear enlarge", seg);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        snprintf(seg, sizeof seg, "el:%s", invalid[i]);
        options_init(&po);
        APPLY_OK(&po, "el:1");
        if (apply(&po, seg) != 0)
            fail_msg("\"%s\": an invalid boolean must not be an error", seg);
        if (po.enlarge)
            fail_msg("\"%s\": an invalid boolean must be false", seg);
    }
}

/* ---- extend ---- */

static void test_extend(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "ex:1");
    assert_true(po.extend);
    assert_int_equal(po.extend_gravity.type, GRAV_CENTER);

    APPLY_OK(&po, "extend:1:so:5:6");
    assert_true(po.extend);
    assert_int_equal(po.extend_gravity.type, GRAV_SOUTH);
    TU_ASSERT_NEAR(po.extend_gravity.x, 5.0);
    TU_ASSERT_NEAR(po.extend_gravity.y, 6.0);

    APPLY_OK(&po, "ex:true:fp:0.5:0.25");
    assert_int_equal(po.extend_gravity.type, GRAV_FOCUS_POINT);
    TU_ASSERT_NEAR(po.extend_gravity.x, 0.5);
    TU_ASSERT_NEAR(po.extend_gravity.y, 0.25);

    /* Exactly 4 arguments. */
    APPLY_OK(&po, "ex:1:we:3:4");
    assert_int_equal(po.extend_gravity.type, GRAV_WEST);
    TU_ASSERT_NEAR(po.extend_gravity.x, 3.0);
    TU_ASSERT_NEAR(po.extend_gravity.y, 4.0);

    APPLY_OK(&po, "ex:1:noea");
    assert_int_equal(po.extend_gravity.type, GRAV_NORTH_EAST);

    APPLY_OK(&po, "ex:0");
    assert_false(po.extend);
    /* The main gravity never changes through extend. */
    assert_int_equal(po.gravity.type, GRAV_CENTER);

    expect_invalid("ex:1:sm");
    expect_invalid("ex:1:re");
    expect_invalid("ex:1:xx");
    expect_invalid("ex:1:ce:0:0:1"); /* 5 arguments, at most 4 */
    expect_invalid("ex:1:fp:0.5");
    expect_invalid("ex:1:fp:2:0.5");
    expect_invalid("ex:1:ce:a");
}

/* ---- gravity ---- */

static void test_gravity_types(void **state)
{
    static const struct {
        const char *name;
        enum gravity_type type;
    } cases[] = {
        {"ce", GRAV_CENTER},       {"no", GRAV_NORTH},        {"so", GRAV_SOUTH},
        {"ea", GRAV_EAST},         {"we", GRAV_WEST},         {"noea", GRAV_NORTH_EAST},
        {"nowe", GRAV_NORTH_WEST}, {"soea", GRAV_SOUTH_EAST}, {"sowe", GRAV_SOUTH_WEST},
        {"sm", GRAV_SMART},
    };
    struct procopts po;
    char seg[32];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(seg, sizeof seg, "g:%s", cases[i].name);
        options_init(&po);
        APPLY_OK(&po, "g:sowe");
        APPLY_OK(&po, seg);
        if (po.gravity.type != cases[i].type)
            fail_msg("\"%s\": gravity %d, want %d", seg, po.gravity.type, cases[i].type);
        /* And the name maps back. */
        assert_string_equal(options_gravity_name(cases[i].type), cases[i].name);
    }
    assert_string_equal(options_gravity_name(GRAV_FOCUS_POINT), "fp");

    options_init(&po);
    APPLY_OK(&po, "gravity:noea");
    assert_int_equal(po.gravity.type, GRAV_NORTH_EAST);
    /* Gravity does not touch the crop gravity. */
    assert_int_equal(po.crop_gravity.type, GRAV_UNKNOWN);
}

static void test_gravity_offsets(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "g:ce:10:-20");
    assert_int_equal(po.gravity.type, GRAV_CENTER);
    TU_ASSERT_NEAR(po.gravity.x, 10.0);
    TU_ASSERT_NEAR(po.gravity.y, -20.0);

    APPLY_OK(&po, "g:no:0.1:0.2");
    assert_int_equal(po.gravity.type, GRAV_NORTH);
    TU_ASSERT_NEAR(po.gravity.x, 0.1);
    TU_ASSERT_NEAR(po.gravity.y, 0.2);

    /* x only. */
    APPLY_OK(&po, "g:we:5");
    assert_int_equal(po.gravity.type, GRAV_WEST);
    TU_ASSERT_NEAR(po.gravity.x, 5.0);

    /* sm resets the offsets. */
    APPLY_OK(&po, "g:ce:10:20");
    APPLY_OK(&po, "g:sm");
    assert_int_equal(po.gravity.type, GRAV_SMART);
    TU_ASSERT_NEAR(po.gravity.x, 0.0);
    TU_ASSERT_NEAR(po.gravity.y, 0.0);

    expect_invalid("g:ce:a");
    expect_invalid("g:ce:1:b");
}

static void test_gravity_focus_point(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "g:fp:0.5:0.25");
    assert_int_equal(po.gravity.type, GRAV_FOCUS_POINT);
    TU_ASSERT_NEAR(po.gravity.x, 0.5);
    TU_ASSERT_NEAR(po.gravity.y, 0.25);
    /* Bounds are inclusive. */
    APPLY_OK(&po, "g:fp:0:1");
    TU_ASSERT_NEAR(po.gravity.x, 0.0);
    TU_ASSERT_NEAR(po.gravity.y, 1.0);

    /* Exactly x and y. */
    expect_invalid("g:fp");
    expect_invalid("g:fp:0.5");
    expect_invalid("g:fp:0.5:0.5:0.5");
    /* In [0, 1]. */
    expect_invalid("g:fp:1.5:0.5");
    expect_invalid("g:fp:0.5:1.01");
    expect_invalid("g:fp:-0.1:0.5");
    expect_invalid("g:fp:0.5:-0.5");
    expect_invalid("g:fp:x:0.5");
}

static void test_gravity_errors(void **state)
{
    (void)state;
    expect_invalid("g:sm:1");
    expect_invalid("g:sm:1:2");
    expect_invalid("g:re");
    expect_invalid("g:xx");
    expect_invalid("g:");
    expect_invalid("g:CE");
    expect_invalid("g:center");
    /* Pro-only gravity types. */
    expect_invalid("g:obj");
}

/* ---- crop ---- */

static void test_crop(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "c:100:200");
    TU_ASSERT_NEAR(po.crop_w, 100.0);
    TU_ASSERT_NEAR(po.crop_h, 200.0);
    assert_int_equal(po.crop_gravity.type, GRAV_UNKNOWN); /* omitted: use gravity */

    options_init(&po);
    APPLY_OK(&po, "crop:0.5");
    TU_ASSERT_NEAR(po.crop_w, 0.5);
    TU_ASSERT_NEAR(po.crop_h, 0.0);

    options_init(&po);
    APPLY_OK(&po, "c:100:200:nowe");
    assert_int_equal(po.crop_gravity.type, GRAV_NORTH_WEST);
    assert_int_equal(po.gravity.type, GRAV_CENTER); /* main gravity untouched */

    APPLY_OK(&po, "c:100:200:soea:10:20");
    assert_int_equal(po.crop_gravity.type, GRAV_SOUTH_EAST);
    TU_ASSERT_NEAR(po.crop_gravity.x, 10.0);
    TU_ASSERT_NEAR(po.crop_gravity.y, 20.0);

    APPLY_OK(&po, "c:100:200:fp:0.5:0.75");
    assert_int_equal(po.crop_gravity.type, GRAV_FOCUS_POINT);
    TU_ASSERT_NEAR(po.crop_gravity.x, 0.5);
    TU_ASSERT_NEAR(po.crop_gravity.y, 0.75);

    APPLY_OK(&po, "c:0.25:0.75:sm");
    assert_int_equal(po.crop_gravity.type, GRAV_SMART);
    TU_ASSERT_NEAR(po.crop_w, 0.25);
    TU_ASSERT_NEAR(po.crop_h, 0.75);

    APPLY_OK(&po, "c:0:0");
    TU_ASSERT_NEAR(po.crop_w, 0.0);
    TU_ASSERT_NEAR(po.crop_h, 0.0);

    expect_invalid("c:-1");
    expect_invalid("c:abc");
    expect_invalid("c:");
    expect_invalid("c:1:-1");
    expect_invalid("c:1:x");
    expect_invalid("c:1:1:xx");
    expect_invalid("c:10:20:sm:1");
    expect_invalid("c:10:20:fp:0.5");
}

/* ---- quality / format_quality ---- */

static void test_quality(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "q:55");
    assert_int_equal(po.quality, 55);
    APPLY_OK(&po, "quality:100");
    assert_int_equal(po.quality, 100);
    APPLY_OK(&po, "q:0");
    assert_int_equal(po.quality, 0);

    expect_invalid("q:101");
    expect_invalid("q:-1");
    expect_invalid("q:x");
    expect_invalid("q:");
    expect_invalid("q:50.5");
}

static void test_format_quality(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "fq:webp:50:jpeg:60");
    assert_int_equal(po.format_quality[IMGTYPE_WEBP], 50);
    assert_int_equal(po.format_quality[IMGTYPE_JPEG], 60);
    APPLY_OK(&po, "format_quality:avif:40");
    assert_int_equal(po.format_quality[IMGTYPE_AVIF], 40);
    /* Earlier entries stay. */
    assert_int_equal(po.format_quality[IMGTYPE_WEBP], 50);

    expect_invalid("fq:webp"); /* odd count: "Missing quality for" */
    expect_invalid("fq:webp:50:jpeg");
    expect_invalid("fq:webp:101");
    expect_invalid("fq:webp:x");
    expect_invalid("fq:xyz:50");
}

static void test_options_quality(void **state)
{
    struct procopts po;

    (void)state;
    /* Defaults: IMGPROXY_QUALITY 80, IMGPROXY_FORMAT_QUALITY webp=79 avif=63. */
    options_init(&po);
    assert_int_equal(options_quality(&po, IMGTYPE_JPEG), 80);
    assert_int_equal(options_quality(&po, IMGTYPE_PNG), 80);
    assert_int_equal(options_quality(&po, IMGTYPE_TIFF), 80);
    assert_int_equal(options_quality(&po, IMGTYPE_WEBP), 79);
    assert_int_equal(options_quality(&po, IMGTYPE_AVIF), 63);

    /* The quality option beats format_quality and IMGPROXY_QUALITY. */
    APPLY_OK(&po, "q:50");
    assert_int_equal(options_quality(&po, IMGTYPE_JPEG), 50);
    assert_int_equal(options_quality(&po, IMGTYPE_WEBP), 50);
    assert_int_equal(options_quality(&po, IMGTYPE_AVIF), 50);

    /* q:0 falls back again. */
    APPLY_OK(&po, "q:0");
    assert_int_equal(options_quality(&po, IMGTYPE_WEBP), 79);
    assert_int_equal(options_quality(&po, IMGTYPE_JPEG), 80);
}

static void test_options_quality_fq_option(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    /* A URL format_quality beats IMGPROXY_QUALITY and the config map... */
    APPLY_OK(&po, "fq:jpeg:70:webp:60");
    assert_int_equal(options_quality(&po, IMGTYPE_JPEG), 70);
    assert_int_equal(options_quality(&po, IMGTYPE_WEBP), 60);
    assert_int_equal(options_quality(&po, IMGTYPE_AVIF), 63);
    assert_int_equal(options_quality(&po, IMGTYPE_TIFF), 80);
    /* ... and the quality option beats it. */
    APPLY_OK(&po, "q:50");
    assert_int_equal(options_quality(&po, IMGTYPE_JPEG), 50);
    assert_int_equal(options_quality(&po, IMGTYPE_WEBP), 50);
}

static void test_options_quality_from_cfg(void **state)
{
    struct procopts po;

    (void)state;
    cfg.quality = 90;
    cfg.format_quality[IMGTYPE_WEBP] = 33;
    cfg.format_quality[IMGTYPE_AVIF] = 0; /* 0 = use quality */
    options_init(&po);
    assert_int_equal(options_quality(&po, IMGTYPE_JPEG), 90);
    assert_int_equal(options_quality(&po, IMGTYPE_WEBP), 33);
    assert_int_equal(options_quality(&po, IMGTYPE_AVIF), 90);
}

/* ---- format ---- */

static void test_format(void **state)
{
    static const struct {
        const char *seg;
        enum imgtype type;
    } cases[] = {
        {"f:jpg", IMGTYPE_JPEG},       {"f:jpeg", IMGTYPE_JPEG}, {"f:png", IMGTYPE_PNG},
        {"f:webp", IMGTYPE_WEBP},      {"f:avif", IMGTYPE_AVIF}, {"f:gif", IMGTYPE_GIF},
        {"f:tiff", IMGTYPE_TIFF},      {"f:jxl", IMGTYPE_JXL},   {"f:ico", IMGTYPE_ICO},
        {"f:svg", IMGTYPE_SVG},        {"f:heic", IMGTYPE_HEIC}, {"f:bmp", IMGTYPE_BMP},
        {"format:webp", IMGTYPE_WEBP}, {"ext:png", IMGTYPE_PNG},
    };
    struct procopts po;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        options_init(&po);
        APPLY_OK(&po, cases[i].seg);
        if (po.format != cases[i].type)
            fail_msg("\"%s\": format %d, want %d", cases[i].seg, po.format, cases[i].type);
    }
    expect_invalid("f:xyz");
    expect_invalid("f:");
    expect_invalid("format:jpg:png");
    expect_invalid("f:tif");
}

static void test_apply_format(void **state)
{
    struct procopts po;
    struct errinfo e;

    (void)state;
    options_init(&po);
    err_clear(&e);
    assert_int_equal(options_apply_format(&po, "webp", 4, &e), 0);
    assert_int_equal(po.format, IMGTYPE_WEBP);
    assert_int_equal(options_apply_format(&po, "jpg", 3, &e), 0);
    assert_int_equal(po.format, IMGTYPE_JPEG);
    /* len bounds the name. */
    assert_int_equal(options_apply_format(&po, "pngxx", 3, &e), 0);
    assert_int_equal(po.format, IMGTYPE_PNG);

    err_clear(&e);
    assert_int_equal(options_apply_format(&po, "bogus", 5, &e), ERR_INVALID_URL);
    assert_int_equal(e.code, ERR_INVALID_URL);
    assert_int_equal(e.status, 404);
    assert_int_equal(options_apply_format(&po, "", 0, &e), ERR_INVALID_URL);
}

/* ---- rotate / auto_rotate / strip_metadata / strip_color_profile ---- */

static void test_rotate(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "rot:90");
    assert_int_equal(po.rotate, 90);
    APPLY_OK(&po, "rotate:180");
    assert_int_equal(po.rotate, 180);
    APPLY_OK(&po, "rot:270");
    assert_int_equal(po.rotate, 270);
    APPLY_OK(&po, "rot:0");
    assert_int_equal(po.rotate, 0);

    expect_invalid("rot:45");
    expect_invalid("rot:91");
    expect_invalid("rot:x");
    expect_invalid("rot:");
}

static void test_auto_rotate(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "ar:0");
    assert_false(po.auto_rotate);
    APPLY_OK(&po, "auto_rotate:1");
    assert_true(po.auto_rotate);
}

static void test_strip_metadata(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "sm:0");
    assert_false(po.strip_metadata);
    APPLY_OK(&po, "strip_metadata:t");
    assert_true(po.strip_metadata);
}

static void test_strip_color_profile(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "scp:false");
    assert_false(po.strip_color_profile);
    APPLY_OK(&po, "strip_color_profile:TRUE");
    assert_true(po.strip_color_profile);
}

/* ---- general rules ---- */

static void test_unknown_options(void **state)
{
    (void)state;
    expect_invalid("foo:1");
    expect_invalid("RS:fit:1:1");
    expect_invalid("W:100");
    /* imgproxy Pro-only options imgfcgi does not implement (ML filters) are unknown. */
    expect_invalid("blur_detections:1");
    expect_invalid("dd:1");
}

static void test_padding(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "pd:10");
    assert_int_equal(po.padding[0], 10);
    assert_int_equal(po.padding[1], 10);
    assert_int_equal(po.padding[2], 10);
    assert_int_equal(po.padding[3], 10);
    APPLY_OK(&po, "padding:1:2");
    assert_int_equal(po.padding[0], 1);
    assert_int_equal(po.padding[1], 2);
    assert_int_equal(po.padding[2], 1);
    assert_int_equal(po.padding[3], 2);
    APPLY_OK(&po, "pd:1:2:3:4");
    assert_int_equal(po.padding[2], 3);
    assert_int_equal(po.padding[3], 4);
    APPLY_OK(&po, "pd::5");
    assert_int_equal(po.padding[0], 1);
    assert_int_equal(po.padding[1], 5);
    expect_invalid("pd:-1");
    expect_invalid("pd:1:2:3:4:5");
    expect_invalid("pd:x");
}

static void test_trim_flip_background(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    assert_false(po.trim);
    APPLY_OK(&po, "t:5.5:FF0000:1:t");
    assert_true(po.trim);
    TU_ASSERT_NEAR(po.trim_threshold, 5.5);
    assert_true(po.trim_has_color);
    assert_int_equal(po.trim_color[0], 255);
    assert_int_equal(po.trim_color[1], 0);
    assert_true(po.trim_equal_hor);
    assert_true(po.trim_equal_ver);
    expect_invalid("t:-1");
    expect_invalid("t:1:12345");

    APPLY_OK(&po, "fl:1");
    assert_true(po.flip_h);
    assert_false(po.flip_v);
    APPLY_OK(&po, "flip:0:1");
    assert_false(po.flip_h);
    assert_true(po.flip_v);
    expect_invalid("fl:1:1:1");

    assert_false(po.flatten);
    APPLY_OK(&po, "bg:10:20:30");
    assert_true(po.flatten);
    assert_int_equal(po.background[2], 30);
    APPLY_OK(&po, "background:f0a");
    assert_int_equal(po.background[0], 255);
    assert_int_equal(po.background[1], 0);
    assert_int_equal(po.background[2], 170);
    APPLY_OK(&po, "bg:");
    assert_false(po.flatten);
    expect_invalid("bg:1:2");
    expect_invalid("bg:256:0:0");
    expect_invalid("bg:ggg");
}

static void test_filters_and_flags(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "bl:2.5");
    APPLY_OK(&po, "sharpen:0.7");
    APPLY_OK(&po, "pix:8");
    APPLY_OK(&po, "mb:1000");
    APPLY_OK(&po, "kcr:0");
    APPLY_OK(&po, "eth:1");
    APPLY_OK(&po, "raw:1");
    APPLY_OK(&po, "skp:png:jpg");
    APPLY_OK(&po, "exar:1:so:0:0");
    TU_ASSERT_NEAR(po.blur, 2.5);
    TU_ASSERT_NEAR(po.sharpen, 0.7);
    assert_int_equal(po.pixelate, 8);
    assert_int_equal(po.max_bytes, 1000);
    assert_false(po.keep_copyright);
    assert_true(po.enforce_thumbnail);
    assert_true(po.raw);
    assert_true(po.skip_processing[IMGTYPE_PNG]);
    assert_true(po.skip_processing[IMGTYPE_JPEG]);
    assert_false(po.skip_processing[IMGTYPE_GIF]);
    assert_true(po.extend_ar);
    assert_int_equal(po.extend_ar_gravity.type, GRAV_SOUTH);
    expect_invalid("bl:-1");
    expect_invalid("pix:1.5");
    expect_invalid("skp:nope");
    expect_invalid("exar:1:sm");
    expect_invalid("ex:1:re");
}

static void test_watermark(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "wm:0.5:re:10:20:0.3");
    TU_ASSERT_NEAR(po.wm_opacity, 0.5);
    assert_int_equal(po.wm_gravity.type, GRAV_REPLICATE);
    TU_ASSERT_NEAR(po.wm_gravity.x, 10);
    TU_ASSERT_NEAR(po.wm_gravity.y, 20);
    TU_ASSERT_NEAR(po.wm_scale, 0.3);
    APPLY_OK(&po, "watermark:1:soea");
    assert_int_equal(po.wm_gravity.type, GRAV_SOUTH_EAST);
    expect_invalid("wm:1.5");
    expect_invalid("wm:1:sm");
    expect_invalid("wm:1:fp");
    expect_invalid("wm:1:ce:0:0:-1");
    expect_invalid("g:re");
}

static void test_watermark_pro(void **state)
{
    struct procopts po;
    char canon[OPTIONS_CANONICAL_MAX];

    (void)state;
    options_init(&po);
    /* "<b>Hello</b>" and "http://example.com/watermark.png", unpadded base64url. */
    APPLY_OK(&po, "wmt:PGI-SGVsbG88L2I-");
    assert_string_equal(po.wm_text, "<b>Hello</b>");
    APPLY_OK(&po, "watermark_url:aHR0cDovL2V4YW1wbGUuY29tL3dhdGVybWFyay5wbmc");
    assert_string_equal(po.wm_url, "http://example.com/watermark.png");
    assert_string_equal(po.wm_text, ""); /* the later one wins */
    APPLY_OK(&po, "watermark_text:PGI-SGVsbG88L2I-");
    assert_string_equal(po.wm_url, "");
    APPLY_OK(&po, "wms:40:0");
    assert_int_equal(po.wm_size_w, 40);
    assert_int_equal(po.wm_size_h, 0);
    APPLY_OK(&po, "wm_rot:-90");
    TU_ASSERT_NEAR(po.wm_rotate, 270);
    APPLY_OK(&po, "wmr:405.5");
    TU_ASSERT_NEAR(po.wm_rotate, 45.5);
    APPLY_OK(&po, "wmsh:2.5");
    TU_ASSERT_NEAR(po.wm_shadow, 2.5);
    APPLY_OK(&po, "wm:1:ch:5:6");
    assert_int_equal(po.wm_gravity.type, GRAV_CHESSBOARD);
    expect_invalid("g:ch");
    expect_invalid("wms:-1:0");
    expect_invalid("wmsh:-1");
    expect_invalid("wmsh:101");
    expect_invalid("wmr:x");
    expect_invalid("wmu:!!!");
    /* Markup that does not parse, or asks for a huge size, is a bad argument. */
    expect_invalid("wmt:PGI-eA");                                   /* "<b>x" */
    expect_invalid("wmt:PHNwYW4gc2l6ZT0nOTk5OTk5OTknPng8L3NwYW4-"); /* size='99999999' */
    /* Every field is in the ETag's options hash. */
    options_canonical(&po, canon, sizeof(canon));
    assert_non_null(strstr(canon, "wm_text=<b>Hello</b>\n"));
    assert_non_null(strstr(canon, "wm_size_w=40\n"));
    assert_non_null(strstr(canon, "wm_rotate=45.5\n"));
    assert_non_null(strstr(canon, "wm_shadow=2.5\n"));
    assert_non_null(strstr(canon, "wm_gravity=ch:5:6\n"));
}

static void test_pages_options(void **state)
{
    struct procopts po;
    char canon[OPTIONS_CANONICAL_MAX];

    (void)state;
    options_init(&po);
    assert_int_equal(po.page, 0);
    assert_int_equal(po.pages, 1);
    options_canonical(&po, canon, sizeof(canon));
    assert_null(strstr(canon, "pages="));
    APPLY_OK(&po, "pg:5");
    APPLY_OK(&po, "pgs:3");
    APPLY_OK(&po, "da:1");
    APPLY_OK(&po, "dpi:300");
    assert_int_equal(po.page, 5);
    assert_int_equal(po.pages, 3);
    assert_true(po.disable_animation);
    TU_ASSERT_NEAR(po.dpi, 300);
    APPLY_OK(&po, "page:0");
    APPLY_OK(&po, "pages:1");
    APPLY_OK(&po, "disable_animation:0");
    expect_invalid("pg:-1");
    expect_invalid("pgs:0");
    expect_invalid("dpi:-1");
    APPLY_OK(&po, "pgs:2");
    APPLY_OK(&po, "da:1");
    options_canonical(&po, canon, sizeof(canon));
    assert_non_null(strstr(canon, "pages=2\n"));
    assert_non_null(strstr(canon, "disable_animation=1\n"));
    assert_non_null(strstr(canon, "dpi=300\n"));
}

static void test_security_options(void **state)
{
    struct procopts po;
    struct errinfo e;

    (void)state;
    options_init(&po);
    err_clear(&e);
    assert_int_equal(options_apply(&po, "mrd:10", 6, ':', &e), ERR_SECURITY_OPTION);
    assert_int_equal(e.status, 403);
    cfg.allow_security_options = true;
    options_init(&po);
    APPLY_OK(&po, "mrd:10");
    APPLY_OK(&po, "msr:2.5");
    APPLY_OK(&po, "msfs:1000");
    APPLY_OK(&po, "maf:3");
    APPLY_OK(&po, "mafr:1");
    assert_int_equal(po.max_result_dimension, 10);
    assert_true(po.max_src_resolution == 2500000);
    assert_true(po.max_src_file_size == 1000);
    assert_int_equal(po.max_animation_frames, 3);
    assert_true(po.max_animation_frame_resolution == 1000000);
    expect_invalid("maf:0");
    expect_invalid("msr:0");
}

static void test_allowed_processing_options(void **state)
{
    struct procopts po;
    struct errinfo e;
    char w[] = "w", resize[] = "resize", wmt[] = "wmt";
    char *items[] = {w, resize};

    (void)state;
    cfg.allowed_processing_options.items = items;
    cfg.allowed_processing_options.len = 2;
    options_init(&po);
    err_clear(&e);
    assert_int_equal(options_apply_url(&po, "w:10", 4, ':', &e), 0);
    assert_int_equal(options_apply_url(&po, "resize:fit:1:1", 14, ':', &e), 0);
    assert_int_equal(options_apply_url(&po, "rs:fit:1:1", 10, ':', &e), ERR_INVALID_URL);
    assert_int_equal(options_apply_url(&po, "width:10", 8, ':', &e), ERR_INVALID_URL);
    /* The watermark and page options are named like any other. */
    assert_int_equal(options_apply_url(&po, "wmt:eA", 6, ':', &e), ERR_INVALID_URL);
    assert_int_equal(options_apply_url(&po, "pg:1", 4, ':', &e), ERR_INVALID_URL);
    items[0] = wmt;
    assert_int_equal(options_apply_url(&po, "wmt:eA", 6, ':', &e), 0);
    assert_int_equal(options_apply_url(&po, "watermark_text:eA", 17, ':', &e), ERR_INVALID_URL);
    items[0] = w;
    cfg.allowed_processing_options.items = NULL;
    cfg.allowed_processing_options.len = 0;
}

static void test_presets(void **state)
{
    struct procopts po;
    struct errinfo e;
    char err[256];

    (void)state;
    assert_int_equal(presets_add("small=rs:fit:50:50/q:70", 23, err, sizeof(err)), 0);
    assert_int_equal(presets_add(" loop = pr:loop/w:10 ", 21, err, sizeof(err)), 0);
    assert_int_equal(presets_add("chain=pr:small/h:20", 19, err, sizeof(err)), 0);
    assert_int_not_equal(presets_add("novalue=", 8, err, sizeof(err)), 0);
    assert_int_not_equal(presets_add("noequals", 8, err, sizeof(err)), 0);
    assert_int_equal(presets_count(), 3);

    options_init(&po);
    APPLY_OK(&po, "pr:small");
    assert_int_equal(po.width, 50);
    assert_int_equal(po.quality, 70);
    options_init(&po);
    APPLY_OK(&po, "preset:loop");
    assert_int_equal(po.width, 10);
    options_init(&po);
    APPLY_OK(&po, "pr:chain");
    assert_int_equal(po.width, 50);
    assert_int_equal(po.height, 20);
    /* The same preset twice in one request: the second use is skipped. */
    options_init(&po);
    APPLY_OK(&po, "pr:small");
    APPLY_OK(&po, "w:5");
    APPLY_OK(&po, "pr:small");
    assert_int_equal(po.width, 5);
    options_init(&po);
    err_clear(&e);
    assert_int_equal(options_apply(&po, "pr:nope", 7, ':', &e), ERR_INVALID_URL);
    presets_release();
    assert_int_equal(presets_count(), 0);
}

static void test_later_option_overrides(void **state)
{
    struct procopts po;

    (void)state;
    options_init(&po);
    APPLY_OK(&po, "w:100");
    APPLY_OK(&po, "w:200");
    assert_int_equal(po.width, 200);
    APPLY_OK(&po, "rs:fit:100:100");
    APPLY_OK(&po, "s:300");
    assert_int_equal(po.width, 300);
    assert_int_equal(po.height, 100);
    APPLY_OK(&po, "rt:fill");
    APPLY_OK(&po, "rs:force");
    assert_int_equal(po.resizing_type, RT_FORCE);
}

static void test_failed_option_reports(void **state)
{
    struct procopts po;
    struct errinfo e;

    (void)state;
    options_init(&po);
    err_clear(&e);
    assert_int_equal(options_apply(&po, "w:abc", 5, ':', &e), ERR_INVALID_URL);
    assert_int_equal(e.code, ERR_INVALID_URL);
    assert_int_equal(e.status, 404);
    assert_true(e.msg[0] != '\0');
}

static void test_separator_and_length(void **state)
{
    struct procopts po;
    struct errinfo e;

    (void)state;
    options_init(&po);
    assert_int_equal(apply_sep(&po, "rs,fill,10,20", ','), 0);
    assert_int_equal(po.resizing_type, RT_FILL);
    assert_int_equal(po.width, 10);
    assert_int_equal(po.height, 20);
    /* With ',' as separator, ':' is just a character: "w:5" has no separator. */
    assert_int_equal(apply_sep(&po, "w:5", ','), ERR_INVALID_URL);

    /* Only len bytes are the segment. */
    err_clear(&e);
    assert_int_equal(options_apply(&po, "w:300/h:400", 5, ':', &e), 0);
    assert_int_equal(po.width, 300);
    assert_int_equal(po.height, 20);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_cfg_reset, tu_cfg_reset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_defaults_follow_cfg),
        T(test_resize_full),
        T(test_resize_empty_args_skipped),
        T(test_resize_errors),
        T(test_size),
        T(test_resizing_type),
        T(test_dimensions),
        T(test_dimension_errors),
        T(test_zoom),
        T(test_dpr),
        T(test_enlarge_booleans),
        T(test_extend),
        T(test_gravity_types),
        T(test_gravity_offsets),
        T(test_gravity_focus_point),
        T(test_gravity_errors),
        T(test_crop),
        T(test_quality),
        T(test_format_quality),
        T(test_options_quality),
        T(test_options_quality_fq_option),
        T(test_options_quality_from_cfg),
        T(test_format),
        T(test_apply_format),
        T(test_rotate),
        T(test_auto_rotate),
        T(test_strip_metadata),
        T(test_strip_color_profile),
        T(test_unknown_options),
        T(test_padding),
        T(test_trim_flip_background),
        T(test_filters_and_flags),
        T(test_watermark),
        T(test_watermark_pro),
        T(test_pages_options),
        T(test_security_options),
        T(test_allowed_processing_options),
        T(test_presets),
        T(test_later_option_overrides),
        T(test_failed_option_reports),
        T(test_separator_and_length),
    };
    return cmocka_run_group_tests_name("options", tests, tu_cfg_setup, tu_cfg_teardown);
}

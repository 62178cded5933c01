/* test_watch.c: libvips pipelines stopped mid-way by a deadline or a cancel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <vips/vips.h>

#include "deadline.h"
#include "watch.h"
#include "testutil.h"

/* A 3000x2000 noise image: uniform work per tile, nothing cached. */
static VipsImage *noise(struct watch *w)
{
    VipsImage *img = NULL;

    assert_int_equal(vips_gaussnoise(&img, 3000, 2000, NULL), 0);
    return watch_attach(w, img);
}

/* A blur heavy enough to take several seconds on 6 MP. */
static VipsImage *slow(VipsImage *in)
{
    VipsImage *out = NULL;

    assert_int_equal(vips_gaussblur(in, &out, 40, NULL), 0);
    return out;
}

static void test_deadline_stops_copy(void **state)
{
    struct watch w;
    struct deadline dl;
    VipsImage *src, *blur, *mem;
    long long t0 = deadline_now_ms();

    (void)state;
    deadline_start(&dl, t0, 300);
    watch_init(&w, &dl);
    src = noise(&w);
    blur = slow(src);
    mem = watch_copy_memory(blur);
    assert_null(mem);
    /* Stopped within a few tiles of the deadline, not at the end of the blur. */
    assert_true(deadline_now_ms() - t0 < 1000);
    assert_int_equal(watch_reason(&w), WATCH_DEADLINE);
    vips_error_clear();
    g_object_unref(blur);
    g_object_unref(src);
}

static void test_cancel_stops_save(void **state)
{
    struct watch w;
    VipsImage *src, *blur;
    void *buf = NULL;
    size_t len = 0;
    long long t0 = deadline_now_ms();

    (void)state;
    watch_init(&w, NULL);
    src = noise(&w);
    blur = slow(src);
    watch_cancel(&w);
    assert_int_not_equal(vips_pngsave_buffer(blur, &buf, &len, NULL), 0);
    assert_true(deadline_now_ms() - t0 < 1000);
    assert_int_equal(watch_reason(&w), WATCH_CLIENT);
    g_free(buf);
    vips_error_clear();
    g_object_unref(blur);
    g_object_unref(src);
}

/* A memory copy starts a new pipeline: the watch must follow it there. */
static void test_watch_follows_memory_copy(void **state)
{
    struct watch w;
    VipsImage *src, *mem, *blur, *out;
    long long t0;

    (void)state;
    watch_init(&w, NULL);
    src = noise(&w);
    mem = watch_copy_memory(src);
    assert_non_null(mem);
    assert_int_equal(watch_reason(&w), WATCH_RUNNING);
    /* The slow part runs downstream of the copy, after the client went away. */
    watch_cancel(&w);
    blur = slow(mem);
    t0 = deadline_now_ms();
    out = watch_copy_memory(blur);
    assert_null(out);
    assert_true(deadline_now_ms() - t0 < 1000);
    assert_int_equal(watch_reason(&w), WATCH_CLIENT);
    vips_error_clear();
    g_object_unref(blur);
    g_object_unref(mem);
    g_object_unref(src);
}

/* Without a reason to stop, a watched pipeline gives the same pixels as an unwatched one. */
static void test_unstopped_runs_to_the_end(void **state)
{
    struct watch w;
    VipsImage *a = NULL, *b = NULL, *ma, *mb;
    double da = 0, db = 0;

    (void)state;
    watch_init(&w, NULL);
    assert_int_equal(vips_xyz(&a, 300, 200, NULL), 0);
    assert_int_equal(vips_xyz(&b, 300, 200, NULL), 0);
    watch_attach(&w, a);
    ma = watch_copy_memory(a);
    mb = watch_copy_memory(b); /* not watched: a plain copy */
    assert_non_null(ma);
    assert_non_null(mb);
    assert_int_equal(vips_avg(ma, &da, NULL), 0);
    assert_int_equal(vips_avg(mb, &db, NULL), 0);
    assert_true(da == db && da > 0);
    assert_int_equal(watch_reason(&w), WATCH_RUNNING);
    g_object_unref(ma);
    g_object_unref(mb);
    g_object_unref(a);
    g_object_unref(b);
}

static void test_first_reason_sticks(void **state)
{
    struct watch w;

    (void)state;
    watch_init(&w, NULL);
    assert_int_equal(watch_reason(&w), WATCH_RUNNING);
    watch_stop(&w, WATCH_CLIENT);
    watch_stop(&w, WATCH_DEADLINE);
    assert_int_equal(watch_reason(&w), WATCH_CLIENT);
    assert_null(watch_attach(&w, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_stops_copy),
        cmocka_unit_test(test_cancel_stops_save),
        cmocka_unit_test(test_watch_follows_memory_copy),
        cmocka_unit_test(test_unstopped_runs_to_the_end),
        cmocka_unit_test(test_first_reason_sticks),
    };

    return cmocka_run_group_tests_name("watch", tests, tu_vips_setup, tu_vips_teardown);
}

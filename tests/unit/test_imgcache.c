/* test_imgcache.c: the bounded LRU cache of fetched images, and Pango markup checks. */
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "imgcache.h"
#include "markup.h"

static GBytes *bytes_of(size_t n, char fill)
{
    char buf[256];

    memset(buf, fill, sizeof(buf));
    return g_bytes_new(buf, n);
}

static void put(struct imgcache *c, const char *key, size_t n)
{
    GBytes *b = bytes_of(n, key[0]);

    assert_int_equal(imgcache_put(c, key, b, n), 0);
    g_bytes_unref(b);
}

static bool has(struct imgcache *c, const char *key)
{
    GBytes *b = imgcache_get(c, key);

    if (b == NULL)
        return false;
    g_bytes_unref(b);
    return true;
}

static void test_entries_bound_lru(void **state)
{
    struct imgcache *c = imgcache_new(2, 1000);

    (void)state;
    put(c, "a", 10);
    put(c, "b", 10);
    assert_true(has(c, "a")); /* a is now the most recently used */
    put(c, "c", 10);          /* b goes */
    assert_true(has(c, "a"));
    assert_false(has(c, "b"));
    assert_true(has(c, "c"));
    assert_int_equal(imgcache_count(c), 2);
    assert_int_equal(imgcache_bytes(c), 20);
    imgcache_free(c);
}

static void test_bytes_bound(void **state)
{
    struct imgcache *c = imgcache_new(100, 100);
    GBytes *big = bytes_of(101, 'x');

    (void)state;
    put(c, "a", 40);
    put(c, "b", 40);
    put(c, "c", 40); /* 120 > 100: a goes */
    assert_false(has(c, "a"));
    assert_int_equal(imgcache_bytes(c), 80);
    assert_int_equal(imgcache_put(c, "big", big, 101), -1); /* never fits */
    assert_false(has(c, "big"));
    assert_int_equal(imgcache_count(c), 2);
    g_bytes_unref(big);
    imgcache_free(c);
}

static void test_replace_and_outlive(void **state)
{
    struct imgcache *c = imgcache_new(1, 1000);
    GBytes *held;

    (void)state;
    put(c, "k", 10);
    put(c, "k", 30); /* replaced, not duplicated */
    assert_int_equal(imgcache_count(c), 1);
    assert_int_equal(imgcache_bytes(c), 30);
    held = imgcache_get(c, "k");
    assert_non_null(held);
    put(c, "z", 5); /* evicts k while we hold it */
    assert_false(has(c, "k"));
    assert_int_equal(g_bytes_get_size(held), 30);
    g_bytes_unref(held);
    imgcache_free(c);
    imgcache_free(NULL);
}

static void test_zero_entries_keeps_nothing(void **state)
{
    struct imgcache *c = imgcache_new(0, 1000);
    GBytes *b = bytes_of(1, 'a');

    (void)state;
    assert_int_equal(imgcache_put(c, "a", b, 1), -1);
    assert_false(has(c, "a"));
    g_bytes_unref(b);
    imgcache_free(c);
}

/* The bytes given with a value are what counts (a boxed struct stands for more than its size). */
static void test_counted_bytes_and_clear(void **state)
{
    struct imgcache *c = imgcache_new(10, 100);
    GBytes *b = bytes_of(4, 'b'), *held;

    (void)state;
    assert_int_equal(imgcache_put(c, "a", b, 60), 0);
    assert_int_equal(imgcache_bytes(c), 60);
    assert_int_equal(imgcache_put(c, "b", b, 60), 0); /* 120 > 100: a goes */
    assert_false(has(c, "a"));
    assert_int_equal(imgcache_put(c, "c", b, 101), -1);
    assert_int_equal(imgcache_bytes(c), 60);
    held = imgcache_get(c, "b");
    imgcache_clear(c);
    assert_int_equal(imgcache_count(c), 0);
    assert_int_equal(imgcache_bytes(c), 0);
    assert_false(has(c, "b"));
    assert_int_equal(g_bytes_get_size(held), 4); /* still valid after the clear */
    put(c, "d", 10);                             /* usable after the clear */
    assert_true(has(c, "d"));
    g_bytes_unref(held);
    g_bytes_unref(b);
    imgcache_free(c);
}

static void *hammer(void *arg)
{
    struct imgcache *c = arg;
    char key[16];

    for (int i = 0; i < 2000; i++) {
        GBytes *b;

        snprintf(key, sizeof(key), "k%d", i % 37);
        b = imgcache_get(c, key);
        if (b == NULL)
            put(c, key, (size_t)(i % 50) + 1);
        else
            g_bytes_unref(b);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct imgcache *c = imgcache_new(16, 400);
    pthread_t t[4];

    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, c), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(imgcache_count(c) <= 16);
    assert_true(imgcache_bytes(c) <= 400);
    imgcache_free(c);
}

static void expect_markup(const char *m, int want)
{
    char why[160] = "";

    if (markup_check(m, strlen(m), why, sizeof(why)) != want)
        fail_msg("markup_check(\"%s\") != %d (%s)", m, want, why);
}

static void test_markup(void **state)
{
    (void)state;
    expect_markup("plain text", 0);
    expect_markup("<b>bold</b> <i>it</i> <span foreground='red' size='20pt'>x</span>", 0);
    expect_markup("<span font='sans bold 100'>x</span>", 0);
    expect_markup("<big><big><big>x</big></big></big>", 0);
    expect_markup("<b>x", -1);
    expect_markup("<script>x</script>", -1);
    expect_markup("&nope;", -1);
    expect_markup("<span size='200pt'>x</span>", -1);
    expect_markup("<span size='2147483647'>x</span>", -1);
    expect_markup("<span font='sans 5000'>x</span>", -1);
    expect_markup("<span letter_spacing='1000000'>x</span>", -1);
    expect_markup("<span rise='-1000000'>x</span>", -1);
    expect_markup("<span line_height='100'>x</span>", -1);
    expect_markup("<big><big><big><big><big><big><big><big><big>x</big></big></big></big></big>"
                  "</big></big></big></big>",
                  -1);
    /* Not NUL-terminated: only len bytes are read. */
    {
        char why[64];

        assert_int_equal(markup_check("<b>x</b>GARBAGE<", 8, why, sizeof(why)), 0);
        assert_int_equal(markup_check("\xff\xfe", 2, why, sizeof(why)), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries_bound_lru),
        cmocka_unit_test(test_bytes_bound),
        cmocka_unit_test(test_replace_and_outlive),
        cmocka_unit_test(test_zero_entries_keeps_nothing),
        cmocka_unit_test(test_counted_bytes_and_clear),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_markup),
    };
    return cmocka_run_group_tests_name("imgcache", tests, NULL, NULL);
}

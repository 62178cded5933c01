/* test_encbound: the encode-time bound for the encoders the deadline cannot stop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <cmocka.h>

#include "encbound.h"

#define MP 1000000LL

/* Streaming savers are stopped by the deadline: no bound, whatever the size. */
static void test_stoppable_formats(void **state)
{
    static const enum imgtype t[] = {IMGTYPE_JPEG, IMGTYPE_PNG, IMGTYPE_TIFF};

    (void)state;
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_true(encbound_seconds_per_mp(t[i]) == 0);
        assert_int_equal(encbound_estimate_ms(t[i], 4000 * MP), 0);
        assert_true(encbound_fits(t[i], 4000 * MP, 1));
        assert_true(encbound_fits(t[i], 4000 * MP, 0));
    }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stoppable_formats),
        cmocka_unit_test(test_issue_requests_refused),
        cmocka_unit_test(test_ordinary_results_fit),
        cmocka_unit_test(test_deadline_edges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

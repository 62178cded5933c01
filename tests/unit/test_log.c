/* test_log.c: the signature mask on logged request paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"

static void expect_mask(const char *path, const char *prefix, const char *want)
{
    char out[256];

    log_mask_signature(path, prefix, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_mask_signature(void **state)
{
    (void)state;
    expect_mask("/AfrOrF3gWeDA6VOlDG4TzxMv39O7MXnF4CXpKUwGqRM/rs:fit:300:300/plain/a.jpg", NULL,
                "/***/rs:fit:300:300/plain/a.jpg");
    expect_mask("/insecure/rs:fit:300:300/plain/a.jpg", NULL,
                "/insecure/rs:fit:300:300/plain/a.jpg");
    expect_mask("/unsafe/plain/a.jpg", "", "/unsafe/plain/a.jpg");
    expect_mask("/_/plain/a.jpg", NULL, "/_/plain/a.jpg");
    /* No second segment: nothing that could be a signature. */
    expect_mask("/health", NULL, "/health");
}

static void test_mask_after_prefix(void **state)
{
    (void)state;
    /* The prefix is not the signature: the segment after it is. */
    expect_mask("/img/s3cr3tsig/rs:fit:10:10/plain/a.jpg", "/img",
                "/img/***/rs:fit:10:10/plain/a.jpg");
    expect_mask("/img/insecure/plain/a.jpg", "/img", "/img/insecure/plain/a.jpg");
    /* A path outside the prefix is masked as it would be parsed without one. */
    expect_mask("/other/sig/plain/a.jpg", "/img", "/***/sig/plain/a.jpg");
}

static void test_mask_truncates(void **state)
{
    char out[8];

    (void)state;
    log_mask_signature("/abcdefgh/rs:fit:1:1/plain/a.jpg", NULL, out, sizeof(out));
    assert_string_equal(out, "/***/rs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_signature),
        cmocka_unit_test(test_mask_after_prefix),
        cmocka_unit_test(test_mask_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

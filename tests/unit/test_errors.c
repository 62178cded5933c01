/* test_errors.c: the error-code -> HTTP status table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "errors.h"

struct status_case {
    int code;
    int status;
    const char *msg; /* public body, or NULL when §5 does not pin it */
};

/* imgproxy v3's error -> HTTP status table, row by row. */
static const struct status_case status_cases[] = {
    {ERR_INVALID_URL, 404, "Invalid URL"},           /* bad path / option / argument */
    {ERR_SIGNATURE, 403, "Forbidden"},               /* bad signature / encoding */
    {ERR_SECURITY_OPTION, 403, "Invalid URL"},       /* security option not allowed */
    {ERR_INVALID_SOURCE, 404, "Invalid source URL"}, /* not in ALLOWED_SOURCES */
    {ERR_UNSAVEABLE, 422, "Invalid URL"},            /* result format not saveable */
    {ERR_SOURCE_TYPE, 422, "Invalid source image"},  /* unknown type, too big */
    {ERR_BROKEN_IMAGE, 422, "Broken or unsupported image"},
    {ERR_QUEUE_FULL, 429, "Too many requests"},
    {ERR_TIMEOUT, 503, "Timeout"},
    {ERR_CANCELLED, 499, "Cancelled"},
    {ERR_SOURCE_TIMEOUT, 504, "Source image is unreachable"},
    {ERR_SOURCE_NOT_FOUND, 404, "Source image is unreachable"}, /* blocked / missing local */
    {ERR_SOURCE_FAILED, 500, NULL},                             /* connection refused: 500 (§5) */
    {ERR_INTERNAL, 500, "Internal error"},
    {ERR_NOT_FOUND, 404, " "},                /* unknown route: body " " (§1.1) */
    {ERR_FORBIDDEN_SECRET, 403, "Forbidden"}, /* bad Authorization secret */
};

static void test_status_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof status_cases / sizeof status_cases[0]; i++) {
        const struct status_case *c = &status_cases[i];
        if (err_status(c->code) != c->status)
            fail_msg("err_status(%d) = %d, want %d", c->code, err_status(c->code), c->status);
        if (c->msg) {
            const char *m = err_public_message(c->code);
            assert_non_null(m);
            if (strcmp(m, c->msg) != 0)
                fail_msg("err_public_message(%d) = \"%s\", want \"%s\"", c->code, m, c->msg);
        }
    }
}

static void test_status_unknown_code(void **state)
{
    (void)state;
    /* errors.h: "500 for unknown codes". */
    assert_int_equal(err_status(-999), 500);
    assert_int_equal(err_status(12345), 500);
    assert_non_null(err_public_message(-999));
}

static void test_source_status(void **state)
{
    (void)state;
    /* §5 requestImage: 4xx -> same, >= 500 -> 502, anything else -> 404. */
    assert_int_equal(err_source_status(404), 404);
    assert_int_equal(err_source_status(403), 403);
    assert_int_equal(err_source_status(400), 400);
    assert_int_equal(err_source_status(410), 410);
    assert_int_equal(err_source_status(451), 451);
    assert_int_equal(err_source_status(499), 499);
    assert_int_equal(err_source_status(500), 502);
    assert_int_equal(err_source_status(502), 502);
    assert_int_equal(err_source_status(503), 502);
    assert_int_equal(err_source_status(504), 502);
    assert_int_equal(err_source_status(599), 502);
    assert_int_equal(err_source_status(302), 404);
    assert_int_equal(err_source_status(301), 404);
    assert_int_equal(err_source_status(204), 404);
    assert_int_equal(err_source_status(100), 404);
}

static void test_err_set(void **state)
{
    struct errinfo e;

    (void)state;
    err_clear(&e);
    assert_int_equal(e.code, ERR_OK);

    assert_int_equal(err_set(&e, ERR_INVALID_URL, "bad %s %d", "width", 7), ERR_INVALID_URL);
    assert_int_equal(e.code, ERR_INVALID_URL);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.msg, "bad width 7");

    assert_int_equal(err_set(&e, ERR_SIGNATURE, "sig"), ERR_SIGNATURE);
    assert_int_equal(e.code, ERR_SIGNATURE);
    assert_int_equal(e.status, 403);

    assert_int_equal(err_set(&e, ERR_SOURCE_TIMEOUT, "slow"), ERR_SOURCE_TIMEOUT);
    assert_int_equal(e.status, 504);

    err_clear(&e);
    assert_int_equal(e.code, ERR_OK);
}

static void test_err_set_null_and_long(void **state)
{
    struct errinfo e;
    char big[1024];

    (void)state;
    /* NULL errinfo: only the code comes back. */
    assert_int_equal(err_set(NULL, ERR_INTERNAL, "x %d", 1), ERR_INTERNAL);

    /* A detail longer than msg[] is truncated, still NUL-terminated. */
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    err_clear(&e);
    assert_int_equal(err_set(&e, ERR_INTERNAL, "%s", big), ERR_INTERNAL);
    assert_true(strlen(e.msg) < sizeof e.msg);
    assert_int_equal(e.status, 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_table),          cmocka_unit_test(test_status_unknown_code),
        cmocka_unit_test(test_source_status),         cmocka_unit_test(test_err_set),
        cmocka_unit_test(test_err_set_null_and_long),
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}

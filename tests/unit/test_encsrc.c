/* test_encsrc.c: /enc/ source URLs against the documented AES-CBC vectors, and their failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <glib.h>

#include "config.h"
#include "encsrc.h"
#include "signature.h"
#include "url.h"
#include "testutil.h"

/* The documented vector (encrypting_source_url.mdx), re-computed with OpenSSL. */
#define KEY_HEX "1eb5b0e971ad7f45324c1bb15c947cb207c43152fa5c6c7f35c4f36e0c18e0f1"
#define URL "http://example.com/images/curiosity.jpg"
#define P256                                                                                       \
    "p5VjorNdhs7mRRw8gA9TWoRlGci3l1kuzqN43UQlRaRIQ0qtBKW3qFABIsx-ZRz_cVc8iVTYbhsNsxNBL1BHaQ"
#define P128                                                                                       \
    "p5VjorNdhs7mRRw8gA9TWgnH19L6VuS8tp0x4seS9ADEhY8P4JYJFXL0zo6uvadB1eVJM3gC8pV0G50jZctkNA"
#define P192                                                                                       \
    "p5VjorNdhs7mRRw8gA9TWhjbcPk5VKnUREpezk-kYR8SsTCYI52MHn6Qt6BaWMwT3ZH9YSy_BJP2eKeA1QQ11A"
/* The signed /enc/ URL of the same vectors (key "secret", salt "hello"). */
#define SIGNED_PATH "/rs:fit:300:300/enc/" P256
#define SIGNED_SIG "jJQ4YH_HT5nwMizSJ0NTZPXJN-fYUaG9tuBHHEDzHUw"

static unsigned char key[32];
static struct bytes cfg_key;

static void load_key(void)
{
    for (size_t i = 0; i < 32; i++)
        key[i] = (unsigned char)g_ascii_xdigit_value(KEY_HEX[2 * i]) << 4 |
                 (unsigned char)g_ascii_xdigit_value(KEY_HEX[2 * i + 1]);
}

/* Decrypts payload with the first key_len bytes of the vector's key; expects URL. */
static void expect_url(size_t key_len, const char *payload)
{
    char *copy = tu_memdup(payload, strlen(payload));
    char *url = NULL;
    size_t n = 0;
    struct errinfo e;

    err_clear(&e);
    assert_int_equal(encsrc_decrypt_with(key, key_len, copy, strlen(payload), &url, &n, &e), 0);
    assert_non_null(url);
    assert_int_equal(n, strlen(URL));
    assert_string_equal(url, URL);
    g_free(url);
    free(copy);
}

/* Expects the one refusal: ERR_INVALID_URL, 404, the same message, no plaintext in it. */
static void expect_refused(size_t key_len, const char *payload, size_t len)
{
    char *copy = tu_memdup(payload, len);
    char *url = (char *)1;
    size_t n = 7;
    struct errinfo e;

    err_clear(&e);
    assert_int_equal(encsrc_decrypt_with(key, key_len, copy, len, &url, &n, &e), ERR_INVALID_URL);
    assert_null(url);
    assert_int_equal(n, 0);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.msg, "Invalid path: the encrypted source URL can't be decrypted");
    free(copy);
}

static void test_vectors_aes_256_192_128(void **state)
{
    (void)state;
    expect_url(32, P256);
    expect_url(24, P192);
    expect_url(16, P128);
    /* Padding characters are optional. */
    expect_url(32, P256 "==");
}

static void test_wrong_key_and_bad_padding(void **state)
{
    char bad[] = P256;

    (void)state;
    /* The AES-256 payload under the AES-128 key: garbage with (almost surely) bad padding. */
    expect_refused(16, P256, strlen(P256));
    /* Flip a bit of the last ciphertext block: the padding no longer checks out. */
    bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
    expect_refused(32, bad, strlen(bad));
}

static void test_short_misaligned_and_bad_base64(void **state)
{
    (void)state;
    /* The IV alone (22 characters = 16 bytes): no ciphertext. */
    expect_refused(32, P256, 22);
    /* IV + 1.5 blocks. */
    expect_refused(32, P256, 54);
    /* 4k+1 characters cannot be base64. */
    expect_refused(32, P256, 1);
    expect_refused(32, "p5Vj*rNdhs7mRRw8gA9TWoRlGci3l1kuzqN43UQlRaRIQ0qtBKW3qFABIsx-ZRz_", 64);
    expect_refused(32, "", 0);
    /* No key at all, and a key of a length AES does not have. */
    expect_refused(0, P256, strlen(P256));
    expect_refused(20, P256, strlen(P256));
}

/* Through url_parse_path: split by '/' in 16-character chunks, an extension, the config key. */
static void test_url_parse_path_enc(void **state)
{
    static const char *uri = "/sig/rs:fit:300:300/enc/p5VjorNdhs7mRRw8/gA9TWoRlGci3l1ku/"
                             "zqN43UQlRaRIQ0qt/BKW3qFABIsx-ZRz_/cVc8iVTYbhsNsxNB/L1BHaQ.webp";
    struct urlparts u;
    struct errinfo e;

    (void)state;
    cfg_key.data = key;
    cfg_key.len = 32;
    cfg.source_url_encryption_key = &cfg_key;
    cfg.nsource_url_encryption_key = 1;
    err_clear(&e);
    assert_int_equal(url_split(&u, uri, strlen(uri), "", &e), 0);
    assert_int_equal(url_parse_path(&u, ':', &e), 0);
    assert_int_equal(u.nsegments, 1);
    assert_string_equal(u.source, URL);
    assert_int_equal(u.source_len, strlen(URL));
    assert_true(u.encrypted);
    assert_non_null(u.ext);
    assert_string_equal(u.ext, "webp");
    url_release(&u);

    /* Without a key the same URL is an invalid one. */
    cfg.nsource_url_encryption_key = 0;
    cfg.source_url_encryption_key = NULL;
    assert_int_equal(url_split(&u, uri, strlen(uri), "", &e), 0);
    assert_int_equal(url_parse_path(&u, ':', &e), ERR_INVALID_URL);
    assert_null(u.source);
    url_release(&u);
}

/* The documented signature of an /enc/ URL: signed over the encrypted text as it stands. */
static void test_signature_vector(void **state)
{
    char sig[64];
    size_t n;

    (void)state;
    n = signature_compute((const unsigned char *)"secret", 6, (const unsigned char *)"hello", 5,
                          SIGNED_PATH, strlen(SIGNED_PATH), 32, sig);
    sig[n] = '\0';
    assert_string_equal(sig, SIGNED_SIG);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_cfg_reset, tu_cfg_reset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_vectors_aes_256_192_128),
        T(test_wrong_key_and_bad_padding),
        T(test_short_misaligned_and_bad_base64),
        T(test_url_parse_path_enc),
        T(test_signature_vector),
    };

    load_key();
    return cmocka_run_group_tests_name("encsrc", tests, tu_cfg_setup, tu_cfg_teardown);
}

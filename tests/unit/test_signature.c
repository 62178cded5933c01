/* test_signature.c: HMAC-SHA256 URL signatures against imgproxy's documented vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "signature.h"
#include "testutil.h"

/* Vector 1 (docs: usage/signing_url.mdx): key "secret", salt "hello". */
#define V1_PATH                                                                                    \
    "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png"
#define V1_SIG "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8"
#define V1_SIG8 "oKfUtW34Dvo"

/* Vector 2 (examples/signature.go). */
#define V2_PATH "/rs:fit:300:300/plain/http://img.example.com/pretty/image.jpg"
#define V2_SIG "m3k5QADfcKPDj-SDI2AIogZbC3FlAXszuwhtWXYqavc"
#define V2_SIG8 "m3k5QADfcKM"

static const unsigned char v1_key[] = "secret";
static const unsigned char v1_salt[] = "hello";
static const unsigned char v2_key[] = {
    0x94, 0x3b, 0x42, 0x1c, 0x9e, 0xb0, 0x7c, 0x83, 0x0a, 0xf8, 0x10, 0x30, 0x55, 0x2c, 0x86, 0x00,
    0x92, 0x68, 0xde, 0x4e, 0x53, 0x2b, 0xa2, 0xee, 0x2e, 0xab, 0x82, 0x47, 0xc6, 0xda, 0x08, 0x81};
static const unsigned char v2_salt[] = {
    0x52, 0x0f, 0x98, 0x6b, 0x99, 0x85, 0x45, 0xb4, 0x78, 0x5e, 0x0d, 0xef, 0xbc, 0x4f, 0x3c, 0x12,
    0x03, 0xf2, 0x2d, 0xe2, 0x37, 0x4a, 0x3d, 0x53, 0xcb, 0x7a, 0x7f, 0xe9, 0xfe, 0xa3, 0x09, 0xc5};
static const unsigned char other_key[] = "not-the-key";
static const unsigned char other_salt[] = "not-the-salt";

static struct bytes keys[3], salts[3];

static void set_pair(size_t i, const unsigned char *k, size_t klen, const unsigned char *s,
                     size_t slen)
{
    keys[i].data = (unsigned char *)k;
    keys[i].len = klen;
    salts[i].data = (unsigned char *)s;
    salts[i].len = slen;
}

static void use_keys(size_t nkeys, size_t nsalts, int size)
{
    cfg.keys = keys;
    cfg.nkeys = nkeys;
    cfg.salts = salts;
    cfg.nsalts = nsalts;
    cfg.signature_size = size;
    cfg.trusted_signatures.items = NULL;
    cfg.trusted_signatures.len = 0;
}

/* signature_verify on exact-size copies of sig and path. */
static int verify(const char *sig, const char *path)
{
    size_t sl = strlen(sig), pl = strlen(path);
    char *s = tu_memdup(sig, sl);
    char *p = tu_memdup(path, pl);
    struct errinfo e;
    int rc;

    err_clear(&e);
    rc = signature_verify(s, sl, p, pl, &e);
    free(s);
    free(p);
    if (rc != 0) {
        assert_int_equal(rc, ERR_SIGNATURE);
        assert_int_equal(e.code, ERR_SIGNATURE);
        assert_int_equal(e.status, 403);
    }
    return rc;
}

static void test_compute_vector1(void **state)
{
    char out[64];
    size_t n;

    (void)state;
    memset(out, 0, sizeof out);
    n = signature_compute(v1_key, 6, v1_salt, 5, V1_PATH, strlen(V1_PATH), 32, out);
    assert_int_equal(n, strlen(V1_SIG)); /* 32 bytes -> 43 base64url characters */
    assert_memory_equal(out, V1_SIG, n);

    memset(out, 0, sizeof out);
    n = signature_compute(v1_key, 6, v1_salt, 5, V1_PATH, strlen(V1_PATH), 8, out);
    assert_int_equal(n, strlen(V1_SIG8)); /* 8 bytes -> 11 characters */
    assert_memory_equal(out, V1_SIG8, n);
}

static void test_compute_vector2(void **state)
{
    char out[64];
    size_t n;

    (void)state;
    n = signature_compute(v2_key, sizeof v2_key, v2_salt, sizeof v2_salt, V2_PATH, strlen(V2_PATH),
                          32, out);
    assert_int_equal(n, strlen(V2_SIG));
    assert_memory_equal(out, V2_SIG, n);

    n = signature_compute(v2_key, sizeof v2_key, v2_salt, sizeof v2_salt, V2_PATH, strlen(V2_PATH),
                          8, out);
    assert_int_equal(n, strlen(V2_SIG8));
    assert_memory_equal(out, V2_SIG8, n);
}

static void test_compute_sizes(void **state)
{
    char out[64];

    (void)state;
    /* ceil(size * 4 / 3) characters, no padding: 1 -> 2, 2 -> 3, 3 -> 4, 31 -> 42. */
    assert_int_equal(signature_compute(v1_key, 6, v1_salt, 5, V1_PATH, strlen(V1_PATH), 1, out), 2);
    assert_memory_equal(out, "oA", 2); /* first byte of the digest, 0xa0 */
    assert_int_equal(signature_compute(v1_key, 6, v1_salt, 5, V1_PATH, strlen(V1_PATH), 2, out), 3);
    assert_int_equal(signature_compute(v1_key, 6, v1_salt, 5, V1_PATH, strlen(V1_PATH), 3, out), 4);
    assert_memory_equal(out, "oKfU", 4);
    assert_int_equal(signature_compute(v1_key, 6, v1_salt, 5, V1_PATH, strlen(V1_PATH), 31, out),
                     42);
    assert_null(memchr(out, '=', 42));
}

static void test_verify_vector1(void **state)
{
    (void)state;
    set_pair(0, v1_key, 6, v1_salt, 5);
    use_keys(1, 1, 32);
    assert_int_equal(verify(V1_SIG, V1_PATH), 0);
}

static void test_verify_vector2(void **state)
{
    (void)state;
    set_pair(0, v2_key, sizeof v2_key, v2_salt, sizeof v2_salt);
    use_keys(1, 1, 32);
    assert_int_equal(verify(V2_SIG, V2_PATH), 0);
    assert_int_equal(verify(V1_SIG, V2_PATH), ERR_SIGNATURE);
}

static void test_verify_truncated(void **state)
{
    (void)state;
    set_pair(0, v1_key, 6, v1_salt, 5);
    use_keys(1, 1, 8);
    assert_int_equal(verify(V1_SIG8, V1_PATH), 0);
    /* With size 8 the full 32-byte signature is not the expected 8 bytes. */
    assert_int_equal(verify(V1_SIG, V1_PATH), ERR_SIGNATURE);

    set_pair(0, v2_key, sizeof v2_key, v2_salt, sizeof v2_salt);
    assert_int_equal(verify(V2_SIG8, V2_PATH), 0);

    /* And with size 32 the 8-byte one is too short. */
    set_pair(0, v1_key, 6, v1_salt, 5);
    cfg.signature_size = 32;
    assert_int_equal(verify(V1_SIG8, V1_PATH), ERR_SIGNATURE);
}

static void test_verify_wrong(void **state)
{
    (void)state;
    set_pair(0, v1_key, 6, v1_salt, 5);
    use_keys(1, 1, 32);
    /* One character changed. */
    assert_int_equal(verify("pKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8", V1_PATH), ERR_SIGNATURE);
    /*
     * The last character changed in its data bits: of its 6 bits only the top 4
     * belong to the 32nd byte ('8' = 1111|00, 'A' = 0000|00).
     */
    assert_int_equal(verify("oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXHA", V1_PATH), ERR_SIGNATURE);
    /* One byte of the path changed. */
    assert_int_equal(verify(V1_SIG, "/rs:fill:300:401:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/"
                                    "cy9jdXJpb3NpdHku/anBn.png"),
                     ERR_SIGNATURE);
    /* The path without its leading '/' is a different string. */
    assert_int_equal(verify(V1_SIG, V1_PATH + 1), ERR_SIGNATURE);
    /* A placeholder. */
    assert_int_equal(verify("insecure", V1_PATH), ERR_SIGNATURE);
    /* Empty. */
    assert_int_equal(verify("", V1_PATH), ERR_SIGNATURE);
    /* Key and salt swapped. */
    set_pair(0, v1_salt, 5, v1_key, 6);
    assert_int_equal(verify(V1_SIG, V1_PATH), ERR_SIGNATURE);
}

static void test_verify_bad_encoding(void **state)
{
    (void)state;
    set_pair(0, v1_key, 6, v1_salt, 5);
    use_keys(1, 1, 32);
    /* base64url without padding; '=' is not accepted. */
    assert_int_equal(verify(V1_SIG "=", V1_PATH), ERR_SIGNATURE);
    /* The standard alphabet's '+' for the URL alphabet's '-'/'_' is not accepted. */
    assert_int_equal(verify("oKfUtW34Dvo2BGQehJFR4Nr0+rIjOtdtzJ3QFsUcXH8", V1_PATH), ERR_SIGNATURE);
    set_pair(0, v2_key, sizeof v2_key, v2_salt, sizeof v2_salt);
    assert_int_equal(verify("m3k5QADfcKPDj+SDI2AIogZbC3FlAXszuwhtWXYqavc", V2_PATH), ERR_SIGNATURE);
    /* Truncated-size signature with padding ("oKfUtW34Dvo=" is the padded form). */
    set_pair(0, v1_key, 6, v1_salt, 5);
    cfg.signature_size = 8;
    assert_int_equal(verify(V1_SIG8 "=", V1_PATH), ERR_SIGNATURE);
    assert_int_equal(verify("oKfU*W34Dvo", V1_PATH), ERR_SIGNATURE);
}

static void test_verify_no_keys(void **state)
{
    (void)state;
    /* No keys or no salts -> not checked. */
    use_keys(0, 0, 32);
    cfg.keys = NULL;
    cfg.salts = NULL;
    assert_int_equal(verify("insecure", V1_PATH), 0);
    assert_int_equal(verify("_", "/anything"), 0);
    assert_int_equal(verify("not+base64=", V1_PATH), 0);

    /* Keys but no salts. */
    set_pair(0, v1_key, 6, v1_salt, 5);
    use_keys(1, 0, 32);
    assert_int_equal(verify("insecure", V1_PATH), 0);
    /* Salts but no keys. */
    use_keys(0, 1, 32);
    assert_int_equal(verify("insecure", V1_PATH), 0);
}

static void test_verify_multiple_pairs(void **state)
{
    (void)state;
    /* Pair 0 is wrong, pair 1 matches. */
    set_pair(0, other_key, sizeof other_key - 1, other_salt, sizeof other_salt - 1);
    set_pair(1, v1_key, 6, v1_salt, 5);
    use_keys(2, 2, 32);
    assert_int_equal(verify(V1_SIG, V1_PATH), 0);

    /* Three pairs, the last matches vector 2; vector 1 still verifies with pair 1. */
    set_pair(2, v2_key, sizeof v2_key, v2_salt, sizeof v2_salt);
    use_keys(3, 3, 32);
    assert_int_equal(verify(V2_SIG, V2_PATH), 0);
    assert_int_equal(verify(V1_SIG, V1_PATH), 0);

    /* Keys and salts pair by index: key 0 with salt 1 is never tried. */
    set_pair(0, v1_key, 6, other_salt, sizeof other_salt - 1);
    set_pair(1, other_key, sizeof other_key - 1, v1_salt, 5);
    use_keys(2, 2, 32);
    assert_int_equal(verify(V1_SIG, V1_PATH), ERR_SIGNATURE);
}

static void test_verify_trusted(void **state)
{
    static char t1[] = "trusted-one";
    static char t2[] = "not+base64=";
    static char *items[] = {t1, t2};

    (void)state;
    set_pair(0, v1_key, 6, v1_salt, 5);
    use_keys(1, 1, 32);
    cfg.trusted_signatures.items = items;
    cfg.trusted_signatures.len = 2;

    assert_int_equal(verify("trusted-one", V1_PATH), 0);
    assert_int_equal(verify("trusted-one", "/any/other/path"), 0);
    /* Checked before the encoding, so any exact string is accepted. */
    assert_int_equal(verify("not+base64=", V1_PATH), 0);
    /* Exact match only. */
    assert_int_equal(verify("trusted-on", V1_PATH), ERR_SIGNATURE);
    assert_int_equal(verify("trusted-one1", V1_PATH), ERR_SIGNATURE);
    assert_int_equal(verify("Trusted-one", V1_PATH), ERR_SIGNATURE);
    /* The real signature still works alongside. */
    assert_int_equal(verify(V1_SIG, V1_PATH), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_cfg_reset, tu_cfg_reset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_compute_vector1),       T(test_compute_vector2),     T(test_compute_sizes),
        T(test_verify_vector1),        T(test_verify_vector2),      T(test_verify_truncated),
        T(test_verify_wrong),          T(test_verify_bad_encoding), T(test_verify_no_keys),
        T(test_verify_multiple_pairs), T(test_verify_trusted),
    };
    return cmocka_run_group_tests_name("signature", tests, tu_cfg_setup, tu_cfg_teardown);
}

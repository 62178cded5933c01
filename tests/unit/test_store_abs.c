/* test_store_abs.c: Azure Shared Key signing (the reference vector), key checks, the prepared GET.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <glib.h>

#include "config.h"
#include "storage.h"
#include "store_abs.h"
#include "testutil.h"

/* Azurite's well-known development account. */
#define AZ_NAME "devstoreaccount1"
#define AZ_KEY                                                                                     \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define VECTOR_DATE "Tue, 01 Oct 2024 00:00:00 GMT"
#define VECTOR_STS                                                                                 \
    "GET\n\n\n\n\n\n\n\n\n\n\n\n"                                                                  \
    "x-ms-date:" VECTOR_DATE "\nx-ms-version:2021-08-06\n"                                         \
    "/devstoreaccount1/devstoreaccount1/images/cat.jpg"
#define VECTOR_SIG "Sf92sm+NVKT+2lOHdv9Q4EF4q6U+wEPmSSyKX+0V2tc="

static void test_vector(void **state)
{
    struct store_abs_header ms[] = {{"x-ms-date", VECTOR_DATE}, {"x-ms-version", "2021-08-06"}};
    size_t keylen = 0;
    unsigned char *key = store_abs_decode_key(AZ_KEY, &keylen);
    char *sts = store_abs_string_to_sign("GET", NULL, ms, 2, AZ_NAME,
                                         "/devstoreaccount1/images/cat.jpg", NULL);
    char *sig;

    (void)state;
    assert_non_null(key);
    assert_int_equal(keylen, 64);
    assert_non_null(sts);
    assert_string_equal(sts, VECTOR_STS);
    sig = store_abs_signature(key, keylen, sts);
    assert_string_equal(sig, VECTOR_SIG);
    g_free(sig);
    g_free(sts);
    g_free(key);
}

/* x-ms-* names are lower-cased and sorted; the order given does not matter. */
static void test_ms_headers_sorted(void **state)
{
    struct store_abs_header ms[] = {
        {"X-MS-Version", "2021-08-06"}, {"x-ms-range", "bytes=0-9"}, {"X-Ms-Date", VECTOR_DATE}};
    char *sts = store_abs_string_to_sign("GET", NULL, ms, 3, "acct", "/c/b", NULL);

    (void)state;
    assert_string_equal(sts, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
                             "x-ms-date:" VECTOR_DATE "\nx-ms-range:bytes=0-9\n"
                             "x-ms-version:2021-08-06\n/acct/c/b");
    g_free(sts);
}

/* The eleven standard headers in their order; a Content-Length of 0 is signed empty. */
static void test_standard_headers(void **state)
{
    const char *std[11] = {"gzip", NULL, "0",     NULL, "image/png", NULL,
                           NULL,   NULL, "\"x\"", NULL, "bytes=1-2"};
    char *sts = store_abs_string_to_sign("PUT", std, NULL, 0, "a", "/c/b", NULL);

    (void)state;
    assert_string_equal(sts, "PUT\ngzip\n\n\n\nimage/png\n\n\n\n\"x\"\n\nbytes=1-2\n/a/c/b");
    g_free(sts);
    std[2] = "12";
    sts = store_abs_string_to_sign("PUT", std, NULL, 0, "a", "/c/b", NULL);
    assert_non_null(strstr(sts, "PUT\ngzip\n\n12\n"));
    g_free(sts);
}

/* Query parameters: sorted by lower-cased name, values decoded, repeats joined by ",". */
static void test_query(void **state)
{
    char *sts = store_abs_string_to_sign("GET", NULL, NULL, 0, "a", "/c",
                                         "restype=container&comp=list&Include=a%20b&include=c");

    (void)state;
    assert_string_equal(sts, "GET\n\n\n\n\n\n\n\n\n\n\n\n/a/c"
                             "\ncomp:list\ninclude:a b,c\nrestype:container");
    g_free(sts);
    /* A value that does not decode (%00 would cut it) refuses to sign. */
    assert_null(store_abs_string_to_sign("GET", NULL, NULL, 0, "a", "/c", "x=%00"));
}

static void test_decode_key(void **state)
{
    size_t n = 0;
    unsigned char *k;

    (void)state;
    k = store_abs_decode_key("AAEC", &n);
    assert_non_null(k);
    assert_int_equal(n, 3);
    assert_memory_equal(k, "\x00\x01\x02", 3);
    g_free(k);
    k = store_abs_decode_key("AAE=", &n);
    assert_non_null(k);
    assert_int_equal(n, 2);
    g_free(k);
    assert_null(store_abs_decode_key("", &n));
    assert_null(store_abs_decode_key("AAE", &n));      /* length */
    assert_null(store_abs_decode_key("AA-_", &n));     /* base64url alphabet */
    assert_null(store_abs_decode_key("A=AA", &n));     /* padding inside */
    assert_null(store_abs_decode_key("AAAA AAA", &n)); /* blank */
    assert_null(store_abs_decode_key("====", &n));
}

static void use_abs(const char *name, const char *key, const char *endpoint)
{
    cfg.use_abs = true;
    cfg.abs_name = (char *)name;
    cfg.abs_key = (char *)key;
    cfg.abs_endpoint = (char *)endpoint;
}

static void test_init_checks(void **state)
{
    const struct storage_ops *ops = (const void *)1;

    (void)state;
    cfg.use_abs = false;
    assert_int_equal(store_abs_init(&cfg, &ops), 0);
    assert_null(ops);
    use_abs("", AZ_KEY, "");
    assert_int_equal(store_abs_init(&cfg, &ops), -1);
    use_abs(AZ_NAME, "", "");
    assert_int_equal(store_abs_init(&cfg, &ops), -1);
    use_abs(AZ_NAME, "not base64!", "");
    assert_int_equal(store_abs_init(&cfg, &ops), -1);
    use_abs(AZ_NAME, AZ_KEY, "ftp://127.0.0.1/x");
    assert_int_equal(store_abs_init(&cfg, &ops), -1);
    use_abs(AZ_NAME, AZ_KEY, "http://127.0.0.1:1/x?sv=1");
    assert_int_equal(store_abs_init(&cfg, &ops), -1);
    assert_null(ops);
    use_abs(AZ_NAME, AZ_KEY, "");
    assert_int_equal(store_abs_init(&cfg, &ops), 0);
    assert_non_null(ops);
    store_abs_shutdown();
}

/* The value of header name in l, or NULL. */
static const char *header(const struct curl_slist *l, const char *name)
{
    size_t n = strlen(name);

    for (; l != NULL; l = l->next)
        if (strncmp(l->data, name, n) == 0 && l->data[n] == ':')
            return l->data + n + 2;
    return NULL;
}

/* The GET for a key with blanks and '#': the URL path is what was signed. */
static void test_prepare(void **state)
{
    const struct storage_ops *ops = NULL;
    struct storage_url u = {STORAGE_ABS, (char *)"imgs", (char *)"dir/a b#1.jpg", (char *)"v=2"};
    struct storage_get g;
    struct errinfo e;
    struct store_abs_header ms[2];
    const char *date, *auth;
    size_t keylen = 0;
    unsigned char *key = store_abs_decode_key(AZ_KEY, &keylen);
    char *sts, *sig, *want;

    (void)state;
    use_abs(AZ_NAME, AZ_KEY, "http://127.0.0.1:10000/devstoreaccount1/");
    assert_int_equal(store_abs_init(&cfg, &ops), 0);
    memset(&g, 0, sizeof(g));
    err_clear(&e);
    assert_int_equal(ops->prepare(&u, NULL, 0, &g, &e), 0);
    /* The query is dropped, as imgproxy drops it for abs. */
    assert_string_equal(g.url, "http://127.0.0.1:10000/devstoreaccount1/imgs/dir/a%20b%231.jpg");
    assert_false(g.forward_conditionals);
    date = header(g.headers, "x-ms-date");
    assert_non_null(date);
    assert_string_equal(header(g.headers, "x-ms-version"), STORE_ABS_VERSION);
    auth = header(g.headers, "Authorization");
    assert_non_null(auth);
    ms[0] = (struct store_abs_header){"x-ms-date", date};
    ms[1] = (struct store_abs_header){"x-ms-version", STORE_ABS_VERSION};
    sts = store_abs_string_to_sign("GET", NULL, ms, 2, AZ_NAME,
                                   "/devstoreaccount1/imgs/dir/a%20b%231.jpg", NULL);
    sig = store_abs_signature(key, keylen, sts);
    want = g_strdup_printf("SharedKey %s:%s", AZ_NAME, sig);
    assert_string_equal(auth, want);
    assert_int_equal(ops->map_status(404), 404);
    assert_int_equal(ops->map_status(403), 403);
    assert_int_equal(ops->map_status(503), 503);
    assert_int_equal(ops->map_status(301), 500);
    assert_int_equal(ops->map_status(302), 404);
    assert_false(ops->unauthorized());
    g_free(want);
    g_free(sig);
    g_free(sts);
    g_free(key);
    storage_get_free(&g);
    store_abs_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_ms_headers_sorted),
        cmocka_unit_test(test_standard_headers),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_decode_key),
        cmocka_unit_test_setup(test_init_checks, tu_cfg_reset),
        cmocka_unit_test_setup(test_prepare, tu_cfg_reset),
    };

    return cmocka_run_group_tests(tests, tu_cfg_setup, tu_cfg_teardown);
}

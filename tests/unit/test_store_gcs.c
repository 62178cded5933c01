/* test_store_gcs.c: service-account keys, the RS256 JWT (verified with the public key), replies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config.h"
#include "storage.h"
#include "store_gcs.h"
#include "testutil.h"

static EVP_PKEY *rsa;   /* generated once for the group */
static char *rsa_pem;   /* its PKCS#8 PEM */
static char *good_json; /* a service-account key holding it */

/* The PKCS#8 PEM text of k (g_free()). */
static char *pem_of(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;

    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(b, &p);
    p = g_strndup(p, (gsize)n);
    BIO_free(b);
    return p;
}

/* A key's JSON text; a NULL field is left out. */
static char *key_json(const char *type, const char *email, const char *pem, const char *kid,
                      const char *uri)
{
    JsonBuilder *b = json_builder_new();
    JsonGenerator *g = json_generator_new();
    JsonNode *root;
    const char *names[] = {"type", "client_email", "private_key", "private_key_id", "token_uri"};
    const char *values[] = {type, email, pem, kid, uri};
    char *out;

    json_builder_begin_object(b);
    for (size_t i = 0; i < 5; i++) {
        if (values[i] == NULL)
            continue;
        json_builder_set_member_name(b, names[i]);
        json_builder_add_string_value(b, values[i]);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(g, root);
    out = json_generator_to_data(g, NULL);
    json_node_unref(root);
    g_object_unref(g);
    g_object_unref(b);
    return out;
}

static int group_setup(void **state)
{
    rsa = EVP_RSA_gen(2048);
    if (rsa == NULL)
        return -1;
    rsa_pem = pem_of(rsa);
    good_json = key_json("service_account", "imgfcgi@test.iam.gserviceaccount.com", rsa_pem,
                         "kid-1", "http://127.0.0.1:1/token");
    return tu_cfg_setup(state);
}

static int group_teardown(void **state)
{
    EVP_PKEY_free(rsa);
    g_free(rsa_pem);
    g_free(good_json);
    return tu_cfg_teardown(state);
}

static void test_parse_key(void **state)
{
    struct store_gcs_key k;
    const char *why = NULL;
    char *j;

    (void)state;
    assert_int_equal(store_gcs_parse_key(good_json, strlen(good_json), &k, &why), 0);
    assert_string_equal(k.client_email, "imgfcgi@test.iam.gserviceaccount.com");
    assert_string_equal(k.private_key_id, "kid-1");
    assert_string_equal(k.token_uri, "http://127.0.0.1:1/token");
    assert_non_null(k.pkey);
    store_gcs_key_release(&k);

    /* No token_uri, no kid: Google's token endpoint, no "kid". */
    j = key_json("service_account", "a@b", rsa_pem, NULL, NULL);
    assert_int_equal(store_gcs_parse_key(j, strlen(j), &k, &why), 0);
    assert_string_equal(k.token_uri, "https://oauth2.googleapis.com/token");
    assert_null(k.private_key_id);
    store_gcs_key_release(&k);
    g_free(j);
}

static void expect_bad_key(const char *json, const char *reason_part)
{
    struct store_gcs_key k;
    const char *why = NULL;
    char *copy = tu_memdup(json, strlen(json)); /* no NUL: the parser keeps to len */

    assert_int_equal(store_gcs_parse_key(copy, strlen(json), &k, &why), -1);
    assert_non_null(why);
    assert_non_null(strstr(why, reason_part));
    assert_null(k.pkey);
    free(copy);
}

static void test_bad_keys(void **state)
{
    char *j;
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    char *ec_pem = pem_of(ec);

    (void)state;
    expect_bad_key("", "JSON");
    expect_bad_key("[1,2]", "JSON");
    expect_bad_key("{\"type\":", "JSON");
    j = key_json("authorized_user", "a@b", rsa_pem, NULL, NULL);
    expect_bad_key(j, "service_account");
    g_free(j);
    j = key_json("service_account", NULL, rsa_pem, NULL, NULL);
    expect_bad_key(j, "client_email");
    g_free(j);
    j = key_json("service_account", "a@b", "-----BEGIN PRIVATE KEY-----\nAAAA\n", NULL, NULL);
    expect_bad_key(j, "RSA");
    g_free(j);
    j = key_json("service_account", "a@b", ec_pem, NULL, NULL);
    expect_bad_key(j, "RSA");
    g_free(j);
    j = key_json("service_account", "a@b", rsa_pem, NULL, "file:///etc/passwd");
    expect_bad_key(j, "token_uri");
    g_free(j);
    g_free(ec_pem);
    EVP_PKEY_free(ec);
}

/* The JSON object in base64url part p (len bytes). */
static JsonObject *part_object(JsonParser *parser, const char *p, size_t len)
{
    char *b = g_strndup(p, len);
    guchar *raw;
    gsize rawlen = 0;
    size_t n = strlen(b);
    char *std = g_malloc(n + 4);

    for (size_t i = 0; i < n; i++)
        std[i] = b[i] == '-' ? '+' : b[i] == '_' ? '/' : b[i];
    while (n % 4 != 0)
        std[n++] = '=';
    std[n] = '\0';
    assert_null(strpbrk(b, "+/="));
    raw = g_base64_decode(std, &rawlen);
    assert_true(json_parser_load_from_data(parser, (const char *)raw, (gssize)rawlen, NULL));
    g_free(raw);
    g_free(std);
    g_free(b);
    return json_node_get_object(json_parser_get_root(parser));
}

/* The JWT's parts decode to the claims imgproxy sends, and the signature verifies. */
static void test_jwt(void **state)
{
    struct store_gcs_key k;
    const char *why = NULL;
    char *jwt, *dot1, *dot2, *std;
    JsonParser *ph = json_parser_new(), *pc = json_parser_new();
    JsonObject *h, *c;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    guchar *sig;
    gsize siglen = 0;
    size_t n;

    (void)state;
    assert_int_equal(store_gcs_parse_key(good_json, strlen(good_json), &k, &why), 0);
    jwt = store_gcs_jwt(&k, 1700000000);
    assert_non_null(jwt);
    dot1 = strchr(jwt, '.');
    assert_non_null(dot1);
    dot2 = strchr(dot1 + 1, '.');
    assert_non_null(dot2);
    assert_null(strchr(dot2 + 1, '.'));
    h = part_object(ph, jwt, (size_t)(dot1 - jwt));
    assert_string_equal(json_object_get_string_member(h, "alg"), "RS256");
    assert_string_equal(json_object_get_string_member(h, "typ"), "JWT");
    assert_string_equal(json_object_get_string_member(h, "kid"), "kid-1");
    c = part_object(pc, dot1 + 1, (size_t)(dot2 - dot1 - 1));
    assert_string_equal(json_object_get_string_member(c, "iss"),
                        "imgfcgi@test.iam.gserviceaccount.com");
    assert_string_equal(json_object_get_string_member(c, "aud"), "http://127.0.0.1:1/token");
    assert_string_equal(json_object_get_string_member(c, "scope"), STORE_GCS_SCOPE);
    assert_int_equal(json_object_get_int_member(c, "iat"), 1700000000);
    assert_int_equal(json_object_get_int_member(c, "exp"), 1700003600);

    /* RS256 over "header.claims" with the public half. */
    n = strlen(dot2 + 1);
    std = g_malloc(n + 4);
    for (size_t i = 0; i < n; i++)
        std[i] = dot2[1 + i] == '-' ? '+' : dot2[1 + i] == '_' ? '/' : dot2[1 + i];
    while (n % 4 != 0)
        std[n++] = '=';
    std[n] = '\0';
    sig = g_base64_decode(std, &siglen);
    assert_int_equal(siglen, 256);
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, rsa), 1);
    assert_int_equal(
        EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    /* One byte of the claims changed: the signature no longer holds. */
    dot1[1] ^= 1;
    EVP_MD_CTX_reset(ctx);
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, rsa), 1);
    assert_int_not_equal(
        EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    EVP_MD_CTX_free(ctx);
    g_free(sig);
    g_free(std);
    g_object_unref(ph);
    g_object_unref(pc);
    g_free(jwt);
    store_gcs_key_release(&k);
}

static void expect_token(const char *json, int ret, const char *token, long long expires)
{
    char *copy = tu_memdup(json, strlen(json));
    char *t = NULL;
    long long exp = 0;
    const char *why = NULL;

    assert_int_equal(store_gcs_parse_token(copy, strlen(json), &t, &exp, &why), ret);
    if (ret == 0) {
        assert_string_equal(t, token);
        assert_int_equal(exp, expires);
    } else {
        assert_null(t);
        assert_non_null(why);
    }
    g_free(t);
    free(copy);
}

static void test_token_reply(void **state)
{
    (void)state;
    expect_token("{\"access_token\":\"ya29.x\",\"expires_in\":3599,\"token_type\":\"Bearer\"}", 0,
                 "ya29.x", 3599);
    expect_token("{\"access_token\":\"t\"}", 0, "t", 3600);
    expect_token("{\"access_token\":\"t\",\"expires_in\":\"120\"}", 0, "t", 120);
    expect_token("{\"access_token\":\"t\",\"expires_in\":0}", -1, NULL, 0);
    expect_token("{\"access_token\":\"t\",\"expires_in\":-5}", -1, NULL, 0);
    expect_token("{\"access_token\":\"t\",\"expires_in\":\"soon\"}", -1, NULL, 0);
    expect_token("{\"access_token\":\"\"}", -1, NULL, 0);
    expect_token("{\"access_token\":\"a\\r\\nX-Evil: 1\"}", -1, NULL, 0);
    expect_token("{\"access_token\":7}", -1, NULL, 0);
    expect_token("{\"error\":\"invalid_grant\"}", -1, NULL, 0);
    expect_token("not json", -1, NULL, 0);
    expect_token("[]", -1, NULL, 0);
}

static void test_metadata_reply(void **state)
{
    const char *j = "{\"etag\":\"CJDp2Mmk/fQCEAE=\",\"updated\":\"2024-10-01T00:00:00.123Z\","
                    "\"size\":\"12345\",\"contentType\":\"image/jpeg\"}";
    char *copy = tu_memdup(j, strlen(j));
    struct store_gcs_meta m;

    (void)state;
    assert_int_equal(store_gcs_parse_meta(copy, strlen(j), &m), 0);
    assert_string_equal(m.etag, "CJDp2Mmk/fQCEAE=");
    assert_string_equal(m.last_modified, "Tue, 01 Oct 2024 00:00:00 GMT");
    assert_int_equal(m.size, 12345);
    store_gcs_meta_release(&m);
    free(copy);
    j = "{\"updated\":\"yesterday\",\"size\":7}";
    assert_int_equal(store_gcs_parse_meta(j, strlen(j), &m), 0);
    assert_null(m.etag);
    assert_null(m.last_modified);
    assert_int_equal(m.size, 7);
    store_gcs_meta_release(&m);
    assert_int_equal(store_gcs_parse_meta("<xml/>", 6, &m), -1);
    store_gcs_meta_release(&m);
}

static void test_generation(void **state)
{
    (void)state;
    assert_int_equal(store_gcs_generation("1700000000123456"), 1700000000123456LL);
    assert_int_equal(store_gcs_generation("1"), 1);
    assert_int_equal(store_gcs_generation(NULL), 0);
    assert_int_equal(store_gcs_generation(""), 0);
    assert_int_equal(store_gcs_generation("0"), 0);
    assert_int_equal(store_gcs_generation("-3"), 0);
    assert_int_equal(store_gcs_generation("+3"), 0);
    assert_int_equal(store_gcs_generation("12a"), 0);
    assert_int_equal(store_gcs_generation("generation=5"), 0);
    assert_int_equal(store_gcs_generation("9223372036854775808"), 0);
}

static void test_init(void **state)
{
    const struct storage_ops *ops = (const void *)1;

    (void)state;
    cfg.use_gcs = false;
    assert_int_equal(store_gcs_init(&cfg, &ops), 0);
    assert_null(ops);
    cfg.use_gcs = true;
    cfg.gcs_key = (char *)"";
    assert_int_equal(store_gcs_init(&cfg, &ops), -1);
    cfg.gcs_key = (char *)"{\"type\":\"service_account\"}";
    assert_int_equal(store_gcs_init(&cfg, &ops), -1);
    cfg.gcs_key = good_json;
    cfg.gcs_endpoint = (char *)"storage.example/storage/v1/";
    assert_int_equal(store_gcs_init(&cfg, &ops), -1);
    assert_null(ops);
    cfg.gcs_endpoint = (char *)"http://127.0.0.1:1/storage/v1";
    assert_int_equal(store_gcs_init(&cfg, &ops), 0);
    assert_non_null(ops);
    assert_int_equal(ops->map_status(404), 404);
    assert_int_equal(ops->map_status(403), 500);
    assert_int_equal(ops->map_status(401), 500);
    assert_int_equal(ops->map_status(503), 500);
    assert_int_equal(ops->map_status(302), 500);
    store_gcs_shutdown();
}

/* No token endpoint listens: prepare fails with the storage's error, 500, and frees all. */
static void test_prepare_without_token_endpoint(void **state)
{
    const struct storage_ops *ops = NULL;
    struct storage_url u = {STORAGE_GCS, (char *)"b", (char *)"a.jpg", NULL};
    struct storage_get g;
    struct errinfo e;

    (void)state;
    cfg.use_gcs = true;
    cfg.gcs_key = good_json; /* token_uri on port 1: nothing listens there */
    cfg.gcs_endpoint = (char *)"http://127.0.0.1:1/storage/v1/";
    assert_int_equal(store_gcs_init(&cfg, &ops), 0);
    memset(&g, 0, sizeof(g));
    err_clear(&e);
    assert_int_equal(ops->prepare(&u, NULL, 0, &g, &e), ERR_SOURCE_FAILED);
    assert_non_null(strstr(e.msg, "127.0.0.1:1/token"));
    storage_get_free(&g);
    store_gcs_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_key),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_jwt),
        cmocka_unit_test(test_token_reply),
        cmocka_unit_test(test_metadata_reply),
        cmocka_unit_test(test_generation),
        cmocka_unit_test_setup(test_init, tu_cfg_reset),
        cmocka_unit_test_setup(test_prepare_without_token_endpoint, tu_cfg_reset),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* test_headers.c: the response header rules and the options that feed them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "config.h"
#include "headers.h"
#include "options.h"
#include "testutil.h"

/* 2030-01-01 00:00:00 UTC */
#define NOW 1893456000LL

/* One row of setCacheControl: inputs and the header it must give. */
struct cc_row {
    const char *what;
    int ttl;
    bool passthrough, fallback;
    int fallback_ttl;
    bool has_expires;
    long long expires;
    const char *origin_cc, *origin_expires;
    const char *want;
};

static void test_cache_control_table(void **state)
{
    static const struct cc_row rows[] = {
        {"default TTL", 3600, false, false, 0, false, 0, NULL, NULL, "max-age=3600, public"},
        {"TTL 0", 0, false, false, 0, false, 0, NULL, NULL, "no-cache"},
        {"origin CC ignored without passthrough", 3600, false, false, 0, false, 0,
         "max-age=5, private", NULL, "max-age=3600, public"},
        {"passthrough copies verbatim", 3600, true, false, 0, false, 0, "max-age=5, private",
         "Thu, 01 Jan 2032 00:00:00 GMT", "max-age=5, private"},
        {"passthrough, empty CC, Expires", 3600, true, false, 0, false, 0, "",
         "Tue, 01 Jan 2030 00:01:40 GMT", "max-age=100, public"},
        {"passthrough, Expires past", 3600, true, false, 0, false, 0, NULL,
         "Mon, 31 Dec 2029 00:00:00 GMT", "no-cache"},
        {"passthrough, Expires beyond TTL is kept", 60, true, false, 0, false, 0, NULL,
         "Tue, 01 Jan 2030 01:00:00 GMT", "max-age=3600, public"},
        {"passthrough, bad Expires", 3600, true, false, 0, false, 0, NULL, "tomorrow",
         "max-age=3600, public"},
        {"passthrough, Expires not GMT", 3600, true, false, 0, false, 0, NULL,
         "Tue, 01 Jan 2030 00:01:40 UTC", "max-age=3600, public"},
        {"Expires ignored without passthrough", 3600, false, false, 0, false, 0, NULL,
         "Tue, 01 Jan 2030 00:01:40 GMT", "max-age=3600, public"},
        {"expires option sooner", 3600, false, false, 0, true, NOW + 100, NULL, NULL,
         "max-age=100, public"},
        {"expires option later: capped by TTL", 3600, false, false, 0, true, NOW + 99999, NULL,
         NULL, "max-age=3600, public"},
        {"expires option now", 3600, false, false, 0, true, NOW, NULL, NULL, "no-cache"},
        {"expires 0", 3600, false, false, 0, true, 0, NULL, NULL, "no-cache"},
        {"expires beats passthrough", 3600, true, false, 0, true, NOW + 50, "max-age=5", NULL,
         "max-age=50, public"},
        {"fallback TTL", 3600, false, true, 10, false, 0, NULL, NULL, "max-age=10, public"},
        {"fallback TTL 0 = TTL", 3600, false, true, 0, false, 0, NULL, NULL,
         "max-age=3600, public"},
        {"fallback TTL beats passthrough", 3600, true, true, 10, false, 0, "max-age=5", NULL,
         "max-age=10, public"},
        {"fallback TTL 0 with passthrough", 3600, true, true, 0, false, 0, "max-age=5", NULL,
         "max-age=5"},
        {"expires sooner than fallback TTL", 3600, false, true, 100, true, NOW + 20, NULL, NULL,
         "max-age=20, public"},
        {"expires later than fallback TTL", 3600, false, true, 100, true, NOW + 200, NULL, NULL,
         "max-age=100, public"},
    };
    char out[256];

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct cc_row *r = &rows[i];
        struct cache_input in = {r->ttl,          r->passthrough,    r->fallback,
                                 r->fallback_ttl, r->has_expires,    r->expires,
                                 r->origin_cc,    r->origin_expires, (time_t)NOW};

        headers_cache_control(&in, out, sizeof(out));
        if (strcmp(out, r->want) != 0)
            fail_msg("%s: want %s, got %s", r->what, r->want, out);
    }
}

static void test_http_date(void **state)
{
    char out[30];
    time_t t;

    (void)state;
    assert_int_equal(headers_parse_http_date("Tue, 01 Jan 2030 00:00:00 GMT", &t), 0);
    assert_int_equal((long long)t, NOW);
    assert_int_equal(headers_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    assert_int_equal((long long)t, 784111777LL);
    assert_int_equal(headers_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &t), -1);
    assert_int_equal(headers_parse_http_date("Sun Nov  6 08:49:37 1994", &t), -1);
    assert_int_equal(headers_parse_http_date("Sun, 06 Nov 1994 08:49:37 +0000", &t), -1);
    assert_int_equal(headers_parse_http_date("Xyz, 06 Nov 1994 08:49:37 GMT", &t), -1);
    assert_int_equal(headers_parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT", &t), -1);
    assert_int_equal(headers_parse_http_date("", &t), -1);
    headers_format_http_date((time_t)784111777, out);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(headers_parse_http_date(out, &t), 0);
    assert_int_equal((long long)t, 784111777LL);
}

static void test_content_disposition(void **state)
{
    static const struct {
        const char *filename, *url;
        enum imgtype t;
        bool att;
        const char *want;
    } rows[] = {
        {NULL, "http://example.com/images/photo.jpg", IMGTYPE_PNG, false,
         "inline; filename=\"photo.png\""},
        {NULL, "http://example.com/images/photo.jpg?x=1#f", IMGTYPE_WEBP, true,
         "attachment; filename=\"photo.webp\""},
        {NULL, "http://example.com/a.b.c.jpeg", IMGTYPE_JPEG, false,
         "inline; filename=\"a.b.c.jpg\""},
        {NULL, "http://example.com/noext", IMGTYPE_JPEG, false, "inline; filename=\"noext.jpg\""},
        {NULL, "http://example.com/", IMGTYPE_JPEG, false, "inline; filename=\"image.jpg\""},
        {NULL, "http://example.com", IMGTYPE_GIF, false, "inline; filename=\"image.gif\""},
        {NULL, "http://example.com/dir/", IMGTYPE_JPEG, false, "inline; filename=\"image.jpg\""},
        {NULL, "local:///my%20photo%402x.jpg", IMGTYPE_JPEG, false,
         "inline; filename=\"my photo@2x.jpg\""},
        {NULL, "http://example.com/q%22uote.jpg", IMGTYPE_JPEG, false,
         "inline; filename=\"q%22uote.jpg\""},
        {NULL, "http://example.com/bad%zzescape.jpg", IMGTYPE_JPEG, false,
         "inline; filename=\"image.jpg\""},
        {NULL, "http://example.com/cr%0d%0alf.jpg", IMGTYPE_JPEG, false,
         "inline; filename=\"cr  lf.jpg\""},
        {NULL, "http://example.com/.hidden", IMGTYPE_PNG, false, "inline; filename=\".png\""},
        {"my \"best\" pic", "http://example.com/photo.jpg", IMGTYPE_AVIF, false,
         "inline; filename=\"my %22best%22 pic.avif\""},
        {"report.v2", "http://example.com/photo.jpg", IMGTYPE_PNG, true,
         "attachment; filename=\"report.v2.png\""},
        {"", "http://example.com/photo.jpg", IMGTYPE_PNG, false, "inline; filename=\"photo.png\""},
    };
    char out[512];

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        headers_content_disposition(out, sizeof(out), rows[i].filename, rows[i].url, rows[i].t,
                                    rows[i].att);
        if (strcmp(out, rows[i].want) != 0)
            fail_msg("row %zu: want %s, got %s", i, rows[i].want, out);
    }
    /* A short buffer truncates but stays terminated. */
    headers_content_disposition(out, 12, NULL, "http://example.com/photo.jpg", IMGTYPE_PNG, false);
    assert_true(strlen(out) < 12);
}

static void test_etag_forms(void **state)
{
    struct etag_expect x;
    char tag[512];

    (void)state;
    /* R form: the origin ETag (with its quotes) travels base64url-encoded. */
    assert_int_equal(headers_etag_make(tag, sizeof(tag), "HASH", "\"abc\"", "IMG"), 'R');
    assert_string_equal(tag, "\"HASH/RImFiYyI\"");
    headers_etag_parse(tag, &x);
    assert_true(x.valid);
    assert_string_equal(x.po_hash, "HASH");
    assert_true(x.has_origin_etag);
    assert_string_equal(x.origin_etag, "\"abc\"");
    assert_string_equal(x.img_hash, "");

    /* D form: the content hash. */
    assert_int_equal(headers_etag_make(tag, sizeof(tag), "HASH", NULL, "IMGHASH"), 'D');
    assert_string_equal(tag, "\"HASH/DIMGHASH\"");
    assert_int_equal(headers_etag_make(tag, sizeof(tag), "HASH", "", "IMGHASH"), 'D');
    headers_etag_parse(tag, &x);
    assert_true(x.valid);
    assert_false(x.has_origin_etag);
    assert_string_equal(x.img_hash, "IMGHASH");

    /* Only the first of a list counts, trimmed. */
    headers_etag_parse("  \"H/DX\" , \"other/DY\"", &x);
    assert_true(x.valid);
    assert_string_equal(x.po_hash, "H");
    assert_string_equal(x.img_hash, "X");
    /*
     * Not ours: a list whose first tag is foreign; weak, unquoted, unknown kind,
     * no slash, empty tag; none; bad base64 in an R tag; an over-long options hash.
     */
    static const char *const foreign[] = {
        "\"junk\", \"H/DX\"",
        "W/\"H/DX\"",
        "H/DX",
        "\"H/QX\"",
        "\"HDX\"",
        "\"H/\"",
        "\"",
        "*",
        NULL,
        "\"H/R!!\"",
        "\"0123456789012345678901234567890123456789012345678901/DX\"",
    };
    for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
        headers_etag_parse(foreign[i], &x);
        if (x.valid)
            fail_msg("ETag %s parsed as ours", foreign[i] != NULL ? foreign[i] : "(null)");
    }
}

static void test_sha256_b64(void **state)
{
    char h[HEADERS_HASH_LEN];

    (void)state;
    /* sha256("abc"), base64url without padding. */
    headers_sha256_b64("a", 1, "b", 1, "c", 1, h);
    assert_string_equal(h, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    headers_sha256_b64("abc", 3, NULL, 0, NULL, 0, h);
    assert_string_equal(h, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    assert_int_equal(strlen(h), 43);
}

static int apply(struct procopts *po, const char *seg, struct errinfo *e)
{
    return options_apply(po, seg, strlen(seg), ':', e);
}

static void test_header_options(void **state)
{
    struct procopts po;
    struct errinfo e;
    char seg[64];

    (void)state;
    options_init(&po);
    assert_false(po.has_expires);
    assert_false(po.return_attachment);
    snprintf(seg, sizeof(seg), "exp:%lld", (long long)time(NULL) + 3600);
    assert_int_equal(apply(&po, seg, &e), 0);
    assert_true(po.has_expires);
    assert_int_equal(apply(&po, "expires:0", &e), 0);
    assert_int_equal(po.expires, 0);
    assert_int_equal(apply(&po, "exp:-5", &e), 0);
    assert_int_equal(apply(&po, "exp:1000", &e), ERR_INVALID_URL);
    assert_string_equal(e.msg, "Expired URL");
    assert_int_equal(e.status, 404);
    assert_int_equal(apply(&po, "exp:soon", &e), ERR_INVALID_URL);
    assert_int_equal(apply(&po, "exp:", &e), ERR_INVALID_URL);
    assert_int_equal(apply(&po, "exp:1:2", &e), ERR_INVALID_URL);

    assert_int_equal(apply(&po, "fn:my_file", &e), 0);
    assert_string_equal(po.filename, "my_file");
    assert_int_equal(apply(&po, "filename:bXkgImZpbGUi:1", &e), 0); /* my "file" */
    assert_string_equal(po.filename, "my \"file\"");
    assert_int_equal(apply(&po, "fn:bXkgImZpbGUi:false", &e), 0);
    assert_string_equal(po.filename, "bXkgImZpbGUi");
    assert_int_equal(apply(&po, "fn:!!!:t", &e), ERR_INVALID_URL);
    assert_int_equal(apply(&po, "fn:a:1:2", &e), ERR_INVALID_URL);

    assert_int_equal(apply(&po, "att:1", &e), 0);
    assert_true(po.return_attachment);
    assert_int_equal(apply(&po, "return_attachment:false", &e), 0);
    assert_false(po.return_attachment);
    assert_int_equal(apply(&po, "cb:v2", &e), 0);
    assert_string_equal(po.cachebuster, "v2");
    assert_int_equal(apply(&po, "cachebuster:a:b", &e), ERR_INVALID_URL);

    cfg.return_attachment = true;
    options_init(&po);
    assert_true(po.return_attachment);
    cfg.return_attachment = false;
}

static void test_options_hash(void **state)
{
    struct procopts a, b;
    struct errinfo e;
    char canon[OPTIONS_CANONICAL_MAX], h1[HEADERS_HASH_LEN], h2[HEADERS_HASH_LEN];

    (void)state;
    options_init(&a);
    assert_int_equal(options_canonical(&a, canon, sizeof(canon)), 0);
    assert_string_equal(canon, "");
    /* Defaults hash as sha256("\n"), the buster first. */
    headers_options_hash(&a, NULL, h1);
    headers_sha256_b64("\n", 1, NULL, 0, NULL, 0, h2);
    assert_string_equal(h1, h2);
    headers_options_hash(&a, "b1", h1);
    headers_sha256_b64("b1\n", 3, NULL, 0, NULL, 0, h2);
    assert_string_equal(h1, h2);

    assert_int_equal(apply(&a, "rs:fill:300:200", &e), 0);
    assert_int_equal(apply(&a, "g:sm", &e), 0);
    assert_int_equal(apply(&a, "fn:a\\b", &e), 0);
    assert_int_equal(apply(&a, "cb:x", &e), 0);
    assert_int_equal(apply(&a, "dpr:1.5", &e), 0);
    options_canonical(&a, canon, sizeof(canon));
    assert_string_equal(canon, "resizing_type=1\nwidth=300\nheight=200\ndpr=1.5\n"
                               "gravity=sm:0:0\nfilename=a\\\\b\ncachebuster=x\n");

    /* The same options in another order hash the same; any change differs. */
    options_init(&b);
    assert_int_equal(apply(&b, "dpr:1.5", &e), 0);
    assert_int_equal(apply(&b, "cb:x", &e), 0);
    assert_int_equal(apply(&b, "g:sm", &e), 0);
    assert_int_equal(apply(&b, "fn:a\\b", &e), 0);
    assert_int_equal(apply(&b, "s:300:200", &e), 0);
    assert_int_equal(apply(&b, "rt:fill", &e), 0);
    headers_options_hash(&a, "", h1);
    headers_options_hash(&b, "", h2);
    assert_string_equal(h1, h2);
    assert_int_equal(apply(&b, "cb:y", &e), 0);
    headers_options_hash(&b, "", h2);
    assert_string_not_equal(h1, h2);
    headers_options_hash(&a, "buster", h2);
    assert_string_not_equal(h1, h2);
    /* Setting an option to its default is no difference. */
    options_init(&b);
    assert_int_equal(apply(&b, "q:0", &e), 0);
    assert_int_equal(options_canonical(&b, canon, sizeof(canon)), 0);
    /* A short buffer truncates safely. */
    assert_true(options_canonical(&a, canon, 8) < 8);
}

static void test_secret(void **state)
{
    (void)state;
    assert_true(headers_secret_ok("Bearer s3cr3t", "s3cr3t"));
    assert_false(headers_secret_ok("Bearer s3cr3", "s3cr3t"));
    assert_false(headers_secret_ok("Bearer s3cr3tt", "s3cr3t"));
    assert_false(headers_secret_ok("bearer s3cr3t", "s3cr3t"));
    assert_false(headers_secret_ok("s3cr3t", "s3cr3t"));
    assert_false(headers_secret_ok("", "s3cr3t"));
    assert_false(headers_secret_ok(NULL, "s3cr3t"));
}

static void test_cookie_scope(void **state)
{
    (void)state;
    assert_true(headers_cookie_scope_ok("http://example.com/a.jpg", "http://example.com/"));
    assert_true(
        headers_cookie_scope_ok("https://img.example.com:8443/a.jpg", "http://example.com:8080"));
    assert_false(headers_cookie_scope_ok("http://badexample.com/a.jpg", "http://example.com/"));
    assert_false(headers_cookie_scope_ok("http://other.org/a.jpg", "http://example.com/"));
    assert_true(headers_cookie_scope_ok("http://example.com/img/a.jpg",
                                        "http://example.com/img/index.html"));
    assert_true(headers_cookie_scope_ok("http://example.com/img", "http://example.com/img/x"));
    assert_false(
        headers_cookie_scope_ok("http://example.com/imgx/a.jpg", "http://example.com/img/x"));
    assert_false(
        headers_cookie_scope_ok("http://example.com/other/a.jpg", "http://example.com/img/x"));
    assert_false(headers_cookie_scope_ok("local:///a.jpg", "http://example.com/"));
    assert_false(headers_cookie_scope_ok("http://example.com/a.jpg", "not a url"));
}

static void test_value_safe(void **state)
{
    (void)state;
    assert_true(headers_value_safe("max-age=1, public"));
    assert_true(headers_value_safe(""));
    assert_false(headers_value_safe("a\r\nb"));
    assert_false(headers_value_safe("a\tb"));
    assert_false(headers_value_safe(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_control_table), cmocka_unit_test(test_http_date),
        cmocka_unit_test(test_content_disposition), cmocka_unit_test(test_etag_forms),
        cmocka_unit_test(test_sha256_b64),          cmocka_unit_test(test_header_options),
        cmocka_unit_test(test_options_hash),        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_cookie_scope),        cmocka_unit_test(test_value_safe),
    };

    return cmocka_run_group_tests_name("headers", tests, tu_cfg_setup, tu_cfg_teardown);
}

/* test_url.c: splitting and parsing imgproxy paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <glib.h>

#include "config.h"
#include "url.h"
#include "testutil.h"

/* imgproxy's documented signed example and what its base64 part decodes to. */
#define DOC_PATH                                                                                   \
    "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png"
#define DOC_SOURCE "http://example.com/images/curiosity.jpg"

/* url_split on an exact-size copy of uri (no NUL after it). */
static int split(struct urlparts *u, const char *uri, const char *prefix, struct errinfo *e)
{
    size_t n = strlen(uri);
    char *copy = tu_memdup(uri, n);
    int rc;

    memset(u, 0, sizeof *u);
    err_clear(e);
    rc = url_split(u, copy, n, prefix, e);
    free(copy);
    if (rc != 0) {
        assert_int_equal(rc, ERR_INVALID_URL);
        assert_int_equal(e->code, ERR_INVALID_URL);
        assert_int_equal(e->status, 404);
    }
    return rc;
}

/* Expects url_split to succeed with this signature and signed path. */
static void expect_split(const char *uri, const char *prefix, const char *sig, const char *path)
{
    struct urlparts u;
    struct errinfo e;

    if (split(&u, uri, prefix, &e) != 0)
        fail_msg("url_split(\"%s\") failed: %s", uri, e.msg);
    assert_non_null(u.signature);
    assert_string_equal(u.signature, sig);
    assert_non_null(u.path);
    assert_int_equal(u.path_len, strlen(path));
    if (memcmp(u.path, path, u.path_len) != 0)
        fail_msg("url_split(\"%s\"): path \"%.*s\", want \"%s\"", uri, (int)u.path_len, u.path,
                 path);
    url_release(&u);
}

static void expect_split_error(const char *uri, const char *prefix)
{
    struct urlparts u;
    struct errinfo e;

    if (split(&u, uri, prefix, &e) == 0)
        fail_msg("url_split(\"%s\") accepted it, want ERR_INVALID_URL", uri);
    url_release(&u);
}

/* Split then parse with sep; returns the parse result, u left for the caller to check. */
static int parse(struct urlparts *u, const char *uri, char sep, struct errinfo *e)
{
    int rc = split(u, uri, NULL, e);

    if (rc != 0)
        fail_msg("url_split(\"%s\") failed: %s", uri, e->msg);
    err_clear(e);
    rc = url_parse_path(u, sep, e);
    if (rc != 0) {
        assert_int_equal(rc, ERR_INVALID_URL);
        assert_int_equal(e->code, ERR_INVALID_URL);
        assert_int_equal(e->status, 404);
    }
    return rc;
}

static void expect_parse_error(const char *uri)
{
    struct urlparts u;
    struct errinfo e;

    if (parse(&u, uri, ':', &e) == 0)
        fail_msg("url_parse_path(\"%s\") accepted it, want ERR_INVALID_URL", uri);
    url_release(&u);
}

static void expect_source(const struct urlparts *u, const char *source, const char *ext)
{
    assert_non_null(u->source);
    assert_int_equal(u->source_len, strlen(source));
    if (memcmp(u->source, source, u->source_len) != 0)
        fail_msg("source \"%.*s\", want \"%s\"", (int)u->source_len, u->source, source);
    if (ext) {
        assert_non_null(u->ext);
        assert_string_equal(u->ext, ext);
    } else {
        assert_null(u->ext);
    }
}

/* ---- url_split ---- */

static void test_split_basic(void **state)
{
    (void)state;
    expect_split("/insecure/rs:fit:300:300/plain/http://example.com/a.jpg", NULL, "insecure",
                 "/rs:fit:300:300/plain/http://example.com/a.jpg");
    expect_split("/oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8" DOC_PATH, NULL,
                 "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8", DOC_PATH);
    /* Only the signature segment goes: the rest keeps its leading '/'. */
    expect_split("/_/x", NULL, "_", "/x");
    expect_split("/sig/", NULL, "sig", "/");
}

static void test_split_cuts_query(void **state)
{
    (void)state;
    /* Everything from the first '?' is cut (not signed). */
    expect_split("/insecure/w:100/plain/http://example.com/a.jpg?x=1&y=2", NULL, "insecure",
                 "/w:100/plain/http://example.com/a.jpg");
    expect_split("/insecure/w:100/plain/http://example.com/a.jpg?", NULL, "insecure",
                 "/w:100/plain/http://example.com/a.jpg");
    /* The first '?' wins even inside the options part. */
    expect_split("/sig/w:100?q=/plain/http://x/a.jpg", NULL, "sig", "/w:100");
    /* A query right after the signature leaves no '/' after it. */
    expect_split_error("/sig?/w:100/plain/x", NULL);
}

static void test_split_prefix(void **state)
{
    (void)state;
    expect_split("/imgproxy/insecure/w:10/plain/http://x/a.jpg", "/imgproxy", "insecure",
                 "/w:10/plain/http://x/a.jpg");
    expect_split("/a/b/sig/w:10/plain/http://x/a.jpg", "/a/b", "sig", "/w:10/plain/http://x/a.jpg");
    /* TrimPrefix: a URI without the prefix is used as it is. */
    expect_split("/insecure/w:10/plain/http://x/a.jpg", "/imgproxy", "insecure",
                 "/w:10/plain/http://x/a.jpg");
    /* Empty and NULL prefixes remove nothing. */
    expect_split("/insecure/w:10/plain/http://x/a.jpg", "", "insecure",
                 "/w:10/plain/http://x/a.jpg");
    expect_split("/insecure/w:10/plain/http://x/a.jpg", NULL, "insecure",
                 "/w:10/plain/http://x/a.jpg");
    /* The query is cut before the prefix is removed, so a prefix still matches. */
    expect_split("/imgproxy/sig/w:1/plain/http://x/a.jpg?v=2", "/imgproxy", "sig",
                 "/w:1/plain/http://x/a.jpg");
}

static void test_split_empty_signature(void **state)
{
    (void)state;
    /* The signature must be non-empty (IndexByte(path,'/') > 0): "//..." is invalid. */
    expect_split_error("//rs:fit:300:300/plain/http://x/a.jpg", NULL);
    expect_split_error("/imgproxy//w:1/plain/http://x/a.jpg", "/imgproxy");
    expect_split_error("/", NULL);
    expect_split_error("", NULL);
}

static void test_split_no_slash_after_signature(void **state)
{
    (void)state;
    expect_split_error("/insecure", NULL);
    expect_split_error("insecure", NULL);
    expect_split_error("/imgproxy/insecure", "/imgproxy");
    expect_split_error("/insecure?/plain/x", NULL);
}

static void test_split_fix_colon(void **state)
{
    (void)state;
    /* %3A -> ':' in the options part only. */
    expect_split("/sig/rs%3Afit%3A300%3A300/plain/http://x/a%3Ab.jpg", NULL, "sig",
                 "/rs:fit:300:300/plain/http://x/a%3Ab.jpg");
    /* Without /plain/ the whole path is the options part. */
    expect_split("/sig/rs%3Afit%3A300/g%3Asm/aHR0cDovL3gvYS5qcGc", NULL, "sig",
                 "/rs:fit:300/g:sm/aHR0cDovL3gvYS5qcGc");
    /* Other escapes are left alone. */
    expect_split("/sig/w%3A1/wm%2F/plain/http://x/a.jpg", NULL, "sig",
                 "/w:1/wm%2F/plain/http://x/a.jpg");
}

static void test_split_fix_scheme(void **state)
{
    (void)state;
    /* A collapsed "scheme:/" in the plain part becomes "scheme://". */
    expect_split("/sig/w:1/plain/http:/host/x.jpg", NULL, "sig", "/w:1/plain/http://host/x.jpg");
    expect_split("/sig/plain/https:/host/x.jpg", NULL, "sig", "/plain/https://host/x.jpg");
    /* ... and "local:/" becomes "local:///". */
    expect_split("/sig/w:1/plain/local:/x.jpg", NULL, "sig", "/w:1/plain/local:///x.jpg");
    /* Already well-formed URLs are untouched. */
    expect_split("/sig/w:1/plain/http://host/x.jpg", NULL, "sig", "/w:1/plain/http://host/x.jpg");
    expect_split("/sig/plain/local:///x.jpg", NULL, "sig", "/plain/local:///x.jpg");
    expect_split("/sig/plain/http://host:8080/x.jpg", NULL, "sig", "/plain/http://host:8080/x.jpg");
}

static void test_split_leading_slash(void **state)
{
    struct urlparts u;
    struct errinfo e;

    (void)state;
    assert_int_equal(split(&u, "/insecure" DOC_PATH, NULL, &e), 0);
    assert_true(u.path_len > 0);
    assert_int_equal(u.path[0], '/');
    url_release(&u);
}

static void test_split_too_long(void **state)
{
    size_t n = URL_MAX_LEN + 100;
    char *uri = malloc(n + 1);
    struct urlparts u;
    struct errinfo e;

    (void)state;
    assert_non_null(uri);
    memcpy(uri, "/sig/plain/http://x/", 20);
    memset(uri + 20, 'a', n - 20);
    uri[n] = '\0';
    assert_int_equal(split(&u, uri, NULL, &e), ERR_INVALID_URL);
    url_release(&u);
    free(uri);
}

/* url_release() frees what parsing took and leaves u zeroed, so releasing again is safe. */
static void test_release_zeroed(void **state)
{
    struct urlparts u, zero;
    struct errinfo e;

    (void)state;
    memset(&zero, 0, sizeof zero);
    assert_int_equal(parse(&u, "/sig/rs:fit:300:300/plain/http://example.com/a.jpg@png", ':', &e),
                     0);
    assert_non_null(u.source);
    url_release(&u);
    assert_memory_equal(&u, &zero, sizeof u);
    url_release(&u);
    assert_memory_equal(&u, &zero, sizeof u);
}

/* ---- url_parse_path ---- */

static void test_parse_plain(void **state)
{
    struct urlparts u;
    struct errinfo e;

    (void)state;
    assert_int_equal(
        parse(&u, "/sig/rs:fit:300:300/g:sm/plain/http://example.com/a.jpg@png", ':', &e), 0);
    assert_int_equal(u.nsegments, 2);
    assert_string_equal(u.segments[0], "rs:fit:300:300");
    assert_string_equal(u.segments[1], "g:sm");
    expect_source(&u, "http://example.com/a.jpg", "png");
    url_release(&u);

    /* No options, no extension. */
    assert_int_equal(parse(&u, "/sig/plain/http://example.com/dir/a.jpg", ':', &e), 0);
    assert_int_equal(u.nsegments, 0);
    expect_source(&u, "http://example.com/dir/a.jpg", NULL);
    url_release(&u);

    /* The source URL keeps its own query when escaped. */
    assert_int_equal(parse(&u, "/sig/plain/http://x/a.jpg%3Fv%3D1@webp", ':', &e), 0);
    expect_source(&u, "http://x/a.jpg?v=1", "webp");
    url_release(&u);
}

/* URL_MAX_SEGMENTS option segments and nothing else, or one more: refused, never overrun. */
static void test_parse_too_many_option_segments(void **state)
{
    char uri[8 + (URL_MAX_SEGMENTS + 2) * 6];
    size_t n = 0;

    (void)state;
    n += (size_t)snprintf(uri + n, sizeof(uri) - n, "/sig");
    for (int i = 0; i < URL_MAX_SEGMENTS + 1; i++)
        n += (size_t)snprintf(uri + n, sizeof(uri) - n, "/w:%d", i % 10);
    expect_parse_error(uri);
    uri[n - 4] = '\0'; /* URL_MAX_SEGMENTS options, no source */
    expect_parse_error(uri);
}

static void test_parse_plain_segments_order(void **state)
{
    struct urlparts u;
    struct errinfo e;

    (void)state;
    assert_int_equal(parse(&u, "/sig/w:1/h:2/g:ce:1:2/bg:/q:80/plain/http://x/y/z.png", ':', &e),
                     0);
    assert_int_equal(u.nsegments, 5);
    assert_string_equal(u.segments[0], "w:1");
    assert_string_equal(u.segments[1], "h:2");
    assert_string_equal(u.segments[2], "g:ce:1:2");
    /* "bg:" has the separator, so it is an option with one empty argument. */
    assert_string_equal(u.segments[3], "bg:");
    assert_string_equal(u.segments[4], "q:80");
    expect_source(&u, "http://x/y/z.png", NULL);
    url_release(&u);
}

static void test_parse_custom_separator(void **state)
{
    struct urlparts u;
    struct errinfo e;

    (void)state;
    assert_int_equal(parse(&u, "/sig/rs,fit,10,20/q,50/plain/http://x/a.jpg", ',', &e), 0);
    assert_int_equal(u.nsegments, 2);
    assert_string_equal(u.segments[0], "rs,fit,10,20");
    assert_string_equal(u.segments[1], "q,50");
    expect_source(&u, "http://x/a.jpg", NULL);
    url_release(&u);
}

static void test_parse_plain_percent(void **state)
{
    struct urlparts u;
    struct errinfo e;

    (void)state;
    /* url.PathUnescape on the joined plain URL. */
    assert_int_equal(parse(&u, "/sig/plain/http://example.com/a%20b.jpg", ':', &e), 0);
    expect_source(&u, "http://example.com/a b.jpg", NULL);
    url_release(&u);

    /* %3A in the plain part survives url_split and is decoded here. */
    assert_int_equal(parse(&u, "/sig/plain/http%3A%2F%2Fexample.com%2Fa.jpg", ':', &e), 0);
    expect_source(&u, "http://example.com/a.jpg", NULL);
    url_release(&u);

    /* %40 is an '@' in the URL, not the extension mark; %25 is '%'. */
    assert_int_equal(parse(&u, "/sig/plain/http://x/a%40b%2525.jpg@png", ':', &e), 0);
    expect_source(&u, "http://x/a@b%25.jpg", "png");
    url_release(&u);

    /* Path semantics: '+' stays '+'. */
    assert_int_equal(parse(&u, "/sig/plain/http://x/a+b.jpg", ':', &e), 0);
    expect_source(&u, "http://x/a+b.jpg", NULL);
    url_release(&u);
}

static void test_parse_plain_errors(void **state)
{
    (void)state;
    /* More than one '@': "Multiple formats are specified". */
    expect_parse_error("/sig/plain/http://x/a.jpg@png@webp");
    expect_parse_error("/sig/w:1/plain/http://x/a@b.jpg@png");
    /* Empty URL. */
    expect_parse_error("/sig/plain/@png");
    expect_parse_error("/sig/w:1/plain/");
    /* Malformed escapes. */
    expect_parse_error("/sig/plain/http://x/a%zz.jpg");
    expect_parse_error("/sig/plain/http://x/a%2");
    expect_parse_error("/sig/plain/http://x/a.jpg%");
}

static void test_parse_base64_split(void **state)
{
    struct urlparts u;
    struct errinfo e;

    (void)state;
    /* The documented example: split by '/', ".png" extension. */
    assert_int_equal(parse(&u, "/sig" DOC_PATH, ':', &e), 0);
    assert_int_equal(u.nsegments, 2);
    assert_string_equal(u.segments[0], "rs:fill:300:400:0");
    assert_string_equal(u.segments[1], "g:sm");
    expect_source(&u, DOC_SOURCE, "png");
    url_release(&u);
}

static void test_parse_base64_whole(void **state)
{
    struct urlparts u;
    struct errinfo e;

    (void)state;
    /* Unsplit, no extension. */
    assert_int_equal(
        parse(&u, "/sig/w:300/aHR0cDovL2V4YW1wbGUuY29tL2ltYWdlcy9jdXJpb3NpdHkuanBn", ':', &e), 0);
    assert_int_equal(u.nsegments, 1);
    expect_source(&u, DOC_SOURCE, NULL);
    url_release(&u);

    /* base64url("http://a.com/xy.jpg") with its "==" padding. */
    assert_int_equal(parse(&u, "/sig/aHR0cDovL2EuY29tL3h5LmpwZw==", ':', &e), 0);
    assert_int_equal(u.nsegments, 0);
    expect_source(&u, "http://a.com/xy.jpg", NULL);
    url_release(&u);

    /* The same without padding, with an extension. */
    assert_int_equal(parse(&u, "/sig/aHR0cDovL2EuY29tL3h5LmpwZw.webp", ':', &e), 0);
    expect_source(&u, "http://a.com/xy.jpg", "webp");
    url_release(&u);

    /* Padded and split, with an extension. */
    assert_int_equal(parse(&u, "/sig/aHR0cDovL2Eu/Y29tL3h5LmpwZw==.avif", ':', &e), 0);
    expect_source(&u, "http://a.com/xy.jpg", "avif");
    url_release(&u);

    /* The URL alphabet ('_' for '/'): "http://a.com/x?y>z.jpg". */
    assert_int_equal(parse(&u, "/sig/aHR0cDovL2EuY29tL3g_eT56LmpwZw", ':', &e), 0);
    expect_source(&u, "http://a.com/x?y>z.jpg", NULL);
    url_release(&u);
}

static void test_parse_base64_errors(void **state)
{
    (void)state;
    /* '+' and other characters outside the URL alphabet. */
    expect_parse_error("/sig/w:1/aHR0cDovL2Eu+29tL3h5LmpwZw");
    expect_parse_error("/sig/w:1/aHR0c!!!!");
    /* A single leftover character cannot be base64. */
    expect_parse_error("/sig/w:1/a");
    /* More than one '.': two extensions. */
    expect_parse_error("/sig/aHR0cDovL2EuY29tL3h5LmpwZw.png.jpg");
    /* Empty URL before the extension. */
    expect_parse_error("/sig/w:1/.png");
    /* "plain" with nothing after it is base64 "plain": 5 characters, invalid. */
    expect_parse_error("/sig/w:1/plain");
    /*
     * An empty first segment has no separator, so it starts a base64 source;
     * the ':' of the following segments is not base64.
     */
    expect_parse_error("/sig//w:1/plain/http://x/a.jpg");
    /* Pro /enc/ is not special in OSS: "enc" then ciphertext, not valid base64 text. */
    expect_parse_error("/sig/enc/!!notbase64!!");
}

static void test_parse_deprecated_format(void **state)
{
    (void)state;
    /* A resizing type as the first segment is the old basic format. */
    expect_parse_error(
        "/sig/fit/300/300/no/0/aHR0cDovL2V4YW1wbGUuY29tL2ltYWdlcy9jdXJpb3NpdHkuanBn");
    expect_parse_error(
        "/sig/fill/300/300/no/0/aHR0cDovL2V4YW1wbGUuY29tL2ltYWdlcy9jdXJpb3NpdHkuanBn");
    expect_parse_error("/sig/fill-down/300/300/no/0/aHR0cDovL2V4YW1w");
    expect_parse_error("/sig/force/300/300/no/0/aHR0cDovL2V4YW1w");
    expect_parse_error("/sig/auto/300/300/no/0/aHR0cDovL2V4YW1w");
}

static void test_parse_empty_path(void **state)
{
    struct urlparts u;
    struct errinfo e;
    char empty[1] = "";

    (void)state;
    /* "/" from a real split. */
    expect_parse_error("/sig/");

    /* "" set by hand (url_split never yields it); the path buffer is ours. */
    memset(&u, 0, sizeof u);
    u.signature = NULL;
    u.path = empty;
    u.path_len = 0;
    err_clear(&e);
    assert_int_equal(url_parse_path(&u, ':', &e), ERR_INVALID_URL);
    assert_int_equal(e.status, 404);
    u.path = NULL;
    url_release(&u);
}

/* ---- url_unescape ---- */

static void expect_unescape(const char *in, const char *want)
{
    size_t n = strlen(in);
    char *copy = tu_memdup(in, n);
    char *out = malloc(n + 1);
    long got;

    assert_non_null(out);
    got = url_unescape(copy, n, out);
    if (got != (long)strlen(want) || memcmp(out, want, strlen(want)) != 0)
        fail_msg("url_unescape(\"%s\") = %ld \"%.*s\", want \"%s\"", in, got,
                 got > 0 ? (int)got : 0, out, want);
    free(out);
    free(copy);
}

static void expect_unescape_error(const char *in)
{
    size_t n = strlen(in);
    char *copy = tu_memdup(in, n);
    char *out = malloc(n + 1);

    assert_non_null(out);
    if (url_unescape(copy, n, out) != -1)
        fail_msg("url_unescape(\"%s\") accepted a bad escape", in);
    free(out);
    free(copy);
}

static void test_unescape(void **state)
{
    (void)state;
    expect_unescape("", "");
    expect_unescape("abc", "abc");
    expect_unescape("a%20b", "a b");
    expect_unescape("%41%42%43", "ABC");
    expect_unescape("%2f%2F", "//");
    expect_unescape("%3a%3A", "::");
    expect_unescape("%25", "%");
    expect_unescape("%2525", "%25");
    expect_unescape("a+b", "a+b");
    expect_unescape("%e2%82%ac", "\xe2\x82\xac");
}

static void test_unescape_errors(void **state)
{
    (void)state;
    expect_unescape_error("%");
    expect_unescape_error("100%");
    expect_unescape_error("%4");
    expect_unescape_error("a%4");
    expect_unescape_error("%zz");
    expect_unescape_error("%G1");
    expect_unescape_error("%1G");
    expect_unescape_error("ok%-1");
}

/* ---- url_base64_decode ---- */

static void expect_b64(const char *in, const void *want, size_t wantlen)
{
    size_t n = strlen(in);
    char *copy = tu_memdup(in, n);
    unsigned char *out = malloc(n + 1);
    long got;

    assert_non_null(out);
    got = url_base64_decode(copy, n, out);
    if (got != (long)wantlen || memcmp(out, want, wantlen) != 0)
        fail_msg("url_base64_decode(\"%s\") = %ld, want %zu bytes", in, got, wantlen);
    free(out);
    free(copy);
}

static void expect_b64_error(const char *in)
{
    size_t n = strlen(in);
    char *copy = tu_memdup(in, n);
    unsigned char *out = malloc(n + 1);

    assert_non_null(out);
    if (url_base64_decode(copy, n, out) != -1)
        fail_msg("url_base64_decode(\"%s\") accepted invalid input", in);
    free(out);
    free(copy);
}

static void test_base64_decode(void **state)
{
    static const unsigned char high[] = {0xfb, 0xff, 0xbf};

    (void)state;
    expect_b64("", "", 0);
    expect_b64("aGVsbG8", "hello", 5);
    expect_b64("aGVsbG8=", "hello", 5);
    expect_b64("aGVsbA", "hell", 4);
    expect_b64("aGVsbA==", "hell", 4);
    expect_b64("aGVs", "hel", 3);
    /* '-' and '_' are 62 and 63 in the URL alphabet. */
    expect_b64("-_-_", high, sizeof high);
    expect_b64("aHR0cDovL2V4YW1wbGUuY29tL2ltYWdlcy9jdXJpb3NpdHkuanBn", DOC_SOURCE,
               strlen(DOC_SOURCE));
}

static void test_base64_decode_errors(void **state)
{
    (void)state;
    /* Standard alphabet characters are not base64url. */
    expect_b64_error("aGVs+G8");
    expect_b64_error("aGVs/G8");
    expect_b64_error("aGVsbG8*");
    expect_b64_error("aGV sbG8");
    /* One character alone carries 6 bits: never a whole byte. */
    expect_b64_error("a");
    expect_b64_error("aGVsb");
    /* Padding in the middle. */
    expect_b64_error("aG=sbG8");
}

static void expect_pre(const char *in, const char *want)
{
    char *got = url_preprocess(in);

    assert_non_null(got);
    assert_string_equal(got, want);
    g_free(got);
}

/* IMGPROXY_URL_REPLACEMENTS then IMGPROXY_BASE_URL, the last steps on a source URL. */
static void test_preprocess(void **state)
{
    static char rep1[] = "mys3://=http://s3.example/;http://*.cdn.test/*/=local:///${2}/${1}-";
    static char rep2[] = "a.b=c\\d";
    static char rep3[] = "*=x:";
    static char base[] = "http://base.test/";

    (void)state;
    expect_pre("http://a/b.jpg", "http://a/b.jpg");
    cfg.url_replacements = rep1;
    expect_pre("mys3://bucket/x.png", "http://s3.example/bucket/x.png");
    expect_pre("http://eu.cdn.test/img/a.jpg", "local:///img/eu-a.jpg");
    /* Prefixes only, and '*' stops at '/'. */
    expect_pre("x-mys3://b", "x-mys3://b");
    expect_pre("http://a/b.cdn.test/c/d", "http://a/b.cdn.test/c/d");
    cfg.url_replacements = rep2;
    expect_pre("a.bx", "c\\dx");
    expect_pre("aXbx", "aXbx");
    /* A decoded source need not be UTF-8: matched as bytes (fuzz_url found an overread). */
    cfg.url_replacements = rep3;
    expect_pre("~\xec\xf3/a", "x:/a");
    cfg.url_replacements = NULL;
    cfg.base_url = base;
    expect_pre("img/a.jpg", "http://base.test/img/a.jpg");
    expect_pre("http://base.test/img/a.jpg", "http://base.test/img/a.jpg");
    cfg.base_url = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preprocess),
        cmocka_unit_test(test_split_basic),
        cmocka_unit_test(test_split_cuts_query),
        cmocka_unit_test(test_split_prefix),
        cmocka_unit_test(test_split_empty_signature),
        cmocka_unit_test(test_split_no_slash_after_signature),
        cmocka_unit_test(test_split_fix_colon),
        cmocka_unit_test(test_split_fix_scheme),
        cmocka_unit_test(test_split_leading_slash),
        cmocka_unit_test(test_split_too_long),
        cmocka_unit_test(test_release_zeroed),
        cmocka_unit_test(test_parse_plain),
        cmocka_unit_test(test_parse_too_many_option_segments),
        cmocka_unit_test(test_parse_plain_segments_order),
        cmocka_unit_test(test_parse_custom_separator),
        cmocka_unit_test(test_parse_plain_percent),
        cmocka_unit_test(test_parse_plain_errors),
        cmocka_unit_test(test_parse_base64_split),
        cmocka_unit_test(test_parse_base64_whole),
        cmocka_unit_test(test_parse_base64_errors),
        cmocka_unit_test(test_parse_deprecated_format),
        cmocka_unit_test(test_parse_empty_path),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_unescape_errors),
        cmocka_unit_test(test_base64_decode),
        cmocka_unit_test(test_base64_decode_errors),
    };
    return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}

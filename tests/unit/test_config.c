/* test_config.c: defaults, parsing and start-up errors naming the variable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "parse.h"
#include "testutil.h"

/* Every test starts and ends with no IMGPROXY_* / IMGFCGI_* variable set. */
static int clean_env(void **state)
{
    (void)state;
    tu_clear_env();
    return 0;
}

/* Loads into c; returns config_load's result with its message in err. */
static int load(struct config *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    err[0] = '\0';
    return config_load(c, err, errlen);
}

static void load_ok(struct config *c)
{
    char err[512];

    if (load(c, err, sizeof err) != 0)
        fail_msg("config_load failed: %s", err);
}

/* Sets name=value alone and expects config_load to fail naming the variable. */
static void expect_bad(const char *name, const char *value)
{
    struct config c;
    char err[512];

    tu_clear_env();
    setenv(name, value, 1);
    int rc = load(&c, err, sizeof err);
    config_release(&c);
    unsetenv(name);
    if (rc == 0)
        fail_msg("%s=\"%s\" was accepted", name, value);
    assert_int_equal(rc, -1);
    if (!strstr(err, name))
        fail_msg("%s=\"%s\": the message \"%s\" does not name the variable", name, value, err);
}

static int empty_or_null(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/*
 * Loads with the environment as the test set it and expects config_load to
 * fail with a message naming a (or b, when not NULL).
 */
static void expect_fail_naming(const char *a, const char *b)
{
    struct config c;
    char err[512];

    assert_int_equal(load(&c, err, sizeof err), -1);
    config_release(&c);
    if (!strstr(err, a) && (b == NULL || !strstr(err, b)))
        fail_msg("the message \"%s\" does not name %s", err, a);
}

static void test_defaults(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c);
    assert_int_equal(c.quality, 80);
    assert_int_equal(c.signature_size, 32);
    assert_int_equal(c.download_timeout, 5);
    assert_int_equal(c.max_redirects, 10);
    assert_int_equal(c.max_src_resolution, 50000000LL);
    assert_int_equal(c.max_src_file_size, 0);
    assert_int_equal(c.max_svg_check_bytes, 32768);
    assert_int_equal(c.timeout, 10);
    assert_int_equal(c.ttl, 31536000);
    assert_int_equal(c.webp_effort, 4);
    assert_int_equal(c.avif_speed, 8);
    assert_int_equal(c.jxl_effort, 4);
    /* IMGPROXY_FORMAT_QUALITY default webp=79,avif=63,jxl=77; others 0 = use quality. */
    assert_int_equal(c.format_quality[IMGTYPE_WEBP], 79);
    assert_int_equal(c.format_quality[IMGTYPE_AVIF], 63);
    assert_int_equal(c.format_quality[IMGTYPE_JXL], 77);
    assert_int_equal(c.format_quality[IMGTYPE_JPEG], 0);
    assert_int_equal(c.format_quality[IMGTYPE_PNG], 0);
    /* IMGPROXY_PREFERRED_FORMATS jpeg,png,gif. */
    assert_int_equal(c.npreferred_formats, 3);
    assert_int_equal(c.preferred_formats[0], IMGTYPE_JPEG);
    assert_int_equal(c.preferred_formats[1], IMGTYPE_PNG);
    assert_int_equal(c.preferred_formats[2], IMGTYPE_GIF);
    /* Signing off. */
    assert_int_equal(c.nkeys, 0);
    assert_int_equal(c.nsalts, 0);
    assert_int_equal(c.trusted_signatures.len, 0);
    /* Strings. */
    assert_non_null(c.arguments_separator);
    assert_string_equal(c.arguments_separator, ":");
    assert_non_null(c.source_url_query_separator);
    assert_string_equal(c.source_url_query_separator, "?");
    assert_true(empty_or_null(c.path_prefix));
    assert_true(empty_or_null(c.local_root));
    /* Booleans. */
    assert_true(c.strip_metadata);
    assert_true(c.strip_color_profile);
    assert_true(c.auto_rotate);
    assert_false(c.auto_webp);
    assert_false(c.enforce_webp);
    assert_false(c.auto_avif);
    assert_false(c.enforce_avif);
    assert_false(c.auto_jxl);
    assert_false(c.enforce_jxl);
    assert_false(c.jpeg_progressive);
    assert_false(c.png_interlaced);
    assert_false(c.development_errors_mode);
    assert_false(c.ignore_ssl_verification);
    assert_false(c.disable_shrink_on_load);
    /* Workers: 2 x CPUs when unset. */
    assert_true(c.workers > 0);
    config_release(&c);
}

static void test_values(void **state)
{
    struct config c;

    (void)state;
    setenv("IMGPROXY_QUALITY", "55", 1);
    setenv("IMGPROXY_SIGNATURE_SIZE", "8", 1);
    setenv("IMGPROXY_DOWNLOAD_TIMEOUT", "7", 1);
    setenv("IMGPROXY_MAX_REDIRECTS", "3", 1);
    setenv("IMGPROXY_MAX_SRC_RESOLUTION", "2.5", 1);
    setenv("IMGPROXY_MAX_SRC_FILE_SIZE", "1048576", 1);
    setenv("IMGPROXY_WORKERS", "4", 1);
    setenv("IMGPROXY_ARGUMENTS_SEPARATOR", ",", 1);
    setenv("IMGPROXY_STRIP_METADATA", "false", 1);
    setenv("IMGPROXY_AUTO_ROTATE", "0", 1);
    setenv("IMGPROXY_TTL", "60", 1);
    load_ok(&c);
    assert_int_equal(c.quality, 55);
    assert_int_equal(c.signature_size, 8);
    assert_int_equal(c.download_timeout, 7);
    assert_int_equal(c.max_redirects, 3);
    /* MegaInt: float x 1e6. */
    assert_int_equal(c.max_src_resolution, 2500000LL);
    assert_int_equal(c.max_src_file_size, 1048576LL);
    assert_int_equal(c.workers, 4);
    assert_string_equal(c.arguments_separator, ",");
    assert_false(c.strip_metadata);
    assert_false(c.auto_rotate);
    assert_int_equal(c.ttl, 60);
    config_release(&c);
}

static void test_bounds_accepted(void **state)
{
    struct config c;

    (void)state;
    setenv("IMGPROXY_QUALITY", "1", 1);
    setenv("IMGPROXY_SIGNATURE_SIZE", "1", 1);
    load_ok(&c);
    assert_int_equal(c.quality, 1);
    assert_int_equal(c.signature_size, 1);
    config_release(&c);

    setenv("IMGPROXY_QUALITY", "100", 1);
    setenv("IMGPROXY_SIGNATURE_SIZE", "32", 1);
    load_ok(&c);
    assert_int_equal(c.quality, 100);
    assert_int_equal(c.signature_size, 32);
    config_release(&c);
}

static void test_bad_quality(void **state)
{
    (void)state;
    /* 1..100; unparsable values stop start-up too: a bad value is never ignored silently. */
    expect_bad("IMGPROXY_QUALITY", "0");
    expect_bad("IMGPROXY_QUALITY", "101");
    expect_bad("IMGPROXY_QUALITY", "abc");
    expect_bad("IMGPROXY_QUALITY", "-5");
    expect_bad("IMGPROXY_QUALITY", "80x");
}

static void test_bad_signature_size(void **state)
{
    (void)state;
    expect_bad("IMGPROXY_SIGNATURE_SIZE", "33");
    expect_bad("IMGPROXY_SIGNATURE_SIZE", "0");
    expect_bad("IMGPROXY_SIGNATURE_SIZE", "x");
}

static void test_bad_workers(void **state)
{
    (void)state;
    expect_bad("IMGPROXY_WORKERS", "-1");
    expect_bad("IMGPROXY_WORKERS", "many");
}

/* IMGFCGI_MEMORY_BUDGET: bytes with k/M/G suffixes, 1024-based; "auto" (-1) by default. */
static void test_memory_budget(void **state)
{
    static const struct {
        const char *v;
        long long want;
    } ok[] = {{"0", 0},
              {"auto", -1},
              {"1000", 1000},
              {"512k", 512LL * 1024},
              {"256M", 256LL * 1024 * 1024},
              {"256MB", 256LL * 1024 * 1024},
              {"2G", 2LL * 1024 * 1024 * 1024},
              {"3g", 3LL * 1024 * 1024 * 1024}};
    struct config c;
    char err[512];

    (void)state;
    tu_clear_env();
    assert_int_equal(load(&c, err, sizeof err), 0);
    assert_int_equal(c.memory_budget, -1);
    config_release(&c);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        setenv("IMGFCGI_MEMORY_BUDGET", ok[i].v, 1);
        assert_int_equal(load(&c, err, sizeof err), 0);
        assert_int_equal(c.memory_budget, ok[i].want);
        config_release(&c);
    }
    unsetenv("IMGFCGI_MEMORY_BUDGET");
    expect_bad("IMGFCGI_MEMORY_BUDGET", "-1");
    expect_bad("IMGFCGI_MEMORY_BUDGET", "AUTO ");
    expect_bad("IMGFCGI_MEMORY_BUDGET", "256T");
    expect_bad("IMGFCGI_MEMORY_BUDGET", "M");
    expect_bad("IMGFCGI_MEMORY_BUDGET", "1.5G");
    expect_bad("IMGFCGI_MEMORY_BUDGET", "256 M");
    expect_bad("IMGFCGI_MEMORY_BUDGET", "99999999999G");
}

/* Connection threads and processing slots, and the one-request-at-a-time host. */
static void test_connections(void **state)
{
    struct config c;

    (void)state;
    unsetenv("PHP_FCGI_CHILDREN");
    setenv("IMGPROXY_WORKERS", "3", 1);
    load_ok(&c);
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.connections, 3 + 32);
    assert_false(c.one_request_host);
    config_release(&c);

    setenv("IMGFCGI_CONNECTIONS", "3", 1);
    load_ok(&c);
    assert_int_equal(c.connections, 3);
    config_release(&c);

    /* lighttpd's bin-path sets PHP_FCGI_CHILDREN=1: one worker, one thread. */
    tu_clear_env();
    setenv("PHP_FCGI_CHILDREN", "1", 1);
    load_ok(&c);
    assert_true(c.one_request_host);
    assert_int_equal(c.workers, 1);
    assert_int_equal(c.connections, 1);
    config_release(&c);

    /* An explicit IMGPROXY_WORKERS wins over the detection. */
    setenv("IMGPROXY_WORKERS", "4", 1);
    load_ok(&c);
    assert_false(c.one_request_host);
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.connections, 4 + 32);
    config_release(&c);

    /* Another value is no such host. */
    tu_clear_env();
    setenv("PHP_FCGI_CHILDREN", "8", 1);
    load_ok(&c);
    assert_false(c.one_request_host);
    assert_true(c.workers > 0);
    config_release(&c);
    unsetenv("PHP_FCGI_CHILDREN");
}

static void test_bad_connections(void **state)
{
    (void)state;
    expect_bad("IMGFCGI_CONNECTIONS", "-1");
    expect_bad("IMGFCGI_CONNECTIONS", "4097");
    /* Fewer threads than slots could never fill the slots. */
    setenv("IMGPROXY_WORKERS", "4", 1);
    setenv("IMGFCGI_CONNECTIONS", "2", 1);
    expect_fail_naming("IMGFCGI_CONNECTIONS", NULL);
}

static void test_bad_other(void **state)
{
    (void)state;
    expect_bad("IMGPROXY_MAX_SRC_RESOLUTION", "0");
    expect_bad("IMGPROXY_MAX_SRC_RESOLUTION", "lots");
    expect_bad("IMGPROXY_DOWNLOAD_TIMEOUT", "soon");
    expect_bad("IMGPROXY_STRIP_METADATA", "maybe");
    expect_bad("IMGPROXY_TTL", "-1");
    expect_bad("IMGPROXY_FORMAT_QUALITY", "webp=101");
    expect_bad("IMGPROXY_FORMAT_QUALITY", "webp=0");
    expect_bad("IMGPROXY_FORMAT_QUALITY", "nope=50");
}

static void test_bad_keys(void **state)
{
    (void)state;
    /* Odd number of hex digits. */
    setenv("IMGPROXY_SALT", "0102", 1);
    setenv("IMGPROXY_KEY", "abc", 1);
    expect_fail_naming("IMGPROXY_KEY", NULL);
    /* Not hex. */
    setenv("IMGPROXY_KEY", "zz", 1);
    expect_fail_naming("IMGPROXY_KEY", NULL);
    /* A bad salt names the salt. */
    setenv("IMGPROXY_KEY", "0102", 1);
    setenv("IMGPROXY_SALT", "0g", 1);
    expect_fail_naming("IMGPROXY_SALT", NULL);
}

static void test_key_salt_count(void **state)
{
    (void)state;
    /* Two keys, one salt. */
    setenv("IMGPROXY_KEY", "0102,0304", 1);
    setenv("IMGPROXY_SALT", "0506", 1);
    expect_fail_naming("IMGPROXY_KEY", "IMGPROXY_SALT");
    /* A key without any salt. */
    unsetenv("IMGPROXY_SALT");
    setenv("IMGPROXY_KEY", "0102", 1);
    expect_fail_naming("IMGPROXY_KEY", "IMGPROXY_SALT");
}

static void test_hex_lists(void **state)
{
    struct config c;

    (void)state;
    setenv("IMGPROXY_KEY", "736563726574,0a0B", 1);
    setenv("IMGPROXY_SALT", "68656C6C6F,ff", 1);
    load_ok(&c);
    assert_int_equal(c.nkeys, 2);
    assert_int_equal(c.nsalts, 2);
    assert_int_equal(c.keys[0].len, 6);
    assert_memory_equal(c.keys[0].data, "secret", 6);
    assert_int_equal(c.keys[1].len, 2);
    assert_int_equal(c.keys[1].data[0], 0x0a);
    assert_int_equal(c.keys[1].data[1], 0x0b);
    assert_int_equal(c.salts[0].len, 5);
    assert_memory_equal(c.salts[0].data, "hello", 5);
    assert_int_equal(c.salts[1].len, 1);
    assert_int_equal(c.salts[1].data[0], 0xff);
    config_release(&c);
}

static void test_trusted_signatures(void **state)
{
    struct config c;

    (void)state;
    setenv("IMGPROXY_TRUSTED_SIGNATURES", "abc,def-_", 1);
    load_ok(&c);
    assert_int_equal(c.trusted_signatures.len, 2);
    assert_string_equal(c.trusted_signatures.items[0], "abc");
    assert_string_equal(c.trusted_signatures.items[1], "def-_");
    config_release(&c);
}

static void test_format_quality_merge(void **state)
{
    struct config c;

    (void)state;
    /* Merged into the defaults: avif and jxl keep theirs. */
    setenv("IMGPROXY_FORMAT_QUALITY", "jpeg=70,webp=60", 1);
    load_ok(&c);
    assert_int_equal(c.format_quality[IMGTYPE_JPEG], 70);
    assert_int_equal(c.format_quality[IMGTYPE_WEBP], 60);
    assert_int_equal(c.format_quality[IMGTYPE_AVIF], 63);
    assert_int_equal(c.format_quality[IMGTYPE_JXL], 77);
    config_release(&c);
}

static void test_path_prefix(void **state)
{
    /* URLPath: cut at '?' or '#', strip a trailing '/', add a leading '/'. */
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"/imgproxy", "/imgproxy"},
        {"imgproxy", "/imgproxy"},
        {"/imgproxy/", "/imgproxy"},
        {"imgproxy/", "/imgproxy"},
        {"/a/b/", "/a/b"},
        {"/x?y=1", "/x"},
        {"x#frag", "/x"},
        {"/", ""},
        {"", ""},
    };
    struct config c;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("IMGPROXY_PATH_PREFIX", cases[i].in, 1);
        load_ok(&c);
        const char *got = c.path_prefix ? c.path_prefix : "";
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("IMGPROXY_PATH_PREFIX=\"%s\" -> \"%s\", want \"%s\"", cases[i].in, got,
                     cases[i].want);
        config_release(&c);
    }
}

static void test_local_root(void **state)
{
    char tmpl[] = "/tmp/imgfcgi-config-XXXXXX";
    char sub[PATH_MAX], link[PATH_MAX], real[PATH_MAX];
    struct config c;

    (void)state;
    assert_non_null(mkdtemp(tmpl));
    snprintf(sub, sizeof sub, "%s/root", tmpl);
    snprintf(link, sizeof link, "%s/link", tmpl);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(symlink("root", link), 0);
    assert_non_null(realpath(sub, real));

    /* A symlink to the root is stored realpath'd. */
    setenv("IMGPROXY_LOCAL_FILESYSTEM_ROOT", link, 1);
    load_ok(&c);
    assert_non_null(c.local_root);
    assert_string_equal(c.local_root, real);
    config_release(&c);

    /* A missing directory stops start-up. */
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/missing", tmpl);
    expect_bad("IMGPROXY_LOCAL_FILESYSTEM_ROOT", missing);

    unlink(link);
    rmdir(sub);
    rmdir(tmpl);
}

/* config_release() frees the loaded strings and key lists and leaves their pointers NULL. */
static void test_release_zeroed(void **state)
{
    struct config c;

    (void)state;
    setenv("IMGPROXY_KEY", "0102", 1);
    setenv("IMGPROXY_SALT", "0304", 1);
    setenv("IMGPROXY_BASE_URL", "http://example.com/", 1);
    load_ok(&c);
    assert_int_equal(c.nkeys, 1);
    assert_non_null(c.keys);
    assert_string_equal(c.base_url, "http://example.com/");
    config_release(&c);
    assert_null(c.keys);
    assert_int_equal(c.nkeys, 0);
    assert_null(c.base_url);
    assert_null(c.malloc_arena_max);
    /* A zeroed config releases cleanly too. */
    memset(&c, 0, sizeof c);
    config_release(&c);
    assert_null(c.keys);
}

/* The HTTP settings, and the one variable whose empty value counts. */
static void test_http_settings(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c);
    assert_false(c.use_etag);
    assert_false(c.use_last_modified);
    assert_false(c.cache_control_passthrough);
    assert_int_equal(c.fallback_image_http_code, 200);
    assert_int_equal(c.fallback_image_ttl, 0);
    assert_true(empty_or_null(c.secret));
    config_release(&c);
    setenv("IMGPROXY_USE_ETAG", "true", 1);
    setenv("IMGPROXY_ETAG_BUSTER", "v2", 1);
    setenv("IMGPROXY_SECRET", "s", 1);
    setenv("IMGPROXY_FALLBACK_IMAGE_HTTP_CODE", "0", 1);
    setenv("IMGPROXY_SOURCE_URL_QUERY_SEPARATOR", "", 1);
    setenv("IMGPROXY_ALLOW_ORIGIN", "", 1);
    load_ok(&c);
    assert_true(c.use_etag);
    assert_string_equal(c.etag_buster, "v2");
    assert_string_equal(c.secret, "s");
    assert_int_equal(c.fallback_image_http_code, 0);
    assert_string_equal(c.source_url_query_separator, "");
    assert_true(empty_or_null(c.allow_origin));
    config_release(&c);
    unsetenv("IMGPROXY_SOURCE_URL_QUERY_SEPARATOR");
    expect_bad("IMGPROXY_FALLBACK_IMAGE_HTTP_CODE", "600");
    expect_bad("IMGPROXY_FALLBACK_IMAGE_TTL", "-1");
    expect_bad("IMGPROXY_USE_ETAG", "maybe");
}

/* PDF is a result only when a URL asks for it: never a preferred format. */
static void test_pdf_not_preferred(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c);
    assert_false(c.pdf_no_background);
    assert_false(c.watermark_preprocess_url);
    config_release(&c);
    setenv("IMGPROXY_PREFERRED_FORMATS", "pdf,webp", 1);
    setenv("IMGPROXY_PDF_NO_BACKGROUND", "true", 1);
    setenv("IMGPROXY_WATERMARK_PREPROCESS_URL", "true", 1);
    load_ok(&c);
    assert_int_equal(c.npreferred_formats, 1);
    assert_int_equal(c.preferred_formats[0], IMGTYPE_WEBP);
    assert_true(c.pdf_no_background);
    assert_true(c.watermark_preprocess_url);
    config_release(&c);
    expect_bad("IMGPROXY_PREFERRED_FORMATS", "pdf");
}

/* parse_split(), the splitter of list settings and preset definitions. */
static void test_parse_split(void **state)
{
    char **items = NULL;
    size_t n = 0;

    (void)state;
    /* Empty parts kept: a list setting's ",," has an empty item. */
    assert_int_equal(parse_split("a,,bc,", 6, ',', false, &items, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(items[0], "a");
    assert_string_equal(items[1], "");
    assert_string_equal(items[2], "bc");
    assert_string_equal(items[3], "");
    /* Appended to what is there, empty parts dropped, len bytes only (no NUL needed). */
    assert_int_equal(parse_split("/w:10//q:70/XXX", 11, '/', true, &items, &n), 0);
    assert_int_equal(n, 6);
    assert_string_equal(items[4], "w:10");
    assert_string_equal(items[5], "q:70");
    assert_int_equal(parse_split("", 0, '/', true, &items, &n), 0);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

#define T(f) cmocka_unit_test_setup_teardown(f, clean_env, clean_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),           T(test_values),
        T(test_bounds_accepted),    T(test_bad_quality),
        T(test_bad_signature_size), T(test_bad_workers),
        T(test_bad_other),          T(test_bad_keys),
        T(test_key_salt_count),     T(test_hex_lists),
        T(test_trusted_signatures), T(test_format_quality_merge),
        T(test_path_prefix),        T(test_local_root),
        T(test_release_zeroed),     T(test_http_settings),
        T(test_connections),        T(test_bad_connections),
        T(test_memory_budget),      T(test_pdf_not_preferred),
        T(test_parse_split),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
